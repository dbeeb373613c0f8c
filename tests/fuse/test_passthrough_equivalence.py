"""A classic Passthrough mount behaves like a bind mount of the same directory.

Two fresh machines get the same lower tree; one bind-mounts it, the other mounts it with
``simfs.daemons.Passthrough``.  The same sequence of system calls runs on both and every
result (or errno) must be equal, modulo ``st_dev`` and timestamps the calls did not set
(the daemon's own system calls advance the virtual clock).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

import pytest

import simfs
from simfs.daemons import Passthrough

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


def _tree(k: simfs.Kernel) -> None:
    k.lower.create_file("/data/f", contents="hello world")
    k.lower.create_file("/data/g", contents="0123456789" * 1000)
    k.lower.create_dir("/data/d")
    k.lower.create_file("/data/d/a", contents="a")
    k.lower.create_file("/data/d/b", contents="bb")
    k.lower.create_dir("/data/e")
    k.lower.create_dir("/mnt")


def bind_world() -> tuple[simfs.Kernel, Any]:
    k = simfs.Kernel()
    _tree(k)
    k.mount_bind("/data", "/mnt")
    return k, k.spawn()


def fuse_world(**daemon_kw: Any) -> tuple[simfs.Kernel, Any]:
    k = simfs.Kernel()
    _tree(k)
    kw: dict[str, Any] = {"entry_timeout": 1.0, "attr_timeout": 1.0}
    kw.update(daemon_kw)
    k.mount_fuse("/mnt", daemon=Passthrough("/data", **kw), variant="upstream")
    return k, k.spawn()


def _st(s: os.stat_result, times: bool = False) -> tuple[Any, ...]:
    base = (s.st_mode, s.st_ino, s.st_nlink, s.st_uid, s.st_gid, s.st_size, s.st_blocks)
    return base + ((s.st_atime_ns, s.st_mtime_ns) if times else ())


def _workload(p: Any) -> list[Any]:
    out: list[Any] = []

    def do(fn: Callable[[], Any]) -> None:
        try:
            out.append(fn())
        except OSError as e:
            out.append(("errno", errno.errorcode[e.errno or 0]))

    M = "/mnt"
    do(lambda: _st(p.stat(f"{M}/f")))
    do(lambda: _st(p.lstat(f"{M}/d")))
    do(lambda: p.stat(f"{M}/nope"))
    # open / read / close
    fd = p.open(f"{M}/f", os.O_RDONLY)
    do(lambda: p.read(fd, 5))
    do(lambda: p.read(fd, 100))
    do(lambda: p.pread(fd, 3, 6))
    do(lambda: p.lseek(fd, 0, os.SEEK_END))
    do(lambda: _st(p.fstat(fd)))
    p.close(fd)
    fd = p.open(f"{M}/g", os.O_RDONLY)
    do(lambda: len(p.read(fd, 9000)))
    do(lambda: p.pread(fd, 20, 9990))
    p.close(fd)
    # create / write
    fd = p.open(f"{M}/d/new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    do(lambda: p.write(fd, b"x" * 5000))
    do(lambda: p.pwrite(fd, b"yy", 4999))
    do(lambda: p.fsync(fd))
    do(lambda: p.posix_fallocate(fd, 0, 16384))
    do(lambda: _st(p.fstat(fd)))
    p.close(fd)
    do(lambda: p.open(f"{M}/d/new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
    fd = p.open(f"{M}/d/new", os.O_RDWR | os.O_APPEND)
    do(lambda: p.write(fd, b"tail"))
    do(lambda: p.pread(fd, 10, 4995))
    do(lambda: p.lseek(fd, 0, os.SEEK_DATA))
    do(lambda: p.lseek(fd, 0, os.SEEK_HOLE))
    p.close(fd)
    do(lambda: _st(p.stat(f"{M}/d/new")))
    # copy_file_range
    src = p.open(f"{M}/g", os.O_RDONLY)
    dst = p.open(f"{M}/e/copy", os.O_WRONLY | os.O_CREAT, 0o600)
    do(lambda: p.copy_file_range(src, dst, 1234, 10, 0))
    p.close(src)
    p.close(dst)
    fd = p.open(f"{M}/e/copy", os.O_RDONLY)
    do(lambda: p.read(fd, 50))
    p.close(fd)
    # directories
    do(lambda: p.mkdir(f"{M}/d/sub", 0o750))
    do(lambda: p.mkdir(f"{M}/d/sub", 0o750))
    do(lambda: sorted(p.listdir(f"{M}/d")))
    do(lambda: p.rmdir(f"{M}/d"))
    do(lambda: p.rename(f"{M}/d/sub", f"{M}/e/sub2"))
    do(lambda: _st(p.stat(f"{M}/e/sub2")))
    do(lambda: p.rmdir(f"{M}/e/sub2"))
    do(lambda: p.rmdir(f"{M}/e/sub2"))
    # rename variants
    do(lambda: p.rename(f"{M}/d/a", f"{M}/d/a2"))
    do(lambda: p.rename(f"{M}/d/a2", f"{M}/d/b"))
    do(lambda: p.renameat2(f"{M}/f", f"{M}/d/b", RENAME_NOREPLACE))
    do(lambda: p.renameat2(f"{M}/f", f"{M}/d/b", RENAME_EXCHANGE))
    do(lambda: p.read(p.open(f"{M}/d/b", os.O_RDONLY), 100))
    do(lambda: sorted(p.listdir(f"{M}/d")))
    # unlink
    do(lambda: p.unlink(f"{M}/d/new"))
    do(lambda: p.unlink(f"{M}/d/new"))
    do(lambda: p.unlink(f"{M}/d"))
    # symlink / readlink / link
    do(lambda: p.symlink("../g", f"{M}/d/l"))
    do(lambda: p.readlink(f"{M}/d/l"))
    do(lambda: _st(p.lstat(f"{M}/d/l")))
    do(lambda: _st(p.stat(f"{M}/d/l")))
    do(lambda: p.link(f"{M}/g", f"{M}/e/h"))
    do(lambda: _st(p.stat(f"{M}/g")))
    do(lambda: _st(p.stat(f"{M}/e/h")))
    do(lambda: p.link(f"{M}/d", f"{M}/e/dl"))
    # attributes
    do(lambda: p.chmod(f"{M}/g", 0o600))
    do(lambda: _st(p.stat(f"{M}/g")))
    do(lambda: p.chown(f"{M}/g", 1000, 1001))
    do(lambda: _st(p.stat(f"{M}/e/h")))
    do(lambda: p.truncate(f"{M}/g", 10))
    do(lambda: _st(p.stat(f"{M}/g")))
    do(lambda: p.utime(f"{M}/g", ns=(1_000_000_123, 2_000_000_456)))
    do(lambda: _st(p.stat(f"{M}/g"), times=True))
    fd = p.open(f"{M}/g", os.O_RDWR)
    do(lambda: p.ftruncate(fd, 3))
    do(lambda: p.read(fd, 10))
    p.close(fd)
    fd = p.open(f"{M}/g", os.O_WRONLY | os.O_TRUNC)
    p.close(fd)
    do(lambda: _st(p.stat(f"{M}/g")))
    # xattrs
    do(lambda: p.setxattr(f"{M}/e", "user.k", b"v1"))
    do(lambda: p.setxattr(f"{M}/e", "user.k", b"v2", os.XATTR_CREATE))
    do(lambda: p.getxattr(f"{M}/e", "user.k"))
    do(lambda: p.getxattr(f"{M}/e", "user.missing"))
    do(lambda: p.setxattr(f"{M}/e", "user.big", b"z" * 300))
    do(lambda: p.getxattr(f"{M}/e", "user.big"))
    do(lambda: sorted(p.listxattr(f"{M}/e")))
    do(lambda: p.removexattr(f"{M}/e", "user.k"))
    do(lambda: p.removexattr(f"{M}/e", "user.k"))
    do(lambda: sorted(p.listxattr(f"{M}/e")))
    # statvfs, access, getdents
    do(lambda: (lambda s: (s.f_bsize, s.f_blocks, s.f_files, s.f_namemax))(p.statvfs(f"{M}/e")))
    do(lambda: p.access(f"{M}/e/h", os.R_OK))
    do(lambda: p.access(f"{M}/nope", os.R_OK))
    fd = p.open(f"{M}/e", os.O_RDONLY | os.O_DIRECTORY)
    do(lambda: sorted((d.name, d.d_ino, d.d_type) for d in p.getdents_all(fd)))
    do(lambda: p.fsync(fd))
    p.close(fd)
    do(lambda: p.mknod(f"{M}/e/fifo", 0o600 | 0o010000))
    do(lambda: _st(p.lstat(f"{M}/e/fifo")))
    return out


@pytest.mark.parametrize("timeout", [0.0, 1.0, 86400.0])
def test_passthrough_equals_bind_mount(timeout: float) -> None:
    _, pb = bind_world()
    _, pf = fuse_world(entry_timeout=timeout, attr_timeout=timeout)
    expected = _workload(pb)
    got = _workload(pf)
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        assert g == e, f"step {i}: bind {e!r} != fuse {g!r}"


def test_equivalence_can_fail() -> None:
    """The comparison notices a daemon that misreports: lower inode numbers hidden."""
    _, pb = bind_world()
    k, pf = fuse_world()
    fm = next(iter(k.fuse_mounts.values()))
    orig = fm.daemon._entry

    def lying_entry(node: Any, s: os.stat_result) -> Any:
        import dataclasses

        e = orig(node, s)
        return dataclasses.replace(e, attr=dataclasses.replace(e.attr, ino=e.attr.ino + 1000))

    fm.daemon._entry = lying_entry
    assert _workload(pb)[0] != _workload(pf)[0]
