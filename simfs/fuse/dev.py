"""The FUSE connection, sans-IO: ``fs/fuse/dev.c``, with INIT from ``fs/fuse/inode.c``.

Sources followed: aosp-mirror/kernel_common ``fs/fuse/dev.c`` @ ``01b71f83`` (ACK, with
fuse-bpf's ``error_in``, the LOOKUP add-on ``fget`` and CANONICAL_PATH in
``fuse_dev_do_write``); ``process_init_reply``/``fuse_send_init`` from torvalds/linux
``fs/fuse/inode.c`` @ ``0078a166`` (the 5.10 generation ACK is based on), with ACK's
``FUSE_HANDLE_KILLPRIV_V2``/``FUSE_PASSTHROUGH`` additions and fuse-bpf's ``no_daemon``
patch ("fuse-bpf: allow mounting with no userspace daemon").

The filesystem code builds a :class:`FuseArgs` (the kernel's ``struct fuse_args``) and
calls :meth:`FuseConn.request` (``fuse_simple_request``) or :meth:`FuseConn.request_async`
(``fuse_simple_background`` / ``fuse_queue_forget``).  Nothing runs concurrently: a
synchronous request is handed to the daemon at once, after the asynchronous requests
queued before it (the daemon is modelled as a reader blocked in ``read(2)``, which would
have read those first); its reply is validated as ``fuse_dev_do_write`` and
``copy_out_args`` do, and the caller gets the out values or an ``OSError``.  Asynchronous
requests wait in the queue until the next synchronous request or :meth:`FuseConn.drain`,
so a scripted daemon may leave a RELEASE unread, as the Android self-test harness does.

A situation in which a real task would sleep forever (nobody reads the device, INIT never
answered, a reply the kernel rejected) raises :class:`~simfs.errors.UnansweredRequest`
instead of hanging; the request stays in :attr:`FuseConn.pending` as it would stay on the
kernel's lists, until :meth:`FuseConn.abort`.

Trace events (through :class:`simfs.trace.Hooks`): ``request`` when the daemon reads a
request and ``reply`` when it writes one (each is one user<->kernel switch, which is how
``Trace.transitions`` counts), ``protocol_error`` when the kernel rejects a reply,
``daemon_exception`` when a daemon raises, ``conn`` on every state change.
"""

from __future__ import annotations

import enum
import errno
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from simfs import uapi
from simfs.daemon import Daemon, DaemonExit, Reply, Request
from simfs.errors import ProtocolError, UnansweredRequest, UsageError
from simfs.trace import Hooks
from simfs.uapi import OutArg, WireValue

__all__ = [
    "ADMISSION",
    "ENOSYS_MEMORY_FLAGS",
    "FUSE_INT_REQ_BIT",
    "FUSE_KERNEL_INIT_FLAGS",
    "FUSE_REQ_ID_STEP",
    "TRANSITIONS",
    "Admit",
    "Caller",
    "CallerIds",
    "ConnEvent",
    "ConnState",
    "FuseArgs",
    "FuseConn",
    "OutArg",
]

# ============================================================================================
# The connection's rules, as data.


class ConnState(enum.Enum):
    """Where the connection is (``fc->initialized``, ``conn_init``, ``conn_error``,
    ``connected`` combined)."""

    NEW = "new"  # mounted, INIT not sent yet
    AWAITING_INIT = "awaiting_init"  # INIT sent, no valid reply yet (!fc->initialized)
    READY = "ready"  # INIT reply accepted (fc->conn_init)
    INIT_FAILED = "init_failed"  # INIT reply refused (fc->conn_error)
    NO_DAEMON = "no_daemon"  # fuse-bpf no_daemon mount: INIT never sent, fc->conn_error
    ABORTED = "aborted"  # !fc->connected: abort, daemon exit, unmount


class ConnEvent(enum.Enum):
    """What moves the connection."""

    SEND_INIT = "send_init"  # fuse_send_init queues FUSE_INIT
    NO_DAEMON_INIT = "no_daemon_init"  # ACK fuse_send_init: no_daemon -> init "fails" -ENOTCONN
    INIT_OK = "init_ok"  # process_init_reply: ok
    INIT_ERROR = "init_error"  # process_init_reply: error or major mismatch
    ABORT = "abort"  # fuse_abort_conn (idempotent)


S, E = ConnState, ConnEvent
#: Legal moves; anything else raises :class:`~simfs.errors.ProtocolError`.
TRANSITIONS: Mapping[ConnState, Mapping[ConnEvent, ConnState]] = {
    S.NEW: {E.SEND_INIT: S.AWAITING_INIT, E.NO_DAEMON_INIT: S.NO_DAEMON, E.ABORT: S.ABORTED},
    S.AWAITING_INIT: {E.INIT_OK: S.READY, E.INIT_ERROR: S.INIT_FAILED, E.ABORT: S.ABORTED},
    S.READY: {E.ABORT: S.ABORTED},
    S.INIT_FAILED: {E.ABORT: S.ABORTED},
    S.NO_DAEMON: {E.ABORT: S.ABORTED},
    S.ABORTED: {E.ABORT: S.ABORTED},
}


class Admit(enum.Enum):
    """What a new request meets before it reaches the device queue."""

    QUEUE = "queue"  # allocated and queued for the daemon
    WAIT_INIT = "wait_init"  # fuse_get_req sleeps until fc->initialized
    ECONNREFUSED = "econnrefused"  # fuse_get_req: fc->conn_error
    ENOTCONN = "enotconn"  # fuse_get_req / __fuse_request_send: !fc->connected


#: ``(plain, forced)`` admission per state.  A plain request goes through
#: ``fuse_get_req``; a forced one (``args->force``: INIT, FLUSH, RELEASE, DESTROY...)
#: skips it and only meets ``__fuse_request_send``'s / ``fuse_request_queue_background``'s
#: ``connected`` check.  ``None``: the state does not accept requests at all (NEW: INIT
#: goes first, ``fuse_fill_super`` sends it before the mount is visible).
ADMISSION: Mapping[ConnState, tuple[Admit, Admit] | None] = {
    S.NEW: None,
    S.AWAITING_INIT: (Admit.WAIT_INIT, Admit.QUEUE),
    S.READY: (Admit.QUEUE, Admit.QUEUE),
    S.INIT_FAILED: (Admit.ECONNREFUSED, Admit.QUEUE),
    S.NO_DAEMON: (Admit.ECONNREFUSED, Admit.QUEUE),
    S.ABORTED: (Admit.ENOTCONN, Admit.ENOTCONN),
}
del S, E

#: dev.c: ordinary requests have even ids, interrupts set the low bit of their target's.
FUSE_INT_REQ_BIT = 1
FUSE_REQ_ID_STEP = 2

#: ``fuse_send_init``'s advertised ``flags`` in the modelled ACK (7.33): the upstream
#: 5.10 set plus ``FUSE_HANDLE_KILLPRIV_V2`` and Android's ``FUSE_PASSTHROUGH``.
#: ``FUSE_MAP_ALIGNMENT`` (DAX) and ``FUSE_SUBMOUNTS`` (virtiofs) are not advertised by a
#: /dev/fuse mount.
FUSE_KERNEL_INIT_FLAGS = (
    uapi.FUSE_ASYNC_READ
    | uapi.FUSE_POSIX_LOCKS
    | uapi.FUSE_ATOMIC_O_TRUNC
    | uapi.FUSE_EXPORT_SUPPORT
    | uapi.FUSE_BIG_WRITES
    | uapi.FUSE_DONT_MASK
    | uapi.FUSE_SPLICE_WRITE
    | uapi.FUSE_SPLICE_MOVE
    | uapi.FUSE_SPLICE_READ
    | uapi.FUSE_FLOCK_LOCKS
    | uapi.FUSE_HAS_IOCTL_DIR
    | uapi.FUSE_AUTO_INVAL_DATA
    | uapi.FUSE_DO_READDIRPLUS
    | uapi.FUSE_READDIRPLUS_AUTO
    | uapi.FUSE_ASYNC_DIO
    | uapi.FUSE_WRITEBACK_CACHE
    | uapi.FUSE_NO_OPEN_SUPPORT
    | uapi.FUSE_PARALLEL_DIROPS
    | uapi.FUSE_HANDLE_KILLPRIV
    | uapi.FUSE_POSIX_ACL
    | uapi.FUSE_ABORT_ERROR
    | uapi.FUSE_MAX_PAGES
    | uapi.FUSE_CACHE_SYMLINKS
    | uapi.FUSE_NO_OPENDIR_SUPPORT
    | uapi.FUSE_EXPLICIT_INVAL_DATA
    | uapi.FUSE_HANDLE_KILLPRIV_V2
    | uapi.FUSE_PASSTHROUGH
)

#: What mainline 6.18's ``fuse_new_init``/``fuse_send_init`` offers (``flags | flags2 << 32``),
#: as read from the INIT request of this machine's kernel (7.45, CONFIG_FUSE_PASSTHROUGH=y,
#: io_uring disabled) through :mod:`simfs.live`; sent by ``variant="upstream"`` mounts in
#: a 64-byte ``fuse_init_in`` with ``FUSE_INIT_EXT``.
FUSE_UPSTREAM_INIT_FLAGS = 0x73FFFFFB | 0x5FD << 32

#: ``struct fuse_conn`` bits that fs/fuse sets when the daemon answers an opcode with
#: ``ENOSYS`` (and then stops sending it); the filesystem code owns setting them, the
#: connection only holds them.  ``no_interrupt`` is set here (interrupt reply ENOSYS);
#: ``no_lock``/``no_flock`` come from INIT.  ``no_syncfs``/``no_tmpfile``/``no_statx``
#: exist upstream only.
ENOSYS_MEMORY_FLAGS: tuple[str, ...] = (
    "no_open",  # file.c fuse_do_open: OPEN ENOSYS with FUSE_NO_OPEN_SUPPORT
    "no_opendir",  # file.c fuse_do_open: OPENDIR ENOSYS with FUSE_NO_OPENDIR_SUPPORT
    "no_fsync",  # file.c fuse_fsync
    "no_fsyncdir",  # dir.c fuse_dir_fsync
    "no_flush",  # file.c fuse_flush
    "no_setxattr",  # xattr.c fuse_setxattr
    "no_getxattr",  # xattr.c fuse_getxattr
    "no_listxattr",  # xattr.c fuse_listxattr
    "no_removexattr",  # xattr.c fuse_removexattr
    "no_access",  # dir.c fuse_access
    "no_create",  # dir.c fuse_atomic_open -> mknod + open fallback
    "no_interrupt",  # dev.c fuse_dev_do_write: interrupt reply ENOSYS
    "no_bmap",  # file.c fuse_bmap
    "no_poll",  # file.c fuse_file_poll
    "no_fallocate",  # file.c fuse_file_fallocate
    "no_rename2",  # dir.c fuse_rename2
    "no_lseek",  # file.c fuse_lseek
    "no_copy_file_range",  # file.c __fuse_copy_file_range
    "no_syncfs",  # upstream inode.c fuse_sync_fs
    "no_tmpfile",  # upstream dir.c fuse_tmpfile
    "no_statx",  # upstream dir.c fuse_do_statx
)

#: fs/fuse/fuse_i.h / inode.c defaults.
FUSE_DEFAULT_MAX_PAGES_PER_REQ = 32
FUSE_MAX_MAX_PAGES = 256
FUSE_DEFAULT_MAX_BACKGROUND = 12
FUSE_DEFAULT_CONGESTION_THRESHOLD = FUSE_DEFAULT_MAX_BACKGROUND * 3 // 4
#: mm: default bdi readahead, VM_READAHEAD_PAGES (128 KiB); fuse_send_init advertises it.
VM_READAHEAD_PAGES = 32

# ============================================================================================
# What the filesystem code hands the connection.


class Caller(Protocol):
    """The task a request is made for: ``current_fsuid()``, ``current_fsgid()``, pid."""

    @property
    def uid(self) -> int: ...

    @property
    def gid(self) -> int: ...

    @property
    def pid(self) -> int: ...


@dataclass(frozen=True, slots=True)
class CallerIds:
    """A plain :class:`Caller` (tests, or code that has only the numbers)."""

    uid: int = 0
    gid: int = 0
    pid: int = 0


@dataclass(eq=False)
class FuseArgs:
    """``struct fuse_args``: one request as the filesystem code describes it.

    ``in_args`` are typed wire values (structs, ``str`` names, ``bytes``, record lists);
    ``out_args`` the expected replies (:class:`~simfs.uapi.OutArg`).  With ``out_argvar``
    the last out-argument may come back short; the connection then replaces it with the
    size received (``copy_out_args`` shrinking ``lastarg->size``), so the caller reads the
    count from ``args.out_args[-1].size``.  ``force``: never refused for init state or
    ``conn_error``; ``nocreds``: header ids stay 0; ``noreply``: FORGET-like (no
    answer); ``background``: asynchronous (``fuse_simple_background``); ``error_in``:
    ACK writes it into the last header word.

    ``end`` (``args->end``) is called when an asynchronous request finishes, with the
    decoded values and the header error.  ``on_reply`` runs inside the daemon's write
    (``fuse_dev_do_write``), with the decoded values and the replying daemon, before the
    caller resumes: ACK resolves a LOOKUP add-on block's fds (``fget``) and
    CANONICAL_PATH's ``kern_path`` there, in the replying process.  If it raises
    ``OSError`` the request fails with that errno.
    """

    opcode: int
    nodeid: int = 0
    in_args: list[WireValue] = field(default_factory=list)
    out_args: list[OutArg] = field(default_factory=list)
    out_argvar: bool = False
    force: bool = False
    noreply: bool = False
    background: bool = False
    error_in: int = 0
    nocreds: bool = False
    end: Callable[[list[WireValue], int], None] | None = None
    on_reply: Callable[[list[WireValue], Daemon], None] | None = None
    #: RFC v2: the last out arg holds typed ``fuse_bpf_entry_out`` blocks, which only the
    #: ``FUSE_DEV_IOC_BPF_RESPONSE`` ioctl may deliver
    bpf_v2_blocks: bool = False

    @property
    def insize(self) -> int:
        """``fuse_in_header.len``: 40 + the in-arguments' wire sizes."""
        return uapi.FuseInHeader.SIZE + sum(uapi.wire_size(a) for a in self.in_args)


_EntryKind = Literal["sync", "background", "init", "interrupt"]


@dataclass(eq=False)
class _Entry:
    """A ``struct fuse_req`` in flight."""

    args: FuseArgs
    kind: _EntryKind
    uid: int
    gid: int
    pid: int
    request: Request | None = None  # set when the daemon reads it
    finished: bool = False
    error: int = 0  # out.h.error once finished
    values: list[WireValue] = field(default_factory=list)
    why_unanswered: str = ""
    why_failed: str = ""  # the note for the caller when the daemon or its reply failed it


@dataclass(frozen=True, slots=True)
class _Forget:
    """A ``struct fuse_forget_link`` on the forget list."""

    nodeid: int
    nlookup: int


def _oserror(err: int) -> OSError:
    """``OSError`` (its errno subclass) for a positive errno."""
    return OSError(err, os.strerror(err))


def _errname(err: int) -> str:
    return errno.errorcode.get(abs(err), str(err))


# ============================================================================================
# The connection.


class FuseConn:
    """``struct fuse_conn`` + its ``/dev/fuse`` device, driven without threads.

    Created by the mount code as ``FuseConn(hooks, daemon, no_daemon=...,
    init_flags_wanted=...)`` and started with :meth:`send_init`.  After INIT the
    negotiated values are attributes: ``major``, ``minor``, ``flags`` (as the daemon
    replied), ``max_write``, ``max_readahead`` (bytes), ``time_gran``, ``max_pages``,
    ``max_background``, ``congestion_threshold`` and the ``fc->`` bits
    ``process_init_reply`` sets (``async_read``, ``no_lock``, ``no_flock``,
    ``atomic_o_trunc``, ``export_support``, ``big_writes``, ``dont_mask``,
    ``auto_inval_data``, ``explicit_inval_data``, ``do_readdirplus``,
    ``readdirplus_auto``, ``async_dio``, ``writeback_cache``, ``parallel_dirops``,
    ``handle_killpriv``, ``handle_killpriv_v2``, ``posix_acl``, ``default_permissions``,
    ``cache_symlinks``, ``abort_err``, ``passthrough``), plus the ENOSYS memory bits of
    :data:`ENOSYS_MEMORY_FLAGS`, which the filesystem code sets.
    """

    # process_init_reply's fc-> bits (all 0 after fuse_conn_init's memset)
    async_read = False
    no_lock = False
    no_flock = False
    atomic_o_trunc = False
    export_support = False
    big_writes = False
    dont_mask = False
    auto_inval_data = False
    explicit_inval_data = False
    do_readdirplus = False
    readdirplus_auto = False
    async_dio = False
    writeback_cache = False
    parallel_dirops = False
    handle_killpriv = False
    handle_killpriv_v2 = False
    posix_acl = False
    default_permissions = False
    cache_symlinks = False
    abort_err = False
    passthrough = False
    # mainline passthrough (variant "upstream"): fc->passthrough, fc->max_stack_depth and
    # fc->backing_files_map (simfs.fuse.passthrough)
    passthrough_upstream = False
    max_stack_depth = 0
    no_copy_file_range_64 = False  # mainline 7.45 file.c __fuse_copy_file_range
    backing_files: Any = None
    #: which kernel's INIT this connection speaks: "ack" (7.33) or "upstream" (7.45)
    variant = "ack"
    # ENOSYS memory (ENOSYS_MEMORY_FLAGS)
    no_open = False
    no_opendir = False
    no_fsync = False
    no_fsyncdir = False
    no_flush = False
    no_setxattr = False
    no_getxattr = False
    no_listxattr = False
    no_removexattr = False
    no_access = False
    no_create = False
    no_interrupt = False
    no_bmap = False
    no_poll = False
    no_fallocate = False
    no_rename2 = False
    no_lseek = False
    no_copy_file_range = False
    no_syncfs = False
    no_tmpfile = False
    no_statx = False

    def __init__(
        self,
        hooks: Hooks | None,
        daemon: Daemon | None,
        *,
        no_daemon: bool = False,
        init_flags_wanted: int = FUSE_KERNEL_INIT_FLAGS,
        max_readahead: int = VM_READAHEAD_PAGES * uapi.PAGE_SIZE,
        clock: Any = None,
        explain: Callable[[int, str], None] | None = None,
    ) -> None:
        if no_daemon and daemon is not None:
            raise UsageError(
                "FuseConn: a no_daemon mount has no /dev/fuse; pass daemon=None with "
                "no_daemon=True, or drop no_daemon to serve requests with the daemon"
            )
        self.hooks = hooks if hooks is not None else Hooks()
        self.daemon = daemon
        self.no_daemon = no_daemon
        self.init_flags_wanted = init_flags_wanted
        self.clock = clock
        #: where a failed request's reason goes (``Kernel.explain``: a note on the
        #: caller's OSError)
        self.explain = explain
        self.init_failure = ""  # why INIT failed, for the notes of later ECONNREFUSED
        self.state = ConnState.NEW
        # fuse_conn_init / fuse_iqueue_init
        self.reqctr = 0  # fiq->reqctr: fuse_get_unique adds FUSE_REQ_ID_STEP first
        self.initialized = False
        self.conn_init = False
        self.conn_error = False
        self.major = 0
        self.minor = 0
        self.flags = 0
        self.max_write = 0
        self._ra_pages = max_readahead // uapi.PAGE_SIZE
        self.max_readahead = self._ra_pages * uapi.PAGE_SIZE
        self.max_read = 0xFFFFFFFF  # mount option max_read, default ~0
        self.time_gran = 1  # fuse_sb_defaults: s_time_gran = 1
        self.max_pages = FUSE_DEFAULT_MAX_PAGES_PER_REQ
        self.max_pages_limit = FUSE_MAX_MAX_PAGES
        self.max_background = FUSE_DEFAULT_MAX_BACKGROUND
        self.congestion_threshold = FUSE_DEFAULT_CONGESTION_THRESHOLD
        self._queue: list[_Entry | _Forget] = []  # fiq->pending, bg_queue, forget list
        self._processing: dict[int, _Entry] = {}  # fpq->processing, by unique

    # ---------------------------------------------------------------- state machine

    def _transition(self, event: ConnEvent) -> None:
        try:
            new = TRANSITIONS[self.state][event]
        except KeyError:
            raise ProtocolError(
                f"FUSE connection: event {event.name} is illegal in state {self.state.name}"
            ) from None
        old, self.state = self.state, new
        if old is not new:
            self.hooks.emit("conn", event=event.value, old=old.value, new=new.value)

    def _admit(self, args: FuseArgs, what: str) -> Admit:
        rule = ADMISSION[self.state]
        if rule is None:
            raise ProtocolError(
                f"FUSE connection: event {what} ({uapi.opcode_name(args.opcode)}) is illegal "
                f"in state {self.state.name}: call send_init() at mount, as fuse_fill_super "
                "sends FUSE_INIT before the mount is usable"
            )
        return rule[1] if args.force else rule[0]

    @property
    def reads(self) -> bool:
        """Whether a daemon is reading the device."""
        return self.daemon is not None and self.state is not ConnState.ABORTED

    @property
    def unique(self) -> int:
        """The last unique handed out (``fiq->reqctr``; the first request gets 2)."""
        return self.reqctr

    def _get_unique(self) -> int:
        # fuse_get_unique: fiq->reqctr += FUSE_REQ_ID_STEP; return fiq->reqctr
        self.reqctr += FUSE_REQ_ID_STEP
        return self.reqctr

    # ---------------------------------------------------------------- INIT

    def send_init(self) -> None:
        """``fuse_send_init``: queue FUSE_INIT and, if a daemon reads, deliver it now.

        A ``no_daemon`` mount sends nothing and fails INIT with ``-ENOTCONN`` (ACK), which
        leaves the connection in ``conn_error``: later plain requests get
        ``ECONNREFUSED``.  Without a daemon INIT stays queued and plain requests wait for
        it forever (:class:`~simfs.errors.UnansweredRequest`).
        """
        if self.no_daemon:
            # ACK fuse_send_init: no_daemon -> process_init_reply(fm, args, -ENOTCONN)
            self._transition(ConnEvent.NO_DAEMON_INIT)
            self.conn_error = True
            self.initialized = True
            return
        self._transition(ConnEvent.SEND_INIT)
        init_in: uapi.FuseInitIn
        if self.variant == "upstream":
            # mainline fuse_new_init: 7.45, flags2 with FUSE_INIT_EXT
            flags, flags2 = uapi.split_init_flags(FUSE_UPSTREAM_INIT_FLAGS)
            init_in = uapi.FuseInitInExt(
                major=uapi.FUSE_KERNEL_VERSION,
                minor=uapi.FUSE_UPSTREAM_MINOR_VERSION,
                max_readahead=self._ra_pages * uapi.PAGE_SIZE,
                flags=flags,
                flags2=flags2,
            )
        else:
            init_in = uapi.FuseInitIn(
                major=uapi.FUSE_KERNEL_VERSION,
                minor=uapi.FUSE_KERNEL_MINOR_VERSION,
                max_readahead=self._ra_pages * uapi.PAGE_SIZE,
                flags=self.init_flags_wanted,
            )
        args = FuseArgs(
            opcode=uapi.FUSE_INIT,
            in_args=[init_in],
            # fuse_send_init: out_argvar for replies of protocol < 7.5; force, nocreds
            out_args=[OutArg.of(uapi.FuseInitOut)],
            out_argvar=True,
            force=True,
            nocreds=True,
            background=True,
            end=self._init_end,
        )
        entry = _Entry(args, "init", 0, 0, 0)
        if not self.reads:
            entry.why_unanswered = "no daemon reads this connection"
            self._queue.append(entry)
            return
        self._deliver(entry)

    def _init_end(self, values: list[WireValue], error: int) -> None:
        """``process_init_reply``."""
        arg = values[0] if values else None
        ok = not error and isinstance(arg, uapi.FuseInitOut)
        # process_init_reply: error or major != FUSE_KERNEL_VERSION -> conn_error
        if ok and isinstance(arg, uapi.FuseInitOut) and arg.major == uapi.FUSE_KERNEL_VERSION:
            self._accept_init(arg)
            self.initialized = True  # fuse_set_initialized
            self._transition(ConnEvent.INIT_OK)
            self.hooks.emit(
                "conn",
                event="negotiated",
                major=self.major,
                minor=self.minor,
                flags=self.flags,
                max_write=self.max_write,
                max_readahead=self.max_readahead,
                time_gran=self.time_gran,
                max_pages=self.max_pages,
            )
            return
        self.conn_init = False
        self.conn_error = True
        self.initialized = True
        if error:
            why = f"the INIT request failed with {_errname(error)}"
        elif not isinstance(arg, uapi.FuseInitOut):
            why = "the INIT reply carried no fuse_init_out"
        else:
            why = f"the INIT reply has major {arg.major}, not {uapi.FUSE_KERNEL_VERSION}"
        daemon = type(self.daemon).__name__ if self.daemon is not None else "none"
        self.init_failure = (
            f"daemon {daemon}: {why} (process_init_reply -> conn_error), so every request "
            "on this connection fails ECONNREFUSED"
        )
        if self.state is ConnState.AWAITING_INIT:  # an abort already decided otherwise
            self._transition(ConnEvent.INIT_ERROR)

    def _accept_init(self, arg: uapi.FuseInitOut) -> None:
        """The ``ok`` branch of ``process_init_reply`` (each rule below is from it)."""
        flags = arg.flags
        # process_init_limits: only from 7.13, only non-zero values
        if arg.minor >= 13:
            if arg.max_background:
                self.max_background = arg.max_background
            if arg.congestion_threshold:
                self.congestion_threshold = arg.congestion_threshold
        if arg.minor >= 6:
            ra_pages = arg.max_readahead // uapi.PAGE_SIZE
            self.async_read = bool(flags & uapi.FUSE_ASYNC_READ)
            self.no_lock = not flags & uapi.FUSE_POSIX_LOCKS
            if arg.minor >= 17:  # process_init_reply: FLOCK_LOCKS only counts from 7.17
                self.no_flock = not flags & uapi.FUSE_FLOCK_LOCKS
            else:
                self.no_flock = not flags & uapi.FUSE_POSIX_LOCKS
            self.atomic_o_trunc = bool(flags & uapi.FUSE_ATOMIC_O_TRUNC)
            if arg.minor >= 9:  # LOOKUP has dependency on proto version
                self.export_support = bool(flags & uapi.FUSE_EXPORT_SUPPORT)
            self.big_writes = bool(flags & uapi.FUSE_BIG_WRITES)
            self.dont_mask = bool(flags & uapi.FUSE_DONT_MASK)
            if flags & uapi.FUSE_AUTO_INVAL_DATA:
                self.auto_inval_data = True
            elif flags & uapi.FUSE_EXPLICIT_INVAL_DATA:
                self.explicit_inval_data = True
            if flags & uapi.FUSE_DO_READDIRPLUS:  # READDIRPLUS_AUTO only with DO_READDIRPLUS
                self.do_readdirplus = True
                self.readdirplus_auto = bool(flags & uapi.FUSE_READDIRPLUS_AUTO)
            self.async_dio = bool(flags & uapi.FUSE_ASYNC_DIO)
            self.writeback_cache = bool(flags & uapi.FUSE_WRITEBACK_CACHE)
            self.parallel_dirops = bool(flags & uapi.FUSE_PARALLEL_DIROPS)
            self.handle_killpriv = bool(flags & uapi.FUSE_HANDLE_KILLPRIV)
            # time_gran: only a value in (0, 1s] replaces the default 1 ns
            if arg.time_gran and arg.time_gran <= 1_000_000_000:
                self.time_gran = arg.time_gran
            if flags & uapi.FUSE_POSIX_ACL:  # POSIX_ACL implies default_permissions
                self.default_permissions = True
                self.posix_acl = True
            self.cache_symlinks = bool(flags & uapi.FUSE_CACHE_SYMLINKS)
            self.abort_err = bool(flags & uapi.FUSE_ABORT_ERROR)
            if flags & uapi.FUSE_MAX_PAGES:
                self.max_pages = min(self.max_pages_limit, max(arg.max_pages, 1))
            self.handle_killpriv_v2 = bool(flags & uapi.FUSE_HANDLE_KILLPRIV_V2)
            if self.variant == "upstream":
                self._accept_passthrough_upstream(arg)
            else:
                self.passthrough = bool(flags & uapi.FUSE_PASSTHROUGH)  # ACK
        else:
            ra_pages = self.max_read // uapi.PAGE_SIZE
            self.no_lock = True
            self.no_flock = True
        # s_bdi->ra_pages = min(s_bdi->ra_pages, ra_pages)
        self._ra_pages = min(self._ra_pages, ra_pages)
        self.max_readahead = self._ra_pages * uapi.PAGE_SIZE
        self.major = arg.major
        self.minor = arg.minor  # the kernel takes the daemon's minor as is
        self.flags = flags
        # max_write: 4096 below 7.5, and never less than 4096
        self.max_write = max(4096, 4096 if arg.minor < 5 else arg.max_write)
        self.conn_init = True

    def _accept_passthrough_upstream(self, arg: uapi.FuseInitOut) -> None:
        """Mainline ``process_init_reply``: passthrough only with ``FUSE_PASSTHROUGH``
        (bit 37, via ``flags2``), a ``max_stack_depth`` in 1..FILESYSTEM_MAX_STACK_DEPTH
        and no writeback cache; otherwise silently off (BACKING_OPEN then fails EPERM)."""
        flags64 = uapi.init_flags64(arg)
        if (
            flags64 & uapi.FUSE_PASSTHROUGH_UPSTREAM
            and 0 < arg.max_stack_depth <= uapi.FILESYSTEM_MAX_STACK_DEPTH
            and not flags64 & uapi.FUSE_WRITEBACK_CACHE
        ):
            self.passthrough_upstream = True
            self.max_stack_depth = arg.max_stack_depth

    # ---------------------------------------------------------------- requests

    def _creds(self, args: FuseArgs, ctx: Caller | None) -> tuple[int, int, int]:
        if args.force and args.nocreds:
            return 0, 0, 0  # fuse_simple_request: forced + nocreds, the header ids stay 0
        if ctx is None:
            raise UsageError(
                f"FuseConn: {uapi.opcode_name(args.opcode)} needs the calling task "
                "(ctx with uid, gid, pid) unless it is forced with nocreds"
            )
        if args.force:
            # fuse_force_creds: from_kuid_munged, unmapped ids become the overflow id
            uid = 65534 if ctx.uid == 0xFFFFFFFF else ctx.uid
            gid = 65534 if ctx.gid == 0xFFFFFFFF else ctx.gid
            return uid, gid, ctx.pid
        if ctx.uid == 0xFFFFFFFF or ctx.gid == 0xFFFFFFFF:
            raise _oserror(errno.EOVERFLOW)  # fuse_get_req: unmapped uid/gid -> EOVERFLOW
        return ctx.uid, ctx.gid, ctx.pid

    def request(self, args: FuseArgs, ctx: Caller | None) -> list[WireValue]:
        """``fuse_simple_request``: send ``args`` and wait for the answer.

        Returns the decoded out-arguments (one value per ``args.out_args``; a short last
        argument of an ``out_argvar`` request is zero-filled or truncated, and
        ``args.out_args[-1].size`` then holds the size received).

        Raises ``OSError`` with the daemon's errno, ``EIO`` for a malformed reply or a
        daemon that raised, ``ECONNABORTED`` when the daemon exits while the request is
        in flight, ``ENOTCONN`` after an abort, ``ECONNREFUSED`` after a failed INIT or on
        a ``no_daemon`` mount; :class:`~simfs.errors.UnansweredRequest` where Linux would
        sleep forever.
        """
        if args.noreply or args.background:
            raise UsageError(
                f"FuseConn.request: {uapi.opcode_name(args.opcode)} is "
                f"{'noreply' if args.noreply else 'background'}; use request_async()"
            )
        if args.opcode == uapi.FUSE_INIT:
            raise UsageError("FuseConn.request: FUSE_INIT is sent by send_init()")
        # the daemon read what was queued before this request existed
        self._run_queue()
        admit = self._admit(args, "request")
        if admit is Admit.ENOTCONN:
            raise _oserror(errno.ENOTCONN)
        if admit is Admit.ECONNREFUSED:
            e = _oserror(errno.ECONNREFUSED)
            why = self.init_failure
            if self.no_daemon:
                why = (
                    f"{uapi.opcode_name(args.opcode)} (nodeid {args.nodeid}) took the classic "
                    "FUSE path on a no_daemon mount, where no daemon can answer (ACK refuses "
                    "it): give the inode a backing file and have its program return "
                    "FUSE_BPF_BACKING"
                )
            if why:
                e.add_note(why)
                if self.explain is not None:
                    self.explain(errno.ECONNREFUSED, why)
            raise e
        if admit is Admit.WAIT_INIT:
            raise UnansweredRequest(
                f"{uapi.opcode_name(args.opcode)} (nodeid {args.nodeid}) would wait forever: "
                "FUSE_INIT has not been answered and fuse_get_req sleeps until it is"
                + ("; no daemon reads this connection" if not self.reads else "")
            )
        uid, gid, pid = self._creds(args, ctx)
        entry = _Entry(args, "sync", uid, gid, pid)
        if not self.reads:
            entry.why_unanswered = "no daemon reads this connection"
            self._queue.append(entry)
        else:
            self._deliver(entry)
        return self._outcome(entry)

    def _outcome(self, entry: _Entry) -> list[WireValue]:
        if entry.finished:
            if entry.error:
                e = _oserror(-entry.error)
                if entry.why_failed:
                    e.add_note(entry.why_failed)
                raise e
            return entry.values
        req = entry.request
        where = f"unique {req.unique}, " if req is not None else ""
        why = entry.why_unanswered or (
            "the daemon read it and no reply for its unique was written"
            if req is not None
            else "it is still queued and nobody reads the connection"
        )
        raise UnansweredRequest(
            f"{uapi.opcode_name(entry.args.opcode)} ({where}nodeid {entry.args.nodeid}) is "
            f"never answered: {why}.  On Linux the caller would sleep in "
            "request_wait_answer until the connection is aborted."
        )

    def request_async(self, args: FuseArgs, ctx: Caller | None = None) -> int:
        """Queue an asynchronous request; returns 0 or the negative errno the kernel gives.

        FORGET and BATCH_FORGET go to the forget list (``fuse_queue_forget``: dropped
        after an abort, or for nodeid 0); others (RELEASE, RELEASEDIR, INTERRUPT...) are
        background requests (``fuse_simple_background``: ``-ENOTCONN`` after an abort,
        ``-ECONNREFUSED`` after a failed INIT unless forced).  They are delivered, in
        queue order, before the next synchronous request or by :meth:`drain`; queued
        FORGETs read together become one BATCH_FORGET (``fuse_read_forget``).
        """
        if args.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            self._queue_forgets(args)
            return 0
        if args.opcode == uapi.FUSE_INTERRUPT:
            entry = _Entry(args, "interrupt", 0, 0, 0)
        else:
            admit = self._admit(args, "request_async")
            if admit is Admit.ENOTCONN:
                return -errno.ENOTCONN
            if admit is Admit.ECONNREFUSED:
                return -errno.ECONNREFUSED
            if admit is Admit.WAIT_INIT:
                raise UnansweredRequest(
                    f"{uapi.opcode_name(args.opcode)} (nodeid {args.nodeid}) would wait "
                    "forever: FUSE_INIT has not been answered (fuse_get_req sleeps)"
                )
            uid, gid, pid = self._creds(args, ctx)
            entry = _Entry(args, "background", uid, gid, pid)
        entry.why_unanswered = "no daemon reads this connection"
        self._queue.append(entry)
        return 0

    def _queue_forgets(self, args: FuseArgs) -> None:
        forgets: list[_Forget] = []
        if args.opcode == uapi.FUSE_FORGET:
            arg = args.in_args[0] if args.in_args else None
            if not isinstance(arg, uapi.FuseForgetIn):
                raise UsageError("FORGET takes in_args=[uapi.FuseForgetIn(nlookup=...)]")
            forgets.append(_Forget(args.nodeid, arg.nlookup))
        else:
            ones = args.in_args[-1] if args.in_args else None
            if not isinstance(ones, list) or not all(
                isinstance(o, uapi.FuseForgetOne) for o in ones
            ):
                raise UsageError("BATCH_FORGET takes in_args ending in list[uapi.FuseForgetOne]")
            forgets.extend(
                _Forget(o.nodeid, o.nlookup) for o in ones if isinstance(o, uapi.FuseForgetOne)
            )
        for f in forgets:
            if self.state is ConnState.ABORTED:
                continue  # fuse_queue_forget: !fiq->connected -> kfree(forget)
            if f.nodeid == 0:
                continue  # ACK fuse_queue_forget: nodeid 0 (fuse-bpf inode) -> nothing to send
            self._queue.append(f)

    def drain(self) -> int:
        """Let the daemon read everything queued; returns how many messages it read."""
        return self._run_queue()

    def detach_daemon(self) -> None:
        """The daemon stops reading but keeps ``/dev/fuse`` open.

        Later synchronous requests are never answered (UnansweredRequest), asynchronous
        ones stay queued.  This is the Android harness's ``mount_fuse`` in a test without
        a daemon: the harness answers INIT itself, then nobody reads.
        """
        self.daemon = None

    @property
    def pending(self) -> list[Request]:
        """Requests not answered yet: read-but-unanswered ones, then the queue in order.

        A queued message has not been read, so it has no unique yet (0): requests take
        theirs when read, as FORGETs do in ``fuse_read_forget``.  Each queued forget is
        listed as a FORGET; read together they become one BATCH_FORGET.
        """
        out = [e.request for e in self._processing.values() if e.request is not None]
        for item in self._queue:
            if isinstance(item, _Forget):
                out.append(self._forget_request([item], 0))
            else:
                out.append(self._make_request(item, 0))
        return out

    # ---------------------------------------------------------------- the device

    def _run_queue(self) -> int:
        read = 0
        while self._queue and self.reads:
            item = self._queue.pop(0)
            if isinstance(item, _Forget):
                batch = [item]
                # fuse_read_forget: BATCH_FORGET from 7.16 when more than one is queued
                if self.minor >= 16:
                    while self._queue and isinstance(self._queue[0], _Forget):
                        nxt = self._queue.pop(0)
                        assert isinstance(nxt, _Forget)
                        batch.append(nxt)
                self._deliver_forgets(batch)
            else:
                self._deliver(item)
            read += 1
        return read

    def _make_request(self, entry: _Entry, unique: int) -> Request:
        args = entry.args
        return Request(
            unique=unique,
            opcode=args.opcode,
            nodeid=args.nodeid,
            uid=entry.uid,
            gid=entry.gid,
            pid=entry.pid,
            error_in=args.error_in,  # ACK fuse_args_to_req: req->in.h.error_in
            args=tuple(args.in_args),
            insize=args.insize,  # queue_request_and_unlock: header + fuse_len_args
            out_shapes=tuple(args.out_args),
            out_argvar=args.out_argvar,
        )

    def _forget_request(self, batch: list[_Forget], unique: int) -> Request:
        if len(batch) == 1:
            # fuse_read_single_forget
            args: tuple[WireValue, ...] = (uapi.FuseForgetIn(nlookup=batch[0].nlookup),)
            opcode, nodeid = uapi.FUSE_FORGET, batch[0].nodeid
        else:
            # fuse_read_batch_forget: header nodeid 0, count, then the fuse_forget_one array
            ones = [uapi.FuseForgetOne(nodeid=f.nodeid, nlookup=f.nlookup) for f in batch]
            args = (uapi.FuseBatchForgetIn(count=len(batch)), ones)
            opcode, nodeid = uapi.FUSE_BATCH_FORGET, 0
        insize = uapi.FuseInHeader.SIZE + sum(uapi.wire_size(a) for a in args)
        return Request(unique=unique, opcode=opcode, nodeid=nodeid, args=args, insize=insize)

    def _emit_request(self, req: Request) -> None:
        self.hooks.emit(
            "request",
            unique=req.unique,
            opcode=req.name,
            opcode_num=req.opcode,
            nodeid=req.nodeid,
            uid=req.uid,
            gid=req.gid,
            pid=req.pid,
            error_in=req.error_in,
            insize=req.insize,
            args=[uapi.value_summary(a) for a in req.args],
        )

    def _deliver_forgets(self, batch: list[_Forget]) -> None:
        daemon = self.daemon
        assert daemon is not None
        req = self._forget_request(batch, self._get_unique())
        self._emit_request(req)
        reply = self._call_daemon(daemon, req)
        if isinstance(reply, Reply):
            self._write(daemon, req, reply)  # nothing waits for it: -ENOENT to the writer

    def _deliver(self, entry: _Entry) -> None:
        """``fuse_dev_do_read`` of one request, then the daemon's answer."""
        daemon = self.daemon
        assert daemon is not None
        args = entry.args
        if entry.kind == "interrupt":
            target = args.in_args[0] if args.in_args else None
            if not isinstance(target, uapi.FuseInterruptIn):
                raise UsageError("INTERRUPT takes in_args=[uapi.FuseInterruptIn(unique=...)]")
            # fuse_read_interrupt: the target's unique with FUSE_INT_REQ_BIT, no ids
            unique = target.unique | FUSE_INT_REQ_BIT
        else:
            unique = self._get_unique()
        req = self._make_request(entry, unique)
        entry.request = req
        if daemon.read_size is not None and req.insize > daemon.read_size:
            # fuse_dev_do_read: request too large for the read buffer -> -EIO (SETXATTR -E2BIG)
            err = errno.E2BIG if args.opcode == uapi.FUSE_SETXATTR else errno.EIO
            self.hooks.emit(
                "protocol_error",
                reason=f"request of {req.insize} bytes does not fit the daemon's "
                f"{daemon.read_size}-byte read buffer",
                unique=unique,
                opcode=req.name,
                request_error=-err,
            )
            self._finish(entry, -err)
            return
        if entry.kind != "interrupt" and not args.noreply:
            self._processing[unique] = entry  # fuse_dev_do_read: onto fpq->processing
        self._emit_request(req)
        reply = self._call_daemon(daemon, req)
        if isinstance(reply, Reply):
            self._write(daemon, req, reply)
        elif reply is None:
            if not entry.finished:
                entry.why_unanswered = (
                    f"the daemon read it and never replied (its handler for {req.name} "
                    "returned None)"
                )
        elif isinstance(reply, tuple) and self._processing.get(unique) is entry:
            # simfs rule (no kernel counterpart): a daemon that raised, or answered with
            # something that is not a Reply, fails its request EIO
            del self._processing[unique]
            self._fail(entry, req, reply[1])

    def _call_daemon(
        self, daemon: Daemon, req: Request
    ) -> Reply | tuple[Literal["failed"], str] | Literal["exited"] | None:
        """Run the daemon's handler; a failure comes back as ``("failed", note)``."""
        name = type(daemon).__name__
        try:
            if req.opcode == uapi.FUSE_INIT:
                reply = daemon.init(req)
            else:
                reply = daemon.handle(req)
        except DaemonExit as e:
            self._daemon_exited(req, str(e))
            return "exited"
        except OSError as e:
            if isinstance(e.errno, int) and 0 < e.errno < 512:
                return Reply.error(e.errno)
            return "failed", self._daemon_failed(req, e, name)
        except Exception as e:
            return "failed", self._daemon_failed(req, e, name)
        if reply is not None and not isinstance(reply, Reply):
            reason = (
                f"daemon {name}, {req.name} (unique {req.unique}): the handler returned "
                f"{type(reply).__name__}, expected simfs.Reply or None; return "
                "Reply(...) or Reply.error(errno.EXXX)"
            )
            self.hooks.emit(
                "daemon_exception",
                reason=reason,
                unique=req.unique,
                opcode=req.name,
                nodeid=req.nodeid,
                exception=None,
            )
            return "failed", reason
        return reply

    def _daemon_failed(self, req: Request, exc: BaseException, name: str) -> str:
        self.hooks.emit(
            "daemon_exception",
            reason=f"{type(exc).__name__}: {exc}",
            unique=req.unique,
            opcode=req.name,
            nodeid=req.nodeid,
            exception=exc,
        )
        how = (
            f"raised OSError with errno {exc.errno!r} (a reply error must be 1..511)"
            if isinstance(exc, OSError)
            else f"raised {type(exc).__name__}: {exc}"
        )
        return (
            f"daemon {name}, {req.name} (unique {req.unique}): the handler {how}; the "
            "request fails EIO.  Return Reply.error(errno.EXXX) or raise OSError(errno) "
            "to fail it on purpose"
        )

    def reject(self, opcode: int | None, reason: str) -> OSError:
        """The filesystem code found an answer unusable (``fuse_invalid_attr``, a bad
        ``nodeid``, a dirent ``parse_dirfile`` refuses...): the ``EIO`` to raise, with a
        note naming the daemon, the opcode and the reason, also given to :attr:`explain`."""
        who = f"daemon {type(self.daemon).__name__}" if self.daemon is not None else "reply"
        where = f", {uapi.opcode_name(opcode)}" if opcode is not None else ""
        note = f"{who}{where}: {reason} -> EIO"
        if self.explain is not None:
            self.explain(errno.EIO, note)
        e = _oserror(errno.EIO)
        e.add_note(note)
        return e

    def _fail(self, entry: _Entry, req: Request | None, note: str) -> None:
        """End ``entry`` with EIO and say why to the caller (a note on its OSError)."""
        entry.why_failed = note
        if self.explain is not None:
            self.explain(errno.EIO, note)
        self._finish(entry, -errno.EIO)

    def _daemon_exited(self, req: Request | None, reason: str) -> None:
        self.hooks.emit(
            "conn",
            event="daemon_exit",
            reason=reason,
            unique=req.unique if req is not None else None,
        )
        # fuse_dev_release: the device's last fd closes -> fuse_abort_conn
        self.abort()

    def _write(self, daemon: Daemon, req: Request, reply: Reply) -> None:
        """The daemon's ``write(2)`` of ``reply`` (``fuse_dev_do_write``)."""
        unique = req.unique if reply.unique is None else reply.unique
        payload, bad = self._reply_bytes(reply, unique)
        if bad:
            # the bytes such a reply stands for cannot exist: the write is refused as a
            # malformed one (fuse_dev_do_write/copy_out_args: -EINVAL to the writer) and
            # the request it answers fails EIO, as after any rejected reply
            target = self._processing.pop(req.unique, None)
            note = (
                f"daemon {type(daemon).__name__}, {req.name} (unique {req.unique}), "
                f"reply: {bad}; the write fails EINVAL and the request EIO"
            )
            self.hooks.emit(
                "protocol_error",
                reason=bad,
                unique=req.unique,
                opcode=req.name,
                writer_errno=-errno.EINVAL,
                request_error=-errno.EIO if target is not None else None,
            )
            if target is not None:
                self._fail(target, req, note)
            try:
                daemon.write_failed(req, reply, errno.EINVAL)
            except DaemonExit as e:
                self._daemon_exited(req, str(e))
            return
        self.hooks.emit(
            "reply",
            unique=unique,
            error=reply.error,
            outsize=uapi.FuseOutHeader.SIZE + len(payload),
            opcode=req.name,
        )
        err, reason, target = self._do_write(
            daemon, unique, reply.error, payload, getattr(reply, "via_ioctl", False)
        )
        if err and target is not None and target.finished and target.error == -errno.EIO:
            note = (
                f"daemon {type(daemon).__name__}, {req.name} (unique {unique}), reply: "
                f"{reason}; the kernel rejected it (write -> {_errname(err)}) and failed "
                "the request EIO"
            )
            target.why_failed = note
            if self.explain is not None:
                self.explain(errno.EIO, note)
        if err:
            waiting = self._processing.get(req.unique)
            if waiting is not None and not waiting.why_unanswered:
                waiting.why_unanswered = (
                    f"the daemon's reply was rejected ({reason}: its write failed "
                    f"{_errname(err)}) and no other reply came"
                )
            self.hooks.emit(
                "protocol_error",
                reason=reason,
                unique=unique,
                opcode=req.name,
                writer_errno=-err,
                request_error=target.error if target is not None and target.finished else None,
            )
            try:
                daemon.write_failed(req, reply, -err)
            except DaemonExit as e:
                self._daemon_exited(req, str(e))

    @staticmethod
    def _reply_bytes(reply: Reply, unique: object) -> tuple[bytes, str]:
        """The payload of ``reply`` and ``""``, or ``b""`` and why it cannot be written
        (a header field or a struct field the wire format cannot hold)."""
        if isinstance(unique, bool) or not isinstance(unique, int) or not 0 <= unique < 2**64:
            return b"", f"header unique {unique!r} is not a u64"
        error = reply.error
        if isinstance(error, bool) or not isinstance(error, int) or not -(2**31) <= error < 2**31:
            return b"", f"header error {error!r} is not an s32"
        try:
            return reply.payload_bytes(), ""
        except (ValueError, TypeError, OverflowError, AttributeError) as e:
            return b"", f"cannot be packed: {e}"

    def _do_write(
        self, daemon: Daemon, unique: int, error: int, payload: bytes, via_ioctl: bool = False
    ) -> tuple[int, str, _Entry | None]:
        """Returns (the writer's negative errno or 0, why, the request affected)."""
        if via_ioctl and uapi.FuseOutHeader.SIZE + len(payload) > uapi.PAGE_SIZE:
            # RFC v2 fuse_dev_ioctl: FUSE_DEV_IOC_BPF_RESPONSE(N) takes N <= PAGE_SIZE
            return -errno.EINVAL, "FUSE_DEV_IOC_BPF_RESPONSE payload over PAGE_SIZE", None
        if unique == 0:
            # fuse_dev_do_write: unique 0 is a notification; fuse_notify: not modelled -> -EINVAL
            return -errno.EINVAL, f"notification (code {error}) is not modelled", None
        if error <= -512 or error > 0:
            # fuse_dev_do_write: error outside [-511, 0] -> -EINVAL, the request is untouched
            target = self._processing.get(unique & ~FUSE_INT_REQ_BIT)
            if target is not None:
                target.why_unanswered = (
                    f"its reply was rejected (error {error} is outside [-511, 0]: the write "
                    "failed EINVAL) and no other reply came"
                )
            return -errno.EINVAL, f"error {error} is outside [-511, 0]", None
        entry = self._processing.get(unique & ~FUSE_INT_REQ_BIT)
        if entry is None:
            # fuse_dev_do_write: request_find() fails -> -ENOENT
            return -errno.ENOENT, f"no request with unique {unique} awaits a reply", None
        if unique & FUSE_INT_REQ_BIT:
            # an interrupt reply: header only; ENOSYS -> fc->no_interrupt
            if payload:
                return -errno.EINVAL, "interrupt reply with payload", None
            if error == -errno.ENOSYS:
                self.no_interrupt = True
            return 0, "", None
        del self._processing[unique]
        if error:
            if payload:
                # fuse_dev_do_write: error reply must be header only -> -EINVAL, request -EIO
                self._finish(entry, -errno.EIO)
                return -errno.EINVAL, f"error reply with {len(payload)} bytes of payload", entry
            self._finish(entry, error)
            return 0, "", entry
        values, reason = self._copy_out_args(entry.args, payload)
        if values is None:
            # copy_out_args -> -EINVAL; fuse_dev_do_write then sets the request's error -EIO
            self._finish(entry, -errno.EIO)
            return -errno.EINVAL, reason, entry
        if entry.args.bpf_v2_blocks and values and values[-1] and not via_ioctl:
            # RFC v2 (patch 05/21): blocks written with plain write() -> -EINVAL, so fds
            # cannot be passed to a privileged reader by tricking it into a write; the
            # request fails as a copy_out_args failure does (inferred: -EIO)
            self._finish(entry, -errno.EIO)
            return -errno.EINVAL, "fuse_bpf_entry_out blocks need FUSE_DEV_IOC_BPF_RESPONSE", entry
        if entry.args.on_reply is not None:
            try:
                entry.args.on_reply(values, daemon)
            except OSError as e:
                self._finish(entry, -(e.errno or errno.EIO))
                return 0, "", entry
        self._finish(entry, 0, values)
        return 0, "", entry

    def _copy_out_args(self, args: FuseArgs, payload: bytes) -> tuple[list[WireValue] | None, str]:
        """``copy_out_args``: check the size, shrink an argvar last arg, decode."""
        sizes = [o.size for o in args.out_args]
        reqsize = sum(sizes)
        nbytes = len(payload)
        # copy_out_args: longer than expected, or shorter without out_argvar -> -EINVAL
        if reqsize < nbytes or (reqsize > nbytes and not args.out_argvar):
            want = f"{reqsize}" if not args.out_argvar else f"at most {reqsize}"
            return None, f"reply payload is {nbytes} bytes, expected {want}"
        if reqsize > nbytes:
            diff = reqsize - nbytes
            if diff > sizes[-1]:  # only the last argument may be short
                return None, (
                    f"reply payload is {nbytes} bytes; only the last argument may be short, "
                    f"the others need {reqsize - sizes[-1]}"
                )
            sizes[-1] -= diff
            args.out_args[-1] = replace(args.out_args[-1], size=sizes[-1])
        values: list[WireValue] = []
        pos = 0
        for out, size in zip(args.out_args, sizes, strict=True):
            try:
                values.append(uapi.unpack_value(out.kind, payload[pos : pos + size]))
            except ValueError as e:
                raise UsageError(
                    f"OutArg({uapi.kind_name(out.kind)}, {out.size}) of "
                    f"{uapi.opcode_name(args.opcode)} cannot hold {size} bytes: {e}"
                ) from None
            pos += size
        return values, ""

    def _finish(self, entry: _Entry, error: int, values: list[WireValue] | None = None) -> None:
        """``fuse_request_end``."""
        entry.finished = True
        entry.error = error
        entry.values = values if values is not None else []
        if entry.args.end is not None:
            entry.args.end(entry.values, error)

    # ---------------------------------------------------------------- abort

    def abort(self) -> None:
        """``fuse_abort_conn``: daemon death, ``umount -f``, the control file's ``abort``.

        Requests in flight or queued end with ``ECONNABORTED`` (``end_requests``); queued
        FORGETs are dropped; every later request fails ``ENOTCONN``.  Idempotent.
        """
        if self.state is ConnState.ABORTED:
            return
        self._transition(ConnEvent.ABORT)
        ended: list[_Entry] = list(self._processing.values())
        ended += [e for e in self._queue if isinstance(e, _Entry)]
        self._processing.clear()
        self._queue.clear()  # fuse_abort_conn: forgets are freed
        for entry in ended:
            self._finish(entry, -errno.ECONNABORTED)  # end_requests
