"""FUSE directory and inode operations, classic path (``fs/fuse/dir.c``).

Lookup and revalidation (``fuse_lookup``, ``fuse_lookup_name``,
``fuse_dentry_revalidate`` with the fuse-bpf rules of spec §6.5), permission
(``fuse_permission``, ``fuse_access``, ``fuse_allow_current_process``), attributes
(``fuse_getattr``/``fuse_update_get_attr``/``fuse_do_getattr``, ``fuse_setattr``/
``fuse_do_setattr``), the namespace operations (``create_new_entry`` for MKNOD, MKDIR,
SYMLINK, LINK; ``fuse_atomic_open``/``fuse_create_open`` for CREATE with the ``no_create``
fallback; UNLINK, RMDIR, RENAME/RENAME2 with ``no_rename2``), READLINK and STATFS.

Every function first asks :mod:`simfs.fuse.backing` (fuse-bpf) and runs the classic path
only when that did not handle the operation.
"""

from __future__ import annotations

import errno
import os
import stat as st
from typing import TYPE_CHECKING, Any, cast

from simfs import uapi
from simfs.fuse import backing, iomode
from simfs.fuse.dev import FuseArgs
from simfs.fuse.inode import (
    FUSE_STATX_MODSIZE,
    STATX_BASIC_STATS,
    STATX_CTIME,
    STATX_GID,
    STATX_MODE,
    STATX_MTIME,
    STATX_SIZE,
    STATX_UID,
    FuseFile,
    FuseInode,
    FuseSuperBlock,
    attr_problem,
    fc_default_permissions,
    fuse_dentry,
    fuse_dentry_settime,
    fuse_invalid_attr,
    invalid_nodeid,
)
from simfs.uapi import OutArg
from simfs.vfs import dcache
from simfs.vfs.cred import Cred
from simfs.vfs.inode import (
    ATTR_ATIME,
    ATTR_ATIME_SET,
    ATTR_FORCE,
    ATTR_GID,
    ATTR_KILL_SGID,
    ATTR_KILL_SUID,
    ATTR_MODE,
    ATTR_MTIME,
    ATTR_MTIME_SET,
    ATTR_OPEN,
    ATTR_SIZE,
    ATTR_UID,
    MAY_ACCESS,
    MAY_CHDIR,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    Dentry,
    Iattr,
    Inode,
    Kstat,
    StatFs,
    oserror,
)
from simfs.vfs.namei import LOOKUP_EXCL, LOOKUP_RENAME_TARGET
from simfs.vfs.permission import generic_permission, setattr_prepare

if TYPE_CHECKING:
    from simfs.fuse.mount import FuseMount
    from simfs.vfs.file import File
    from simfs.vfs.mount import Path

LOOKUP_REVAL = 0x0020
FUSE_NAME_MAX = uapi.FUSE_NAME_MAX
PATH_MAX = 4096
S_IXUGO = 0o111
RENAME_NOREPLACE = 1 << 0
RENAME_EXCHANGE = 1 << 1
RENAME_WHITEOUT = 1 << 2


# ---------------------------------------------------------------------------------------
# helpers


def _check_bad(inode: FuseInode) -> None:
    """``fuse_is_bad`` -> -EIO."""
    if inode.bad:
        raise inode.bad_error()


def _umask() -> int:
    return 0


def current_umask(fm: FuseMount) -> int:
    """``current_umask()`` of the calling task."""
    cur = fm.kernel.current
    return int(getattr(cur, "_umask", 0o022)) if cur is not None else 0o022


def entry_attr_valid(sb: FuseSuperBlock, o: uapi.FuseEntryOut) -> int:
    """``ATTR_TIMEOUT(o)``."""
    return sb.time_to_expiry(o.attr_valid, o.attr_valid_nsec)


def change_entry_timeout(sb: FuseSuperBlock, dentry: Dentry, o: uapi.FuseEntryOut) -> None:
    """``fuse_change_entry_timeout``."""
    fuse_dentry_settime(dentry, sb.time_to_expiry(o.entry_valid, o.entry_valid_nsec))


def invalidate_entry_cache(dentry: Dentry) -> None:
    """``fuse_invalidate_entry_cache``: the entry time becomes 0 (always expired)."""
    fuse_dentry_settime(dentry, 0)


def dir_changed(dir: FuseInode) -> None:
    """``fuse_dir_changed``."""
    dir.invalidate_attr()


def _fuse_inode(inode: Inode | None) -> FuseInode:
    if not isinstance(inode, FuseInode):
        raise oserror(errno.EXDEV)
    return inode


def lookup_args(fm: FuseMount, nodeid: int, name: str) -> FuseArgs:
    """``fuse_lookup_init``: the entry, and (ACK) room for the 32-byte fuse-bpf add-on
    with ``out_argvar`` so a plain 128-byte reply is accepted."""
    outs = [OutArg.of(uapi.FuseEntryOut)]
    argvar = False
    if fm.variant == "ack":
        outs.append(OutArg.of(uapi.FuseEntryBpfOut))
        argvar = True
    elif fm.variant == "rfc_v2":
        # RFC v2 fuse_lookup_init: up to FUSE_BPF_MAX_ENTRIES typed 16-byte blocks
        outs.append(OutArg(bytes, uapi.FUSE_BPF_MAX_ENTRIES * uapi.FuseBpfEntryOut.SIZE))
        argvar = True
    args = FuseArgs(
        opcode=uapi.FUSE_LOOKUP, nodeid=nodeid, in_args=[name], out_args=outs, out_argvar=argvar
    )
    if fm.variant == "ack":
        hook = getattr(backing, "lookup_on_reply", None)
        if hook is not None:
            args.on_reply = hook
    elif fm.variant == "rfc_v2":
        args.bpf_v2_blocks = True
        args.on_reply = backing.lookup_on_reply_v2
    return args


def _addon(args: FuseArgs, outs: list[uapi.WireValue]) -> uapi.FuseEntryBpfOut | None:
    """The add-on block when the reply carried all 32 bytes of it (RFC v2: the typed
    blocks, already turned into the same actions by ``lookup_on_reply_v2``)."""
    if args.bpf_v2_blocks:
        v = outs[1] if len(outs) > 1 else None
        return v if isinstance(v, uapi.FuseEntryBpfOut) else None
    if (
        len(args.out_args) > 1
        and args.out_args[1].size == uapi.FuseEntryBpfOut.SIZE
        and len(outs) > 1
    ):
        bpf_out = outs[1]
        if isinstance(bpf_out, uapi.FuseEntryBpfOut):
            return bpf_out
    return None


# ---------------------------------------------------------------------------------------
# lookup


def fuse_lookup_name(
    fm: FuseMount, nodeid: int, name: str
) -> tuple[uapi.FuseEntryOut, FuseInode | None, uapi.FuseEntryBpfOut | None]:
    """``fuse_lookup_name``: send LOOKUP; nodeid 0 means negative (with a timeout)."""
    if len(name.encode("utf-8", "surrogateescape")) > FUSE_NAME_MAX:
        raise oserror(errno.ENAMETOOLONG)
    attr_version = fm.get_attr_version()
    args = lookup_args(fm, nodeid, name)
    outs = fm.request(args)
    outarg = cast(uapi.FuseEntryOut, outs[0])
    addon = _addon(args, outs)
    # Zero nodeid is same as -ENOENT, but with valid timeout
    if not outarg.nodeid:
        return outarg, None, addon
    if addon is not None:
        # ACK fuse_lookup_name: a reply carrying fuse_entry_bpf_out makes the inode with
        # fuse_iget_backing (attributes from the backing inode); its fuse_attr is not
        # checked (fuse_invalid_attr is on the plain-reply branch only)
        return outarg, None, addon
    if fuse_invalid_attr(outarg.attr):
        raise fm.conn.reject(uapi.FUSE_LOOKUP, attr_problem(outarg.attr))
    generation = outarg.generation
    if outarg.nodeid == uapi.FUSE_ROOT_ID and generation != 0:
        generation = 0  # "root generation should be zero"
    inode = fm.sb.iget(
        outarg.nodeid, generation, outarg.attr, entry_attr_valid(fm.sb, outarg), attr_version
    )
    return outarg, inode, addon


def _type_change(attr: uapi.FuseAttr, mode: int) -> str:
    """Why an attribute reply is refused: invalid, or another file type than the inode's."""
    return attr_problem(attr) or (
        f"attr.mode {attr.mode:#o} changes the file type of a {st.S_IFMT(mode):#o} inode"
    )


def _entry_problem(out: uapi.FuseEntryOut) -> str:
    if invalid_nodeid(out.nodeid):
        return f"nodeid {out.nodeid} is invalid (0 or FUSE_ROOT_ID)"
    return attr_problem(out.attr)


def fuse_lookup(dir: FuseInode, dentry: Dentry, cred: Cred, flags: int) -> Inode | None:
    """``fuse_lookup``."""
    _check_bad(dir)
    handled, res = backing.bpf_lookup(dir, dentry, cred, flags)
    if handled:
        return cast("Inode | None", res)
    fm = dir.fm
    with dir.op("LOOKUP"):
        outarg_valid = True
        try:
            outarg, inode, addon = fuse_lookup_name(fm, dir.nodeid, dentry.name)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
            outarg_valid = False
            outarg, inode, addon = uapi.FuseEntryOut(), None, None
        if addon is not None:
            # ACK: a plain LOOKUP reply with the add-on attaches backing/program (path b)
            apply = getattr(backing, "classic_lookup_addon", None)
            if apply is None:
                raise oserror(errno.EINVAL)
            inode = apply(dir, dentry, outarg, addon, inode)
        if inode is not None and inode.nodeid == uapi.FUSE_ROOT_ID:
            # fuse_lookup: the root cannot be a child
            raise fm.conn.reject(uapi.FUSE_LOOKUP, "the entry's nodeid is FUSE_ROOT_ID (1)")
        if inode is not None and inode.is_dir:
            # d_splice_alias: a directory has one name; an old alias is dropped
            for alias in list(inode.aliases):
                if alias is not dentry and not alias.unhashed:
                    dcache.d_drop(alias)
        if outarg_valid:
            change_entry_timeout(fm.sb, dentry, outarg)
        else:
            invalidate_entry_cache(dentry)
        if inode is not None:
            dir.state.add("advise_rdplus")  # fuse_advise_use_readdirplus(dir)
        return inode


def fuse_dentry_canonical_path(path: Path) -> Path:
    """Android ``fuse_dentry_canonical_path`` (ACK ``fs/fuse/dir.c``), asked by
    ``inotify_add_watch`` for the path to watch.

    fuse-bpf first: a backed inode runs CANONICAL_PATH through the machine, whose backing
    (``fuse_canonical_path_backing``) answers the dentry's lower path, so the watch lands
    on the lower inode and sees changes made on the lower filesystem.  Otherwise a
    CANONICAL_PATH request (header only, out: up to PATH_MAX bytes, argvar); the daemon's
    string is resolved by ``kern_path`` inside its own write (``fuse_dev_do_write``, in
    the daemon's context); any failure falls back to ``path`` itself (``default_path``).
    """
    dentry = path.dentry
    inode = dentry.inode
    if not isinstance(inode, FuseInode):
        return path
    try:
        handled, res = backing.bpf_canonical_path(inode, dentry)
    except OSError:
        return path
    if handled:
        return cast("Path", res) if res is not None else path
    resolved: list[Path] = []

    def kern_path(values: list[uapi.WireValue], daemon: Any) -> None:
        name = values[0] if values else ""
        proc = getattr(daemon, "proc", None)
        if not isinstance(name, str) or proc is None:
            raise oserror(errno.ENOENT)
        resolved.append(proc.resolve(name.split("\0", 1)[0], follow=False))

    fm = inode.fm
    with inode.op("CANONICAL_PATH"):
        try:
            fm.request(
                FuseArgs(
                    opcode=uapi.FUSE_CANONICAL_PATH,
                    nodeid=inode.nodeid,
                    out_args=[OutArg(str, PATH_MAX)],
                    out_argvar=True,
                    on_reply=kern_path,
                )
            )
        except OSError:
            return path  # default_path
    return resolved[0] if resolved else path


def fuse_dentry_revalidate(sb: FuseSuperBlock, dentry: Dentry, cred: Cred, flags: int) -> bool:
    """``fuse_dentry_revalidate`` (+ ACK fuse-bpf rules, spec §6.5)."""
    fdent = fuse_dentry(dentry)
    inode = dentry.inode
    # fuse-bpf: a dentry with a lower path follows the lower dentry
    bp = fdent.backing_path
    if bp is not None:
        lower = bp.dentry
        if lower.unhashed:
            return False
        if not lower.sb.d_revalidate(lower, cred, flags):
            return False
    if isinstance(inode, FuseInode) and inode.bad:
        return False
    if not (sb.expired(fdent.time) or flags & (LOOKUP_EXCL | LOOKUP_REVAL | LOOKUP_RENAME_TARGET)):
        if isinstance(inode, FuseInode) and "init_rdplus" in inode.state:
            inode.state.discard("init_rdplus")
            parent = dentry.parent
            if parent is not None and isinstance(parent.inode, FuseInode):
                parent.inode.state.add("advise_rdplus")
        return True
    parent = dentry.parent
    pinode = parent.inode if parent is not None else None
    if isinstance(pinode, FuseInode) and pinode.backing_inode is not None:
        return True  # fuse-bpf: no BPF-based revalidate; a backed parent keeps it valid
    # For negative dentries, always do a fresh lookup
    if inode is None or not isinstance(pinode, FuseInode):
        return False
    assert isinstance(inode, FuseInode)
    fm = sb.fm
    attr_version = fm.get_attr_version()
    with pinode.op("LOOKUP"):
        args = lookup_args(fm, pinode.nodeid, dentry.name)
        try:
            outs = fm.request(args)
        except OSError as e:
            if e.errno in (errno.ENOMEM, errno.EINTR):
                raise
            return False
        outarg = cast(uapi.FuseEntryOut, outs[0])
        if _addon(args, outs) is not None:
            return False  # ACK: a reply carrying the add-on invalidates (spec §6.5)
        if not outarg.nodeid:
            return False  # Zero nodeid is same as -ENOENT
        if outarg.nodeid != inode.nodeid:
            fm.queue_forget(outarg.nodeid, 1)
            return False
        inode.nlookup += 1
        if (
            fuse_invalid_attr(outarg.attr)
            or outarg.generation != inode.generation
            or st.S_IFMT(outarg.attr.mode) != st.S_IFMT(inode.mode)
        ):
            if outarg.generation != inode.generation or st.S_IFMT(outarg.attr.mode) != st.S_IFMT(
                inode.mode
            ):
                inode.bad = True  # fuse_stale_inode -> fuse_make_bad
            return False
        inode.change_attributes(outarg.attr, entry_attr_valid(sb, outarg), attr_version)
        change_entry_timeout(sb, dentry, outarg)
    return True


# ---------------------------------------------------------------------------------------
# permission and attributes


def fuse_access(inode: FuseInode, mask: int) -> None:
    """``fuse_access``: ACCESS unless the daemon said ENOSYS once (``no_access``)."""
    fm = inode.fm
    conn = fm.conn
    if conn.no_access:
        return
    with inode.op("ACCESS"):
        args = FuseArgs(
            opcode=uapi.FUSE_ACCESS,
            nodeid=inode.nodeid,
            in_args=[uapi.FuseAccessIn(mask=mask & (MAY_READ | MAY_WRITE | MAY_EXEC))],
        )
        try:
            fm.request(args)
        except OSError as e:
            if e.errno == errno.ENOSYS:
                conn.no_access = True
                return
            raise


def fuse_perm_getattr(inode: FuseInode) -> None:
    """``fuse_perm_getattr`` (simfs always walks in ref-walk mode: no -ECHILD)."""
    fuse_do_getattr(inode, None)


def fuse_permission(inode: FuseInode, mask: int, cred: Cred) -> None:
    """``fuse_permission``."""
    _check_bad(inode)
    fm = inode.fm
    if not fm.allow_current_process():
        raise oserror(errno.EACCES)
    handled, res = backing.bpf_access(inode, mask, cred)
    if handled:
        if isinstance(res, BaseException):
            raise res
        return
    refreshed = False
    dp = fc_default_permissions(fm)
    # If attributes are needed, refresh them before proceeding
    needed = dp or (mask & MAY_EXEC and st.S_ISREG(inode.mode))
    if needed and inode.attrs_stale(STATX_MODE | STATX_UID | STATX_GID):
        refreshed = True
        fuse_perm_getattr(inode)
    if dp:
        try:
            generic_permission(inode, mask, cred)
        except OSError as e:
            # If permission is denied, try to refresh file attributes (the root node
            # will at first have no permissions)
            if e.errno != errno.EACCES or refreshed:
                raise
            fuse_perm_getattr(inode)
            generic_permission(inode, mask, cred)
    elif mask & (MAY_ACCESS | MAY_CHDIR):
        fuse_access(inode, mask)
    elif mask & MAY_EXEC and st.S_ISREG(inode.mode) and not inode.mode & S_IXUGO:
        if refreshed:
            raise oserror(errno.EACCES)
        fuse_perm_getattr(inode)
        if not inode.mode & S_IXUGO:
            raise oserror(errno.EACCES)


def _attr_to_kstat(inode: FuseInode, attr: uapi.FuseAttr) -> Kstat:
    """``fuse_fillattr``."""
    return Kstat(
        ino=attr.ino,
        mode=st.S_IFMT(inode.mode) | (attr.mode & 0o7777),
        nlink=attr.nlink,
        uid=attr.uid,
        gid=attr.gid,
        rdev=attr.rdev,
        size=inode.size,
        atime_ns=uapi.time_from_wire(attr.atime, attr.atimensec),
        mtime_ns=uapi.time_from_wire(attr.mtime, attr.mtimensec),
        ctime_ns=uapi.time_from_wire(attr.ctime, attr.ctimensec),
        blksize=attr.blksize if attr.blksize else 1 << inode.sb.blocksize_bits,
        blocks=attr.blocks,
        dev=inode.sb.dev,
    )


def fuse_do_getattr(inode: FuseInode, file: File | None) -> Kstat:
    """``fuse_do_getattr``: GETATTR (with the file handle for a regular file)."""
    fm = inode.fm
    attr_version = fm.get_attr_version()
    inarg = uapi.FuseGetattrIn()
    # Directories have separate file-handle space
    if file is not None and st.S_ISREG(inode.mode) and isinstance(file.private, FuseFile):
        inarg = uapi.FuseGetattrIn(getattr_flags=uapi.FUSE_GETATTR_FH, fh=file.private.fh)
    with inode.op("GETATTR"):
        args = FuseArgs(
            opcode=uapi.FUSE_GETATTR,
            nodeid=inode.nodeid,
            in_args=[inarg],
            out_args=[OutArg.of(uapi.FuseAttrOut)],
        )
        outs = fm.request(args)
        out = cast(uapi.FuseAttrOut, outs[0])
        if fuse_invalid_attr(out.attr) or st.S_IFMT(out.attr.mode) != st.S_IFMT(inode.mode):
            inode.bad = True  # fuse_make_bad
            raise fm.conn.reject(uapi.FUSE_GETATTR, _type_change(out.attr, inode.mode))
        inode.change_attributes(
            out.attr, inode.sb.time_to_expiry(out.attr_valid, out.attr_valid_nsec), attr_version
        )
        return _attr_to_kstat(inode, out.attr)


def cache_mask(inode: FuseInode) -> int:
    """``fuse_get_cache_mask``: what the kernel keeps locally (writeback cache)."""
    if inode.fm.conn.writeback_cache and st.S_ISREG(inode.mode):
        return STATX_MTIME | STATX_CTIME | STATX_SIZE
    return 0


def fuse_update_get_attr(inode: FuseInode, file: File | None, request_mask: int) -> Kstat:
    """``fuse_update_get_attr``: GETATTR if a requested attribute is invalid or the
    attributes expired; otherwise the cached ones."""
    if request_mask & inode.inval_mask & ~cache_mask(inode):
        sync = True
    else:
        sync = inode.sb.expired(inode.i_time)
    if sync:
        return fuse_do_getattr(inode, file)
    return inode.fillattr()


def fuse_update_attributes(inode: FuseInode, file: File | None, mask: int) -> None:
    """``fuse_update_attributes``."""
    fuse_update_get_attr(inode, file, mask)


def fuse_getattr(inode: FuseInode, path: Path, cred: Cred, flags: int) -> Kstat:
    """``fuse_getattr``."""
    if not inode.fm.allow_current_process():
        raise oserror(errno.EACCES)
    handled, res = backing.bpf_getattr(inode, path, cred, flags)
    if handled:
        return cast(Kstat, res)
    return fuse_update_get_attr(inode, None, STATX_BASIC_STATS)


def _update_mtime(ivalid: int, has_file: bool, trust_local_mtime: bool) -> bool:
    """``update_mtime``."""
    if ivalid & ATTR_MTIME_SET:
        return True
    if trust_local_mtime:
        return True
    # If it's an open(O_TRUNC) or an ftruncate(), don't update
    return not (ivalid & ATTR_SIZE and (ivalid & ATTR_OPEN or has_file))


def iattr_to_fattr(fm: FuseMount, attr: Iattr, trust_local_cmtime: bool) -> uapi.FuseSetattrIn:
    """``iattr_to_fattr``."""
    ivalid = attr.valid
    kw: dict[str, Any] = {}
    valid = 0
    if ivalid & ATTR_MODE:
        valid |= uapi.FATTR_MODE
        kw["mode"] = attr.mode
    if ivalid & ATTR_UID:
        valid |= uapi.FATTR_UID
        kw["uid"] = attr.uid
    if ivalid & ATTR_GID:
        valid |= uapi.FATTR_GID
        kw["gid"] = attr.gid
    if ivalid & ATTR_SIZE:
        valid |= uapi.FATTR_SIZE
        kw["size"] = attr.size
    if ivalid & ATTR_ATIME:
        valid |= uapi.FATTR_ATIME
        kw["atime"], kw["atimensec"] = uapi.time_to_wire(attr.atime_ns)
        if not ivalid & ATTR_ATIME_SET:
            valid |= uapi.FATTR_ATIME_NOW
    if ivalid & ATTR_MTIME and _update_mtime(ivalid, attr.file is not None, trust_local_cmtime):
        valid |= uapi.FATTR_MTIME
        kw["mtime"], kw["mtimensec"] = uapi.time_to_wire(attr.mtime_ns)
        if not ivalid & ATTR_MTIME_SET and not trust_local_cmtime:
            valid |= uapi.FATTR_MTIME_NOW
    for key in ("atime", "mtime"):
        if key in kw and kw[key] < 0:
            kw[key] &= (1 << 64) - 1  # the wire is u64; pre-1970 times wrap as in C
    return uapi.FuseSetattrIn(valid=valid, **kw)


def fuse_setattr(inode: FuseInode, dentry: Dentry, attr: Iattr, cred: Cred) -> None:
    """``fuse_setattr``."""
    fm = inode.fm
    if not fm.allow_current_process():
        raise oserror(errno.EACCES)
    handled, res = backing.bpf_setattr(inode, dentry, attr, cred)
    if handled:
        if isinstance(res, BaseException):
            raise res
        return
    fc = fm.conn
    if attr.valid & (ATTR_KILL_SUID | ATTR_KILL_SGID):
        attr.valid &= ~(ATTR_KILL_SUID | ATTR_KILL_SGID | ATTR_MODE)
        # The only sane way to reliably kill suid/sgid is to do it in the userspace fs
        if not fc.handle_killpriv and not fc.handle_killpriv_v2:
            # ia_mode calculation may have used stale i_mode: refresh and recalculate
            fuse_do_getattr(inode, attr.file)
            attr.mode = inode.mode
            if inode.mode & st.S_ISUID:
                attr.valid |= ATTR_MODE
                attr.mode &= ~st.S_ISUID
            if inode.mode & (st.S_ISGID | st.S_IXGRP) == st.S_ISGID | st.S_IXGRP:
                attr.valid |= ATTR_MODE
                attr.mode &= ~st.S_ISGID
    if not attr.valid:
        return
    fuse_do_setattr(inode, dentry, attr, cred)
    # Directory mode changed, may need to revalidate access
    if inode.is_dir and attr.valid & ATTR_MODE:
        invalidate_entry_cache(dentry)


def fuse_do_setattr(inode: FuseInode, dentry: Dentry, attr: Iattr, cred: Cred) -> None:
    """``fuse_do_setattr``."""
    fm = inode.fm
    fc = fm.conn
    file = attr.file
    is_wb = fc.writeback_cache and st.S_ISREG(inode.mode)
    trust_local_cmtime = is_wb
    if not fc_default_permissions(fm):
        attr.valid |= ATTR_FORCE
    setattr_prepare(inode, attr, cred)
    is_truncate = False
    if attr.valid & ATTR_SIZE:
        if not st.S_ISREG(inode.mode):
            raise oserror(errno.EIO)
        is_truncate = True
    if attr.valid & ATTR_OPEN:
        # This is coming from open(..., ... | O_TRUNC);
        if fc.atomic_o_trunc:
            # No need to send request to userspace, since actual truncation has already
            # been done by OPEN.  But still need to truncate page cache.
            inode.size = 0
            inode.truncate_pagecache(0)
            return
        file = None
    inarg = iattr_to_fattr(fm, attr, trust_local_cmtime)
    valid = inarg.valid
    fh = 0
    lock_owner = 0
    if file is not None and isinstance(file.private, FuseFile):
        valid |= uapi.FATTR_FH
        fh = file.private.fh
    # Kill suid/sgid for non-directory chown unconditionally
    if fc.handle_killpriv_v2 and not inode.is_dir and attr.valid & (ATTR_UID | ATTR_GID):
        valid |= uapi.FATTR_KILL_SUIDGID
    if attr.valid & ATTR_SIZE:
        # For mandatory locking in truncate
        valid |= uapi.FATTR_LOCKOWNER
        lock_owner = lock_owner_id(fm)
        from simfs.vfs.cred import CAP_FSETID

        if fc.handle_killpriv_v2 and not cred.capable(CAP_FSETID):
            valid |= uapi.FATTR_KILL_SUIDGID
    import dataclasses

    inarg = dataclasses.replace(inarg, valid=valid, fh=fh, lock_owner=lock_owner)
    if is_truncate:
        inode.state.add("size_unstable")
    try:
        with inode.op("SETATTR"):
            args = FuseArgs(
                opcode=uapi.FUSE_SETATTR,
                nodeid=inode.nodeid,
                in_args=[inarg],
                out_args=[OutArg.of(uapi.FuseAttrOut)],
            )
            outs = fm.request(args)
    finally:
        inode.state.discard("size_unstable")
    out = cast(uapi.FuseAttrOut, outs[0])
    if fuse_invalid_attr(out.attr) or st.S_IFMT(out.attr.mode) != st.S_IFMT(inode.mode):
        inode.bad = True
        raise fm.conn.reject(uapi.FUSE_SETATTR, _type_change(out.attr, inode.mode))
    old_size = inode.size
    inode.change_attributes_common(
        out.attr, inode.sb.time_to_expiry(out.attr_valid, out.attr_valid_nsec)
    )
    # see the comment in fuse_change_attributes()
    if not is_wb or is_truncate:
        inode.size = out.attr.size
    if (is_truncate or not is_wb) and st.S_ISREG(inode.mode) and old_size != out.attr.size:
        inode.truncate_pagecache(out.attr.size)
        inode.invalidate_pages()


def lock_owner_id(fm: FuseMount) -> int:
    """``fuse_lock_owner_id``: a scrambled ``files_struct`` pointer; simfs uses the pid."""
    cur = fm.kernel.current
    return int(getattr(cur, "pid", 0))


# ---------------------------------------------------------------------------------------
# namespace operations


def create_new_entry(dir: FuseInode, dentry: Dentry, args: FuseArgs, mode: int) -> FuseInode:
    """``create_new_entry``: send MKNOD/MKDIR/SYMLINK/LINK, instantiate the reply."""
    _check_bad(dir)
    fm = dir.fm
    args.nodeid = dir.nodeid
    args.out_args = [OutArg.of(uapi.FuseEntryOut)]
    outs = fm.request(args)
    outarg = cast(uapi.FuseEntryOut, outs[0])
    if invalid_nodeid(outarg.nodeid) or fuse_invalid_attr(outarg.attr):
        raise fm.conn.reject(args.opcode, _entry_problem(outarg))
    if (outarg.attr.mode ^ mode) & 0o170000:
        raise fm.conn.reject(args.opcode, _type_change(outarg.attr, mode))
    inode = fm.sb.iget(
        outarg.nodeid, outarg.generation, outarg.attr, entry_attr_valid(fm.sb, outarg), 0
    )
    if inode.is_dir:
        for alias in list(inode.aliases):
            if alias is not dentry and not alias.unhashed:
                dcache.d_drop(alias)  # d_splice_alias
    dentry.instantiate(inode)
    change_entry_timeout(fm.sb, dentry, outarg)
    dir_changed(dir)
    return inode


def fuse_mknod(dir: FuseInode, dentry: Dentry, mode: int, rdev: int, cred: Cred) -> Inode:
    """``fuse_mknod``."""
    handled, res = backing.bpf_mknod(dir, dentry, mode, rdev, cred)
    if handled:
        return cast(Inode, res)
    fm = dir.fm
    umask = current_umask(fm)
    if not fm.conn.dont_mask:
        mode &= ~umask
    with dir.op("MKNOD"):
        args = FuseArgs(
            opcode=uapi.FUSE_MKNOD,
            in_args=[uapi.FuseMknodIn(mode=mode, rdev=rdev & 0xFFFFFFFF, umask=umask), dentry.name],
        )
        return create_new_entry(dir, dentry, args, mode)


def fuse_create(dir: FuseInode, dentry: Dentry, mode: int, cred: Cred, excl: bool) -> Inode:
    """``fuse_create``: ``fuse_mknod(dir, entry, mode, 0)``."""
    return fuse_mknod(dir, dentry, mode, 0, cred)


def fuse_mkdir(dir: FuseInode, dentry: Dentry, mode: int, cred: Cred) -> Inode:
    """``fuse_mkdir``."""
    handled, res = backing.bpf_mkdir(dir, dentry, mode, cred)
    if handled:
        return cast(Inode, res)
    fm = dir.fm
    umask = current_umask(fm)
    if not fm.conn.dont_mask:
        mode &= ~umask
    with dir.op("MKDIR"):
        args = FuseArgs(
            opcode=uapi.FUSE_MKDIR, in_args=[uapi.FuseMkdirIn(mode=mode, umask=umask), dentry.name]
        )
        return create_new_entry(dir, dentry, args, st.S_IFDIR)


def fuse_symlink(dir: FuseInode, dentry: Dentry, target: str, cred: Cred) -> Inode:
    """``fuse_symlink``: in-args are the new name, then the target."""
    handled, res = backing.bpf_symlink(dir, dentry, target, cred)
    if handled:
        return cast(Inode, res)
    with dir.op("SYMLINK"):
        args = FuseArgs(opcode=uapi.FUSE_SYMLINK, in_args=[dentry.name, target])
        return create_new_entry(dir, dentry, args, st.S_IFLNK)


def fuse_link(dir: FuseInode, old_dentry: Dentry, dentry: Dentry, cred: Cred) -> Inode:
    """``fuse_link``: the old inode's nlink is bumped and its attributes invalidated
    (two "logical" inodes may point to the same "physical" one)."""
    handled, res = backing.bpf_link(old_dentry, dir, dentry, cred)
    if handled:
        return cast(Inode, res)
    inode = _fuse_inode(old_dentry.inode)
    fm = dir.fm
    with dir.op("LINK"):
        args = FuseArgs(
            opcode=uapi.FUSE_LINK, in_args=[uapi.FuseLinkIn(oldnodeid=inode.nodeid), dentry.name]
        )
        try:
            new = create_new_entry(dir, dentry, args, inode.mode)
        except OSError as e:
            if e.errno == errno.EINTR:
                inode.nlink += 1
                inode.invalidate_attr()
            raise
    if new is not inode:
        inode.attr_version = fm.next_attr_version()
        inode.nlink += 1
    inode.invalidate_attr()
    return new


def entry_unlinked(dir: FuseInode, dentry: Dentry) -> None:
    """``fuse_entry_unlinked``: drop i_nlink, invalidate attributes and the entry."""
    inode = dentry.inode
    if isinstance(inode, FuseInode):
        inode.attr_version = inode.fm.next_attr_version()
        if inode.nlink > 0:
            inode.nlink -= 1
        update_ctime(inode)
    dir_changed(dir)
    invalidate_entry_cache(dentry)


def update_ctime(inode: FuseInode) -> None:
    """The attributes of an inode whose ctime a directory operation changed: ACK (5.10)
    invalidates them all (``fuse_invalidate_attr``); mainline since 5.16 ("fuse: reduce
    attributes invalidated on directory change") only the ctime (``fuse_update_ctime``),
    so a later read does not ask for attributes again."""
    if inode.fm.variant == "upstream":
        inode.invalidate_attr_mask(STATX_CTIME)
    else:
        inode.invalidate_attr()


def fuse_unlink(dir: FuseInode, dentry: Dentry, cred: Cred) -> None:
    """``fuse_unlink``."""
    _check_bad(dir)
    handled, res = backing.bpf_unlink(dir, dentry, cred)
    if handled:
        if isinstance(res, BaseException):
            raise res
        return
    with dir.op("UNLINK"):
        dir.fm.request(FuseArgs(opcode=uapi.FUSE_UNLINK, nodeid=dir.nodeid, in_args=[dentry.name]))
    entry_unlinked(dir, dentry)


def fuse_rmdir(dir: FuseInode, dentry: Dentry, cred: Cred) -> None:
    """``fuse_rmdir``: the directory's nlink is cleared."""
    _check_bad(dir)
    handled, res = backing.bpf_rmdir(dir, dentry, cred)
    if handled:
        if isinstance(res, BaseException):
            raise res
        return
    with dir.op("RMDIR"):
        dir.fm.request(FuseArgs(opcode=uapi.FUSE_RMDIR, nodeid=dir.nodeid, in_args=[dentry.name]))
    inode = dentry.inode
    if isinstance(inode, FuseInode):
        inode.nlink = 0
    dir_changed(dir)
    invalidate_entry_cache(dentry)


def _rename_common(
    olddir: FuseInode, oldent: Dentry, newdir: FuseInode, newent: Dentry, flags: int, opcode: int
) -> None:
    """``fuse_rename_common``."""
    fm = olddir.fm
    if opcode == uapi.FUSE_RENAME2:
        inarg: uapi.WireValue = uapi.FuseRename2In(newdir=newdir.nodeid, flags=flags)
    else:
        inarg = uapi.FuseRenameIn(newdir=newdir.nodeid)
    with olddir.op(uapi.opcode_name(opcode)):
        try:
            fm.request(
                FuseArgs(
                    opcode=opcode, nodeid=olddir.nodeid, in_args=[inarg, oldent.name, newent.name]
                )
            )
        except OSError as e:
            if e.errno == errno.EINTR:
                invalidate_entry_cache(oldent)
                if newent.inode is not None:
                    invalidate_entry_cache(newent)
            raise
    # ctime changes
    old_inode = oldent.inode
    if isinstance(old_inode, FuseInode):
        update_ctime(old_inode)
    if flags & RENAME_EXCHANGE and isinstance(newent.inode, FuseInode):
        update_ctime(newent.inode)
    dir_changed(olddir)
    if olddir is not newdir:
        dir_changed(newdir)
    # newent will end up negative (upstream: fuse_entry_unlinked drops its nlink)
    if not flags & RENAME_EXCHANGE and newent.inode is not None:
        target = newent.inode
        if isinstance(target, FuseInode):
            target.attr_version = fm.next_attr_version()
            if target.is_dir:
                target.nlink = 0
            elif target.nlink > 0:
                target.nlink -= 1
            update_ctime(target)
        invalidate_entry_cache(newent)


def fuse_rename2(
    olddir: FuseInode, oldent: Dentry, newdir_in: Inode, newent: Dentry, flags: int, cred: Cred
) -> None:
    """``fuse_rename2``: flags need RENAME2 (protocol 7.23); ENOSYS -> ``no_rename2``
    and EINVAL from then on."""
    _check_bad(olddir)
    newdir = _fuse_inode(newdir_in)
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT):
        raise oserror(errno.EINVAL)
    handled, res = backing.bpf_rename(olddir, oldent, newdir, newent, flags, cred)
    if handled:
        if isinstance(res, BaseException):
            raise res
        return
    fc = olddir.fm.conn
    if flags:
        if fc.no_rename2 or fc.minor < 23:
            raise oserror(errno.EINVAL)
        try:
            _rename_common(olddir, oldent, newdir, newent, flags, uapi.FUSE_RENAME2)
        except OSError as e:
            if e.errno == errno.ENOSYS:
                fc.no_rename2 = True
                raise oserror(errno.EINVAL) from None
            raise
    else:
        _rename_common(olddir, oldent, newdir, newent, 0, uapi.FUSE_RENAME)


# ---------------------------------------------------------------------------------------
# create + open


def fuse_create_open(
    dir: FuseInode,
    dentry: Dentry,
    file: File,
    flags: int,
    mode: int,
    cred: Cred,
    opcode: int = uapi.FUSE_CREATE,
) -> FuseInode:
    """``fuse_create_open``: CREATE (or TMPFILE, issue 17), instantiate, open the file."""
    from simfs.fuse.file import canonical_path, finish_open_common

    fm = dir.fm
    fc = fm.conn
    umask = current_umask(fm)
    if not fc.dont_mask:
        mode &= ~umask
    flags &= ~os.O_NOCTTY
    # build_open_how: force_o_largefile() adds O_LARGEFILE on 64-bit; build_open_flags
    # strips O_CLOEXEC (it only concerns the fd): CREATE carries the same as OPEN
    flags = (flags & ~os.O_CLOEXEC) | 0o100000
    open_flags = 0
    trunc = bool(flags & os.O_TRUNC)
    from simfs.vfs.cred import CAP_FSETID

    if fc.handle_killpriv_v2 and trunc and not flags & os.O_EXCL and not cred.capable(CAP_FSETID):
        open_flags |= uapi.FUSE_OPEN_KILL_SUIDGID
    with dir.op(uapi.opcode_name(opcode)):
        args = FuseArgs(
            opcode=opcode,
            nodeid=dir.nodeid,
            in_args=[
                uapi.FuseCreateIn(
                    flags=flags & 0xFFFFFFFF, mode=mode, umask=umask, open_flags=open_flags
                ),
                dentry.name,
            ],
            out_args=[OutArg.of(uapi.FuseEntryOut), OutArg.of(uapi.FuseOpenOut)],
        )
        outs = fm.request(args)
    outentry = cast(uapi.FuseEntryOut, outs[0])
    outopen = cast(uapi.FuseOpenOut, outs[1])
    if (
        not st.S_ISREG(outentry.attr.mode)
        or invalid_nodeid(outentry.nodeid)
        or fuse_invalid_attr(outentry.attr)
    ):
        raise fm.conn.reject(
            uapi.FUSE_CREATE, _entry_problem(outentry) or _type_change(outentry.attr, st.S_IFREG)
        )
    ff = FuseFile(fh=outopen.fh, nodeid=outentry.nodeid, open_flags=outopen.open_flags)
    ff.backing_id = outopen.backing_id
    inode = fm.sb.iget(
        outentry.nodeid, outentry.generation, outentry.attr, entry_attr_valid(fm.sb, outentry), 0
    )
    dentry.instantiate(inode)
    change_entry_timeout(fm.sb, dentry, outentry)
    dir_changed(dir)
    file.private = ff
    file.inode = inode
    if fm.variant == "upstream":
        # fuse_create_open: finish_open(file, entry, fuse_finish_open), sync release on error
        iomode.fuse_finish_open_upstream(inode, file, ff)
    finish_open_common(inode, file)
    if fc.atomic_o_trunc and trunc:
        inode.truncate_pagecache(0)
    elif not ff.open_flags & uapi.FOPEN_KEEP_CACHE:
        inode.invalidate_pages()
    canonical_path(inode, dentry)
    return inode


def fuse_tmpfile(
    dir: FuseInode, dentry: Dentry, file: File, flags: int, mode: int, cred: Cred
) -> FuseInode:
    """``fuse_tmpfile`` (mainline 6.1+, FUSE 7.37): TMPFILE through ``fuse_create_open``
    with the dentry's name "/"; EOPNOTSUPP once the daemon answered ENOSYS
    (``fc->no_tmpfile``).  ACK has no fuse-bpf branch here: a backed directory sends it
    too (the seed's TODO: a backing tmpfile)."""
    _check_bad(dir)
    fc = dir.fm.conn
    if fc.no_tmpfile:
        raise oserror(errno.EOPNOTSUPP)
    try:
        return fuse_create_open(dir, dentry, file, flags, mode, cred, uapi.FUSE_TMPFILE)
    except OSError as e:
        if e.errno == errno.ENOSYS:
            fc.no_tmpfile = True
            raise oserror(errno.EOPNOTSUPP) from None
        raise


def fuse_atomic_open(
    dir: FuseInode, dentry: Dentry, file: File, flags: int, mode: int, cred: Cred
) -> Inode | None:
    """``fuse_atomic_open`` for a negative dentry with O_CREAT: CREATE; after ENOSYS
    (``no_create``) ``None``, so the VFS creates with MKNOD and opens with OPEN."""
    _check_bad(dir)
    handled, res = backing.bpf_create_open(dir, dentry, file, flags, mode, cred)
    if handled:
        return cast("Inode | None", res)
    if not flags & os.O_CREAT or dentry.inode is not None:
        return None
    fc = dir.fm.conn
    if fc.no_create:
        return None  # mknod + open
    try:
        return fuse_create_open(dir, dentry, file, flags, mode, cred)
    except OSError as e:
        if e.errno == errno.ENOSYS:
            fc.no_create = True
            return None
        if e.errno == errno.EEXIST:
            invalidate_entry_cache(dentry)  # fuse_invalidate_entry
        raise


# ---------------------------------------------------------------------------------------
# readlink, statfs


def fuse_get_link(inode: FuseInode, dentry: Dentry, cred: Cred) -> str:
    """``fuse_get_link``/``fuse_readlink_page``: READLINK, or the page cache with
    ``cache_symlinks``."""
    _check_bad(inode)
    handled, res = backing.bpf_readlink(inode, dentry, cred)
    if handled:
        return cast(str, res)
    fm = inode.fm
    if fm.conn.cache_symlinks and inode.link_cache is not None:
        return inode.link_cache
    with inode.op("READLINK"):
        args = FuseArgs(
            opcode=uapi.FUSE_READLINK,
            nodeid=inode.nodeid,
            out_args=[OutArg(bytes, uapi.PAGE_SIZE - 1)],
            out_argvar=True,
        )
        try:
            outs = fm.request(args)
        finally:
            inode.invalidate_atime()
    raw = outs[0]
    assert isinstance(raw, bytes)
    link = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    if fm.conn.cache_symlinks:
        inode.link_cache = link
    return link


def fuse_statfs(sb: FuseSuperBlock, dentry: Dentry, cred: Cred) -> StatFs:
    """``fuse_statfs``: STATFS for the dentry's node (callers not allowed by the mount
    get a zeroed result with only ``f_type``)."""
    fm = sb.fm
    inode = dentry.inode
    if not fm.allow_current_process():
        return StatFs(
            f_type=uapi.FUSE_SUPER_MAGIC,
            f_bsize=0,
            f_blocks=0,
            f_bfree=0,
            f_bavail=0,
            f_files=0,
            f_ffree=0,
            f_namelen=0,
            f_frsize=0,
        )
    assert isinstance(inode, FuseInode)
    handled, res = backing.bpf_statfs(inode, dentry, cred)
    if handled:
        return cast(StatFs, res)
    with inode.op("STATFS"):
        outs = fm.request(
            FuseArgs(
                opcode=uapi.FUSE_STATFS,
                nodeid=inode.nodeid,
                out_args=[OutArg.of(uapi.FuseStatfsOut)],
            )
        )
    s = cast(uapi.FuseStatfsOut, outs[0]).st
    # convert_fuse_statfs
    return StatFs(
        f_type=uapi.FUSE_SUPER_MAGIC,
        f_bsize=s.bsize,
        f_blocks=s.blocks,
        f_bfree=s.bfree,
        f_bavail=s.bavail,
        f_files=s.files,
        f_ffree=s.ffree,
        f_namelen=s.namelen,
        f_frsize=s.frsize,
    )


__all__ = [
    "fuse_access",
    "fuse_atomic_open",
    "fuse_dentry_revalidate",
    "fuse_do_getattr",
    "fuse_getattr",
    "fuse_lookup",
    "fuse_permission",
    "fuse_setattr",
    "fuse_statfs",
    "fuse_update_attributes",
]
_ = (FUSE_STATX_MODSIZE, _umask)
