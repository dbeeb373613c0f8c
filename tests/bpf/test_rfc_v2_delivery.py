"""RFC v2 (spec §6.4, §7.3): typed lookup blocks reach the kernel only through the
``FUSE_DEV_IOC_BPF_RESPONSE`` ioctl; a plain write carrying them is refused."""

from __future__ import annotations

import errno
import os

import pytest

import simfs
from simfs import uapi


class V2Daemon(simfs.Daemon):
    """Hands ``test`` over to the lower file ``/data/backing`` with a backing block."""

    def __init__(self, use_ioctl: bool, blocks: list[uapi.FuseBpfEntryOut] | None = None) -> None:
        super().__init__()
        self.use_ioctl = use_ioctl
        self.blocks = blocks

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == uapi.FUSE_LOOKUP and req.args[0] == "test":
            fd = self.proc.open("/data/backing", os.O_RDONLY)
            blocks = self.blocks or [
                uapi.FuseBpfEntryOut(entry_type=uapi.FUSE_ENTRY_BACKING, fd=fd)
            ]
            raw = b"".join(b.pack() for b in blocks)
            entry = uapi.FuseEntryOut(nodeid=2, attr=uapi.FuseAttr(mode=0o100644))
            if self.use_ioctl:
                return simfs.Reply.bpf_response(entry, raw)
            return simfs.Reply(entry, raw)
        if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None
        return simfs.Reply.error(errno.ENOENT if req.opcode == uapi.FUSE_LOOKUP else errno.ENOSYS)


def _mount(daemon: simfs.Daemon) -> tuple[simfs.Kernel, simfs.Process]:
    k = simfs.Kernel()
    k.lower.create_file("/data/backing", contents=b"data")
    p = k.spawn()
    p.mkdir("/mnt")
    k.mount_fuse("/mnt", daemon=daemon, variant="rfc_v2")
    k.trace.clear()
    return k, p


def test_blocks_through_the_ioctl_back_the_file() -> None:
    k, p = _mount(V2Daemon(use_ioctl=True))
    fd = p.open("/mnt/test", os.O_RDONLY)
    assert p.read(fd, 4) == b"data"
    p.close(fd)
    # served from the backing file: only LOOKUP reached the daemon
    assert k.trace.request_opcodes() == ["LOOKUP"]


def test_blocks_through_plain_write_are_refused() -> None:
    k, p = _mount(V2Daemon(use_ioctl=False))
    with pytest.raises(OSError) as e:
        p.open("/mnt/test", os.O_RDONLY)
    assert e.value.errno == errno.EIO
    faults = [ev for ev in k.trace.of("protocol_error") if "BPF_RESPONSE" in str(ev.data["reason"])]
    assert faults and faults[0].data["writer_errno"] == errno.EINVAL
    assert k.lower.get_object("/data/backing").byte_contents == b"data"
    with pytest.raises(FileNotFoundError):  # the simulator stays usable
        p.stat("/mnt/other")


@pytest.mark.parametrize(
    "blocks",
    [
        [uapi.FuseBpfEntryOut(entry_type=9)],  # unknown type
        [uapi.FuseBpfEntryOut(entry_type=uapi.FUSE_ENTRY_BACKING, unused=1, fd=3)],  # unused != 0
        [uapi.FuseBpfEntryOut(entry_type=uapi.FUSE_ENTRY_BPF)],  # v2 has no programs
    ],
)
def test_malformed_blocks_fail_the_lookup_einval(blocks: list[uapi.FuseBpfEntryOut]) -> None:
    _k, p = _mount(V2Daemon(use_ioctl=True, blocks=blocks))
    with pytest.raises(OSError) as e:
        p.stat("/mnt/test")
    assert e.value.errno == errno.EINVAL
