"""POSIX and OFD locks, ``fcntl`` and ``lockf`` (issue 17) on real Linux and on simfs.

Each script is a list of ``(process, op)`` steps over several processes (``A``, ``B``, ...,
each with its own bindings), run in order in both worlds; every outcome is compared.  A
``struct flock`` coming back from F_GETLK is unpacked and its ``l_pid`` is replaced by the
name of the process that has that pid (``getpid`` is asked first in each world), so the
comparison does not depend on pid numbers.  No script carries expected values.

A blocking request (F_SETLKW, ``lockf`` without LOCK_NB) is only ever issued where it
cannot sleep on Linux: granted at once or refused with EDEADLK; simfs's refusal of a sleep
that could never end is checked in ``tests/vfs/test_posix_locks.py``.
"""

from __future__ import annotations

import fcntl
import os
import struct
from typing import Any

import pytest

from .compare import Normalizer, run_ops
from .ops import ROOT, USER, Cred, Op
from .realfs import RealWorld, unavailable_reason
from .simside import SimWorld

pytestmark = pytest.mark.realkernel

_REAL_UNAVAILABLE = unavailable_reason()

RD, WR, RW, CREAT = os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_CREAT
RDL, WRL, UNL = fcntl.F_RDLCK, fcntl.F_WRLCK, fcntl.F_UNLCK
GETLK, SETLK, SETLKW = fcntl.F_GETLK, fcntl.F_SETLK, fcntl.F_SETLKW
OGETLK, OSETLK, OSETLKW = fcntl.F_OFD_GETLK, fcntl.F_OFD_SETLK, fcntl.F_OFD_SETLKW
SEEK_SET, SEEK_CUR, SEEK_END = os.SEEK_SET, os.SEEK_CUR, os.SEEK_END
OFFSET_MAX = (1 << 63) - 1


def fl(ltype: int, start: int, length: int, whence: int = SEEK_SET, pid: int = 0) -> bytes:
    """A ``struct flock`` as Python callers pack it."""
    return struct.pack("hhqqi", ltype, whence, start, length, pid)


Step = tuple[str, Op]
SCRIPTS: dict[str, tuple[tuple[str, ...], list[Step]]] = {}


def script(name: str, procs: tuple[str, ...], steps: list[Step]) -> None:
    SCRIPTS[name] = (procs, steps)


def openf(proc: str, bind: str, flags: int = RW) -> Step:
    return (proc, (bind, "open", "f", flags))


def getlk(proc: str, fd: str, ltype: int, start: int, length: int, cmd: int = GETLK) -> Step:
    return (proc, ("fcntl", fd, cmd, fl(ltype, start, length)))


def setlk(
    proc: str,
    fd: str,
    ltype: int,
    start: int,
    length: int,
    cmd: int = SETLK,
    whence: int = SEEK_SET,
) -> Step:
    return (proc, ("fcntl", fd, cmd, fl(ltype, start, length, whence)))


# --- conflicts, split and merge, as seen by another process's F_GETLK -----------------------
script(
    "lk_write_conflicts",
    ("A", "B"),
    [
        openf("A", "$a"),
        openf("B", "$b"),
        setlk("A", "$a", WRL, 0, 10),
        getlk("B", "$b", RDL, 5, 1),
        getlk("B", "$b", RDL, 10, 5),
        getlk("B", "$b", WRL, 0, 0),
        setlk("B", "$b", RDL, 9, 1),
        setlk("B", "$b", WRL, 10, 0),
        getlk("A", "$a", WRL, 0, 0),
    ],
)
script(
    "lk_read_shares",
    ("A", "B"),
    [
        openf("A", "$a"),
        openf("B", "$b"),
        setlk("A", "$a", RDL, 0, 10),
        setlk("B", "$b", RDL, 5, 10),
        getlk("B", "$b", RDL, 0, 0),
        getlk("B", "$b", WRL, 0, 0),
        getlk("A", "$a", WRL, 0, 0),
        setlk("B", "$b", WRL, 0, 1),
        setlk("B", "$b", WRL, 10, 5),
    ],
)
script(
    "lk_split_by_unlock",
    ("A", "B"),
    [
        openf("A", "$a"),
        openf("B", "$b"),
        setlk("A", "$a", WRL, 0, 30),
        setlk("A", "$a", UNL, 10, 10),
        getlk("B", "$b", WRL, 0, 0),
        getlk("B", "$b", WRL, 10, 10),
        getlk("B", "$b", WRL, 15, 0),
        setlk("B", "$b", WRL, 10, 10),
        getlk("A", "$a", RDL, 0, 0),
    ],
)
script(
    "lk_split_by_other_type",
    ("A", "B"),
    [
        openf("A", "$a"),
        openf("B", "$b"),
        setlk("A", "$a", WRL, 0, 30),
        setlk("A", "$a", RDL, 10, 10),
        getlk("B", "$b", RDL, 0, 0),
        getlk("B", "$b", RDL, 10, 10),
        getlk("B", "$b", WRL, 10, 10),
        getlk("B", "$b", RDL, 20, 0),
        setlk("B", "$b", RDL, 12, 3),
        setlk("B", "$b", RDL, 19, 2),
    ],
)
script(
    "lk_merge_adjacent",
    ("A", "B"),
    [
        openf("A", "$a"),
        openf("B", "$b"),
        setlk("A", "$a", WRL, 0, 10),
        setlk("A", "$a", WRL, 10, 10),
        setlk("A", "$a", WRL, 30, 5),
        getlk("B", "$b", WRL, 0, 0),
        getlk("B", "$b", WRL, 20, 0),
        setlk("A", "$a", WRL, 15, 20),
        getlk("B", "$b", WRL, 20, 0),
        setlk("A", "$a", UNL, 0, 5),
        getlk("B", "$b", WRL, 0, 0),
    ],
)
script(
    "lk_whence_and_negative_len",
    ("A", "B"),
    [
        openf("A", "$a"),
        ("A", ("write", "$a", b"x" * 100)),
        ("A", ("lseek", "$a", 40, SEEK_SET)),
        openf("B", "$b"),
        setlk("A", "$a", WRL, 5, 5, whence=SEEK_CUR),
        getlk("B", "$b", RDL, 0, 0),
        setlk("A", "$a", WRL, -10, 5, whence=SEEK_END),
        getlk("B", "$b", RDL, 50, 0),
        setlk("A", "$a", RDL, 20, -5),
        getlk("B", "$b", WRL, 0, 0),
        setlk("A", "$a", WRL, 0, 0, whence=SEEK_END),
        getlk("B", "$b", RDL, 95, 0),
    ],
)
script(
    "lk_bad_arguments",
    ("A",),
    [
        openf("A", "$a"),
        openf("A", "$r", RD),
        openf("A", "$w", WR),
        setlk("A", "$a", 7, 0, 1),
        setlk("A", "$a", WRL, 0, 1, whence=3),
        setlk("A", "$a", WRL, -1, 1),
        setlk("A", "$a", WRL, 5, -6),
        setlk("A", "$a", WRL, 5, -5),
        setlk("A", "$a", WRL, OFFSET_MAX, 2),
        setlk("A", "$a", WRL, OFFSET_MAX, 1),
        setlk("A", "$a", WRL, 10, OFFSET_MAX),
        setlk("A", "$a", UNL, 0, 0),
        getlk("A", "$a", UNL, 0, 0),
        getlk("A", "$a", 9, 0, 0),
        setlk("A", "$r", WRL, 0, 1),
        setlk("A", "$w", RDL, 0, 1),
        setlk("A", "$r", RDL, 0, 1),
        setlk("A", "$w", WRL, 5, 1),
        setlk("A", "$r", UNL, 0, 0),
        ("A", ("fcntl", "$a", SETLK, 0)),
        ("A", ("fcntl", "$a", 12345, 0)),
        ("A", ("fcntl", 999, GETLK, fl(RDL, 0, 0))),
        ("A", ("fcntl", "$a", OSETLK, fl(WRL, 0, 1, pid=1))),
        ("A", ("fcntl", "$a", OGETLK, fl(WRL, 0, 1, pid=1))),
        ("A", ("fcntl", "$a", OGETLK, fl(UNL, 0, 1))),
    ],
)
script(
    "lk_any_close_releases",
    ("A", "B"),
    [
        openf("A", "$a"),
        openf("A", "$a2", RD),
        openf("B", "$b"),
        setlk("A", "$a", WRL, 0, 10),
        getlk("B", "$b", WRL, 0, 0),
        ("A", ("close", "$a2")),
        getlk("B", "$b", WRL, 0, 0),
        setlk("B", "$b", WRL, 0, 10),
    ],
)
script(
    "lk_dup_close_releases",
    ("A", "B"),
    [
        openf("A", "$a"),
        openf("B", "$b"),
        ("A", ("$d", "dup", "$a")),
        setlk("A", "$a", WRL, 0, 10),
        ("A", ("close", "$d")),
        setlk("B", "$b", WRL, 0, 10),
    ],
)
script(
    "lk_same_process_two_fds_one_owner",
    ("A",),
    [
        openf("A", "$a"),
        openf("A", "$a2"),
        setlk("A", "$a", WRL, 0, 10),
        setlk("A", "$a2", WRL, 5, 10),
        getlk("A", "$a2", WRL, 0, 0),
    ],
)

# --- OFD locks ------------------------------------------------------------------------------
script(
    "ofd_owned_by_description",
    ("A", "B"),
    [
        openf("A", "$a"),
        openf("A", "$a2"),
        openf("B", "$b"),
        setlk("A", "$a", WRL, 0, 10, cmd=OSETLK),
        setlk("A", "$a2", WRL, 5, 1, cmd=OSETLK),
        getlk("A", "$a2", RDL, 0, 0, cmd=OGETLK),
        getlk("B", "$b", RDL, 0, 0),
        getlk("B", "$b", RDL, 0, 0, cmd=OGETLK),
        setlk("A", "$a", RDL, 0, 1),
        ("A", ("$d", "dup", "$a")),
        setlk("A", "$d", WRL, 0, 20, cmd=OSETLK),
        getlk("B", "$b", RDL, 0, 0, cmd=OGETLK),
    ],
)
script(
    "ofd_survives_other_close",
    ("A", "B"),
    [
        openf("A", "$a"),
        openf("A", "$a2"),
        ("A", ("$d", "dup", "$a")),
        openf("B", "$b"),
        setlk("A", "$a", WRL, 0, 10, cmd=OSETLK),
        ("A", ("close", "$a2")),
        getlk("B", "$b", WRL, 0, 0, cmd=OGETLK),
        ("A", ("close", "$a")),
        getlk("B", "$b", WRL, 0, 0, cmd=OGETLK),
        ("A", ("close", "$d")),
        getlk("B", "$b", WRL, 0, 0, cmd=OGETLK),
    ],
)
script(
    "ofd_and_classic_conflict",
    ("A",),
    [
        openf("A", "$a"),
        openf("A", "$a2"),
        setlk("A", "$a", WRL, 0, 10),
        setlk("A", "$a2", WRL, 0, 10, cmd=OSETLK),
        getlk("A", "$a2", RDL, 0, 0, cmd=OGETLK),
        setlk("A", "$a", UNL, 0, 0),
        setlk("A", "$a2", WRL, 0, 10, cmd=OSETLKW),
        setlk("A", "$a", RDL, 0, 1),
        getlk("A", "$a", RDL, 0, 0),
    ],
)

# --- EDEADLK and lockf ----------------------------------------------------------------------
script(
    "lk_setlkw_granted_and_self",
    ("A", "B"),
    [
        openf("A", "$a"),
        openf("B", "$b"),
        setlk("A", "$a", WRL, 0, 10, cmd=SETLKW),
        setlk("A", "$a", RDL, 0, 20, cmd=SETLKW),
        getlk("B", "$b", RDL, 0, 0),
        setlk("B", "$b", WRL, 20, 5, cmd=SETLKW),
        getlk("A", "$a", RDL, 0, 0),
    ],
)
script(
    "lockf_ranges",
    ("A", "B"),
    [
        openf("A", "$a"),
        openf("B", "$b"),
        ("A", ("lseek", "$a", 10, SEEK_SET)),
        ("A", ("lockf", "$a", fcntl.LOCK_EX | fcntl.LOCK_NB, 5)),
        getlk("B", "$b", RDL, 0, 0),
        ("B", ("lockf", "$b", fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 12)),
        ("B", ("lockf", "$b", fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 15)),
        ("A", ("lockf", "$a", fcntl.LOCK_UN, 2, 11, SEEK_SET)),
        ("B", ("lockf", "$b", fcntl.LOCK_EX | fcntl.LOCK_NB, 2, 11)),
        ("B", ("lockf", "$b", fcntl.LOCK_EX, 1, 20)),
        ("A", ("lockf", "$a", fcntl.LOCK_EX | fcntl.LOCK_NB, 0)),
        ("A", ("lockf", "$a", 0, 1)),
        ("A", ("lockf", "$a", fcntl.LOCK_NB, 1)),
    ],
)

# --- the other fcntl commands ---------------------------------------------------------------
script(
    "fcntl_flags_and_fd",
    ("A",),
    [
        openf("A", "$a"),
        openf("A", "$p", os.O_PATH),
        openf("A", "$ap", WR | os.O_APPEND),
        ("A", ("fcntl", "$a", fcntl.F_GETFL)),
        ("A", ("fcntl", "$ap", fcntl.F_GETFL)),
        ("A", ("fcntl", "$p", fcntl.F_GETFL)),
        ("A", ("fcntl", "$a", fcntl.F_SETFL, os.O_APPEND | os.O_NONBLOCK | os.O_TRUNC)),
        ("A", ("fcntl", "$a", fcntl.F_GETFL)),
        ("A", ("write", "$a", b"abc")),
        ("A", ("lseek", "$a", 0, SEEK_CUR)),
        # Python's os.open makes every fd non-inheritable (PEP 446) and simfs's open does not
        # model that, so FD_CLOEXEC is set explicitly before it is read
        ("A", ("fcntl", "$a", fcntl.F_SETFD, 0)),
        ("A", ("fcntl", "$a", fcntl.F_GETFD)),
        ("A", ("fcntl", "$a", fcntl.F_SETFD, 1)),
        ("A", ("fcntl", "$a", fcntl.F_GETFD)),
        ("A", ("fcntl", "$p", fcntl.F_SETFD, 0)),
        ("A", ("fcntl", "$p", GETLK, fl(RDL, 0, 0))),
        ("A", ("fcntl", "$p", fcntl.F_SETFL, 0)),
        ("A", ("$d", "fcntl", "$a", fcntl.F_DUPFD, 50)),
        ("A", ("fcntl", 50, fcntl.F_GETFD)),
        ("A", ("$e", "fcntl", "$a", fcntl.F_DUPFD_CLOEXEC, 50)),
        ("A", ("fcntl", "$e", fcntl.F_GETFD)),
        ("A", ("fcntl", "$a", fcntl.F_DUPFD, -1)),
        ("A", ("fcntl", "$a", fcntl.F_GETFL, b"1234")),
    ],
)


# --- O_TMPFILE and linkat(AT_EMPTY_PATH) -----------------------------------------------------
TMPFILE, EXCL = os.O_TMPFILE, os.O_EXCL
AT_FDCWD, AT_EMPTY_PATH, AT_SYMLINK_FOLLOW = -100, 0x1000, 0x400


def tmp(proc: str, bind: str, where: str = "d", flags: int = RW, mode: int = 0o640) -> Step:
    return (proc, (bind, "open", where, TMPFILE | flags, mode))


def linkat(proc: str, fd: Any, name: str, flags: int = AT_EMPTY_PATH, src: str = "") -> Step:
    return (proc, ("linkat", fd, src, AT_FDCWD, name, flags))


script(
    "tmpfile_named_by_linkat",
    ("A",),
    [
        ("A", ("mkdir", "d", 0o777)),
        ("A", ("chmod", "d", 0o777)),
        tmp("A", "$t"),
        ("A", ("write", "$t", b"hello")),
        ("A", ("fstat", "$t")),
        ("A", ("listdir", "d")),
        linkat("A", "$t", "d/n"),
        ("A", ("listdir", "d")),
        ("A", ("stat", "d/n")),
        ("A", ("fstat", "$t")),
        linkat("A", "$t", "d/n"),
        linkat("A", "$t", "d/n2"),
        ("A", ("stat", "d/n")),
        ("A", ("close", "$t")),
        ("A", ("$r", "open", "d/n2", RD)),
        ("A", ("read", "$r", 10)),
        tmp("A", "$u", flags=WR, mode=0o7777),
        ("A", ("fstat", "$u")),
        ("A", ("close", "$u")),
        ("A", ("listdir", "d")),
    ],
)
script(
    "tmpfile_bad_flags_and_paths",
    ("A",),
    [
        ("A", ("mkdir", "d", 0o755)),
        ("A", ("$f", "open", "f", RW | CREAT, 0o644)),
        tmp("A", "$x", flags=RD),
        tmp("A", "$x", flags=RW | CREAT),
        ("A", ("open", "d", 0o20000000 | RW, 0o600)),
        tmp("A", "$x", where="nowhere"),
        tmp("A", "$x", where="f"),
        tmp("A", "$x", where="f/"),
        ("A", ("symlink", "d", "ld")),
        tmp("A", "$y", where="ld"),
        tmp("A", "$x", where="ld", flags=RW | os.O_NOFOLLOW),
        ("A", ("open", "d", TMPFILE | RW | os.O_PATH, 0o600)),
    ],
)
script(
    "tmpfile_excl_is_not_linkable",
    ("A",),
    [
        ("A", ("mkdir", "d", 0o755)),
        tmp("A", "$t", flags=RW | EXCL),
        ("A", ("fstat", "$t")),
        linkat("A", "$t", "d/n"),
        ("A", ("listdir", "d")),
    ],
)
script(
    "linkat_flags_and_names",
    ("A",),
    [
        ("A", ("mkdir", "d", 0o755)),
        ("A", ("$f", "open", "d/f", RW | CREAT, 0o644)),
        ("A", ("symlink", "f", "d/l")),
        tmp("A", "$t"),
        linkat("A", "$t", "d/x", flags=0),
        linkat("A", "$t", "d/x", flags=AT_EMPTY_PATH | 0x100),
        linkat("A", AT_FDCWD, "d/x"),
        linkat("A", "$t", "d/f"),
        linkat("A", "$t", "d/new/"),
        linkat("A", "$t", "d/.."),
        linkat("A", "$f", "d/g"),
        ("A", ("stat", "d/g")),
        linkat("A", AT_FDCWD, "d/m", flags=0, src="d/l"),
        ("A", ("lstat", "d/m")),
        linkat("A", AT_FDCWD, "d/k", flags=AT_SYMLINK_FOLLOW, src="d/l"),
        ("A", ("lstat", "d/k")),
        linkat("A", AT_FDCWD, "d/j", flags=0, src="d/nothing"),
        ("A", ("listdir", "d")),
    ],
)
script(
    "tmpfile_permissions_user",
    ("A",),
    [
        ("A", ("mkdir", "d", 0o755)),
        ("A", ("mkdir", "w", 0o777)),
        ("A", ("chmod", "w", 0o777)),
        tmp("A", "$x"),
        tmp("A", "$t", where="w"),
        ("A", ("fstat", "$t")),
        linkat("A", "$t", "w/n"),
        ("A", ("stat", "w/n")),
    ],
)


# --- ioctl: FS_IOC_GETFLAGS/SETFLAGS (tmpfs's append-only/immutable) and FIONREAD ------------
GETFLAGS, SETFLAGS, FIONREAD = 0x80086601, 0x40086602, 0x541B
IMM, APP, NODUMP, NOATIME_FL = 0x10, 0x20, 0x40, 0x80


def setflags(proc: str, fd: str, flags: int) -> Step:
    return (proc, ("ioctl", fd, SETFLAGS, struct.pack("i", flags)))


def getflags(proc: str, fd: str, size: int = 4) -> Step:
    return (proc, ("ioctl", fd, GETFLAGS, b"\xee" * size))


# Every script clears the flags again at its end: the real side must be able to remove its
# temporary directory.
script(
    "ioctl_flags_get_set",
    ("A",),
    [
        openf("A", "$a"),
        getflags("A", "$a"),
        getflags("A", "$a", 8),
        setflags("A", "$a", 0x1),
        setflags("A", "$a", NODUMP | NOATIME_FL),
        getflags("A", "$a"),
        setflags("A", "$a", NODUMP | 0x4000),
        getflags("A", "$a"),
        ("A", ("ioctl", "$a", GETFLAGS, 0)),
        ("A", ("ioctl", "$a", SETFLAGS, 0)),
        ("A", ("ioctl", "$a", 0x1234, b"\0" * 4)),
        ("A", ("$p", "open", "f", os.O_PATH)),
        ("A", ("ioctl", "$p", GETFLAGS, b"\0" * 4)),
        ("A", ("ioctl", 999, GETFLAGS, b"\0" * 4)),
        setflags("A", "$a", 0),
        getflags("A", "$a"),
    ],
)
script(
    "ioctl_immutable_file",
    ("A",),
    [
        openf("A", "$a"),
        ("A", ("write", "$a", b"abc")),
        setflags("A", "$a", IMM),
        getflags("A", "$a"),
        ("A", ("write", "$a", b"x")),
        ("A", ("open", "f", WR)),
        ("A", ("open", "f", RD)),
        ("A", ("unlink", "f")),
        ("A", ("chmod", "f", 0o600)),
        ("A", ("chown", "f", 0, 0)),
        ("A", ("utime", "f")),
        ("A", ("utime", "f", (1, 1))),
        ("A", ("link", "f", "g")),
        ("A", ("rename", "f", "h")),
        ("A", ("truncate", "f", 0)),
        ("A", ("ftruncate", "$a", 1)),
        ("A", ("setxattr", "f", "user.a", b"1")),
        ("A", ("fallocate", "$a", 0, 0, 10)),
        ("A", ("lseek", "$a", 0, SEEK_SET)),
        ("A", ("ioctl", "$a", FIONREAD, b"\0" * 4)),
        ("A", ("lseek", "$a", 5, SEEK_SET)),
        ("A", ("ioctl", "$a", FIONREAD, b"\0" * 4)),
        setflags("A", "$a", 0),
        ("A", ("unlink", "f")),
    ],
)
script(
    "ioctl_append_only_file",
    ("A",),
    [
        openf("A", "$a"),
        ("A", ("write", "$a", b"abc")),
        setflags("A", "$a", APP),
        ("A", ("write", "$a", b"x")),
        ("A", ("open", "f", WR)),
        ("A", ("open", "f", RW)),
        ("A", ("$w", "open", "f", WR | os.O_APPEND)),
        ("A", ("open", "f", WR | os.O_APPEND | os.O_TRUNC)),
        ("A", ("fcntl", "$w", fcntl.F_SETFL, 0)),
        ("A", ("fcntl", "$w", fcntl.F_SETFL, os.O_APPEND)),
        ("A", ("pwrite", "$w", b"Z", 0)),
        ("A", ("pread", "$a", 10, 0)),
        ("A", ("unlink", "f")),
        ("A", ("chmod", "f", 0o600)),
        ("A", ("utime", "f")),
        ("A", ("utime", "f", (1, 1))),
        ("A", ("link", "f", "g")),
        ("A", ("ftruncate", "$a", 0)),
        ("A", ("truncate", "f", 0)),
        ("A", ("fallocate", "$w", 0, 0, 100)),
        ("A", ("fallocate", "$w", 1, 0, 200)),
        ("A", ("fallocate", "$w", 3, 0, 1)),
        ("A", ("setxattr", "f", "user.a", b"1")),
        ("A", ("fstat", "$a")),
        setflags("A", "$a", 0),
        ("A", ("unlink", "f")),
    ],
)
script(
    "ioctl_directories_and_pipes",
    ("A",),
    [
        ("A", ("mkdir", "d", 0o755)),
        ("A", ("$x", "open", "d/x", WR | CREAT, 0o644)),
        ("A", ("$d", "open", "d", RD)),
        getflags("A", "$d"),
        ("A", ("ioctl", "$d", FIONREAD, b"\0" * 4)),
        setflags("A", "$d", APP),
        ("A", ("open", "d/y", WR | CREAT, 0o644)),
        ("A", ("unlink", "d/x")),
        ("A", ("rename", "d/y", "d/z")),
        ("A", ("mkdir", "d/sub", 0o755)),
        ("A", ("rmdir", "d/sub")),
        setflags("A", "$d", IMM),
        ("A", ("open", "d/w", WR | CREAT, 0o644)),
        ("A", ("mkdir", "d/sub2", 0o755)),
        ("A", ("rmdir", "d")),
        ("A", ("listdir", "d")),
        setflags("A", "$d", 0),
    ],
)
script(
    "ioctl_user_needs_capabilities",
    ("A",),
    [
        openf("A", "$a"),
        getflags("A", "$a"),
        setflags("A", "$a", NODUMP),
        getflags("A", "$a"),
        setflags("A", "$a", IMM),
        setflags("A", "$a", APP),
        setflags("A", "$a", 0),
    ],
)


def _run(world: Any, procs: tuple[str, ...], steps: list[Step], cred: Cred) -> list[Any]:
    norm = Normalizer(times=False)
    envs: dict[str, dict[str, Any]] = {}
    pids: dict[int, str] = {}
    for p in procs:
        world.spawn(p, cred, 0o022, "/t")
        envs[p] = {}
        pid = world.call(p, "getpid", (), {}, False)
        pids[pid[1]] = p
    world.call(
        procs[0],
        "close",
        (world.call(procs[0], "open", ("f", RW | CREAT, 0o666), {}, False)[1],),
        {},
        False,
    )
    out: list[Any] = []
    for index, (proc, op) in enumerate(steps):
        step = run_ops(world, proc, [op], norm, phase="ops", tick=False, bindings=envs[proc])[0]
        outcome = step.outcome
        if (
            isinstance(outcome, tuple)
            and outcome[0] == "ok"
            and isinstance(outcome[1], bytes)
            and len(outcome[1]) >= struct.calcsize("hhqqi")
        ):
            t, w, s, n, pid = struct.unpack_from("hhqqi", outcome[1])
            outcome = ("ok", ("flock", t, w, s, n, pids.get(pid, pid)))
        out.append((index, proc, op, outcome))
    return out


def _params() -> list[Any]:
    return [
        pytest.param(name, cred, id=f"{name}-{cred.label()}")
        for name in SCRIPTS
        for cred in (
            (ROOT, USER) if name.startswith(("lk_any", "tmpfile_perm", "ioctl_user")) else (ROOT,)
        )
    ]


@pytest.mark.skipif(_REAL_UNAVAILABLE is not None, reason=str(_REAL_UNAVAILABLE))
@pytest.mark.parametrize(("name", "cred"), _params())
def test_simfs_locks_match_real_linux(name: str, cred: Cred) -> None:
    procs, steps = SCRIPTS[name]
    with RealWorld() as real:
        want = _run(real, procs, steps, cred)
    with SimWorld() as sim:
        got = _run(sim, procs, steps, cred)
    diffs = [(w, g) for w, g in zip(want, got, strict=True) if w != g]
    assert not diffs, "\n".join(f"real {w}\nsimfs {g}" for w, g in diffs)


# --- EDEADLK needs a task really asleep in F_SETLKW ----------------------------------------
_DEADLOCK_REAL = r"""
import errno, fcntl, json, os, struct, sys, threading, time
path = os.path.join(sys.argv[1], "f")
ofd = sys.argv[2] == "ofd"
SETLK = fcntl.F_OFD_SETLK if ofd else fcntl.F_SETLK
SETLKW = fcntl.F_OFD_SETLKW if ofd else fcntl.F_SETLKW

def fl(t, s, n):
    return struct.pack("hhqqi", t, 0, s, n, 0)

def attempt(fd, cmd, t, s, n):
    try:
        fcntl.fcntl(fd, cmd, fl(t, s, n))
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]

fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
ino = os.fstat(fd).st_ino
out = {"A holds 0-9": attempt(fd, SETLK, fcntl.F_WRLCK, 0, 10)}
to_parent, from_child = os.pipe()
from_parent, to_child = os.pipe()
pid = os.fork()
if pid == 0:
    fb = os.open(path, os.O_RDWR)
    res = {"B holds 10-19": attempt(fb, SETLK, fcntl.F_WRLCK, 10, 10)}
    os.write(from_child, b"1")
    os.read(from_parent, 1)
    if not ofd:  # an OFD wait is never checked for deadlock: it would really hang
        res["B waits for 0-9"] = attempt(fb, SETLKW, fcntl.F_WRLCK, 0, 10)
    res["B tries 0-9"] = attempt(fb, SETLK, fcntl.F_WRLCK, 0, 10)
    os.write(from_child, json.dumps(res).encode())
    os._exit(0)
os.read(to_parent, 1)
granted = []
thread = threading.Thread(
    target=lambda: granted.append(attempt(fd, SETLKW, fcntl.F_WRLCK, 10, 10)), daemon=True
)
thread.start()
deadline = time.monotonic() + 20
while time.monotonic() < deadline:  # until /proc/locks shows A's request blocked ("->")
    with open("/proc/locks") as f:
        if any("->" in line and f":{ino} " in line for line in f):
            break
    time.sleep(0.01)
else:
    raise SystemExit("the waiter never appeared in /proc/locks")
out["A asleep, granted yet"] = bool(granted)
os.write(to_child, b"1")
out.update(json.loads(os.read(to_parent, 4096)))
os.waitpid(pid, 0)
thread.join(20)
out["A granted after B exits"] = granted
print(json.dumps(out))
"""


def _deadlock_sim(ofd: bool) -> dict[str, Any]:
    import simfs
    from simfs.vfs.locks import LockWait

    setlk, setlkw = (OSETLK, OSETLKW) if ofd else (SETLK, SETLKW)

    def attempt(proc: Any, fd: int, cmd: int, t: int, s: int, n: int) -> str:
        try:
            proc.fcntl(fd, cmd, fl(t, s, n))
            return "ok"
        except OSError as e:
            import errno

            return errno.errorcode[e.errno]

    k = simfs.Kernel()
    a, b = k.spawn(), k.spawn()
    fd = a.open("/f", RW | CREAT, 0o644)
    out: dict[str, Any] = {"A holds 0-9": attempt(a, fd, setlk, WRL, 0, 10)}
    fb = b.open("/f", RW)
    res = {"B holds 10-19": attempt(b, fb, setlk, WRL, 10, 10)}
    wait = a.fcntl_sleep(fd, setlkw, fl(WRL, 10, 10))
    assert isinstance(wait, LockWait)
    out["A asleep, granted yet"] = wait.granted
    if not ofd:
        res["B waits for 0-9"] = attempt(b, fb, setlkw, WRL, 0, 10)
    res["B tries 0-9"] = attempt(b, fb, setlk, WRL, 0, 10)
    out.update(res)
    b.exit()
    out["A granted after B exits"] = ["ok"] if wait.granted else []
    return out


@pytest.mark.skipif(_REAL_UNAVAILABLE is not None, reason=str(_REAL_UNAVAILABLE))
@pytest.mark.parametrize("kind", ["posix", "ofd"])
def test_deadlock_and_wakeup_match_real_linux(kind: str, tmp_path_factory: Any) -> None:
    """A sleeps in F_SETLKW on B's range; B's F_SETLKW on A's range closes the cycle:
    EDEADLK (classic locks only; OFD waits are never checked); B's exit wakes A."""
    import json
    import subprocess
    import sys
    import tempfile

    from .realfs import tmpfs_base

    with tempfile.TemporaryDirectory(dir=tmpfs_base()) as d:
        done = subprocess.run(
            [sys.executable, "-c", _DEADLOCK_REAL, d, kind],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    real = json.loads(done.stdout)
    assert real["A granted after B exits"] == ["ok"]  # the real run did what it should
    assert _deadlock_sim(kind == "ofd") == real


# --- a random differential: lock sequences over three owners -----------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402

_LOCK_STEP = hs.tuples(
    hs.sampled_from(["A", "B", "C"]),
    hs.sampled_from(["$f", "$g"]),
    hs.sampled_from([SETLK, OSETLK, GETLK, OGETLK, "reopen"]),
    hs.sampled_from([RDL, WRL, UNL]),
    hs.integers(0, 12),
    hs.integers(-3, 6),
)


@pytest.mark.skipif(_REAL_UNAVAILABLE is not None, reason=str(_REAL_UNAVAILABLE))
@settings(
    # a short budget in CI; SIMFS_LOCK_EXAMPLES=400 for a longer campaign
    max_examples=int(os.environ.get("SIMFS_LOCK_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(hs.lists(_LOCK_STEP, min_size=1, max_size=14))
def test_random_lock_sequences_match_real_linux(seq: list[tuple[Any, ...]]) -> None:
    """Small ranges, three processes with two descriptions each, classic and OFD commands
    mixed, negative lengths, closes (which drop the process's classic locks and the
    description's OFD locks): every outcome (errno, or the struct F_GETLK writes back) as
    the real kernel's.  A final F_GETLK probe per byte range shows the whole lock table."""
    steps: list[Step] = [openf(p, fd) for p in ("A", "B", "C") for fd in ("$f", "$g")]
    for proc, fd, cmd, ltype, start, length in seq:
        if cmd == "reopen":
            steps += [(proc, ("close", fd)), openf(proc, fd)]
        else:
            steps.append((proc, ("fcntl", fd, cmd, fl(ltype, start, length))))
    for proc in ("A", "B", "C"):
        for start in range(0, 20, 2):
            steps.append(getlk(proc, "$f", WRL, start, 2))
    with RealWorld() as real:
        want = _run(real, ("A", "B", "C"), steps, ROOT)
    with SimWorld() as sim:
        got = _run(sim, ("A", "B", "C"), steps, ROOT)
    assert got == want
