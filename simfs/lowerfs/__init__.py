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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, cast

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

__all__ = ["TMPFS_MAGIC", "LowerFile", "LowerInode", "LowerStore", "LowerSuperBlock"]

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
        self.pages_used = 0

    def change_disk_usage(self, usage_change: int, file_path: Any, st_dev: int) -> None:
        """pyfakefs charges bytes of contents as it adds and removes entries; tmpfs charges
        pages (``shmem_inode_acct_blocks``), which :meth:`charge` counts instead."""
        return None

    def get_disk_usage(self, path: Any = None) -> Any:
        """``(total, used, free)`` in bytes, from the pages charged (``shmem_statfs``)."""
        total = int(super().get_disk_usage(path)[0])
        used = self.pages_used * PAGE_SIZE
        return DiskUsage(total, used, max(total - used, 0))

    def free_pages(self) -> int:
        total = int(super().get_disk_usage()[0])
        return max(total // PAGE_SIZE - self.pages_used, 0)

    def charge(self, pages: int) -> None:
        """``shmem_inode_acct_blocks``: take ``pages`` (ENOSPC, nothing taken, when the
        filesystem's ``size=`` would be exceeded); negative ``pages`` gives back."""
        if pages > 0 and pages > self.free_pages():
            raise oserror(errno.ENOSPC)
        self.pages_used = max(self.pages_used + pages, 0)


class DiskUsage(NamedTuple):
    """What ``shutil.disk_usage`` returns: bytes in total, used and free."""

    total: int
    used: int
    free: int


_ZERO_PAGE = bytes(PAGE_SIZE)
SHORT_SYMLINK_LEN = 128  # shmem_symlink: shorter targets live in the inode, no page


class LowerFile(FakeFile):
    """A tmpfs regular file: ``i_size`` is metadata and the data lives only in the pages
    that were written or allocated (shmem's page cache), so a hole costs no memory.

    ``pages`` maps a page index to its ``PAGE_SIZE`` bytes; a page allocated by
    ``fallocate`` and never written is the shared zero page.  ``byte_contents`` builds the
    bytes for fixtures and snapshots (holes read as zeros).
    """

    pages: dict[int, bytes]

    @classmethod
    def adopt(cls, obj: FakeFile) -> LowerFile:
        """Turn a pyfakefs regular file (a fixture) into a sparse one, charging its pages."""
        if isinstance(obj, LowerFile):
            return obj
        data = obj._byte_contents or b""
        size = int(obj.st_size or 0)
        obj.__class__ = cls
        lf = cast(LowerFile, obj)
        lf.pages = {
            i // PAGE_SIZE: data[i : i + PAGE_SIZE].ljust(PAGE_SIZE, b"\0")
            for i in range(0, len(data), PAGE_SIZE)
        }
        lf._byte_contents = b""
        lf.st_size = max(size, len(data))
        store = lf.filesystem
        if isinstance(store, LowerStore):
            store.pages_used += len(lf.pages)  # a fixture is taken as it is, even over size=
        return lf

    @property
    def store(self) -> LowerStore:
        return cast(LowerStore, self.filesystem)

    @property
    def byte_contents(self) -> bytes:
        return self.read_range(0, int(self.st_size or 0))

    def is_large_file(self) -> bool:
        return False

    @property
    def size(self) -> int:
        return int(self.st_size or 0)

    @size.setter
    def size(self, st_size: int) -> None:
        self.truncate(st_size)

    def set_initial_contents(self, contents: Any) -> bool:
        """pyfakefs' fixture API: replace the whole contents (ENOSPC leaves them as they were)."""
        data = self._encode_contents(contents) or b""
        pages = {
            i // PAGE_SIZE: data[i : i + PAGE_SIZE].ljust(PAGE_SIZE, b"\0")
            for i in range(0, len(data), PAGE_SIZE)
        }
        self.store.charge(len(pages) - len(self.pages))
        changed = data != self.byte_contents
        self.pages = pages
        self.st_size = len(data)
        self.epoch += 1
        return changed

    def read_range(self, offset: int, n: int) -> bytes:
        """Bytes ``[offset, offset + n)`` clipped at ``i_size``; holes read as zeros."""
        end = min(offset + n, int(self.st_size or 0))
        if end <= offset:
            return b""
        out = bytearray()
        pos = offset
        while pos < end:
            page, skip = divmod(pos, PAGE_SIZE)
            take = min(PAGE_SIZE - skip, end - pos)
            out += self.pages.get(page, _ZERO_PAGE)[skip : skip + take]
            pos += take
        return bytes(out)

    def write_range(self, offset: int, data: bytes) -> int:
        """``generic_perform_write``: page by page; a page that cannot be charged ends the
        write short, or with ENOSPC if nothing was written."""
        done = 0
        while done < len(data):
            pos = offset + done
            page, skip = divmod(pos, PAGE_SIZE)
            take = min(PAGE_SIZE - skip, len(data) - done)
            old = self.pages.get(page)
            if old is None:
                try:
                    self.store.charge(1)  # shmem_get_folio -> shmem_inode_acct_blocks
                except OSError:
                    if done:
                        break
                    raise
                old = _ZERO_PAGE
            self.pages[page] = old[:skip] + data[done : done + take] + old[skip + take :]
            done += take
        if offset + done > int(self.st_size or 0):
            self.st_size = offset + done
        self.epoch += 1
        return done

    def truncate(self, size: int) -> None:
        """``shmem_setattr`` size change: shrinking frees whole pages past the end and
        zeroes the tail of the last one (``shmem_truncate_range``); growing makes a hole."""
        if size < int(self.st_size or 0):
            last = (size + PAGE_SIZE - 1) // PAGE_SIZE
            gone = [p for p in self.pages if p >= last]
            for p in gone:
                del self.pages[p]
            self.store.charge(-len(gone))
            page, skip = divmod(size, PAGE_SIZE)
            if skip and page in self.pages:
                self.pages[page] = self.pages[page][:skip] + bytes(PAGE_SIZE - skip)
        self.st_size = size
        self.epoch += 1

    def allocate(self, first: int, end: int) -> None:
        """``shmem_fallocate``: allocate pages ``[first, end)``, all or nothing (ENOSPC)."""
        new = (end - first) - sum(1 for p in self.pages if first <= p < end)
        self.store.charge(new)
        for p in range(first, end):
            self.pages.setdefault(p, _ZERO_PAGE)

    def punch(self, offset: int, length: int) -> None:
        """``shmem_fallocate(PUNCH_HOLE)``: whole pages go, partial ones are zeroed."""
        end = offset + length
        gone = 0
        for p in [p for p in self.pages if p * PAGE_SIZE < end and (p + 1) * PAGE_SIZE > offset]:
            lo, hi = max(offset, p * PAGE_SIZE), min(end, (p + 1) * PAGE_SIZE)
            if lo == p * PAGE_SIZE and hi == (p + 1) * PAGE_SIZE:
                del self.pages[p]
                gone += 1
            else:
                old = self.pages[p]
                a, b = lo - p * PAGE_SIZE, hi - p * PAGE_SIZE
                self.pages[p] = old[:a] + bytes(b - a) + old[b:]
        self.store.charge(-gone)

    def release(self) -> None:
        """``shmem_evict_inode``: the last reference to an unlinked file frees its pages."""
        self.store.charge(-len(self.pages))
        self.pages = {}


def _charged_pages(obj: FakeFile) -> int:
    """Pages tmpfs charges for an object (a long symlink's target takes one)."""
    if isinstance(obj, LowerFile):
        return len(obj.pages)
    if st.S_ISLNK(obj.st_mode) and len(_contents(obj)) >= SHORT_SYMLINK_LEN:
        return 1
    return 0


def _contents(obj: FakeFile) -> bytes:
    data = obj.byte_contents
    return data if data is not None else b""


def _add_entry(d: FakeDirectory, name: str, obj: FakeFile) -> None:
    """``d_instantiate`` in the store: the name appears, a non-directory's link count grows
    (directories derive theirs).  Never fails, so callers check everything first."""
    store = obj.filesystem
    if obj.st_ino is None:
        store.last_ino += 1
        obj.st_ino = store.last_ino
    obj.st_dev = d.st_dev
    d.entries[name] = obj
    obj.parent_dir = weakref.ref(d)
    if not isinstance(obj, FakeDirectory):
        obj.st_nlink = int(obj.st_nlink or 0) + 1


def _remove_entry(d: FakeDirectory, name: str) -> FakeFile:
    """The name goes; a non-directory's link count drops."""
    obj = d.entries.pop(name)
    if not isinstance(obj, FakeDirectory):
        obj.st_nlink = max(int(obj.st_nlink or 0) - 1, 0)
    return obj


class LowerSuperBlock(SuperBlock):
    """The tmpfs-like superblock over a :class:`LowerStore`."""

    fs_name = "tmpfs"
    magic = TMPFS_MAGIC

    def __init__(self, kernel: Any, dev: int, store: LowerStore) -> None:
        super().__init__(kernel, dev)
        self.store = store
        self.icache: dict[int, LowerInode] = {}
        #: Fault injection for tests: called with the operation's name ("create", "link",
        #: "unlink", "rmdir", "rename", "setattr", "setxattr", "removexattr", "write",
        #: "fallocate") before it changes anything; a positive errno fails it.
        self.fault_hook: Callable[[str], int] | None = None

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
            if isinstance(li.obj, LowerFile):
                li.obj.release()  # shmem_evict_inode: the pages go back
            elif _charged_pages(li.obj):
                self.store.charge(-_charged_pages(li.obj))


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
            if st.S_ISLNK(obj.st_mode):
                sb.store.pages_used += _charged_pages(obj)
        if st.S_ISREG(obj.st_mode) and not isinstance(obj, LowerFile):
            obj = LowerFile.adopt(obj)
            self.obj = obj
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
        return _charged_pages(self.obj) * (PAGE_SIZE // 512)

    @blocks.setter
    def blocks(self, v: int) -> None:
        raise AttributeError("the lower filesystem derives st_blocks from allocated pages")

    # helpers -----------------------------------------------------------------------
    def _dir(self) -> FakeDirectory:
        if not isinstance(self.obj, FakeDirectory):
            raise oserror(errno.ENOTDIR)
        return self.obj

    def _file(self) -> LowerFile:
        if not isinstance(self.obj, LowerFile):
            raise oserror(errno.EINVAL)  # not a regular file's data
        return self.obj

    def may_fail(self, op: str) -> None:
        """The fault-injection point at the start of every mutating operation, before it
        changes anything (see :attr:`LowerSuperBlock.fault_hook`)."""
        hook = self.sb.fault_hook
        if hook is not None:
            err = hook(op)
            if err:
                raise oserror(err)

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
        self.may_fail("create")
        if name in d.entries:
            raise oserror(errno.EEXIST)
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
            if st.S_ISREG(mode):
                obj = LowerFile.adopt(obj)
        # shmem_get_inode/shmem_symlink charge before the name appears: ENOSPC leaves
        # nothing behind
        self.sb.store.charge(_charged_pages(obj))
        obj.st_uid = uid
        obj.st_gid = gid
        now = self.sb.now()
        obj.st_atime_ns = obj.st_mtime_ns = obj.st_ctime_ns = now
        obj._simfs_seen = True
        _add_entry(d, name, obj)
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

    has_fileattr = True  # shmem_fileattr_get/set

    def fileattr_get(self, file: File) -> int:
        from simfs.vfs.ioctl import shmem_fileattr_get

        return shmem_fileattr_get(self)

    def fileattr_set(self, file: File, flags: int) -> None:
        from simfs.vfs.ioctl import shmem_fileattr_set

        shmem_fileattr_set(self, flags)

    def tmpfile(self, mode: int, cred: Cred) -> Inode:
        """``shmem_tmpfile``: ``shmem_get_inode`` owned as a create would be, never added
        to the directory (link count 0, the directory's times untouched)."""
        gid = self.gid if self.mode & st.S_ISGID else cred.fsgid
        obj = FakeFile(cast(Any, "#tmpfile"), st_mode=mode, contents=cast(Any, b""),
                       filesystem=self.sb.store)
        obj._simfs_pages = set()
        obj.st_uid = cred.fsuid
        obj.st_gid = gid
        now = self.sb.now()
        obj.st_atime_ns = obj.st_mtime_ns = obj.st_ctime_ns = now
        obj._simfs_seen = True
        obj.st_nlink = 0
        # FakeDirectory.add_entry would number it; an unnamed inode needs its ino now
        self.sb.store.last_ino += 1
        obj.st_ino = self.sb.store.last_ino
        obj.st_dev = self.obj.st_dev
        return self.sb.iget(obj)

    def link(self, old_dentry: Dentry, dentry: Dentry, cred: Cred) -> Inode:
        """``shmem_link``: same object under a second name; ctime of the inode moves."""
        inode = cast(LowerInode, old_dentry.inode)
        d = self._dir()
        if len(dentry.name.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise oserror(errno.ENAMETOOLONG)
        if dentry.name in d.entries:
            raise oserror(errno.EEXIST)
        self.may_fail("link")
        _add_entry(d, dentry.name, inode.obj)  # newest last, as readdir wants
        inode.touch_ctime()
        self.touch_dir()
        dentry.instantiate(inode)
        return inode

    def _remove(self, name: str) -> FakeFile:
        return _remove_entry(self._dir(), name)

    def unlink(self, dentry: Dentry, cred: Cred) -> None:
        """``shmem_unlink``: drop the name; ctime of the inode and the directory move."""
        inode = cast(LowerInode, dentry.inode)
        self.may_fail("unlink")
        self._remove(dentry.name)
        inode.touch_ctime()
        self.touch_dir()

    def rmdir(self, dentry: Dentry, cred: Cred) -> None:
        """``shmem_rmdir``: only empty directories (``simple_empty``)."""
        inode = cast(LowerInode, dentry.inode)
        if cast(FakeDirectory, inode.obj).entries:
            raise oserror(errno.ENOTEMPTY)
        self.may_fail("rmdir")
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
        replaced_dir = tgt is not None and not flags & RENAME_EXCHANGE and tgt.is_dir
        if replaced_dir and cast(FakeDirectory, cast(LowerInode, tgt).obj).entries:
            raise oserror(errno.ENOTEMPTY)  # simple_empty on the target
        self.may_fail("rename")
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
                _remove_entry(nd, new_dentry.name)
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
        self.may_fail("setattr")
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
        self._file().truncate(size)

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
        self.may_fail("setxattr")
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
        self.may_fail("removexattr")
        del xattrs[name]
        self.touch_ctime()

    # file_operations ---------------------------------------------------------------
    def read(self, file: File, offset: int, size: int) -> bytes:
        if st.S_ISDIR(self.mode):
            raise oserror(errno.EISDIR)  # generic_read_dir
        if st.S_ISFIFO(self.mode):
            from simfs.vfs.pipe import fifo_read

            return fifo_read(self, file, size)  # pipefifo_fops: a pipe, not file contents
        if isinstance(self.obj, LowerFile):
            return self.obj.read_range(offset, size)
        return _contents(self.obj)[offset : offset + size]

    def write(self, file: File, offset: int, data: bytes) -> int:
        """``shmem_file_write_iter``: place data, extend, mark pages, update times."""
        if not data:
            return 0
        if st.S_ISFIFO(self.mode):
            from simfs.vfs.pipe import fifo_write

            return fifo_write(self, file, data)
        from simfs.vfs.ops import file_remove_privs

        lf = self._file()
        self.may_fail("write")
        file_remove_privs(self.sb.kernel, file, self.sb.kernel.current_cred())
        done = lf.write_range(offset, data)  # each page charged before it is written
        now = self.sb.now()
        self.mtime_ns = now
        self.ctime_ns = now
        return done

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
        pages = self._file().pages
        page = offset // PAGE_SIZE
        last = (size + PAGE_SIZE - 1) // PAGE_SIZE
        if whence == SEEK_DATA:
            # the first allocated page at or after the offset (the set of pages, not the
            # size, bounds the search: a hole may be terabytes long)
            page = min((p for p in pages if page <= p < last), default=last)
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
        lf = self._file()
        self.may_fail("fallocate")
        first, end = offset // PAGE_SIZE, (offset + length + PAGE_SIZE - 1) // PAGE_SIZE
        if mode & FALLOC_FL_PUNCH_HOLE:
            lf.punch(offset, min(length, max(lf.size - offset, 0)))
        else:
            lf.allocate(first, end)  # all or nothing: ENOSPC changes nothing
            if not (mode & FALLOC_FL_KEEP_SIZE) and offset + length > self.size:
                self._truncate(offset + length)
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
