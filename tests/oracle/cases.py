"""The table of named edge cases run on real Linux and on simfs (issue 3, item 6).

Each :class:`Case` is setup ops (run as root), ops (run as root, as uid 1000, or both) and a
few knobs. No case carries expected values: the test runs it on the real kernel and on simfs
and compares the normalised outcomes, so the real kernel is the only source of truth. The names
say what a case is about; the ops are written in the ``os`` vocabulary of :mod:`.ops`.

Paths are relative to ``/t`` (the cwd); :func:`validate` rejects a path whose running depth
goes below 0 (the real side also chroots, so nothing can escape even by a symlink).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .ops import USER_GID, USER_UID, Cred, Op, final_depth, iter_paths, parse, path_depth

# The table below is laid out by hand (several ops a line); keep the formatter off it.
# fmt: off
ROOT_ONLY = ("root",)
USER_ONLY = ("user",)
BOTH = ("root", "user")

OTHER = 2000  # another uid/gid that owns things the user must not touch
EXTRA_GROUP = 3000  # a supplementary group of the user in cases that ask for it

RD, WR, RW = os.O_RDONLY, os.O_WRONLY, os.O_RDWR
CREAT, EXCL, TRUNC, APPEND = os.O_CREAT, os.O_EXCL, os.O_TRUNC, os.O_APPEND
DIRECTORY, NOFOLLOW, PATH, NONBLOCK = os.O_DIRECTORY, os.O_NOFOLLOW, os.O_PATH, os.O_NONBLOCK
NOATIME = os.O_NOATIME
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE = 1, 2, 0x10
XATTR_CREATE, XATTR_REPLACE = os.XATTR_CREATE, os.XATTR_REPLACE
NOFOLLOW_KW = {"follow_symlinks": False}
N255 = "n" * 255
N256 = "n" * 256
PAGE = 4096

# The os-compatible surface of API.md plus the Linux extras, and dup (for "dup shares offsets").
ALLOWED_OPS = frozenset(
    {
        "open", "close", "read", "write", "pread", "pwrite", "lseek", "stat", "lstat", "fstat",
        "mkdir", "rmdir", "unlink", "remove", "rename", "replace", "link", "symlink", "readlink",
        "chmod", "chown", "truncate", "ftruncate", "utime", "listdir", "scandir", "access",
        "statvfs", "fsync", "fdatasync", "posix_fallocate", "copy_file_range", "getxattr",
        "setxattr", "listxattr", "removexattr", "mknod", "mkfifo", "chdir", "getcwd", "renameat2",
        "fallocate", "flock", "getdents", "dup",
    }
)


@dataclass(frozen=True)
class Case:
    """One named edge case: ``setup`` as root, then ``ops`` as each credential in ``creds``."""

    name: str
    ops: tuple[Op, ...]
    setup: tuple[Op, ...] = ()
    creds: tuple[str, ...] = ROOT_ONLY
    groups: tuple[int, ...] = (USER_GID,)
    umask: int = 0o022
    sysctl: Mapping[str, int] = field(default_factory=dict)
    """``/proc/sys/fs`` values the case assumes; the test skips where the machine differs."""

    def cred(self, which: str) -> Cred:
        if which == "root":
            return Cred(0, 0, ())
        return Cred(USER_UID, USER_GID, self.groups)


CASES: dict[str, Case] = {}

OpsLike = Iterable["Op | list[Op]"]


def _flat(items: OpsLike) -> tuple[Op, ...]:
    out: list[Op] = []
    for item in items:
        if isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    return tuple(out)


def case(
    name: str,
    ops: OpsLike,
    setup: OpsLike = (),
    creds: tuple[str, ...] = ROOT_ONLY,
    **knobs: Any,
) -> None:
    if name in CASES:
        raise ValueError(f"duplicate case name {name!r}")
    CASES[name] = Case(name, _flat(ops), _flat(setup), creds, **knobs)


# --- setup helpers (each returns ops; run as root) -------------------------------------------


def mkfile(
    path: str, data: bytes = b"", mode: int = 0o644, owner: tuple[int, int] | None = None
) -> list[Op]:
    """A regular file with exact contents, owner and mode (chown before chmod: chown kills suid)."""
    ops: list[Op] = [
        ("$setup_fd", "open", path, WR | CREAT | TRUNC, 0o600),
        ("write", "$setup_fd", data),
        ("close", "$setup_fd"),
    ]
    if owner is not None:
        ops.append(("chown", path, *owner))
    ops.append(("chmod", path, mode))
    return ops


def mkdir(path: str, mode: int = 0o755, owner: tuple[int, int] | None = None) -> list[Op]:
    ops: list[Op] = [("mkdir", path, 0o700)]
    if owner is not None:
        ops.append(("chown", path, *owner))
    ops.append(("chmod", path, mode))
    return ops


def chain(prefix: str, final: str, count: int) -> list[Op]:
    """``prefix1 -> final``, ``prefix2 -> prefix1``, ... ``prefix<count>``: count links deep.

    ``prefix`` may name a directory (``d/q``); the links then live there and point to each
    other by their bare names.
    """
    where, base = os.path.split(prefix)
    at = f"{where}/" if where else ""
    ops: list[Op] = [("symlink", final, f"{at}{base}1")]
    ops += [("symlink", f"{base}{i - 1}", f"{at}{base}{i}") for i in range(2, count + 1)]
    return ops


def write_one_byte(path: str) -> list[Op]:
    """Open for writing, write one byte, close, stat: the write-kills-privileges probe."""
    return [("$fd", "open", path, WR), ("write", "$fd", b"y"), ("close", "$fd"), ("stat", path)]


USER = (USER_UID, USER_GID)
OTHER_OWNER = (OTHER, OTHER)
BASIC = [*mkfile("f", b"hello"), *mkdir("d"), ("symlink", "f", "lf"), ("symlink", "d", "ld"),
         ("symlink", "nowhere", "dang")]

# =========================================================================================
# Path walk (fs/namei.c)
# =========================================================================================

case(
    "walk_dotdot_is_physical_through_symlink",
    setup=[*mkdir("real"), *mkdir("real/sub"), *mkfile("real/marker"),
           ("symlink", "real/sub", "ln")],
    ops=[("listdir", "ln/.."), ("stat", "ln/../marker"), ("lstat", "ln/.."),
         ("open", "ln/../new", WR | CREAT), ("listdir", "real")],
    creds=BOTH,
)
case(
    "walk_dotdot_after_dir_symlink_chain",
    setup=[*mkdir("a"), *mkdir("a/b"), *mkdir("a/b/c"), *mkdir("w"),
           ("symlink", "../a/b/c", "w/l1"), ("symlink", "l1", "w/l2")],
    ops=[("listdir", "w/l2/.."), ("listdir", "w/l2/../.."), ("stat", "w/l2/../../b"),
         ("chdir", "w/l2/.."), ("getcwd",)],
)
case(
    "walk_dotdot_after_file",
    setup=mkfile("f"),
    ops=[("stat", "f/.."), ("open", "f/..", RD)],
)
case(
    "walk_dot_after_file",
    setup=mkfile("f"),
    ops=[("stat", "f/."), ("lstat", "f/.")],
)
case(
    "walk_dotdot_of_missing",
    ops=[("stat", "missing/.."), ("listdir", "missing/..")],
)
case(
    "walk_dot_components",
    setup=[*mkdir("d"), *mkfile("d/f", b"x")],
    ops=[("stat", "./d/./f"), ("stat", "d/./../d/f"), ("stat", "d//f"), ("stat", "d/f/")],
)
case(
    "walk_symlink_chain_40_resolves",
    setup=[*mkfile("f", b"end"), *chain("s", "f", 40)],
    ops=[("stat", "s40"), ("open", "s40", RD), ("readlink", "s40")],
    creds=BOTH,
)
case(
    "walk_symlink_chain_41_eloop",
    setup=[*mkfile("f", b"end"), *chain("s", "f", 41)],
    ops=[("stat", "s41"), ("lstat", "s41"), ("open", "s41", RD), ("stat", "s40")],
    creds=BOTH,
)
case(
    "walk_symlink_limit_counts_all_components",
    setup=[*mkdir("d"), *mkfile("f"), *chain("p", "d", 20), *chain("d/q", "../f", 20),
           ("symlink", "q20", "d/q21")],
    ops=[("stat", "p20/q20"), ("stat", "p20/q21"), ("stat", "p19/q21")],
)
case(
    "walk_symlink_self_loop",
    setup=[("symlink", "loop", "loop")],
    ops=[("stat", "loop"), ("lstat", "loop"), ("open", "loop", WR | CREAT, 0o644),
         ("stat", "loop/x"), ("readlink", "loop")],
)
case(
    "walk_symlink_pair_loop",
    setup=[("symlink", "b", "a"), ("symlink", "a", "b")],
    ops=[("stat", "a"), ("open", "b/x", RD), ("mkdir", "a/x"), ("unlink", "a")],
)
case(
    "walk_dangling_symlink",
    setup=[("symlink", "nowhere", "dang")],
    ops=[("stat", "dang"), ("lstat", "dang"), ("readlink", "dang"), ("open", "dang", RD),
         ("access", "dang", os.F_OK)],
    creds=BOTH,
)
case(
    "walk_symlink_to_dir_intermediate",
    setup=[*mkdir("d"), *mkfile("d/f", b"in d"), ("symlink", "d", "ld")],
    ops=[("stat", "ld/f"), ("open", "ld/g", WR | CREAT, 0o600), ("listdir", "d")],
)
case(
    "walk_symlink_relative_to_link_dir",
    setup=[*mkdir("d"), *mkfile("d/f", b"dd"), *mkfile("f", b"top"), ("symlink", "f", "d/lf")],
    ops=[("$fd", "open", "d/lf", RD), ("read", "$fd", 10), ("readlink", "d/lf")],
)
case(
    "walk_symlink_empty_target",
    ops=[("symlink", "", "l"), ("lstat", "l")],
)
case(
    "walk_component_255_ok",
    ops=[("mkdir", N255), ("stat", N255), ("open", f"{N255}/{N255}", WR | CREAT, 0o644),
         ("listdir", N255)],
    creds=BOTH,
)
case(
    "walk_component_256_enametoolong",
    ops=[("mkdir", N256), ("stat", N256), ("open", N256, WR | CREAT, 0o644),
         ("symlink", "x", N256), ("unlink", N256), ("rename", N256, "x")],
)
case(
    "walk_component_256_intermediate",
    setup=mkdir("d"),
    ops=[("stat", f"{N256}/x"), ("stat", f"d/{N256}/x"), ("mkdir", f"missing/{N256}")],
)
case(
    "walk_rename_to_256_name",
    setup=mkfile("f"),
    ops=[("rename", "f", N256), ("link", "f", N256), ("rename", "f", N255), ("stat", N255)],
)
case(
    "walk_path_max_4095_resolves",
    setup=mkfile("fff", b"pm"),
    ops=[("stat", "./" * 2046 + "fff"), ("open", "./" * 2046 + "fff", RD)],
)
case(
    "walk_path_max_4096_enametoolong",
    setup=[*mkfile("fff"), *mkfile("ffff")],
    ops=[("stat", "./" * 2046 + "ffff"), ("mkdir", "./" * 2046 + "dddd"),
         ("unlink", "./" * 2046 + "ffff")],
)
case(
    "walk_symlink_target_4095_ok_4096_too_long",
    ops=[("symlink", "x" * 4095, "l1"), ("lstat", "l1"), ("symlink", "x" * 4096, "l2"),
         ("lstat", "l2")],
)
case(
    "walk_empty_path_enoent",
    ops=[("stat", ""), ("lstat", ""), ("open", "", RD), ("open", "", WR | CREAT, 0o644),
         ("mkdir", ""), ("unlink", ""), ("rmdir", ""), ("rename", "", "x"), ("chmod", "", 0o644),
         ("readlink", ""), ("listdir", ""), ("truncate", "", 0)],
)
case(
    "walk_empty_path_second_argument",
    setup=mkfile("f"),
    ops=[("rename", "f", ""), ("link", "f", ""), ("symlink", "f", ""), ("renameat2", "f", "", 0)],
)
case(
    "walk_nondir_intermediate_enotdir",
    setup=mkfile("f"),
    ops=[("stat", "f/x"), ("open", "f/x", WR | CREAT, 0o644), ("mkdir", "f/x"), ("unlink", "f/x"),
         ("rmdir", "f/x"), ("rename", "f/x", "y"), ("symlink", "z", "f/x"), ("stat", "f/x/y")],
)
case(
    "walk_missing_intermediate_enoent",
    ops=[("stat", "m/x"), ("open", "m/x", WR | CREAT, 0o644), ("mkdir", "m/x"), ("mknod", "m/x"),
         ("symlink", "z", "m/x")],
)
case(
    "walk_dangling_intermediate",
    setup=[("symlink", "nowhere", "dang")],
    ops=[("stat", "dang/x"), ("open", "dang/x", WR | CREAT, 0o644), ("mkdir", "dang/x")],
)
case(
    "walk_file_symlink_intermediate",
    setup=[*mkfile("f"), ("symlink", "f", "lf")],
    ops=[("stat", "lf/x"), ("open", "lf/", RD)],
)
case(
    "walk_embedded_nul_valueerror",
    setup=mkfile("f"),
    ops=[("stat", "f\0x"), ("open", "f\0", RD), ("mkdir", "a\0b"), ("rename", "f", "g\0"),
         ("symlink", "f\0", "l"), ("unlink", "\0"), ("setxattr", "f", "user.a\0", b"v"),
         ("renameat2", "f", "g\0h", 0)],
)
case(
    "walk_chdir_and_getcwd",
    setup=[*mkdir("a"), *mkdir("a/b"), ("symlink", "a/b", "lb")],
    ops=[("chdir", "lb"), ("getcwd",), ("listdir", ".."), ("chdir", ".."), ("getcwd",),
         ("chdir", "b"), ("stat", "../b")],
    creds=BOTH,
)
case(
    "walk_chdir_errors",
    setup=[*mkfile("f"), *mkdir("d", 0o600), ("symlink", "nowhere", "dang")],
    ops=[("chdir", "f"), ("chdir", "missing"), ("chdir", "dang"), ("chdir", "d"), ("getcwd",)],
    creds=BOTH,
)
case(
    "walk_removed_cwd",
    setup=mkdir("d"),
    ops=[("chdir", "d"), ("rmdir", "../d"), ("getcwd",), ("open", "new", WR | CREAT, 0o644),
         ("mkdir", "sub"), ("listdir", "."), ("stat", "."), ("stat", "..")],
    creds=BOTH,
)
case(
    "walk_search_only_dir",
    setup=[*mkdir("d", 0o711), *mkfile("d/f", b"x", 0o644)],
    ops=[("stat", "d/f"), ("listdir", "d"), ("open", "d/f", RD),
         ("open", "d/new", WR | CREAT, 0o644)],
    creds=USER_ONLY,
)
case(
    "walk_read_only_dir_no_search",
    setup=[*mkdir("d", 0o744), *mkfile("d/f", b"x", 0o644)],
    ops=[("listdir", "d"), ("stat", "d/f"), ("open", "d/f", RD), ("access", "d/f", os.F_OK)],
    creds=USER_ONLY,
)
case(
    "walk_deep_no_search_in_middle",
    setup=[*mkdir("a"), *mkdir("a/b", 0o700), *mkdir("a/b/c", 0o777)],
    ops=[("stat", "a/b/c"), ("mkdir", "a/b/c/d"), ("chdir", "a/b/c")],
    creds=BOTH,
)

# --- trailing slashes, per namespace op -------------------------------------------------------

case(
    "slash_stat_variants",
    setup=BASIC,
    ops=[("stat", "f/"), ("stat", "d/"), ("stat", "new/"), ("stat", "lf/"), ("stat", "ld/"),
         ("stat", "dang/")],
)
case(
    "slash_lstat_variants",
    setup=BASIC,
    ops=[("lstat", "f/"), ("lstat", "d/"), ("lstat", "new/"), ("lstat", "lf/"), ("lstat", "ld/"),
         ("lstat", "dang/")],
)
case(
    "slash_open_variants",
    setup=BASIC,
    ops=[("open", "f/", RD), ("open", "d/", RD), ("open", "d/", WR), ("open", "ld/", RD),
         ("open", "lf/", RD), ("open", "new/", RD), ("open", "new/", WR | CREAT, 0o644),
         ("open", "dang/", WR | CREAT, 0o644), ("open", "f/", WR | CREAT, 0o644)],
)
case(
    "slash_mkdir_variants",
    setup=BASIC,
    ops=[("mkdir", "new/"), ("mkdir", "new2//"), ("mkdir", "f/"), ("mkdir", "d/"),
         ("mkdir", "ld/"), ("mkdir", "dang/"), ("listdir", ".")],
)
case(
    "slash_unlink_variants",
    setup=BASIC,
    ops=[("unlink", "f/"), ("unlink", "d/"), ("unlink", "new/"), ("unlink", "lf/"),
         ("unlink", "ld/"), ("unlink", "dang/")],
)
case(
    "slash_rmdir_variants",
    setup=[*BASIC, *mkdir("e")],
    ops=[("rmdir", "f/"), ("rmdir", "new/"), ("rmdir", "lf/"), ("rmdir", "ld/"),
         ("rmdir", "dang/"), ("rmdir", "d/"), ("rmdir", "e//")],
)
case(
    "slash_rename_source",
    setup=BASIC,
    ops=[("rename", "f/", "g"), ("rename", "lf/", "g"), ("rename", "ld/", "g"),
         ("rename", "dang/", "g"), ("rename", "d/", "e")],
)
case(
    "slash_rename_destination",
    setup=[*BASIC, *mkdir("e")],
    ops=[("rename", "f", "g/"), ("rename", "d", "d2/"), ("rename", "e", "d2/"),
         ("rename", "lf", "x/"), ("listdir", ".")],
)
case(
    "slash_link_variants",
    setup=BASIC,
    ops=[("link", "f/", "g"), ("link", "f", "g/"), ("link", "lf/", "g"), ("link", "d/", "g"),
         ("link", "f", "d/")],
)
case(
    "slash_symlink_variants",
    setup=BASIC,
    ops=[("symlink", "x", "new/"), ("symlink", "x", "f/"), ("symlink", "x", "d/"),
         ("symlink", "d/", "ok"), ("stat", "ok"), ("readlink", "ok")],
)
case(
    "slash_mknod_mkfifo_variants",
    setup=BASIC,
    ops=[("mkfifo", "new/"), ("mknod", "new2/", stat.S_IFIFO | 0o644), ("mkfifo", "f/"),
         ("mkfifo", "d/")],
)
case(
    "slash_attr_ops_on_file",
    setup=BASIC,
    ops=[("chmod", "f/", 0o600), ("chown", "f/", 0, 0), ("truncate", "f/", 0),
         ("setxattr", "f/", "user.a", b"1"), ("utime", "f/"), ("access", "f/", os.F_OK),
         ("readlink", "lf/"), ("readlink", "ld/")],
)
case(
    "slash_attr_ops_on_dir",
    setup=BASIC,
    ops=[("chmod", "d/", 0o700), ("chown", "d/", 0, 0), ("setxattr", "d/", "user.a", b"1"),
         ("getxattr", "ld/", "user.a"), ("access", "ld/", os.F_OK), ("listdir", "ld/")],
)
case(
    "slash_renameat2_variants",
    setup=[*BASIC, *mkdir("e")],
    ops=[("renameat2", "f/", "g", RENAME_NOREPLACE), ("renameat2", "d/", "e/", RENAME_EXCHANGE),
         ("renameat2", "f", "d/", RENAME_EXCHANGE), ("renameat2", "e", "new/", RENAME_NOREPLACE)],
)

# =========================================================================================
# Permissions (fs/namei.c generic_permission, may_create, may_delete; fs/attr.c)
# =========================================================================================

case(
    "perm_owner_bits_win_over_group_other",
    setup=mkfile("f", b"x", 0o077, USER),
    ops=[("open", "f", RD), ("open", "f", WR), ("access", "f", os.R_OK), ("chmod", "f", 0o400),
         ("open", "f", RD)],
    creds=USER_ONLY,
)
case(
    "perm_group_bits_primary_gid",
    setup=mkfile("f", b"x", 0o640, (OTHER, USER_GID)),
    ops=[("open", "f", RD), ("open", "f", WR), ("access", "f", os.W_OK)],
    creds=USER_ONLY,
)
case(
    "perm_group_bits_supplementary",
    setup=[*mkfile("f", b"x", 0o460, (OTHER, EXTRA_GROUP)),
           *mkfile("g", b"y", 0o640, (OTHER, OTHER))],
    ops=[("open", "f", RD), ("open", "f", WR), ("open", "g", RD)],
    creds=USER_ONLY,
    groups=(USER_GID, EXTRA_GROUP),
)
case(
    "perm_supplementary_group_dir_search",
    setup=[*mkdir("d", 0o710, (OTHER, EXTRA_GROUP)), *mkfile("d/f", b"x", 0o644)],
    ops=[("stat", "d/f"), ("listdir", "d")],
    creds=USER_ONLY,
    groups=(USER_GID, EXTRA_GROUP),
)
case(
    "perm_not_in_supplementary_group",
    setup=[*mkdir("d", 0o710, (OTHER, EXTRA_GROUP)), *mkfile("d/f", b"x", 0o644)],
    ops=[("stat", "d/f"), ("listdir", "d")],
    creds=USER_ONLY,
)
case(
    "perm_other_bits",
    setup=[*mkfile("r", b"x", 0o604, OTHER_OWNER), *mkfile("w", b"x", 0o602, OTHER_OWNER),
           *mkfile("n", b"x", 0o660, OTHER_OWNER)],
    ops=[("open", "r", RD), ("open", "r", WR), ("open", "w", WR), ("open", "w", RD),
         ("open", "n", RD), ("open", "n", RW)],
    creds=BOTH,
)
case(
    "perm_root_bypasses_rw",
    setup=[*mkfile("f", b"secret", 0o000, OTHER_OWNER), *mkdir("d", 0o000, OTHER_OWNER)],
    ops=[("$fd", "open", "f", RW), ("read", "$fd", 10), ("write", "$fd", b"S"), ("listdir", "d"),
         ("open", "d/new", WR | CREAT, 0o644), ("stat", "d/new")],
    creds=BOTH,
)
case(
    "perm_access_root_exec_needs_one_x_bit",
    setup=[*mkfile("none", b"", 0o666), *mkfile("u", b"", 0o100), *mkfile("g", b"", 0o010),
           *mkfile("o", b"", 0o001), *mkdir("d", 0o000)],
    ops=[("access", "none", os.X_OK), ("access", "u", os.X_OK), ("access", "g", os.X_OK),
         ("access", "o", os.X_OK), ("access", "d", os.X_OK), ("access", "none", os.R_OK | os.W_OK)],
    creds=BOTH,
)
ACCESS_BITS = (os.F_OK, os.R_OK, os.W_OK, os.X_OK, os.R_OK | os.W_OK)
OWNER_MODES = (0o400, 0o200, 0o100, 0o700, 0o000, 0o077)
OTHER_MODES = (0o004, 0o002, 0o001, 0o770)
case(
    "perm_access_each_bit_owner",
    setup=[mkfile(f"m{m:o}", b"", m, USER) for m in OWNER_MODES],
    ops=[("access", f"m{m:o}", bit) for m in OWNER_MODES for bit in ACCESS_BITS],
    creds=BOTH,
)
case(
    "perm_access_each_bit_other",
    setup=[mkfile(f"m{m:o}", b"", m, OTHER_OWNER) for m in OTHER_MODES],
    ops=[("access", f"m{m:o}", bit) for m in OTHER_MODES for bit in ACCESS_BITS],
    creds=BOTH,
)
case(
    "perm_access_missing_and_unsearchable",
    setup=[*mkdir("d", 0o700), *mkfile("d/f", b"", 0o777)],
    ops=[("access", "missing", os.F_OK), ("access", "d/f", os.F_OK), ("access", "d/f", os.R_OK)],
    creds=BOTH,
)
case(
    "perm_create_needs_write_and_search",
    setup=[*mkdir("nw", 0o555), *mkdir("nx", 0o666), *mkdir("ok", 0o733)],
    ops=[("open", "nw/f", WR | CREAT, 0o644), ("mkdir", "nx/d"),
         ("open", "ok/f", WR | CREAT, 0o644), ("mkfifo", "nw/p"), ("symlink", "x", "nw/l")],
    creds=BOTH,
)
case(
    "perm_unlink_needs_dir_write",
    setup=[*mkdir("d", 0o755), *mkfile("d/f", b"", 0o666, USER)],
    ops=[("unlink", "d/f"), ("rename", "d/f", "g"), ("link", "d/f", "d/h")],
    creds=BOTH,
)
case(
    "perm_rename_dir_needs_write_on_moved_dir",
    setup=[*mkdir("a", 0o777), *mkdir("b", 0o777), *mkdir("a/sub", 0o555, USER),
           *mkdir("a/sub2", 0o755, USER)],
    ops=[("rename", "a/sub", "b/sub"), ("rename", "a/sub", "a/renamed"),
         ("rename", "a/sub2", "b/sub2")],
    creds=BOTH,
)
case(
    "perm_listdir_needs_read",
    setup=[*mkdir("d", 0o311), *mkfile("d/f")],
    ops=[("listdir", "d"), ("open", "d", RD), ("open", "d", RD | DIRECTORY), ("scandir", "d"),
         ("stat", "d/f")],
    creds=BOTH,
)
case(
    "perm_open_dir_for_search_only_with_opath",
    setup=mkdir("d", 0o111),
    ops=[("$fd", "open", "d", PATH), ("fstat", "$fd"), ("getdents", "$fd")],
    creds=USER_ONLY,
)
case(
    "perm_sticky_other_cannot_unlink",
    setup=[*mkdir("s", 0o1777), *mkfile("s/theirs", b"", 0o666, OTHER_OWNER),
           *mkfile("s/mine", b"", 0o644, USER)],
    ops=[("unlink", "s/theirs"), ("rename", "s/theirs", "s/x"), ("unlink", "s/mine")],
    creds=BOTH,
)
case(
    "perm_sticky_dir_owner_can_unlink",
    setup=[*mkdir("s", 0o1777, USER), *mkfile("s/theirs", b"", 0o600, OTHER_OWNER)],
    ops=[("unlink", "s/theirs"), ("listdir", "s")],
    creds=USER_ONLY,
)
case(
    "perm_sticky_rename_over_others_file",
    setup=[*mkdir("s", 0o1777), *mkfile("s/theirs", b"t", 0o666, OTHER_OWNER),
           *mkfile("s/mine", b"m", 0o644, USER)],
    ops=[("rename", "s/mine", "s/theirs"), ("renameat2", "s/mine", "s/theirs", RENAME_EXCHANGE)],
    creds=BOTH,
)
case(
    "perm_sticky_rmdir_others_dir",
    setup=[*mkdir("s", 0o1777), *mkdir("s/theirs", 0o777, OTHER_OWNER),
           *mkdir("s/mine", 0o755, USER)],
    ops=[("rmdir", "s/theirs"), ("rmdir", "s/mine"), ("rename", "s/theirs", "moved")],
    creds=BOTH,
)
case(
    "perm_sticky_without_write_bit",
    setup=[*mkdir("s", 0o1555), *mkfile("s/mine", b"", 0o644, USER)],
    ops=[("unlink", "s/mine")],
    creds=BOTH,
)
HARDLINK_SOURCES = [
    *mkfile("other644", b"", 0o644, OTHER_OWNER),
    *mkfile("other666", b"", 0o666, OTHER_OWNER),
    *mkfile("other4666", b"", 0o4666, OTHER_OWNER),
    *mkfile("other2676", b"", 0o2676, OTHER_OWNER),
    *mkfile("other2666", b"", 0o2666, OTHER_OWNER),
    *mkfile("mine600", b"", 0o600, USER),
    *mkfile("mine000", b"", 0o000, USER),
    ("mkfifo", "fifo", 0o666),
    ("chown", "fifo", OTHER, OTHER),
]
HARDLINK_NAMES = ("other644", "other666", "other4666", "other2676", "other2666", "mine600",
                  "mine000", "fifo")
case(
    "perm_protected_hardlinks",
    setup=HARDLINK_SOURCES,
    ops=[("link", n, f"{n}.l") for n in HARDLINK_NAMES],
    creds=BOTH,
    sysctl={"protected_hardlinks": 1},
)
case(
    "perm_chmod_owner_only",
    setup=[*mkfile("mine", b"", 0o644, USER), *mkfile("theirs", b"", 0o666, OTHER_OWNER)],
    ops=[("chmod", "mine", 0o600), ("chmod", "theirs", 0o600), ("chmod", "missing", 0o600),
         ("stat", "mine"), ("stat", "theirs")],
    creds=BOTH,
)
case(
    "perm_chmod_sgid_dropped_outside_group",
    setup=[*mkfile("f", b"", 0o644, (USER_UID, OTHER)), *mkfile("g", b"", 0o644, USER),
           *mkdir("d", 0o755, (USER_UID, OTHER))],
    ops=[("chmod", "f", 0o2755), ("chmod", "g", 0o2755), ("chmod", "d", 0o2755), ("stat", "f"),
         ("stat", "g"), ("stat", "d")],
    creds=BOTH,
)
case(
    "perm_chmod_sticky_on_file",
    setup=mkfile("f", b"", 0o644, USER),
    ops=[("chmod", "f", 0o1755), ("stat", "f")],
    creds=BOTH,
)
case(
    "perm_chown_nonroot_rules",
    setup=[*mkfile("mine", b"", 0o644, USER), *mkfile("theirs", b"", 0o644, OTHER_OWNER)],
    ops=[("chown", "mine", OTHER, -1), ("chown", "mine", USER_UID, USER_GID),
         ("chown", "mine", -1, OTHER), ("chown", "mine", -1, EXTRA_GROUP),
         ("chown", "mine", -1, -1), ("chown", "theirs", -1, -1),
         ("chown", "theirs", USER_UID, -1), ("stat", "mine")],
    creds=BOTH,
    groups=(USER_GID, EXTRA_GROUP),
)
case(
    "perm_chown_root_clears_suid_sgid",
    setup=[*mkfile("x6755", b"", 0o6755), *mkfile("x2644", b"", 0o2644),
           *mkfile("x4644", b"", 0o4644), *mkdir("d", 0o6755)],
    ops=[("chown", "x6755", OTHER, OTHER), ("chown", "x2644", OTHER, -1),
         ("chown", "x4644", -1, -1), ("chown", "d", OTHER, OTHER), ("stat", "x6755"),
         ("stat", "x2644"), ("stat", "x4644"), ("stat", "d")],
)
case(
    "perm_chown_owner_clears_suid",
    setup=[*mkfile("f", b"", 0o6755, USER), *mkfile("g", b"", 0o4700, USER)],
    ops=[("chown", "f", -1, EXTRA_GROUP), ("chown", "g", -1, -1), ("stat", "f"), ("stat", "g")],
    creds=USER_ONLY,
    groups=(USER_GID, EXTRA_GROUP),
)
case(
    "perm_lchown_symlink",
    setup=[*mkfile("f", b"", 0o644), ("symlink", "f", "l")],
    ops=[("chown", "l", OTHER, OTHER, NOFOLLOW_KW), ("lstat", "l"), ("stat", "l")],
)
case(
    "perm_utime_now_needs_write_or_owner",
    setup=[*mkfile("w", b"", 0o666, OTHER_OWNER), *mkfile("r", b"", 0o644, OTHER_OWNER),
           *mkfile("m", b"", 0o444, USER)],
    ops=[("utime", "w"), ("utime", "r"), ("utime", "m"), ("utime", "w", None),
         ("utime", "r", None)],
    creds=BOTH,
)
case(
    "perm_utime_explicit_needs_owner",
    setup=[*mkfile("w", b"", 0o666, OTHER_OWNER), *mkfile("m", b"", 0o444, USER)],
    ops=[("utime", "w", {"ns": (10**9, 2 * 10**9)}),
         ("utime", "m", {"ns": (3 * 10**9, 4 * 10**9)}), ("stat", "m"), ("stat", "w")],
    creds=BOTH,
)
case(
    "perm_setxattr_user_needs_write",
    setup=[*mkfile("r", b"", 0o644, OTHER_OWNER), *mkfile("w", b"", 0o666, OTHER_OWNER),
           *mkfile("m", b"", 0o444, USER)],
    ops=[("setxattr", "r", "user.a", b"1"), ("setxattr", "w", "user.a", b"1"),
         ("setxattr", "m", "user.a", b"1"), ("getxattr", "w", "user.a"), ("listxattr", "w")],
    creds=BOTH,
)
case(
    "perm_getxattr_user_needs_read",
    setup=[*mkfile("f", b"", 0o600, OTHER_OWNER), ("setxattr", "f", "user.a", b"v")],
    ops=[("getxattr", "f", "user.a"), ("listxattr", "f"), ("removexattr", "f", "user.a")],
    creds=BOTH,
)
case(
    "perm_xattr_user_sticky_dir_nonowner",
    setup=[*mkdir("s", 0o1777, OTHER_OWNER), *mkdir("p", 0o777, OTHER_OWNER)],
    ops=[("setxattr", "s", "user.a", b"1"), ("setxattr", "p", "user.a", b"1")],
    creds=BOTH,
)
case(
    "perm_xattr_trusted_needs_cap",
    setup=[*mkfile("f", b"", 0o666, USER), ("setxattr", "f", "trusted.t", b"v")],
    ops=[("getxattr", "f", "trusted.t"), ("setxattr", "f", "trusted.u", b"1"), ("listxattr", "f"),
         ("removexattr", "f", "trusted.t")],
    creds=BOTH,
)
case(
    "perm_setgid_dir_file_group",
    setup=mkdir("g", 0o2777, (OTHER, OTHER)),
    ops=[("open", "g/f", WR | CREAT, 0o644), ("stat", "g/f"), ("mkdir", "g/sub", 0o755),
         ("stat", "g/sub"), ("mkfifo", "g/p"), ("stat", "g/p"), ("symlink", "x", "g/l"),
         ("lstat", "g/l")],
    creds=BOTH,
)
case(
    "perm_setgid_dir_nested_inherits",
    setup=mkdir("g", 0o2777, (OTHER, OTHER)),
    ops=[("mkdir", "g/a", 0o777), ("mkdir", "g/a/b", 0o700), ("stat", "g/a/b"),
         ("open", "g/a/b/f", WR | CREAT, 0o666), ("stat", "g/a/b/f")],
    creds=BOTH,
)
case(
    "perm_setgid_dir_create_sgid_file_outside_group",
    setup=mkdir("g", 0o2777, (OTHER, OTHER)),
    ops=[("open", "g/x", WR | CREAT, 0o2755), ("stat", "g/x"),
         ("open", "g/y", WR | CREAT, 0o2745), ("stat", "g/y"), ("mkdir", "g/d", 0o2700),
         ("stat", "g/d")],
    creds=BOTH,
)
case(
    "perm_create_sgid_mode_in_plain_dir",
    ops=[("open", "x", WR | CREAT, 0o6777), ("stat", "x"), ("mkdir", "d", 0o7777), ("stat", "d"),
         ("mknod", "p", stat.S_IFIFO | 0o6777), ("stat", "p")],
    creds=BOTH,
    umask=0,
)
case(
    "perm_write_clears_suid_sgid",
    setup=[*mkfile("a", b"x", 0o6777), *mkfile("b", b"x", 0o2777), *mkfile("c", b"x", 0o2767),
           *mkfile("d", b"x", 0o4767)],
    ops=[op for n in "abcd" for op in write_one_byte(n)],
    creds=BOTH,
)
case(
    "perm_write_sgid_kept_for_group_member",
    setup=[*mkfile("a", b"x", 0o2666, (OTHER, USER_GID)),
           *mkfile("b", b"x", 0o2676, (OTHER, USER_GID)),
           *mkfile("c", b"x", 0o2666, (OTHER, EXTRA_GROUP))],
    ops=[op for n in "abc" for op in write_one_byte(n)],
    creds=USER_ONLY,
    groups=(USER_GID, EXTRA_GROUP),
)
case(
    "perm_zero_length_write_keeps_suid",
    setup=mkfile("a", b"x", 0o6777),
    ops=[("$fd", "open", "a", WR), ("write", "$fd", b""), ("stat", "a")],
    creds=BOTH,
)
case(
    "perm_truncate_clears_suid",
    setup=[*mkfile("a", b"xyz", 0o6777), *mkfile("b", b"xyz", 0o6777)],
    ops=[("truncate", "a", 1), ("stat", "a"), ("$fd", "open", "b", WR), ("ftruncate", "$fd", 5),
         ("stat", "b")],
    creds=BOTH,
)
case(
    "perm_owner_write_clears_suid",
    setup=mkfile("a", b"x", 0o6770, USER),
    ops=[("$fd", "open", "a", WR | APPEND), ("write", "$fd", b"y"), ("stat", "a")],
    creds=USER_ONLY,
)
case(
    "perm_open_trunc_needs_write",
    setup=mkfile("f", b"keep", 0o644, OTHER_OWNER),
    ops=[("open", "f", RD | TRUNC), ("stat", "f")],
    creds=BOTH,
)
case(
    "perm_open_noatime_owner_only",
    setup=[*mkfile("theirs", b"x", 0o644, OTHER_OWNER), *mkfile("mine", b"x", 0o644, USER)],
    ops=[("open", "theirs", RD | NOATIME), ("open", "mine", RD | NOATIME), ("open", "theirs", RD)],
    creds=BOTH,
)
case(
    "perm_mknod_char_dev",
    ops=[("mknod", "c", stat.S_IFCHR | 0o644, os.makedev(1, 3)), ("stat", "c"),
         ("mknod", "b", stat.S_IFBLK | 0o600, os.makedev(7, 0)), ("stat", "b")],
    creds=BOTH,
)
case(
    "perm_mknod_fifo_and_socket_unprivileged",
    ops=[("mknod", "p", stat.S_IFIFO | 0o640), ("mkfifo", "q", 0o600),
         ("mknod", "s", stat.S_IFSOCK | 0o600), ("stat", "p"), ("stat", "q"), ("stat", "s")],
    creds=BOTH,
)
case(
    "perm_hardlink_dir_eperm",
    setup=mkdir("d"),
    ops=[("link", "d", "d2"), ("link", ".", "x")],
    creds=BOTH,
)
case(
    "perm_ownership_of_new_files",
    ops=[("open", "f", WR | CREAT, 0o644), ("mkdir", "d"), ("symlink", "f", "l"), ("stat", "f"),
         ("stat", "d"), ("lstat", "l")],
    creds=BOTH,
)
case(
    "perm_chmod_by_root_on_others_file",
    setup=mkfile("f", b"", 0o644, OTHER_OWNER),
    ops=[("chmod", "f", 0o4711), ("stat", "f")],
    creds=BOTH,
)
case(
    "perm_chmod_via_symlink_changes_target",
    setup=[*mkfile("f", b"", 0o644, USER), ("symlink", "f", "l")],
    ops=[("chmod", "l", 0o600), ("stat", "f"), ("lstat", "l")],
    creds=BOTH,
)

# --- umask -----------------------------------------------------------------------------------

case(
    "umask_022",
    ops=[("open", "f", WR | CREAT, 0o666), ("mkdir", "d", 0o777), ("mkfifo", "p", 0o666),
         ("symlink", "f", "l"), ("stat", "f"), ("stat", "d"), ("stat", "p"), ("lstat", "l")],
    creds=BOTH,
)
case(
    "umask_077",
    ops=[("open", "f", WR | CREAT, 0o666), ("mkdir", "d", 0o777), ("mknod", "n", 0o666),
         ("stat", "f"), ("stat", "d"), ("stat", "n")],
    creds=BOTH,
    umask=0o077,
)
case(
    "umask_0",
    ops=[("open", "f", WR | CREAT, 0o777), ("mkdir", "d", 0o1777), ("stat", "f"), ("stat", "d")],
    creds=BOTH,
    umask=0,
)
case(
    "umask_027_and_default_open_mode",
    ops=[("open", "f", WR | CREAT), ("mkdir", "d"), ("stat", "f"), ("stat", "d")],
    creds=BOTH,
    umask=0o027,
)
case(
    "umask_not_applied_to_chmod",
    ops=[("open", "f", WR | CREAT, 0o600), ("chmod", "f", 0o777), ("stat", "f")],
    umask=0o077,
)
case(
    "umask_not_applied_to_existing_file",
    setup=mkfile("f", b"", 0o600),
    ops=[("open", "f", WR | CREAT, 0o777), ("stat", "f")],
    umask=0,
)
case(
    "umask_mode_type_bits_ignored",
    ops=[("open", "f", WR | CREAT, stat.S_IFDIR | 0o644), ("stat", "f"),
         ("mkdir", "d", stat.S_IFREG | 0o755), ("stat", "d")],
)

# =========================================================================================
# Timestamps (relations; fs/inode.c, mm/shmem.c, relatime)
# =========================================================================================

case(
    "time_create_updates_parent",
    setup=mkdir("d", 0o777),
    ops=[("stat", "d"), ("open", "d/f", WR | CREAT, 0o644), ("stat", "d"), ("stat", "d/f")],
    creds=BOTH,
)
case(
    "time_open_existing_no_change",
    setup=[*mkdir("d"), *mkfile("d/f")],
    ops=[("stat", "d"), ("stat", "d/f"), ("open", "d/f", WR | CREAT, 0o644), ("stat", "d"),
         ("stat", "d/f")],
)
case(
    "time_unlink_updates_parent_and_inode",
    setup=[*mkdir("d"), *mkfile("d/f"), ("link", "d/f", "g")],
    ops=[("stat", "d"), ("stat", "g"), ("unlink", "d/f"), ("stat", "d"), ("stat", "g")],
)
case(
    "time_mkdir_rmdir_parent",
    setup=mkdir("d"),
    ops=[("stat", "d"), ("mkdir", "d/s"), ("stat", "d"), ("rmdir", "d/s"), ("stat", "d")],
)
case(
    "time_rename_updates_both_parents_and_inode",
    setup=[*mkdir("a"), *mkdir("b"), *mkfile("a/f"), *mkfile("keep")],
    ops=[("stat", "a"), ("stat", "b"), ("stat", "a/f"), ("stat", "keep"),
         ("rename", "a/f", "b/f"), ("stat", "a"), ("stat", "b"), ("stat", "b/f"), ("stat", "keep")],
)
case(
    "time_rename_over_existing_target",
    setup=[*mkfile("a"), *mkfile("b"), ("link", "b", "b2")],
    ops=[("stat", "b2"), ("stat", "a"), ("rename", "a", "b"), ("stat", "b2"), ("stat", "b")],
)
case(
    "time_rename_within_dir",
    setup=[*mkdir("d"), *mkfile("d/f")],
    ops=[("stat", "d"), ("stat", "d/f"), ("rename", "d/f", "d/g"), ("stat", "d"), ("stat", "d/g")],
)
case(
    "time_rename_dir_updates_dotdot",
    setup=[*mkdir("a"), *mkdir("b"), *mkdir("a/s")],
    ops=[("stat", "a/s"), ("stat", "a"), ("stat", "b"), ("rename", "a/s", "b/s"), ("stat", "b/s"),
         ("stat", "a"), ("stat", "b")],
)
case(
    "time_chmod_ctime_only",
    setup=mkfile("f", b"x"),
    ops=[("stat", "f"), ("chmod", "f", 0o600), ("stat", "f"), ("chmod", "f", 0o600), ("stat", "f")],
)
case(
    "time_chown_ctime_only",
    setup=mkfile("f", b"x"),
    ops=[("stat", "f"), ("chown", "f", OTHER, -1), ("stat", "f"), ("chown", "f", -1, -1),
         ("stat", "f")],
)
case(
    "time_link_ctime_on_target",
    setup=[*mkfile("f"), *mkdir("d")],
    ops=[("stat", "f"), ("stat", "d"), ("link", "f", "d/g"), ("stat", "f"), ("stat", "d")],
)
case(
    "time_symlink_parent",
    setup=mkdir("d"),
    ops=[("stat", "d"), ("symlink", "x", "d/l"), ("stat", "d"), ("lstat", "d/l")],
)
case(
    "time_setxattr_ctime",
    setup=mkfile("f"),
    ops=[("stat", "f"), ("setxattr", "f", "user.a", b"1"), ("stat", "f"),
         ("removexattr", "f", "user.a"), ("stat", "f"), ("getxattr", "f", "user.a"), ("stat", "f")],
)
case(
    "time_write_mtime_ctime",
    setup=mkfile("f", b"x", 0o666),
    ops=[("stat", "f"), ("$fd", "open", "f", WR), ("stat", "f"), ("write", "$fd", b"yz"),
         ("stat", "f"), ("fstat", "$fd")],
    creds=BOTH,
)
case(
    "time_zero_length_write_no_change",
    setup=mkfile("f", b"x"),
    ops=[("$fd", "open", "f", WR), ("stat", "f"), ("write", "$fd", b""), ("stat", "f")],
)
case(
    "time_pwrite_mtime",
    setup=mkfile("f", b"abc"),
    ops=[("$fd", "open", "f", RW), ("fstat", "$fd"), ("pwrite", "$fd", b"Z", 1), ("fstat", "$fd"),
         ("pread", "$fd", 3, 0), ("fstat", "$fd")],
)
case(
    "time_truncate_changes",
    setup=mkfile("f", b"abc"),
    ops=[("stat", "f"), ("truncate", "f", 1), ("stat", "f"), ("truncate", "f", 1), ("stat", "f"),
         ("truncate", "f", 10), ("stat", "f")],
)
case(
    "time_ftruncate_same_size",
    setup=mkfile("f", b"abc"),
    ops=[("$fd", "open", "f", RW), ("fstat", "$fd"), ("ftruncate", "$fd", 3), ("fstat", "$fd"),
         ("ftruncate", "$fd", 0), ("fstat", "$fd")],
)
case(
    "time_open_trunc",
    setup=[*mkfile("full", b"abc"), *mkfile("empty", b"")],
    ops=[("stat", "full"), ("stat", "empty"), ("open", "full", WR | TRUNC),
         ("open", "empty", WR | TRUNC), ("stat", "full"), ("stat", "empty")],
)
case(
    "time_relatime_read",
    setup=mkfile("f", b"abc"),
    ops=[("$fd", "open", "f", RD), ("fstat", "$fd"), ("read", "$fd", 1), ("fstat", "$fd"),
         ("read", "$fd", 1), ("fstat", "$fd"), ("pread", "$fd", 1, 0), ("fstat", "$fd")],
    creds=BOTH,
)
case(
    "time_relatime_after_write",
    setup=mkfile("f", b"abc"),
    ops=[("$r", "open", "f", RD), ("read", "$r", 1), ("fstat", "$r"), ("$w", "open", "f", WR),
         ("write", "$w", b"x"), ("fstat", "$r"), ("read", "$r", 1), ("fstat", "$r"),
         ("read", "$r", 1), ("fstat", "$r")],
)
case(
    "time_read_at_eof_atime",
    setup=mkfile("f", b""),
    ops=[("$fd", "open", "f", RD), ("fstat", "$fd"), ("read", "$fd", 10), ("fstat", "$fd")],
)
case(
    "time_open_alone_no_atime",
    setup=mkfile("f", b"abc"),
    ops=[("stat", "f"), ("$fd", "open", "f", RD), ("stat", "f"), ("close", "$fd"), ("stat", "f")],
)
case(
    "time_noatime_read",
    setup=mkfile("f", b"abc"),
    ops=[("stat", "f"), ("$fd", "open", "f", RD | NOATIME), ("read", "$fd", 3), ("stat", "f")],
)
case(
    "time_listdir_dir_atime",
    setup=[*mkdir("d"), *mkfile("d/x")],
    ops=[("stat", "d"), ("listdir", "d"), ("stat", "d"), ("listdir", "d"), ("stat", "d")],
)
case(
    "time_utime_explicit",
    setup=mkfile("f"),
    ops=[("stat", "f"), ("utime", "f", {"ns": (5 * 10**9, 7 * 10**9)}), ("stat", "f"),
         ("utime", "f", (11, 13)), ("stat", "f")],
)
case(
    "time_utime_now",
    setup=mkfile("f"),
    ops=[("utime", "f", {"ns": (10**9, 10**9)}), ("stat", "f"), ("utime", "f"), ("stat", "f"),
         ("utime", "f", None), ("stat", "f")],
)
case(
    "time_utime_nofollow_symlink",
    setup=[*mkfile("f"), ("symlink", "f", "l")],
    ops=[("stat", "f"), ("utime", "l", {"ns": (10**9, 2 * 10**9), "follow_symlinks": False}),
         ("lstat", "l"), ("stat", "f"), ("utime", "l", {"ns": (3 * 10**9, 4 * 10**9)}),
         ("stat", "f")],
)
case(
    "time_utime_bad_values",
    setup=mkfile("f"),
    ops=[("utime", "f", {"ns": (-1, 0)}), ("stat", "f"), ("utime", "f", (1, 2), {"ns": (1, 2)})],
)
case(
    "time_fallocate_and_posix_fallocate",
    setup=mkfile("f", b"abc"),
    ops=[("$fd", "open", "f", RW), ("fstat", "$fd"), ("posix_fallocate", "$fd", 0, 100),
         ("fstat", "$fd"), ("fallocate", "$fd", FALLOC_FL_KEEP_SIZE, 0, 8192), ("fstat", "$fd")],
)
case(
    "time_copy_file_range_dst",
    setup=[*mkfile("src", b"0123456789"), *mkfile("dst", b"")],
    ops=[("$s", "open", "src", RD), ("$d", "open", "dst", WR), ("stat", "src"), ("stat", "dst"),
         ("copy_file_range", "$s", "$d", 4), ("stat", "src"), ("stat", "dst")],
)
case(
    "time_mknod_parent",
    setup=mkdir("d"),
    ops=[("stat", "d"), ("mkfifo", "d/p"), ("stat", "d"), ("stat", "d/p")],
)
case(
    "time_stat_access_do_not_change",
    setup=mkfile("f", b"x"),
    ops=[("stat", "f"), ("access", "f", os.R_OK), ("lstat", "f"), ("getxattr", "f", "user.none"),
         ("stat", "f")],
)
case(
    "time_renameat2_exchange",
    setup=[*mkdir("a"), *mkdir("b"), *mkfile("a/x"), *mkdir("b/y")],
    ops=[("stat", "a"), ("stat", "b"), ("stat", "a/x"), ("stat", "b/y"),
         ("renameat2", "a/x", "b/y", RENAME_EXCHANGE), ("stat", "a"), ("stat", "b"),
         ("stat", "a/x"), ("stat", "b/y")],
)
case(
    "time_failed_ops_change_nothing",
    setup=[*mkdir("d"), *mkfile("d/f")],
    ops=[("stat", "d"), ("mkdir", "d/f"), ("rmdir", "d/f"), ("unlink", "d/missing"),
         ("rename", "d/missing", "d/x"), ("stat", "d")],
)

# =========================================================================================
# Link counts
# =========================================================================================

case(
    "nlink_dir_counts_subdirs_only",
    setup=[*mkdir("d"), *mkfile("d/f1"), *mkfile("d/f2"), *mkdir("d/s"), ("symlink", "s", "d/l")],
    ops=[("stat", "d"), ("stat", "d/s"), ("mkdir", "d/s2"), ("stat", "d"), ("rmdir", "d/s"),
         ("stat", "d"), ("stat", ".")],
)
case(
    "nlink_rename_dir_between_parents",
    setup=[*mkdir("a"), *mkdir("b"), *mkdir("a/s")],
    ops=[("rename", "a/s", "b/s"), ("stat", "a"), ("stat", "b"), ("stat", "b/s"),
         ("stat", "b/s/..")],
)
case(
    "nlink_rename_dir_over_empty_dir",
    setup=[*mkdir("a"), *mkdir("b"), *mkdir("a/s"), *mkdir("b/t")],
    ops=[("rename", "a/s", "b/t"), ("stat", "a"), ("stat", "b"), ("stat", "b/t")],
)
case(
    "nlink_hard_links",
    setup=mkfile("f", b"x", 0o644, USER),
    ops=[("link", "f", "g"), ("link", "g", "h"), ("stat", "f"), ("unlink", "g"), ("stat", "h"),
         ("link", "f", "h"), ("stat", "f")],
    creds=BOTH,
)
case(
    "nlink_open_unlinked_file",
    setup=mkfile("f", b"data", 0o666),
    ops=[("$fd", "open", "f", RW), ("unlink", "f"), ("fstat", "$fd"), ("read", "$fd", 10),
         ("write", "$fd", b"+"), ("lseek", "$fd", 0, os.SEEK_SET), ("read", "$fd", 10),
         ("stat", "f"), ("listdir", ".")],
    creds=BOTH,
)
case(
    "nlink_open_removed_dir",
    setup=mkdir("d"),
    ops=[("$fd", "open", "d", RD), ("rmdir", "d"), ("fstat", "$fd"), ("getdents", "$fd")],
)
case(
    "nlink_link_to_unlinked_name_fails",
    setup=mkfile("f"),
    ops=[("$fd", "open", "f", RD), ("unlink", "f"), ("link", "f", "g")],
)
case(
    "nlink_root_dir_count",
    setup=[*mkdir("a"), *mkdir("b"), *mkfile("c")],
    ops=[("stat", "."), ("stat", "a/..")],
)

# =========================================================================================
# xattrs (fs/xattr.c, mm/shmem.c)
# =========================================================================================

case(
    "xattr_roundtrip",
    setup=mkfile("f", b"", 0o644, USER),
    ops=[("setxattr", "f", "user.a", b"1"), ("setxattr", "f", "user.b", b""),
         ("getxattr", "f", "user.a"), ("getxattr", "f", "user.b"), ("listxattr", "f"),
         ("removexattr", "f", "user.a"), ("listxattr", "f")],
    creds=BOTH,
)
case(
    "xattr_create_replace_flags",
    setup=[*mkfile("f"), ("setxattr", "f", "user.a", b"1")],
    ops=[("setxattr", "f", "user.a", b"2", XATTR_CREATE),
         ("setxattr", "f", "user.b", b"2", XATTR_REPLACE),
         ("setxattr", "f", "user.a", b"3", XATTR_REPLACE),
         ("setxattr", "f", "user.b", b"4", XATTR_CREATE), ("getxattr", "f", "user.a"),
         ("getxattr", "f", "user.b")],
)
case(
    "xattr_both_flags_and_bad_flags",
    setup=[*mkfile("f"), ("setxattr", "f", "user.a", b"1")],
    ops=[("setxattr", "f", "user.a", b"2", XATTR_CREATE | XATTR_REPLACE),
         ("setxattr", "f", "user.b", b"2", XATTR_CREATE | XATTR_REPLACE),
         ("setxattr", "f", "user.c", b"2", 4), ("listxattr", "f")],
)
case(
    "xattr_missing_enodata",
    setup=mkfile("f"),
    ops=[("getxattr", "f", "user.none"), ("removexattr", "f", "user.none"),
         ("getxattr", "missing", "user.a")],
)
case(
    "xattr_unknown_namespace",
    setup=mkfile("f"),
    ops=[("setxattr", "f", "foo", b"1"), ("setxattr", "f", "foo.bar", b"1"),
         ("getxattr", "f", "foo.bar"), ("setxattr", "f", "user.", b"1"),
         ("setxattr", "f", "", b"1")],
    creds=BOTH,
)
case(
    "xattr_security_namespace",
    setup=mkfile("f", b"", 0o666, USER),
    ops=[("setxattr", "f", "security.x", b"1"), ("getxattr", "f", "security.x"),
         ("listxattr", "f")],
    creds=BOTH,
)
case(
    "xattr_user_on_symlink_eperm",
    setup=[*mkfile("f"), ("symlink", "f", "l")],
    ops=[("setxattr", "l", "user.a", b"1", 0, NOFOLLOW_KW),
         ("getxattr", "l", "user.a", NOFOLLOW_KW), ("listxattr", "l", NOFOLLOW_KW),
         ("setxattr", "l", "user.b", b"1"), ("listxattr", "f")],
)
case(
    "xattr_trusted_on_symlink",
    setup=[*mkfile("f"), ("symlink", "f", "l")],
    ops=[("setxattr", "l", "trusted.a", b"1", 0, NOFOLLOW_KW),
         ("getxattr", "l", "trusted.a", NOFOLLOW_KW), ("listxattr", "l", NOFOLLOW_KW)],
)
case(
    "xattr_user_on_fifo_and_device",
    setup=[("mkfifo", "p", 0o666), ("mknod", "c", stat.S_IFCHR | 0o666, os.makedev(1, 3))],
    ops=[("setxattr", "p", "user.a", b"1"), ("setxattr", "c", "user.a", b"1"),
         ("getxattr", "p", "user.a"), ("setxattr", "p", "trusted.a", b"1")],
)
case(
    "xattr_user_on_dir",
    setup=mkdir("d", 0o777),
    ops=[("setxattr", "d", "user.a", b"v"), ("getxattr", "d", "user.a"), ("listxattr", "d")],
    creds=BOTH,
)
case(
    "xattr_limits",
    setup=mkfile("f"),
    ops=[("setxattr", "f", "user." + "x" * 250, b"1"),
         ("setxattr", "f", "user." + "x" * 251, b"1"),
         ("setxattr", "f", "user.big", b"v" * 65536),
         ("setxattr", "f", "user.big2", b"v" * 65537), ("listxattr", "f")],
)
case(
    "xattr_follows_symlink_by_default",
    setup=[*mkfile("f"), ("symlink", "f", "l")],
    ops=[("setxattr", "l", "user.a", b"1"), ("getxattr", "f", "user.a"), ("listxattr", "l"),
         ("removexattr", "l", "user.a"), ("listxattr", "f")],
)
case(
    "xattr_survives_rename_and_link",
    setup=[*mkfile("f"), ("setxattr", "f", "user.a", b"keep")],
    ops=[("rename", "f", "g"), ("link", "g", "h"), ("getxattr", "h", "user.a"), ("listxattr", "g")],
)
case(
    "xattr_on_missing_and_dangling",
    setup=[("symlink", "nowhere", "dang")],
    ops=[("setxattr", "missing", "user.a", b"1"), ("listxattr", "dang"),
         ("listxattr", "dang", NOFOLLOW_KW), ("setxattr", "dang", "user.a", b"1")],
)

# =========================================================================================
# lseek, SEEK_DATA / SEEK_HOLE (mm/shmem.c shmem_file_llseek)
# =========================================================================================

case(
    "seek_data_hole_small_file",
    setup=mkfile("f", b"hello"),
    ops=[("$fd", "open", "f", RD), ("lseek", "$fd", 0, os.SEEK_DATA),
         ("lseek", "$fd", 0, os.SEEK_HOLE), ("lseek", "$fd", 3, os.SEEK_DATA),
         ("lseek", "$fd", 3, os.SEEK_HOLE), ("lseek", "$fd", 5, os.SEEK_DATA),
         ("lseek", "$fd", 5, os.SEEK_HOLE), ("lseek", "$fd", 99, os.SEEK_DATA),
         ("lseek", "$fd", -1, os.SEEK_DATA)],
)
case(
    "seek_data_hole_empty_file",
    setup=mkfile("f"),
    ops=[("$fd", "open", "f", RD), ("lseek", "$fd", 0, os.SEEK_DATA),
         ("lseek", "$fd", 0, os.SEEK_HOLE)],
)
case(
    "seek_data_hole_sparse_file",
    ops=[("$fd", "open", "f", RW | CREAT, 0o644), ("ftruncate", "$fd", 1 << 20),
         ("pwrite", "$fd", b"x", 1 << 19), ("lseek", "$fd", 0, os.SEEK_DATA),
         ("lseek", "$fd", 0, os.SEEK_HOLE), ("lseek", "$fd", 1 << 19, os.SEEK_HOLE),
         ("lseek", "$fd", (1 << 19) + 1, os.SEEK_DATA),
         ("lseek", "$fd", (1 << 19) + PAGE, os.SEEK_DATA),
         ("lseek", "$fd", (1 << 20) - 1, os.SEEK_HOLE)],
)
case(
    "seek_data_after_punch_hole",
    setup=mkfile("f", b"a" * (3 * PAGE)),
    ops=[("$fd", "open", "f", RW),
         ("fallocate", "$fd", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PAGE, PAGE),
         ("lseek", "$fd", 0, os.SEEK_HOLE), ("lseek", "$fd", PAGE, os.SEEK_DATA),
         ("pread", "$fd", 4, PAGE), ("fstat", "$fd")],
)
case(
    "seek_data_hole_unaligned_write",
    ops=[("$fd", "open", "f", RW | CREAT, 0o644), ("pwrite", "$fd", b"x", 10000),
         ("lseek", "$fd", 0, os.SEEK_DATA), ("lseek", "$fd", 0, os.SEEK_HOLE),
         ("lseek", "$fd", 9000, os.SEEK_DATA)],
)
case(
    "seek_basic_whence",
    setup=mkfile("f", b"0123456789"),
    ops=[("$fd", "open", "f", RD), ("lseek", "$fd", 3, os.SEEK_SET), ("read", "$fd", 2),
         ("lseek", "$fd", 2, os.SEEK_CUR), ("read", "$fd", 2), ("lseek", "$fd", -3, os.SEEK_END),
         ("read", "$fd", 10), ("lseek", "$fd", 100, os.SEEK_SET), ("read", "$fd", 1),
         ("lseek", "$fd", 0, os.SEEK_CUR)],
)
case(
    "seek_invalid",
    setup=mkfile("f", b"0123456789"),
    ops=[("$fd", "open", "f", RD), ("lseek", "$fd", 0, 7), ("lseek", "$fd", -1, os.SEEK_SET),
         ("lseek", "$fd", -11, os.SEEK_END), ("lseek", "$fd", -1, os.SEEK_CUR),
         ("lseek", "$fd", 0, os.SEEK_CUR), ("lseek", 999, 0, os.SEEK_SET)],
)
case(
    "seek_on_dir_fifo_and_opath",
    setup=[*mkdir("d"), ("mkfifo", "p", 0o666), *mkfile("f", b"x")],
    ops=[("$d", "open", "d", RD), ("lseek", "$d", 0, os.SEEK_SET),
         ("lseek", "$d", 0, os.SEEK_END), ("$p", "open", "p", RD | NONBLOCK),
         ("lseek", "$p", 0, os.SEEK_SET), ("$o", "open", "f", PATH),
         ("lseek", "$o", 0, os.SEEK_SET)],
)

# issue 19: offsets at the edge of loff_t (rw_verify_area, generic_write_check_limits,
# generic_copy_file_checks) and their neighbours; only failing or empty writes up there
LLMAX = (1 << 63) - 1
case(
    "seek_edge_pread_pwrite_offsets",
    setup=mkfile("f", b"0123456789"),
    ops=[("$fd", "open", "f", RW), ("pwrite", "$fd", b"x", LLMAX),
         ("pwrite", "$fd", b"xy", LLMAX - 1), ("pwrite", "$fd", b"", LLMAX),
         ("pwrite", "$fd", b"x", -1), ("pread", "$fd", 1, LLMAX), ("pread", "$fd", 0, LLMAX),
         ("pread", "$fd", 2, LLMAX - 1), ("pread", "$fd", 1, -1), ("lseek", "$fd", LLMAX, 0),
         ("lseek", "$fd", 1, os.SEEK_END), ("write", "$fd", b"x"), ("read", "$fd", 1),
         ("lseek", "$fd", LLMAX - 1, os.SEEK_SET), ("write", "$fd", b"xy"), ("stat", "f")],
)
case(
    "seek_edge_copy_file_range_offsets",
    setup=[*mkfile("s", b"0123456789"), *mkfile("d", b""), *mkdir("dir")],
    ops=[("$s", "open", "s", RD), ("$d", "open", "d", WR), ("$dir", "open", "dir", RD),
         ("copy_file_range", "$s", "$d", 1, -1, 0), ("copy_file_range", "$s", "$d", 10, -5, 0),
         ("copy_file_range", "$s", "$d", 1, 0, -1), ("copy_file_range", "$s", "$d", 0, -1, 0),
         ("copy_file_range", "$s", "$d", 0, 0, -1), ("copy_file_range", "$s", "$d", 1, LLMAX, 0),
         ("copy_file_range", "$s", "$d", 1, 0, LLMAX), ("copy_file_range", "$s", "$d", 2, 9, 3),
         ("copy_file_range", "$s", "$d", 1, 100, 0), ("copy_file_range", "$dir", "$d", 1),
         ("copy_file_range", "$d", "$s", 1), ("copy_file_range", "$s", "$dir", 1),
         ("stat", "d")],
)

# =========================================================================================
# open flags (fs/open.c, fs/namei.c do_open)
# =========================================================================================

case(
    "open_append_writes_at_end",
    setup=mkfile("f", b"abc", 0o666),
    ops=[("$fd", "open", "f", WR | APPEND), ("lseek", "$fd", 0, os.SEEK_SET),
         ("write", "$fd", b"XY"), ("lseek", "$fd", 0, os.SEEK_CUR), ("pwrite", "$fd", b"P", 0),
         ("fstat", "$fd")],
    creds=BOTH,
)
case(
    "open_append_rdwr_read_position",
    setup=mkfile("f", b"abc"),
    ops=[("$fd", "open", "f", RW | APPEND), ("read", "$fd", 1), ("write", "$fd", b"Z"),
         ("read", "$fd", 10), ("lseek", "$fd", 0, os.SEEK_SET), ("read", "$fd", 10)],
)
case(
    "open_append_two_fds",
    setup=mkfile("f", b""),
    ops=[("$a", "open", "f", WR | APPEND), ("$b", "open", "f", WR | APPEND),
         ("write", "$a", b"1"), ("write", "$b", b"22"), ("write", "$a", b"333"), ("close", "$a"),
         ("close", "$b")],
)
case(
    "open_trunc_wronly",
    setup=mkfile("f", b"abc", 0o666),
    ops=[("$fd", "open", "f", WR | TRUNC), ("fstat", "$fd"), ("write", "$fd", b"x")],
    creds=BOTH,
)
case(
    "open_rdonly_trunc_truncates",
    setup=mkfile("f", b"abc", 0o666),
    ops=[("$fd", "open", "f", RD | TRUNC), ("read", "$fd", 10), ("fstat", "$fd")],
    creds=BOTH,
)
case(
    "open_trunc_on_dir_and_fifo",
    setup=[*mkdir("d"), ("mkfifo", "p", 0o666)],
    ops=[("open", "d", RD | TRUNC), ("open", "d", WR | TRUNC),
         ("open", "p", RD | TRUNC | NONBLOCK), ("stat", "p")],
)
case(
    "open_excl_creat_existing",
    setup=[*mkfile("f"), *mkdir("d"), ("symlink", "f", "lf"), ("symlink", "nowhere", "dang")],
    ops=[("open", "f", WR | CREAT | EXCL, 0o644), ("open", "d", RD | CREAT | EXCL, 0o644),
         ("open", "lf", WR | CREAT | EXCL, 0o644), ("open", "dang", WR | CREAT | EXCL, 0o644),
         ("open", "new", WR | CREAT | EXCL, 0o644), ("lstat", "nowhere")],
    creds=BOTH,
)
case(
    "open_creat_excl_on_dot_and_dotdot",
    setup=mkdir("d"),
    ops=[("open", ".", WR | CREAT | EXCL, 0o644), ("open", "d/.", WR | CREAT | EXCL, 0o644),
         ("open", "d/..", RD | CREAT | EXCL, 0o644), ("open", "d/.", RD | CREAT, 0o644),
         ("open", "d/..", WR | CREAT, 0o644)],
    creds=BOTH,
)
case(
    "open_excl_without_creat_ignored",
    setup=mkfile("f", b"x"),
    ops=[("open", "f", RD | EXCL), ("open", "missing", RD | EXCL),
         ("open", "f", WR | EXCL | TRUNC), ("stat", "f")],
)
case(
    "open_creat_existing_dir",
    setup=mkdir("d"),
    ops=[("open", "d", RD | CREAT, 0o644), ("open", "d", WR | CREAT, 0o644),
         ("open", ".", RD | CREAT, 0o644)],
)
case(
    "open_creat_with_directory_einval",
    setup=mkdir("d"),
    ops=[("open", "new", RD | CREAT | DIRECTORY, 0o755),
         ("open", "d", RD | CREAT | DIRECTORY, 0o755), ("stat", "new")],
)
case(
    "open_creat_through_dangling_symlink",
    setup=[*mkdir("d", 0o777), ("symlink", "d/target", "dang")],
    ops=[("open", "dang", WR | CREAT, 0o640), ("lstat", "dang"), ("stat", "d/target")],
    creds=BOTH,
)
case(
    "open_creat_dangling_symlink_to_missing_dir",
    setup=[("symlink", "nodir/target", "dang")],
    ops=[("open", "dang", WR | CREAT, 0o640)],
)
case(
    "open_creat_nofollow_dangling",
    setup=[("symlink", "target", "dang")],
    ops=[("open", "dang", WR | CREAT | NOFOLLOW, 0o640), ("lstat", "target")],
)
case(
    "open_directory_flag",
    setup=[*mkfile("f"), *mkdir("d"), ("symlink", "d", "ld"), ("symlink", "f", "lf")],
    ops=[("open", "f", RD | DIRECTORY), ("open", "d", RD | DIRECTORY),
         ("open", "ld", RD | DIRECTORY), ("open", "lf", RD | DIRECTORY),
         ("open", "ld", RD | DIRECTORY | NOFOLLOW), ("open", "missing", RD | DIRECTORY)],
)
case(
    "open_nofollow",
    setup=[*mkfile("f", b"x"), *mkdir("d"), *mkfile("d/g"), ("symlink", "f", "lf"),
           ("symlink", "d", "ld")],
    ops=[("open", "lf", RD | NOFOLLOW), ("open", "ld/g", RD | NOFOLLOW),
         ("open", "f", RD | NOFOLLOW), ("open", "lf", WR | CREAT | NOFOLLOW, 0o644)],
    creds=BOTH,
)
case(
    "open_opath_what_works",
    setup=[*mkfile("f", b"abc", 0o000, OTHER_OWNER), *mkdir("d")],
    ops=[("$fd", "open", "f", PATH), ("fstat", "$fd"), ("$dup", "dup", "$fd"), ("fstat", "$dup"),
         ("close", "$dup"), ("close", "$fd"), ("$d", "open", "d", PATH | DIRECTORY),
         ("fstat", "$d")],
    creds=BOTH,
)
case(
    "open_opath_ebadf_ops",
    setup=mkfile("f", b"abc", 0o666),
    ops=[("$fd", "open", "f", PATH), ("read", "$fd", 1), ("write", "$fd", b"x"),
         ("pread", "$fd", 1, 0), ("pwrite", "$fd", b"x", 0), ("ftruncate", "$fd", 0),
         ("fsync", "$fd"), ("fdatasync", "$fd"), ("flock", "$fd", 2),
         ("posix_fallocate", "$fd", 0, 10), ("fallocate", "$fd", 0, 0, 10)],
)
case(
    "open_opath_dir_getdents_ebadf",
    setup=mkdir("d"),
    ops=[("$fd", "open", "d", PATH), ("getdents", "$fd"), ("listdir", "$fd")],
)
case(
    "open_opath_ignores_other_flags",
    setup=mkfile("f", b"abc"),
    ops=[("open", "new", PATH | CREAT, 0o644), ("open", "f", PATH | TRUNC), ("stat", "f"),
         ("stat", "new")],
)
case(
    "open_opath_nofollow_symlink",
    setup=[*mkfile("f", b"abc"), ("symlink", "f", "l")],
    ops=[("$fd", "open", "l", PATH | NOFOLLOW), ("fstat", "$fd"), ("read", "$fd", 1)],
)
case(
    "open_write_modes_on_dir",
    setup=mkdir("d"),
    ops=[("open", "d", WR), ("open", "d", RW), ("open", "d", RD), ("open", "d", WR | CREAT, 0o644)],
    creds=BOTH,
)
case(
    "open_accmode_3",
    setup=[*mkfile("f", b"abc", 0o644), *mkfile("g", b"abc", 0o666)],
    ops=[("$fd", "open", "f", 3), ("read", "$fd", 1), ("write", "$fd", b"x"), ("open", "g", 3)],
    creds=BOTH,
)
case(
    "open_fifo_nonblock",
    setup=[("mkfifo", "p", 0o666)],
    ops=[("open", "p", WR | NONBLOCK), ("$r", "open", "p", RD | NONBLOCK),
         ("$w", "open", "p", WR | NONBLOCK), ("write", "$w", b"hi"), ("read", "$r", 10),
         ("read", "$r", 10)],
)
case(
    "open_perm_checked_only_on_create",
    setup=mkdir("ro", 0o555),
    ops=[("open", "ro/new", WR | CREAT, 0o000), ("stat", "ro")],
    creds=BOTH,
)
case(
    "open_new_file_mode_000_is_writable_by_creator",
    ops=[("$fd", "open", "f", WR | CREAT, 0o000), ("write", "$fd", b"x"), ("open", "f", RD),
         ("stat", "f")],
    creds=BOTH,
)

# =========================================================================================
# fd semantics
# =========================================================================================

case(
    "fd_closed_ebadf",
    setup=mkfile("f", b"x"),
    ops=[("$fd", "open", "f", RD), ("close", "$fd"), ("close", "$fd"), ("read", "$fd", 1),
         ("fstat", "$fd"), ("lseek", "$fd", 0, os.SEEK_SET), ("write", 999, b"x"), ("fstat", -1),
         ("fsync", 999)],
)
case(
    "fd_dup_shares_offset",
    setup=mkfile("f", b"0123456789"),
    ops=[("$a", "open", "f", RD), ("$b", "dup", "$a"), ("read", "$a", 3), ("read", "$b", 3),
         ("lseek", "$b", 8, os.SEEK_SET), ("read", "$a", 5), ("close", "$a"), ("read", "$b", 5)],
)
case(
    "fd_separate_opens_separate_offsets",
    setup=mkfile("f", b"0123456789"),
    ops=[("$a", "open", "f", RD), ("$b", "open", "f", RD), ("read", "$a", 3), ("read", "$b", 3),
         ("$w", "open", "f", WR), ("write", "$w", b"AB"), ("read", "$a", 3), ("pread", "$b", 4, 0)],
)
case(
    "fd_read_dir_eisdir",
    setup=mkdir("d"),
    ops=[("$fd", "open", "d", RD), ("read", "$fd", 10), ("read", "$fd", 0), ("pread", "$fd", 10, 0),
         ("fstat", "$fd")],
)
case(
    "fd_write_on_rdonly_ebadf",
    setup=mkfile("f", b"abc"),
    ops=[("$fd", "open", "f", RD), ("write", "$fd", b"x"), ("pwrite", "$fd", b"x", 0),
         ("posix_fallocate", "$fd", 0, 10), ("fallocate", "$fd", 0, 0, 10), ("stat", "f")],
)
case(
    "fd_read_on_wronly_ebadf",
    setup=mkfile("f", b"abc"),
    ops=[("$fd", "open", "f", WR), ("read", "$fd", 1), ("pread", "$fd", 1, 0), ("getdents", "$fd")],
)
case(
    "fd_ftruncate_rules",
    setup=[*mkfile("f", b"abc"), *mkdir("d")],
    ops=[("$r", "open", "f", RD), ("ftruncate", "$r", 0), ("$w", "open", "f", WR),
         ("ftruncate", "$w", -1), ("ftruncate", "$w", 1), ("$d", "open", "d", RD),
         ("ftruncate", "$d", 0), ("stat", "f")],
)
case(
    "fd_negative_offsets",
    setup=mkfile("f", b"abc"),
    ops=[("$fd", "open", "f", RW), ("pread", "$fd", 1, -1), ("pwrite", "$fd", b"x", -1),
         ("posix_fallocate", "$fd", -1, 10), ("posix_fallocate", "$fd", 0, 0),
         ("fallocate", "$fd", 0, 0, 0), ("fallocate", "$fd", 0, -1, 5), ("read", "$fd", -1)],
)
case(
    "fd_read_past_eof_and_count_zero",
    setup=mkfile("f", b"abc"),
    ops=[("$fd", "open", "f", RD), ("read", "$fd", 0), ("pread", "$fd", 10, 100),
         ("read", "$fd", 100), ("read", "$fd", 100)],
)
case(
    "fd_pwrite_past_eof_fills_zeros",
    setup=mkfile("f", b"ab"),
    ops=[("$fd", "open", "f", RW), ("pwrite", "$fd", b"Z", 6), ("pread", "$fd", 10, 0),
         ("lseek", "$fd", 0, os.SEEK_CUR), ("fstat", "$fd")],
)
case(
    "fd_write_after_seek_past_eof",
    setup=mkfile("f", b"ab"),
    ops=[("$fd", "open", "f", WR), ("lseek", "$fd", 5, os.SEEK_SET), ("write", "$fd", b"Z"),
         ("fstat", "$fd")],
)
case(
    "fd_fsync_on_readonly_ok",
    setup=[*mkfile("f", b"x"), *mkdir("d")],
    ops=[("$fd", "open", "f", RD), ("fsync", "$fd"), ("fdatasync", "$fd"),
         ("$d", "open", "d", RD), ("fsync", "$d")],
)
case(
    "fd_survives_rename_and_chmod",
    setup=mkfile("f", b"abc", 0o644, USER),
    ops=[("$fd", "open", "f", RW), ("rename", "f", "g"), ("chmod", "g", 0o000),
         ("write", "$fd", b"X"), ("pread", "$fd", 3, 0), ("fstat", "$fd")],
    creds=BOTH,
)
case(
    "fd_copy_file_range",
    setup=[*mkfile("src", b"0123456789"), *mkfile("dst", b"abc")],
    ops=[("$s", "open", "src", RD), ("$d", "open", "dst", WR), ("copy_file_range", "$s", "$d", 4),
         ("copy_file_range", "$s", "$d", 100, 8, 1), ("copy_file_range", "$s", "$d", 5),
         ("lseek", "$s", 0, os.SEEK_CUR), ("lseek", "$d", 0, os.SEEK_CUR)],
)
case(
    "fd_copy_file_range_bad_fds",
    setup=[*mkfile("src", b"0123456789"), *mkdir("d")],
    ops=[("$s", "open", "src", RD), ("$w", "open", "src", WR), ("$r2", "open", "src", RD),
         ("copy_file_range", "$w", "$s", 4), ("copy_file_range", "$s", "$r2", 4),
         ("copy_file_range", "$s", "$w", 4, 0, 2), ("$d", "open", "d", RD),
         ("copy_file_range", "$d", "$w", 4)],
)
case(
    "fd_posix_fallocate_extends",
    setup=mkfile("f", b"abc"),
    ops=[("$fd", "open", "f", RW), ("posix_fallocate", "$fd", 0, 2), ("fstat", "$fd"),
         ("posix_fallocate", "$fd", 5, 5), ("fstat", "$fd"), ("pread", "$fd", 20, 0)],
)
case(
    "fd_fallocate_modes",
    setup=mkfile("f", b"abcdef"),
    ops=[("$fd", "open", "f", RW), ("fallocate", "$fd", FALLOC_FL_KEEP_SIZE, 0, 100),
         ("fstat", "$fd"), ("fallocate", "$fd", FALLOC_FL_PUNCH_HOLE, 0, 2),
         ("fallocate", "$fd", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1, 2),
         ("pread", "$fd", 10, 0), ("fallocate", "$fd", FALLOC_FL_ZERO_RANGE, 0, 2),
         ("fallocate", "$fd", 0x100, 0, 2), ("fallocate", "$fd", 0, 0, 10), ("fstat", "$fd")],
)
case(
    "fd_flock_conflicts",
    setup=mkfile("f"),
    ops=[("$a", "open", "f", RD), ("$b", "open", "f", RD), ("flock", "$a", 2),
         ("flock", "$b", 2 | 4), ("flock", "$b", 1 | 4), ("$c", "dup", "$a"),
         ("flock", "$c", 2 | 4), ("flock", "$a", 8), ("flock", "$b", 2 | 4)],
)
case(
    "fd_flock_shared",
    setup=mkfile("f"),
    ops=[("$a", "open", "f", RD), ("$b", "open", "f", RD), ("flock", "$a", 1),
         ("flock", "$b", 1 | 4), ("flock", "$a", 2 | 4), ("close", "$b"), ("flock", "$a", 2 | 4)],
)
case(
    "fd_flock_invalid",
    setup=mkfile("f"),
    ops=[("$a", "open", "f", RD), ("flock", "$a", 0), ("flock", "$a", 3), ("flock", "$a", 4),
         ("flock", 999, 2), ("flock", "$a", 8)],
)
case(
    "fd_flock_released_on_close",
    setup=mkfile("f", b"", 0o666),
    ops=[("$a", "open", "f", RD), ("flock", "$a", 2 | 4), ("close", "$a"),
         ("$b", "open", "f", WR), ("flock", "$b", 1)],
    creds=BOTH,
)
case(
    "fd_getdents_entries",
    setup=[*mkdir("d"), *mkfile("d/f"), *mkdir("d/s"), ("symlink", "f", "d/l"),
           ("mkfifo", "d/p", 0o644)],
    ops=[("$fd", "open", "d", RD | DIRECTORY), ("getdents", "$fd"), ("getdents", "$fd"),
         ("stat", "d"), ("stat", "d/s"), ("stat", "d/f")],
)
case(
    "fd_getdents_on_file",
    setup=mkfile("f"),
    ops=[("$fd", "open", "f", RD), ("getdents", "$fd"), ("getdents", 999)],
)
case(
    "fd_getdents_small_buffers",
    setup=[*mkdir("d"), *mkfile("d/a"), *mkfile("d/" + "b" * 40)],
    ops=[("$fd", "open", "d", RD | DIRECTORY), ("getdents", "$fd", 0), ("getdents", "$fd", 23),
         ("getdents", "$fd", 24), ("getdents", "$fd", 47), ("getdents", "$fd", 24),
         ("getdents", "$fd", 10), ("getdents", "$fd", 1000), ("getdents", "$fd", 1000),
         ("getdents", "$fd", 0), ("lseek", "$fd", 0, os.SEEK_SET), ("getdents", "$fd", 48),
         ("getdents", "$fd")],
)
case(
    "fd_listdir_and_scandir_by_fd",
    setup=[*mkdir("d"), *mkfile("d/f"), ("symlink", "f", "d/l")],
    ops=[("$fd", "open", "d", RD), ("listdir", "$fd"), ("scandir", "d"), ("listdir", "d"),
         ("listdir", ".")],
)
case(
    "fd_listdir_errors",
    setup=[*mkfile("f"), ("symlink", "nowhere", "dang")],
    ops=[("listdir", "f"), ("listdir", "missing"), ("listdir", "dang"), ("scandir", "f")],
)
case(
    "fd_write_then_read_same_fd",
    ops=[("$fd", "open", "f", RW | CREAT, 0o644), ("write", "$fd", b"hello world"),
         ("read", "$fd", 5), ("lseek", "$fd", -5, os.SEEK_END), ("read", "$fd", 5),
         ("pread", "$fd", 5, 0)],
    creds=BOTH,
)

# =========================================================================================
# rename (fs/namei.c do_renameat2, vfs_rename)
# =========================================================================================

case(
    "rename_file_basic",
    setup=mkfile("a", b"A"),
    ops=[("rename", "a", "b"), ("listdir", "."), ("stat", "b")],
    creds=BOTH,
)
case(
    "rename_file_over_file",
    setup=[*mkfile("a", b"A"), *mkfile("b", b"B")],
    ops=[("rename", "a", "b"), ("listdir", "."), ("stat", "b")],
    creds=BOTH,
)
case(
    "rename_dir_over_empty_dir",
    setup=[*mkdir("a"), *mkfile("a/x"), *mkdir("b")],
    ops=[("rename", "a", "b"), ("listdir", "."), ("listdir", "b")],
)
case(
    "rename_dir_over_nonempty_dir",
    setup=[*mkdir("a"), *mkdir("b"), *mkfile("b/x")],
    ops=[("rename", "a", "b"), ("replace", "a", "b")],
    creds=BOTH,
)
case(
    "rename_dir_over_file_enotdir",
    setup=[*mkdir("a"), *mkfile("b")],
    ops=[("rename", "a", "b")],
)
case(
    "rename_file_over_dir_eisdir",
    setup=[*mkfile("a"), *mkdir("b")],
    ops=[("rename", "a", "b"), ("rename", "a", "b/")],
)
case(
    "rename_into_own_subdir_einval",
    setup=[*mkdir("a"), *mkdir("a/b")],
    ops=[("rename", "a", "a/b/c"), ("rename", "a", "a/c"), ("rename", "a/b", "a/b/x")],
)
case(
    "rename_onto_own_ancestor",
    setup=[*mkdir("a"), *mkdir("a/b")],
    ops=[("rename", "a/b", "a"), ("rename", "a/b", "."),
         ("renameat2", "a/b", "a", RENAME_EXCHANGE)],
)
case(
    "rename_dot_and_dotdot_ebusy",
    setup=[*mkdir("d"), *mkdir("d/s")],
    ops=[("rename", "d/.", "e"), ("rename", "d/..", "e"), ("rename", ".", "e"),
         ("rename", "d/s", "d/."), ("rename", "d/s", "d/.."), ("rename", "d/s/", ".")],
)
case(
    "rename_same_inode_noop",
    setup=[*mkfile("a", b"A"), ("link", "a", "b")],
    ops=[("rename", "a", "b"), ("listdir", "."), ("stat", "a"), ("rename", "a", "a"),
         ("renameat2", "a", "b", RENAME_NOREPLACE)],
)
case(
    "rename_dir_to_itself",
    setup=mkdir("d"),
    ops=[("rename", "d", "d"), ("rename", "d", "./d/"), ("listdir", ".")],
)
case(
    "rename_missing_source_and_dest_dir",
    setup=mkfile("a"),
    ops=[("rename", "missing", "b"), ("rename", "a", "nodir/b"), ("rename", "missing", "nodir/b"),
         ("listdir", ".")],
)
case(
    "rename_dest_parent_is_file",
    setup=[*mkfile("a"), *mkfile("f")],
    ops=[("rename", "a", "f/b")],
)
case(
    "rename_symlink_moves_link",
    setup=[*mkfile("f"), *mkdir("d"), ("symlink", "f", "l")],
    ops=[("rename", "l", "d/l"), ("lstat", "d/l"), ("stat", "d/l"), ("readlink", "d/l")],
)
case(
    "rename_over_symlink_replaces_link",
    setup=[*mkfile("a", b"A"), *mkfile("f", b"F"), ("symlink", "f", "l")],
    ops=[("rename", "a", "l"), ("lstat", "l"), ("stat", "f")],
)
case(
    "rename_dir_over_symlink_to_dir",
    setup=[*mkdir("a"), *mkdir("d"), ("symlink", "d", "ld")],
    ops=[("rename", "a", "ld"), ("lstat", "ld"), ("stat", "d")],
)
case(
    "rename_needs_write_on_both_parents",
    setup=[*mkdir("src", 0o755), *mkdir("dst", 0o777), *mkfile("src/f", b"", 0o666, USER),
           *mkdir("src2", 0o777), *mkdir("dst2", 0o555), *mkfile("src2/f", b"", 0o666, USER)],
    ops=[("rename", "src/f", "dst/f"), ("rename", "src2/f", "dst2/f")],
    creds=BOTH,
)
case(
    "rename_renameat2_noreplace",
    setup=[*mkfile("a", b"A"), *mkfile("b", b"B"), *mkdir("d"), ("symlink", "x", "dang")],
    ops=[("renameat2", "a", "b", RENAME_NOREPLACE), ("renameat2", "a", "dang", RENAME_NOREPLACE),
         ("renameat2", "a", "d", RENAME_NOREPLACE), ("renameat2", "a", "c", RENAME_NOREPLACE),
         ("listdir", ".")],
    creds=BOTH,
)
case(
    "rename_renameat2_exchange_file_and_dir",
    setup=[*mkfile("a", b"A"), *mkdir("d"), *mkfile("d/x")],
    ops=[("renameat2", "a", "d", RENAME_EXCHANGE), ("stat", "a"), ("stat", "d"), ("listdir", "a")],
    creds=BOTH,
)
case(
    "rename_renameat2_exchange_across_dirs",
    setup=[*mkdir("p"), *mkdir("q"), *mkdir("p/s"), *mkfile("q/f", b"F")],
    ops=[("renameat2", "p/s", "q/f", RENAME_EXCHANGE), ("stat", "p"), ("stat", "q"),
         ("stat", "q/f"), ("stat", "p/s"), ("stat", "q/f/..")],
)
case(
    "rename_renameat2_exchange_missing",
    setup=mkfile("a"),
    ops=[("renameat2", "a", "b", RENAME_EXCHANGE), ("renameat2", "b", "a", RENAME_EXCHANGE)],
)
case(
    "rename_renameat2_bad_flags",
    setup=[*mkfile("a"), *mkfile("b")],
    ops=[("renameat2", "a", "b", RENAME_EXCHANGE | RENAME_NOREPLACE),
         ("renameat2", "a", "b", 8 | 16), ("renameat2", "a", "c", 0x100), ("listdir", ".")],
)
case(
    "rename_renameat2_exchange_into_own_subdir",
    setup=[*mkdir("a"), *mkdir("a/b")],
    ops=[("renameat2", "a", "a/b", RENAME_EXCHANGE)],
)
case(
    "rename_renameat2_exchange_same",
    setup=[*mkfile("a"), ("link", "a", "b")],
    ops=[("renameat2", "a", "a", RENAME_EXCHANGE), ("renameat2", "a", "b", RENAME_EXCHANGE),
         ("listdir", ".")],
)
case(
    "rename_replace_alias",
    setup=[*mkfile("a", b"A"), *mkfile("b", b"B")],
    ops=[("replace", "a", "b"), ("replace", "missing", "b"), ("listdir", ".")],
)
case(
    "rename_open_fd_follows_file",
    setup=mkfile("a", b"A"),
    ops=[("$fd", "open", "a", RW), ("rename", "a", "b"), ("write", "$fd", b"Z"), ("fstat", "$fd")],
)
case(
    "rename_dir_with_open_cwd",
    setup=[*mkdir("d"), *mkdir("d/s")],
    ops=[("chdir", "d/s"), ("rename", "../../d", "../../e"), ("getcwd",), ("stat", "."),
         ("listdir", "../..")],
    creds=BOTH,
)

# =========================================================================================
# rmdir / unlink (fs/namei.c do_rmdir, do_unlinkat)
# =========================================================================================

case(
    "rmdir_dot_einval",
    setup=mkdir("d"),
    ops=[("rmdir", "d/."), ("rmdir", "."), ("listdir", ".")],
)
case(
    "rmdir_dotdot_enotempty",
    setup=[*mkdir("d"), *mkdir("d/s")],
    ops=[("rmdir", "d/s/.."), ("rmdir", "d/..")],
)
case(
    "rmdir_missing_dotdot_enoent",
    ops=[("rmdir", "missing/.."), ("rmdir", "missing/."), ("listdir", ".")],
)
case(
    "rmdir_symlinks_enotdir",
    setup=[*mkdir("d"), ("symlink", "d", "ld"), ("symlink", "nowhere", "dang")],
    ops=[("rmdir", "dang"), ("rmdir", "ld"), ("rmdir", "ld/"), ("listdir", ".")],
)
case(
    "rmdir_file_and_missing",
    setup=mkfile("f"),
    ops=[("rmdir", "f"), ("rmdir", "missing")],
)
case(
    "rmdir_nonempty",
    setup=[*mkdir("d"), *mkfile("d/f"), *mkdir("e"), ("symlink", "x", "e/dang")],
    ops=[("rmdir", "d"), ("rmdir", "e"), ("unlink", "e/dang"), ("rmdir", "e")],
    creds=BOTH,
)
case(
    "rmdir_own_cwd",
    setup=mkdir("d"),
    ops=[("chdir", "d"), ("rmdir", "../d"), ("stat", "."), ("listdir", "."), ("rmdir", ".")],
)
case(
    "rmdir_needs_parent_write",
    setup=[*mkdir("p", 0o555), *mkdir("p/d", 0o777, USER)],
    ops=[("rmdir", "p/d")],
    creds=BOTH,
)
case(
    "unlink_dir_eisdir",
    setup=mkdir("d"),
    ops=[("unlink", "d"), ("remove", "d"), ("unlink", "."), ("unlink", "d/."), ("unlink", "d/..")],
    creds=BOTH,
)
case(
    "unlink_symlink_removes_link_only",
    setup=[*mkfile("f"), *mkdir("d"), ("symlink", "f", "lf"), ("symlink", "d", "ld")],
    ops=[("unlink", "lf"), ("unlink", "ld"), ("listdir", "."), ("stat", "f")],
)
case(
    "unlink_special_files",
    setup=[("mkfifo", "p"), ("mknod", "c", stat.S_IFCHR | 0o600, os.makedev(1, 3))],
    ops=[("unlink", "p"), ("remove", "c"), ("unlink", "p"), ("listdir", ".")],
)
case(
    "unlink_missing",
    ops=[("unlink", "missing"), ("remove", "missing")],
)

# =========================================================================================
# mknod / mkfifo
# =========================================================================================

case(
    "mknod_regular_and_default",
    ops=[("mknod", "r", stat.S_IFREG | 0o640), ("mknod", "z"), ("mknod", "m", 0o600),
         ("stat", "r"), ("stat", "z"), ("stat", "m")],
    creds=BOTH,
)
case(
    "mknod_dir_type_eperm",
    ops=[("mknod", "d", stat.S_IFDIR | 0o755), ("mknod", "x", 0o170000 | 0o644)],
    creds=BOTH,
)
case(
    "mknod_existing_eexist",
    setup=[*mkfile("f"), ("symlink", "nowhere", "dang")],
    ops=[("mknod", "f", stat.S_IFIFO | 0o644), ("mkfifo", "f"), ("mkfifo", "dang")],
    creds=BOTH,
)
case(
    "mknod_char_dev_rdev_root",
    ops=[("mknod", "c", stat.S_IFCHR | 0o600, os.makedev(10, 200)), ("stat", "c"),
         ("mknod", "b", stat.S_IFBLK | 0o600, os.makedev(8, 1)), ("lstat", "b")],
)
case(
    "mkfifo_modes",
    ops=[("mkfifo", "p"), ("mkfifo", "q", 0o777), ("stat", "p"), ("stat", "q")],
    creds=BOTH,
    umask=0o002,
)

# =========================================================================================
# truncate
# =========================================================================================

case(
    "truncate_negative_einval",
    setup=mkfile("f", b"abc"),
    ops=[("truncate", "f", -1), ("stat", "f")],
    creds=BOTH,
)
case(
    "truncate_negative_checked_before_lookup",
    setup=[*mkfile("f"), *mkdir("d")],
    ops=[("truncate", "missing", -1), ("truncate", "d", -1), ("truncate", N256, -1),
         ("truncate", "f/x", -1), ("truncate", "", -1)],
    creds=BOTH,
)
case(
    "truncate_extend_and_shrink",
    setup=mkfile("f", b"abcdef", 0o666),
    ops=[("truncate", "f", 10), ("stat", "f"), ("truncate", "f", 2), ("stat", "f"),
         ("truncate", "f", 0)],
    creds=BOTH,
)
case(
    "truncate_on_dir_fifo_missing",
    setup=[*mkdir("d"), ("mkfifo", "p", 0o666), ("symlink", "nowhere", "dang")],
    ops=[("truncate", "d", 0), ("truncate", "p", 0), ("truncate", "missing", 0),
         ("truncate", "dang", 0)],
)
case(
    "truncate_through_symlink",
    setup=[*mkfile("f", b"abcdef"), ("symlink", "f", "l")],
    ops=[("truncate", "l", 2), ("stat", "f"), ("lstat", "l")],
)
case(
    "truncate_needs_write",
    setup=[*mkfile("ro", b"abc", 0o444, USER), *mkfile("theirs", b"abc", 0o644, OTHER_OWNER)],
    ops=[("truncate", "ro", 0), ("truncate", "theirs", 0)],
    creds=BOTH,
)
case(
    "truncate_by_fd",
    setup=mkfile("f", b"abc"),
    ops=[("$fd", "open", "f", WR), ("truncate", "$fd", 1), ("stat", "f"), ("$r", "open", "f", RD),
         ("truncate", "$r", 0)],
)

# =========================================================================================
# statvfs, access and misc
# =========================================================================================

case(
    "statvfs_relations",
    setup=[*mkfile("f"), *mkdir("d")],
    ops=[("statvfs", "."), ("statvfs", "f"), ("statvfs", "d")],
    creds=BOTH,
)
case(
    "statvfs_errors",
    setup=[*mkfile("f"), ("symlink", "nowhere", "dang")],
    ops=[("statvfs", "missing"), ("statvfs", "f/"), ("statvfs", "dang"), ("statvfs", "")],
)
case(
    "access_effective_dirs",
    setup=[*mkdir("d", 0o700, OTHER_OWNER), *mkdir("e", 0o555)],
    ops=[("access", "d", os.R_OK), ("access", "d", os.X_OK), ("access", "e", os.W_OK),
         ("access", "e", os.X_OK)],
    creds=BOTH,
)
case(
    "readlink_errors",
    setup=[*mkfile("f"), *mkdir("d"), ("symlink", "d", "ld"), ("symlink", "f", "lf")],
    ops=[("readlink", "f"), ("readlink", "d"), ("readlink", "missing"), ("readlink", "ld/"),
         ("readlink", "lf/"), ("readlink", "ld")],
)
case(
    "symlink_existing_eexist",
    setup=[*mkfile("f"), *mkdir("d"), ("symlink", "nowhere", "dang")],
    ops=[("symlink", "x", "f"), ("symlink", "x", "d"), ("symlink", "x", "dang"),
         ("symlink", "x", "."), ("symlink", "x", "d/.."), ("symlink", "x", "d/")],
)
case(
    "symlink_lstat_size_and_mode",
    ops=[("symlink", "abcdef", "l"), ("lstat", "l"), ("symlink", N255, "m"), ("lstat", "m"),
         ("readlink", "m")],
    creds=BOTH,
    umask=0o077,
)
case(
    "mkdir_existing_eexist",
    setup=[*mkfile("f"), *mkdir("d"), ("symlink", "nowhere", "dang"), ("symlink", "d", "ld")],
    ops=[("mkdir", "f"), ("mkdir", "d"), ("mkdir", "dang"), ("mkdir", "ld"), ("mkdir", "."),
         ("mkdir", "d/.."), ("lstat", "nowhere")],
)
case(
    "link_errors",
    setup=[*mkfile("f"), *mkdir("d"), ("symlink", "nowhere", "dang")],
    ops=[("link", "missing", "x"), ("link", "f", "d"), ("link", "f", "f"),
         ("link", "missing", "f"), ("link", "f", "nodir/x"), ("link", "dang", "x"), ("lstat", "x")],
)
case(
    "link_to_symlink_links_the_symlink",
    setup=[*mkfile("f"), ("symlink", "f", "l")],
    ops=[("link", "l", "l2"), ("lstat", "l2"), ("lstat", "l")],
)
case(
    "write_large_and_read_back",
    ops=[("$fd", "open", "f", RW | CREAT, 0o644), ("write", "$fd", b"0123456789abcdef" * 1024),
         ("pread", "$fd", 16, 8192), ("fstat", "$fd"), ("pwrite", "$fd", b"Z" * 100, 16380),
         ("pread", "$fd", 10, 16378)],
)
case(
    "chmod_special_bits_dir",
    setup=mkdir("d"),
    ops=[("chmod", "d", 0o7777), ("stat", "d"), ("chmod", "d", 0o1700), ("stat", "d")],
    creds=BOTH,
)
case(
    "chown_dir_by_root_keeps_sgid",
    setup=mkdir("d", 0o2775),
    ops=[("chown", "d", OTHER, OTHER), ("stat", "d")],
)
case(
    "chown_errors",
    setup=[*mkfile("f"), ("symlink", "nowhere", "dang")],
    ops=[("chown", "missing", 0, 0), ("chown", "dang", 0, 0),
         ("chown", "dang", OTHER, OTHER, NOFOLLOW_KW), ("lstat", "dang")],
)


# fmt: on


# --- validation ------------------------------------------------------------------------------


def validate(c: Case) -> list[str]:
    """Problems with a case: unknown ops, paths whose running depth goes below 0, bad creds."""
    problems: list[str] = []
    if not c.ops:
        problems.append("no ops")
    if not set(c.creds) <= {"root", "user"}:
        problems.append(f"unknown creds {c.creds}")
    for phase, ops in (("setup", c.setup), ("ops", c.ops)):
        cwd = 0
        for op in ops:
            call = parse(op)
            if call.name not in ALLOWED_OPS:
                problems.append(f"{phase}: {call.name} is not in the vocabulary")
            for path in iter_paths(call):
                if path.startswith("/"):
                    problems.append(f"{phase}: absolute path {path!r}")
                elif path_depth(path, cwd) < 0:
                    problems.append(f"{phase}: {path!r} leaves the test dir (cwd depth {cwd})")
            if call.name == "symlink" and len(call.args) == 2:
                link_dir = final_depth(os.path.dirname(call.args[1]), cwd)
                tgt = call.args[0]
                if isinstance(tgt, str) and (tgt.startswith("/") or path_depth(tgt, link_dir) < 0):
                    problems.append(f"{phase}: symlink target {tgt!r} leaves the test dir")
            if call.name == "chdir" and call.args and isinstance(call.args[0], str):
                cwd = final_depth(call.args[0], cwd)
    return problems


def case_ids() -> list[tuple[Case, str]]:
    """Every (case, credential) pair, in table order."""
    return [(c, cred) for c in CASES.values() for cred in c.creds]
