"""Filters write their output the way C does (issue 19, item 3):
``fao = fa.out_args[0].value; fao.attr.size = 1234`` is ACK's ``fao->attr.size = 1234``."""

from __future__ import annotations

import dataclasses
import errno
import os
from collections.abc import Callable
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.bpf import FuseBpfArgs, program
from simfs.bpf.view import frozen, struct_view

GETATTR_POST = uapi.FUSE_GETATTR | uapi.FUSE_POSTFILTER
BACKING_POST = uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER


def _mount(
    post: Callable[[FuseBpfArgs], None], pre: Callable[[FuseBpfArgs], None] | None = None
) -> simfs.Process:
    @program("writes")
    def prog(fa: FuseBpfArgs) -> int:
        if fa.opcode == uapi.FUSE_GETATTR | uapi.FUSE_PREFILTER:
            return BACKING_POST
        if fa.opcode == GETATTR_POST:
            post(fa)
            return 0
        if pre is not None and fa.opcode & uapi.FUSE_PREFILTER:
            pre(fa)
        return uapi.FUSE_BPF_BACKING

    k = simfs.Kernel()
    k.lower.create_dir("/src", perm_bits=0o755)
    k.lower.create_file("/src/f", contents=b"abc")
    k.lower.create_dir("/mnt", perm_bits=0o755)
    k.mount_fuse("/mnt", root_dir="/src", root_bpf=prog, no_daemon=True)
    return k.spawn()


def test_store_through_the_pointer_like_c() -> None:
    def post(fa: FuseBpfArgs) -> None:
        fao = fa.out_args[0].value
        fao.attr.size = 1234  # fao->attr.size = 1234
        fao.attr_valid = 0
        assert fa.out_args[0].value.attr.size == 1234  # the buffer holds it at once

    p = _mount(post)
    assert p.stat("/mnt/f").st_size == 1234
    assert p.stat("/mnt").st_size == 1234


def test_in_place_equals_set() -> None:
    def in_place(fa: FuseBpfArgs) -> None:
        a = fa.out_args[0].value.attr
        a.mode = a.mode | 0o777
        a.uid = 4242

    def with_set(fa: FuseBpfArgs) -> None:
        v = fa.out_args[0].value
        fa.out_args[0].set(attr=dataclasses.replace(v.attr, mode=v.attr.mode | 0o777, uid=4242))

    s1, s2 = _mount(in_place).stat("/mnt/f"), _mount(with_set).stat("/mnt/f")
    assert (s1.st_mode, s1.st_uid) == (s2.st_mode, s2.st_uid) == (0o100777, 4242)


@pytest.mark.parametrize(
    "bad",
    [
        lambda fa: setattr(fa.out_args[0].value.attr, "size", "big"),
        lambda fa: setattr(fa.out_args[0].value, "nosuch", 1),
        lambda fa: setattr(fa.out_args[0].value, "attr", uapi.FuseEntryOut()),
        lambda fa: setattr(fa.out_args[0].value.attr, "size", 1.5),
    ],
    ids=["str-into-u64", "no-such-field", "wrong-struct", "float"],
)
def test_wrong_store_is_a_program_fault(bad: Callable[[FuseBpfArgs], None]) -> None:
    p = _mount(bad)
    with pytest.raises(OSError) as e:
        p.stat("/mnt/f")
    assert e.value.errno == errno.EACCES  # check_buffer_access: -EACCES
    assert p.kernel.lower.get_object("/src/f").byte_contents == b"abc"


def test_in_args_stay_read_only() -> None:
    def pre(fa: FuseBpfArgs) -> None:
        if fa.opcode == uapi.FUSE_OPEN | uapi.FUSE_PREFILTER:
            fa.in_args[0].value.flags = os.O_RDWR

    p = _mount(lambda fa: None, pre)
    with pytest.raises(OSError) as e:
        p.open("/mnt/f", os.O_RDONLY)
    assert e.value.errno == errno.EACCES
    notes = [ev for ev in p.kernel.trace.events if "read-only in_args" in str(ev)]
    assert notes and "in_args[0].value.flags" in str(notes[0]), "the fault names the field"


def test_view_is_the_struct() -> None:
    stored: list[Any] = []

    def fault(err: int, reason: str) -> None:
        raise AssertionError(reason)

    feo = struct_view(uapi.FuseEntryOut(nodeid=1), True, fault, stored.append, "out")
    assert isinstance(feo, uapi.FuseEntryOut)
    assert feo == uapi.FuseEntryOut(nodeid=1)
    assert dataclasses.replace(feo, nodeid=2) == uapi.FuseEntryOut(nodeid=2)
    feo.nodeid = -1  # a C store keeps the low 64 bits
    assert stored[-1] == uapi.FuseEntryOut(nodeid=2**64 - 1)
    assert type(stored[-1]) is uapi.FuseEntryOut  # the buffer holds the frozen struct
    feo.attr.nlink = 3
    assert stored[-1].attr.nlink == 3 and type(stored[-1].attr) is uapi.FuseAttr
    assert frozen(feo) == stored[-1]
    assert uapi.FuseEntryOut.unpack(frozen(feo).pack()) == stored[-1]
