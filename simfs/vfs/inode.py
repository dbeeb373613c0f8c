"""The VFS object model: superblocks, inodes, dentries (``include/linux/fs.h``, ``dcache.h``).

A filesystem driver (``simfs.lowerfs``, ``simfs.fuse``) subclasses :class:`SuperBlock`
and :class:`Inode` and overrides the operations it supports, exactly as a Linux driver
fills ``inode_operations``/``file_operations``/``super_operations``/``dentry_operations``.
An operation left at its default fails the way the VFS fails a missing hook
(``-EPERM`` for a missing ``mkdir``, ``-EINVAL`` for a missing ``get_link`` ...).

The VFS (``simfs.vfs.namei``, ``permission``, ``ops``) owns the generic rules (path walk,
permission checks, ``setattr_prepare``); drivers own what Linux leaves to them (timestamps,
link counts, storage).
"""

from __future__ import annotations

import errno
import stat as st
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simfs.vfs.cred import Cred

if TYPE_CHECKING:
    from simfs.vfs.file import File
    from simfs.vfs.locks import PosixLock
    from simfs.vfs.mount import Path

__all__ = [
    "Dentry",
    "DirEntry",
    "Iattr",
    "Inode",
    "Kstat",
    "StatFs",
    "SuperBlock",
    "oserror",
]

# Permission masks (include/linux/fs.h)
#: include/uapi/linux/fs.h inode flags the VFS checks (S_IMMUTABLE, S_APPEND); issue 17
FS_IMMUTABLE_FL = 0x00000010
FS_APPEND_FL = 0x00000020

MAY_EXEC = 0x1
MAY_WRITE = 0x2
MAY_READ = 0x4
MAY_APPEND = 0x8
MAY_ACCESS = 0x10
MAY_OPEN = 0x20
MAY_CHDIR = 0x40
MAY_NOT_BLOCK = 0x80

# ia_valid bits (include/linux/fs.h)
ATTR_MODE = 1 << 0
ATTR_UID = 1 << 1
ATTR_GID = 1 << 2
ATTR_SIZE = 1 << 3
ATTR_ATIME = 1 << 4
ATTR_MTIME = 1 << 5
ATTR_CTIME = 1 << 6
ATTR_ATIME_SET = 1 << 7
ATTR_MTIME_SET = 1 << 8
ATTR_FORCE = 1 << 9
ATTR_KILL_SUID = 1 << 11
ATTR_KILL_SGID = 1 << 12
ATTR_FILE = 1 << 13
ATTR_KILL_PRIV = 1 << 14
ATTR_OPEN = 1 << 15
ATTR_TIMES_SET = 1 << 16
ATTR_TOUCH = 1 << 17

# d_type values (include/linux/fs_types.h)
DT_UNKNOWN = 0
DT_FIFO = 1
DT_CHR = 2
DT_DIR = 4
DT_BLK = 6
DT_REG = 8
DT_LNK = 10
DT_SOCK = 12


def dtype_of(mode: int) -> int:
    """``fs_umode_to_dtype``."""
    return st.S_IFMT(mode) >> 12


def oserror(code: int, filename: object = None) -> OSError:
    """An ``OSError`` as ``os`` raises it (the right subclass for the errno)."""
    if filename is None:
        return OSError(code, errno_message(code))
    return OSError(code, errno_message(code), filename)


def errno_message(code: int) -> str:
    import os

    return os.strerror(code)


@dataclass(slots=True)
class Kstat:
    """``struct kstat``: what ``getattr`` reports."""

    ino: int
    mode: int
    nlink: int
    uid: int
    gid: int
    rdev: int
    size: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    blksize: int
    blocks: int
    dev: int = 0


@dataclass(slots=True)
class Iattr:
    """``struct iattr``: a requested attribute change (``notify_change``)."""

    valid: int = 0
    mode: int = 0
    uid: int = -1
    gid: int = -1
    size: int = 0
    atime_ns: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0
    file: File | None = None


@dataclass(slots=True)
class StatFs:
    """``struct kstatfs``."""

    f_type: int
    f_bsize: int
    f_blocks: int
    f_bfree: int
    f_bavail: int
    f_files: int
    f_ffree: int
    f_namelen: int = 255
    f_frsize: int = 4096
    f_flag: int = 0
    f_fsid: int = 0


@dataclass(slots=True)
class DirEntry:
    """One entry produced by ``iterate``: ``off`` is the position *after* this entry."""

    name: str
    ino: int
    dtype: int
    off: int


class SuperBlock:
    """A mounted filesystem instance (``struct super_block``).

    ``dev`` is what ``st_dev`` reports for its inodes; ``magic`` what ``statfs`` reports.
    """

    fs_name: str = "none"
    magic: int = 0

    def __init__(self, kernel: Any, dev: int) -> None:
        self.kernel = kernel
        self.dev = dev
        self.root: Dentry | None = None
        self.active = True

    # dentry_operations ------------------------------------------------------------
    def d_revalidate(self, dentry: Dentry, cred: Cred, flags: int) -> bool:
        """``d_op->d_revalidate``: is the cached dentry still right?  Default: yes."""
        return True

    def d_delete(self, dentry: Dentry) -> bool:
        """``d_op->d_delete``: drop the dentry as soon as it is unused?  Default: no."""
        return False

    # super_operations -------------------------------------------------------------
    def statfs(self, dentry: Dentry, cred: Cred) -> StatFs:
        raise oserror(errno.ENOSYS)

    def evict_inode(self, inode: Inode) -> None:
        """``s_op->evict_inode``: the last reference to ``inode`` is gone."""

    def put_super(self) -> None:
        """``s_op->put_super``: the filesystem is being unmounted."""


class Inode:
    """A VFS inode.  Attribute names follow ``struct inode`` / ``struct kstat``.

    Subclasses either store the attributes (FUSE caches them) or expose them as
    properties over their backing store (the lower filesystem).
    """

    sb: SuperBlock
    ino: int
    mode: int
    uid: int
    gid: int
    nlink: int
    size: int
    rdev: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    blksize: int
    blocks: int
    generation: int = 0
    #: S_DEAD: set when the directory is removed (IS_DEADDIR), never from the link count
    dead: bool = False
    #: I_LINKABLE: an O_TMPFILE inode (opened without O_EXCL) that linkat may name once
    linkable: bool = False
    #: FS_*_FL inode flags (FS_IOC_GETFLAGS); S_IMMUTABLE/S_APPEND follow from them
    fsflags: int = 0
    #: ``i_op->fileattr_get/set`` exist (tmpfs: yes; simfs.vfs.ioctl)
    has_fileattr: bool = False

    def __init__(self, sb: SuperBlock) -> None:
        self.sb = sb
        self.open_count = 0
        self.aliases: list[Dentry] = []
        self.flock_holders: dict[int, str] = {}  # open-file id -> "sh"/"ex"
        self.posix_locks: list[PosixLock] = []  # i_flctx->flc_posix, in list order

    # convenience -----------------------------------------------------------------
    @property
    def is_dir(self) -> bool:
        return st.S_ISDIR(self.mode)

    @property
    def is_reg(self) -> bool:
        return st.S_ISREG(self.mode)

    @property
    def is_lnk(self) -> bool:
        return st.S_ISLNK(self.mode)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ino={self.ino} mode={self.mode:o}>"

    # inode_operations -------------------------------------------------------------
    def lookup(self, dentry: Dentry, cred: Cred, flags: int) -> Inode | None:
        """Find ``dentry.name`` in this directory; ``None`` means a negative entry."""
        raise oserror(errno.ENOTDIR)

    def create(self, dentry: Dentry, mode: int, cred: Cred, excl: bool) -> Inode:
        raise oserror(errno.EACCES)  # vfs_create: no ->create -> -EACCES

    def atomic_open(
        self, dentry: Dentry, file: File, open_flags: int, mode: int, cred: Cred
    ) -> Inode | None:
        """Create-and-open in one step (FUSE's CREATE).  ``None``: not supported here."""
        return None

    def mkdir(self, dentry: Dentry, mode: int, cred: Cred) -> Inode:
        raise oserror(errno.EPERM)  # vfs_mkdir: no ->mkdir -> -EPERM

    def mknod(self, dentry: Dentry, mode: int, rdev: int, cred: Cred) -> Inode:
        raise oserror(errno.EPERM)

    def symlink(self, dentry: Dentry, target: str, cred: Cred) -> Inode:
        raise oserror(errno.EPERM)

    def link(self, old_dentry: Dentry, dentry: Dentry, cred: Cred) -> Inode:
        raise oserror(errno.EPERM)

    def unlink(self, dentry: Dentry, cred: Cred) -> None:
        raise oserror(errno.EPERM)

    def rmdir(self, dentry: Dentry, cred: Cred) -> None:
        raise oserror(errno.EPERM)

    def rename(
        self, old_dentry: Dentry, new_dir: Inode, new_dentry: Dentry, flags: int, cred: Cred
    ) -> None:
        raise oserror(errno.EPERM)

    def get_link(self, dentry: Dentry, cred: Cred) -> str:
        raise oserror(errno.EINVAL)

    def permission(self, mask: int, cred: Cred) -> None:
        """``i_op->permission``; default ``generic_permission``.  Raises on denial."""
        from simfs.vfs.permission import generic_permission

        generic_permission(self, mask, cred)

    def getattr(self, path: Path, cred: Cred, flags: int) -> Kstat:
        """``i_op->getattr``; default ``generic_fillattr``."""
        return self.fillattr()

    def fillattr(self) -> Kstat:
        """``generic_fillattr``: report the in-core attributes."""
        return Kstat(
            ino=self.ino,
            mode=self.mode,
            nlink=self.nlink,
            uid=self.uid,
            gid=self.gid,
            rdev=self.rdev,
            size=self.size,
            atime_ns=self.atime_ns,
            mtime_ns=self.mtime_ns,
            ctime_ns=self.ctime_ns,
            blksize=self.blksize,
            blocks=self.blocks,
            dev=self.sb.dev,
        )

    def setattr(self, dentry: Dentry, attr: Iattr, cred: Cred) -> None:
        raise oserror(errno.EPERM)

    # xattr handlers (fs/xattr.c dispatches here after xattr_permission) -------------
    def getxattr(self, dentry: Dentry, name: str, size: int, cred: Cred) -> bytes:
        raise oserror(errno.EOPNOTSUPP)

    def setxattr(self, dentry: Dentry, name: str, value: bytes, flags: int, cred: Cred) -> None:
        raise oserror(errno.EOPNOTSUPP)

    def listxattr(self, dentry: Dentry, size: int, cred: Cred) -> list[str]:
        raise oserror(errno.EOPNOTSUPP)

    def removexattr(self, dentry: Dentry, name: str, cred: Cred) -> None:
        raise oserror(errno.EOPNOTSUPP)

    # file_operations --------------------------------------------------------------
    def open(self, file: File, cred: Cred) -> None:
        """``f_op->open``: attach driver state to ``file``."""

    def release(self, file: File) -> None:
        """``f_op->release``: the last reference to the open file is gone."""

    def flush(self, file: File) -> None:
        """``f_op->flush``: called on every ``close`` of a descriptor."""

    def read(self, file: File, offset: int, size: int) -> bytes:
        raise oserror(errno.EINVAL)

    def write(self, file: File, offset: int, data: bytes) -> int:
        raise oserror(errno.EINVAL)

    def llseek(self, file: File, offset: int, whence: int) -> int:
        """``f_op->llseek``; default ``generic_file_llseek``."""
        from simfs.vfs.file import generic_file_llseek

        return generic_file_llseek(file, offset, whence, self.size)

    def fsync(self, file: File, datasync: bool) -> None:
        raise oserror(errno.EINVAL)

    def fallocate(self, file: File, mode: int, offset: int, length: int) -> None:
        raise oserror(errno.EOPNOTSUPP)

    def iterate(self, file: File, pos: int, cred: Cred) -> list[DirEntry]:
        """``f_op->iterate_shared``: every entry from position ``pos`` on, in order."""
        raise oserror(errno.ENOTDIR)

    def copy_file_range(
        self, file_in: File, off_in: int, file_out: File, off_out: int, length: int, flags: int
    ) -> int:
        """``f_op->copy_file_range``; ``-EOPNOTSUPP`` makes the VFS fall back to splice."""
        raise oserror(errno.EOPNOTSUPP)

    def flock(self, file: File, operation: int) -> None:
        """``f_op->flock``; default ``locks_lock_file_wait`` on this inode."""
        from simfs.vfs.locks import flock_lock_inode

        # the lock lives where lock_target says (fuse-bpf: on the backing file)
        target, tfile = self.lock_target(file)
        flock_lock_inode(target, tfile, operation)

    def unlocked_ioctl(self, file: File, request: int, buf: bytes | None) -> Any:
        """``f_op->unlocked_ioctl`` for what ``do_vfs_ioctl`` does not handle: the ioctl's
        result (an int, or the argument buffer as left); ENOTTY (``-ENOIOCTLCMD``) by
        default."""
        raise oserror(errno.ENOTTY)

    def fileattr_get(self, file: File) -> int:
        """``i_op->fileattr_get`` (only called when ``has_fileattr``)."""
        raise oserror(errno.ENOTTY)

    def fileattr_set(self, file: File, flags: int) -> None:
        """``i_op->fileattr_set`` (only called when ``has_fileattr``)."""
        raise oserror(errno.ENOTTY)

    def atomic_tmpfile(
        self, dentry: Dentry, file: File, flags: int, mode: int, cred: Cred
    ) -> Inode | None:
        """``i_op->tmpfile`` of a filesystem that creates and opens at once (FUSE's
        TMPFILE): the new inode, with ``file`` opened on it; None: use :meth:`tmpfile`."""
        return None

    def tmpfile(self, mode: int, cred: Cred) -> Inode:
        """``i_op->tmpfile``: a new inode with no name (nlink 0) in this directory's
        filesystem; EOPNOTSUPP where the filesystem has no tmpfile."""
        raise oserror(errno.EOPNOTSUPP)

    def lock(self, file: File, cmd: int, request: PosixLock) -> PosixLock | None:
        """``f_op->lock`` (or ``posix_lock_file``/``posix_test_lock`` without one).

        F_GETLK: the conflicting lock or None.  F_SETLK/F_SETLKW: None when applied, the
        blocker when the request must sleep; EAGAIN/EDEADLK as ``posix_lock_inode``.
        """
        from simfs.vfs.locks import F_GETLK, posix_lock_file, posix_test_lock

        if cmd == F_GETLK:
            return posix_test_lock(self.posix_locks, request)
        if request.close and not self.posix_locks:
            return None  # locks_remove_posix: no flc_posix, nothing to do
        return posix_lock_file(self, request, self.sb.kernel.blocked_locks)

    def lock_target(self, file: File) -> tuple[Inode, File]:
        """Where BSD locks really live (fuse-bpf redirects to the lower file)."""
        return self, file

    def mmap_target(self, file: File) -> tuple[Inode, File]:
        """``f_op->mmap``: which file a mapping reads and writes (fuse-bpf: the lower one).

        Raise ``ENODEV`` where the file cannot be mapped."""
        if not st.S_ISREG(self.mode):
            raise oserror(errno.ENODEV)
        return self, file

    def splice_read(self, file: File, offset: int, size: int) -> bytes:
        """``f_op->splice_read``; default ``copy_splice_read`` through ``read``."""
        return self.read(file, offset, size)

    def splice_write(self, file: File, offset: int, data: bytes) -> int:
        """``f_op->splice_write``; default ``iter_file_splice_write`` through ``write``."""
        return self.write(file, offset, data)

    def fadvise(self, file: File, offset: int, length: int, advice: int) -> None:
        """``f_op->fadvise``; default ``generic_fadvise`` (advice only, no effect here)."""


@dataclass(eq=False)
class Dentry:
    """A name in a directory (``struct dentry``); ``inode is None`` means negative.

    ``children`` is this directory's slice of the dcache.  ``fsdata`` is the driver's
    private part (FUSE's ``struct fuse_dentry``).
    """

    name: str
    parent: Dentry | None
    sb: SuperBlock
    inode: Inode | None = None
    children: dict[str, Dentry] = field(default_factory=dict)
    fsdata: Any = None
    pins: int = 0  # references held by open files, cwds, mounts
    unhashed: bool = False

    def __repr__(self) -> str:
        return f"<Dentry {self.path_str()!r} {'neg' if self.inode is None else self.inode}>"

    @property
    def d_parent(self) -> Dentry:
        return self.parent if self.parent is not None else self

    @property
    def is_root(self) -> bool:
        return self.parent is None

    def path_str(self) -> str:
        """Path of this dentry inside its own filesystem (for messages and traces)."""
        parts: list[str] = []
        d: Dentry | None = self
        while d is not None and d.parent is not None:
            parts.append(d.name)
            d = d.parent
        return "/" + "/".join(reversed(parts))

    def instantiate(self, inode: Inode | None) -> None:
        """``d_instantiate``/``d_add``: attach ``inode`` (or make negative)."""
        if self.inode is not None and self in self.inode.aliases:
            self.inode.aliases.remove(self)
        self.inode = inode
        if inode is not None and self not in inode.aliases:
            inode.aliases.append(self)

    def is_ancestor_of(self, other: Dentry) -> bool:
        """``is_subdir(other, self)`` restricted to strict ancestry."""
        d = other.parent
        while d is not None:
            if d is self:
                return True
            d = d.parent
        return False
