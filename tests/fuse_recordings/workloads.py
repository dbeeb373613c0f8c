"""The workloads recorded against the real kernel's FUSE, declared as data.

Each workload is a fixture (files made in the *lower* directory before the mount) and two lists
of calls: ``setup`` (the warm-up, empty for a cold cache) and ``measured`` (the step whose FUSE
requests are compared).  A call mirrors one function of :mod:`os`; paths are relative to the
mount root and wrapped in :class:`P`, and file descriptors returned by an earlier call are named
with :class:`Fd`.  :func:`replay` runs a list of calls against any object whose methods mirror
``os`` (the :mod:`os` module itself for the real kernel, a simfs process for the simulator).

The same module also declares the daemon configurations (:data:`CONFIGS`) under which each
workload is recorded: ``passthrough_ll`` with one timeout for entries and attributes, with or
without xattr support, a FLUSH handler and ``default_permissions``.
"""

from __future__ import annotations

import errno as errno_mod
import os
import stat as stat_mod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

# --------------------------------------------------------------------------------------------
# Call arguments and calls


@dataclass(frozen=True, slots=True)
class P:
    """A path relative to the mount root ("" is the mount root itself)."""

    rel: str


@dataclass(frozen=True, slots=True)
class Fd:
    """A file descriptor bound by an earlier call's ``bind``."""

    name: str


class Call(NamedTuple):
    """One os-level call: ``getattr(target, method)(*args)``.

    ``bind`` names the result (an fd) for later calls; ``errno`` is the errno the call must fail
    with (``None``: it must succeed).  ``call.as_tuple()`` is ``(method, *args)``.
    """

    method: str
    args: tuple[object, ...] = ()
    bind: str | None = None
    errno: int | None = None

    def as_tuple(self) -> tuple[object, ...]:
        return (self.method, *self.args)

    def render(self) -> str:
        """A readable one-line form, e.g. ``fd = open('f', O_RDONLY)``."""

        def arg(a: object) -> str:
            if isinstance(a, P):
                return repr(a.rel)
            if isinstance(a, Fd):
                return a.name
            return repr(a)

        args = list(self.args)
        text = ", ".join(arg(a) for a in args)
        if self.method == "open" and len(args) >= 2 and isinstance(args[1], int):
            rest = [oct(a) if isinstance(a, int) else arg(a) for a in args[2:]]
            text = ", ".join([arg(args[0]), open_flags_text(args[1]), *rest])
        s = f"{self.method}({text})"
        if self.bind:
            s = f"{self.bind} = {s}"
        if self.errno is not None:
            s += f"  -> {errno_mod.errorcode[self.errno]}"
        return s


def call(method: str, *args: object, bind: str | None = None, errno: int | None = None) -> Call:
    return Call(method, tuple(args), bind, errno)


_OPEN_FLAGS = (
    ("O_WRONLY", os.O_WRONLY),
    ("O_RDWR", os.O_RDWR),
    ("O_CREAT", os.O_CREAT),
    ("O_EXCL", os.O_EXCL),
    ("O_TRUNC", os.O_TRUNC),
    ("O_APPEND", os.O_APPEND),
    ("O_DIRECTORY", os.O_DIRECTORY),
    ("O_NOFOLLOW", os.O_NOFOLLOW),
)


def open_flags_text(flags: int) -> str:
    names = [n for n, v in _OPEN_FLAGS if flags & v]
    if not flags & (os.O_WRONLY | os.O_RDWR):
        names.insert(0, "O_RDONLY")
    return "|".join(names)


# --------------------------------------------------------------------------------------------
# Fixtures


@dataclass(frozen=True, slots=True)
class File:
    path: str
    data: bytes = b""
    mode: int = 0o644
    xattrs: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Dir:
    path: str
    mode: int = 0o755


@dataclass(frozen=True, slots=True)
class Symlink:
    path: str
    target: str


Entry = File | Dir | Symlink


def materialize(fixture: Iterable[Entry], root: str, fs: Any = os) -> None:
    """Create ``fixture`` under directory ``root`` (in order, parents first).

    ``fs`` is anything whose methods mirror :mod:`os` (``mkdir``, ``chmod``, ``symlink``,
    ``open``, ``write``, ``close``, ``setxattr``): the real :mod:`os` by default, or a simulated
    process to build the same fixture inside simfs.
    """
    for e in fixture:
        p = f"{root.rstrip('/')}/{e.path}"
        if isinstance(e, Dir):
            fs.mkdir(p, e.mode)
            fs.chmod(p, e.mode)
        elif isinstance(e, Symlink):
            fs.symlink(e.target, p)
        else:
            fd = fs.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, e.mode)
            try:
                fs.write(fd, e.data)
            finally:
                fs.close(fd)
            fs.chmod(p, e.mode)
            for name, value in e.xattrs:
                fs.setxattr(p, name, value)


def fixture_to_json(fixture: Iterable[Entry]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in fixture:
        if isinstance(e, Dir):
            out.append({"type": "dir", "path": e.path, "mode": oct(e.mode)})
        elif isinstance(e, Symlink):
            out.append({"type": "symlink", "path": e.path, "target": e.target})
        else:
            d: dict[str, Any] = {"type": "file", "path": e.path, "mode": oct(e.mode)}
            d["size"] = len(e.data)
            if e.xattrs:
                d["xattrs"] = {k: v.decode() for k, v in e.xattrs}
            out.append(d)
    return out


# --------------------------------------------------------------------------------------------
# Daemon configurations


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """How ``passthrough_ll`` is built and mounted for one recording.

    ``timeout`` is passthrough_ll's single ``-o timeout=`` (entry_timeout == attr_timeout).
    ``flush=False`` builds the example without its ``.flush`` handler, so libfuse answers FLUSH
    with ENOSYS.  ``xattr=False`` runs it with ``-o no_xattr`` (every xattr op: ENOSYS).
    ``default_permissions`` adds the kernel mount option of that name.
    """

    name: str
    timeout: float
    xattr: bool = True
    flush: bool = True
    default_permissions: bool = False

    def options(self) -> list[str]:
        opts = [f"timeout={self.timeout:g}", "xattr" if self.xattr else "no_xattr"]
        if self.default_permissions:
            opts.append("default_permissions")
        return opts


LONG = 86400.0
CONFIGS: dict[str, DaemonConfig] = {
    c.name: c
    for c in (
        DaemonConfig("long", LONG),
        DaemonConfig("zero", 0.0),
        DaemonConfig("long_noxattr", LONG, xattr=False),
        DaemonConfig("long_noflush", LONG, flush=False),
        DaemonConfig("zero_noflush", 0.0, flush=False),
        DaemonConfig("long_dp", LONG, default_permissions=True),
        DaemonConfig("zero_dp", 0.0, default_permissions=True),
    )
}


# --------------------------------------------------------------------------------------------
# Workloads


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    description: str
    fixture: tuple[Entry, ...]
    setup: tuple[Call, ...]
    measured: tuple[Call, ...]
    configs: tuple[str, ...] = ("long", "zero")
    cache: str = "cold"  # "cold" or "warm"
    syscall: str = ""  # the family, e.g. "stat"


DATA = b"0123456789" * 10  # 100 bytes

BASE: tuple[Entry, ...] = (File("f", DATA), Dir("d"))

W = os.O_WRONLY
R = os.O_RDONLY


def _pair(
    syscall: str,
    what: str,
    fixture: tuple[Entry, ...],
    measured: Sequence[Call],
    warm_setup: Sequence[Call] | None = None,
    warm_how: str = "the same calls ran once before",
    configs: tuple[str, ...] = ("long", "zero"),
) -> list[Workload]:
    """A cold workload (nothing before the measured step) and a warm one."""
    warm = tuple(measured) if warm_setup is None else tuple(warm_setup)
    return [
        Workload(
            f"{syscall}_cold",
            f"{what}; cold cache: first touch after the mount",
            fixture,
            (),
            tuple(measured),
            configs,
            "cold",
            syscall,
        ),
        Workload(
            f"{syscall}_warm",
            f"{what}; warm cache: {warm_how}",
            fixture,
            warm,
            tuple(measured),
            configs,
            "warm",
            syscall,
        ),
    ]


def _orc(path: str) -> list[Call]:
    return [
        call("open", P(path), R, bind="fd"),
        call("read", Fd("fd"), 4096),
        call("close", Fd("fd")),
    ]


SMALL_DIR: tuple[Entry, ...] = (Dir("s"), *(File(f"s/e{i}", b"x") for i in range(5)))
BIG_DIR: tuple[Entry, ...] = (Dir("big"), *(File(f"big/e{i:04d}") for i in range(1000)))

DP = ("long", "zero", "long_dp", "zero_dp")


def _build() -> list[Workload]:
    ws: list[Workload] = []
    sib = "the same call ran once before on a sibling in the same directory"
    ws += _pair("stat", "os.stat of a top-level file", BASE, [call("stat", P("f"))], configs=DP)
    ws += _pair(
        "stat_enoent",
        "os.stat of a missing top-level name (ENOENT)",
        BASE,
        [call("stat", P("nope"), errno=errno_mod.ENOENT)],
    )
    ws += _pair(
        "lstat",
        "os.lstat of a top-level symlink",
        (*BASE, Symlink("l", "f")),
        [call("lstat", P("l"))],
    )
    ws += _pair(
        "stat_deep",
        "os.stat of a file three components deep (a/b/f)",
        (Dir("a"), Dir("a/b"), File("a/b/f", DATA)),
        [call("stat", P("a/b/f"))],
        configs=DP,
    )
    ws += _pair(
        "open_read_close",
        "os.open O_RDONLY, os.read 4096 bytes of a 100-byte file, os.close",
        BASE,
        _orc("f"),
        configs=DP,
    )
    ws += _pair(
        "open_write_close",
        "os.open O_WRONLY, os.write 100 bytes, os.close",
        BASE,
        [
            call("open", P("f"), W, bind="fd"),
            call("write", Fd("fd"), b"y" * 100),
            call("close", Fd("fd")),
        ],
    )
    ws += _pair(
        "write_then_stat",
        "os.open O_WRONLY, os.write 100 bytes, os.close, then os.stat of the same file",
        BASE,
        [
            call("open", P("f"), W, bind="fd"),
            call("write", Fd("fd"), b"z" * 100),
            call("close", Fd("fd")),
            call("stat", P("f")),
        ],
    )
    ws += _pair(
        "create",
        "os.open(d/new, O_WRONLY|O_CREAT|O_EXCL, 0o644), os.close",
        BASE,
        [
            call("open", P("d/new"), W | os.O_CREAT | os.O_EXCL, 0o644, bind="fd"),
            call("close", Fd("fd")),
        ],
        [
            call("open", P("d/new0"), W | os.O_CREAT | os.O_EXCL, 0o644, bind="fd"),
            call("close", Fd("fd")),
        ],
        sib,
        configs=DP,
    )
    ws += _pair(
        "open_trunc",
        "os.open(f, O_WRONLY|O_TRUNC), os.close",
        BASE,
        [call("open", P("f"), W | os.O_TRUNC, bind="fd"), call("close", Fd("fd"))],
    )
    ws += _pair(
        "mkdir",
        "os.mkdir(d/x, 0o755)",
        BASE,
        [call("mkdir", P("d/x"), 0o755)],
        [call("mkdir", P("d/w"), 0o755)],
        sib,
    )
    ws += _pair(
        "rmdir",
        "os.rmdir(d/x) of an empty directory",
        (*BASE, Dir("d/x"), Dir("d/w")),
        [call("rmdir", P("d/x"))],
        [call("rmdir", P("d/w"))],
        sib,
    )
    ws += _pair(
        "rename_file",
        "os.rename(d/a, d/a2) of a file",
        (*BASE, File("d/a", DATA), File("d/b", DATA)),
        [call("rename", P("d/a"), P("d/a2"))],
        [call("rename", P("d/b"), P("d/b2"))],
        sib,
    )
    ws += _pair(
        "rename_dir",
        "os.rename(d/x, d/x2) of a directory holding one file",
        (*BASE, Dir("d/x"), File("d/x/f"), Dir("d/y"), File("d/y/f")),
        [call("rename", P("d/x"), P("d/x2"))],
        [call("rename", P("d/y"), P("d/y2"))],
        sib,
    )
    ws += _pair(
        "rename_replace",
        "os.rename(d/a, d/t) onto an existing file d/t",
        (*BASE, File("d/a", DATA), File("d/b", DATA), File("d/t", DATA), File("d/u", DATA)),
        [call("rename", P("d/a"), P("d/t"))],
        [call("rename", P("d/b"), P("d/u"))],
        "the same call ran once before on siblings in the same directory",
    )
    ws += _pair(
        "unlink",
        "os.unlink(d/a)",
        (*BASE, File("d/a", DATA), File("d/b", DATA)),
        [call("unlink", P("d/a"))],
        [call("unlink", P("d/b"))],
        sib,
    )
    ws += _pair(
        "unlink_looked_up",
        "os.stat(d/a) in the setup, then os.unlink(d/a) measured",
        (*BASE, File("d/a", DATA)),
        [call("unlink", P("d/a"))],
        [call("stat", P("d/a"))],
        "the target was stat'ed once before (its inode is cached)",
    )[1:]
    ws += _pair(
        "readdir_small",
        "os.listdir of a 5-entry directory (s)",
        (*BASE, *SMALL_DIR),
        [call("listdir", P("s"))],
    )
    ws += _pair(
        "readdir_big",
        "os.listdir of a 1,000-entry directory (big)",
        (*BASE, *BIG_DIR),
        [call("listdir", P("big"))],
    )
    ws += _pair(
        "readdir_then_stat",
        "os.listdir(s) then os.stat(s/e0) and os.stat(s/e4)",
        (*BASE, *SMALL_DIR),
        [call("listdir", P("s")), call("stat", P("s/e0")), call("stat", P("s/e4"))],
    )
    ws += _pair(
        "symlink",
        "os.symlink('../f', d/l)",
        BASE,
        [call("symlink", "../f", P("d/l"))],
        [call("symlink", "../f", P("d/l0"))],
        sib,
    )
    ws += _pair(
        "readlink",
        "os.readlink of a top-level symlink",
        (*BASE, Symlink("l", "f")),
        [call("readlink", P("l"))],
    )
    ws += _pair(
        "link",
        "os.link(f, d/h)",
        BASE,
        [call("link", P("f"), P("d/h"))],
        [call("link", P("f"), P("d/h0"))],
        "the same call ran once before with another new name in the same directory",
    )
    ws += _pair("chmod", "os.chmod(f, 0o600)", BASE, [call("chmod", P("f"), 0o600)], configs=DP)
    ws += _pair(
        "chown", "os.chown(f, 1000, 1000) as root", BASE, [call("chown", P("f"), 1000, 1000)]
    )
    ws += _pair("truncate", "os.truncate(f, 10)", BASE, [call("truncate", P("f"), 10)])
    ws += _pair(
        "ftruncate",
        "os.open(f, O_WRONLY), os.ftruncate(fd, 10), os.close",
        BASE,
        [
            call("open", P("f"), W, bind="fd"),
            call("ftruncate", Fd("fd"), 10),
            call("close", Fd("fd")),
        ],
    )
    ws += _pair("utime", "os.utime(f, (1, 2))", BASE, [call("utime", P("f"), (1, 2))])
    xf: tuple[Entry, ...] = (
        File("f", DATA, xattrs=(("user.k", b"v"), ("user.j", b"w"))),
        Dir("d"),
    )
    ws += _pair(
        "setxattr",
        "os.setxattr(f, 'user.k', b'v')",
        BASE,
        [call("setxattr", P("f"), "user.k", b"v")],
    )
    ws += _pair(
        "getxattr",
        "os.getxattr(f, 'user.k') of an existing xattr",
        xf,
        [call("getxattr", P("f"), "user.k")],
    )
    ws += _pair(
        "listxattr", "os.listxattr(f) of a file with two xattrs", xf, [call("listxattr", P("f"))]
    )
    ws += _pair(
        "removexattr",
        "os.removexattr(f, 'user.k')",
        xf,
        [call("removexattr", P("f"), "user.k")],
        [call("removexattr", P("f"), "user.j")],
        "removexattr of another xattr of the same file ran once before",
    )
    eop = errno_mod.EOPNOTSUPP
    ws += _pair(
        "xattr_nosys",
        "setxattr, getxattr, listxattr, removexattr on a daemon run with -o no_xattr"
        " (it answers ENOSYS; the calls fail with EOPNOTSUPP)",
        xf,
        [
            call("setxattr", P("f"), "user.n", b"v", errno=eop),
            call("getxattr", P("f"), "user.k", errno=eop),
            call("listxattr", P("f"), errno=eop),
            call("removexattr", P("f"), "user.k", errno=eop),
        ],
        configs=("long_noxattr",),
    )
    ws += _pair("access", "os.access(f, R_OK)", BASE, [call("access", P("f"), os.R_OK)], configs=DP)
    ws += _pair("statvfs", "os.statvfs(f)", BASE, [call("statvfs", P("f"))])
    ws += _pair(
        "fsync",
        "os.open(f, O_WRONLY), os.fsync, os.close",
        BASE,
        [call("open", P("f"), W, bind="fd"), call("fsync", Fd("fd")), call("close", Fd("fd"))],
    )
    ws += _pair(
        "fallocate",
        "os.open(f, O_WRONLY), os.posix_fallocate(fd, 0, 8192), os.close",
        BASE,
        [
            call("open", P("f"), W, bind="fd"),
            call("posix_fallocate", Fd("fd"), 0, 8192),
            call("close", Fd("fd")),
        ],
    )
    ws += _pair(
        "copy_file_range",
        "os.open(f, O_RDONLY), os.open(g, O_WRONLY), os.copy_file_range(src, dst, 100), close both",
        (*BASE, File("g")),
        [
            call("open", P("f"), R, bind="src"),
            call("open", P("g"), W, bind="dst"),
            call("copy_file_range", Fd("src"), Fd("dst"), 100),
            call("close", Fd("src")),
            call("close", Fd("dst")),
        ],
    )
    ws += _pair(
        "close_noflush",
        "open/read/close on a daemon without a FLUSH handler (libfuse answers ENOSYS)",
        BASE,
        _orc("f"),
        configs=("long_noflush", "zero_noflush"),
    )
    return ws


WORKLOADS: tuple[Workload, ...] = tuple(_build())
BY_NAME: dict[str, Workload] = {w.name: w for w in WORKLOADS}
assert len(BY_NAME) == len(WORKLOADS), "duplicate workload names"


# --------------------------------------------------------------------------------------------
# Replay


class CallFailed(AssertionError):
    """A call failed unexpectedly, or did not fail with its expected errno."""


def replay(
    target: Any,
    calls: Sequence[Call],
    resolve: Callable[[str], object],
    fds: dict[str, Any] | None = None,
) -> list[object]:
    """Run ``calls`` against ``target`` (an object mirroring :mod:`os`); return each result.

    ``resolve(rel)`` turns a mount-relative path into what ``target`` expects (for the real
    kernel: ``os.path.join(mountpoint, rel)``).  ``fds`` carries bound fds between phases.
    A call with an expected ``errno`` yields the :class:`OSError` it raised.
    """
    env: dict[str, Any] = {} if fds is None else fds
    results: list[object] = []
    for c in calls:
        args = [_resolve_arg(a, resolve, env) for a in c.args]
        fn = getattr(target, c.method)
        try:
            res = fn(*args)
        except OSError as e:
            if c.errno is None or e.errno != c.errno:
                raise CallFailed(f"{c.render()}: unexpected {e!r}") from e
            results.append(e)
            continue
        if c.errno is not None:
            raise CallFailed(f"{c.render()}: succeeded, expected {errno_mod.errorcode[c.errno]}")
        if c.bind:
            env[c.bind] = res
        results.append(res)
    return results


def _resolve_arg(a: object, resolve: Callable[[str], object], env: Mapping[str, Any]) -> object:
    if isinstance(a, P):
        return resolve(a.rel)
    if isinstance(a, Fd):
        return env[a.name]
    return a


def summarize(c: Call, res: object) -> object:
    """A small JSON-able, deterministic summary of a call's result (for sanity checks)."""
    if isinstance(res, OSError):
        return {"errno": errno_mod.errorcode.get(res.errno or 0, str(res.errno))}
    if res is None or isinstance(res, bool | str):
        return res
    if isinstance(res, int):
        return "fd" if c.bind else res
    if isinstance(res, bytes):
        return {"bytes": len(res)}
    if isinstance(res, list):
        return {"len": len(res), "names": sorted(res)} if len(res) <= 10 else {"len": len(res)}
    if isinstance(res, os.stat_result):
        d: dict[str, object] = {"mode": oct(res.st_mode), "nlink": res.st_nlink}
        if not stat_mod.S_ISDIR(res.st_mode):
            d["size"] = res.st_size
        return d
    if isinstance(res, os.statvfs_result):
        return "statvfs"
    return type(res).__name__


def calls_to_json(calls: Sequence[Call]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in calls:
        d: dict[str, Any] = {
            "call": c.render(),
            "method": c.method,
            "args": [_arg_json(a) for a in c.args],
        }
        if c.bind:
            d["bind"] = c.bind
        if c.errno is not None:
            d["errno"] = errno_mod.errorcode[c.errno]
        out.append(d)
    return out


def _arg_json(a: object) -> object:
    if isinstance(a, P):
        return {"path": a.rel}
    if isinstance(a, Fd):
        return {"fd": a.name}
    if isinstance(a, bytes):
        return {"bytes": a.decode()}
    if isinstance(a, tuple):
        return list(a)
    return a
