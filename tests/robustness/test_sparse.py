"""Sparse files in the lower store, checked against real tmpfs: the same calls on a
``size=1M`` tmpfs mounted in a private mount namespace and on a simulated lower
filesystem of 1 MiB give the same sizes, st_blocks, SEEK_DATA/SEEK_HOLE answers,
short writes and ENOSPC/EFBIG/EINVAL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import simfs

from .sparse_scenario import SIZE, scenario

ROOT = Path(__file__).resolve().parents[2]

# measured on Linux 6.18 tmpfs size=1M (the real run below re-measures when it can)
EXPECTED_HEAD = [
    "truncate 2**40 -> None",
    "stat -> (1099511627776, 0)",
    "pwrite 2GiB -> 1",
    "stat -> (1099511627776, 8)",
]


def _simulated() -> list[str]:
    k = simfs.Kernel(disk_size=SIZE)
    k.lower.create_dir("/t")
    return scenario(k.spawn(), "/t")


def test_simulated_sparse_files_behave_as_measured() -> None:
    out = _simulated()
    assert out[: len(EXPECTED_HEAD)] == EXPECTED_HEAD
    assert "fallocate 2**40 -> ENOSPC" in out
    assert "write 2M -> 1048576" in out  # a short write up to the size= limit
    assert "write more -> ENOSPC" in out


def _real() -> list[str] | str:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare(1) to mount a private tmpfs"
    with tempfile.TemporaryDirectory() as d:
        script = (
            f"mount -t tmpfs -o size={SIZE} simfs-test {d} && "
            f"{sys.executable} -m tests.robustness.sparse_scenario {d}; "
            f"rc=$?; umount {d} 2>/dev/null; exit $rc"
        )
        r = subprocess.run(
            ["unshare", "-m", "sh", "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if r.returncode != 0:
            return f"could not run on a private tmpfs: {r.stderr.strip()[:200]}"
        return list(json.loads(r.stdout))


def test_sparse_files_match_real_tmpfs() -> None:
    real = _real()
    if isinstance(real, str):
        pytest.skip(real)
    assert _simulated() == real
