"""The eBPF instruction set: encoding, decoding and the kernel's disassembly.

Mirrors ``include/uapi/linux/bpf.h`` / ``include/uapi/linux/bpf_common.h`` (``struct
bpf_insn``: ``code`` u8, ``dst_reg:4``, ``src_reg:4``, ``off`` s16, ``imm`` s32, little
endian on every target clang builds BPF for here) and ``kernel/bpf/disasm.c``
(``print_bpf_insn``), whose text the verifier log shows.  ``disasm`` prints an instruction
the way the verifier log prints it after the ``N: (code) `` prefix that ``format_insn``
adds::

    r1 = *(u64 *)(r1 +8)
    if r0 != 0x0 goto pc+3
    call bpf_map_lookup_elem#1
    r0 = 0xfffffffe ll

A ``lddw`` (``BPF_LD | BPF_IMM | BPF_DW``) occupies two 8-byte slots; :func:`decode`
keeps one :class:`Insn` per slot (so jump offsets index the list directly), the first
slot carrying the whole 64-bit immediate in ``imm64`` and the second marked
``is_lddw_tail``.  (The verifier log writes a 64-bit immediate as ``0x...``; the ``ll``
suffix is llvm-objdump's, kept so a ``lddw`` reads apart from a 32-bit ``mov``.)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "HELPER_NAMES",
    "INSN_SIZE",
    "Insn",
    "decode",
    "disasm",
    "encode",
    "format_insn",
    "format_program",
]

INSN_SIZE = 8

# instruction classes (bpf_common.h, bpf.h)
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_JMP32 = 0x06
BPF_ALU64 = 0x07

# sizes
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_DW = 0x18

# modes
BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_ATOMIC = 0xC0

# source
BPF_K = 0x00
BPF_X = 0x08

# ALU operations
BPF_ADD = 0x00
BPF_SUB = 0x10
BPF_MUL = 0x20
BPF_DIV = 0x30
BPF_OR = 0x40
BPF_AND = 0x50
BPF_LSH = 0x60
BPF_RSH = 0x70
BPF_NEG = 0x80
BPF_MOD = 0x90
BPF_XOR = 0xA0
BPF_MOV = 0xB0
BPF_ARSH = 0xC0
BPF_END = 0xD0

# BPF_END source bit: to little / big endian
BPF_TO_LE = 0x00
BPF_TO_BE = 0x08

# JMP operations
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40
BPF_JNE = 0x50
BPF_JSGT = 0x60
BPF_JSGE = 0x70
BPF_CALL = 0x80
BPF_EXIT = 0x90
BPF_JLT = 0xA0
BPF_JLE = 0xB0
BPF_JSLT = 0xC0
BPF_JSLE = 0xD0

# atomic operations (imm of a BPF_STX | BPF_ATOMIC)
BPF_FETCH = 0x01
BPF_XCHG = 0xE0 | BPF_FETCH
BPF_CMPXCHG = 0xF0 | BPF_FETCH

# src_reg of a lddw / call
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_MAP_IDX = 5
BPF_PSEUDO_MAP_IDX_VALUE = 6
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2

MAX_BPF_REG = 11
BPF_REG_FP = 10
#: MAX_BPF_STACK (include/linux/filter.h)
MAX_BPF_STACK = 512

#: ``enum bpf_func_id`` (uapi/linux/bpf.h ``__BPF_FUNC_MAPPER``), the first helpers: the
#: names the verifier log prints in ``call NAME#ID``.
HELPER_NAMES: dict[int, str] = {
    1: "bpf_map_lookup_elem",
    2: "bpf_map_update_elem",
    3: "bpf_map_delete_elem",
    4: "bpf_probe_read",
    5: "bpf_ktime_get_ns",
    6: "bpf_trace_printk",
    7: "bpf_get_prandom_u32",
    8: "bpf_get_smp_processor_id",
    9: "bpf_skb_store_bytes",
    10: "bpf_l3_csum_replace",
    11: "bpf_l4_csum_replace",
    12: "bpf_tail_call",
    13: "bpf_clone_redirect",
    14: "bpf_get_current_pid_tgid",
    15: "bpf_get_current_uid_gid",
    16: "bpf_get_current_comm",
}

_ALU_STR = {
    BPF_ADD: "+=",
    BPF_SUB: "-=",
    BPF_MUL: "*=",
    BPF_DIV: "/=",
    BPF_OR: "|=",
    BPF_AND: "&=",
    BPF_LSH: "<<=",
    BPF_RSH: ">>=",
    BPF_MOD: "%=",
    BPF_XOR: "^=",
    BPF_MOV: "=",
    BPF_ARSH: "s>>=",
}
_SIZE_STR = {BPF_W: "u32", BPF_H: "u16", BPF_B: "u8", BPF_DW: "u64"}
SIZE_BYTES = {BPF_W: 4, BPF_H: 2, BPF_B: 1, BPF_DW: 8}
_JMP_STR = {
    BPF_JEQ: "==",
    BPF_JGT: ">",
    BPF_JLT: "<",
    BPF_JGE: ">=",
    BPF_JLE: "<=",
    BPF_JSET: "&",
    BPF_JNE: "!=",
    BPF_JSGT: "s>",
    BPF_JSLT: "s<",
    BPF_JSGE: "s>=",
    BPF_JSLE: "s<=",
}
_ATOMIC_STR = {BPF_ADD: "add", BPF_AND: "and", BPF_OR: "or", BPF_XOR: "xor"}

_SLOT = struct.Struct("<BBhi")


class DecodeError(ValueError):
    """Bytes that are not a sequence of eBPF instructions (odd length, cut ``lddw``)."""


@dataclass(frozen=True, slots=True)
class Insn:
    """One 8-byte slot of ``struct bpf_insn``, decoded.

    ``imm64`` is the full 64-bit immediate of a ``lddw`` (unsigned), else ``imm``
    sign-extended; ``is_lddw_tail`` marks a ``lddw``'s second slot.
    """

    code: int
    dst: int
    src: int
    off: int
    imm: int
    imm64: int = 0
    is_lddw_tail: bool = False

    @property
    def cls(self) -> int:
        return self.code & 0x07

    @property
    def op(self) -> int:
        """ALU/JMP operation (``BPF_OP``)."""
        return self.code & 0xF0

    @property
    def source(self) -> int:
        """``BPF_SRC``: ``BPF_K`` (immediate) or ``BPF_X`` (register)."""
        return self.code & 0x08

    @property
    def size(self) -> int:
        """``BPF_SIZE`` of a load/store."""
        return self.code & 0x18

    @property
    def mode(self) -> int:
        """``BPF_MODE`` of a load/store."""
        return self.code & 0xE0

    @property
    def is_lddw(self) -> bool:
        return self.code == BPF_LD | BPF_IMM | BPF_DW and not self.is_lddw_tail

    @property
    def is_call(self) -> bool:
        return self.code == BPF_JMP | BPF_CALL

    @property
    def is_exit(self) -> bool:
        return self.code == BPF_JMP | BPF_EXIT


def decode(data: bytes | bytearray | memoryview) -> list[Insn]:
    """Decode a program's text into one :class:`Insn` per 8-byte slot.

    Raises :class:`DecodeError` when the length is not a multiple of 8 or a ``lddw``
    lacks its second slot (``bpf_check``: "invalid bpf_ld_imm64 insn", ``-EINVAL``).
    """
    raw = bytes(data)
    if len(raw) % INSN_SIZE:
        raise DecodeError(f"program text is {len(raw)} bytes, not a multiple of {INSN_SIZE}")
    out: list[Insn] = []
    n = len(raw) // INSN_SIZE
    i = 0
    while i < n:
        code, regs, off, imm = _SLOT.unpack_from(raw, i * INSN_SIZE)
        dst, src = regs & 0x0F, regs >> 4
        if code == BPF_LD | BPF_IMM | BPF_DW:
            if i + 1 >= n:
                raise DecodeError(f"insn {i}: lddw without its second slot")
            code2, regs2, off2, imm2 = _SLOT.unpack_from(raw, (i + 1) * INSN_SIZE)
            if code2 != 0 or regs2 != 0 or off2 != 0:
                raise DecodeError(f"insn {i + 1}: invalid bpf_ld_imm64 second slot")
            imm64 = ((imm2 & 0xFFFFFFFF) << 32) | (imm & 0xFFFFFFFF)
            out.append(Insn(code, dst, src, off, imm, imm64))
            out.append(Insn(0, 0, 0, 0, imm2, 0, True))
            i += 2
            continue
        out.append(Insn(code, dst, src, off, imm, imm))
        i += 1
    return out


def encode(insns: Iterable[Insn]) -> bytes:
    """The inverse of :func:`decode` (a ``lddw`` tail slot re-encodes its upper half)."""
    parts = []
    for ins in insns:
        imm = ins.imm
        parts.append(_SLOT.pack(ins.code, (ins.src << 4) | ins.dst, ins.off, imm))
    return b"".join(parts)


def _r(is64: bool, reg: int) -> str:
    return f"{'r' if is64 else 'w'}{reg}"


def _end(ins: Insn) -> str:
    # print_bpf_end_insn: "r1 = be16 r1"; ALU64 | END is the unconditional bswap (v4)
    if ins.cls == BPF_ALU64:
        return f"r{ins.dst} = bswap{ins.imm} r{ins.dst}"
    kind = "be" if ins.source == BPF_TO_BE else "le"
    return f"r{ins.dst} = {kind}{ins.imm} r{ins.dst}"


def disasm(ins: Insn, helper_names: dict[int, str] | None = None) -> str:
    """The verifier log's text for one instruction (``print_bpf_insn``, no prefix)."""
    names = HELPER_NAMES if helper_names is None else helper_names
    cls = ins.cls
    if ins.is_lddw_tail:
        return "(lddw second slot)"
    if cls in (BPF_ALU, BPF_ALU64):
        is64 = cls == BPF_ALU64
        op = ins.op
        if op == BPF_END:
            return _end(ins)
        if op == BPF_NEG:
            return f"{_r(is64, ins.dst)} = -{_r(is64, ins.dst)}"
        sym = _ALU_STR.get(op)
        if sym is None:
            return f"invalid BPF_ALU opcode {ins.code:#04x}"
        if ins.source == BPF_X:
            return f"{_r(is64, ins.dst)} {sym} {_r(is64, ins.src)}"
        return f"{_r(is64, ins.dst)} {sym} {ins.imm}"
    if cls == BPF_STX:
        size = _SIZE_STR[ins.size]
        if ins.mode == BPF_MEM:
            return f"*({size} *)(r{ins.dst} {ins.off:+d}) = r{ins.src}"
        if ins.mode == BPF_ATOMIC:
            width = "64" if ins.size == BPF_DW else ""
            aop = ins.imm & ~BPF_FETCH
            if ins.imm in _ATOMIC_STR:
                return f"lock *({size} *)(r{ins.dst} {ins.off:+d}) {_ALU_STR[ins.imm]} r{ins.src}"
            if ins.imm & BPF_FETCH and aop in _ATOMIC_STR:
                return (
                    f"r{ins.src} = atomic{width}_fetch_{_ATOMIC_STR[aop]}"
                    f"(({size} *)(r{ins.dst} {ins.off:+d}), r{ins.src})"
                )
            if ins.imm == BPF_XCHG:
                return (
                    f"r{ins.src} = atomic{width}_xchg(({size} *)(r{ins.dst} {ins.off:+d}), "
                    f"r{ins.src})"
                )
            if ins.imm == BPF_CMPXCHG:
                return (
                    f"r0 = atomic{width}_cmpxchg(({size} *)(r{ins.dst} {ins.off:+d}), r0, "
                    f"r{ins.src})"
                )
        return f"BUG_stx_{ins.code:02x}"
    if cls == BPF_ST:
        if ins.mode == BPF_MEM:
            return f"*({_SIZE_STR[ins.size]} *)(r{ins.dst} {ins.off:+d}) = {ins.imm}"
        return f"BUG_st_{ins.code:02x}"
    if cls == BPF_LDX:
        if ins.mode == BPF_MEM:
            return f"r{ins.dst} = *({_SIZE_STR[ins.size]} *)(r{ins.src} {ins.off:+d})"
        return f"BUG_ldx_{ins.code:02x}"
    if cls == BPF_LD:
        if ins.mode == BPF_ABS:
            return f"r0 = *({_SIZE_STR[ins.size]} *)skb[{ins.imm}]"
        if ins.mode == BPF_IND:
            return f"r0 = *({_SIZE_STR[ins.size]} *)skb[r{ins.src} + {ins.imm}]"
        if ins.is_lddw:
            if ins.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX):
                return f"r{ins.dst} = map[id:{ins.imm}] ll"
            return f"r{ins.dst} = {ins.imm64:#x} ll"
        return f"BUG_ld_{ins.code:02x}"
    if cls in (BPF_JMP, BPF_JMP32):
        op = ins.op
        if cls == BPF_JMP and op == BPF_CALL:
            if ins.src == BPF_PSEUDO_CALL:
                return f"call pc{ins.imm:+d}"
            if ins.src == BPF_PSEUDO_KFUNC_CALL:
                return "call kernel-function"
            return f"call {names.get(ins.imm, 'unknown')}#{ins.imm}"
        if op == BPF_JA:
            if cls == BPF_JMP32:
                return f"gotol pc{ins.imm:+d}"
            return f"goto pc{ins.off:+d}"
        if cls == BPF_JMP and op == BPF_EXIT:
            return "exit"
        sym = _JMP_STR.get(op)
        if sym is None:
            return f"invalid BPF_JMP opcode {ins.code:#04x}"
        is64 = cls == BPF_JMP
        if ins.source == BPF_X:
            return f"if {_r(is64, ins.dst)} {sym} {_r(is64, ins.src)} goto pc{ins.off:+d}"
        return f"if {_r(is64, ins.dst)} {sym} {ins.imm & 0xFFFFFFFF:#x} goto pc{ins.off:+d}"
    return f"unknown opcode {ins.code:02x}"


def format_insn(pc: int, ins: Insn, helper_names: dict[int, str] | None = None) -> str:
    """One verifier-log line: ``"3: (61) r2 = *(u32 *)(r1 +8)"``."""
    return f"{pc}: ({ins.code:02x}) {disasm(ins, helper_names)}"


def format_program(insns: Sequence[Insn], helper_names: dict[int, str] | None = None) -> str:
    """The whole program, one line per instruction (a ``lddw`` tail slot is skipped)."""
    return "\n".join(
        format_insn(pc, ins, helper_names) for pc, ins in enumerate(insns) if not ins.is_lddw_tail
    )
