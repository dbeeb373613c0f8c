"""Task credentials and capabilities (``include/linux/cred.h``, ``capability.h``).

Credentials travel with the simulated task; nothing here is process-global.  Only the
capabilities the VFS consults are modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_FOWNER = 3
CAP_FSETID = 4
CAP_KILL = 5
CAP_SETGID = 6
CAP_SETUID = 7
CAP_LINUX_IMMUTABLE = 9
CAP_SYS_ADMIN = 21
CAP_SYS_RESOURCE = 24
CAP_MKNOD = 27

#: What uid 0 gets on a stock system (the full set; we list the ones we consult).
ALL_CAPS: frozenset[int] = frozenset(
    {
        CAP_CHOWN,
        CAP_DAC_OVERRIDE,
        CAP_DAC_READ_SEARCH,
        CAP_FOWNER,
        CAP_FSETID,
        CAP_KILL,
        CAP_SETGID,
        CAP_SETUID,
        CAP_LINUX_IMMUTABLE,
        CAP_SYS_ADMIN,
        CAP_SYS_RESOURCE,
        CAP_MKNOD,
    }
)


@dataclass(frozen=True, slots=True)
class Cred:
    """A task's credentials: fsuid/fsgid decide filesystem access (``current_fsuid``)."""

    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    caps: frozenset[int] = field(default=ALL_CAPS)

    @classmethod
    def for_ids(cls, uid: int, gid: int, groups: tuple[int, ...] = ()) -> Cred:
        """Credentials of a freshly exec'ed task: root gets every capability, others none."""
        return cls(uid, gid, tuple(groups), ALL_CAPS if uid == 0 else frozenset())

    @property
    def fsuid(self) -> int:
        return self.uid

    @property
    def fsgid(self) -> int:
        return self.gid

    def capable(self, cap: int) -> bool:
        """``capable()`` / ``capable_wrt_inode_uidgid()`` in the init user namespace."""
        return cap in self.caps

    def in_group_p(self, gid: int) -> bool:
        """``in_group_p``: the fsgid or any supplementary group."""
        return gid == self.gid or gid in self.groups

    def without(self, *caps: int) -> Cred:
        """A copy with the given capabilities dropped (e.g. the readdir_perms self-test)."""
        return replace(self, caps=self.caps - frozenset(caps))
