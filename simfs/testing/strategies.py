"""Hypothesis strategies for simfs: lower trees, SibylFS-style paths, system calls.

Everything is drawn from small, named vocabularies with ``st.sampled_from`` so that a
failing example prints as readable literals (``path='a/../b/'``, ``flags='O_RDWR|O_CREAT'``)
and shrinks towards the simplest member of each class.

Path classes (after SibylFS, Ridge et al., SOSP 2015): plain names, ``.``, ``..``,
trailing ``/``, names of symlinks (to files, to directories, dangling, looping, absolute),
names of exactly 255 bytes (``NAME_MAX``, valid) and 256 bytes (``ENAMETOOLONG``), the
empty path, relative (to the process's cwd, the mount point) and absolute forms.
"""

from __future__ import annotations

import errno
import os
import stat as st
from collections.abc import Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as hst

from simfs.testing.calls import PROCESSES, Call, FdRef

__all__ = [
    "DIR_MODES",
    "FILE_MODES",
    "LONG_NAME",
    "MOUNTPOINT",
    "NAMES",
    "OPEN_FLAGS",
    "SYMLINK_TARGETS",
    "TOO_LONG_NAME",
    "XATTR_NAMES",
    "Dir",
    "File",
    "LowerTree",
    "Symlink",
    "calls",
    "errnos",
    "file_modes",
    "lower_trees",
    "open_flags",
    "path_vocabulary",
    "paths",
    "process_names",
    "syscall_sequences",
]

#: Where the machines mount the tree under test; processes start with this as cwd.
MOUNTPOINT = "/m"
#: The lower directory the drawn tree is built in.
LOWER_DIR = "/data"
#: A name of exactly NAME_MAX (255) bytes: valid everywhere.
LONG_NAME = "N" * 255
#: One byte too long: ENAMETOOLONG from the lookup.
TOO_LONG_NAME = "N" * 256
#: Names used for tree entries and paths.  Small on purpose: collisions are the point.
NAMES: tuple[str, ...] = ("a", "b", "c")

FILE_MODES: tuple[int, ...] = (0o644, 0o600, 0o666, 0o444, 0o000, 0o755, 0o4755, 0o2775)
DIR_MODES: tuple[int, ...] = (0o755, 0o700, 0o777, 0o1777, 0o555, 0o311, 0o2775)
OWNERS: tuple[int, ...] = (0, 1000, 1001)
CONTENTS: tuple[bytes, ...] = (b"", b"hello", b"0123456789" * 500)
#: Symlink targets: existing names, through '..', into a subdirectory, dangling,
#: absolute through the mount, '.', and names that may be the link itself (a loop).
SYMLINK_TARGETS: tuple[str, ...] = ("a", "b", "missing", "../a", "a/b", "/m/a", ".", "c")
XATTR_NAMES: tuple[str, ...] = ("user.a", "user.b", "trusted.t", "security.s", "os2.x")
XATTR_VALUES: tuple[bytes, ...] = (b"1", b"", b"value")


def _octal(mode: int) -> str:
    return f"0o{mode:o}"


class _PrettyRepr:
    """Make hypothesis print our ``repr`` (a constructor call) instead of its own."""

    def _repr_pretty_(self, p: object, cycle: bool) -> None:
        p.text(repr(self))  # type: ignore[attr-defined]


# --- lower trees -------------------------------------------------------------------------
@dataclass(frozen=True)
class File(_PrettyRepr):
    """A regular file in a :class:`LowerTree` (``path`` relative to the tree root)."""

    path: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    data: bytes = b""
    xattrs: tuple[tuple[str, bytes], ...] = ()

    def __repr__(self) -> str:
        return _node_repr(
            "File", self.path, self.mode, self.uid, self.gid, self.xattrs, data=self.data
        )


@dataclass(frozen=True)
class Dir(_PrettyRepr):
    """A directory in a :class:`LowerTree`."""

    path: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()

    def __repr__(self) -> str:
        return _node_repr("Dir", self.path, self.mode, self.uid, self.gid, self.xattrs)


@dataclass(frozen=True)
class Symlink(_PrettyRepr):
    """A symbolic link in a :class:`LowerTree`; ``target`` may dangle."""

    path: str
    target: str
    uid: int = 0
    gid: int = 0

    def __repr__(self) -> str:
        own = f", uid={self.uid}, gid={self.gid}" if (self.uid, self.gid) != (0, 0) else ""
        return f"Symlink({self.path!r}, {self.target!r}{own})"


def _node_repr(
    kind: str,
    path: str,
    mode: int,
    uid: int,
    gid: int,
    xattrs: tuple[tuple[str, bytes], ...],
    data: bytes | None = None,
) -> str:
    parts = [repr(path), _octal(mode)]
    if (uid, gid) != (0, 0):
        parts += [f"uid={uid}", f"gid={gid}"]
    if data:
        parts.append(
            f"data={data!r}" if len(data) <= 20 else f"data={data[:10]!r} * {len(data) // 10}"
        )
    if xattrs:
        parts.append(f"xattrs={xattrs!r}")
    return f"{kind}({', '.join(parts)})"


Node = File | Dir | Symlink


@dataclass(frozen=True)
class LowerTree(_PrettyRepr):
    """A small directory tree to build into ``kernel.lower`` (see :func:`lower_trees`).

    ``nodes`` are in creation order (parents first).  The tree's root directory is
    created with ``root_mode`` owned by root.  ``repr`` is a constructor expression, so a
    failing example can be pasted back into a test.
    """

    nodes: tuple[Node, ...] = ()
    root_mode: int = 0o755
    root_xattrs: tuple[tuple[str, bytes], ...] = field(default=())

    def __repr__(self) -> str:
        inner = ", ".join(repr(n) for n in self.nodes)
        extra = "" if self.root_mode == 0o755 else f", root_mode={_octal(self.root_mode)}"
        if self.root_xattrs:
            extra += f", root_xattrs={self.root_xattrs!r}"
        return f"LowerTree(({inner}{',' if len(self.nodes) == 1 else ''}){extra})"

    def build(self, kernel: object, root: str = LOWER_DIR) -> None:
        """Create the tree under ``root`` in ``kernel.lower`` (``root`` must not exist).

        Objects are created through the pyfakefs store directly, with the drawn mode,
        owner and xattrs, exactly as a fixture would be.
        """
        fs = kernel.lower  # type: ignore[attr-defined]
        top = fs.create_dir(root)
        top.st_mode = st.S_IFDIR | self.root_mode
        for name, value in self.root_xattrs:
            top.xattr[name] = value
        for node in self.nodes:
            full = f"{root}/{node.path}"
            if isinstance(node, Dir):
                obj = fs.create_dir(full)
                obj.st_mode = st.S_IFDIR | node.mode
            elif isinstance(node, File):
                obj = fs.create_file(full, contents=node.data)
                obj.st_mode = st.S_IFREG | node.mode
            else:
                obj = fs.create_symlink(full, node.target)
            obj.st_uid = node.uid
            obj.st_gid = node.gid
            for name, value in getattr(node, "xattrs", ()):
                obj.xattr[name] = value

    def rename_names(self, mapping: dict[str, str]) -> LowerTree:
        """The same tree with path components renamed by ``mapping`` (for hiding tests)."""

        def ren(p: str) -> str:
            return "/".join(mapping.get(c, c) for c in p.split("/"))

        nodes: list[Node] = []
        for n in self.nodes:
            if isinstance(n, File):
                nodes.append(File(ren(n.path), n.mode, n.uid, n.gid, n.data, n.xattrs))
            elif isinstance(n, Dir):
                nodes.append(Dir(ren(n.path), n.mode, n.uid, n.gid, n.xattrs))
            else:
                nodes.append(Symlink(ren(n.path), n.target, n.uid, n.gid))
        return LowerTree(tuple(nodes), self.root_mode, self.root_xattrs)


def _xattrs() -> hst.SearchStrategy[tuple[tuple[str, bytes], ...]]:
    return hst.lists(
        hst.tuples(hst.sampled_from(XATTR_NAMES[:4]), hst.sampled_from(XATTR_VALUES)),
        max_size=2,
        unique_by=lambda t: t[0],
    ).map(tuple)


@hst.composite
def _tree(
    draw: hst.DrawFn,
    names: Sequence[str],
    max_depth: int,
    max_children: int,
    symlinks: bool,
    long_names: bool,
) -> LowerTree:
    nodes: list[Node] = []
    pool = list(names) + ([LONG_NAME] if long_names else [])

    def fill(prefix: str, depth: int) -> None:
        children = draw(hst.lists(hst.sampled_from(pool), max_size=max_children, unique=True))
        for name in children:
            path = f"{prefix}{name}"
            kinds = ["file", "dir"] + (["symlink"] if symlinks else [])
            if depth >= max_depth or name == LONG_NAME:
                kinds.remove("dir")
            kind = draw(hst.sampled_from(kinds))
            uid = draw(hst.sampled_from(OWNERS))
            gid = draw(hst.sampled_from(OWNERS))
            if kind == "file":
                nodes.append(
                    File(
                        path,
                        draw(hst.sampled_from(FILE_MODES)),
                        uid,
                        gid,
                        draw(hst.sampled_from(CONTENTS)),
                        draw(_xattrs()),
                    )
                )
            elif kind == "dir":
                nodes.append(
                    Dir(path, draw(hst.sampled_from(DIR_MODES)), uid, gid, draw(_xattrs()))
                )
                fill(path + "/", depth + 1)
            else:
                nodes.append(Symlink(path, draw(hst.sampled_from(SYMLINK_TARGETS)), uid, gid))

    fill("", 1)
    return LowerTree(tuple(nodes), 0o755, draw(_xattrs()))


def lower_trees(
    *,
    names: Sequence[str] = NAMES,
    max_depth: int = 2,
    max_children: int = 3,
    symlinks: bool = True,
    long_names: bool = True,
) -> hst.SearchStrategy[LowerTree]:
    """Small trees of directories, files and symlinks (including dangling and looping ones).

    Every entry gets a mode from :data:`FILE_MODES`/:data:`DIR_MODES`, an owner and group
    from {0, 1000, 1001}, and up to two xattrs; files get empty, short or multi-page
    contents.  The tree root is a 0o755 directory owned by root, so every test process
    can use the mount point as its cwd.  Shrinks towards the empty tree.
    """
    return _tree(tuple(names), max_depth, max_children, symlinks, long_names)


# --- paths -------------------------------------------------------------------------------
def path_vocabulary(
    names: Sequence[str] = NAMES, *, max_components: int = 3, absolute_prefix: str = MOUNTPOINT
) -> list[str]:
    """Every path the machines may pass to a system call, simplest first.

    Components are ``names``, ``.`` and ``..`` (up to ``max_components``), optionally with
    a trailing ``/``, relative to the cwd (the mount point) or absolute through
    ``absolute_prefix``; plus the 255- and 256-byte names and the empty path.  Paths
    whose ``..`` would climb above the mount root are left out, so a path leaves the
    mount only through a symlink: one leading out, or one to ``.`` followed by ``..``
    (``a/..`` with ``a -> .`` is the parent of the mount point, as on Linux).  Both
    sides of a comparison follow them identically.
    """
    comps = [*names, ".", ".."]
    rels: list[str] = []
    frontier: list[list[str]] = [[]]
    for _ in range(max_components):
        nxt = []
        for pre in frontier:
            for c in comps:
                nxt.append([*pre, c])
        frontier = nxt
        for parts in frontier:
            depth, ok = 0, True
            for c in parts:
                depth += -1 if c == ".." else 0 if c == "." else 1
                if depth < 0:
                    ok = False
                    break
            if ok:
                rels.append("/".join(parts))
    out: list[str] = []
    for rel in rels:
        out.append(rel)
    for rel in rels:
        out.append(rel + "/")
    for rel in rels:
        out.append(f"{absolute_prefix}/{rel}")
    first = names[0] if names else "a"
    out += [
        absolute_prefix,
        absolute_prefix + "/",
        LONG_NAME,
        f"{first}/{LONG_NAME}",
        TOO_LONG_NAME,
        f"{first}/{TOO_LONG_NAME}",
        "",
    ]
    return out


def paths(names: Sequence[str] = NAMES, **kwargs: object) -> hst.SearchStrategy[str]:
    """A path from :func:`path_vocabulary` (shrinks towards ``names[0]``)."""
    return hst.sampled_from(path_vocabulary(names, **kwargs))  # type: ignore[arg-type]


# --- arguments ---------------------------------------------------------------------------
#: open(2) flag combinations, written as ``os`` constant names joined by ``|``.
OPEN_FLAGS: tuple[str, ...] = (
    "O_RDONLY",
    "O_WRONLY",
    "O_RDWR",
    "O_WRONLY|O_CREAT",
    "O_RDWR|O_CREAT|O_EXCL",
    "O_WRONLY|O_CREAT|O_TRUNC",
    "O_RDWR|O_APPEND",
    "O_RDONLY|O_DIRECTORY",
    "O_RDONLY|O_NOFOLLOW",
    "O_RDWR|O_TRUNC",
    "O_WRONLY|O_CREAT|O_APPEND",
    "O_RDONLY|O_CREAT|O_DIRECTORY",
    "O_PATH",
)


def parse_flags(spec: str) -> int:
    """``"O_RDWR|O_CREAT"`` -> the ``os`` value."""
    value = 0
    for name in spec.split("|"):
        value |= getattr(os, name, 0o10000000 if name == "O_PATH" else 0)
    return value


def open_flags() -> hst.SearchStrategy[str]:
    """Named open flag combinations (see :data:`OPEN_FLAGS`)."""
    return hst.sampled_from(OPEN_FLAGS)


def file_modes() -> hst.SearchStrategy[int]:
    """Creation / chmod modes."""
    return hst.sampled_from((0o644, 0o600, 0o755, 0o000, 0o4755, 0o1777, 0o2775))


def process_names() -> hst.SearchStrategy[str]:
    """``root`` (uid 0), ``alice`` (uid 1000) or ``bob`` (uid 1001, in alice's group)."""
    return hst.sampled_from(tuple(PROCESSES))


def errnos() -> hst.SearchStrategy[int]:
    """Errnos a filter might return or translate to."""
    return hst.sampled_from(
        (errno.EPERM, errno.ENOENT, errno.EACCES, errno.EIO, errno.EROFS, errno.ENOSPC)
    )


# --- call sequences ----------------------------------------------------------------------
_DATA = (b"x", b"hello world", b"\0" * 10, b"y" * 5000)
_SIZES = (0, 1, 5, 4096, 100000)
_OFFSETS = (0, 3, 4096, 10000)
_WHENCES = ("SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE")


def calls(names: Sequence[str] = NAMES, *, max_fd: int = 4) -> hst.SearchStrategy[Call]:
    """One system call: a :class:`~simfs.testing.calls.Call` by some process.

    Descriptor arguments are :class:`~simfs.testing.calls.FdRef` (the n-th ``open`` of
    the sequence); running the sequence substitutes the real descriptor, or an invalid one
    if that open failed or was closed.
    """
    p = paths(names)
    pr = process_names()
    fd = hst.builds(FdRef, hst.integers(0, max_fd - 1))

    def c(op: str, *args: hst.SearchStrategy[object]) -> hst.SearchStrategy[Call]:
        return hst.tuples(pr, *args).map(lambda t: Call(t[0], op, tuple(t[1:])))

    return hst.one_of(
        c("open", p, open_flags(), file_modes()),
        c("close", fd),
        c("read", fd, hst.sampled_from(_SIZES)),
        c("write", fd, hst.sampled_from(_DATA)),
        c("pread", fd, hst.sampled_from(_SIZES), hst.sampled_from(_OFFSETS)),
        c("lseek", fd, hst.sampled_from(_OFFSETS), hst.sampled_from(_WHENCES)),
        c("fstat", fd),
        c("getdents", fd),
        c("stat", p),
        c("lstat", p),
        c("mkdir", p, file_modes()),
        c("rmdir", p),
        c("unlink", p),
        c("rename", p, p),
        c("link", p, p),
        c("symlink", hst.sampled_from(SYMLINK_TARGETS), p),
        c("readlink", p),
        c("chmod", p, file_modes()),
        c("truncate", p, hst.sampled_from(_SIZES[:4])),
        c("listdir", p),
        c("getxattr", p, hst.sampled_from(XATTR_NAMES)),
        c(
            "setxattr",
            p,
            hst.sampled_from(XATTR_NAMES),
            hst.sampled_from(XATTR_VALUES),
            hst.sampled_from((0, 1, 2)),
        ),
        c("listxattr", p),
        c("removexattr", p, hst.sampled_from(XATTR_NAMES)),
    )


def syscall_sequences(
    names: Sequence[str] = NAMES, *, max_size: int = 20
) -> hst.SearchStrategy[list[Call]]:
    """Lists of :func:`calls`; run them with :func:`simfs.testing.calls.run_sequence`."""
    return hst.lists(calls(names), max_size=max_size)
