"""Errors that explain: when the kernel's filesystem code refuses what a daemon answered
(``fuse_invalid_attr``, ``parse_dirfile``, ``fuse_verify_xattr_list``, a READ or WRITE
size), the ``EIO`` carries a note naming the daemon, the opcode and the reason."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

import pytest

import simfs
import simfs.daemons
from simfs import uapi

from .machines import Replying, daemon_mount, lower_kernel


def _attr(mode: int, size: int = 0) -> uapi.FuseAttr:
    return uapi.FuseAttr(ino=9, mode=mode, nlink=1, size=size)


CASES: list[tuple[str, int, Any, Callable[[simfs.Process], Any], str]] = [
    (
        "lookup-bad-type",
        uapi.FUSE_LOOKUP,
        lambda req: simfs.Reply(uapi.FuseEntryOut(nodeid=9, attr=_attr(0o644))),
        lambda p: p.stat("/mnt/a"),
        "no valid file type",
    ),
    (
        "lookup-root-as-child",
        uapi.FUSE_LOOKUP,
        lambda req: simfs.Reply(uapi.FuseEntryOut(nodeid=1, attr=_attr(0o40755))),
        lambda p: p.stat("/mnt/a"),
        "FUSE_ROOT_ID",
    ),
    (
        "getattr-type-change",
        uapi.FUSE_GETATTR,
        lambda req: simfs.Reply(uapi.FuseAttrOut(attr=_attr(0o100644))),
        lambda p: p.stat("/mnt"),
        "changes the file type",
    ),
    (
        "mkdir-invalid-nodeid",
        uapi.FUSE_MKDIR,
        lambda req: simfs.Reply(uapi.FuseEntryOut(nodeid=0, attr=_attr(0o40755))),
        lambda p: p.mkdir("/mnt/x"),
        "nodeid 0 is invalid",
    ),
    (
        "readdir-bad-name",
        uapi.FUSE_READDIR,
        lambda req: simfs.Reply.raw(bytes(24) + b"\x01" * 8),
        lambda p: p.listdir("/mnt"),
        "parse_dirfile",
    ),
    (
        "listxattr-unterminated",
        uapi.FUSE_LISTXATTR,
        lambda req: simfs.Reply.raw(b"user.x"),
        lambda p: p.listxattr("/mnt/a"),
        "fuse_verify_xattr_list",
    ),
    (
        "write-size-too-big",
        uapi.FUSE_WRITE,
        lambda req: simfs.Reply(uapi.FuseWriteOut(size=1000)),
        lambda p: p.write(p.open("/mnt/a", os.O_WRONLY), b"x"),
        "more than the 1 sent",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_refused_replies_explain_themselves(case: Any) -> None:
    _, opcode, answer, call, words = case
    d = Replying(opcode, answer)
    if opcode == uapi.FUSE_READDIR:
        d.readdirplus = False  # type: ignore[attr-defined]
    k, p = daemon_mount(d)
    p.setxattr("/data/a", "user.x", b"1")
    if opcode == uapi.FUSE_READDIR:
        k.fuse_mounts[max(k.fuse_mounts)].conn.do_readdirplus = False
    with pytest.raises(OSError) as ei:
        call(p)
    assert ei.value.errno == errno.EIO
    note = " ".join(getattr(ei.value, "__notes__", ()))
    assert "daemon Replying" in note and uapi.opcode_name(opcode) in note and words in note


def test_requests_after_a_failed_init_say_why() -> None:
    class BadInit(simfs.daemons.Passthrough):
        def init(self, req: simfs.Request) -> simfs.Reply | None:
            return simfs.Reply(uapi.FuseInitOut(major=6))

    _k, p = daemon_mount(BadInit("/data"))
    with pytest.raises(ConnectionRefusedError) as ei:
        p.stat("/mnt")
    note = " ".join(ei.value.__notes__)
    assert "daemon BadInit" in note and "major 6" in note


def test_classic_requests_on_a_no_daemon_mount_say_why() -> None:
    import simfs.bpf

    @simfs.bpf.program("no_backing")
    def no_backing(fa: simfs.bpf.FuseBpfArgs) -> int:
        return 0  # neither BACKING nor a filter: the classic path

    k, p = lower_kernel()
    k.mount_fuse("/mnt", root_dir="/data", root_bpf=no_backing, no_daemon=True)
    with pytest.raises(ConnectionRefusedError) as ei:
        p.stat("/mnt/a")
    note = " ".join(ei.value.__notes__)
    assert "no_daemon" in note and "FUSE_BPF_BACKING" in note


def test_a_bad_inode_says_why_it_is_bad() -> None:
    changed = {"n": 0}

    def type_change(req: simfs.Request) -> simfs.Reply:
        changed["n"] += 1
        return simfs.Reply(uapi.FuseAttrOut(attr=_attr(0o20644)))  # a regular file turns chr

    d = Replying(uapi.FUSE_GETATTR, type_change, attr_timeout=0)
    _k, p = daemon_mount(d)
    fd = p.open("/mnt/a", os.O_RDONLY)
    with pytest.raises(OSError):
        p.fstat(fd)  # GETATTR: the type changed -> fuse_make_bad
    with pytest.raises(OSError) as ei:
        p.read(fd, 5)
    assert ei.value.errno == errno.EIO
    assert "marked bad" in " ".join(ei.value.__notes__)
