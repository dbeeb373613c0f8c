"""Seeded engine bugs as mutants applied from outside the engine (test-only).

``tests/quality`` and ``simfs bench detection`` show that the property machines find
real engine bugs.  The bugs used to live in the engine behind a module-global switch
(``simfs.fuse.backing.SEEDED_BUGS``); they are now *mutants*: each replaces one function
of :mod:`simfs.fuse.backing` with a wrong version while a ``with`` block runs, and
restores it afterwards (``unittest.mock.patch.object``).  The engine carries no trace of
them, so production code has no test-only branch and no global switch.

Every one of the five historical seeded bugs is expressible this way, so no per-kernel
option is needed.  While a mutant is applied it affects every kernel of the process (it
patches a module attribute); the machines build and run their kernels inside the block.

Mutants (:data:`MUTANTS`):

``post_filter_skipped``
    ``fuse_bpf_run`` of a postfilter runs nothing and returns 0: the BPF postfilter (and
    so a daemon postfilter) never runs.
``error_in_lost``
    the backing errno never reaches the postfilter: ``error_in`` is 0 when it runs.
``inheritance_dropped``
    ``fuse_handle_bpf_prog``: a child whose LOOKUP keeps the program (``KEEP``) gets none
    instead of its parent's.
``remove_ignored``
    ``fuse_handle_bpf_prog``: ``bpf_action = REMOVE`` is treated as ``KEEP``.
``attrs_not_copied_back``
    ``fsstack_copy_attr_all`` and the time copy-back after writes do nothing, and the
    GETATTR finalize reports the fuse inode's stale attributes without updating it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

from simfs import uapi
from simfs.errors import UsageError

__all__ = ["MUTANTS", "Mutant", "mutant"]


@dataclasses.dataclass(frozen=True)
class Mutant:
    """A wrong version of one engine behaviour: ``apply()`` returns the patches to enter."""

    name: str
    summary: str
    apply: Callable[[], list[Any]]


def _backing() -> Any:
    from simfs.fuse import backing

    return backing


def _post_filter_skipped() -> list[Any]:
    b = _backing()
    original = b._run_bpf

    def run_bpf(op: Any, prog: Any, fa: Any, phase: str) -> int:
        if phase == "post":
            return 0  # mutant: the postfilter is never run
        return int(original(op, prog, fa, phase))

    return [mock.patch.object(b, "_run_bpf", run_bpf)]


def _error_in_lost() -> list[Any]:
    b = _backing()
    original = b._run_bpf

    def run_bpf(op: Any, prog: Any, fa: Any, phase: str) -> int:
        if phase == "post":
            fa.error_in = 0  # mutant: the backing errno is lost on the way
        return int(original(op, prog, fa, phase))

    return [mock.patch.object(b, "_run_bpf", run_bpf)]


class _NoProgram:
    bpf = None


def _inheritance_dropped() -> list[Any]:
    b = _backing()
    original = b.handle_bpf_prog

    def handle_bpf_prog(entry: Any, parent: Any, current: Any) -> Any:
        if entry.out.bpf_action == uapi.FUSE_ACTION_KEEP and parent is not None:
            parent = _NoProgram()  # mutant: the parent's program is not inherited
        return original(entry, parent, current)

    return [mock.patch.object(b, "handle_bpf_prog", handle_bpf_prog)]


def _remove_ignored() -> list[Any]:
    b = _backing()
    original = b.handle_bpf_prog

    def handle_bpf_prog(entry: Any, parent: Any, current: Any) -> Any:
        if entry.out.bpf_action == uapi.FUSE_ACTION_REMOVE:  # mutant: REMOVE acts as KEEP
            keep = dataclasses.replace(entry.out, bpf_action=uapi.FUSE_ACTION_KEEP)
            entry = dataclasses.replace(entry, out=keep)
        return original(entry, parent, current)

    return [mock.patch.object(b, "handle_bpf_prog", handle_bpf_prog)]


_ATTRS = (
    "mode",
    "nlink",
    "uid",
    "gid",
    "blocks",
    "atime_ns",
    "mtime_ns",
    "ctime_ns",
    "size",
    "blksize",
    "i_time",
)


def _attrs_not_copied_back() -> list[Any]:
    b = _backing()
    spec = b.GETATTR
    original = spec.finalize

    def getattr_finalize(op: Any, fa: Any, result: Any) -> Any:
        inode = op.inode
        stale = inode.fillattr()
        saved = {a: getattr(inode, a) for a in _ATTRS if hasattr(inode, a)}
        out = original(op, fa, result)
        if isinstance(out, b.Err) or out is b.KEEP:
            return out
        for a, v in saved.items():  # mutant: the inode is not updated ...
            setattr(inode, a, v)
        return dataclasses.replace(stale, ino=out.ino)  # ... and reports what it had

    mutated = dataclasses.replace(spec, finalize=getattr_finalize)
    specs = dict(b.SPECS)
    for key, value in specs.items():
        if value is spec:
            specs[key] = mutated
    return [
        mock.patch.object(b, "copy_attr_all", lambda inode, lower: None),
        mock.patch.object(b, "_copy_times", lambda inode, lower: None),
        mock.patch.object(b, "GETATTR", mutated),
        mock.patch.dict(b.SPECS, specs),
    ]


#: name -> mutant, for ``tests/quality`` and ``simfs bench detection``.
MUTANTS: dict[str, Mutant] = {
    m.name: m
    for m in (
        Mutant("post_filter_skipped", "the BPF postfilter never runs", _post_filter_skipped),
        Mutant("error_in_lost", "error_in is 0 in the postfilter", _error_in_lost),
        Mutant("inheritance_dropped", "children do not inherit the program", _inheritance_dropped),
        Mutant("remove_ignored", "bpf_action=REMOVE acts as KEEP", _remove_ignored),
        Mutant(
            "attrs_not_copied_back",
            "the fuse inode never takes the lower attributes",
            _attrs_not_copied_back,
        ),
    )
}


@contextlib.contextmanager
def mutant(name: str) -> Iterator[Mutant]:
    """Apply the mutant ``name`` of :data:`MUTANTS` for the duration of the block.

    Raises :class:`~simfs.errors.UsageError` for an unknown name.
    """
    m = MUTANTS.get(name)
    if m is None:
        raise UsageError(f"unknown mutant {name!r}; choose one of {sorted(MUTANTS)}")
    with contextlib.ExitStack() as stack:
        for patch in m.apply():
            stack.enter_context(patch)
        yield m
