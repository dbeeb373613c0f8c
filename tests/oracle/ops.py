"""The operation vocabulary shared by the real-Linux runner and the simfs runner.

An operation is plain data: a tuple ``(name, *args)`` whose name is an ``os`` function (or one
of the Linux extras of ``simfs.Process``: ``renameat2``, ``fallocate``, ``flock``, ``getdents``)
and whose args are what ``os`` takes. A trailing ``dict`` holds keyword arguments. A tuple whose
first item starts with ``$`` binds the result: ``("$f", "open", "a", os.O_RDONLY)`` stores the
fd, and a later ``("read", "$f", 10)`` uses it. Bindings belong to one process.

This module holds the code that runs *inside* a process of either world: :func:`execute` calls
one operation on an ``os``-like object and turns the outcome into picklable raw data
(``("ok", value)``, ``("err", "ENOENT")`` or ``("exc", "ValueError")``), and
:func:`take_snapshot` walks a tree with the same calls. Turning raw data into comparable data
(inode labels, timestamp relations) is :mod:`.compare`'s job, done once per world.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Op = tuple[Any, ...]
"""``(name, *args[, kwargs])`` or ``("$binding", name, *args[, kwargs])``."""

Raw = tuple[str, Any]
"""``("ok", value)``, ``("err", "ENOENT")`` or ``("exc", "ValueError")``."""

RawSnapshot = list[tuple[str, dict[str, Any]]]
"""``[(path relative to the top, {"stat": raw stat, ...}), ...]`` in walk order."""


@dataclass(frozen=True)
class Cred:
    """The credentials a process runs with (real, effective and fs ids are all equal)."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    def label(self) -> str:
        return "root" if self.uid == 0 else f"uid{self.uid}"


ROOT = Cred(0, 0, ())
USER = Cred(1000, 1000, (1000,))
USER_UID = 1000
USER_GID = 1000


@dataclass(frozen=True)
class Call:
    """One parsed operation: optional binding, name, positional and keyword args."""

    bind: str | None
    name: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def parse(op: Op) -> Call:
    """Split an op tuple into its parts (see the module docstring for the format)."""
    if not op or not isinstance(op[0], str):
        raise ValueError(f"an op is a tuple starting with its name, not {op!r}")
    bind: str | None = None
    if op[0].startswith("$"):
        bind, op = op[0], op[1:]
    name, rest = op[0], op[1:]
    kwargs: Mapping[str, Any] = {}
    if rest and isinstance(rest[-1], dict):
        kwargs, rest = rest[-1], rest[:-1]
    return Call(bind, name, tuple(rest), kwargs)


def render(op: Op) -> str:
    """A readable one-line form of an op, e.g. ``$f = open('a', O_RDONLY|O_CREAT, 0o644)``."""
    call = parse(op)
    parts = [_render_arg(call.name, i, a) for i, a in enumerate(call.args)]
    parts += [f"{k}={_render_arg(call.name, -1, v)}" for k, v in call.kwargs.items()]
    text = f"{call.name}({', '.join(parts)})"
    return f"{call.bind} = {text}" if call.bind else text


_OPEN_FLAGS = [
    (os.O_WRONLY, "O_WRONLY"),
    (os.O_RDWR, "O_RDWR"),
    (os.O_CREAT, "O_CREAT"),
    (os.O_EXCL, "O_EXCL"),
    (os.O_TRUNC, "O_TRUNC"),
    (os.O_APPEND, "O_APPEND"),
    (os.O_NONBLOCK, "O_NONBLOCK"),
    (os.O_DIRECTORY, "O_DIRECTORY"),
    (os.O_NOFOLLOW, "O_NOFOLLOW"),
    (os.O_PATH, "O_PATH"),
    (os.O_NOATIME, "O_NOATIME"),
    (os.O_CLOEXEC, "O_CLOEXEC"),
]


_MODE_ARG: dict[int, tuple[str, ...]] = {
    1: ("chmod", "mkdir", "mknod", "mkfifo", "fchmod"),
    2: ("open",),
}
"""Argument positions shown in octal: the mode of each op that takes one."""


def _render_arg(name: str, index: int, value: Any) -> str:
    if name == "open" and index == 1 and isinstance(value, int):
        names = [n for bit, n in _OPEN_FLAGS if value & bit]
        rest = value & ~sum(bit for bit, _ in _OPEN_FLAGS)
        names += [hex(rest)] if rest else []
        return "|".join(names) or "O_RDONLY"
    if isinstance(value, int) and name in _MODE_ARG.get(index, ()):
        return oct(value)
    if isinstance(value, str | bytes) and len(value) > 40:
        return f"{value[:12]!r}...<{len(value)}>"
    return repr(value)


# --- running one op ------------------------------------------------------------------------


def errno_name(exc: OSError) -> str:
    """``ENOENT`` for an ``OSError(ENOENT)``; marks a class that ``os`` would not raise."""
    code = exc.errno
    name = errno.errorcode.get(code, str(code)) if code is not None else "None"
    expected = type(OSError(code, "x")) if code is not None else OSError
    return name if isinstance(exc, expected) else f"{name}!{type(exc).__name__}"


def execute(osl: Any, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Raw:
    """Call ``osl.<name>(*args, **kwargs)`` and return the outcome as picklable raw data.

    ``osl`` is the ``os`` module (through :class:`realfs.RealOs`) or a ``simfs.Process``.
    An ``OSError`` becomes ``("err", errno name)``; ``ValueError``/``TypeError`` (what ``os``
    raises before the syscall) become ``("exc", class name)``; anything else becomes
    ``("exc", "Class: message")`` so an unexpected simulator exception reads as a mismatch.
    """
    try:
        value = getattr(osl, name)(*args, **kwargs)
        return ("ok", to_raw(name, value))
    except OSError as exc:
        return ("err", errno_name(exc))
    except (ValueError, TypeError, OverflowError) as exc:
        return ("exc", type(exc).__name__)
    except Exception as exc:  # a simulator bug must read as a mismatch, not crash the run
        return ("exc", f"{type(exc).__name__}: {exc}")


def raw_stat(st: Any) -> dict[str, int]:
    """The fields of an ``os.stat_result`` that the comparison may use."""
    return {
        "mode": st.st_mode,
        "ino": st.st_ino,
        "nlink": st.st_nlink,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": st.st_size,
        "rdev": getattr(st, "st_rdev", 0),
        "atime_ns": st.st_atime_ns,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
    }


_STATVFS_FIELDS = (
    "f_bsize",
    "f_frsize",
    "f_blocks",
    "f_bfree",
    "f_bavail",
    "f_files",
    "f_ffree",
    "f_favail",
    "f_flag",
    "f_namemax",
)


def _dirent(entry: Any) -> tuple[str, int, int]:
    """``(name, d_ino, d_type)`` from a ``getdents`` entry (object or tuple)."""
    if isinstance(entry, tuple):
        name, d_ino, d_type = entry[0], entry[1], entry[2]
    else:
        name, d_ino, d_type = entry.name, entry.d_ino, entry.d_type
    return (os.fsdecode(name), int(d_ino), int(d_type))


def _scandir_entry(entry: Any) -> tuple[str, str, int]:
    if entry.is_symlink():
        kind = "lnk"
    elif entry.is_dir(follow_symlinks=False):
        kind = "dir"
    elif entry.is_file(follow_symlinks=False):
        kind = "reg"
    else:
        kind = "other"
    return (entry.name, kind, entry.inode())


def to_raw(name: str, value: Any) -> Any:
    """Convert a return value into picklable data (iterators are consumed here)."""
    if name in ("stat", "lstat", "fstat"):
        return raw_stat(value)
    if name in ("statvfs", "fstatvfs"):
        return {f: getattr(value, f) for f in _STATVFS_FIELDS}
    if name == "scandir":
        entries = list(value)
        close: Callable[[], None] | None = getattr(value, "close", None)
        if close is not None:
            close()
        return [_scandir_entry(e) for e in entries]
    if name == "getdents":
        return [_dirent(e) for e in value]
    if isinstance(value, list):
        return list(value)
    return value


# --- the final tree ------------------------------------------------------------------------

BIG_FILE = 1 << 16


def take_snapshot(osl: Any, top: str) -> RawSnapshot:
    """Walk ``top`` without following symlinks and record what the comparison needs.

    Runs inside a root process of either world, using only ``os``-compatible calls: lstat,
    listdir, open/read/close, readlink and the xattr calls (``user.*`` values are kept). Any
    failure is recorded in the entry rather than raised, so a broken call shows as a diff.
    """
    out: RawSnapshot = []

    def guard(entry: dict[str, Any], key: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except OSError as exc:
            entry[key] = ("err", errno_name(exc))
        except Exception as exc:
            entry[key] = ("exc", f"{type(exc).__name__}: {exc}")
        return None

    def read_all(path: str) -> bytes:
        fd = osl.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            chunks = []
            while chunk := osl.read(fd, BIG_FILE):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            osl.close(fd)

    def xattrs(path: str) -> dict[str, bytes]:
        names = osl.listxattr(path, follow_symlinks=False)
        return {
            n: osl.getxattr(path, n, follow_symlinks=False)
            for n in sorted(names)
            if n.startswith("user.")
        }

    def visit(rel: str, path: str) -> None:
        entry: dict[str, Any] = {}
        st = guard(entry, "stat", lambda: osl.lstat(path))
        out.append((rel, entry))
        if st is None:
            return
        entry["stat"] = raw_stat(st)
        found = guard(entry, "xattrs", lambda: xattrs(path))
        if found is not None:
            entry["xattrs"] = found
        if stat.S_ISREG(st.st_mode):
            data = guard(entry, "data", lambda: read_all(path))
            if data is not None:
                entry["data"] = data
        elif stat.S_ISLNK(st.st_mode):
            link = guard(entry, "target", lambda: osl.readlink(path))
            if link is not None:
                entry["target"] = link
        elif stat.S_ISDIR(st.st_mode):
            names = guard(entry, "children", lambda: sorted(osl.listdir(path)))
            for child in names or ():
                visit(child if rel == "." else f"{rel}/{child}", f"{path}/{child}")

    visit(".", top)
    return out


def path_depth(path: str, start: int = 0) -> int:
    """The lowest running depth of a relative path's components (``a/../..`` gives -1)."""
    depth = low = start
    for part in path.split("/"):
        if part in ("", "."):
            continue
        depth += -1 if part == ".." else 1
        low = min(low, depth)
    return low


def final_depth(path: str, start: int = 0) -> int:
    depth = start
    for part in path.split("/"):
        if part in ("", "."):
            continue
        depth += -1 if part == ".." else 1
    return depth


def iter_paths(call: Call) -> Iterable[str]:
    """The path arguments of an op (strings only; fds and symlink targets are skipped)."""
    for index in PATH_ARGS.get(call.name, ()):
        if index < len(call.args) and isinstance(call.args[index], str):
            yield call.args[index]


PATH_ARGS: dict[str, tuple[int, ...]] = {
    name: (0,)
    for name in [
        "open",
        "stat",
        "lstat",
        "mkdir",
        "rmdir",
        "unlink",
        "remove",
        "chmod",
        "chown",
        "lchown",
        "truncate",
        "utime",
        "listdir",
        "scandir",
        "access",
        "statvfs",
        "getxattr",
        "setxattr",
        "listxattr",
        "removexattr",
        "mknod",
        "mkfifo",
        "chdir",
        "readlink",
    ]
}
PATH_ARGS.update({"rename": (0, 1), "replace": (0, 1), "link": (0, 1), "renameat2": (0, 1)})
PATH_ARGS["symlink"] = (1,)
