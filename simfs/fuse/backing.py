"""FUSE-BPF: the backing state machine (ACK ``fs/fuse/backing.c``).

PLACEHOLDER INTERFACE, to be replaced by the full implementation.  Every function has
the parameters of the FUSE inode operation it precedes (as ``fuse_bpf_*`` macros do in
``fs/fuse/dir.c``/``file.c``) and returns ``(handled, result)``: when ``handled`` is
False the caller continues with the classic FUSE path.  The gate (step 1 of the state
machine) is already real: an inode without a backing inode is never handled here.
"""

from __future__ import annotations

from typing import Any

NOT_HANDLED: tuple[bool, Any] = (False, None)


def _gate(inode: Any) -> bool:
    """Step 1: only inodes with a backing inode enter the machine."""
    return getattr(inode, "backing_inode", None) is not None


def _unimplemented(name: str, inode: Any) -> tuple[bool, Any]:
    if not _gate(inode):
        return NOT_HANDLED
    raise NotImplementedError(f"fuse-bpf {name} is not implemented yet")


def bpf_lookup(dir: Any, dentry: Any, cred: Any, flags: int) -> tuple[bool, Any]:
    return _unimplemented("lookup", dir)


def bpf_getattr(inode: Any, path: Any, cred: Any, flags: int) -> tuple[bool, Any]:
    return _unimplemented("getattr", inode)


def bpf_setattr(inode: Any, dentry: Any, attr: Any, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("setattr", inode)


def bpf_create_open(dir: Any, dentry: Any, file: Any, flags: int, mode: int, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("create", dir)


def bpf_mknod(dir: Any, dentry: Any, mode: int, rdev: int, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("mknod", dir)


def bpf_mkdir(dir: Any, dentry: Any, mode: int, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("mkdir", dir)


def bpf_rmdir(dir: Any, dentry: Any, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("rmdir", dir)


def bpf_unlink(dir: Any, dentry: Any, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("unlink", dir)


def bpf_link(old_dentry: Any, dir: Any, new_dentry: Any, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("link", getattr(old_dentry, "inode", None))


def bpf_symlink(dir: Any, dentry: Any, target: str, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("symlink", dir)


def bpf_readlink(inode: Any, dentry: Any, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("readlink", inode)


def bpf_rename(old_dir: Any, old_dentry: Any, new_dir: Any, new_dentry: Any, flags: int, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("rename", old_dir)


def bpf_open(inode: Any, file: Any, cred: Any, isdir: bool) -> tuple[bool, Any]:
    return _unimplemented("open", inode)


def bpf_release(inode: Any, file: Any, isdir: bool) -> tuple[bool, Any]:
    return _unimplemented("release", inode)


def bpf_flush(inode: Any, file: Any) -> tuple[bool, Any]:
    return _unimplemented("flush", inode)


def bpf_fsync(inode: Any, file: Any, datasync: bool, isdir: bool) -> tuple[bool, Any]:
    return _unimplemented("fsync", inode)


def bpf_read(inode: Any, file: Any, offset: int, size: int) -> tuple[bool, Any]:
    return _unimplemented("read", inode)


def bpf_write(inode: Any, file: Any, offset: int, data: bytes) -> tuple[bool, Any]:
    return _unimplemented("write", inode)


def bpf_llseek(inode: Any, file: Any, offset: int, whence: int) -> tuple[bool, Any]:
    return _unimplemented("lseek", inode)


def bpf_fallocate(inode: Any, file: Any, mode: int, offset: int, length: int) -> tuple[bool, Any]:
    return _unimplemented("fallocate", inode)


def bpf_copy_file_range(inode: Any, file_in: Any, off_in: int, file_out: Any, off_out: int, length: int, flags: int) -> tuple[bool, Any]:
    return _unimplemented("copy_file_range", inode)


def bpf_readdir(inode: Any, file: Any, pos: int, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("readdir", inode)


def bpf_getxattr(inode: Any, dentry: Any, name: str, size: int, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("getxattr", inode)


def bpf_setxattr(inode: Any, dentry: Any, name: str, value: bytes, flags: int, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("setxattr", inode)


def bpf_listxattr(inode: Any, dentry: Any, size: int, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("listxattr", inode)


def bpf_removexattr(inode: Any, dentry: Any, name: str, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("removexattr", inode)


def bpf_access(inode: Any, mask: int, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("access", inode)


def bpf_statfs(inode: Any, dentry: Any, cred: Any) -> tuple[bool, Any]:
    return _unimplemented("statfs", inode)


def bpf_canonical_path(inode: Any, dentry: Any) -> tuple[bool, Any]:
    return _unimplemented("canonical_path", inode)
