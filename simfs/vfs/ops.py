"""The generic VFS operations (``vfs_*`` in ``fs/namei.c``, ``fs/open.c``, ``fs/attr.c``,
``fs/read_write.c``, ``fs/xattr.c``, ``fs/readdir.c``, ``fs/stat.c``, ``fs/statfs.c``).

They take already-resolved dentries and explicit credentials, so both the system-call
layer (:mod:`simfs.process`) and FUSE-BPF's backing operations (which act on the lower
filesystem with the *caller's* credentials, as ACK does) use the same rules.
"""

from __future__ import annotations

import errno
import os
import stat as st
from typing import TYPE_CHECKING

from simfs.vfs import dcache, fsnotify
from simfs.vfs.cred import CAP_FOWNER, CAP_MKNOD, Cred
from simfs.vfs.file import FMODE_PATH, FMODE_READ, FMODE_WRITE, MAX_LFS_FILESIZE, File
from simfs.vfs.inode import (
    ATTR_ATIME,
    ATTR_ATIME_SET,
    ATTR_CTIME,
    ATTR_FORCE,
    ATTR_GID,
    ATTR_KILL_PRIV,
    ATTR_KILL_SGID,
    ATTR_KILL_SUID,
    ATTR_MODE,
    ATTR_MTIME,
    ATTR_MTIME_SET,
    ATTR_OPEN,
    ATTR_SIZE,
    ATTR_TIMES_SET,
    ATTR_TOUCH,
    ATTR_UID,
    FS_APPEND_FL,
    FS_IMMUTABLE_FL,
    MAY_APPEND,
    MAY_EXEC,
    MAY_OPEN,
    MAY_READ,
    MAY_WRITE,
    Dentry,
    DirEntry,
    Iattr,
    Inode,
    Kstat,
    StatFs,
    oserror,
)
from simfs.vfs.locks import flock_release, locks_remove_ofd, locks_remove_posix
from simfs.vfs.mount import MountTable, Path
from simfs.vfs.permission import (
    inode_owner_or_capable,
    inode_permission,
    may_create,
    may_delete,
    should_remove_suid,
    xattr_permission,
)
from simfs.vfs.readdir import DirContext

if TYPE_CHECKING:
    from simfs.kernel import Kernel

RENAME_NOREPLACE = 1 << 0
RENAME_EXCHANGE = 1 << 1
RENAME_WHITEOUT = 1 << 2

XATTR_CREATE = 1
XATTR_REPLACE = 2
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_NO_HIDE_STALE = 0x04
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_FL_INSERT_RANGE = 0x20
FALLOC_FL_UNSHARE_RANGE = 0x40
FALLOC_FL_SUPPORTED_MASK = 0x7F


# --- namespace operations -----------------------------------------------------------------
def vfs_create(dir_inode: Inode, dentry: Dentry, mode: int, cred: Cred, excl: bool = True) -> Inode:
    """``vfs_create``."""
    may_create(dir_inode, dentry, cred)
    inode = dir_inode.create(dentry, mode, cred, excl)
    if dentry.inode is None:
        dentry.instantiate(inode)
    fsnotify.fsnotify_create(dir_inode, dentry)
    return inode


def vfs_mkdir(dir_inode: Inode, dentry: Dentry, mode: int, cred: Cred) -> Inode:
    """``vfs_mkdir``."""
    may_create(dir_inode, dentry, cred)
    inode = dir_inode.mkdir(dentry, mode, cred)
    if dentry.inode is None:
        dentry.instantiate(inode)
    fsnotify.fsnotify_mkdir(dir_inode, dentry)
    return inode


def vfs_mknod(dir_inode: Inode, dentry: Dentry, mode: int, rdev: int, cred: Cred) -> Inode:
    """``vfs_mknod``: device nodes need CAP_MKNOD (after ``may_create``)."""
    may_create(dir_inode, dentry, cred)
    if (st.S_ISCHR(mode) or st.S_ISBLK(mode)) and not cred.capable(CAP_MKNOD):
        raise oserror(errno.EPERM)
    inode = dir_inode.mknod(dentry, mode, rdev, cred)
    if dentry.inode is None:
        dentry.instantiate(inode)
    fsnotify.fsnotify_create(dir_inode, dentry)
    return inode


def vfs_symlink(dir_inode: Inode, dentry: Dentry, target: str, cred: Cred) -> Inode:
    """``vfs_symlink``."""
    may_create(dir_inode, dentry, cred)
    inode = dir_inode.symlink(dentry, target, cred)
    if dentry.inode is None:
        dentry.instantiate(inode)
    fsnotify.fsnotify_create(dir_inode, dentry)
    return inode


def vfs_link(old_dentry: Dentry, dir_inode: Inode, new_dentry: Dentry, cred: Cred) -> Inode:
    """``vfs_link``: same superblock, not a directory, source not already unlinked."""
    inode = old_dentry.inode
    if inode is None:
        raise oserror(errno.ENOENT)
    may_create(dir_inode, new_dentry, cred)
    if dir_inode.sb is not inode.sb:
        raise oserror(errno.EXDEV)
    if st.S_ISDIR(inode.mode):
        raise oserror(errno.EPERM)
    if inode.fsflags & (FS_APPEND_FL | FS_IMMUTABLE_FL):
        raise oserror(errno.EPERM)  # vfs_link: IS_APPEND || IS_IMMUTABLE
    if inode.nlink == 0 and not inode.linkable:
        raise oserror(errno.ENOENT)  # no I_LINKABLE: a deleted file cannot be relinked
    res = dir_inode.link(old_dentry, new_dentry, cred)
    inode.linkable = False  # vfs_link: an O_TMPFILE inode is linkable once
    if new_dentry.inode is None:
        new_dentry.instantiate(res)
    fsnotify.fsnotify_link(dir_inode, inode, new_dentry)
    return res


def d_delete(dentry: Dentry) -> None:
    """``d_delete``: after unlink/rmdir, a busy dentry is unhashed, an idle one turns
    negative (its inode is released)."""
    if dentry.pins > 0:
        dcache.d_drop(dentry)
        inode = dentry.inode
        if inode is not None and dentry in inode.aliases:
            # keep the alias: open files still reach the inode through it
            pass
    else:
        dcache.iput_alias(dentry)


def vfs_unlink(dir_inode: Inode, dentry: Dentry, cred: Cred, mounts: MountTable) -> None:
    """``vfs_unlink``."""
    may_delete(dir_inode, dentry, False, cred)
    if mounts.any_mount_on(dentry):
        raise oserror(errno.EBUSY)
    victim = dentry.inode
    dir_inode.unlink(dentry, cred)
    if victim is not None:
        fsnotify.fsnotify_unlink(dir_inode, dentry, victim, dentry.pins > 0)
    d_delete(dentry)


def vfs_rmdir(dir_inode: Inode, dentry: Dentry, cred: Cred, mounts: MountTable) -> None:
    """``vfs_rmdir``."""
    may_delete(dir_inode, dentry, True, cred)
    if mounts.any_mount_on(dentry):
        raise oserror(errno.EBUSY)
    dir_inode.rmdir(dentry, cred)
    if dentry.inode is not None:
        dentry.inode.dead = True  # vfs_rmdir: dont_mount + S_DEAD
        fsnotify.fsnotify_rmdir(dir_inode, dentry, dentry.inode, dentry.pins > 0)
    for child in list(dentry.children.values()):
        dcache.d_drop(child)
    d_delete(dentry)


def vfs_rename(
    old_dir: Inode,
    old_dentry: Dentry,
    new_dir: Inode,
    new_dentry: Dentry,
    flags: int,
    cred: Cred,
    mounts: MountTable,
) -> None:
    """``vfs_rename``: the permission and busy checks, the driver call, the dcache move."""
    source = old_dentry.inode
    target = new_dentry.inode
    if source is None:
        raise oserror(errno.ENOENT)
    is_dir = st.S_ISDIR(source.mode)
    new_is_dir = target is not None and st.S_ISDIR(target.mode)
    if source is target:
        return
    may_delete(old_dir, old_dentry, is_dir, cred)
    if target is None:
        may_create(new_dir, new_dentry, cred)
    elif flags & RENAME_EXCHANGE:
        may_delete(new_dir, new_dentry, new_is_dir, cred)
    else:
        may_delete(new_dir, new_dentry, is_dir, cred)
    # a directory changing parent needs write permission on itself, to rewrite '..'
    if new_dir is not old_dir:
        if is_dir:
            inode_permission(source, MAY_WRITE, cred)
        if flags & RENAME_EXCHANGE and new_is_dir:
            assert target is not None
            inode_permission(target, MAY_WRITE, cred)
    if mounts.any_mount_on(old_dentry) or mounts.any_mount_on(new_dentry):
        raise oserror(errno.EBUSY)
    old_dir.rename(old_dentry, new_dir, new_dentry, flags, cred)
    exchange = bool(flags & RENAME_EXCHANGE)
    fsnotify.fsnotify_move(
        old_dir,
        new_dir,
        old_dentry.name,
        new_dentry.name,
        source,
        None if exchange else target,
        target is not None and (new_dentry.pins > 0 or target.open_count > 0),
    )
    if exchange and target is not None:
        fsnotify.fsnotify_move(new_dir, old_dir, new_dentry.name, old_dentry.name, target, None)
    if target is not None and new_is_dir and not flags & RENAME_EXCHANGE:
        target.dead = True  # vfs_rename: an overwritten directory is dead
    if flags & RENAME_EXCHANGE:
        dcache.d_exchange(old_dentry, new_dentry)
    else:
        if target is not None:
            # the overwritten target is gone from the namespace
            if new_dentry.pins > 0 or target.open_count:
                dcache.d_drop(new_dentry)
            else:
                dcache.d_drop(new_dentry)
                dcache.iput_alias(new_dentry)
        new_parent = new_dentry.parent
        assert new_parent is not None
        dcache.d_move(old_dentry, new_parent, new_dentry.name)


# --- attributes ---------------------------------------------------------------------------
def notify_change(k: Kernel, dentry: Dentry, attr: Iattr, cred: Cred) -> None:
    """``notify_change``: fill in the timestamps, apply the kill-suid bits, call the driver."""
    inode = dentry.inode
    if inode is None:
        raise oserror(errno.ENOENT)
    valid = attr.valid
    # (simfs's utime marks explicit times with ATIME_SET/MTIME_SET; vfs_utimes's
    # ATTR_TIMES_SET means the same)
    explicit = ATTR_MODE | ATTR_UID | ATTR_GID | ATTR_TIMES_SET | ATTR_ATIME_SET | ATTR_MTIME_SET
    if valid & explicit and inode.fsflags & (FS_APPEND_FL | FS_IMMUTABLE_FL):
        raise oserror(errno.EPERM)  # notify_change: IS_IMMUTABLE || IS_APPEND
    if valid & ATTR_TOUCH and inode.fsflags & FS_IMMUTABLE_FL:
        raise oserror(errno.EPERM)  # notify_change: utimes(NULL) on IS_IMMUTABLE
    if valid & ATTR_TOUCH and not inode_owner_or_capable(inode, cred):
        # utimes(NULL) by a non-owner needs write permission
        inode_permission(inode, MAY_WRITE, cred)
    now = k.clock.now_ns()
    attr.ctime_ns = now
    if not (valid & ATTR_ATIME_SET):
        attr.atime_ns = now
    if not (valid & ATTR_MTIME_SET):
        attr.mtime_ns = now
    if valid & ATTR_KILL_PRIV and not security_inode_need_killpriv(inode, dentry, cred):
        valid &= ~ATTR_KILL_PRIV  # security_inode_need_killpriv: nothing to remove
    if valid & ATTR_KILL_SUID and inode.mode & st.S_ISUID:
        valid |= ATTR_MODE
        attr.mode = inode.mode & ~st.S_ISUID
    if valid & ATTR_KILL_SGID and inode.mode & st.S_ISGID:
        if not (valid & ATTR_MODE):
            valid |= ATTR_MODE
            attr.mode = inode.mode
        attr.mode &= ~st.S_ISGID
    # ATTR_KILL_S*ID stay set: ->setattr may reinterpret the mode change (fuse_setattr
    # refreshes i_mode with GETATTR and recomputes it)
    attr.valid = valid
    if not valid & ~(ATTR_FORCE | ATTR_OPEN | ATTR_TOUCH | ATTR_KILL_SUID | ATTR_KILL_SGID):
        return
    inode.setattr(dentry, attr, cred)
    fsnotify.fsnotify_change(dentry, valid)


def file_remove_privs(k: Kernel, file: File, cred: Cred) -> None:
    """``file_remove_privs``: a write by someone without CAP_FSETID drops suid/sgid and
    file capabilities (the capability check reads ``security.capability``)."""
    inode = file.inode
    if not st.S_ISREG(inode.mode):
        return
    kill = should_remove_suid(inode, cred)
    if security_inode_need_killpriv(inode, file.path.dentry, cred):
        kill |= ATTR_KILL_PRIV
    if kill:
        notify_change(k, file.path.dentry, Iattr(valid=ATTR_FORCE | kill, file=file), cred)


def security_inode_need_killpriv(inode: Inode, dentry: Dentry, cred: Cred) -> bool:
    """``cap_inode_need_killpriv``: ``__vfs_getxattr(XATTR_NAME_CAPS, NULL, 0) > 0`` —
    a size probe; an absent or empty ``security.capability`` needs nothing removed."""
    try:
        value = inode.getxattr(dentry, "security.capability", 0, cred)
    except OSError:
        return False
    return len(value) > 0


def do_truncate(
    k: Kernel, dentry: Dentry, length: int, time_attrs: int, file: File | None, cred: Cred
) -> None:
    """``do_truncate``: negative -> EINVAL; kill-suid bits; ``notify_change``."""
    if length < 0:
        raise oserror(errno.EINVAL)
    inode = dentry.inode
    assert inode is not None
    if inode.fsflags & FS_APPEND_FL:
        raise oserror(errno.EPERM)  # do_ftruncate / vfs_truncate: IS_APPEND
    attr = Iattr(valid=ATTR_SIZE | time_attrs, size=length, file=file)
    # dentry_needs_remove_privs
    kill = should_remove_suid(inode, cred)
    if security_inode_need_killpriv(inode, dentry, cred):
        kill |= ATTR_KILL_PRIV
    if kill:
        attr.valid |= kill | ATTR_FORCE
    notify_change(k, dentry, attr, cred)


def vfs_getattr(path: Path, cred: Cred, flags: int = 0) -> Kstat:
    """``vfs_getattr``."""
    return path.inode.getattr(path, cred, flags)


def file_accessed(k: Kernel, file: File) -> None:
    """``file_accessed``: no atime for O_NOATIME descriptors (FMODE_NOATIME)."""
    if file.flags & getattr(os, "O_NOATIME", 0o1000000):
        return
    touch_atime(k, file.path)


def touch_atime(k: Kernel, path: Path) -> None:
    """``touch_atime`` with ``relatime`` (``atime_needs_update``/``relatime_need_update``)."""
    inode = path.dentry.inode
    if inode is None or getattr(inode, "noatime", False):
        return
    now = k.clock.now_ns()
    a = inode.atime_ns
    stale = a <= inode.mtime_ns or a <= inode.ctime_ns or now - a >= 24 * 3600 * 10**9
    if stale and a != now:
        inode.atime_ns = now


# --- xattrs -------------------------------------------------------------------------------
def _check_xattr_name(name: str) -> None:
    """``import_xattr_name``: empty or longer than XATTR_NAME_MAX -> ERANGE."""
    n = len(name.encode("utf-8", "surrogateescape"))
    if n == 0 or n > XATTR_NAME_MAX:
        raise oserror(errno.ERANGE)


def vfs_getxattr(dentry: Dentry, name: str, cred: Cred, size: int = 0) -> bytes:
    """``vfs_getxattr`` with the caller's buffer ``size`` (0: just the size; a value
    longer than a non-zero ``size`` -> ERANGE)."""
    _check_xattr_name(name)
    inode = dentry.inode
    assert inode is not None
    xattr_permission(inode, name, MAY_READ, cred)
    value = inode.getxattr(dentry, name, size, cred)
    if size and len(value) > size:
        raise oserror(errno.ERANGE)
    return value


def vfs_setxattr(dentry: Dentry, name: str, value: bytes, flags: int, cred: Cred) -> None:
    """``setxattr`` syscall + ``vfs_setxattr``."""
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise oserror(errno.EINVAL)
    _check_xattr_name(name)
    if len(value) > XATTR_SIZE_MAX:
        raise oserror(errno.E2BIG)
    inode = dentry.inode
    assert inode is not None
    xattr_permission(inode, name, MAY_WRITE, cred)
    inode.setxattr(dentry, name, value, flags, cred)
    fsnotify.fsnotify_xattr(dentry)


def vfs_listxattr(dentry: Dentry, cred: Cred, size: int = 0) -> list[str]:
    """``vfs_listxattr``: names (NUL-separated on the wire) must fit a non-zero ``size``."""
    inode = dentry.inode
    assert inode is not None
    names = inode.listxattr(dentry, size, cred)
    if size and sum(len(n.encode("utf-8", "surrogateescape")) + 1 for n in names) > size:
        raise oserror(errno.ERANGE)
    return names


def vfs_removexattr(dentry: Dentry, name: str, cred: Cred) -> None:
    """``vfs_removexattr``."""
    _check_xattr_name(name)
    inode = dentry.inode
    assert inode is not None
    xattr_permission(inode, name, MAY_WRITE, cred)
    inode.removexattr(dentry, name, cred)
    fsnotify.fsnotify_xattr(dentry)


# --- open files ---------------------------------------------------------------------------
_next_file_id = [0]


def alloc_file(path: Path, flags: int, fmode: int) -> File:
    inode = path.inode
    _next_file_id[0] += 1
    return File(path=path, inode=inode, flags=flags, fmode=fmode, id=_next_file_id[0])


def open_fmode(flags: int) -> int:
    """``OPEN_FMODE``: O_RDONLY/O_WRONLY/O_RDWR -> FMODE bits (3 gives neither)."""
    acc = flags & os.O_ACCMODE
    return {
        os.O_RDONLY: FMODE_READ,
        os.O_WRONLY: FMODE_WRITE,
        os.O_RDWR: FMODE_READ | FMODE_WRITE,
    }.get(acc, 0)


def acc_mode(flags: int) -> int:
    """``ACC_MODE`` + the O_TRUNC/O_APPEND additions of ``build_open_flags``."""
    acc = flags & os.O_ACCMODE
    mode = {os.O_RDONLY: MAY_READ, os.O_WRONLY: MAY_WRITE, os.O_RDWR: MAY_READ | MAY_WRITE}.get(
        acc, MAY_READ | MAY_WRITE
    )
    if flags & os.O_TRUNC:
        mode |= MAY_WRITE
    if flags & os.O_APPEND:
        mode |= MAY_APPEND
    return mode


def may_open(path: Path, accmode: int, flags: int, cred: Cred) -> None:
    """``may_open``."""
    inode = path.inode
    mode = inode.mode
    if st.S_ISLNK(mode):
        raise oserror(errno.ELOOP)
    if st.S_ISDIR(mode):
        if accmode & MAY_WRITE:
            raise oserror(errno.EISDIR)
        if accmode & MAY_EXEC:
            raise oserror(errno.EACCES)
    inode_permission(inode, MAY_OPEN | accmode, cred)
    if inode.fsflags & FS_APPEND_FL:
        # may_open: an append-only file is opened for writing only in append mode
        if (flags & os.O_ACCMODE) != os.O_RDONLY and not flags & os.O_APPEND:
            raise oserror(errno.EPERM)
        if flags & os.O_TRUNC:
            raise oserror(errno.EPERM)
    if flags & getattr(os, "O_NOATIME", 0o1000000) and not inode_owner_or_capable(inode, cred):
        raise oserror(errno.EPERM)


def vfs_open(k: Kernel, path: Path, flags: int, cred: Cred, file: File | None = None) -> File:
    """``vfs_open``/``do_dentry_open``: make the file and call the driver's ``open``."""
    if file is None:
        file = alloc_file(path, flags, open_fmode(flags))
    file.f_cred = cred  # the opener's credentials (linkat's LOOKUP_LINKAT_EMPTY rule)
    inode = file.inode
    inode.open(file, cred)
    inode.open_count += 1
    path.dentry.pins += 1
    path.mnt.busy_refs += 1
    return file


def finish_open(k: Kernel, file: File) -> File:
    """``finish_open`` after an ``atomic_open``: the driver already opened the file."""
    _next_file_id[0] += 1
    file.id = _next_file_id[0]
    file.inode.open_count += 1
    file.path.dentry.pins += 1
    file.path.mnt.busy_refs += 1
    return file


def open_path_file(path: Path, flags: int) -> File:
    """An ``O_PATH`` file: no driver open, no permission check beyond the walk."""
    file = alloc_file(path, flags, FMODE_PATH)
    file.inode.open_count += 1
    path.dentry.pins += 1
    path.mnt.busy_refs += 1
    return file


def filp_close(k: Kernel, file: File) -> None:
    """``filp_close``: ``flush`` on every close of a descriptor (not for O_PATH)."""
    if not file.is_path:
        file.inode.flush(file)
        # locks_remove_posix(filp, current->files): any close drops the process's locks
        if k.current is not None:
            locks_remove_posix(file.inode, file, k.current)


def fput(k: Kernel, file: File) -> None:
    """``fput``: the last reference -> ``release`` and the locks go."""
    file.refs -= 1
    if file.refs > 0 or file.released:
        return
    file.released = True
    inode = file.inode
    fsnotify.fsnotify_close(file)  # __fput: before ->release
    lock_inode, lock_file = inode.lock_target(file) if not file.is_path else (inode, file)
    flock_release(lock_inode, lock_file)
    if not file.is_path:
        locks_remove_ofd(inode, file)  # locks_remove_file: the description's OFD locks
    if not file.is_path:
        if st.S_ISFIFO(inode.mode):
            from simfs.vfs.pipe import fifo_release

            fifo_release(inode, file)
        inode.release(file)
    inode.open_count -= 1
    file.path.dentry.pins -= 1
    file.path.mnt.busy_refs -= 1
    dentry = file.path.dentry
    if dentry.unhashed and dentry.pins == 0:
        fsnotify.fsnotify_inoderemove(inode)  # the deferred dentry_unlink_inode
        dcache.iput_alias(dentry)
    elif inode.open_count == 0 and not inode.aliases:
        dcache.iput(inode)
    k.note_released(dentry)


LLONG_MAX = (1 << 63) - 1

#: ``MAX_RW_COUNT`` (``INT_MAX & PAGE_MASK``): the most one read or write transfers.
MAX_RW_COUNT = (2**31 - 1) & ~4095


def rw_verify_area(pos: int, count: int) -> None:
    """``rw_verify_area``: a negative count, a negative position or a range whose end
    overflows ``loff_t`` -> EINVAL (``FMODE_UNSIGNED_OFFSET`` devices are not modelled)."""
    if count < 0 or pos < 0 or pos + count > LLONG_MAX:
        raise oserror(errno.EINVAL)


def vfs_read(k: Kernel, file: File, size: int, offset: int | None) -> bytes:
    """``vfs_read``: EBADF without FMODE_READ; the driver reads; atime per relatime."""
    if not file.readable or file.is_path:
        raise oserror(errno.EBADF)
    pos = file.pos if offset is None else offset
    rw_verify_area(pos, size)
    size = min(size, MAX_RW_COUNT)  # rw_verify_area: a read returns at most MAX_RW_COUNT
    # the driver is called even for 0 bytes (generic_read_dir says EISDIR regardless);
    # filemap_read returns early for 0 bytes, before file_accessed
    data = file.inode.read(file, pos, size)
    if offset is None:
        file.pos = pos + len(data)
    if size:
        file_accessed(k, file)
    if data:
        fsnotify.fsnotify_access(file)
    return data


def vfs_write(k: Kernel, file: File, data: bytes, offset: int | None) -> int:
    """``vfs_write``: EBADF without FMODE_WRITE; O_APPEND writes at the end."""
    if not file.writable or file.is_path:
        raise oserror(errno.EBADF)
    inode = file.inode
    if st.S_ISDIR(inode.mode):
        raise oserror(errno.EISDIR)
    rw_verify_area(file.pos if offset is None else offset, len(data))
    if file.flags & os.O_APPEND and st.S_ISREG(inode.mode):
        # generic_write_checks: appends go to i_size (pwrite too, on Linux)
        pos = inode.size
    else:
        pos = file.pos if offset is None else offset
    if data:  # generic_write_checks: nothing to check for 0 bytes
        # generic_write_check_limits: EFBIG at s_maxbytes, a write across it is shortened
        if pos >= MAX_LFS_FILESIZE:
            raise oserror(errno.EFBIG)
        data = data[: MAX_LFS_FILESIZE - pos]
    n = inode.write(file, pos, data)
    if offset is None:
        file.pos = pos + n
    if n > 0:
        fsnotify.fsnotify_modify(file)
    return n


def vfs_fallocate(k: Kernel, file: File, mode: int, offset: int, length: int) -> None:
    """``vfs_fallocate``: argument checks in Linux's order, then the driver."""
    if offset < 0 or length <= 0:
        raise oserror(errno.EINVAL)
    if mode & ~FALLOC_FL_SUPPORTED_MASK:
        raise oserror(errno.EOPNOTSUPP)
    if mode & FALLOC_FL_PUNCH_HOLE and not (mode & FALLOC_FL_KEEP_SIZE):
        raise oserror(errno.EOPNOTSUPP)
    if not file.writable:
        raise oserror(errno.EBADF)
    inode = file.inode
    if mode & ~FALLOC_FL_KEEP_SIZE and inode.fsflags & FS_APPEND_FL:
        raise oserror(errno.EPERM)  # vfs_fallocate: IS_APPEND
    if inode.fsflags & FS_IMMUTABLE_FL:
        raise oserror(errno.EPERM)  # vfs_fallocate: IS_IMMUTABLE
    if st.S_ISDIR(inode.mode):
        raise oserror(errno.EISDIR)
    if not st.S_ISREG(inode.mode):
        raise oserror(errno.ENODEV)
    if offset + length > MAX_LFS_FILESIZE:
        raise oserror(errno.EFBIG)
    inode.fallocate(file, mode, offset, length)


def vfs_fsync(k: Kernel, file: File, datasync: bool) -> None:
    """``vfs_fsync_range``."""
    if file.is_path:
        raise oserror(errno.EBADF)
    file.inode.fsync(file, datasync)


def vfs_llseek(k: Kernel, file: File, offset: int, whence: int) -> int:
    """``ksys_lseek``: whence above SEEK_MAX -> EINVAL, then the driver's llseek."""
    if file.is_path:
        raise oserror(errno.EBADF)
    if whence < 0 or whence > 4:
        raise oserror(errno.EINVAL)
    return file.inode.llseek(file, offset, whence)


def iterate_dir(
    k: Kernel, file: File, cred: Cred, *, once: bool = False, ctx: DirContext | None = None
) -> list[DirEntry]:
    """``iterate_dir``: ENOTDIR for non-directories; atime; position advances.

    Without ``ctx``: every remaining entry (the driver's ``iterate``), as repeated
    ``getdents64`` calls until the end would see them -- the "all entries" helper that
    ``listdir``/``scandir`` use.  With ``ctx`` (or ``once``, an unlimited one): exactly
    one ``->iterate_shared`` call filling that user buffer, as one ``getdents64`` makes
    (a driver whose single pass differs from "every remaining entry" provides
    ``iterate_shared(file, ctx, cred)``; FUSE does).  ``f_pos`` takes ``ctx->pos`` and the
    access is noted even when the driver fails, as ``iterate_dir`` does.
    """
    if file.is_path:
        raise oserror(errno.EBADF)
    inode = file.inode
    if not st.S_ISDIR(inode.mode):
        raise oserror(errno.ENOTDIR)
    if inode.dead:
        raise oserror(errno.ENOENT)  # IS_DEADDIR: a removed directory lists nothing
    if ctx is None and once:
        ctx = DirContext(file.pos, None)
    if ctx is None:
        entries = inode.iterate(file, file.pos, cred)
        if entries:
            file.pos = entries[-1].off
        fsnotify.fsnotify_access(file)
        file_accessed(k, file)
        return entries
    ctx.pos = file.pos
    iterate_shared = getattr(inode, "iterate_shared", None)
    try:
        if iterate_shared is not None:
            iterate_shared(file, ctx, cred)
        else:
            # a driver that lists from a position: dir_emit each, ctx->pos after each
            # accepted entry (dcache_readdir, ext4_readdir)
            for e in inode.iterate(file, file.pos, cred):
                if not ctx.emit(e):
                    break
                ctx.pos = e.off
    finally:
        file.pos = ctx.pos
        fsnotify.fsnotify_access(file)
        file_accessed(k, file)
    return ctx.entries


def getdents64(k: Kernel, file: File, cred: Cred, count: int) -> list[DirEntry]:
    """``getdents64(2)``: one :func:`iterate_dir` into a buffer of ``count`` bytes.

    Returns the accepted entries, each with ``off`` = its ``d_off`` (the position passed
    with the next entry; the last one's is ``ctx->pos`` after the walk), or ``[]`` at the
    end of the directory.  Raises the callback's error (EINVAL: no entry fit) when nothing
    was accepted, and a driver error only then too: once a record is in the buffer,
    ``getdents64`` returns the byte count instead.
    """
    ctx = DirContext(file.pos, count)
    try:
        iterate_dir(k, file, cred, ctx=ctx)
    except OSError:
        if not ctx.entries:
            raise
    if not ctx.entries:
        if ctx.error:
            raise oserror(ctx.error)
        return []
    last = ctx.entries[-1]
    return [*ctx.entries[:-1], DirEntry(last.name, last.ino, last.dtype, ctx.pos)]


def vfs_statfs(path: Path, cred: Cred) -> StatFs:
    """``vfs_statfs``."""
    return path.dentry.sb.statfs(path.dentry, cred)


def vfs_copy_file_range(
    k: Kernel, fin: File, off_in: int, fout: File, off_out: int, length: int, flags: int
) -> int:
    """``vfs_copy_file_range``: checks, the driver's copy, else a splice-style copy."""
    if flags != 0:
        raise oserror(errno.EINVAL)
    if fin.is_path or fout.is_path:
        raise oserror(errno.EBADF)  # fdget: an O_PATH descriptor is no file here
    # generic_copy_file_checks -> generic_file_rw_checks: types first, then modes
    if st.S_ISDIR(fin.inode.mode) or st.S_ISDIR(fout.inode.mode):
        raise oserror(errno.EISDIR)
    if not st.S_ISREG(fin.inode.mode) or not st.S_ISREG(fout.inode.mode):
        raise oserror(errno.EINVAL)
    if not fin.readable or not fout.writable or fout.flags & os.O_APPEND:
        raise oserror(errno.EBADF)
    # "Ensure offsets don't wrap": pos + count in u64 arithmetic (a negative offset wraps)
    mask = (1 << 64) - 1
    for pos in (off_in, off_out):
        if (pos + length) & mask < pos & mask:
            raise oserror(errno.EOVERFLOW)
    # shorten to EOF, generic_write_check_limits, then refuse overlap in one file
    size_in = fin.inode.size
    length = 0 if off_in >= size_in else min(length, size_in - off_in)
    if off_out >= MAX_LFS_FILESIZE:
        raise oserror(errno.EFBIG)
    length = min(length, MAX_LFS_FILESIZE - off_out)
    if fin.inode is fout.inode and off_out + length > off_in and off_out < off_in + length:
        raise oserror(errno.EINVAL)
    rw_verify_area(off_in, length)
    rw_verify_area(off_out, length)
    if length == 0:
        return 0
    try:
        return fin.inode.copy_file_range(fin, off_in, fout, off_out, length, flags)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS):
            raise
    # do_splice_direct fallback: read from the source, write to the target
    data = fin.inode.splice_read(fin, off_in, length)
    file_accessed(k, fin)
    if not data:
        return 0
    # the target's write path removes privileges itself (file_remove_privs in write_iter)
    return fout.inode.splice_write(fout, off_out, data)


def check_sticky_link_busy(dentry: Dentry) -> bool:
    return dentry.pins > 0


__all__ = [
    "ATTR_ATIME",
    "ATTR_CTIME",
    "ATTR_MTIME",
    "ATTR_OPEN",
    "CAP_FOWNER",
    "MAY_EXEC",
    "RENAME_EXCHANGE",
    "RENAME_NOREPLACE",
    "RENAME_WHITEOUT",
]
