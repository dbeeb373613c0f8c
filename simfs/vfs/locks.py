"""BSD ``flock`` locks (``fs/locks.c``: ``flock_lock_inode``).

Locks belong to the open file description, so ``dup``'ed descriptors share one, and a
second ``open`` of the same file conflicts with it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simfs.vfs.inode import oserror

if TYPE_CHECKING:
    from simfs.vfs.file import File
    from simfs.vfs.inode import Inode

LOCK_SH = fcntl.LOCK_SH
LOCK_EX = fcntl.LOCK_EX
LOCK_NB = fcntl.LOCK_NB
LOCK_UN = fcntl.LOCK_UN


def flock_lock_inode(inode: Inode, file: File, operation: int) -> None:
    """Apply ``operation`` for ``file`` on ``inode``'s lock list.

    The simulator has one thread of control, so a conflicting lock that would block
    (no ``LOCK_NB``) cannot ever be granted: it is reported as ``EWOULDBLOCK`` with
    the same meaning, since nothing else could release it while we wait.
    """
    cmd = operation & ~LOCK_NB
    if cmd == LOCK_UN:
        inode.flock_holders.pop(file.id, None)
        return
    if cmd not in (LOCK_SH, LOCK_EX):
        raise oserror(errno.EINVAL)  # flock_translate_cmd: unknown command
    want = "ex" if cmd == LOCK_EX else "sh"
    for holder, kind in inode.flock_holders.items():
        if holder == file.id:
            continue
        if want == "ex" or kind == "ex":
            raise oserror(errno.EWOULDBLOCK)  # flock_lock_inode: conflict
    inode.flock_holders[file.id] = want


def flock_release(inode: Inode, file: File) -> None:
    """``locks_remove_flock``: the last close drops the description's lock."""
    inode.flock_holders.pop(file.id, None)


# =========================================================================================
# POSIX byte-range locks and open-file-description (OFD) locks (issue 17)
#
# fs/locks.c: ``fcntl_getlk``/``fcntl_setlk`` turn a ``struct flock`` into a
# ``struct file_lock`` (``flock64_to_posix_lock``), ``posix_test_lock`` answers F_GETLK,
# ``posix_lock_inode`` applies F_SETLK/F_SETLKW (conflict check, then merging and
# splitting the owner's ranges), ``posix_locks_deadlock`` refuses a wait that closes a
# cycle, ``locks_remove_posix`` drops a process's locks on ANY close of the inode and
# ``locks_remove_file`` drops OFD locks on the last close of the description.
#
# Owners (``posix_same_owner``): a classic lock belongs to the process's descriptor table
# (``current->files``; in simfs the Process), an OFD lock to the open file description.
#
# Waiting: simfs runs one task at a time.  A blocking request (F_SETLKW, F_OFD_SETLKW,
# lockf without LOCK_NB) that conflicts is first checked for deadlock (EDEADLK as Linux);
# otherwise the task would sleep until another task releases the range, which cannot
# happen while the caller is the only one running: ``Process.fcntl`` raises
# :class:`simfs.errors.LockWouldSleep`.  To model a task that sleeps in F_SETLKW while
# others run, ``Process.fcntl_sleep`` registers the request as a blocked waiter
# (``__locks_insert_block``) and returns a :class:`LockWait`; any later change of the
# inode's locks retries the waiters in arrival order (``locks_wake_up_blocks``), and a
# waiter counts in other tasks' deadlock detection.
# =========================================================================================

F_RDLCK = fcntl.F_RDLCK
F_WRLCK = fcntl.F_WRLCK
F_UNLCK = fcntl.F_UNLCK
F_GETLK = fcntl.F_GETLK
F_SETLK = fcntl.F_SETLK
F_SETLKW = fcntl.F_SETLKW
F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
F_OFD_SETLKW = getattr(fcntl, "F_OFD_SETLKW", 38)
LOCK_CMDS = (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)

#: ``OFFSET_MAX``: the largest loff_t; a lock "to end of file" ends here.
OFFSET_MAX = (1 << 63) - 1
#: ``MAX_DEADLK_ITERATIONS`` of ``posix_locks_deadlock``.
MAX_DEADLK_ITERATIONS = 10

#: ``struct flock`` on Linux x86-64: l_type, l_whence (short), 4 bytes padding, l_start,
#: l_len (off_t), l_pid (int), 4 bytes tail padding: 32 bytes.  ``struct.pack("hhqqi")``
#: gives the first 28, which is what Python callers pass.
FLOCK_FORMAT = "hhqqi"
FLOCK_SIZE = 32
FLOCK_MIN_SIZE = struct.calcsize(FLOCK_FORMAT)


@dataclass(eq=False)
class PosixLock:
    """``struct file_lock`` with ``FL_POSIX`` (``ofd``: ``FL_OFDLCK``); ``end`` inclusive."""

    owner: object
    pid: int
    type: int
    start: int
    end: int
    file: File | None = None
    ofd: bool = False
    sleep: bool = False  # FL_SLEEP
    close: bool = False  # FL_CLOSE_POSIX: the unlock of locks_remove_posix

    def overlaps(self, other: PosixLock) -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass(frozen=True, slots=True)
class Flock:
    """A decoded ``struct flock`` (the user's view)."""

    l_type: int
    l_whence: int
    l_start: int
    l_len: int
    l_pid: int

    @classmethod
    def unpack(cls, data: bytes) -> Flock:
        t, w, s, n, p = struct.unpack_from(FLOCK_FORMAT, data)
        return cls(t, w, s, n, p)

    def pack(self, size: int) -> bytes:
        raw = struct.pack(
            FLOCK_FORMAT, self.l_type, self.l_whence, self.l_start, self.l_len, self.l_pid
        )
        return (raw + bytes(FLOCK_SIZE))[:size]


def posix_same_owner(a: PosixLock, b: PosixLock) -> bool:
    """``posix_same_owner``."""
    return a.owner is b.owner


def locks_conflict(a: PosixLock, b: PosixLock) -> bool:
    """``locks_conflict``: any write lock conflicts."""
    return a.type == F_WRLCK or b.type == F_WRLCK


def posix_locks_conflict(caller: PosixLock, sys_fl: PosixLock) -> bool:
    """``posix_locks_conflict``: a lock never conflicts with its own owner's locks."""
    if posix_same_owner(caller, sys_fl):
        return False
    if not caller.overlaps(sys_fl):
        return False
    return locks_conflict(caller, sys_fl)


def flock_to_posix_lock(
    flock: Flock, pos: int, size: int, owner: object, pid: int, file: File | None
) -> PosixLock:
    """``flock64_to_posix_lock``: resolve whence/start/len to an inclusive range.

    Raises EINVAL (bad whence, negative start, unknown type), EOVERFLOW (past OFFSET_MAX).
    """
    if flock.l_whence == os.SEEK_SET:
        base = 0
    elif flock.l_whence == os.SEEK_CUR:
        base = pos
    elif flock.l_whence == os.SEEK_END:
        base = size
    else:
        raise oserror(errno.EINVAL)
    if flock.l_start > OFFSET_MAX - base:
        raise oserror(errno.EOVERFLOW)
    start = base + flock.l_start
    if start < 0:
        raise oserror(errno.EINVAL)
    # POSIX-2001 defines l_len < 0 as the range ending just before l_start
    if flock.l_len > 0:
        if flock.l_len - 1 > OFFSET_MAX - start:
            raise oserror(errno.EOVERFLOW)
        end = start + flock.l_len - 1
    elif flock.l_len < 0:
        if start + flock.l_len < 0:
            raise oserror(errno.EINVAL)
        end = start - 1
        start += flock.l_len
    else:
        end = OFFSET_MAX
    if flock.l_type not in (F_RDLCK, F_WRLCK, F_UNLCK):
        raise oserror(errno.EINVAL)  # assign_type
    return PosixLock(owner=owner, pid=pid, type=flock.l_type, start=start, end=end, file=file)


def posix_lock_to_flock(fl: PosixLock) -> Flock:
    """``posix_lock_to_flock``: OFD locks report l_pid -1 (``locks_translate_pid``)."""
    length = 0 if fl.end == OFFSET_MAX else fl.end - fl.start + 1
    return Flock(fl.type, os.SEEK_SET, fl.start, length, -1 if fl.ofd else fl.pid)


def posix_test_locks_conflict(caller: PosixLock, sys_fl: PosixLock) -> bool:
    """``posix_test_locks_conflict``: an F_UNLCK probe (F_OFD_GETLK, 6.7+) "checks any
    locks on the same fd": it reports the description's OWN overlapping lock."""
    if caller.type == F_UNLCK:
        return posix_same_owner(caller, sys_fl) and caller.overlaps(sys_fl)
    return posix_locks_conflict(caller, sys_fl)


def posix_test_lock(locks: list[PosixLock], request: PosixLock) -> PosixLock | None:
    """``posix_test_lock``: the first lock in list order that conflicts, else None."""
    for fl in locks:
        if posix_test_locks_conflict(request, fl):
            return fl
    return None


@dataclass(eq=False)
class LockWait:
    """A task asleep in F_SETLKW: ``request`` waits on ``inode`` (``fl_blocker``)."""

    inode: Inode
    request: PosixLock
    granted: bool = False
    cancelled: bool = False
    #: the sleeping task; a task that exited no longer waits
    task: Any = None

    @property
    def pending(self) -> bool:
        alive = getattr(self.task, "alive", True)
        return not self.granted and not self.cancelled and bool(alive)


def what_owner_is_waiting_for(waiters: list[LockWait], block_fl: PosixLock) -> PosixLock | None:
    """``what_owner_is_waiting_for``: the lock a sleeping request of ``block_fl``'s owner
    waits on (its first current blocker), or None."""
    for w in waiters:
        if w.pending and posix_same_owner(w.request, block_fl):
            return posix_test_lock(w.inode.posix_locks, w.request)
    return None


def posix_locks_deadlock(waiters: list[LockWait], caller: PosixLock, block_fl: PosixLock) -> bool:
    """``posix_locks_deadlock``: does ``block_fl``'s owner (transitively) wait on the
    caller?  OFD requests are never checked (``IS_OFDLCK(caller_fl)``)."""
    if caller.ofd:
        return False
    i = 0
    nxt: PosixLock | None = block_fl
    while nxt is not None:
        nxt = what_owner_is_waiting_for(waiters, nxt)
        if nxt is None:
            return False
        i += 1
        if i > MAX_DEADLK_ITERATIONS:
            return False
        if posix_same_owner(caller, nxt):
            return True
    return False


def posix_lock_inode(inode: Inode, request: PosixLock, waiters: list[LockWait]) -> PosixLock | None:
    """``posix_lock_inode``: apply ``request`` to ``inode.posix_locks``.

    Returns the conflicting lock when the request must wait (F_SETLKW without deadlock),
    None when applied.  Raises EAGAIN (conflict, no FL_SLEEP) or EDEADLK.  On error the
    list is untouched (the conflict scan runs before any change).
    """
    locks = inode.posix_locks
    if request.type != F_UNLCK:
        for fl in locks:
            if not posix_locks_conflict(request, fl):
                continue
            if not request.sleep:
                raise oserror(errno.EAGAIN)
            if posix_locks_deadlock(waiters, request, fl):
                raise oserror(errno.EDEADLK)
            return fl  # FILE_LOCK_DEFERRED
    _posix_apply(locks, request)
    return None


def _posix_apply(locks: list[PosixLock], req: PosixLock) -> None:
    """The merge/split half of ``posix_lock_inode`` on a conflict-free request.

    The list keeps each owner's locks together in ascending order; a new lock goes before
    the first of the owner's locks it precedes (``locks_insert_lock_ctx(new, &fl->list)``).
    """
    request = PosixLock(**{f: getattr(req, f) for f in PosixLock.__dataclass_fields__})
    added = False
    left: PosixLock | None = None
    right: PosixLock | None = None
    i = 0
    # Find the first old lock with the same owner as the new lock
    while i < len(locks) and not posix_same_owner(request, locks[i]):
        i += 1
    # Process locks with this owner
    while i < len(locks):
        fl = locks[i]
        if not posix_same_owner(request, fl):
            break
        if request.type == fl.type:
            # adjacent or overlapping regions of the same type merge ("start - 1")
            if fl.end < request.start - 1:
                i += 1
                continue
            if fl.start - 1 > request.end:
                break
            fl.start = min(fl.start, request.start)
            request.start = fl.start
            fl.end = max(fl.end, request.end)
            request.end = fl.end
            if added:
                locks.remove(fl)
                continue
            request = fl
            added = True
        else:
            if fl.end < request.start:
                i += 1
                continue
            if fl.start > request.end:
                break
            if request.type == F_UNLCK:
                added = True
            if fl.start < request.start:
                left = fl
            if fl.end > request.end:
                right = fl
                break
            if fl.start >= request.start:
                # the new lock completely replaces an old one
                if added:
                    locks.remove(fl)
                    continue
                locks[i] = request
                added = True
        i += 1
    if not added:
        if request.type == F_UNLCK:
            return
        locks.insert(i, request)
        i += 1
        fl_pos = i
    else:
        fl_pos = i
    if right is not None:
        if left is right:
            # the new lock breaks the old one in two: the left piece is a copy
            left = PosixLock(**{f: getattr(right, f) for f in PosixLock.__dataclass_fields__})
            locks.insert(locks.index(request) if request in locks else fl_pos, left)
        right.start = request.end + 1
    if left is not None:
        left.end = request.start - 1


def _copy(fl: PosixLock) -> PosixLock:
    return PosixLock(**{f: getattr(fl, f) for f in PosixLock.__dataclass_fields__})


def locks_wake_up(inode: Inode, waiters: list[LockWait]) -> None:
    """``locks_wake_up_blocks`` + the woken tasks retrying, in the order they slept:
    a waiter whose range no longer conflicts gets its lock."""
    for w in waiters:
        if w.pending and w.inode is inode and posix_test_lock(inode.posix_locks, w.request) is None:
            _posix_apply(inode.posix_locks, w.request)
            w.granted = True
    waiters[:] = [w for w in waiters if w.pending]


def posix_lock_file(inode: Inode, request: PosixLock, waiters: list[LockWait]) -> PosixLock | None:
    """``posix_lock_file``: ``posix_lock_inode`` then wake the waiters the change freed."""
    blocker = posix_lock_inode(inode, request, waiters)
    if blocker is None:
        locks_wake_up(inode, waiters)
    return blocker


def locks_remove_posix(inode: Inode, file: File, owner: object) -> None:
    """``locks_remove_posix``: on every close, unlock the whole file for ``owner``
    (FL_CLOSE_POSIX).  Through ``f_op->lock``: FUSE skips the request (FLUSH carries the
    owner), the ``posix_locks_on_backing`` option forwards it to the backing file."""
    request = PosixLock(
        owner=owner, pid=0, type=F_UNLCK, start=0, end=OFFSET_MAX, file=file, close=True
    )
    inode.lock(file, F_SETLK, request)


def locks_remove_ofd(inode: Inode, file: File) -> None:
    """``locks_remove_file`` -> ``locks_remove_posix(filp, filp)``: the last close of the
    description drops its OFD locks."""
    request = PosixLock(
        owner=file, pid=0, type=F_UNLCK, start=0, end=OFFSET_MAX, file=file, ofd=True, close=True
    )
    inode.lock(file, F_SETLK, request)
