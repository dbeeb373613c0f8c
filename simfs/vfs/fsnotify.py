"""fsnotify and inotify, minimal: ``include/linux/fsnotify.h``, ``fs/notify/fsnotify.c``,
``fs/notify/inotify/inotify_user.c`` and ``inotify_fsnotify.c``.

What is modelled:

* **Marks by inode.**  An inotify watch is a mark on one inode (``inode->i_fsnotify_marks``)
  with an event mask.  Linux pins the inode while a mark exists; simfs keys the marks by
  ``(superblock, ino)`` so a watched inode that the driver drops and rebuilds keeps them.
* **The hooks where Linux has them**, called by :mod:`simfs.vfs.ops` and the syscall layer:
  ``fsnotify_create`` (``vfs_create``/``vfs_mknod``/``vfs_symlink``, and
  ``open_last_lookups`` for ``open(O_CREAT)``), ``fsnotify_mkdir``, ``fsnotify_link``,
  ``fsnotify_unlink``/``fsnotify_rmdir`` (``d_delete``), ``fsnotify_move``,
  ``fsnotify_change`` (``notify_change``), ``fsnotify_xattr``, ``fsnotify_access``/
  ``fsnotify_modify`` (``vfs_read``/``vfs_write`` with a positive count),
  ``fsnotify_open`` (``do_sys_openat2``) and ``fsnotify_close`` (``__fput``).  Events on a
  file are also reported to watches on its parent directory, with the file's name
  (``fsnotify_parent``; only the "possible on child" events).
* **Inotify instances** (:class:`InotifyInode`, an anonymous inode behind the descriptor
  ``inotify_init1`` returns): watch descriptors from 1, ``IN_MASK_ADD``/``IN_MASK_CREATE``/
  ``IN_ONESHOT``, a queue of events merged with an identical last event
  (``inotify_merge``), ``IN_Q_OVERFLOW`` past ``max_queued_events``, ``IN_IGNORED`` when
  a watch goes; ``read`` returns whole packed ``struct inotify_event`` records
  (EINVAL if the first does not fit, EAGAIN when empty: nothing could ever write meanwhile).

IN_DELETE_SELF and IN_IGNORED come when the last name goes and the dentry is not in use,
else at the last ``fput`` of it (``dentry_unlink_inode``).  Not modelled: fanotify,
IN_UNMOUNT, IN_EXCL_UNLINK filtering, per-user limits, a watch's ``dput`` via ``chdir``.
Stacked filesystems: ``inotify_add_watch`` asks the dentry's ``d_canonical_path``
(Android; FUSE: the lower path of a fuse-bpf dentry) which inode to watch -- see
:func:`inotify_add_watch`.
"""

from __future__ import annotations

import errno
import stat as st
import struct
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simfs.vfs.inode import Inode, oserror

if TYPE_CHECKING:
    from simfs.vfs.file import File
    from simfs.vfs.inode import Dentry

__all__ = [
    "IN_ACCESS",
    "IN_ALL_EVENTS",
    "IN_ATTRIB",
    "IN_CLOSE_NOWRITE",
    "IN_CLOSE_WRITE",
    "IN_CREATE",
    "IN_DELETE",
    "IN_DELETE_SELF",
    "IN_IGNORED",
    "IN_ISDIR",
    "IN_MODIFY",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_OPEN",
    "InotifyInode",
    "fsnotify_access",
    "fsnotify_change",
    "fsnotify_close",
    "fsnotify_create",
    "fsnotify_inoderemove",
    "fsnotify_link",
    "fsnotify_mkdir",
    "fsnotify_modify",
    "fsnotify_move",
    "fsnotify_open",
    "fsnotify_rmdir",
    "fsnotify_unlink",
    "fsnotify_xattr",
    "inotify_add_watch",
    "inotify_rm_watch",
]

# include/uapi/linux/inotify.h
IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_ALL_EVENTS = 0x00000FFF
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_MASK_CREATE = 0x10000000
IN_MASK_ADD = 0x20000000
IN_ISDIR = 0x40000000
IN_ONESHOT = 0x80000000
IN_CLOEXEC = 0o2000000
IN_NONBLOCK = 0o4000
#: ALL_INOTIFY_BITS: every bit a watch mask may carry
ALL_INOTIFY_BITS = (
    IN_ALL_EVENTS
    | IN_UNMOUNT
    | IN_Q_OVERFLOW
    | IN_IGNORED
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
    | IN_MASK_CREATE
    | IN_MASK_ADD
    | IN_ISDIR
    | IN_ONESHOT
)
#: FS_EVENTS_POSS_ON_CHILD: what a directory watch also hears about its children
EVENTS_ON_CHILD = IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_OPEN
#: /proc/sys/fs/inotify/max_queued_events
MAX_QUEUED_EVENTS = 16384

_EVENT = struct.Struct("<iIII")  # struct inotify_event: wd, mask, cookie, len (+ name)


@dataclass(eq=False)
class Watch:
    """``struct inotify_inode_mark``: one watch of one instance on one inode."""

    wd: int
    mask: int
    key: tuple[int, int]
    sb: Any
    group: InotifyInode


class _State:
    """The kernel's fsnotify state: marks by watched inode, the move cookie counter."""

    def __init__(self) -> None:
        self.marks: dict[tuple[int, int], list[Watch]] = {}
        self.cookie = 0


def _state(k: Any, create: bool = False) -> _State | None:
    s: _State | None = k.__dict__.get("_fsnotify")
    if s is None and create:
        s = k.__dict__["_fsnotify"] = _State()
    return s


def _key(inode: Inode) -> tuple[int, int]:
    return (id(inode.sb), int(inode.ino))


def pack_event(wd: int, mask: int, cookie: int, name: str | None) -> bytes:
    """One ``struct inotify_event`` as ``read`` returns it: the name NUL-terminated and
    padded to a multiple of the event size (``round_event_name_len``)."""
    if not name:
        return _EVENT.pack(wd, mask, cookie, 0)
    raw = name.encode("utf-8", "surrogateescape") + b"\0"
    size = _EVENT.size
    padded = (len(raw) + size - 1) // size * size
    return _EVENT.pack(wd, mask, cookie, padded) + raw + b"\0" * (padded - len(raw))


# ------------------------------------------------------------------------------------------
# The inotify instance


class InotifyInode(Inode):
    """The anonymous inode of an inotify descriptor (``anon_inode:inotify``): the group,
    its watches by descriptor and its event queue."""

    def __init__(self, sb: Any, ino: int, now: int, kernel: Any) -> None:
        super().__init__(sb)
        self.ino = ino
        self.mode = 0o600  # anon_inode: S_IRUSR | S_IWUSR, no file type
        self.uid = self.gid = 0
        self.nlink = 1
        self.size = 0
        self.rdev = 0
        self.atime_ns = self.mtime_ns = self.ctime_ns = now
        self.blksize = 4096
        self.blocks = 0
        self.kernel = kernel
        self.watches: dict[int, Watch] = {}
        self.last_wd = 0
        self.queue: deque[bytes] = deque()
        self.overflowed = False

    # -- the group's handle_inode_event (inotify_handle_inode_event) ------------------------
    def queue_event(self, wd: int, mask: int, cookie: int, name: str | None) -> None:
        event = pack_event(wd, mask, cookie, name)
        if self.queue and self.queue[-1] == event:
            return  # inotify_merge: identical to the last queued event
        if len(self.queue) >= MAX_QUEUED_EVENTS:
            if not self.overflowed:
                self.queue.append(pack_event(-1, IN_Q_OVERFLOW, 0, None))
                self.overflowed = True
            return
        self.queue.append(event)

    def read(self, file: File, offset: int, size: int) -> bytes:
        """``inotify_read``: as many whole events as fit; EINVAL if the first does not."""
        if not self.queue:
            raise oserror(errno.EAGAIN)  # would block forever: nothing runs meanwhile
        out = bytearray()
        while self.queue and len(out) + len(self.queue[0]) <= size:
            out += self.queue.popleft()
        if not out:
            raise oserror(errno.EINVAL)
        if not self.queue:
            self.overflowed = False
        return bytes(out)

    def write(self, file: File, offset: int, data: bytes) -> int:
        raise oserror(errno.EINVAL)

    def llseek(self, file: File, offset: int, whence: int) -> int:
        raise oserror(errno.ESPIPE)

    def release(self, file: File) -> None:
        """``inotify_release``: the group and all its marks go."""
        for wd in list(self.watches):
            self._destroy_watch(wd, notify=False)

    def _destroy_watch(self, wd: int, notify: bool = True) -> None:
        w = self.watches.pop(wd)
        state = _state(self.kernel)
        if state is not None:
            marks = state.marks.get(w.key, [])
            if w in marks:
                marks.remove(w)
            if not marks:
                state.marks.pop(w.key, None)
        if notify:
            self.queue_event(wd, IN_IGNORED, 0, None)  # inotify_freeing_mark

    def update_watch(self, inode: Inode, mask: int) -> int:
        """``inotify_update_watch``: change this instance's watch on ``inode`` or add one."""
        key = _key(inode)
        for w in self.watches.values():
            if w.key == key:
                if mask & IN_MASK_CREATE:
                    raise oserror(errno.EEXIST)
                events = mask & (ALL_INOTIFY_BITS & ~(IN_MASK_ADD | IN_MASK_CREATE))
                w.mask = (w.mask | events) if mask & IN_MASK_ADD else events
                return w.wd
        state = _state(self.kernel, create=True)
        assert state is not None
        self.last_wd += 1  # idr_alloc_cyclic from 1
        w = Watch(self.last_wd, mask & ~(IN_MASK_ADD | IN_MASK_CREATE), key, inode.sb, self)
        self.watches[w.wd] = w
        state.marks.setdefault(key, []).append(w)
        return w.wd


# ------------------------------------------------------------------------------------------
# Delivery


def _deliver(inode: Inode, mask: int, name: str | None, cookie: int = 0) -> None:
    """``fsnotify()`` on one inode's marks: each watch whose mask has the event queues it
    (with ``IN_ISDIR`` if set); a one-shot watch then goes."""
    state = _state(inode.sb.kernel)
    if state is None:
        return
    marks = state.marks.get(_key(inode))
    if not marks:
        return
    event = mask & IN_ALL_EVENTS
    for w in list(marks):
        if not w.mask & event:
            continue
        w.group.queue_event(w.wd, mask & (IN_ALL_EVENTS | IN_ISDIR), cookie, name)
        if w.mask & IN_ONESHOT and w.wd in w.group.watches:
            w.group._destroy_watch(w.wd)


def _enabled(inode: Inode | None) -> bool:
    if inode is None:
        return False
    kernel = getattr(inode.sb, "kernel", None)
    return kernel is not None and _state(kernel) is not None


def _isdir(inode: Inode | None) -> int:
    return IN_ISDIR if inode is not None and st.S_ISDIR(inode.mode) else 0


def _dentry_event(dentry: Dentry, mask: int) -> None:
    """``fsnotify_dentry``/``fsnotify_parent``: the inode's own watches, and its parent
    directory's (with the name) for events possible on a child."""
    inode = dentry.inode
    if not _enabled(inode):
        return
    assert inode is not None
    mask |= _isdir(inode)
    parent = dentry.parent
    if mask & EVENTS_ON_CHILD and parent is not None and parent.inode is not None:
        _deliver(parent.inode, mask, dentry.name)
    _deliver(inode, mask, None)


def _name_event(dir_inode: Inode, mask: int, name: str, cookie: int = 0) -> None:
    """``fsnotify_name``: a directory event about the entry ``name``."""
    if _enabled(dir_inode):
        _deliver(dir_inode, mask, name, cookie)


# ------------------------------------------------------------------------------------------
# The hooks (include/linux/fsnotify.h)


def fsnotify_create(dir_inode: Inode, dentry: Dentry) -> None:
    """``fsnotify_create``: IN_CREATE on the directory."""
    _name_event(dir_inode, IN_CREATE, dentry.name)


def fsnotify_mkdir(dir_inode: Inode, dentry: Dentry) -> None:
    """``fsnotify_mkdir``: IN_CREATE|IN_ISDIR on the directory."""
    _name_event(dir_inode, IN_CREATE | IN_ISDIR, dentry.name)


def fsnotify_link(dir_inode: Inode, inode: Inode, new_dentry: Dentry) -> None:
    """``fsnotify_link``: IN_ATTRIB on the inode (link count), IN_CREATE on the dir."""
    if _enabled(inode):
        _deliver(inode, IN_ATTRIB, None)
    _name_event(dir_inode, IN_CREATE, new_dentry.name)


def _gone(inode: Inode) -> bool:
    """No name is left: the last link went, or the directory was removed (S_DEAD)."""
    return inode.nlink == 0 or (st.S_ISDIR(inode.mode) and inode.dead)


def fsnotify_inoderemove(inode: Inode) -> None:
    """``dentry_unlink_inode`` of an inode with no link left: ``fsnotify_inoderemove``
    (IN_DELETE_SELF) and ``__fsnotify_inode_delete`` (every mark goes: IN_IGNORED)."""
    if not _enabled(inode) or not _gone(inode):
        return
    _deliver(inode, IN_DELETE_SELF, None)
    state = _state(inode.sb.kernel)
    if state is None:
        return
    for w in list(state.marks.get(_key(inode), [])):
        if w.wd in w.group.watches:
            w.group._destroy_watch(w.wd)


def fsnotify_unlink(dir_inode: Inode, dentry: Dentry, inode: Inode, busy: bool) -> None:
    """``vfs_unlink`` + ``d_delete_notify``: IN_ATTRIB on the inode (``fsnotify_link_count``),
    then -- unless the dentry is still in use, in which case the last ``dput`` does it --
    IN_DELETE_SELF/IN_IGNORED if no link is left, then IN_DELETE on the directory
    (``fsnotify_delete``)."""
    if _enabled(inode):
        _deliver(inode, IN_ATTRIB, None)
    if not busy:
        fsnotify_inoderemove(inode)
    _name_event(dir_inode, IN_DELETE, dentry.name)


def fsnotify_rmdir(dir_inode: Inode, dentry: Dentry, inode: Inode, busy: bool) -> None:
    """``vfs_rmdir`` + ``d_delete_notify``: IN_DELETE_SELF/IN_IGNORED on the directory
    (at the last ``dput`` if it is in use), then IN_DELETE|IN_ISDIR on the parent."""
    if not busy:
        fsnotify_inoderemove(inode)
    _name_event(dir_inode, IN_DELETE | IN_ISDIR, dentry.name)


def fsnotify_move(
    old_dir: Inode,
    new_dir: Inode,
    old_name: str,
    new_name: str,
    source: Inode,
    target: Inode | None,
    target_busy: bool = False,
) -> None:
    """``fsnotify_move``: IN_MOVED_FROM/IN_MOVED_TO with one cookie, IN_ATTRIB on an
    overwritten target (link count), IN_MOVE_SELF on the moved inode; then the
    overwritten target's last ``dput`` (IN_DELETE_SELF/IN_IGNORED when no link is left)."""
    kernel = getattr(old_dir.sb, "kernel", None)
    state = _state(kernel) if kernel is not None else None
    if state is None:
        return
    state.cookie = (state.cookie + 1) & 0xFFFFFFFF  # fsnotify_get_cookie
    isdir = _isdir(source)
    _deliver(old_dir, IN_MOVED_FROM | isdir, old_name, state.cookie)
    _deliver(new_dir, IN_MOVED_TO | isdir, new_name, state.cookie)
    if target is not None:
        _deliver(target, IN_ATTRIB, None)
    _deliver(source, IN_MOVE_SELF, None)
    if target is not None and not target_busy:
        fsnotify_inoderemove(target)


def fsnotify_change(dentry: Dentry, ia_valid: int) -> None:
    """``fsnotify_change``: IN_ATTRIB for owner/mode/both times, IN_MODIFY for size or
    mtime alone, IN_ACCESS for atime alone."""
    from simfs.vfs.inode import ATTR_ATIME, ATTR_GID, ATTR_MODE, ATTR_MTIME, ATTR_SIZE, ATTR_UID

    mask = 0
    if ia_valid & (ATTR_UID | ATTR_GID | ATTR_MODE):
        mask |= IN_ATTRIB
    if ia_valid & ATTR_SIZE:
        mask |= IN_MODIFY
    if ia_valid & (ATTR_ATIME | ATTR_MTIME) == ATTR_ATIME | ATTR_MTIME:
        mask |= IN_ATTRIB
    elif ia_valid & ATTR_ATIME:
        mask |= IN_ACCESS
    elif ia_valid & ATTR_MTIME:
        mask |= IN_MODIFY
    if mask:
        _dentry_event(dentry, mask)


def fsnotify_xattr(dentry: Dentry) -> None:
    """``fsnotify_xattr``: IN_ATTRIB."""
    _dentry_event(dentry, IN_ATTRIB)


def _file_event(file: File, mask: int) -> None:
    if file.is_path:
        return
    _dentry_event(file.path.dentry, mask)


def fsnotify_access(file: File) -> None:
    """``fsnotify_access`` (a read returned data)."""
    _file_event(file, IN_ACCESS)


def fsnotify_modify(file: File) -> None:
    """``fsnotify_modify`` (a write wrote data)."""
    _file_event(file, IN_MODIFY)


def fsnotify_open(file: File) -> None:
    """``fsnotify_open``."""
    _file_event(file, IN_OPEN)


def fsnotify_close(file: File) -> None:
    """``fsnotify_close`` (``__fput``)."""
    _file_event(file, IN_CLOSE_WRITE if file.writable else IN_CLOSE_NOWRITE)


# ------------------------------------------------------------------------------------------
# The system calls' kernel side (fs/notify/inotify/inotify_user.c)


def inotify_add_watch(group: InotifyInode, path: Any, mask: int) -> int:
    """``inotify_add_watch`` after the path walk: ask the dentry's ``d_canonical_path``
    (Android's hook "support stacked filesystems": the watch goes on the inode of the
    canonical path), then ``inotify_update_watch``.  Returns the watch descriptor."""
    canonical = getattr(path.dentry.sb, "d_canonical_path", None)
    if canonical is not None:
        path = canonical(path)
    inode = path.dentry.inode
    if inode is None:
        raise oserror(errno.ENOENT)
    return group.update_watch(inode, mask)


def inotify_rm_watch(group: InotifyInode, wd: int) -> None:
    """``inotify_rm_watch``: EINVAL for an unknown descriptor; the watch goes with an
    IN_IGNORED event."""
    if wd not in group.watches:
        raise oserror(errno.EINVAL)
    group._destroy_watch(wd)
