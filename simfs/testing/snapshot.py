"""Canonical snapshots of the lower filesystem (``Kernel.lower``), for comparing two machines.

A snapshot is taken straight from the pyfakefs store, never through a simulated process,
so taking one has no side effects (no atime, no dcache, no trace events).  It keeps what a
user of the filesystem could ever observe about the stored tree and drops what differs
between two runs of the same operations for reasons that carry no meaning:

kept
    path (relative to the snapshot root), file type, permission bits (with set-id and
    sticky bits), owner, group, file contents, symlink target, device number, xattrs
    (name and value), link count, and hard-link structure (names that share one inode get
    the same label, ``h1``, ``h2``, ... in path order).
dropped
    inode numbers (only the hard-link structure is kept), timestamps (unless
    ``times=True``; the clocks of two kernels do not tick in step once a daemon makes
    system calls of its own), directory sizes (derived from the entries, which are kept).
"""

from __future__ import annotations

import hashlib
import stat as st
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pyfakefs.fake_file import FakeDirectory, FakeFile
from pyfakefs.fake_filesystem import FakeFilesystem

__all__ = ["EntrySnapshot", "LowerSnapshot", "diff_snapshots", "snapshot_lower"]


@dataclass(frozen=True, slots=True)
class EntrySnapshot:
    """What is stored under one name.  ``data`` is file contents or a symlink's target."""

    kind: str  # "reg", "dir", "lnk", "fifo", "chr", "blk", "sock"
    mode: int  # permission bits incl. S_ISUID/S_ISGID/S_ISVTX, without the type
    uid: int
    gid: int
    nlink: int
    data: bytes | None
    rdev: int
    xattrs: tuple[tuple[str, bytes], ...]
    link: str | None  # hard-link label (``h1``...) when nlink > 1, else None
    mtime_ns: int | None = None
    ctime_ns: int | None = None

    def describe(self) -> str:
        """A one-line human form, as diffs print it."""
        parts = [self.kind, oct(self.mode), f"{self.uid}:{self.gid}"]
        if self.kind != "dir":
            parts.append(f"nlink={self.nlink}")
        if self.data is not None:
            shown = self.data if len(self.data) <= 40 else self.data[:40] + b"..."
            parts.append(repr(shown))
        if self.rdev:
            parts.append(f"rdev={self.rdev}")
        if self.xattrs:
            parts.append("xattrs=" + ",".join(f"{n}={v!r}" for n, v in self.xattrs))
        if self.link is not None:
            parts.append(f"link={self.link}")
        if self.mtime_ns is not None:
            parts.append(f"mtime={self.mtime_ns} ctime={self.ctime_ns}")
        return " ".join(parts)


#: A snapshot: relative path (``"."`` for the root) -> entry, in sorted path order.
LowerSnapshot = Mapping[str, EntrySnapshot]

_KINDS = {
    st.S_IFREG: "reg",
    st.S_IFDIR: "dir",
    st.S_IFLNK: "lnk",
    st.S_IFIFO: "fifo",
    st.S_IFCHR: "chr",
    st.S_IFBLK: "blk",
    st.S_IFSOCK: "sock",
}


def _walk(obj: Any, rel: str) -> Iterator[tuple[str, Any]]:
    yield rel, obj
    if isinstance(obj, FakeDirectory):
        for name in sorted(obj.entries):
            child = obj.entries[name]
            yield from _walk(child, name if rel == "." else f"{rel}/{name}")


#: Files larger than this (sparse ones may be terabytes) are summarised by a digest.
INLINE_DATA_MAX = 1 << 20


def _file_data(obj: FakeFile) -> bytes:
    """The contents, or for a large sparse lower file (``LowerFile.pages``) a digest of its
    size and its pages, which compares equal exactly when the contents do."""
    pages = getattr(obj, "pages", None)
    size = int(obj.st_size or 0)
    if isinstance(pages, dict) and size > INLINE_DATA_MAX:
        h = hashlib.sha256()
        for index in sorted(pages):
            page = pages[index]
            if page.count(0) != len(page):  # an allocated page of zeros reads as a hole
                h.update(index.to_bytes(8, "little") + page)
        return f"<{size} bytes, sha256 {h.hexdigest()}>".encode()
    return obj.byte_contents or b""


def snapshot_lower(
    fs: FakeFilesystem, root: str = "/", *, times: bool = False
) -> dict[str, EntrySnapshot]:
    """Snapshot the tree under ``root`` in ``fs`` (usually ``kernel.lower``).

    ``root`` is resolved in the store without following a final symlink.  Returns a dict
    from relative path to :class:`EntrySnapshot`, in sorted order; two snapshots are
    equal exactly when a user could not tell the stored trees apart (see the module
    docstring for what is compared).  ``times=True`` also records mtime and ctime.

    Raises ``FileNotFoundError`` when ``root`` does not exist in the store.
    """
    top = fs.root if root in ("/", "") else fs.resolve(root, follow_symlinks=False)
    objs = list(_walk(top, "."))
    # hard-link labels: an object seen under more than one name gets h1, h2... by first path
    seen: dict[int, int] = {}
    for _, obj in objs:
        seen[id(obj)] = seen.get(id(obj), 0) + 1
    labels: dict[int, str] = {}
    out: dict[str, EntrySnapshot] = {}
    for rel, obj in objs:
        mode = int(obj.st_mode)
        kind = _KINDS.get(st.S_IFMT(mode), oct(st.S_IFMT(mode)))
        link = None
        if seen[id(obj)] > 1 and not isinstance(obj, FakeDirectory):
            link = labels.setdefault(id(obj), f"h{len(labels) + 1}")
        if isinstance(obj, FakeDirectory):
            data = None
            nlink = 2 + sum(1 for e in obj.entries.values() if isinstance(e, FakeDirectory))
        else:
            assert isinstance(obj, FakeFile)
            data = _file_data(obj)
            nlink = int(obj.st_nlink)
        xattrs = tuple(
            sorted((str(n), bytes(v)) for n, v in (getattr(obj, "xattr", None) or {}).items())
        )
        out[rel] = EntrySnapshot(
            kind=kind,
            mode=st.S_IMODE(mode),
            uid=int(obj.st_uid),
            gid=int(obj.st_gid),
            nlink=nlink,
            data=data,
            rdev=int(getattr(obj, "_simfs_rdev", 0)),
            xattrs=xattrs,
            link=link,
            mtime_ns=int(obj.st_mtime_ns) if times else None,
            ctime_ns=int(obj.st_ctime_ns) if times else None,
        )
    return out


def diff_snapshots(
    a: LowerSnapshot, b: LowerSnapshot, labels: tuple[str, str] = ("a", "b")
) -> list[str]:
    """Readable differences between two snapshots (empty when they are equal)."""
    lines: list[str] = []
    for path in sorted(set(a) | set(b)):
        ea, eb = a.get(path), b.get(path)
        if ea == eb:
            continue
        if ea is None:
            lines.append(f"{path}: only in {labels[1]}: {eb.describe() if eb else ''}")
        elif eb is None:
            lines.append(f"{path}: only in {labels[0]}: {ea.describe()}")
        else:
            lines.append(f"{path}: {labels[0]}: {ea.describe()}")
            lines.append(f"{' ' * len(path)}  {labels[1]}: {eb.describe()}")
    return lines
