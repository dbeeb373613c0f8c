"""``os.splice`` arguments: ``simfs.Process.splice`` raises what Python's ``os.splice``
raises before the system call (Argument Clinic: ``count`` a non-negative ``Py_ssize_t``,
offsets ``Py_off_t``, ``flags`` ``unsigned_int(bitwise=True)``), then the kernel's errno
(a negative file offset fails ``rw_verify_area``: EINVAL).  Compared with the real ``os``
on a temporary file and pipe."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

import simfs

CALLS: dict[str, Callable[[Any, int, int], object]] = {
    "negative_count": lambda o, fd, w: o.splice(fd, w, -1),
    "str_count": lambda o, fd, w: o.splice(fd, w, "x"),
    "huge_count": lambda o, fd, w: o.splice(fd, w, 2**70),
    "str_src": lambda o, fd, w: o.splice("x", w, 1),
    "negative_offset": lambda o, fd, w: o.splice(fd, w, 1, -1),
    "huge_offset": lambda o, fd, w: o.splice(fd, w, 1, 2**70),
    "negative_flags": lambda o, fd, w: o.splice(fd, w, 1, None, None, -1),
    "float_flags": lambda o, fd, w: o.splice(fd, w, 1, None, None, 1.0),
    "bad_fd": lambda o, fd, w: o.splice(9999, w, 1),
    "offset_on_pipe_end": lambda o, fd, w: o.splice(fd, w, 1, None, 0),
    "file_to_pipe": lambda o, fd, w: o.splice(fd, w, 3, 0),
}


def _outcome(fn: Callable[[], object]) -> str:
    try:
        return f"ok {fn()!r}"
    except OSError as e:
        return f"OSError {e.errno}"
    except Exception as e:  # the type is what is compared
        return type(e).__name__


@pytest.mark.parametrize("name", sorted(CALLS))
def test_same_outcome_as_os_splice(name: str) -> None:
    call = CALLS[name]
    with tempfile.TemporaryDirectory() as d:
        fd = os.open(f"{d}/f", os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, b"abcdef")
        r, w = os.pipe()
        try:
            real = _outcome(lambda: call(os, fd, w))
        finally:
            for x in (fd, r, w):
                os.close(x)
    k = simfs.Kernel()
    p = k.spawn()
    sfd = p.open("/f", os.O_RDWR | os.O_CREAT, 0o644)
    p.write(sfd, b"abcdef")
    _sr, sw = p.pipe()
    assert _outcome(lambda: call(p, sfd, sw)) == real
