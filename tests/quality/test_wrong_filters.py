"""Quality tests: the shipped machines catch filters that break what they declare.

These filters are written "by someone else": each looks plausible, and the unchanged
public machine must find what is wrong with it (issue 6, "Done when").
"""

from __future__ import annotations

import errno

import pytest
from hypothesis.stateful import run_state_machine_as_test

from simfs.testing import (
    Divergence,
    bpf_mount,
    errno_translating_program,
    errno_translation_machine,
    hiding_machine,
    readonly_machine,
)
from simfs.testing.filters import deny_after_backing_program, leaky_hiding_program
from simfs.testing.probes import probe_fuse_bpf
from simfs.testing.profiles import quality_settings

pytestmark = pytest.mark.quality

HIDDEN = (".secret", ".private")


def _need_fuse_bpf() -> None:
    reason = probe_fuse_bpf()
    if reason is not None:
        pytest.skip(reason)


def _leaky() -> object:
    return leaky_hiding_program(HIDDEN)


def _enoent_to_eacces() -> object:
    return errno_translating_program({errno.ENOENT: errno.EACCES})


def test_hider_that_forgets_readdir_is_caught() -> None:
    _need_fuse_bpf()
    machine = hiding_machine(bpf_mount(_leaky), HIDDEN, name="LeakyHider")
    with pytest.raises(Divergence):
        run_state_machine_as_test(machine, settings=quality_settings(max_examples=300))


def test_readonly_filter_that_denies_after_the_lower_changed_is_caught() -> None:
    _need_fuse_bpf()
    machine = readonly_machine(bpf_mount(deny_after_backing_program), name="DenyAfterBacking")
    with pytest.raises(Divergence):
        run_state_machine_as_test(machine, settings=quality_settings(max_examples=300))


def test_translator_that_turns_successes_into_errors_is_caught() -> None:
    # translating LOOKUP's ENOENT also fails every create of a new name: more than the errno
    _need_fuse_bpf()
    machine = errno_translation_machine(
        bpf_mount(_enoent_to_eacces), {errno.ENOENT: errno.EACCES}, name="OverTranslator"
    )
    with pytest.raises(Divergence):
        run_state_machine_as_test(machine, settings=quality_settings(max_examples=300))
