"""VFS rules no other test pinned (issue 21: each was a surviving mutant of simfs/vfs).

Each test names the POSIX or kernel rule it checks; the expected values follow from that rule,
not from simfs's output.
"""

from __future__ import annotations

import errno
import os

import pytest

import simfs


@pytest.fixture
def k() -> simfs.Kernel:
    k = simfs.Kernel()
    k.lower.create_dir("/data", perm_bits=0o777)
    k.lower.create_file("/data/f", contents=b"hello")
    return k


def test_open_returns_the_lowest_free_descriptor(k: simfs.Kernel) -> None:
    """POSIX open(2) / alloc_fd: the lowest-numbered descriptor not open in the process."""
    p = k.spawn()
    a = p.open("/data/f", os.O_RDONLY)
    b = p.open("/data/f", os.O_RDONLY)
    c = p.open("/data/f", os.O_RDONLY)
    assert (b, c) == (a + 1, a + 2)
    p.close(b)
    assert p.open("/data/f", os.O_RDONLY) == b
    assert p.open("/data/f", os.O_RDONLY) == c + 1


def test_supplementary_group_grants_group_permission(k: simfs.Kernel) -> None:
    """in_group_p: a gid matches the fsgid *or* any supplementary group, so a group-only
    readable file (0040, group 2000) is readable by a uid whose supplementary groups hold
    2000 and not by one whose groups do not."""
    root = k.spawn()
    root.chown("/data/f", 0, 2000)
    root.chmod("/data/f", 0o040)
    member = k.spawn(uid=1000, gid=1000, groups=(3000, 2000))
    outsider = k.spawn(uid=1001, gid=1001, groups=(3000,))
    member.close(member.open("/data/f", os.O_RDONLY))
    with pytest.raises(PermissionError):
        outsider.open("/data/f", os.O_RDONLY)
    primary = k.spawn(uid=1002, gid=2000)
    primary.close(primary.open("/data/f", os.O_RDONLY))


def test_writing_a_fifo_whose_last_reader_closed_is_epipe(k: simfs.Kernel) -> None:
    """pipe_write: no readers left -> EPIPE (and SIGPIPE); fifo_release drops the reader
    count when the last reading open closes, so a FIFO that had a reader behaves so too."""
    p = k.spawn()
    p.mkfifo("/data/fifo", 0o644)
    reader = p.open("/data/fifo", os.O_RDONLY | os.O_NONBLOCK)
    writer = p.open("/data/fifo", os.O_WRONLY)
    assert p.write(writer, b"x") == 1
    p.close(reader)
    with pytest.raises(BrokenPipeError):
        p.write(writer, b"y")
    p.close(writer)


# What this machine's Linux 6.18 tmpfs answers for a 5-byte file ("hello"), checked with
# os.lseek on /dev/shm: data from any offset before EOF, the only hole at EOF, and ENXIO
# from EOF on (shmem_file_llseek, which the lower fs models).
SEEK_DATA_HOLE = [
    (os.SEEK_DATA, 0, 0),
    (os.SEEK_DATA, 4, 4),
    (os.SEEK_DATA, 5, "ENXIO"),
    (os.SEEK_DATA, 6, "ENXIO"),
    (os.SEEK_HOLE, 0, 5),
    (os.SEEK_HOLE, 4, 5),
    (os.SEEK_HOLE, 5, "ENXIO"),
    (os.SEEK_HOLE, 6, "ENXIO"),
]


@pytest.mark.parametrize(("whence", "offset", "expect"), SEEK_DATA_HOLE)
def test_seek_data_and_hole_around_eof(
    k: simfs.Kernel, whence: int, offset: int, expect: int | str
) -> None:
    p = k.spawn()
    fd = p.open("/data/f", os.O_RDONLY)
    try:
        got: int | str = p.lseek(fd, offset, whence)
    except OSError as e:
        got = errno.errorcode[e.errno]
    p.close(fd)
    assert got == expect


def test_inotify_overflow_is_one_event_with_wd_minus_one(k: simfs.Kernel) -> None:
    """fsnotify_insert_event: past max_queued_events (16384) the group's overflow event is
    queued once, as ``wd = -1, mask = IN_Q_OVERFLOW`` (inotify(7)), and later events are
    dropped until the queue is read."""
    import struct

    in_create, in_q_overflow = 0x100, 0x4000
    p = k.spawn()
    fd = p.inotify_init()
    p.inotify_add_watch(fd, "/data", in_create)
    for i in range(16384 + 10):
        p.close(p.open(f"/data/n{i}", os.O_CREAT | os.O_WRONLY, 0o644))
    events: list[tuple[int, int]] = []
    while True:
        try:
            buf = p.read(fd, 1 << 20)
        except BlockingIOError:
            break
        pos = 0
        while pos < len(buf):
            wd, mask, _cookie, length = struct.unpack_from("iIII", buf, pos)
            events.append((wd, mask))
            pos += 16 + length
    assert len(events) == 16384 + 1
    assert events[-1] == (-1, in_q_overflow)
    assert all(mask == in_create for _wd, mask in events[:-1])
