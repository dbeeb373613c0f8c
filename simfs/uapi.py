"""The FUSE wire protocol: opcodes, flags and structs of ``include/uapi/linux/fuse.h``
plus Android's ``include/uapi/linux/android_fuse.h``.

Which kernel.  simfs models the Android Common Kernel's FUSE as stored in
``aosp-mirror/kernel_common``: ``include/uapi/linux/fuse.h`` @ ``08ac3047`` (protocol
**7.33**, the header that goes with the split-out ``android_fuse.h`` @ ``77e9eca0``).  Its
layouts are the ones used here: ``fuse_init_in`` is the 16-byte pre-7.36 struct (no
``flags2``), ``fuse_setxattr_in`` the 8-byte one (``FUSE_SETXATTR_EXT`` is not in the ACK
7.33 header, so the kernel sends 8 bytes), the last ``fuse_in_header`` word is one u32
into which ACK's ``fuse_args_to_req`` writes ``error_in``, and ``fuse_open_out`` ends in
ACK's ``passthrough_fh``.  Opcodes and flags added upstream after 7.33 (up to 7.45:
``FUSE_SYNCFS``, ``FUSE_TMPFILE``, ``FUSE_STATX``, ``FUSE_COPY_FILE_RANGE_64``, the
``flags2`` bits) are defined too, so traces recorded on a current kernel can be named;
they are marked "upstream" below.

Wire structs are frozen, slotted dataclasses named after the kernel's (``fuse_entry_out``
is :class:`FuseEntryOut`), fields named exactly as in the kernel and all zero by default.
Each has ``SIZE`` (the kernel's ``sizeof``), ``pack()`` and ``unpack(data)``
(little-endian, the kernel's explicit padding fields included).  Edit with
``dataclasses.replace``.  Other wire values: a name is a ``str`` (sent with its NUL), file
data and xattr values are ``bytes``, a READDIR buffer is a ``list[FuseDirent]``.
:func:`wire_size`, :func:`pack_value` and :func:`unpack_value` convert between the two.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any, ClassVar, Literal, TypeAlias, TypeVar, get_args
from typing import get_type_hints as _get_type_hints

# --------------------------------------------------------------------------------------------
# Versions and ids

#: Protocol major (``FUSE_KERNEL_VERSION``).
FUSE_KERNEL_VERSION = 7
#: Protocol minor of the modelled ACK kernel (aosp-mirror/kernel_common fuse.h @ 08ac3047).
FUSE_KERNEL_MINOR_VERSION = 33
#: Protocol minor of the upstream kernel this machine runs (6.18), for comparisons.
FUSE_UPSTREAM_MINOR_VERSION = 45
#: ``FUSE_ROOT_ID``: the nodeid of the root inode.
FUSE_ROOT_ID = 1
#: android_fuse.h
FUSE_BPF_MAJOR_VERSION = 1
FUSE_BPF_MINOR_VERSION = 0
#: ``FUSE_SUPER_MAGIC`` (fs/fuse/inode.c): statfs ``f_type`` of every FUSE mount.
FUSE_SUPER_MAGIC = 0x65735546
#: The read buffer a daemon must offer is at least this big.
FUSE_MIN_READ_BUFFER = 8192
#: fs/fuse/fuse_i.h: longest name the kernel accepts from a daemon.
FUSE_NAME_MAX = 1024

# --------------------------------------------------------------------------------------------
# Opcodes


class FuseOpcode(IntEnum):
    """``enum fuse_opcode`` (ACK 7.33 plus the opcodes added upstream up to 7.45)."""

    FUSE_LOOKUP = 1
    FUSE_FORGET = 2  # no reply
    FUSE_GETATTR = 3
    FUSE_SETATTR = 4
    FUSE_READLINK = 5
    FUSE_SYMLINK = 6
    FUSE_MKNOD = 8
    FUSE_MKDIR = 9
    FUSE_UNLINK = 10
    FUSE_RMDIR = 11
    FUSE_RENAME = 12
    FUSE_LINK = 13
    FUSE_OPEN = 14
    FUSE_READ = 15
    FUSE_WRITE = 16
    FUSE_STATFS = 17
    FUSE_RELEASE = 18
    FUSE_FSYNC = 20
    FUSE_SETXATTR = 21
    FUSE_GETXATTR = 22
    FUSE_LISTXATTR = 23
    FUSE_REMOVEXATTR = 24
    FUSE_FLUSH = 25
    FUSE_INIT = 26
    FUSE_OPENDIR = 27
    FUSE_READDIR = 28
    FUSE_RELEASEDIR = 29
    FUSE_FSYNCDIR = 30
    FUSE_GETLK = 31
    FUSE_SETLK = 32
    FUSE_SETLKW = 33
    FUSE_ACCESS = 34
    FUSE_CREATE = 35
    FUSE_INTERRUPT = 36
    FUSE_BMAP = 37
    FUSE_DESTROY = 38
    FUSE_IOCTL = 39
    FUSE_POLL = 40
    FUSE_NOTIFY_REPLY = 41
    FUSE_BATCH_FORGET = 42
    FUSE_FALLOCATE = 43
    FUSE_READDIRPLUS = 44
    FUSE_RENAME2 = 45
    FUSE_LSEEK = 46
    FUSE_COPY_FILE_RANGE = 47
    FUSE_SETUPMAPPING = 48
    FUSE_REMOVEMAPPING = 49
    FUSE_SYNCFS = 50  # upstream 7.34
    FUSE_TMPFILE = 51  # upstream 7.37
    FUSE_STATX = 52  # upstream 7.39
    FUSE_COPY_FILE_RANGE_64 = 53  # upstream 7.45
    FUSE_CANONICAL_PATH = 2016  # Android
    CUSE_INIT = 4096
    CUSE_INIT_BSWAP_RESERVED = 1048576  # CUSE_INIT << 8
    FUSE_INIT_BSWAP_RESERVED = 436207616  # FUSE_INIT << 24
    FUSE_OPEN_ATOMIC = 0xFFFFFFFE  # ACK (b/310102543)
    FUSE_CHROMEOS_TMPFILE = 0xFFFFFFFF  # ACK: Chrome OS extension


FUSE_LOOKUP = FuseOpcode.FUSE_LOOKUP
FUSE_FORGET = FuseOpcode.FUSE_FORGET
FUSE_GETATTR = FuseOpcode.FUSE_GETATTR
FUSE_SETATTR = FuseOpcode.FUSE_SETATTR
FUSE_READLINK = FuseOpcode.FUSE_READLINK
FUSE_SYMLINK = FuseOpcode.FUSE_SYMLINK
FUSE_MKNOD = FuseOpcode.FUSE_MKNOD
FUSE_MKDIR = FuseOpcode.FUSE_MKDIR
FUSE_UNLINK = FuseOpcode.FUSE_UNLINK
FUSE_RMDIR = FuseOpcode.FUSE_RMDIR
FUSE_RENAME = FuseOpcode.FUSE_RENAME
FUSE_LINK = FuseOpcode.FUSE_LINK
FUSE_OPEN = FuseOpcode.FUSE_OPEN
FUSE_READ = FuseOpcode.FUSE_READ
FUSE_WRITE = FuseOpcode.FUSE_WRITE
FUSE_STATFS = FuseOpcode.FUSE_STATFS
FUSE_RELEASE = FuseOpcode.FUSE_RELEASE
FUSE_FSYNC = FuseOpcode.FUSE_FSYNC
FUSE_SETXATTR = FuseOpcode.FUSE_SETXATTR
FUSE_GETXATTR = FuseOpcode.FUSE_GETXATTR
FUSE_LISTXATTR = FuseOpcode.FUSE_LISTXATTR
FUSE_REMOVEXATTR = FuseOpcode.FUSE_REMOVEXATTR
FUSE_FLUSH = FuseOpcode.FUSE_FLUSH
FUSE_INIT = FuseOpcode.FUSE_INIT
FUSE_OPENDIR = FuseOpcode.FUSE_OPENDIR
FUSE_READDIR = FuseOpcode.FUSE_READDIR
FUSE_RELEASEDIR = FuseOpcode.FUSE_RELEASEDIR
FUSE_FSYNCDIR = FuseOpcode.FUSE_FSYNCDIR
FUSE_GETLK = FuseOpcode.FUSE_GETLK
FUSE_SETLK = FuseOpcode.FUSE_SETLK
FUSE_SETLKW = FuseOpcode.FUSE_SETLKW
FUSE_ACCESS = FuseOpcode.FUSE_ACCESS
FUSE_CREATE = FuseOpcode.FUSE_CREATE
FUSE_INTERRUPT = FuseOpcode.FUSE_INTERRUPT
FUSE_BMAP = FuseOpcode.FUSE_BMAP
FUSE_DESTROY = FuseOpcode.FUSE_DESTROY
FUSE_IOCTL = FuseOpcode.FUSE_IOCTL
FUSE_POLL = FuseOpcode.FUSE_POLL
FUSE_NOTIFY_REPLY = FuseOpcode.FUSE_NOTIFY_REPLY
FUSE_BATCH_FORGET = FuseOpcode.FUSE_BATCH_FORGET
FUSE_FALLOCATE = FuseOpcode.FUSE_FALLOCATE
FUSE_READDIRPLUS = FuseOpcode.FUSE_READDIRPLUS
FUSE_RENAME2 = FuseOpcode.FUSE_RENAME2
FUSE_LSEEK = FuseOpcode.FUSE_LSEEK
FUSE_COPY_FILE_RANGE = FuseOpcode.FUSE_COPY_FILE_RANGE
FUSE_SETUPMAPPING = FuseOpcode.FUSE_SETUPMAPPING
FUSE_REMOVEMAPPING = FuseOpcode.FUSE_REMOVEMAPPING
FUSE_SYNCFS = FuseOpcode.FUSE_SYNCFS
FUSE_TMPFILE = FuseOpcode.FUSE_TMPFILE
FUSE_STATX = FuseOpcode.FUSE_STATX
FUSE_COPY_FILE_RANGE_64 = FuseOpcode.FUSE_COPY_FILE_RANGE_64
FUSE_CANONICAL_PATH = FuseOpcode.FUSE_CANONICAL_PATH
CUSE_INIT = FuseOpcode.CUSE_INIT
CUSE_INIT_BSWAP_RESERVED = FuseOpcode.CUSE_INIT_BSWAP_RESERVED
FUSE_INIT_BSWAP_RESERVED = FuseOpcode.FUSE_INIT_BSWAP_RESERVED
FUSE_OPEN_ATOMIC = FuseOpcode.FUSE_OPEN_ATOMIC
FUSE_CHROMEOS_TMPFILE = FuseOpcode.FUSE_CHROMEOS_TMPFILE


class FuseNotifyCode(IntEnum):
    """``enum fuse_notify_code``: unsolicited messages (``fuse_out_header.unique == 0``)."""

    FUSE_NOTIFY_POLL = 1
    FUSE_NOTIFY_INVAL_INODE = 2
    FUSE_NOTIFY_INVAL_ENTRY = 3
    FUSE_NOTIFY_STORE = 4
    FUSE_NOTIFY_RETRIEVE = 5
    FUSE_NOTIFY_DELETE = 6
    FUSE_NOTIFY_RESEND = 7  # upstream 7.40
    FUSE_NOTIFY_INC_EPOCH = 8  # upstream 7.44
    FUSE_NOTIFY_PRUNE = 9  # upstream 7.45


# --------------------------------------------------------------------------------------------
# Android fuse-bpf (android_fuse.h) and the upstream RFC v2 typed add-on blocks

#: Filter opcode bits: OR-ed into the opcode of pre/post filter requests.
FUSE_OPCODE_FILTER = 0x0FFFF
FUSE_PREFILTER = 0x10000
FUSE_POSTFILTER = 0x20000

#: BPF program return bits.
FUSE_BPF_USER_FILTER = 1
FUSE_BPF_BACKING = 2
FUSE_BPF_POST_FILTER = 4

#: ``fuse_entry_bpf_out`` actions.
FUSE_ACTION_KEEP = 0
FUSE_ACTION_REMOVE = 1
FUSE_ACTION_REPLACE = 2

#: ``fuse_bpf_args.flags``.
FUSE_BPF_FORCE = 1 << 0
FUSE_BPF_OUT_ARGVAR = 1 << 6

FUSE_MAX_IN_ARGS = 5
FUSE_MAX_OUT_ARGS = 3

#: RFC v2 (not merged) typed lookup add-on blocks, delivered by ioctl.
FUSE_ENTRY_BACKING = 1
FUSE_ENTRY_BPF = 2
FUSE_ENTRY_REMOVE_BACKING = 3
FUSE_ENTRY_REMOVE_BPF = 4
FUSE_BPF_MAX_ENTRIES = 2

# --------------------------------------------------------------------------------------------
# Flags

#: ``fuse_setattr_in.valid``
FATTR_MODE = 1 << 0
FATTR_UID = 1 << 1
FATTR_GID = 1 << 2
FATTR_SIZE = 1 << 3
FATTR_ATIME = 1 << 4
FATTR_MTIME = 1 << 5
FATTR_FH = 1 << 6
FATTR_ATIME_NOW = 1 << 7
FATTR_MTIME_NOW = 1 << 8
FATTR_LOCKOWNER = 1 << 9
FATTR_CTIME = 1 << 10
FATTR_KILL_SUIDGID = 1 << 11  # upstream 7.33 (not in the ACK 7.33 header)

#: ``fuse_open_out.open_flags``
FOPEN_DIRECT_IO = 1 << 0
FOPEN_KEEP_CACHE = 1 << 1
FOPEN_NONSEEKABLE = 1 << 2
FOPEN_CACHE_DIR = 1 << 3
FOPEN_STREAM = 1 << 4
FOPEN_NOFLUSH = 1 << 5  # upstream 7.35
FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6  # upstream 7.36
FOPEN_FILE_CREATED = 1 << 7  # ACK (atomic open); upstream uses bit 7 for FOPEN_PASSTHROUGH
#: Mainline 7.40: serve read/write/splice/mmap from the backing file named by ``backing_id``.
FOPEN_PASSTHROUGH = 1 << 7

#: INIT flags (``fuse_init_in.flags`` / ``fuse_init_out.flags``)
FUSE_ASYNC_READ = 1 << 0
FUSE_POSIX_LOCKS = 1 << 1
FUSE_FILE_OPS = 1 << 2
FUSE_ATOMIC_O_TRUNC = 1 << 3
FUSE_EXPORT_SUPPORT = 1 << 4
FUSE_BIG_WRITES = 1 << 5
FUSE_DONT_MASK = 1 << 6
FUSE_SPLICE_WRITE = 1 << 7
FUSE_SPLICE_MOVE = 1 << 8
FUSE_SPLICE_READ = 1 << 9
FUSE_FLOCK_LOCKS = 1 << 10
FUSE_HAS_IOCTL_DIR = 1 << 11
FUSE_AUTO_INVAL_DATA = 1 << 12
FUSE_DO_READDIRPLUS = 1 << 13
FUSE_READDIRPLUS_AUTO = 1 << 14
FUSE_ASYNC_DIO = 1 << 15
FUSE_WRITEBACK_CACHE = 1 << 16
FUSE_NO_OPEN_SUPPORT = 1 << 17
FUSE_PARALLEL_DIROPS = 1 << 18
FUSE_HANDLE_KILLPRIV = 1 << 19
FUSE_POSIX_ACL = 1 << 20
FUSE_ABORT_ERROR = 1 << 21
FUSE_MAX_PAGES = 1 << 22
FUSE_CACHE_SYMLINKS = 1 << 23
FUSE_NO_OPENDIR_SUPPORT = 1 << 24
FUSE_EXPLICIT_INVAL_DATA = 1 << 25
FUSE_MAP_ALIGNMENT = 1 << 26
FUSE_SUBMOUNTS = 1 << 27
FUSE_HANDLE_KILLPRIV_V2 = 1 << 28
FUSE_SETXATTR_EXT = 1 << 29  # upstream 7.33 (not in the ACK 7.33 header)
FUSE_INIT_EXT = 1 << 30  # upstream 7.36: flags2 present
#: ACK's legacy Android passthrough; upstream names this bit FUSE_INIT_RESERVED.
FUSE_PASSTHROUGH = 1 << 31
#: The same bit under a name that says whose it is (ACK's Android passthrough, 7.33).
FUSE_PASSTHROUGH_ACK = FUSE_PASSTHROUGH
FUSE_INIT_RESERVED = 1 << 31
# Upstream flags2 bits (7.36+): bits 32..63 travel in fuse_init_{in,out}.flags2.  ACK 7.33
# has no flags2; they are named here for traces of newer kernels and for the mainline
# model (``variant="upstream"``).  Mainline's own FUSE_PASSTHROUGH (6.9+, protocol 7.40) is
# 1 << 37; since the plain name is ACK's, it is FUSE_PASSTHROUGH_UPSTREAM here.
FUSE_SECURITY_CTX = 1 << 32
FUSE_HAS_INODE_DAX = 1 << 33
FUSE_CREATE_SUPP_GROUP = 1 << 34
FUSE_HAS_EXPIRE_ONLY = 1 << 35
FUSE_DIRECT_IO_ALLOW_MMAP = 1 << 36
FUSE_DIRECT_IO_RELAX = FUSE_DIRECT_IO_ALLOW_MMAP
#: Mainline ``FUSE_PASSTHROUGH`` (bit 5 of ``flags2``; needs ``FUSE_INIT_EXT``).
FUSE_PASSTHROUGH_UPSTREAM = 1 << 37
FUSE_NO_EXPORT_SUPPORT = 1 << 38
FUSE_HAS_RESEND = 1 << 39
FUSE_ALLOW_IDMAP = 1 << 40
FUSE_OVER_IO_URING = 1 << 41
FUSE_REQUEST_TIMEOUT = 1 << 42

CUSE_UNRESTRICTED_IOCTL = 1 << 0

#: ``fuse_release_in.release_flags``
FUSE_RELEASE_FLUSH = 1 << 0
FUSE_RELEASE_FLOCK_UNLOCK = 1 << 1
#: ``fuse_getattr_in.getattr_flags``
FUSE_GETATTR_FH = 1 << 0
#: ``fuse_lk_in.lk_flags``
FUSE_LK_FLOCK = 1 << 0
#: ``fuse_write_in.write_flags``
FUSE_WRITE_CACHE = 1 << 0
FUSE_WRITE_LOCKOWNER = 1 << 1
FUSE_WRITE_KILL_PRIV = 1 << 2  # ACK name
FUSE_WRITE_KILL_SUIDGID = FUSE_WRITE_KILL_PRIV  # upstream name of the same bit
#: ``fuse_read_in.read_flags``
FUSE_READ_LOCKOWNER = 1 << 1
#: ``fuse_ioctl_in.flags``
FUSE_IOCTL_COMPAT = 1 << 0
FUSE_IOCTL_UNRESTRICTED = 1 << 1
FUSE_IOCTL_RETRY = 1 << 2
FUSE_IOCTL_32BIT = 1 << 3
FUSE_IOCTL_DIR = 1 << 4
FUSE_IOCTL_COMPAT_X32 = 1 << 5
FUSE_IOCTL_MAX_IOV = 256
#: ``fuse_poll_in.flags``
FUSE_POLL_SCHEDULE_NOTIFY = 1 << 0
#: ``fuse_fsync_in.fsync_flags``
FUSE_FSYNC_FDATASYNC = 1 << 0
#: ``fuse_attr.flags``
FUSE_ATTR_SUBMOUNT = 1 << 0
FUSE_ATTR_DAX = 1 << 1  # upstream 7.35
#: ``fuse_open_in.open_flags`` / ``fuse_create_in.open_flags``
FUSE_OPEN_KILL_SUIDGID = 1 << 0
#: ``fuse_setxattr_in.setxattr_flags`` (upstream, 16-byte struct only)
FUSE_SETXATTR_ACL_KILL_SGID = 1 << 0
#: ``setxattr(2)`` flags carried in ``fuse_setxattr_in.flags`` (include/uapi/linux/xattr.h)
XATTR_CREATE = 0x1
XATTR_REPLACE = 0x2

#: Sizes the kernel falls back to for old protocol minors (fuse_adjust_compat).
FUSE_COMPAT_ENTRY_OUT_SIZE = 120
FUSE_COMPAT_ATTR_OUT_SIZE = 96
FUSE_COMPAT_MKNOD_IN_SIZE = 8
FUSE_COMPAT_WRITE_IN_SIZE = 24
FUSE_COMPAT_STATFS_SIZE = 48
FUSE_COMPAT_INIT_OUT_SIZE = 8
FUSE_COMPAT_22_INIT_OUT_SIZE = 24
FUSE_COMPAT_SETXATTR_IN_SIZE = 8

# --------------------------------------------------------------------------------------------
# Device ioctls (asm-generic/ioctl.h encoding)

_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = 8
_IOC_SIZESHIFT = 16
_IOC_DIRSHIFT = 30
_IOC_WRITE = 1
_IOC_READ = 2


def _IOC(direction: int, type_: int, nr: int, size: int) -> int:
    if not 0 <= size < (1 << 14):
        raise ValueError(f"ioctl argument size {size} does not fit the 14-bit size field")
    return (
        (direction << _IOC_DIRSHIFT)
        | (type_ << _IOC_TYPESHIFT)
        | (nr << _IOC_NRSHIFT)
        | (size << _IOC_SIZESHIFT)
    )


def _IOR(type_: int, nr: int, size: int) -> int:
    return _IOC(_IOC_READ, type_, nr, size)


def _IOW(type_: int, nr: int, size: int) -> int:
    return _IOC(_IOC_WRITE, type_, nr, size)


FUSE_DEV_IOC_MAGIC = 229
FUSE_DEV_IOC_CLONE = _IOR(FUSE_DEV_IOC_MAGIC, 0, 4)
#: ACK: Android's passthrough v2 interface (nr 127 is reserved for the deprecated v1).
FUSE_DEV_IOC_PASSTHROUGH_OPEN = _IOW(FUSE_DEV_IOC_MAGIC, 126, 4)
#: Mainline 7.40: register a backing file (``struct fuse_backing_map``), returns its id.
FUSE_DEV_IOC_BACKING_OPEN = _IOW(FUSE_DEV_IOC_MAGIC, 1, 16)
#: Mainline 7.40: drop a backing id (``uint32_t``).
FUSE_DEV_IOC_BACKING_CLOSE = _IOW(FUSE_DEV_IOC_MAGIC, 2, 4)
#: include/linux/fs.h: how deep filesystems may stack (overlayfs, FUSE passthrough).
FILESYSTEM_MAX_STACK_DEPTH = 2


def FUSE_DEV_IOC_BPF_RESPONSE(n: int) -> int:
    """RFC v2's ``FUSE_DEV_IOC_BPF_RESPONSE(N)`` = ``_IOW(229, 125, char[N])``."""
    return _IOW(FUSE_DEV_IOC_MAGIC, 125, n)


# --------------------------------------------------------------------------------------------
# Wire structs
#
# A struct is declared as a frozen, slotted dataclass whose field annotations carry their C
# type (``U32`` = uint32_t ...); :func:`_wire` derives the struct-module format from them, in
# declaration order, so the layout is written once, in the kernel's order.

U8 = Annotated[int, "B"]
U16 = Annotated[int, "H"]
U32 = Annotated[int, "I"]
U64 = Annotated[int, "Q"]
S32 = Annotated[int, "i"]
S64 = Annotated[int, "q"]

_Code: TypeAlias = "str | tuple[str, int] | type[WireStruct]"


class WireStruct:
    """Base of every fixed-size wire struct."""

    __slots__ = ()

    SIZE: ClassVar[int]
    _layout: ClassVar[tuple[tuple[str, _Code], ...]]
    _fmt: ClassVar[str]

    def _flat(self) -> list[int]:
        out: list[int] = []
        for name, code in self._layout:
            value = getattr(self, name)
            if isinstance(code, str):
                out.append(value)
            elif isinstance(code, tuple):
                if len(value) != code[1]:
                    raise ValueError(
                        f"{type(self).__name__}.{name} must have {code[1]} elements, "
                        f"got {len(value)}"
                    )
                out.extend(value)
            else:
                out.extend(value._flat())
        return out

    @classmethod
    def _from_flat(cls: type[_S], values: list[int], pos: int) -> tuple[_S, int]:
        kwargs: dict[str, Any] = {}
        for name, code in cls._layout:
            if isinstance(code, str):
                kwargs[name] = values[pos]
                pos += 1
            elif isinstance(code, tuple):
                kwargs[name] = tuple(values[pos : pos + code[1]])
                pos += code[1]
            else:
                kwargs[name], pos = code._from_flat(values, pos)
        return cls(**kwargs), pos

    def pack(self) -> bytes:
        """The struct's bytes as the kernel lays them out."""
        try:
            return struct.pack("<" + self._fmt, *self._flat())
        except struct.error as e:
            raise ValueError(f"cannot pack {self!r}: {e}") from None

    @classmethod
    def unpack(cls: type[_S], data: bytes) -> _S:
        """Parse exactly ``SIZE`` bytes (``ValueError`` otherwise)."""
        if len(data) != cls.SIZE:
            raise ValueError(f"{cls.__name__} is {cls.SIZE} bytes, got {len(data)}")
        values = list(struct.unpack("<" + cls._fmt, data))
        obj, _ = cls._from_flat(values, 0)
        return obj


_S = TypeVar("_S", bound=WireStruct)


def _wire(cls: type[_S]) -> type[_S]:
    """Derive ``_layout``/``_fmt``/``SIZE`` of a dataclass from its annotations."""
    hints = _get_type_hints(cls, include_extras=True)
    layout: list[tuple[str, _Code]] = []
    fmt = ""
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[f.name]
        meta = getattr(hint, "__metadata__", None)
        if meta is not None:
            code = meta[0]
            if isinstance(code, str):
                fmt += code
            else:
                fmt += code[0] * code[1]
            layout.append((f.name, code))
        elif isinstance(hint, type) and issubclass(hint, WireStruct):
            fmt += hint._fmt
            layout.append((f.name, hint))
        else:  # pragma: no cover - a declaration mistake
            raise TypeError(f"{cls.__name__}.{f.name}: no wire type")
    cls._layout = tuple(layout)
    cls._fmt = fmt
    cls.SIZE = struct.calcsize("<" + fmt)
    return cls


def _zeros(n: int) -> tuple[int, ...]:
    return (0,) * n


@_wire
@dataclass(frozen=True, slots=True)
class FuseAttr(WireStruct):
    """``struct fuse_attr`` (88 bytes)."""

    ino: U64 = 0
    size: U64 = 0
    blocks: U64 = 0
    atime: U64 = 0
    mtime: U64 = 0
    ctime: U64 = 0
    atimensec: U32 = 0
    mtimensec: U32 = 0
    ctimensec: U32 = 0
    mode: U32 = 0
    nlink: U32 = 0
    uid: U32 = 0
    gid: U32 = 0
    rdev: U32 = 0
    blksize: U32 = 0
    flags: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseKstatfs(WireStruct):
    """``struct fuse_kstatfs`` (80 bytes)."""

    blocks: U64 = 0
    bfree: U64 = 0
    bavail: U64 = 0
    files: U64 = 0
    ffree: U64 = 0
    bsize: U32 = 0
    namelen: U32 = 0
    frsize: U32 = 0
    padding: U32 = 0
    spare: Annotated[tuple[int, ...], ("I", 6)] = _zeros(6)


@_wire
@dataclass(frozen=True, slots=True)
class FuseFileLock(WireStruct):
    """``struct fuse_file_lock`` (24 bytes)."""

    start: U64 = 0
    end: U64 = 0
    type: U32 = 0
    pid: U32 = 0  # tgid


@_wire
@dataclass(frozen=True, slots=True)
class FuseEntryOut(WireStruct):
    """``struct fuse_entry_out`` (128 bytes): LOOKUP/CREATE/MKNOD/MKDIR/SYMLINK/LINK reply."""

    nodeid: U64 = 0
    generation: U64 = 0
    entry_valid: U64 = 0
    attr_valid: U64 = 0
    entry_valid_nsec: U32 = 0
    attr_valid_nsec: U32 = 0
    attr: FuseAttr = FuseAttr()


@_wire
@dataclass(frozen=True, slots=True)
class FuseEntryBpfOut(WireStruct):
    """Android ``struct fuse_entry_bpf_out`` (32 bytes): the lookup add-on block."""

    backing_action: U64 = 0
    backing_fd: U64 = 0
    bpf_action: U64 = 0
    bpf_fd: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseBpfEntryOut(WireStruct):
    """RFC v2 ``struct fuse_bpf_entry_out`` (16 bytes): one typed add-on block."""

    entry_type: U32 = 0
    unused: U32 = 0
    fd: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseForgetIn(WireStruct):
    """``struct fuse_forget_in``."""

    nlookup: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseForgetOne(WireStruct):
    """``struct fuse_forget_one``: one entry of a BATCH_FORGET."""

    nodeid: U64 = 0
    nlookup: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseBatchForgetIn(WireStruct):
    """``struct fuse_batch_forget_in``; ``count`` ``fuse_forget_one`` follow."""

    count: U32 = 0
    dummy: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseGetattrIn(WireStruct):
    """``struct fuse_getattr_in``."""

    getattr_flags: U32 = 0
    dummy: U32 = 0
    fh: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseAttrOut(WireStruct):
    """``struct fuse_attr_out`` (104 bytes)."""

    attr_valid: U64 = 0
    attr_valid_nsec: U32 = 0
    dummy: U32 = 0
    attr: FuseAttr = FuseAttr()


@_wire
@dataclass(frozen=True, slots=True)
class FuseMknodIn(WireStruct):
    """``struct fuse_mknod_in``."""

    mode: U32 = 0
    rdev: U32 = 0
    umask: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseMkdirIn(WireStruct):
    """``struct fuse_mkdir_in``."""

    mode: U32 = 0
    umask: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseRenameIn(WireStruct):
    """``struct fuse_rename_in``."""

    newdir: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseRename2In(WireStruct):
    """``struct fuse_rename2_in``."""

    newdir: U64 = 0
    flags: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseLinkIn(WireStruct):
    """``struct fuse_link_in``."""

    oldnodeid: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseSetattrIn(WireStruct):
    """``struct fuse_setattr_in`` (88 bytes)."""

    valid: U32 = 0
    padding: U32 = 0
    fh: U64 = 0
    size: U64 = 0
    lock_owner: U64 = 0
    atime: U64 = 0
    mtime: U64 = 0
    ctime: U64 = 0
    atimensec: U32 = 0
    mtimensec: U32 = 0
    ctimensec: U32 = 0
    mode: U32 = 0
    unused4: U32 = 0
    uid: U32 = 0
    gid: U32 = 0
    unused5: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseOpenIn(WireStruct):
    """``struct fuse_open_in``."""

    flags: U32 = 0
    open_flags: U32 = 0  # FUSE_OPEN_...


@_wire
@dataclass(frozen=True, slots=True)
class FuseCreateIn(WireStruct):
    """``struct fuse_create_in``."""

    flags: U32 = 0
    mode: U32 = 0
    umask: U32 = 0
    open_flags: U32 = 0  # FUSE_OPEN_...


@_wire
@dataclass(frozen=True, slots=True, init=False)
class FuseOpenOut(WireStruct):
    """``struct fuse_open_out``.

    The last word is ACK's ``passthrough_fh`` and mainline's ``int32_t backing_id``
    (7.40); either keyword sets it: ``FuseOpenOut(fh=1, open_flags=FOPEN_PASSTHROUGH,
    backing_id=bid)``.  :attr:`backing_id` reads it back as the signed mainline value.
    """

    fh: U64 = 0
    open_flags: U32 = 0
    passthrough_fh: U32 = 0

    def __init__(
        self,
        fh: int = 0,
        open_flags: int = 0,
        passthrough_fh: int = 0,
        *,
        backing_id: int | None = None,
    ) -> None:
        if backing_id is not None:
            if passthrough_fh:
                raise TypeError("FuseOpenOut: give backing_id or passthrough_fh, not both")
            passthrough_fh = backing_id & 0xFFFFFFFF  # int32_t on the wire
        object.__setattr__(self, "fh", fh)
        object.__setattr__(self, "open_flags", open_flags)
        object.__setattr__(self, "passthrough_fh", passthrough_fh)

    @property
    def backing_id(self) -> int:
        """Mainline's ``backing_id`` (the same word, signed)."""
        v = self.passthrough_fh
        return v - (1 << 32) if v >= 1 << 31 else v


@_wire
@dataclass(frozen=True, slots=True)
class FuseBackingMap(WireStruct):
    """``struct fuse_backing_map`` (mainline 7.40): ``FUSE_DEV_IOC_BACKING_OPEN``'s arg."""

    fd: S32 = 0
    flags: U32 = 0
    padding: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseReleaseIn(WireStruct):
    """``struct fuse_release_in``."""

    fh: U64 = 0
    flags: U32 = 0
    release_flags: U32 = 0
    lock_owner: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseFlushIn(WireStruct):
    """``struct fuse_flush_in``."""

    fh: U64 = 0
    unused: U32 = 0
    padding: U32 = 0
    lock_owner: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseReadIn(WireStruct):
    """``struct fuse_read_in`` (READ, READDIR, READDIRPLUS)."""

    fh: U64 = 0
    offset: U64 = 0
    size: U32 = 0
    read_flags: U32 = 0
    lock_owner: U64 = 0
    flags: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseWriteIn(WireStruct):
    """``struct fuse_write_in``; the data follows as ``bytes``."""

    fh: U64 = 0
    offset: U64 = 0
    size: U32 = 0
    write_flags: U32 = 0
    lock_owner: U64 = 0
    flags: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseWriteOut(WireStruct):
    """``struct fuse_write_out``."""

    size: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseStatfsOut(WireStruct):
    """``struct fuse_statfs_out``."""

    st: FuseKstatfs = FuseKstatfs()


@_wire
@dataclass(frozen=True, slots=True)
class FuseFsyncIn(WireStruct):
    """``struct fuse_fsync_in`` (FSYNC, FSYNCDIR)."""

    fh: U64 = 0
    fsync_flags: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseSetxattrIn(WireStruct):
    """``struct fuse_setxattr_in``, the 8-byte layout of ACK 7.33.

    Upstream 7.33 grew it to 16 bytes (``setxattr_flags``, ``padding``) but sends the 16
    bytes only after the daemon negotiated ``FUSE_SETXATTR_EXT``; the ACK 7.33 header
    has neither, so the kernel modelled here always sends these 8 bytes
    (``FUSE_COMPAT_SETXATTR_IN_SIZE``).
    """

    size: U32 = 0
    flags: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseGetxattrIn(WireStruct):
    """``struct fuse_getxattr_in`` (GETXATTR, LISTXATTR)."""

    size: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseGetxattrOut(WireStruct):
    """``struct fuse_getxattr_out``: the reply when the caller asked for the size only."""

    size: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseLkIn(WireStruct):
    """``struct fuse_lk_in`` (GETLK, SETLK, SETLKW)."""

    fh: U64 = 0
    owner: U64 = 0
    lk: FuseFileLock = FuseFileLock()
    lk_flags: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseLkOut(WireStruct):
    """``struct fuse_lk_out``."""

    lk: FuseFileLock = FuseFileLock()


@_wire
@dataclass(frozen=True, slots=True)
class FuseAccessIn(WireStruct):
    """``struct fuse_access_in``."""

    mask: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseInitIn(WireStruct):
    """``struct fuse_init_in``, ACK 7.33 layout (16 bytes; upstream 7.36+ adds ``flags2``)."""

    major: U32 = 0
    minor: U32 = 0
    max_readahead: U32 = 0
    flags: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseInitInExt(FuseInitIn):
    """``struct fuse_init_in`` of protocol 7.36+ (64 bytes): ``flags2`` and ``unused[11]``.

    What mainline sends (and what the ``variant="upstream"`` model sends); a subclass of
    :class:`FuseInitIn`, so daemons that only read ``flags`` accept both.
    """

    flags2: U32 = 0
    unused: Annotated[tuple[int, ...], ("I", 11)] = _zeros(11)


@_wire
@dataclass(frozen=True, slots=True)
class FuseInitOut(WireStruct):
    """``struct fuse_init_out`` (64 bytes).

    ACK 7.33 ends in ``unused[8]``; mainline 7.36+ uses the first two words as ``flags2``
    (read only with ``FUSE_INIT_EXT``) and, from 7.40, ``max_stack_depth`` (passthrough).
    7.43's ``request_timeout`` (u16) is the low half of ``unused[0]`` here.
    """

    major: U32 = 0
    minor: U32 = 0
    max_readahead: U32 = 0
    flags: U32 = 0
    max_background: U16 = 0
    congestion_threshold: U16 = 0
    max_write: U32 = 0
    time_gran: U32 = 0
    max_pages: U16 = 0
    map_alignment: U16 = 0
    flags2: U32 = 0
    max_stack_depth: U32 = 0
    unused: Annotated[tuple[int, ...], ("I", 6)] = _zeros(6)


def init_flags64(arg: FuseInitIn | FuseInitOut) -> int:
    """``flags | flags2 << 32`` when ``FUSE_INIT_EXT`` is set (``process_init_reply``)."""
    flags = arg.flags
    flags2 = getattr(arg, "flags2", 0)
    if flags & FUSE_INIT_EXT:
        flags |= flags2 << 32
    return flags


def split_init_flags(flags64: int) -> tuple[int, int]:
    """``(flags, flags2)`` for a 64-bit flag set; ``FUSE_INIT_EXT`` added when needed."""
    flags, flags2 = flags64 & 0xFFFFFFFF, flags64 >> 32
    if flags2:
        flags |= FUSE_INIT_EXT
    return flags, flags2


@_wire
@dataclass(frozen=True, slots=True)
class CuseInitIn(WireStruct):
    """``struct cuse_init_in``."""

    major: U32 = 0
    minor: U32 = 0
    unused: U32 = 0
    flags: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class CuseInitOut(WireStruct):
    """``struct cuse_init_out``."""

    major: U32 = 0
    minor: U32 = 0
    unused: U32 = 0
    flags: U32 = 0
    max_read: U32 = 0
    max_write: U32 = 0
    dev_major: U32 = 0
    dev_minor: U32 = 0
    spare: Annotated[tuple[int, ...], ("I", 10)] = _zeros(10)


@_wire
@dataclass(frozen=True, slots=True)
class FuseInterruptIn(WireStruct):
    """``struct fuse_interrupt_in``."""

    unique: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseBmapIn(WireStruct):
    """``struct fuse_bmap_in``."""

    block: U64 = 0
    blocksize: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseBmapOut(WireStruct):
    """``struct fuse_bmap_out``."""

    block: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseIoctlIn(WireStruct):
    """``struct fuse_ioctl_in``."""

    fh: U64 = 0
    flags: U32 = 0
    cmd: U32 = 0
    arg: U64 = 0
    in_size: U32 = 0
    out_size: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseIoctlIovec(WireStruct):
    """``struct fuse_ioctl_iovec``."""

    base: U64 = 0
    len: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseIoctlOut(WireStruct):
    """``struct fuse_ioctl_out``."""

    result: S32 = 0
    flags: U32 = 0
    in_iovs: U32 = 0
    out_iovs: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FusePollIn(WireStruct):
    """``struct fuse_poll_in``."""

    fh: U64 = 0
    kh: U64 = 0
    flags: U32 = 0
    events: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FusePollOut(WireStruct):
    """``struct fuse_poll_out``."""

    revents: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseFallocateIn(WireStruct):
    """``struct fuse_fallocate_in``."""

    fh: U64 = 0
    offset: U64 = 0
    length: U64 = 0
    mode: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseInHeader(WireStruct):
    """``struct fuse_in_header`` (40 bytes).

    ACK's ``fuse_args_to_req`` stores the request's ``error_in`` in the last word; the uapi
    header calls it ``padding`` (see :class:`FuseInPostfilterHeader`).
    """

    len: U32 = 0
    opcode: U32 = 0
    unique: U64 = 0
    nodeid: U64 = 0
    uid: U32 = 0
    gid: U32 = 0
    pid: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseInPostfilterHeader(WireStruct):
    """Android ``struct fuse_in_postfilter_header``: the in-header with ``error_in`` named."""

    len: U32 = 0
    opcode: U32 = 0
    unique: U64 = 0
    nodeid: U64 = 0
    uid: U32 = 0
    gid: U32 = 0
    pid: U32 = 0
    error_in: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseOutHeader(WireStruct):
    """``struct fuse_out_header`` (16 bytes)."""

    len: U32 = 0
    error: S32 = 0
    unique: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseNotifyInvalInodeOut(WireStruct):
    """``struct fuse_notify_inval_inode_out``."""

    ino: U64 = 0
    off: S64 = 0
    len: S64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseNotifyInvalEntryOut(WireStruct):
    """``struct fuse_notify_inval_entry_out``; the name follows."""

    parent: U64 = 0
    namelen: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseNotifyDeleteOut(WireStruct):
    """``struct fuse_notify_delete_out``; the name follows."""

    parent: U64 = 0
    child: U64 = 0
    namelen: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseLseekIn(WireStruct):
    """``struct fuse_lseek_in``."""

    fh: U64 = 0
    offset: U64 = 0
    whence: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseLseekOut(WireStruct):
    """``struct fuse_lseek_out``."""

    offset: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseCopyFileRangeIn(WireStruct):
    """``struct fuse_copy_file_range_in`` (56 bytes)."""

    fh_in: U64 = 0
    off_in: U64 = 0
    nodeid_out: U64 = 0
    fh_out: U64 = 0
    off_out: U64 = 0
    len: U64 = 0
    flags: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseCopyFileRangeOut(WireStruct):
    """Upstream 7.45 ``struct fuse_copy_file_range_out`` (COPY_FILE_RANGE_64 reply)."""

    bytes_copied: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseSyncfsIn(WireStruct):
    """Upstream 7.34 ``struct fuse_syncfs_in``."""

    padding: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseReadOut(WireStruct):
    """Android ``struct fuse_read_out`` (16 bytes): READDIR filter state."""

    offset: U64 = 0
    again: U32 = 0
    padding: U32 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseReadIterOut(WireStruct):
    """ACK ``struct fuse_read_iter_out``: the byte count a READ filter sees."""

    ret: U64 = 0


@_wire
@dataclass(frozen=True, slots=True)
class FuseWriteIterOut(WireStruct):
    """ACK ``struct fuse_write_iter_out``: the byte count a WRITE filter sees."""

    ret: U64 = 0


# --------------------------------------------------------------------------------------------
# Directory records (variable size)

#: ``offsetof(struct fuse_dirent, name)``
FUSE_NAME_OFFSET = 24
#: ``offsetof(struct fuse_direntplus, dirent.name)``
FUSE_NAME_OFFSET_DIRENTPLUS = FuseEntryOut.SIZE + FUSE_NAME_OFFSET


def FUSE_DIRENT_ALIGN(x: int) -> int:
    """Round up to the 8-byte record alignment (``FUSE_DIRENT_ALIGN``/``FUSE_REC_ALIGN``)."""
    return (x + 7) & ~7


def _fsencode(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _fsdecode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


_DIRENT_HEAD = struct.Struct("<QQII")


@dataclass(frozen=True, slots=True)
class FuseDirent:
    """``struct fuse_dirent``: one READDIR record.

    ``namelen`` is derived from ``name`` (its UTF-8 bytes; undecodable bytes round-trip
    through surrogate escapes).  ``SIZE`` is the fixed header (``FUSE_NAME_OFFSET``); a
    record's wire size is ``FUSE_DIRENT_SIZE`` = header + name rounded up to 8.
    """

    ino: int = 0
    off: int = 0
    type: int = 0
    name: str = ""

    SIZE: ClassVar[int] = FUSE_NAME_OFFSET

    @property
    def namelen(self) -> int:
        return len(_fsencode(self.name))

    @property
    def record_size(self) -> int:
        """``FUSE_DIRENT_SIZE(d)``."""
        return FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + self.namelen)

    def pack(self) -> bytes:
        raw = _fsencode(self.name)
        rec = _DIRENT_HEAD.pack(self.ino, self.off, len(raw), self.type) + raw
        return rec + b"\0" * (self.record_size - len(rec))

    @classmethod
    def unpack(cls, data: bytes) -> FuseDirent:
        """Parse one record (``data`` may extend past it)."""
        if len(data) < FUSE_NAME_OFFSET:
            raise ValueError(f"a fuse_dirent needs {FUSE_NAME_OFFSET} bytes, got {len(data)}")
        ino, off, namelen, type_ = _DIRENT_HEAD.unpack_from(data)
        end = FUSE_NAME_OFFSET + namelen
        if end > len(data):
            raise ValueError(f"fuse_dirent name of {namelen} bytes runs past the buffer")
        return cls(ino, off, type_, _fsdecode(data[FUSE_NAME_OFFSET:end]))


@dataclass(frozen=True, slots=True)
class FuseDirentplus:
    """``struct fuse_direntplus``: a READDIRPLUS record (entry + dirent)."""

    entry_out: FuseEntryOut = FuseEntryOut()
    dirent: FuseDirent = FuseDirent()

    SIZE: ClassVar[int] = FUSE_NAME_OFFSET_DIRENTPLUS

    @property
    def record_size(self) -> int:
        """``FUSE_DIRENTPLUS_SIZE(d)``."""
        return FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + self.dirent.namelen)

    def pack(self) -> bytes:
        return self.entry_out.pack() + self.dirent.pack()

    @classmethod
    def unpack(cls, data: bytes) -> FuseDirentplus:
        """Parse one record (``data`` may extend past it)."""
        if len(data) < FUSE_NAME_OFFSET_DIRENTPLUS:
            raise ValueError(
                f"a fuse_direntplus needs {FUSE_NAME_OFFSET_DIRENTPLUS} bytes, got {len(data)}"
            )
        entry = FuseEntryOut.unpack(data[: FuseEntryOut.SIZE])
        return cls(entry, FuseDirent.unpack(data[FuseEntryOut.SIZE :]))


def FUSE_DIRENT_SIZE(d: FuseDirent) -> int:
    """Bytes of one READDIR record: header + name, 8-byte aligned."""
    return d.record_size


def FUSE_DIRENTPLUS_SIZE(d: FuseDirentplus) -> int:
    """Bytes of one READDIRPLUS record: entry + dirent header + name, 8-byte aligned."""
    return d.record_size


# --------------------------------------------------------------------------------------------
# Typed wire values

#: What travels in one argument slot.
WireValue: TypeAlias = (
    WireStruct | str | bytes | list[FuseDirent] | list[FuseDirentplus] | list[FuseForgetOne]
)

#: What an argument slot is expected to hold: a struct class, ``bytes``, ``str`` (a
#: NUL-terminated string), or a record list: ``"dirents"``, ``"direntplus"``,
#: ``"forget_ones"``.
ListKind = Literal["dirents", "direntplus", "forget_ones"]
WireKind: TypeAlias = type[WireStruct] | type[bytes] | type[str] | ListKind

_LIST_KINDS: tuple[str, ...] = get_args(ListKind)


@dataclass(frozen=True, slots=True)
class OutArg:
    """One expected out-argument (the kernel's ``struct fuse_arg``): its kind and size.

    For a variable-size argument ``size`` is the most the kernel accepts (the buffer it
    offers); after a reply to an ``out_argvar`` request the connection replaces the last
    ``OutArg`` with the size actually received, as ``copy_out_args`` shrinks
    ``lastarg->size``.
    """

    kind: WireKind
    size: int

    @classmethod
    def of(cls, kind: type[WireStruct]) -> OutArg:
        """A fixed-size struct argument."""
        return cls(kind, kind.SIZE)


def _record_size(value: object) -> int:
    if isinstance(value, FuseDirent | FuseDirentplus):
        return value.record_size
    if isinstance(value, WireStruct):
        return value.SIZE
    raise TypeError(f"not a FUSE wire value: {value!r}")


def _record_bytes(value: object) -> bytes:
    if isinstance(value, WireStruct | FuseDirent | FuseDirentplus):
        return value.pack()
    raise TypeError(f"not a FUSE wire value: {value!r}")


def wire_size(value: WireValue) -> int:
    """Bytes ``value`` occupies on the wire.

    A struct is its ``SIZE``; a ``str`` name its UTF-8 length plus the NUL the kernel
    sends; ``bytes`` their length; a record list the sum of its 8-byte aligned records
    (``FUSE_DIRENT_SIZE``/``FUSE_DIRENTPLUS_SIZE``; ``fuse_forget_one`` is 16).
    """
    if isinstance(value, str):
        return len(_fsencode(value)) + 1
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, list | tuple):
        total = 0
        for item in value:
            total += _record_size(item)
        return total
    return _record_size(value)


def pack_value(value: WireValue) -> bytes:
    """The bytes of one wire value (strings NUL-terminated, records padded)."""
    if isinstance(value, str):
        return _fsencode(value) + b"\0"
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, list | tuple):
        return b"".join(_record_bytes(item) for item in value)
    return _record_bytes(value)


def _unpack_records(data: bytes, kind: str) -> list[Any]:
    out: list[Any] = []
    pos = 0
    if kind == "forget_ones":
        size = FuseForgetOne.SIZE
        if len(data) % size:
            raise ValueError(f"forget list of {len(data)} bytes is not a multiple of {size}")
        return [FuseForgetOne.unpack(data[i : i + size]) for i in range(0, len(data), size)]
    rec_type: type[FuseDirent] | type[FuseDirentplus] = (
        FuseDirent if kind == "dirents" else FuseDirentplus
    )
    # parse_dirfile/parse_dirplusfile: whole records only; a partial tail is ignored
    while len(data) - pos >= rec_type.SIZE:
        try:
            rec = rec_type.unpack(data[pos:])
        except ValueError:
            break
        if rec.record_size > len(data) - pos:
            break
        out.append(rec)
        pos += rec.record_size
    return out


def unpack_value(kind: WireKind, data: bytes) -> WireValue:
    """Convert raw bytes into the typed value ``kind`` describes.

    A struct shorter than its ``SIZE`` is zero-filled (the kernel's reply buffers start
    zeroed, and an ``out_argvar`` reply may be short); a longer one is a ``ValueError``.
    A ``str`` loses one trailing NUL if present.  Record lists keep whole records only, as
    ``parse_dirfile`` does.
    """
    data = bytes(data)
    if isinstance(kind, str):
        if kind not in _LIST_KINDS:
            raise ValueError(f"unknown wire kind {kind!r}; use one of {_LIST_KINDS}")
        return _unpack_records(data, kind)
    if kind is bytes:
        return data
    if kind is str:
        if data.endswith(b"\0"):
            data = data[:-1]
        return _fsdecode(data)
    if isinstance(kind, type) and issubclass(kind, WireStruct):
        if len(data) > kind.SIZE:
            raise ValueError(f"{kind.__name__} is {kind.SIZE} bytes, got {len(data)}")
        return kind.unpack(data + b"\0" * (kind.SIZE - len(data)))
    raise TypeError(f"not a FUSE wire kind: {kind!r}")


def kind_name(kind: WireKind) -> str:
    """A short name for a kind (``FuseEntryOut``, ``bytes``, ``dirents``...)."""
    return kind if isinstance(kind, str) else kind.__name__


def value_summary(value: WireValue, limit: int = 40) -> str:
    """A one-line description of a wire value, for traces."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bytes | bytearray):
        if len(value) <= 16:
            return repr(bytes(value))
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple):
        return f"[{len(value)} records]"
    text = repr(value)
    if len(text) > limit:
        nonzero = [
            f"{f.name}={getattr(value, f.name)!r}"
            for f in dataclasses.fields(value)  # type: ignore[arg-type]
            if getattr(value, f.name) not in (0, "", ())
        ]
        text = f"{type(value).__name__}({', '.join(nonzero)})"
    return text


# --------------------------------------------------------------------------------------------
# Names


def opcode_name(opcode: int) -> str:
    """``LOOKUP``, ``LOOKUP|PREFILTER``, ``READDIR|POSTFILTER``, ``UNKNOWN(77)``."""
    name = _OPCODE_NAMES.get(opcode)
    if name is None:
        name = _OPCODE_NAMES[opcode] = _opcode_name(opcode)
    return name


#: :func:`opcode_name`'s answers so far (a pure function of the number, asked on every
#: machine run: issue 14).
_OPCODE_NAMES: dict[int, str] = {}


def _opcode_name(opcode: int) -> str:
    try:
        return FuseOpcode(opcode).name.removeprefix("FUSE_")
    except ValueError:
        pass
    phase = opcode & (FUSE_PREFILTER | FUSE_POSTFILTER)
    base = opcode & FUSE_OPCODE_FILTER
    if phase in (FUSE_PREFILTER, FUSE_POSTFILTER) and opcode == base | phase:
        try:
            name = FuseOpcode(base).name.removeprefix("FUSE_")
        except ValueError:
            name = f"UNKNOWN({base})"
        return name + ("|PREFILTER" if phase == FUSE_PREFILTER else "|POSTFILTER")
    return f"UNKNOWN({opcode})"


def split_opcode(opcode: int) -> tuple[int, Literal["pre", "post"] | None]:
    """``(base opcode, phase)`` of a request opcode; plain opcodes have phase ``None``."""
    if opcode in _OPCODE_VALUES:
        return opcode, None
    phase = opcode & (FUSE_PREFILTER | FUSE_POSTFILTER)
    base = opcode & FUSE_OPCODE_FILTER
    if opcode == base | phase:
        if phase == FUSE_PREFILTER:
            return base, "pre"
        if phase == FUSE_POSTFILTER:
            return base, "post"
    return opcode, None


_OPCODE_VALUES = frozenset(int(op) for op in FuseOpcode)


def in_kinds_size(kinds: Sequence[WireKind | int]) -> int:
    """Sum of sizes of fixed kinds (structs) and explicit byte counts (ints)."""
    total = 0
    for k in kinds:
        if isinstance(k, int):
            total += k
        elif isinstance(k, type) and issubclass(k, WireStruct):
            total += k.SIZE
        else:
            raise TypeError(f"{k!r} has no fixed size; give the byte count instead")
    return total


# The page size of the modelled machine (arm64 Android and x86-64 both use 4 KiB).
PAGE_SIZE = 4096


# --------------------------------------------------------------------------------------------
# Timestamps on the wire (issue 12)


def time_to_wire(ns: int) -> tuple[int, int]:
    """A time in ns as ``fuse_attr``/``fuse_setattr_in`` carry it: the seconds stored into
    a ``__u64`` (a time before 1970 wraps, as the kernel's ``s64 -> u64`` assignment does)
    and the nanoseconds."""
    sec, nsec = divmod(ns, 1_000_000_000)
    return sec & 0xFFFFFFFFFFFFFFFF, nsec


def time_from_wire(sec: int, nsec: int) -> int:
    """The time in ns the kernel takes from wire seconds: ``inode_set_atime(inode,
    attr->atime, ...)`` reads the ``__u64`` as a ``time64_t`` (signed)."""
    if sec >= 1 << 63:
        sec -= 1 << 64
    return sec * 1_000_000_000 + nsec
