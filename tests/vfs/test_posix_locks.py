"""POSIX/OFD locks in the VFS (issue 17): the simulator-only rules.  What Linux answers
is checked against the real kernel in ``tests/oracle/test_locks.py``; here are the parts
that have no real-kernel counterpart (a wait that could never end, the sleeping-task
model, API misuse) and the lock list's shape after splits and merges."""

from __future__ import annotations

import errno
import fcntl
import os
import struct

import pytest

import simfs
from simfs.errors import LockWouldSleep, UsageError
from simfs.vfs.locks import OFFSET_MAX


def fl(t: int, s: int, n: int, whence: int = 0, pid: int = 0) -> bytes:
    return struct.pack("hhqqi", t, whence, s, n, pid)


@pytest.fixture
def two() -> tuple[simfs.Kernel, simfs.Process, simfs.Process, int, int]:
    k = simfs.Kernel()
    a, b = k.spawn(), k.spawn()
    fa = a.open("/f", os.O_RDWR | os.O_CREAT, 0o644)
    fb = b.open("/f", os.O_RDWR)
    return k, a, b, fa, fb


def ranges(p: simfs.Process) -> list[tuple[int, int, int]]:
    return [(lk.type, lk.start, lk.end) for lk in p.resolve("/f").inode.posix_locks]


def test_split_and_merge_shape(two) -> None:  # type: ignore[no-untyped-def]
    _, a, _, fa, _ = two
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 30))
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_RDLCK, 10, 10))
    assert ranges(a) == [(fcntl.F_WRLCK, 0, 9), (fcntl.F_RDLCK, 10, 19), (fcntl.F_WRLCK, 20, 29)]
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 5, 20))
    assert ranges(a) == [(fcntl.F_WRLCK, 0, 29)]
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_UNLCK, 0, 0))
    assert ranges(a) == []
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_RDLCK, 100, 0))
    assert ranges(a) == [(fcntl.F_RDLCK, 100, OFFSET_MAX)]


def test_blocking_wait_that_could_never_end_is_refused(two) -> None:  # type: ignore[no-untyped-def]
    _, a, b, fa, fb = two
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 10))
    with pytest.raises(LockWouldSleep, match="fcntl_sleep"):
        b.fcntl(fb, fcntl.F_SETLKW, fl(fcntl.F_RDLCK, 5, 1))
    with pytest.raises(LockWouldSleep):
        b.lockf(fb, fcntl.LOCK_SH, 1, 5)
    with pytest.raises(OSError) as e:
        b.lockf(fb, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 5)
    assert e.value.errno == errno.EAGAIN
    assert ranges(a) == [(fcntl.F_WRLCK, 0, 9)]  # nothing half-applied


def test_sleeping_waiter_is_granted_on_unlock_in_order(two) -> None:  # type: ignore[no-untyped-def]
    k, a, b, fa, fb = two
    c = k.spawn()
    fc = c.open("/f", os.O_RDWR)
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 10))
    wb = b.fcntl_sleep(fb, fcntl.F_SETLKW, fl(fcntl.F_WRLCK, 0, 5))
    wc = c.fcntl_sleep(fc, fcntl.F_SETLKW, fl(fcntl.F_WRLCK, 3, 1))
    assert wb.pending and wc.pending
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_UNLCK, 5, 5))  # frees 5-9: nobody waits there
    assert wb.pending and wc.pending
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_UNLCK, 0, 0))
    assert wb.granted and wc.pending  # b slept first and now holds 0-4
    got = struct.unpack("hhqqi", a.fcntl(fa, fcntl.F_GETLK, fl(fcntl.F_RDLCK, 0, 0)))
    assert got == (fcntl.F_WRLCK, 0, 0, 5, b.pid)
    c.fcntl_cancel(wc)
    assert wc.cancelled and not k.blocked_locks


def test_fcntl_sleep_granted_at_once_and_misuse(two) -> None:  # type: ignore[no-untyped-def]
    _, a, _, fa, _ = two
    w = a.fcntl_sleep(fa, fcntl.F_SETLKW, fl(fcntl.F_WRLCK, 0, 1))
    assert w.granted
    with pytest.raises(UsageError):
        a.fcntl_sleep(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 1))


def test_short_struct_and_bad_arguments(two) -> None:  # type: ignore[no-untyped-def]
    _, a, _, fa, _ = two
    with pytest.raises(UsageError, match="hhqqi"):
        a.fcntl(fa, fcntl.F_SETLK, b"\x01\x00")
    with pytest.raises(ValueError, match="unrecognized lockf argument"):
        a.lockf(fa, 0)
    with pytest.raises(TypeError):
        a.fcntl(fa, fcntl.F_GETFL, 1.5)
    with pytest.raises(OSError) as e:
        a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 2, OFFSET_MAX))
    assert e.value.errno == errno.EOVERFLOW
    assert ranges(a) == []


def test_exit_releases_classic_and_ofd_locks(two) -> None:  # type: ignore[no-untyped-def]
    _, a, b, fa, _fb = two
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 1))
    a.fcntl(fa, fcntl.F_OFD_SETLK, fl(fcntl.F_WRLCK, 5, 1))
    a.exit()
    assert ranges(b) == []


def test_a_task_that_exits_stops_waiting(two) -> None:  # type: ignore[no-untyped-def]
    _, a, b, fa, fb = two
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_WRLCK, 0, 10))
    w = b.fcntl_sleep(fb, fcntl.F_SETLKW, fl(fcntl.F_WRLCK, 0, 1))
    b.exit()
    assert not w.pending
    a.fcntl(fa, fcntl.F_SETLK, fl(fcntl.F_UNLCK, 0, 0))
    assert not w.granted and ranges(a) == []
