"""``fcntl(2)`` and ``lockf(3)`` (``fs/fcntl.c``: ``do_fcntl``; ``fs/locks.c``:
``fcntl_getlk``, ``fcntl_setlk``), issue 17.

The argument convention is Python's ``fcntl.fcntl``: an int is passed as the third
syscall argument as is, a bytes-like value is copied into a buffer whose address is
passed and which comes back (same length) as the result.  Lock commands read and write a
``struct flock`` (x86-64: ``"hhqqi"`` plus 4 bytes of tail padding, see
:data:`simfs.vfs.locks.FLOCK_FORMAT`); given an int they fault (EFAULT) as Linux does
on a bad pointer.
"""

from __future__ import annotations

import errno
import fcntl as _pyfcntl
import os
from typing import TYPE_CHECKING, Any

from simfs.errors import LockWouldSleep, UsageError
from simfs.vfs import locks
from simfs.vfs.file import FMODE_READ, FMODE_WRITE
from simfs.vfs.inode import FS_APPEND_FL, oserror
from simfs.vfs.permission import inode_owner_or_capable

if TYPE_CHECKING:
    from simfs.process import Process
    from simfs.vfs.file import File

F_DUPFD = _pyfcntl.F_DUPFD
F_DUPFD_CLOEXEC = getattr(_pyfcntl, "F_DUPFD_CLOEXEC", 1030)
F_GETFD = _pyfcntl.F_GETFD
F_SETFD = _pyfcntl.F_SETFD
F_GETFL = _pyfcntl.F_GETFL
F_SETFL = _pyfcntl.F_SETFL
FD_CLOEXEC = _pyfcntl.FD_CLOEXEC
#: ``O_LARGEFILE`` as the kernel stores it in ``f_flags`` on x86-64 (``force_o_largefile``).
O_LARGEFILE_KERNEL = 0o100000
O_NOATIME = getattr(os, "O_NOATIME", 0o1000000)
O_DIRECT = getattr(os, "O_DIRECT", 0o40000)
#: ``SETFL_MASK``: the status flags F_SETFL may change.
SETFL_MASK = os.O_APPEND | os.O_NONBLOCK | O_DIRECT | O_NOATIME

#: ``check_fcntl_cmd``: what an O_PATH descriptor may do.
_PATH_OK = (F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL)


def arg_buffer(arg: Any) -> bytes | None:
    """Python's ``fcntl``: int -> None (passed by value), bytes-like/str -> a copy."""
    if isinstance(arg, int):
        return None
    if isinstance(arg, str):
        arg = arg.encode()
    if isinstance(arg, (bytes, bytearray, memoryview)):
        data = bytes(arg)
        if len(data) > 1024:
            raise ValueError("fcntl argument 3 is too long")
        return data
    raise TypeError(
        f"argument 3 must be an integer, a bytes-like object, or a string, not {type(arg).__name__}"
    )


def _read_flock(buf: bytes | None) -> locks.Flock:
    """``copy_from_user(&flock, argp, sizeof(flock))``."""
    if buf is None:
        raise oserror(errno.EFAULT)  # an int is not a valid struct flock pointer
    if len(buf) < locks.FLOCK_MIN_SIZE:
        raise UsageError(
            f"a struct flock is {locks.FLOCK_SIZE} bytes on Linux x86-64 and the kernel would "
            f"read past the {len(buf)} given; pass struct.pack('{locks.FLOCK_FORMAT}', "
            "l_type, l_whence, l_start, l_len, l_pid)"
        )
    return locks.Flock.unpack(buf)


def _request(proc: Process, file: File, cmd: int, flock: locks.Flock) -> locks.PosixLock:
    """``flock_to_posix_lock`` plus the OFD owner override of ``fcntl_getlk/setlk``."""
    ofd = cmd in (locks.F_OFD_GETLK, locks.F_OFD_SETLK, locks.F_OFD_SETLKW)
    owner: object = file if ofd else proc
    req = locks.flock_to_posix_lock(flock, file.pos, file.inode.size, owner, proc.pid, file)
    if ofd:
        if flock.l_pid != 0:
            raise oserror(errno.EINVAL)  # fcntl_setlk/getlk: OFD requests need l_pid 0
        req.ofd = True
    return req


def fcntl_getlk(proc: Process, file: File, cmd: int, buf: bytes | None) -> bytes:
    """``fcntl_getlk``: F_UNLCK in l_type when nothing conflicts (the rest is the caller's
    own struct), else the first conflicting lock as ``posix_lock_to_flock`` writes it."""
    flock = _read_flock(buf)
    assert buf is not None
    if cmd != locks.F_OFD_GETLK and flock.l_type not in (locks.F_RDLCK, locks.F_WRLCK):
        raise oserror(errno.EINVAL)  # fcntl_getlk: F_UNLCK only for F_OFD_GETLK (6.7+)
    req = _request(proc, file, cmd, flock)
    conflict = file.inode.lock(file, locks.F_GETLK, req)
    if conflict is None:
        out = locks.Flock(locks.F_UNLCK, flock.l_whence, flock.l_start, flock.l_len, flock.l_pid)
    else:
        out = locks.posix_lock_to_flock(conflict)
    return out.pack(len(buf))


def fcntl_setlk(
    proc: Process, file: File, cmd: int, buf: bytes | None, *, may_sleep: bool = False
) -> locks.LockWait | None:
    """``fcntl_setlk``: EBADF when the descriptor's mode does not allow the lock type
    (``check_fmode_for_setlk``), EAGAIN on conflict, EDEADLK for a wait that would close
    a cycle; a blocking request that would sleep raises :class:`LockWouldSleep` unless
    ``may_sleep`` (then the sleeping :class:`~simfs.vfs.locks.LockWait` is returned)."""
    flock = _read_flock(buf)
    req = _request(proc, file, cmd, flock)
    if req.type == locks.F_RDLCK and not file.fmode & FMODE_READ:
        raise oserror(errno.EBADF)  # check_fmode_for_setlk
    if req.type == locks.F_WRLCK and not file.fmode & FMODE_WRITE:
        raise oserror(errno.EBADF)
    req.sleep = cmd in (locks.F_SETLKW, locks.F_OFD_SETLKW)
    if may_sleep and not req.sleep:
        raise UsageError("fcntl_sleep models F_SETLKW/F_OFD_SETLKW; use fcntl for F_SETLK")
    blocker = file.inode.lock(file, locks.F_SETLKW if req.sleep else locks.F_SETLK, req)
    if blocker is None:
        return locks.LockWait(inode=file.inode, request=req, granted=True) if may_sleep else None
    if not may_sleep:
        raise LockWouldSleep(
            f"pid {proc.pid}: the range {req.start}-{req.end} is locked by "
            f"{'an open file description' if blocker.ofd else f'pid {blocker.pid}'} and "
            "no other task runs while this one would sleep in F_SETLKW, so the wait could "
            "never end; use F_SETLK/LOCK_NB for EAGAIN, or Process.fcntl_sleep to model "
            "a task that sleeps"
        )
    wait = locks.LockWait(inode=file.inode, request=req, task=proc)
    proc.kernel.blocked_locks.append(wait)  # __locks_insert_block
    return wait


def do_fcntl(proc: Process, fd: int, cmd: int, arg: Any) -> int | bytes:
    """``do_fcntl``: the commands simfs models; others EINVAL.  Returns an int, or the
    argument buffer as the kernel left it when a bytes-like ``arg`` was given."""
    buf = arg_buffer(arg)
    file = proc.fdtable.get(fd)  # fdget_raw: EBADF
    if file.is_path and cmd not in _PATH_OK:
        raise oserror(errno.EBADF)  # check_fcntl_cmd
    ival = 0 if buf is None else int.from_bytes(buf[:8].ljust(8, b"\0"), "little")
    if buf is None:
        ival = int(arg)
    result: int | bytes
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        if ival < 0 or ival >= proc.fdtable.max_fds:
            raise oserror(errno.EINVAL)  # f_dupfd: from >= RLIMIT_NOFILE
        result = proc.fdtable.alloc(file, cmd == F_DUPFD_CLOEXEC, lowest=ival)
    elif cmd == F_GETFD:
        result = FD_CLOEXEC if proc.fdtable.fds[fd].cloexec else 0
    elif cmd == F_SETFD:
        proc.fdtable.fds[fd].cloexec = bool(ival & FD_CLOEXEC)
        result = 0
    elif cmd == F_GETFL:
        # force_o_largefile() adds O_LARGEFILE before build_open_flags, which keeps only
        # O_PATH_FLAGS for an O_PATH open
        result = file.flags if file.is_path else file.flags | O_LARGEFILE_KERNEL
    elif cmd == F_SETFL:
        setfl(proc, file, ival & 0xFFFFFFFF)
        result = 0
    elif cmd in (locks.F_GETLK, locks.F_OFD_GETLK):
        return fcntl_getlk(proc, file, cmd, buf)
    elif cmd in (locks.F_SETLK, locks.F_SETLKW, locks.F_OFD_SETLK, locks.F_OFD_SETLKW):
        fcntl_setlk(proc, file, cmd, buf)
        result = 0
    else:
        raise oserror(errno.EINVAL)  # do_fcntl: unknown command
    return result if buf is None else buf


def setfl(proc: Process, file: File, arg: int) -> None:
    """``setfl``: only SETFL_MASK bits change; clearing O_APPEND on an append-only inode
    is EPERM; O_NOATIME needs ownership (``inode_owner_or_capable``)."""
    inode = file.inode
    if (
        (file.flags & os.O_APPEND)
        and not (arg & os.O_APPEND)
        and inode.fsflags & FS_APPEND_FL
    ):
        raise oserror(errno.EPERM)  # setfl: IS_APPEND(inode) && !(arg & O_APPEND)
    if (
        arg & O_NOATIME
        and not file.flags & O_NOATIME
        and not inode_owner_or_capable(inode, proc.cred)
    ):
        raise oserror(errno.EPERM)
    file.flags = (arg & SETFL_MASK) | (file.flags & ~SETFL_MASK)


def lockf_type(cmd: int) -> int:
    """``fcntl_lockf_impl``: LOCK_UN, LOCK_SH or LOCK_EX (with LOCK_NB) to an ``l_type``;
    anything else is ValueError, before any system call."""
    if cmd == locks.LOCK_UN:
        return locks.F_UNLCK
    if cmd & locks.LOCK_SH:
        return locks.F_RDLCK
    if cmd & locks.LOCK_EX:
        return locks.F_WRLCK
    raise ValueError("unrecognized lockf argument")


def lockf(proc: Process, fd: int, cmd: int, length: int, start: int, whence: int) -> None:
    """Python's ``fcntl.lockf``: LOCK_UN/SH/EX -> an F_SETLK (LOCK_NB) or F_SETLKW of
    ``struct flock{type, whence, start, len}``; other values ValueError."""
    buf = locks.Flock(lockf_type(cmd), whence, start, length, 0).pack(locks.FLOCK_SIZE)
    do_fcntl(proc, fd, locks.F_SETLK if cmd & locks.LOCK_NB else locks.F_SETLKW, buf)
