"""Lower-store faults: every mutating operation, failed at each of its lower steps (an
injected EIO, a full disk), leaves the lower tree exactly as it was, lets nothing but
``OSError`` escape, and leaves the machine usable.  Run directly on the lower filesystem
and through a FUSE-BPF passthrough mount (the backing ops are the same lower steps)."""

from __future__ import annotations

import errno
import os

import pytest

import simfs
from simfs.testing.snapshot import diff_snapshots, snapshot_lower

from .machines import MUTATING_OPS, Op, assert_store_consistent, populated_kernel

ROUTES = ["lower", "fuse-bpf"]


def _machine(route: str, disk_size: int = 1 << 30) -> tuple[simfs.Kernel, simfs.Process, str]:
    k, p = populated_kernel(disk_size)
    if route == "lower":
        return k, p, "/data"
    k.mount_fuse("/mnt", root_dir="/data", no_daemon=True)
    return k, p, "/mnt"


def _steps(route: str, op: Op) -> list[str]:
    """The lower steps ``op`` takes when nothing fails."""
    k, p, base = _machine(route)
    ctx = op[1](p, base)
    seen: list[str] = []
    k.lower_sb.fault_hook = lambda step: seen.append(step) or 0
    op[2](p, base, ctx)
    k.lower_sb.fault_hook = None
    for fd in list(p.fdtable.fds):
        p.close(fd)
    assert_store_consistent(k)  # the successful op kept link counts and pages right too
    return seen


def _fail_at(index: int, err: int) -> tuple[list[int], object]:
    count = [0]

    def hook(step: str) -> int:
        count[0] += 1
        return err if count[0] == index + 1 else 0

    return count, hook


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("op", MUTATING_OPS, ids=[o[0] for o in MUTATING_OPS])
@pytest.mark.parametrize("err", [errno.EIO, errno.ENOSPC], ids=["EIO", "ENOSPC"])
def test_a_fault_at_every_step_leaves_the_lower_tree_unchanged(
    route: str, op: Op, err: int
) -> None:
    steps = _steps(route, op)
    assert steps, f"{op[0]} took no lower step: the injection would test nothing"
    for index in range(len(steps)):
        k, p, base = _machine(route)
        ctx = op[1](p, base)
        before = snapshot_lower(k.lower, "/data", times=True)
        _, hook = _fail_at(index, err)
        k.lower_sb.fault_hook = hook  # type: ignore[assignment]
        with pytest.raises(OSError) as ei:
            op[2](p, base, ctx)
        k.lower_sb.fault_hook = None
        assert ei.value.errno == err, f"{op[0]} step {index} ({steps[index]})"
        after = snapshot_lower(k.lower, "/data", times=True)
        assert before == after, "\n".join(diff_snapshots(before, after, ("before", "after")))
        assert_store_consistent(k)
        # still usable: a fresh process walks, lists and writes
        q = k.spawn()
        assert q.stat(f"{base}/d").st_nlink == 2
        assert "d" in q.listdir(base)
        fd = q.open(f"{base}/after", os.O_CREAT | os.O_WRONLY, 0o644)
        assert q.write(fd, b"ok") == 2


@pytest.mark.parametrize("route", ROUTES)
def test_a_full_disk_fails_each_allocating_op_with_enospc_and_changes_nothing(
    route: str,
) -> None:
    k, p, base = _machine(route, disk_size=64 * 4096)
    fill = p.open("/data/fill", os.O_CREAT | os.O_WRONLY, 0o644)
    free = p.statvfs("/data").f_bfree * 4096
    assert p.write(fill, b"f" * (free + 4096)) == free  # tmpfs: a short write, then full
    before = snapshot_lower(k.lower, "/data", times=True)
    fd = p.open(f"{base}/b", os.O_WRONLY)
    for call in (
        lambda: p.write(fd, b"x"),
        lambda: p.pwrite(fd, b"x", 2**35),
        lambda: p.posix_fallocate(fd, 0, 4096),
        lambda: p.symlink("t" * 200, f"{base}/long"),
    ):
        with pytest.raises(OSError) as ei:
            call()
        assert ei.value.errno == errno.ENOSPC
    assert snapshot_lower(k.lower, "/data", times=True) == before
    # what needs no page still works (tmpfs: size= limits blocks, not inodes)
    p.symlink("short", f"{base}/short")
    p.truncate(f"{base}/b", 2**40)
    assert p.stat(f"{base}/b").st_blocks == 0
    p.ftruncate(fill, 0)  # pages come back
    assert p.write(fd, b"x") == 1
    assert_store_consistent(k)
