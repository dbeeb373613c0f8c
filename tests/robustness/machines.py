"""Small machines the robustness tests share: a lower tree, a FUSE-BPF mount over it with a
given program, a classic mount with a given daemon."""

from __future__ import annotations

import errno
import os
from typing import Any

import simfs
import simfs.bpf
import simfs.daemons
from simfs import uapi
from simfs.daemons import Passthrough
from simfs.errors import UnansweredRequest
from simfs.testing.snapshot import diff_snapshots, snapshot_lower


def lower_kernel(disk_size: int = 1 << 30) -> tuple[simfs.Kernel, simfs.Process]:
    """A kernel with ``/data/a`` ("hello"), ``/data/d/`` and a root process."""
    k = simfs.Kernel(disk_size=disk_size)
    k.lower.create_file("/data/a", contents="hello")
    k.lower.create_dir("/data/d")
    k.lower.create_dir("/mnt")
    return k, k.spawn()


def bpf_mount(prog: Any) -> tuple[simfs.Kernel, simfs.Process]:
    """``/mnt`` is a daemon-less FUSE-BPF mount of ``/data`` with ``prog`` at the root."""
    k, p = lower_kernel()
    k.mount_fuse("/mnt", root_dir="/data", root_bpf=prog, no_daemon=True)
    return k, p


def daemon_mount(daemon: simfs.Daemon) -> tuple[simfs.Kernel, simfs.Process]:
    """``/mnt`` is a classic FUSE mount served by ``daemon``."""
    k, p = lower_kernel()
    k.mount_fuse("/mnt", daemon=daemon)
    return k, p


class Replying(Passthrough):
    """A passthrough daemon whose answer to one opcode is replaced by ``reply(req)``."""

    def __init__(self, opcode: int, reply: Any, **options: Any) -> None:
        super().__init__("/data", **options)
        self.opcode = opcode
        self.reply = reply

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == self.opcode:
            return self.reply(req)  # type: ignore[no-any-return]
        return super().handle(req)


# --- mutating operations, each one syscall after a setup --------------------------------------
# (name, setup(p, base) -> ctx, act(p, base, ctx)); setup runs without faults.
Op = tuple[str, Any, Any]


def _fd(flags: int) -> Any:
    return lambda p, base: p.open(f"{base}/a", flags)


def _none(p: simfs.Process, base: str) -> None:
    return None


MUTATING_OPS: list[Op] = [
    ("create", _none, lambda p, b, c: p.open(f"{b}/new", os.O_CREAT | os.O_WRONLY, 0o644)),
    ("open-trunc", _none, lambda p, b, c: p.open(f"{b}/a", os.O_WRONLY | os.O_TRUNC)),
    ("write", _fd(os.O_WRONLY), lambda p, b, fd: p.write(fd, b"xyz")),
    ("pwrite-far", _fd(os.O_WRONLY), lambda p, b, fd: p.pwrite(fd, b"far", 2**33)),
    ("ftruncate", _fd(os.O_WRONLY), lambda p, b, fd: p.ftruncate(fd, 2)),
    ("truncate-grow", _none, lambda p, b, c: p.truncate(f"{b}/a", 2**40)),
    ("fallocate", _fd(os.O_WRONLY), lambda p, b, fd: p.posix_fallocate(fd, 0, 3 * 4096)),
    ("mkdir", _none, lambda p, b, c: p.mkdir(f"{b}/nd", 0o755)),
    ("mkfifo", _none, lambda p, b, c: p.mkfifo(f"{b}/fifo", 0o644)),
    ("symlink-long", _none, lambda p, b, c: p.symlink("t" * 300, f"{b}/nl")),
    ("link", _none, lambda p, b, c: p.link(f"{b}/a", f"{b}/al")),
    ("unlink", _none, lambda p, b, c: p.unlink(f"{b}/a")),
    ("rmdir", _none, lambda p, b, c: p.rmdir(f"{b}/d")),
    ("rename", _none, lambda p, b, c: p.rename(f"{b}/a", f"{b}/ren")),
    ("rename-over", _none, lambda p, b, c: p.rename(f"{b}/a", f"{b}/b")),
    ("rename-dir", _none, lambda p, b, c: p.rename(f"{b}/d", f"{b}/e/d")),
    ("chmod", _none, lambda p, b, c: p.chmod(f"{b}/a", 0o4755)),
    ("chown", _none, lambda p, b, c: p.chown(f"{b}/a", 1000, 1000)),
    ("utime", _none, lambda p, b, c: p.utime(f"{b}/a", ns=(1, 2))),
    ("setxattr", _none, lambda p, b, c: p.setxattr(f"{b}/a", "user.k", b"v")),
    ("removexattr", _none, lambda p, b, c: p.removexattr(f"{b}/b", "user.old")),
]


def populated_kernel(disk_size: int = 1 << 30) -> tuple[simfs.Kernel, simfs.Process]:
    """``/data`` with ``a`` ("hello", mode 06755), ``b`` (an xattr), ``d/``, ``e/``."""
    k, p = lower_kernel(disk_size)
    p.chmod("/data/a", 0o6755)
    p.close(p.open("/data/b", os.O_CREAT | os.O_WRONLY, 0o644))
    p.setxattr("/data/b", "user.old", b"1")
    p.mkdir("/data/e", 0o755)
    for name in p.listdir("/data"):
        p.lstat(f"/data/{name}")  # first sight stamps fixtures with the virtual clock
    return k, p


def trace_fingerprint(k: simfs.Kernel) -> list[str]:
    """The trace as comparable text (exception objects by type and message)."""
    out = []
    for e in k.trace.events:
        data = {
            key: (f"{type(v).__name__}({v})" if isinstance(v, BaseException) else v)
            for key, v in e.data.items()
        }
        out.append(f"{e.kind} {sorted(data.items(), key=lambda kv: kv[0])!r} {e.end!r}")
    return out


# --- a workload that checks the promises after every call -------------------------------------
#: Requests that change the lower tree when the daemon or the backing op carries them out.
MUTATING_OPCODES = {
    uapi.FUSE_CREATE,
    uapi.FUSE_MKNOD,
    uapi.FUSE_MKDIR,
    uapi.FUSE_SYMLINK,
    uapi.FUSE_LINK,
    uapi.FUSE_UNLINK,
    uapi.FUSE_RMDIR,
    uapi.FUSE_RENAME,
    uapi.FUSE_RENAME2,
    uapi.FUSE_SETATTR,
    uapi.FUSE_WRITE,
    uapi.FUSE_SETXATTR,
    uapi.FUSE_REMOVEXATTR,
    uapi.FUSE_FALLOCATE,
}


def _workload(base: str) -> list[tuple[str, Any]]:
    def rw(p: simfs.Process) -> bytes:
        fd = p.open(f"{base}/a", os.O_RDWR)
        try:
            p.write(fd, b"xy")
            return p.pread(fd, 10, 0)
        finally:
            p.close(fd)

    return [
        ("stat", lambda p: p.stat(f"{base}/a")),
        ("listdir", lambda p: p.listdir(base)),
        ("read-write", rw),
        ("create", lambda p: p.close(p.open(f"{base}/n", os.O_CREAT | os.O_RDWR, 0o644))),
        ("mkdir", lambda p: p.mkdir(f"{base}/m", 0o755)),
        ("symlink", lambda p: p.symlink("a", f"{base}/s")),
        ("readlink", lambda p: p.readlink(f"{base}/s")),
        ("rename", lambda p: p.rename(f"{base}/n", f"{base}/n2")),
        ("chmod", lambda p: p.chmod(f"{base}/a", 0o600)),
        ("truncate", lambda p: p.truncate(f"{base}/a", 3)),
        ("setxattr", lambda p: p.setxattr(f"{base}/a", "user.x", b"1")),
        ("getxattr", lambda p: p.getxattr(f"{base}/a", "user.x")),
        ("statvfs", lambda p: p.statvfs(base)),
        ("unlink", lambda p: p.unlink(f"{base}/n2")),
        ("rmdir", lambda p: p.rmdir(f"{base}/m")),
        ("link", lambda p: p.link(f"{base}/a", f"{base}/hl")),
        ("fallocate", lambda p: p.posix_fallocate(p.open(f"{base}/a", os.O_RDWR), 0, 100)),
    ]


def _changed_lower(k: simfs.Kernel, start: int) -> bool:
    """Did a request that changes the lower tree succeed since trace event ``start``
    (a daemon reply without error, or a backing op without error)?"""
    sent: dict[int, int] = {}
    for e in k.trace.events[start:]:
        if e.kind == "request":
            sent[e.data["unique"]] = e.data["opcode_num"]
        elif e.kind == "reply" and not e.data.get("error"):
            if sent.get(e.data["unique"], -1) & uapi.FUSE_OPCODE_FILTER in MUTATING_OPCODES:
                return True
        elif e.kind == "backing" and not str(e.data.get("result", "")).startswith("-E"):
            return True
    return False


def run_checked(k: simfs.Kernel, p: simfs.Process, base: str) -> list[str]:
    """Run the workload on ``base``; after every call check that only ``OSError`` (or
    the documented :class:`~simfs.errors.UnansweredRequest`) escaped and that a call that
    failed before any lower-changing request succeeded left the lower tree as it was.
    Returns the outcomes (for determinism checks)."""
    outcomes = []
    for name, call in _workload(base):
        before = snapshot_lower(k.lower, "/data")
        start = len(k.trace.events)
        try:
            call(p)
            outcomes.append(f"{name}: ok")
        except OSError as e:
            outcomes.append(f"{name}: {errno.errorcode.get(e.errno or 0, e.errno)}")
            if not _changed_lower(k, start):
                after = snapshot_lower(k.lower, "/data")
                assert before == after, f"{name} failed and changed the lower tree:\n" + (
                    "\n".join(diff_snapshots(before, after, ("before", "after")))
                )
        except UnansweredRequest as e:
            assert str(e).split("never answered: ", 1)[-1].strip(". "), "empty reason"
            outcomes.append(f"{name}: unanswered")
        assert_store_consistent(k)
    return outcomes


def assert_usable(k: simfs.Kernel) -> None:
    """A fresh process still works on the lower tree."""
    q = k.spawn()
    q.stat("/data")
    q.listdir("/data")
    fd = q.open("/data/usable", os.O_CREAT | os.O_RDWR, 0o644)
    assert q.write(fd, b"ok") == 2
    assert q.pread(fd, 2, 0) == b"ok"


def assert_store_consistent(k: simfs.Kernel) -> None:
    """Link counts and the page charge of the lower store agree with its contents: every
    non-directory's ``st_nlink`` is the number of names it has, and the pages charged
    against ``disk_size`` are the pages of the files the kernel has seen (linked, or
    unlinked and still open)."""
    from pyfakefs.fake_file import FakeDirectory

    from simfs.lowerfs import _charged_pages

    names: dict[int, int] = {}
    objs: dict[int, Any] = {}
    stack = [k.lower.root]
    while stack:
        d = stack.pop()
        for obj in d.entries.values():
            if isinstance(obj, FakeDirectory):
                stack.append(obj)
                continue
            names[id(obj)] = names.get(id(obj), 0) + 1
            objs[id(obj)] = obj
    for key, obj in objs.items():
        assert obj.st_nlink == names[key], (
            f"{obj.name}: st_nlink {obj.st_nlink}, {names[key]} names"
        )
    for inode in k.lower_sb.icache.values():
        if inode.nlink == 0 and id(inode.obj) not in objs:
            objs[id(inode.obj)] = inode.obj
    charged = sum(_charged_pages(o) for o in objs.values() if getattr(o, "_simfs_seen", False))
    assert k.lower.pages_used == charged, f"{k.lower.pages_used} pages charged, {charged} in use"
