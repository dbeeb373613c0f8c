"""``OsProcess``: the real operating system seen through :class:`simfs.Process`'s surface.

A daemon written for simfs uses ``self.proc`` for every system call.  Served on the real
kernel (:mod:`simfs.live.session`), ``self.proc`` is an :class:`OsProcess`: the calls that
:mod:`os` has go to :mod:`os` unchanged (same arguments, same ``OSError``\\ s), and the few
that ``simfs.Process`` has and :mod:`os` lacks are made with the syscall itself through
``ctypes``: ``getdents`` (``getdents64(2)``, every remaining record with ``.`` and ``..``),
``renameat2(2)``, ``fallocate(2)`` with a mode.  ``kernel.clock.now_ns()`` is
``CLOCK_REALTIME`` (what ``utimensat``'s ``UTIME_NOW`` uses), ``fdtable.max_fds`` is
``RLIMIT_NOFILE`` (setting it raises the soft limit, as libfuse's passthrough examples do).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import resource
import struct
import time
from typing import Any

from simfs.process import Dirent

__all__ = ["OsProcess"]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
_libc.fallocate.restype = ctypes.c_int

# arch/x86/entry/syscalls/syscall_64.tbl (x86-64 only; other arches raise ENOSYS below)
_SYS = {"x86_64": {"getdents64": 217, "renameat2": 316}}.get(os.uname().machine, {})
_AT_FDCWD = -100
_DIRENT64_HEAD = struct.Struct("<QqHB")  # d_ino, d_off, d_reclen, d_type


def _raise(what: str, *names: Any) -> None:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err), *names)


def _syscall(name: str, *args: Any) -> int:
    nr = _SYS.get(name)
    if nr is None:
        raise OSError(errno.ENOSYS, f"{name}: syscall number unknown on this architecture")
    return int(_libc.syscall(ctypes.c_long(nr), *args))


class _Clock:
    def now_ns(self) -> int:
        return time.clock_gettime_ns(time.CLOCK_REALTIME)


class _Kernel:
    """The bits of :class:`simfs.Kernel` a daemon may reach through ``proc.kernel``."""

    def __init__(self) -> None:
        self.clock = _Clock()


class _FdTable:
    """``proc.fdtable``: only ``max_fds`` (RLIMIT_NOFILE) is meaningful on the real OS."""

    @property
    def max_fds(self) -> int:
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]

    @max_fds.setter
    def max_fds(self, n: int) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = n if hard == resource.RLIM_INFINITY else min(n, hard)
        if want > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class OsProcess:
    """The calling process on the real OS, with :class:`simfs.Process`'s method names.

    Anything not defined here is looked up on :mod:`os` (``proc.open``, ``proc.pread``,
    ``proc.getxattr``...), so a simfs daemon's calls run unchanged.
    """

    def __init__(self) -> None:
        self.kernel = _Kernel()
        self.fdtable = _FdTable()
        self.pid = os.getpid()

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(os, name)
        except AttributeError:
            raise AttributeError(
                f"OsProcess has no {name!r}: neither os nor the live adapter provides it"
            ) from None

    def getdents(self, fd: int, count: int = 32768) -> list[Dirent]:
        """ONE ``getdents64(2)`` call, as :meth:`simfs.Process.getdents`: the records that
        fit ``count`` bytes, ``.``/``..`` included, ``[]`` at the end of the directory."""
        buf = ctypes.create_string_buffer(count)
        n = _syscall("getdents64", ctypes.c_int(fd), buf, ctypes.c_uint(count))
        if n < 0:
            _raise("getdents64")
        out: list[Dirent] = []
        raw = buf.raw[:n]
        pos = 0
        while pos < n:
            ino, off, reclen, dtype = _DIRENT64_HEAD.unpack_from(raw, pos)
            name_raw = raw[pos + _DIRENT64_HEAD.size : pos + reclen].split(b"\0", 1)[0]
            out.append(Dirent(os.fsdecode(name_raw), ino, dtype, off))
            pos += reclen
        return out

    def getdents_all(self, fd: int) -> list[Dirent]:
        """``getdents64(2)`` until the end, as :meth:`simfs.Process.getdents_all`."""
        out: list[Dirent] = []
        while batch := self.getdents(fd):
            out.extend(batch)
        return out

    def renameat2(self, src: Any, dst: Any, flags: int = 0) -> None:
        """``renameat2(2)`` (RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT)."""
        s, d = os.fsencode(src), os.fsencode(dst)
        r = _syscall("renameat2", _AT_FDCWD, s, _AT_FDCWD, d, ctypes.c_uint(flags))
        if r < 0:
            _raise("renameat2", src, None, dst)

    def fallocate(self, fd: int, mode: int, offset: int, length: int) -> None:
        """``fallocate(2)`` with a mode (``os.posix_fallocate`` has none)."""
        if _libc.fallocate(fd, mode, offset, length) != 0:
            _raise("fallocate")
