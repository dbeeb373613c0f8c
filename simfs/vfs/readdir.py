"""The user buffer of one ``getdents64(2)`` call (``fs/readdir.c``).

``struct dir_context`` with ``struct getdents_callback64``: a driver's
``->iterate_shared`` hands entries to :meth:`DirContext.emit` (``dir_emit`` ->
``filldir64``) until one does not fit the caller's ``count`` bytes; each accepted entry
costs its ``linux_dirent64`` record, ``ALIGN(offsetof(d_name) + namelen + 1, 8)`` bytes
with ``offsetof(struct linux_dirent64, d_name)`` = 19.  ``getdents64`` then returns
the accepted records, or the error the callback recorded when none fit (EINVAL: the
buffer is too small for the first entry).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field

from simfs.vfs.inode import DirEntry

__all__ = ["GETDENTS_BUFSIZE", "DirContext", "dirent64_reclen"]

#: glibc's ``opendir`` buffer (``__alloc_dir``: 32 KiB) -- what one ``readdir`` refill asks for
GETDENTS_BUFSIZE = 32768

_D_NAME_OFFSET = 19  # offsetof(struct linux_dirent64, d_name): u64 + s64 + u16 + u8


def dirent64_reclen(name: str) -> int:
    """``filldir64``: the record size of one ``linux_dirent64`` carrying ``name``."""
    namelen = len(os.fsencode(name))
    return (_D_NAME_OFFSET + namelen + 1 + 7) & ~7


@dataclass
class DirContext:
    """``struct getdents_callback64``: ``pos`` (``ctx->pos``), the bytes still free
    (``count``; None = no limit, for the "all entries" helpers) and what was accepted."""

    pos: int
    count: int | None
    entries: list[DirEntry] = field(default_factory=list)
    #: the errno ``filldir64`` recorded when it refused an entry (``buf->error``)
    error: int = 0

    @property
    def full(self) -> bool:
        """A previous :meth:`emit` was refused: the caller's buffer is full."""
        return self.error != 0

    def emit(self, entry: DirEntry) -> bool:
        """``dir_emit`` -> ``filldir64``: accept ``entry`` if its record fits; False stops
        the driver's walk (it must not move ``pos`` past a refused entry)."""
        if self.count is not None:
            reclen = dirent64_reclen(entry.name)
            if reclen > self.count:
                self.error = errno.EINVAL  # "only used if we fail"
                return False
            self.count -= reclen
        self.entries.append(entry)
        return True
