"""One sparse-file scenario, run on real tmpfs (``size=1M``) and on the simulator's lower
filesystem with the same size: ``python3 -m tests.robustness.sparse_scenario DIR`` prints
the outcomes as JSON."""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable
from typing import Any

SIZE = 1 << 20


def scenario(o: Any, d: str) -> list[str]:
    """Outcomes of a fixed sequence of calls on ``os``-like ``o`` in directory ``d``."""
    out: list[str] = []

    def t(label: str, fn: Callable[[], Any]) -> None:
        try:
            out.append(f"{label} -> {fn()!r}")
        except OSError as e:
            out.append(f"{label} -> {errno.errorcode[e.errno or 0]}")

    f = f"{d}/a"
    fd = o.open(f, os.O_RDWR | os.O_CREAT, 0o644)

    def size_blocks() -> tuple[int, int]:
        s = o.stat(f)
        return s.st_size, s.st_blocks

    t("truncate 2**40", lambda: o.truncate(f, 2**40))
    t("stat", size_blocks)
    t("pwrite 2GiB", lambda: o.pwrite(fd, b"x", 2**31))
    t("stat", size_blocks)
    t("pwrite 2**62", lambda: o.pwrite(fd, b"x", 2**62))
    t("pwrite 2**63-2 +2", lambda: o.pwrite(fd, b"xy", 2**63 - 2))
    t("truncate 2**63-1", lambda: o.truncate(f, 2**63 - 1))
    t("stat", size_blocks)
    t("SEEK_DATA 0", lambda: o.lseek(fd, 0, os.SEEK_DATA))
    t("SEEK_HOLE 0", lambda: o.lseek(fd, 0, os.SEEK_HOLE))
    t("SEEK_DATA 2**31+1", lambda: o.lseek(fd, 2**31 + 1, os.SEEK_DATA))
    t("SEEK_HOLE 2**31", lambda: o.lseek(fd, 2**31, os.SEEK_HOLE))
    t("SEEK_DATA 2**62+4096", lambda: o.lseek(fd, 2**62 + 4096, os.SEEK_DATA))
    t("ftruncate 0", lambda: o.ftruncate(fd, 0))
    t("fallocate 2**40", lambda: o.posix_fallocate(fd, 0, 2**40))
    t("stat", size_blocks)
    t("fallocate 100000", lambda: o.posix_fallocate(fd, 0, 100000))
    t("stat", size_blocks)
    t("fallocate 2M", lambda: o.posix_fallocate(fd, 0, 2 * SIZE))
    t("stat", size_blocks)
    t("fallocate EFBIG", lambda: o.posix_fallocate(fd, 2**63 - 1, 2))
    t("ftruncate 0", lambda: o.ftruncate(fd, 0))
    t("write 2M", lambda: o.pwrite(fd, b"z" * (2 * SIZE), 0))
    t("stat", size_blocks)
    t("write more", lambda: o.pwrite(fd, b"z" * 10, 4 * SIZE))
    t("statvfs", lambda: (o.statvfs(d).f_blocks, o.statvfs(d).f_bfree))
    t("symlink long (full)", lambda: o.symlink("x" * 200, f"{d}/l"))
    t("symlink short (full)", lambda: o.symlink("x", f"{d}/s"))
    t("ftruncate 0", lambda: o.ftruncate(fd, 0))
    t("write 8193 at 4095", lambda: o.pwrite(fd, b"q" * 8193, 4095))
    t("stat", size_blocks)
    t("SEEK_HOLE 0", lambda: o.lseek(fd, 0, os.SEEK_HOLE))
    t("SEEK_DATA 0", lambda: o.lseek(fd, 0, os.SEEK_DATA))
    t("ftruncate 5000", lambda: o.ftruncate(fd, 5000))
    t("stat", size_blocks)
    t("pread tail", lambda: o.pread(fd, 10, 4995))
    t("ftruncate 10000", lambda: o.ftruncate(fd, 10000))
    t("pread zeroed tail", lambda: o.pread(fd, 10, 4995))
    t("ftruncate 0", lambda: o.ftruncate(fd, 0))
    t("ftruncate 10", lambda: o.ftruncate(fd, 10))
    t("SEEK_HOLE 0 (all hole)", lambda: o.lseek(fd, 0, os.SEEK_HOLE))
    t("SEEK_DATA 0 (all hole)", lambda: o.lseek(fd, 0, os.SEEK_DATA))
    o.close(fd)
    return out


if __name__ == "__main__":
    print(json.dumps(scenario(os, sys.argv[1])))
