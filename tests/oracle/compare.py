"""Turning raw outcomes into comparable ones, running a case in a world, and diffing two runs.

Raw data differs between worlds in ways that carry no meaning (inode numbers, absolute times,
fd numbers, directory sizes, readdir order); :class:`Normalizer` removes exactly those and
keeps the relations that do carry meaning: "same inode as" (inodes get labels ``i1, i2, ...``
in order of first sight), "mtime moved since the last stat of this inode", "atime < mtime",
explicit timestamps set through ``utime`` (anything before 2001 is shown absolutely).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .ops import ROOT, Call, Cred, Op, Raw, RawSnapshot, parse, render

Outcome = tuple[str, Any]


class World(Protocol):
    """A fresh tree with processes in it: the real kernel (realfs) or simfs (simside)."""

    def spawn(self, proc: str, cred: Cred, umask: int, cwd: str) -> None: ...

    def call(
        self, proc: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], tick: bool
    ) -> Raw: ...

    def snapshot(self, top: str) -> RawSnapshot: ...

    def close(self) -> None: ...


_TYPES = {
    stat.S_IFREG: "reg",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "lnk",
    stat.S_IFIFO: "fifo",
    stat.S_IFCHR: "chr",
    stat.S_IFBLK: "blk",
    stat.S_IFSOCK: "sock",
}
EXPLICIT_TIME_LIMIT = 10**18  # ns; 2001-09-09. Only utime(ns=...) in a case sets times before it.
FD_OPS = frozenset({"open", "dup"})


def _rel(x: int, y: int) -> str:
    return "<" if x < y else ">" if x > y else "="


def _moved(old: int, new: int) -> str:
    return "+" if new > old else "-" if new < old else "="


class Normalizer:
    """Per-world state for normalising outcomes: inode labels and last-seen timestamps."""

    def __init__(self, *, times: bool = True) -> None:
        self.times = times
        self.labels: dict[int, str] = {}
        self.last_times: dict[int, tuple[int, int, int]] = {}

    def ino(self, ino: int) -> str:
        if ino not in self.labels:
            self.labels[ino] = f"i{len(self.labels) + 1}"
        return self.labels[ino]

    def stat(self, raw: Mapping[str, int], *, times: bool | None = None) -> dict[str, Any]:
        mode = raw["mode"]
        kind = _TYPES.get(stat.S_IFMT(mode), oct(stat.S_IFMT(mode)))
        out: dict[str, Any] = {
            "type": kind,
            "mode": oct(stat.S_IMODE(mode)),
            "nlink": raw["nlink"],
            "uid": raw["uid"],
            "gid": raw["gid"],
            "ino": self.ino(raw["ino"]),
        }
        if kind != "dir":  # directory st_size is filesystem-specific (tmpfs: 40 + 20/entry)
            out["size"] = raw["size"]
        if kind in ("chr", "blk"):
            out["rdev"] = (os.major(raw["rdev"]), os.minor(raw["rdev"]))
        if self.times if times is None else times:
            a, m, c = raw["atime_ns"], raw["mtime_ns"], raw["ctime_ns"]
            out["times"] = f"a{_rel(a, m)}m m{_rel(m, c)}c a{_rel(a, c)}c"
            before = self.last_times.get(raw["ino"])
            if before is None:
                out["since"] = "new"
            else:
                out["since"] = " ".join(
                    f"{n}{_moved(o, v)}" for n, o, v in zip("amc", before, (a, m, c), strict=True)
                )
            self.last_times[raw["ino"]] = (a, m, c)
            for name, value in (("atime_ns", a), ("mtime_ns", m)):
                if value < EXPLICIT_TIME_LIMIT:
                    out[name] = value
        return out

    def outcome(self, name: str, raw: Raw) -> Outcome:
        """The comparable form of one op's raw outcome."""
        status, value = raw
        if status != "ok":
            return (status, value)
        if name in FD_OPS and isinstance(value, int) and value >= 0:
            return ("ok", "fd")
        if name in ("stat", "lstat", "fstat"):
            return ("ok", self.stat(value))
        if name == "listdir":
            return ("ok", sorted(value))
        if name == "listxattr":
            return ("ok", sorted(value))
        if name == "scandir":
            return ("ok", [(n, kind, self.ino(i)) for n, kind, i in sorted(value)])
        if name == "getdents":
            return ("ok", [(n, t, self.ino(i)) for n, i, t in sorted(value)])
        if name in ("statvfs", "fstatvfs"):
            return ("ok", statvfs_relations(value))
        return ("ok", value)

    def snapshot(self, raw: RawSnapshot) -> dict[str, Any]:
        """The comparable final tree: entries keyed by path, with their own inode labels."""
        labels = Normalizer(times=False)
        out: dict[str, Any] = {}
        for path, entry in raw:
            norm = dict(entry)
            if isinstance(entry.get("stat"), dict):
                norm["stat"] = labels.stat(entry["stat"])
            data = entry.get("data")
            if isinstance(data, bytes) and len(data) > 256:
                norm["data"] = _summarise(data)
            out[path] = norm
        return out


def _summarise(data: bytes) -> str:
    """A short, exact description of long contents: length and runs of zero / non-zero bytes."""
    import hashlib

    digest = hashlib.sha256(data).hexdigest()[:16]
    return f"<{len(data)} bytes, nonzero={sum(1 for b in data if b)}, sha256={digest}>"


def statvfs_relations(raw: Mapping[str, int]) -> dict[str, Any]:
    """statvfs numbers depend on the machine; their relations and the name limit do not."""
    return {
        "f_namemax": raw["f_namemax"],
        "bsize>0": raw["f_bsize"] > 0,
        "frsize==bsize": raw["f_frsize"] == raw["f_bsize"],
        "bfree<=blocks": raw["f_bfree"] <= raw["f_blocks"],
        "bavail<=bfree": raw["f_bavail"] <= raw["f_bfree"],
        "ffree<=files": raw["f_ffree"] <= raw["f_files"],
        "rdonly": bool(raw["f_flag"] & os.ST_RDONLY),
    }


@dataclass
class Step:
    """One executed op and its normalised outcome."""

    phase: str
    index: int
    op: Op
    outcome: Outcome

    def where(self) -> str:
        return f"{self.phase}#{self.index}"


@dataclass
class Run:
    """Everything one world produced for one case."""

    steps: list[Step]
    snapshot: dict[str, Any]


OBSERVERS = frozenset(["fstat", "getcwd", "lseek", "close", "dup", "flock", "fsync", "fdatasync"])
"""Ops that set no timestamp, so need no clock tick before them (see
realfs.wait_until_coarse_passes).

Only fd ops qualify: any path walk that follows a symlink updates the link's atime (relatime,
``touch_atime`` in ``pick_link``), and so does ``readlink``."""

UNBOUND = 999  # an fd binding whose op failed: later uses get EBADF in both worlds


def run_ops(
    world: World,
    proc: str,
    ops: Sequence[Op],
    norm: Normalizer,
    *,
    phase: str,
    tick: bool,
    bindings: dict[str, Any] | None = None,
) -> list[Step]:
    """Run ``ops`` in process ``proc``, resolving ``$name`` arguments from ``bindings``."""
    env = {} if bindings is None else bindings
    steps = []
    for index, op in enumerate(ops):
        call = parse(op)
        raw = world.call(proc, call.name, *resolve(call, env), tick and call.name not in OBSERVERS)
        if call.bind is not None:
            env[call.bind] = raw[1] if raw[0] == "ok" else UNBOUND
        steps.append(Step(phase, index, op, norm.outcome(call.name, raw)))
    return steps


def resolve(call: Call, env: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    def sub(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            if value not in env:
                raise KeyError(f"{value} is used before an op binds it")
            return env[value]
        return value

    return tuple(sub(a) for a in call.args), {k: sub(v) for k, v in call.kwargs.items()}


# --- diffs ---------------------------------------------------------------------------------


def _fmt(outcome: Outcome | None) -> str:
    if outcome is None:
        return "<missing>"
    status, value = outcome
    if status == "ok" and isinstance(value, dict):
        return "ok " + " ".join(f"{k}={v}" for k, v in value.items())
    return f"{status} {value!r}" if status == "ok" else f"{status} {value}"


def diff_runs(left: Run, right: Run, names: tuple[str, str] = ("real", "simfs")) -> str | None:
    """A readable op-by-op and path-by-path diff, or ``None`` if the runs are identical."""
    if left.steps == right.steps and left.snapshot == right.snapshot:
        return None
    lines: list[str] = []
    width = 44
    hidden = 0
    for i in range(max(len(left.steps), len(right.steps))):
        a = left.steps[i] if i < len(left.steps) else None
        b = right.steps[i] if i < len(right.steps) else None
        step = a or b
        assert step is not None
        same = a is not None and b is not None and a.outcome == b.outcome
        if same and step.phase == "setup":
            hidden += 1  # matching setup steps are noise; the ops are the case
            continue
        if hidden:
            lines.append(f"   ({hidden} matching setup steps not shown)")
            hidden = 0
        mark = "  " if same else "!!"
        text = render(step.op)
        text = text if len(text) <= width else text[: width - 3] + "..."
        lines.append(
            f"{mark} {step.where():<9} {text:<{width}} {names[0]}: {_fmt(a.outcome if a else None)}"
        )
        if not same:
            lines.append(f"{'':>{width + 13}} {names[1]}: {_fmt(b.outcome if b else None)}")
    snap_a, snap_b = left.snapshot, right.snapshot
    if snap_a != snap_b:
        lines.append("final tree (differences only):")
        for path in sorted(set(snap_a) | set(snap_b)):
            ea, eb = snap_a.get(path), snap_b.get(path)
            if ea == eb:
                continue
            lines.append(f"!! {path}")
            for key in sorted(set(ea or {}) | set(eb or {})):
                va = (ea or {}).get(key, "<absent>")
                vb = (eb or {}).get(key, "<absent>")
                if va != vb:
                    lines.append(f"     {key}: {names[0]}={va!r}")
                    lines.append(f"     {'':{len(key)}}  {names[1]}={vb!r}")
    return "\n".join(lines)


def run_case(
    world: World,
    *,
    setup: Sequence[Op],
    ops: Sequence[Op],
    cred: Cred,
    umask: int,
    tick: bool = True,
) -> Run:
    """Run a table case: ``setup`` as root, then ``ops`` as ``cred``, both with cwd ``/t``.

    The two phases are two processes (as in simfs), so fds bound in setup are not usable in
    ``ops``. The final tree of ``/t`` is taken by a third, root process.
    """
    world.spawn("setup", ROOT, umask, "/t")
    world.spawn("main", cred, umask, "/t")
    norm = Normalizer(times=tick)
    steps = run_ops(world, "setup", setup, norm, phase="setup", tick=tick)
    steps += run_ops(world, "main", ops, norm, phase="ops", tick=tick)
    return Run(steps, norm.snapshot(world.snapshot("/t")))
