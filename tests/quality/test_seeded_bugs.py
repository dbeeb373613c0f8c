"""Quality tests: the property machines find real bugs (issue 6, deliverable 4).

In the style of hypothesis' own ``tests/quality``: a test here passes when a machine
*fails*.  Each seeded bug is a mutant of :mod:`simfs.testing.mutants`, applied to the
engine from outside for the duration of the run; the matching shipped machine must report a
:class:`~simfs.testing.Divergence` within :func:`~simfs.testing.profiles.quality_settings`'
budget (derandomized, no shrinking).  The same machines pass on the unseeded engine in
``tests/properties``, so each finding is the bug's doing.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis.stateful import run_state_machine_as_test

from simfs.testing import (
    Divergence,
    bpf_mount,
    equivalence_machine,
    errno_translating_program,
    errno_translation_machine,
    passthrough,
    readonly_machine,
    readonly_program,
)
from simfs.testing.filters import remove_below_root_program
from simfs.testing.machines import ack_differences
from simfs.testing.mutants import MUTANTS, mutant
from simfs.testing.probes import probe_fuse_bpf
from simfs.testing.profiles import quality_settings

pytestmark = pytest.mark.quality

TRANSLATE = {errno.ENODATA: errno.EPERM, errno.ENOTEMPTY: errno.EBUSY}


def _lower_only(op: str, err: int) -> bool:
    return err == errno.ENODATA and op in ("removexattr", "setxattr")


def _translator() -> object:
    return errno_translating_program(TRANSLATE)


def _translation() -> Any:
    return errno_translation_machine(
        bpf_mount(_translator),
        TRANSLATE,
        must_translate=_lower_only,
        allow=ack_differences,
        name="ErrnoTranslator",
    )


#: seeded bug -> (the machine that must find it, examples allowed)
MACHINES: dict[str, tuple[Callable[[], Any], int]] = {
    # the BPF postfilter never runs: no error is translated
    "post_filter_skipped": (_translation, 300),
    # the backing errno never reaches the postfilter: nothing to translate
    "error_in_lost": (_translation, 300),
    # children of the root get no program: writes below the root are not denied
    "inheritance_dropped": (
        lambda: readonly_machine(bpf_mount(readonly_program), name="ReadOnlyFilter"),
        300,
    ),
    # bpf_action=REMOVE is ignored: children keep a program that fails their operations
    "remove_ignored": (
        lambda: equivalence_machine(
            bpf_mount(remove_below_root_program), allow=ack_differences, name="RemovedProgram"
        ),
        300,
    ),
    # the fuse inode never takes the lower attributes: VFS checks use stale owner/mode
    "attrs_not_copied_back": (
        lambda: equivalence_machine(passthrough, allow=ack_differences, name="Passthrough"),
        300,
    ),
}


@pytest.mark.parametrize("bug", sorted(MACHINES))
def test_machine_finds_seeded_bug(bug: str) -> None:
    probe = probe_fuse_bpf()
    if probe is not None:
        pytest.skip(probe)
    make, examples = MACHINES[bug]
    machine = make()
    with mutant(bug), pytest.raises(Divergence):
        run_state_machine_as_test(machine, settings=quality_settings(max_examples=examples))


def test_every_mutant_has_a_machine() -> None:
    assert set(MACHINES) == set(MUTANTS)


def test_mutants_restore_the_engine() -> None:
    from simfs.fuse import backing

    before = (backing._run_bpf, backing.handle_bpf_prog, backing.GETATTR, dict(backing.SPECS))
    for name in MUTANTS:
        with mutant(name):
            pass
    after = (backing._run_bpf, backing.handle_bpf_prog, backing.GETATTR, dict(backing.SPECS))
    assert before == after
