"""Small machines the robustness tests share: a lower tree, a FUSE-BPF mount over it with a
given program, a classic mount with a given daemon."""

from __future__ import annotations

import os
from typing import Any

import simfs
from simfs.daemons import Passthrough


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

    def __init__(self, opcode: int, reply: Any) -> None:
        super().__init__("/data")
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
