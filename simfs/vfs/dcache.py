"""The dentry cache (``fs/dcache.c``): lookup of cached children, invalidation, and
the release of unused dentries at the end of a system call.

Linux drops a dentry when its last reference goes (``dput``) if the driver's
``d_delete`` says so (FUSE: the entry timeout has passed); dropping the last alias of an
inode with no open files evicts it (``iput`` -> ``evict_inode``: FUSE sends FORGET).  A
path walk's references are transient, so simfs releases everything a system call looked
up when the call returns, deepest first, which is when Linux's ``path_put``/``dput``
chain runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simfs.vfs.inode import Dentry, Inode, SuperBlock

if TYPE_CHECKING:
    from simfs.vfs.mount import MountTable


def d_lookup(parent: Dentry, name: str) -> Dentry | None:
    """``d_lookup``: the cached child, if any."""
    return parent.children.get(name)


def d_alloc(parent: Dentry, name: str) -> Dentry:
    """``d_alloc`` + ``d_add`` into the parent's hash (as a negative entry for now)."""
    d = Dentry(name=name, parent=parent, sb=parent.sb)
    parent.children[name] = d
    return d


def d_drop(dentry: Dentry) -> None:
    """``d_drop``: unhash, so later lookups miss it; holders keep their reference."""
    parent = dentry.parent
    if parent is not None and parent.children.get(dentry.name) is dentry:
        del parent.children[dentry.name]
    dentry.unhashed = True


def d_move(dentry: Dentry, new_parent: Dentry, new_name: str) -> None:
    """``d_move``: rename in the cache (the target entry, if any, is dropped first)."""
    d_drop(dentry)
    victim = new_parent.children.get(new_name)
    if victim is not None:
        d_drop(victim)
    dentry.parent = new_parent
    dentry.name = new_name
    dentry.unhashed = False
    new_parent.children[new_name] = dentry


def d_exchange(a: Dentry, b: Dentry) -> None:
    """``d_exchange``: swap two cached names (RENAME_EXCHANGE)."""
    pa, na, pb, nb = a.parent, a.name, b.parent, b.name
    assert pa is not None and pb is not None
    d_drop(a)
    d_drop(b)
    a.parent, a.name, b.parent, b.name = pb, nb, pa, na
    a.unhashed = b.unhashed = False
    pb.children[nb] = a
    pa.children[na] = b


def iput_alias(dentry: Dentry) -> None:
    """Detach the inode from a dying dentry and evict it if nothing holds it."""
    inode = dentry.inode
    dentry.instantiate(None)
    if inode is not None:
        iput(inode)


def iput(inode: Inode) -> None:
    """``iput``: evict once no dentry and no open file refers to the inode."""
    if not inode.aliases and inode.open_count == 0:
        inode.sb.evict_inode(inode)


def try_kill(dentry: Dentry, mounts: MountTable) -> bool:
    """``dput`` of an unreferenced dentry: kill it if the driver's ``d_delete`` asks.

    Returns True if the dentry was killed.
    """
    if dentry.parent is None or dentry.pins > 0 or dentry.children:
        return False
    if mounts.any_mount_on(dentry):
        return False
    if not dentry.unhashed and not dentry.sb.d_delete(dentry):
        return False
    d_drop(dentry)
    iput_alias(dentry)
    return True


def release(touched: list[Dentry], mounts: MountTable) -> None:
    """End-of-syscall ``dput`` of everything the call looked up, deepest first."""
    seen: set[int] = set()
    for d in reversed(touched):
        cur: Dentry | None = d
        while cur is not None and id(cur) not in seen:
            seen.add(id(cur))
            parent = cur.parent
            if not try_kill(cur, mounts):
                break
            cur = parent
            if cur is not None:
                seen.discard(id(cur))  # its child just went: it may die now


def shrink_sb(sb: SuperBlock, root: Dentry) -> None:
    """``shrink_dcache_for_umount``: kill every dentry of the superblock, leaves first."""

    def walk(d: Dentry) -> None:
        for child in list(d.children.values()):
            walk(child)
        if d.parent is not None:
            d_drop(d)
        iput_alias(d)

    walk(root)
