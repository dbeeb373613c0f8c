"""The Android self-tests' FUSE BPF programs, as simfs programs.

Decision tables of ``docs/android-selftests.md`` §3, written after ACK's
``tools/testing/selftests/filesystems/fuse/test_bpf.c`` (nxp-imx/linux-imx @ 6d728a1e /
5751f905) and ``fd_bpf.c``, with the same ``bpf_printk`` lines, plus a MediaProvider-style
policy after AOSP ``fuseMedia.c`` (spec §6.3).

``test_trace`` is the *detailed* program of the canonical selftests (the newest
``test_bpf.c`` calls it ``test_partial``, also exported under that name);
``test_trace_simple`` is the newest, everything-is-backing ``test_trace``.
Programs are :class:`simfs.bpf.Program` objects: pass one as ``root_bpf`` or load it in
a daemon with ``self.proc.bpf_prog_load(prog)``.
"""

from __future__ import annotations

import errno

from simfs import uapi
from simfs.bpf import (
    FuseBpfArgs,
    Program,
    get_current_pid_tgid,
    get_current_uid_gid,
    map_lookup_elem,
    map_update_elem,
    printk,
    program,
)

__all__ = [
    "ALL",
    "copy_file_range_test",
    "media_provider",
    "test_create_remove",
    "test_daemon",
    "test_error",
    "test_hidden",
    "test_lookup_postfilter",
    "test_mkdir_remove",
    "test_mount_gate",
    "test_partial",
    "test_passthrough",
    "test_readdir_redact",
    "test_readdirplus",
    "test_simple",
    "test_trace",
    "test_trace_simple",
]

PRE = uapi.FUSE_PREFILTER
POST = uapi.FUSE_POSTFILTER
BACKING = uapi.FUSE_BPF_BACKING
POST_FILTER = uapi.FUSE_BPF_POST_FILTER
USER = uapi.FUSE_BPF_USER_FILTER


@program("test_readdir_redact")
def test_readdir_redact(fa: FuseBpfArgs) -> int:
    if fa.opcode == uapi.FUSE_READDIR | PRE:
        printk("readdir %d", fa.in_args[0].value.fh)
        return BACKING | POST_FILTER
    if fa.opcode == uapi.FUSE_READDIR | POST:
        printk("readdir postfilter %x", fa.in_args[0].value.fh)
        return USER
    printk("opcode %d", fa.opcode)
    return BACKING


def _trace_common(fa: FuseBpfArgs) -> int | None:
    """The cases both test_trace variants share (same lines, all BACKING)."""
    op = fa.opcode
    if op == uapi.FUSE_ACCESS | PRE:
        printk("Access: %d", fa.nodeid)
        return BACKING
    if op == uapi.FUSE_CREATE | PRE:
        printk("Create: %d", fa.nodeid)
        return BACKING
    if op == uapi.FUSE_MKNOD | PRE:
        fmi = fa.in_args[0].value
        printk("mknod %s %x %x", fa.in_args[1].value, fmi.rdev | fmi.mode, fmi.umask)
        return BACKING
    if op == uapi.FUSE_MKDIR | PRE:
        fmi = fa.in_args[0].value
        printk("mkdir %s %x %x", fa.in_args[1].value, fmi.mode, fmi.umask)
        return BACKING
    if op == uapi.FUSE_RMDIR | PRE:
        printk("rmdir %s", fa.in_args[0].value)
        return BACKING
    if op == uapi.FUSE_RENAME | PRE:
        printk("rename from %s", fa.in_args[1].value)
        printk("rename to %s", fa.in_args[2].value)
        return BACKING
    if op == uapi.FUSE_RENAME2 | PRE:
        printk("rename(%x) from %s", fa.in_args[0].value.flags, fa.in_args[1].value)
        printk("rename to %s", fa.in_args[2].value)
        return BACKING
    if op == uapi.FUSE_UNLINK | PRE:
        printk("unlink %s", fa.in_args[0].value)
        return BACKING
    if op == uapi.FUSE_LINK | PRE:
        printk("link %d %s", fa.in_args[0].value.oldnodeid, fa.in_args[1].value)
        return BACKING
    if op == uapi.FUSE_SYMLINK | PRE:
        printk("symlink from %s", fa.in_args[0].value)
        printk("symlink to %s", fa.in_args[1].value)
        return BACKING
    if op == uapi.FUSE_READLINK | PRE:
        printk("readlink from")
        return BACKING
    if op == uapi.FUSE_OPEN | POST:
        printk("open postfilter")
        return USER
    if op == uapi.FUSE_REMOVEXATTR | PRE:
        printk("removexattr %s", fa.in_args[0].value)
        return BACKING
    if op == uapi.FUSE_CANONICAL_PATH | PRE:
        printk("canonical_path")
        return BACKING
    if op == uapi.FUSE_STATFS | PRE:
        printk("statfs")
        return BACKING
    if op == uapi.FUSE_LSEEK | PRE:
        fli = fa.in_args[0].value
        printk("lseek type:%d, offset:%lld", fli.whence, fli.offset)
        return BACKING
    return None


_TRACE_BACKED_NAMES = ("real", "partial", "dir", "dir2", "file1", "file2")


@program("test_trace")
def test_trace(fa: FuseBpfArgs) -> int:
    """The detailed ``test_trace`` (canonical selftests; ``test_partial`` later)."""
    op = fa.opcode
    if op == uapi.FUSE_LOOKUP | PRE:
        name = fa.in_args[0].value
        backed = name in _TRACE_BACKED_NAMES
        printk("lookup %s %d", name, int(backed))
        return BACKING | POST_FILTER if backed else 0
    if op == uapi.FUSE_LOOKUP | POST:
        name = fa.in_args[0].value
        feo = fa.out_args[0].value
        if name == "real":
            fa.out_args[0].set(nodeid=5)
        elif name == "partial":
            fa.out_args[0].set(nodeid=6)
        printk("post-lookup %s %d", name, fa.out_args[0].value.nodeid if feo is not None else 0)
        return 0
    common = _trace_common(fa)
    if common is not None:
        return common
    if op == uapi.FUSE_OPEN | PRE:
        backing = {5: BACKING, 6: BACKING | POST_FILTER}.get(fa.nodeid, 0)
        printk("open %d %d", fa.nodeid, backing)
        return backing
    if op == uapi.FUSE_READ | PRE:
        fri = fa.in_args[0].value
        printk("read %llu %llu", fri.fh, fri.offset)
        if fri.fh == 1 and fri.offset == 0:
            return 0
        return BACKING
    if op in (uapi.FUSE_GETATTR | PRE, uapi.FUSE_SETATTR | PRE):
        backing = BACKING if fa.nodeid in (1, 5, 6, 100) else 0
        printk(
            "%s %d %d",
            "getattr" if op == uapi.FUSE_GETATTR | PRE else "setattr",
            fa.nodeid,
            backing,
        )
        return backing
    if op == uapi.FUSE_OPENDIR | PRE:
        backing = BACKING | POST_FILTER if fa.nodeid == 1 else 0
        printk("opendir %d %d", fa.nodeid, backing)
        return backing
    if op == uapi.FUSE_OPENDIR | POST:
        fa.out_args[0].set(fh=2)
        printk("opendir postfilter")
        return 0
    if op == uapi.FUSE_READDIR | PRE:
        fri = fa.in_args[0].value
        backing = BACKING | POST_FILTER if fri.fh == 2 else 0
        printk("readdir %d %d", fri.fh, backing)
        return backing
    if op == uapi.FUSE_READDIR | POST:
        fri = fa.in_args[0].value
        backing = USER | BACKING | POST_FILTER if fri.fh == 2 else 0
        printk("readdir postfilter %d %d", fri.fh, backing)
        return backing
    if op == uapi.FUSE_FLUSH | PRE:
        printk("Flush %d", fa.in_args[0].value.fh)
        return BACKING
    if op == uapi.FUSE_GETXATTR | PRE:
        printk("getxattr %d %s", fa.in_args[0].value.size, fa.in_args[1].value)
        return BACKING
    if op == uapi.FUSE_LISTXATTR | PRE:
        printk("listxattr %d %s", fa.in_args[0].value.size, fa.in_args[1].value)
        return BACKING
    if op == uapi.FUSE_SETXATTR | PRE:
        printk(
            "setxattr %d %s %u", fa.in_args[0].value.size, fa.in_args[1].value, fa.in_args[2].size
        )
        return BACKING
    printk("Unknown opcode %d", op)
    return 0


#: The newest snapshot's name for the detailed program.
test_partial = Program(name="test_partial", func=test_trace.func)


@program("test_trace")
def test_trace_simple(fa: FuseBpfArgs) -> int:
    """The newest ``test_trace``: every listed case BACKING, default BACKING."""
    op = fa.opcode
    if op == uapi.FUSE_LOOKUP | PRE:
        printk("lookup %s", fa.in_args[0].value)
        return BACKING
    common = _trace_common(fa)
    if common is not None:
        return common
    if op == uapi.FUSE_OPEN | PRE:
        printk("open")
        return BACKING
    if op == uapi.FUSE_READ | PRE:
        printk("read %llu", fa.in_args[0].value.offset)
        return BACKING
    simple = {
        uapi.FUSE_GETATTR | PRE: "getattr",
        uapi.FUSE_SETATTR | PRE: "setattr",
        uapi.FUSE_OPENDIR | PRE: "opendir",
        uapi.FUSE_READDIR | PRE: "readdir",
        uapi.FUSE_FLUSH | PRE: "Flush",
    }
    if op in simple:
        printk(simple[op])
        return BACKING
    if op in (uapi.FUSE_GETXATTR | PRE, uapi.FUSE_LISTXATTR | PRE):
        printk(
            "%s %s",
            "getxattr" if op == uapi.FUSE_GETXATTR | PRE else "listxattr",
            fa.in_args[1].value,
        )
        return BACKING
    if op == uapi.FUSE_SETXATTR | PRE:
        printk("setxattr %s %u", fa.in_args[1].value, fa.in_args[2].size)
        return BACKING
    printk("Unknown opcode %d", op)
    return BACKING


@program("test_hidden")
def test_hidden(fa: FuseBpfArgs) -> int:
    op = fa.opcode
    if op == uapi.FUSE_LOOKUP | PRE:
        name = fa.in_args[0].value
        printk("Lookup: %s", name)
        if name == "show":
            return BACKING
        if name == "hide":
            return -errno.ENOENT
        return BACKING
    if op == uapi.FUSE_ACCESS | PRE:
        printk("Access: %d", fa.nodeid)
        return BACKING
    if op == uapi.FUSE_CREATE | PRE:
        printk("Create: %d", fa.nodeid)
        return BACKING
    if op in (
        uapi.FUSE_WRITE | PRE,
        uapi.FUSE_FLUSH | PRE,
        uapi.FUSE_RELEASE | PRE,
        uapi.FUSE_FALLOCATE | PRE,
        uapi.FUSE_CANONICAL_PATH | PRE,
    ):
        return BACKING
    printk("Unknown opcode: %d", op)
    return 0


def _phase_line(fa: FuseBpfArgs) -> None:
    if fa.opcode & PRE:
        printk("prefilter opcode: %d", fa.opcode & uapi.FUSE_OPCODE_FILTER)
    elif fa.opcode & POST:
        printk("postfilter opcode: %d", fa.opcode & uapi.FUSE_OPCODE_FILTER)
    else:
        printk("*** UNKNOWN *** opcode: %d", fa.opcode)


@program("test_simple")
def test_simple(fa: FuseBpfArgs) -> int:
    _phase_line(fa)
    return BACKING


@program("test_passthrough")
def test_passthrough(fa: FuseBpfArgs) -> int:
    if fa.opcode == uapi.FUSE_LOOKUP | PRE:
        printk("Lookup prefilter: %lx %s", fa.nodeid, fa.in_args[0].value)
        return BACKING | POST_FILTER
    if fa.opcode == uapi.FUSE_LOOKUP | POST:
        printk("Lookup postfilter: %lx %s %lu", fa.nodeid, fa.in_args[0].value)
        fa.out_args[1].set(bpf_action=uapi.FUSE_ACTION_REMOVE)
        return USER
    _phase_line(fa)
    return BACKING


@program("test_error")
def test_error(fa: FuseBpfArgs) -> int:
    op = fa.opcode
    if op == uapi.FUSE_MKDIR | PRE:
        printk("mkdir")
        return BACKING | POST_FILTER
    if op == uapi.FUSE_MKDIR | POST:
        printk("mkdir postfilter")
        if fa.error_in == -errno.EEXIST:
            return -errno.EPERM
        return 0
    if op == uapi.FUSE_LOOKUP | PRE:
        printk("lookup prefilter %s", fa.in_args[0].value)
        return BACKING | POST_FILTER
    if op == uapi.FUSE_LOOKUP | POST:
        name = fa.in_args[0].value
        printk("lookup postfilter %s %d", name, fa.error_in)
        if name == "doesnotexist":
            printk("lookup postfilter doesnotexist")
            return USER
        printk("meh")
        return 0
    _phase_line(fa)
    return BACKING


@program("test_readdirplus")
def test_readdirplus(fa: FuseBpfArgs) -> int:
    if fa.opcode == uapi.FUSE_READDIR | PRE:
        return 0
    return BACKING


@program("test_lookup_postfilter")
def test_lookup_postfilter(fa: FuseBpfArgs) -> int:
    if fa.opcode == uapi.FUSE_LOOKUP | PRE:
        return BACKING | POST_FILTER
    if fa.opcode == uapi.FUSE_LOOKUP | POST:
        return USER
    return BACKING


def _remove_bpf_then(fail_opcode: int) -> object:
    def prog(fa: FuseBpfArgs) -> int:
        if fa.opcode == uapi.FUSE_LOOKUP | PRE:
            return BACKING | POST_FILTER
        if fa.opcode == uapi.FUSE_LOOKUP | POST:
            fa.out_args[1].set(bpf_action=uapi.FUSE_ACTION_REMOVE)
            return 0
        if fa.opcode == fail_opcode | PRE:
            return -errno.EIO
        return BACKING

    return prog


test_create_remove = Program(name="test_create_remove", func=_remove_bpf_then(uapi.FUSE_OPEN))  # type: ignore[arg-type]
test_mkdir_remove = Program(name="test_mkdir_remove", func=_remove_bpf_then(uapi.FUSE_OPENDIR))  # type: ignore[arg-type]


@program("copy_file_range_test")
def copy_file_range_test(fa: FuseBpfArgs) -> int:
    if fa.opcode == uapi.FUSE_LOOKUP | PRE:
        return BACKING | POST_FILTER
    if fa.opcode == uapi.FUSE_LOOKUP | POST:
        name = fa.in_args[0].value
        printk("lookup postfilter %s %d", name, fa.error_in)
        if name == "user":
            printk("lookup postfilter user")
            fa.out_args[1].set(
                bpf_action=uapi.FUSE_ACTION_REMOVE, backing_action=uapi.FUSE_ACTION_REMOVE
            )
        return 0
    return BACKING


@program("test_mount_gate")
def test_mount_gate(fa: FuseBpfArgs) -> int:
    """raspberry-vanilla fork: privileged mounts route a few names to the daemon."""
    op = fa.opcode
    if op == uapi.FUSE_LOOKUP | PRE:
        return 0 if fa.in_args[0].value in ("test", "folder1", "folder2") else BACKING
    if op == uapi.FUSE_GETATTR | PRE:
        return 0 if fa.nodeid == 1 else BACKING
    if op in (uapi.FUSE_OPENDIR | PRE, uapi.FUSE_READDIR | PRE, uapi.FUSE_READDIRPLUS | PRE):
        return 0
    return BACKING


_DAEMON_LINES: dict[int, str] = {
    uapi.FUSE_ACCESS: "Access: %d",
    uapi.FUSE_GETATTR: "Get Attr %d",
    uapi.FUSE_SETATTR: "Set Attr %d",
    uapi.FUSE_OPENDIR: "Open Dir: %d",
    uapi.FUSE_READDIR: "Read Dir: fh: %lu",
    uapi.FUSE_MKNOD: "Mknod %d",
    uapi.FUSE_MKDIR: "Mkdir %d",
    uapi.FUSE_RMDIR: "Rmdir %d",
    uapi.FUSE_RENAME: "Rename %d",
    uapi.FUSE_RENAME2: "Rename2 %d",
    uapi.FUSE_UNLINK: "Unlink %d",
    uapi.FUSE_LINK: "Link %d",
    uapi.FUSE_SYMLINK: "Symlink %d",
    uapi.FUSE_READLINK: "Readlink %d",
    uapi.FUSE_RELEASE: "Release %d",
    uapi.FUSE_RELEASEDIR: "Release Dir: %d",
    uapi.FUSE_CREATE: "Create %d",
    uapi.FUSE_OPEN: "Open: %d",
    uapi.FUSE_READ: "Read: fh: %lu",
    uapi.FUSE_WRITE: "Write: fh: %lu",
    uapi.FUSE_FLUSH: "Flush %d",
    uapi.FUSE_FALLOCATE: "Fallocate %d",
    uapi.FUSE_GETXATTR: "Getxattr %d",
    uapi.FUSE_LISTXATTR: "Listxattr %d",
    uapi.FUSE_SETXATTR: "Setxattr %d",
    uapi.FUSE_STATFS: "Statfs %d",
    uapi.FUSE_LSEEK: "Lseek %d",
}


def _test_daemon(fa: FuseBpfArgs) -> int:
    value = map_lookup_elem("test_map", 23)
    if value is not None:
        pid = get_current_pid_tgid() & 0xFFFFFFFF
        uid = get_current_uid_gid() & 0xFFFFFFFF
        printk("pid %u uid %u value %u", pid, uid, value)
        map_update_elem("test_map", 23, value + 1)
    op = fa.opcode
    if op == uapi.FUSE_LOOKUP | PRE:
        printk("Lookup: %lx %s", fa.nodeid, fa.in_args[0].value)
        return USER | BACKING if fa.nodeid == 1 else BACKING
    if op & PRE and (op & uapi.FUSE_OPCODE_FILTER) in _DAEMON_LINES:
        printk(_DAEMON_LINES[op & uapi.FUSE_OPCODE_FILTER], fa.nodeid)
        return BACKING
    printk("UNKNOWN opcode: %d", op)
    return BACKING


#: ``fd_bpf.bpf`` section ``test_daemon``: array map ``test_map`` (1000 x u32, zeroed) and
#: the unused hash map ``test_map2``.  Every load gets fresh maps.
test_daemon = Program(
    name="test_daemon",
    func=_test_daemon,
    maps={"test_map": {i: 0 for i in range(1000)}, "test_map2": {}},
)


@program("media_provider")
def media_provider(fa: FuseBpfArgs) -> int:
    """MediaProvider-style policy (AOSP ``fuseMedia.c``, spec §6.3).

    LOOKUP: backing with a postfilter; the postfilter drops the program for the child
    (REMOVE) and lets the lookup through when it failed, the file is world-readable, or
    the caller owns it (uid or gid); otherwise it asks the daemon (USER_FILTER), which
    typically answers -ENOENT to hide the file.  READDIR: backing + postfilter, then the
    daemon redacts.  Everything else: backing.
    """
    op = fa.opcode
    if op == uapi.FUSE_LOOKUP | PRE:
        return BACKING | POST_FILTER
    if op == uapi.FUSE_LOOKUP | POST:
        fa.out_args[1].set(bpf_action=uapi.FUSE_ACTION_REMOVE)
        if fa.error_in != 0:
            return 0
        attr = fa.out_args[0].value.attr
        ids = get_current_uid_gid()
        uid, gid = ids & 0xFFFFFFFF, ids >> 32
        if attr.mode & 0o004 or attr.uid == uid or attr.gid == gid:
            return 0
        return USER
    if op == uapi.FUSE_READDIR | PRE:
        return BACKING | POST_FILTER
    if op == uapi.FUSE_READDIR | POST:
        return USER
    return BACKING


#: Every program of this module by section name.
ALL: dict[str, Program] = {
    p.name if p is not test_trace_simple else "test_trace_simple": p
    for p in (
        test_readdir_redact,
        test_trace,
        test_partial,
        test_trace_simple,
        test_hidden,
        test_simple,
        test_passthrough,
        test_error,
        test_readdirplus,
        test_lookup_postfilter,
        test_create_remove,
        test_mkdir_remove,
        copy_file_range_test,
        test_mount_gate,
        test_daemon,
        media_provider,
    )
}
