"""simfs.daemons.Scripted: the Android self-test harness's strict, ordered daemon."""

from __future__ import annotations

import errno
import stat

import pytest

from simfs import uapi
from simfs.daemon import Reply, Request
from simfs.daemons import (
    Scripted,
    ScriptMismatch,
    expect,
    expect_ext,
    expect_init,
    expect_lookup,
    expect_null,
)
from simfs.errors import UnansweredRequest
from simfs.fuse.dev import CallerIds, ConnState, FuseArgs, FuseConn, OutArg
from simfs.trace import Hooks, Trace
from simfs.uapi import (
    FuseEntryOut,
    FuseFlushIn,
    FuseOpenIn,
    FuseOpenOut,
    FuseReadIn,
    FuseReleaseIn,
)

CALLER = CallerIds(uid=0, gid=0, pid=100)


def mount(daemon: Scripted) -> tuple[FuseConn, Trace]:
    hooks = Hooks()
    trace = Trace()
    hooks.add(trace)
    conn = FuseConn(hooks, daemon)
    conn.send_init()
    return conn, trace


def entry(nodeid: int, mode: int, ino: int) -> FuseEntryOut:
    return FuseEntryOut(
        nodeid=nodeid,
        generation=1,
        attr=uapi.FuseAttr(ino=ino, size=4, blksize=512, mode=mode),
    )


def echo_open_flags(req: Request) -> Reply:
    arg = req.args[0]
    assert isinstance(arg, FuseOpenIn)
    return Reply(FuseOpenOut(fh=1, open_flags=arg.flags))


def lookup(name: str, nodeid: int = 1) -> FuseArgs:
    return FuseArgs(
        uapi.FUSE_LOOKUP,
        nodeid,
        [name],
        [OutArg.of(FuseEntryOut), OutArg.of(uapi.FuseEntryBpfOut)],
        out_argvar=True,
    )


def open_(nodeid: int, flags: int = 0) -> FuseArgs:
    return FuseArgs(uapi.FUSE_OPEN, nodeid, [FuseOpenIn(flags=flags)], [OutArg.of(FuseOpenOut)])


def read(nodeid: int, size: int) -> FuseArgs:
    return FuseArgs(
        uapi.FUSE_READ,
        nodeid,
        [FuseReadIn(fh=1, size=size)],
        [OutArg(bytes, size)],
        out_argvar=True,
    )


def canonical_path(nodeid: int) -> FuseArgs:
    return FuseArgs(
        uapi.FUSE_CANONICAL_PATH, nodeid, [], [OutArg(str, uapi.PAGE_SIZE)], out_argvar=True
    )


def flush(nodeid: int) -> FuseArgs:
    return FuseArgs(uapi.FUSE_FLUSH, nodeid, [FuseFlushIn(fh=1)], force=True)


def release(nodeid: int) -> FuseArgs:
    return FuseArgs(
        uapi.FUSE_RELEASE,
        nodeid,
        [FuseReleaseIn(fh=1)],
        force=True,
        nocreds=True,
        background=True,
    )


def forget(nodeid: int) -> FuseArgs:
    return FuseArgs(uapi.FUSE_FORGET, nodeid, [uapi.FuseForgetIn(nlookup=1)], noreply=True)


# --------------------------------------------------------------------------------------------
# T01 basic_test and T06 bpf_test_creat, request by request


def test_t01_basic_test_script() -> None:
    daemon = Scripted(
        [
            expect_lookup("test").reply(Reply(entry(2, stat.S_IFREG | 0o777, 100))),
            expect(uapi.FUSE_OPEN, FuseOpenIn).reply(echo_open_flags),
            expect_null(uapi.FUSE_CANONICAL_PATH).reply(Reply.raw(b"ignored")),
            expect(uapi.FUSE_READ, FuseReadIn).reply(Reply.raw(b"data")),
            expect(uapi.FUSE_FLUSH, FuseFlushIn).reply(Reply.none()),
            expect(uapi.FUSE_RELEASE, FuseReleaseIn).reply(Reply.none()),
        ]
    )
    conn, trace = mount(daemon)
    ent, _bpf = conn.request(lookup("test"), CALLER)
    assert isinstance(ent, FuseEntryOut) and ent.nodeid == 2
    assert conn.request(open_(2, 0), CALLER) == [FuseOpenOut(fh=1, open_flags=0)]
    assert conn.request(canonical_path(2), CALLER) == ["ignored"]
    args = read(2, 4096)
    assert conn.request(args, CALLER) == [b"data"]
    assert args.out_args[-1].size == 4
    conn.request(flush(2), CALLER)
    conn.request_async(release(2))
    # the RELEASE is still queued, not read yet
    with pytest.raises(ScriptMismatch, match=r"step 6 .*RELEASE.* never came"):
        daemon.verify()
    conn.drain()
    daemon.verify()
    assert trace.request_opcodes() == [
        "INIT",
        "LOOKUP",
        "OPEN",
        "CANONICAL_PATH",
        "READ",
        "FLUSH",
        "RELEASE",
    ]
    assert trace.transitions == 14


def test_t06_bpf_test_creat_script() -> None:
    create_in_size = uapi.FuseCreateIn.SIZE + len("file") + 1

    def created(req: Request) -> Reply:
        arg = req.args[0]
        assert isinstance(arg, uapi.FuseCreateIn)
        return Reply(entry(2, stat.S_IFREG, 200), FuseOpenOut(fh=1, open_flags=arg.flags))

    daemon = Scripted(
        [
            expect_lookup("show").reply(Reply(entry(3, stat.S_IFDIR | 0o777, 100))),
            expect_lookup("file").reply(Reply.error(errno.ENOENT)),
            expect_ext(uapi.FUSE_CREATE, uapi.FuseCreateIn, len("file") + 1).reply(created),
            expect_null(uapi.FUSE_CANONICAL_PATH).reply(Reply.raw(b"ignored")),
            expect(uapi.FUSE_FLUSH, FuseFlushIn).reply(Reply.none()),
            expect(uapi.FUSE_RELEASE, FuseReleaseIn).reply(Reply.none()),
        ]
    )
    conn, _ = mount(daemon)
    conn.request(lookup("show"), CALLER)
    with pytest.raises(FileNotFoundError):
        conn.request(lookup("file", 3), CALLER)
    create = FuseArgs(
        uapi.FUSE_CREATE,
        3,
        [uapi.FuseCreateIn(flags=0o101, mode=0o100777), "file"],
        [OutArg.of(FuseEntryOut), OutArg.of(FuseOpenOut)],
    )
    assert create.insize == 40 + create_in_size
    _ent, opened = conn.request(create, CALLER)
    assert opened == FuseOpenOut(fh=1, open_flags=0o101)
    conn.request(canonical_path(2), CALLER)
    conn.request(flush(2), CALLER)
    conn.request_async(release(2))
    conn.drain()
    daemon.verify()


# --------------------------------------------------------------------------------------------
# mismatches


def test_wrong_opcode_makes_the_daemon_exit() -> None:
    daemon = Scripted([expect(uapi.FUSE_OPEN, FuseOpenIn).reply(echo_open_flags)])
    conn, _ = mount(daemon)
    with pytest.raises(ConnectionAbortedError):  # in flight when the daemon exits
        conn.request(lookup("test"), CALLER)
    assert conn.state is ConnState.ABORTED
    with pytest.raises(OSError) as info:  # afterwards: fuse_get_req -> ENOTCONN
        conn.request(open_(2), CALLER)
    assert info.value.errno == errno.ENOTCONN
    with pytest.raises(ScriptMismatch) as mm:
        daemon.verify()
    msg = str(mm.value)
    assert "step 1" in msg and "OPEN" in msg and "insize 48" in msg
    assert "got opcode LOOKUP, insize 45" in msg


def test_wrong_size_is_a_mismatch() -> None:
    daemon = Scripted([expect_lookup("test").reply(Reply(FuseEntryOut()))])
    conn, _ = mount(daemon)
    with pytest.raises(ConnectionAbortedError):
        conn.request(lookup("tests"), CALLER)
    with pytest.raises(ScriptMismatch, match="insize 45; got opcode LOOKUP, insize 46"):
        daemon.verify()


def test_same_size_other_name_is_a_mismatch() -> None:
    daemon = Scripted([expect_lookup("test").reply(Reply(FuseEntryOut()))])
    conn, _ = mount(daemon)
    with pytest.raises(ConnectionAbortedError):
        conn.request(lookup("tset"), CALLER)
    with pytest.raises(ScriptMismatch, match="name 'test'; got 'tset'"):
        daemon.verify()


def test_request_after_the_script_ended() -> None:
    daemon = Scripted([expect_lookup("a").reply(Reply(FuseEntryOut(nodeid=2)))])
    conn, _ = mount(daemon)
    conn.request(lookup("a"), CALLER)
    with pytest.raises(ConnectionAbortedError):
        conn.request(open_(2), CALLER)
    with pytest.raises(ScriptMismatch, match="after the last of 1 steps: unexpected request OPEN"):
        daemon.verify()


def test_unconsumed_steps_fail_verify_unless_final_blocking_read() -> None:
    steps = [
        expect_lookup("a").reply(Reply(FuseEntryOut(nodeid=2))),
        expect(uapi.FUSE_OPEN, FuseOpenIn).reply(echo_open_flags),
    ]
    daemon = Scripted(steps)
    conn, _ = mount(daemon)
    conn.request(lookup("a"), CALLER)
    with pytest.raises(ScriptMismatch, match=r"step 2 .*OPEN.* never came; 1 step"):
        daemon.verify()

    blocking = Scripted(
        [
            steps[0],
            expect(uapi.FUSE_RELEASE, FuseReleaseIn).no_reply(final_blocking_read=True),
        ]
    )
    conn, _ = mount(blocking)
    conn.request(lookup("a"), CALLER)
    blocking.verify()  # the last read returned at unmount


def test_lookup_matcher_skips_forgets_but_others_do_not() -> None:
    daemon = Scripted(
        [
            expect_lookup("a").reply(Reply(FuseEntryOut(nodeid=2))),
            expect(uapi.FUSE_OPEN, FuseOpenIn).reply(echo_open_flags),
        ]
    )
    conn, _ = mount(daemon)
    conn.request_async(forget(5))
    conn.request_async(forget(6))
    conn.request(lookup("a"), CALLER)  # BATCH_FORGET read and skipped
    assert [r.name for r in daemon.requests] == ["BATCH_FORGET", "LOOKUP"]
    conn.request_async(forget(7))
    # the daemon reads the FORGET (before OPEN exists), fails and exits: OPEN finds the
    # connection aborted
    with pytest.raises(OSError) as info:
        conn.request(open_(2), CALLER)
    assert info.value.errno == errno.ENOTCONN
    with pytest.raises(ScriptMismatch, match=r"step 2: .*got opcode FORGET"):
        daemon.verify()


def test_postfilter_lookup_carries_entry_and_bpf_blocks() -> None:
    step = expect_lookup("show", uapi.FUSE_POSTFILTER)
    assert step.insize == 40 + 5 + 128 + 32
    assert step.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER
    daemon = Scripted([step.reply(lambda req: Reply(FuseEntryOut(nodeid=9)))])
    conn, _ = mount(daemon)
    post = FuseArgs(
        uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER,
        1,
        ["show", FuseEntryOut(nodeid=5), uapi.FuseEntryBpfOut()],
        [OutArg.of(FuseEntryOut), OutArg.of(uapi.FuseEntryBpfOut)],
        out_argvar=True,
    )
    assert conn.request(post, CALLER)[0] == FuseEntryOut(nodeid=9)
    daemon.verify()


def test_init_through_the_script() -> None:
    flags = uapi.FUSE_DO_READDIRPLUS | uapi.FUSE_READDIRPLUS_AUTO
    daemon = Scripted(
        [expect_init(flags), expect_lookup("a").reply(Reply.error(errno.ENOENT))],
        handle_init=False,
    )
    conn, _ = mount(daemon)
    assert conn.flags == flags and conn.readdirplus_auto
    assert conn.max_write == 4096 and conn.time_gran == 1000
    with pytest.raises(FileNotFoundError):
        conn.request(lookup("a"), CALLER)
    daemon.verify()


def test_init_outside_the_script_uses_init_flags() -> None:
    daemon = Scripted([], init_flags=uapi.FUSE_DO_READDIRPLUS)
    conn, _ = mount(daemon)
    assert conn.do_readdirplus and not conn.readdirplus_auto
    daemon.verify()


def test_failed_write_fails_the_daemon() -> None:
    daemon = Scripted([expect_lookup("a").reply(Reply.raw(b"", error=5))])
    conn, _ = mount(daemon)
    with pytest.raises(ConnectionAbortedError):  # the request waited; the abort ended it
        conn.request(lookup("a"), CALLER)
    with pytest.raises(ScriptMismatch, match="failed with errno 22"):
        daemon.verify()


def test_async_release_may_stay_unread_at_the_end() -> None:
    daemon = Scripted([expect_lookup("a").reply(Reply(FuseEntryOut(nodeid=2)))])
    conn, _ = mount(daemon)
    conn.request(lookup("a"), CALLER)
    conn.request_async(release(2))
    daemon.verify()  # nobody read it: fine, as in the harness
    assert [r.name for r in conn.pending] == ["RELEASE"]


def test_step_reply_none_leaves_the_request_hanging() -> None:
    daemon = Scripted([expect_lookup("a").no_reply()])
    conn, _ = mount(daemon)
    with pytest.raises(UnansweredRequest):
        conn.request(lookup("a"), CALLER)
    daemon.verify()


def test_steps_must_be_paired_with_replies() -> None:
    with pytest.raises(TypeError, match=r"expect\(...\).reply"):
        Scripted([expect_lookup("a")])  # type: ignore[list-item]
