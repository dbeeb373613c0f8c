"""Per-opcode rules of the fuse-bpf engine that no other test pinned (issue 21).

Each test here was written for a mutant of ``simfs/fuse/backing.py`` that survived the
whole suite: a rule of an ACK ``fuse_<op>_initialize/_backing/_finalize`` function (spec
``fuse-bpf-semantics.md`` §3-§8) that the engine follows but nothing checked.  Expected
values come from the kernel function named in each test, or from the lower filesystem
itself (what Linux stores for a syscall), never from simfs's own output.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import replace
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.bpf import FuseBpfArgs, program
from simfs.daemon import Daemon, Reply, Request

B = uapi.FUSE_BPF_BACKING
P = uapi.FUSE_BPF_POST_FILTER
U = uapi.FUSE_BPF_USER_FILTER
LLONG_MAX = (1 << 63) - 1


def machine() -> tuple[simfs.Kernel, simfs.Process]:
    k = simfs.Kernel()
    k.lower.create_dir("/src", perm_bits=0o755)
    k.lower.create_file("/src/f", contents=b"lower data")
    k.lower.create_dir("/mnt", perm_bits=0o755)
    return k, k.spawn()


def filter_for(
    pre: dict[int, int], post: frozenset[int] = frozenset(), fail: dict[int, int] | None = None
) -> Any:
    """A program: BACKING plus the ``pre`` filter bits for these opcodes (spec §3.2),
    USER_FILTER from the BPF postfilter of the ``post`` opcodes (§3.3: a daemon postfilter,
    which needs POST_FILTER in the prefilter's return), ``-errno`` from the prefilter of
    the ``fail`` opcodes."""

    @program("rules")
    def prog(fa: FuseBpfArgs) -> int:
        base = fa.opcode & ~(uapi.FUSE_PREFILTER | uapi.FUSE_POSTFILTER)
        if fail and base in fail and fa.opcode & uapi.FUSE_PREFILTER:
            return -fail[base]
        if fa.opcode & uapi.FUSE_POSTFILTER:
            return U if base in post else 0
        return B | pre.get(base, 0) | (P if base in post else 0)

    return prog


class Recorder(Daemon):
    """Answers filter requests through ``answer`` (None: echo), records every request."""

    def __init__(self, answer: Any = None) -> None:
        super().__init__()
        self.answer = answer
        self.seen: list[Request] = []

    def handle(self, req: Request) -> Reply | None:
        self.seen.append(req)
        if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None
        if req.opcode in (uapi.FUSE_RELEASE, uapi.FUSE_RELEASEDIR, uapi.FUSE_FLUSH):
            return Reply.none()
        reply = self.answer(req) if self.answer is not None else None
        if reply is not None:
            return reply
        n = len(req.out_shapes)
        return Reply(*req.args[len(req.args) - n :]) if n else Reply.none()

    def of(self, opcode: int) -> list[Request]:
        return [r for r in self.seen if r.opcode == opcode]


# --- CREATE finalize (spec §4.1, ACK fuse_create_open_finalize) --------------------------------
def test_create_finalize_takes_nodeid_from_entry_out_and_fh_from_open_out() -> None:
    """fuse_create_open_finalize: ``fi->nodeid = feo->nodeid`` (out arg 0) and
    ``ff->fh = foo->fh`` (out arg 1).  A daemon CREATE postfilter numbers the node 99 and
    the handle 77; the READ prefilter that follows carries both."""

    def answer(req: Request) -> Reply | None:
        if req.opcode == uapi.FUSE_CREATE | uapi.FUSE_POSTFILTER:
            feo, foo = req.args[2], req.args[3]
            assert isinstance(feo, uapi.FuseEntryOut) and isinstance(foo, uapi.FuseOpenOut)
            return Reply(uapi.FuseEntryOut(nodeid=99, attr=feo.attr), uapi.FuseOpenOut(fh=77))
        return None

    k, p = machine()
    d = Recorder(answer)
    k.mount_fuse(
        "/mnt",
        d,
        root_dir="/src",
        root_bpf=filter_for({uapi.FUSE_READ: U}, frozenset({uapi.FUSE_CREATE})),
    )
    fd = p.open("/mnt/new", os.O_CREAT | os.O_RDWR, 0o644)
    assert p.write(fd, b"abc") == 3
    assert p.pread(fd, 3, 0) == b"abc"
    (read,) = d.of(uapi.FUSE_READ | uapi.FUSE_PREFILTER)
    assert read.nodeid == 99
    assert read.args[0].fh == 77
    p.close(fd)


def test_create_without_postfilter_leaves_nodeid_0_and_fh_0() -> None:
    """fuse_create_open_finalize copies what nobody changed: nodeid 0 (spec §8.4) and fh 0."""
    k, p = machine()
    d = Recorder()
    k.mount_fuse("/mnt", d, root_dir="/src", root_bpf=filter_for({uapi.FUSE_READ: U}))
    fd = p.open("/mnt/new", os.O_CREAT | os.O_RDWR, 0o644)
    p.pread(fd, 3, 0)
    (read,) = d.of(uapi.FUSE_READ | uapi.FUSE_PREFILTER)
    assert (read.nodeid, read.args[0].fh) == (0, 0)
    p.close(fd)


# --- GETATTR finalize: fuse_invalid_attr (fs/fuse/fuse_i.h) ------------------------------------
@pytest.mark.parametrize(("size", "ok"), [(LLONG_MAX, True), (LLONG_MAX + 1, False)])
def test_getattr_postfilter_size_bound_is_llong_max(size: int, ok: bool) -> None:
    """fuse_invalid_attr: ``!fuse_valid_size(attr->size)``, i.e. size > LLONG_MAX, makes
    fuse_getattr_finalize mark the inode bad and fail with EIO; LLONG_MAX itself is valid."""

    def answer(req: Request) -> Reply | None:
        if req.opcode == uapi.FUSE_GETATTR | uapi.FUSE_POSTFILTER:
            out = req.args[-1]
            assert isinstance(out, uapi.FuseAttrOut)
            return Reply(replace(out, attr=replace(out.attr, size=size)))
        return None

    k, p = machine()
    k.mount_fuse(
        "/mnt",
        Recorder(answer),
        root_dir="/src",
        root_bpf=filter_for({}, frozenset({uapi.FUSE_GETATTR})),
    )
    if ok:
        assert p.stat("/mnt/f").st_size == LLONG_MAX
    else:
        with pytest.raises(OSError) as ei:
            p.stat("/mnt/f")
        assert ei.value.errno == errno.EIO


# --- SETATTR initialize/backing: iattr_to_fattr and back (fs/fuse/dir.c) -----------------------
NS_A = 1_700_000_000_987_654_321
NS_M = 1_600_000_000_123_456_789


def test_setattr_times_keep_their_nanoseconds_to_the_lower_file() -> None:
    """fuse_setattr_initialize fills fuse_setattr_in with seconds and nanoseconds
    (iattr_to_fattr); fuse_setattr_backing rebuilds the timespecs for notify_change.  The
    lower file then has exactly the times utimensat(2) asked for (tmpfs keeps 1 ns), and
    the daemon's SETATTR prefilter sees them split as iattr_to_fattr splits them."""
    k, p = machine()
    d = Recorder()
    k.mount_fuse("/mnt", d, root_dir="/src", root_bpf=filter_for({uapi.FUSE_SETATTR: U}))
    p.utime("/mnt/f", ns=(NS_A, NS_M))
    (req,) = d.of(uapi.FUSE_SETATTR | uapi.FUSE_PREFILTER)
    fsi = req.args[0]
    assert (fsi.atime, fsi.atimensec) == divmod(NS_A, 10**9)
    assert (fsi.mtime, fsi.mtimensec) == divmod(NS_M, 10**9)
    lower = k.lower.stat("/src/f")
    assert (lower.st_atime_ns, lower.st_mtime_ns) == (NS_A, NS_M)
    # utimensat always sets ATTR_CTIME (utimes_common), which iattr_to_fattr passes on
    assert fsi.valid & uapi.FATTR_CTIME
    assert 0 < fsi.ctime * 10**9 + fsi.ctimensec <= lower.st_ctime_ns
    assert fsi.ctimensec < 10**9
    s = p.stat("/mnt/f")
    assert (s.st_atime_ns, s.st_mtime_ns) == (NS_A, NS_M)


def test_getattr_reports_lower_nanoseconds() -> None:
    """fuse_getattr_backing fills fuse_attr from the lower kstat with tv_nsec kept
    (spec §8.3); the finalize rebuilds the timespecs.  Lower times set on the lower fs
    directly show through unchanged."""
    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=filter_for({}))
    lp = k.spawn()
    k.clock.advance(123_456_789)  # so the ctime utime stamps has nanoseconds too
    lp.utime("/src/f", ns=(NS_A, NS_M))
    lower = k.lower.stat("/src/f")
    assert lower.st_ctime_ns % 10**9 != 0
    s = p.stat("/mnt/f")
    assert (s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns) == (NS_A, NS_M, lower.st_ctime_ns)
    assert stat.S_ISREG(s.st_mode)


# --- READDIR finalize: parse_dirfile + filldir64 (fs/fuse/readdir.c, fs/readdir.c) -------------
def test_readdir_d_off_resumes_after_its_entry() -> None:
    """fuse_readdir_finalize emits each record with ``ctx->pos = dirent->off`` and sets
    ``ctx->pos = fro->offset`` at the end; filldir64 reports as an entry's d_off the
    position passed with the *next* entry.  So every d_off is where a reader resumes after
    that entry: lseek(fd, d_off) then getdents returns exactly the entries that followed
    (the telldir/seekdir contract), and the d_offs equal the lower directory's own."""
    k, p = machine()
    for name in ("b", "c", "d", "e"):
        k.lower.create_file(f"/src/{name}", contents=b"")
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=filter_for({}))
    fd = p.open("/mnt", os.O_RDONLY | os.O_DIRECTORY)
    first = p.getdents(fd)
    assert sorted(e.name for e in first) == [".", "..", "b", "c", "d", "e", "f"]
    lower_fd = p.open("/src", os.O_RDONLY | os.O_DIRECTORY)
    lower = p.getdents(lower_fd)
    assert [(e.name, e.d_off) for e in first] == [(e.name, e.d_off) for e in lower]
    for i, entry in enumerate(first):
        p.lseek(fd, entry.d_off, os.SEEK_SET)
        assert [e.name for e in p.getdents(fd)] == [e.name for e in first[i + 1 :]]
    p.close(lower_fd)
    p.close(fd)


# --- GETXATTR/LISTXATTR finalize after a prefilter error (spec §3.6 A) -------------------------
def test_xattr_prefilter_error_with_a_buffer_reports_the_in_struct_size() -> None:
    """fuse_getxattr_finalize/fuse_listxattr_finalize read the size from out slot 0, which
    after a prefilter error still aliases ``fuse_getxattr_in`` (8 bytes): with a caller
    buffer the syscall returns 8 instead of the program's errno (ACK literal behaviour;
    without quirks the errno stands)."""
    k, p = machine()
    k.spawn().setxattr("/src/f", "user.k", b"value")
    fail = {uapi.FUSE_GETXATTR: errno.EPERM, uapi.FUSE_LISTXATTR: errno.EPERM}
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=filter_for({}, fail=fail))
    assert len(p.getxattr("/mnt/f", "user.k")) == 8
    assert isinstance(p.listxattr("/mnt/f"), list)
    k.lower.create_dir("/mnt2", perm_bits=0o755)
    k.mount_fuse(
        "/mnt2", root_dir="/src", no_daemon=True, root_bpf=filter_for({}, fail=fail), quirks=False
    )
    with pytest.raises(OSError) as ei:
        p.getxattr("/mnt2/f", "user.k")
    assert ei.value.errno == errno.EPERM


def test_readdir_of_a_directory_many_pages_long_lists_every_entry() -> None:
    """fuse_readdir_backing fills one page per FUSE_READDIR; getdents keeps calling
    iterate_shared until a call emits nothing, with no bound on the number of pages
    (fs/readdir.c).  3000 entries (about 24 pages of 32-byte records) all come back, in the
    lower directory's order."""
    k, p = machine()
    k.lower.create_dir("/src/big", perm_bits=0o755)
    for i in range(3000):
        k.lower.create_file(f"/src/big/f{i:04d}", contents=b"")
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=filter_for({}))
    listed = p.listdir("/mnt/big")
    assert listed == p.listdir("/src/big")
    assert len(listed) == 3000


# --- READ finalize: ERR_PTR(fro->ret) (spec §3.6 C) ----------------------------------------------
@pytest.mark.parametrize(("ret", "expect"), [((1 << 64) - errno.EIO, errno.EIO), (4, b"lowe")])
def test_read_postfilter_count_is_an_errno_in_the_top_4095(ret: int, expect: Any) -> None:
    """fuse_read_iter_finalize returns ``ERR_PTR(fro->ret)``: a daemon READ postfilter that
    writes a value in the last MAX_ERRNO (4095) of the u64 range fails the read with that
    errno (IS_ERR_VALUE); a smaller value is the byte count the read reports."""

    def answer(req: Request) -> Reply | None:
        if req.opcode == uapi.FUSE_READ | uapi.FUSE_POSTFILTER:
            return Reply(uapi.FuseReadIterOut(ret=ret))
        return None

    k, p = machine()
    k.mount_fuse(
        "/mnt",
        Recorder(answer),
        root_dir="/src",
        root_bpf=filter_for({}, frozenset({uapi.FUSE_READ})),
    )
    fd = p.open("/mnt/f", os.O_RDONLY)
    if isinstance(expect, int):
        with pytest.raises(OSError) as ei:
            p.read(fd, 100)
        assert ei.value.errno == expect
    else:
        assert p.read(fd, 100) == expect
    p.close(fd)


# --- OPEN backing: inode_permission by access mode (ACK fuse_open_backing) --------------------
@program("access_to_daemon")
def access_to_daemon(fa: FuseBpfArgs) -> int:
    """ACCESS goes the classic way (0), everything else is backing."""
    return 0 if fa.opcode == uapi.FUSE_ACCESS | uapi.FUSE_PREFILTER else B


@pytest.mark.parametrize(
    ("mode", "flags", "allowed"),
    [
        (0o644, os.O_RDONLY, True),
        (0o644, os.O_WRONLY, False),
        (0o644, os.O_RDWR, False),
        (0o602, os.O_RDONLY, False),
        (0o602, os.O_WRONLY, True),
        (0o602, os.O_RDWR, False),
    ],
)
def test_open_checks_the_lower_inode_by_access_mode(mode: int, flags: int, allowed: bool) -> None:
    """fuse_open_backing's own ``inode_permission(backing_inode, mask)``: MAY_READ for
    O_RDONLY, MAY_WRITE for O_WRONLY, MAY_READ|MAY_WRITE for O_RDWR.  To reach it, the
    program hands ACCESS to the daemon (classic fuse_permission without default_permissions
    asks nothing for an open), so the OPEN backing is the only check on a root-owned lower
    file opened by uid 1000 (allow_other): 0644 is readable only, 0602 writable only."""
    k, root = machine()
    root.chmod("/src/f", mode)
    d = Recorder()
    k.mount_fuse("/mnt", d, root_dir="/src", root_bpf=access_to_daemon, allow_other=True)
    user = k.spawn(uid=1000, gid=1000)
    if allowed:
        user.close(user.open("/mnt/f", flags))
    else:
        with pytest.raises(PermissionError):
            user.open("/mnt/f", flags)
    assert not d.of(uapi.FUSE_ACCESS)  # no access(2)/chdir: classic asks nothing


# --- filter requests are ordinary requests (fuse_bpf_simple_request) -------------------------
def test_filter_request_on_a_no_daemon_mount_is_econnrefused() -> None:
    """A userspace prefilter goes through fuse_simple_request without ``args->force``, so
    on a no_daemon mount (INIT failed: fc->conn_error) fuse_get_req refuses it with
    ECONNREFUSED (spec §7.2); only FLUSH/RELEASE filters are forced.  (OPEN keeps a
    prefilter errno, spec §3.6 A.)"""
    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=filter_for({uapi.FUSE_OPEN: U}))
    with pytest.raises(ConnectionRefusedError):
        p.open("/mnt/f", os.O_RDONLY)


# --- locks live on the lower file (ACK fuse_file_flock) -----------------------------------------
def test_flock_on_a_backed_file_conflicts_with_the_lower_file() -> None:
    """fuse_file_flock: a fuse file with a lower file takes the BSD lock on the lower file
    (locks_lock_file_wait(backing_file)), so it conflicts with a lock taken on the lower
    file directly, as two opens of one inode do (FuseInode.lock_target)."""
    import fcntl

    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=filter_for({}))
    upper = p.open("/mnt/f", os.O_RDONLY)
    lower = p.open("/src/f", os.O_RDONLY)
    p.flock(upper, fcntl.LOCK_EX)
    with pytest.raises(BlockingIOError):
        p.flock(lower, fcntl.LOCK_EX | fcntl.LOCK_NB)
    p.flock(upper, fcntl.LOCK_UN)
    p.flock(lower, fcntl.LOCK_EX | fcntl.LOCK_NB)
    p.close(upper)
    p.close(lower)


def test_read_filter_sees_the_file_flags() -> None:
    """fuse_read_iter_initialize: ``fri.flags = file->f_flags`` -- a READ prefilter sees
    the access mode and O_NONBLOCK the file was opened with."""
    k, p = machine()
    d = Recorder()
    k.mount_fuse("/mnt", d, root_dir="/src", root_bpf=filter_for({uapi.FUSE_READ: U}))
    fd = p.open("/mnt/f", os.O_RDONLY | os.O_NONBLOCK)
    p.read(fd, 4)
    (req,) = d.of(uapi.FUSE_READ | uapi.FUSE_PREFILTER)
    assert req.args[0].flags & os.O_ACCMODE == os.O_RDONLY
    assert req.args[0].flags & os.O_NONBLOCK
    p.close(fd)


# --- STATFS: the lower numbers through fuse_statfs_out (ACK fuse_statfs_backing/_finalize) ------
def test_statfs_reports_the_lower_filesystem_numbers() -> None:
    """fuse_statfs_backing runs vfs_statfs on the lower path and converts it into
    fuse_statfs_out; the finalize converts it back (convert_fuse_statfs).  Every number but
    f_type (the FUSE magic, set by fuse_statfs) is the lower filesystem's."""
    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=filter_for({}))
    upper, lower = p.statfs("/mnt"), p.statfs("/src")
    fields = ("f_bsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_namelen")
    assert [getattr(upper, f) for f in fields] == [getattr(lower, f) for f in fields]
    assert upper.f_blocks > 0
    assert upper.f_type == uapi.FUSE_SUPER_MAGIC


# --- READ finalize after a prefilter error reads the aliased fuse_read_in (spec §3.6 A) ---------
@pytest.mark.parametrize("quirks", [True, False])
def test_read_prefilter_error_reports_the_fh_as_a_count(quirks: bool) -> None:
    """After a READ prefilter error, out slot 0 still aliases ``fuse_read_in``, whose first
    word is ``fh``: fuse_read_iter_finalize returns it as the count, so with fh 5 (set by a
    daemon OPEN postfilter) the read reports 5 bytes instead of the errno (ACK literal
    behaviour); ``quirks=False`` keeps the errno."""

    def answer(req: Request) -> Reply | None:
        if req.opcode == uapi.FUSE_OPEN | uapi.FUSE_POSTFILTER:
            return Reply(uapi.FuseOpenOut(fh=5))
        return None

    k, p = machine()
    prog = filter_for({}, frozenset({uapi.FUSE_OPEN}), fail={uapi.FUSE_READ: errno.EPERM})
    k.mount_fuse("/mnt", Recorder(answer), root_dir="/src", root_bpf=prog, quirks=quirks)
    fd = p.open("/mnt/f", os.O_RDONLY)
    if quirks:
        assert len(p.read(fd, 100)) == 5
    else:
        with pytest.raises(PermissionError):
            p.read(fd, 100)
    p.close(fd)


# --- the bpf trace event names what the program decided -----------------------------------------
def test_bpf_trace_event_names_the_decision() -> None:
    """Each program run is traced with its return value and a readable decision: the
    flag names of a fuse_bpf_args return (spec §3.2) or the errno name of a negative one."""
    k, p = machine()
    prog = filter_for({uapi.FUSE_OPEN: U}, fail={uapi.FUSE_GETXATTR: errno.EPERM})
    k.mount_fuse("/mnt", Recorder(), root_dir="/src", root_bpf=prog, quirks=False)
    k.trace.clear()
    p.close(p.open("/mnt/f", os.O_RDONLY))
    with pytest.raises(PermissionError):
        p.getxattr("/mnt/f", "user.k")
    seen = {(e["opcode"], e["ret"], e["decision"]) for e in k.trace.of("bpf")}
    assert ("OPEN|PREFILTER", B | U, "USER_FILTER|BACKING") in seen
    assert ("GETXATTR|PREFILTER", -errno.EPERM, "EPERM") in seen


# --- SETATTR writes only the size into the fuse inode, and only for ATTR_SIZE (spec §8.3) ------
def test_chmod_leaves_the_size_a_mapping_writes_within() -> None:
    """fuse_setattr_backing sets the fuse inode's i_size only when ATTR_SIZE is in ia_valid
    (spec §8.3 "after SETATTR: only size").  A chmod between open and a store through a
    shared mapping must not shrink the file as the mapping sees it: the store reaches the
    file, as on any Linux filesystem."""
    import mmap

    k, p = machine()
    k.mount_fuse("/mnt", root_dir="/src", no_daemon=True, root_bpf=filter_for({}))
    fd = p.open("/mnt/f", os.O_RDWR)
    p.chmod("/mnt/f", 0o600)
    m = p.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, 0)
    m[0:2] = b"zz"
    m.close()
    p.close(fd)
    assert k.lower.get_object("/src/f").byte_contents == b"zzwer data"
    p.truncate("/mnt/f", 4)  # ATTR_SIZE: the size does change
    assert p.stat("/mnt/f").st_size == 4


# --- COPY_FILE_RANGE backing takes its arguments from the filtered in-struct ---------------------
@pytest.mark.parametrize(("flags", "expect"), [(0, 3), (1, errno.EINVAL)])
def test_copy_file_range_flags_from_a_prefilter_reach_the_lower_copy(
    flags: int, expect: int
) -> None:
    """fuse_copy_file_range_backing calls ``vfs_copy_file_range(..., fci->len, fci->flags)``
    with the (possibly rewritten) fuse_copy_file_range_in; vfs_copy_file_range refuses any
    flag with EINVAL.  A daemon prefilter that sets flags=1 makes the copy fail so."""

    def answer(req: Request) -> Reply | None:
        if req.opcode == uapi.FUSE_COPY_FILE_RANGE | uapi.FUSE_PREFILTER:
            return Reply(replace(req.args[0], flags=flags))
        return None

    k, p = machine()
    k.lower.create_file("/src/g", contents=b"")
    k.mount_fuse(
        "/mnt",
        Recorder(answer),
        root_dir="/src",
        root_bpf=filter_for({uapi.FUSE_COPY_FILE_RANGE: U}),
    )
    src = p.open("/mnt/f", os.O_RDONLY)
    dst = p.open("/mnt/g", os.O_WRONLY)
    if expect == errno.EINVAL:
        with pytest.raises(OSError) as ei:
            p.copy_file_range(src, dst, 3, 0, 0)
        assert ei.value.errno == errno.EINVAL
    else:
        assert p.copy_file_range(src, dst, 3, 0, 0) == expect
        assert k.lower.get_object("/src/g").byte_contents == b"low"
    p.close(src)
    p.close(dst)
