"""Policies by caller uid (``bpf.get_current_uid_gid()``), each with a hole.

The machines' processes are ``root`` (uid 0), ``alice`` (1000) and ``bob`` (1001); a
per-uid property restricts the machine to the processes it is about (``processes=``).
"""

from __future__ import annotations

import errno
import os

import simfs.bpf
from simfs import uapi
from simfs.bpf import FuseBpfArgs
from simfs.testing import bpf_mount, hiding_machine, readonly_machine
from simfs.testing.corpus import Entry
from simfs.testing.corpus.readonly import WRITES, WRITES_NO_SETATTR

BACKING = uapi.FUSE_BPF_BACKING
POST = uapi.FUSE_BPF_POST_FILTER
ALICE, BOB = 1000, 1001


def _uid() -> int:
    return simfs.bpf.get_current_uid_gid() & 0xFFFFFFFF


def _op(fa: FuseBpfArgs) -> int:
    return fa.opcode & uapi.FUSE_OPCODE_FILTER


def _writing_open(fa: FuseBpfArgs) -> bool:
    flags = fa.in_args[0].value.flags
    return bool(flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC)


@simfs.bpf.program("users_readonly")
def users_readonly(fa: FuseBpfArgs) -> int:
    """Correct: only root may change anything."""
    op = _op(fa)
    if _uid() != 0 and (op in WRITES or (op == uapi.FUSE_OPEN and _writing_open(fa))):
        return -errno.EROFS
    return BACKING


@simfs.bpf.program("users_readonly_off_by_one")
def users_readonly_off_by_one(fa: FuseBpfArgs) -> int:
    """"Unprivileged users" written ``uid > 1000``: alice (1000) may write."""
    op = _op(fa)
    if _uid() > ALICE and (op in WRITES or (op == uapi.FUSE_OPEN and _writing_open(fa))):
        return -errno.EROFS
    return BACKING


@simfs.bpf.program("bob_readonly_no_setattr")
def bob_readonly_no_setattr(fa: FuseBpfArgs) -> int:
    """Makes the mount read-only for bob, but forgets SETATTR."""
    op = _op(fa)
    if _uid() == BOB and (
        op in WRITES_NO_SETATTR or (op == uapi.FUSE_OPEN and _writing_open(fa))
    ):
        return -errno.EROFS
    return BACKING


@simfs.bpf.program("users_readonly_in_postfilter")
def users_readonly_in_postfilter(fa: FuseBpfArgs) -> int:
    """Checks the uid in the postfilter: the lower has changed when it says EROFS."""
    op = _op(fa)
    if fa.opcode & uapi.FUSE_PREFILTER:
        return BACKING | POST
    if _uid() != 0 and (op in WRITES or (op == uapi.FUSE_OPEN and _writing_open(fa))):
        return -errno.EROFS
    return 0


@simfs.bpf.program("hide_dotfiles_from_alice")
def hide_dotfiles_from_alice(fa: FuseBpfArgs) -> int:
    """Hides dot-files from unprivileged users, but READDIR tests ``uid == 1000`` only."""
    op = _op(fa)
    if op == uapi.FUSE_LOOKUP and _uid() != 0 and fa.in_args[0].value.startswith("."):
        return -errno.ENOENT
    if op == uapi.FUSE_READDIR:
        if fa.opcode & uapi.FUSE_PREFILTER:
            return BACKING | POST
        if _uid() == ALICE:
            fa.out_args[1].value = [
                d for d in fa.out_args[1].value if not d.name.startswith(".")
            ]
        return 0
    return BACKING


def _readonly(prog: object, processes: tuple[str, ...]) -> Entry:
    return Entry(
        prog.name,  # type: ignore[attr-defined]
        "uid policy",
        (prog.func.__doc__ or "").strip().strip('"').splitlines()[0],  # type: ignore[attr-defined]
        lambda: readonly_machine(bpf_mount(prog), processes=processes),
    )


ENTRIES = [
    _readonly(users_readonly_off_by_one, ("alice", "bob")),
    _readonly(bob_readonly_no_setattr, ("bob",)),
    _readonly(users_readonly_in_postfilter, ("alice", "bob")),
    Entry(
        "hide_dotfiles_from_alice",
        "uid policy",
        "hides dot-files from unprivileged users, but READDIR tests uid == 1000 only",
        lambda: hiding_machine(
            bpf_mount(hide_dotfiles_from_alice), (".a", ".b"), processes=("alice", "bob")
        ),
    ),
]
CORRECT = [_readonly(users_readonly, ("alice", "bob"))]
