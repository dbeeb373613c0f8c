"""FUSE directory reading, classic path (``fs/fuse/readdir.c``).

One READDIR or READDIRPLUS request per ``fuse_readdir_uncached`` pass, with a buffer of
``readdir_bufsize`` bytes (ACK: one page, ``PAGE_SIZE``; upstream 6.16+ sizes it by the
caller's getdents buffer, clamped to ``max_pages``: set the mount option to model that).
simfs's ``iterate`` returns every remaining entry, so the passes repeat, as successive
``getdents`` calls with a large user buffer would, until a pass yields no entry (the
daemon's empty reply is EOF).  :func:`fuse_readdir_once` is one ``fuse_readdir`` call, as
one ``getdents64`` makes it (``ops.getdents64``: the records that fit the caller's buffer).

``fuse_use_readdirplus``: READDIRPLUS when negotiated, unless READDIRPLUS_AUTO decides
otherwise: the first pass (position 0) uses it, later passes only when a LOOKUP in the
directory since advised it (``FUSE_I_ADVISE_RDPLUS``); a directory with nodeid 0 (ACK
fuse-bpf) never uses it.  READDIRPLUS records instantiate dentries and inodes
(``fuse_direntplus_link``); records are validated as ``parse_dirfile`` does (a zero or
over-long name, or a ``/`` in it, fails the pass with EIO).  The readdir cache
(``FOPEN_CACHE_DIR``) is not modelled: such directories are read uncached.
"""

from __future__ import annotations

import stat as st
from typing import TYPE_CHECKING, cast

from simfs import uapi
from simfs.fuse import backing
from simfs.fuse.dev import FuseArgs
from simfs.fuse.inode import (
    FuseFile,
    FuseInode,
    attr_problem,
    fuse_dentry_settime,
    fuse_file,
    fuse_invalid_attr,
    invalid_nodeid,
)
from simfs.uapi import OutArg
from simfs.vfs import dcache
from simfs.vfs.cred import Cred
from simfs.vfs.inode import DirEntry
from simfs.vfs.readdir import DirContext

if TYPE_CHECKING:
    from simfs.vfs.file import File

__all__ = ["fuse_readdir", "fuse_readdir_once", "fuse_use_readdirplus"]


def fuse_use_readdirplus(dir: FuseInode, pos: int) -> bool:
    """``fuse_use_readdirplus`` (+ ACK: never for nodeid 0)."""
    fc = dir.fm.conn
    if not fc.do_readdirplus:
        return False
    if dir.nodeid == 0:
        return False
    if not fc.readdirplus_auto:
        return True
    if "advise_rdplus" in dir.state:
        dir.state.discard("advise_rdplus")  # test_and_clear_bit(FUSE_I_ADVISE_RDPLUS)
        return True
    return pos == 0


def _check_dirent(dir: FuseInode, d: uapi.FuseDirent, opcode: int) -> None:
    """``parse_dirfile``: a record with no name, a name over FUSE_NAME_MAX or one with a
    ``/`` in it is -EIO."""
    n = d.namelen
    if not n or n > uapi.FUSE_NAME_MAX or "/" in d.name:
        raise dir.fm.conn.reject(
            opcode,
            f"dirent name {d.name!r} is empty, longer than FUSE_NAME_MAX or has a '/' "
            "(parse_dirfile)",
        )


def _direntplus_link(
    dir: FuseInode, file: File, dp: uapi.FuseDirentplus, attr_version: int
) -> None:
    """``fuse_direntplus_link``: instantiate (or refresh) the dentry and inode."""
    o = dp.entry_out
    name = dp.dirent.name
    if not o.nodeid:
        return  # the daemon did not want to return attributes for this entry
    if name in (".", ".."):
        return
    if invalid_nodeid(o.nodeid) or fuse_invalid_attr(o.attr):
        raise dir.fm.conn.reject(
            uapi.FUSE_READDIRPLUS,
            f"entry {name!r}: nodeid {o.nodeid} is invalid"
            if invalid_nodeid(o.nodeid)
            else f"entry {name!r}: {attr_problem(o.attr)}",
        )
    sb = dir.sb
    fm = dir.fm
    parent = file.path.dentry
    d = dcache.d_lookup(parent, name)
    inode: FuseInode | None = None
    if d is not None:
        cur = d.inode
        if isinstance(cur, FuseInode) and cur.nodeid == o.nodeid:
            inode = cur
        stale = inode is not None and (
            inode.generation != o.generation or st.S_IFMT(inode.mode) != st.S_IFMT(o.attr.mode)
        )
        if inode is None or stale:
            if inode is not None:
                inode.bad = True  # fuse_make_bad
            dcache.d_drop(d)  # d_invalidate
            if d.pins == 0 and not d.children:
                dcache.iput_alias(d)
            d = None
            inode = None
        else:
            assert inode is not None
            if inode.bad:
                raise inode.bad_error()
            inode.nlookup += 1
            inode.change_attributes(
                o.attr, sb.time_to_expiry(o.attr_valid, o.attr_valid_nsec), attr_version
            )
    if d is None:
        inode = sb.iget(
            o.nodeid,
            o.generation,
            o.attr,
            sb.time_to_expiry(o.attr_valid, o.attr_valid_nsec),
            attr_version,
        )
        if inode.is_dir:
            for alias in list(inode.aliases):
                if not alias.unhashed:
                    dcache.d_drop(alias)  # d_splice_alias
        d = dcache.d_alloc(parent, name)
        d.instantiate(inode)
    assert inode is not None
    if fm.conn.readdirplus_auto:
        inode.state.add("init_rdplus")
    fuse_dentry_settime(d, sb.time_to_expiry(o.entry_valid, o.entry_valid_nsec))
    sb.kernel.touch(d)  # dput when the call returns (kept: settime cleared DCACHE_OP_DELETE)


def _readdir_uncached(
    dir: FuseInode, file: File, ff: FuseFile, pos: int, ctx: DirContext | None = None
) -> tuple[list[DirEntry], int]:
    """``fuse_readdir_uncached``: one request; returns the entries and the new pos.

    With ``ctx`` (one ``getdents64``'s buffer) the records are emitted into it:
    ``parse_dirfile`` stops at the first one that does not fit, and ``ctx->pos`` only
    moves past emitted records, so the next call asks for the rest again;
    ``parse_dirplusfile`` stops emitting but still links every record."""
    fm = dir.fm
    plus = fuse_use_readdirplus(dir, pos)
    size = fm.readdir_bufsize
    opcode = uapi.FUSE_READDIRPLUS if plus else uapi.FUSE_READDIR
    attr_version = fm.get_attr_version() if plus else 0
    from simfs.fuse.file import _f_flags

    entries: list[DirEntry] = []
    try:
        with dir.op(uapi.opcode_name(opcode), ff.nodeid):
            outs = fm.request(
                FuseArgs(
                    opcode=opcode,
                    nodeid=ff.nodeid,
                    in_args=[
                        uapi.FuseReadIn(fh=ff.fh, offset=pos, size=size, flags=_f_flags(file))
                    ],
                    out_args=[OutArg("direntplus" if plus else "dirents", size)],
                    out_argvar=True,
                )
            )
            records = outs[0]
            assert isinstance(records, list)
            for rec in records:
                if plus:
                    dp = cast(uapi.FuseDirentplus, rec)
                    dirent = dp.dirent
                else:
                    dp = None
                    dirent = cast(uapi.FuseDirent, rec)
                _check_dirent(dir, dirent, uapi.FUSE_READDIRPLUS if plus else uapi.FUSE_READDIR)
                entry = DirEntry(dirent.name, dirent.ino, dirent.type, dirent.off)
                if ctx is None or (not ctx.full and ctx.emit(entry)):
                    entries.append(entry)
                    pos = dirent.off
                elif dp is None:
                    break  # parse_dirfile: if (!fuse_emit(...)) break;
                if dp is not None:
                    try:
                        _direntplus_link(dir, file, dp, attr_version)
                    except OSError:
                        fm.queue_forget(dp.entry_out.nodeid, 1)  # fuse_force_forget
    finally:
        dir.invalidate_atime()
    return entries, pos


def fuse_readdir(dir: FuseInode, file: File, pos: int, cred: Cred) -> list[DirEntry]:
    """``fuse_readdir``, repeated until EOF (see the module docstring)."""
    if dir.bad:
        raise dir.bad_error()
    handled, res = backing.bpf_readdir(dir, file, pos, cred)
    if handled:
        return cast("list[DirEntry]", res)
    ff = fuse_file(file)
    out: list[DirEntry] = []
    while True:
        got, newpos = _readdir_uncached(dir, file, ff, pos)
        if not got:
            break
        out.extend(got)
        if newpos == pos:
            break
        pos = newpos
        file.pos = pos
    return out


def fuse_readdir_once(dir: FuseInode, file: File, ctx: DirContext, cred: Cred) -> None:
    """One ``fuse_readdir`` call, as one ``getdents64`` makes, filling ``ctx``: one
    fuse-bpf READDIR run (re-run while a filter sets ``again``), or one
    ``fuse_readdir_uncached`` request; ``ctx.pos`` is the new ``ctx->pos``."""
    if dir.bad:
        raise dir.bad_error()
    handled, _res = backing.bpf_readdir_once(dir, file, ctx, cred)
    if handled:
        return
    _got, ctx.pos = _readdir_uncached(dir, file, fuse_file(file), ctx.pos, ctx)
