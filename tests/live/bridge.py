"""Helpers for the real-kernel tests: run a recorded workload through :mod:`simfs.live`
with the same daemon configuration simfs uses (``tests/fuse/recorded.py``), and split the
trace into phases with fences.

A fence is ``os.statvfs(MNT)`` made by a throwaway child of the workload process: it sends
one STATFS on the mount root, the daemon answers it in order, and its pid says it is not
part of the workload (the recorder in ``tests/fuse_recordings/record.py`` does the same
from its driver process).  Requests carrying a fence pid are dropped; each fence ends one
phase.
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.daemon import Daemon, Reply, Request
from simfs.daemons import Passthrough
from simfs.live import LiveTrace, live_unavailable, run_live
from tests.fuse.recorded import GlibcProcess
from tests.fuse_recordings import workloads as wl

LIVE_REASON = live_unavailable()
needs_live = pytest.mark.skipif(LIVE_REASON is not None, reason=f"real FUSE: {LIVE_REASON}")


def fence(mountpoint: str) -> int:
    """One STATFS from a process of its own; returns its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            os.statvfs(mountpoint)
        except BaseException:
            code = 1
        os._exit(code)
    os.waitpid(pid, 0)
    return pid


def split(trace: LiveTrace, fences: list[int]) -> list[list[Any]]:
    """The requests of each phase (before the first fence, between fences...)."""
    phases: list[list[Any]] = [[]]
    it = iter(fences)
    current = next(it, None)
    for x in trace.exchanges:
        if x.request.pid == current:
            phases.append([])
            current = next(it, None)
            continue
        if x.request.pid in fences:
            continue
        phases[-1].append(x)
    return phases


def replay_outcomes(target: Any, calls: Any, resolve: Any, fds: dict[str, Any]) -> list[object]:
    """Like ``workloads.replay``, but any call may fail: its outcome is its result's
    ``summarize`` or the errno name (a bound fd that failed to open stays unbound and
    later uses of it are skipped as "EBADF")."""
    out: list[object] = []
    for c in calls:
        try:
            args = [wl._resolve_arg(a, resolve, fds) for a in c.args]
        except KeyError:
            out.append("EBADF")
            continue
        try:
            res = getattr(target, c.method)(*args)
        except OSError as e:
            out.append(errno.errorcode.get(e.errno or 0, str(e.errno)))
            continue
        if c.bind:
            fds[c.bind] = res
        out.append(wl.summarize(c, res))
    return out


def recorded_daemon(cfg: wl.DaemonConfig, lower: str, **kw: Any) -> Passthrough:
    """The daemon ``tests/fuse/recorded.simulate`` serves for a recording's config."""
    return Passthrough(
        lower,
        entry_timeout=cfg.timeout,
        attr_timeout=cfg.timeout,
        xattr=cfg.xattr,
        flush=cfg.flush,
        rename_flags=False,
        **kw,
    )


#: One request and its answer, as both sides can report it: (opcode, nodeid, insize,
#: reply error, reply outsize, *flags); error/outsize None without reply; flags as _flags.
Exchange = tuple[Any, ...]


@dataclass
class Phases:
    """Exchanges per phase (``tail``: after the last fence, up to the unmount) and the
    measured calls' result summaries."""

    setup: list[Exchange]
    measured: list[Exchange]
    tail: list[Exchange]
    results: list[object]

    def opcodes(self, phase: str) -> list[str]:
        return [x[0] for x in getattr(self, phase)]

    def _labels(self) -> dict[int, int]:
        """Node ids renumbered by first appearance over the whole run.  The daemon hands
        out ids in the order it meets inodes, and READDIRPLUS meets them in the lower
        filesystem's readdir order (ext4's hash order here, pyfakefs's creation order in
        simfs): the ids are labels, the comparison checks they are used consistently."""
        labels: dict[int, int] = {}
        for x in self.setup + self.measured + self.tail:
            if x[0] != "FORGET":  # a FORGET's place is timing (see comparable)
                labels.setdefault(x[1], len(labels) + 1)
        return labels

    def comparable(self, phase: str) -> list[Exchange]:
        """The phase without FORGET, node ids relabelled.  When the kernel queues a FORGET
        while the daemon is busy, whether it is read before or after the next request
        depends on the scheduler and ``fiq->forget_batch`` (``fuse_dev_do_read``), so a
        real run may show it one fence later: FORGETs are compared over the whole run."""
        lab = self._labels()
        return [(x[0], lab[x[1]], *x[2:]) for x in getattr(self, phase) if x[0] != "FORGET"]

    def forgets(self) -> list[int]:
        lab = self._labels()
        every = self.setup + self.measured + self.tail
        # a node only ever named in a LOOKUP reply has no label: 0
        return sorted(lab.get(x[1], 0) for x in every if x[0] == "FORGET")


def _exchanges(req: Request, error: int | None, outsize: int | None) -> list[Exchange]:
    """One request as compared.  A BATCH_FORGET is the FORGETs it carries: whether the
    kernel batches depends on how many forgets are queued when the daemon reads
    (``fuse_read_forget``), i.e. on timing."""
    if req.opcode == uapi.FUSE_BATCH_FORGET and len(req.args) > 1:
        ones = req.args[1]
        assert isinstance(ones, list)
        return [("FORGET", one.nodeid, 0, None, None) for one in ones]
    if req.opcode == uapi.FUSE_FORGET:
        return [("FORGET", req.nodeid, 0, None, None)]
    return [(req.name, req.nodeid, req.insize, error, outsize, *_flags(req))]


def _flags(req: Request) -> tuple[object, ...]:
    """The in-argument fields that say what the kernel asked for: open flags, read and
    write ranges, which attributes a SETATTR sets, GETATTR's flags."""
    a = req.args[0] if req.args else None
    if isinstance(a, uapi.FuseOpenIn | uapi.FuseCreateIn):
        return (oct(a.flags), a.open_flags)
    if isinstance(a, uapi.FuseReadIn):
        return (a.offset, a.size)
    if isinstance(a, uapi.FuseWriteIn):
        return (a.offset, a.size, a.write_flags)
    if isinstance(a, uapi.FuseSetattrIn):
        return (hex(a.valid),)
    if isinstance(a, uapi.FuseGetattrIn):
        return (a.getattr_flags,)
    return ()


def _live_exchange(x: Any) -> list[Exchange]:
    if x.reply is None:
        return _exchanges(x.request, None, None)
    return _exchanges(x.request, x.reply.error, x.reply.outsize)


def run_workload_live(
    w: wl.Workload,
    daemon: Daemon,
    *,
    default_permissions: bool = False,
    tmp: str | None = None,
    lenient: bool = False,
) -> Phases:
    """``w`` on the real kernel served by ``daemon``: requests per phase and results."""
    base = tempfile.mkdtemp(prefix="simfs-live-", dir=tmp)
    lower, mnt = os.path.join(base, "lower"), os.path.join(base, "mnt")
    os.mkdir(lower)
    os.mkdir(mnt)
    wl.materialize(w.fixture, lower)
    if isinstance(daemon, Passthrough):
        daemon.source = lower

    def work(m: str) -> tuple[list[object], list[int]]:
        def resolve(rel: str) -> str:
            return os.path.join(m, rel) if rel else m

        fds: dict[str, Any] = {}
        fences = [fence(m)]  # after INIT
        wl.replay(os, w.setup, resolve, fds)
        fences.append(fence(m))
        if lenient:
            results = replay_outcomes(os, w.measured, resolve, fds)
        else:
            res = wl.replay(os, w.measured, resolve, fds)
            results = [wl.summarize(c, r) for c, r in zip(w.measured, res, strict=True)]
        fences.append(fence(m))
        return results, fences

    r = run_live(daemon, mnt, work, timeout=60, default_permissions=default_permissions)
    results, fences = r.value
    phases = [[y for x in ph for y in _live_exchange(x)] for ph in split(r.trace, fences)]
    assert not r.daemon_error, r.daemon_error
    return Phases(setup=phases[1], measured=phases[2], tail=phases[3], results=results)


def _sim_exchanges(k: simfs.Kernel, seen: list[Request]) -> list[Exchange]:
    """The requests the daemon handled (``seen``, cleared) with their replies' error and
    size from the trace."""
    replies = {e.data["unique"]: e.data for e in k.trace.of("reply")}
    out: list[Exchange] = []
    for req in seen:
        rep = replies.get(req.unique)
        err = None if rep is None else int(rep["error"])
        size = None if rep is None else int(rep["outsize"])
        out.extend(_exchanges(req, err, size))
    seen.clear()
    return out


def run_workload_sim(
    w: wl.Workload, daemon: Daemon, *, default_permissions: bool = False, lenient: bool = False
) -> Phases:
    """``w`` on simfs, ``variant="upstream"``, as ``tests/fuse/recorded.simulate`` runs a
    recording (glibc's opendir fstat included), with ``daemon``."""
    k = simfs.Kernel()
    root = k.spawn(umask=0)
    root.mkdir("/data", 0o755)
    root.mkdir("/mnt", 0o755)
    wl.materialize(w.fixture, "/data", root)
    if isinstance(daemon, Passthrough):
        daemon.source = "/data"
    fm = k.mount_fuse(
        "/mnt",
        daemon=daemon,
        variant="upstream",
        default_permissions=default_permissions,
        readdir_bufsize=32768,
    )
    proc = GlibcProcess(k.spawn())
    fds: dict[str, Any] = {}
    seen: list[Request] = []
    handle = daemon.handle

    def recording(req: Request) -> Reply | None:
        seen.append(req)
        return handle(req)

    daemon.handle = recording  # type: ignore[method-assign]

    def resolve(rel: str) -> str:
        return "/mnt/" + rel if rel else "/mnt"

    seen.clear()
    k.trace.clear()
    wl.replay(proc, w.setup, resolve, fds)
    fm.conn.drain()
    setup = _sim_exchanges(k, seen)
    k.trace.clear()
    if lenient:
        results = replay_outcomes(proc, w.measured, resolve, fds)
    else:
        res = wl.replay(proc, w.measured, resolve, fds)
        results = [wl.summarize(c, r) for c, r in zip(w.measured, res, strict=True)]
    fm.conn.drain()
    measured = _sim_exchanges(k, seen)
    return Phases(setup=setup, measured=measured, tail=[], results=results)


# ============================================================================================
# Capabilities of the daemon's thread (for the CAP_SYS_ADMIN rule)

_CAP_V3 = 0x20080522
_SYS_CAPGET, _SYS_CAPSET = 125, 126  # x86-64


def drop_cap_sys_admin(proc: Any) -> None:
    """Take CAP_SYS_ADMIN out of the daemon's effective set: in simfs its credentials, on
    the real kernel the calling thread's (``capset(2)`` is per thread, and the daemon loop
    is a thread of its own)."""
    from simfs.vfs.cred import CAP_SYS_ADMIN

    if hasattr(proc, "cred"):  # a simfs Process (the live OsProcess has no credentials)
        proc.cred = proc.cred.without(CAP_SYS_ADMIN)
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    head = (ctypes.c_uint32 * 2)(_CAP_V3, 0)
    data = (ctypes.c_uint32 * 6)()
    if libc.syscall(_SYS_CAPGET, head, data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    data[0] &= ~(1 << CAP_SYS_ADMIN)  # effective, low word
    if libc.syscall(_SYS_CAPSET, head, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
