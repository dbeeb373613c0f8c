"""Pure passthrough: a FUSE mount with a backed root and no daemon at all.

``k.mount_fuse(target, root_dir="/data", no_daemon=True)`` backs the FUSE root inode with
the lower directory ``/data`` and attaches no BPF program.  With no program the fuse-bpf
state machine behaves as if every prefilter returned ``FUSE_BPF_BACKING``: each operation
is carried out directly on the lower filesystem ("backing op" nodes in the tree), and
children found by lookup inherit a backing inode of their own, so the whole tree below the
mount is served in the kernel.

What to look for:

- ``simfs run passthrough`` shows, under every syscall, a ``FUSE ... [bpf]`` node and a
  ``backing`` node, and never a daemon request: **0 user↔kernel transitions**.
- ``simfs compare passthrough``: the same workload over classic FUSE costs two transitions
  per request (LOOKUP, OPEN, READ, FLUSH, RELEASE, ...), over a bind mount none.
- There is no daemon to ask, so an operation fuse-bpf does not intercept would fail with
  ``ECONNREFUSED`` (spec §7.2); everyday calls never hit one.
"""

from __future__ import annotations

from typing import Any

from simfs import Kernel
from simfs.scenarios import LOWER, ScenarioResult, everyday_setup, everyday_workload

TITLE = "Pure passthrough: root_dir + no_daemon"
ORDER = 10


def setup(k: Kernel) -> None:
    everyday_setup(k)


def mount(k: Kernel, target: str) -> Any:
    return k.mount_fuse(target, root_dir=LOWER, no_daemon=True)


def workload(k: Kernel, target: str) -> dict[str, Any]:
    return everyday_workload(k, target)


def check(result: ScenarioResult) -> None:
    seen = result.seen
    assert seen["content"] == b"hello, world\n"
    assert seen["written"] == b"fresh"
    assert seen["after"] == ["readme.txt", "sub"]
    # the lesson: everything was served in the kernel
    assert result.transitions == 0
    assert result.trace.requests() == []
    assert result.trace.of("backing"), "passthrough works by backing operations"
    # and it really happened on the lower filesystem
    assert result.kernel.lower.exists(f"{LOWER}/docs/sub/moved.txt")
    assert not result.kernel.lower.exists(f"{LOWER}/docs/notes.txt")
