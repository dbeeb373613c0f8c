"""Error translation: a postfilter rewrites the errno an operation returns (→ EPERM).

A postfilter runs after the backing operation and sees its outcome in ``error_in``.  If it
returns a negative errno, that becomes the operation's result.  The program here is the
Android self-test's ``test_error`` idea applied to the namespace operations: MKDIR and
RMDIR ask for a postfilter (``BACKING|POST_FILTER``), and the postfilter reports a backing
``-EEXIST`` or ``-ENOTEMPTY`` as ``-EPERM`` — decided in the kernel, without a daemon.

What to look for (``simfs run error_translation``):

- ``rmdir`` of a non-empty directory: the ``backing rmdir`` fails ``ENOTEMPTY``, the
  ``BPF postfilter RMDIR`` returns ``-EPERM``, and the syscall ends ``EPERM``; on the bind
  mount (``simfs compare``) the same call fails ``ENOTEMPTY``;
- the second ``mkdir d`` fails ``EEXIST`` all the same: the VFS finds the positive dentry
  in ``filename_create`` and never calls the filesystem, so there is no MKDIR to filter.
  A postfilter can only translate errors the backing operation itself produced (the
  self-test ``bpf_test_alter_errcode_bpf`` checks only that the call fails, for this
  reason).

The same can be done in userspace: a postfilter returning ``USER_FILTER`` sends
``OP|POSTFILTER`` with ``error_in`` in the header, and an error reply replaces the result.
For operations whose finalize returns a byte count or offset (READ, WRITE, LSEEK,
GETXATTR) a postfilter error cannot fail a successful call (spec §3.6 C).
"""

from __future__ import annotations

import errno
from typing import Any

from simfs import Kernel, bpf, uapi
from simfs.scenarios import LOWER, ScenarioResult, attempt

TITLE = "Error translation in a postfilter: EEXIST/ENOTEMPTY → EPERM"
ORDER = 70


TRANSLATED = (-errno.EEXIST, -errno.ENOTEMPTY)


@bpf.program("errors_to_eperm")
def errors_to_eperm(fa: bpf.FuseBpfArgs) -> int:
    """MKDIR/RMDIR: let the lower operation run, then report EEXIST/ENOTEMPTY as EPERM."""
    if fa.opcode in (
        uapi.FUSE_MKDIR | uapi.FUSE_PREFILTER,
        uapi.FUSE_RMDIR | uapi.FUSE_PREFILTER,
    ):
        return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
    if fa.opcode in (
        uapi.FUSE_MKDIR | uapi.FUSE_POSTFILTER,
        uapi.FUSE_RMDIR | uapi.FUSE_POSTFILTER,
    ):
        if fa.error_in in TRANSLATED:
            bpf.printk("errors_to_eperm: %d -> EPERM", fa.error_in)
            return -errno.EPERM
        return 0
    return uapi.FUSE_BPF_BACKING


def mount(k: Kernel, target: str) -> Any:
    return k.mount_fuse(target, root_dir=LOWER, root_bpf=errors_to_eperm, no_daemon=True)


def workload(k: Kernel, target: str) -> dict[str, Any]:
    p = k.spawn()
    seen: dict[str, Any] = {}
    seen["mkdir d"] = attempt(p.mkdir, f"{target}/d", 0o755)
    seen["mkdir d again"] = attempt(p.mkdir, f"{target}/d", 0o755)
    seen["mkdir d/sub"] = attempt(p.mkdir, f"{target}/d/sub", 0o755)
    seen["rmdir d (not empty)"] = attempt(p.rmdir, f"{target}/d")
    seen["rmdir d/sub"] = attempt(p.rmdir, f"{target}/d/sub")
    seen["rmdir d"] = attempt(p.rmdir, f"{target}/d")
    return seen


def check(result: ScenarioResult) -> None:
    seen = result.seen
    assert seen["mkdir d"] is None and seen["mkdir d/sub"] is None
    assert seen["rmdir d (not empty)"] == "EPERM", seen  # translated in the postfilter
    assert seen["mkdir d again"] == "EEXIST", seen  # decided by the VFS, never filtered
    assert seen["rmdir d/sub"] is None and seen["rmdir d"] is None
    assert not result.kernel.lower.exists(f"{LOWER}/d")
    posts = [e.get("ret") for e in result.trace.of("bpf") if e.get("phase") == "post"]
    # mkdir d, mkdir d/sub, rmdir d (translated), rmdir d/sub, rmdir d: 5 postfilters
    assert posts == [0, 0, -errno.EPERM, 0, 0], posts
    assert result.transitions == 0
    result.kernel.trace_pipe.expect(f"{-errno.ENOTEMPTY} -> EPERM")
