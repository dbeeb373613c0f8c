"""The EIOs and EINVALs a fuse-bpf finalize step gives for what a filter left behind say
why (PEP 678 note through ``Kernel.explain``), naming the kernel function's rule."""

from __future__ import annotations

import errno
import os
import stat

import pytest

import simfs
from simfs import uapi


def _mount(prog: simfs.bpf.Program) -> simfs.Process:
    k = simfs.Kernel()
    k.lower.create_file("/data/f", contents="x")
    k.lower.create_file("/data/d/g", contents="y")
    root = k.spawn()
    root.mkdir("/mnt")
    k.mount_fuse("/mnt", root_dir="/data", root_bpf=prog, no_daemon=True)
    return root


@simfs.bpf.program("dir_mode_on_a_file")
def dir_mode_on_a_file(fa: simfs.bpf.FuseBpfArgs) -> int:
    if fa.opcode == uapi.FUSE_GETATTR | uapi.FUSE_POSTFILTER:
        fa.out_args[0].value.attr.mode = stat.S_IFDIR | 0o755  # fuse_attr_out->attr.mode
        return 0
    if fa.opcode == uapi.FUSE_GETATTR | uapi.FUSE_PREFILTER:
        return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
    return uapi.FUSE_BPF_BACKING


def test_getattr_changing_the_file_type_says_the_inode_is_bad() -> None:
    root = _mount(dir_mode_on_a_file)
    fd = root.open("/mnt/f", os.O_RDONLY)
    with pytest.raises(OSError) as info:
        root.fstat(fd)
    assert info.value.errno == errno.EIO
    notes = " ".join(getattr(info.value, "__notes__", ()))
    assert "GETATTR finalize" in notes and "fuse_make_bad" in notes


@simfs.bpf.program("slash_in_a_name")
def slash_in_a_name(fa: simfs.bpf.FuseBpfArgs) -> int:
    if fa.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER:
        page = list(fa.out_args[1].value)
        if page:
            first = page[0]
            page[0] = uapi.FuseDirent(ino=first.ino, off=first.off, type=first.type, name="a/b")
            fa.out_args[1].value = page
        return 0
    if fa.opcode == uapi.FUSE_READDIR | uapi.FUSE_PREFILTER:
        return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
    return uapi.FUSE_BPF_BACKING


def test_readdir_record_with_a_slash_says_parse_dirfile() -> None:
    root = _mount(slash_in_a_name)
    with pytest.raises(OSError) as info:
        root.listdir("/mnt/d")
    assert info.value.errno == errno.EIO
    notes = " ".join(getattr(info.value, "__notes__", ()))
    assert "READDIR finalize" in notes and "'a/b'" in notes and "parse_dirfile" in notes
