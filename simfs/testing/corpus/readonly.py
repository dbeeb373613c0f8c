"""Read-only filters with a hole: each should keep the lower tree unchanged.

Machine for all of them: ``readonly_machine(bpf_mount(prog))``.
"""

from __future__ import annotations

import errno
import os

import simfs.bpf
from simfs import uapi
from simfs.bpf import FuseBpfArgs
from simfs.testing import bpf_mount, readonly_machine
from simfs.testing.corpus import Entry

BACKING = uapi.FUSE_BPF_BACKING
POST = uapi.FUSE_BPF_POST_FILTER

#: every opcode that changes the lower tree
WRITES = frozenset(
    {
        uapi.FUSE_SETATTR,
        uapi.FUSE_SYMLINK,
        uapi.FUSE_MKNOD,
        uapi.FUSE_MKDIR,
        uapi.FUSE_UNLINK,
        uapi.FUSE_RMDIR,
        uapi.FUSE_RENAME,
        uapi.FUSE_RENAME2,
        uapi.FUSE_LINK,
        uapi.FUSE_WRITE,
        uapi.FUSE_SETXATTR,
        uapi.FUSE_REMOVEXATTR,
        uapi.FUSE_FALLOCATE,
        uapi.FUSE_CREATE,
        uapi.FUSE_COPY_FILE_RANGE,
    }
)
#: the same, as people write it when they forget one
WRITES_NO_LINK = WRITES - {uapi.FUSE_LINK}
WRITES_NO_RENAME2 = WRITES - {uapi.FUSE_RENAME2}
WRITES_NO_REMOVEXATTR = WRITES - {uapi.FUSE_REMOVEXATTR}
WRITES_NO_SETATTR = WRITES - {uapi.FUSE_SETATTR}
WRITES_NO_MKNOD = WRITES - {uapi.FUSE_MKNOD}
WRITES_NO_SYMLINK = WRITES - {uapi.FUSE_SYMLINK}
WRITES_NO_WRITE = WRITES - {uapi.FUSE_WRITE}


def _op(fa: FuseBpfArgs) -> int:
    return fa.opcode & uapi.FUSE_OPCODE_FILTER


def _opens_for_writing(fa: FuseBpfArgs) -> bool:
    flags = fa.in_args[0].value.flags
    return bool(flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC)


@simfs.bpf.program("readonly")
def readonly(fa: FuseBpfArgs) -> int:
    """Correct: every write opcode and every open for writing fails EROFS."""
    op = _op(fa)
    if op in WRITES or (op == uapi.FUSE_OPEN and _opens_for_writing(fa)):
        return -errno.EROFS
    return BACKING


@simfs.bpf.program("readonly_no_link")
def readonly_no_link(fa: FuseBpfArgs) -> int:
    """Forgets LINK: a hard link changes the lower tree."""
    op = _op(fa)
    if op in WRITES_NO_LINK or (op == uapi.FUSE_OPEN and _opens_for_writing(fa)):
        return -errno.EROFS
    return BACKING


@simfs.bpf.program("readonly_no_rename2")
def readonly_no_rename2(fa: FuseBpfArgs) -> int:
    """Denies RENAME but not RENAME2 (renameat2 with flags)."""
    op = _op(fa)
    if op in WRITES_NO_RENAME2 or (op == uapi.FUSE_OPEN and _opens_for_writing(fa)):
        return -errno.EROFS
    return BACKING


@simfs.bpf.program("readonly_no_removexattr")
def readonly_no_removexattr(fa: FuseBpfArgs) -> int:
    """Denies SETXATTR, forgets REMOVEXATTR."""
    op = _op(fa)
    if op in WRITES_NO_REMOVEXATTR or (op == uapi.FUSE_OPEN and _opens_for_writing(fa)):
        return -errno.EROFS
    return BACKING


@simfs.bpf.program("readonly_no_setattr")
def readonly_no_setattr(fa: FuseBpfArgs) -> int:
    """Forgets SETATTR: chmod, chown, truncate and utime reach the lower files."""
    op = _op(fa)
    if op in WRITES_NO_SETATTR or (op == uapi.FUSE_OPEN and _opens_for_writing(fa)):
        return -errno.EROFS
    return BACKING


@simfs.bpf.program("readonly_no_mknod")
def readonly_no_mknod(fa: FuseBpfArgs) -> int:
    """Denies CREATE and MKDIR but not MKNOD."""
    op = _op(fa)
    if op in WRITES_NO_MKNOD or (op == uapi.FUSE_OPEN and _opens_for_writing(fa)):
        return -errno.EROFS
    return BACKING


@simfs.bpf.program("readonly_no_symlink")
def readonly_no_symlink(fa: FuseBpfArgs) -> int:
    """Forgets SYMLINK."""
    op = _op(fa)
    if op in WRITES_NO_SYMLINK or (op == uapi.FUSE_OPEN and _opens_for_writing(fa)):
        return -errno.EROFS
    return BACKING


@simfs.bpf.program("readonly_wronly_only")
def readonly_wronly_only(fa: FuseBpfArgs) -> int:
    """Relies on OPEN to stop writes but tests ``flags & O_WRONLY``: O_RDWR opens pass,
    and WRITE itself is not denied."""
    op = _op(fa)
    if op in WRITES_NO_WRITE:
        return -errno.EROFS
    if op == uapi.FUSE_OPEN and fa.in_args[0].value.flags & os.O_WRONLY:
        return -errno.EROFS
    return BACKING


@simfs.bpf.program("readonly_deny_after_backing")
def readonly_deny_after_backing(fa: FuseBpfArgs) -> int:
    """Denies in the postfilter: the caller sees EROFS, the lower has changed already."""
    op = _op(fa)
    if fa.opcode & uapi.FUSE_PREFILTER:
        return BACKING | POST
    if op in WRITES or (op == uapi.FUSE_OPEN and _opens_for_writing(fa)):
        return -errno.EROFS
    return 0


def _entry(prog: object) -> Entry:
    return Entry(
        prog.name,  # type: ignore[attr-defined]
        "read-only",
        (prog.func.__doc__ or "").strip().splitlines()[0],  # type: ignore[attr-defined]
        lambda: readonly_machine(bpf_mount(prog)),
    )


ENTRIES = [
    _entry(p)
    for p in (
        readonly_no_link,
        readonly_no_rename2,
        readonly_no_removexattr,
        readonly_no_setattr,
        readonly_no_mknod,
        readonly_no_symlink,
        readonly_wronly_only,
        readonly_deny_after_backing,
    )
]
CORRECT = [_entry(readonly)]
