"""FUSE-BPF path behaviour that differs from a bind mount and Linux, each proved by ACK's
source and allowed by name in :data:`simfs.testing.machines.ACK_DIFFERENCES`
(issue 19, item 5); see that table for the citations."""

from __future__ import annotations

import errno
import os

import pytest

import simfs
from simfs.testing.machines import ACK_DIFFERENCES, ack_differences


def machine(quirks: bool = True) -> tuple[simfs.Kernel, simfs.Process]:
    k = simfs.Kernel()
    k.lower.create_dir("/src", perm_bits=0o755)
    k.lower.create_file("/src/f", contents=b"hello")
    for d in ("/mnt", "/bind"):
        k.lower.create_dir(d, perm_bits=0o755)
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, quirks=quirks)
    k.mount_bind("/src", "/bind")
    return k, k.spawn()


def _errno(fn: object) -> int | None:
    try:
        fn()  # type: ignore[operator]
    except OSError as e:
        return e.errno
    return None


@pytest.mark.parametrize("quirks", [True, False])
def test_open_accmode_3_is_einval(quirks: bool) -> None:
    _, p = machine(quirks)
    flags = os.O_WRONLY | os.O_RDWR
    fd = p.open("/bind/f", flags)  # Linux: an fd for ioctls only
    assert _errno(lambda: p.read(fd, 1)) == errno.EBADF
    assert _errno(lambda: p.open("/mnt/f", flags)) == errno.EINVAL  # fuse_open_backing
    assert p.open("/mnt/f", os.O_RDWR) >= 0
    allow = ACK_DIFFERENCES["open_accmode_3"]
    assert allow("open", ("f", "O_WRONLY|O_RDWR", 0), ("ok", "fd"), ("err", "EINVAL"))
    assert allow("open", ("f", "O_RDWR", 0), ("ok", "fd"), ("err", "EINVAL")) is None
    assert allow("open", ("f", flags, 0), ("ok", "fd"), ("err", "EACCES")) is None


@pytest.mark.parametrize("quirks", [True, False])
def test_name_too_long(quirks: bool) -> None:
    _, p = machine(quirks)
    for name in ("n" * 256, "n" * 1025):
        assert _errno(lambda name=name: p.stat(f"/bind/{name}")) == errno.ENAMETOOLONG
        got = _errno(lambda name=name: p.stat(f"/mnt/{name}"))
        # ACK: fuse_lookup_finalize's -ENOENT replaces the lower lookup's error
        assert got == (errno.ENOENT if quirks else errno.ENAMETOOLONG)
    ref, test = ("err", "ENAMETOOLONG"), ("err", "ENOENT")
    assert ack_differences("stat", ("n" * 256,), ref, test)
    assert ack_differences("stat", ("short",), ref, test) is None


def test_lseek_offset_beyond_off_t_is_python_overflow() -> None:
    _, p = machine()
    for path in ("/mnt/f", "/bind/f", "/src/f"):
        fd = p.open(path, os.O_RDONLY)
        p.lseek(fd, 3, os.SEEK_SET)
        with pytest.raises(OverflowError):  # os.lseek converts to off_t first
            p.lseek(fd, 2**70, os.SEEK_SET)
        assert p.lseek(fd, 0, os.SEEK_CUR) == 3  # the kernel never saw the call
        assert p.lseek(fd, 2**63 - 1, os.SEEK_SET) == 2**63 - 1


def test_root_size_under_seek_end_is_the_cached_i_size() -> None:
    """ACK ``fuse_get_root_inode`` makes the root from a zeroed ``fuse_attr`` (mode, ino,
    nlink only) and sets its ``backing_inode``; FUSE directories seek with
    ``generic_file_llseek`` (``i_size``), which only a GETATTR refreshes
    (``fuse_getattr_finalize`` -> ``finalize_attr`` -> ``fuse_change_attributes``)."""
    _, p = machine()
    fd = p.open("/mnt", os.O_RDONLY)
    assert p.lseek(fd, 0, os.SEEK_END) == 0  # nothing has asked for attributes yet
    size = p.fstat(fd).st_size
    assert size == p.stat("/src").st_size > 0
    assert p.lseek(fd, 0, os.SEEK_END) == size  # refreshed by that GETATTR
    p.close(p.open("/mnt/new", os.O_CREAT | os.O_WRONLY, 0o644))
    assert p.stat("/src").st_size != size
    assert p.lseek(fd, 0, os.SEEK_END) == size  # stale until the next GETATTR
    new_size = p.fstat(fd).st_size  # GETATTR through the backing: the lower's size
    assert new_size == p.stat("/src").st_size
    assert p.lseek(fd, 0, os.SEEK_END) == new_size
    bind = p.open("/bind", os.O_RDONLY)
    assert _errno(lambda: p.lseek(bind, 0, os.SEEK_END)) == errno.EINVAL  # dcache_dir_lseek
