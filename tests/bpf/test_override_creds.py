"""``override_creds=True`` (issue 17, the RFC v2 cover letter's TODO "backing operations
with the daemon's credentials"; the seed's speculation, not ACK): the backing phase of every
fuse-bpf operation runs with the mounter's credentials, as overlayfs's ``ovl_override_creds``
does.  ACK's ``fuse_permission`` hands the whole permission decision of a backed inode to the
ACCESS backing op (no ``generic_permission`` on the fuse inode first, even with
``default_permissions``), so with the option the *mounter's* rights decide every check:
a root mounter lets any caller read 0600 files and create in root-only directories (the
new files belong to the mounter), and an unprivileged mounter takes away rights the caller
has.  The table below is the scenario; each row flips."""

from __future__ import annotations

import errno
import os
from typing import Any

import pytest

import simfs


def _outcomes(
    override: bool, mounter_uid: int, default_permissions: bool = False
) -> dict[str, Any]:
    k = simfs.Kernel()
    k.lower.create_dir("/src", perm_bits=0o755)
    k.lower.create_file("/src/secret", contents=b"s", st_mode=0o100600)  # root's
    k.lower.create_file("/src/mine", contents=b"m", st_mode=0o100600)
    k.lower.get_object("/src/mine").st_uid = 1000
    k.lower.create_dir("/src/rootonly", perm_bits=0o755)
    k.lower.create_dir("/mnt", perm_bits=0o755)
    mounter = k.spawn(uid=mounter_uid, gid=mounter_uid)
    k.mount_fuse(
        "/mnt",
        root_dir="/src",
        no_daemon=True,
        allow_other=True,
        mounter=mounter,
        override_creds=override,
        default_permissions=default_permissions,
    )
    user = k.spawn(uid=1000, gid=1000)
    out: dict[str, Any] = {}

    def probe(name: str, fn: Any) -> None:
        try:
            out[name] = fn()
        except OSError as e:
            out[name] = errno.errorcode[e.errno]

    probe("read root's 0600", lambda: user.read(user.open("/mnt/secret", os.O_RDONLY), 5))
    probe("read own 0600", lambda: user.read(user.open("/mnt/mine", os.O_RDONLY), 5))
    probe(
        "create in root-only dir",
        lambda: user.open("/mnt/rootonly/n", os.O_CREAT | os.O_WRONLY, 0o644) >= 0,
    )
    probe("owner of the new file", lambda: k.lower.get_object("/src/rootonly/n").st_uid)
    return out


def test_root_mounter_grants_what_the_caller_lacks() -> None:
    assert _outcomes(False, 0) == {
        "read root's 0600": "EACCES",
        "read own 0600": b"m",
        "create in root-only dir": "EACCES",
        "owner of the new file": "ENOENT",
    }
    assert _outcomes(True, 0) == {
        "read root's 0600": b"s",
        "read own 0600": b"m",
        "create in root-only dir": True,
        "owner of the new file": 0,  # the mounter's
    }


@pytest.mark.parametrize("default_permissions", [False, True])
def test_unprivileged_mounter_takes_away_the_callers_rights(default_permissions: bool) -> None:
    without = _outcomes(False, 2000, default_permissions)
    with_override = _outcomes(True, 2000, default_permissions)
    assert without["read own 0600"] == b"m"
    assert with_override["read own 0600"] == "EACCES"  # uid 2000 may not read it
    assert with_override["read root's 0600"] == "EACCES"
