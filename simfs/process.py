"""A simulated process: the ``os``-compatible system-call surface, nothing else.

Every public method has the signature, return type and exceptions of the ``os``
function of the same name (Linux-only calls that ``os`` lacks use the Linux name), so
code written for ``os`` runs against a ``Process`` by swapping the object.  Each call
enters the kernel through :meth:`simfs.kernel.Kernel.run_syscall`; the rules live in
``simfs.vfs`` (``namei``, ``permission``, ``ops``), never here.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat as st
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from simfs.args import (
    UID_UNCHANGED,
    as_buffer,
    as_c_int,
    as_c_uint,
    as_dev,
    as_fd,
    as_fileno,
    as_flags,
    as_id,
    as_off,
    as_read_count,
    as_ssize,
    umode,
)
from simfs.vfs import fsnotify, ops, tmpfile
from simfs.vfs.cred import Cred
from simfs.vfs.file import FdTable, File
from simfs.vfs.inode import (
    ATTR_ATIME,
    ATTR_ATIME_SET,
    ATTR_CTIME,
    ATTR_GID,
    ATTR_MODE,
    ATTR_MTIME,
    ATTR_MTIME_SET,
    ATTR_OPEN,
    ATTR_TOUCH,
    ATTR_UID,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    Iattr,
    Kstat,
    dtype_of,
    oserror,
)
from simfs.vfs.mount import Path
from simfs.vfs.namei import (
    LAST_NORM,
    LOOKUP_CREATE,
    LOOKUP_DIRECTORY,
    LOOKUP_EXCL,
    LOOKUP_FOLLOW,
    LOOKUP_OPEN,
    LOOKUP_RENAME_TARGET,
    MAXSYMLINKS,
    Walker,
    check_path,
)
from simfs.vfs.permission import (
    S_IALLUGO,
    S_IRWXUGO,
    inode_permission,
    setattr_should_drop_sgid,
    vfs_prepare_mode,
)
from simfs.vfs.readdir import GETDENTS_BUFSIZE

if TYPE_CHECKING:
    from simfs.kernel import Kernel

T = TypeVar("T")

AT_FDCWD = -100
O_PATH = getattr(os, "O_PATH", 0o10000000)
O_TMPFILE = getattr(os, "O_TMPFILE", 0o20200000)
O_NOFOLLOW = os.O_NOFOLLOW
O_DIRECTORY = os.O_DIRECTORY
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0o2000000)
O_NONBLOCK = os.O_NONBLOCK

RENAME_NOREPLACE = ops.RENAME_NOREPLACE
RENAME_EXCHANGE = ops.RENAME_EXCHANGE
RENAME_WHITEOUT = ops.RENAME_WHITEOUT

_UTIME_NOW = object()


@dataclass(frozen=True)
class Dirent:
    """One ``getdents64`` record: ``d_ino``, ``d_off``, ``d_type``, ``name``."""

    name: str
    d_ino: int
    d_type: int
    d_off: int


class SimDirEntry:
    """What :meth:`Process.scandir` yields; mirrors ``os.DirEntry``."""

    def __init__(
        self, proc: Process, dirpath: str, name: str, ino: int, dtype: int, as_bytes: bool
    ) -> None:
        self._proc = proc
        self._name = name
        self._dtype = dtype
        self._ino = ino
        self._as_bytes = as_bytes
        self._dirpath = dirpath

    @property
    def name(self) -> Any:
        return os.fsencode(self._name) if self._as_bytes else self._name

    @property
    def path(self) -> Any:
        p = os.path.join(self._dirpath, self._name)
        return os.fsencode(p) if self._as_bytes else p

    def inode(self) -> int:
        return self._ino

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        if self._dtype == 10 and follow_symlinks:
            try:
                return st.S_ISDIR(self.stat().st_mode)
            except OSError:
                return False
        return self._dtype == 4

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        if self._dtype == 10 and follow_symlinks:
            try:
                return st.S_ISREG(self.stat().st_mode)
            except OSError:
                return False
        return self._dtype == 8

    def is_symlink(self) -> bool:
        return self._dtype == 10

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        return self._proc.stat(
            os.path.join(self._dirpath, self._name), follow_symlinks=follow_symlinks
        )

    def __fspath__(self) -> Any:
        return self.path

    def __repr__(self) -> str:
        return f"<SimDirEntry {self._name!r}>"


class _ScandirIterator:
    def __init__(self, entries: list[SimDirEntry]) -> None:
        self._it = iter(entries)

    def __iter__(self) -> Iterator[SimDirEntry]:
        return self._it

    def __next__(self) -> SimDirEntry:
        return next(self._it)

    def __enter__(self) -> _ScandirIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None


def _fspath(path: Any, fn: str, allow_fd: bool = False) -> tuple[str, bool]:
    """``os``'s argument conversion: str/bytes/PathLike; embedded NUL -> ValueError."""
    if allow_fd and isinstance(path, int) and not isinstance(path, bool):
        raise AssertionError("fd handled by caller")
    try:
        p = os.fspath(path)
    except TypeError:
        kinds = (
            "string, bytes, os.PathLike or integer" if allow_fd else "string, bytes or os.PathLike"
        )
        raise TypeError(f"{fn}: path should be {kinds}, not {type(path).__name__}") from None
    if isinstance(p, bytes):
        if b"\0" in p:
            raise ValueError(f"{fn}: embedded null character in path")
        return os.fsdecode(p), True
    if "\0" in p:
        raise ValueError(f"{fn}: embedded null character in path")
    return p, False


def _ns_int(value: Any) -> int:
    """``os.utime(ns=...)``: CPython splits each value with ``divmod(value, 10**9)``."""
    if not isinstance(value, int):
        raise TypeError(
            f"unsupported operand type(s) for divmod(): '{type(value).__name__}' and 'int'"
        )
    return int(value)


def _xattr_name(attribute: Any, fn: str) -> str:
    """``os``'s conversion of an xattr name (a path-like; NUL -> ValueError)."""
    name, _ = _fspath(attribute, fn)
    return name


def kstat_to_result(ks: Kstat) -> os.stat_result:
    """Build the ``os.stat_result`` the real ``os.stat`` would return."""
    return os.stat_result(
        (
            ks.mode,
            ks.ino,
            ks.dev,
            ks.nlink,
            ks.uid,
            ks.gid,
            ks.size,
            ks.atime_ns // 10**9,
            ks.mtime_ns // 10**9,
            ks.ctime_ns // 10**9,
            ks.atime_ns / 1e9,
            ks.mtime_ns / 1e9,
            ks.ctime_ns / 1e9,
            ks.atime_ns,
            ks.mtime_ns,
            ks.ctime_ns,
            ks.blksize,
            ks.blocks,
            ks.rdev,
        )
    )


class Process:
    """A simulated task with credentials, umask, cwd, root and a descriptor table."""

    def __init__(self, kernel: Kernel, pid: int, cred: Cred, umask: int) -> None:
        self.kernel = kernel
        self.pid = pid
        self.cred = cred
        self._umask = umask & 0o777
        self.fdtable = FdTable()
        root = kernel.root_path
        self.root: Path = root
        self.cwd: Path = root
        root.dentry.pins += 2
        self.alive = True

    def __repr__(self) -> str:
        return f"<Process pid={self.pid} uid={self.cred.uid} gid={self.cred.gid}>"

    # --- plumbing ------------------------------------------------------------------------
    @property
    def uid(self) -> int:
        return self.cred.uid

    @property
    def gid(self) -> int:
        return self.cred.gid

    def _sys(
        self,
        name: str,
        fn: Callable[[], T],
        *args: Any,
        filename: Any = None,
        filename2: Any = None,
    ) -> T:
        """Run ``fn`` as syscall ``name``; an ``OSError`` gets ``filename``/``filename2``
        as ``os`` sets them (the path arguments exactly as the caller passed them)."""
        try:
            return self.kernel.run_syscall(self, name, fn, args)
        except OSError as e:
            if filename is not None and e.filename is None:
                e.filename = filename
                if filename2 is not None:
                    e.filename2 = filename2
            raise

    def _walker(self, dir_fd: int | None = None) -> Walker:
        start = None
        if dir_fd is not None and dir_fd != AT_FDCWD:
            f = self.fdtable.get(dir_fd)
            start = f.path
            if not f.inode.is_dir:
                start_inode_is_dir = False
            else:
                start_inode_is_dir = True
            if not start_inode_is_dir:
                w = Walker(self.kernel, self, start)
                w.start_not_dir = True  # type: ignore[attr-defined]
                return w
        return Walker(self.kernel, self, start)

    def _check_dirfd(self, w: Walker, path: str) -> None:
        if getattr(w, "start_not_dir", False) and not path.startswith("/"):
            raise oserror(errno.ENOTDIR)

    def resolve(self, path: str, *, follow: bool = True, dir_fd: int | None = None) -> Path:
        """Resolve ``path`` to a ``(mount, dentry)`` (no syscall span; kernel helper)."""
        w = self._walker(dir_fd)
        self._check_dirfd(w, path)
        return w.walk(path, LOOKUP_FOLLOW if follow else 0)

    def _lookup(
        self, path: str, follow: bool = True, dir_fd: int | None = None, flags: int = 0
    ) -> Path:
        w = self._walker(dir_fd)
        check_path(path)
        self._check_dirfd(w, path)
        return w.walk(path, (LOOKUP_FOLLOW if follow else 0) | flags)

    def _file(self, fd: int) -> File:
        return self.fdtable.get(fd)

    def _path_or_fd(self, path: Any, fn: str, follow: bool, dir_fd: int | None = None) -> Path:
        if isinstance(path, int) and not isinstance(path, bool):
            return self._file(as_fd(path)).path
        p, _ = _fspath(path, fn, allow_fd=False)
        return self._lookup(p, follow, dir_fd)

    # --- files ---------------------------------------------------------------------------
    def open(self, path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        """``os.open``."""
        p, _ = _fspath(path, "open")
        flags, mode = as_c_int(flags), umode(as_c_int(mode))

        def do() -> int:
            file = self._do_open(p, flags, mode, dir_fd)
            try:
                return self.fdtable.alloc(file, bool(flags & O_CLOEXEC))
            except OSError:
                file.refs = 1
                ops.fput(self.kernel, file)
                raise

        return self._sys("open", do, p, flags, mode, filename=path)

    def _do_open(self, path: str, flags: int, mode: int, dir_fd: int | None) -> File:
        """``path_openat``: walk, ``open_last_lookups``, ``do_open``."""
        k = self.kernel
        check_path(path)
        if flags & O_PATH:
            flags &= O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC
        if flags & tmpfile.O_TMPFILE_BIT:
            return tmpfile.do_tmpfile(self, path, flags, mode, dir_fd)  # issue 17
        if flags & os.O_CREAT and flags & O_DIRECTORY:
            raise oserror(errno.EINVAL)  # build_open_flags (6.4+): O_CREAT|O_DIRECTORY
        w = self._walker(dir_fd)
        self._check_dirfd(w, path)
        start = w._start(path)
        dirp, last, type_, trailing = w._link_path_walk(start, path, 0)
        created = False
        file: File | None = None
        depth = 0
        while True:
            if not flags & os.O_CREAT:
                lflags = 0 if flags & O_NOFOLLOW else LOOKUP_FOLLOW
                if flags & O_DIRECTORY:
                    lflags |= LOOKUP_DIRECTORY
                res = w._lookup_last(dirp, last, type_, trailing, lflags, depth)
                break
            # open_last_lookups with O_CREAT: '.'/'..' are walked (do_open then says
            # EEXIST for O_EXCL, EISDIR otherwise); a trailing slash is EISDIR
            if type_ != LAST_NORM:
                res = w._lookup_last(dirp, last, type_, trailing, LOOKUP_FOLLOW, depth)
                if flags & os.O_EXCL:
                    raise oserror(errno.EEXIST)
                break
            if trailing:
                raise oserror(errno.EISDIR)
            if dirp.inode.dead:
                raise oserror(errno.ENOENT)  # lookup_open: IS_DEADDIR
            lflags = LOOKUP_OPEN | LOOKUP_CREATE | (LOOKUP_EXCL if flags & os.O_EXCL else 0)
            dentry = w.lookup_cached(dirp, last, lflags)
            create_error: OSError | None = None
            if dentry is None or dentry.inode is None:
                # lookup_open: may_o_create runs before the lookup; its error only counts
                # if the name turns out not to exist
                try:
                    inode_permission(dirp.inode, MAY_WRITE | MAY_EXEC, self.cred)
                except OSError as e:
                    create_error = e
                if dentry is None:
                    dentry = w.lookup_fresh(dirp, last, lflags)
            if dentry.inode is not None:
                if flags & os.O_EXCL:
                    raise oserror(errno.EEXIST)
                res = w.follow_mount(Path(dirp.mnt, dentry))
                if st.S_ISLNK(res.inode.mode) and not flags & O_NOFOLLOW:
                    if w.total_link_count >= MAXSYMLINKS:
                        raise oserror(errno.ELOOP)
                    w.total_link_count += 1
                    self.kernel.touch_atime(res)  # pick_link
                    target = w.get_link(res)
                    if target == "":
                        raise oserror(errno.ENOENT)
                    base = self.root if target.startswith("/") else dirp
                    depth += 1
                    dirp, last, type_, trailing = w._link_path_walk(base, target, depth)
                    continue
                break
            # create (atomically with the open where the fs can)
            if create_error is not None:
                raise create_error
            dir_inode = dirp.inode
            cmode = vfs_prepare_mode(dir_inode, mode, S_IALLUGO, st.S_IFREG, self._umask, self.cred)
            res = Path(dirp.mnt, dentry)
            pending = File(path=res, inode=dir_inode, flags=flags, fmode=ops.open_fmode(flags))
            atomic = dir_inode.atomic_open(dentry, pending, flags, cmode, self.cred)
            if atomic is None:
                ops.vfs_create(dir_inode, dentry, cmode, self.cred, bool(flags & os.O_EXCL))
            else:
                # the driver created *and* opened the file (FUSE's CREATE)
                if dentry.inode is None:
                    dentry.instantiate(atomic)
                pending.inode = atomic
                file = pending
                # open_last_lookups: FMODE_CREATED -> fsnotify_create (vfs_create has its own)
                fsnotify.fsnotify_create(dir_inode, dentry)
            created = True
            break
        inode = res.inode
        if flags & os.O_CREAT and not created and st.S_ISDIR(inode.mode):
            raise oserror(errno.EISDIR)
        if flags & O_DIRECTORY and not st.S_ISDIR(inode.mode):
            raise oserror(errno.ENOTDIR)
        if flags & O_PATH:
            return ops.open_path_file(res, flags)
        accmode = ops.acc_mode(flags)
        if created:
            accmode = 0  # do_open: FMODE_CREATED -> no permission bits, no truncate
            flags &= ~os.O_TRUNC
        ops.may_open(res, accmode, flags, self.cred)
        if st.S_ISFIFO(inode.mode):
            from simfs.vfs.pipe import fifo_open

            flags &= ~os.O_TRUNC
            fifo_open(inode, flags)
        if st.S_ISCHR(inode.mode) or st.S_ISBLK(inode.mode):
            raise oserror(errno.ENXIO)  # no device drivers are simulated
        if st.S_ISSOCK(inode.mode):
            raise oserror(errno.ENXIO)  # do_dentry_open -> bad_sock_fops: sock_no_open
        if file is None:
            file = ops.vfs_open(k, res, flags, self.cred)
        else:
            ops.finish_open(k, file)
        fsnotify.fsnotify_open(file)  # do_dentry_open (6.8+), before handle_truncate
        if flags & os.O_TRUNC and st.S_ISREG(inode.mode):
            try:
                ops.do_truncate(
                    k, res.dentry, 0, ATTR_MTIME | ATTR_CTIME | ATTR_OPEN, file, self.cred
                )
            except OSError:
                file.refs = 1
                ops.fput(k, file)
                raise
        return file

    def close(self, fd: int) -> None:
        """``os.close``."""
        fd = as_fd(fd)

        def do() -> None:
            file = self.fdtable.remove(fd)
            try:
                ops.filp_close(self.kernel, file)
            finally:
                ops.fput(self.kernel, file)

        self._sys("close", do, fd)

    def dup(self, fd: int) -> int:
        """``os.dup``."""
        fd = as_fd(fd)

        def do() -> int:
            file = self._file(fd)
            return self.fdtable.alloc(file)

        return self._sys("dup", do, fd)

    def dup2(self, fd: int, fd2: int, inheritable: bool = True) -> int:
        """``os.dup2``."""
        fd, fd2 = as_fd(fd), as_fd(fd2)

        def do() -> int:
            file = self._file(fd)
            if fd2 < 0:
                raise oserror(errno.EBADF)
            if fd == fd2:
                return fd2
            old = self.fdtable.install(fd2, file)
            if old is not None:
                ops.filp_close(self.kernel, old)
                ops.fput(self.kernel, old)
            return fd2

        return self._sys("dup2", do, fd, fd2)

    def read(self, fd: int, n: int) -> bytes:
        """``os.read``."""
        fd, n = as_fd(fd), as_read_count(n)
        return self._sys("read", lambda: ops.vfs_read(self.kernel, self._file(fd), n, None), fd, n)

    def pread(self, fd: int, n: int, offset: int) -> bytes:
        """``os.pread``."""
        fd, n, offset = as_fd(fd), as_read_count(n), as_off(offset)

        def do() -> bytes:
            f = self._file(fd)
            if not st.S_ISREG(f.inode.mode) and not st.S_ISDIR(f.inode.mode) and f.readable:
                raise oserror(errno.ESPIPE)
            return ops.vfs_read(self.kernel, f, n, offset)

        return self._sys("pread", do, fd, n, offset)

    def write(self, fd: int, data: bytes | bytearray | memoryview) -> int:
        """``os.write``."""
        fd, b = as_fd(fd), as_buffer(data)
        return self._sys(
            "write", lambda: ops.vfs_write(self.kernel, self._file(fd), b, None), fd, b
        )

    def pwrite(self, fd: int, data: bytes | bytearray | memoryview, offset: int) -> int:
        """``os.pwrite``."""
        fd, b, offset = as_fd(fd), as_buffer(data), as_off(offset)
        return self._sys(
            "pwrite", lambda: ops.vfs_write(self.kernel, self._file(fd), b, offset), fd, b, offset
        )

    def lseek(self, fd: int, position: int, whence: int) -> int:
        """``os.lseek``."""
        fd, position, whence = as_fd(fd), as_off(position), as_c_int(whence)
        return self._sys(
            "lseek",
            lambda: ops.vfs_llseek(self.kernel, self._file(fd), position, whence),
            fd,
            position,
            whence,
        )

    def fsync(self, fd: Any) -> None:
        """``os.fsync``."""
        fdn = as_fileno(fd)
        self._sys("fsync", lambda: ops.vfs_fsync(self.kernel, self._file(fdn), False), fdn)

    def fdatasync(self, fd: Any) -> None:
        """``os.fdatasync``."""
        fdn = as_fileno(fd)
        self._sys("fdatasync", lambda: ops.vfs_fsync(self.kernel, self._file(fdn), True), fdn)

    def ftruncate(self, fd: int, length: int) -> None:
        """``os.ftruncate``: EINVAL unless open for writing on a regular file."""
        fd, length = as_fd(fd), as_off(length)

        def do() -> None:
            f = self._file(fd)
            if f.is_path:
                raise oserror(errno.EBADF)
            if length < 0:
                raise oserror(errno.EINVAL)
            if not st.S_ISREG(f.inode.mode) or not f.writable:
                raise oserror(errno.EINVAL)
            ops.do_truncate(
                self.kernel, f.path.dentry, length, ATTR_MTIME | ATTR_CTIME, f, self.cred
            )

        self._sys("ftruncate", do, fd, length)

    def truncate(self, path: Any, length: int) -> None:
        """``os.truncate`` (a path, or an fd like ``os.truncate`` accepts)."""
        if isinstance(path, int) and not isinstance(path, bool):
            return self.ftruncate(path, length)
        p, _ = _fspath(path, "truncate")
        length = as_off(length)

        def do() -> None:
            if length < 0:
                raise oserror(errno.EINVAL)  # do_sys_truncate: checked before the walk
            res = self._lookup(p, True)
            inode = res.inode
            if st.S_ISDIR(inode.mode):
                raise oserror(errno.EISDIR)
            if not st.S_ISREG(inode.mode):
                raise oserror(errno.EINVAL)
            inode_permission(inode, MAY_WRITE, self.cred)
            ops.do_truncate(self.kernel, res.dentry, length, 0, None, self.cred)

        self._sys("truncate", do, p, length, filename=path)
        return None

    def posix_fallocate(self, fd: int, offset: int, length: int) -> None:
        """``os.posix_fallocate`` (glibc: ``fallocate(fd, 0, ...)``)."""
        self.fallocate(as_fd(fd), 0, as_off(offset), as_off(length))

    def fallocate(self, fd: int, mode: int, offset: int, length: int) -> None:
        """``fallocate(2)``."""
        fd, mode, offset, length = as_fd(fd), as_c_int(mode), as_off(offset), as_off(length)
        self._sys(
            "fallocate",
            lambda: ops.vfs_fallocate(self.kernel, self._file(fd), mode, offset, length),
            fd,
            mode,
            offset,
            length,
        )

    def copy_file_range(
        self,
        src: int,
        dst: int,
        count: int,
        offset_src: int | None = None,
        offset_dst: int | None = None,
    ) -> int:
        """``os.copy_file_range``."""
        src, dst, count = as_fd(src), as_fd(dst), as_ssize(count)
        if count < 0:
            raise ValueError("negative value for 'count' not allowed")
        offset_src = None if offset_src is None else as_off(offset_src)
        offset_dst = None if offset_dst is None else as_off(offset_dst)

        def do() -> int:
            fin, fout = self._file(src), self._file(dst)
            oi = fin.pos if offset_src is None else offset_src
            oo = fout.pos if offset_dst is None else offset_dst
            n = ops.vfs_copy_file_range(self.kernel, fin, oi, fout, oo, count, 0)
            if offset_src is None:
                fin.pos += n
            if offset_dst is None:
                fout.pos += n
            return n

        return self._sys("copy_file_range", do, src, dst, count, offset_src, offset_dst)

    def flock(self, fd: int, operation: int) -> None:
        """``flock(2)``: BSD locks on the open file description."""
        fd, operation = as_fd(fd), as_c_int(operation)

        def do() -> None:
            # SYSCALL_DEFINE2(flock): LOCK_MAND requests are ignored (return 0), then
            # flock_translate_cmd's EINVAL, then fdget's EBADF (measured on 6.18)
            if operation & fcntl.LOCK_MAND:
                return
            if operation & ~fcntl.LOCK_NB not in (fcntl.LOCK_SH, fcntl.LOCK_EX, fcntl.LOCK_UN):
                raise oserror(errno.EINVAL)
            f = self._file(fd)
            if f.is_path:
                raise oserror(errno.EBADF)
            f.inode.flock(f, operation)

        self._sys("flock", do, fd, operation)

    def getdents(self, fd: int, count: int = GETDENTS_BUFSIZE) -> list[Dirent]:
        """``getdents64(2)``: ONE call with a buffer of ``count`` bytes (glibc's 32 KiB if
        omitted): the entries whose ``linux_dirent64`` records fit, ``.`` and ``..``
        included, or ``[]`` at the end of the directory.  One call is one
        ``iterate_dir``, so a FUSE directory sees one READDIR (or one fuse-bpf READDIR
        run).  EINVAL when the buffer cannot hold the first entry.  Every remaining
        entry: :meth:`getdents_all`."""
        count = as_c_uint(count)

        def do() -> list[Dirent]:
            ents = ops.getdents64(self.kernel, self._file(fd), self.cred, count)
            return [Dirent(e.name, e.ino, e.dtype, e.off) for e in ents]

        return self._sys("getdents", do, fd, count)

    def getdents_all(self, fd: int, count: int = GETDENTS_BUFSIZE) -> list[Dirent]:
        """Every remaining entry: :meth:`getdents` calls until one returns ``[]``, as a
        ``readdir`` loop makes them (each call is a separate ``getdents64``)."""
        out: list[Dirent] = []
        while batch := self.getdents(fd, count):
            out.extend(batch)
        return out

    # --- metadata --------------------------------------------------------------------------
    def stat(
        self, path: Any, *, dir_fd: int | None = None, follow_symlinks: bool = True
    ) -> os.stat_result:
        """``os.stat``."""
        if isinstance(path, int) and not isinstance(path, bool):
            return self.fstat(path)
        p, _ = _fspath(path, "stat", allow_fd=False)

        def do() -> os.stat_result:
            res = self._lookup(p, follow_symlinks, dir_fd)
            return kstat_to_result(ops.vfs_getattr(res, self.cred))

        return self._sys("stat", do, p, filename=path)

    def lstat(self, path: Any, *, dir_fd: int | None = None) -> os.stat_result:
        """``os.lstat``."""
        return self.stat(path, dir_fd=dir_fd, follow_symlinks=False)

    def fstat(self, fd: int) -> os.stat_result:
        """``os.fstat`` (works on O_PATH descriptors, as on Linux)."""
        fd = as_fd(fd)

        def do() -> os.stat_result:
            f = self._file(fd)
            return kstat_to_result(ops.vfs_getattr(f.path, self.cred))

        return self._sys("fstat", do, fd)

    def access(
        self,
        path: Any,
        mode: int,
        *,
        dir_fd: int | None = None,
        effective_ids: bool = False,
        follow_symlinks: bool = True,
    ) -> bool:
        """``os.access``: True/False like ``os``; errors other than EACCES-like -> False too."""
        p, _ = _fspath(path, "access")
        mode = as_c_int(mode)

        def do() -> bool:
            if mode & ~(os.F_OK | os.R_OK | os.W_OK | os.X_OK):
                raise oserror(errno.EINVAL)
            res = self._lookup(p, follow_symlinks, dir_fd)
            if mode == os.F_OK:
                return True
            inode = res.inode
            # do_faccessat: the real ids; root keeps DAC override (no_root_raise off)
            mask = 0
            if mode & os.R_OK:
                mask |= MAY_READ
            if mode & os.W_OK:
                mask |= MAY_WRITE
            if mode & os.X_OK:
                mask |= MAY_EXEC
            from simfs.vfs.inode import MAY_ACCESS

            inode_permission(inode, mask | MAY_ACCESS, self.cred)
            return True

        try:
            return self._sys("access", do, p, mode)
        except OSError:
            return False

    def chmod(
        self, path: Any, mode: int, *, dir_fd: int | None = None, follow_symlinks: bool = True
    ) -> None:
        """``os.chmod``."""
        if not follow_symlinks and os.chmod not in os.supports_follow_symlinks:
            # what os.chmod does on this platform (no lchmod on Linux)
            raise NotImplementedError("chmod: follow_symlinks unavailable on this platform")
        mode = umode(as_c_int(mode))

        def do() -> None:
            res = self._path_or_fd(path, "chmod", follow_symlinks, dir_fd)
            inode = res.inode
            if st.S_ISLNK(inode.mode):
                raise oserror(errno.EOPNOTSUPP)  # fchmodat2 AT_SYMLINK_NOFOLLOW on a link
            attr = Iattr(
                valid=ATTR_MODE | ATTR_CTIME, mode=(mode & S_IALLUGO) | (inode.mode & ~S_IALLUGO)
            )
            ops.notify_change(self.kernel, res.dentry, attr, self.cred)

        self._sys("chmod", do, path, mode, filename=path)

    def fchmod(self, fd: int, mode: int) -> None:
        """``os.fchmod``."""
        self.chmod(fd, mode)

    def chown(
        self,
        path: Any,
        uid: int,
        gid: int,
        *,
        dir_fd: int | None = None,
        follow_symlinks: bool = True,
    ) -> None:
        """``os.chown``: -1 leaves an id unchanged."""
        uid, gid = as_id(uid, "uid"), as_id(gid, "gid")

        def do() -> None:
            res = self._path_or_fd(path, "chown", follow_symlinks, dir_fd)
            inode = res.inode
            # chown_common
            attr = Iattr(valid=ATTR_CTIME)
            if uid != UID_UNCHANGED:
                attr.valid |= ATTR_UID
                attr.uid = uid
            if gid != UID_UNCHANGED:
                attr.valid |= ATTR_GID
                attr.gid = gid
            from simfs.vfs.inode import ATTR_KILL_PRIV, ATTR_KILL_SUID

            if not st.S_ISDIR(inode.mode):
                attr.valid |= (
                    ATTR_KILL_SUID | ATTR_KILL_PRIV | setattr_should_drop_sgid(inode, self.cred)
                )
            ops.notify_change(self.kernel, res.dentry, attr, self.cred)

        self._sys("chown", do, path, uid, gid, filename=path)

    def lchown(self, path: Any, uid: int, gid: int) -> None:
        """``os.lchown``."""
        self.chown(path, uid, gid, follow_symlinks=False)

    def fchown(self, fd: int, uid: int, gid: int) -> None:
        """``os.fchown``."""
        self.chown(fd, uid, gid)

    def utime(
        self,
        path: Any,
        times: tuple[float, float] | None = None,
        *,
        ns: tuple[int, int] | None = None,
        dir_fd: int | None = None,
        follow_symlinks: bool = True,
    ) -> None:
        """``os.utime``: ``times`` in seconds or ``ns`` in nanoseconds; neither means now."""
        if times is not None and ns is not None:
            raise ValueError("utime: you may specify either 'times' or 'ns' but not both")
        if times is not None and (not isinstance(times, tuple) or len(times) != 2):
            raise TypeError("utime: 'times' must be either a tuple of two ints or None")
        if ns is not None and (not isinstance(ns, tuple) or len(ns) != 2):
            raise TypeError("utime: 'ns' must be a tuple of two ints")
        if ns is not None:
            ns = (_ns_int(ns[0]), _ns_int(ns[1]))
        if times is not None:
            for t in times:
                if isinstance(t, bool) or not isinstance(t, int | float):
                    as_off(t)  # CPython: _PyTime_ObjectToTimespec -> TypeError

        def do() -> None:
            res = self._path_or_fd(path, "utime", follow_symlinks, dir_fd)
            attr = Iattr(valid=ATTR_CTIME | ATTR_ATIME | ATTR_MTIME)
            if times is None and ns is None:
                attr.valid |= ATTR_TOUCH
            else:
                if ns is not None:
                    a, m = ns
                else:
                    assert times is not None
                    a, m = int(times[0] * 10**9), int(times[1] * 10**9)
                attr.atime_ns, attr.mtime_ns = a, m
                attr.valid |= ATTR_ATIME_SET | ATTR_MTIME_SET
            ops.notify_change(self.kernel, res.dentry, attr, self.cred)

        self._sys("utime", do, path, filename=path)

    # --- namespace ---------------------------------------------------------------------------
    def _parent(self, path: str, dir_fd: int | None) -> tuple[Walker, Path, str, int, bool]:
        w = self._walker(dir_fd)
        check_path(path)
        self._check_dirfd(w, path)
        par = w.parent_of(path)
        return w, par.path, par.last, par.type, par.trailing_slash

    def _create_target(self, path: str, dir_fd: int | None, want_dir: bool) -> tuple[Path, Any]:
        """``filename_create``: the parent and a negative dentry for the new name."""
        w, parent, last, type_, trailing = self._parent(path, dir_fd)
        if type_ != LAST_NORM:
            raise oserror(errno.EEXIST)
        dentry = w.lookup_one(parent, last, LOOKUP_CREATE | LOOKUP_EXCL)
        if dentry.inode is not None:
            raise oserror(errno.EEXIST)
        if trailing and not want_dir:
            raise oserror(errno.ENOENT)
        return parent, dentry

    def mkdir(self, path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        """``os.mkdir``."""
        p, _ = _fspath(path, "mkdir")
        mode = umode(as_c_int(mode))

        def do() -> None:
            parent, dentry = self._create_target(p, dir_fd, True)
            dmode = vfs_prepare_mode(
                parent.inode, mode, S_IRWXUGO | st.S_ISVTX, 0, self._umask, self.cred
            )
            ops.vfs_mkdir(parent.inode, dentry, dmode, self.cred)

        self._sys("mkdir", do, p, mode, filename=path)

    def mknod(
        self, path: Any, mode: int = 0o600, device: int = 0, *, dir_fd: int | None = None
    ) -> None:
        """``os.mknod``."""
        p, _ = _fspath(path, "mknod")
        mode, device = umode(as_c_int(mode)), as_dev(device)

        def do() -> None:
            ftype = st.S_IFMT(mode)
            # may_mknod
            if ftype == st.S_IFDIR:
                raise oserror(errno.EPERM)
            if ftype not in (0, st.S_IFREG, st.S_IFCHR, st.S_IFBLK, st.S_IFIFO, st.S_IFSOCK):
                raise oserror(errno.EINVAL)
            parent, dentry = self._create_target(p, dir_fd, False)
            m = vfs_prepare_mode(
                parent.inode, mode, S_IALLUGO, ftype or st.S_IFREG, self._umask, self.cred
            )
            if (ftype or st.S_IFREG) == st.S_IFREG:
                ops.vfs_create(parent.inode, dentry, m, self.cred, False)
            else:
                ops.vfs_mknod(parent.inode, dentry, m, device, self.cred)

        self._sys("mknod", do, p, mode, device, filename=path)

    def mkfifo(self, path: Any, mode: int = 0o666, *, dir_fd: int | None = None) -> None:
        """``os.mkfifo``: ``mknod(S_IFIFO | mode)``; type bits in ``mode`` make it EINVAL."""
        self.mknod(path, umode(as_c_int(mode) | st.S_IFIFO), 0, dir_fd=dir_fd)

    def symlink(
        self, src: Any, dst: Any, target_is_directory: bool = False, *, dir_fd: int | None = None
    ) -> None:
        """``os.symlink(src, dst)``: create ``dst`` pointing at ``src``."""
        s, _ = _fspath(src, "symlink")
        d, _ = _fspath(dst, "symlink")

        def do() -> None:
            if s == "":
                raise oserror(errno.ENOENT)  # getname of the target
            if len(s.encode("utf-8", "surrogateescape")) >= 4096:
                raise oserror(errno.ENAMETOOLONG)
            parent, dentry = self._create_target(d, dir_fd, False)
            ops.vfs_symlink(parent.inode, dentry, s, self.cred)

        self._sys("symlink", do, s, d, filename=src, filename2=dst)

    def readlink(self, path: Any, *, dir_fd: int | None = None) -> Any:
        """``os.readlink``."""
        p, as_bytes = _fspath(path, "readlink")

        def do() -> str:
            res = self._lookup(p, False, dir_fd)
            inode = res.inode
            if not st.S_ISLNK(inode.mode):
                raise oserror(errno.EINVAL)
            from simfs.vfs.ops import touch_atime

            target = inode.get_link(res.dentry, self.cred)
            touch_atime(self.kernel, res)
            return target

        t = self._sys("readlink", do, p, filename=path)
        return os.fsencode(t) if as_bytes else t

    def link(
        self,
        src: Any,
        dst: Any,
        *,
        src_dir_fd: int | None = None,
        dst_dir_fd: int | None = None,
        follow_symlinks: bool = True,
    ) -> None:
        """``os.link`` (``linkat`` without AT_SYMLINK_FOLLOW unless asked: Linux default)."""
        s, _ = _fspath(src, "link")
        d, _ = _fspath(dst, "link")

        def do() -> None:
            # do_linkat: old path first (no trailing-slash follow for the source)
            old = self._lookup(s, False, src_dir_fd)
            tmpfile.link_to(self, old, d, dst_dir_fd)

        self._sys("link", do, s, d, filename=src, filename2=dst)

    def unlink(self, path: Any, *, dir_fd: int | None = None) -> None:
        """``os.unlink``."""
        p, _ = _fspath(path, "unlink")

        def do() -> None:
            w, parent, last, type_, trailing = self._parent(p, dir_fd)
            if type_ != LAST_NORM:
                raise oserror(errno.EISDIR)  # do_unlinkat: '.' or '..'
            dentry = w.lookup_one(parent, last, 0)
            if trailing:
                # do_unlinkat: trailing slash on a non-directory -> ENOTDIR / EISDIR
                if dentry.inode is None:
                    raise oserror(errno.ENOENT)
                raise oserror(errno.EISDIR if st.S_ISDIR(dentry.inode.mode) else errno.ENOTDIR)
            ops.vfs_unlink(parent.inode, dentry, self.cred, self.kernel.mounts)

        self._sys("unlink", do, p, filename=path)

    def remove(self, path: Any, *, dir_fd: int | None = None) -> None:
        """``os.remove`` (same as ``unlink``)."""
        self.unlink(path, dir_fd=dir_fd)

    def rmdir(self, path: Any, *, dir_fd: int | None = None) -> None:
        """``os.rmdir``."""
        p, _ = _fspath(path, "rmdir")

        def do() -> None:
            w, parent, last, type_, _trailing = self._parent(p, dir_fd)
            if type_ == 3:
                raise oserror(errno.ENOTEMPTY)  # do_rmdir: LAST_DOTDOT
            if type_ == 2:
                raise oserror(errno.EINVAL)  # LAST_DOT
            if type_ != LAST_NORM:
                raise oserror(errno.EBUSY)  # LAST_ROOT
            dentry = w.lookup_one(parent, last, 0)
            ops.vfs_rmdir(parent.inode, dentry, self.cred, self.kernel.mounts)

        self._sys("rmdir", do, p, filename=path)

    def rename(
        self, src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None
    ) -> None:
        """``os.rename``."""
        self._rename(src, dst, 0, src_dir_fd, dst_dir_fd, "rename")

    def replace(
        self, src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None
    ) -> None:
        """``os.replace`` (same as ``rename`` on Linux)."""
        self._rename(src, dst, 0, src_dir_fd, dst_dir_fd, "replace")

    def renameat2(self, src: Any, dst: Any, flags: int = 0) -> None:
        """``renameat2(2)`` with RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT."""
        self._rename(src, dst, flags, None, None, "renameat2")

    def _rename(
        self, src: Any, dst: Any, flags: int, sfd: int | None, dfd: int | None, name: str
    ) -> None:
        s, _ = _fspath(src, name)
        d, _ = _fspath(dst, name)

        def do() -> None:
            # do_renameat2, in Linux's order
            if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT):
                raise oserror(errno.EINVAL)
            if flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) and flags & RENAME_EXCHANGE:
                raise oserror(errno.EINVAL)
            if flags & RENAME_WHITEOUT:
                from simfs.vfs.cred import CAP_MKNOD

                if not self.cred.capable(CAP_MKNOD):
                    raise oserror(errno.EPERM)
            w1, opar, olast, otype, otrail = self._parent(s, sfd)
            w2, npar, nlast, ntype, ntrail = self._parent(d, dfd)
            if opar.mnt is not npar.mnt:
                raise oserror(errno.EXDEV)
            if otype != LAST_NORM:
                raise oserror(errno.EBUSY)
            if ntype != LAST_NORM:
                raise oserror(errno.EEXIST if flags & RENAME_NOREPLACE else errno.EBUSY)
            trap = _lock_rename_trap(npar.dentry, opar.dentry)
            old = w1.lookup_one(opar, olast, 0)
            if old.inode is None:
                raise oserror(errno.ENOENT)
            target_flags = 0 if flags & RENAME_EXCHANGE else LOOKUP_RENAME_TARGET
            new = w2.lookup_one(npar, nlast, target_flags)
            if flags & RENAME_NOREPLACE and new.inode is not None:
                raise oserror(errno.EEXIST)
            if flags & RENAME_EXCHANGE:
                if new.inode is None:
                    raise oserror(errno.ENOENT)
                if not st.S_ISDIR(new.inode.mode) and ntrail:
                    raise oserror(errno.ENOTDIR)
            if not st.S_ISDIR(old.inode.mode):
                if otrail:
                    raise oserror(errno.ENOTDIR)
                if not flags & RENAME_EXCHANGE and ntrail:
                    raise oserror(errno.ENOTDIR)
            if old is trap:
                raise oserror(errno.EINVAL)  # source is an ancestor of the target
            if not flags & RENAME_EXCHANGE and new is trap:
                raise oserror(errno.ENOTEMPTY)  # target is an ancestor of the source
            if flags & RENAME_EXCHANGE and new is trap:
                raise oserror(errno.EINVAL)
            ops.vfs_rename(opar.inode, old, npar.inode, new, flags, self.cred, self.kernel.mounts)

        self._sys(name, do, s, d, flags, filename=src, filename2=dst)

    # --- directories -------------------------------------------------------------------------
    def chdir(self, path: Any) -> None:
        """``os.chdir``: search permission on the target (MAY_EXEC|MAY_CHDIR)."""

        def do() -> None:
            from simfs.vfs.inode import MAY_CHDIR

            if isinstance(path, int) and not isinstance(path, bool):
                res = self._file(path).path
            else:
                p, _ = _fspath(path, "chdir")
                res = self._lookup(p, True, None, LOOKUP_DIRECTORY)
            if not st.S_ISDIR(res.inode.mode):
                raise oserror(errno.ENOTDIR)
            inode_permission(res.inode, MAY_EXEC | MAY_CHDIR, self.cred)
            self._set_cwd(res)

        self._sys("chdir", do, path, filename=path)

    def fchdir(self, fd: int) -> None:
        """``os.fchdir``."""
        self.chdir(fd)

    def _set_cwd(self, res: Path) -> None:
        old = self.cwd
        res.dentry.pins += 1
        res.mnt.busy_refs += 1
        self.cwd = res
        old.dentry.pins -= 1
        old.mnt.busy_refs -= 1
        self.kernel.note_released(old.dentry)

    def getcwd(self) -> str:
        """``os.getcwd``: ENOENT once the directory was removed."""

        def do() -> str:
            return self._d_path(self.cwd, deleted_errno=errno.ENOENT)

        return self._sys("getcwd", do)

    def _d_path(self, path: Path, deleted_errno: int | None = None) -> str:
        """``d_path``/``prepend_path`` up to the task's root."""
        parts: list[str] = []
        mnt, d = path.mnt, path.dentry
        if deleted_errno is not None and (d.unhashed or (d.inode is not None and d.inode.dead)):
            raise oserror(deleted_errno)
        while True:
            if mnt is self.root.mnt and d is self.root.dentry:
                break
            if d is mnt.root:
                if mnt.parent is None or mnt.mountpoint is None:
                    break
                d, mnt = mnt.mountpoint, mnt.parent
                continue
            parts.append(d.name)
            d = d.d_parent
        return "/" + "/".join(reversed(parts))

    def listdir(self, path: Any = ".") -> list[Any]:
        """``os.listdir``: names without ``.`` and ``..``, in the filesystem's order."""
        if isinstance(path, int) and not isinstance(path, bool):
            as_bytes = False
        else:
            _, as_bytes = _fspath(path, "listdir")
        names = [e.name for e in self._read_dir(path, "listdir", True)]
        return [os.fsencode(n) for n in names] if as_bytes else names

    def scandir(self, path: Any = ".") -> _ScandirIterator:
        """``os.scandir``."""
        as_bytes = False
        if isinstance(path, int) and not isinstance(path, bool):
            dirpath = "."
        else:
            dirpath, as_bytes = _fspath(path, "scandir")
        ents = self._read_dir(path, "scandir", True)
        return _ScandirIterator(
            [
                SimDirEntry(self, dirpath, e.name, e.ino, e.dtype, as_bytes) for e in ents
            ]
        )

    def _read_dir(self, path: Any, fn: str, glibc_eof: bool = False) -> list[Any]:
        """Open, iterate, close; the entries without ``.`` and ``..``.

        CPython's ``os.listdir``/``os.scandir`` (``_posix_listdir``, ``ScandirIterator``)
        skip the two dot entries readdir returns; they are dropped inside the system call's
        span so the trace records what the caller gets.  ``glibc_eof``: glibc's readdir
        takes ENOENT from getdents (a removed directory) as end-of-directory, so
        listdir/scandir see []."""

        def do() -> list[Any]:
            if isinstance(path, int) and not isinstance(path, bool):
                f = self._file(path)
                dup = ops.alloc_file(f.path, f.flags, f.fmode)
                file = ops.vfs_open(self.kernel, f.path, os.O_RDONLY | O_DIRECTORY, self.cred, dup)
            else:
                p, _ = _fspath(path, fn)
                file = self._do_open(p, os.O_RDONLY | O_DIRECTORY, 0, None)
            file.refs = 1
            try:
                # glibc opendir: open(O_DIRECTORY) then fstat (for the buffer size); a stale
                # FUSE directory answers that fstat with GETATTR
                ops.vfs_getattr(file.path, self.cred)
                ents = ops.iterate_dir(self.kernel, file, self.cred)
                return [e for e in ents if e.name not in (".", "..")]
            except OSError as e:
                if glibc_eof and e.errno == errno.ENOENT:
                    return []
                raise
            finally:
                ops.filp_close(self.kernel, file)
                ops.fput(self.kernel, file)

        return self._sys(fn, do, path)

    # --- xattrs --------------------------------------------------------------------------------
    def getxattr(self, path: Any, attribute: Any, *, follow_symlinks: bool = True) -> bytes:
        """``os.getxattr``."""
        name = _xattr_name(attribute, "getxattr")

        def do(size: int) -> bytes:
            res = self._path_or_fd(path, "getxattr", follow_symlinks)
            return ops.vfs_getxattr(res.dentry, name, self.cred, size)

        # CPython's os.getxattr: a 128-byte buffer, then XATTR_SIZE_MAX on ERANGE
        try:
            return self._sys("getxattr", lambda: do(128), path, name, filename=path)
        except OSError as e:
            if e.errno != errno.ERANGE:
                raise
        return self._sys("getxattr", lambda: do(ops.XATTR_SIZE_MAX), path, name, filename=path)

    def setxattr(
        self,
        path: Any,
        attribute: Any,
        value: bytes,
        flags: int = 0,
        *,
        follow_symlinks: bool = True,
    ) -> None:
        """``os.setxattr``."""
        name = _xattr_name(attribute, "setxattr")
        val, flags = as_buffer(value), as_c_int(flags)

        def do() -> None:
            res = self._path_or_fd(path, "setxattr", follow_symlinks)
            ops.vfs_setxattr(res.dentry, name, val, flags, self.cred)

        self._sys("setxattr", do, path, name, val, flags, filename=path)

    def listxattr(self, path: Any = None, *, follow_symlinks: bool = True) -> list[str]:
        """``os.listxattr``."""

        def do(size: int) -> list[str]:
            res = self._path_or_fd("." if path is None else path, "listxattr", follow_symlinks)
            return ops.vfs_listxattr(res.dentry, self.cred, size)

        # CPython's os.listxattr: a 256-byte buffer, then XATTR_LIST_MAX on ERANGE
        try:
            return self._sys("listxattr", lambda: do(256), path, filename=path)
        except OSError as e:
            if e.errno != errno.ERANGE:
                raise
        return self._sys("listxattr", lambda: do(ops.XATTR_LIST_MAX), path, filename=path)

    def removexattr(self, path: Any, attribute: Any, *, follow_symlinks: bool = True) -> None:
        """``os.removexattr``."""
        name = _xattr_name(attribute, "removexattr")

        def do() -> None:
            res = self._path_or_fd(path, "removexattr", follow_symlinks)
            ops.vfs_removexattr(res.dentry, name, self.cred)

        self._sys("removexattr", do, path, name, filename=path)

    # --- filesystems ---------------------------------------------------------------------------
    def statvfs(self, path: Any) -> os.statvfs_result:
        """``os.statvfs``."""

        def do() -> os.statvfs_result:
            res = self._path_or_fd(path, "statvfs", True)
            s = ops.vfs_statfs(res, self.cred)
            return os.statvfs_result(
                (
                    s.f_bsize,
                    s.f_frsize,
                    s.f_blocks,
                    s.f_bfree,
                    s.f_bavail,
                    s.f_files,
                    s.f_ffree,
                    s.f_ffree,
                    s.f_flag,
                    s.f_namelen,
                    s.f_fsid,
                )
            )

        return self._sys("statvfs", do, path, filename=path)

    def fstatvfs(self, fd: int) -> os.statvfs_result:
        """``os.fstatvfs``."""
        return self.statvfs(fd)

    def statfs(self, path: Any) -> Any:
        """``statfs(2)``: the raw ``struct statfs`` (with ``f_type``), which ``os`` lacks."""

        def do() -> Any:
            res = self._path_or_fd(path, "statfs", True)
            return ops.vfs_statfs(res, self.cred)

        return self._sys("statfs", do, path, filename=path)

    def umask(self, mask: int) -> int:
        """``os.umask``: set, return the previous one."""
        old = self._umask
        self._umask = as_c_int(mask) & 0o777
        return old

    def getuid(self) -> int:
        return self.cred.uid

    def getgid(self) -> int:
        return self.cred.gid

    def getpid(self) -> int:
        return self.pid

    # --- pipes, splice, mmap, fadvise ------------------------------------------------------
    def pipe(self) -> tuple[int, int]:
        """``os.pipe``: (read end, write end)."""

        def do() -> tuple[int, int]:
            from simfs.vfs.pipe import PipeInode

            k = self.kernel
            inode = PipeInode(k.pipe_sb, k.next_anon_ino(), k.clock.now_ns())
            path = k.anon_path(inode)
            r = ops.alloc_file(path, os.O_RDONLY, ops.open_fmode(os.O_RDONLY))
            w = ops.alloc_file(path, os.O_WRONLY, ops.open_fmode(os.O_WRONLY))
            for _f in (r, w):
                inode.open_count += 1
                path.dentry.pins += 1
            return self.fdtable.alloc(r), self.fdtable.alloc(w)

        return self._sys("pipe", do)

    def splice(
        self,
        src: int,
        dst: int,
        count: int,
        offset_src: int | None = None,
        offset_dst: int | None = None,
        flags: int = 0,
    ) -> int:
        """``os.splice``: move up to ``count`` bytes between a pipe and a file."""
        src, dst, count = as_fd(src), as_fd(dst), as_ssize(count)
        if count < 0:
            raise ValueError("negative value for 'count' not allowed")
        offset_src = None if offset_src is None else as_off(offset_src)
        offset_dst = None if offset_dst is None else as_off(offset_dst)
        flags = as_flags(flags)

        def do() -> int:
            fin, fout = self._file(src), self._file(dst)
            in_pipe = st.S_ISFIFO(fin.inode.mode)
            out_pipe = st.S_ISFIFO(fout.inode.mode)
            if not fin.readable or not fout.writable:
                raise oserror(errno.EBADF)
            if not in_pipe and not out_pipe:
                raise oserror(errno.EINVAL)  # do_splice: one end must be a pipe
            if (in_pipe and offset_src is not None) or (out_pipe and offset_dst is not None):
                raise oserror(errno.ESPIPE)
            for off in (offset_src, offset_dst):
                if off is not None:
                    ops.rw_verify_area(off, count)  # splice_file_to_pipe/do_splice_from
            if count == 0:
                return 0
            if in_pipe:
                data = fin.inode.read(fin, 0, count)
                pos = fout.pos if offset_dst is None else offset_dst
                if fout.flags & os.O_APPEND:
                    pos = fout.inode.size
                n = fout.inode.splice_write(fout, pos, data)
                if offset_dst is None:
                    fout.pos = pos + n
                return n
            pos = fin.pos if offset_src is None else offset_src
            data = fin.inode.splice_read(fin, pos, count)
            n = fout.inode.write(fout, 0, data) if data else 0
            if offset_src is None:
                fin.pos = pos + n
            ops.touch_atime(self.kernel, fin.path)
            return n

        return self._sys("splice", do, src, dst, count)

    def posix_fadvise(self, fd: int, offset: int, length: int, advice: int) -> None:
        """``os.posix_fadvise``."""
        fd, offset, length, advice = as_fd(fd), as_off(offset), as_off(length), as_c_int(advice)

        def do() -> None:
            f = self._file(fd)
            if st.S_ISFIFO(f.inode.mode):
                raise oserror(errno.ESPIPE)
            if length < 0 or advice not in range(0, 6):
                raise oserror(errno.EINVAL)
            f.inode.fadvise(f, offset, length, advice)

        self._sys("fadvise64", do, fd, offset, length, advice)

    def mmap(self, fd: int, length: int, flags: int = 1, prot: int = 3, offset: int = 0) -> Any:
        """``mmap(2)`` of a descriptor: a :class:`simfs.vfs.pipe.Mapping` (index/slice it).

        ``flags``/``prot`` take the ``mmap`` module's MAP_*/PROT_* values (defaults:
        MAP_SHARED, PROT_READ|PROT_WRITE), as ``mmap.mmap`` does, and so are the arguments
        converted (``new_mmap_object``: TypeError, OverflowError for a negative length or
        offset).  Sizes follow ``mmap(2)``, not the module's ``fstat`` checks: a map may
        reach past the end of the file, and ``length`` 0 is EINVAL.
        """
        fd, length, offset = as_fd(fd), as_ssize(length), as_off(offset)
        flags, prot = as_c_int(flags), as_c_int(prot)
        if length < 0:
            raise OverflowError("memory mapped length must be positive")
        if offset < 0:
            raise OverflowError("memory mapped offset must be positive")

        def do() -> Any:
            from simfs.vfs.pipe import MAP_PRIVATE, MAP_SHARED, PROT_WRITE, Mapping

            f = self._file(fd)
            if length <= 0 or offset < 0 or offset % 4096:
                raise oserror(errno.EINVAL)
            if not flags & (MAP_SHARED | MAP_PRIVATE):
                raise oserror(errno.EINVAL)
            if f.is_path or not f.readable:
                raise oserror(errno.EACCES)  # do_mmap: FMODE_READ is always needed
            if flags & MAP_SHARED and prot & PROT_WRITE and not f.writable:
                raise oserror(errno.EACCES)
            inode, target = f.inode.mmap_target(f)
            return Mapping(self.kernel, inode, target, length, prot, flags, offset)

        return self._sys("mmap", do, fd, length, flags, prot, offset)

    def bpf_prog_load(self, prog: Any) -> int:
        """``bpf(BPF_PROG_LOAD)`` of a ``@simfs.bpf.program``: a descriptor for it.

        The descriptor can be passed as ``root_bpf`` or in a lookup reply's ``bpf_fd``.
        """
        from simfs.bpf import prog_load

        fd: int = self._sys("bpf", lambda: prog_load(self, prog), getattr(prog, "name", prog))
        return fd

    def exit(self) -> None:
        """Close every descriptor and leave (as ``exit_files`` does)."""

        def do() -> None:
            for fd in sorted(self.fdtable.fds):
                file = self.fdtable.remove(fd)
                ops.filp_close(self.kernel, file)
                ops.fput(self.kernel, file)
            self.alive = False

        self._sys("exit", do)

    # === inotify (fs/notify/inotify/inotify_user.c) =========================================
    # The kernel side is simfs.vfs.fsnotify; events are read with Process.read(fd, n) as
    # packed struct inotify_event records.
    def inotify_init(self, flags: int = 0) -> int:
        """``inotify_init1(flags)``: a new inotify instance; ``IN_CLOEXEC``/``IN_NONBLOCK``
        (other bits -> EINVAL).  Reads never block here: an empty queue gives EAGAIN."""

        def do() -> int:
            if flags & ~(fsnotify.IN_CLOEXEC | fsnotify.IN_NONBLOCK):
                raise oserror(errno.EINVAL)
            k = self.kernel
            inode = fsnotify.InotifyInode(k.pipe_sb, k.next_anon_ino(), k.clock.now_ns(), k)
            path = k.anon_path(inode, "anon_inode:inotify")
            file = ops.alloc_file(path, os.O_RDONLY | flags, ops.open_fmode(os.O_RDONLY))
            inode.open_count += 1
            path.dentry.pins += 1
            return self.fdtable.alloc(file, bool(flags & fsnotify.IN_CLOEXEC))

        return self._sys("inotify_init1", do, flags)

    def _inotify_group(self, fd: int) -> fsnotify.InotifyInode:
        group = self._file(fd).inode  # fdget: EBADF
        if not isinstance(group, fsnotify.InotifyInode):
            raise oserror(errno.EINVAL)  # not an inotify instance
        return group

    def inotify_add_watch(self, fd: int, path: Any, mask: int) -> int:
        """``inotify_add_watch``: the watch descriptor (an existing watch of this instance
        on the same inode is updated).  EINVAL for a mask without inotify bits, with both
        IN_MASK_ADD and IN_MASK_CREATE, or a descriptor that is not an inotify instance;
        EEXIST for IN_MASK_CREATE on a watched inode; the walk's and MAY_READ's errors."""
        p, _ = _fspath(path, "inotify_add_watch")

        def do() -> int:
            if not mask & fsnotify.ALL_INOTIFY_BITS:
                raise oserror(errno.EINVAL)
            group = self._inotify_group(fd)
            if mask & fsnotify.IN_MASK_ADD and mask & fsnotify.IN_MASK_CREATE:
                raise oserror(errno.EINVAL)
            flags = 0 if mask & fsnotify.IN_DONT_FOLLOW else LOOKUP_FOLLOW
            if mask & fsnotify.IN_ONLYDIR:
                flags |= LOOKUP_DIRECTORY
            res = self._lookup(p, bool(flags & LOOKUP_FOLLOW), None, flags & LOOKUP_DIRECTORY)
            if mask & fsnotify.IN_ONLYDIR and not st.S_ISDIR(res.inode.mode):
                raise oserror(errno.ENOTDIR)
            inode_permission(res.inode, MAY_READ, self.cred)  # inotify_find_inode
            return fsnotify.inotify_add_watch(group, res, mask)

        return self._sys("inotify_add_watch", do, fd, p, mask)

    def inotify_rm_watch(self, fd: int, wd: int) -> None:
        """``inotify_rm_watch``: EINVAL for an unknown watch (an IN_IGNORED event follows
        the removal)."""

        def do() -> None:
            fsnotify.inotify_rm_watch(self._inotify_group(fd), wd)

        self._sys("inotify_rm_watch", do, fd, wd)

    # === issue 17: POSIX/OFD locks, fcntl, lockf, O_TMPFILE linkat, ioctl ===================
    # The logic lives in simfs.vfs.fcntl / simfs.vfs.locks / simfs.vfs.ioctl; these are the
    # os/fcntl-module-shaped entry points.
    def fcntl(self, fd: int, cmd: int, arg: Any = 0) -> Any:
        """``fcntl.fcntl``: int or bytes ``arg``, returns an int or the bytes the kernel
        wrote back.  F_GETLK/F_SETLK/F_SETLKW and F_OFD_* take a ``struct flock``
        (``struct.pack("hhqqi", type, whence, start, len, pid)``); F_DUPFD(_CLOEXEC),
        F_GETFD/F_SETFD, F_GETFL/F_SETFL.  A blocking lock that would sleep raises
        :class:`simfs.errors.LockWouldSleep` (see :meth:`fcntl_sleep`)."""
        from simfs.vfs.fcntl import do_fcntl

        # fcntl_fcntl_impl: the descriptor by PyObject_AsFileDescriptor, ``cmd`` a C int
        fd, cmd = as_fileno(fd), as_c_int(cmd)
        return self._sys("fcntl", lambda: do_fcntl(self, fd, cmd, arg), fd, cmd)

    def fcntl_sleep(self, fd: int, cmd: int, arg: bytes) -> Any:
        """F_SETLKW/F_OFD_SETLKW as a task that may sleep: returns a
        :class:`simfs.vfs.locks.LockWait` (``granted`` at once or later, when the blocking
        locks go away), or raises EAGAIN-free errors as ``fcntl`` (EDEADLK, EBADF, ...).
        A signal ending the sleep: :meth:`fcntl_cancel`."""
        from simfs.vfs import fcntl as vfs_fcntl

        def do() -> Any:
            buf = vfs_fcntl.arg_buffer(arg)
            return vfs_fcntl.fcntl_setlk(self, self._file(fd), cmd, buf, may_sleep=True)

        return self._sys("fcntl", do, fd, cmd)

    def fcntl_cancel(self, wait: Any) -> None:
        """A signal interrupts a task asleep in F_SETLKW (EINTR for it): the request leaves
        the blocked list (``locks_delete_block``) without taking the lock."""
        if wait.pending:
            wait.cancelled = True
        self.kernel.blocked_locks[:] = [w for w in self.kernel.blocked_locks if w.pending]

    def linkat(
        self, src_dir_fd: int, src: Any, dst_dir_fd: int, dst: Any, flags: int = 0
    ) -> None:
        """``linkat(2)``: AT_SYMLINK_FOLLOW, AT_EMPTY_PATH (``linkat(fd, "", AT_FDCWD,
        name, AT_EMPTY_PATH)`` names an O_TMPFILE file once)."""
        s, _ = _fspath(src, "linkat")
        d, _ = _fspath(dst, "linkat")
        self._sys(
            "linkat",
            lambda: tmpfile.do_linkat(self, src_dir_fd, s, dst_dir_fd, d, flags),
            src_dir_fd, s, dst_dir_fd, d, flags,
        )

    def ioctl(self, fd: int, request: int, arg: Any = 0) -> Any:
        """``fcntl.ioctl``: FS_IOC_GETFLAGS/FS_IOC_SETFLAGS (tmpfs's inode flags: append-only,
        immutable, nodump, noatime) and FIONREAD; other requests ENOTTY."""
        from simfs.vfs.ioctl import do_vfs_ioctl

        return self._sys("ioctl", lambda: do_vfs_ioctl(self, fd, request, arg), fd, request)

    def lockf(
        self, fd: int, cmd: int, len: int = 0, start: int = 0, whence: int = os.SEEK_SET
    ) -> None:
        """``fcntl.lockf``: POSIX locks through F_SETLK (LOCK_NB) or F_SETLKW."""
        from simfs.vfs.fcntl import lockf, lockf_type

        # fcntl_lockf_impl converts every argument (and rejects ``cmd``) before fcntl(2)
        fd, cmd, whence = as_fileno(fd), as_c_int(cmd), as_c_int(whence)
        len, start = as_off(len), as_off(start)
        lockf_type(cmd)
        self._sys("fcntl", lambda: lockf(self, fd, cmd, len, start, whence), fd, cmd)


def _lock_rename_trap(p1: Any, p2: Any) -> Any:
    """``lock_rename(p1=new_dir, p2=old_dir)``: the dentry a rename must not touch.

    If the old directory is an ancestor of the new one, the trap is old_dir's child on
    the way down; if the new directory is an ancestor of the old one, new_dir's child.
    """
    if p1 is p2:
        return None
    d = p1
    while d.parent is not None:
        if d.parent is p2:
            return d
        d = d.parent
    d = p2
    while d.parent is not None:
        if d.parent is p1:
            return d
        d = d.parent
    return None


_ = (dtype_of, _UTIME_NOW)
