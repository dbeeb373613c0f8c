"""Bad arguments: a :class:`~simfs.Process` raises what the real ``os`` raises -- the
same exception type for a wrong type or an out-of-range value, and for a value that
reaches the kernel the same errno.  Each case runs against the real ``os`` on a fresh
temporary directory and against a simulated process on the same tree."""

from __future__ import annotations

import array
import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simfs
from simfs.testing.profiles import machine_settings

# (label, call(os-like, base dir, fd of "f" opened O_RDWR, fd of "g" opened O_RDWR))
Case = tuple[str, Callable[[Any, str, int, int], Any]]

CASES: list[Case] = [
    ("write str", lambda o, b, fd, fd2: o.write(fd, "x")),
    ("write int", lambda o, b, fd, fd2: o.write(fd, 123)),
    ("write None", lambda o, b, fd, fd2: o.write(fd, None)),
    ("write array", lambda o, b, fd, fd2: o.write(fd, array.array("b", [1, 2]))),
    ("write memoryview", lambda o, b, fd, fd2: o.write(fd, memoryview(b"xy"))),
    ("write fd str", lambda o, b, fd, fd2: o.write("3", b"x")),
    ("write fd float", lambda o, b, fd, fd2: o.write(float(fd), b"x")),
    ("write fd -1", lambda o, b, fd, fd2: o.write(-1, b"x")),
    ("write fd 2**31", lambda o, b, fd, fd2: o.write(2**31, b"x")),
    ("write fd 2**63", lambda o, b, fd, fd2: o.write(2**63, b"x")),
    ("read n -1", lambda o, b, fd, fd2: o.read(fd, -1)),
    ("read n 2**63", lambda o, b, fd, fd2: o.read(fd, 2**63)),
    ("read n str", lambda o, b, fd, fd2: o.read(fd, "1")),
    ("read n 2**63-1", lambda o, b, fd, fd2: o.read(fd, 2**63 - 1)),
    ("pread n 2**63-33", lambda o, b, fd, fd2: o.pread(fd, 2**63 - 33, 0)),
    ("pread off -1", lambda o, b, fd, fd2: o.pread(fd, 1, -1)),
    ("pread off 2**63", lambda o, b, fd, fd2: o.pread(fd, 1, 2**63)),
    ("pread n -1", lambda o, b, fd, fd2: o.pread(fd, -1, 0)),
    ("pwrite off -1", lambda o, b, fd, fd2: o.pwrite(fd, b"x", -1)),
    ("pwrite off 2**63", lambda o, b, fd, fd2: o.pwrite(fd, b"x", 2**63)),
    ("pwrite off 2**63-1", lambda o, b, fd, fd2: o.pwrite(fd, b"x", 2**63 - 1)),
    ("pwrite off float", lambda o, b, fd, fd2: o.pwrite(fd, b"x", 1.0)),
    ("lseek 2**63", lambda o, b, fd, fd2: o.lseek(fd, 2**63, 0)),
    ("lseek -1", lambda o, b, fd, fd2: o.lseek(fd, -1, 0)),
    ("lseek whence 2**31", lambda o, b, fd, fd2: o.lseek(fd, 0, 2**31)),
    ("lseek whence 99", lambda o, b, fd, fd2: o.lseek(fd, 0, 99)),
    ("truncate -1", lambda o, b, fd, fd2: o.truncate(f"{b}/f", -1)),
    ("truncate 2**63", lambda o, b, fd, fd2: o.truncate(f"{b}/f", 2**63)),
    ("truncate str", lambda o, b, fd, fd2: o.truncate(f"{b}/f", "1")),
    ("truncate 2**40", lambda o, b, fd, fd2: o.truncate(f"{b}/f", 2**40)),
    ("ftruncate -1", lambda o, b, fd, fd2: o.ftruncate(fd, -1)),
    ("chmod 2**31", lambda o, b, fd, fd2: o.chmod(f"{b}/f", 2**31)),
    ("chmod -1", lambda o, b, fd, fd2: o.chmod(f"{b}/f", -1)),
    ("chmod str", lambda o, b, fd, fd2: o.chmod(f"{b}/f", "644")),
    ("chmod float", lambda o, b, fd, fd2: o.chmod(f"{b}/f", 420.0)),
    ("chown -2", lambda o, b, fd, fd2: o.chown(f"{b}/f", -2, -1)),
    ("chown 2**32-1", lambda o, b, fd, fd2: o.chown(f"{b}/f", 2**32 - 1, -1)),
    ("chown 2**32", lambda o, b, fd, fd2: o.chown(f"{b}/f", 2**32, -1)),
    ("chown str", lambda o, b, fd, fd2: o.chown(f"{b}/f", "0", -1)),
    ("chown gid float", lambda o, b, fd, fd2: o.chown(f"{b}/f", 0, 0.0)),
    ("open flags 2**31", lambda o, b, fd, fd2: o.open(f"{b}/f", 2**31)),
    ("open flags str", lambda o, b, fd, fd2: o.open(f"{b}/f", "r")),
    ("open mode 2**32", lambda o, b, fd, fd2: o.open(f"{b}/n", os.O_CREAT | os.O_WRONLY, 2**32)),
    ("open mode -1", lambda o, b, fd, fd2: o.close(o.open(f"{b}/n", os.O_CREAT | os.O_RDWR, -1))),
    ("mkdir mode 2**32", lambda o, b, fd, fd2: o.mkdir(f"{b}/m", 2**32)),
    ("mkdir mode -1", lambda o, b, fd, fd2: o.mkdir(f"{b}/m", -1)),
    ("mknod dev -1", lambda o, b, fd, fd2: o.mknod(f"{b}/k", 0o600 | stat.S_IFIFO, -1)),
    ("mknod dev 2**64", lambda o, b, fd, fd2: o.mknod(f"{b}/k", 0o600 | stat.S_IFIFO, 2**64)),
    ("mknod mode 2**32", lambda o, b, fd, fd2: o.mknod(f"{b}/k", 2**32)),
    ("mkfifo mode -1", lambda o, b, fd, fd2: o.mkfifo(f"{b}/ff", -1)),
    ("mkfifo mode str", lambda o, b, fd, fd2: o.mkfifo(f"{b}/ff", "1")),
    ("posix_fallocate off -1", lambda o, b, fd, fd2: o.posix_fallocate(fd, -1, 1)),
    ("posix_fallocate len 0", lambda o, b, fd, fd2: o.posix_fallocate(fd, 0, 0)),
    ("posix_fallocate len -1", lambda o, b, fd, fd2: o.posix_fallocate(fd, 0, -1)),
    ("posix_fallocate len 2**63", lambda o, b, fd, fd2: o.posix_fallocate(fd, 0, 2**63)),
    ("posix_fallocate EFBIG", lambda o, b, fd, fd2: o.posix_fallocate(fd, 2**63 - 1, 2)),
    ("posix_fallocate str", lambda o, b, fd, fd2: o.posix_fallocate(fd, "0", 1)),
    ("copy_file_range -1", lambda o, b, fd, fd2: o.copy_file_range(fd, fd2, -1)),
    ("copy_file_range 2**63", lambda o, b, fd, fd2: o.copy_file_range(fd, fd2, 2**63)),
    ("copy_file_range src -1", lambda o, b, fd, fd2: o.copy_file_range(fd, fd2, 1, -1)),
    ("copy_file_range src 2**63", lambda o, b, fd, fd2: o.copy_file_range(fd, fd2, 1, 2**63)),
    ("utime ns str", lambda o, b, fd, fd2: o.utime(f"{b}/f", ns=("a", 1))),
    ("utime ns one", lambda o, b, fd, fd2: o.utime(f"{b}/f", ns=(1,))),
    ("utime times and ns", lambda o, b, fd, fd2: o.utime(f"{b}/f", (1, 1), ns=(1, 1))),
    ("utime times str", lambda o, b, fd, fd2: o.utime(f"{b}/f", ("a", 1))),
    ("access mode 2**31", lambda o, b, fd, fd2: o.access(f"{b}/f", 2**31)),
    ("access mode 8", lambda o, b, fd, fd2: o.access(f"{b}/f", 8)),
    ("dup -1", lambda o, b, fd, fd2: o.dup(-1)),
    ("dup2 to -1", lambda o, b, fd, fd2: o.dup2(fd, -1)),
    ("close str", lambda o, b, fd, fd2: o.close("3")),
    ("close -1", lambda o, b, fd, fd2: o.close(-1)),
    ("fsync str", lambda o, b, fd, fd2: o.fsync("3")),
    ("fsync -1", lambda o, b, fd, fd2: o.fsync(-1)),
    ("fdatasync float", lambda o, b, fd, fd2: o.fdatasync(1.0)),
    ("setxattr value str", lambda o, b, fd, fd2: o.setxattr(f"{b}/f", "user.a", "v")),
    ("setxattr flags -1", lambda o, b, fd, fd2: o.setxattr(f"{b}/f", "user.a", b"v", -1)),
    ("setxattr flags 2**31", lambda o, b, fd, fd2: o.setxattr(f"{b}/f", "user.a", b"v", 2**31)),
    ("getxattr attr int", lambda o, b, fd, fd2: o.getxattr(f"{b}/f", 1)),
    ("stat float", lambda o, b, fd, fd2: o.stat(1.0)),
    ("stat None", lambda o, b, fd, fd2: o.stat(None)),
    ("stat NUL", lambda o, b, fd, fd2: o.stat(f"{b}/f\0")),
    ("umask 2**32", lambda o, b, fd, fd2: o.umask(2**32)),
    ("symlink dst int", lambda o, b, fd, fd2: o.symlink("a", 3)),
    ("rename src int", lambda o, b, fd, fd2: o.rename(3, f"{b}/x")),
    ("readlink int", lambda o, b, fd, fd2: o.readlink(3)),
    ("read fd bool", lambda o, b, fd, fd2: o.read(True, 0)),
    ("fstat 2**31", lambda o, b, fd, fd2: o.fstat(2**31)),
    ("fstat str", lambda o, b, fd, fd2: o.fstat("3")),
    ("stat fd 2**31", lambda o, b, fd, fd2: o.stat(2**31)),
    ("fchmod fd 2**31", lambda o, b, fd, fd2: o.fchmod(2**31, 0o644)),
    ("chown fd 2**31", lambda o, b, fd, fd2: o.chown(2**31, 0, 0)),
    ("posix_fadvise fd 2**31", lambda o, b, fd, fd2: o.posix_fadvise(2**31, 0, 0, 0)),
    ("posix_fadvise off 2**63", lambda o, b, fd, fd2: o.posix_fadvise(fd, 2**63, 0, 0)),
    ("posix_fadvise advice 99", lambda o, b, fd, fd2: o.posix_fadvise(fd, 0, 0, 99)),
]


def _outcome(call: Callable[[], Any]) -> str:
    try:
        call()
    except OSError as e:
        return f"OSError {errno.errorcode.get(e.errno or 0, e.errno)}"
    except Exception as e:
        return type(e).__name__
    return "ok"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_arguments_raise_what_os_raises(case: Case, tmp_path: Path) -> None:
    _, call = case
    (tmp_path / "f").write_bytes(b"hello")
    (tmp_path / "g").write_bytes(b"")
    fd, fd2 = os.open(tmp_path / "f", os.O_RDWR), os.open(tmp_path / "g", os.O_RDWR)
    old_umask = os.umask(0o022)
    try:
        real = _outcome(lambda: call(os, str(tmp_path), fd, fd2))
    finally:
        os.umask(old_umask)
        os.close(fd)
        os.close(fd2)
    k = simfs.Kernel()
    k.lower.create_file("/data/f", contents="hello")
    k.lower.create_file("/data/g", contents="")
    p = k.spawn()
    sfd, sfd2 = p.open("/data/f", os.O_RDWR), p.open("/data/g", os.O_RDWR)
    assert (sfd, sfd2) == (0, 1)  # the simulated table starts at 0, the real one does not
    sim = _outcome(lambda: call(p, "/data", sfd, sfd2))
    assert sim == real


# --- hypothesis: random argument values, the same conversion errors as os -------------------
_CONVERSION = (TypeError, ValueError, OverflowError)

values = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(-3, 70000),
    st.sampled_from([2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, -(2**63), 2**64]),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
    st.binary(max_size=3),
    st.none(),
)
# descriptors: ours, or values that can never be an open descriptor of this test process
fds = st.one_of(st.sampled_from(["fd", "fd2"]), st.sampled_from([-1, 2**31, 2**63, "3", 1.5, None]))

CALLS: dict[str, Callable[[Any, str, Any, Any, list[Any]], Any]] = {
    "pread": lambda o, b, fd, fd2, a: o.pread(fd, a[0], a[1]),
    "pwrite": lambda o, b, fd, fd2, a: o.pwrite(fd, a[0], a[1]),
    "lseek": lambda o, b, fd, fd2, a: o.lseek(fd, a[0], a[1]),
    "ftruncate": lambda o, b, fd, fd2, a: o.ftruncate(fd, a[0]),
    "truncate": lambda o, b, fd, fd2, a: o.truncate(f"{b}/f", a[0]),
    "chmod": lambda o, b, fd, fd2, a: o.chmod(f"{b}/f", a[0]),
    "chown": lambda o, b, fd, fd2, a: o.chown(f"{b}/f", a[0], a[1]),
    "mkdir": lambda o, b, fd, fd2, a: o.mkdir(f"{b}/m", a[0]),
    "access": lambda o, b, fd, fd2, a: o.access(f"{b}/f", a[0]),
    "utime": lambda o, b, fd, fd2, a: o.utime(f"{b}/f", ns=(a[0], a[1])),
    "setxattr": lambda o, b, fd, fd2, a: o.setxattr(f"{b}/f", "user.h", a[0], a[1]),
    "copy_file_range": lambda o, b, fd, fd2, a: o.copy_file_range(fd, fd2, a[0], a[1], a[2]),
    "read": lambda o, b, fd, fd2, a: o.read(fd, a[0]),
    "write": lambda o, b, fd, fd2, a: o.write(fd, a[0]),
    "umask": lambda o, b, fd, fd2, a: o.umask(a[0]),
}


def _kind(call: Callable[[], Any]) -> str:
    try:
        call()
    except _CONVERSION as e:
        return type(e).__name__
    except (OSError, MemoryError):
        return "reached the kernel"  # the errno may differ between filesystems
    return "reached the kernel"


def _small(v: Any) -> bool:
    """Keep real calls harmless: no multi-megabyte reads, writes or files."""
    return not (isinstance(v, int) and not isinstance(v, bool) and 2**24 < v < 2**62)


@settings(machine_settings(weight=3.0))
@given(
    name=st.sampled_from(sorted(CALLS)),
    fd=fds,
    args=st.lists(values, min_size=3, max_size=3).filter(lambda a: all(map(_small, a))),
)
def test_random_arguments_convert_as_os_converts(name: str, fd: Any, args: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        Path(d, "f").write_bytes(b"hello")
        Path(d, "g").write_bytes(b"")
        rfd, rfd2 = os.open(Path(d, "f"), os.O_RDWR), os.open(Path(d, "g"), os.O_RDWR)
        old = os.umask(0o022)
        try:
            real_fd = {"fd": rfd, "fd2": rfd2}.get(fd, fd) if isinstance(fd, str) else fd
            real = _kind(lambda: CALLS[name](os, d, real_fd, rfd2, args))
        finally:
            os.umask(old)
            os.close(rfd)
            os.close(rfd2)
    k = simfs.Kernel()
    k.lower.create_file("/data/f", contents="hello")
    k.lower.create_file("/data/g", contents="")
    p = k.spawn()
    sfd, sfd2 = p.open("/data/f", os.O_RDWR), p.open("/data/g", os.O_RDWR)
    sim_fd = {"fd": sfd, "fd2": sfd2}.get(fd, fd) if isinstance(fd, str) else fd
    sim = _kind(lambda: CALLS[name](p, "/data", sim_fd, sfd2, args))
    assert sim == real, f"{name}({fd!r}, {args!r}): os -> {real}, simfs -> {sim}"
