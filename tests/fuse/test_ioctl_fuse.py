"""ioctls on FUSE files (issue 17, ``fs/fuse/ioctl.c``).  FS_IOC_GETFLAGS/SETFLAGS go
through ``fuse_fileattr_get/set``: a private O_RDONLY OPEN, one FUSE_IOCTL, RELEASE
(SETFLAGS reads the flags first, ``vfs_fileattr_set``).  Other commands go through
``fuse_do_ioctl`` in restricted mode with the command's own sizes.  ENOSYS is ENOTTY (the
real kernel's answer for passthrough_ll: ``test_real_passthrough_probes.py``)."""

from __future__ import annotations

import errno
import os
import struct
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.daemon import Reply, Request
from simfs.daemons import Passthrough

GETFLAGS, SETFLAGS = 0x80086601, 0x40086602
MY_IOR = (2 << 30) | (8 << 16) | (ord("x") << 8) | 1  # _IOR('x', 1, u64)


class IoctlDaemon(Passthrough):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flags = 0x40
        self.seen: list[uapi.FuseIoctlIn] = []
        self.reply_flags = 0
        self.result = 0

    def handle(self, req: Request) -> Reply | None:
        if req.opcode != uapi.FUSE_IOCTL:
            return super().handle(req)
        a = req.args[0]
        assert isinstance(a, uapi.FuseIoctlIn)
        self.seen.append(a)
        out = uapi.FuseIoctlOut(result=self.result, flags=self.reply_flags)
        if a.cmd == SETFLAGS:
            self.flags = struct.unpack("I", req.args[1])[0]
            return Reply(out, b"")
        if a.cmd == GETFLAGS:
            return Reply(out, struct.pack("I", self.flags))
        return Reply(out, b"12345678"[: a.out_size])


def _machine(daemon: Any) -> tuple[simfs.Kernel, simfs.Process]:
    k = simfs.Kernel()
    k.lower.create_dir("/data")
    k.lower.create_file("/data/f", contents=b"abc")
    k.lower.create_dir("/mnt")
    k.mount_fuse("/mnt", daemon=daemon, variant="upstream")
    return k, k.spawn()


def test_getflags_is_open_ioctl_release() -> None:
    d = IoctlDaemon("/data")
    k, p = _machine(d)
    fd = p.open("/mnt/f", os.O_RDWR)
    k.trace.clear()
    assert p.ioctl(fd, GETFLAGS, bytes(4)) == struct.pack("I", 0x40)
    assert d.seen[-1].out_size == 4 and d.seen[-1].in_size == 0
    p.ioctl(fd, SETFLAGS, struct.pack("I", 0x10))
    assert d.flags == 0x10 and d.seen[-1].in_size == 4
    p.close(fd)  # RELEASE is a background request: the daemon reads it with the next one
    # GETFLAGS; SETFLAGS reads the flags first (vfs_fileattr_set), then sets them
    assert k.trace.request_opcodes() == ["OPEN", "IOCTL", "RELEASE"] * 3 + ["FLUSH"]


def test_daemon_errors_and_retry() -> None:
    d = IoctlDaemon("/data")
    _, p = _machine(d)
    fd = p.open("/mnt/f", os.O_RDONLY)
    d.result = -errno.EPERM
    with pytest.raises(OSError) as e:
        p.ioctl(fd, GETFLAGS, bytes(4))
    assert e.value.errno == errno.EPERM
    d.result, d.reply_flags = 0, uapi.FUSE_IOCTL_RETRY
    with pytest.raises(OSError) as e:
        p.ioctl(fd, GETFLAGS, bytes(4))
    assert e.value.errno == errno.EIO  # no retry in restricted mode
    assert any("FUSE_IOCTL_RETRY" in n for n in getattr(e.value, "__notes__", ()))


def test_other_commands_use_the_commands_sizes() -> None:
    d = IoctlDaemon("/data")
    _, p = _machine(d)
    fd = p.open("/mnt/f", os.O_RDONLY)
    assert p.ioctl(fd, MY_IOR, bytes(10)) == b"12345678" + bytes(2)
    assert (d.seen[-1].cmd, d.seen[-1].out_size, d.seen[-1].in_size) == (MY_IOR, 8, 0)
    with pytest.raises(OSError) as e:
        p.ioctl(fd, MY_IOR, 0)
    assert e.value.errno == errno.EFAULT


def test_without_a_handler_everything_is_enotty() -> None:
    _, p = _machine(Passthrough("/data"))
    fd = p.open("/mnt/f", os.O_RDONLY)
    for request in (GETFLAGS, MY_IOR):
        with pytest.raises(OSError) as e:
            p.ioctl(fd, request, bytes(8))
        assert e.value.errno == errno.ENOTTY
