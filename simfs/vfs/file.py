"""Open file descriptions and descriptor tables (``fs/file_table.c``, ``fs/file.c``,
``fs/read_write.c``).

A :class:`File` is Linux's ``struct file``: one per ``open``, shared by ``dup``'ed
descriptors (hence a shared offset).  The driver's private data (FUSE's ``fuse_file``)
hangs off ``private``.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simfs.vfs.inode import oserror

if TYPE_CHECKING:
    from simfs.vfs.inode import Inode
    from simfs.vfs.mount import Path

FMODE_READ = 0x1
FMODE_WRITE = 0x2
FMODE_PATH = 0x4000

SEEK_SET = os.SEEK_SET
SEEK_CUR = os.SEEK_CUR
SEEK_END = os.SEEK_END
SEEK_DATA = getattr(os, "SEEK_DATA", 3)
SEEK_HOLE = getattr(os, "SEEK_HOLE", 4)

MAX_LFS_FILESIZE = (1 << 63) - 1

_next_file_id = 0


@dataclass(eq=False)
class File:
    """``struct file``."""

    path: Path
    inode: Inode
    flags: int
    fmode: int
    pos: int = 0
    private: Any = None
    refs: int = 0
    id: int = field(default=0)
    released: bool = False
    #: ``f_cred``: the opener's credentials (None where simfs does not record them)
    f_cred: Any = None

    @property
    def readable(self) -> bool:
        return bool(self.fmode & FMODE_READ)

    @property
    def writable(self) -> bool:
        return bool(self.fmode & FMODE_WRITE)

    @property
    def is_path(self) -> bool:
        return bool(self.fmode & FMODE_PATH)

    @property
    def dentry(self) -> Any:
        return self.path.dentry


def generic_file_llseek(file: File, offset: int, whence: int, size: int) -> int:
    """``generic_file_llseek_size`` with SEEK_DATA/SEEK_HOLE for a file without holes
    information (the whole file is data; the only hole is the virtual one at EOF)."""
    if whence == SEEK_SET:
        new = offset
    elif whence == SEEK_CUR:
        if offset == 0:
            return file.pos  # vfs_setpos is skipped for a pure query
        new = file.pos + offset
    elif whence == SEEK_END:
        new = size + offset
    elif whence == SEEK_DATA:
        # generic_file_llseek_size: offset beyond EOF -> -ENXIO
        if offset < 0 or offset >= size:
            raise oserror(errno.ENXIO)
        new = offset
    elif whence == SEEK_HOLE:
        if offset < 0 or offset >= size:
            raise oserror(errno.ENXIO)
        new = size
    else:
        raise oserror(errno.EINVAL)
    # vfs_setpos: negative or too large -> -EINVAL
    if new < 0 or new > MAX_LFS_FILESIZE:
        raise oserror(errno.EINVAL)
    file.pos = new
    return new


@dataclass
class FdEntry:
    file: File
    cloexec: bool = False


class FdTable:
    """A task's descriptor table; ``alloc`` hands out the lowest free number."""

    def __init__(self, max_fds: int = 1024) -> None:
        self.fds: dict[int, FdEntry] = {}
        self.max_fds = max_fds

    def alloc(self, file: File, cloexec: bool = False, lowest: int = 0) -> int:
        fd = lowest
        while fd in self.fds:
            fd += 1
        if fd >= self.max_fds:
            raise oserror(errno.EMFILE)  # alloc_fd: over RLIMIT_NOFILE
        self.fds[fd] = FdEntry(file, cloexec)
        file.refs += 1
        return fd

    def get(self, fd: int) -> File:
        """``fdget``: unknown or closed descriptor -> ``EBADF``."""
        if not isinstance(fd, int) or isinstance(fd, bool):
            raise TypeError(f"an integer is required (got type {type(fd).__name__})")
        ent = self.fds.get(fd)
        if ent is None:
            raise oserror(errno.EBADF)
        return ent.file

    def remove(self, fd: int) -> File:
        ent = self.fds.pop(fd, None)
        if ent is None:
            raise oserror(errno.EBADF)
        return ent.file

    def install(self, fd: int, file: File) -> File | None:
        """``dup2``-style install; returns the file previously at ``fd`` (to be closed)."""
        old = self.fds.get(fd)
        self.fds[fd] = FdEntry(file, False)
        file.refs += 1
        return old.file if old is not None else None
