"""Integer arguments beyond their C type fail in Python's ``os`` before any system call
(issue 19, item 5: ``lseek(fd, 2**70, SEEK_SET)``); ``simfs.Process`` raises the same
exception type, checked against this machine's ``os`` on a real temporary file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

import simfs

BIG = 2**70

CALLS: dict[str, Callable[[Any, int, str], object]] = {
    "lseek": lambda o, fd, p: o.lseek(fd, BIG, os.SEEK_SET),
    "lseek_negative": lambda o, fd, p: o.lseek(fd, -BIG, os.SEEK_CUR),
    "pread_offset": lambda o, fd, p: o.pread(fd, 1, BIG),
    "pread_count": lambda o, fd, p: o.pread(fd, BIG, 0),
    "pwrite_offset": lambda o, fd, p: o.pwrite(fd, b"x", BIG),
    "read_count": lambda o, fd, p: o.read(fd, BIG),
    "ftruncate": lambda o, fd, p: o.ftruncate(fd, BIG),
    "truncate": lambda o, fd, p: o.truncate(p, BIG),
    "posix_fallocate": lambda o, fd, p: o.posix_fallocate(fd, BIG, 1),
    "copy_file_range_count": lambda o, fd, p: o.copy_file_range(fd, fd, BIG, 0, 10),
    "copy_file_range_offset": lambda o, fd, p: o.copy_file_range(fd, fd, 1, BIG, 0),
    "lseek_float": lambda o, fd, p: o.lseek(fd, 1.0, os.SEEK_SET),
}


def _exc(fn: Callable[[], object]) -> str:
    try:
        fn()
    except Exception as e:  # the type is what is compared
        return type(e).__name__
    return "no exception"


@pytest.mark.parametrize("name", sorted(CALLS))
def test_same_exception_as_os(name: str) -> None:
    call = CALLS[name]
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/f"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            real = _exc(lambda: call(os, fd, path))
            real_pos = os.lseek(fd, 0, os.SEEK_CUR)
        finally:
            os.close(fd)
    k = simfs.Kernel()
    p = k.spawn()
    p.mkdir("/t")
    sfd = p.open("/t/f", os.O_RDWR | os.O_CREAT, 0o644)
    assert _exc(lambda: call(p, sfd, "/t/f")) == real
    assert p.lseek(sfd, 0, os.SEEK_CUR) == real_pos == 0
    assert real in ("OverflowError", "TypeError")
