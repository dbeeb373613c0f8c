"""Mounts and the mount table (``fs/namespace.c``, ``include/linux/path.h``).

A :class:`Path` is ``struct path``: a (mount, dentry) pair.  A bind mount is a second
:class:`Mount` of the same superblock whose root is any dentry of it.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simfs.vfs.inode import Dentry, SuperBlock, oserror

if TYPE_CHECKING:
    from simfs.vfs.inode import Inode


class Mount:
    """``struct mount``: ``sb`` mounted with ``root`` visible at ``mountpoint`` of ``parent``."""

    def __init__(
        self,
        mnt_id: int,
        sb: SuperBlock,
        root: Dentry,
        parent: Mount | None,
        mountpoint: Dentry | None,
        kind: str,
        source: str,
    ) -> None:
        self.mnt_id = mnt_id
        self.sb = sb
        self.root = root
        self.parent = parent
        self.mountpoint = mountpoint
        self.kind = kind  # "rootfs", "bind", "fuse"
        self.source = source
        self.target = "/"
        self.busy_refs = 0  # open files and cwds inside this mount
        self.data: object = None  # e.g. the FuseMount for a FUSE mount

    def __repr__(self) -> str:
        return f"<Mount {self.mnt_id} {self.kind} {self.source!r} on {self.target!r}>"


@dataclass(frozen=True, slots=True)
class Path:
    """``struct path``."""

    mnt: Mount
    dentry: Dentry

    @property
    def inode(self) -> Inode:
        inode = self.dentry.inode
        if inode is None:
            raise oserror(errno.ENOENT)
        return inode


class MountTable:
    """All mounts of the (single) namespace; ``lookup_mnt`` finds what covers a dentry."""

    def __init__(self) -> None:
        self.mounts: list[Mount] = []
        self._covers: dict[tuple[int, int], Mount] = {}
        self._next_id = 1

    def new_id(self) -> int:
        mid = self._next_id
        self._next_id += 1
        return mid

    def add(self, mnt: Mount) -> None:
        self.mounts.append(mnt)
        if mnt.parent is not None and mnt.mountpoint is not None:
            key = (mnt.parent.mnt_id, id(mnt.mountpoint))
            # a later mount on the same spot stacks on top (the top one is found)
            prev = self._covers.get(key)
            if prev is not None:
                mnt.data_below = prev  # type: ignore[attr-defined]
            self._covers[key] = mnt
            mnt.mountpoint.pins += 1

    def remove(self, mnt: Mount) -> None:
        self.mounts.remove(mnt)
        if mnt.parent is not None and mnt.mountpoint is not None:
            key = (mnt.parent.mnt_id, id(mnt.mountpoint))
            below = getattr(mnt, "data_below", None)
            if below is not None:
                self._covers[key] = below
            else:
                self._covers.pop(key, None)
            mnt.mountpoint.pins -= 1

    def lookup_mnt(self, mnt: Mount, dentry: Dentry) -> Mount | None:
        """``lookup_mnt``: the mount whose mountpoint is (mnt, dentry), if any."""
        return self._covers.get((mnt.mnt_id, id(dentry)))

    def children(self, mnt: Mount) -> list[Mount]:
        return [m for m in self.mounts if m.parent is mnt]

    def is_mountpoint(self, mnt: Mount, dentry: Dentry) -> bool:
        return (mnt.mnt_id, id(dentry)) in self._covers

    def any_mount_on(self, dentry: Dentry) -> bool:
        """``d_mountpoint``: is this dentry a mountpoint in any mount?"""
        return any(m.mountpoint is dentry for m in self.mounts if m.parent is not None)
