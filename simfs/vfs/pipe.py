"""Pipes and memory mappings (``fs/pipe.c``, ``fs/splice.c``, ``mm/mmap.c``) — just enough
for the Android self-tests that splice and mmap through FUSE-BPF files.

A pipe is an anonymous inode holding a byte buffer of ``PIPE_BUF_SIZE``.  A mapping is a
window on a file's data: a ``MAP_SHARED`` store writes through to the file (as a page
fault plus writeback would), a load reads it.  FUSE-BPF redirects both to the backing
file (``fuse_backing_mmap``): the driver's ``mmap_target`` hook says where.
"""

from __future__ import annotations

import errno
import mmap as _mmap
import stat as st
from typing import TYPE_CHECKING, Any

from simfs.vfs.inode import Inode, SuperBlock, oserror

if TYPE_CHECKING:
    from simfs.vfs.file import File

PIPE_BUF_SIZE = 16 * 4096  # default pipe capacity: 16 pages
PIPEFS_MAGIC = 0x50495045

PROT_READ = _mmap.PROT_READ
PROT_WRITE = _mmap.PROT_WRITE
MAP_SHARED = _mmap.MAP_SHARED
MAP_PRIVATE = _mmap.MAP_PRIVATE


class PipeSuperBlock(SuperBlock):
    fs_name = "pipefs"
    magic = PIPEFS_MAGIC


class PipeInode(Inode):
    """An anonymous FIFO inode with an in-memory buffer."""

    def __init__(self, sb: SuperBlock, ino: int, now: int) -> None:
        super().__init__(sb)
        self.ino = ino
        self.mode = st.S_IFIFO | 0o600
        self.uid = self.gid = 0
        self.nlink = 1
        self.size = 0
        self.rdev = 0
        self.atime_ns = self.mtime_ns = self.ctime_ns = now
        self.blksize = 4096
        self.blocks = 0
        self.buffer = bytearray()

    def unlocked_ioctl(self, file: File, request: int, buf: bytes | None) -> Any:
        """``pipe_ioctl``: FIONREAD writes the bytes queued; others ENOTTY."""
        from simfs.vfs.ioctl import FIONREAD, put_int

        if request != FIONREAD:
            raise oserror(errno.ENOTTY)
        return put_int(buf, len(self.buffer))

    def read(self, file: File, offset: int, size: int) -> bytes:
        if not self.buffer:
            raise oserror(errno.EAGAIN)  # would block: nothing can ever write meanwhile
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def write(self, file: File, offset: int, data: bytes) -> int:
        room = PIPE_BUF_SIZE - len(self.buffer)
        if room <= 0:
            raise oserror(errno.EAGAIN)
        chunk = data[:room]
        self.buffer.extend(chunk)
        return len(chunk)

    def llseek(self, file: File, offset: int, whence: int) -> int:
        raise oserror(errno.ESPIPE)


class Mapping:
    """A memory mapping of ``length`` bytes of a file from ``offset``.

    Index and slice it like a ``bytearray``; stores need ``PROT_WRITE`` (else
    ``PermissionError``, the simulated SIGSEGV) and reach the file only for
    ``MAP_SHARED``.
    """

    def __init__(
        self, kernel: Any, inode: Inode, file: File, length: int, prot: int, flags: int, offset: int
    ) -> None:
        self.kernel = kernel
        self.inode = inode
        self.file = file
        self.length = length
        self.prot = prot
        self.flags = flags
        self.offset = offset
        self.private: bytearray | None = None
        file.refs += 1  # the mapping pins the file, as vma->vm_file does
        self.closed = False

    def _load(self) -> bytearray:
        if self.private is not None:
            return self.private
        data = self.inode.read(self.file, self.offset, self.length)
        buf = bytearray(data) + bytearray(self.length - len(data))
        if self.flags & MAP_PRIVATE:
            self.private = buf
        return buf

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: int | slice) -> Any:
        if not self.prot & PROT_READ:
            raise PermissionError("SIGSEGV: mapping is not readable")
        return self._load()[key]

    def __setitem__(self, key: int | slice, value: Any) -> None:
        if not self.prot & PROT_WRITE:
            raise PermissionError("SIGSEGV: mapping is not writable")
        buf = self._load()
        buf[key] = value
        if self.flags & MAP_SHARED:
            # the store reaches the file (page_mkwrite + writeback), within the file size
            size = self.inode.size
            end = min(self.offset + self.length, size)
            if end > self.offset:
                self.inode.write(self.file, self.offset, bytes(buf[: end - self.offset]))

    def close(self) -> None:
        """``munmap``."""
        if self.closed:
            return
        self.closed = True
        from simfs.vfs.ops import fput

        fput(self.kernel, self.file)


class PipeState:
    """``struct pipe_inode_info`` of a FIFO: buffer and the count of each end."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.readers = 0
        self.writers = 0


def fifo_state(inode: Inode) -> PipeState:
    state = getattr(inode, "_pipe_state", None)
    if state is None:
        state = PipeState()
        inode._pipe_state = state  # type: ignore[attr-defined]
    return state


def _would_block(what: str) -> Exception:
    from simfs.errors import UsageError

    return UsageError(
        f"{what} would wait forever: nothing else runs while a simulated call blocks; "
        "use O_NONBLOCK (or open the FIFO O_RDWR)"
    )


def fifo_open(inode: Inode, flags: int) -> None:
    """``fifo_open``: count the ends; a lone non-blocking writer gets ENXIO."""
    import os

    state = fifo_state(inode)
    acc = flags & os.O_ACCMODE
    nonblock = bool(flags & os.O_NONBLOCK)
    if acc == os.O_RDONLY:
        if not nonblock and state.writers == 0:
            raise _would_block("opening a FIFO for reading with no writer")
        state.readers += 1
    elif acc == os.O_WRONLY:
        if state.readers == 0:
            if nonblock:
                raise oserror(errno.ENXIO)
            raise _would_block("opening a FIFO for writing with no reader")
        state.writers += 1
    else:
        state.readers += 1
        state.writers += 1


def fifo_release(inode: Inode, file: File) -> None:
    """``pipe_release``: drop this description's ends."""
    import os

    state = fifo_state(inode)
    acc = file.flags & os.O_ACCMODE
    if acc in (os.O_RDONLY, os.O_RDWR):
        state.readers = max(0, state.readers - 1)
    if acc in (os.O_WRONLY, os.O_RDWR):
        state.writers = max(0, state.writers - 1)


def fifo_read(inode: Inode, file: File, size: int) -> bytes:
    """``pipe_read``: data, or EOF with no writer, or EAGAIN when non-blocking."""
    import os

    state = fifo_state(inode)
    if not state.buffer:
        if state.writers == 0:
            return b""
        if file.flags & os.O_NONBLOCK:
            raise oserror(errno.EAGAIN)
        raise _would_block("reading an empty FIFO")
    data = bytes(state.buffer[:size])
    del state.buffer[:size]
    return data


def fifo_write(inode: Inode, file: File, data: bytes) -> int:
    """``pipe_write``: EPIPE with no reader; up to the pipe's capacity."""
    import os

    state = fifo_state(inode)
    if state.readers == 0:
        raise oserror(errno.EPIPE)
    room = PIPE_BUF_SIZE - len(state.buffer)
    if room <= 0:
        if file.flags & os.O_NONBLOCK:
            raise oserror(errno.EAGAIN)
        raise _would_block("writing a full FIFO")
    chunk = data[:room]
    state.buffer.extend(chunk)
    return len(chunk)
