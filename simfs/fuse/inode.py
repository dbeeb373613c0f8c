"""FUSE inodes, dentries and open files (``fs/fuse/inode.c``, ``fs/fuse/fuse_i.h``, the
dentry half of ``fs/fuse/dir.c``).

A :class:`FuseInode` caches the attributes the daemon reported, with an expiry on the
virtual clock (``i_time``) and an ``inval_mask``; a :class:`FuseDentry` (``dentry.fsdata``)
carries the entry expiry.  Expiry follows ``fuse_time_to_jiffies``: a timeout of 0 is
stored as 0 and is always expired; any other timeout expires ``timeout`` (rounded up to
whole jiffies) after now.  The inode cache (``icache``) is keyed by nodeid, as
``fuse_iget``'s ``iget5_locked(fuse_inode_eq)``; an inode whose last dentry goes away
stays cached while ``i_nlink`` > 0 (``generic_drop_inode``) and is evicted, with a
FORGET for its ``nlookup`` (``fuse_evict_inode``), once unlinked or made bad.

The operations themselves live next door, as in the kernel: :mod:`simfs.fuse.dir`
(lookup, namespace, attributes, permission), :mod:`simfs.fuse.file` (open/read/write...),
:mod:`simfs.fuse.readdir` and :mod:`simfs.fuse.xattr`.  Every operation first calls the
matching ``simfs.fuse.backing.bpf_*`` function and only runs the classic path when that
did not handle it.
"""

from __future__ import annotations

import errno
import stat as st
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simfs import uapi
from simfs.clock import JIFFY_NS
from simfs.vfs.cred import Cred
from simfs.vfs.inode import (
    Dentry,
    DirEntry,
    Iattr,
    Inode,
    Kstat,
    StatFs,
    SuperBlock,
    oserror,
)

if TYPE_CHECKING:
    from simfs.fuse.mount import FuseMount
    from simfs.trace import Event
    from simfs.vfs.file import File
    from simfs.vfs.locks import PosixLock
    from simfs.vfs.mount import Path
    from simfs.vfs.readdir import DirContext

__all__ = [
    "FuseDentry",
    "FuseFile",
    "FuseInode",
    "FuseSuperBlock",
    "fuse_dentry",
    "fuse_file",
]

# STATX_* request/invalidation bits (include/uapi/linux/stat.h)
STATX_TYPE = 0x1
STATX_MODE = 0x2
STATX_NLINK = 0x4
STATX_UID = 0x8
STATX_GID = 0x10
STATX_ATIME = 0x20
STATX_MTIME = 0x40
STATX_CTIME = 0x80
STATX_INO = 0x100
STATX_SIZE = 0x200
STATX_BLOCKS = 0x400
STATX_BASIC_STATS = 0x7FF
#: fuse_i.h: what a data change makes stale
FUSE_STATX_MODIFY = STATX_MTIME | STATX_CTIME | STATX_BLOCKS
FUSE_STATX_MODSIZE = FUSE_STATX_MODIFY | STATX_SIZE

LLONG_MAX = (1 << 63) - 1
_VALID_TYPES = (st.S_IFREG, st.S_IFDIR, st.S_IFLNK, st.S_IFCHR, st.S_IFBLK, st.S_IFIFO, st.S_IFSOCK)


def fuse_valid_type(mode: int) -> bool:
    """``fuse_valid_type``."""
    return st.S_IFMT(mode) in _VALID_TYPES


def fuse_invalid_attr(attr: uapi.FuseAttr) -> bool:
    """``fuse_invalid_attr``: bad file type or a size above LLONG_MAX."""
    return not fuse_valid_type(attr.mode) or attr.size > LLONG_MAX


def attr_problem(attr: uapi.FuseAttr) -> str:
    """Why ``fuse_invalid_attr`` refuses ``attr`` (``""`` when it does not)."""
    if not fuse_valid_type(attr.mode):
        return f"attr.mode {attr.mode:#o} has no valid file type (fuse_valid_type)"
    if attr.size > LLONG_MAX:
        return f"attr.size {attr.size} is above LLONG_MAX (fuse_invalid_attr)"
    return ""


def invalid_nodeid(nodeid: int) -> bool:
    """``invalid_nodeid``: 0 and the root id cannot name a new entry."""
    return nodeid == 0 or nodeid == uapi.FUSE_ROOT_ID


@dataclass
class FuseDentry:
    """``struct fuse_dentry``: entry expiry (ns on the virtual clock, 0 = always expired)
    and the fuse-bpf lower path / program of a negative dentry."""

    time: int = 0
    backing_path: Any = None
    bpf: Any = None
    #: DCACHE_OP_DELETE: set by d_set_d_op (fuse_dentry_operations has d_delete), cleared by
    #: the first fuse_dentry_settime() unless the time is 0 on a delete_stale connection.
    #: FUSE-BPF lookups never call settime, so their dentries die at the last dput.
    op_delete: bool = True


def fuse_dentry_settime(d: Dentry, time: int, delete_stale: bool = False) -> None:
    """``fuse_dentry_settime``: store the entry time and drop DCACHE_OP_DELETE unless
    ``!time && fc->delete_stale`` (virtiofs), so a classic dentry stays cached when unused."""
    fd = fuse_dentry(d)
    fd.op_delete = time == 0 and delete_stale
    fd.time = time


def fuse_dentry(d: Dentry) -> FuseDentry:
    """The dentry's ``FuseDentry``, created on demand (``fuse_dentry_init``)."""
    fd = d.fsdata
    if not isinstance(fd, FuseDentry):
        fd = FuseDentry()
        d.fsdata = fd
    return fd


@dataclass
class FuseFile:
    """``struct fuse_file``: the daemon's handle and what OPEN answered."""

    fh: int = 0
    nodeid: int = 0
    open_flags: int = 0
    backing_file: Any = None
    #: fuse_file_alloc(fm, release): whether RELEASE/RELEASEDIR must be sent
    release_needed: bool = True
    isdir: bool = False
    flock: bool = False
    #: readdir state of a directory handle (``ff->readdir``)
    readdir: dict[str, Any] = field(default_factory=dict)
    #: mainline passthrough (``variant="upstream"``): ``ff->passthrough``, the backing file
    #: opened for this fuse file, and ``ff->iomode`` (see :mod:`simfs.fuse.iomode`)
    passthrough: Any = None
    iomode: str = "none"
    backing_id: int = 0  # ff->args->open_outarg.backing_id


def fuse_file(file: File) -> FuseFile:
    ff = file.private
    if not isinstance(ff, FuseFile):
        import errno

        from simfs.vfs.inode import oserror

        raise oserror(errno.EBADF)
    return ff


class FuseSuperBlock(SuperBlock):
    """``struct super_block`` of a FUSE mount with ``fuse_super_operations`` and
    ``fuse_dentry_operations``."""

    fs_name = "fuse"
    #: ``s_stack_depth``: mainline passthrough sets it to the daemon's max_stack_depth
    s_stack_depth = 0
    magic = uapi.FUSE_SUPER_MAGIC
    blocksize_bits = 12  # fuse_sb_defaults / fuse_fill_super_common: PAGE_SIZE blocks

    def __init__(self, kernel: Any, dev: int, fm: FuseMount) -> None:
        super().__init__(kernel, dev)
        self.fm = fm
        self.icache: dict[int, FuseInode] = {}

    # -- clock helpers --------------------------------------------------------------
    def now_jiffies(self) -> int:
        return int(self.kernel.clock.now_ns()) // JIFFY_NS

    def time_to_expiry(self, sec: int, nsec: int) -> int:
        """``fuse_time_to_jiffies``: 0 for a zero timeout, else now + timeout, rounded up
        to whole jiffies (``timespec64_to_jiffies``); returned in ns."""
        if not sec and not nsec:
            return 0
        ns = sec * 1_000_000_000 + min(nsec, 999_999_999)
        jiffies = self.now_jiffies() + -(-ns // JIFFY_NS)
        return jiffies * JIFFY_NS

    def expired(self, time_ns: int) -> bool:
        """``time_before64(time, get_jiffies_64())``."""
        return time_ns // JIFFY_NS < self.now_jiffies()

    # -- dentry_operations ----------------------------------------------------------
    def d_revalidate(self, dentry: Dentry, cred: Cred, flags: int) -> bool:
        from simfs.fuse.dir import fuse_dentry_revalidate

        return fuse_dentry_revalidate(self, dentry, cred, flags)

    def d_canonical_path(self, path: Path) -> Path:
        """Android ``d_op->d_canonical_path`` (``fuse_dentry_canonical_path``): the path
        inotify watches in place of ``path``."""
        from simfs.fuse.dir import fuse_dentry_canonical_path

        return fuse_dentry_canonical_path(path)

    def d_delete(self, dentry: Dentry) -> bool:
        """``dput``/``retain_dentry``: ``fuse_dentry_delete`` (entry time passed) is only
        consulted while DCACHE_OP_DELETE is set (see :func:`fuse_dentry_settime`)."""
        fd = fuse_dentry(dentry)
        return fd.op_delete and self.expired(fd.time)

    # -- super_operations -----------------------------------------------------------
    def statfs(self, dentry: Dentry, cred: Cred) -> StatFs:
        from simfs.fuse.dir import fuse_statfs

        return fuse_statfs(self, dentry, cred)

    def evict_inode(self, inode: Inode) -> None:
        """``iput_final``: fuse's ``drop_inode`` is ``generic_delete_inode`` (6.18:
        ``inode_just_drop``), so the last reference evicts at once, and
        ``fuse_evict_inode`` queues FORGET(nodeid, nlookup) while the superblock is active
        (never at unmount, never for nodeid 0).  Unused classic inodes stay alive only
        through their cached dentries (see :func:`fuse_dentry_settime`)."""
        assert isinstance(inode, FuseInode)
        if self.icache.get(inode.nodeid) is inode:
            del self.icache[inode.nodeid]
        if inode.evicted:
            return
        inode.evicted = True
        if self.active and inode.nlookup and inode.nodeid != 0:
            self.fm.queue_forget(inode.nodeid, inode.nlookup)
        inode.nlookup = 0
        inode.backing_inode = None
        inode.bpf = None

    def put_super(self) -> None:
        self.active = False

    # -- inode cache ----------------------------------------------------------------
    def iget(
        self,
        nodeid: int,
        generation: int,
        attr: uapi.FuseAttr,
        attr_valid_ns: int,
        attr_version: int,
    ) -> FuseInode:
        """``fuse_iget``: find or make the inode for ``nodeid``, bump ``nlookup``, take
        the attributes.  A cached inode of another generation or file type is stale:
        it is made bad and replaced (``fuse_stale_inode``/``fuse_make_bad``)."""
        inode = self.icache.get(nodeid)
        if inode is not None and (
            inode.generation != generation or st.S_IFMT(inode.mode) != st.S_IFMT(attr.mode)
        ):
            inode.bad = True
            del self.icache[nodeid]
            inode = None
        if inode is None:
            inode = FuseInode(self, nodeid, generation, attr)
            self.icache[nodeid] = inode
        inode.nlookup += 1
        inode.change_attributes(attr, attr_valid_ns, attr_version)
        return inode

    def iter_inodes(self) -> Iterator[FuseInode]:
        return iter(list(self.icache.values()))


class FuseInode(Inode):
    """``struct fuse_inode``: a daemon-served (or fuse-bpf backed) inode.

    Attributes are the cached ones (``Inode`` names); ``orig_mode``/``orig_ino`` are what
    ``getattr`` reports (``fi->orig_i_mode``: the sticky bit is hidden from the VFS
    without ``default_permissions``).  ``pages`` is the page cache (page index -> bytes).
    """

    sb: FuseSuperBlock
    noatime = True  # fuse_iget: S_NOATIME

    def __init__(
        self, sb: FuseSuperBlock, nodeid: int, generation: int, attr: uapi.FuseAttr
    ) -> None:
        super().__init__(sb)
        self.nodeid = nodeid
        self.generation = generation
        self.nlookup = 0
        self.attr_version = 0
        self.i_time = 0
        self.inval_mask = 0
        self.bad = False
        self.evicted = False
        self.backing_inode: Inode | None = None
        self.bpf: Any = None
        # mainline iomode.c: fi->iocachectr (>0 cached opens, <0 uncached/passthrough
        # opens) and fi->fb, the one backing file of a passthrough inode
        self.iocachectr = 0
        self.fb: Any = None
        # fuse_init_inode: the type is fixed at creation
        self.mode = st.S_IFMT(attr.mode)
        self.orig_mode = self.mode
        self.ino = attr.ino
        self.orig_ino = attr.ino
        self.uid = self.gid = 0
        self.nlink = 1
        # fuse_init_inode: i_size from the first attributes (with the writeback cache the
        # later ones never change it: fuse_get_cache_mask keeps the kernel's size)
        self.size = attr.size
        self.rdev = attr.rdev
        self.atime_ns = self.mtime_ns = self.ctime_ns = 0
        self.blksize = 1 << sb.blocksize_bits
        self.blocks = 0
        self.pages: dict[int, bytes] = {}
        self.link_cache: str | None = None
        self.state: set[str] = (
            set()
        )  # FUSE_I_ADVISE_RDPLUS, FUSE_I_INIT_RDPLUS, FUSE_I_SIZE_UNSTABLE

    def __repr__(self) -> str:
        return f"<FuseInode nodeid={self.nodeid} mode={self.mode:o} nlookup={self.nlookup}>"

    @property
    def fm(self) -> FuseMount:
        return self.sb.fm

    # -- attribute cache (inode.c) ---------------------------------------------------
    def change_attributes_common(self, attr: uapi.FuseAttr, attr_valid_ns: int) -> None:
        """``fuse_change_attributes_common``."""
        fc = self.fm.conn
        self.attr_version = self.fm.next_attr_version()
        self.i_time = attr_valid_ns
        self.inval_mask = 0
        self.ino = attr.ino
        self.mode = st.S_IFMT(self.mode) | (attr.mode & 0o7777)
        self.nlink = attr.nlink
        self.uid = attr.uid
        self.gid = attr.gid
        self.blocks = attr.blocks
        self.atime_ns = uapi.time_from_wire(attr.atime, attr.atimensec)
        self.mtime_ns = uapi.time_from_wire(attr.mtime, attr.mtimensec)
        self.ctime_ns = uapi.time_from_wire(attr.ctime, attr.ctimensec)
        self.rdev = attr.rdev
        # blksize 0 means the superblock's block size
        self.blksize = attr.blksize if attr.blksize else 1 << self.sb.blocksize_bits
        # Don't set the sticky bit in i_mode, unless we want the VFS to check permissions
        self.orig_mode = self.mode
        self.orig_ino = attr.ino
        if not fc_default_permissions(self.fm):
            self.mode &= ~st.S_ISVTX
        _ = fc

    def bad_error(self) -> OSError:
        """``fuse_is_bad`` -> ``EIO``, with a note saying why the inode is unusable."""
        return self.fm.conn.reject(
            None,
            f"nodeid {self.nodeid} was marked bad (fuse_make_bad: an earlier reply changed "
            "its file type or generation, or gave invalid attributes), so every operation "
            "on it fails until it is evicted",
        )

    def change_attributes(self, attr: uapi.FuseAttr, attr_valid_ns: int, attr_version: int) -> None:
        """``fuse_change_attributes``: ignored if a newer change raced it (attr_version);
        a size change truncates the page cache and, with ``auto_inval_data``, a changed
        mtime invalidates it."""
        fc = self.fm.conn
        if attr_version and self.attr_version > attr_version:
            return  # fuse_change_attributes: stale attributes
        if "size_unstable" in self.state:
            attr = _with_size(attr, self.size)
        old_size = self.size
        old_mtime = self.mtime_ns
        self.change_attributes_common(attr, attr_valid_ns)
        is_wb = fc.writeback_cache and st.S_ISREG(self.mode)
        if not is_wb or not st.S_ISREG(self.mode):
            self.size = attr.size
        if st.S_ISREG(self.mode):
            inval = False
            if old_size != attr.size:
                self.truncate_pagecache(attr.size)
                if not fc.explicit_inval_data:
                    inval = True
            elif fc.auto_inval_data and old_mtime != self.mtime_ns:
                inval = True  # auto inval mode also checks mtime
            if inval:
                self.invalidate_pages()
        elif st.S_ISLNK(self.mode) and (old_size != attr.size or old_mtime != self.mtime_ns):
            self.link_cache = None

    def invalidate_attr(self) -> None:
        """``fuse_invalidate_attr``: every basic attribute is stale."""
        self.inval_mask |= STATX_BASIC_STATS

    def invalidate_attr_mask(self, mask: int) -> None:
        """``fuse_invalidate_attr_mask``."""
        self.inval_mask |= mask

    def invalidate_atime(self) -> None:
        """``fuse_invalidate_atime``."""
        self.inval_mask |= STATX_ATIME

    def attrs_stale(self, mask: int = STATX_BASIC_STATS) -> bool:
        """``request_mask & inval_mask`` or the attribute timeout has passed."""
        return bool(mask & self.inval_mask) or self.sb.expired(self.i_time)

    # -- page cache -------------------------------------------------------------------
    def invalidate_pages(self) -> None:
        """``invalidate_inode_pages2``."""
        self.pages.clear()
        self.link_cache = None

    def truncate_pagecache(self, size: int) -> None:
        """``truncate_pagecache``: drop pages past ``size``, trim the one it cuts."""
        ps = uapi.PAGE_SIZE
        for idx in list(self.pages):
            start = idx * ps
            if start >= size:
                del self.pages[idx]
            elif start + len(self.pages[idx]) > size:
                self.pages[idx] = self.pages[idx][: size - start]

    def truncate_pagecache_range(self, start: int, end: int) -> None:
        """``truncate_inode_pages_range`` (``end`` inclusive; whole pages touched go)."""
        ps = uapi.PAGE_SIZE
        for idx in list(self.pages):
            if idx * ps <= end and (idx + 1) * ps > start:
                del self.pages[idx]

    # -- tracing ----------------------------------------------------------------------
    @contextmanager
    def op(self, opcode: str, nodeid: int | None = None) -> Iterator[Event]:
        """A ``fuse_op`` trace span for one classic operation."""
        with self.sb.kernel.hooks.span(
            "fuse_op",
            opcode=opcode,
            nodeid=self.nodeid if nodeid is None else nodeid,
            route="classic",
        ) as ev:
            yield ev

    # -- inode_operations (dir.c) -------------------------------------------------------
    def lookup(self, dentry: Dentry, cred: Cred, flags: int) -> Inode | None:
        return _dir.fuse_lookup(self, dentry, cred, flags)

    def create(self, dentry: Dentry, mode: int, cred: Cred, excl: bool) -> Inode:
        return _dir.fuse_create(self, dentry, mode, cred, excl)

    def atomic_open(
        self, dentry: Dentry, file: File, open_flags: int, mode: int, cred: Cred
    ) -> Inode | None:
        return _dir.fuse_atomic_open(self, dentry, file, open_flags, mode, cred)

    def mkdir(self, dentry: Dentry, mode: int, cred: Cred) -> Inode:
        return _dir.fuse_mkdir(self, dentry, mode, cred)

    def mknod(self, dentry: Dentry, mode: int, rdev: int, cred: Cred) -> Inode:
        return _dir.fuse_mknod(self, dentry, mode, rdev, cred)

    def symlink(self, dentry: Dentry, target: str, cred: Cred) -> Inode:
        return _dir.fuse_symlink(self, dentry, target, cred)

    def link(self, old_dentry: Dentry, dentry: Dentry, cred: Cred) -> Inode:
        return _dir.fuse_link(self, old_dentry, dentry, cred)

    def unlink(self, dentry: Dentry, cred: Cred) -> None:
        _dir.fuse_unlink(self, dentry, cred)

    def rmdir(self, dentry: Dentry, cred: Cred) -> None:
        _dir.fuse_rmdir(self, dentry, cred)

    def rename(
        self, old_dentry: Dentry, new_dir: Inode, new_dentry: Dentry, flags: int, cred: Cred
    ) -> None:
        _dir.fuse_rename2(self, old_dentry, new_dir, new_dentry, flags, cred)

    def get_link(self, dentry: Dentry, cred: Cred) -> str:
        return _dir.fuse_get_link(self, dentry, cred)

    def permission(self, mask: int, cred: Cred) -> None:
        _dir.fuse_permission(self, mask, cred)

    def getattr(self, path: Path, cred: Cred, flags: int) -> Kstat:
        return _dir.fuse_getattr(self, path, cred, flags)

    def setattr(self, dentry: Dentry, attr: Iattr, cred: Cred) -> None:
        _dir.fuse_setattr(self, dentry, attr, cred)

    def fillattr(self) -> Kstat:
        """``generic_fillattr`` + ``stat->mode = fi->orig_i_mode; stat->ino = fi->orig_ino``."""
        ks = super().fillattr()
        ks.mode = self.orig_mode
        ks.ino = self.orig_ino
        return ks

    # -- xattr handlers (xattr.c) -------------------------------------------------------
    def getxattr(self, dentry: Dentry, name: str, size: int, cred: Cred) -> bytes:
        return _xattr.fuse_xattr_get(self, dentry, name, size, cred)

    def setxattr(self, dentry: Dentry, name: str, value: bytes, flags: int, cred: Cred) -> None:
        _xattr.fuse_xattr_set(self, dentry, name, value, flags, cred)

    def listxattr(self, dentry: Dentry, size: int, cred: Cred) -> list[str]:
        return _xattr.fuse_listxattr(self, dentry, size, cred)

    def removexattr(self, dentry: Dentry, name: str, cred: Cred) -> None:
        _xattr.fuse_removexattr(self, dentry, name, cred)

    # -- file_operations (file.c, readdir.c) ----------------------------------------------
    # fuse_init_inode -> init_special_inode: a FIFO gets pipefifo_fops, so its open,
    # read, write, release and llseek are the pipe's (the VFS runs fifo_open and
    # pipe_release); no FUSE request is sent for them
    def open(self, file: File, cred: Cred) -> None:
        if st.S_ISFIFO(self.mode):
            return
        _file.fuse_open(self, file, cred)

    def release(self, file: File) -> None:
        if st.S_ISFIFO(self.mode):
            return
        _file.fuse_release(self, file)

    def flush(self, file: File) -> None:
        if st.S_ISFIFO(self.mode):
            return
        _file.fuse_flush(self, file)

    def read(self, file: File, offset: int, size: int) -> bytes:
        if st.S_ISFIFO(self.mode):
            from simfs.vfs.pipe import fifo_read

            return fifo_read(self, file, size)
        return _file.fuse_read(self, file, offset, size)

    def write(self, file: File, offset: int, data: bytes) -> int:
        if st.S_ISFIFO(self.mode):
            from simfs.vfs.pipe import fifo_write

            return fifo_write(self, file, data) if data else 0
        return _file.fuse_write(self, file, offset, data)

    def llseek(self, file: File, offset: int, whence: int) -> int:
        if st.S_ISFIFO(self.mode):
            raise oserror(errno.ESPIPE)  # pipefifo_fops: no_llseek
        return _file.fuse_file_llseek(self, file, offset, whence)

    def fsync(self, file: File, datasync: bool) -> None:
        _file.fuse_fsync(self, file, datasync)

    def fallocate(self, file: File, mode: int, offset: int, length: int) -> None:
        _file.fuse_file_fallocate(self, file, mode, offset, length)

    def copy_file_range(
        self, file_in: File, off_in: int, file_out: File, off_out: int, length: int, flags: int
    ) -> int:
        return _file.fuse_copy_file_range(self, file_in, off_in, file_out, off_out, length, flags)

    def iterate(self, file: File, pos: int, cred: Cred) -> list[DirEntry]:
        return _readdir.fuse_readdir(self, file, pos, cred)

    def iterate_shared(self, file: File, ctx: DirContext, cred: Cred) -> None:
        """One ``fuse_readdir`` call (one ``getdents64``) filling ``ctx``."""
        _readdir.fuse_readdir_once(self, file, ctx, cred)

    #: ``fuse_fileattr_get/set`` exist (FS_IOC_GETFLAGS/SETFLAGS become FUSE_IOCTL)
    has_fileattr = True

    def fileattr_get(self, file: File) -> int:
        from simfs.fuse.ioctl import FS_IOC_GETFLAGS, fuse_priv_ioctl

        return fuse_priv_ioctl(self, file, FS_IOC_GETFLAGS, 0)

    def fileattr_set(self, file: File, flags: int) -> None:
        from simfs.fuse.ioctl import FS_IOC_SETFLAGS, fuse_priv_ioctl

        fuse_priv_ioctl(self, file, FS_IOC_SETFLAGS, flags)

    def unlocked_ioctl(self, file: File, request: int, buf: bytes | None) -> Any:
        """``fuse_file_ioctl``/``fuse_dir_ioctl``: FUSE_IOCTL (issue 17)."""
        from simfs.fuse.ioctl import fuse_ioctl_common

        return fuse_ioctl_common(self, file, request, buf)

    def atomic_tmpfile(
        self, dentry: Dentry, file: File, flags: int, mode: int, cred: Cred
    ) -> Inode | None:
        """``fuse_tmpfile`` (issue 17): TMPFILE creates and opens in one request."""
        return _dir.fuse_tmpfile(self, dentry, file, flags, mode, cred)

    def lock(self, file: File, cmd: int, request: PosixLock) -> PosixLock | None:
        """``fuse_file_lock`` (issue 17)."""
        return _file.fuse_file_lock(self, file, cmd, request)

    def mmap_target(self, file: File) -> tuple[Inode, File]:
        """``fuse_file_mmap``: a mainline passthrough file maps its backing file."""
        target = _passthrough.fuse_passthrough_mmap(self, file)
        return target if target is not None else super().mmap_target(file)

    def lock_target(self, file: File) -> tuple[Inode, File]:
        ff = file.private
        if isinstance(ff, FuseFile) and ff.backing_file is not None:
            return ff.backing_file.inode, ff.backing_file
        return self, file


def fc_default_permissions(fm: FuseMount) -> bool:
    """``fc->default_permissions`` (the mount option, or implied by POSIX ACLs)."""
    return bool(fm.default_permissions or fm.conn.default_permissions)


def _with_size(attr: uapi.FuseAttr, size: int) -> uapi.FuseAttr:
    import dataclasses

    return dataclasses.replace(attr, size=size)


def attr_from_root(mode: int) -> uapi.FuseAttr:
    """``fuse_get_root_inode``: only mode, ino and nlink are set."""
    return uapi.FuseAttr(mode=mode, ino=uapi.FUSE_ROOT_ID, nlink=1)


# The operations (imported last: they use the classes above).
from simfs.fuse import dir as _dir  # noqa: E402
from simfs.fuse import file as _file  # noqa: E402
from simfs.fuse import passthrough as _passthrough  # noqa: E402
from simfs.fuse import readdir as _readdir  # noqa: E402
from simfs.fuse import xattr as _xattr  # noqa: E402
