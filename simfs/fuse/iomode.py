"""Inode I/O modes of mainline FUSE (``fs/fuse/iomode.c``, Linux 6.9+), for
``variant="upstream"`` mounts.

Every open of a regular file puts its inode in one mode, decided by the OPEN/CREATE
reply's ``open_flags`` (``fuse_file_io_open``):

* **cached** (no ``FOPEN_DIRECT_IO``, no ``FOPEN_PASSTHROUGH``): ``fi->iocachectr`` counts
  up; the page cache serves reads.
* **uncached/passthrough** (``FOPEN_PASSTHROUGH``): ``iocachectr`` counts down and the
  inode holds exactly one backing file (``fi->fb``) while any passthrough open lasts.
* ``FOPEN_DIRECT_IO`` alone takes no mode at all.

The rules that bite daemons, each a server mistake that fails the user's ``open(2)`` with
EIO after the daemon already answered (the kernel then sends RELEASE for the handle,
synchronously, ``fuse_sync_release``):

* a passthrough open of an inode that is open cached: ETXTBSY;
* a non-passthrough open of an inode that is in passthrough mode: EINVAL;
* a passthrough open naming another backing file than the inode's: EBUSY
  (libfuse issue #1125);
* ``FOPEN_PASSTHROUGH`` without negotiated passthrough, or with other flags than
  ``FOPEN_DIRECT_IO``/``FOPEN_PARALLEL_DIRECT_WRITES``/``FOPEN_NOFLUSH`` (e.g.
  ``FOPEN_KEEP_CACHE``): EINVAL; an unknown backing id: ENOENT; an id <= 0: EINVAL.

``FOPEN_DIRECT_IO`` with ``FOPEN_PASSTHROUGH`` is accepted, but read and write then go to
the daemon (``fuse_file_read_iter``: "FOPEN_DIRECT_IO overrides FOPEN_PASSTHROUGH"); only
mmap uses the backing file (libfuse issue #1027).
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from simfs import uapi
from simfs.fuse import passthrough as pt
from simfs.fuse.dev import FuseArgs
from simfs.vfs.inode import oserror

if TYPE_CHECKING:
    from simfs.fuse.inode import FuseFile, FuseInode
    from simfs.kernel import Kernel
    from simfs.vfs.file import File

__all__ = [
    "FOPEN_PASSTHROUGH_MASK",
    "IOM_CACHED",
    "IOM_NONE",
    "IOM_UNCACHED",
    "fuse_file_io_open",
    "fuse_file_io_release",
    "fuse_finish_open_upstream",
]

IOM_NONE = "none"
IOM_CACHED = "cached"
IOM_UNCACHED = "uncached"

#: Open flags allowed with FOPEN_PASSTHROUGH (``FOPEN_PASSTHROUGH_MASK``).
FOPEN_PASSTHROUGH_MASK = (
    uapi.FOPEN_PASSTHROUGH
    | uapi.FOPEN_DIRECT_IO
    | uapi.FOPEN_PARALLEL_DIRECT_WRITES
    | uapi.FOPEN_NOFLUSH
)


def fuse_file_cached_io_open(inode: FuseInode, ff: FuseFile) -> None:
    """``fuse_file_cached_io_open``: ETXTBSY if the inode is in passthrough mode."""
    if not ff.release_needed:  # no io modes if the server does not implement open
        return
    if inode.fb is not None:
        raise oserror(errno.ETXTBSY)
    if ff.iomode == IOM_NONE:
        ff.iomode = IOM_CACHED
        inode.iocachectr += 1


def fuse_inode_uncached_io_start(k: Kernel, inode: FuseInode, fb: pt.FuseBacking) -> None:
    """``fuse_inode_uncached_io_start``: one backing file per inode, none while cached."""
    oldfb = inode.fb
    if oldfb is not None and oldfb is not fb:
        raise oserror(errno.EBUSY)  # deny conflicting backing files on same fuse inode
    if inode.iocachectr > 0:
        raise oserror(errno.ETXTBSY)
    inode.iocachectr -= 1
    if oldfb is None:
        inode.fb = fb  # the fuse inode holds a single refcount of the backing file
    else:
        pt.fuse_backing_put(k, fb)


def fuse_inode_uncached_io_end(k: Kernel, inode: FuseInode) -> None:
    """``fuse_inode_uncached_io_end``: the last passthrough close drops ``fi->fb``."""
    inode.iocachectr += 1
    if inode.iocachectr == 0:
        oldfb, inode.fb = inode.fb, None
        pt.fuse_backing_put(k, oldfb)


def fuse_file_passthrough_open(k: Kernel, inode: FuseInode, file: File, ff: FuseFile) -> None:
    """``fuse_file_passthrough_open``."""
    fc = inode.fm.conn
    if not fc.passthrough_upstream or ff.open_flags & ~FOPEN_PASSTHROUGH_MASK:
        raise oserror(errno.EINVAL)
    fb = pt.fuse_passthrough_open(k, file, ff, ff.backing_id)
    try:
        fuse_inode_uncached_io_start(k, inode, fb)
    except OSError:
        pt.fuse_passthrough_release(k, ff)
        pt.fuse_backing_put(k, fb)
        raise
    ff.iomode = IOM_UNCACHED


def fuse_file_io_open(k: Kernel, file: File, inode: FuseInode) -> None:
    """``fuse_file_io_open``: enter the inode io mode the open flags ask for; any refusal
    is the server's mistake and fails the open with EIO (the reason is in the note)."""
    ff: FuseFile = file.private
    if not ff.release_needed:
        return
    try:
        # Server is expected to use FOPEN_PASSTHROUGH for all opens of an inode which is
        # already open for passthrough.
        if inode.fb is not None and not ff.open_flags & uapi.FOPEN_PASSTHROUGH:
            raise oserror(errno.EINVAL)
        if not ff.open_flags & uapi.FOPEN_DIRECT_IO:
            ff.open_flags &= ~uapi.FOPEN_PARALLEL_DIRECT_WRITES
        if ff.open_flags & uapi.FOPEN_DIRECT_IO and not ff.open_flags & uapi.FOPEN_PASSTHROUGH:
            return
        if ff.open_flags & uapi.FOPEN_PASSTHROUGH:
            fuse_file_passthrough_open(k, inode, file, ff)
        else:
            fuse_file_cached_io_open(inode, ff)
    except OSError as e:
        why = errno.errorcode.get(e.errno or 0, str(e.errno))
        err = oserror(errno.EIO)
        err.add_note(
            f"daemon: OPEN reply (open_flags={ff.open_flags:#x}, backing_id={ff.backing_id}) "
            f"refused by fuse_file_io_open: {why} (iomode.c: using incorrect open mode is "
            "a server mistake, which results in user visible failure of open() with EIO)"
        )
        raise err from None


def fuse_file_io_release(k: Kernel, ff: FuseFile, inode: FuseInode) -> None:
    """``fuse_file_io_release``: the last passthrough close allows caching again, the
    last caching close leaves cached mode; the file's backing file is dropped."""
    pt.fuse_passthrough_release(k, ff)
    if ff.iomode == IOM_UNCACHED:
        ff.iomode = IOM_NONE
        fuse_inode_uncached_io_end(k, inode)
    elif ff.iomode == IOM_CACHED:
        ff.iomode = IOM_NONE
        inode.iocachectr -= 1


def fuse_sync_release(inode: FuseInode, file: File, ff: FuseFile) -> None:
    """``fuse_sync_release``: RELEASE sent synchronously (forced, no credentials) for a
    handle the kernel will not use, after ``fuse_finish_open`` failed."""
    flags = (file.flags & ~os.O_CLOEXEC | 0o100000) & 0xFFFFFFFF
    flags &= ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_TRUNC)
    ff.release_needed = False
    with inode.op("RELEASE", ff.nodeid):
        try:
            inode.fm.request(
                FuseArgs(
                    opcode=uapi.FUSE_RELEASE,
                    nodeid=ff.nodeid,
                    in_args=[uapi.FuseReleaseIn(fh=ff.fh, flags=flags)],
                    force=True,
                    nocreds=True,
                )
            )
        except OSError:
            pass


def fuse_finish_open_upstream(inode: FuseInode, file: File, ff: FuseFile) -> None:
    """Mainline ``fuse_finish_open``'s io-mode step for a regular file, with the
    ``fuse_sync_release`` of ``fuse_open``/``fuse_create_open`` when it fails."""
    k = inode.sb.kernel
    try:
        fuse_file_io_open(k, file, inode)
    except OSError:
        fuse_sync_release(inode, file, ff)
        raise
