"""The seeded engine bugs (:mod:`simfs.testing.mutants`), each with the machine that a
user of a correct filter would run and that must notice the engine is wrong."""

from __future__ import annotations

import errno

from simfs.testing import (
    bpf_mount,
    equivalence_machine,
    errno_translating_program,
    errno_translation_machine,
    passthrough,
    readonly_machine,
    readonly_program,
)
from simfs.testing.corpus import Entry
from simfs.testing.filters import remove_below_root_program
from simfs.testing.mutants import MUTANTS

TRANSLATE = {errno.ENODATA: errno.EPERM, errno.ENOTEMPTY: errno.EBUSY}


def _translator() -> object:
    return errno_translating_program(TRANSLATE)


def _lower_only(op: str, err: int) -> bool:
    return err == errno.ENODATA and op in ("removexattr", "setxattr")


def _translation() -> object:
    return errno_translation_machine(bpf_mount(_translator), TRANSLATE, must_translate=_lower_only)


_MACHINES = {
    "post_filter_skipped": _translation,
    "error_in_lost": _translation,
    "inheritance_dropped": lambda: readonly_machine(bpf_mount(readonly_program)),
    "remove_ignored": lambda: equivalence_machine(bpf_mount(remove_below_root_program)),
    "attrs_not_copied_back": lambda: equivalence_machine(passthrough),
}

ENTRIES = [
    Entry(f"engine:{name}", "seeded engine bug", MUTANTS[name].summary, make, mutant=name)
    for name, make in _MACHINES.items()
]
