"""Permission rules of the VFS (``fs/namei.c``, ``fs/attr.c``, ``fs/xattr.c``, ``fs/inode.c``).

Each function is the Linux function of the same name, for the init user namespace and
without POSIX ACLs, LSMs or immutable/append-only flags (no simulated filesystem has
them).  Failures raise ``OSError`` with Linux's errno.
"""

from __future__ import annotations

import errno
import stat as st
from typing import TYPE_CHECKING

from simfs.vfs.cred import (
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_FSETID,
    CAP_SYS_ADMIN,
    Cred,
)
from simfs.vfs.file import MAX_LFS_FILESIZE
from simfs.vfs.inode import (
    ATTR_ATIME_SET,
    ATTR_FORCE,
    ATTR_GID,
    ATTR_KILL_SGID,
    ATTR_KILL_SUID,
    ATTR_MODE,
    ATTR_MTIME_SET,
    ATTR_SIZE,
    ATTR_TIMES_SET,
    ATTR_UID,
    FS_APPEND_FL,
    FS_IMMUTABLE_FL,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    Dentry,
    Iattr,
    Inode,
    oserror,
)

if TYPE_CHECKING:
    pass

S_IXUGO = 0o111
S_IRWXUGO = 0o777
S_IALLUGO = 0o7777

#: ``fs.protected_hardlinks`` / ``fs.protected_symlinks`` sysctls, as measured on this machine kind.
PROTECTED_HARDLINKS = True
PROTECTED_SYMLINKS = False  # this machine: fs.protected_symlinks = 0


def acl_permission_check(inode: Inode, mask: int, cred: Cred) -> bool:
    """``acl_permission_check``: the mode-bit check alone (True = allowed)."""
    mode = inode.mode
    if cred.fsuid == inode.uid:
        # the owner class is decided by the owner bits alone
        return not ((mask & 7) & ~(mode >> 6))
    mask &= 7
    # group bits only matter when they differ from other's in the bits asked for
    if mask & (mode ^ (mode >> 3)) and cred.in_group_p(inode.gid):
        mode >>= 3
    return not (mask & ~mode)


def generic_permission(inode: Inode, mask: int, cred: Cred) -> None:
    """``generic_permission``: mode bits, then the DAC-override capabilities."""
    if acl_permission_check(inode, mask, cred):
        return
    if st.S_ISDIR(inode.mode):
        # DACs are overridable for directories
        if not (mask & MAY_WRITE) and cred.capable(CAP_DAC_READ_SEARCH):
            return
        if cred.capable(CAP_DAC_OVERRIDE):
            return
        raise oserror(errno.EACCES)
    mask &= MAY_READ | MAY_WRITE | MAY_EXEC
    if mask == MAY_READ and cred.capable(CAP_DAC_READ_SEARCH):
        return
    # executable DACs are overridable only when at least one exec bit is set
    if (not (mask & MAY_EXEC) or (inode.mode & S_IXUGO)) and cred.capable(CAP_DAC_OVERRIDE):
        return
    raise oserror(errno.EACCES)


def inode_permission(inode: Inode, mask: int, cred: Cred) -> None:
    """``inode_permission``: no writing an immutable inode (EPERM), then the driver's
    ``permission`` hook (default generic)."""
    if mask & MAY_WRITE and inode.fsflags & FS_IMMUTABLE_FL:
        raise oserror(errno.EPERM)  # inode_permission: IS_IMMUTABLE
    inode.permission(mask, cred)


def inode_owner_or_capable(inode: Inode, cred: Cred) -> bool:
    """``inode_owner_or_capable``."""
    return cred.fsuid == inode.uid or cred.capable(CAP_FOWNER)


def in_group_or_capable(inode: Inode, gid: int, cred: Cred) -> bool:
    """``in_group_or_capable``."""
    return cred.in_group_p(gid) or cred.capable(CAP_FSETID)


def may_create(dir_inode: Inode, child: Dentry, cred: Cred) -> None:
    """``may_create``: positive child -> EEXIST; else write+search on the directory."""
    if child.inode is not None:
        raise oserror(errno.EEXIST)
    if dir_inode.dead:
        raise oserror(errno.ENOENT)  # IS_DEADDIR
    inode_permission(dir_inode, MAY_WRITE | MAY_EXEC, cred)


def check_sticky(dir_inode: Inode, inode: Inode, cred: Cred) -> bool:
    """``check_sticky``: True when the sticky bit forbids ``cred`` to remove ``inode``."""
    if not (dir_inode.mode & st.S_ISVTX):
        return False
    if cred.fsuid == inode.uid or cred.fsuid == dir_inode.uid:
        return False
    return not cred.capable(CAP_FOWNER)


def may_delete(dir_inode: Inode, victim: Dentry, isdir: bool, cred: Cred) -> None:
    """``may_delete``: the checks before unlink/rmdir/rename-away, in Linux's order."""
    inode = victim.inode
    if inode is None:
        raise oserror(errno.ENOENT)
    inode_permission(dir_inode, MAY_WRITE | MAY_EXEC, cred)
    if dir_inode.fsflags & FS_APPEND_FL:
        raise oserror(errno.EPERM)  # may_delete: IS_APPEND(dir)
    if check_sticky(dir_inode, inode, cred) or inode.fsflags & (FS_APPEND_FL | FS_IMMUTABLE_FL):
        raise oserror(errno.EPERM)  # may_delete: sticky, IS_APPEND, IS_IMMUTABLE
    if isdir:
        if not st.S_ISDIR(inode.mode):
            raise oserror(errno.ENOTDIR)
        if victim.is_root:
            raise oserror(errno.EBUSY)
    elif st.S_ISDIR(inode.mode):
        raise oserror(errno.EISDIR)
    if dir_inode.dead:
        raise oserror(errno.ENOENT)  # IS_DEADDIR


def safe_hardlink_source(inode: Inode, cred: Cred) -> bool:
    """``safe_hardlink_source``."""
    mode = inode.mode
    if not st.S_ISREG(mode):
        return False
    if mode & st.S_ISUID:
        return False
    if (mode & (st.S_ISGID | st.S_IXGRP)) == (st.S_ISGID | st.S_IXGRP):
        return False
    try:
        inode_permission(inode, MAY_READ | MAY_WRITE, cred)
    except OSError:
        return False
    return True


def may_linkat(inode: Inode, cred: Cred) -> None:
    """``may_linkat``: ``fs.protected_hardlinks``."""
    if not PROTECTED_HARDLINKS:
        return
    if safe_hardlink_source(inode, cred) or inode_owner_or_capable(inode, cred):
        return
    raise oserror(errno.EPERM)


def may_follow_link(link: Inode, parent: Inode, cred: Cred) -> None:
    """``may_follow_link``: ``fs.protected_symlinks`` in sticky world-writable dirs."""
    if not PROTECTED_SYMLINKS:
        return
    if cred.fsuid == link.uid:
        return
    if (parent.mode & (st.S_ISVTX | 0o002)) != (st.S_ISVTX | 0o002):
        return
    if parent.uid == link.uid:
        return
    raise oserror(errno.EACCES)


def chown_ok(inode: Inode, uid: int, cred: Cred) -> bool:
    """``chown_ok``."""
    if cred.fsuid == inode.uid and uid == inode.uid:
        return True
    return cred.capable(CAP_CHOWN)


def chgrp_ok(inode: Inode, gid: int, cred: Cred) -> bool:
    """``chgrp_ok``."""
    if cred.fsuid == inode.uid and (gid == inode.gid or cred.in_group_p(gid)):
        return True
    return cred.capable(CAP_CHOWN)


def inode_newsize_ok(inode: Inode, size: int) -> None:
    """``inode_newsize_ok``: sizes beyond the fs maximum -> EFBIG."""
    if size > MAX_LFS_FILESIZE:
        raise oserror(errno.EFBIG)


def setattr_prepare(inode: Inode, attr: Iattr, cred: Cred) -> None:
    """``setattr_prepare``: may ``cred`` make this change?  May strip S_ISGID."""
    valid = attr.valid
    if valid & ATTR_SIZE:
        inode_newsize_ok(inode, attr.size)
    if valid & ATTR_FORCE:
        return
    if valid & ATTR_UID and not chown_ok(inode, attr.uid, cred):
        raise oserror(errno.EPERM)
    if valid & ATTR_GID and not chgrp_ok(inode, attr.gid, cred):
        raise oserror(errno.EPERM)
    if valid & ATTR_MODE:
        if not inode_owner_or_capable(inode, cred):
            raise oserror(errno.EPERM)
        gid = attr.gid if valid & ATTR_GID else inode.gid
        if not in_group_or_capable(inode, gid, cred):
            attr.mode &= ~st.S_ISGID
    if valid & (ATTR_MTIME_SET | ATTR_ATIME_SET | ATTR_TIMES_SET) and not inode_owner_or_capable(
        inode, cred
    ):
        raise oserror(errno.EPERM)


def should_remove_suid(inode: Inode, cred: Cred) -> int:
    """``setattr_should_drop_suidgid``: the ATTR_KILL_* bits a write/truncate must apply
    (suid always; sgid as ``setattr_should_drop_sgid``), unless CAP_FSETID."""
    mode = inode.mode
    kill = 0
    if mode & st.S_ISUID:
        kill = ATTR_KILL_SUID
    kill |= setattr_should_drop_sgid(inode, cred)
    if kill and not cred.capable(CAP_FSETID) and st.S_ISREG(mode):
        return kill
    return 0


def setattr_should_drop_sgid(inode: Inode, cred: Cred) -> int:
    """``setattr_should_drop_sgid`` (used by chown)."""
    mode = inode.mode
    if not (mode & st.S_ISGID):
        return 0
    if mode & st.S_IXGRP:
        return ATTR_KILL_SGID
    if not in_group_or_capable(inode, inode.gid, cred):
        return ATTR_KILL_SGID
    return 0


def mode_strip_sgid(dir_inode: Inode, mode: int, cred: Cred) -> int:
    """``mode_strip_sgid``: a non-member may not create setgid-exec files in a sgid dir."""
    if (mode & (st.S_ISGID | st.S_IXGRP)) != (st.S_ISGID | st.S_IXGRP):
        return mode
    if st.S_ISDIR(mode) or not (dir_inode.mode & st.S_ISGID):
        return mode
    if in_group_or_capable(dir_inode, dir_inode.gid, cred):
        return mode
    return mode & ~st.S_ISGID


def vfs_prepare_mode(
    dir_inode: Inode, mode: int, mask_perms: int, type_: int, umask: int, cred: Cred
) -> int:
    """``vfs_prepare_mode``: strip sgid, apply umask, keep only ``mask_perms``, add type."""
    mode = mode_strip_sgid(dir_inode, mode, cred)
    mode = (mode & mask_perms) & ~umask
    return mode | type_


XATTR_SECURITY_PREFIX = "security."
XATTR_SYSTEM_PREFIX = "system."
XATTR_TRUSTED_PREFIX = "trusted."
XATTR_USER_PREFIX = "user."


def xattr_permission(inode: Inode, name: str, mask: int, cred: Cred) -> None:
    """``xattr_permission``: namespace rules, then ``inode_permission``."""
    if mask & MAY_WRITE and inode.fsflags & (FS_APPEND_FL | FS_IMMUTABLE_FL):
        raise oserror(errno.EPERM)  # xattr_permission: IS_IMMUTABLE || IS_APPEND
    if name.startswith(XATTR_SECURITY_PREFIX):
        # commoncap (cap_inode_setxattr/removexattr): security.* other than
        # security.capability needs CAP_SYS_ADMIN to change
        if mask & MAY_WRITE and name != "security.capability" and not cred.capable(CAP_SYS_ADMIN):
            raise oserror(errno.EPERM)
        return
    if name.startswith(XATTR_SYSTEM_PREFIX):
        return  # decided by the LSM, none here
    if name.startswith(XATTR_TRUSTED_PREFIX):
        if not cred.capable(CAP_SYS_ADMIN):
            raise oserror(errno.EPERM if mask & MAY_WRITE else errno.ENODATA)
        return
    if name.startswith(XATTR_USER_PREFIX):
        if not (st.S_ISREG(inode.mode) or st.S_ISDIR(inode.mode)):
            raise oserror(errno.EPERM if mask & MAY_WRITE else errno.ENODATA)
        if (
            st.S_ISDIR(inode.mode)
            and inode.mode & st.S_ISVTX
            and mask & MAY_WRITE
            and not inode_owner_or_capable(inode, cred)
        ):
            raise oserror(errno.EPERM)
    inode_permission(inode, mask, cred)
