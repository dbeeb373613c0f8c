"""The lower (root) filesystem: a tmpfs-like driver whose inodes live in pyfakefs objects.

pyfakefs is used only as a store of inodes, directory entries, contents and xattrs
(its object layer: ``FakeFile``/``FakeDirectory``), never through ``FakeOsModule``: every
rule (path walk, permissions, errno, timestamps, link counts) is the VFS's or this
driver's, as in Linux, where ``mm/shmem.c`` (tmpfs) owns storage, link counts and
timestamps and ``fs/namei.c`` owns everything generic.

``LowerStore`` is the pyfakefs ``FakeFilesystem`` users see as ``Kernel.lower`` for
fixtures.  Objects created there directly are taken as they are, except that wall-clock
timestamps are replaced by the simulated clock the first time the kernel sees them, so
runs stay deterministic.  Fixture modes are those a shell with the usual umask 022 gives
(``create_file`` 0644, ``create_dir`` 0755): pyfakefs applies its umask to a requested mode
as ``open(2)``/``mkdir(2)`` do, and its own default umask is the host process's (022 on
most machines); the store pins 022 so runs do not depend on the host.  Pass
``apply_umask=False`` for an exact mode (``create_dir(p, perm_bits=0o1777,
apply_umask=False)``).  Simulated processes have their own umask (``Kernel.spawn``).
"""

from __future__ import annotations

import errno
import stat as st
import weakref
from typing import TYPE_CHECKING, Any, cast

from pyfakefs import helpers as pf_helpers
from pyfakefs.fake_file import FakeDirectory, FakeFile
from pyfakefs.fake_filesystem import FakeFilesystem, OSType

from simfs.vfs.cred import CAP_SYS_ADMIN, Cred
from simfs.vfs.file import SEEK_DATA, SEEK_HOLE, File, generic_file_llseek
from simfs.vfs.inode import (
    ATTR_ATIME,
    ATTR_CTIME,
    ATTR_GID,
    ATTR_KILL_PRIV,
    ATTR_MODE,
    ATTR_MTIME,
    ATTR_SIZE,
    ATTR_UID,
    Dentry,
    DirEntry,
    Iattr,
    Inode,
    StatFs,
    SuperBlock,
    dtype_of,
    oserror,
)
from simfs.vfs.permission import setattr_prepare

if TYPE_CHECKING:
    from simfs.vfs.mount import Path

__all__ = ["TMPFS_MAGIC", "LowerInode", "LowerStore", "LowerSuperBlock"]

TMPFS_MAGIC = 0x01021994
PAGE_SIZE = 4096
BOGO_DIRENT_SIZE = 20  # shmem: directory i_size grows by this per entry
XATTR_CREATE = 1
XATTR_REPLACE = 2
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
NAME_MAX = 255

_SUPPORTED_XATTR_PREFIXES = ("user.", "trusted.", "security.")


class _DirSnapshot:
    """The entries of a directory as one open file last listed them."""

    __slots__ = ("entries", "key")

    def __init__(self, key: tuple[int, int, int], entries: list[DirEntry]) -> None:
        self.key = key
        self.entries = entries


class LowerStore(FakeFilesystem):
    """pyfakefs configured as a Linux store, with its process-global state pinned.

    Use its object API (``create_file``, ``create_dir``, ``create_symlink``...) for
    fixtures; simulated processes see the result through the VFS.
    """

    def __init__(self, total_size: int | None = None) -> None:
        # pyfakefs keeps uid/gid process-global; pin them so its own permission checks in
        # add_entry/remove_entry never interfere (the VFS does the real checks).
        pf_helpers.set_uid(0)
        pf_helpers.set_gid(0)
        super().__init__(path_separator="/", total_size=total_size)
        self.os = OSType.LINUX  # must come before populating: the setter resets the tree
        self.shuffle_listdir_results = False
        # the usual login umask, as pyfakefs would take it from the host (see the module
        # docstring); only fixtures made through this object see it
        self.umask = 0o022
        if total_size is not None:
            self.set_disk_usage(total_size)


def _contents(obj: FakeFile) -> bytes:
    data = obj.byte_contents
    return data if data is not None else b""


class LowerSuperBlock(SuperBlock):
    """The tmpfs-like superblock over a :class:`LowerStore`."""

    fs_name = "tmpfs"
    magic = TMPFS_MAGIC

    def __init__(self, kernel: Any, dev: int, store: LowerStore) -> None:
        super().__init__(kernel, dev)
        self.store = store
        self.icache: dict[int, LowerInode] = {}

    def now(self) -> int:
        return int(self.kernel.clock.now_ns())

    def iget(self, obj: FakeFile) -> LowerInode:
        """``iget_locked``: one in-core inode per stored object (hard links share it)."""
        inode = self.icache.get(id(obj))
        if inode is None or inode.obj is not obj:
            inode = LowerInode(self, obj)
            self.icache[id(obj)] = inode
        return inode

    def d_revalidate(self, dentry: Dentry, cred: Cred, flags: int) -> bool:
        """The store is the authority: a cached name is valid while it still maps to the
        same object (fixtures may change the store behind the kernel's back)."""
        parent = dentry.parent
        if parent is None or parent.inode is None:
            return True
        pobj = cast(LowerInode, parent.inode).obj
        if not isinstance(pobj, FakeDirectory):
            return False
        cur = pobj.entries.get(dentry.name)
        if dentry.inode is None:
            return cur is None
        return cur is cast(LowerInode, dentry.inode).obj

    def statfs(self, dentry: Dentry, cred: Cred) -> StatFs:
        """``shmem_statfs``."""
        total, _used, free = self.store.get_disk_usage()
        blocks = max(total // PAGE_SIZE, 1)
        bfree = max(free // PAGE_SIZE, 0)
        return StatFs(
            f_type=TMPFS_MAGIC,
            f_bsize=PAGE_SIZE,
            f_blocks=blocks,
            f_bfree=bfree,
            f_bavail=bfree,
            f_files=1 << 20,
            f_ffree=(1 << 20) - len(self.icache),
            f_namelen=NAME_MAX,
            f_frsize=PAGE_SIZE,
        )

    def evict_inode(self, inode: Inode) -> None:
        li = cast(LowerInode, inode)
        if li.nlink == 0:
            self.icache.pop(id(li.obj), None)


class LowerInode(Inode):
    """An inode whose attributes and data are a pyfakefs object's."""

    sb: LowerSuperBlock

    def __init__(self, sb: LowerSuperBlock, obj: FakeFile) -> None:
        super().__init__(sb)
        self.obj = obj
        if not getattr(obj, "_simfs_seen", False):
            # first sight of a fixture object: replace wall-clock stamps by the virtual clock
            now = sb.now()
            obj.st_atime_ns = obj.st_mtime_ns = obj.st_ctime_ns = now
            obj._simfs_seen = True
        self.blksize = PAGE_SIZE

    # attributes live in the store ------------------------------------------------
    # (read from pyfakefs's ``stat_result`` directly: ``FakeFile.__getattr__`` forwards
    # ``st_*`` there anyway, and skipping it matters on every path walk — issue 14)
    @property
    def ino(self) -> int:
        return int(self.obj.stat_result.st_ino or 0)

    @ino.setter
    def ino(self, v: int) -> None:
        self.obj.st_ino = v

    @property
    def mode(self) -> int:
        return int(self.obj.stat_result.st_mode)

    @mode.setter
    def mode(self, v: int) -> None:
        self.obj.st_mode = v

    @property
    def uid(self) -> int:
        return int(self.obj.stat_result.st_uid)

    @uid.setter
    def uid(self, v: int) -> None:
        self.obj.st_uid = v

    @property
    def gid(self) -> int:
        return int(self.obj.stat_result.st_gid)

    @gid.setter
    def gid(self, v: int) -> None:
        self.obj.st_gid = v

    @property
    def nlink(self) -> int:
        obj = self.obj
        if isinstance(obj, FakeDirectory):
            if obj.__dict__.get("_simfs_dead", False):  # no FakeFile.__getattr__ miss
                return 0
            # pyfakefs counts every entry; Linux: 2 + subdirectories
            return 2 + sum(1 for e in obj.entries.values() if isinstance(e, FakeDirectory))
        return int(obj.stat_result.st_nlink)

    @nlink.setter
    def nlink(self, v: int) -> None:
        raise AttributeError("the lower filesystem derives link counts from its entries")

    @property
    def size(self) -> int:
        obj = self.obj
        if isinstance(obj, FakeDirectory):
            return BOGO_DIRENT_SIZE * (2 + len(obj.entries))
        if st.S_ISLNK(obj.stat_result.st_mode):
            return len(_contents(obj))
        return int(obj.stat_result.st_size or 0)

    @size.setter
    def size(self, v: int) -> None:
        self._truncate(v)

    @property
    def rdev(self) -> int:
        return int(self.obj.__dict__.get("_simfs_rdev", 0))  # no FakeFile.__getattr__ miss

    @rdev.setter
    def rdev(self, v: int) -> None:
        self.obj._simfs_rdev = v

    @property
    def atime_ns(self) -> int:
        return int(self.obj.stat_result.st_atime_ns)

    @atime_ns.setter
    def atime_ns(self, v: int) -> None:
        self.obj.st_atime_ns = v

    @property
    def mtime_ns(self) -> int:
        return int(self.obj.stat_result.st_mtime_ns)

    @mtime_ns.setter
    def mtime_ns(self, v: int) -> None:
        self.obj.st_mtime_ns = v

    @property
    def ctime_ns(self) -> int:
        return int(self.obj.stat_result.st_ctime_ns)

    @ctime_ns.setter
    def ctime_ns(self, v: int) -> None:
        self.obj.st_ctime_ns = v

    @property
    def blocks(self) -> int:
        """tmpfs charges whole pages: 8 sectors per allocated page."""
        if not st.S_ISREG(self.mode):
            return 0
        return len(self._pages()) * (PAGE_SIZE // 512)

    @blocks.setter
    def blocks(self, v: int) -> None:
        raise AttributeError("the lower filesystem derives st_blocks from allocated pages")

    # helpers -----------------------------------------------------------------------
    def _dir(self) -> FakeDirectory:
        if not isinstance(self.obj, FakeDirectory):
            raise oserror(errno.ENOTDIR)
        return self.obj

    def _pages(self) -> set[int]:
        """Allocated pages (for SEEK_DATA/SEEK_HOLE and st_blocks)."""
        pages = getattr(self.obj, "_simfs_pages", None)
        if pages is None:
            n = (self.size + PAGE_SIZE - 1) // PAGE_SIZE
            pages = set(range(n))
            self.obj._simfs_pages = pages
        return cast(set[int], pages)

    def touch_dir(self) -> None:
        """Directory contents changed: mtime and ctime (``inode_set_mtime_to_ts``...)."""
        now = self.sb.now()
        self.mtime_ns = now
        self.ctime_ns = now

    def touch_ctime(self) -> None:
        self.ctime_ns = self.sb.now()

    def _new_object(
        self, dentry: Dentry, mode: int, cred: Cred, contents: bytes | None
    ) -> LowerInode:
        """``shmem_get_inode`` + ``inode_init_owner`` + ``d_instantiate``."""
        d = self._dir()
        name = dentry.name
        if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise oserror(errno.ENAMETOOLONG)
        uid = cred.fsuid
        if self.mode & st.S_ISGID:
            gid = self.gid
            if st.S_ISDIR(mode):
                mode |= st.S_ISGID  # directories always inherit S_ISGID
        else:
            gid = cred.fsgid
        obj: FakeFile
        if st.S_ISDIR(mode):
            obj = FakeDirectory(name, perm_bits=mode & 0o7777, filesystem=self.sb.store)
            obj.st_mode = mode
        else:
            obj = FakeFile(
                cast(Any, name),
                st_mode=mode,
                contents=cast(Any, contents),
                filesystem=self.sb.store,
            )
            obj._simfs_pages = set()
        obj.st_uid = uid
        obj.st_gid = gid
        now = self.sb.now()
        obj.st_atime_ns = obj.st_mtime_ns = obj.st_ctime_ns = now
        obj._simfs_seen = True
        d.add_entry(obj)
        if st.S_ISDIR(mode):
            obj.st_nlink = 2
        self.touch_dir()
        inode = self.sb.iget(obj)
        dentry.instantiate(inode)
        return inode

    # inode_operations --------------------------------------------------------------
    def lookup(self, dentry: Dentry, cred: Cred, flags: int) -> Inode | None:
        """``simple_lookup``: names longer than NAME_MAX -> ENAMETOOLONG."""
        name = dentry.name
        if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise oserror(errno.ENAMETOOLONG)
        obj = self._dir().entries.get(name)
        if obj is None:
            return None
        return self.sb.iget(obj)

    def create(self, dentry: Dentry, mode: int, cred: Cred, excl: bool) -> Inode:
        return self._new_object(dentry, mode, cred, b"")

    def mkdir(self, dentry: Dentry, mode: int, cred: Cred) -> Inode:
        return self._new_object(dentry, mode | st.S_IFDIR, cred, None)

    def mknod(self, dentry: Dentry, mode: int, rdev: int, cred: Cred) -> Inode:
        inode = self._new_object(dentry, mode, cred, b"")
        if st.S_ISCHR(mode) or st.S_ISBLK(mode):
            inode.obj._simfs_rdev = rdev
        return inode

    def symlink(self, dentry: Dentry, target: str, cred: Cred) -> Inode:
        data = target.encode("utf-8", "surrogateescape")
        inode = self._new_object(dentry, st.S_IFLNK | 0o777, cred, data)
        return inode

    def link(self, old_dentry: Dentry, dentry: Dentry, cred: Cred) -> Inode:
        """``shmem_link``: same object under a second name; ctime of the inode moves."""
        inode = cast(LowerInode, old_dentry.inode)
        d = self._dir()
        if len(dentry.name.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise oserror(errno.ENAMETOOLONG)
        saved = inode.obj.name
        inode.obj.name = cast(Any, dentry.name)
        try:
            d.add_entry(inode.obj)
        finally:
            inode.obj.name = saved
        d.entries[dentry.name] = d.entries.pop(dentry.name)  # newest last
        inode.touch_ctime()
        self.touch_dir()
        dentry.instantiate(inode)
        return inode

    def _remove(self, name: str) -> FakeFile:
        d = self._dir()
        obj = d.entries[name]
        d.remove_entry(name, recursive=False)
        return obj

    def unlink(self, dentry: Dentry, cred: Cred) -> None:
        """``shmem_unlink``: drop the name; ctime of the inode and the directory move."""
        inode = cast(LowerInode, dentry.inode)
        self._remove(dentry.name)
        inode.touch_ctime()
        self.touch_dir()

    def rmdir(self, dentry: Dentry, cred: Cred) -> None:
        """``shmem_rmdir``: only empty directories (``simple_empty``)."""
        inode = cast(LowerInode, dentry.inode)
        if cast(FakeDirectory, inode.obj).entries:
            raise oserror(errno.ENOTEMPTY)
        self._remove(dentry.name)
        inode.obj._simfs_dead = True
        inode.touch_ctime()
        self.touch_dir()

    def rename(
        self, old_dentry: Dentry, new_dir: Inode, new_dentry: Dentry, flags: int, cred: Cred
    ) -> None:
        """``shmem_rename2``: replace/exchange; timestamps as ``simple_rename_timestamp``."""
        from simfs.vfs.ops import RENAME_EXCHANGE, RENAME_WHITEOUT

        if flags & RENAME_WHITEOUT:
            raise oserror(errno.EINVAL)  # no whiteout support modelled
        ndir = cast(LowerInode, new_dir)
        src = cast(LowerInode, old_dentry.inode)
        tgt = cast("LowerInode | None", new_dentry.inode)
        od, nd = self._dir(), ndir._dir()
        if flags & RENAME_EXCHANGE:
            assert tgt is not None
            a, b = src.obj, tgt.obj
            del od.entries[old_dentry.name]
            del nd.entries[new_dentry.name]
            a.name, b.name = cast(Any, new_dentry.name), cast(Any, old_dentry.name)
            nd.entries[new_dentry.name] = a
            od.entries[old_dentry.name] = b
            a.parent_dir = weakref.ref(nd)
            b.parent_dir = weakref.ref(od)
            tgt.touch_ctime()
        else:
            if tgt is not None:
                if tgt.is_dir and cast(FakeDirectory, tgt.obj).entries:
                    raise oserror(errno.ENOTEMPTY)  # simple_empty on the target
                nd.remove_entry(new_dentry.name, recursive=False)
                if tgt.is_dir:
                    tgt.obj._simfs_dead = True
                tgt.touch_ctime()
            obj = od.entries.pop(old_dentry.name)
            obj.name = cast(Any, new_dentry.name)
            nd.entries[new_dentry.name] = obj
            obj.parent_dir = weakref.ref(nd)
        src.touch_ctime()
        self.touch_dir()
        if ndir is not self:
            ndir.touch_dir()

    def get_link(self, dentry: Dentry, cred: Cred) -> str:
        if not st.S_ISLNK(self.mode):
            raise oserror(errno.EINVAL)
        return _contents(self.obj).decode("utf-8", "surrogateescape")

    def setattr(self, dentry: Dentry, attr: Iattr, cred: Cred) -> None:
        """``shmem_setattr``: ``setattr_prepare``, size change, then ``setattr_copy``."""
        setattr_prepare(self, attr, cred)
        if attr.valid & ATTR_KILL_PRIV:
            # setattr_prepare -> security_inode_killpriv (cap_inode_killpriv)
            self.obj.xattr.pop("security.capability", None)
        # shmem_setattr: a size request on a regular file moves mtime and ctime even when
        # the size stays the same (measured on 6.18 tmpfs: truncate(f, len(f)) does)
        if attr.valid & ATTR_SIZE and st.S_ISREG(self.mode) and attr.size != self.size:
            self._truncate(attr.size)
        # setattr_copy
        if attr.valid & ATTR_UID:
            self.uid = attr.uid
        if attr.valid & ATTR_GID:
            self.gid = attr.gid
        if attr.valid & ATTR_ATIME:
            self.atime_ns = attr.atime_ns
        if attr.valid & ATTR_MTIME:
            self.mtime_ns = attr.mtime_ns
        if attr.valid & ATTR_CTIME:
            self.ctime_ns = attr.ctime_ns
        if attr.valid & ATTR_MODE:
            self.mode = st.S_IFMT(self.mode) | (attr.mode & 0o7777)
        if attr.valid & ATTR_SIZE and st.S_ISREG(self.mode):
            now = self.sb.now()
            self.ctime_ns = now
            self.mtime_ns = now

    def _truncate(self, size: int) -> None:
        data = _contents(self.obj)
        if size < len(data):
            data = data[:size]
        else:
            data = data + b"\0" * (size - len(data))
        self.obj.set_initial_contents(data)
        pages = self._pages()
        last = (size + PAGE_SIZE - 1) // PAGE_SIZE
        for p in [p for p in pages if p >= last]:
            pages.discard(p)

    # xattrs (shmem_xattr_handler_*, simple_xattr_*) ----------------------------------
    def _check_xattr_ns(self, name: str) -> None:
        if not name.startswith(_SUPPORTED_XATTR_PREFIXES):
            raise oserror(errno.EOPNOTSUPP)  # xattr_resolve_name: no handler
        if name in _SUPPORTED_XATTR_PREFIXES:
            raise oserror(errno.EINVAL)  # xattr_resolve_name: prefix with an empty name

    def getxattr(self, dentry: Dentry, name: str, size: int, cred: Cred) -> bytes:
        self._check_xattr_ns(name)
        xattrs: dict[str, bytes] = self.obj.xattr
        if name not in xattrs:
            raise oserror(errno.ENODATA)
        value = xattrs[name]
        if size and len(value) > size:
            raise oserror(errno.ERANGE)
        return value

    def setxattr(self, dentry: Dentry, name: str, value: bytes, flags: int, cred: Cred) -> None:
        self._check_xattr_ns(name)
        xattrs: dict[str, bytes] = self.obj.xattr
        exists = name in xattrs
        if flags & XATTR_CREATE and exists:
            raise oserror(errno.EEXIST)
        if flags & XATTR_REPLACE and not exists:
            raise oserror(errno.ENODATA)
        xattrs[name] = bytes(value)
        self.touch_ctime()

    def listxattr(self, dentry: Dentry, size: int, cred: Cred) -> list[str]:
        """``simple_xattr_list``: trusted.* only for CAP_SYS_ADMIN."""
        names = [
            n
            for n in self.obj.xattr
            if not (n.startswith("trusted.") and not cred.capable(CAP_SYS_ADMIN))
        ]
        return names

    def removexattr(self, dentry: Dentry, name: str, cred: Cred) -> None:
        self._check_xattr_ns(name)
        xattrs: dict[str, bytes] = self.obj.xattr
        if name not in xattrs:
            raise oserror(errno.ENODATA)
        del xattrs[name]
        self.touch_ctime()

    # file_operations ---------------------------------------------------------------
    def read(self, file: File, offset: int, size: int) -> bytes:
        if st.S_ISDIR(self.mode):
            raise oserror(errno.EISDIR)  # generic_read_dir
        if st.S_ISFIFO(self.mode):
            from simfs.vfs.pipe import fifo_read

            return fifo_read(self, file, size)  # pipefifo_fops: a pipe, not file contents
        data = _contents(self.obj)
        return data[offset : offset + size]

    def write(self, file: File, offset: int, data: bytes) -> int:
        """``shmem_file_write_iter``: place data, extend, mark pages, update times."""
        if not data:
            return 0
        if st.S_ISFIFO(self.mode):
            from simfs.vfs.pipe import fifo_write

            return fifo_write(self, file, data)
        from simfs.vfs.ops import file_remove_privs

        file_remove_privs(self.sb.kernel, file, self.sb.kernel.current_cred())
        cur = _contents(self.obj)
        if offset > len(cur):
            cur = cur + b"\0" * (offset - len(cur))
        new = cur[:offset] + data + cur[offset + len(data) :]
        pages = self._pages()
        self.obj.set_initial_contents(new)
        for p in range(offset // PAGE_SIZE, (offset + len(data) - 1) // PAGE_SIZE + 1):
            pages.add(p)
        now = self.sb.now()
        self.mtime_ns = now
        self.ctime_ns = now
        return len(data)

    def llseek(self, file: File, offset: int, whence: int) -> int:
        """``shmem_file_llseek``: SEEK_DATA/SEEK_HOLE at page granularity.  Directories:
        ``dcache_dir_lseek`` (SEEK_SET/SEEK_CUR only); FIFOs: ``no_llseek``."""
        if st.S_ISFIFO(self.mode):
            raise oserror(errno.ESPIPE)
        if st.S_ISDIR(self.mode):
            if whence not in (0, 1):
                raise oserror(errno.EINVAL)
            new_pos = offset + (file.pos if whence == 1 else 0)
            if new_pos < 0:
                raise oserror(errno.EINVAL)
            file.pos = new_pos
            return new_pos
        if whence not in (SEEK_DATA, SEEK_HOLE):
            return generic_file_llseek(file, offset, whence, self.size)
        size = self.size
        if offset < 0 or offset >= size:
            raise oserror(errno.ENXIO)
        pages = self._pages()
        page = offset // PAGE_SIZE
        last = (size + PAGE_SIZE - 1) // PAGE_SIZE
        if whence == SEEK_DATA:
            while page < last and page not in pages:
                page += 1
            if page >= last:
                raise oserror(errno.ENXIO)
            new = max(offset, page * PAGE_SIZE)
        else:
            while page < last and page in pages:
                page += 1
            new = min(max(offset, page * PAGE_SIZE), size)
        file.pos = new
        return new

    def fsync(self, file: File, datasync: bool) -> None:
        return None  # noop_fsync

    def fallocate(self, file: File, mode: int, offset: int, length: int) -> None:
        """``shmem_fallocate``: allocate (optionally keeping size) or punch holes."""
        if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE):
            raise oserror(errno.EOPNOTSUPP)
        pages = self._pages()
        first, end = offset // PAGE_SIZE, (offset + length + PAGE_SIZE - 1) // PAGE_SIZE
        if mode & FALLOC_FL_PUNCH_HOLE:
            data = bytearray(_contents(self.obj))
            lo, hi = offset, min(offset + length, len(data))
            if hi > lo:
                data[lo:hi] = b"\0" * (hi - lo)
                self.obj.set_initial_contents(bytes(data))
            for p in range((offset + PAGE_SIZE - 1) // PAGE_SIZE, (offset + length) // PAGE_SIZE):
                pages.discard(p)
        else:
            if not (mode & FALLOC_FL_KEEP_SIZE) and offset + length > self.size:
                self._truncate(offset + length)
            pages.update(range(first, end))
        # shmem_fallocate -> file_modified: mtime and ctime, whatever the mode
        now = self.sb.now()
        self.ctime_ns = now
        self.mtime_ns = now

    def iterate(self, file: File, pos: int, cred: Cred) -> list[DirEntry]:
        """``dcache_readdir``-like: ``.``, ``..``, then entries newest first (as measured
        on tmpfs here).  Offsets are list positions: ``.`` ends at 1, ``..`` at 2."""
        d = self._dir()
        # one snapshot per open directory, refreshed at position 0 or when the directory
        # changed (dcache_readdir keeps a cursor; this keeps each pass O(entries returned))
        key = (self.mtime_ns, len(d.entries), id(d))
        cached = file.private if isinstance(file.private, _DirSnapshot) else None
        if pos > 0 and cached is not None and cached.key == key:
            return cached.entries[pos:]
        parent = file.path.dentry.d_parent
        pino = parent.inode.ino if parent.inode is not None else self.ino
        if file.path.dentry is file.path.mnt.root and file.path.mnt.parent is not None:
            mp = file.path.mnt.mountpoint
            if mp is not None and mp.d_parent.inode is not None:
                pino = mp.d_parent.inode.ino
        entries = [
            DirEntry(".", self.ino, dtype_of(st.S_IFDIR), 1),
            DirEntry("..", pino, dtype_of(st.S_IFDIR), 2),
        ]
        for i, (name, obj) in enumerate(reversed(list(d.entries.items()))):
            entries.append(DirEntry(name, int(obj.st_ino or 0), dtype_of(obj.st_mode), 3 + i))
        file.private = _DirSnapshot(key, entries)
        return entries[pos:] if pos >= 0 else entries

    def getattr(self, path: Path, cred: Cred, flags: int) -> Any:
        return self.fillattr()
