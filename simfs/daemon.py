"""The daemon's side of ``/dev/fuse``: what a userspace filesystem reads and writes.

A :class:`Daemon` is handed one :class:`Request` per ``read(2)`` of the device and answers
with one :class:`Reply` per ``write(2)``.  The connection (:mod:`simfs.fuse.dev`) does the
kernel's half: it builds the request from the filesystem's ``fuse_args``, calls the daemon,
and validates the reply exactly as ``fuse_dev_do_write`` does.

Values are typed (see :mod:`simfs.uapi`): structs are ``uapi`` dataclasses, names are
``str``, data is ``bytes``, directory buffers are ``list[uapi.FuseDirent]``.  A daemon that
wants to speak raw bytes (as the Android self-test harness does) replies with
:meth:`Reply.raw`; the connection decodes the bytes into the kinds the kernel expects.
"""

from __future__ import annotations

import abc
import errno as errno_mod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, overload

from simfs import uapi
from simfs.errors import UsageError
from simfs.uapi import OutArg, WireValue

__all__ = ["Daemon", "DaemonExit", "Reply", "Request"]


@dataclass(frozen=True, slots=True)
class Request:
    """One request as ``read(2)`` on ``/dev/fuse`` delivers it.

    ``opcode`` is the header's opcode, including ``FUSE_PREFILTER``/``FUSE_POSTFILTER``
    on fuse-bpf filter requests (:attr:`base_opcode` and :attr:`phase` split it).
    ``error_in`` is ACK's last header word as a signed errno (0 for plain and prefilter
    requests).  ``args`` are the typed in-arguments in wire order; ``insize`` is the
    header's ``len`` (40 + the arguments' wire sizes).  ``out_shapes`` says what the
    kernel expects back: one :class:`~simfs.uapi.OutArg` per out-argument, and
    ``out_argvar`` whether the last may be short.
    """

    unique: int
    opcode: int
    nodeid: int
    uid: int = 0
    gid: int = 0
    pid: int = 0
    error_in: int = 0
    args: tuple[WireValue, ...] = ()
    insize: int = uapi.FuseInHeader.SIZE
    out_shapes: tuple[OutArg, ...] = ()
    out_argvar: bool = False

    @property
    def base_opcode(self) -> int:
        """The opcode without filter bits (``opcode & FUSE_OPCODE_FILTER`` for filters)."""
        return uapi.split_opcode(self.opcode)[0]

    @property
    def phase(self) -> Literal["pre", "post"] | None:
        """``"pre"``/``"post"`` for a fuse-bpf filter request, ``None`` otherwise."""
        return uapi.split_opcode(self.opcode)[1]

    @property
    def name(self) -> str:
        """The opcode's name as traces show it (``LOOKUP``, ``OPEN|POSTFILTER``)."""
        return uapi.opcode_name(self.opcode)

    @property
    def header(self) -> uapi.FuseInHeader:
        """The ``fuse_in_header`` the daemon would read (``error_in`` in the last word)."""
        return uapi.FuseInHeader(
            len=self.insize,
            opcode=self.opcode,
            unique=self.unique,
            nodeid=self.nodeid,
            uid=self.uid,
            gid=self.gid,
            pid=self.pid,
            padding=self.error_in & 0xFFFFFFFF,
        )

    def to_bytes(self) -> bytes:
        """The request exactly as ``read(2)`` returns it (header + packed arguments)."""
        return self.header.pack() + b"".join(uapi.pack_value(a) for a in self.args)


class _ErrorField:
    """``Reply.error``: the constructor on the class, the header's ``error`` on a reply."""

    @overload
    def __get__(self, obj: None, objtype: type[Reply]) -> Callable[[int], Reply]: ...

    @overload
    def __get__(self, obj: Reply, objtype: type[Reply] | None = None) -> int: ...

    def __get__(
        self, obj: Reply | None, objtype: type[Reply] | None = None
    ) -> int | Callable[[int], Reply]:
        if obj is None:
            return Reply._error_reply
        return obj._error


class Reply:
    """What a daemon writes back.

    - ``Reply(*out_args)``: success with typed out-arguments (``Reply(FuseEntryOut(...))``).
    - ``Reply.error(errno.ENOENT)``: an error reply; the positive errno is stored as the
      header's negative ``error`` (``Reply.error(2).error == -2``).
    - ``Reply.raw(b"...")``: a raw payload, decoded by the kernel side into the kinds it
      expects; ``error=`` and ``unique=`` write arbitrary header values (to model a
      misbehaving daemon: a positive error, an unknown unique, an error with payload).
    - ``Reply.none()``: success with no payload (header only).
    - ``Reply.bpf_response(*out_args)``: the same reply delivered with the RFC v2 ioctl
      ``FUSE_DEV_IOC_BPF_RESPONSE(N)`` instead of ``write(2)``; the only way an RFC v2
      LOOKUP reply may carry typed ``FuseBpfEntryOut`` blocks (spec §6.4, §7.3).

    ``unique`` defaults to the request's (``None``).  :attr:`outsize` is the byte count of
    the ``write(2)``, header included, as libfuse's debug log prints it.
    """

    __slots__ = ("_error", "args", "payload", "unique", "via_ioctl")

    error = _ErrorField()

    def __init__(self, *args: WireValue, unique: int | None = None) -> None:
        for a in args:
            uapi.wire_size(a)  # TypeError early for a non-wire value
        self.args: tuple[WireValue, ...] = args
        self.payload: bytes | None = None
        self._error = 0
        self.unique = unique
        self.via_ioctl = False

    @classmethod
    def bpf_response(cls, *args: WireValue, unique: int | None = None) -> Reply:
        """A reply written with ``ioctl(FUSE_DEV_IOC_BPF_RESPONSE(N))`` (RFC v2)."""
        r = cls(*args, unique=unique)
        r.via_ioctl = True
        return r

    @classmethod
    def _error_reply(cls, errno_value: int) -> Reply:
        if not isinstance(errno_value, int) or errno_value <= 0:
            raise UsageError(
                f"Reply.error() takes a positive errno (e.g. errno.ENOENT), got {errno_value!r}; "
                "for a success without payload use Reply.none(), to write a crafted header "
                "value use Reply.raw(b'', error=...)"
            )
        r = cls()
        r._error = -errno_value
        return r

    @classmethod
    def raw(cls, payload: bytes, *, error: int = 0, unique: int | None = None) -> Reply:
        """A reply whose payload is given as bytes; ``error`` is written as is."""
        r = cls(unique=unique)
        r.payload = bytes(payload)
        r._error = error
        return r

    @classmethod
    def none(cls) -> Reply:
        """A success reply with no payload (the harness's "empty reply")."""
        return cls()

    def payload_bytes(self) -> bytes:
        """The payload exactly as written after the 16-byte header."""
        if self.payload is not None:
            return self.payload
        return b"".join(uapi.pack_value(a) for a in self.args)

    @property
    def payload_size(self) -> int:
        if self.payload is not None:
            return len(self.payload)
        return sum(uapi.wire_size(a) for a in self.args)

    @property
    def outsize(self) -> int:
        """Bytes written: the 16-byte ``fuse_out_header`` plus the payload."""
        return uapi.FuseOutHeader.SIZE + self.payload_size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reply):
            return NotImplemented
        return (self._error, self.unique, self.payload_bytes()) == (
            other._error,
            other.unique,
            other.payload_bytes(),
        )

    def __hash__(self) -> int:
        return hash((self._error, self.unique, self.payload_bytes()))

    def __repr__(self) -> str:
        extra = "" if self.unique is None else f", unique={self.unique}"
        if self.payload is not None:
            err = f", error={self._error}" if self._error else ""
            return f"Reply.raw({self.payload!r}{err}{extra})"
        if self._error:
            name = errno_mod.errorcode.get(-self._error, str(-self._error))
            return f"Reply.error({name}){extra}"
        inner = ", ".join(uapi.value_summary(a) for a in self.args)
        return f"Reply({inner}{extra})"


class DaemonExit(Exception):
    """Raised by a daemon to exit: its ``/dev/fuse`` fd closes and the connection aborts.

    ``fuse_dev_release`` ends the requests in flight with ``ECONNABORTED`` and
    ``fuse_abort_conn`` makes every later request fail ``ENOTCONN``.
    """


class Daemon(abc.ABC):
    """Base class of simulated FUSE daemons.

    Subclasses implement :meth:`handle`; returning ``None`` means "read the request and
    never answer" (correct for FORGET/BATCH_FORGET, a hang for anything else).  Raising
    ``OSError`` replies with its errno; raising :class:`DaemonExit` makes the daemon exit;
    raising anything else fails the request with ``EIO`` and is traced as a
    ``daemon_exception`` (the simulator stays usable).

    The INIT handshake goes to :meth:`init`, which by default answers like the Android
    self-test harness (``mount_fuse``): ``max_readahead`` 4096, ``flags`` 0,
    ``max_write`` 4096, ``time_gran`` 1000, ``max_pages`` 12, ``map_alignment`` 4096, the
    kernel's major/minor echoed.  The keyword arguments (or class attributes of a
    subclass) change those values.

    ``proc`` is the simulated process the daemon runs as; the mount code hands it over
    with :meth:`attach`.  A daemon opens backing files and loads BPF programs through it.
    Served on the real kernel (:mod:`simfs.live`), ``proc`` is an
    :class:`~simfs.live.osproc.OsProcess` with the same method names over :mod:`os`.

    ``init_flags`` may hold 64-bit INIT flags: bits 32..63 go out in ``flags2`` with
    ``FUSE_INIT_EXT`` (mainline 7.36+).  ``max_stack_depth`` is mainline's passthrough
    stacking depth (answered with ``FUSE_PASSTHROUGH_UPSTREAM``; 0 means no passthrough).
    ``dev`` is the daemon's ``/dev/fuse`` (:meth:`attach_device`), which carries the
    device ioctls :meth:`backing_open` and :meth:`backing_close`.
    """

    proc: Any = None
    dev: Any = None
    init_flags: int = 0
    max_stack_depth: int = 0
    max_readahead: int = 4096
    max_write: int = 4096
    time_gran: int = 1000
    max_pages: int = 12
    map_alignment: int = 4096
    max_background: int = 0
    congestion_threshold: int = 0
    #: Size of the buffer the daemon reads into (``None``: always big enough).  A request
    #: longer than this fails ``EIO`` (``E2BIG`` for SETXATTR) without reaching the daemon.
    read_size: int | None = None

    def __init__(
        self,
        *,
        init_flags: int | None = None,
        max_readahead: int | None = None,
        max_write: int | None = None,
        time_gran: int | None = None,
        max_pages: int | None = None,
        map_alignment: int | None = None,
        read_size: int | None = None,
    ) -> None:
        if init_flags is not None:
            self.init_flags = init_flags
        if max_readahead is not None:
            self.max_readahead = max_readahead
        if max_write is not None:
            self.max_write = max_write
        if time_gran is not None:
            self.time_gran = time_gran
        if max_pages is not None:
            self.max_pages = max_pages
        if map_alignment is not None:
            self.map_alignment = map_alignment
        if read_size is not None:
            self.read_size = read_size

    def attach(self, proc: Any) -> None:
        """Give the daemon the simulated process it runs as (``self.proc``)."""
        self.proc = proc

    def attach_device(self, dev: Any) -> None:
        """Give the daemon its open ``/dev/fuse`` (``self.dev``): an object with
        ``backing_open(fd, flags)`` and ``backing_close(backing_id)``."""
        self.dev = dev

    def backing_open(self, fd: int, flags: int = 0) -> int:
        """``ioctl(devfd, FUSE_DEV_IOC_BACKING_OPEN)`` (mainline 6.9+): register the file
        open as ``fd`` in the daemon's process as a backing file; returns its id, for a
        ``FuseOpenOut(open_flags=FOPEN_PASSTHROUGH, backing_id=id)`` reply.

        Raises ``OSError`` as the kernel's ``fuse_backing_open`` does (EPERM without
        negotiated passthrough or CAP_SYS_ADMIN, EBADF, EISDIR/EINVAL for a file that is
        not regular, ELOOP beyond ``max_stack_depth``).
        """
        if self.dev is None:
            raise UsageError(
                "Daemon.backing_open: the daemon has no /dev/fuse yet; call it while serving "
                "requests of a mount (k.mount_fuse(..., daemon=d) or simfs.live.run_live)"
            )
        return int(self.dev.backing_open(fd, flags))

    def backing_close(self, backing_id: int) -> None:
        """``ioctl(devfd, FUSE_DEV_IOC_BACKING_CLOSE, &backing_id)``: drop the id (files
        already opened with it keep their backing file).  EINVAL for an id <= 0, ENOENT
        for one that is not open."""
        if self.dev is None:
            raise UsageError(
                "Daemon.backing_close: the daemon has no /dev/fuse yet; call it while serving "
                "requests of a mount"
            )
        self.dev.backing_close(backing_id)

    @abc.abstractmethod
    def handle(self, req: Request) -> Reply | None:
        """Answer one request (``None``: read it and never reply)."""

    def init_reply(self, req: Request) -> Reply:
        """The default FUSE_INIT answer (see the class docstring)."""
        init_in = req.args[0] if req.args else None
        minor = uapi.FUSE_KERNEL_MINOR_VERSION
        if isinstance(init_in, uapi.FuseInitIn):
            minor = min(init_in.minor, minor)
        flags, flags2 = uapi.split_init_flags(self.init_flags)
        return Reply(
            uapi.FuseInitOut(
                major=uapi.FUSE_KERNEL_VERSION,
                minor=minor,
                max_readahead=self.max_readahead,
                flags=flags,
                flags2=flags2,
                max_stack_depth=self.max_stack_depth,
                max_background=self.max_background,
                congestion_threshold=self.congestion_threshold,
                max_write=self.max_write,
                time_gran=self.time_gran,
                max_pages=self.max_pages,
                map_alignment=self.map_alignment,
            )
        )

    def init(self, req: Request) -> Reply | None:
        """Answer FUSE_INIT (override to negotiate differently, or route to :meth:`handle`)."""
        return self.init_reply(req)

    def write_failed(self, req: Request, reply: Reply, errno_value: int) -> None:
        """Called when the ``write(2)`` of ``reply`` failed with ``errno_value``.

        ``fuse_dev_do_write`` rejects a reply with ``EINVAL`` (bad error value, bad size)
        or ``ENOENT`` (no request with that unique).  The default ignores it, as libfuse
        does; raise :class:`DaemonExit` to model a daemon that exits on a failed write.
        """
        return None
