"""Mainline FUSE passthrough (Linux 6.9+, protocol 7.40), as 6.18 has it.

Mirrors torvalds/linux ``fs/fuse/backing.c`` (the backing-file ids: ``fuse_backing_open``,
``fuse_backing_close``, ``fuse_backing_lookup``) and ``fs/fuse/passthrough.c`` (read,
write, splice and mmap of a passthrough file served by its backing file, with no
request), for ``variant="upstream"`` mounts.  The open-time rules (which open may use
which backing file) are :mod:`simfs.fuse.iomode`.

The daemon registers a file it has open with ``FUSE_DEV_IOC_BACKING_OPEN``
(:meth:`simfs.Daemon.backing_open`) and gets an id; an OPEN or CREATE reply with
``FOPEN_PASSTHROUGH`` and that ``backing_id`` makes the kernel open the backing file's
path again for the fuse file (``backing_file_open``, with the daemon's credentials saved at
registration) and from then on read/write/splice/mmap go to it.  Everything else (LOOKUP,
GETATTR, FLUSH, RELEASE, xattrs, the ``security.capability`` probe before a write...) still
goes to the daemon.  This is unlike fuse-bpf, where the kernel opens the lower file
itself and can also serve lookups and attributes.

Not modelled: the async (``io_uring``/AIO) completion paths, ``FUSE_BACKING_TYPE_*``
flags of kernels after 6.18 (6.18 refuses any flag with EINVAL, as here).
"""

from __future__ import annotations

import errno
import os
import stat as st
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simfs.fuse import file as _file
from simfs.vfs import ops
from simfs.vfs.cred import CAP_SYS_ADMIN, Cred
from simfs.vfs.inode import Inode, oserror

if TYPE_CHECKING:
    from simfs.fuse.dev import FuseConn
    from simfs.fuse.inode import FuseFile, FuseInode
    from simfs.kernel import Kernel
    from simfs.vfs.file import File

__all__ = [
    "FuseBacking",
    "FuseDevice",
    "fuse_backing_close",
    "fuse_backing_lookup",
    "fuse_backing_open",
    "fuse_backing_put",
    "fuse_passthrough_mmap",
    "fuse_passthrough_open",
    "fuse_passthrough_read_iter",
    "fuse_passthrough_release",
    "fuse_passthrough_write_iter",
]


@dataclass(eq=False)
class FuseBacking:
    """``struct fuse_backing``: a registered backing file and the registering daemon's
    credentials; ``count`` is the refcount (the id map holds one, each passthrough inode
    one)."""

    file: File
    cred: Cred
    count: int = 1


class BackingMap:
    """``fc->backing_files_map``: an ``idr`` allocated cyclically from 1."""

    def __init__(self) -> None:
        self.ids: dict[int, FuseBacking] = {}
        self._next = 1

    def alloc(self, fb: FuseBacking) -> int:
        """``idr_alloc_cyclic(&fc->backing_files_map, fb, 1, 0, ...)``."""
        i = self._next
        while i in self.ids:
            i += 1
        self.ids[i] = fb
        self._next = i + 1
        return i


def _backing_map(fc: FuseConn) -> BackingMap:
    bm = getattr(fc, "backing_files", None)
    if bm is None:
        bm = BackingMap()
        fc.backing_files = bm
    return bm


def _may_admin(fc: FuseConn, cred: Cred) -> None:
    # backing.c: "TODO: relax CAP_SYS_ADMIN once backing files are visible to lsof"
    if not fc.passthrough_upstream or not cred.capable(CAP_SYS_ADMIN):
        raise oserror(errno.EPERM)


def fuse_backing_open(fc: FuseConn, proc: Any, fd: int, flags: int = 0, padding: int = 0) -> int:
    """``fuse_backing_open``: register the file at ``fd`` of ``proc``; returns the id.

    EPERM without negotiated passthrough or CAP_SYS_ADMIN; EINVAL for any flag or padding;
    EBADF for a closed fd (``fget_raw``: an ``O_PATH`` fd is fine); EISDIR for a
    directory and EINVAL for anything else that is not a regular file ("read/write/splice/
    mmap passthrough only relevant for regular files"); ELOOP when the file's filesystem
    is already ``max_stack_depth`` deep.
    """
    _may_admin(fc, proc.cred)
    if flags or padding:
        raise oserror(errno.EINVAL)
    try:
        file: File = proc.fdtable.get(fd)
    except OSError:
        raise oserror(errno.EBADF) from None
    mode = file.inode.mode
    if not st.S_ISREG(mode):
        raise oserror(errno.EISDIR if st.S_ISDIR(mode) else errno.EINVAL)
    if getattr(file.inode.sb, "s_stack_depth", 0) >= fc.max_stack_depth:
        raise oserror(errno.ELOOP)
    file.refs += 1  # the fget_raw reference, now the backing's
    return _backing_map(fc).alloc(FuseBacking(file, proc.cred))


def fuse_backing_put(k: Kernel, fb: FuseBacking | None) -> None:
    """``fuse_backing_put``: the last reference drops the backing file."""
    if fb is None:
        return
    fb.count -= 1
    if fb.count == 0:
        ops.fput(k, fb.file)


def fuse_backing_close(k: Kernel, fc: FuseConn, proc: Any, backing_id: int) -> None:
    """``fuse_backing_close``: EPERM as for open, EINVAL for an id <= 0, ENOENT for an id
    that is not registered.  Files and inodes already using it keep their reference."""
    _may_admin(fc, proc.cred)
    if backing_id <= 0:
        raise oserror(errno.EINVAL)
    fb = _backing_map(fc).ids.pop(backing_id, None)
    if fb is None:
        raise oserror(errno.ENOENT)
    fuse_backing_put(k, fb)


def fuse_backing_lookup(fc: FuseConn, backing_id: int) -> FuseBacking | None:
    """``fuse_backing_lookup``: the registered backing with a reference taken."""
    fb = _backing_map(fc).ids.get(backing_id)
    if fb is not None:
        fb.count += 1
    return fb


def fuse_backing_files_free(k: Kernel, fc: FuseConn) -> None:
    """``fuse_backing_files_free`` (connection teardown): drop every registered id."""
    bm = getattr(fc, "backing_files", None)
    if bm is None:
        return
    for fb in list(bm.ids.values()):
        fuse_backing_put(k, fb)
    bm.ids.clear()


class FuseDevice:
    """The simulated daemon's ``/dev/fuse`` descriptor as far as its ioctls go."""

    def __init__(self, kernel: Kernel, fc: FuseConn, daemon: Any) -> None:
        self.kernel = kernel
        self.fc = fc
        self.daemon = daemon

    def backing_open(self, fd: int, flags: int = 0) -> int:
        """``ioctl(FUSE_DEV_IOC_BACKING_OPEN)`` made by the daemon's process."""
        proc = self.daemon.proc
        return int(
            proc._sys(
                "ioctl(FUSE_DEV_IOC_BACKING_OPEN)",
                lambda: fuse_backing_open(self.fc, proc, fd, flags),
                fd,
            )
        )

    def backing_close(self, backing_id: int) -> None:
        """``ioctl(FUSE_DEV_IOC_BACKING_CLOSE)`` made by the daemon's process."""
        proc = self.daemon.proc
        proc._sys(
            "ioctl(FUSE_DEV_IOC_BACKING_CLOSE)",
            lambda: fuse_backing_close(self.kernel, self.fc, proc, backing_id),
            backing_id,
        )


# ---------------------------------------------------------------------------------------
# passthrough.c


def fuse_passthrough_open(k: Kernel, file: File, ff: FuseFile, backing_id: int) -> FuseBacking:
    """``fuse_passthrough_open``: look the id up and open the backing file's path for this
    fuse file (``backing_file_open`` with the fuse file's flags and the daemon's saved
    credentials).  EINVAL for an id <= 0, ENOENT for an unknown (or closed) id; the open's
    own error otherwise.  Returns the backing with the reference the inode will hold."""
    fc = ff_conn(file)
    if backing_id <= 0:
        raise oserror(errno.EINVAL)
    fb = fuse_backing_lookup(fc, backing_id)
    if fb is None:
        raise oserror(errno.ENOENT)
    try:
        flags = file.flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_TRUNC)
        bf = ops.vfs_open(k, fb.file.path, flags, fb.cred)
    except OSError:
        fuse_backing_put(k, fb)
        raise
    bf.refs = 1
    ff.passthrough = bf
    return fb


def ff_conn(file: File) -> FuseConn:
    """The connection a fuse file belongs to."""
    conn: FuseConn = file.inode.sb.fm.conn  # type: ignore[attr-defined]
    return conn


def fuse_passthrough_release(k: Kernel, ff: FuseFile) -> None:
    """``fuse_passthrough_release``: drop this fuse file's backing file."""
    bf = ff.passthrough
    if bf is not None:
        ff.passthrough = None
        ops.fput(k, bf)


def passthrough_file(file: File) -> File | None:
    """``fuse_file_passthrough(ff)``: the backing file of a passthrough fuse file."""
    bf = getattr(file.private, "passthrough", None)
    return bf if bf is not None else None


def fuse_passthrough_read_iter(inode: FuseInode, file: File, offset: int, size: int) -> bytes:
    """``fuse_passthrough_read_iter`` -> ``backing_file_read_iter``: read the backing file
    (no READ request); ``fuse_file_accessed`` invalidates the cached atime."""
    bf = passthrough_file(file)
    assert bf is not None
    if size == 0:
        return b""
    k = inode.sb.kernel
    data = ops.vfs_read(k, bf, size, offset)
    inode.invalidate_atime()  # fuse_file_accessed -> fuse_invalidate_atime
    return data


def fuse_passthrough_write_iter(inode: FuseInode, file: File, offset: int, data: bytes) -> int:
    """``fuse_passthrough_write_iter`` -> ``backing_file_write_iter``: kill privileges on
    the fuse file (``file_remove_privs``: the ``security.capability`` GETXATTR probe still
    goes to the daemon), write the backing file (no WRITE request), then
    ``fuse_passthrough_end_write`` -> ``fuse_write_update_attr``: size grows, attributes
    go stale."""
    bf = passthrough_file(file)
    assert bf is not None
    if not data:
        return 0
    k = inode.sb.kernel
    ops.file_remove_privs(k, file, k.current_cred())
    n = ops.vfs_write(k, bf, data, offset)
    # the backing write's own position (O_APPEND: the backing file's end) is ki_pos
    end = bf.inode.size if bf.flags & os.O_APPEND else offset + n
    _file.write_update_attr(inode, end, n)
    return n


def fuse_passthrough_mmap(inode: FuseInode, file: File) -> tuple[Inode, File] | None:
    """``fuse_passthrough_mmap`` -> ``backing_file_mmap``: the mapping's file becomes the
    backing file (also with ``FOPEN_DIRECT_IO``, where read/write go to the daemon);
    ``fuse_file_accessed``.  ``None`` for a file without passthrough."""
    bf = passthrough_file(file)
    if bf is None:
        return None
    inode.invalidate_atime()
    return bf.inode, bf
