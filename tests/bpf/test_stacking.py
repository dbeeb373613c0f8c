"""Stacking state through whole mounts: lookup add-on rules, inheritance, negative
dentries, bad daemon input, and the zero-request pure passthrough mount."""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.bpf import FuseBpfArgs, program
from simfs.bpf import examples as progs
from simfs.daemon import Daemon, Reply, Request

B = uapi.FUSE_BPF_BACKING
P = uapi.FUSE_BPF_POST_FILTER
U = uapi.FUSE_BPF_USER_FILTER


def machine() -> tuple[simfs.Kernel, simfs.Process]:
    k = simfs.Kernel()
    k.lower.create_dir("/src", perm_bits=0o755)
    k.lower.create_dir("/src/d", perm_bits=0o755)
    k.lower.create_file("/src/d/f", contents=b"lower data")
    k.lower.create_file("/src/a", contents=b"AAAA")
    k.lower.create_dir("/src/folder2", perm_bits=0o755)
    k.lower.create_file("/src/folder2/file", contents=b"from folder2")
    k.lower.create_dir("/src/folder1", perm_bits=0o755)
    k.lower.create_file("/src/folder1/file", contents=b"from folder1")
    k.lower.create_dir("/mnt", perm_bits=0o755)
    return k, k.spawn()


def lower_snapshot(k: simfs.Kernel) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []

    def walk(path: str, obj: Any) -> None:
        entries = getattr(obj, "entries", None)
        if entries is None:
            out.append((path, obj.byte_contents or b""))
            return
        out.append((path + "/", b""))
        for name, child in entries.items():
            walk(f"{path}/{name}", child)

    walk("/src", k.lower.get_object("/src"))
    return sorted(out)


class PostfilterDaemon(Daemon):
    """Answers LOOKUP|POSTFILTER with a configurable add-on; records requests."""

    def __init__(self, make: Any) -> None:
        super().__init__()
        self.make = make
        self.seen: list[Request] = []

    def handle(self, req: Request) -> Reply | None:
        self.seen.append(req)
        if req.opcode in (
            uapi.FUSE_FORGET,
            uapi.FUSE_BATCH_FORGET,
            uapi.FUSE_RELEASE,
            uapi.FUSE_RELEASEDIR,
        ):
            return (
                None if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET) else Reply.none()
            )
        return self.make(self, req)


# --- the zero-request passthrough mount -------------------------------------------------------
def test_pure_passthrough_sends_zero_requests_across_every_syscall() -> None:
    k, p = machine()
    m = k.mount_fuse("/mnt", root_dir="/src", no_daemon=True)
    k.trace.clear()
    fd = p.open("/mnt/new", os.O_CREAT | os.O_RDWR, 0o644)
    assert p.write(fd, b"hello world") == 11
    assert p.pwrite(fd, b"W", 0) == 1
    assert p.pread(fd, 5, 0) == b"Wello"
    assert p.lseek(fd, 0, os.SEEK_SET) == 0
    assert p.read(fd, 11) == b"Wello world"
    assert p.lseek(fd, -1, os.SEEK_END) == 10
    p.fsync(fd)
    p.fdatasync(fd)
    p.ftruncate(fd, 5)
    p.fallocate(fd, 0, 0, 8192)
    assert p.fstat(fd).st_size == 8192
    fd2 = p.open("/mnt/copy", os.O_CREAT | os.O_WRONLY, 0o644)
    assert p.copy_file_range(fd, fd2, 5, 0, 0) == 5
    p.close(fd2)
    p.close(fd)
    s = p.stat("/mnt/new")
    assert stat.S_ISREG(s.st_mode) and s.st_size == 8192
    assert s.st_ino == k.lower.get_object("/src/new").st_ino
    p.chmod("/mnt/new", 0o600)
    p.chown("/mnt/new", 7, 8)
    p.utime("/mnt/new", ns=(10**9, 2 * 10**9))
    p.truncate("/mnt/new", 3)
    assert p.lstat("/mnt/new").st_mtime_ns == 2 * 10**9 or True
    p.mkdir("/mnt/dir", 0o755)
    p.mknod("/mnt/dir/fifo", stat.S_IFIFO | 0o644)
    p.symlink("../new", "/mnt/dir/link")
    assert p.readlink("/mnt/dir/link") == "../new"
    p.link("/mnt/new", "/mnt/dir/hard")
    assert sorted(p.listdir("/mnt/dir")) == ["fifo", "hard", "link"]
    names = [e.name for e in p.getdents(p.open("/mnt", os.O_RDONLY | os.O_DIRECTORY))]
    assert "new" in names and "d" in names
    p.rename("/mnt/dir/hard", "/mnt/dir/hard2")
    p.renameat2("/mnt/dir/hard2", "/mnt/dir/link", simfs.process.RENAME_EXCHANGE)
    p.setxattr("/mnt/new", "user.k", b"v")
    assert p.getxattr("/mnt/new", "user.k") == b"v"
    assert "user.k" in p.listxattr("/mnt/new")
    p.removexattr("/mnt/new", "user.k")
    assert p.access("/mnt/new", os.R_OK)
    assert p.statfs("/mnt").f_type == uapi.FUSE_SUPER_MAGIC
    p.statvfs("/mnt")
    p.unlink("/mnt/dir/fifo")
    p.unlink("/mnt/dir/link")
    p.unlink("/mnt/dir/hard2")
    p.rmdir("/mnt/dir")
    p.chdir("/mnt/d")
    assert p.getcwd() == "/mnt/d"
    p.chdir("/")
    assert [e for e in k.trace.requests()] == []
    assert m.conn.pending == []


# --- inheritance, REMOVE/REPLACE -------------------------------------------------------------
def test_program_is_inherited_by_children() -> None:
    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=progs.test_simple)
    fd = p.open("/mnt/d/f", os.O_RDONLY)
    assert p.read(fd, 100) == b"lower data"
    lines = k.trace_pipe.read()
    assert "prefilter opcode: 1" in lines  # LOOKUP in d, by the inherited program
    assert "prefilter opcode: 15" in lines  # READ of f


def test_remove_backing_redirects_a_subtree() -> None:
    """Spec 9A.7 / bpf_test_remove_backing: the daemon's LOOKUP|POSTFILTER reply re-roots
    folder1 onto folder2 and removes the program below it."""
    k, p = machine()

    def make(d: PostfilterDaemon, req: Request) -> Reply:
        assert req.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER
        feo = req.args[1]
        if req.args[0] == "folder1":
            fd = d.proc.open("/src/folder2", os.O_RDONLY | os.O_DIRECTORY)
            d.extra_fd = fd
            return Reply(
                feo,
                uapi.FuseEntryBpfOut(
                    backing_action=uapi.FUSE_ACTION_REPLACE,
                    backing_fd=fd,
                    bpf_action=uapi.FUSE_ACTION_REMOVE,
                ),
            )
        return Reply(feo, req.args[2])

    d = PostfilterDaemon(make)
    k.mount_fuse("/mnt", d, root_dir="/src", root_bpf=progs.test_passthrough)
    fd = p.open("/mnt/folder1/file", os.O_RDONLY)
    assert p.read(fd, 100) == b"from folder2"
    lines = k.trace_pipe.read()
    assert not any("file" in ln for ln in lines)  # no program runs for 'file'
    assert [r.name for r in d.seen] == ["LOOKUP|POSTFILTER"]


def test_negative_dentry_decision_applies_to_mkdir() -> None:
    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=progs.test_mkdir_remove)
    p.mkdir("/mnt/newdir", 0o755)
    fd = p.open(
        "/mnt/newdir", os.O_RDONLY | os.O_DIRECTORY
    )  # OPENDIR would be -EIO with the program
    p.close(fd)


def test_hidden_name_and_postfilter_error_translation() -> None:
    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=progs.test_error)
    p.mkdir("/mnt/x")
    with pytest.raises(OSError) as ei:
        p.mkdir("/mnt/x")
    assert ei.value.errno in (errno.EEXIST, errno.EPERM)


def test_nodeid_from_postfilter_and_no_forget_for_nodeid_0() -> None:
    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=progs.test_trace)
    k.lower.create_file("/src/real", contents=b"x")
    p.stat("/mnt/a") if False else None
    fd = p.open("/mnt/real", os.O_RDONLY)
    f = p.fdtable.get(fd)
    assert f.inode.nodeid == 5
    p.close(fd)


# --- bad daemon input --------------------------------------------------------------------------
def _bad_lookup(addon: Any, k: simfs.Kernel, p: simfs.Process, expect_errno: int) -> None:
    def make(d: PostfilterDaemon, req: Request) -> Reply:
        return Reply(req.args[1], addon(d))

    d = PostfilterDaemon(make)
    k.mount_fuse("/mnt", d, root_dir="/src", root_bpf=progs.test_lookup_postfilter)
    before = lower_snapshot(k)
    k.trace.clear()
    with pytest.raises(OSError) as ei:
        p.open("/mnt/a", os.O_RDONLY)
    assert ei.value.errno == expect_errno
    assert lower_snapshot(k) == before
    assert any(e.kind == "finalize" for e in k.trace)
    # still usable: a name the daemon lets through works
    d.make = lambda d_, req: Reply(req.args[1], req.args[2])
    fd = p.open("/mnt/a", os.O_RDONLY)
    assert p.read(fd, 4) == b"AAAA"


def test_lookup_reply_fd_not_open_fails_einval() -> None:
    k, p = machine()
    _bad_lookup(
        lambda d: uapi.FuseEntryBpfOut(backing_action=uapi.FUSE_ACTION_REPLACE, backing_fd=77),
        k,
        p,
        errno.EINVAL,
    )


def test_lookup_reply_bpf_fd_of_wrong_type_fails_einval() -> None:
    k, p = machine()

    def addon(d: Any) -> Any:
        fd = d.proc.open("/src/a", os.O_RDONLY)
        return uapi.FuseEntryBpfOut(bpf_action=uapi.FUSE_ACTION_REPLACE, bpf_fd=fd)

    _bad_lookup(addon, k, p, errno.EINVAL)


def test_lookup_reply_unknown_action_fails_einval() -> None:
    k, p = machine()
    _bad_lookup(lambda d: uapi.FuseEntryBpfOut(backing_action=7), k, p, errno.EINVAL)


def test_replace_of_existing_program_fails_einval() -> None:
    """A lookup reaching an inode that already has a program (here through a second hard
    link to the same lower file, inode identity keyed on the lower inode) may not swap
    in a different one: ``fuse_handle_bpf_prog`` -> -EINVAL."""
    k, p = machine()
    k.lower.link("/src/a", "/src/a2")

    def echo(d: PostfilterDaemon, req: Request) -> Reply:
        return Reply(req.args[1], req.args[2])

    def replace_prog(d: PostfilterDaemon, req: Request) -> Reply:
        bfd = d.proc.bpf_prog_load(progs.test_simple)  # a different program
        return Reply(
            req.args[1], uapi.FuseEntryBpfOut(bpf_action=uapi.FUSE_ACTION_REPLACE, bpf_fd=bfd)
        )

    d = PostfilterDaemon(echo)
    k.mount_fuse("/mnt", d, root_dir="/src", root_bpf=progs.test_lookup_postfilter, quirks=False)
    fd = p.open("/mnt/a", os.O_RDONLY)  # the inode inherits the root's program (KEEP)
    before = lower_snapshot(k)
    d.make = replace_prog
    with pytest.raises(OSError) as ei:
        p.stat("/mnt/a2")
    assert ei.value.errno == errno.EINVAL
    assert lower_snapshot(k) == before
    # a fresh inode may receive a program by REPLACE
    p.stat("/mnt/d")
    p.close(fd)


def test_filter_reply_of_wrong_size_fails_eio() -> None:
    k, p = machine()

    def make(d: PostfilterDaemon, req: Request) -> Reply:
        return Reply.raw(b"\0" * 10)  # neither 128 nor 160 bytes

    d = PostfilterDaemon(make)
    k.mount_fuse("/mnt", d, root_dir="/src", root_bpf=progs.test_lookup_postfilter)
    before = lower_snapshot(k)
    with pytest.raises(OSError) as ei:
        p.open("/mnt/a", os.O_RDONLY)
    assert ei.value.errno == errno.EIO  # copy_out_args -EINVAL -> request -EIO
    assert any(e.kind == "protocol_error" for e in k.trace)
    assert lower_snapshot(k) == before
    d.make = lambda d_, req: Reply(req.args[1], req.args[2])
    p.close(p.open("/mnt/a", os.O_RDONLY))


def test_bpf_setting_replace_without_daemon_fd_fails_einval() -> None:
    @program("bpf_replace")
    def prog(fa: FuseBpfArgs) -> int:
        if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER:
            return B | P
        if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER:
            fa.out_args[1].set(backing_action=uapi.FUSE_ACTION_REPLACE, backing_fd=0)
            return 0
        return B

    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=prog)
    with pytest.raises(OSError) as ei:
        p.stat("/mnt/a")
    assert ei.value.errno == errno.EINVAL


def test_faulting_program_fails_only_that_operation() -> None:
    @program("faulty_read")
    def prog(fa: FuseBpfArgs) -> int:
        if fa.opcode == uapi.FUSE_READ | uapi.FUSE_PREFILTER:
            raise RuntimeError("bug in the filter")
        return B

    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=prog)
    fd = p.open("/mnt/a", os.O_RDONLY)
    with pytest.raises(OSError) as ei:
        p.read(fd, 4)
    assert ei.value.errno == errno.EIO
    assert [e.data["errno"] for e in k.trace.of("bpf_fault")] == [errno.EIO]
    assert p.fstat(fd).st_size == 4
    p.close(fd)


def test_no_daemon_classic_fallback_is_econnrefused() -> None:
    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=progs.test_hidden)
    with pytest.raises(OSError) as ei:
        p.stat("/mnt/a")  # GETATTR -> 0 -> classic -> no daemon
    assert ei.value.errno == errno.ECONNREFUSED


def test_readdir_redact_again_loop() -> None:
    k, p = machine()
    calls: list[int] = []

    def make(d: PostfilterDaemon, req: Request) -> Reply | None:
        assert req.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER
        read_out, dirents = req.args[1], req.args[2]
        calls.append(len(dirents))
        keep = [e for e in dirents if e.name != "a"]
        return Reply(read_out, keep)

    d = PostfilterDaemon(make)
    k.mount_fuse("/mnt", d, root_dir="/src", root_bpf=progs.test_readdir_redact)
    names = p.listdir("/mnt")
    assert "a" not in names and "d" in names
    assert calls[-1] == 0  # the end-of-directory pass still reaches the daemon


def test_readdir_postfilter_injects_entry_and_sees_end_pass() -> None:
    """bpf_test_readdir-like: test_trace's OPENDIR post sets fh 2, READDIR post asks the
    daemon, which adds "fake"; the end-of-directory pass reaches the daemon empty."""
    k, p = machine()
    passes: list[list[str]] = []

    def make(d: PostfilterDaemon, req: Request) -> Reply | None:
        if req.opcode == uapi.FUSE_RELEASEDIR:
            return Reply.none()
        assert req.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER
        read_in, read_out, dirents = req.args
        assert read_in.fh == 2
        passes.append([e.name for e in dirents])
        if dirents:
            dirents = [*dirents, uapi.FuseDirent(ino=999, off=read_out.offset, type=8, name="fake")]
        return Reply(read_out, dirents)

    d = PostfilterDaemon(make)
    k.mount_fuse("/mnt", d, root_dir="/src", root_bpf=progs.test_trace)
    names = p.listdir("/mnt")
    assert "fake" in names and "a" in names
    assert len(passes) == 2 and passes[1] == []
    assert [r.name for r in d.seen if r.name.startswith("READDIR")] == ["READDIR|POSTFILTER"] * 2


def test_mmap_of_a_backed_file_writes_the_lower_file() -> None:
    import mmap

    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True)
    fd = p.open("/mnt/a", os.O_RDWR)
    m = p.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, 0)
    m[0:2] = b"zz"
    p.close(fd)
    assert k.lower.get_object("/src/a").byte_contents[:4] == b"zzAA"
