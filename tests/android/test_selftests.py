"""The 25 Android FUSE-BPF self-test scenarios of docs/android-selftests.md §4, one test each.

Each test follows the scenario's setup, action and expectations: the scripted daemon's
strict request order and sizes, trace-pipe lines, errno and contents; a "no daemon"
scenario also asserts that no synchronous request reached userspace.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat

import pytest

from simfs import uapi
from simfs.bpf import examples as progs
from simfs.daemon import Reply
from simfs.daemons.scripted import expect, expect_init, expect_lookup, expect_null
from simfs.vfs.cred import CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH

from .harness import PAGE, TEST_DATA, Env, L, M, entry, make_env, open_reply, pattern

S_IFREG = stat.S_IFREG
S_IFDIR = stat.S_IFDIR


@pytest.fixture
def env() -> Env:
    return make_env()


def _need(env: Env, *names: str) -> None:
    missing = [n for n in names if not hasattr(env.proc, n)]
    if missing:
        pytest.skip(f"Process lacks {', '.join(missing)} (requested from the lead)")


# --- T01 ----------------------------------------------------------------------------------
def test_T01_basic_test(env: Env) -> None:
    script = [
        expect_lookup("test").reply(Reply(entry(2, 100, 4, S_IFREG | 0o777))),
        expect(uapi.FUSE_OPEN, uapi.FuseOpenIn).reply(open_reply(1)),
        expect_null(uapi.FUSE_CANONICAL_PATH).reply(Reply.raw(b"ignored")),
        expect(uapi.FUSE_READ, uapi.FuseReadIn).reply(Reply.raw(b"data")),
        expect(uapi.FUSE_FLUSH, uapi.FuseFlushIn).reply(Reply.none()),
        expect(uapi.FUSE_RELEASE, uapi.FuseReleaseIn).reply(Reply.none()),
    ]
    env.mount_fuse(root_dir=False, script=script)
    p = env.proc
    fd = p.open(f"{M}/test", os.O_RDONLY)
    assert p.read(fd, 4) == b"data"
    p.close(fd)
    env.finish_daemon()


# --- T02 ----------------------------------------------------------------------------------
def test_T02_bpf_test_real(env: Env) -> None:
    env.write_lower(f"{L}/real", TEST_DATA)
    env.mount_fuse(progs.test_trace)
    p = env.proc
    fd = p.open(f"{M}/real", os.O_RDONLY)
    assert p.read(fd, 39) == TEST_DATA
    env.trace("read")
    p.close(fd)
    env.assert_no_sync_requests()


# --- T03 ----------------------------------------------------------------------------------
def test_T03_bpf_test_partial(env: Env) -> None:
    env.create_file(f"{L}/partial", 1, 2)
    script = [
        expect(uapi.FUSE_OPEN | uapi.FUSE_POSTFILTER, uapi.FuseOpenIn, uapi.FuseOpenOut).reply(
            open_reply(1)
        ),
        expect(uapi.FUSE_READ, uapi.FuseReadIn).reply(Reply.raw(pattern(2, 0))),
        expect(uapi.FUSE_RELEASE, uapi.FuseReleaseIn).reply(Reply.none()),
    ]
    env.mount_fuse(progs.test_trace, script=script)
    p = env.proc
    fd = p.open(f"{M}/partial", os.O_RDONLY)
    first = p.read(fd, PAGE)
    assert first == pattern(2, 0) and first != pattern(1, 0)
    env.trace("read")
    second = p.read(fd, PAGE)
    assert second == pattern(1, 1) and second != pattern(2, 1)
    p.close(fd)
    env.finish_daemon()
    ops = [e.data["opcode"] for e in env.k.trace.requests() if e.data["opcode"] != "INIT"]
    assert "FLUSH" not in ops and not any(o.startswith("LOOKUP") for o in ops)


# --- T04 ----------------------------------------------------------------------------------
def test_T04_bpf_test_attrs(env: Env) -> None:
    env.create_file(f"{L}/partial", 1, 2)
    env.mount_fuse(progs.test_trace)
    p = env.proc
    path = f"{M}/partial"
    p.stat(path)
    p.chmod(path, 0o111)
    assert stat.S_IMODE(p.stat(path).st_mode) == 0o111
    p.chmod(path, 0o777)
    assert stat.S_IMODE(p.stat(path).st_mode) == 0o777
    p.chown(path, 5, 6)
    s = p.stat(path)
    assert (s.st_uid, s.st_gid) == (5, 6)
    lower = p.stat(f"{L}/partial")
    assert (stat.S_IMODE(lower.st_mode), lower.st_uid, lower.st_gid) == (0o777, 5, 6)
    env.assert_no_sync_requests()


# --- T06 ----------------------------------------------------------------------------------
def test_T06_bpf_test_creat(env: Env) -> None:
    def create_reply(req: object) -> Reply:
        flags = req.args[0].flags  # type: ignore[attr-defined]
        return Reply(entry(2, 200, 4, S_IFREG), uapi.FuseOpenOut(fh=1, open_flags=flags))

    script = [
        expect_lookup("show").reply(Reply(entry(3, 100, 4, S_IFDIR | 0o777))),
        expect_lookup("file").reply(Reply.error(errno.ENOENT)),
        expect(uapi.FUSE_CREATE, uapi.FuseCreateIn, 5).reply(create_reply),
        expect_null(uapi.FUSE_CANONICAL_PATH).reply(Reply.raw(b"ignored")),
        expect(uapi.FUSE_FLUSH, uapi.FuseFlushIn).reply(Reply.none()),
        expect(uapi.FUSE_RELEASE, uapi.FuseReleaseIn).reply(Reply.none()),
    ]
    env.mount_fuse(root_dir=False, script=script)
    fd = env.proc.open(f"{M}/show/file", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o777)
    assert fd >= 0
    env.proc.close(fd)
    env.finish_daemon()


# --- T07 ----------------------------------------------------------------------------------
def test_T07_bpf_test_hidden_entries(env: Env) -> None:
    env.k.lower.create_dir(f"{L}/show", perm_bits=0o777)
    env.k.lower.create_dir(f"{L}/hide", perm_bits=0o777)
    env.mount_fuse(progs.test_hidden)
    p = env.proc
    fd = p.open(f"{M}/show/file", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o777)
    p.fallocate(fd, 0, 0, 4096)
    p.write(fd, b"The quick brown fox jumps over the lazy dog\n")
    p.close(fd)
    env.trace("Create")
    env.assert_no_sync_requests()
    # the hidden name: the prefilter's -ENOENT (not exercised by the original test)
    assert env.errno_of(p.stat, f"{M}/hide") == errno.ENOENT


# --- T08 ----------------------------------------------------------------------------------
def test_T08_bpf_test_dir(env: Env) -> None:
    env.mount_fuse(progs.test_trace)
    p = env.proc
    p.mkdir(f"{M}/dir", 0o777)
    env.trace("mkdir")
    p.stat(f"{L}/dir")
    p.rmdir(f"{M}/dir")
    assert env.errno_of(p.stat, f"{L}/dir") == errno.ENOENT
    env.assert_no_sync_requests()


# --- T09 / T10 ----------------------------------------------------------------------------
def _file_close(env: Env, close_first: bool) -> None:
    env.mount_fuse(progs.test_trace)
    p = env.proc
    fd = p.open(f"{M}/real", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o777)
    env.trace("Create")
    if close_first:
        p.close(fd)
    p.stat(f"{L}/real")
    p.unlink(f"{M}/real")
    env.trace("unlink")
    assert env.errno_of(p.stat, f"{L}/real") == errno.ENOENT
    if not close_first:
        p.close(fd)
    env.assert_no_sync_requests()


def test_T09_bpf_test_file_early_close(env: Env) -> None:
    _file_close(env, True)


def test_T10_bpf_test_file_late_close(env: Env) -> None:
    _file_close(env, False)


# --- T11 ----------------------------------------------------------------------------------
def test_T11_bpf_test_mknod(env: Env) -> None:
    env.mount_fuse(progs.test_trace)
    p = env.proc
    p.mknod(f"{M}/real", stat.S_IFIFO | 0o777, 0)
    env.trace("mknod")
    assert stat.S_ISFIFO(p.stat(f"{L}/real").st_mode)
    p.unlink(f"{M}/real")
    env.trace("unlink")
    assert env.errno_of(p.stat, f"{L}/real") == errno.ENOENT
    env.assert_no_sync_requests()


# --- T13 ----------------------------------------------------------------------------------
def test_T13_bpf_test_link(env: Env) -> None:
    env.mount_fuse(progs.test_trace)
    p = env.proc
    fd = p.open(f"{M}/real", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o777)
    env.trace("Create")
    p.stat(f"{L}/real")
    p.link(f"{M}/real", f"{M}/partial")
    env.trace("link")
    p.stat(f"{L}/partial")
    p.unlink(f"{M}/partial")
    env.trace("unlink")
    assert env.errno_of(p.stat, f"{L}/partial") == errno.ENOENT
    p.unlink(f"{M}/real")
    env.trace("unlink")
    assert env.errno_of(p.stat, f"{L}/real") == errno.ENOENT
    p.close(fd)
    env.assert_no_sync_requests()


# --- T14 ----------------------------------------------------------------------------------
def test_T14_bpf_test_symlink(env: Env) -> None:
    env.write_lower(f"{L}/real", TEST_DATA)
    env.mount_fuse(progs.test_trace)
    p = env.proc
    p.symlink(f"{M}/real", f"{M}/partial")
    env.trace("symlink")
    fd = p.open(f"{M}/partial", os.O_RDONLY)
    data = p.read(fd, 39)
    env.trace("readlink")
    assert data == TEST_DATA
    assert p.readlink(f"{L}/partial") == f"{M}/real"
    p.close(fd)
    env.assert_no_sync_requests()


# --- T17 ----------------------------------------------------------------------------------
def test_T17_bpf_test_set_backing(env: Env) -> None:
    from simfs.daemons.scripted import Scripted

    holder: dict[str, int] = {}

    def lookup_reply(req: object) -> Reply:
        return Reply(
            uapi.FuseEntryOut(),
            uapi.FuseEntryBpfOut(
                backing_action=uapi.FUSE_ACTION_REPLACE,
                backing_fd=holder["fd"],
                bpf_action=uapi.FUSE_ACTION_REPLACE,
                bpf_fd=holder["bpf"],
            ),
        )

    script = [
        expect_init(),
        expect_lookup("test").reply(lookup_reply),
        expect(uapi.FUSE_OPEN, uapi.FuseOpenIn).no_reply(final_blocking_read=True),
    ]
    daemon = Scripted(script, handle_init=False)
    dproc = env.k.spawn(cwd="/work")
    daemon.attach(dproc)
    holder["fd"] = dproc.open(f"{L}/backing", os.O_WRONLY | os.O_CREAT, 0o777)
    dproc.write(holder["fd"], b"data")
    holder["bpf"] = dproc.bpf_prog_load(progs.test_simple)
    env.mount_fuse(root_dir=False, init=False, daemon=daemon)
    p = env.proc
    fd = p.open(f"{M}/test", os.O_RDONLY)
    assert p.read(fd, 4) == b"data"
    p.close(fd)
    env.umount()
    daemon.verify()
    assert [e.data["opcode"] for e in env.k.trace.requests()] == ["INIT", "LOOKUP"]


# --- T19 ----------------------------------------------------------------------------------
def test_T19_bpf_test_dir_rename(env: Env) -> None:
    env.mount_fuse(progs.test_trace)
    p = env.proc
    p.mkdir(f"{M}/dir", 0o777)
    env.trace("mkdir")
    p.stat(f"{L}/dir")
    p.rename(f"{M}/dir", f"{M}/dir2")
    assert env.errno_of(p.stat, f"{L}/dir") == errno.ENOENT
    p.stat(f"{L}/dir2")
    env.assert_no_sync_requests()


# --- T20 ----------------------------------------------------------------------------------
def test_T20_bpf_test_file_rename(env: Env) -> None:
    env.mount_fuse(progs.test_trace)
    p = env.proc
    p.mkdir(f"{M}/dir", 0o777)
    fd = p.open(f"{M}/dir/file1", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o777)
    p.rename(f"{M}/dir/file1", f"{M}/dir/file2")
    assert env.errno_of(p.stat, f"{L}/dir/file1") == errno.ENOENT
    p.stat(f"{L}/dir/file2")
    p.close(fd)
    env.assert_no_sync_requests()


# --- T21 ----------------------------------------------------------------------------------
def test_T21_bpf_test_alter_errcode_bpf(env: Env) -> None:
    env.mount_fuse(progs.test_error)
    p = env.proc
    p.mkdir(f"{M}/dir", 0o777)
    p.stat(f"{L}/dir")
    assert env.errno_of(p.mkdir, f"{M}/dir", 0o777) in (errno.EPERM, errno.EEXIST)
    p.rmdir(f"{M}/dir")
    assert env.errno_of(p.stat, f"{L}/dir") == errno.ENOENT
    env.assert_no_sync_requests()


# --- T23 ----------------------------------------------------------------------------------
def test_T23_mmap_test(env: Env) -> None:
    _need(env, "mmap")
    env.mount_fuse(None)
    p = env.proc
    fd = p.open(f"{M}/file", os.O_CREAT | os.O_RDWR, 0o777)
    p.fallocate(fd, 0, 4096, os.SEEK_CUR)
    mapping = p.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, 0)
    mapping[0:4096] = b"a" * 4096  # must not fault
    p.close(fd)
    assert env.k.lower.get_object(f"{L}/file").byte_contents[:4096] == b"a" * 4096
    env.assert_no_sync_requests()


# --- T24 ----------------------------------------------------------------------------------
def test_T24_readdir_perms_test(env: Env) -> None:
    p = env.proc
    p.cred = p.cred.without(CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)
    env.mount_fuse(None)
    p.mkdir("test", 0o111)
    assert env.errno_of(p.open, "test", os.O_RDONLY | os.O_DIRECTORY) == errno.EACCES
    p.mkdir(f"{M}/test", 0o111)
    assert env.errno_of(p.open, f"{M}/test", os.O_RDONLY | os.O_DIRECTORY) == errno.EACCES
    p.rmdir(f"{M}/test")
    p.rmdir("test")
    env.assert_no_sync_requests()


# --- T26 ----------------------------------------------------------------------------------
def test_T26_bpf_test_statfs(env: Env) -> None:
    env.mount_fuse(progs.test_trace)
    s = env.proc.statfs(M)
    env.trace("statfs")
    assert s.f_type == 0x65735546
    env.assert_no_sync_requests()


# --- T32 ----------------------------------------------------------------------------------
def test_T32_flock_test(env: Env) -> None:
    import fcntl

    env.mount_fuse(None)
    p = env.proc
    fd = p.open(f"{M}/file", os.O_CREAT | os.O_RDWR, 0o777)
    fd2 = p.open(f"{M}/file", os.O_RDWR)
    p.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert env.errno_of(p.flock, fd2, fcntl.LOCK_EX | fcntl.LOCK_NB) == errno.EAGAIN
    p.flock(fd, fcntl.LOCK_UN)
    p.flock(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB)
    bfd = p.open(f"{L}/file", os.O_RDONLY)
    assert env.errno_of(p.flock, bfd, fcntl.LOCK_EX | fcntl.LOCK_NB) == errno.EAGAIN
    p.close(fd2)
    p.flock(bfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    p.close(bfd)
    p.close(fd)
    env.assert_no_sync_requests()


# --- T33 ----------------------------------------------------------------------------------
def test_T33_bpf_test_create_and_remove_bpf(env: Env) -> None:
    env.mount_fuse(progs.test_create_remove, init=False)
    p = env.proc
    fd = (
        p.creat(f"{M}/file", 0o777)
        if hasattr(p, "creat")
        else p.open(f"{M}/file", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o777)
    )
    fd2 = p.open(f"{M}/file", os.O_RDONLY)
    assert fd >= 0 and fd2 >= 0
    p.close(fd2)
    p.close(fd)
    env.assert_no_sync_requests()


# --- T35 ----------------------------------------------------------------------------------
def test_T35_bpf_test_readahead(env: Env) -> None:
    _need(env, "posix_fadvise")
    fd0 = env.proc.open(f"{L}/file", os.O_CREAT | os.O_WRONLY, 0o777)
    env.proc.fallocate(fd0, 0, 0, 4096)
    env.proc.close(fd0)
    env.mount_fuse(None)
    p = env.proc
    fd = p.open(f"{M}/file", os.O_RDONLY)
    assert p.posix_fadvise(fd, 0, 4096, os.POSIX_FADV_WILLNEED) is None  # type: ignore[attr-defined]
    env.k.clock.advance(1_000_000)
    p.close(fd)
    env.assert_no_sync_requests()


# --- T36 ----------------------------------------------------------------------------------
def test_T36_splice_test(env: Env) -> None:
    _need(env, "pipe", "splice")
    fd0 = env.proc.open(f"{L}/in", os.O_CREAT | os.O_WRONLY, 0o777)
    env.proc.fallocate(fd0, 0, 0, 4096)
    env.proc.close(fd0)
    env.mount_fuse(None)
    p = env.proc
    r, w = p.pipe()  # type: ignore[attr-defined]
    fin = p.open(f"{M}/in", os.O_RDONLY)
    fout = p.open(f"{M}/out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o777)
    assert p.splice(fin, w, 4096) == 4096  # type: ignore[attr-defined]
    assert p.splice(r, fout, 4096) == 4096  # type: ignore[attr-defined]
    for fd in (fin, fout, r, w):
        p.close(fd)
    assert p.stat(f"{L}/out").st_size == 4096
    env.assert_no_sync_requests()


# --- T37 ----------------------------------------------------------------------------------
def test_T37_bpf_test_follow_mounts(env: Env) -> None:
    env.k.lower.create_dir(f"{L}/bind_src")
    env.k.lower.create_file(f"{L}/bind_src/file")
    env.k.lower.create_dir(f"{L}/bind_dst")
    env.k.mount_bind(f"{L}/bind_src", f"{L}/bind_dst")
    env.mount_fuse(None, init=False)
    p = env.proc
    fd = p.open(f"{M}/bind_src/file", os.O_RDONLY)
    fd2 = p.open(f"{M}/bind_dst/file", os.O_RDONLY)
    p.close(fd)
    p.close(fd2)
    env.assert_no_sync_requests()


# --- T38 ----------------------------------------------------------------------------------
def test_T38_copy_file_range_test(env: Env) -> None:
    k = env.k
    k.lower.create_dir(f"{L}/backing")
    k.lower.create_file(f"{L}/backing/source", contents=b"\0" * 4096)
    k.lower.create_file(f"{L}/backing/dest", contents=b"\0" * 4096)
    k.lower.create_dir(f"{L}/user")
    reg = S_IFREG | 0o777

    def cfr(fh_out: int, reply: Reply) -> object:
        def answer(req: object) -> Reply:
            c = req.args[0]  # type: ignore[attr-defined]
            assert c.fh_in == 2 and c.fh_out == fh_out, c
            return reply

        return answer

    getx = expect(uapi.FUSE_GETXATTR, uapi.FuseGetxattrIn, 20).reply(
        Reply(uapi.FuseGetxattrOut(size=0))
    )
    script = [
        expect_lookup("source").reply(Reply(entry(2, 100, 4096, reg))),
        expect(uapi.FUSE_OPEN, uapi.FuseOpenIn).reply(open_reply(2)),
        expect_null(uapi.FUSE_CANONICAL_PATH).reply(Reply.raw(b"ignored")),
        expect_lookup("dest").reply(Reply(entry(3, 100, 4096, reg))),
        expect(uapi.FUSE_OPEN, uapi.FuseOpenIn).reply(open_reply(3)),
        expect_null(uapi.FUSE_CANONICAL_PATH).reply(Reply.raw(b"ignored")),
        expect(uapi.FUSE_COPY_FILE_RANGE, uapi.FuseCopyFileRangeIn).reply(
            cfr(0, Reply.error(errno.EXDEV))
        ),
        expect(uapi.FUSE_READ, uapi.FuseReadIn).reply(Reply.raw(b"\0" * 4096)),
        getx,
        expect(uapi.FUSE_WRITE, uapi.FuseWriteIn, 4096).reply(Reply(uapi.FuseWriteOut(size=4096))),
        getx,
        expect(uapi.FUSE_COPY_FILE_RANGE, uapi.FuseCopyFileRangeIn).reply(
            cfr(3, Reply(uapi.FuseWriteOut(size=4096)))
        ),
        expect(uapi.FUSE_FLUSH, uapi.FuseFlushIn).reply(Reply.none()),
        expect(uapi.FUSE_RELEASE, uapi.FuseReleaseIn).reply(Reply.none()),
        expect(uapi.FUSE_FLUSH, uapi.FuseFlushIn).reply(Reply.none()),
        expect(uapi.FUSE_RELEASE, uapi.FuseReleaseIn).reply(Reply.none()),
    ]
    env.mount_fuse(progs.copy_file_range_test, script=script)
    p = env.proc
    bs = p.open(f"{M}/backing/source", os.O_RDONLY)
    bd = p.open(f"{M}/backing/dest", os.O_RDWR)
    us = p.open(f"{M}/user/source", os.O_RDONLY)
    ud = p.open(f"{M}/user/dest", os.O_RDWR)
    for src, dst in ((bs, bd), (us, bd), (bs, ud), (us, ud)):
        assert p.copy_file_range(src, dst, 4096, 0, 0) == 4096
    for fd in (bs, bd, us, ud):
        p.close(fd)
    env.finish_daemon()
