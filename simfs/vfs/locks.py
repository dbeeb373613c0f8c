"""BSD ``flock`` locks (``fs/locks.c``: ``flock_lock_inode``).

Locks belong to the open file description, so ``dup``'ed descriptors share one, and a
second ``open`` of the same file conflicts with it.
"""

from __future__ import annotations

import errno
import fcntl
from typing import TYPE_CHECKING

from simfs.vfs.inode import oserror

if TYPE_CHECKING:
    from simfs.vfs.file import File
    from simfs.vfs.inode import Inode

LOCK_SH = fcntl.LOCK_SH
LOCK_EX = fcntl.LOCK_EX
LOCK_NB = fcntl.LOCK_NB
LOCK_UN = fcntl.LOCK_UN


def flock_lock_inode(inode: Inode, file: File, operation: int) -> None:
    """Apply ``operation`` for ``file`` on ``inode``'s lock list.

    The simulator has one thread of control, so a conflicting lock that would block
    (no ``LOCK_NB``) cannot ever be granted: it is reported as ``EWOULDBLOCK`` with
    the same meaning, since nothing else could release it while we wait.
    """
    cmd = operation & ~LOCK_NB
    if cmd == LOCK_UN:
        inode.flock_holders.pop(file.id, None)
        return
    if cmd not in (LOCK_SH, LOCK_EX):
        raise oserror(errno.EINVAL)  # flock_translate_cmd: unknown command
    want = "ex" if cmd == LOCK_EX else "sh"
    for holder, kind in inode.flock_holders.items():
        if holder == file.id:
            continue
        if want == "ex" or kind == "ex":
            raise oserror(errno.EWOULDBLOCK)  # flock_lock_inode: conflict
    inode.flock_holders[file.id] = want


def flock_release(inode: Inode, file: File) -> None:
    """``locks_remove_flock``: the last close drops the description's lock."""
    inode.flock_holders.pop(file.id, None)
