"""The oracle: operation sequences run against the real Linux kernel on tmpfs.

A :class:`RealWorld` is a fresh directory ``D`` on tmpfs (``/dev/shm`` where it is tmpfs, else
the tempfile default if that is tmpfs) holding ``D/t``. Each simulated process is a forked
helper that chroots into ``D`` (so the tree it sees is ``/t``, as in the simfs world, and ``..``
can never leave ``D``: the kernel clamps it at the chroot root), chdirs, sets its umask, drops
to its credentials (``setgroups``, ``setgid``, ``setuid``) and then serves operations sent over
a pipe, one pickled frame each way. The parent never touches the tree except to create and
remove ``D``, so it can always clean up.

``os`` lacks a few Linux calls that ``simfs.Process`` has; :class:`RealOs` adds them with the
Linux names: ``renameat2`` (glibc ``renameat2``), ``fallocate`` (glibc ``fallocate``),
``flock`` (``fcntl.flock``) and ``getdents`` (the ``getdents64`` syscall, so ``.`` and ``..``
are included, as ``simfs.Process.getdents`` promises).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import pickle
import platform
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from .ops import ROOT, Cred, Raw, RawSnapshot, execute, take_snapshot

OP_TIMEOUT = 10  # seconds an op may block before the helper is killed (a FIFO open, say)
CLOCK_REALTIME_COARSE = 5  # the clock tmpfs takes coarse timestamps from (Linux uapi value)
HELPER_RX, HELPER_TX = 1000, 1001  # where a helper keeps its pipe ends, clear of op fds
AT_FDCWD = -100
_SYS_GETDENTS64 = {"x86_64": 217, "aarch64": 61}

_libc = ctypes.CDLL(None, use_errno=True)


def _path_bytes(path: Any) -> bytes:
    """Encode a path as ``os`` does, including its ValueError for an embedded NUL."""
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise ValueError("embedded null byte")
    return raw


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


class RealOs:
    """The ``os`` module plus the Linux calls that ``simfs.Process`` names and ``os`` lacks."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(os, name)

    def renameat2(self, src: Any, dst: Any, flags: int = 0) -> None:
        fn = _libc.renameat2
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        _check(fn(AT_FDCWD, _path_bytes(src), AT_FDCWD, _path_bytes(dst), flags))

    def fallocate(self, fd: int, mode: int, offset: int, length: int) -> None:
        fn = _libc.fallocate
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        _check(fn(fd, mode, offset, length))

    def flock(self, fd: int, operation: int) -> None:
        fcntl.flock(fd, operation)

    # issue 17: the fcntl-module calls simfs.Process names, and linkat(2) through glibc
    def fcntl(self, fd: int, cmd: int, arg: Any = 0) -> Any:
        return fcntl.fcntl(fd, cmd, arg)

    def lockf(self, fd: int, cmd: int, len: int = 0, start: int = 0, whence: int = 0) -> None:
        fcntl.lockf(fd, cmd, len, start, whence)

    def ioctl(self, fd: int, request: int, arg: Any = 0) -> Any:
        return fcntl.ioctl(fd, request, arg)

    def linkat(self, src_dir_fd: int, src: Any, dst_dir_fd: int, dst: Any, flags: int = 0) -> None:
        fn = _libc.linkat
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        _check(fn(src_dir_fd, _path_bytes(src), dst_dir_fd, _path_bytes(dst), flags))

    def getdents(self, fd: int, count: int = 32768) -> list[tuple[str, int, int, int]]:
        """ONE ``getdents64`` call with a ``count``-byte buffer (glibc's 32 KiB by
        default), as ``simfs.Process.getdents``: ``(name, d_ino, d_type, d_off)`` each."""
        number = _SYS_GETDENTS64[platform.machine()]
        fn = _libc.syscall
        fn.restype = ctypes.c_long
        buf = ctypes.create_string_buffer(max(count, 1))
        got = _check(fn(number, ctypes.c_int(fd), buf, ctypes.c_uint(count)))
        out: list[tuple[str, int, int, int]] = []
        pos = 0
        while pos < got:
            d_ino, d_off, reclen, d_type = struct.unpack_from("=QqHB", buf.raw, pos)
            name = buf.raw[pos + 19 : pos + reclen].split(b"\0", 1)[0]
            out.append((os.fsdecode(name), d_ino, d_type, d_off))
            pos += reclen
        return out


# --- framing -------------------------------------------------------------------------------


def _send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj)
    view = memoryview(struct.pack("=Q", len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes | None:
    chunks, left = [], size
    while left:
        if deadline is not None:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("the real-kernel helper did not answer in time")
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _recv(fd: int, deadline: float | None) -> Any:
    head = _read_exact(fd, 8, deadline)
    if head is None:
        raise EOFError
    body = _read_exact(fd, struct.unpack("=Q", head)[0], deadline)
    if body is None:
        raise EOFError
    return pickle.loads(body)


def wait_until_coarse_passes(instant_ns: int) -> None:
    """Sleep until the coarse clock reads later than ``instant_ns`` (a CLOCK_REALTIME value).

    tmpfs stamps inodes with the coarse clock (4 ms ticks here), or with a fine-grained time
    once a stat has looked (multigrain), or with the global multigrain floor, which another
    process's fine-grained stamp may have pushed ahead of the coarse clock. Every one of these
    is at most the real time at which the op finished. So once the coarse clock passes the
    end of the previous op, the next op's stamps are strictly later than all earlier ones,
    and the timestamp relations of a run do not depend on timing or on machine load.
    (Waiting for the coarse clock to change once is not enough: the new coarse value can
    still be below a floor stamp taken just before the tick.)
    """
    while time.clock_gettime_ns(CLOCK_REALTIME_COARSE) <= instant_ns:
        time.sleep(0.0005)


# --- one helper process ----------------------------------------------------------------------


def _serve(rx: int, tx: int, root: str, cred: Cred, umask: int, cwd: str) -> None:
    """The helper's main loop (runs in the forked child; never returns normally)."""
    os.dup2(rx, HELPER_RX)
    os.dup2(tx, HELPER_TX)
    os.closerange(3, HELPER_RX)
    os.closerange(HELPER_TX + 1, 65536)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        os.chroot(root)
        os.chdir(cwd)
        os.umask(umask)
        os.setgroups(list(cred.groups))
        os.setresgid(cred.gid, cred.gid, cred.gid)
        os.setresuid(cred.uid, cred.uid, cred.uid)
    except Exception as exc:
        _send(HELPER_TX, ("failed", repr(exc)))
        return
    _send(HELPER_TX, ("ready", None))
    real = RealOs()
    while True:
        try:
            request = _recv(HELPER_RX, None)
        except EOFError:
            return
        kind = request[0]
        if kind == "exit":
            return
        if kind == "call":
            _, name, args, kwargs = request
            signal.alarm(OP_TIMEOUT)
            reply: Any = execute(real, name, args, kwargs)
            signal.alarm(0)
        elif kind == "snapshot":
            reply = take_snapshot(real, request[1])
        else:
            reply = ("exc", f"unknown request {kind!r}")
        _send(HELPER_TX, reply)


class RealProc:
    """A forked helper standing for one process: chrooted, with its own creds and fds."""

    def __init__(self, root: str, cred: Cred, umask: int, cwd: str) -> None:
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                _serve(down_r, up_w, root, cred, umask, cwd)
            finally:
                os._exit(0)
        os.close(down_r)
        os.close(up_w)
        self.pid = pid
        self.tx, self.rx = down_w, up_r
        self.cred = cred
        status, detail = self._ask(None)
        if status != "ready":
            self.close()
            raise RuntimeError(f"real-kernel helper as {cred} could not start: {detail}")

    def _ask(self, request: Any) -> Any:
        if request is not None:
            _send(self.tx, request)
        try:
            return _recv(self.rx, time.monotonic() + OP_TIMEOUT + 5)
        except EOFError:
            _, status = os.waitpid(self.pid, 0)
            self.pid = 0
            raise RuntimeError(f"real-kernel helper died (wait status {status:#x})") from None

    def call(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Raw:
        reply: Raw = self._ask(("call", name, args, dict(kwargs)))
        return reply

    def snapshot(self, top: str) -> RawSnapshot:
        reply: RawSnapshot = self._ask(("snapshot", top))
        return reply

    def close(self) -> None:
        if self.pid:
            try:
                _send(self.tx, ("exit",))
            except OSError:
                pass
            deadline = time.monotonic() + 5
            while True:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
                if done or time.monotonic() > deadline:
                    break
                time.sleep(0.001)
            if not done:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            self.pid = 0
        for fd in (self.tx, self.rx):
            try:
                os.close(fd)
            except OSError:
                pass
        self.tx = self.rx = -1


# --- the world -------------------------------------------------------------------------------


def _fstype(path: str) -> str | None:
    """The filesystem type of the mount holding ``path`` (from /proc/self/mountinfo)."""
    path = os.path.realpath(path)
    best, kind = "", None
    try:
        with open("/proc/self/mountinfo") as info:
            for line in info:
                fields = line.split()
                mount_point = fields[4].replace("\\040", " ")
                fstype = fields[fields.index("-") + 1]
                inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best, kind = mount_point, fstype
    except OSError:
        return None
    return kind


def tmpfs_base() -> str | None:
    """``/dev/shm`` if it is tmpfs, else the tempfile default if that is tmpfs, else None."""
    for candidate in ("/dev/shm", tempfile.gettempdir()):
        if os.path.isdir(candidate) and _fstype(candidate) == "tmpfs":
            return candidate
    return None


def unavailable_reason() -> str | None:
    """Why the real-kernel oracle cannot run here, or None if it can."""
    if not sys.platform.startswith("linux"):
        return f"the real-kernel oracle needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "the real-kernel oracle needs root (chroot and setuid in forked helpers)"
    if tmpfs_base() is None:
        return "no tmpfs for the real-kernel oracle (/dev/shm and the temp dir are not tmpfs)"
    if platform.machine() not in _SYS_GETDENTS64:
        return f"getdents64 syscall number unknown for {platform.machine()}"
    return None


def read_sysctl(name: str) -> int | None:
    """``/proc/sys/fs/<name>`` as an int (e.g. ``protected_hardlinks``), None if unreadable."""
    try:
        with open(f"/proc/sys/fs/{name}") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class RealWorld:
    """A fresh real tree (``D/t``, mode 0o777, plus ``extra_dirs``) and its helper processes.

    Always use it as a context manager (or call :meth:`close`): that stops every helper and
    removes ``D``.
    """

    def __init__(self, extra_dirs: tuple[str, ...] = ()) -> None:
        base = tmpfs_base()
        if base is None:
            raise RuntimeError(unavailable_reason() or "no tmpfs")
        self.root = tempfile.mkdtemp(prefix="simfs-oracle-", dir=base)
        self.procs: dict[str, RealProc] = {}
        self.last_op_end = 0  # CLOCK_REALTIME when the last op's reply arrived
        try:
            os.chmod(self.root, 0o755)
            for path in ["t", *(f"t/{rel}" for rel in extra_dirs)]:
                os.mkdir(os.path.join(self.root, path))
                os.chmod(os.path.join(self.root, path), 0o777)
            self.admin = RealProc(self.root, ROOT, 0, "/")
        except BaseException:
            self.close()
            raise

    def spawn(self, proc: str, cred: Cred, umask: int, cwd: str) -> None:
        self.procs[proc] = RealProc(self.root, cred, umask, cwd)

    def call(
        self, proc: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], tick: bool
    ) -> Raw:
        if tick:
            wait_until_coarse_passes(self.last_op_end)
        try:
            return self.procs[proc].call(name, args, kwargs)
        finally:
            self.last_op_end = time.clock_gettime_ns(time.CLOCK_REALTIME)

    def snapshot(self, top: str) -> RawSnapshot:
        return self.admin.snapshot(top)

    def close(self) -> None:
        for helper in [*self.procs.values(), getattr(self, "admin", None)]:
            if helper is not None:
                helper.close()
        self.procs.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RealWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
