"""``Process.mmap`` converts its arguments as ``mmap.mmap`` does (CPython's
``new_mmap_object``: TypeError, OverflowError for negative or huge values) before the
call, then gives the kernel's errno (EINVAL for an unaligned offset).  Compared with the
real module on a one-page temporary file.  Sizes are ``mmap(2)``'s (a map may reach past
the end of the file; the module's own ``fstat`` checks are not modelled)."""

from __future__ import annotations

import mmap
import os
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

import simfs

CASES: dict[str, dict[str, Any]] = {
    "negative_length": {"length": -1},
    "negative_offset": {"length": 10, "offset": -4096},
    "str_length": {"length": "x"},
    "huge_length": {"length": 2**70},
    "unaligned_offset": {"length": 10, "offset": 1},
    "str_flags": {"length": 10, "flags": "x"},
    "huge_offset": {"length": 10, "offset": 2**70},
    "one_page": {"length": 4096},
}


def _outcome(fn: Callable[[], Any]) -> str:
    try:
        m = fn()
    except OSError as e:
        return f"OSError {e.errno}"
    except Exception as e:  # the type is what is compared
        return type(e).__name__
    return f"ok {len(m)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_outcome_as_mmap_mmap(name: str) -> None:
    size = 4096
    kw = dict(CASES[name])
    length = kw.pop("length")
    with tempfile.TemporaryDirectory() as d:
        fd = os.open(f"{d}/f", os.O_RDWR | os.O_CREAT, 0o644)
        os.ftruncate(fd, size)
        try:
            real = _outcome(lambda: mmap.mmap(fd, length, **kw))
        finally:
            os.close(fd)
    k = simfs.Kernel()
    p = k.spawn()
    sfd = p.open("/f", os.O_RDWR | os.O_CREAT, 0o644)
    p.ftruncate(sfd, size)
    assert _outcome(lambda: p.mmap(sfd, length, **kw)) == real
