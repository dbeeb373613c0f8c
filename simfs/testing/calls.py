"""System calls as data, their execution on a simulated process, and comparable outcomes.

A :class:`Call` names a process, an ``os`` function and its arguments; :func:`execute`
runs it on a :class:`~simfs.Process` and returns an :class:`Outcome`: ``("ok", value)`` or
``("err", "ENOENT")``.  Values are made comparable across machines by an
:class:`Observer` (one per machine), which removes exactly the identity fields that a
different mount may legitimately change and keeps the relations that carry meaning:

``st_dev``
    never compared: a FUSE mount has its own anonymous device, a bind mount shares the
    lower filesystem's.
``st_ino`` / ``d_ino``
    compared up to renaming: each machine labels inode numbers ``i1, i2, ...`` in order of
    first sight, so "same inode as" (hard links, ``.`` vs the directory, fstat vs stat) is
    compared but the numbers themselves are not (a classic FUSE daemon picks its own).
``st_atime``
    not compared by default: FUSE inodes are ``S_NOATIME``; whether the lower atime
    moves depends on who reads the lower file.
``st_mtime`` / ``st_ctime``
    compared as "moved since this machine last observed this inode" (the two kernels'
    clocks do not tick in step once a daemon makes system calls of its own); a time
    before 2001 was set explicitly by ``utime`` and is compared exactly.
everything else in ``stat``
    compared exactly: type and permission bits, nlink, uid, gid, size (directory sizes
    included: every shipped mount reports the lower's), blocks, blksize, rdev.
``getdents``
    compared as a set of (name, type, inode label); ``d_off`` and order are not compared.
``listdir`` / ``listxattr``
    compared as sets.

``Observer(fields=...)`` takes the set of compared ``stat`` fields (:data:`STAT_FIELDS`,
default :data:`DEFAULT_STAT_FIELDS`) so a mount that synthesizes, e.g., directory sizes
can drop ``"dir_size"``.
"""

from __future__ import annotations

import errno
import os
import stat as st
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_STAT_FIELDS",
    "PROCESSES",
    "STAT_FIELDS",
    "Call",
    "FdRef",
    "Observer",
    "Outcome",
    "ProcessSpec",
    "execute",
    "render_call",
    "run_sequence",
]

#: An outcome: ``("ok", normalized value)`` or ``("err", errno name)``.
Outcome = tuple[str, Any]


@dataclass(frozen=True)
class ProcessSpec:
    """Credentials a test process is spawned with."""

    uid: int
    gid: int
    groups: tuple[int, ...]
    umask: int


#: The processes every machine spawns (in this order), all with cwd = the mount point.
PROCESSES: dict[str, ProcessSpec] = {
    "root": ProcessSpec(0, 0, (), 0o022),
    "alice": ProcessSpec(1000, 1000, (1000,), 0o022),
    "bob": ProcessSpec(1001, 1001, (1001, 1000), 0o077),
}


@dataclass(frozen=True)
class FdRef:
    """The ``index``-th ``open`` of a call sequence (see :func:`run_sequence`)."""

    index: int


@dataclass(frozen=True)
class Call:
    """``proc`` calls ``os.<op>(*args)``.  Flags/whence may be given by name."""

    proc: str
    op: str
    args: tuple[Any, ...]

    def __str__(self) -> str:
        return render_call(self.proc, self.op, self.args)


_OCTAL_ARG = {"open": 2, "mkdir": 1, "chmod": 1}


def render_call(proc: str, op: str, args: Sequence[Any]) -> str:
    """``alice: os.open('a', O_RDWR|O_CREAT, 0o644)``: how steps are noted."""
    shown = []
    for i, a in enumerate(args):
        if isinstance(a, int) and not isinstance(a, bool) and _OCTAL_ARG.get(op) == i:
            shown.append(f"0o{a:o}")
        elif isinstance(a, str) and (a.startswith(("O_", "SEEK_", "RENAME_"))):
            shown.append(a)
        elif isinstance(a, str) and len(a) > 40:
            shown.append(f"'{a[0]}'*{len(a)}" if a == a[0] * len(a) else repr(a))
        else:
            shown.append(repr(a))
    return f"{proc}: os.{op}({', '.join(shown)})"


def _flags(v: Any) -> int:
    if isinstance(v, str):
        from simfs.testing.strategies import parse_flags

        return parse_flags(v)
    return int(v)


def _whence(v: Any) -> int:
    return int(getattr(os, v)) if isinstance(v, str) else int(v)


def execute(proc: Any, op: str, args: Sequence[Any]) -> Any:
    """Run ``os.<op>(*args)`` on a simulated process; returns the raw value or raises.

    Flags and whence may be names (``"O_RDWR|O_CREAT"``, ``"SEEK_END"``); ``symlink``
    takes ``(target, path)``, ``setxattr`` ``(path, name, value, flags)``, ``utime``
    ``(path, (atime_ns, mtime_ns))``, ``renameat2`` ``(src, dst, flags)``.
    """
    a = list(args)
    if op == "open":
        return proc.open(a[0], _flags(a[1]), a[2] if len(a) > 2 else 0o777)
    if op == "lseek":
        return proc.lseek(a[0], a[1], _whence(a[2]))
    if op == "renameat2":
        flags = a[2]
        if isinstance(flags, str):
            flags = {"0": 0, "RENAME_NOREPLACE": 1, "RENAME_EXCHANGE": 2}[flags]
        return proc.renameat2(a[0], a[1], flags)
    if op == "utime":
        return proc.utime(a[0], ns=tuple(a[1]))
    if op == "lchown":
        return proc.chown(a[0], a[1], a[2], follow_symlinks=False)
    if op == "lgetxattr":
        return proc.getxattr(a[0], a[1], follow_symlinks=False)
    return getattr(proc, op)(*a)


# --- normalization ---------------------------------------------------------------------
#: Every stat field an :class:`Observer` knows how to compare.
STAT_FIELDS = frozenset(
    {
        "type",
        "mode",
        "nlink",
        "uid",
        "gid",
        "size",
        "dir_size",
        "blocks",
        "blksize",
        "rdev",
        "ino",
        "mtime",
        "ctime",
        "atime",
    }
)
#: Compared by default: everything except ``atime`` (and ``st_dev``, never compared).
DEFAULT_STAT_FIELDS = STAT_FIELDS - {"atime"}
EXPLICIT_TIME_LIMIT = 10**18  # ns (2001-09-09): only utime(ns=...) sets earlier times


class Observer:
    """Turns raw results of one machine into values comparable with another machine's.

    Keeps per-machine state: inode labels (first-sight order) and the last seen
    timestamps of each inode (for "moved since last observed").
    """

    def __init__(self, fields: Iterable[str] = DEFAULT_STAT_FIELDS) -> None:
        unknown = set(fields) - STAT_FIELDS
        if unknown:
            from simfs.errors import UsageError

            raise UsageError(
                f"unknown stat fields {sorted(unknown)}; choose from {sorted(STAT_FIELDS)}"
            )
        self.fields = frozenset(fields)
        self._labels: dict[int, str] = {}
        self._times: dict[tuple[str, str], int] = {}

    def fork(self) -> Observer:
        """An observer that starts with this one's labels and last seen times and then
        goes its own way (for results that are not compared)."""
        other = Observer(self.fields)
        other._labels = dict(self._labels)
        other._times = dict(self._times)
        return other

    def label(self, ino: int) -> str:
        """``i1``, ``i2``, ... in order of first sight."""
        lab = self._labels.get(ino)
        if lab is None:
            lab = self._labels[ino] = f"i{len(self._labels) + 1}"
        return lab

    def _time(self, lab: str, which: str, value: int) -> str | int:
        if value < EXPLICIT_TIME_LIMIT:
            self._times[(lab, which)] = value
            return value
        prev = self._times.get((lab, which))
        self._times[(lab, which)] = value
        if prev is None:
            return "seen"
        return "same" if prev == value else "moved"

    def stat(self, s: os.stat_result) -> tuple[tuple[str, Any], ...]:
        """The compared fields of a stat result, in a fixed order."""
        f = self.fields
        out: list[tuple[str, Any]] = []
        lab = self.label(s.st_ino)
        isdir = st.S_ISDIR(s.st_mode)
        if "type" in f:
            out.append(("type", st.S_IFMT(s.st_mode)))
        if "mode" in f:
            out.append(("mode", oct(st.S_IMODE(s.st_mode))))
        for name in ("nlink", "uid", "gid", "blocks", "blksize", "rdev"):
            if name in f:
                out.append((name, getattr(s, f"st_{name}")))
        if ("dir_size" if isdir else "size") in f:
            out.append(("size", s.st_size))
        if "ino" in f:
            out.append(("ino", lab))
        for name in ("mtime", "ctime", "atime"):
            if name in f:
                out.append((name, self._time(lab, name, getattr(s, f"st_{name}_ns"))))
        return tuple(out)

    def value(self, op: str, v: Any) -> Any:
        """Normalize the return value of ``os.<op>``."""
        if isinstance(v, os.stat_result):
            return self.stat(v)
        if op == "getdents":
            return tuple(sorted((d.name, d.d_type, self.label(d.d_ino)) for d in v))
        if op in ("listdir", "listxattr"):
            return tuple(sorted(v))
        if isinstance(v, bytes | bytearray):
            return bytes(v)
        return v

    def outcome(self, op: str, fn: Any) -> Outcome:
        """Run ``fn()`` and normalize: ``("ok", value)`` or ``("err", errno name)``.

        Only ``OSError`` is an outcome; any other exception propagates (a crash of the
        simulator, which every machine reports as a failure).
        """
        try:
            v = fn()
        except OSError as e:
            return ("err", errno.errorcode.get(e.errno or 0, str(e.errno)))
        return ("ok", self.value(op, v))


def run_sequence(
    processes: Mapping[str, Any], calls: Iterable[Any], observer: Observer | None = None
) -> list[Outcome]:
    """Run ``calls`` (:class:`Call` with :class:`FdRef` arguments) and return the outcomes.

    ``processes`` maps the process names of :data:`PROCESSES` to simulated processes.
    An :class:`FdRef` to an open that failed or was closed becomes descriptor 1023
    (``EBADF``), as a stale descriptor would.
    """
    obs = observer or Observer()
    opened: list[tuple[str, int | None]] = []
    out: list[Outcome] = []
    for call in calls:
        proc = processes[call.proc]
        args = list(call.args)
        fd_owner = None
        for i, a in enumerate(args):
            if isinstance(a, FdRef):
                if a.index < len(opened) and opened[a.index][1] is not None:
                    fd_owner, args[i] = opened[a.index]
                else:
                    args[i] = 1023
        if fd_owner is not None:
            proc = processes[fd_owner]
        oc = obs.outcome(call.op, lambda p=proc, c=call, a=args: execute(p, c.op, a))
        if call.op == "open":
            opened.append((call.proc, oc[1] if oc[0] == "ok" else None))
        if call.op == "close" and oc[0] == "ok":
            for j, (owner, fd) in enumerate(opened):
                if fd == args[0] and owner == fd_owner:
                    opened[j] = (owner, None)
        out.append(oc)
    return out
