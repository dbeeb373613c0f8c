"""``variant="upstream"`` (mainline 6.18) in simfs alone: INIT, backing ids, splice/mmap of
passthrough files, and the two behaviours the live bridge found (each observed on Linux
6.18 through ``simfs.live``; ``tests/live`` checks them against the kernel where it can)."""

from __future__ import annotations

import os
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.daemon import Request
from simfs.daemons import Passthrough

DATA = b"0123456789" * 10


def _machine(daemon: Any, variant: str = "upstream") -> tuple[simfs.Kernel, Any, Any]:
    k = simfs.Kernel()
    root = k.spawn(umask=0)
    root.mkdir("/data", 0o755)
    root.mkdir("/mnt", 0o755)
    fd = root.open("/data/f", os.O_CREAT | os.O_WRONLY, 0o644)
    root.write(fd, DATA)
    root.close(fd)
    fm = k.mount_fuse("/mnt", daemon=daemon, variant=variant)
    return k, fm, k.spawn()


class _Recording(Passthrough):
    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.seen: list[Request] = []

    def handle(self, req: Request) -> Any:
        self.seen.append(req)
        return super().handle(req)

    def init(self, req: Request) -> Any:
        self.seen.append(req)
        return super().init(req)


def test_upstream_init_offers_mainline_passthrough_in_flags2() -> None:
    d = _Recording("/data", passthrough=True)
    _, fm, _ = _machine(d)
    init = d.seen[0].args[0]
    assert isinstance(init, uapi.FuseInitInExt) and init.minor == 45
    assert uapi.init_flags64(init) & uapi.FUSE_PASSTHROUGH_UPSTREAM
    assert not init.flags & uapi.FUSE_PASSTHROUGH_ACK  # bit 31 is INIT_RESERVED upstream
    assert fm.conn.passthrough_upstream and fm.conn.max_stack_depth == 1
    assert fm.sb.s_stack_depth == 1


def test_ack_init_is_unchanged() -> None:
    d = _Recording("/data", passthrough=True)
    _, fm, _ = _machine(d, variant="ack")
    init = d.seen[0].args[0]
    assert type(init) is uapi.FuseInitIn and init.SIZE == 16
    assert not fm.conn.passthrough_upstream


def test_backing_ids_are_cyclic_and_survive_the_daemons_close() -> None:
    _k, fm, p = _machine(Passthrough("/data", passthrough=True))
    d = fm.daemon
    ids = []
    for _ in range(2):
        fd = p.open("/mnt/f", os.O_RDONLY)
        ids.append(d.backing[2][0])
        assert p.read(fd, 5) == b"01234"
        p.close(fd)
    assert ids == [1, 2]  # idr_alloc_cyclic: a closed id is not handed out again at once
    # the backing keeps its own reference: the daemon may close its fd right away
    dfd = d.proc.open("/data/f", os.O_RDONLY)
    bid = d.backing_open(dfd)
    d.proc.close(dfd)
    assert fm.conn.backing_files.ids[bid].file.refs == 1
    d.backing_close(bid)


def test_splice_and_mmap_of_a_passthrough_file_send_no_read() -> None:
    k, _fm, p = _machine(Passthrough("/data", passthrough=True))
    fd = p.open("/mnt/f", os.O_RDONLY)
    r, w = p.pipe()
    k.trace.clear()
    assert p.splice(fd, w, 10, offset_src=0) == 10
    assert p.read(r, 10) == DATA[:10]
    m = p.mmap(fd, 100, prot=1)
    assert bytes(m[:4]) == b"0123"
    assert "READ" not in k.trace.request_opcodes()


def test_direct_io_with_passthrough_reads_through_the_daemon_but_maps_the_backing() -> None:
    k, _fm, p = _machine(Passthrough("/data", passthrough=True, cache="never"))
    fd = p.open("/mnt/f", os.O_RDONLY)
    k.trace.clear()
    assert p.read(fd, 4) == b"0123"
    assert k.trace.request_opcodes() == ["READ"]  # FOPEN_DIRECT_IO overrides passthrough
    k.trace.clear()
    m = p.mmap(fd, 100, prot=1)
    assert bytes(m[:4]) == b"0123"
    assert k.trace.request_opcodes() == []  # fuse_file_mmap: passthrough first


def _write_sizes(k: simfs.Kernel) -> list[int]:
    return [int(e.data["insize"]) - 80 for e in k.trace.requests() if e.data["opcode"] == "WRITE"]


@pytest.mark.parametrize(("variant", "sizes"), [("upstream", [2047, 2]), ("ack", [2049])])
def test_write_ends_at_a_partly_written_page_upstream(variant: str, sizes: list[int]) -> None:
    """fuse_fill_write_pages (mainline): a partly written page that is not uptodate stays
    locked and ends the request; 2049 bytes at 2049 are two WRITEs on Linux 6.18."""
    k, _fm, p = _machine(Passthrough("/data", entry_timeout=86400, attr_timeout=86400), variant)
    fd = p.open("/mnt/f", os.O_WRONLY)
    k.trace.clear()
    assert p.pwrite(fd, b"x" * 2049, 2049) == 2049
    assert _write_sizes(k) == sizes


def test_read_invalidates_atime_upstream() -> None:
    k, fm, p = _machine(Passthrough("/data", entry_timeout=86400, attr_timeout=86400))
    fd = p.open("/mnt/f", os.O_RDONLY)
    p.read(fd, 4096)
    p.close(fd)
    fm.conn.drain()
    k.trace.clear()
    p.stat("/mnt/f")
    assert k.trace.request_opcodes() == ["GETATTR"]


def test_new_inode_takes_its_size_with_the_writeback_cache() -> None:
    """fuse_init_inode sets i_size from the first attributes (later ones are ignored with
    the writeback cache); a new inode used to read as empty."""

    class WB(Passthrough):
        init_flags = Passthrough.init_flags | uapi.FUSE_WRITEBACK_CACHE

    _k, fm, p = _machine(WB("/data"))
    assert fm.conn.writeback_cache
    fd = p.open("/mnt/f", os.O_RDONLY)
    assert p.read(fd, 10) == DATA[:10]


def test_create_carries_o_largefile_like_open() -> None:
    d = _Recording("/data", entry_timeout=86400, attr_timeout=86400)
    _k, _fm, p = _machine(d)
    p.close(p.open("/mnt/new", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    create = next(r for r in d.seen if r.opcode == uapi.FUSE_CREATE)
    assert create.args[0].flags == 0o100301  # as Linux 6.18 sends it (no O_CLOEXEC)


@pytest.mark.parametrize(("variant", "getattr_sent"), [("upstream", False), ("ack", True)])
def test_rename_invalidates_only_ctime_upstream(variant: str, getattr_sent: bool) -> None:
    """Mainline fuse_update_ctime vs ACK's fuse_invalidate_attr after RENAME: reading the
    renamed file (long timeouts) asks for attributes again only on ACK."""
    k, _fm, p = _machine(Passthrough("/data", entry_timeout=86400, attr_timeout=86400), variant)
    p.rename("/mnt/f", "/mnt/g")
    fd = p.open("/mnt/g", os.O_RDONLY)
    k.trace.clear()
    p.read(fd, 4096)
    assert ("GETATTR" in k.trace.request_opcodes()) is getattr_sent


def test_mainline_uapi_layouts_and_numbers() -> None:
    """include/uapi/linux/fuse.h 7.45: sizes, the two passthrough flags, the ioctls."""
    assert uapi.FuseInitInExt.SIZE == 64 and uapi.FuseInitOut.SIZE == 64
    assert uapi.FuseBackingMap.SIZE == 16 and uapi.FuseOpenOut.SIZE == 16
    assert uapi.FUSE_PASSTHROUGH_UPSTREAM == 1 << 37 and uapi.FUSE_PASSTHROUGH_ACK == 1 << 31
    assert uapi.FOPEN_PASSTHROUGH == 1 << 7
    assert uapi.FUSE_DEV_IOC_BACKING_OPEN == 0x4010E501
    assert uapi.FUSE_DEV_IOC_BACKING_CLOSE == 0x4004E502
    out = uapi.FuseOpenOut(fh=1, open_flags=uapi.FOPEN_PASSTHROUGH, backing_id=-1)
    assert out.passthrough_fh == 0xFFFFFFFF and out.backing_id == -1  # int32_t on the wire
    init = uapi.FuseInitOut(flags=uapi.FUSE_INIT_EXT, flags2=1 << 5, max_stack_depth=1)
    assert uapi.init_flags64(init) & uapi.FUSE_PASSTHROUGH_UPSTREAM
    assert uapi.init_flags64(uapi.FuseInitOut(flags2=1 << 5)) == 0  # flags2 needs INIT_EXT
    assert uapi.split_init_flags(uapi.FUSE_PASSTHROUGH_UPSTREAM) == (uapi.FUSE_INIT_EXT, 1 << 5)
