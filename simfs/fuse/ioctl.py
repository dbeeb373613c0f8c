"""FUSE ioctls (``fs/fuse/ioctl.c``), issue 17.

* ``fuse_fileattr_get``/``fuse_fileattr_set`` (FS_IOC_GETFLAGS/SETFLAGS): a private
  O_RDONLY open of the node (``fuse_priv_ioctl_prepare``: OPEN/OPENDIR), one FUSE_IOCTL
  with the 4-byte flags (``fuse_priv_ioctl``), then RELEASE; regular files and
  directories only (else ENOTTY).
* ``fuse_file_ioctl``/``fuse_dir_ioctl`` for anything ``do_vfs_ioctl`` does not handle:
  FUSE_IOCTL in restricted mode (``fuse_get_ioctl_iovs``: the in/out sizes come from the
  command's ``_IOC_DIR``/``_IOC_SIZE``; a RETRY answer is EIO).

A daemon's ENOSYS becomes ENOTTY (``fuse: ioctl: translate ENOSYS``), which is what this
machine's kernel answers for libfuse's passthrough_ll (no ioctl handler).  ACK's ioctl.c
has no fuse-bpf branch: a backed file's ioctls go to the daemon too.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, cast

from simfs import uapi
from simfs.fuse.dev import FuseArgs
from simfs.uapi import OutArg
from simfs.vfs.file import FMODE_READ, File
from simfs.vfs.inode import oserror

if TYPE_CHECKING:
    from simfs.fuse.inode import FuseInode

FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
_IOC_WRITE = 1
_IOC_READ = 2


def _ioc_dir(cmd: int) -> int:
    return (cmd >> 30) & 3


def _ioc_size(cmd: int) -> int:
    return (cmd >> 16) & 0x3FFF


def _send_ioctl(
    inode: FuseInode, fh: int, cmd: int, flags: int, data_in: bytes, out_size: int
) -> tuple[int, bytes]:
    """One FUSE_IOCTL: ``(result, out data)``; ENOSYS -> ENOTTY, RETRY -> EIO."""
    with inode.op("IOCTL", inode.nodeid):
        try:
            outs = inode.fm.request(
                FuseArgs(
                    opcode=uapi.FUSE_IOCTL,
                    nodeid=inode.nodeid,
                    in_args=[
                        uapi.FuseIoctlIn(
                            fh=fh,
                            flags=flags,
                            cmd=cmd & 0xFFFFFFFF,
                            in_size=len(data_in),
                            out_size=out_size,
                        ),
                        data_in,
                    ],
                    out_args=[OutArg.of(uapi.FuseIoctlOut), OutArg(bytes, out_size)],
                    out_argvar=True,
                )
            )
        except OSError as e:
            if e.errno == errno.ENOSYS:
                raise oserror(errno.ENOTTY) from None
            raise
    out = cast(uapi.FuseIoctlOut, outs[0])
    if out.flags & uapi.FUSE_IOCTL_RETRY:
        raise inode.fm.conn.reject(  # fuse_do_ioctl: restricted mode cannot retry
            uapi.FUSE_IOCTL, "FUSE_IOCTL_RETRY in a restricted-mode ioctl reply"
        )
    if out.result < 0:
        raise oserror(errno.ENOTTY if -out.result == errno.ENOSYS else -out.result)
    data = outs[1] if isinstance(outs[1], bytes) else b""
    return out.result, data


def fuse_priv_ioctl(inode: FuseInode, file: File, cmd: int, value: int) -> int:
    """``fuse_priv_ioctl_prepare`` + ``fuse_priv_ioctl`` + cleanup: the flags read
    (GETFLAGS) or 0 (SETFLAGS)."""
    from simfs.fuse.file import fuse_file_open, fuse_release

    if not (inode.is_reg or inode.is_dir):
        raise oserror(errno.ENOTTY)
    isdir = inode.is_dir
    private = File(path=file.path, inode=inode, flags=os.O_RDONLY, fmode=FMODE_READ)
    private.private = fuse_file_open(inode, private, isdir)
    try:
        flags = uapi.FUSE_IOCTL_DIR if isdir else 0
        if cmd == FS_IOC_SETFLAGS:
            data = (value & 0xFFFFFFFF).to_bytes(4, "little")
            _send_ioctl(inode, private.private.fh, cmd, flags, data, 0)
            return 0
        _, out = _send_ioctl(inode, private.private.fh, cmd, flags, b"", 4)
        return int.from_bytes(out[:4].ljust(4, b"\0"), "little")
    finally:
        fuse_release(inode, private)  # fuse_priv_ioctl_cleanup


def fuse_ioctl_common(inode: FuseInode, file: File, cmd: int, buf: bytes | None) -> int | bytes:
    """``fuse_ioctl_common`` -> ``fuse_do_ioctl`` in restricted mode: the command's own
    sizes; the data the daemon returns is copied back into the caller's buffer."""
    from simfs.fuse.inode import fuse_file

    if not inode.fm.allow_current_process():
        raise oserror(errno.EACCES)
    ff = fuse_file(file)
    size = _ioc_size(cmd)
    direction = _ioc_dir(cmd)
    if size and buf is None:
        raise oserror(errno.EFAULT)  # the int argument is not a buffer
    if buf is not None and size > len(buf):
        raise oserror(errno.EFAULT)
    data_in = buf[:size] if direction & _IOC_WRITE and buf is not None else b""
    out_size = size if direction & _IOC_READ else 0
    flags = uapi.FUSE_IOCTL_DIR if inode.is_dir else 0
    result, out = _send_ioctl(inode, ff.fh, cmd, flags, data_in, out_size)
    if buf is None:
        return result
    if len(out) > out_size:
        raise inode.fm.conn.reject(  # fuse_do_ioctl: transferred > inarg.out_size
            uapi.FUSE_IOCTL, f"ioctl reply carries {len(out)} bytes, more than the {out_size} asked"
        )
    return out + buf[len(out) :]
