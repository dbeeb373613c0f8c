"""simfs.bpf.ebpf.isa: decoding struct bpf_insn and the verifier log's disassembly."""

from __future__ import annotations

import struct

import pytest

from simfs.bpf.ebpf import isa

from .ebpf_asm import ins, lddw


def slot(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (slot(0x79, 1, 1, 8), "r1 = *(u64 *)(r1 +8)"),
        (slot(0x61, 2, 1, -4), "r2 = *(u32 *)(r1 -4)"),
        (slot(0x55, 0, 0, 3, 0), "if r0 != 0x0 goto pc+3"),
        (slot(0x56, 1, 0, -2, -1), "if w1 != 0xffffffff goto pc-2"),
        (slot(0x2D, 1, 2, 1), "if r1 > r2 goto pc+1"),
        (slot(0xCE, 3, 4, 7), "if w3 s< w4 goto pc+7"),
        (slot(0x85, imm=1), "call bpf_map_lookup_elem#1"),
        (slot(0x85, imm=6), "call bpf_trace_printk#6"),
        (slot(0x85, src=1, imm=-5), "call pc-5"),
        (slot(0x95), "exit"),
        (slot(0x05, off=-1), "goto pc-1"),
        (slot(0xB7, 0, 0, 0, -2), "r0 = -2"),
        (slot(0xB4, 0, 0, 0, -2), "w0 = -2"),
        (slot(0xBF, 6, 1), "r6 = r1"),
        (slot(0x0C, 1, 2), "w1 += w2"),
        (slot(0xC7, 1, 0, 0, 3), "r1 s>>= 3"),
        (slot(0x87, 1), "r1 = -r1"),
        (slot(0xDC, 1, 0, 0, 16), "r1 = be16 r1"),
        (slot(0xD4, 1, 0, 0, 32), "r1 = le32 r1"),
        (slot(0x7B, 10, 1, -8), "*(u64 *)(r10 -8) = r1"),
        (slot(0x62, 10, 0, -4, 7), "*(u32 *)(r10 -4) = 7"),
        (slot(0xDB, 1, 2, 0, 0x00), "lock *(u64 *)(r1 +0) += r2"),
        (slot(0xC3, 1, 2, 4, 0x01), "r2 = atomic_fetch_add((u32 *)(r1 +4), r2)"),
        (slot(0xDB, 1, 2, 0, 0xE1), "r2 = atomic64_xchg((u64 *)(r1 +0), r2)"),
        (slot(0xDB, 1, 2, 0, 0xF1), "r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)"),
        (slot(0x18, 0, 0, 0, -2) + slot(0, imm=0), "r0 = 0xfffffffe ll"),
        (slot(0x18, 1, 1, 0, 0) + slot(0), "r1 = map[id:0] ll"),
    ],
)
def test_disasm_reads_like_the_verifier_log(raw: bytes, text: str) -> None:
    assert isa.disasm(isa.decode(raw)[0]) == text


def test_lddw_keeps_one_insn_per_slot_and_the_whole_immediate() -> None:
    raw = slot(0x18, 3, 0, 0, 0x89ABCDEF - (1 << 32)) + slot(0, imm=0x01234567) + slot(0x95)
    insns = isa.decode(raw)
    assert len(insns) == 3
    assert insns[0].is_lddw and insns[0].imm64 == 0x0123456789ABCDEF
    assert insns[1].is_lddw_tail and not insns[1].is_lddw
    assert isa.encode(insns) == raw
    assert isa.format_program(insns).splitlines() == [
        "0: (18) r3 = 0x123456789abcdef ll",
        "2: (95) exit",
    ]


def test_encode_round_trips_every_slot() -> None:
    prog = [ins(0xB7, 0, 0, 0, 5), *lddw(1, 1 << 40), ins(0x95)]
    assert isa.decode(isa.encode(prog)) == prog


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\x95" * 7, "not a multiple of 8"),
        (slot(0x18, 0, 0, 0, 1), "without its second slot"),
        (slot(0x18, 0, 0, 0, 1) + slot(0x95), "second slot"),
    ],
)
def test_decode_refuses_what_bpf_check_refuses(raw: bytes, why: str) -> None:
    with pytest.raises(isa.DecodeError, match=why):
        isa.decode(raw)
