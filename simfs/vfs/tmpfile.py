"""``O_TMPFILE`` and ``linkat(2)`` (``fs/namei.c``: ``do_tmpfile``, ``vfs_tmpfile``,
``do_linkat``), issue 17.

An ``O_TMPFILE`` open creates an inode with no name (``i_op->tmpfile``: tmpfs's
``shmem_tmpfile`` -> ``d_tmpfile``, nlink 0, the directory's times untouched) behind an
unhashed dentry ``#<ino>``.  Unless ``O_EXCL`` was given the inode is ``I_LINKABLE``, so
``linkat(fd, "", dirfd, name, AT_EMPTY_PATH)`` can give it a name once; without it,
``vfs_link`` refuses a link-count-0 inode with ENOENT.
"""

from __future__ import annotations

import errno
import os
import stat as st
from typing import TYPE_CHECKING

from simfs.vfs import fsnotify, ops
from simfs.vfs.cred import CAP_DAC_READ_SEARCH
from simfs.vfs.file import File
from simfs.vfs.inode import MAY_EXEC, MAY_WRITE, Dentry, oserror
from simfs.vfs.mount import Path
from simfs.vfs.namei import (
    LAST_NORM,
    LOOKUP_CREATE,
    LOOKUP_DIRECTORY,
    LOOKUP_EXCL,
    LOOKUP_FOLLOW,
)
from simfs.vfs.permission import S_IALLUGO, inode_permission, may_linkat, vfs_prepare_mode

if TYPE_CHECKING:
    from simfs.process import Process

#: ``__O_TMPFILE`` (the bit, here O_TMPFILE_BIT) and ``O_TMPFILE`` (with O_DIRECTORY), x86-64.
O_TMPFILE_BIT = 0o20000000
O_TMPFILE = getattr(os, "O_TMPFILE", O_TMPFILE_BIT | os.O_DIRECTORY)
#: ``O_TMPFILE_MASK``: these bits must be exactly O_TMPFILE.
O_TMPFILE_MASK = O_TMPFILE_BIT | os.O_DIRECTORY | os.O_CREAT
AT_FDCWD = -100
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000


def check_tmpfile_flags(flags: int) -> None:
    """``build_open_flags``: O_TMPFILE needs O_DIRECTORY, no O_CREAT, and write access."""
    if (flags & O_TMPFILE_MASK) != O_TMPFILE:
        raise oserror(errno.EINVAL)
    if not ops.acc_mode(flags) & MAY_WRITE:
        raise oserror(errno.EINVAL)


def do_tmpfile(proc: Process, path: str, flags: int, mode: int, dir_fd: int | None) -> File:
    """``do_tmpfile``: walk to the directory (LOOKUP_DIRECTORY), then ``vfs_tmpfile``."""
    check_tmpfile_flags(flags)
    lflags = LOOKUP_DIRECTORY | (0 if flags & os.O_NOFOLLOW else LOOKUP_FOLLOW)
    parent = proc._lookup(path, bool(lflags & LOOKUP_FOLLOW), dir_fd, LOOKUP_DIRECTORY)
    if not st.S_ISDIR(parent.inode.mode):
        raise oserror(errno.ENOTDIR)
    return vfs_tmpfile(proc, parent, flags, mode)


def vfs_tmpfile(proc: Process, parent: Path, flags: int, mode: int) -> File:
    """``vfs_tmpfile``: MAY_WRITE|MAY_EXEC on the directory, EOPNOTSUPP without
    ``i_op->tmpfile``, the mode as ``vfs_prepare_mode`` makes it; ``may_open`` with no
    access bits; ``I_LINKABLE`` unless O_EXCL."""
    dir_inode = parent.inode
    inode_permission(dir_inode, MAY_WRITE | MAY_EXEC, proc.cred)
    # build_open_flags: op->mode = (mode & S_IALLUGO) | S_IFREG; vfs_prepare_mode
    cmode = vfs_prepare_mode(dir_inode, mode, S_IALLUGO, st.S_IFREG, proc._umask, proc.cred)
    # vfs_tmpfile: child = d_alloc(parent, "/"), never hashed (d_path says "(deleted)")
    child = Dentry(name="/", parent=parent.dentry, sb=parent.dentry.sb)
    child.unhashed = True
    res = Path(parent.mnt, child)
    oflags = flags & ~os.O_CREAT
    pending = File(path=res, inode=dir_inode, flags=oflags, fmode=ops.open_fmode(oflags))
    atomic = dir_inode.atomic_tmpfile(child, pending, oflags, cmode, proc.cred)
    if atomic is not None:  # FUSE: TMPFILE created and opened it
        if child.inode is None:
            child.instantiate(atomic)
        file = ops.finish_open(proc.kernel, pending)
        file.f_cred = proc.cred
        inode = atomic
    else:
        inode = dir_inode.tmpfile(cmode, proc.cred)  # EOPNOTSUPP where the fs has none
        child.instantiate(inode)
        file = ops.vfs_open(proc.kernel, res, oflags, proc.cred)
    child.name = f"#{inode.ino}"  # d_tmpfile
    fsnotify.fsnotify_open(file)
    try:
        ops.may_open(res, 0, flags, proc.cred)  # "the inode was just created"
    except OSError:
        file.refs = 1
        ops.fput(proc.kernel, file)
        raise
    if not flags & os.O_EXCL:
        inode.linkable = True  # I_LINKABLE
    return file


def do_linkat(
    proc: Process, olddfd: int, oldname: str, newdfd: int, newname: str, flags: int
) -> None:
    """``do_linkat``: EINVAL for unknown flags; an empty ``oldname`` needs AT_EMPTY_PATH
    (else ENOENT) and then names ``olddfd``'s file itself, which only a task with the
    opener's credentials or CAP_DAC_READ_SEARCH may link (6.10+ ``LOOKUP_LINKAT_EMPTY``,
    else ENOENT)."""
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise oserror(errno.EINVAL)
    dfd = None if olddfd == AT_FDCWD else olddfd
    if oldname == "":
        if not flags & AT_EMPTY_PATH:
            raise oserror(errno.ENOENT)  # getname: empty name
        if dfd is None:
            old = proc.cwd
        else:
            file = proc._file(dfd)
            opener = getattr(file, "f_cred", None)
            if opener is not proc.cred and not proc.cred.capable(CAP_DAC_READ_SEARCH):
                raise oserror(errno.ENOENT)  # path_init: LOOKUP_LINKAT_EMPTY
            old = file.path
    else:
        old = proc._lookup(oldname, bool(flags & AT_SYMLINK_FOLLOW), dfd)
    link_to(proc, old, newname, None if newdfd == AT_FDCWD else newdfd)


def link_to(proc: Process, old: Path, newname: str, dir_fd: int | None) -> None:
    """The new-name half of ``do_linkat``: ``filename_create`` (EEXIST for '.'/'..' and an
    existing name, ENOENT for a trailing slash), EXDEV across mounts, ``may_linkat``,
    ``vfs_link``."""
    w, parent, last, type_, trailing = proc._parent(newname, dir_fd)
    if type_ != LAST_NORM:
        raise oserror(errno.EEXIST)
    if old.mnt is not parent.mnt:
        raise oserror(errno.EXDEV)
    dentry = w.lookup_one(parent, last, LOOKUP_CREATE | LOOKUP_EXCL)
    if dentry.inode is not None:
        raise oserror(errno.EEXIST)
    if trailing:
        raise oserror(errno.ENOENT)
    may_linkat(old.inode, proc.cred)
    ops.vfs_link(old.dentry, parent.inode, dentry, proc.cred)
