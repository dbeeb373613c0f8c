"""Every mainline passthrough rule, on the real kernel and in simfs, with the same daemon.

Each case is a daemon policy (what its OPEN/CREATE reply says, which backing-file ioctls
it makes) and a workload (what a user does on the mount).  The case runs on this
machine's Linux 6.18 through :mod:`simfs.live` and in simfs (``variant="upstream"``); the
user-visible results, the daemon's ioctl outcomes and the requests must be the same on
both, and equal to what ``fs/fuse/backing.c``, ``passthrough.c`` and ``iomode.c`` say
(each case names its rule).  Without ``/dev/fuse`` or root the real side is skipped with
the reason and the simfs side still runs against the expected values.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.daemon import Reply, Request
from simfs.daemons import Passthrough
from simfs.live import run_live
from tests.live.bridge import LIVE_REASON, drop_cap_sys_admin

DATA = b"0123456789" * 10
PT = uapi.FOPEN_PASSTHROUGH

Policy = Callable[["RuleDaemon", int, int, int], uapi.FuseOpenOut]


class RuleDaemon(Passthrough):
    """A Passthrough whose open replies follow ``policy(daemon, nodeid, fd, nth_open)``
    (``None``: the shipped passthrough_hp behaviour) and that logs every backing ioctl's
    outcome in :attr:`log` as ``("open"|"close", "ok"|errno name)``."""

    def __init__(
        self,
        source: str,
        policy: Policy | None = None,
        *,
        negotiate: bool = True,
        drop_admin: bool = False,
        close_on_listxattr: bool = False,
        writeback: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(
            source, entry_timeout=86400, attr_timeout=86400, passthrough=negotiate, **kw
        )
        if writeback:  # ask for both: process_init_reply then leaves passthrough off
            self.init_flags |= uapi.FUSE_WRITEBACK_CACHE
        self.policy = policy
        self.drop_admin = drop_admin
        self.close_on_listxattr = close_on_listxattr
        self.log: list[tuple[str, str]] = []
        self.ids: list[int] = []
        self.nth = 0

    def init(self, req: Request) -> Reply | None:
        if self.drop_admin:
            drop_cap_sys_admin(self.proc)  # runs in the daemon's own thread
        return super().init(req)

    def backing_open(self, fd: int, flags: int = 0) -> int:
        try:
            bid = super().backing_open(fd, flags)
        except OSError as e:
            self.log.append(("open", errno.errorcode[e.errno or 0]))
            raise
        self.log.append(("open", "ok"))
        self.ids.append(bid)
        return bid

    def backing_close(self, backing_id: int) -> None:
        try:
            super().backing_close(backing_id)
        except OSError as e:
            self.log.append(("close", errno.errorcode[e.errno or 0]))
            raise
        self.log.append(("close", "ok"))

    def try_open(self, fd: int) -> int:
        try:
            return self.backing_open(fd)
        except OSError:
            return 0

    def try_close(self, backing_id: int) -> None:
        try:
            self.backing_close(backing_id)
        except OSError:
            pass

    def _open_out(self, nodeid: int, fd: int) -> uapi.FuseOpenOut:
        self.nth += 1
        if self.policy is None:
            return super()._open_out(nodeid, fd)
        return self.policy(self, nodeid, fd, self.nth)

    def listxattr(self, req: Request) -> Reply:
        if self.close_on_listxattr:  # a point after the OPEN reply was taken
            for bid in self.ids:
                self.try_close(bid)
        return super().listxattr(req)


def attempt(fn: Callable[[], Any]) -> Any:
    """The call's value, or the name of the errno it failed with."""
    try:
        return fn()
    except OSError as e:
        return errno.errorcode[e.errno or 0]


def open_read(o: Any, path: str, flags: int = os.O_RDONLY) -> Any:
    """open + pread 10 + close, or the errno name of the open."""
    fd = attempt(lambda: o.open(path, flags))
    if isinstance(fd, str):
        return fd
    data = o.pread(fd, 10, 0)
    o.close(fd)
    return data


@dataclass
class Outcome:
    value: Any
    log: list[tuple[str, str]]
    requests: list[str] = field(default_factory=list)


def run_sim(
    daemon: RuleDaemon,
    work: Callable[[Any, str], Any],
    below: Passthrough | None = None,
) -> Outcome:
    k = simfs.Kernel()
    root = k.spawn(umask=0)
    for d in ("/data", "/mnt", "/lower_mnt"):
        root.mkdir(d, 0o755)
    fd = root.open("/data/f", os.O_CREAT | os.O_WRONLY, 0o644)
    root.write(fd, DATA)
    root.close(fd)
    if below is not None:
        below.source = "/data"
        k.mount_fuse("/lower_mnt", daemon=below, variant="upstream")
        daemon.source = "/lower_mnt"
    else:
        daemon.source = "/data"
    fm = k.mount_fuse("/mnt", daemon=daemon, variant="upstream")
    p = k.spawn()
    k.trace.clear()
    value = work(p, "/mnt")
    fm.conn.drain()
    # with a stack, the trace mixes both connections' requests: compare results only
    reqs = [] if below is not None else [str(op) for op in k.trace.request_opcodes()]
    return Outcome(value, daemon.log, reqs)


def run_real(
    daemon: RuleDaemon,
    work: Callable[[Any, str], Any],
    below: Passthrough | None = None,
    tmp: str | None = None,
) -> Outcome:
    base = tempfile.mkdtemp(prefix="simfs-rules-", dir=tmp)
    lower, mnt, lower_mnt = (os.path.join(base, n) for n in ("lower", "mnt", "lower_mnt"))
    for d in (lower, mnt, lower_mnt):
        os.mkdir(d)
    with open(os.path.join(lower, "f"), "wb") as f:
        f.write(DATA)
    stack: list[tuple[Any, str]] = []
    if below is not None:
        below.source = lower
        stack.append((below, lower_mnt))
        daemon.source = lower_mnt
    else:
        daemon.source = lower
    r = run_live(
        daemon, mnt, lambda m: work(os, m), collect=lambda d: d.log, below=stack, timeout=30
    )
    assert not r.daemon_error, r.daemon_error
    reqs = [] if below is not None else [x.opcode for x in r.trace.exchanges]
    return Outcome(r.value, r.collected, [op for op in reqs if op != "INIT"])


# ============================================================================================
# The cases: (daemon factory, workload, expected value, expected ioctl log, rule)


@dataclass(frozen=True)
class Case:
    rule: str
    make: Callable[[], RuleDaemon]
    work: Callable[[Any, str], Any]
    value: Any
    log: list[tuple[str, str]]
    below: Callable[[], Passthrough] | None = None
    #: requests the daemon must (True) or must not (False) have seen
    sees: dict[str, bool] = field(default_factory=dict)


def _pt(d: RuleDaemon, bid: int, fd: int, extra: int = 0) -> uapi.FuseOpenOut:
    return uapi.FuseOpenOut(fh=fd, open_flags=PT | extra, backing_id=bid)


def _plain(fd: int) -> uapi.FuseOpenOut:
    return uapi.FuseOpenOut(fh=fd)


def _f(m: str) -> str:
    return m + "/f"


def _read_twice(o: Any, m: str) -> list[Any]:
    """Two opens of the same file, both kept open while the second is made."""
    fd1 = o.open(_f(m), os.O_RDONLY)
    second = open_read(o, _f(m))
    first = o.pread(fd1, 10, 0)
    o.close(fd1)
    return [first, second]


def _close_while_open(o: Any, m: str) -> list[Any]:
    fd = o.open(_f(m), os.O_RDONLY)
    o.listxattr(_f(m))  # the daemon closes the backing id now
    data = o.pread(fd, 10, 0)
    o.close(fd)
    return [data, open_read(o, _f(m))]


def _bad_fds(d: RuleDaemon, nodeid: int, fd: int, nth: int) -> uapi.FuseOpenOut:
    dirfd = d.proc.open(d.source, os.O_RDONLY | os.O_DIRECTORY)
    r, w = d.proc.pipe()
    for bad in (dirfd, r, 9999):  # a directory, a pipe, no such fd
        d.try_open(bad)
    for bad in (0, -1, 12345):  # ids never handed out
        d.try_close(bad)
    for x in (dirfd, r, w):
        d.proc.close(x)
    return _plain(fd)


CASES = [
    Case(
        "passthrough_hp: FOPEN_PASSTHROUGH, no READ request (passthrough.c read_iter)",
        lambda: RuleDaemon(""),
        lambda o, m: [open_read(o, _f(m)), open_read(o, _f(m))],
        [DATA[:10], DATA[:10]],
        [("open", "ok"), ("close", "ok"), ("open", "ok"), ("close", "ok")],
        sees={"READ": False, "OPEN": True},
    ),
    Case(
        "backing id never opened: fuse_passthrough_open ENOENT -> open() EIO, sync RELEASE",
        lambda: RuleDaemon("", lambda d, n, fd, i: _pt(d, 999, fd)),
        lambda o, m: open_read(o, _f(m)),
        "EIO",
        [],
        sees={"RELEASE": True, "READ": False},
    ),
    Case(
        "backing id already closed: ENOENT -> open() EIO",
        lambda: RuleDaemon(
            "", lambda d, n, fd, i: (bid := d.try_open(fd), d.try_close(bid), _pt(d, bid, fd))[2]
        ),
        lambda o, m: open_read(o, _f(m)),
        "EIO",
        [("open", "ok"), ("close", "ok")],
    ),
    Case(
        "BACKING_OPEN of a directory EISDIR, a pipe EINVAL, a closed fd EBADF; "
        "BACKING_CLOSE of 0 and -1 EINVAL, of an unknown id ENOENT (backing.c)",
        lambda: RuleDaemon("", _bad_fds),
        lambda o, m: open_read(o, _f(m)),
        DATA[:10],
        [
            ("open", "EISDIR"),
            ("open", "EINVAL"),
            ("open", "EBADF"),
            ("close", "EINVAL"),
            ("close", "EINVAL"),
            ("close", "ENOENT"),
        ],
        sees={"READ": True},
    ),
    Case(
        "no FUSE_PASSTHROUGH at INIT: BACKING_OPEN EPERM; a FOPEN_PASSTHROUGH reply -> EIO",
        lambda: RuleDaemon(
            "", lambda d, n, fd, i: (d.try_open(fd), _pt(d, 1, fd))[1], negotiate=False
        ),
        lambda o, m: open_read(o, _f(m)),
        "EIO",
        [("open", "EPERM")],
    ),
    Case(
        "no CAP_SYS_ADMIN: BACKING_OPEN EPERM, passthrough_hp falls back to READ silently",
        lambda: RuleDaemon("", drop_admin=True),
        lambda o, m: [open_read(o, _f(m)), open_read(o, _f(m))],
        [DATA[:10], DATA[:10]],
        [("open", "EPERM")],
        sees={"READ": True},
    ),
    Case(
        "one backing file per inode: a second id for an open inode EBUSY -> EIO (libfuse #1125)",
        lambda: RuleDaemon("", lambda d, n, fd, i: _pt(d, d.try_open(fd), fd)),
        _read_twice,
        [DATA[:10], "EIO"],
        [("open", "ok"), ("open", "ok")],
    ),
    Case(
        "the same id for every open of the inode is fine (passthrough_hp shares it)",
        lambda: RuleDaemon(
            "", lambda d, n, fd, i: _pt(d, d.ids[0] if d.ids else d.try_open(fd), fd)
        ),
        _read_twice,
        [DATA[:10], DATA[:10]],
        [("open", "ok")],
        sees={"READ": False},
    ),
    Case(
        "closing an id in use: open files keep the backing file; the id is gone (ENOENT)",
        lambda: RuleDaemon(
            "",
            lambda d, n, fd, i: _pt(d, d.try_open(fd), fd) if i == 1 else _pt(d, d.ids[0], fd),
            close_on_listxattr=True,
        ),
        _close_while_open,
        [DATA[:10], "EIO"],
        [("open", "ok"), ("close", "ok")],
        sees={"READ": False},
    ),
    Case(
        "cached open then passthrough open: ETXTBSY -> EIO (iomode.c)",
        lambda: RuleDaemon(
            "", lambda d, n, fd, i: _plain(fd) if i == 1 else _pt(d, d.try_open(fd), fd)
        ),
        _read_twice,
        [DATA[:10], "EIO"],
        [("open", "ok")],
    ),
    Case(
        "passthrough open then cached open: EINVAL -> EIO (iomode.c)",
        lambda: RuleDaemon(
            "", lambda d, n, fd, i: _pt(d, d.try_open(fd), fd) if i == 1 else _plain(fd)
        ),
        _read_twice,
        [DATA[:10], "EIO"],
        [("open", "ok")],
    ),
    Case(
        "FOPEN_KEEP_CACHE with FOPEN_PASSTHROUGH: outside FOPEN_PASSTHROUGH_MASK -> EIO",
        lambda: RuleDaemon(
            "", lambda d, n, fd, i: _pt(d, d.try_open(fd), fd, uapi.FOPEN_KEEP_CACHE)
        ),
        lambda o, m: open_read(o, _f(m)),
        "EIO",
        [("open", "ok")],
    ),
    Case(
        "FOPEN_DIRECT_IO overrides FOPEN_PASSTHROUGH: reads go to the daemon (libfuse #1027)",
        lambda: RuleDaemon("", cache="never"),
        lambda o, m: [open_read(o, _f(m)), open_read(o, _f(m), os.O_RDWR)],
        [DATA[:10], DATA[:10]],
        [("open", "ok"), ("close", "ok"), ("open", "ok"), ("close", "ok")],
        sees={"READ": True},
    ),
    Case(
        "INIT: max_stack_depth 3 (> FILESYSTEM_MAX_STACK_DEPTH) leaves passthrough off: EPERM",
        lambda: RuleDaemon("", max_stack_depth=3),
        lambda o, m: open_read(o, _f(m)),
        DATA[:10],
        [("open", "EPERM")],
        sees={"READ": True},
    ),
    Case(
        "INIT: max_stack_depth 0 leaves passthrough off: EPERM",
        lambda: RuleDaemon("", max_stack_depth=0),
        lambda o, m: open_read(o, _f(m)),
        DATA[:10],
        [("open", "EPERM")],
        sees={"READ": True},
    ),
    Case(
        "INIT: FUSE_WRITEBACK_CACHE with FUSE_PASSTHROUGH leaves passthrough off: EPERM",
        lambda: RuleDaemon("", writeback=True),
        lambda o, m: open_read(o, _f(m)),
        DATA[:10],
        [("open", "EPERM")],
        sees={"READ": True},
    ),
    Case(
        "stacking: a backing file on a passthrough FUSE mount (depth 1) with "
        "max_stack_depth 1 -> ELOOP, passthrough_hp falls back",
        lambda: RuleDaemon("", max_stack_depth=1),
        lambda o, m: open_read(o, _f(m)),
        DATA[:10],
        [("open", "ELOOP")],
        below=lambda: Passthrough("", passthrough=True),
    ),
    Case(
        "stacking: the same with max_stack_depth 2 is allowed",
        lambda: RuleDaemon("", max_stack_depth=2),
        lambda o, m: open_read(o, _f(m)),
        DATA[:10],
        [("open", "ok"), ("close", "ok")],
        below=lambda: Passthrough("", passthrough=True),
    ),
]
IDS = [c.rule.split(":")[0] for c in CASES]


def _expect(case: Case, got: Outcome) -> None:
    assert got.value == case.value, case.rule
    assert got.log == case.log, case.rule
    for op, present in case.sees.items():
        assert (op in got.requests) is present, (case.rule, op, got.requests)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rule_in_simfs(case: Case) -> None:
    _expect(case, run_sim(case.make(), case.work, case.below() if case.below else None))


@pytest.mark.realkernel
@pytest.mark.skipif(LIVE_REASON is not None, reason=f"real FUSE: {LIVE_REASON}")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rule_on_the_real_kernel_and_simfs_agree(case: Case, tmp_path: Any) -> None:
    real = run_real(case.make(), case.work, case.below() if case.below else None, str(tmp_path))
    _expect(case, real)
    sim = run_sim(case.make(), case.work, case.below() if case.below else None)
    assert real.value == sim.value and real.log == sim.log, case.rule
    assert real.requests == sim.requests, case.rule
