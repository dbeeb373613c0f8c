"""The eBPF interpreter: ``___bpf_prog_run`` (kernel/bpf/core.c) over simfs memory.

API (stable; the verifier, the real-kernel oracle tests and the CLI use it)::

    prog = compile_program(insns)               # once per loaded program; ProgramError
    mem = Memory()
    ctx = mem.add("ctx", bytearray(224), writable=False)   # -> address of the region
    result = run(prog, mem, r1=ctx, helpers={6: fn}, budget=1_000_000)
    result.r0          # R0 as the 64-bit register holds it (unsigned)
    result.ret         # R0 as the kernel's call site sees it: sign-extended low 32 bits
    result.insns       # instructions executed

    run_insns(insns, mem, r1=..., helpers=..., budget=...)  # compile + run, for tests

``helpers`` maps a helper id to ``fn(vm, r1, r2, r3, r4, r5) -> int`` where ``vm`` is the
running :class:`Machine` (``vm.memory``, ``vm.data`` for the caller's state).

Semantics, each from ``___bpf_prog_run`` and the verifier's rewrites of it
(``do_misc_fixups``):

- registers are 64-bit; a 32-bit ALU (``BPF_ALU``) result is zero-extended; a ``BPF_K``
  immediate is sign-extended for ALU64/JMP and used as its low 32 bits for ALU/JMP32;
- shifts use the count modulo the width (``DST << (SRC & 63)``, ``& 31`` for 32-bit);
- division by zero gives 0, modulo by zero leaves the dividend (32-bit: zero-extended
  low half) — ``do_misc_fixups``' "div by zero" patch; signed division (``off == 1``,
  cpu v4) of the minimum by -1 gives the minimum, signed modulo by -1 gives 0;
- ``BPF_END``: ``le`` truncates (this is a little-endian machine), ``be`` swaps;
- loads zero-extend; ``BPF_ST`` stores the immediate's low bytes;
- atomics ``add/or/and/xor`` (with or without ``BPF_FETCH``), ``xchg``, ``cmpxchg``;
- ``call`` of a helper leaves R1-R5 as the interpreter does; a bpf-to-bpf call
  (``BPF_PSEUDO_CALL``) gets a fresh 512-byte frame, up to ``MAX_CALL_FRAMES`` deep,
  R6-R9 restored at its ``exit``;
- the stack is ``MAX_BPF_STACK`` = 512 bytes below R10 (R10 points at its end).

What a verified program cannot do but an unverified one might is a run-time
:class:`EbpfFault` carrying an errno, the reason and the pc: memory outside every region
or a write to a read-only one (``EACCES``, "invalid mem access" / "invalid bpf_context
access"), an unknown helper (``EINVAL``), running past the last instruction or into the
second slot of a ``lddw`` (``EINVAL``), call depth (``E2BIG``), and the instruction
``budget`` spent (``E2BIG``, the verifier's "BPF program is too large. Processed N insn").

Memory is a set of regions, each a ``bytearray`` at an address whose upper 32 bits name it
(``0xffff8880_00000000`` onwards): pointers are plain integers a program may store,
compare and do arithmetic on, as it does with kernel addresses.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simfs.bpf.ebpf import isa
from simfs.bpf.ebpf.isa import Insn

__all__ = [
    "DEFAULT_BUDGET",
    "MAP_HANDLE_BASE",
    "EbpfFault",
    "Machine",
    "Memory",
    "Program",
    "ProgramError",
    "RunResult",
    "compile_program",
    "ret32",
    "run",
    "run_insns",
]

M64 = (1 << 64) - 1
M32 = 0xFFFFFFFF
#: the verifier's BPF_COMPLEXITY_LIMIT_INSNS; a run may execute at most this many
DEFAULT_BUDGET = 1_000_000
MAX_CALL_FRAMES = 8
STACK_SIZE = isa.MAX_BPF_STACK
_FIRST_REGION = 0xFFFF8880
#: where map "pointers" live: a ``lddw`` with ``src_reg = BPF_PSEUDO_MAP_FD`` and ``imm = i``
#: loads ``MAP_HANDLE_BASE + i`` (map ``i`` of the object); no memory region is up here
MAP_HANDLE_BASE = 0xFFFFA00000000000

Helper = Callable[..., int]
Op = Callable[[list[int], "Machine"], int]


class ProgramError(ValueError):
    """Instructions the interpreter cannot run at all (unknown opcode, jump out of range)."""

    def __init__(self, pc: int, reason: str) -> None:
        super().__init__(f"insn {pc}: {reason}")
        self.pc = pc
        self.reason = reason
        self.errno = errno.EINVAL


class EbpfFault(Exception):
    """A run-time fault: what the verifier would have refused; fails the operation."""

    def __init__(self, errno_value: int, reason: str, pc: int = -1) -> None:
        super().__init__(f"insn {pc}: {reason}" if pc >= 0 else reason)
        self.errno = errno_value
        self.reason = reason
        self.pc = pc


@dataclass(slots=True)
class Region:
    name: str
    data: bytearray
    writable: bool
    base: int


class Memory:
    """The address space of one run: named regions of bytes."""

    def __init__(self) -> None:
        self.regions: dict[int, Region] = {}
        self._next = _FIRST_REGION

    def add(self, name: str, data: bytearray, *, writable: bool, offset: int = 0) -> int:
        """Map ``data`` as a new region; return the address of its byte ``offset``."""
        key = self._next
        self._next += 2  # a gap: an access just below a region hits no other region
        base = key << 32
        self.regions[key] = Region(name, data, writable, base)
        return base + offset

    def region_at(self, addr: int) -> Region | None:
        return self.regions.get((addr & M64) >> 32)

    def _locate(self, addr: int, size: int, write: bool) -> tuple[bytearray, int]:
        addr &= M64
        region = self.regions.get(addr >> 32)
        off = addr & M32
        if region is None:
            raise EbpfFault(errno.EACCES, f"invalid mem access: address {addr:#x} is in no region")
        if off + size > len(region.data):
            raise EbpfFault(
                errno.EACCES,
                f"invalid access to {region.name}: off={off} size={size}, "
                f"region is {len(region.data)} bytes",
            )
        if write and not region.writable:
            raise EbpfFault(errno.EACCES, f"write into read-only {region.name} (off={off})")
        return region.data, off

    def read(self, addr: int, size: int) -> bytes:
        data, off = self._locate(addr, size, False)
        return bytes(data[off : off + size])

    def write(self, addr: int, raw: bytes) -> None:
        data, off = self._locate(addr, len(raw), True)
        data[off : off + len(raw)] = raw

    def load(self, addr: int, size: int) -> int:
        data, off = self._locate(addr, size, False)
        return int.from_bytes(data[off : off + size], "little")

    def store(self, addr: int, size: int, value: int) -> None:
        data, off = self._locate(addr, size, True)
        data[off : off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def read_cstr(self, addr: int, limit: int) -> bytes:
        """Bytes up to (not including) a NUL, at most ``limit``; stops at the region end."""
        data, off = self._locate(addr, 1, False)
        end = min(len(data), off + limit)
        chunk = bytes(data[off:end])
        nul = chunk.find(b"\0")
        return chunk if nul < 0 else chunk[:nul]


@dataclass(eq=False)
class Machine:
    """One run's state besides the registers: memory, helpers, frames, the caller's data."""

    memory: Memory
    helpers: Mapping[int, Helper]
    data: Any = None
    pc: int = 0
    frames: list[tuple[int, list[int]]] = field(default_factory=list)


@dataclass(frozen=True)
class RunResult:
    r0: int
    insns: int

    @property
    def ret(self) -> int:
        return ret32(self.r0)


def ret32(r0: int) -> int:
    """R0 as the call site sees it: ``int ret = bpf_prog_run(...)`` keeps the low 32
    bits, signed (``return -ENOENT`` is ``r0 = 0xfffffffe``, read back as -2)."""
    low = r0 & M32
    return low - (1 << 32) if low & 0x80000000 else low


@dataclass(eq=False)
class Program:
    """Instructions compiled to one Python closure per slot."""

    insns: tuple[Insn, ...]
    ops: list[Op]


def _s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


def _s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v & 0x80000000 else v


def _sdiv(a: int, b: int, bits: int) -> int:
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _smod(a: int, b: int, bits: int) -> int:
    if b == 0:
        return a
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def _alu_fn(op: int, is64: bool, signed: bool) -> Callable[[int, int], int]:
    """``(dst, src) -> result`` with dst/src unsigned at the operation's width."""
    mask = M64 if is64 else M32
    width = 64 if is64 else 32
    sh = width - 1
    sx = _s64 if is64 else _s32
    if op == isa.BPF_ADD:
        return lambda a, b: (a + b) & mask
    if op == isa.BPF_SUB:
        return lambda a, b: (a - b) & mask
    if op == isa.BPF_MUL:
        return lambda a, b: (a * b) & mask
    if op == isa.BPF_DIV:
        if signed:
            return lambda a, b: _sdiv(sx(a), sx(b), width) & mask
        return lambda a, b: a // b if b else 0
    if op == isa.BPF_MOD:
        if signed:
            return lambda a, b: _smod(sx(a), sx(b), width) & mask
        return lambda a, b: a % b if b else a
    if op == isa.BPF_OR:
        return lambda a, b: a | b
    if op == isa.BPF_AND:
        return lambda a, b: a & b
    if op == isa.BPF_XOR:
        return lambda a, b: a ^ b
    if op == isa.BPF_LSH:
        return lambda a, b: (a << (b & sh)) & mask
    if op == isa.BPF_RSH:
        return lambda a, b: a >> (b & sh)
    if op == isa.BPF_ARSH:
        return lambda a, b: (sx(a) >> (b & sh)) & mask
    if op == isa.BPF_MOV:
        return lambda a, b: b
    raise KeyError(op)


def _cond_fn(op: int, is64: bool) -> Callable[[int, int], bool]:
    sx = _s64 if is64 else _s32
    table: dict[int, Callable[[int, int], bool]] = {
        isa.BPF_JEQ: lambda a, b: a == b,
        isa.BPF_JNE: lambda a, b: a != b,
        isa.BPF_JGT: lambda a, b: a > b,
        isa.BPF_JGE: lambda a, b: a >= b,
        isa.BPF_JLT: lambda a, b: a < b,
        isa.BPF_JLE: lambda a, b: a <= b,
        isa.BPF_JSET: lambda a, b: bool(a & b),
        isa.BPF_JSGT: lambda a, b: sx(a) > sx(b),
        isa.BPF_JSGE: lambda a, b: sx(a) >= sx(b),
        isa.BPF_JSLT: lambda a, b: sx(a) < sx(b),
        isa.BPF_JSLE: lambda a, b: sx(a) <= sx(b),
    }
    return table[op]


def _bswap(v: int, bits: int) -> int:
    return int.from_bytes((v & ((1 << bits) - 1)).to_bytes(bits // 8, "little"), "big")


def _compile_one(pc: int, ins: Insn, n: int) -> Op:
    nxt = pc + 1
    d, s = ins.dst, ins.src
    cls = ins.cls

    def target(off: int) -> int:
        t = pc + 1 + off
        if not 0 <= t < n:
            raise ProgramError(pc, f"jump out of range to {t} (program has {n} insns)")
        return t

    if d > 10 or s > 10:
        raise ProgramError(pc, f"invalid register in {isa.disasm(ins)}")
    if ins.is_lddw_tail:

        def tail(r: list[int], vm: Machine) -> int:
            raise EbpfFault(errno.EINVAL, "jump into the second slot of a lddw", pc)

        return tail

    if cls in (isa.BPF_ALU, isa.BPF_ALU64):
        is64 = cls == isa.BPF_ALU64
        mask = M64 if is64 else M32
        op = ins.op
        if op == isa.BPF_NEG:

            def neg(r: list[int], vm: Machine) -> int:
                r[d] = (-r[d]) & mask
                return nxt

            return neg
        if op == isa.BPF_END:
            bits = ins.imm
            if bits not in (16, 32, 64):
                raise ProgramError(pc, f"invalid endian width {bits}")
            swap = is64 or ins.source == isa.BPF_TO_BE
            bmask = (1 << bits) - 1

            def end(r: list[int], vm: Machine) -> int:
                r[d] = _bswap(r[d], bits) if swap else r[d] & bmask
                return nxt

            return end
        signed = ins.off == 1 and op in (isa.BPF_DIV, isa.BPF_MOD)
        if ins.off not in (0,) and not signed:
            raise ProgramError(pc, f"unsupported ALU form {isa.disasm(ins)} (off={ins.off})")
        try:
            fn = _alu_fn(op, is64, signed)
        except KeyError:
            raise ProgramError(pc, f"unknown ALU opcode {ins.code:#04x}") from None
        if ins.source == isa.BPF_X:
            if is64:

                def alu64x(r: list[int], vm: Machine) -> int:
                    r[d] = fn(r[d], r[s])
                    return nxt

                return alu64x

            def alu32x(r: list[int], vm: Machine) -> int:
                r[d] = fn(r[d] & M32, r[s] & M32)
                return nxt

            return alu32x
        k = ins.imm & mask  # sign-extended to 64 for ALU64, low 32 bits for ALU
        if is64:

            def alu64k(r: list[int], vm: Machine) -> int:
                r[d] = fn(r[d], k)
                return nxt

            return alu64k

        def alu32k(r: list[int], vm: Machine) -> int:
            r[d] = fn(r[d] & M32, k)
            return nxt

        return alu32k

    if cls in (isa.BPF_JMP, isa.BPF_JMP32):
        op = ins.op
        if cls == isa.BPF_JMP and op == isa.BPF_EXIT:

            def exit_(r: list[int], vm: Machine) -> int:
                if vm.frames:
                    ret_pc, saved = vm.frames.pop()
                    r[6:11] = saved
                    return ret_pc
                return -1

            return exit_
        if cls == isa.BPF_JMP and op == isa.BPF_CALL:
            if ins.src == isa.BPF_PSEUDO_CALL:
                callee = target(ins.imm)

                def call_local(r: list[int], vm: Machine) -> int:
                    if len(vm.frames) + 1 >= MAX_CALL_FRAMES:
                        raise EbpfFault(errno.E2BIG, "the call stack is too deep", pc)
                    vm.frames.append((nxt, r[6:11]))
                    r[10] = vm.memory.add(
                        f"stack frame {len(vm.frames)}",
                        bytearray(STACK_SIZE),
                        writable=True,
                        offset=STACK_SIZE,
                    )
                    return callee

                return call_local
            if ins.src != 0:
                raise ProgramError(pc, "kfunc calls are not supported")
            hid = ins.imm

            def call(r: list[int], vm: Machine) -> int:
                fn = vm.helpers.get(hid)
                if fn is None:
                    raise EbpfFault(errno.EINVAL, f"invalid func unknown#{hid}", pc)
                vm.pc = pc
                r[0] = fn(vm, r[1], r[2], r[3], r[4], r[5]) & M64
                return nxt

            return call
        if op == isa.BPF_JA:
            t = target(ins.imm if cls == isa.BPF_JMP32 else ins.off)
            return lambda r, vm: t
        try:
            cond = _cond_fn(op, cls == isa.BPF_JMP)
        except KeyError:
            raise ProgramError(pc, f"unknown jump opcode {ins.code:#04x}") from None
        t = target(ins.off)
        if cls == isa.BPF_JMP:
            if ins.source == isa.BPF_X:
                return lambda r, vm: t if cond(r[d], r[s]) else nxt
            k64 = ins.imm & M64
            return lambda r, vm: t if cond(r[d], k64) else nxt
        if ins.source == isa.BPF_X:
            return lambda r, vm: t if cond(r[d] & M32, r[s] & M32) else nxt
        k32 = ins.imm & M32
        return lambda r, vm: t if cond(r[d] & M32, k32) else nxt

    if cls == isa.BPF_LD:
        if not ins.is_lddw:
            raise ProgramError(pc, f"legacy packet load {isa.disasm(ins)} is not allowed here")
        if ins.src == isa.BPF_PSEUDO_MAP_FD:
            v = MAP_HANDLE_BASE + (ins.imm & M32)
        elif ins.src == 0:
            v = ins.imm64
        else:
            raise ProgramError(pc, f"unsupported pseudo lddw (src={ins.src}) {isa.disasm(ins)}")
        nxt2 = pc + 2

        def lddw(r: list[int], vm: Machine) -> int:
            r[d] = v
            return nxt2

        return lddw

    size = isa.SIZE_BYTES.get(ins.size, 0)
    off = ins.off
    if cls == isa.BPF_LDX:
        if ins.mode != isa.BPF_MEM:
            raise ProgramError(pc, f"unsupported load mode {ins.code:#04x}")
        fmt = struct.Struct({1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[size])
        unpack_from = fmt.unpack_from

        def ldx(r: list[int], vm: Machine) -> int:
            a = (r[s] + off) & M64
            reg = vm.memory.regions.get(a >> 32)
            o = a & M32
            if reg is None or o + size > len(reg.data):
                try:
                    vm.memory.load(a, size)
                except EbpfFault as f:
                    raise EbpfFault(f.errno, f.reason, pc) from None
            r[d] = unpack_from(reg.data, o)[0]  # type: ignore[union-attr]
            return nxt

        return ldx
    if cls == isa.BPF_ST:
        if ins.mode != isa.BPF_MEM:
            raise ProgramError(pc, f"unsupported store mode {ins.code:#04x}")
        kv = ins.imm & M64

        def st(r: list[int], vm: Machine) -> int:
            try:
                vm.memory.store(r[d] + off, size, kv)
            except EbpfFault as f:
                raise EbpfFault(f.errno, f.reason, pc) from None
            return nxt

        return st
    if cls == isa.BPF_STX:
        if ins.mode == isa.BPF_MEM:

            def stx(r: list[int], vm: Machine) -> int:
                try:
                    vm.memory.store(r[d] + off, size, r[s])
                except EbpfFault as f:
                    raise EbpfFault(f.errno, f.reason, pc) from None
                return nxt

            return stx
        if ins.mode == isa.BPF_ATOMIC and size in (4, 8):
            return _atomic(pc, ins, size)
        raise ProgramError(pc, f"unsupported store {ins.code:#04x} imm={ins.imm:#x}")
    raise ProgramError(pc, f"unknown opcode {ins.code:#04x}")


def _atomic(pc: int, ins: Insn, size: int) -> Op:
    d, s, off, imm = ins.dst, ins.src, ins.off, ins.imm
    nxt = pc + 1
    mask = M64 if size == 8 else M32
    base_op = imm & ~isa.BPF_FETCH
    fetch = bool(imm & isa.BPF_FETCH)
    if imm == isa.BPF_XCHG:
        combine: Callable[[int, int], int] = lambda old, v: v  # noqa: E731
    elif imm == isa.BPF_CMPXCHG:
        combine = lambda old, v: old  # noqa: E731 - handled below
    elif base_op in (isa.BPF_ADD, isa.BPF_OR, isa.BPF_AND, isa.BPF_XOR):
        combine = _alu_fn(base_op, size == 8, False)
    else:
        raise ProgramError(pc, f"unknown atomic operation {imm:#x}")

    def atomic(r: list[int], vm: Machine) -> int:
        addr = r[d] + off
        try:
            old = vm.memory.load(addr, size)
            if imm == isa.BPF_CMPXCHG:
                if old == r[0] & mask:
                    vm.memory.store(addr, size, r[s])
                else:
                    vm.memory.store(addr, size, old)  # the write access is checked anyway
                r[0] = old
                return nxt
            vm.memory.store(addr, size, combine(old, r[s] & mask))
        except EbpfFault as f:
            raise EbpfFault(f.errno, f.reason, pc) from None
        if fetch:
            r[s] = old
        return nxt

    return atomic


def compile_program(insns: Sequence[Insn]) -> Program:
    """Turn decoded instructions into closures; raises :class:`ProgramError`."""
    n = len(insns)
    if n == 0:
        raise ProgramError(0, "empty program")
    ops = [_compile_one(pc, ins, n) for pc, ins in enumerate(insns)]

    def fell_off(r: list[int], vm: Machine) -> int:
        raise EbpfFault(errno.EINVAL, "ran past the last instruction", n)

    ops.append(fell_off)
    return Program(tuple(insns), ops)


def run(
    prog: Program,
    memory: Memory,
    *,
    r1: int = 0,
    helpers: Mapping[int, Helper] | None = None,
    budget: int = DEFAULT_BUDGET,
    data: Any = None,
) -> RunResult:
    """Run ``prog`` with R1 = ``r1`` and a fresh 512-byte stack in ``memory``.

    Returns the :class:`RunResult`; raises :class:`EbpfFault` on a run-time fault.
    """
    regs = [0] * 11
    regs[1] = r1 & M64
    regs[10] = memory.add("stack", bytearray(STACK_SIZE), writable=True, offset=STACK_SIZE)
    vm = Machine(memory, helpers or {}, data)
    ops = prog.ops
    pc = 0
    count = 0
    while pc >= 0:
        count += 1
        if count > budget:
            raise EbpfFault(
                errno.E2BIG, f"instruction budget of {budget} spent (the program loops)", pc
            )
        pc = ops[pc](regs, vm)
    return RunResult(regs[0], count)


def run_insns(
    insns: Sequence[Insn],
    memory: Memory | None = None,
    *,
    r1: int = 0,
    helpers: Mapping[int, Helper] | None = None,
    budget: int = DEFAULT_BUDGET,
) -> RunResult:
    """Compile and run in one step (tests, the oracle)."""
    return run(compile_program(insns), memory or Memory(), r1=r1, helpers=helpers, budget=budget)
