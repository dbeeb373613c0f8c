"""simfs.fuse.dev: the FUSE connection, driven directly with hand-built fuse_args."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest

from simfs import uapi
from simfs.daemon import Daemon, DaemonExit, Reply, Request
from simfs.errors import ProtocolError, UnansweredRequest, UsageError
from simfs.fuse.dev import (
    ENOSYS_MEMORY_FLAGS,
    FUSE_KERNEL_INIT_FLAGS,
    CallerIds,
    ConnState,
    FuseArgs,
    FuseConn,
    OutArg,
)
from simfs.trace import Hooks, Trace
from simfs.uapi import FuseAttrOut, FuseEntryOut, FuseGetattrIn, FuseOpenIn, FuseOpenOut

ALICE = CallerIds(uid=1000, gid=1001, pid=42)

Handler = Callable[[Request], Reply | None]


class Toy(Daemon):
    """Answers with ``fn(req)`` (default: an empty reply) and records what it saw."""

    def __init__(self, fn: Handler | None = None, **kw: int) -> None:
        super().__init__(**kw)
        self.fn = fn
        self.seen: list[Request] = []
        self.write_errors: list[tuple[int, int]] = []

    def init(self, req: Request) -> Reply | None:
        self.seen.append(req)
        return super().init(req)

    def handle(self, req: Request) -> Reply | None:
        self.seen.append(req)
        return self.fn(req) if self.fn is not None else Reply.none()

    def write_failed(self, req: Request, reply: Reply, errno_value: int) -> None:
        self.write_errors.append((req.unique, errno_value))

    @property
    def opcodes(self) -> list[str]:
        return [r.name for r in self.seen]


def mount(daemon: Daemon | None, **kw: object) -> tuple[FuseConn, Trace]:
    hooks = Hooks()
    trace = Trace()
    hooks.add(trace)
    conn = FuseConn(hooks, daemon, **kw)  # type: ignore[arg-type]
    conn.send_init()
    return conn, trace


def getattr_args(nodeid: int = 1) -> FuseArgs:
    return FuseArgs(uapi.FUSE_GETATTR, nodeid, [FuseGetattrIn()], [OutArg.of(FuseAttrOut)])


def release_args(nodeid: int = 2, fh: int = 1) -> FuseArgs:
    # fuse_prepare_release: forced, nocreds, background
    return FuseArgs(
        uapi.FUSE_RELEASE,
        nodeid,
        [uapi.FuseReleaseIn(fh=fh)],
        force=True,
        nocreds=True,
        background=True,
    )


def forget_args(nodeid: int, nlookup: int = 1) -> FuseArgs:
    return FuseArgs(uapi.FUSE_FORGET, nodeid, [uapi.FuseForgetIn(nlookup=nlookup)], noreply=True)


def attr_reply(req: Request) -> Reply | None:
    if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
        return None  # no reply to a forget
    if req.opcode == uapi.FUSE_GETATTR:
        return Reply(FuseAttrOut(attr_valid=1, attr=uapi.FuseAttr(ino=req.nodeid, mode=0o40755)))
    return Reply.none()


# --------------------------------------------------------------------------------------------
# INIT


def test_init_request_is_what_fuse_send_init_sends() -> None:
    d = Toy()
    conn, _ = mount(d)
    (init,) = d.seen
    assert init.opcode == uapi.FUSE_INIT
    assert init.unique == 2  # fuse_get_unique: reqctr starts at 0, += 2 before use
    assert (init.nodeid, init.uid, init.gid, init.pid) == (0, 0, 0, 0)  # nocreds
    assert init.args == (
        uapi.FuseInitIn(major=7, minor=33, max_readahead=131072, flags=FUSE_KERNEL_INIT_FLAGS),
    )
    assert init.insize == 40 + 16
    assert FUSE_KERNEL_INIT_FLAGS & uapi.FUSE_DO_READDIRPLUS
    assert FUSE_KERNEL_INIT_FLAGS & uapi.FUSE_PASSTHROUGH  # ACK advertises it
    assert not FUSE_KERNEL_INIT_FLAGS & uapi.FUSE_MAP_ALIGNMENT
    assert conn.state is ConnState.READY


def test_harness_init_reply_negotiates_like_process_init_reply() -> None:
    conn, _ = mount(Toy())
    assert (conn.major, conn.minor, conn.flags) == (7, 33, 0)
    assert conn.max_write == 4096
    assert conn.max_readahead == 4096  # min(kernel's 128 KiB, daemon's 4096)
    assert conn.time_gran == 1000
    assert conn.max_pages == 32  # max_pages 12 is ignored without FUSE_MAX_PAGES
    assert conn.no_lock and conn.no_flock  # flags 0: no POSIX_LOCKS / FLOCK_LOCKS
    assert not conn.do_readdirplus and not conn.readdirplus_auto
    assert conn.conn_init and conn.initialized and not conn.conn_error


def test_init_flags_negotiation() -> None:
    flags = (
        uapi.FUSE_DO_READDIRPLUS
        | uapi.FUSE_READDIRPLUS_AUTO
        | uapi.FUSE_MAX_PAGES
        | uapi.FUSE_POSIX_LOCKS
        | uapi.FUSE_POSIX_ACL
        | uapi.FUSE_WRITEBACK_CACHE
    )
    conn, _ = mount(Toy(init_flags=flags, max_pages=300, max_write=1024, time_gran=0))
    assert conn.flags == flags
    assert conn.do_readdirplus and conn.readdirplus_auto
    assert conn.max_pages == 256  # min(max_pages_limit, max(arg, 1))
    assert conn.max_write == 4096  # never below 4096
    assert conn.time_gran == 1  # 0 keeps the default
    assert not conn.no_lock and conn.no_flock  # 7.17+: flock needs FUSE_FLOCK_LOCKS
    assert conn.posix_acl and conn.default_permissions  # POSIX_ACL implies it
    assert conn.writeback_cache


def test_readdirplus_auto_needs_do_readdirplus() -> None:
    conn, _ = mount(Toy(init_flags=uapi.FUSE_READDIRPLUS_AUTO))
    assert not conn.do_readdirplus and not conn.readdirplus_auto


def test_old_minor_is_taken_as_replied() -> None:
    class Old(Toy):
        def init(self, req: Request) -> Reply:
            return Reply(
                uapi.FuseInitOut(major=7, minor=12, max_write=8192, flags=uapi.FUSE_POSIX_LOCKS)
            )

    conn, _ = mount(Old())
    assert conn.minor == 12  # fc->minor = arg->minor
    assert not conn.no_flock  # before 7.17 flock follows POSIX_LOCKS
    assert conn.max_write == 8192


def test_short_compat_init_reply_is_accepted() -> None:
    class Compat(Toy):
        def init(self, req: Request) -> Reply:
            # FUSE_COMPAT_22_INIT_OUT_SIZE bytes: out_argvar allows a short reply
            return Reply.raw(uapi.FuseInitOut(major=7, minor=22, max_write=65536).pack()[:24])

    conn, _ = mount(Compat())
    assert conn.state is ConnState.READY
    assert (conn.minor, conn.max_write, conn.time_gran) == (22, 65536, 1)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(uapi.FuseInitOut(major=8, minor=0)),  # major mismatch
        Reply.error(errno.EPROTO),  # error reply
        Reply.raw(bytes(65)),  # longer than fuse_init_out
    ],
    ids=["major", "error", "too-long"],
)
def test_bad_init_reply_sets_conn_error(reply: Reply) -> None:
    class Bad(Toy):
        def init(self, req: Request) -> Reply:
            return reply

    d = Bad(attr_reply)
    conn, _ = mount(d)
    assert conn.state is ConnState.INIT_FAILED
    assert conn.conn_error and not conn.conn_init
    # fuse_get_req: conn_error -> ECONNREFUSED, the daemon sees nothing
    with pytest.raises(ConnectionRefusedError):
        conn.request(getattr_args(), ALICE)
    assert d.seen == []
    # a forced request skips fuse_get_req and still reaches the daemon
    flush = FuseArgs(uapi.FUSE_FLUSH, 2, [uapi.FuseFlushIn(fh=1)], force=True)
    assert conn.request(flush, ALICE) == []
    assert d.opcodes == ["FLUSH"]


def test_state_machine_refuses_illegal_moves() -> None:
    conn = FuseConn(Hooks(), Toy())
    with pytest.raises(ProtocolError, match=r"request .*illegal in state NEW"):
        conn.request(getattr_args(), ALICE)
    conn.send_init()
    with pytest.raises(ProtocolError, match="SEND_INIT is illegal in state READY"):
        conn.send_init()


# --------------------------------------------------------------------------------------------
# requests and unique ids


def test_round_trip_unique_ids_creds_and_decoding() -> None:
    d = Toy(attr_reply)
    conn, trace = mount(d)
    out = conn.request(getattr_args(1), ALICE)
    assert out == [FuseAttrOut(attr_valid=1, attr=uapi.FuseAttr(ino=1, mode=0o40755))]
    out = conn.request(getattr_args(5), ALICE)
    assert [r.unique for r in d.seen] == [2, 4, 6]
    req = d.seen[-1]
    assert (req.nodeid, req.uid, req.gid, req.pid) == (5, 1000, 1001, 42)
    assert req.insize == 40 + 16
    assert req.out_shapes == (OutArg(FuseAttrOut, 104),)
    assert conn.unique == 6
    assert trace.request_opcodes() == ["INIT", "GETATTR", "GETATTR"]
    assert [e["outsize"] for e in trace.of("reply")] == [16 + 64, 16 + 104, 16 + 104]


def test_raw_reply_is_decoded_into_the_expected_kinds() -> None:
    entry = FuseEntryOut(nodeid=2, generation=1, attr=uapi.FuseAttr(ino=100, size=4))
    d = Toy(lambda req: Reply.raw(entry.pack()))
    conn, _ = mount(d)
    args = FuseArgs(uapi.FUSE_LOOKUP, 1, ["test"], [OutArg.of(FuseEntryOut)])
    assert conn.request(args, ALICE) == [entry]
    assert d.seen[-1].args == ("test",)
    assert d.seen[-1].insize == 45


def test_error_in_reaches_the_daemon_in_the_last_header_word() -> None:
    d = Toy(lambda req: Reply(FuseEntryOut()))
    conn, _ = mount(d)
    op = uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER
    args = FuseArgs(
        op,
        1,
        ["x", FuseEntryOut(), uapi.FuseEntryBpfOut()],
        [OutArg.of(FuseEntryOut)],
        error_in=-errno.ENOENT,
    )
    conn.request(args, ALICE)
    req = d.seen[-1]
    assert (req.error_in, req.phase, req.base_opcode) == (-2, "post", uapi.FUSE_LOOKUP)
    assert req.name == "LOOKUP|POSTFILTER"
    assert req.insize == 40 + 2 + 128 + 32
    raw = req.to_bytes()
    assert len(raw) == req.insize
    hdr = uapi.FuseInPostfilterHeader.unpack(raw[:40])
    assert hdr.error_in == 0xFFFFFFFE and hdr.opcode == op


def test_daemon_oserror_becomes_an_error_reply() -> None:
    def fn(req: Request) -> Reply:
        raise FileNotFoundError(errno.ENOENT, "no")

    conn, trace = mount(Toy(fn))
    with pytest.raises(FileNotFoundError):
        conn.request(getattr_args(), ALICE)
    assert trace.of("reply")[-1]["error"] == -errno.ENOENT


def test_error_reply_reaches_the_caller() -> None:
    conn, _ = mount(Toy(lambda req: Reply.error(errno.EACCES)))
    with pytest.raises(PermissionError) as info:
        conn.request(getattr_args(), ALICE)
    assert info.value.errno == errno.EACCES


def test_largest_valid_error_is_passed_through() -> None:
    conn, _ = mount(Toy(lambda req: Reply.raw(b"", error=-511)))
    with pytest.raises(OSError) as info:
        conn.request(getattr_args(), ALICE)
    assert info.value.errno == 511


def test_creds_rules() -> None:
    d = Toy()
    conn, _ = mount(d)
    with pytest.raises(OSError) as info:  # fuse_get_req: unmapped uid -> EOVERFLOW
        conn.request(getattr_args(), CallerIds(uid=0xFFFFFFFF, gid=0, pid=1))
    assert info.value.errno == errno.EOVERFLOW
    flush = FuseArgs(uapi.FUSE_FLUSH, 2, [uapi.FuseFlushIn()], force=True)
    conn.request(flush, CallerIds(uid=0xFFFFFFFF, gid=5, pid=7))  # fuse_force_creds munges
    assert (d.seen[-1].uid, d.seen[-1].gid, d.seen[-1].pid) == (65534, 5, 7)
    with pytest.raises(UsageError):
        conn.request(getattr_args(), None)


def test_on_reply_runs_inside_the_write() -> None:
    calls: list[tuple[list[uapi.WireValue], Daemon]] = []
    d = Toy(lambda req: Reply(FuseEntryOut(nodeid=3), uapi.FuseEntryBpfOut(backing_fd=9)))
    conn, _ = mount(d)
    args = FuseArgs(
        uapi.FUSE_LOOKUP,
        1,
        ["a"],
        [OutArg.of(FuseEntryOut), OutArg.of(uapi.FuseEntryBpfOut)],
        out_argvar=True,
        on_reply=lambda v, dm: calls.append((v, dm)),
    )
    out = conn.request(args, ALICE)
    assert calls == [(out, d)]

    def refuse(values: list[uapi.WireValue], daemon: Daemon) -> None:
        raise FileNotFoundError(errno.ENOENT, "kern_path")

    args.on_reply = refuse
    with pytest.raises(FileNotFoundError):
        conn.request(args, ALICE)


# --------------------------------------------------------------------------------------------
# reply validation (fuse_dev_do_write, copy_out_args)


def test_reply_longer_than_expected_fails_eio_and_the_write_einval() -> None:
    d = Toy(lambda req: Reply.raw(bytes(105)))
    conn, trace = mount(d)
    with pytest.raises(OSError) as info:
        conn.request(getattr_args(), ALICE)
    assert info.value.errno == errno.EIO
    assert d.write_errors == [(4, errno.EINVAL)]
    (pe,) = trace.of("protocol_error")
    assert pe["writer_errno"] == errno.EINVAL and pe["request_error"] == -errno.EIO
    assert conn.pending == []  # the request ended


def test_short_reply_without_argvar_fails_eio() -> None:
    conn, _ = mount(Toy(lambda req: Reply.none()))
    with pytest.raises(OSError) as info:
        conn.request(getattr_args(), ALICE)
    assert info.value.errno == errno.EIO


def test_argvar_shrinks_only_the_last_argument() -> None:
    data = b"0123456789"
    conn, _ = mount(Toy(lambda req: Reply.raw(data[: req.args[0].size])))  # type: ignore[union-attr]
    args = FuseArgs(
        uapi.FUSE_READ, 2, [uapi.FuseReadIn(size=4)], [OutArg(bytes, 4096)], out_argvar=True
    )
    assert conn.request(args, ALICE) == [b"0123"]
    assert args.out_args[-1].size == 4  # copy_out_args: lastarg->size -= diffsize

    # a classic LOOKUP reply without the fuse-bpf block: the block comes back empty
    conn2, _ = mount(Toy(lambda req: Reply(FuseEntryOut(nodeid=7))))
    lookup = FuseArgs(
        uapi.FUSE_LOOKUP,
        1,
        ["a"],
        [OutArg.of(FuseEntryOut), OutArg.of(uapi.FuseEntryBpfOut)],
        out_argvar=True,
    )
    assert conn2.request(lookup, ALICE) == [FuseEntryOut(nodeid=7), uapi.FuseEntryBpfOut()]
    assert lookup.out_args[1].size == 0


def test_argvar_cannot_shorten_earlier_arguments() -> None:
    conn, _ = mount(Toy(lambda req: Reply.raw(bytes(100))))
    lookup = FuseArgs(
        uapi.FUSE_LOOKUP,
        1,
        ["a"],
        [OutArg.of(FuseEntryOut), OutArg.of(uapi.FuseEntryBpfOut)],
        out_argvar=True,
    )
    with pytest.raises(OSError) as info:
        conn.request(lookup, ALICE)
    assert info.value.errno == errno.EIO


def test_error_reply_with_payload_fails_eio() -> None:
    d = Toy(lambda req: Reply.raw(b"xx", error=-errno.ENOENT))
    conn, _ = mount(d)
    with pytest.raises(OSError) as info:
        conn.request(getattr_args(), ALICE)
    assert info.value.errno == errno.EIO
    assert d.write_errors == [(4, errno.EINVAL)]


@pytest.mark.parametrize("error", [5, -512, -1000])
def test_error_out_of_range_is_refused_and_the_request_waits(error: int) -> None:
    d = Toy(lambda req: Reply.raw(b"", error=error) if req.nodeid == 1 else attr_reply(req))
    conn, trace = mount(d)
    with pytest.raises(UnansweredRequest, match=r"GETATTR \(unique 4, nodeid 1\).*rejected"):
        conn.request(getattr_args(1), ALICE)
    assert d.write_errors == [(4, errno.EINVAL)]
    assert trace.of("protocol_error")[-1]["writer_errno"] == errno.EINVAL
    assert [r.unique for r in conn.pending] == [4]  # still on the processing list
    # the simulator stays usable
    assert conn.request(getattr_args(3), ALICE)[0].attr.ino == 3  # type: ignore[union-attr]


def test_reply_with_unknown_unique_gets_enoent_and_the_request_waits() -> None:
    d = Toy(lambda req: Reply(FuseAttrOut(), unique=req.unique + 100))
    conn, trace = mount(d)
    with pytest.raises(UnansweredRequest):
        conn.request(getattr_args(), ALICE)
    assert d.write_errors == [(4, errno.ENOENT)]
    assert trace.of("protocol_error")[-1]["writer_errno"] == errno.ENOENT


def test_reply_to_forget_gets_enoent() -> None:
    d = Toy(lambda req: Reply.none())  # wrongly answers FORGET
    conn, trace = mount(d)
    conn.request_async(forget_args(5, 2))
    assert conn.drain() == 1
    (fg,) = [r for r in d.seen if r.opcode == uapi.FUSE_FORGET]
    assert (fg.nodeid, fg.args, fg.insize, fg.uid) == (5, (uapi.FuseForgetIn(nlookup=2),), 48, 0)
    assert d.write_errors == [(fg.unique, errno.ENOENT)]
    assert trace.of("protocol_error")[-1]["reason"].startswith("no request with unique")


def test_daemon_that_never_replies() -> None:
    conn, _ = mount(Toy(lambda req: None))
    with pytest.raises(UnansweredRequest, match="never replied"):
        conn.request(getattr_args(), ALICE)


def test_daemon_exception_fails_the_request_with_eio() -> None:
    def fn(req: Request) -> Reply | None:
        if req.nodeid == 1:
            raise ValueError("bug in the daemon")
        return attr_reply(req)

    conn, trace = mount(Toy(fn))
    with pytest.raises(OSError) as info:
        conn.request(getattr_args(1), ALICE)
    assert info.value.errno == errno.EIO
    (ev,) = trace.of("daemon_exception")
    assert "ValueError: bug in the daemon" in ev["reason"]
    assert conn.request(getattr_args(2), ALICE)  # usable afterwards
    assert conn.state is ConnState.READY


def test_read_buffer_too_small() -> None:
    d = Toy(read_size=8192)
    conn, _ = mount(d)
    big = FuseArgs(uapi.FUSE_SETXATTR, 2, [uapi.FuseSetxattrIn(size=9000), "user.x", bytes(9000)])
    with pytest.raises(OSError) as info:  # fuse_dev_do_read: SETXATTR too large -> E2BIG
        conn.request(big, ALICE)
    assert info.value.errno == errno.E2BIG
    write = FuseArgs(
        uapi.FUSE_WRITE,
        2,
        [uapi.FuseWriteIn(size=9000), bytes(9000)],
        [OutArg.of(uapi.FuseWriteOut)],
    )
    with pytest.raises(OSError) as info:
        conn.request(write, ALICE)
    assert info.value.errno == errno.EIO
    assert d.opcodes == ["INIT"]


# --------------------------------------------------------------------------------------------
# asynchronous requests


def test_release_is_queued_and_delivered_before_the_next_request() -> None:
    d = Toy(attr_reply)
    conn, _ = mount(d)
    assert conn.request_async(release_args(2)) == 0
    assert d.opcodes == ["INIT"]  # not read yet
    assert [r.name for r in conn.pending] == ["RELEASE"]
    conn.request(getattr_args(1), ALICE)
    assert d.opcodes == ["INIT", "RELEASE", "GETATTR"]
    rel, ga = d.seen[1:]
    assert rel.unique < ga.unique
    assert (rel.uid, rel.gid, rel.pid) == (0, 0, 0)  # forced + nocreds
    assert conn.pending == []


def test_queue_order_is_kept_and_forgets_read_together_batch() -> None:
    d = Toy(lambda req: None if req.opcode in (2, 42) else Reply.none())
    conn, trace = mount(d)
    conn.request_async(forget_args(5, 1))
    conn.request_async(forget_args(6, 3))
    conn.request_async(release_args(2))
    conn.request_async(forget_args(7, 1))
    conn.request_async(forget_args(0, 1))  # nodeid 0 (fuse-bpf inode): nothing to send
    assert conn.drain() == 3
    assert d.opcodes == ["INIT", "BATCH_FORGET", "RELEASE", "FORGET"]
    batch = d.seen[1]
    assert batch.nodeid == 0
    assert batch.args == (
        uapi.FuseBatchForgetIn(count=2),
        [uapi.FuseForgetOne(nodeid=5, nlookup=1), uapi.FuseForgetOne(nodeid=6, nlookup=3)],
    )
    assert batch.insize == 40 + 8 + 32
    assert [r.unique for r in d.seen] == [2, 4, 6, 8]
    # a forget is read (one switch) but never answered
    assert trace.transitions == 2 + 1 + 2 + 1


def test_forgets_are_never_batched_before_716() -> None:
    class Old(Toy):
        def init(self, req: Request) -> Reply:
            self.seen.append(req)
            return Reply(uapi.FuseInitOut(major=7, minor=15))

    d = Old(lambda req: None)
    conn, _ = mount(d)
    conn.request_async(forget_args(5))
    conn.request_async(forget_args(6))
    conn.drain()
    assert d.opcodes == ["INIT", "FORGET", "FORGET"]


def test_end_callback_of_a_background_request() -> None:
    ends: list[int] = []
    d = Toy(lambda req: Reply.error(errno.EBADF))
    conn, _ = mount(d)
    args = release_args()
    args.end = lambda values, error: ends.append(error)
    conn.request_async(args)
    conn.drain()
    assert ends == [-errno.EBADF]


def test_async_request_usage_errors() -> None:
    conn, _ = mount(Toy())
    with pytest.raises(UsageError, match="request_async"):
        conn.request(release_args(), ALICE)
    with pytest.raises(UsageError, match="request_async"):
        conn.request(forget_args(3), ALICE)
    with pytest.raises(UsageError):
        conn.request_async(FuseArgs(uapi.FUSE_FORGET, 3, [], noreply=True))


def test_interrupt_reply_enosys_sets_no_interrupt() -> None:
    d = Toy(lambda req: None if req.nodeid == 1 else Reply.error(errno.ENOSYS))
    conn, _ = mount(d)
    with pytest.raises(UnansweredRequest):
        conn.request(getattr_args(1), ALICE)  # unique 4 stays in processing
    conn.request_async(FuseArgs(uapi.FUSE_INTERRUPT, 0, [uapi.FuseInterruptIn(unique=4)]))
    conn.drain()
    intr = d.seen[-1]
    assert (intr.opcode, intr.unique, intr.nodeid) == (uapi.FUSE_INTERRUPT, 5, 0)
    assert conn.no_interrupt
    assert [r.unique for r in conn.pending] == [4]  # the interrupted request still waits


# --------------------------------------------------------------------------------------------
# abort, daemon exit, no daemon


def test_abort_fails_pending_and_future_requests() -> None:
    ends: list[int] = []
    d = Toy(lambda req: None)
    conn, trace = mount(d)
    with pytest.raises(UnansweredRequest):
        conn.request(getattr_args(), ALICE)
    rel = release_args()
    rel.end = lambda values, error: ends.append(error)
    conn.request_async(rel)
    conn.request_async(forget_args(9))
    conn.abort()
    assert conn.state is ConnState.ABORTED
    assert ends == [-errno.ECONNABORTED]  # end_requests
    assert conn.pending == []  # forgets dropped
    with pytest.raises(OSError) as info:
        conn.request(getattr_args(), ALICE)
    assert info.value.errno == errno.ENOTCONN
    assert conn.request_async(release_args()) == -errno.ENOTCONN
    conn.request_async(forget_args(9))
    assert conn.pending == []
    conn.abort()  # idempotent
    assert [e["new"] for e in trace.of("conn") if "new" in e.data][-1] == "aborted"


def test_daemon_exit_aborts_with_econnaborted_then_enotconn() -> None:
    def fn(req: Request) -> Reply | None:
        if req.nodeid == 13:
            raise DaemonExit("bye")
        return attr_reply(req)

    conn, _ = mount(Toy(fn))
    conn.request_async(release_args(4))
    with pytest.raises(ConnectionAbortedError):
        conn.request(getattr_args(13), ALICE)
    with pytest.raises(OSError) as info:
        conn.request(getattr_args(1), ALICE)
    assert info.value.errno == errno.ENOTCONN


def test_no_daemon_attached_reports_unanswered_requests() -> None:
    conn, trace = mount(None)
    assert conn.state is ConnState.AWAITING_INIT
    assert [r.name for r in conn.pending] == ["INIT"]
    with pytest.raises(UnansweredRequest, match=r"GETATTR \(nodeid 7\).*INIT.*no daemon"):
        conn.request(getattr_args(7), ALICE)
    assert conn.request_async(release_args()) == 0  # forced: just queued
    assert [r.name for r in conn.pending] == ["INIT", "RELEASE"]
    assert trace.transitions == 0


def test_detached_daemon_after_init() -> None:
    d = Toy()
    conn, _ = mount(d)
    conn.detach_daemon()
    conn.request_async(release_args())
    with pytest.raises(UnansweredRequest, match=r"GETATTR.*nodeid 1.*no daemon reads"):
        conn.request(getattr_args(1), ALICE)
    assert [r.name for r in conn.pending] == ["RELEASE", "GETATTR"]
    assert d.opcodes == ["INIT"]


def test_no_daemon_mount_refuses_plain_requests() -> None:
    conn, trace = mount(None, no_daemon=True)
    assert conn.state is ConnState.NO_DAEMON
    assert conn.conn_error and conn.minor == 0
    with pytest.raises(ConnectionRefusedError):
        conn.request(getattr_args(), ALICE)
    flush = FuseArgs(uapi.FUSE_FLUSH, 2, [uapi.FuseFlushIn()], force=True)
    with pytest.raises(UnansweredRequest):  # forced: queued, but there is no reader
        conn.request(flush, ALICE)
    assert trace.request_opcodes() == []
    with pytest.raises(UsageError):
        FuseConn(Hooks(), Toy(), no_daemon=True)


def test_transitions_count_reads_and_writes() -> None:
    conn, trace = mount(Toy(attr_reply))
    assert trace.transitions == 2  # INIT read + reply
    conn.request(getattr_args(), ALICE)
    assert trace.transitions == 4
    conn.request_async(forget_args(3))
    conn.request(getattr_args(), ALICE)
    assert trace.transitions == 7  # + FORGET read, GETATTR read + reply


def test_enosys_memory_flags_exist_and_start_clear() -> None:
    conn, _ = mount(Toy())
    for name in ENOSYS_MEMORY_FLAGS:
        assert getattr(conn, name) is False, name
    assert {
        "no_open",
        "no_flush",
        "no_access",
        "no_create",
        "no_lseek",
        "no_fallocate",
        "no_rename2",
        "no_copy_file_range",
        "no_opendir",
    } <= set(ENOSYS_MEMORY_FLAGS)
    conn.no_flush = True
    assert FuseConn(Hooks(), Toy()).no_flush is False  # per connection, not class-wide


def test_open_reply_typed_and_echoing_flags() -> None:
    d = Toy(lambda req: Reply(FuseOpenOut(fh=1, open_flags=req.args[0].flags)))  # type: ignore[union-attr]
    conn, _ = mount(d)
    out = conn.request(
        FuseArgs(uapi.FUSE_OPEN, 2, [FuseOpenIn(flags=0o100002)], [OutArg.of(FuseOpenOut)]), ALICE
    )
    assert out == [FuseOpenOut(fh=1, open_flags=0o100002)]


def test_reply_helpers() -> None:
    assert Reply.error(errno.ENOENT).error == -errno.ENOENT
    assert Reply.none().outsize == 16
    assert Reply(FuseEntryOut()).outsize == 16 + 128
    assert Reply.raw(b"ignored").outsize == 23
    assert Reply.raw(b"", error=5).error == 5
    assert Reply.error(2) == Reply.raw(b"", error=-2)
    with pytest.raises(UsageError, match="positive errno"):
        Reply.error(-2)
    with pytest.raises(TypeError):
        Reply(3)  # type: ignore[arg-type]
