"""Path walk (``fs/namei.c``): ``link_path_walk``, ``walk_component``, ``step_into``,
``follow_dotdot``, ``lookup_last``, ``filename_parentat``, ``lookup_one_qstr_excl``.

Rules modelled: the search permission on every directory walked through (before each
component, the last one's directory included); ENOENT for a missing and ENOTDIR for a
non-directory intermediate; symlinks followed for intermediate components and for the
last one when asked, at most ``MAXSYMLINKS`` (40) in one walk, absolute targets restart
at the task's root; physical ``..`` (the parent of the *dentry reached*, not a textual
parent) that stops at the task's root and crosses mount boundaries upwards; mounts
crossed downwards after each component; a trailing slash demands a directory and makes
the last symlink followed; ENAMETOOLONG for a path of PATH_MAX (4096) bytes or more.
"""

from __future__ import annotations

import errno
import stat as st
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from simfs.vfs import dcache
from simfs.vfs.cred import Cred
from simfs.vfs.inode import MAY_EXEC, MAY_NOT_BLOCK, Dentry, oserror
from simfs.vfs.mount import Mount, MountTable, Path
from simfs.vfs.permission import inode_permission, may_follow_link

if TYPE_CHECKING:
    from simfs.trace import Hooks

MAXSYMLINKS = 40
PATH_MAX = 4096
NAME_MAX = 255

LAST_NORM = 0
LAST_ROOT = 1
LAST_DOT = 2
LAST_DOTDOT = 3

# lookup intent flags (include/linux/namei.h)
LOOKUP_FOLLOW = 0x0001
LOOKUP_DIRECTORY = 0x0002
LOOKUP_OPEN = 0x0100
LOOKUP_CREATE = 0x0200
LOOKUP_EXCL = 0x0400
LOOKUP_RENAME_TARGET = 0x0800


class Task(Protocol):
    """What a walk needs from the calling task."""

    cred: Cred
    cwd: Path
    root: Path


class WalkContext(Protocol):
    """What a walk needs from the kernel."""

    mounts: MountTable
    hooks: Hooks

    def touch(self, dentry: Dentry) -> None: ...

    def touch_atime(self, path: Path) -> None: ...


def encoded_len(name: str) -> int:
    """Length in bytes as the kernel sees it (``os.fsencode``)."""
    return len(name.encode("utf-8", "surrogateescape"))


def check_path(path: str) -> None:
    """``getname``: empty -> ENOENT, too long -> ENAMETOOLONG (NUL is rejected earlier)."""
    if "\0" in path:
        raise ValueError("embedded null byte")
    if encoded_len(path) >= PATH_MAX:
        raise oserror(errno.ENAMETOOLONG)
    if path == "":
        raise oserror(errno.ENOENT)


@dataclass
class Parent:
    """Result of ``filename_parentat``: the directory and the last component."""

    path: Path
    last: str
    type: int
    trailing_slash: bool


class Walker:
    """One ``struct nameidata``: a walk on behalf of ``task``."""

    def __init__(self, ctx: WalkContext, task: Task, start: Path | None = None) -> None:
        self.ctx = ctx
        self.task = task
        self.cred = task.cred
        self.start = start
        self.total_link_count = 0

    # --- single steps ------------------------------------------------------------
    def follow_mount(self, path: Path) -> Path:
        """``traverse_mounts``: descend into whatever is mounted here (stacked too)."""
        while True:
            child = self.ctx.mounts.lookup_mnt(path.mnt, path.dentry)
            if child is None:
                return path
            path = Path(child, child.root)

    def follow_dotdot(self, path: Path) -> Path:
        """``follow_dotdot``: physical parent, clamped at the task root, across mounts."""
        root = self.task.root
        while True:
            if path.mnt is root.mnt and path.dentry is root.dentry:
                return path
            if path.dentry is path.mnt.root:
                mnt = path.mnt
                if mnt.parent is None or mnt.mountpoint is None:
                    return path
                path = Path(mnt.parent, mnt.mountpoint)
                continue
            parent = path.dentry.d_parent
            return self.follow_mount(Path(path.mnt, parent))

    def may_lookup(self, path: Path) -> None:
        """``may_lookup``: search permission on the directory being walked."""
        inode = path.inode
        inode_permission(inode, MAY_EXEC | MAY_NOT_BLOCK, self.cred)

    def lookup_one(self, parent: Path, name: str, flags: int = 0) -> Dentry:
        """``lookup_fast``/``lookup_slow``: cached child (revalidated) or a fresh lookup.

        Returns the dentry, possibly negative.  Does not cross mounts.
        """
        d = self.lookup_cached(parent, name, flags)
        if d is not None:
            return d
        return self.lookup_fresh(parent, name, flags)

    def lookup_cached(self, parent: Path, name: str, flags: int = 0) -> Dentry | None:
        """``lookup_fast``: the cached child if ``d_revalidate`` keeps it, else None
        (an invalid entry is dropped: ``d_invalidate``)."""
        d = dcache.d_lookup(parent.dentry, name)
        if d is None:
            return None
        if d.sb.d_revalidate(d, self.cred, flags):
            self.ctx.touch(d)
            return d
        dcache.d_drop(d)
        if d.pins == 0 and not d.children:
            dcache.iput_alias(d)
        return None

    def lookup_fresh(self, parent: Path, name: str, flags: int = 0) -> Dentry:
        """``lookup_slow``: allocate the dentry and ask the filesystem's ``lookup``."""
        dir_dentry = parent.dentry
        dir_inode = parent.inode
        if not st.S_ISDIR(dir_inode.mode):
            raise oserror(errno.ENOTDIR)
        d = dcache.d_alloc(dir_dentry, name)
        try:
            inode = dir_inode.lookup(d, self.cred, flags)
        except BaseException:
            dcache.d_drop(d)
            raise
        if d.inode is None and inode is not None:
            d.instantiate(inode)
        self.ctx.touch(d)
        return d

    def get_link(self, path: Path) -> str:
        inode = path.inode
        return inode.get_link(path.dentry, self.cred)

    # --- the walk ----------------------------------------------------------------
    def _start(self, path: str) -> Path:
        if path.startswith("/"):
            return self.task.root
        if self.start is not None:
            return self.start
        return self.task.cwd

    def walk(self, path: str, flags: int) -> Path:
        """``path_lookupat``: resolve the whole path (traced as a ``walk`` event)."""
        check_path(path)
        cur = self._start(path)
        try:
            res = self._walk_from(cur, path, flags, depth=0)
        except OSError as e:
            self.ctx.hooks.emit("walk", path=path, result=errno.errorcode.get(e.errno or 0, "?"))
            raise
        self.ctx.hooks.emit("walk", path=path, result="ok")
        return res

    def _walk_from(self, cur: Path, path: str, flags: int, depth: int) -> Path:
        parent, last, type_, trailing = self._link_path_walk(cur, path, depth)
        return self._lookup_last(parent, last, type_, trailing, flags, depth)

    def _link_path_walk(self, cur: Path, path: str, depth: int) -> tuple[Path, str, int, bool]:
        """Walk every component but the last; returns (dir, last, last_type, trailing)."""
        if path.startswith("/"):
            cur = self.task.root
        comps = [c for c in path.split("/") if c]
        trailing = path.endswith("/") and bool(comps)
        if not comps:
            return cur, "", LAST_ROOT, False
        for i, name in enumerate(comps):
            self.may_lookup(cur)
            is_last = i == len(comps) - 1
            type_ = LAST_DOTDOT if name == ".." else LAST_DOT if name == "." else LAST_NORM
            if is_last:
                return cur, name, type_, trailing
            cur = self._walk_component(cur, name, type_, follow=True, depth=depth)
            if not st.S_ISDIR(cur.inode.mode):
                raise oserror(errno.ENOTDIR)
        raise AssertionError("unreachable")

    def _walk_component(self, cur: Path, name: str, type_: int, follow: bool, depth: int) -> Path:
        """``walk_component`` + ``step_into`` (+ following a symlink when asked)."""
        if type_ == LAST_DOT:
            return cur
        if type_ == LAST_DOTDOT:
            return self.follow_dotdot(cur)
        if encoded_len(name) > NAME_MAX:
            # the component's filesystem decides (simple_lookup, fuse_lookup_name)
            pass
        d = self.lookup_one(cur, name)
        if d.inode is None:
            raise oserror(errno.ENOENT)  # step_into: negative dentry
        nxt = self.follow_mount(Path(cur.mnt, d))
        if follow and st.S_ISLNK(nxt.inode.mode):
            return self._follow_link(cur, nxt, depth)
        return nxt

    def _follow_link(self, dir_path: Path, link: Path, depth: int) -> Path:
        """``pick_link``: count, check protected_symlinks, resolve the target."""
        if self.total_link_count >= MAXSYMLINKS:
            raise oserror(errno.ELOOP)
        self.total_link_count += 1
        may_follow_link(link.inode, dir_path.inode, self.cred)
        self.ctx.touch_atime(link)  # pick_link: following a link reads it (relatime)
        target = self.get_link(link)
        if target == "":
            raise oserror(errno.ENOENT)
        start = self.task.root if target.startswith("/") else dir_path
        return self._walk_from(start, target, LOOKUP_FOLLOW, depth + 1)

    def _lookup_last(
        self, parent: Path, last: str, type_: int, trailing: bool, flags: int, depth: int
    ) -> Path:
        """``lookup_last`` + the LOOKUP_DIRECTORY check of ``complete_walk``."""
        if type_ == LAST_ROOT:
            return parent
        if type_ == LAST_NORM and trailing:
            flags |= LOOKUP_FOLLOW | LOOKUP_DIRECTORY
        res = self._walk_component(parent, last, type_, bool(flags & LOOKUP_FOLLOW), depth)
        if flags & LOOKUP_DIRECTORY and not st.S_ISDIR(res.inode.mode):
            raise oserror(errno.ENOTDIR)
        return res

    def parent_of(self, path: str) -> Parent:
        """``filename_parentat``: walk to the directory that holds the last component."""
        check_path(path)
        cur = self._start(path)
        try:
            dir_path, last, type_, trailing = self._link_path_walk(cur, path, 0)
        except OSError as e:
            self.ctx.hooks.emit(
                "walk", path=path, parent=True, result=errno.errorcode.get(e.errno or 0, "?")
            )
            raise
        self.ctx.hooks.emit("walk", path=path, parent=True, result="ok")
        return Parent(dir_path, last, type_, trailing)


def lookup_path(
    ctx: WalkContext, task: Task, path: str, flags: int, start: Path | None = None
) -> Path:
    """Resolve ``path`` for ``task`` (``filename_lookup``)."""
    return Walker(ctx, task, start).walk(path, flags)


def lookup_parent(
    ctx: WalkContext, task: Task, path: str, start: Path | None = None
) -> tuple[Walker, Parent]:
    """``filename_parentat``; returns the walker too, for the final ``lookup_one``."""
    w = Walker(ctx, task, start)
    return w, w.parent_of(path)


def is_mount_root(path: Path) -> bool:
    return path.dentry is path.mnt.root


def mount_of(path: Path) -> Mount:
    return path.mnt
