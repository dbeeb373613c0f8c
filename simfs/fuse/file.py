"""FUSE file operations, classic path (``fs/fuse/file.c``).

OPEN/OPENDIR (``fuse_open``, ``fuse_file_open``: ENOSYS -> ``no_open``/``no_opendir``),
RELEASE/RELEASEDIR (asynchronous, forced, no credentials: ``fuse_release_common``),
FLUSH (``no_flush`` memory, ``FOPEN_NOFLUSH``), READ and WRITE, LSEEK (``no_lseek``
falls back to the generic seek), FSYNC/FSYNCDIR, FALLOCATE, COPY_FILE_RANGE (ENOSYS ->
``no_copy_file_range`` -> EOPNOTSUPP, which makes the VFS copy by read+write), and
Android's CANONICAL_PATH after an OPEN/CREATE of a classic regular file.

The page cache, kept simple but deterministic (``FuseInode.pages``: page index -> bytes):

* OPEN without ``FOPEN_KEEP_CACHE`` drops the inode's cached pages
  (``invalidate_inode_pages2`` in ``fuse_finish_open``), so a new open reads through the
  daemon again; with ``FOPEN_KEEP_CACHE`` cached pages keep serving reads.
* A buffered read first refreshes the attributes when ``auto_inval_data`` is on or the
  read reaches past the cached size (``fuse_cache_read_iter``), then serves cached pages
  and sends one READ per contiguous run of missing pages up to EOF (at most ``max_pages``
  pages and ``max_read`` bytes per request); the replies fill the cache.  A short reply
  means EOF (``fuse_short_read``).  Real readahead windows are not modelled.
* A buffered write (no writeback cache) is written through: ``file_remove_privs`` (which
  sends GETXATTR ``security.capability``), then WRITE requests of at most ``max_write``
  bytes and ``max_pages`` pages (``fuse_perform_write``); cached pages are updated and
  fully written pages become cached.
* ``FOPEN_DIRECT_IO`` bypasses the cache: READ/WRITE carry exactly the caller's ranges
  (``fuse_direct_io``), split by ``max_read``/``max_write`` and ``max_pages``.
* The writeback cache (``FUSE_WRITEBACK_CACHE``) is negotiated but writes are still
  written through (documented deviation).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat as st
from typing import TYPE_CHECKING, cast

from simfs import uapi
from simfs.fuse import backing, iomode, passthrough
from simfs.fuse.dev import FuseArgs
from simfs.fuse.inode import (
    FUSE_STATX_MODSIZE,
    STATX_BLOCKS,
    STATX_SIZE,
    FuseFile,
    FuseInode,
    fuse_file,
)
from simfs.uapi import OutArg
from simfs.vfs.cred import Cred
from simfs.vfs.file import SEEK_CUR, SEEK_DATA, SEEK_END, SEEK_HOLE, SEEK_SET, generic_file_llseek
from simfs.vfs.inode import Dentry, oserror

if TYPE_CHECKING:
    from simfs.vfs.file import File
    from simfs.vfs.locks import PosixLock

PAGE_SIZE = uapi.PAGE_SIZE
O_LARGEFILE = 0o100000  # the kernel's value; force_o_largefile() adds it on 64-bit
PATH_MAX = 4096


def _check_bad(inode: FuseInode) -> None:
    if inode.bad:
        raise inode.bad_error()


def _raise_or_return(res: object) -> None:
    if isinstance(res, BaseException):
        raise res


def _f_flags(file: File) -> int:
    """``file->f_flags`` as the kernel keeps it (O_CLOEXEC stripped, O_LARGEFILE added)."""
    return (file.flags & ~os.O_CLOEXEC | O_LARGEFILE) & 0xFFFFFFFF


# ---------------------------------------------------------------------------------------
# open / release / flush


def finish_open_common(inode: FuseInode, file: File) -> None:
    """``fuse_finish_open``: O_TRUNC with ``atomic_o_trunc`` empties the cached size."""
    fc = inode.fm.conn
    if fc.atomic_o_trunc and file.flags & os.O_TRUNC:
        inode.attr_version = inode.fm.next_attr_version()
        inode.size = 0
        inode.invalidate_attr_mask(FUSE_STATX_MODSIZE)


def canonical_path(inode: FuseInode, dentry: Dentry | None) -> None:
    """Android: CANONICAL_PATH (header only) after OPEN/CREATE of a classic regular
    file, as the newer ACK self-tests expect; its answer (or failure) is not used."""
    fm = inode.fm
    if not fm.android_canonical_path or not st.S_ISREG(inode.mode):
        return
    handled, _ = backing.bpf_canonical_path(inode, dentry)
    if handled:
        return
    with inode.op("CANONICAL_PATH"):
        try:
            fm.request(
                FuseArgs(
                    opcode=uapi.FUSE_CANONICAL_PATH,
                    nodeid=inode.nodeid,
                    out_args=[OutArg(str, PATH_MAX)],
                    out_argvar=True,
                )
            )
        except OSError:
            pass


def fuse_file_open(inode: FuseInode, file: File, isdir: bool) -> FuseFile:
    """``fuse_file_open``: OPEN/OPENDIR; ENOSYS -> ``no_open``/``no_opendir`` and from
    then on no request (and no RELEASE) with ``FOPEN_KEEP_CACHE`` assumed."""
    fm = inode.fm
    fc = fm.conn
    opcode = uapi.FUSE_OPENDIR if isdir else uapi.FUSE_OPEN
    do_open = not (fc.no_opendir if isdir else fc.no_open)
    ff = FuseFile(fh=0, nodeid=inode.nodeid, isdir=isdir, release_needed=do_open)
    # Default for no-open
    ff.open_flags = uapi.FOPEN_KEEP_CACHE | (uapi.FOPEN_CACHE_DIR if isdir else 0)
    if do_open:
        # fuse_send_open
        flags = _f_flags(file) & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY)
        if not fc.atomic_o_trunc:
            flags &= ~os.O_TRUNC
        open_flags = 0
        from simfs.vfs.cred import CAP_FSETID

        cur = fm.kernel.current
        if (
            fc.handle_killpriv_v2
            and flags & os.O_TRUNC
            and cur is not None
            and not cur.cred.capable(CAP_FSETID)
        ):
            open_flags |= uapi.FUSE_OPEN_KILL_SUIDGID
        with inode.op(uapi.opcode_name(opcode)):
            try:
                outs = fm.request(
                    FuseArgs(
                        opcode=opcode,
                        nodeid=inode.nodeid,
                        in_args=[uapi.FuseOpenIn(flags=flags, open_flags=open_flags)],
                        out_args=[OutArg.of(uapi.FuseOpenOut)],
                    )
                )
                out = cast(uapi.FuseOpenOut, outs[0])
                ff.fh = out.fh
                ff.open_flags = out.open_flags
                ff.backing_id = out.backing_id
            except OSError as e:
                if e.errno != errno.ENOSYS:
                    raise
                ff.release_needed = False  # No release needed
                if isdir:
                    fc.no_opendir = True
                else:
                    fc.no_open = True
    if isdir:
        ff.open_flags &= ~uapi.FOPEN_DIRECT_IO
    return ff


def fuse_open(inode: FuseInode, file: File, cred: Cred) -> None:
    """``fuse_open`` / ``fuse_dir_open``."""
    _check_bad(inode)
    isdir = inode.is_dir
    handled, res = backing.bpf_open(inode, file, cred, isdir)
    if handled:
        _raise_or_return(res)
        return
    ff = fuse_file_open(inode, file, isdir)
    file.private = ff
    if isdir:
        return
    if inode.fm.variant == "upstream":
        iomode.fuse_finish_open_upstream(inode, file, ff)  # EIO for a refused open mode
    finish_open_common(inode, file)
    if not ff.open_flags & uapi.FOPEN_KEEP_CACHE:
        inode.invalidate_pages()
    canonical_path(inode, file.path.dentry)


def fuse_release(inode: FuseInode, file: File) -> None:
    """``fuse_release_common``: RELEASE/RELEASEDIR, asynchronous, forced, no creds."""
    isdir = inode.is_dir
    handled, _res = backing.bpf_release(inode, file, isdir)
    if handled:
        return
    ff = file.private
    if isinstance(ff, FuseFile) and not isdir:
        iomode.fuse_file_io_release(inode.sb.kernel, ff, inode)
    if not isinstance(ff, FuseFile) or not ff.release_needed:
        return
    release_flags = 0
    lock_owner = 0
    if ff.flock:
        release_flags |= uapi.FUSE_RELEASE_FLOCK_UNLOCK
        from simfs.fuse.dir import lock_owner_id

        lock_owner = lock_owner_id(inode.fm)
    opcode = uapi.FUSE_RELEASEDIR if isdir else uapi.FUSE_RELEASE
    flags = _f_flags(file) & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_TRUNC)
    with inode.op(uapi.opcode_name(opcode), ff.nodeid):
        inode.fm.request_async(
            FuseArgs(
                opcode=opcode,
                nodeid=ff.nodeid,
                in_args=[
                    uapi.FuseReleaseIn(
                        fh=ff.fh, flags=flags, release_flags=release_flags, lock_owner=lock_owner
                    )
                ],
                force=True,
                nocreds=True,
                background=True,
            )
        )


def fuse_flush(inode: FuseInode, file: File) -> None:
    """``fuse_flush`` (regular files only: ``fuse_dir_operations`` has no flush)."""
    if inode.is_dir or file.is_path:
        return
    _check_bad(inode)
    handled, res = backing.bpf_flush(inode, file)
    if handled:
        _raise_or_return(res)
        return
    ff = fuse_file(file)
    fm = inode.fm
    fc = fm.conn
    if ff.open_flags & uapi.FOPEN_NOFLUSH and not fc.writeback_cache:
        return
    if not fc.no_flush:
        from simfs.fuse.dir import lock_owner_id

        with inode.op("FLUSH"):
            try:
                fm.request(
                    FuseArgs(
                        opcode=uapi.FUSE_FLUSH,
                        nodeid=inode.nodeid,
                        in_args=[uapi.FuseFlushIn(fh=ff.fh, lock_owner=lock_owner_id(fm))],
                        force=True,
                    )
                )
            except OSError as e:
                if e.errno != errno.ENOSYS:
                    raise
                fc.no_flush = True
    if fc.writeback_cache:
        inode.invalidate_attr_mask(STATX_BLOCKS)


# ---------------------------------------------------------------------------------------
# read / write


def _send_read(inode: FuseInode, file: File, ff: FuseFile, pos: int, count: int) -> bytes:
    """``fuse_read_args_fill`` + ``fuse_simple_request``."""
    with inode.op("READ", ff.nodeid):
        outs = inode.fm.request(
            FuseArgs(
                opcode=uapi.FUSE_READ,
                nodeid=ff.nodeid,
                in_args=[uapi.FuseReadIn(fh=ff.fh, offset=pos, size=count, flags=_f_flags(file))],
                out_args=[OutArg(bytes, count)],
                out_argvar=True,
            )
        )
    data = outs[0]
    assert isinstance(data, bytes)
    if inode.fm.variant == "upstream":
        # fuse_readpages_end / __fuse_direct_read: fuse_invalidate_atime, so the next stat
        # asks for attributes again (seen on Linux 6.18 through simfs.live)
        inode.invalidate_atime()
    return data


def _read_update_size(inode: FuseInode, size: int, attr_ver: int) -> None:
    """``fuse_read_update_size``: a short read means EOF; shrink the cached size."""
    if attr_ver >= inode.attr_version and size < inode.size and "size_unstable" not in inode.state:
        inode.attr_version = inode.fm.next_attr_version()
        inode.size = size


def _req_limit(inode: FuseInode, write: bool) -> int:
    fc = inode.fm.conn
    nmax = fc.max_write if write else fc.max_read
    return max(PAGE_SIZE, min(nmax, fc.max_pages * PAGE_SIZE))


def fuse_read(inode: FuseInode, file: File, offset: int, size: int) -> bytes:
    """``fuse_file_read_iter`` (directories: ``generic_read_dir`` -> EISDIR)."""
    if inode.is_dir:
        raise oserror(errno.EISDIR)
    _check_bad(inode)
    handled, res = backing.bpf_read(inode, file, offset, size)
    if handled:
        return cast(bytes, res)
    ff = fuse_file(file)
    if ff.open_flags & uapi.FOPEN_DIRECT_IO:  # FOPEN_DIRECT_IO overrides FOPEN_PASSTHROUGH
        return _direct_read(inode, file, ff, offset, size)
    if ff.passthrough is not None:
        return passthrough.fuse_passthrough_read_iter(inode, file, offset, size)
    return _cache_read(inode, file, ff, offset, size)


def _direct_read(inode: FuseInode, file: File, ff: FuseFile, pos: int, size: int) -> bytes:
    """``fuse_direct_io`` (read): the caller's range, in requests of at most max_read."""
    out = bytearray()
    limit = _req_limit(inode, False)
    while size > 0:
        n = min(size, limit)
        data = _send_read(inode, file, ff, pos, n)
        if len(data) > n:
            raise inode.fm.conn.reject(uapi.FUSE_READ, f"{len(data)} bytes for a {n}-byte read")
        out += data
        pos += len(data)
        size -= len(data)
        if len(data) < n:
            break
    inode.invalidate_atime()
    return bytes(out)


def _cache_read(inode: FuseInode, file: File, ff: FuseFile, pos: int, size: int) -> bytes:
    """``fuse_cache_read_iter`` -> ``generic_file_read_iter`` over the page cache."""
    from simfs.fuse.dir import fuse_update_attributes

    fc = inode.fm.conn
    # In auto invalidate mode, always update attributes on read; otherwise only when
    # reading past EOF (to ensure i_size is up to date).
    if fc.auto_inval_data or pos + size > inode.size:
        fuse_update_attributes(inode, file, STATX_SIZE)
    if pos >= inode.size or size == 0:
        return b""
    end = min(pos + size, inode.size)
    first, last = pos // PAGE_SIZE, (end - 1) // PAGE_SIZE
    idx = first
    limit_pages = max(1, _req_limit(inode, False) // PAGE_SIZE)
    while idx <= last:
        if idx in inode.pages:
            idx += 1
            continue
        run_end = idx
        while (
            run_end + 1 <= last
            and run_end + 1 not in inode.pages
            and run_end + 1 - idx < limit_pages
        ):
            run_end += 1
        start = idx * PAGE_SIZE
        count = (run_end - idx + 1) * PAGE_SIZE
        attr_ver = inode.fm.get_attr_version()
        data = _send_read(inode, file, ff, start, count)
        if len(data) > count:
            raise inode.fm.conn.reject(uapi.FUSE_READ, f"{len(data)} bytes for a {count}-byte read")
        for i in range(idx, run_end + 1):
            chunk = data[(i - idx) * PAGE_SIZE : (i - idx + 1) * PAGE_SIZE]
            inode.pages[i] = chunk
        if len(data) < count:
            _read_update_size(inode, start + len(data), attr_ver)  # fuse_short_read
            end = min(end, inode.size)
            last = min(last, (end - 1) // PAGE_SIZE) if end > 0 else -1
        idx = run_end + 1
    if pos >= end:
        return b""
    buf = bytearray()
    for i in range(first, (end - 1) // PAGE_SIZE + 1):
        page = inode.pages.get(i, b"")
        page = page + b"\0" * (PAGE_SIZE - len(page))
        buf += page
    off = pos - first * PAGE_SIZE
    return bytes(buf[off : off + (end - pos)])


def write_update_attr(inode: FuseInode, pos: int, written: int) -> bool:
    """``fuse_write_update_attr``: extend the cached size, invalidate mtime/size."""
    inode.attr_version = inode.fm.next_attr_version()
    grew = False
    if written > 0 and pos > inode.size:
        inode.size = pos
        grew = True
    inode.invalidate_attr_mask(FUSE_STATX_MODSIZE)
    return grew


def _send_write(inode: FuseInode, file: File, ff: FuseFile, pos: int, data: bytes) -> int:
    """``fuse_write_args_fill`` + request; a reply larger than asked is -EIO."""
    with inode.op("WRITE", ff.nodeid):
        outs = inode.fm.request(
            FuseArgs(
                opcode=uapi.FUSE_WRITE,
                nodeid=ff.nodeid,
                in_args=[
                    uapi.FuseWriteIn(fh=ff.fh, offset=pos, size=len(data), flags=_f_flags(file)),
                    data,
                ],
                out_args=[OutArg.of(uapi.FuseWriteOut)],
            )
        )
    n = cast(uapi.FuseWriteOut, outs[0]).size
    if n > len(data):
        raise inode.fm.conn.reject(
            uapi.FUSE_WRITE, f"size {n} in fuse_write_out is more than the {len(data)} sent"
        )
    return n


def _cache_written(inode: FuseInode, pos: int, data: bytes) -> None:
    """Pages of the page cache after a write-through (``fuse_fill_write_pages``)."""
    end = pos + len(data)
    for idx in range(pos // PAGE_SIZE, (end - 1) // PAGE_SIZE + 1):
        pstart = idx * PAGE_SIZE
        lo, hi = max(pos, pstart), min(end, pstart + PAGE_SIZE)
        piece = data[lo - pos : hi - pos]
        if idx in inode.pages:
            page = bytearray(inode.pages[idx])
            if len(page) < lo - pstart:
                page += b"\0" * (lo - pstart - len(page))
            page[lo - pstart : hi - pstart] = piece
            inode.pages[idx] = bytes(page)
        elif lo == pstart and hi == pstart + PAGE_SIZE:
            inode.pages[idx] = piece  # fully written: uptodate


def _upto_locked_page(inode: FuseInode, pos: int, count: int) -> int:
    """Mainline ``fuse_fill_write_pages``: a page written only in part that is not
    uptodate (not cached) stays locked and ends the request ("ia->write.folio_locked =
    true; break"), so a write of 2049 bytes at 2049 is two WRITEs (2047 + 2), as seen on
    Linux 6.18 through simfs.live."""
    end = pos + count
    p = pos
    while p < end:
        page_end = (p // PAGE_SIZE + 1) * PAGE_SIZE
        hi = min(end, page_end)
        full = p % PAGE_SIZE == 0 and hi == page_end
        if not full and p // PAGE_SIZE not in inode.pages:
            return hi - pos
        p = hi
    return count


def fuse_write(inode: FuseInode, file: File, offset: int, data: bytes) -> int:
    """``fuse_file_write_iter``."""
    _check_bad(inode)
    handled, res = backing.bpf_write(inode, file, offset, data)
    if handled:
        return cast(int, res)
    if not data:
        return 0
    ff = fuse_file(file)
    k = inode.sb.kernel
    if ff.open_flags & uapi.FOPEN_DIRECT_IO:
        written = 0
        pos = offset
        limit = _req_limit(inode, True)
        while written < len(data):
            chunk = data[written : written + limit]
            n = _send_write(inode, file, ff, pos, chunk)
            written += n
            pos += n
            if n < len(chunk):
                break
        inode.truncate_pagecache_range(offset, offset + len(data) - 1)
        write_update_attr(inode, pos, written)
        return written
    if ff.passthrough is not None:
        return passthrough.fuse_passthrough_write_iter(inode, file, offset, data)
    # fuse_cache_write_iter: file_remove_privs (GETXATTR security.capability), then
    # fuse_perform_write
    from simfs.vfs.ops import file_remove_privs

    file_remove_privs(k, file, k.current_cred())
    fc = inode.fm.conn
    pos = offset
    res = 0
    err: OSError | None = None
    inode.state.add("size_unstable")
    try:
        while res < len(data):
            nr_pages = fc.max_pages
            by_pages = (pos // PAGE_SIZE + nr_pages) * PAGE_SIZE - pos
            count = min(len(data) - res, fc.max_write, by_pages)
            if inode.fm.variant == "upstream":
                count = _upto_locked_page(inode, pos, count)
            chunk = data[res : res + count]
            try:
                n = _send_write(inode, file, ff, pos, chunk)
            except OSError as e:
                err = e
                break
            _cache_written(inode, pos, chunk[:n])
            res += n
            pos += n
            if n != count:
                err = oserror(errno.EIO)  # break out of the loop on short write
                break
    finally:
        inode.state.discard("size_unstable")
    write_update_attr(inode, pos, res)
    if not res and err is not None:
        raise err
    return res


# ---------------------------------------------------------------------------------------
# seek, sync, allocate, copy


def fuse_file_llseek(inode: FuseInode, file: File, offset: int, whence: int) -> int:
    """``fuse_file_llseek`` (directories: ``generic_file_llseek``)."""
    from simfs.fuse.dir import fuse_update_attributes

    if inode.is_dir:
        return generic_file_llseek(file, offset, whence, inode.size)
    handled, res = backing.bpf_llseek(inode, file, offset, whence)
    if handled:
        return cast(int, res)
    if whence in (SEEK_SET, SEEK_CUR):
        return generic_file_llseek(file, offset, whence, inode.size)
    if whence == SEEK_END:
        fuse_update_attributes(inode, file, STATX_SIZE)
        return generic_file_llseek(file, offset, whence, inode.size)
    if whence in (SEEK_DATA, SEEK_HOLE):
        return _fuse_lseek(inode, file, offset, whence)
    raise oserror(errno.EINVAL)


def _fuse_lseek(inode: FuseInode, file: File, offset: int, whence: int) -> int:
    """``fuse_lseek``: LSEEK, or after ENOSYS (``no_lseek``) the generic seek."""
    from simfs.fuse.dir import fuse_update_attributes

    fm = inode.fm
    ff = fuse_file(file)
    if not fm.conn.no_lseek:
        with inode.op("LSEEK", ff.nodeid):
            try:
                outs = fm.request(
                    FuseArgs(
                        opcode=uapi.FUSE_LSEEK,
                        nodeid=ff.nodeid,
                        in_args=[
                            uapi.FuseLseekIn(
                                fh=ff.fh, offset=offset & ((1 << 64) - 1), whence=whence
                            )
                        ],
                        out_args=[OutArg.of(uapi.FuseLseekOut)],
                    )
                )
                new = cast(uapi.FuseLseekOut, outs[0]).offset
                if new > (1 << 63) - 1:
                    raise oserror(errno.EINVAL)  # vfs_setpos
                file.pos = new
                return new
            except OSError as e:
                if e.errno != errno.ENOSYS:
                    raise
                fm.conn.no_lseek = True
    fuse_update_attributes(inode, file, STATX_SIZE)
    return generic_file_llseek(file, offset, whence, inode.size)


def fuse_fsync(inode: FuseInode, file: File, datasync: bool) -> None:
    """``fuse_fsync`` / ``fuse_dir_fsync``: FSYNC/FSYNCDIR; ENOSYS is remembered and
    then fsync succeeds without a request."""
    _check_bad(inode)
    isdir = inode.is_dir
    handled, res = backing.bpf_fsync(inode, file, datasync, isdir)
    if handled:
        _raise_or_return(res)
        return
    fm = inode.fm
    fc = fm.conn
    if (isdir and fc.no_fsyncdir) or (not isdir and fc.no_fsync):
        return
    ff = fuse_file(file)
    opcode = uapi.FUSE_FSYNCDIR if isdir else uapi.FUSE_FSYNC
    with inode.op(uapi.opcode_name(opcode)):
        try:
            fm.request(
                FuseArgs(
                    opcode=opcode,
                    nodeid=inode.nodeid,
                    in_args=[
                        uapi.FuseFsyncIn(
                            fh=ff.fh, fsync_flags=uapi.FUSE_FSYNC_FDATASYNC if datasync else 0
                        )
                    ],
                )
            )
        except OSError as e:
            if e.errno != errno.ENOSYS:
                raise
            if isdir:
                fc.no_fsyncdir = True
            else:
                fc.no_fsync = True


FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10


def fuse_file_fallocate(inode: FuseInode, file: File, mode: int, offset: int, length: int) -> None:
    """``fuse_file_fallocate``."""
    _check_bad(inode)
    handled, res = backing.bpf_fallocate(inode, file, mode, offset, length)
    if handled:
        _raise_or_return(res)
        return
    if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
        raise oserror(errno.EOPNOTSUPP)
    fm = inode.fm
    if fm.conn.no_fallocate:
        raise oserror(errno.EOPNOTSUPP)
    if not mode & FALLOC_FL_KEEP_SIZE and offset + length > inode.size:
        from simfs.vfs.permission import inode_newsize_ok

        inode_newsize_ok(inode, offset + length)
    from simfs.vfs.ops import file_remove_privs

    k = inode.sb.kernel
    file_remove_privs(k, file, k.current_cred())  # file_modified
    ff = fuse_file(file)
    if not mode & FALLOC_FL_KEEP_SIZE:
        inode.state.add("size_unstable")
    try:
        with inode.op("FALLOCATE", ff.nodeid):
            fm.request(
                FuseArgs(
                    opcode=uapi.FUSE_FALLOCATE,
                    nodeid=ff.nodeid,
                    in_args=[
                        uapi.FuseFallocateIn(fh=ff.fh, offset=offset, length=length, mode=mode)
                    ],
                )
            )
    except OSError as e:
        if e.errno == errno.ENOSYS:
            fm.conn.no_fallocate = True
            raise oserror(errno.EOPNOTSUPP) from None
        raise
    finally:
        inode.state.discard("size_unstable")
    # we could have extended the file
    if not mode & FALLOC_FL_KEEP_SIZE:
        write_update_attr(inode, offset + length, length)
    if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
        inode.truncate_pagecache_range(offset, offset + length - 1)
    inode.invalidate_attr_mask(FUSE_STATX_MODSIZE)


def fuse_copy_file_range(
    inode: FuseInode,
    file_in: File,
    off_in: int,
    file_out: File,
    off_out: int,
    length: int,
    flags: int,
) -> int:
    """``__fuse_copy_file_range``: COPY_FILE_RANGE; ENOSYS -> ``no_copy_file_range`` and
    EOPNOTSUPP (the VFS then copies through read and write)."""
    handled, res = backing.bpf_copy_file_range(
        inode, file_in, off_in, file_out, off_out, length, flags
    )
    if handled:
        return cast(int, res)
    fm = inode.fm
    fc = fm.conn
    if fc.no_copy_file_range:
        raise oserror(errno.EOPNOTSUPP)
    out_inode = file_out.inode
    if not isinstance(out_inode, FuseInode) or out_inode.sb is not inode.sb:
        raise oserror(errno.EXDEV)
    ff_in, ff_out = fuse_file(file_in), fuse_file(file_out)
    from simfs.vfs.ops import file_remove_privs

    k = inode.sb.kernel
    file_remove_privs(k, file_out, k.current_cred())  # file_modified(file_out)
    cfr_in = uapi.FuseCopyFileRangeIn(
        fh_in=ff_in.fh,
        off_in=off_in,
        nodeid_out=out_inode.nodeid,
        fh_out=ff_out.fh,
        off_out=off_out,
        len=length,
        flags=flags,
    )
    copied = _copy_file_range_64(inode, ff_in.nodeid, cfr_in)
    if copied is not None:
        return _copy_file_range_done(out_inode, off_out, copied)
    with inode.op("COPY_FILE_RANGE", ff_in.nodeid):
        try:
            outs = fm.request(
                FuseArgs(
                    opcode=uapi.FUSE_COPY_FILE_RANGE,
                    nodeid=ff_in.nodeid,
                    in_args=[
                        uapi.FuseCopyFileRangeIn(
                            fh_in=ff_in.fh,
                            off_in=off_in,
                            nodeid_out=out_inode.nodeid,
                            fh_out=ff_out.fh,
                            off_out=off_out,
                            len=length,
                            flags=flags,
                        )
                    ],
                    out_args=[OutArg.of(uapi.FuseWriteOut)],
                )
            )
        except OSError as e:
            if e.errno == errno.ENOSYS:
                fc.no_copy_file_range = True
                raise oserror(errno.EOPNOTSUPP) from None
            raise
    return _copy_file_range_done(out_inode, off_out, cast(uapi.FuseWriteOut, outs[0]).size)


def _copy_file_range_64(inode: FuseInode, nodeid: int, arg: uapi.FuseCopyFileRangeIn) -> int | None:
    """Mainline 7.45 ``__fuse_copy_file_range``: COPY_FILE_RANGE_64 first (64-bit count in
    ``fuse_copy_file_range_out``); ENOSYS -> ``no_copy_file_range_64`` and ``None`` (fall
    back to COPY_FILE_RANGE).  Only ``variant="upstream"`` speaks 7.45."""
    fm = inode.fm
    fc = fm.conn
    if fm.variant != "upstream" or fc.no_copy_file_range_64:
        return None
    with inode.op("COPY_FILE_RANGE_64", nodeid):
        try:
            outs = fm.request(
                FuseArgs(
                    opcode=uapi.FUSE_COPY_FILE_RANGE_64,
                    nodeid=nodeid,
                    in_args=[arg],
                    out_args=[OutArg.of(uapi.FuseCopyFileRangeOut)],
                )
            )
        except OSError as e:
            if e.errno != errno.ENOSYS:
                raise
            fc.no_copy_file_range_64 = True
            return None
    return cast(uapi.FuseCopyFileRangeOut, outs[0]).bytes_copied


def _copy_file_range_done(out_inode: FuseInode, off_out: int, n: int) -> int:
    lo = off_out // PAGE_SIZE * PAGE_SIZE
    hi = -(-(off_out + n) // PAGE_SIZE) * PAGE_SIZE - 1
    out_inode.truncate_pagecache_range(lo, hi)
    write_update_attr(out_inode, off_out + n, n)
    return n


_ = (dataclasses, SEEK_HOLE)


# ---------------------------------------------------------------------------------------
# POSIX locks (issue 17): fuse_file_lock, fuse_getlk, fuse_setlk, fuse_lk_fill,
# convert_fuse_file_lock.  ACK's fuse-bpf leaves fuse_file_lock as mainline has it (only
# fuse_file_flock goes to the backing file); the mount option posix_locks_on_backing
# models the seed's TODO applied to POSIX locks.

#: ``fuse_lock_owner_id`` of an OFD lock's owner (the ``struct file``): simfs keys the
#: description's id above the pid range so it never equals a process's owner id.
_OFD_OWNER_BASE = 1 << 40


def fuse_lock_owner(inode: FuseInode, owner: object) -> int:
    """``fuse_lock_owner_id(fc, fl->fl_owner)``: a process (``files_struct``) -> the id
    ``lock_owner_id`` sends in FLUSH; an open file description (OFD) -> its own id."""
    from simfs.fuse.dir import lock_owner_id
    from simfs.vfs.file import File

    if isinstance(owner, File):
        return _OFD_OWNER_BASE | owner.id
    return int(getattr(owner, "pid", 0)) if owner is not None else lock_owner_id(inode.fm)


def fuse_file_lock(inode: FuseInode, file: File, cmd: int, request: PosixLock) -> PosixLock | None:
    """``fuse_file_lock``: without FUSE_POSIX_LOCKS (``fc->no_lock``) the locks are the
    fuse inode's own (``posix_test_lock``/``posix_lock_file``); with it GETLK/SETLK/SETLKW
    go to the daemon, which decides."""
    from simfs.vfs.file import File
    from simfs.vfs.inode import Inode as VfsInode
    from simfs.vfs.locks import F_GETLK

    fm = inode.fm
    ff = file.private
    bf = getattr(ff, "backing_file", None)
    if fm.posix_locks_on_backing and isinstance(bf, File):
        # seed TODO (documented option): the lock goes to the lower file, owner unchanged
        return bf.inode.lock(bf, cmd, dataclasses.replace(request, file=bf))
    if fm.conn.no_lock or inode.is_dir:
        # fuse_dir_operations has no ->lock: directories always lock locally
        return VfsInode.lock(inode, file, cmd, request)
    if cmd == F_GETLK:
        return fuse_getlk(inode, file, request)
    fuse_setlk(inode, file, request, flock=False)
    return None


def _lk_in(inode: FuseInode, file: File, request: PosixLock, flock: bool) -> uapi.FuseLkIn:
    """``fuse_lk_fill``: fh, owner id, the range, type and pid (0 for an unlock)."""
    from simfs.vfs.locks import F_UNLCK

    ff = fuse_file(file)
    pid = request.pid if request.type != F_UNLCK else 0
    return uapi.FuseLkIn(
        fh=ff.fh,
        owner=fuse_lock_owner(inode, request.owner),
        lk=uapi.FuseFileLock(start=request.start, end=request.end, type=request.type, pid=pid),
        lk_flags=uapi.FUSE_LK_FLOCK if flock else 0,
    )


def fuse_getlk(inode: FuseInode, file: File, request: PosixLock) -> PosixLock | None:
    """``fuse_getlk`` + ``convert_fuse_file_lock``: the daemon's lock, or None for
    F_UNLCK; a range past OFFSET_MAX, an end before the start or an unknown type is EIO."""
    from simfs.vfs.locks import F_RDLCK, F_UNLCK, F_WRLCK, OFFSET_MAX
    from simfs.vfs.locks import PosixLock as Lock

    with inode.op("GETLK", inode.nodeid):
        outs = inode.fm.request(
            FuseArgs(
                opcode=uapi.FUSE_GETLK,
                nodeid=inode.nodeid,
                in_args=[_lk_in(inode, file, request, False)],
                out_args=[OutArg.of(uapi.FuseLkOut)],
            )
        )
    lk = cast(uapi.FuseLkOut, outs[0]).lk
    if lk.type == F_UNLCK:
        return None
    if lk.type not in (F_RDLCK, F_WRLCK):
        # convert_fuse_file_lock: default
        raise inode.fm.conn.reject(uapi.FUSE_GETLK, f"lock type {lk.type} is not F_RDLCK, "
                                   "F_WRLCK or F_UNLCK (convert_fuse_file_lock)")
    if lk.start > OFFSET_MAX or lk.end > OFFSET_MAX or lk.end < lk.start:
        raise inode.fm.conn.reject(
            uapi.FUSE_GETLK,
            f"lock range {lk.start}..{lk.end} is past OFFSET_MAX or ends before it starts "
            "(convert_fuse_file_lock)",
        )
    # pid_nr_ns(find_pid_ns(ffl->pid, fc->pid_ns)): a pid no task has reads as 0
    pid = lk.pid if lk.pid in inode.fm.kernel.processes else 0
    return Lock(owner=None, pid=pid, type=lk.type, start=lk.start, end=lk.end)


def fuse_setlk(inode: FuseInode, file: File, request: PosixLock, flock: bool) -> None:
    """``fuse_setlk``: SETLKW for a sleeping request; the unlock of a close is not sent
    ("Unlock on close is handled by the flush method": FLUSH carries the lock owner)."""
    if request.close:
        return
    opcode = uapi.FUSE_SETLKW if request.sleep else uapi.FUSE_SETLK
    with inode.op(uapi.opcode_name(opcode), inode.nodeid):
        inode.fm.request(
            FuseArgs(
                opcode=opcode,
                nodeid=inode.nodeid,
                in_args=[_lk_in(inode, file, request, flock)],
            )
        )
