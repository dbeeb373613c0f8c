"""FUSE extended attributes, classic path (``fs/fuse/xattr.c``).

GETXATTR and LISTXATTR are "two different operations rolled into one": with a buffer
size of 0 the daemon answers ``fuse_getxattr_out`` (the size only), otherwise the value
(``out_argvar``; too small a buffer is the daemon's ERANGE).  ENOSYS from the daemon is
remembered (``no_getxattr``, ``no_setxattr``, ``no_listxattr``, ``no_removexattr``) and
the call fails EOPNOTSUPP from then on without a request.  POSIX ACL names go to the ACL
handlers, which fail EOPNOTSUPP unless the daemon negotiated ``FUSE_POSIX_ACL``.
"""

from __future__ import annotations

import errno
from typing import cast

from simfs import uapi
from simfs.fuse import backing
from simfs.fuse.dev import FuseArgs
from simfs.fuse.inode import FuseInode
from simfs.uapi import OutArg
from simfs.vfs.cred import Cred
from simfs.vfs.inode import Dentry, oserror

XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536
_ACL_NAMES = ("system.posix_acl_access", "system.posix_acl_default")

__all__ = ["fuse_listxattr", "fuse_removexattr", "fuse_xattr_get", "fuse_xattr_set"]


def _check(inode: FuseInode, name: str | None) -> None:
    if inode.bad:
        raise inode.bad_error()
    if name in _ACL_NAMES and not inode.fm.conn.posix_acl:
        raise oserror(errno.EOPNOTSUPP)  # fuse_no_acl_xattr_handlers


def fuse_xattr_get(inode: FuseInode, dentry: Dentry, name: str, size: int, cred: Cred) -> bytes:
    """``fuse_getxattr``.  ``size`` > 0: one GETXATTR with that buffer size (ERANGE from
    the daemon if too small).  ``size`` 0: the size probe, then the value (see below)."""
    _check(inode, name)
    handled, res = backing.bpf_getxattr(inode, dentry, name, size, cred)
    if handled:
        return cast(bytes, res)
    fm = inode.fm
    if fm.conn.no_getxattr:
        raise oserror(errno.EOPNOTSUPP)
    out = OutArg(bytes, size) if size else OutArg.of(uapi.FuseGetxattrOut)
    with inode.op("GETXATTR"):
        try:
            outs = fm.request(
                FuseArgs(
                    opcode=uapi.FUSE_GETXATTR,
                    nodeid=inode.nodeid,
                    in_args=[uapi.FuseGetxattrIn(size=size), name],
                    out_args=[out],
                    out_argvar=bool(size),
                )
            )
        except OSError as e:
            if e.errno == errno.ENOSYS:
                fm.conn.no_getxattr = True
                raise oserror(errno.EOPNOTSUPP) from None
            raise
    if size:
        value = outs[0]
        assert isinstance(value, bytes)
        return value
    n = min(cast(uapi.FuseGetxattrOut, outs[0]).size, XATTR_SIZE_MAX)
    if not n:
        return b""
    # simfs's VFS passes size 0 for "the whole value" (vfs_getxattr) as well as for the
    # existence probe (cap_inode_need_killpriv); the value is fetched with the probed
    # size, so a missing attribute costs one request, as on Linux.
    return fuse_xattr_get(inode, dentry, name, n, cred)


def fuse_xattr_set(
    inode: FuseInode, dentry: Dentry, name: str, value: bytes, flags: int, cred: Cred
) -> None:
    """``fuse_setxattr``."""
    _check(inode, name)
    handled, res = backing.bpf_setxattr(inode, dentry, name, value, flags, cred)
    if handled:
        if isinstance(res, BaseException):
            raise res
        return
    fm = inode.fm
    if fm.conn.no_setxattr:
        raise oserror(errno.EOPNOTSUPP)
    with inode.op("SETXATTR"):
        try:
            fm.request(
                FuseArgs(
                    opcode=uapi.FUSE_SETXATTR,
                    nodeid=inode.nodeid,
                    in_args=[uapi.FuseSetxattrIn(size=len(value), flags=flags), name, bytes(value)],
                )
            )
        except OSError as e:
            if e.errno == errno.ENOSYS:
                fm.conn.no_setxattr = True
                raise oserror(errno.EOPNOTSUPP) from None
            raise
    inode.invalidate_attr()  # ctime changed


def _verify_xattr_list(inode: FuseInode, raw: bytes) -> list[str]:
    """``fuse_verify_xattr_list``: NUL-terminated, non-empty names, else -EIO."""
    names: list[str] = []
    rest = raw
    while rest:
        i = rest.find(b"\0")
        if i <= 0:
            raise inode.fm.conn.reject(
                uapi.FUSE_LISTXATTR,
                "the name list has an empty or unterminated name (fuse_verify_xattr_list)",
            )
        names.append(rest[:i].decode("utf-8", "surrogateescape"))
        rest = rest[i + 1 :]
    return names


def fuse_listxattr(inode: FuseInode, dentry: Dentry, size: int, cred: Cred) -> list[str]:
    """``fuse_listxattr``.  ``size`` 0 (a VFS caller that wants the names whatever
    their size) sends the size probe, then the list with the probed size."""
    if not inode.fm.allow_current_process():
        raise oserror(errno.EACCES)
    _check(inode, None)
    handled, res = backing.bpf_listxattr(inode, dentry, size, cred)
    if handled:
        return cast("list[str]", res)
    fm = inode.fm
    if fm.conn.no_listxattr:
        raise oserror(errno.EOPNOTSUPP)

    def send(sz: int) -> uapi.WireValue:
        out = OutArg(bytes, sz) if sz else OutArg.of(uapi.FuseGetxattrOut)
        with inode.op("LISTXATTR"):
            try:
                outs = fm.request(
                    FuseArgs(
                        opcode=uapi.FUSE_LISTXATTR,
                        nodeid=inode.nodeid,
                        in_args=[uapi.FuseGetxattrIn(size=sz)],
                        out_args=[out],
                        out_argvar=bool(sz),
                    )
                )
            except OSError as e:
                if e.errno == errno.ENOSYS:
                    fm.conn.no_listxattr = True
                    raise oserror(errno.EOPNOTSUPP) from None
                raise
        return outs[0]

    if not size:
        probe = cast(uapi.FuseGetxattrOut, send(0))
        size = min(probe.size, XATTR_LIST_MAX)
        if not size:
            return []
    raw = send(size)
    assert isinstance(raw, bytes)
    return _verify_xattr_list(inode, raw)


def fuse_removexattr(inode: FuseInode, dentry: Dentry, name: str, cred: Cred) -> None:
    """``fuse_removexattr``."""
    _check(inode, name)
    handled, res = backing.bpf_removexattr(inode, dentry, name, cred)
    if handled:
        if isinstance(res, BaseException):
            raise res
        return
    fm = inode.fm
    if fm.conn.no_removexattr:
        raise oserror(errno.EOPNOTSUPP)
    with inode.op("REMOVEXATTR"):
        try:
            fm.request(FuseArgs(opcode=uapi.FUSE_REMOVEXATTR, nodeid=inode.nodeid, in_args=[name]))
        except OSError as e:
            if e.errno == errno.ENOSYS:
                fm.conn.no_removexattr = True
                raise oserror(errno.EOPNOTSUPP) from None
            raise
    inode.invalidate_attr()
