"""Mainline passthrough vs fuse-bpf: the kernel serves file data, the daemon everything else.

Linux 6.9+ (``variant="upstream"``) lets a daemon register a file it has open with
``FUSE_DEV_IOC_BACKING_OPEN`` and answer OPEN with ``FOPEN_PASSTHROUGH`` and the returned
``backing_id``; from then on read, write, splice and mmap of that open file go to the
backing file inside the kernel.  ``Passthrough(..., passthrough=True)`` does what libfuse's
``passthrough_hp`` does: one backing id per inode, opened at the first open and closed at
the last release.

What to look for:

- ``simfs run mainline_passthrough`` shows OPEN answered with ``open_flags=128``
  (``FOPEN_PASSTHROUGH``) and a ``backing_id``, the daemon's
  ``ioctl(FUSE_DEV_IOC_BACKING_OPEN)``/``CLOSE`` under it, and **no READ or WRITE**,
  even for the 64 KiB file read and written here.
- But LOOKUP, GETATTR, OPEN, FLUSH, RELEASE, CREATE, MKDIR, RENAME, UNLINK, READDIR and
  the ``security.capability`` GETXATTR before a write still reach the daemon: mainline
  passthrough covers file data only.  ``simfs compare mainline_passthrough`` puts it next
  to classic FUSE (every one of those plus READ/WRITE) and fuse-bpf passthrough (zero
  transitions: lookups, attributes and directory operations are backed too).
- Where the two designs give different answers rather than different costs: fuse-bpf
  decides per operation with a BPF program and may hide or rewrite names; mainline's rules
  are per open file and fail the open with EIO when the daemon breaks them (two backing
  files for one inode, a cached and a passthrough open of the same inode, an unknown id —
  see ``tests/live/test_passthrough_rules.py``, each checked against Linux 6.18).
"""

from __future__ import annotations

import os
from typing import Any

from simfs import Kernel
from simfs.daemons import Passthrough
from simfs.scenarios import LOWER, ScenarioResult, everyday_setup, everyday_workload

TITLE = "Mainline passthrough (6.9+) vs fuse-bpf: backing ids, data only"
ORDER = 15

BIG = 64 * 1024


def setup(k: Kernel) -> None:
    everyday_setup(k)
    k.lower.create_file(f"{LOWER}/docs/big.bin", contents=b"\xab" * BIG)


def mount(k: Kernel, target: str) -> Any:
    return k.mount_fuse(
        target,
        daemon=Passthrough(LOWER, passthrough=True),
        variant="upstream",
        allow_other=True,
        default_permissions=True,
    )


def workload(k: Kernel, target: str) -> dict[str, Any]:
    seen = everyday_workload(k, target)
    p = k.spawn()
    fd = p.open(f"{target}/docs/big.bin", os.O_RDWR)
    seen["big_read"] = len(p.read(fd, BIG))
    seen["big_written"] = p.pwrite(fd, b"\xcd" * BIG, BIG)
    p.close(fd)
    seen["big_size"] = p.stat(f"{target}/docs/big.bin").st_size
    return seen


def check(result: ScenarioResult) -> None:
    seen = result.seen
    assert seen["content"] == b"hello, world\n"
    assert seen["written"] == b"fresh"
    assert seen["big_read"] == BIG and seen["big_written"] == BIG
    assert seen["big_size"] == 2 * BIG  # the size the kernel keeps follows the backing write
    ops = result.trace.request_opcodes()
    # the lesson: no data request at all, yet the daemon still serves the namespace
    assert "READ" not in ops and "WRITE" not in ops
    for needed in ("LOOKUP", "OPEN", "FLUSH", "RELEASE", "CREATE", "RENAME", "UNLINK"):
        assert needed in ops, needed
    assert result.transitions > 0
    daemon_calls = [str(e.data.get("name")) for e in result.trace.of("syscall")]
    assert any("BACKING_OPEN" in n for n in daemon_calls)
    assert any("BACKING_CLOSE" in n for n in daemon_calls)
    assert result.kernel.lower.exists(f"{LOWER}/docs/sub/moved.txt")
