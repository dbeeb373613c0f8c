"""Bytes read from the real ``/dev/fuse`` into :class:`simfs.daemon.Request` objects, and
:class:`simfs.daemon.Reply` objects into the bytes written back.

The layouts are those the running mainline kernel (protocol 7.45) puts on the wire for a
daemon that negotiated what the daemon's INIT reply asked for: ``fuse_in_header`` (the last
word is ``total_extlen``/``padding``; no request extension is negotiated by simfs daemons,
so it is 0), then the opcode's in-arguments in the order ``fs/fuse/dir.c``, ``file.c``,
``xattr.c`` and ``readdir.c`` fill ``args->in_args``.  Two layouts depend on the
negotiation, as in the kernel: ``fuse_init_in`` is the 64-byte 7.36+ struct
(:class:`~simfs.uapi.FuseInitInExt`), and ``fuse_setxattr_in`` is 16 bytes only when
``FUSE_SETXATTR_EXT`` was agreed (``fc->setxattr_ext``), else 8.

A request whose opcode has no entry in :data:`IN_LAYOUT` is handed over with its payload as
one ``bytes`` argument, so a daemon still sees it (and usually answers ENOSYS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simfs import uapi
from simfs.daemon import Reply, Request
from simfs.uapi import WireKind, WireValue

__all__ = ["IN_LAYOUT", "WireState", "decode_request", "encode_reply"]

#: Per opcode, the kinds of its in-arguments in wire order.  ``str`` is a NUL-terminated
#: name, ``bytes`` the rest of the payload (WRITE data, SETXATTR value, IOCTL input).
IN_LAYOUT: dict[int, tuple[WireKind, ...]] = {
    uapi.FUSE_LOOKUP: (str,),
    uapi.FUSE_FORGET: (uapi.FuseForgetIn,),
    uapi.FUSE_GETATTR: (uapi.FuseGetattrIn,),
    uapi.FUSE_SETATTR: (uapi.FuseSetattrIn,),
    uapi.FUSE_READLINK: (),
    uapi.FUSE_SYMLINK: (str, str),  # fuse_symlink: entry name, then the link target
    uapi.FUSE_MKNOD: (uapi.FuseMknodIn, str),
    uapi.FUSE_MKDIR: (uapi.FuseMkdirIn, str),
    uapi.FUSE_UNLINK: (str,),
    uapi.FUSE_RMDIR: (str,),
    uapi.FUSE_RENAME: (uapi.FuseRenameIn, str, str),
    uapi.FUSE_RENAME2: (uapi.FuseRename2In, str, str),
    uapi.FUSE_LINK: (uapi.FuseLinkIn, str),
    uapi.FUSE_OPEN: (uapi.FuseOpenIn,),
    uapi.FUSE_OPENDIR: (uapi.FuseOpenIn,),
    uapi.FUSE_READ: (uapi.FuseReadIn,),
    uapi.FUSE_READDIR: (uapi.FuseReadIn,),
    uapi.FUSE_READDIRPLUS: (uapi.FuseReadIn,),
    uapi.FUSE_WRITE: (uapi.FuseWriteIn, bytes),
    uapi.FUSE_STATFS: (),
    uapi.FUSE_RELEASE: (uapi.FuseReleaseIn,),
    uapi.FUSE_RELEASEDIR: (uapi.FuseReleaseIn,),
    uapi.FUSE_FSYNC: (uapi.FuseFsyncIn,),
    uapi.FUSE_FSYNCDIR: (uapi.FuseFsyncIn,),
    uapi.FUSE_SETXATTR: (uapi.FuseSetxattrIn, str, bytes),
    uapi.FUSE_GETXATTR: (uapi.FuseGetxattrIn, str),
    uapi.FUSE_LISTXATTR: (uapi.FuseGetxattrIn,),
    uapi.FUSE_REMOVEXATTR: (str,),
    uapi.FUSE_FLUSH: (uapi.FuseFlushIn,),
    uapi.FUSE_INIT: (uapi.FuseInitInExt,),
    uapi.FUSE_ACCESS: (uapi.FuseAccessIn,),
    uapi.FUSE_CREATE: (uapi.FuseCreateIn, str),
    uapi.FUSE_TMPFILE: (uapi.FuseCreateIn, str),
    uapi.FUSE_INTERRUPT: (uapi.FuseInterruptIn,),
    uapi.FUSE_DESTROY: (),
    uapi.FUSE_GETLK: (uapi.FuseLkIn,),
    uapi.FUSE_SETLK: (uapi.FuseLkIn,),
    uapi.FUSE_SETLKW: (uapi.FuseLkIn,),
    uapi.FUSE_BMAP: (uapi.FuseBmapIn,),
    uapi.FUSE_IOCTL: (uapi.FuseIoctlIn, bytes),
    uapi.FUSE_POLL: (uapi.FusePollIn,),
    uapi.FUSE_BATCH_FORGET: (uapi.FuseBatchForgetIn, "forget_ones"),
    uapi.FUSE_FALLOCATE: (uapi.FuseFallocateIn,),
    uapi.FUSE_LSEEK: (uapi.FuseLseekIn,),
    uapi.FUSE_COPY_FILE_RANGE: (uapi.FuseCopyFileRangeIn,),
    uapi.FUSE_COPY_FILE_RANGE_64: (uapi.FuseCopyFileRangeIn,),
    uapi.FUSE_SYNCFS: (uapi.FuseSyncfsIn,),
}

#: ``fuse_setxattr_in`` with ``FUSE_SETXATTR_EXT`` (``setxattr_flags`` + padding).
_SETXATTR_EXT_SIZE = 16


@dataclass
class WireState:
    """What decoding depends on: the flags the daemon's INIT reply asked for."""

    setxattr_ext: bool = False

    def negotiated(self, reply: Reply) -> None:
        """Take note of an INIT reply (as ``process_init_reply`` sets ``fc->...``)."""
        out = reply.args[0] if reply.args else None
        if isinstance(out, uapi.FuseInitOut):
            self.setxattr_ext = bool(out.flags & uapi.FUSE_SETXATTR_EXT)


def _split_args(
    kinds: Sequence[WireKind], payload: bytes, state: WireState, opcode: int
) -> tuple[WireValue, ...]:
    out: list[WireValue] = []
    pos = 0
    for kind in kinds:
        if kind is str:
            end = payload.find(b"\0", pos)
            end = len(payload) if end < 0 else end + 1
            out.append(uapi.unpack_value(str, payload[pos:end]))
            pos = end
        elif kind is bytes or isinstance(kind, str):
            out.append(uapi.unpack_value(kind, payload[pos:]))
            pos = len(payload)
        else:
            assert isinstance(kind, type) and issubclass(kind, uapi.WireStruct)
            size = kind.SIZE
            if opcode == uapi.FUSE_SETXATTR and not state.setxattr_ext:
                size = uapi.FUSE_COMPAT_SETXATTR_IN_SIZE
            if kind is uapi.FuseInitInExt:
                size = min(size, len(payload) - pos)
            chunk = payload[pos : pos + size]
            out.append(uapi.unpack_value(kind, chunk))
            pos += size
    return tuple(out)


def decode_request(buf: bytes, state: WireState) -> Request:
    """One ``read(2)`` of ``/dev/fuse`` as a :class:`Request` (``ValueError`` if short)."""
    if len(buf) < uapi.FuseInHeader.SIZE:
        raise ValueError(f"request of {len(buf)} bytes is shorter than fuse_in_header")
    h = uapi.FuseInHeader.unpack(buf[: uapi.FuseInHeader.SIZE])
    payload = buf[uapi.FuseInHeader.SIZE : h.len]
    kinds = IN_LAYOUT.get(h.opcode)
    args = (payload,) if kinds is None else _split_args(kinds, payload, state, h.opcode)
    return Request(
        unique=h.unique,
        opcode=h.opcode,
        nodeid=h.nodeid,
        uid=h.uid,
        gid=h.gid,
        pid=h.pid,
        args=args,
        insize=h.len,
    )


def encode_reply(req: Request, reply: Reply) -> bytes:
    """The ``write(2)`` that answers ``req``: ``fuse_out_header`` + the payload."""
    payload = reply.payload_bytes()
    unique = req.unique if reply.unique is None else reply.unique
    head = uapi.FuseOutHeader(
        len=uapi.FuseOutHeader.SIZE + len(payload), error=reply.error, unique=unique
    )
    return head.pack() + payload
