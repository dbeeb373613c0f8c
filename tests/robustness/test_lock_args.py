"""``fcntl``/``lockf``/``flock``/``ioctl`` arguments: ``simfs.Process`` raises what Python's
``fcntl`` module raises (TypeError/OverflowError/ValueError before the system call), then
the errno this machine's kernel gives, in the kernel's order (``flock``: LOCK_MAND ignored,
then EINVAL for an unknown command, then EBADF).  Compared call by call with the real
module on a temporary file."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

import simfs

BAD_FD = 9999

CALLS: dict[str, Callable[[Any, int], object]] = {
    "fcntl_str_fd": lambda o, fd: o.fcntl("x", fcntl.F_GETFL),
    "fcntl_huge_cmd": lambda o, fd: o.fcntl(fd, 2**40),
    "fcntl_unknown_cmd": lambda o, fd: o.fcntl(fd, 99999),
    "fcntl_float_arg": lambda o, fd: o.fcntl(fd, fcntl.F_SETFL, 1.5),
    "fcntl_bad_fd": lambda o, fd: o.fcntl(BAD_FD, fcntl.F_GETFL),
    "fcntl_negative_fd": lambda o, fd: o.fcntl(-1, fcntl.F_GETFL),
    "lockf_unknown_cmd": lambda o, fd: o.lockf(fd, 0),
    "lockf_str_len": lambda o, fd: o.lockf(fd, fcntl.LOCK_SH, "x"),
    "lockf_huge_start": lambda o, fd: o.lockf(fd, fcntl.LOCK_SH, 1, 2**70),
    "lockf_bad_whence": lambda o, fd: o.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 0, 7),
    "ioctl_unknown": lambda o, fd: o.ioctl(fd, 0x1234),
    "ioctl_str_request": lambda o, fd: o.ioctl(fd, "x"),
    "ioctl_bad_fd": lambda o, fd: o.ioctl(BAD_FD, 0x541B),
    "flock_mand_bad_fd": lambda o, fd: o.flock(BAD_FD, fcntl.LOCK_MAND),
    "flock_unknown_bad_fd": lambda o, fd: o.flock(BAD_FD, 16),
    "flock_unknown": lambda o, fd: o.flock(fd, 64),
    "flock_mand": lambda o, fd: o.flock(fd, fcntl.LOCK_MAND | fcntl.LOCK_EX),
    "flock_bad_fd": lambda o, fd: o.flock(BAD_FD, fcntl.LOCK_SH),
}


_real = fcntl


class _RealFcntl:
    fcntl = staticmethod(_real.fcntl)
    lockf = staticmethod(_real.lockf)
    ioctl = staticmethod(_real.ioctl)
    flock = staticmethod(_real.flock)


def _outcome(fn: Callable[[], object]) -> str:
    try:
        fn()
    except OSError as e:
        return f"OSError {e.errno}"
    except Exception as e:  # the type is what is compared
        return type(e).__name__
    return "ok"


@pytest.mark.parametrize("name", sorted(CALLS))
def test_same_outcome_as_the_fcntl_module(name: str) -> None:
    call = CALLS[name]
    with tempfile.TemporaryDirectory() as d:
        fd = os.open(f"{d}/f", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            real = _outcome(lambda: call(_RealFcntl, fd))
        finally:
            os.close(fd)
    k = simfs.Kernel()
    p = k.spawn()
    sfd = p.open("/f", os.O_RDWR | os.O_CREAT, 0o644)
    assert _outcome(lambda: call(p, sfd)) == real
