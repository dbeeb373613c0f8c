"""A corpus of plausible, individually wrong filters: the detection benchmark's input.

Each :class:`Entry` is a filter someone could have written (a hider, a read-only or
uid policy, an errno translator, a daemon readdir redaction, a lookup add-on REPLACE
policy), wrong in one way its summary names, together with the machine its author would
write for it exactly as the README shows (``hiding_machine(bpf_mount(prog), names)``...,
no tuned settings).  The seeded engine bugs (:mod:`simfs.testing.mutants`) join as
entries whose filter is correct and whose *engine* is wrong.

``simfs bench detection`` (:mod:`simfs.testing.detection`) runs every entry with fresh
seeds under the machines' default settings and reports the share caught and the time to
a report.  ``CORRECT`` holds the fixed versions of some of them: the same machines must
pass on those (``tests/detection``), or a catch would mean nothing.

The filters live in importable modules, so a counterexample script can import them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CORRECT", "ENTRIES", "Entry", "entries"]


@dataclass(frozen=True)
class Entry:
    """One wrong filter (or seeded engine bug) and the machine that should catch it.

    ``machine()`` builds the machine class; ``mutant`` names a
    :data:`~simfs.testing.mutants.MUTANTS` entry to apply while it runs (engine bugs)."""

    name: str
    category: str
    summary: str
    machine: Callable[[], Any]
    mutant: str | None = None


def entries() -> list[Entry]:
    """Every corpus entry, in a fixed order (filters first, then engine mutants)."""
    from simfs.testing.corpus import daemons, engine, hiders, readonly, translators, uid

    out: list[Entry] = []
    for mod in (hiders, readonly, translators, uid, daemons, engine):
        out.extend(mod.ENTRIES)
    return out


def correct() -> list[Entry]:
    """Fixed versions: the machine must pass on each."""
    from simfs.testing.corpus import daemons, hiders, readonly, translators, uid

    out: list[Entry] = []
    for mod in (hiders, readonly, translators, uid, daemons):
        out.extend(mod.CORRECT)
    return out


def __getattr__(name: str) -> Any:
    if name == "ENTRIES":
        return entries()
    if name == "CORRECT":
        return correct()
    raise AttributeError(name)
