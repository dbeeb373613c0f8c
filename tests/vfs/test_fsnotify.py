"""inotify (simfs.vfs.fsnotify + Process.inotify_*): event sequences against real Linux,
the API's errors, and FUSE: canonical paths make a watch on a fuse-bpf directory see
lower-side changes; a classic FUSE directory asks the daemon (CANONICAL_PATH)."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import shutil
import struct
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.daemon import Daemon, Reply, Request
from simfs.vfs import fsnotify as fsn

EVENT = struct.Struct("<iIII")
ALL = fsn.IN_ALL_EVENTS


def parse(data: bytes) -> list[tuple[int, int, int, str]]:
    """Packed ``struct inotify_event`` records -> (wd, mask, cookie, name)."""
    out = []
    i = 0
    while i < len(data):
        wd, mask, cookie, length = EVENT.unpack_from(data, i)
        name = data[i + EVENT.size : i + EVENT.size + length].rstrip(b"\0").decode()
        out.append((wd, mask, cookie, name))
        i += EVENT.size + length
    return out


def normalise(events: list[tuple[int, int, int, str]]) -> list[tuple[int, int, int, str]]:
    """Cookies are a global counter: keep only which events share one."""
    ids: dict[int, int] = {}
    return [(wd, m, ids.setdefault(c, len(ids) + 1) if c else 0, n) for wd, m, c, n in events]


# ------------------------------------------------------------------------------------------
# One workload, run on real Linux (tmpfs) and on simfs


def workload(
    o: Any, d: str, add: Callable[[str, int], int], drain: Callable[[], list[Any]]
) -> list[Any]:
    """``o`` is ``os`` or a simfs Process; ``d`` an empty directory; ``add`` adds a watch;
    ``drain`` returns (and consumes) the events so far."""
    events: list[Any] = []
    add(d, ALL)
    fd = o.open(f"{d}/f", os.O_CREAT | os.O_WRONLY, 0o644)
    o.write(fd, b"x")
    o.close(fd)
    add(f"{d}/f", ALL)
    o.chmod(f"{d}/f", 0o600)
    o.mkdir(f"{d}/sub")
    o.rename(f"{d}/f", f"{d}/g")
    fd = o.open(f"{d}/g", os.O_RDONLY)
    o.read(fd, 10)
    o.close(fd)
    o.truncate(f"{d}/g", 0)
    fd = o.open(f"{d}/g", os.O_WRONLY | os.O_TRUNC)
    o.close(fd)
    o.utime(f"{d}/g", ns=(1_000_000_000, 2_000_000_000))
    o.link(f"{d}/g", f"{d}/h")
    o.unlink(f"{d}/h")
    o.listdir(d)
    events += drain()
    # rename over a watched file, a busy unlink, rmdir of a watched directory
    for n in ("a", "b", "c"):
        o.close(o.open(f"{d}/{n}", os.O_CREAT | os.O_WRONLY, 0o644))
    add(f"{d}/b", ALL)
    add(f"{d}/sub", ALL)
    o.rename(f"{d}/a", f"{d}/b")
    add(f"{d}/c", ALL)
    fd = o.open(f"{d}/c", os.O_RDONLY)
    o.unlink(f"{d}/c")
    events += drain()
    o.close(fd)
    o.rmdir(f"{d}/sub")
    o.unlink(f"{d}/g")
    events += drain()
    # one-shot watch
    add(f"{d}/b", ALL | fsn.IN_ONESHOT)
    o.chmod(f"{d}/b", 0o600)
    o.chmod(f"{d}/b", 0o644)
    o.unlink(f"{d}/b")
    events += drain()
    return events


def _real_events() -> list[Any]:
    libc = ctypes.CDLL(None, use_errno=True)
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = tempfile.mkdtemp(dir=base)
    ifd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if ifd < 0:
        pytest.skip("inotify_init1 failed on this machine")

    def add(path: str, mask: int) -> int:
        wd = int(libc.inotify_add_watch(ifd, path.encode(), ctypes.c_uint32(mask)))
        assert wd > 0, ctypes.get_errno()
        return wd

    def drain() -> list[Any]:
        data = b""
        while True:
            try:
                data += os.read(ifd, 65536)
            except BlockingIOError:
                return parse(data)

    try:
        return workload(os, d, add, drain)
    finally:
        os.close(ifd)
        shutil.rmtree(d, ignore_errors=True)


def _sim_events() -> list[Any]:
    k = simfs.Kernel()
    k.lower.create_dir("/d")
    p = k.spawn()
    ifd = p.inotify_init(os.O_CLOEXEC)

    def drain() -> list[Any]:
        data = b""
        while True:
            try:
                data += p.read(ifd, 65536)
            except BlockingIOError:
                return parse(data)

    return workload(p, "/d", lambda path, mask: p.inotify_add_watch(ifd, path, mask), drain)


@pytest.mark.skipif(platform.system() != "Linux", reason="needs Linux inotify")
def test_event_sequence_matches_real_linux() -> None:
    real = normalise(_real_events())
    sim = normalise(_sim_events())
    assert sim == real


def _run_in(events: list[Any], run: list[Any]) -> bool:
    return any(events[i : i + len(run)] == run for i in range(len(events)))


def test_event_sequence_shape() -> None:
    """The same workload, spelled out (what real Linux 6.x reports)."""
    ev = normalise(_sim_events())
    d, f = 1, 2
    assert ev[:9] == [
        (d, fsn.IN_CREATE, 0, "f"),
        (d, fsn.IN_OPEN, 0, "f"),
        (d, fsn.IN_MODIFY, 0, "f"),
        (d, fsn.IN_CLOSE_WRITE, 0, "f"),
        (d, fsn.IN_ATTRIB, 0, "f"),
        (f, fsn.IN_ATTRIB, 0, ""),
        (d, fsn.IN_CREATE | fsn.IN_ISDIR, 0, "sub"),
        (d, fsn.IN_MOVED_FROM, 1, "f"),
        (d, fsn.IN_MOVED_TO, 1, "g"),
    ]
    assert (f, fsn.IN_MOVE_SELF, 0, "") in ev
    assert (d, fsn.IN_OPEN | fsn.IN_ISDIR, 0, "") in ev  # listdir
    # a busy unlink defers IN_DELETE_SELF to the last close; a one-shot watch goes after
    # its first event
    assert _run_in(
        ev,
        [
            (1, fsn.IN_DELETE, 0, "c"),
            (1, fsn.IN_CLOSE_NOWRITE, 0, "c"),
            (5, fsn.IN_CLOSE_NOWRITE, 0, ""),
            (5, fsn.IN_DELETE_SELF, 0, ""),
            (5, fsn.IN_IGNORED, 0, ""),
            (4, fsn.IN_DELETE_SELF, 0, ""),
            (4, fsn.IN_IGNORED, 0, ""),
        ],
    )
    assert ev[-5:] == [
        (d, fsn.IN_ATTRIB, 0, "b"),
        (6, fsn.IN_ATTRIB, 0, ""),
        (6, fsn.IN_IGNORED, 0, ""),
        (d, fsn.IN_ATTRIB, 0, "b"),
        (d, fsn.IN_DELETE, 0, "b"),
    ]


# ------------------------------------------------------------------------------------------
# API errors and details


def _machine() -> tuple[simfs.Kernel, simfs.Process, int]:
    k = simfs.Kernel()
    k.lower.create_dir("/d")
    p = k.spawn()
    return k, p, p.inotify_init()


def test_watch_descriptors_update_and_errors() -> None:
    k, p, ifd = _machine()
    wd = p.inotify_add_watch(ifd, "/d", fsn.IN_CREATE)
    assert wd == 1
    assert p.inotify_add_watch(ifd, "/d", fsn.IN_DELETE | fsn.IN_MASK_ADD) == wd
    with pytest.raises(FileExistsError):
        p.inotify_add_watch(ifd, "/d", fsn.IN_CREATE | fsn.IN_MASK_CREATE)
    with pytest.raises(OSError) as e:
        p.inotify_add_watch(ifd, "/d", fsn.IN_CREATE | fsn.IN_MASK_CREATE | fsn.IN_MASK_ADD)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        p.inotify_add_watch(ifd, "/d", 0)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(FileNotFoundError):
        p.inotify_add_watch(ifd, "/nope", fsn.IN_CREATE)
    k.lower.create_file("/d/x")
    with pytest.raises(NotADirectoryError):
        p.inotify_add_watch(ifd, "/d/x", fsn.IN_CREATE | fsn.IN_ONLYDIR)
    fd = p.open("/d/x", os.O_RDONLY)
    with pytest.raises(OSError) as e:
        p.inotify_add_watch(fd, "/d", fsn.IN_CREATE)  # not an inotify instance
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        p.inotify_init(0o1)
    assert e.value.errno == errno.EINVAL
    p.close(fd)
    # both masks apply after IN_MASK_ADD
    p.mkdir("/d/s")
    p.rmdir("/d/s")
    got = parse(p.read(ifd, 4096))
    assert [m for _, m, _, _ in got] == [fsn.IN_CREATE | fsn.IN_ISDIR, fsn.IN_DELETE | fsn.IN_ISDIR]
    p.inotify_rm_watch(ifd, wd)
    assert parse(p.read(ifd, 4096)) == [(wd, fsn.IN_IGNORED, 0, "")]
    with pytest.raises(OSError) as e:
        p.inotify_rm_watch(ifd, wd)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(BlockingIOError):
        p.read(ifd, 4096)  # empty: would block
    p.close(ifd)


def test_read_sizes_and_merging() -> None:
    _k, p, ifd = _machine()
    p.inotify_add_watch(ifd, "/d", ALL)
    fd = p.open("/d/longer-name", os.O_CREAT | os.O_WRONLY, 0o644)
    p.write(fd, b"a")
    p.write(fd, b"b")  # identical to the last queued event: merged
    with pytest.raises(OSError) as e:
        p.read(ifd, EVENT.size)  # the first event (16 + 16 name bytes) does not fit
    assert e.value.errno == errno.EINVAL
    first = p.read(ifd, 2 * EVENT.size)
    assert parse(first) == [(1, fsn.IN_CREATE, 0, "longer-name")]
    rest = parse(p.read(ifd, 4096))
    assert [m for _, m, _, _ in rest] == [fsn.IN_OPEN, fsn.IN_MODIFY]
    p.close(fd)


# ------------------------------------------------------------------------------------------
# FUSE


def test_fuse_bpf_watch_sees_lower_changes_and_changes_through_the_mount() -> None:
    k = simfs.Kernel()
    k.lower.create_dir("/data/dir")
    k.lower.create_dir("/mnt")
    k.mount_fuse("/mnt", root_dir="/data", no_daemon=True)
    p = k.spawn()
    ifd = p.inotify_init()
    wd = p.inotify_add_watch(ifd, "/mnt/dir", fsn.IN_CREATE | fsn.IN_DELETE | fsn.IN_MODIFY)
    # the watch went on the lower directory (d_canonical_path -> the backing path)
    assert p.inotify_add_watch(ifd, "/data/dir", fsn.IN_CREATE | fsn.IN_MASK_ADD) == wd
    p.close(p.open("/data/dir/low", os.O_CREAT | os.O_WRONLY, 0o644))
    fd = p.open("/mnt/dir/up", os.O_CREAT | os.O_WRONLY, 0o644)
    p.write(fd, b"data")  # the backing write modifies the lower file
    p.close(fd)
    p.unlink("/mnt/dir/low")
    assert parse(p.read(ifd, 4096)) == [
        (wd, fsn.IN_CREATE, 0, "low"),
        (wd, fsn.IN_CREATE, 0, "up"),
        (wd, fsn.IN_MODIFY, 0, "up"),
        (wd, fsn.IN_DELETE, 0, "low"),
    ]
    assert k.trace.requests() == []


class _Classic(Daemon):
    """A classic daemon for one directory ``dir``; CANONICAL_PATH answers ``answer``."""

    def __init__(self, answer: bytes) -> None:
        super().__init__()
        self.answer = answer
        self.seen: list[str] = []

    def handle(self, req: Request) -> Reply | None:
        self.seen.append(req.name)
        if req.opcode == uapi.FUSE_LOOKUP and req.args[0] == "dir":
            attr = uapi.FuseAttr(ino=2, mode=0o040755, nlink=2, blksize=512)
            return Reply(uapi.FuseEntryOut(nodeid=2, generation=1, attr=attr))
        if req.opcode == uapi.FUSE_CANONICAL_PATH:
            return Reply.raw(self.answer)
        if req.opcode == uapi.FUSE_GETATTR:
            attr = uapi.FuseAttr(ino=req.nodeid, mode=0o040755, nlink=2, blksize=512)
            return Reply(uapi.FuseAttrOut(attr=attr))
        return Reply.error(errno.ENOSYS)


@pytest.mark.parametrize("answer", [b"ignored", b"/data/real\0"])
def test_classic_fuse_watch_asks_the_daemon(answer: bytes) -> None:
    """Android: inotify_add_watch on a classic FUSE dentry sends CANONICAL_PATH (header
    only) after the LOOKUP; the daemon's path, resolved in the daemon (kern_path), is
    watched; an unusable answer ("ignored") leaves the fuse dentry watched."""
    k = simfs.Kernel()
    k.lower.create_dir("/data/real")
    k.lower.create_dir("/mnt")
    daemon = _Classic(answer)
    k.mount_fuse("/mnt", daemon)
    p = k.spawn()
    ifd = p.inotify_init()
    wd = p.inotify_add_watch(ifd, "/mnt/dir", fsn.IN_CREATE)
    assert daemon.seen[-2:] == ["LOOKUP", "CANONICAL_PATH"]
    canon = [r for r in k.trace.requests() if r.data["opcode"] == "CANONICAL_PATH"]
    assert canon[0].data["insize"] == uapi.FuseInHeader.SIZE
    p.close(p.open("/data/real/x", os.O_CREAT | os.O_WRONLY, 0o644))
    if answer == b"ignored":
        with pytest.raises(BlockingIOError):
            p.read(ifd, 4096)
    else:
        assert parse(p.read(ifd, 4096)) == [(wd, fsn.IN_CREATE, 0, "x")]
