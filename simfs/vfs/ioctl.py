"""``ioctl(2)`` (``fs/ioctl.c``: ``do_vfs_ioctl``, ``file_ioctl``, ``ioctl_fionread``;
``fs/file_attr.c``: ``vfs_fileattr_get/set``, ``fileattr_set_prepare``;
``mm/shmem.c``: ``shmem_fileattr_get/set``), issue 17.

The generic requests users meet: ``FS_IOC_GETFLAGS``/``FS_IOC_SETFLAGS`` (the inode flags
``lsattr``/``chattr`` show) and ``FIONREAD``.  tmpfs (the lower filesystem) keeps
FS_NODUMP_FL, FS_IMMUTABLE_FL, FS_APPEND_FL and FS_NOATIME_FL; the immutable and
append-only flags become ``S_IMMUTABLE``/``S_APPEND``, which the VFS checks in
``inode_permission``, ``may_open``, ``may_delete``, ``vfs_link``, ``notify_change``,
``xattr_permission``, truncate and fallocate (:func:`IS_IMMUTABLE`, :func:`IS_APPEND`).

The argument convention is Python's ``fcntl.ioctl``: an int is passed as is (a pointer
argument then faults, EFAULT), a bytes-like value is copied in and the buffer comes
back with what the kernel wrote.
"""

from __future__ import annotations

import errno
import stat as st
from typing import TYPE_CHECKING, Any

from simfs.vfs.cred import CAP_LINUX_IMMUTABLE
from simfs.vfs.inode import FS_APPEND_FL, FS_IMMUTABLE_FL, oserror
from simfs.vfs.permission import inode_owner_or_capable

if TYPE_CHECKING:
    from simfs.process import Process
    from simfs.vfs.file import File
    from simfs.vfs.inode import Inode

FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FIONREAD = 0x541B

FS_SECRM_FL = 0x00000001
FS_NODUMP_FL = 0x00000040
FS_NOATIME_FL = 0x00000080
#: ``SHMEM_FL_USER_VISIBLE``/``SHMEM_FL_USER_MODIFIABLE`` (mm/shmem.c, 6.x)
SHMEM_FL_USER_MODIFIABLE = FS_IMMUTABLE_FL | FS_APPEND_FL | FS_NODUMP_FL | FS_NOATIME_FL
SHMEM_FL_USER_VISIBLE = SHMEM_FL_USER_MODIFIABLE


def IS_IMMUTABLE(inode: Inode) -> bool:
    """``IS_IMMUTABLE``: S_IMMUTABLE, set from FS_IMMUTABLE_FL."""
    return bool(inode.fsflags & FS_IMMUTABLE_FL)


def IS_APPEND(inode: Inode) -> bool:
    """``IS_APPEND``: S_APPEND, set from FS_APPEND_FL."""
    return bool(inode.fsflags & FS_APPEND_FL)


def _get_int(buf: bytes | None) -> int:
    """``get_user(flags, (int __user *)argp)``."""
    if buf is None or len(buf) < 4:
        raise oserror(errno.EFAULT)
    return int.from_bytes(buf[:4], "little", signed=True)


def put_int(buf: bytes | None, value: int) -> bytes:
    """``put_user(value, (int __user *)argp)``: 4 bytes written, the rest as given."""
    if buf is None or len(buf) < 4:
        raise oserror(errno.EFAULT)
    return (value & 0xFFFFFFFF).to_bytes(4, "little") + buf[4:]


def vfs_fileattr_get(inode: Inode, file: File) -> int:
    """``vfs_fileattr_get``: ENOIOCTLCMD (ENOTTY) where the fs has no ``fileattr_get``."""
    if not inode.has_fileattr:
        raise oserror(errno.ENOTTY)
    return inode.fileattr_get(file)


def vfs_fileattr_set(proc: Process, inode: Inode, file: File, flags: int) -> None:
    """``vfs_fileattr_set``: owner or CAP_FOWNER (EPERM); the current flags are read
    (``vfs_fileattr_get``) so that changing immutable/append can require
    CAP_LINUX_IMMUTABLE (``fileattr_set_prepare``); then ``i_op->fileattr_set``.
    Nothing changes on error."""
    if not inode.has_fileattr:
        raise oserror(errno.ENOTTY)
    if not inode_owner_or_capable(inode, proc.cred):
        raise oserror(errno.EPERM)
    flags &= 0xFFFFFFFF
    old = vfs_fileattr_get(inode, file)
    if (old ^ flags) & (FS_APPEND_FL | FS_IMMUTABLE_FL) and not proc.cred.capable(
        CAP_LINUX_IMMUTABLE
    ):
        raise oserror(errno.EPERM)
    inode.fileattr_set(file, flags)


def shmem_fileattr_get(inode: Inode) -> int:
    """``shmem_fileattr_get``: the flags tmpfs shows."""
    return inode.fsflags & SHMEM_FL_USER_VISIBLE


def shmem_fileattr_set(inode: Inode, flags: int) -> None:
    """``shmem_fileattr_set``: flags tmpfs does not keep are EOPNOTSUPP; S_IMMUTABLE and
    S_APPEND follow the flags; ctime moves."""
    if flags & ~SHMEM_FL_USER_MODIFIABLE:
        raise oserror(errno.EOPNOTSUPP)
    inode.fsflags = flags
    inode.ctime_ns = inode.sb.kernel.clock.now_ns()  # inode_set_ctime_current


def ioctl_fionread(file: File) -> int:
    """``FIONREAD`` of a regular file (``do_vfs_ioctl``): ``i_size - f_pos`` as an int
    (may be negative)."""
    return (file.inode.size - file.pos) & 0xFFFFFFFF


def do_vfs_ioctl(proc: Process, fd: int, request: int, arg: Any) -> int | bytes:
    """``ioctl(2)``: EBADF for O_PATH descriptors; the requests above; ENOTTY otherwise.
    Returns an int, or the argument buffer as the kernel left it."""
    from simfs.vfs.fcntl import arg_buffer

    buf = arg_buffer(arg)
    file = proc.fdtable.get(fd)
    if file.is_path:
        raise oserror(errno.EBADF)  # fdget: FMODE_PATH files have no ioctl
    request &= 0xFFFFFFFF
    if request == FS_IOC_GETFLAGS:
        value = vfs_fileattr_get(file.inode, file)
        return put_int(buf, value)
    if request == FS_IOC_SETFLAGS:
        vfs_fileattr_set(proc, file.inode, file, _get_int(buf))
        return 0 if buf is None else buf
    if request == FIONREAD and st.S_ISREG(file.inode.mode):
        return put_int(buf, ioctl_fionread(file))
    # vfs_ioctl: f_op->unlocked_ioctl (pipes: FIONREAD; FUSE: FUSE_IOCTL), else ENOTTY
    result: int | bytes = file.inode.unlocked_ioctl(file, request, buf)
    return result
