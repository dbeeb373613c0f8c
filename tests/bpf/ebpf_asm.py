"""A few constructors for hand-written eBPF programs in tests (a tiny assembler).

``ins(code, dst, src, off, imm)`` is one slot; ``lddw(dst, value, src=0)`` the two slots
of a 64-bit load (``src=BPF_PSEUDO_MAP_FD`` with ``value`` = map index for a map).
The named shortcuts read like the verifier log: ``mov64(0, 2)`` is ``r0 = r2``.
"""

from __future__ import annotations

from simfs.bpf.ebpf import isa
from simfs.bpf.ebpf.isa import Insn

__all__ = ["call", "exit_", "ins", "lddw", "ldx", "mov64", "mov64_imm", "st", "stx"]


def ins(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> Insn:
    return Insn(code, dst, src, off, imm, imm)


def lddw(dst: int, value: int, src: int = 0) -> list[Insn]:
    lo, hi = value & 0xFFFFFFFF, (value >> 32) & 0xFFFFFFFF
    s_lo = lo - (1 << 32) if lo >> 31 else lo
    s_hi = hi - (1 << 32) if hi >> 31 else hi
    code = isa.BPF_LD | isa.BPF_IMM | isa.BPF_DW
    return [Insn(code, dst, src, 0, s_lo, value), Insn(0, 0, 0, 0, s_hi, 0, True)]


def mov64(dst: int, src: int) -> Insn:
    return ins(isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_X, dst, src)


def mov64_imm(dst: int, imm: int) -> Insn:
    return ins(isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_K, dst, 0, 0, imm)


def ldx(size: int, dst: int, src: int, off: int) -> Insn:
    return ins(isa.BPF_LDX | isa.BPF_MEM | size, dst, src, off)


def stx(size: int, dst: int, src: int, off: int) -> Insn:
    return ins(isa.BPF_STX | isa.BPF_MEM | size, dst, src, off)


def st(size: int, dst: int, off: int, imm: int) -> Insn:
    return ins(isa.BPF_ST | isa.BPF_MEM | size, dst, 0, off, imm)


def call(helper: int) -> Insn:
    return ins(isa.BPF_JMP | isa.BPF_CALL, imm=helper)


def exit_() -> Insn:
    return ins(isa.BPF_JMP | isa.BPF_EXIT)
