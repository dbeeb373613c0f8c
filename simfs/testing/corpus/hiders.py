"""Hiders that leak: each should make a name invisible and misses one way to see it.

Machine for all of them: ``hiding_machine(bpf_mount(prog), HIDDEN)``.
"""

from __future__ import annotations

import errno

import simfs.bpf
from simfs import uapi
from simfs.bpf import FuseBpfArgs
from simfs.testing import bpf_mount, hiding_machine
from simfs.testing.corpus import Entry

HIDDEN = (".secret", ".private")
BACKING = uapi.FUSE_BPF_BACKING
POST = uapi.FUSE_BPF_POST_FILTER


def _op(fa: FuseBpfArgs) -> int:
    return fa.opcode & uapi.FUSE_OPCODE_FILTER


def _pre(fa: FuseBpfArgs) -> bool:
    return bool(fa.opcode & uapi.FUSE_PREFILTER)


@simfs.bpf.program("hide_dotfiles")
def hide_dotfiles(fa: FuseBpfArgs) -> int:
    """Correct: LOOKUP of a dot-name fails ENOENT, READDIR drops dot-names."""
    op = _op(fa)
    if op == uapi.FUSE_LOOKUP and fa.in_args[0].value.startswith("."):
        return -errno.ENOENT
    if op == uapi.FUSE_READDIR:
        if _pre(fa):
            return BACKING | POST
        fa.out_args[1].value = [d for d in fa.out_args[1].value if not d.name.startswith(".")]
        return 0
    return BACKING


@simfs.bpf.program("hide_dotfiles_no_readdir")
def hide_dotfiles_no_readdir(fa: FuseBpfArgs) -> int:
    """The README's bug: lookups are hidden, listings are not."""
    if _op(fa) == uapi.FUSE_LOOKUP and fa.in_args[0].value.startswith("."):
        return -errno.ENOENT
    return BACKING


@simfs.bpf.program("hide_secret_copy_paste")
def hide_secret_copy_paste(fa: FuseBpfArgs) -> int:
    """READDIR drops only the first hidden name (a copy-paste of a one-name version)."""
    op = _op(fa)
    if op == uapi.FUSE_LOOKUP and fa.in_args[0].value in HIDDEN:
        return -errno.ENOENT
    if op == uapi.FUSE_READDIR:
        if _pre(fa):
            return BACKING | POST
        fa.out_args[1].value = [d for d in fa.out_args[1].value if d.name != HIDDEN[0]]
        return 0
    return BACKING


@simfs.bpf.program("hide_secret_top_level")
def hide_secret_top_level(fa: FuseBpfArgs) -> int:
    """Hides only in the mount's root directory (``nodeid == FUSE_ROOT_ID``)."""
    op = _op(fa)
    if fa.nodeid != uapi.FUSE_ROOT_ID:
        return BACKING
    if op == uapi.FUSE_LOOKUP and fa.in_args[0].value in HIDDEN:
        return -errno.ENOENT
    if op == uapi.FUSE_READDIR:
        if _pre(fa):
            return BACKING | POST
        fa.out_args[1].value = [d for d in fa.out_args[1].value if d.name not in HIDDEN]
        return 0
    return BACKING


@simfs.bpf.program("hide_secret_post_without_bit")
def hide_secret_post_without_bit(fa: FuseBpfArgs) -> int:
    """Decides LOOKUP in the postfilter but forgets to ask for it (no POST_FILTER bit)."""
    op = _op(fa)
    if op == uapi.FUSE_LOOKUP:
        if _pre(fa):
            return BACKING
        return -errno.ENOENT if fa.in_args[0].value in HIDDEN else 0
    if op == uapi.FUSE_READDIR:
        if _pre(fa):
            return BACKING | POST
        fa.out_args[1].value = [d for d in fa.out_args[1].value if d.name not in HIDDEN]
        return 0
    return BACKING


@simfs.bpf.program("hide_secret_filter_in_prefilter")
def hide_secret_filter_in_prefilter(fa: FuseBpfArgs) -> int:
    """Edits the READDIR page in the prefilter, before the backing read fills it."""
    op = _op(fa)
    if op == uapi.FUSE_LOOKUP and fa.in_args[0].value in HIDDEN:
        return -errno.ENOENT
    if op == uapi.FUSE_READDIR and _pre(fa):
        ents = fa.out_args[1].value or []
        fa.out_args[1].value = [d for d in ents if d.name not in HIDDEN]
        return BACKING
    return BACKING


@simfs.bpf.program("hide_secret_readdir_suffix")
def hide_secret_readdir_suffix(fa: FuseBpfArgs) -> int:
    """READDIR matches hidden names by suffix ``"secret"``: ``.private`` is listed."""
    op = _op(fa)
    if op == uapi.FUSE_LOOKUP and fa.in_args[0].value in HIDDEN:
        return -errno.ENOENT
    if op == uapi.FUSE_READDIR:
        if _pre(fa):
            return BACKING | POST
        fa.out_args[1].value = [d for d in fa.out_args[1].value if not d.name.endswith("secret")]
        return 0
    return BACKING


def _hider(prog: object) -> Entry:
    return Entry(
        prog.name,  # type: ignore[attr-defined]
        "hider",
        (prog.func.__doc__ or "").strip(),  # type: ignore[attr-defined]
        lambda: hiding_machine(bpf_mount(prog), HIDDEN),
    )


ENTRIES = [
    Entry(
        "hide_dotfiles_no_readdir",
        "hider",
        "the README's bug: lookups are hidden, listings are not",
        lambda: hiding_machine(bpf_mount(hide_dotfiles_no_readdir), (".a", ".b")),
    ),
    _hider(hide_secret_copy_paste),
    _hider(hide_secret_top_level),
    _hider(hide_secret_post_without_bit),
    _hider(hide_secret_filter_in_prefilter),
    _hider(hide_secret_readdir_suffix),
]

CORRECT = [
    Entry(
        "hide_dotfiles",
        "hider",
        "the README's fixed hider",
        lambda: hiding_machine(bpf_mount(hide_dotfiles), (".a", ".b")),
    ),
]
