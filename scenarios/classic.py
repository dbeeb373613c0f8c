"""Classic FUSE: a daemon in userspace serves every operation.

``k.mount_fuse(target, daemon=simfs.daemons.Passthrough("/data"))`` mounts a filesystem
whose every inode operation becomes a request on ``/dev/fuse``; the ``Passthrough``
daemon (like libfuse's ``passthrough_ll``) answers each one by making the matching system
call on ``/data`` itself.  This is the baseline FUSE-BPF improves on.

What to look for:

- In ``simfs run classic`` each syscall fans out into daemon requests (``⇢ daemon LOOKUP``,
  ``OPEN``, ``READ``, ``FLUSH``, ``RELEASE``...); under each request hang the system calls
  the daemon made to serve it (``pid 10x open('/data/...')``).  Every round trip is two
  user↔kernel transitions: the daemon's ``read(2)`` of the request and its ``write(2)``
  of the reply.
- No ``BPF`` or ``backing`` nodes: nothing is decided in the kernel.
- ``simfs run classic --view table`` lists the requests with their ``unique``, nodeid and
  the caller's uid/gid/pid, which the daemon sees for every request.
"""

from __future__ import annotations

from typing import Any

from simfs import Kernel
from simfs.daemons import Passthrough
from simfs.scenarios import LOWER, ScenarioResult, everyday_setup, everyday_workload

TITLE = "Classic FUSE: a Passthrough daemon serves everything"
ORDER = 20


def setup(k: Kernel) -> None:
    everyday_setup(k)


def mount(k: Kernel, target: str) -> Any:
    return k.mount_fuse(target, daemon=Passthrough(LOWER))


def workload(k: Kernel, target: str) -> dict[str, Any]:
    return everyday_workload(k, target)


def check(result: ScenarioResult) -> None:
    seen = result.seen
    assert seen["content"] == b"hello, world\n"
    assert seen["written"] == b"fresh"
    assert seen["after"] == ["readme.txt", "sub"]
    ops = result.request_opcodes()
    # the lesson: every operation is a daemon round trip, no filter requests, no BPF
    for needed in ("LOOKUP", "OPEN", "READ", "CREATE", "WRITE", "RELEASE", "MKDIR", "RENAME"):
        assert needed in ops, f"{needed} was not sent to the daemon: {ops}"
    assert not [op for op in ops if "FILTER" in op]
    assert result.trace.of("bpf") == [] and result.trace.of("backing") == []
    replies = len(result.trace.of("reply"))
    assert result.transitions == len(ops) + replies
    assert result.transitions >= 2 * 10
