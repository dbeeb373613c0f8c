"""Small machines the robustness tests share: a lower tree, a FUSE-BPF mount over it with a
given program, a classic mount with a given daemon."""

from __future__ import annotations

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
