"""Every case issue 12 lists under "Seen", as a test: each failed on the engine before
the fix (an exception other than OSError escaped, a half-created entry, a wrong answer)."""

from __future__ import annotations

import dataclasses
import errno
import os
import stat

import pytest

import simfs
import simfs.bpf
import simfs.daemons
from simfs import uapi
from simfs.errors import UnansweredRequest, UsageError

from .machines import Replying, bpf_mount, daemon_mount, lower_kernel

B, P = uapi.FUSE_BPF_BACKING, uapi.FUSE_BPF_POST_FILTER


# --- daemon replies the kernel cannot pack ---------------------------------------------------
def test_entry_reply_with_negative_nodeid_fails_eio_with_a_note() -> None:
    d = Replying(uapi.FUSE_LOOKUP, lambda req: simfs.Reply(uapi.FuseEntryOut(nodeid=-1)))
    k, p = daemon_mount(d)
    with pytest.raises(OSError) as ei:
        p.stat("/mnt/a")
    assert ei.value.errno == errno.EIO
    assert ei.value.filename == "/mnt/a"
    note = " ".join(ei.value.__notes__)
    assert "daemon Replying" in note and "LOOKUP" in note and "cannot be packed" in note
    assert [e for e in k.trace.events if e.kind == "protocol_error"]
    assert p.stat("/data/a").st_size == 5  # the machine is still usable


def test_negative_uid_cannot_reach_a_getattr_reply() -> None:
    """The shipped Passthrough stored uid -2 because chown accepted it; os refuses it."""
    _k, p = daemon_mount(simfs.daemons.Passthrough("/data"))
    with pytest.raises(OverflowError):
        p.chown("/mnt/a", -2, -1)
    with pytest.raises(OverflowError):
        os.chown("/nonexistent-simfs-path", -2, -1)  # what os does, before any syscall
    assert p.stat("/mnt/a").st_uid == 0


def test_reply_header_of_the_wrong_type_fails_the_request() -> None:
    d = Replying(uapi.FUSE_GETATTR, lambda req: simfs.Reply(uapi.FuseAttrOut(), unique="x"))
    _k, p = daemon_mount(d)
    with pytest.raises(OSError) as ei:
        p.stat("/mnt")
    assert ei.value.errno == errno.EIO
    assert "header unique 'x'" in " ".join(ei.value.__notes__)


def test_reply_with_an_error_of_the_wrong_type_fails_the_request() -> None:
    bad = simfs.Reply(uapi.FuseAttrOut())
    bad._error = "EIO"  # type: ignore[assignment]
    _k, p = daemon_mount(Replying(uapi.FUSE_GETATTR, lambda req: bad))
    with pytest.raises(OSError) as ei:
        p.stat("/mnt")
    assert ei.value.errno == errno.EIO


# --- filters that leave values the engine cannot use -----------------------------------------
def _prog(name: str, opcode: int, action: object) -> simfs.bpf.Program:
    @simfs.bpf.program(name)
    def prog(fa: simfs.bpf.FuseBpfArgs) -> int:
        if fa.opcode == opcode:
            action(fa)  # type: ignore[operator]
            return 0 if opcode & uapi.FUSE_POSTFILTER else B | P
        return B | P

    return prog


def _set(i: int, **fields: object) -> object:
    def act(fa: simfs.bpf.FuseBpfArgs) -> None:
        fa.out_args[i].value = dataclasses.replace(fa.out_args[i].value, **fields)

    return act


@pytest.mark.parametrize(
    ("opcode", "action", "call"),
    [
        (
            uapi.FUSE_ACCESS | uapi.FUSE_PREFILTER,
            _set(0, mask=None),
            lambda p: p.access("/mnt/a", os.R_OK) and p.stat("/mnt/a"),
        ),
        (uapi.FUSE_GETATTR | uapi.FUSE_POSTFILTER, _set(0, attr_valid="x"), None),
        (uapi.FUSE_READ | uapi.FUSE_PREFILTER, _set(0, size="4096"), "read"),
        (uapi.FUSE_FALLOCATE | uapi.FUSE_PREFILTER, _set(0, length="1"), "fallocate"),
        (
            uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER,
            lambda fa: fa.out_args[1].value.append(42),
            "listdir",
        ),
    ],
    ids=["access-mask-None", "getattr-str", "read-str", "fallocate-str", "readdir-append-42"],
)
def test_filter_output_of_the_wrong_type_fails_the_op_with_a_note(
    opcode: int, action: object, call: object
) -> None:
    k, p = bpf_mount(_prog("bad_out", opcode, action))
    with pytest.raises(OSError) as ei:
        if call == "read":
            fd = p.open("/mnt/a", os.O_RDONLY)
            p.read(fd, 10)
        elif call == "fallocate":
            fd = p.open("/mnt/a", os.O_RDWR)
            p.posix_fallocate(fd, 0, 10)
        elif call == "listdir":
            p.listdir("/mnt")
        elif call is None:
            p.stat("/mnt/a")
        else:
            if not call(p):  # type: ignore[operator]
                raise OSError(errno.EACCES, "access said no")
    if call is not None and not isinstance(call, str):
        # access() answers False like os.access; the fault is still in the trace
        pass
    else:
        assert ei.value.errno == errno.EACCES
        note = " ".join(ei.value.__notes__)
        assert "program 'bad_out'" in note and "filter" in note
    faults = [e for e in k.trace.events if e.kind == "bpf_fault"]
    assert faults and faults[-1].data["prog"] == "bad_out"
    assert k.lower.get_object("/data/a").byte_contents == b"hello"  # lower untouched
    assert p.stat("/data/a").st_size == 5


def test_program_assigning_to_a_frozen_struct_says_so() -> None:
    def act(fa: simfs.bpf.FuseBpfArgs) -> None:
        fa.in_args[0].value.flags = 3

    _k, p = bpf_mount(_prog("frozen", uapi.FUSE_OPEN | uapi.FUSE_PREFILTER, act))
    with pytest.raises(OSError) as ei:
        p.open("/mnt/a", os.O_RDONLY)
    note = " ".join(getattr(ei.value, "__notes__", ()))
    assert "program 'frozen'" in note and "OPEN" in note and "pre-filter" in note


# --- sparse files -----------------------------------------------------------------------------
def test_truncate_to_a_terabyte_is_a_hole() -> None:
    _k, p = lower_kernel()
    p.truncate("/data/a", 2**40)
    s = p.stat("/data/a")
    assert (s.st_size, s.st_blocks) == (2**40, 8)  # the one page "hello" is in


def test_pwrite_at_two_gib_allocates_one_page() -> None:
    _k, p = lower_kernel(disk_size=1 << 20)
    fd = p.open("/data/a", os.O_RDWR)
    assert p.pwrite(fd, b"x", 2**31) == 1
    s = p.fstat(fd)
    assert (s.st_size, s.st_blocks) == (2**31 + 1, 16)
    assert p.pread(fd, 3, 2**31 - 2) == b"\0\0x"
    assert p.lseek(fd, 5, os.SEEK_DATA) == 5  # "hello" is data
    assert p.lseek(fd, 5, os.SEEK_HOLE) == 4096
    assert p.lseek(fd, 4096, os.SEEK_DATA) == 2**31  # as measured on tmpfs
    assert p.lseek(fd, 2**31, os.SEEK_HOLE) == 2**31 + 1  # i_size ends the last page


def test_fallocate_beyond_the_filesystem_size_is_enospc_and_changes_nothing() -> None:
    _k, p = lower_kernel(disk_size=1 << 20)
    fd = p.open("/data/a", os.O_RDWR)
    with pytest.raises(OSError) as ei:
        p.posix_fallocate(fd, 0, 2**40)
    assert ei.value.errno == errno.ENOSPC
    assert (p.fstat(fd).st_size, p.fstat(fd).st_blocks) == (5, 8)


# --- atomic mutations -------------------------------------------------------------------------
def test_symlink_on_a_full_disk_leaves_no_entry() -> None:
    _k, p = lower_kernel(disk_size=3 * 4096)
    fd = p.open("/data/fill", os.O_WRONLY | os.O_CREAT, 0o644)
    assert p.write(fd, b"x" * 5 * 4096) == 3 * 4096  # a short write fills the disk
    assert p.statvfs("/data").f_bfree == 0
    with pytest.raises(OSError) as ei:
        p.symlink("t" * 200, "/data/l")  # a long target needs a page (shmem_symlink)
    assert ei.value.errno == errno.ENOSPC
    assert (ei.value.filename, ei.value.filename2) == ("t" * 200, "/data/l")
    assert "l" not in p.listdir("/data")
    p.symlink("short", "/data/l")  # inline target: no page needed
    assert p.readlink("/data/l") == "short"


def test_rmdir_after_sticky_directory_rename_loops() -> None:
    """pjdfstest rename/09: renames in and out of sticky directories by the owners of
    the directories and of the entries, for every file type, then rmdir of everything."""
    k, root = lower_kernel()
    root.mkdir("/t", 0o755)
    root.mkdir("/t/n0", 0o755)
    root.chmod("/t/n0", 0o1777)
    root.mkdir("/t/n1", 0o755)
    root.chmod("/t/n1", 0o1777)
    u = k.spawn(uid=65534, gid=65534)
    makers = {
        "dir": lambda p, path: p.mkdir(path, 0o755),
        "regular": lambda p, path: p.close(p.open(path, os.O_CREAT | os.O_WRONLY, 0o644)),
        "fifo": lambda p, path: p.mkfifo(path, 0o644),
        "symlink": lambda p, path: p.symlink("test", path),
        "socket": lambda p, path: p.mknod(path, 0o644 | stat.S_IFSOCK),
    }
    for make in makers.values():
        for owner in (65534, 65533):
            o = k.spawn(uid=owner, gid=owner)
            make(o, "/t/n0/n2")
            make(u, "/t/n1/n3")
            if owner == 65534:
                u.rename("/t/n0/n2", "/t/n1/n3")  # owner of both: replaces n3
                u.rename("/t/n1/n3", "/t/n0/n2")
                u.rename("/t/n0/n2", "/t/n1/n4")  # to a new name, then removed below
            else:
                with pytest.raises(PermissionError):  # may_delete: sticky, not the owner
                    u.rename("/t/n0/n2", "/t/n1/n3")
            for parent in ("/t/n0", "/t/n1"):
                for name in root.listdir(parent):
                    path = f"{parent}/{name}"
                    if stat.S_ISDIR(root.lstat(path).st_mode):
                        root.rmdir(path)
                    else:
                        root.unlink(path)
    root.rmdir("/t/n0")
    root.rmdir("/t/n1")
    root.rmdir("/t")
    assert root.stat("/").st_nlink == 2 + sum(
        1 for n in root.listdir("/") if stat.S_ISDIR(root.lstat("/" + n).st_mode)
    )


# --- open of a socket -------------------------------------------------------------------------
def test_open_of_a_socket_is_enxio() -> None:
    _k, p = lower_kernel()
    p.mknod("/data/s", 0o666 | stat.S_IFSOCK)
    with pytest.raises(OSError) as ei:
        p.open("/data/s", os.O_RDONLY)
    assert (ei.value.errno, ei.value.filename) == (errno.ENXIO, "/data/s")
    fd = p.open("/data/s", os.O_PATH)  # O_PATH never calls ->open
    p.close(fd)


# --- arguments --------------------------------------------------------------------------------
def test_write_of_an_int_is_a_type_error_like_os() -> None:
    _k, p = lower_kernel()
    fd = p.open("/data/a", os.O_RDWR)
    with pytest.raises(TypeError, match="bytes-like object is required"):
        p.write(fd, 123)  # type: ignore[arg-type]
    assert p.fstat(fd).st_size == 5


def test_copy_file_range_with_count_minus_one_is_value_error_like_os() -> None:
    _k, p = lower_kernel()
    fd = p.open("/data/a", os.O_RDWR)
    fd2 = p.open("/data/b", os.O_RDWR | os.O_CREAT, 0o644)
    with pytest.raises(ValueError, match="negative value for 'count'"):
        p.copy_file_range(fd, fd2, -1)
    assert p.fstat(fd2).st_size == 0


# --- errors that explain ----------------------------------------------------------------------
def test_oserror_carries_filename_and_filename2_like_os() -> None:
    _k, p = lower_kernel()
    with pytest.raises(FileNotFoundError) as ei:
        p.stat(b"/nope")
    assert ei.value.filename == b"/nope"
    with pytest.raises(FileNotFoundError) as ei:
        p.rename("/nope", "/x")
    assert (ei.value.filename, ei.value.filename2) == ("/nope", "/x")


def test_daemon_returning_the_wrong_type_says_what_it_returned() -> None:
    _k, p = daemon_mount(Replying(uapi.FUSE_LOOKUP, lambda req: "hello"))
    with pytest.raises(OSError) as ei:
        p.stat("/mnt/a")
    assert ei.value.errno == errno.EIO
    note = " ".join(ei.value.__notes__)
    assert "returned str, expected simfs.Reply" in note and "LOOKUP" in note


def test_daemon_that_raises_says_so() -> None:
    def boom(req: simfs.Request) -> simfs.Reply:
        raise KeyError("no such node")

    _k, p = daemon_mount(Replying(uapi.FUSE_LOOKUP, boom))
    with pytest.raises(OSError) as ei:
        p.stat("/mnt/a")
    assert ei.value.errno == errno.EIO
    assert "raised KeyError" in " ".join(ei.value.__notes__)
    assert p.stat("/mnt").st_mode  # the connection still works


def test_program_with_the_wrong_signature_is_a_usage_error_at_mount() -> None:
    @simfs.bpf.program("two_args")
    def two(fa: object, extra: object) -> int:
        return B

    k, p = lower_kernel()
    with pytest.raises(UsageError, match="takes exactly one"):
        k.mount_fuse("/mnt", root_dir="/data", root_bpf=two, no_daemon=True)
    with pytest.raises(OSError) as ei:
        p.bpf_prog_load(two)  # the bpf(2) route stays EINVAL, with the reason
    assert ei.value.errno == errno.EINVAL and "takes exactly one" in ei.value.__notes__[0]


def test_mount_with_a_daemon_that_is_not_a_daemon_is_a_usage_error() -> None:
    k, _p = lower_kernel()
    with pytest.raises(UsageError, match=r"simfs\.Daemon subclass"):
        k.mount_fuse("/mnt", daemon=object())  # type: ignore[arg-type]


def test_unanswered_request_always_says_why() -> None:
    wrong_unique = Replying(
        uapi.FUSE_LOOKUP, lambda req: simfs.Reply(uapi.FuseEntryOut(), unique=req.unique + 2)
    )
    _k, p = daemon_mount(wrong_unique)
    with pytest.raises(UnansweredRequest) as ei:
        p.stat("/mnt/a")
    assert "rejected" in str(ei.value) and "ENOENT" in str(ei.value)


def test_mount_with_a_daemon_whose_handle_takes_no_request_is_a_usage_error() -> None:
    class NoArg(simfs.Daemon):
        def handle(self) -> simfs.Reply:  # type: ignore[override]
            return simfs.Reply.none()

    k, _p = lower_kernel()
    with pytest.raises(UsageError, match="must take one argument"):
        k.mount_fuse("/mnt", daemon=NoArg())
