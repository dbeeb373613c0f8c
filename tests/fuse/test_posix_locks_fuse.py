"""POSIX locks on FUSE mounts (issue 17): ``fuse_file_lock``'s two paths and the
fuse-bpf choice.

* classic, FUSE_POSIX_LOCKS not negotiated (``fc->no_lock``, libfuse passthrough_ll):
  the fuse inode's own lock list, no request;
* classic with FUSE_POSIX_LOCKS: GETLK/SETLK/SETLKW go to the daemon (``fuse_lk_fill``),
  its GETLK answer is converted (``convert_fuse_file_lock``: bad ranges are EIO), and a
  close sends no unlock (FLUSH carries the lock owner);
* fuse-bpf (ACK): ``fuse_file_lock`` has no backing branch, so a file with a backing file
  still locks the fuse inode; ``posix_locks_on_backing=True`` models the seed's TODO.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.daemon import Reply, Request
from simfs.daemons import Passthrough
from simfs.errors import LockWouldSleep


def fl(t: int, s: int, n: int) -> bytes:
    return struct.pack("hhqqi", t, 0, s, n, 0)


def getlk(p: simfs.Process, fd: int, t: int = fcntl.F_WRLCK) -> tuple[int, ...]:
    return tuple(struct.unpack("hhqqi", p.fcntl(fd, fcntl.F_GETLK, fl(t, 0, 0))))


def _machine(daemon: Any, **opts: Any) -> tuple[simfs.Kernel, simfs.Process, simfs.Process]:
    k = simfs.Kernel()
    k.lower.create_dir("/data")
    k.lower.create_file("/data/f", contents=b"x" * 100)
    k.lower.create_dir("/mnt")
    k.mount_fuse("/mnt", daemon=daemon, **opts)
    return k, k.spawn(), k.spawn()


def test_without_posix_locks_the_fuse_inode_locks_locally() -> None:
    k, a, b = _machine(Passthrough("/data"), variant="upstream")
    fa, fb = a.open("/mnt/f", os.O_RDWR), b.open("/mnt/f", os.O_RDWR)
    fm = k.fuse_mounts[next(iter(k.fuse_mounts))]
    assert fm.conn.no_lock  # passthrough_ll does not offer getlk/setlk
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 10))
    with pytest.raises(OSError) as e:
        b.fcntl(fb, fcntl.F_SETLK, fl(fcntl.F_RDLCK, 5, 1))
    assert e.value.errno == errno.EAGAIN
    assert getlk(b, fb) == (fcntl.F_WRLCK, 0, 0, 10, a.pid)
    with pytest.raises(LockWouldSleep):
        b.fcntl(fb, fcntl.F_SETLKW, fl(fcntl.F_RDLCK, 5, 1))
    opcodes = k.trace.request_opcodes()
    assert "FUSE_OPEN" in opcodes or "OPEN" in opcodes  # the trace does see requests
    assert not {"FUSE_GETLK", "GETLK", "FUSE_SETLK", "SETLK", "FUSE_SETLKW", "SETLKW"} & set(
        opcodes
    )
    a.close(fa)
    b.fcntl(fb, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 0))


class LockingDaemon(Passthrough):
    """Negotiates FUSE_POSIX_LOCKS and answers GETLK/SETLK/SETLKW from a script."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.init_flags |= uapi.FUSE_POSIX_LOCKS
        self.seen: list[tuple[int, uapi.FuseLkIn]] = []
        self.getlk_answer = uapi.FuseFileLock(type=fcntl.F_UNLCK)
        self.setlk_error = 0

    def handle(self, req: Request) -> Reply | None:
        if req.opcode in (uapi.FUSE_GETLK, uapi.FUSE_SETLK, uapi.FUSE_SETLKW):
            arg = req.args[0]
            assert isinstance(arg, uapi.FuseLkIn)
            self.seen.append((req.opcode, arg))
            if req.opcode == uapi.FUSE_GETLK:
                return Reply(uapi.FuseLkOut(lk=self.getlk_answer))
            return Reply.error(self.setlk_error) if self.setlk_error else Reply()
        return super().handle(req)


def test_with_posix_locks_the_daemon_decides() -> None:
    d = LockingDaemon("/data")
    k, a, b = _machine(d, variant="upstream")
    fa = a.open("/mnt/f", os.O_RDWR)
    fm = k.fuse_mounts[next(iter(k.fuse_mounts))]
    assert not fm.conn.no_lock
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 10, 5))
    op, lk_in = d.seen[-1]
    assert op == uapi.FUSE_SETLK
    assert (lk_in.lk.start, lk_in.lk.end, lk_in.lk.type, lk_in.lk.pid) == (
        10,
        14,
        fcntl.F_WRLCK,
        a.pid,
    )
    assert lk_in.owner == a.pid and lk_in.lk_flags == 0
    assert a.resolve("/mnt/f").inode.posix_locks == []  # nothing kept in the kernel
    # a blocking request is SETLKW and the daemon's answer ends it (no simfs refusal)
    a.fcntl(fa, fcntl.F_SETLKW, fl(fcntl.F_UNLCK, 0, 0))
    op, lk_in = d.seen[-1]
    assert op == uapi.FUSE_SETLKW and lk_in.lk.pid == 0  # unlock: pid 0
    # the daemon's refusal is the caller's errno
    d.setlk_error = errno.EAGAIN
    with pytest.raises(OSError) as e:
        a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 1))
    assert e.value.errno == errno.EAGAIN
    # GETLK: the daemon's lock converted; a pid no task has reads 0
    d.getlk_answer = uapi.FuseFileLock(start=3, end=7, type=fcntl.F_RDLCK, pid=b.pid)
    assert getlk(a, fa) == (fcntl.F_RDLCK, 0, 3, 5, b.pid)
    d.getlk_answer = uapi.FuseFileLock(start=3, end=(1 << 63) - 1, type=fcntl.F_WRLCK, pid=99999)
    assert getlk(a, fa) == (fcntl.F_WRLCK, 0, 3, 0, 0)
    d.getlk_answer = uapi.FuseFileLock(type=fcntl.F_UNLCK)
    assert getlk(a, fa)[0] == fcntl.F_UNLCK
    for bad in (
        uapi.FuseFileLock(start=7, end=3, type=fcntl.F_RDLCK),
        uapi.FuseFileLock(start=1 << 63, end=1 << 63, type=fcntl.F_RDLCK),
        uapi.FuseFileLock(type=9),
    ):
        d.getlk_answer = bad
        with pytest.raises(OSError) as e:
            getlk(a, fa)
        assert e.value.errno == errno.EIO  # convert_fuse_file_lock
        assert any("convert_fuse_file_lock" in n for n in getattr(e.value, "__notes__", ()))
    # an OFD lock's owner is the description, not the process
    d.setlk_error = 0
    a.fcntl(fa, fcntl.F_OFD_SETLK, fl(fcntl.F_WRLCK, 0, 1))
    assert d.seen[-1][1].owner != a.pid
    # close: no SETLK unlock is sent (the FLUSH carries the owner)
    n = len(d.seen)
    a.close(fa)
    assert len(d.seen) == n


def _bpf_machine(
    daemon: bool = True, **opts: Any
) -> tuple[simfs.Kernel, simfs.Process, simfs.Process]:
    k = simfs.Kernel()
    k.lower.create_dir("/src")
    k.lower.create_file("/src/f", contents=b"x" * 100)
    k.lower.create_dir("/mnt")
    if daemon:
        k.mount_fuse("/mnt", Passthrough("/src"), root_dir="/src", **opts)
    else:
        k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, **opts)
    return k, k.spawn(), k.spawn()


def test_fuse_bpf_ack_locks_the_fuse_inode_not_the_backing_file() -> None:
    _, a, b = _bpf_machine()
    fa = a.open("/mnt/f", os.O_RDWR)
    fb = b.open("/src/f", os.O_RDWR)  # the backing file, directly
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 10))
    assert a.resolve("/mnt/f").inode.posix_locks  # on the fuse inode (fc->no_lock)
    assert getlk(b, fb)[0] == fcntl.F_UNLCK  # the lower file does not see it
    b.fcntl(fb, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 10))


def test_fuse_bpf_ack_without_daemon_sends_the_lock_request() -> None:
    """No INIT ever negotiated ``no_lock``, so ACK's fuse_file_lock sends SETLK, which a
    daemon-less mount refuses: POSIX locks fail there (the cover letter's xfstests
    failures from missing GETLK/SETLK)."""
    _, a, _ = _bpf_machine(daemon=False)
    fa = a.open("/mnt/f", os.O_RDWR)
    with pytest.raises(OSError) as e:
        a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 10))
    assert e.value.errno == errno.ECONNREFUSED
    _, a, _ = _bpf_machine(daemon=False, posix_locks_on_backing=True)
    fa = a.open("/mnt/f", os.O_RDWR)
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 10))


def test_fuse_bpf_seed_todo_option_locks_the_backing_file() -> None:
    _, a, b = _bpf_machine(posix_locks_on_backing=True)
    fa = a.open("/mnt/f", os.O_RDWR)
    fb = b.open("/src/f", os.O_RDWR)
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 10))
    assert a.resolve("/mnt/f").inode.posix_locks == []
    assert getlk(b, fb) == (fcntl.F_WRLCK, 0, 0, 10, a.pid)
    with pytest.raises(OSError) as e:
        b.fcntl(fb, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 10))
    assert e.value.errno == errno.EAGAIN
    a.close(fa)  # the close unlock goes to the backing file too
    b.fcntl(fb, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 10))
