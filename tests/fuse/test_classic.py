"""Classic FUSE behaviour: caching, FORGET, ENOSYS memory, readdirplus, abort, bad replies."""

from __future__ import annotations

import errno
import os
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.daemon import Reply, Request
from simfs.daemons import Passthrough
from simfs.errors import UsageError


def world(timeout: float = 86400.0, **mount_kw: Any) -> tuple[simfs.Kernel, Any, Any, Passthrough]:
    k = simfs.Kernel()
    k.lower.create_file("/data/f", contents="hello")
    k.lower.create_dir("/data/d")
    k.lower.create_dir("/mnt")
    daemon = Passthrough("/data", entry_timeout=timeout, attr_timeout=timeout)
    mount_kw.setdefault("variant", "upstream")
    fm = k.mount_fuse("/mnt", daemon=daemon, **mount_kw)
    return k, fm, k.spawn(), daemon


def ops(k: simfs.Kernel, fm: Any) -> list[str]:
    fm.conn.drain()
    out = k.trace.request_opcodes()
    k.trace.clear()
    return out


def test_entry_and_attr_timeouts_on_the_virtual_clock() -> None:
    k, fm, p, _ = world(timeout=1.0)
    k.trace.clear()
    p.stat("/mnt/f")
    assert ops(k, fm) == ["LOOKUP"]
    p.stat("/mnt/f")
    assert ops(k, fm) == []
    k.clock.advance(2 * 10**9)
    p.stat("/mnt/f")
    assert ops(k, fm) == ["LOOKUP"]  # revalidation refreshes the attributes too


def test_negative_entry_cached_with_nodeid_zero() -> None:
    k = simfs.Kernel()
    k.lower.create_dir("/data")
    k.lower.create_dir("/mnt")
    fm = k.mount_fuse(
        "/mnt", daemon=Passthrough("/data", negative_timeout=100.0), variant="upstream"
    )
    p = k.spawn()
    k.trace.clear()
    for _ in range(3):
        with pytest.raises(FileNotFoundError):
            p.stat("/mnt/nope")
    assert ops(k, fm) == ["LOOKUP"]
    # an error reply is not cached (fuse_invalidate_entry_cache)
    k2, fm2, p2, _ = world()
    k2.trace.clear()
    for _ in range(2):
        with pytest.raises(FileNotFoundError):
            p2.stat("/mnt/nope")
    assert ops(k2, fm2) == ["LOOKUP", "LOOKUP"]


def test_forget_counts_lookups_and_is_sent_on_unlink() -> None:
    k, fm, p, daemon = world(timeout=0.0)
    for _ in range(3):
        p.stat("/mnt/f")
    node = next(n for n in daemon.nodes.values() if n.path == "/data/f")
    assert node.nlookup == 3
    inode = next(i for i in fm.sb.icache.values() if i.nodeid == node.nodeid)
    assert inode.nlookup == 3
    k.trace.clear()
    p.unlink("/mnt/f")
    fm.conn.drain()
    forgets = [e for e in k.trace.requests() if e.data["opcode"] == "FORGET"]
    assert len(forgets) == 1 and forgets[0].data["nodeid"] == node.nodeid
    assert node.nodeid not in daemon.nodes  # the daemon dropped it: counts matched


def test_umount_sends_no_destroy_and_no_forget() -> None:
    k, fm, p, _ = world()
    p.stat("/mnt/f")
    k.trace.clear()
    k.umount("/mnt")
    assert [o for o in k.trace.request_opcodes()] == []
    assert fm.conn.state.value == "aborted"


def test_readdirplus_then_readdir_for_1000_entries_one_page_each() -> None:
    k = simfs.Kernel()
    k.lower.create_dir("/data/big")
    for i in range(1000):
        k.lower.create_file(f"/data/big/e{i:04d}")
    k.lower.create_dir("/mnt")
    fm = k.mount_fuse("/mnt", daemon=Passthrough("/data", entry_timeout=86400, attr_timeout=86400))
    p = k.spawn()
    p.stat("/mnt/big")
    k.trace.clear()
    names = p.listdir("/mnt/big")
    assert sorted(names) == [f"e{i:04d}" for i in range(1000)]
    reqs = [e for e in k.trace.requests() if e.data["opcode"].startswith("READDIR")]
    opcodes = [e.data["opcode"] for e in reqs]
    assert opcodes[0] == "READDIRPLUS"
    assert set(opcodes[1:]) == {"READDIR"}
    # one page per request (ACK fuse_readdir_uncached): 1002 records need many passes
    assert len(opcodes) > 8
    replies = {e.data["unique"]: e.data for e in k.trace.of("reply")}
    assert all(replies[e.data["unique"]]["outsize"] <= 16 + uapi.PAGE_SIZE for e in reqs)
    # a lookup in the directory advises READDIRPLUS again for the next pass
    fm.sb.icache[reqs[0].data["nodeid"]].state.add("advise_rdplus")


def test_no_flush_and_no_create_memory() -> None:
    k = simfs.Kernel()
    k.lower.create_dir("/data")
    k.lower.create_dir("/mnt")

    class NoCreate(Passthrough):
        def handle(self, req: Request) -> Reply | None:
            if req.opcode in (uapi.FUSE_CREATE, uapi.FUSE_FLUSH):
                return Reply.error(errno.ENOSYS)
            return super().handle(req)

    fm = k.mount_fuse(
        "/mnt",
        daemon=NoCreate("/data", entry_timeout=86400, attr_timeout=86400),
        variant="upstream",
    )
    p = k.spawn()
    k.trace.clear()
    p.close(p.open("/mnt/a", os.O_WRONLY | os.O_CREAT, 0o644))
    assert ops(k, fm) == ["LOOKUP", "CREATE", "MKNOD", "OPEN", "FLUSH", "RELEASE"]
    p.close(p.open("/mnt/b", os.O_WRONLY | os.O_CREAT, 0o644))
    assert ops(k, fm) == ["LOOKUP", "MKNOD", "OPEN", "RELEASE"]
    assert fm.conn.no_create and fm.conn.no_flush
    assert k.lower.exists("/data/b")


def test_rename2_enosys_is_remembered_as_einval() -> None:
    k = simfs.Kernel()
    k.lower.create_file("/data/a")
    k.lower.create_dir("/mnt")
    fm = k.mount_fuse("/mnt", daemon=Passthrough("/data", rename_flags=True), variant="upstream")

    def enosys(req: Request) -> Reply:
        return Reply.error(errno.ENOSYS)

    fm.daemon._handlers[uapi.FUSE_RENAME2] = enosys
    p = k.spawn()
    k.trace.clear()
    for _ in range(2):
        with pytest.raises(OSError) as ei:
            p.renameat2("/mnt/a", "/mnt/b", 1)
        assert ei.value.errno == errno.EINVAL
    assert ops(k, fm).count("RENAME2") == 1


def test_write_sends_getxattr_security_capability_then_write() -> None:
    k, _fm, p, _ = world()
    fd = p.open("/mnt/f", os.O_WRONLY)
    k.trace.clear()
    p.write(fd, b"x" * 10)
    reqs = k.trace.requests()
    assert [e.data["opcode"] for e in reqs] == ["GETXATTR", "WRITE"]
    assert "'security.capability'" in reqs[0].data["args"]
    p.close(fd)


def test_keep_cache_serves_reads_from_the_page_cache() -> None:
    for cache, reads in (("normal", 2), ("always", 1), ("never", 2)):
        k = simfs.Kernel()
        k.lower.create_file("/data/f", contents="abc")
        k.lower.create_dir("/mnt")
        fm = k.mount_fuse(
            "/mnt",
            daemon=Passthrough("/data", cache=cache, entry_timeout=60, attr_timeout=60),
            variant="upstream",
        )
        p = k.spawn()
        for _ in range(2):
            fd = p.open("/mnt/f", os.O_RDONLY)
            assert p.read(fd, 10) == b"abc"
            p.close(fd)
        assert ops(k, fm).count("READ") == reads, cache


def test_allow_other_and_default_permissions() -> None:
    k, _fm, _, _ = world()
    alice = k.spawn(uid=1000, gid=1000)
    with pytest.raises(PermissionError):
        alice.stat("/mnt/f")
    k2, _fm2, _, _ = world(allow_other=True, default_permissions=True)
    bob = k2.spawn(uid=1000, gid=1000)
    k2.spawn().chmod("/data/f", 0o644)
    assert bob.stat("/mnt/f").st_size == 5
    with pytest.raises(PermissionError):
        bob.open("/mnt/f", os.O_WRONLY)  # generic_permission on the daemon's attributes


def test_access_sent_without_default_permissions_and_enosys_remembered() -> None:
    k, fm, p, _ = world()
    p.stat("/mnt/f")
    k.trace.clear()
    assert p.access("/mnt/f", os.R_OK)
    assert p.access("/mnt/f", os.R_OK)
    assert ops(k, fm) == ["ACCESS"]
    assert fm.conn.no_access


def test_abort_gives_enotconn_and_the_machine_stays_usable() -> None:
    k, fm, p, _ = world(timeout=0.0)
    p.stat("/mnt/f")
    fm.abort()
    with pytest.raises(OSError) as ei:
        p.stat("/mnt/f")
    assert ei.value.errno == errno.ENOTCONN
    assert p.stat("/data/f").st_size == 5  # the rest of the machine still works
    k.umount("/mnt")


def test_daemon_exit_is_enotconn_afterwards() -> None:
    from simfs.daemon import DaemonExit

    _k, fm, p, _daemon = world(timeout=0.0)

    class Dying(Passthrough):
        def handle(self, req: Request) -> Reply | None:
            raise DaemonExit("bye")

    fm.conn.daemon = Dying.__new__(Dying)
    with pytest.raises(OSError) as ei:
        p.stat("/mnt/f")
    assert ei.value.errno in (errno.ECONNABORTED, errno.ENOTCONN)
    with pytest.raises(OSError) as ei2:
        p.stat("/mnt/f")
    assert ei2.value.errno == errno.ENOTCONN


def test_malformed_reply_fails_one_request_with_eio() -> None:
    k, _fm, p, daemon = world(timeout=0.0)
    orig = daemon.handle
    bad = {"on": True}

    def handle(req: Request) -> Reply | None:
        if req.opcode == uapi.FUSE_GETATTR and bad["on"]:
            bad["on"] = False
            return Reply.raw(b"\0" * 7)  # wrong size
        return orig(req)

    daemon.handle = handle  # type: ignore[method-assign]
    with pytest.raises(OSError) as ei:
        p.stat("/mnt/f")
    assert ei.value.errno == errno.EIO
    assert k.trace.of("protocol_error")
    assert p.stat("/mnt/f").st_size == 5


def test_bad_attributes_make_the_inode_bad() -> None:
    _k, _fm, p, daemon = world(timeout=0.0)
    p.stat("/mnt/f")
    orig = daemon.handle

    def handle(req: Request) -> Reply | None:
        if req.opcode == uapi.FUSE_GETATTR:
            return Reply(
                uapi.FuseAttrOut(attr=uapi.FuseAttr(mode=0o040755, nlink=1))
            )  # type changed
        return orig(req)

    daemon.handle = handle  # type: ignore[method-assign]
    fd = p.open("/mnt/f", os.O_RDONLY)
    with pytest.raises(OSError) as ei:
        p.fstat(fd)
    assert ei.value.errno == errno.EIO
    with pytest.raises(OSError) as ei:
        p.close(fd)  # fuse_flush: fuse_is_bad -> EIO (the descriptor is closed anyway)
    assert ei.value.errno == errno.EIO
    with pytest.raises(OSError):
        p.stat("/mnt/f")  # a bad inode fails revalidation; the new lookup sees a dir type


def test_readdir_rejects_a_slash_in_a_name() -> None:
    _k, fm, p, daemon = world()
    orig = daemon.handle

    def handle(req: Request) -> Reply | None:
        if req.opcode in (uapi.FUSE_READDIR, uapi.FUSE_READDIRPLUS):
            a = req.args[0]
            assert isinstance(a, uapi.FuseReadIn)
            if a.offset == 0:
                return Reply([uapi.FuseDirent(ino=5, off=1, type=8, name="a/b")])
        return orig(req)

    daemon.handle = handle  # type: ignore[method-assign]
    fm.conn.do_readdirplus = False
    with pytest.raises(OSError) as ei:
        p.listdir("/mnt/d")
    assert ei.value.errno == errno.EIO


def test_mount_validation() -> None:
    k = simfs.Kernel()
    k.lower.create_file("/file")
    with pytest.raises(FileNotFoundError):
        k.mount_fuse("/nope", daemon=Passthrough("/"))
    with pytest.raises(NotADirectoryError):
        k.mount_fuse("/file", daemon=Passthrough("/"))
    k.lower.create_dir("/mnt")
    with pytest.raises(UsageError, match="entry_timeout"):
        k.mount_fuse("/mnt", daemon=Passthrough("/"), entry_timeout=1)
    with pytest.raises(UsageError):
        k.mount_fuse("/mnt", daemon=Passthrough("/"), no_daemon=True)


def test_root_inode_from_rootmode_and_fuse_op_spans() -> None:
    k, fm, p, _ = world(default_permissions=True)
    assert fm.root.nodeid == 1 and fm.root.nlink == 1
    k.trace.clear()
    p.stat("/mnt/f")
    spans = [e for e in k.trace.of("fuse_op")]
    assert [(s.data["opcode"], s.data["route"]) for s in spans] == [
        ("GETATTR", "classic"),
        ("LOOKUP", "classic"),
    ]
    # the root's attributes start stale: default_permissions refreshes them first
    assert ops(k, fm) == ["GETATTR", "LOOKUP"]


def test_canonical_path_after_open_on_the_ack_variant() -> None:
    k = simfs.Kernel()
    k.lower.create_file("/data/f", contents="x")
    k.lower.create_dir("/mnt")
    fm = k.mount_fuse("/mnt", daemon=Passthrough("/data"))  # variant "ack"
    p = k.spawn()
    k.trace.clear()
    p.close(p.open("/mnt/f", os.O_RDONLY))
    assert ops(k, fm) == ["LOOKUP", "OPEN", "CANONICAL_PATH", "FLUSH", "RELEASE"]
