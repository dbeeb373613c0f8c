"""The 13 Android FUSE-BPF self-test scenarios that android-selftests.md keeps aside.

Reconstructed from the canonical ACK list (``tools/testing/selftests/filesystems/fuse/
fuse_test.c`` + ``test_bpf.c``, nxp-imx/linux-imx @ 6d728a1e), numbered as in that list:
T05 bpf_test_readdir, T12 bpf_test_largedir, T15 bpf_test_xattr, T16
bpf_test_redact_readdir, T18 bpf_test_remove_backing, T22
bpf_test_alter_errcode_userspace, T25 inotify_test, T27 bpf_test_lseek, T28
bpf_test_readdirplus_not_overriding_backing, T29 bpf_test_no_readdirplus_without_nodeid,
T30 bpf_test_revalidate_handle_backing_fd, T31 bpf_test_lookup_postfilter, T34
bpf_test_mkdir_and_remove_bpf.

Each test states the scenario in its docstring (setup, daemon script, expectations) and
asserts what the C test asserts: the scripted daemon's request order and payload sizes,
trace-pipe lines, errno and contents.  A daemon that is forked (``FUSE_START_DAEMON``)
exits after its script, so any later synchronous request would hang the C test; here it
raises ``UnansweredRequest``.  Directory reads go through glibc's ``readdir`` model
(:class:`~tests.android.harness.Dir`: one public ``Process.getdents`` call -- one
``getdents64`` with glibc's 32 KiB buffer -- per refill), so T05 and T16 count the READDIR
passes the kernel makes.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from typing import cast

import pytest

from simfs import uapi
from simfs.bpf import examples as progs
from simfs.daemon import Reply, Request
from simfs.daemons.scripted import (
    expect,
    expect_at_least,
    expect_init,
    expect_lookup,
)

from .harness import (
    ASYNC_OPCODES,
    O_CLOEXEC,
    U32_MAX,
    U64_MAX,
    Dir,
    Env,
    L,
    M,
    fuse_attr_of,
    make_env,
    open_reply,
    start_daemon,
)

S_IFREG = stat.S_IFREG
DT_REG = 8
PRE = uapi.FUSE_PREFILTER
POST = uapi.FUSE_POSTFILTER
RDPLUS_FLAGS = uapi.FUSE_DO_READDIRPLUS | uapi.FUSE_READDIRPLUS_AUTO
INOTIFY_EVENT = struct.Struct("<iIII")  # struct inotify_event without the name
IN_CREATE = 0x100


@pytest.fixture
def env() -> Env:
    return make_env()


def _creat(env: Env, path: str) -> int:
    return env.proc.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o777)


def _sync_opcodes(reqs: list[Request]) -> list[str]:
    return [r.name for r in reqs if r.opcode not in ASYNC_OPCODES]


# --- T05 ----------------------------------------------------------------------------------
def test_T05_bpf_test_readdir(env: Env) -> None:
    """Setup: L/real and L/partial (2 pages each); root ``test_trace``; mount_fuse.

    Daemon: (1) a READDIR|POSTFILTER carrying at least ``fuse_read_in`` (then the backing's
    ``fuse_read_out`` and dirents): reply the received ``fuse_read_out`` with the received
    dirents plus an extra one {ino 100, off 5, DT_REG, "fake"}; (2) a READDIR|POSTFILTER of
    exactly ``fuse_read_in`` + ``fuse_read_out`` (no dirents, end of directory): reply the
    received ``fuse_read_out`` and nothing else.
    Expect: opendir(M) works and the trace shows ``opendir``; five readdir calls return
    each of real, partial, fake, ``.``, ``..`` once; the sixth returns the end; closedir
    works; the trace shows ``readdir``.
    """
    env.create_file(f"{L}/real", 1, 2)
    env.create_file(f"{L}/partial", 1, 2)
    fake = uapi.FuseDirent(ino=100, off=5, type=DT_REG, name="fake")
    seen: list[list[str]] = []

    def add_fake(req: Request) -> Reply:
        _fri, fro, records = req.args
        dirents = cast(list[uapi.FuseDirent], records)
        seen.append([d.name for d in dirents])
        return Reply(fro, [*dirents, fake])

    def end(req: Request) -> Reply:
        seen.append([])
        return Reply(req.args[1], [])

    rd_post = uapi.FUSE_READDIR | POST
    script = [
        expect_at_least(rd_post, uapi.FuseReadIn).reply(add_fake),
        expect(rd_post, uapi.FuseReadIn, uapi.FuseReadOut).reply(end),
    ]
    daemon = start_daemon(env, script, progs.test_trace)
    d = Dir(env, M)
    env.trace("opendir")
    names = [".", "..", "real", "partial", "fake"]
    used: set[str] = set()
    for _ in range(len(names)):
        ent = d.readdir()
        assert ent is not None
        assert ent.name in names and ent.name not in used, ent
        used.add(ent.name)
    assert d.readdir() is None
    d.closedir()
    env.trace("readdir")
    env.finish_daemon()
    assert sorted(seen[0]) == sorted([".", "..", "real", "partial"]) and seen[1] == []
    assert _sync_opcodes(daemon.requests) == ["READDIR|POSTFILTER"] * 2


# --- T12 ----------------------------------------------------------------------------------
def test_T12_bpf_test_largedir(env: Env) -> None:
    """Setup: root ``fd_bpf.bpf`` section ``test_daemon`` (LOOKUP pre in the root ->
    USER|BACKING, everything else BACKING); mount_fuse.

    Daemon: 1002 times a LOOKUP|PREFILTER of ``show`` (header + "show" + NUL; FORGETs
    skipped), each answered with the 5 raw bytes "show\\0".
    Action: mkdir(M/show); creat + close M/show/0 .. M/show/999; opendir(M/show) and
    readdir to the end; closedir.  Every call must succeed.  (The fuse-bpf dentry of
    ``show`` has no expiry and is dropped when unused, so every path walk looks it up
    again: 1 mkdir + 1000 creat + 1 opendir.)
    """
    files = 1000
    script = [expect_lookup("show", PRE).reply(Reply.raw(b"show\0")) for _ in range(files + 2)]
    daemon = start_daemon(env, script, progs.test_daemon)
    p = env.proc
    p.mkdir(f"{M}/show", 0o777)
    for i in range(files):
        fd = _creat(env, f"{M}/show/{i}")
        p.close(fd)
    d = Dir(env, f"{M}/show")
    names = []
    while (ent := d.readdir()) is not None:
        names.append(ent.name)
    d.closedir()
    env.finish_daemon()
    assert sorted(names) == sorted([".", "..", *map(str, range(files))])
    assert _sync_opcodes(daemon.requests) == ["LOOKUP|PREFILTER"] * (files + 2)
    assert len(p.listdir(f"{L}/show")) == files


# --- T15 ----------------------------------------------------------------------------------
def test_T15_bpf_test_xattr(env: Env) -> None:
    """Setup: root ``test_trace``; mount_fuse; no daemon.

    creat(M/real) -> trace ``Create``; close.  stat(L/real) works.  getxattr of
    ``user.xattr_test_name`` -> ENODATA, trace ``getxattr``.  listxattr works (size S0),
    trace ``listxattr``.  setxattr(name, "this_is_a_test" + NUL, 15 bytes) works, trace
    ``setxattr``.  listxattr again: the size grew by exactly len(name)+1 and the name sits
    at offset S0; trace ``listxattr``.  getxattr returns the 15 bytes; trace ``getxattr``.
    removexattr works, trace ``removexattr``; getxattr -> ENODATA.  unlink(M/real) works,
    trace ``unlink``; stat(L/real) -> ENOENT.
    """
    name = "user.xattr_test_name"
    value = b"this_is_a_test\0"
    env.mount_fuse(progs.test_trace)
    p = env.proc
    path = f"{M}/real"
    fd = _creat(env, path)
    env.trace("Create")
    p.close(fd)
    p.stat(f"{L}/real")
    assert env.errno_of(p.getxattr, path, name) == errno.ENODATA
    env.trace("getxattr")
    before = p.listxattr(path)
    env.trace("listxattr")
    p.setxattr(path, name, value, 0)
    env.trace("setxattr")
    after = p.listxattr(path)
    env.trace("listxattr")

    def size(names: list[str]) -> int:
        return sum(len(n.encode()) + 1 for n in names)

    assert size(after) - size(before) == len(name) + 1
    assert after[: len(before)] == before and after[len(before) :] == [name]
    got = p.getxattr(path, name)
    env.trace("getxattr")
    assert got == value and len(got) == 15
    p.removexattr(path, name)
    env.trace("removexattr")
    assert env.errno_of(p.getxattr, path, name) == errno.ENODATA
    p.unlink(path)
    env.trace("unlink")
    assert env.errno_of(p.stat, f"{L}/real") == errno.ENOENT
    env.assert_no_sync_requests()


# --- T16 ----------------------------------------------------------------------------------
def test_T16_bpf_test_redact_readdir(env: Env) -> None:
    """Setup: L/f1 .. L/f6 (2 pages each); root ``test_readdir_redact`` (READDIR pre ->
    BACKING|POST, READDIR post -> USER, else BACKING); mount_fuse.

    Daemon: 9 reads (names + 1), each a READDIR|POSTFILTER of at least ``fuse_read_in`` +
    ``fuse_read_out``.  Each reply looks only at the first received dirent: a dot entry is
    always passed on; other entries alternate, starting with "hide" (not passed on, and
    ``again`` is set when a second dirent followed); ``offset`` is the second dirent's
    ``off`` when there is one, else the received ``offset``.
    Expect: readdir to the end returns only names of {f1..f6, ., ..}, none twice, never
    more than 5, and exactly 5 in all (the dots and every other file).
    """
    names = ["f1", "f2", "f3", "f4", "f5", "f6", ".", ".."]
    for n in names[:-2]:
        env.create_file(f"{L}/{n}", 1, 2)
    state = {"skip": True}

    def redact(req: Request) -> Reply:
        _fri, fro_in, records = req.args
        assert isinstance(fro_in, uapi.FuseReadOut)
        dirents = cast(list[uapi.FuseDirent], records)
        out: list[uapi.FuseDirent] = []
        again = False
        nxt = None
        if dirents:
            first = dirents[0]
            is_dot = first.name in (".", "..")
            nxt = dirents[1] if len(dirents) > 1 else None
            if not state["skip"] or is_dot:
                out.append(first)
            again = state["skip"] and not is_dot and nxt is not None
            if not is_dot:
                state["skip"] = not state["skip"]
        offset = nxt.off if nxt is not None else fro_in.offset
        return Reply(uapi.FuseReadOut(offset=offset, again=int(again)), out)

    rd_post = uapi.FUSE_READDIR | POST
    script = [
        expect_at_least(rd_post, uapi.FuseReadIn, uapi.FuseReadOut).reply(redact)
        for _ in range(len(names) + 1)
    ]
    start_daemon(env, script, progs.test_readdir_redact)
    num_shown = (len(names) - 2) // 2 + 2
    d = Dir(env, M)
    used: set[str] = set()
    while (ent := d.readdir()) is not None:
        assert ent.name in names and ent.name not in used, ent
        used.add(ent.name)
        assert len(used) <= num_shown
    assert len(used) == num_shown
    d.closedir()
    env.finish_daemon()


# --- T18 ----------------------------------------------------------------------------------
def test_T18_bpf_test_remove_backing(env: Env) -> None:
    """Setup: clear the trace; L/folder1/file1 = "contents1", L/folder2/file1 =
    "contents2"; root ``test_passthrough`` (LOOKUP post -> bpf REMOVE + USER),
    ``root_dir`` = L, mount_fuse_no_init.

    Daemon: INIT (flags 0); one LOOKUP|POSTFILTER of exactly "folder1" + NUL (8) +
    ``fuse_entry_out`` + ``fuse_entry_bpf_out``: it opens L/folder2 and replies an all-zero
    ``fuse_entry_out`` with {bpf_action REMOVE, backing_action REPLACE, backing_fd}; then it
    reads (never answering) until the mount goes.
    Action/expect: open(M/folder1/file1) works; reading 256 bytes returns the 9 bytes
    "contents2" (served from L/folder2/file1); no trace line mentions ``file`` (the
    program is gone below folder1); close and umount work.
    """
    k = env.k
    k.trace_pipe.clear()
    for folder, data in (("folder1", b"contents1"), ("folder2", b"contents2")):
        env.proc.mkdir(f"{L}/{folder}", 0o777)
        env.write_lower(f"{L}/{folder}/file1", data)
    holder: dict[str, int] = {}

    def redirect(req: Request) -> Reply:
        assert req.args[0] == "folder1"
        dproc = daemon.proc
        holder["fd"] = dproc.open(f"{L}/folder2", os.O_DIRECTORY | os.O_RDONLY | O_CLOEXEC)
        return Reply(
            uapi.FuseEntryOut(),
            uapi.FuseEntryBpfOut(
                bpf_action=uapi.FUSE_ACTION_REMOVE,
                backing_action=uapi.FUSE_ACTION_REPLACE,
                backing_fd=holder["fd"],
            ),
        )

    post = uapi.FUSE_LOOKUP | POST
    script = [
        expect_init(),
        expect(post, 8, uapi.FuseEntryOut, uapi.FuseEntryBpfOut).reply(redirect),
    ]
    daemon = start_daemon(env, script, progs.test_passthrough, init=False, after="read_forever")
    p = env.proc
    fd = p.open(f"{M}/folder1/file1", os.O_RDONLY | O_CLOEXEC)
    assert p.read(fd, 256) == b"contents2"
    env.no_trace("file")
    p.close(fd)
    env.umount()
    daemon.proc.close(holder["fd"])
    daemon.verify()
    # what the endless read loop saw after the script: asynchronous messages only
    assert _sync_opcodes(daemon.unanswered) == []


# --- T22 ----------------------------------------------------------------------------------
def test_T22_bpf_test_alter_errcode_userspace(env: Env) -> None:
    """Setup: root ``test_error`` (LOOKUP pre -> BACKING|POST; LOOKUP post of
    ``doesnotexist`` -> USER); mount_fuse.

    Daemon: a LOOKUP|POSTFILTER of ``doesnotexist`` (name + ``fuse_entry_out`` +
    ``fuse_entry_bpf_out``), answered with -ENOMEM.
    Expect: unlink(M/doesnotexist) fails with ENOMEM (the daemon's error replaces the
    lookup's result).
    """
    got: list[int] = []

    def fail(req: Request) -> Reply:
        got.append(req.error_in)
        return Reply.error(errno.ENOMEM)

    script = [expect_lookup("doesnotexist", POST).reply(fail)]
    start_daemon(env, script, progs.test_error)
    assert env.errno_of(env.proc.unlink, f"{M}/doesnotexist") == errno.ENOMEM
    env.finish_daemon()
    assert got == [-errno.ENOENT]  # the backing lookup missed: error_in in the header


# --- T25 ----------------------------------------------------------------------------------
def test_T25_inotify_test(env: Env) -> None:
    """Setup: ``root_dir`` = L, no program; mount_fuse; no daemon.

    inotify_init1(IN_CLOEXEC); mkdir(M/dir); inotify_add_watch(M/dir, IN_CREATE) gives a
    watch; creat(L/dir/file) on the *lower* side; one read of the inotify fd with room for
    an event and a 255-byte name returns exactly two ``struct inotify_event`` sizes (32:
    the 16-byte event + "file" padded to 16).  Cleanup: close, unlink L/dir/file, close
    the inotify fd, rmdir M/dir.
    """
    env.mount_fuse(None)
    p = env.proc
    ifd = p.inotify_init(os.O_CLOEXEC)
    p.mkdir(f"{M}/dir", 0o777)
    wd = p.inotify_add_watch(ifd, f"{M}/dir", IN_CREATE)
    assert wd > 0
    fd = _creat(env, f"{L}/dir/file")
    data = p.read(ifd, INOTIFY_EVENT.size + 255 + 1)
    assert len(data) == 2 * INOTIFY_EVENT.size
    ev_wd, mask, cookie, length = INOTIFY_EVENT.unpack_from(data)
    assert (ev_wd, mask, cookie, length) == (wd, IN_CREATE, 0, 16)
    assert data[INOTIFY_EVENT.size :].rstrip(b"\0") == b"file"
    p.close(fd)
    p.unlink(f"{L}/dir/file")
    p.close(ifd)
    p.rmdir(f"{M}/dir")
    env.assert_no_sync_requests()


# --- T27 ----------------------------------------------------------------------------------
def test_T27_bpf_test_lseek(env: Env) -> None:
    """Setup: L/real = "data" (4 bytes); root ``test_trace``; mount_fuse; no daemon.

    open(M/real, O_RDONLY); lseek(3, SEEK_SET) = 3; lseek(5, SEEK_END) = 9; lseek(1,
    SEEK_CUR) = 10; lseek(1, SEEK_DATA) = 1; each followed by a trace line ``lseek``.
    """
    env.write_lower(f"{L}/real", b"data")
    env.mount_fuse(progs.test_trace)
    p = env.proc
    fd = p.open(f"{M}/real", os.O_RDONLY | O_CLOEXEC)
    for offset, whence, want in (
        (3, os.SEEK_SET, 3),
        (5, os.SEEK_END, 9),
        (1, os.SEEK_CUR, 10),
        (1, os.SEEK_DATA, 1),
    ):
        assert p.lseek(fd, offset, whence) == want
        env.trace("lseek")
    p.close(fd)
    env.assert_no_sync_requests()


# --- T28 ----------------------------------------------------------------------------------
def test_T28_bpf_test_readdirplus_not_overriding_backing(env: Env) -> None:
    """Setup: L/folder1/content.txt = "hello world" (its fd left open); mount_fuse_no_init,
    no program, no backing root (classic root).

    Daemon: (1) INIT with DO_READDIRPLUS|READDIRPLUS_AUTO; (2) plain LOOKUP ``folder1`` ->
    ``fuse_entry_out`` {nodeid = ino of L/folder1, generation 0, entry/attr valid maximal,
    attr of L/folder1} + {backing REPLACE: an fd of L/folder1, closed after replying};
    (3) OPENDIR (``fuse_open_in``) -> {fh 100, open_flags echoed}; (4) GETATTR
    (``fuse_getattr_in``) -> attr of L, valid maximal; (5) one request that must be
    READDIRPLUS, answered with one direntplus record for ``folder1`` {entry: same nodeid,
    valid maximal, attr of L/folder1; dirent: ino, off 1, DT_REG}.
    Action/expect: open(M/folder1) and M/folder1/content.txt, read 11 bytes = "hello
    world", close both (no daemon traffic: folder1 is backed); opendir(M), one readdir
    returns an entry, closedir; open and read M/folder1/content.txt again: still "hello
    world" from the backing (the READDIRPLUS entry must not replace folder1's backing).
    """
    p = env.proc
    p.mkdir(f"{L}/folder1", 0o777)
    content_fd = p.open(f"{L}/folder1/content.txt", os.O_WRONLY | os.O_CREAT, 0o777)
    p.write(content_fd, b"hello world")
    fds: list[int] = []

    def folder1_entry(attr: uapi.FuseAttr) -> uapi.FuseEntryOut:
        return uapi.FuseEntryOut(
            nodeid=attr.ino,
            generation=0,
            entry_valid=U64_MAX,
            attr_valid=U64_MAX,
            entry_valid_nsec=U32_MAX,
            attr_valid_nsec=U32_MAX,
            attr=attr,
        )

    def close_backing() -> None:
        while fds:
            daemon.proc.close(fds.pop())

    def lookup(req: Request) -> Reply:
        attr = fuse_attr_of(env, f"{L}/folder1")
        fds.append(daemon.proc.open(f"{L}/folder1", os.O_DIRECTORY | os.O_RDONLY | O_CLOEXEC))
        return Reply(
            folder1_entry(attr),
            uapi.FuseEntryBpfOut(backing_action=uapi.FUSE_ACTION_REPLACE, backing_fd=fds[-1]),
        )

    def opendir(req: Request) -> Reply:
        close_backing()
        return cast(Reply, open_reply(100)(req))

    def getattr_(req: Request) -> Reply:
        return Reply(
            uapi.FuseAttrOut(attr_valid=U64_MAX, attr_valid_nsec=U32_MAX, attr=fuse_attr_of(env, L))
        )

    def readdirplus(req: Request) -> Reply:
        attr = fuse_attr_of(env, f"{L}/folder1")
        rec = uapi.FuseDirentplus(
            entry_out=folder1_entry(attr),
            dirent=uapi.FuseDirent(ino=attr.ino, off=1, type=DT_REG, name="folder1"),
        )
        return Reply([rec])

    script = [
        expect_init(RDPLUS_FLAGS),
        expect_lookup("folder1").reply(lookup),
        expect(uapi.FUSE_OPENDIR, uapi.FuseOpenIn).reply(opendir),
        expect(uapi.FUSE_GETATTR, uapi.FuseGetattrIn).reply(getattr_),
        expect(uapi.FUSE_READDIRPLUS, uapi.FuseReadIn).reply(readdirplus),
    ]
    daemon = start_daemon(env, script, root_dir=False, init=False)

    def read_content() -> None:
        fd = p.open(f"{M}/folder1/content.txt", os.O_RDONLY | O_CLOEXEC)
        assert p.read(fd, 11) == b"hello world"
        p.close(fd)

    dfd = p.open(f"{M}/folder1", os.O_RDONLY | O_CLOEXEC)
    read_content()
    p.close(dfd)
    d = Dir(env, M)
    assert d.readdir() is not None
    d.closedir()
    read_content()
    env.finish_daemon()
    p.close(content_fd)


# --- T29 ----------------------------------------------------------------------------------
def test_T29_bpf_test_no_readdirplus_without_nodeid(env: Env) -> None:
    """Setup: program ``test_readdirplus`` loaded (READDIR pre -> 0, else BACKING);
    L/folder1 and L/folder2; mount_fuse_no_init, no program, classic root.

    Daemon: (1) INIT with DO_READDIRPLUS|READDIRPLUS_AUTO; (2) plain LOOKUP ``folder1`` ->
    ``fuse_entry_out`` {nodeid **0**, valid maximal, attr zero} + {backing REPLACE fd of
    L/folder1, bpf REPLACE the program}; (3) a request that must be **READDIR** ->
    -EINVAL; (4) LOOKUP ``folder2`` -> the same with nodeid **10**; (5) a request that must
    be **READDIRPLUS** -> -EINVAL.
    Action/expect: opendir(ft-dst/folder1) works, readdir returns the end with errno
    EINVAL, closedir works; the same for folder2.
    """
    p = env.proc
    p.mkdir(f"{L}/folder1", 0o777)
    p.mkdir(f"{L}/folder2", 0o777)
    fds: list[int] = []

    def lookup(folder: str, nodeid: int) -> object:
        def answer(req: Request) -> Reply:
            fds.append(daemon.proc.open(f"{L}/{folder}", os.O_DIRECTORY | os.O_RDONLY))
            return Reply(
                uapi.FuseEntryOut(
                    nodeid=nodeid,
                    generation=0,
                    entry_valid=U64_MAX,
                    attr_valid=U64_MAX,
                    entry_valid_nsec=U32_MAX,
                    attr_valid_nsec=U32_MAX,
                ),
                uapi.FuseEntryBpfOut(
                    backing_action=uapi.FUSE_ACTION_REPLACE,
                    backing_fd=fds[-1],
                    bpf_action=uapi.FUSE_ACTION_REPLACE,
                    bpf_fd=bpf_fd,
                ),
            )

        return answer

    def einval(req: Request) -> Reply:
        while fds:
            daemon.proc.close(fds.pop())
        return Reply.error(errno.EINVAL)

    script = [
        expect_init(RDPLUS_FLAGS),
        expect_lookup("folder1").reply(lookup("folder1", 0)),  # type: ignore[arg-type]
        expect(uapi.FUSE_READDIR, uapi.FuseReadIn).reply(einval),
        expect_lookup("folder2").reply(lookup("folder2", 10)),  # type: ignore[arg-type]
        expect(uapi.FUSE_READDIRPLUS, uapi.FuseReadIn).reply(einval),
    ]
    daemon = start_daemon(env, script, root_dir=False, init=False)
    bpf_fd = daemon.proc.bpf_prog_load(progs.test_readdirplus)
    for folder in ("folder1", "folder2"):
        d = Dir(env, f"ft-dst/{folder}")
        assert env.errno_of(d.readdir) == errno.EINVAL
        d.closedir()
    env.finish_daemon()


# --- T30 ----------------------------------------------------------------------------------
def test_T30_bpf_test_revalidate_handle_backing_fd(env: Env) -> None:
    """Setup: L/folder1/content.txt = "hello world"; mount_fuse_no_init, no program,
    classic root.

    Daemon: (1) INIT with DO_READDIRPLUS|READDIRPLUS_AUTO; (2) LOOKUP ``folder1`` ->
    {nodeid = ino of L/folder1, entry_valid **0**, attr valid maximal, attr of L/folder1} +
    {backing REPLACE fd of L/folder1}; (3) LOOKUP ``folder1`` again -- the revalidation of
    the expired dentry -- answered the same way but with entry_valid maximal: a reply
    that sets a backing is refused on revalidate, so (4) a third LOOKUP ``folder1`` (the
    fresh lookup after the failed revalidation), answered like (3).
    Action/expect: open + close M/folder1 twice; open M/folder1/content.txt, read 11
    bytes = "hello world" (from the backing, no daemon traffic), close.
    """
    p = env.proc
    p.mkdir(f"{L}/folder1", 0o777)
    env.write_lower(f"{L}/folder1/content.txt", b"hello world")

    def lookup(entry_valid: int, entry_valid_nsec: int) -> object:
        def answer(req: Request) -> Reply:
            attr = fuse_attr_of(env, f"{L}/folder1")
            bfd = daemon.proc.open(f"{L}/folder1", os.O_DIRECTORY | os.O_RDONLY | O_CLOEXEC)
            return Reply(
                uapi.FuseEntryOut(
                    nodeid=attr.ino,
                    generation=0,
                    entry_valid=entry_valid,
                    attr_valid=U64_MAX,
                    entry_valid_nsec=entry_valid_nsec,
                    attr_valid_nsec=U32_MAX,
                    attr=attr,
                ),
                uapi.FuseEntryBpfOut(backing_action=uapi.FUSE_ACTION_REPLACE, backing_fd=bfd),
            )

        return answer

    script = [
        expect_init(RDPLUS_FLAGS),
        expect_lookup("folder1").reply(lookup(0, 0)),  # type: ignore[arg-type]
        expect_lookup("folder1").reply(lookup(U64_MAX, U32_MAX)),  # type: ignore[arg-type]
        expect_lookup("folder1").reply(lookup(U64_MAX, U32_MAX)),  # type: ignore[arg-type]
    ]
    daemon = start_daemon(env, script, root_dir=False, init=False)
    for _ in range(2):
        fd = p.open(f"{M}/folder1", os.O_RDONLY | O_CLOEXEC)
        p.close(fd)
    fd = p.open(f"{M}/folder1/content.txt", os.O_RDONLY | O_CLOEXEC)
    assert p.read(fd, 11) == b"hello world"
    p.close(fd)
    env.finish_daemon()


# --- T31 ----------------------------------------------------------------------------------
def test_T31_bpf_test_lookup_postfilter(env: Env) -> None:
    """Setup: L/file1 and L/file2 (empty); root ``test_lookup_postfilter`` (LOOKUP pre ->
    BACKING|POST, LOOKUP post -> USER, else BACKING); mount_fuse.

    Daemon: (1) LOOKUP|POSTFILTER ``file1`` -> -ENOENT (hides an existing file);
    (2) LOOKUP|POSTFILTER ``file2`` -> echo the received ``fuse_entry_out`` and
    ``fuse_entry_bpf_out``; (3) LOOKUP|POSTFILTER ``file3`` whose header ``error_in`` must
    be -ENOENT (no such lower file) -> -ENOENT.
    Expect: open(M/file1) fails ENOENT; open(M/file2) works and closes; open(M/file3)
    fails.
    """
    for n in ("file1", "file2"):
        fd = _creat(env, f"{L}/{n}")
        env.proc.close(fd)

    def echo(req: Request) -> Reply:
        return Reply(req.args[1], req.args[2])

    def missing(req: Request) -> Reply:
        assert req.error_in == -errno.ENOENT
        assert req.header.padding == (-errno.ENOENT) & 0xFFFFFFFF
        return Reply.error(errno.ENOENT)

    script = [
        expect_lookup("file1", POST).reply(Reply.error(errno.ENOENT)),
        expect_lookup("file2", POST).reply(echo),
        expect_lookup("file3", POST).reply(missing),
    ]
    start_daemon(env, script, progs.test_lookup_postfilter)
    p = env.proc
    assert env.errno_of(p.open, f"{M}/file1", os.O_RDONLY) == errno.ENOENT
    fd = p.open(f"{M}/file2", os.O_RDONLY)
    p.close(fd)
    assert env.errno_of(p.open, f"{M}/file3", os.O_RDONLY) != 0
    env.finish_daemon()


# --- T34 ----------------------------------------------------------------------------------
def test_T34_bpf_test_mkdir_and_remove_bpf(env: Env) -> None:
    """Setup: root ``test_mkdir_remove`` (LOOKUP pre -> BACKING|POST; LOOKUP post sets
    bpf_action REMOVE; OPENDIR pre -> -EIO; else BACKING), ``root_dir`` = L,
    mount_fuse_no_init; no daemon and INIT never answered.

    Expect: mkdir(M/dir) works; open(M/dir, O_RDONLY) gives a valid fd: the directory
    made by MKDIR took the negative lookup's REMOVE decision, so its OPENDIR does not run
    the program (which would fail it with EIO).
    """
    env.mount_fuse(progs.test_mkdir_remove, init=False)
    p = env.proc
    p.mkdir(f"{M}/dir", 0o777)
    fd = p.open(f"{M}/dir", os.O_RDONLY)
    assert fd >= 0
    p.close(fd)
    assert stat.S_ISDIR(p.stat(f"{L}/dir").st_mode)
    env.assert_no_sync_requests()
