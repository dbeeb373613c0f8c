"""A limited overlay of two lower directories, built from lookup add-ons.

The mount's root is a classic FUSE directory served by the daemon (no ``root_dir``).  When
the kernel looks a name up in it, the daemon searches the layers in order — ``upper``
first, then ``lower`` — opens the first match and replies with ``fuse_entry_out`` *plus*
the 32-byte ``fuse_entry_bpf_out`` add-on: ``backing_action = REPLACE`` with that fd.  The
child becomes a FUSE inode backed by the chosen layer's file (spec §6.1 path (b)), with no
program, so everything done to it afterwards — open, read, write, and whole subtrees below
a directory — is pure passthrough.  The daemon only ever sees the root: LOOKUPs of its
names, GETATTR, and READDIR, which it answers with the union of both layers (upper wins).

It is *limited* in the ways that make it small: only the root is merged (a directory
comes wholly from one layer), there is no copy-up (writing to a file that lives in
``lower`` changes ``lower``), no whiteouts (nothing can be deleted at the root), and new
names at the root are refused with ``EROFS``.

What to look for (``simfs run overlay``): each first lookup at the root is one
``⇢ daemon LOOKUP`` with the daemon's ``lstat``/``open`` of the layers nested under it and a
32-byte add-on in the reply; the READ of a file has no daemon traffic.  The reply sets a
long ``entry_valid``: a classic dentry whose entry has expired is revalidated with another
LOOKUP, and an add-on in that reply invalidates it (spec §6.5), so short timeouts cost
extra round trips.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import simfs
from simfs import Kernel, uapi
from simfs.scenarios import LOWER, ScenarioResult, attempt, dirent_type, fuse_attr

TITLE = "A limited overlay of two lower directories from lookup add-ons"
ORDER = 90

UPPER_DIR = f"{LOWER}/upper"
LOWER_DIR = f"{LOWER}/lower"
LAYERS = (UPPER_DIR, LOWER_DIR)
TIMEOUT = 3600  # seconds of entry/attr validity


class Overlay(simfs.Daemon):
    """Serves the merged root; hands every child to the kernel as a backed inode."""

    def __init__(self) -> None:
        super().__init__()
        self.nodeids: dict[str, int] = {}
        self.to_close: list[int] = []

    def _layer_of(self, name: str) -> tuple[str, os.stat_result] | None:
        for layer in LAYERS:
            try:
                return layer, self.proc.lstat(f"{layer}/{name}")
            except FileNotFoundError:
                continue
        return None

    def _merged(self) -> list[uapi.FuseDirent]:
        names: dict[str, uapi.FuseDirent] = {}
        for layer in LAYERS:
            for entry in self.proc.scandir(layer):
                if entry.name not in names:
                    st = entry.stat(follow_symlinks=False)
                    names[entry.name] = uapi.FuseDirent(
                        ino=st.st_ino, type=dirent_type(st.st_mode), name=entry.name
                    )
        dot = uapi.FuseDirent(ino=uapi.FUSE_ROOT_ID, type=dirent_type(stat.S_IFDIR), name=".")
        dotdot = uapi.FuseDirent(ino=uapi.FUSE_ROOT_ID, type=dirent_type(stat.S_IFDIR), name="..")
        ordered = [dot, dotdot, *(names[n] for n in sorted(names))]
        return [
            uapi.FuseDirent(ino=d.ino, off=i + 1, type=d.type, name=d.name)
            for i, d in enumerate(ordered)
        ]

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        # fds handed over in earlier replies were resolved when those were written
        while self.to_close:
            self.proc.close(self.to_close.pop())
        op, root = req.opcode, req.nodeid == uapi.FUSE_ROOT_ID
        if op in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None
        if not root:
            return simfs.Reply.error(errno.ENOSYS)  # children are backed: never asked
        if op == uapi.FUSE_LOOKUP:
            name = req.args[0]
            assert isinstance(name, str)
            found = self._layer_of(name)
            if found is None:
                return simfs.Reply.error(errno.ENOENT)
            layer, st = found
            flags = os.O_RDONLY | (os.O_DIRECTORY if stat.S_ISDIR(st.st_mode) else 0)
            fd = self.proc.open(f"{layer}/{name}", flags)
            self.to_close.append(fd)
            nodeid = self.nodeids.setdefault(name, len(self.nodeids) + 2)
            return simfs.Reply(
                uapi.FuseEntryOut(
                    nodeid=nodeid,
                    entry_valid=TIMEOUT,
                    attr_valid=TIMEOUT,
                    attr=fuse_attr(st),
                ),
                uapi.FuseEntryBpfOut(backing_action=uapi.FUSE_ACTION_REPLACE, backing_fd=fd),
            )
        if op == uapi.FUSE_GETATTR:
            st = self.proc.stat(UPPER_DIR)
            return simfs.Reply(
                uapi.FuseAttrOut(attr_valid=TIMEOUT, attr=fuse_attr(st, ino=uapi.FUSE_ROOT_ID))
            )
        if op == uapi.FUSE_OPENDIR:
            return simfs.Reply(uapi.FuseOpenOut(fh=1))
        if op == uapi.FUSE_READDIR:
            read_in = req.args[0]
            assert isinstance(read_in, uapi.FuseReadIn)
            page: list[uapi.FuseDirent] = []
            used = 0
            for d in self._merged()[read_in.offset :]:
                if used + d.record_size > read_in.size:
                    break
                page.append(d)
                used += d.record_size
            return simfs.Reply(page)
        if op in (uapi.FUSE_RELEASEDIR, uapi.FUSE_FLUSH, uapi.FUSE_ACCESS):
            return simfs.Reply.none()
        if op in (
            uapi.FUSE_CREATE,
            uapi.FUSE_MKDIR,
            uapi.FUSE_MKNOD,
            uapi.FUSE_SYMLINK,
            uapi.FUSE_UNLINK,
            uapi.FUSE_RMDIR,
            uapi.FUSE_RENAME,
            uapi.FUSE_LINK,
        ):
            return simfs.Reply.error(errno.EROFS)  # limited: the merged root is read-only
        return simfs.Reply.error(errno.ENOSYS)


def setup(k: Kernel) -> None:
    k.lower.create_file(f"{UPPER_DIR}/both.txt", contents="upper wins\n")
    k.lower.create_file(f"{LOWER_DIR}/both.txt", contents="lower loses\n")
    k.lower.create_file(f"{UPPER_DIR}/top.txt", contents="only in upper\n")
    k.lower.create_file(f"{LOWER_DIR}/base.txt", contents="only in lower\n")
    k.lower.create_file(f"{LOWER_DIR}/lib/module.py", contents="x = 1\n")


def mount(k: Kernel, target: str) -> Any:
    return k.mount_fuse(target, daemon=Overlay())


def _cat(p: simfs.Process, path: str) -> bytes:
    fd = p.open(path, os.O_RDONLY)
    try:
        return p.read(fd, 4096)
    finally:
        p.close(fd)


def workload(k: Kernel, target: str) -> dict[str, Any]:
    p = k.spawn()
    seen: dict[str, Any] = {}
    seen["listing"] = sorted(p.listdir(target))
    for name in ("both.txt", "top.txt", "base.txt", "lib/module.py"):
        seen[name] = attempt(_cat, p, f"{target}/{name}")
    seen["lib"] = attempt(p.listdir, f"{target}/lib")
    seen["create at root"] = attempt(p.open, f"{target}/new.txt", os.O_WRONLY | os.O_CREAT, 0o644)
    seen["create in lib"] = attempt(
        lambda: p.close(p.open(f"{target}/lib/new.py", os.O_WRONLY | os.O_CREAT, 0o644))
    )
    return seen


def check(result: ScenarioResult) -> None:
    seen = result.seen
    lower = result.kernel.lower
    assert seen["listing"] == ["base.txt", "both.txt", "lib", "top.txt"], seen["listing"]
    assert seen["both.txt"] == b"upper wins\n"
    assert seen["top.txt"] == b"only in upper\n"
    assert seen["base.txt"] == b"only in lower\n"
    assert seen["lib/module.py"] == b"x = 1\n"
    assert seen["lib"] == ["module.py"]
    assert seen["create at root"] == "EROFS"
    assert seen["create in lib"] is None  # lib is backed by lower/lib: created there
    assert lower.exists(f"{LOWER_DIR}/lib/new.py")
    ops = result.request_opcodes()
    # the daemon only served the root: one LOOKUP per name (both.txt, top.txt, base.txt,
    # lib, new.txt), the root's listing, and the refused CREATE; never a READ or an OPEN
    assert ops.count("LOOKUP") == 5, ops
    assert {"OPENDIR", "READDIR", "CREATE"} <= set(ops), ops
    assert not {"OPEN", "READ", "WRITE", "FLUSH", "RELEASE"} & set(ops), ops
    assert all(r["nodeid"] == 1 for r in result.trace.requests() if r["opcode"] != "FORGET")
