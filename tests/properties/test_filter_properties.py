"""The shipped example filters keep the properties they declare (issue 6, deliverable 3).

The machines are the public ones from :mod:`simfs.testing.machines`; the filters are the
examples from :mod:`simfs.testing.filters`.  ``tests/quality`` shows the same machines
reject wrong filters and a seeded engine.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest
from hypothesis.stateful import run_state_machine_as_test

from simfs.kernel import Kernel
from simfs.testing import (
    bpf_mount,
    errno_translating_program,
    errno_translation_machine,
    hiding_machine,
    hiding_program,
    random_program_machine,
    readonly_machine,
    readonly_program,
)
from simfs.testing.machines import ack_differences
from simfs.testing.probes import probe_fuse_bpf
from simfs.testing.profiles import machine_settings

HIDDEN = (".secret", ".private")
#: Errors the example translator rewrites, and the calls on which only the lower
#: filesystem can produce them (so the translation must be visible there).
TRANSLATE = {errno.ENODATA: errno.EPERM, errno.ENOTEMPTY: errno.EBUSY}


def lower_only(op: str, err: int) -> bool:
    """ENODATA from removexattr/setxattr(XATTR_REPLACE) can only come from the lower fs."""
    return err == errno.ENODATA and op in ("removexattr", "setxattr")


def _need(factory: Callable[[Kernel, str, str], object]) -> None:
    # the capability (fuse-bpf with a root program), not the filter: a filter may deny
    # the probe's own calls
    reason = probe_fuse_bpf()
    if reason is not None:
        pytest.skip(reason)


def hider() -> object:
    return hiding_program(HIDDEN)


def post_hider() -> object:
    return hiding_program(HIDDEN, in_postfilter=True)


def translator() -> object:
    return errno_translating_program(TRANSLATE)


def test_prefilter_hider_never_reveals_a_hidden_name() -> None:
    factory = bpf_mount(hider)
    _need(factory)
    run_state_machine_as_test(
        hiding_machine(factory, HIDDEN, name="PrefilterHider"), settings=machine_settings()
    )


def test_postfilter_hider_never_reveals_a_hidden_name() -> None:
    factory = bpf_mount(post_hider)
    _need(factory)
    run_state_machine_as_test(
        hiding_machine(factory, HIDDEN, name="PostfilterHider"), settings=machine_settings()
    )


def test_readonly_filter_never_changes_the_lower_tree() -> None:
    factory = bpf_mount(readonly_program)
    _need(factory)
    run_state_machine_as_test(
        readonly_machine(factory, name="ReadOnlyFilter"), settings=machine_settings()
    )


def test_errno_translating_postfilter_changes_only_the_errno() -> None:
    factory = bpf_mount(translator)
    _need(factory)
    machine = errno_translation_machine(
        factory, TRANSLATE, must_translate=lower_only, allow=ack_differences, name="ErrnoTranslator"
    )
    run_state_machine_as_test(machine, settings=machine_settings())


def test_random_programs_keep_the_kernel_invariants() -> None:
    _need(bpf_mount(readonly_program))
    run_state_machine_as_test(
        random_program_machine(name="RandomPrograms"), settings=machine_settings()
    )
