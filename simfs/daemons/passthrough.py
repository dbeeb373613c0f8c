"""A classic passthrough daemon, modelled on libfuse's ``example/passthrough_ll.c``.

:class:`Passthrough` serves a directory of the simulated namespace through its own
process's system calls (``self.proc``), so a classic FUSE mount of it behaves like a bind
mount of ``source`` (as root).  Like passthrough_ll it keeps an inode table keyed by the
lower ``(st_ino, st_dev)`` with a lookup count per node (LOOKUP, CREATE, MKNOD, MKDIR,
SYMLINK, LINK and READDIRPLUS entries count; FORGET/BATCH_FORGET uncount and drop a node
at zero), reports the lower ``st_ino``, answers every reply with ``entry_timeout`` /
``attr_timeout``, uses its open descriptor numbers as file handles, serves READDIRPLUS
(looking every entry up, and forgetting one that does not fit the buffer, as
``lo_do_readdir`` does), xattrs, FLUSH as ``close(dup(fd))``, FSYNC, FALLOCATE,
COPY_FILE_RANGE and LSEEK, and answers ENOSYS to what passthrough_ll does not implement
(ACCESS, IOCTL, CANONICAL_PATH, locks...).

Differences from passthrough_ll, all switchable: besides its ``O_PATH`` descriptor (used
for GETATTR, so an unlinked open file still answers), a node is reached by any of the
names it is known under (every LOOKUP/CREATE/LINK name, dropped on UNLINK/RMDIR, moved on
RENAME), since the simulated kernel has no ``/proc/self/fd`` to reopen the descriptor: a
name changed in the source directory behind the daemon's back is not followed; ``xattr``
is on by default (passthrough_ll needs ``-o xattr``);
RENAME2 flags and FALLOCATE modes are served (``rename_flags``; passthrough_ll answers
EINVAL / EOPNOTSUPP); ``flush=False`` answers FLUSH with ENOSYS (the recordings'
``passthrough_ll_noflush`` build); ``negative_timeout`` replies nodeid 0 for a missing
name (passthrough_hp's option; passthrough_ll answers ENOENT).

``passthrough=True`` behaves like libfuse's ``example/passthrough_hp.cc`` on mainline
6.9+: INIT asks for ``FUSE_PASSTHROUGH_UPSTREAM`` with ``max_stack_depth`` 1 (libfuse's
``max_backing_stack_depth`` 0, plus the FUSE layer) and drops the writeback cache; the
first open of an inode registers the opened file with :meth:`~simfs.Daemon.backing_open`
and every open of that inode answers ``FOPEN_PASSTHROUGH`` with the inode's one backing
id (``do_passthrough_open``), without ``FOPEN_KEEP_CACHE``; the last release closes the id
(``sfs_release``).  When ``backing_open`` fails (no CAP_SYS_ADMIN: EPERM) the daemon turns
passthrough off for good and serves READ/WRITE itself, silently, as passthrough_hp does.
"""

from __future__ import annotations

import errno
import os
import stat as st
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from simfs import uapi
from simfs.daemon import Daemon, Reply, Request

__all__ = ["PASSTHROUGH_LL_INIT_FLAGS", "Passthrough"]

#: What libfuse 3.14's passthrough_ll wants at INIT (the recordings' daemon flags, minus
#: INIT_EXT, which the modelled 7.33 protocol does not have).
PASSTHROUGH_LL_INIT_FLAGS = (
    uapi.FUSE_ASYNC_READ
    | uapi.FUSE_ATOMIC_O_TRUNC
    | uapi.FUSE_EXPORT_SUPPORT
    | uapi.FUSE_BIG_WRITES
    | uapi.FUSE_FLOCK_LOCKS
    | uapi.FUSE_AUTO_INVAL_DATA
    | uapi.FUSE_DO_READDIRPLUS
    | uapi.FUSE_READDIRPLUS_AUTO
    | uapi.FUSE_ASYNC_DIO
    | uapi.FUSE_MAX_PAGES
)
_O_LARGEFILE_KERNEL = 0o100000
_U64 = (1 << 64) - 1


@dataclass
class _Node:
    """``struct lo_inode``, plus every name this daemon knows for the inode.

    passthrough_ll reaches an inode through its ``O_PATH`` descriptor (``/proc/self/fd/N``),
    so it keeps working whatever happens to the names; simfs has no ``/proc``, so a node
    keeps the names it was looked up, created or linked under, as the requests change
    them (UNLINK/RMDIR drop one, RENAME moves them), and any of them reaches it."""

    nodeid: int
    ino: int
    dev: int
    names: list[str]
    nlookup: int = 0
    fd: int = -1  # an O_PATH descriptor, as lo_inode->fd

    @property
    def path(self) -> str | None:
        """A name that reaches the inode (the most recently learnt), or None."""
        return self.names[0] if self.names else None

    def learn(self, path: str) -> None:
        if path in self.names:
            self.names.remove(path)
        self.names.insert(0, path)


def _split(sec: float) -> tuple[int, int]:
    ns = round(sec * 1_000_000_000)
    return ns // 1_000_000_000, ns % 1_000_000_000


def stat_to_attr(s: os.stat_result) -> uapi.FuseAttr:
    """``struct stat`` -> ``struct fuse_attr`` (``fill_attr`` in libfuse)."""

    def t(ns: int) -> tuple[int, int]:
        sec, nsec = divmod(ns, 1_000_000_000)
        return sec & _U64, nsec

    a, an = t(s.st_atime_ns)
    m, mn = t(s.st_mtime_ns)
    c, cn = t(s.st_ctime_ns)
    return uapi.FuseAttr(
        ino=s.st_ino,
        size=s.st_size,
        blocks=s.st_blocks,
        atime=a,
        mtime=m,
        ctime=c,
        atimensec=an,
        mtimensec=mn,
        ctimensec=cn,
        mode=s.st_mode,
        nlink=s.st_nlink,
        uid=s.st_uid,
        gid=s.st_gid,
        rdev=s.st_rdev & 0xFFFFFFFF,
        blksize=s.st_blksize,
    )


class Passthrough(Daemon):
    """Serve ``source`` (a directory path in the simulated namespace) like passthrough_ll.

    ``entry_timeout``/``attr_timeout`` are seconds (passthrough_ll's ``-o timeout``,
    default 1.0); ``cache``: ``"normal"`` (no open flags), ``"never"`` (FOPEN_DIRECT_IO)
    or ``"always"`` (FOPEN_KEEP_CACHE), as ``-o cache=``.  ``access=True`` answers ACCESS
    with the daemon's own ``access(2)``, as libfuse's high-level ``passthrough`` example
    does (passthrough_ll has no ACCESS handler: ENOSYS, and the kernel allows from then
    on).  ``nodes`` is the inode table (nodeid -> node with ``nlookup``), for tests.
    """

    init_flags = PASSTHROUGH_LL_INIT_FLAGS
    max_readahead = 128 * 1024
    max_write = 1 << 20
    max_pages = 256
    time_gran = 1

    def __init__(
        self,
        source: str,
        *,
        entry_timeout: float = 1.0,
        attr_timeout: float = 1.0,
        negative_timeout: float | None = None,
        xattr: bool = True,
        flush: bool = True,
        cache: str = "normal",
        rename_flags: bool = True,
        readdirplus: bool = True,
        access: bool = False,
        passthrough: bool = False,
        max_stack_depth: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if cache not in ("normal", "never", "always"):
            from simfs.errors import UsageError

            raise UsageError("Passthrough: cache must be 'normal', 'never' or 'always'")
        self.source = source.rstrip("/") or "/"
        self.entry_timeout = _split(entry_timeout)
        self.attr_timeout = _split(attr_timeout)
        self.negative_timeout = None if negative_timeout is None else _split(negative_timeout)
        self.xattr = xattr
        self.flush_supported = flush
        self.cache = cache
        self.rename_flags = rename_flags
        self.access_supported = access
        if not readdirplus:
            self.init_flags = self.init_flags & ~(
                uapi.FUSE_DO_READDIRPLUS | uapi.FUSE_READDIRPLUS_AUTO
            )
        self.passthrough = passthrough
        if passthrough:
            # passthrough_hp sfs_init: passthrough and writeback cache exclude each other
            self.init_flags = (
                self.init_flags | uapi.FUSE_PASSTHROUGH_UPSTREAM
            ) & ~uapi.FUSE_WRITEBACK_CACHE
            self.max_stack_depth = max_stack_depth
        #: nodeid -> [backing id, opens] (passthrough_hp's inode.backing_id / nopen)
        self.backing: dict[int, list[int]] = {}
        self.nodes: dict[int, _Node] = {}
        self._by_key: dict[tuple[int, int], int] = {}
        self._next_nodeid = 2
        self._dirs: dict[int, list[Any] | None] = {}
        self._fh_node: dict[int, int] = {}  # open file handle -> nodeid
        self._handlers: dict[int, Callable[[Request], Reply | None]] = {
            uapi.FUSE_LOOKUP: self.lookup,
            uapi.FUSE_FORGET: self.forget,
            uapi.FUSE_BATCH_FORGET: self.batch_forget,
            uapi.FUSE_GETATTR: self.getattr,
            uapi.FUSE_SETATTR: self.setattr,
            uapi.FUSE_READLINK: self.readlink,
            uapi.FUSE_SYMLINK: self.symlink,
            uapi.FUSE_MKNOD: self.mknod,
            uapi.FUSE_MKDIR: self.mkdir,
            uapi.FUSE_UNLINK: self.unlink,
            uapi.FUSE_RMDIR: self.rmdir,
            uapi.FUSE_RENAME: self.rename,
            uapi.FUSE_RENAME2: self.rename,
            uapi.FUSE_LINK: self.link,
            uapi.FUSE_OPEN: self.open,
            uapi.FUSE_CREATE: self.create,
            uapi.FUSE_READ: self.read,
            uapi.FUSE_WRITE: self.write,
            uapi.FUSE_STATFS: self.statfs,
            uapi.FUSE_RELEASE: self.release,
            uapi.FUSE_RELEASEDIR: self.releasedir,
            uapi.FUSE_FSYNC: self.fsync,
            uapi.FUSE_FSYNCDIR: self.fsync,
            uapi.FUSE_FLUSH: self.flush,
            uapi.FUSE_OPENDIR: self.opendir,
            uapi.FUSE_READDIR: self.readdir,
            uapi.FUSE_READDIRPLUS: self.readdir,
            uapi.FUSE_SETXATTR: self.setxattr,
            uapi.FUSE_GETXATTR: self.getxattr,
            uapi.FUSE_LISTXATTR: self.listxattr,
            uapi.FUSE_REMOVEXATTR: self.removexattr,
            uapi.FUSE_FALLOCATE: self.fallocate,
            uapi.FUSE_COPY_FILE_RANGE: self.copy_file_range,
            uapi.FUSE_LSEEK: self.lseek,
            uapi.FUSE_DESTROY: lambda req: Reply(),
        }

    # -- plumbing -----------------------------------------------------------------------
    def attach(self, proc: Any) -> None:
        """Take the process; root node = ``source`` (never forgotten), umask 0."""
        super().attach(proc)
        proc.umask(0)
        proc.fdtable.max_fds = 1 << 20  # passthrough daemons raise RLIMIT_NOFILE
        s = proc.stat(self.source)
        if not st.S_ISDIR(s.st_mode):
            raise NotADirectoryError(
                errno.ENOTDIR, "Passthrough source is not a directory", self.source
            )
        root = _Node(uapi.FUSE_ROOT_ID, s.st_ino, s.st_dev, [self.source], nlookup=2)
        root.fd = proc.open(self.source, os.O_PATH)
        self.nodes[uapi.FUSE_ROOT_ID] = root
        self._by_key[(s.st_ino, s.st_dev)] = uapi.FUSE_ROOT_ID

    def init_reply(self, req: Request) -> Reply:
        """libfuse: want what passthrough_ll wants, as far as the kernel offers it."""
        reply = super().init_reply(req)
        init_in = req.args[0] if req.args else None
        offered = uapi.init_flags64(init_in) if isinstance(init_in, uapi.FuseInitIn) else 0
        out = cast(uapi.FuseInitOut, reply.args[0])
        import dataclasses

        flags, flags2 = uapi.split_init_flags(self.init_flags & offered)
        # fuse_lowlevel.c do_init: max_stack_depth only goes with FUSE_PASSTHROUGH
        depth = out.max_stack_depth if flags2 << 32 & uapi.FUSE_PASSTHROUGH_UPSTREAM else 0
        return Reply(dataclasses.replace(out, flags=flags, flags2=flags2, max_stack_depth=depth))

    def handle(self, req: Request) -> Reply | None:
        if req.opcode == uapi.FUSE_ACCESS and self.access_supported:
            return self.access(req)
        fn = self._handlers.get(req.opcode)
        if fn is None:
            return Reply.error(errno.ENOSYS)
        return fn(req)

    def _node(self, nodeid: int) -> _Node:
        node = self.nodes.get(nodeid)
        if node is None:
            raise OSError(errno.ESTALE, "unknown node")
        return node

    def _path(self, nodeid: int) -> str:
        path = self._node(nodeid).path
        if path is None:
            raise OSError(errno.ESTALE, "node has no known path")
        return path

    def _child(self, nodeid: int, name: str) -> str:
        base = self._path(nodeid)
        return (base.rstrip("/") or "") + "/" + name

    def _entry(self, node: _Node, s: os.stat_result) -> uapi.FuseEntryOut:
        return uapi.FuseEntryOut(
            nodeid=node.nodeid,
            generation=0,
            entry_valid=self.entry_timeout[0],
            entry_valid_nsec=self.entry_timeout[1],
            attr_valid=self.attr_timeout[0],
            attr_valid_nsec=self.attr_timeout[1],
            attr=stat_to_attr(s),
        )

    def _do_lookup(self, path: str) -> tuple[_Node, os.stat_result]:
        """``lo_do_lookup``: stat, find or make the node, count the lookup."""
        s = self.proc.lstat(path)
        key = (s.st_ino, s.st_dev)
        nodeid = self._by_key.get(key)
        if nodeid is not None:
            node = self.nodes[nodeid]
            node.learn(path)
        else:
            nodeid = self._next_nodeid
            self._next_nodeid += 1
            node = _Node(nodeid, s.st_ino, s.st_dev, [path])
            node.fd = self.proc.open(path, os.O_PATH | os.O_NOFOLLOW)
            self.nodes[nodeid] = node
            self._by_key[key] = nodeid
        node.nlookup += 1
        return node, s

    def _forget_one(self, nodeid: int, n: int) -> None:
        """``unref_inode``."""
        node = self.nodes.get(nodeid)
        if node is None or nodeid == uapi.FUSE_ROOT_ID:
            return
        node.nlookup -= n
        if node.nlookup <= 0:
            del self.nodes[nodeid]
            self._by_key.pop((node.ino, node.dev), None)
            if node.fd >= 0:
                self.proc.close(node.fd)

    def _open_flags(self) -> int:
        if self.cache == "never":
            return uapi.FOPEN_DIRECT_IO
        if self.cache == "always":
            return uapi.FOPEN_KEEP_CACHE
        return 0

    # -- requests -------------------------------------------------------------------------
    def lookup(self, req: Request) -> Reply:
        name = cast(str, req.args[0])
        path = self._child(req.nodeid, name)
        try:
            node, s = self._do_lookup(path)
        except FileNotFoundError:
            if self.negative_timeout is None:
                raise
            sec, nsec = self.negative_timeout
            return Reply(uapi.FuseEntryOut(nodeid=0, entry_valid=sec, entry_valid_nsec=nsec))
        return Reply(self._entry(node, s))

    def forget(self, req: Request) -> None:
        arg = cast(uapi.FuseForgetIn, req.args[0])
        self._forget_one(req.nodeid, arg.nlookup)
        return None

    def batch_forget(self, req: Request) -> None:
        for one in cast("list[uapi.FuseForgetOne]", req.args[1]):
            self._forget_one(one.nodeid, one.nlookup)
        return None

    def _attr_reply(self, path: str) -> Reply:
        s = self.proc.lstat(path)
        return Reply(
            uapi.FuseAttrOut(
                attr_valid=self.attr_timeout[0],
                attr_valid_nsec=self.attr_timeout[1],
                attr=stat_to_attr(s),
            )
        )

    def getattr(self, req: Request) -> Reply:
        """``lo_getattr``: ``fstatat(inode->fd, "", AT_EMPTY_PATH)`` (works unlinked)."""
        node = self._node(req.nodeid)
        s = self.proc.fstat(node.fd) if node.fd >= 0 else self.proc.lstat(self._path(req.nodeid))
        return Reply(
            uapi.FuseAttrOut(
                attr_valid=self.attr_timeout[0],
                attr_valid_nsec=self.attr_timeout[1],
                attr=stat_to_attr(s),
            )
        )

    def setattr(self, req: Request) -> Reply:
        """``lo_setattr``."""
        a = cast(uapi.FuseSetattrIn, req.args[0])
        node = self._node(req.nodeid)
        p = self.proc
        target: Any
        if node.path is not None:
            target = node.path
        elif a.valid & uapi.FATTR_FH:
            target = a.fh  # unlinked but open: work on the open file
        else:
            # passthrough_ll works on "/proc/self/fd/N" of its O_PATH descriptor, which
            # reaches an unlinked inode; here an open handle of the node does (fchmod...)
            target = next((fh for fh, n in self._fh_node.items() if n == node.nodeid), None)
            if target is None:
                target = self._path(req.nodeid)  # ESTALE: nothing reaches the inode
        path = target
        # an fd target (an unlinked inode) takes the f*() forms: no follow_symlinks there
        nofollow: dict[str, bool] = {"follow_symlinks": False} if isinstance(path, str) else {}
        fh = a.fh if a.valid & uapi.FATTR_FH else None
        if a.valid & uapi.FATTR_MODE:
            p.chmod(fh if fh is not None else path, a.mode & 0o7777)
        if a.valid & (uapi.FATTR_UID | uapi.FATTR_GID):
            uid = a.uid if a.valid & uapi.FATTR_UID else -1
            gid = a.gid if a.valid & uapi.FATTR_GID else -1
            p.chown(path, uid, gid, **nofollow)
        if a.valid & uapi.FATTR_SIZE:
            if fh is not None:
                p.ftruncate(fh, a.size)
            else:
                p.truncate(path, a.size)
        if a.valid & (uapi.FATTR_ATIME | uapi.FATTR_MTIME):
            now_a = bool(a.valid & uapi.FATTR_ATIME_NOW)
            now_m = bool(a.valid & uapi.FATTR_MTIME_NOW)
            if a.valid & uapi.FATTR_ATIME and a.valid & uapi.FATTR_MTIME and now_a and now_m:
                p.utime(path, **nofollow)
            else:
                cur = p.lstat(path) if isinstance(path, str) else p.fstat(path)
                clock_now = p.kernel.clock.now_ns()

                def pick(flag: int, now: bool, sec: int, nsec: int, old: int) -> int:
                    if not a.valid & flag:
                        return old  # UTIME_OMIT
                    if now:
                        return int(clock_now)
                    s = sec - (1 << 64) if sec >= 1 << 63 else sec
                    return s * 1_000_000_000 + nsec

                at = pick(uapi.FATTR_ATIME, now_a, a.atime, a.atimensec, cur.st_atime_ns)
                mt = pick(uapi.FATTR_MTIME, now_m, a.mtime, a.mtimensec, cur.st_mtime_ns)
                p.utime(path, ns=(at, mt), **nofollow)
        return self.getattr(req)

    def access(self, req: Request) -> Reply:
        """``access=True``: libfuse's high-level ``passthrough`` ``xmp_access``, the
        daemon's own ``access(2)`` on the source (as the daemon's user, root here)."""
        a = cast(uapi.FuseAccessIn, req.args[0])
        if not self.proc.access(self._path(req.nodeid), a.mask):
            return Reply.error(errno.EACCES)
        return Reply()

    def readlink(self, req: Request) -> Reply:
        target = self.proc.readlink(self._path(req.nodeid))
        return Reply(os.fsencode(target))

    def _new_entry(self, path: str) -> Reply:
        node, s = self._do_lookup(path)
        return Reply(self._entry(node, s))

    def mknod(self, req: Request) -> Reply:
        a = cast(uapi.FuseMknodIn, req.args[0])
        path = self._child(req.nodeid, cast(str, req.args[1]))
        self.proc.mknod(path, a.mode, a.rdev)
        return self._new_entry(path)

    def mkdir(self, req: Request) -> Reply:
        a = cast(uapi.FuseMkdirIn, req.args[0])
        path = self._child(req.nodeid, cast(str, req.args[1]))
        self.proc.mkdir(path, a.mode)
        return self._new_entry(path)

    def symlink(self, req: Request) -> Reply:
        path = self._child(req.nodeid, cast(str, req.args[0]))
        self.proc.symlink(cast(str, req.args[1]), path)
        return self._new_entry(path)

    def link(self, req: Request) -> Reply:
        a = cast(uapi.FuseLinkIn, req.args[0])
        old = self._path(a.oldnodeid)
        path = self._child(req.nodeid, cast(str, req.args[1]))
        self.proc.link(old, path)
        node, s = self._do_lookup(path)  # lo_link: the node now has one more name
        return Reply(self._entry(node, s))

    def _forget_path(self, path: str) -> None:
        """A name is gone (UNLINK, RMDIR): the inode stays reachable by its others."""
        for node in self.nodes.values():
            if path in node.names:
                node.names.remove(path)

    def unlink(self, req: Request) -> Reply:
        path = self._child(req.nodeid, cast(str, req.args[0]))
        self.proc.unlink(path)
        self._forget_path(path)
        return Reply()

    def rmdir(self, req: Request) -> Reply:
        path = self._child(req.nodeid, cast(str, req.args[0]))
        self.proc.rmdir(path)
        self._forget_path(path)
        return Reply()

    def rename(self, req: Request) -> Reply:
        head = req.args[0]
        flags = head.flags if isinstance(head, uapi.FuseRename2In) else 0
        newdir = cast("uapi.FuseRenameIn | uapi.FuseRename2In", head).newdir
        old = self._child(req.nodeid, cast(str, req.args[1]))
        new = self._child(newdir, cast(str, req.args[2]))
        if flags:
            if not self.rename_flags:
                return Reply.error(errno.EINVAL)  # lo_rename: flags -> EINVAL
            self.proc.renameat2(old, new, flags)
        else:
            self.proc.rename(old, new)

        def moved(path: str | None, src: str, dst: str) -> str | None:
            if path is None:
                return None
            if path == src:
                return dst
            if path.startswith(src + "/"):
                return dst + path[len(src) :]
            return None

        for node in self.nodes.values():
            names: list[str] = []
            for name in node.names:
                m = moved(name, old, new)
                if m is None and flags & 2:  # RENAME_EXCHANGE
                    m = moved(name, new, old)
                elif m is None and moved(name, new, new) is not None:
                    continue  # the name now belongs to the renamed inode (overwritten)
                names.append(name if m is None else m)
            node.names = list(dict.fromkeys(names))
        return Reply()

    def _open_out(self, nodeid: int, fd: int) -> uapi.FuseOpenOut:
        """passthrough_hp ``do_passthrough_open``: one shared backing id per inode."""
        flags = self._open_flags()
        self._fh_node[fd] = nodeid  # every open: fchmod/fchown of an unlinked file go by fh
        if not self.passthrough:
            return uapi.FuseOpenOut(fh=fd, open_flags=flags)
        slot = self.backing.get(nodeid)
        if slot is None:
            try:
                slot = [self.backing_open(fd), 0]
            except OSError:
                self.passthrough = False  # "disabling rw passthrough", and no more tries
                return uapi.FuseOpenOut(fh=fd, open_flags=flags)
            self.backing[nodeid] = slot
        slot[1] += 1
        # open in passthrough mode must drop old page cache
        flags = (flags & ~uapi.FOPEN_KEEP_CACHE) | uapi.FOPEN_PASSTHROUGH
        return uapi.FuseOpenOut(fh=fd, open_flags=flags, backing_id=slot[0])

    def open(self, req: Request) -> Reply:
        a = cast(uapi.FuseOpenIn, req.args[0])
        flags = a.flags & ~(os.O_NOFOLLOW | _O_LARGEFILE_KERNEL)
        fd = self.proc.open(self._path(req.nodeid), flags)
        return Reply(self._open_out(req.nodeid, fd))

    def create(self, req: Request) -> Reply:
        a = cast(uapi.FuseCreateIn, req.args[0])
        path = self._child(req.nodeid, cast(str, req.args[1]))
        flags = (a.flags | os.O_CREAT) & ~(os.O_NOFOLLOW | _O_LARGEFILE_KERNEL)
        fd = self.proc.open(path, flags, a.mode)
        try:
            node, s = self._do_lookup(path)
        except OSError:
            self.proc.close(fd)
            raise
        return Reply(self._entry(node, s), self._open_out(node.nodeid, fd))

    def read(self, req: Request) -> Reply:
        a = cast(uapi.FuseReadIn, req.args[0])
        return Reply(self.proc.pread(a.fh, a.size, a.offset))

    def write(self, req: Request) -> Reply:
        a = cast(uapi.FuseWriteIn, req.args[0])
        n = self.proc.pwrite(a.fh, cast(bytes, req.args[1]), a.offset)
        return Reply(uapi.FuseWriteOut(size=n))

    def statfs(self, req: Request) -> Reply:
        s = self.proc.statvfs(self._path(req.nodeid))
        return Reply(
            uapi.FuseStatfsOut(
                st=uapi.FuseKstatfs(
                    blocks=s.f_blocks,
                    bfree=s.f_bfree,
                    bavail=s.f_bavail,
                    files=s.f_files,
                    ffree=s.f_ffree,
                    bsize=s.f_bsize,
                    namelen=s.f_namemax,
                    frsize=s.f_frsize,
                )
            )
        )

    def release(self, req: Request) -> Reply:
        a = cast(uapi.FuseReleaseIn, req.args[0])
        nodeid = self._fh_node.pop(a.fh, None)
        slot = None if nodeid is None else self.backing.get(nodeid)
        if nodeid is not None and slot is not None:
            slot[1] -= 1
            if slot[1] == 0:  # sfs_release: close the shared backing id on the last close
                del self.backing[nodeid]
                self.backing_close(slot[0])
        self.proc.close(a.fh)
        return Reply()

    def releasedir(self, req: Request) -> Reply:
        a = cast(uapi.FuseReleaseIn, req.args[0])
        self._dirs.pop(a.fh, None)
        self.proc.close(a.fh)
        return Reply()

    def flush(self, req: Request) -> Reply:
        if not self.flush_supported:
            return Reply.error(errno.ENOSYS)
        a = cast(uapi.FuseFlushIn, req.args[0])
        self.proc.close(self.proc.dup(a.fh))  # lo_flush: close(dup(fd))
        return Reply()

    def fsync(self, req: Request) -> Reply:
        a = cast(uapi.FuseFsyncIn, req.args[0])
        if a.fsync_flags & uapi.FUSE_FSYNC_FDATASYNC:
            self.proc.fdatasync(a.fh)
        else:
            self.proc.fsync(a.fh)
        return Reply()

    def opendir(self, req: Request) -> Reply:
        fd = self.proc.open(self._path(req.nodeid), os.O_RDONLY | os.O_DIRECTORY)
        self._dirs[fd] = None
        return Reply(uapi.FuseOpenOut(fh=fd))

    def readdir(self, req: Request) -> Reply:
        """``lo_do_readdir``: entries from ``offset`` (an index here) while they fit."""
        a = cast(uapi.FuseReadIn, req.args[0])
        plus = req.opcode == uapi.FUSE_READDIRPLUS
        listing = self._dirs.get(a.fh)
        if listing is None or a.offset == 0:
            self.proc.lseek(a.fh, 0, os.SEEK_SET)  # seekdir(0)
            listing = self.proc.getdents_all(a.fh)
            self._dirs[a.fh] = listing
        dirpath = self._path(req.nodeid)
        out: list[Any] = []
        used = 0
        for index in range(a.offset, len(listing)):
            d = listing[index]
            dirent = uapi.FuseDirent(ino=d.d_ino, off=index + 1, type=d.d_type, name=d.name)
            if plus:
                looked: _Node | None = None
                if d.name in (".", ".."):
                    entry = uapi.FuseEntryOut(attr=uapi.FuseAttr(ino=d.d_ino, mode=d.d_type << 12))
                else:
                    looked, s = self._do_lookup((dirpath.rstrip("/") or "") + "/" + d.name)
                    entry = self._entry(looked, s)
                rec: Any = uapi.FuseDirentplus(entry_out=entry, dirent=dirent)
                if used + rec.record_size > a.size:
                    if looked is not None:
                        self._forget_one(looked.nodeid, 1)  # lo_forget_one
                    break
            else:
                rec = dirent
                if used + rec.record_size > a.size:
                    break
            out.append(rec)
            used += rec.record_size
        return Reply(out)

    # -- xattrs ---------------------------------------------------------------------------
    def getxattr(self, req: Request) -> Reply:
        if not self.xattr:
            return Reply.error(errno.ENOSYS)
        a = cast(uapi.FuseGetxattrIn, req.args[0])
        value = self.proc.getxattr(
            self._path(req.nodeid), cast(str, req.args[1]), follow_symlinks=False
        )
        if not a.size:
            return Reply(uapi.FuseGetxattrOut(size=len(value)))
        if len(value) > a.size:
            return Reply.error(errno.ERANGE)
        return Reply(value)

    def listxattr(self, req: Request) -> Reply:
        if not self.xattr:
            return Reply.error(errno.ENOSYS)
        a = cast(uapi.FuseGetxattrIn, req.args[0])
        names = self.proc.listxattr(self._path(req.nodeid), follow_symlinks=False)
        raw = b"".join(os.fsencode(n) + b"\0" for n in names)
        if not a.size:
            return Reply(uapi.FuseGetxattrOut(size=len(raw)))
        if len(raw) > a.size:
            return Reply.error(errno.ERANGE)
        return Reply(raw)

    def setxattr(self, req: Request) -> Reply:
        if not self.xattr:
            return Reply.error(errno.ENOSYS)
        a = cast(uapi.FuseSetxattrIn, req.args[0])
        name, value = cast(str, req.args[1]), cast(bytes, req.args[2])
        self.proc.setxattr(self._path(req.nodeid), name, value, a.flags, follow_symlinks=False)
        return Reply()

    def removexattr(self, req: Request) -> Reply:
        if not self.xattr:
            return Reply.error(errno.ENOSYS)
        self.proc.removexattr(self._path(req.nodeid), cast(str, req.args[0]), follow_symlinks=False)
        return Reply()

    # -- data -------------------------------------------------------------------------------
    def fallocate(self, req: Request) -> Reply:
        a = cast(uapi.FuseFallocateIn, req.args[0])
        self.proc.fallocate(a.fh, a.mode, a.offset, a.length)
        return Reply()

    def copy_file_range(self, req: Request) -> Reply:
        a = cast(uapi.FuseCopyFileRangeIn, req.args[0])
        n = self.proc.copy_file_range(a.fh_in, a.fh_out, a.len, a.off_in, a.off_out)
        return Reply(uapi.FuseWriteOut(size=n))

    def lseek(self, req: Request) -> Reply:
        a = cast(uapi.FuseLseekIn, req.args[0])
        off = a.offset - (1 << 64) if a.offset >= 1 << 63 else a.offset
        return Reply(uapi.FuseLseekOut(offset=self.proc.lseek(a.fh, off, a.whence)))
