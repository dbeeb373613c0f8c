"""simfs.bpf.ebpf.interp: instruction semantics as ___bpf_prog_run and the verifier's
rewrites define them, memory faults, the budget, and the 32-bit return."""

from __future__ import annotations

import errno
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from simfs.bpf.ebpf import elf, isa
from simfs.bpf.ebpf.interp import (
    EbpfFault,
    Memory,
    ProgramError,
    compile_program,
    ret32,
    run,
    run_insns,
)
from simfs.bpf.ebpf.isa import Insn

from .ebpf_asm import exit_, ins, lddw, ldx, mov64_imm, st, stx

M64 = (1 << 64) - 1
ALU64, ALU = isa.BPF_ALU64, isa.BPF_ALU


def r0_after(*body: Insn | list[Insn]) -> int:
    flat: list[Insn] = []
    for b in body:
        flat.extend(b if isinstance(b, list) else [b])
    return run_insns([*flat, exit_()]).r0


def set64(reg: int, value: int) -> list[Insn]:
    return lddw(reg, value & M64)


def alu(cls: int, op: int, dst: int, src: int) -> Insn:
    return ins(cls | op | isa.BPF_X, dst, src)


def alu_k(cls: int, op: int, dst: int, imm: int) -> Insn:
    return ins(cls | op | isa.BPF_K, dst, 0, 0, imm)


@pytest.mark.parametrize(
    ("cls", "op", "a", "b", "want"),
    [
        (ALU64, isa.BPF_ADD, M64, 2, 1),
        (ALU, isa.BPF_ADD, 0xFFFFFFFF, 2, 1),  # 32-bit result, zero-extended
        (ALU, isa.BPF_ADD, 0x1_0000_0005, 1, 6),  # upper half of dst ignored and cleared
        (ALU64, isa.BPF_SUB, 0, 1, M64),
        (ALU, isa.BPF_SUB, 0, 1, 0xFFFFFFFF),
        (ALU64, isa.BPF_MUL, 1 << 63, 2, 0),
        (ALU64, isa.BPF_DIV, 7, 2, 3),
        (ALU64, isa.BPF_DIV, 7, 0, 0),  # do_misc_fixups: division by zero gives 0
        (ALU, isa.BPF_DIV, 0x1_0000_0007, 0, 0),
        (ALU64, isa.BPF_MOD, 7, 0, 7),  # modulo by zero leaves the dividend
        (ALU, isa.BPF_MOD, 0xAAAA_0000_0007, 0, 7),  # ... its low 32 bits, zero-extended
        (ALU64, isa.BPF_MOD, M64, 10, M64 % 10),  # unsigned
        (ALU64, isa.BPF_LSH, 1, 65, 2),  # shift count modulo 64
        (ALU, isa.BPF_LSH, 1, 33, 2),  # ... modulo 32
        (ALU64, isa.BPF_RSH, 1 << 63, 63, 1),
        (ALU64, isa.BPF_ARSH, 1 << 63, 63, M64),
        (ALU, isa.BPF_ARSH, 0x8000_0000, 31, 0xFFFFFFFF),
        (ALU64, isa.BPF_OR, 0xF0, 0x0F, 0xFF),
        (ALU64, isa.BPF_AND, 0xF0, 0x3C, 0x30),
        (ALU64, isa.BPF_XOR, 0xFF, 0x0F, 0xF0),
        (ALU, isa.BPF_MOV, 0, 0x1_2345_6789, 0x2345_6789),
    ],
)
def test_alu_register_forms(cls: int, op: int, a: int, b: int, want: int) -> None:
    assert r0_after(set64(0, a), set64(1, b), alu(cls, op, 0, 1)) == want


def test_immediates_sign_extend_for_alu64_and_not_for_alu32() -> None:
    assert r0_after(mov64_imm(0, 0), alu_k(ALU64, isa.BPF_ADD, 0, -1)) == M64
    assert r0_after(mov64_imm(0, 0), alu_k(ALU, isa.BPF_ADD, 0, -1)) == 0xFFFFFFFF
    assert r0_after(alu_k(ALU64, isa.BPF_MOV, 0, -2)) == M64 - 1
    assert r0_after(alu_k(ALU, isa.BPF_MOV, 0, -2)) == 0xFFFFFFFE


@pytest.mark.parametrize(
    ("cls", "op", "a", "b", "want"),
    [
        (ALU64, isa.BPF_DIV, -7, 2, -3),  # truncates toward zero
        (ALU64, isa.BPF_DIV, -(1 << 63), -1, -(1 << 63)),  # the minimum stays
        (ALU64, isa.BPF_MOD, -7, 2, -1),  # sign of the dividend
        (ALU64, isa.BPF_MOD, -(1 << 63), -1, 0),
        (ALU64, isa.BPF_DIV, 5, 0, 0),
        (ALU64, isa.BPF_MOD, -5, 0, -5),
        (ALU, isa.BPF_DIV, -8, 2, -4 & 0xFFFFFFFF),
    ],
)
def test_signed_division_of_cpu_v4(cls: int, op: int, a: int, b: int, want: int) -> None:
    sdiv = ins(cls | op | isa.BPF_X, 0, 1, 1)  # off = 1: sdiv / smod
    got = r0_after(set64(0, a), set64(1, b), sdiv)
    assert got == want & M64


def test_neg_and_byte_swaps() -> None:
    assert r0_after(mov64_imm(0, 5), ins(ALU64 | isa.BPF_NEG)) == M64 - 4
    assert r0_after(mov64_imm(0, 5), ins(ALU | isa.BPF_NEG)) == 0xFFFFFFFB
    v = 0x1122334455667788
    be = ALU | isa.BPF_END | isa.BPF_TO_BE
    le = ALU | isa.BPF_END | isa.BPF_TO_LE
    assert r0_after(set64(0, v), ins(be, 0, 0, 0, 16)) == 0x8877
    assert r0_after(set64(0, v), ins(be, 0, 0, 0, 32)) == 0x88776655
    assert r0_after(set64(0, v), ins(be, 0, 0, 0, 64)) == 0x8877665544332211
    assert r0_after(set64(0, v), ins(le, 0, 0, 0, 16)) == 0x7788  # truncates on LE hosts
    assert r0_after(set64(0, v), ins(le, 0, 0, 0, 64)) == v
    assert r0_after(set64(0, v), ins(ALU64 | isa.BPF_END, 0, 0, 0, 32)) == 0x88776655


def branch(code: int, a: int, b: int) -> int:
    """1 if the conditional jump ``code`` (X form) is taken for a, b."""
    return r0_after(
        set64(1, a), set64(2, b), mov64_imm(0, 0), ins(code | isa.BPF_X, 1, 2, 1),
        exit_(), mov64_imm(0, 1),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("op", "a", "b", "jmp64", "jmp32"),
    [
        (isa.BPF_JGT, M64, 1, 1, 1),
        (isa.BPF_JSGT, M64, 1, 0, 0),  # -1 s> 1 is false
        (isa.BPF_JSGT, 0xFFFFFFFF, 1, 1, 0),  # only JMP32 sees the low half as -1
        (isa.BPF_JLT, 1 << 32, 1, 0, 1),  # JMP32 compares 0 < 1
        (isa.BPF_JEQ, 1 << 32, 0, 0, 1),
        (isa.BPF_JSET, 1 << 32, 1 << 32, 1, 0),
        (isa.BPF_JSLE, 1 << 63, 0, 1, 1),
        (isa.BPF_JGE, 5, 5, 1, 1),
        (isa.BPF_JLE, 6, 5, 0, 0),
        (isa.BPF_JSGE, 0, M64, 1, 1),
        (isa.BPF_JSLT, M64, 0, 1, 1),
        (isa.BPF_JNE, 1 << 32, 0, 1, 0),
    ],
)
def test_conditional_jumps_64_and_32(op: int, a: int, b: int, jmp64: int, jmp32: int) -> None:
    assert branch(isa.BPF_JMP | op, a, b) == jmp64
    assert branch(isa.BPF_JMP32 | op, a, b) == jmp32


def test_jump_immediates_sign_extend_for_jmp_and_truncate_for_jmp32() -> None:
    def taken(code: int, a: int, imm: int) -> int:
        return r0_after(
            set64(1, a), mov64_imm(0, 0), ins(code, 1, 0, 1, imm), exit_(), mov64_imm(0, 1)
        )

    assert taken(isa.BPF_JMP | isa.BPF_JEQ, M64, -1) == 1
    assert taken(isa.BPF_JMP32 | isa.BPF_JEQ, M64, -1) == 1
    assert taken(isa.BPF_JMP | isa.BPF_JEQ, 0xFFFFFFFF, -1) == 0
    assert taken(isa.BPF_JMP32 | isa.BPF_JEQ, 0xFFFFFFFF, -1) == 1


def test_loads_and_stores_on_the_stack_zero_extend() -> None:
    assert (
        r0_after(
            set64(1, 0x1122334455667788),
            stx(isa.BPF_DW, 10, 1, -8),
            ldx(isa.BPF_B, 0, 10, -8),
        )
        == 0x88
    )
    assert r0_after(st(isa.BPF_DW, 10, -8, -1), ldx(isa.BPF_DW, 0, 10, -8)) == M64
    assert r0_after(st(isa.BPF_W, 10, -8, -1), ldx(isa.BPF_W, 0, 10, -8)) == 0xFFFFFFFF
    assert r0_after(st(isa.BPF_H, 10, -2, 0x12345), ldx(isa.BPF_H, 0, 10, -2)) == 0x2345


@pytest.mark.parametrize(
    ("imm", "size", "start", "operand", "mem_after", "reg_after"),
    [
        (isa.BPF_ADD, isa.BPF_DW, 5, 3, 8, 3),
        (isa.BPF_ADD | isa.BPF_FETCH, isa.BPF_DW, 5, 3, 8, 5),
        (isa.BPF_OR | isa.BPF_FETCH, isa.BPF_W, 0x0F, 0xF0, 0xFF, 0x0F),
        (isa.BPF_AND, isa.BPF_W, 0x0F, 0x3C, 0x0C, 0x3C),
        (isa.BPF_XOR | isa.BPF_FETCH, isa.BPF_DW, 0xFF, 0x0F, 0xF0, 0xFF),
        (isa.BPF_XCHG, isa.BPF_DW, 1, 2, 2, 1),
        (isa.BPF_ADD, isa.BPF_W, 0xFFFFFFFF, 1, 0, 1),  # wraps at 32 bits
    ],
)
def test_atomics(
    imm: int, size: int, start: int, operand: int, mem_after: int, reg_after: int
) -> None:
    atomic = ins(isa.BPF_STX | isa.BPF_ATOMIC | size, 10, 2, -8, imm)
    mem = r0_after(
        st(isa.BPF_DW, 10, -8, 0), set64(1, start), stx(size, 10, 1, -8),
        set64(2, operand), atomic, ldx(size, 0, 10, -8),
    )  # fmt: skip
    reg = r0_after(
        st(isa.BPF_DW, 10, -8, 0), set64(1, start), stx(size, 10, 1, -8),
        set64(2, operand), atomic, ins(ALU64 | isa.BPF_MOV | isa.BPF_X, 0, 2),
    )  # fmt: skip
    assert (mem, reg) == (mem_after, reg_after)


def test_cmpxchg_swaps_only_on_match_and_returns_the_old_value() -> None:
    def go(expected: int) -> tuple[int, int]:
        cmpxchg = ins(isa.BPF_STX | isa.BPF_ATOMIC | isa.BPF_DW, 10, 2, -8, isa.BPF_CMPXCHG)
        old = r0_after(st(isa.BPF_DW, 10, -8, 7), mov64_imm(0, expected), mov64_imm(2, 9), cmpxchg)
        now = r0_after(
            st(isa.BPF_DW, 10, -8, 7), mov64_imm(0, expected), mov64_imm(2, 9), cmpxchg,
            ldx(isa.BPF_DW, 0, 10, -8),
        )  # fmt: skip
        return old, now

    assert go(7) == (7, 9)
    assert go(8) == (7, 7)


def test_return_value_is_read_as_a_32_bit_int() -> None:
    assert ret32(0xFFFFFFFE) == -2
    assert ret32(M64 - 1) == -2
    assert ret32(0x1_0000_0002) == 2  # a long return loses its upper half
    assert run_insns([*set64(0, 0x1_0000_0002), exit_()]).ret == 2


def test_helpers_get_r1_to_r5_and_set_r0() -> None:
    seen: list[tuple[int, ...]] = []

    def helper(vm: object, *args: int) -> int:
        seen.append(args)
        return -1

    prog = [mov64_imm(i, i * 10) for i in range(1, 6)] + [ins(0x85, imm=99), exit_()]
    assert run_insns(prog, helpers={99: helper}).r0 == M64
    assert seen == [(10, 20, 30, 40, 50)]
    with pytest.raises(EbpfFault, match="unknown#99") as exc:
        run_insns(prog)
    assert exc.value.errno == errno.EINVAL


@pytest.mark.parametrize(
    ("body", "err", "match"),
    [
        ([ldx(isa.BPF_DW, 0, 10, 0)], errno.EACCES, "stack"),  # at R10: past the stack
        ([ldx(isa.BPF_DW, 0, 10, -520)], errno.EACCES, "no region"),  # below 512 bytes
        ([mov64_imm(1, 0), ldx(isa.BPF_B, 0, 1, 0)], errno.EACCES, "no region"),  # NULL
        ([st(isa.BPF_W, 1, 0, 1)], errno.EACCES, "read-only"),  # R1 = read-only ctx
    ],
)
def test_memory_faults(body: list[Insn], err: int, match: str) -> None:
    mem = Memory()
    ctx = mem.add("ctx", bytearray(16), writable=False)
    with pytest.raises(EbpfFault, match=match) as exc:
        run(compile_program([*body, exit_()]), mem, r1=ctx)
    assert exc.value.errno == err


def test_an_endless_loop_spends_the_budget() -> None:
    with pytest.raises(EbpfFault, match="budget of 1000") as exc:
        run_insns([mov64_imm(0, 0), ins(isa.BPF_JMP | isa.BPF_JA, off=-1), exit_()], budget=1000)
    assert exc.value.errno == errno.E2BIG


def test_instructions_it_cannot_run_are_refused_before_running() -> None:
    with pytest.raises(ProgramError, match="out of range"):
        compile_program([ins(isa.BPF_JMP | isa.BPF_JA, off=5), exit_()])
    with pytest.raises(ProgramError, match="unknown ALU opcode"):
        compile_program([ins(0xFF), exit_()])
    with pytest.raises(EbpfFault, match="past the last"):
        run_insns([mov64_imm(0, 0)])
    with pytest.raises(EbpfFault, match="second slot"):
        run_insns([ins(isa.BPF_JMP | isa.BPF_JA, off=1), *lddw(0, 1), exit_()])


# -- programs clang builds -------------------------------------------------------------

CLANG = shutil.which("clang")
needs_clang = pytest.mark.skipif(CLANG is None, reason="clang is not installed")


def build(tmp_path: Path, source: str, section: str, *flags: str) -> list[Insn]:
    src = tmp_path / "p.c"
    src.write_text("typedef unsigned long long u64; typedef unsigned int u32;\n" + source)
    out = tmp_path / "p.o"
    subprocess.run(
        [CLANG or "clang", "-O2", "-target", "bpf", *flags, "-c", str(src), "-o", str(out)],
        check=True,
    )
    return list(elf.read_object(out).program(section).insns)


@needs_clang
@pytest.mark.parametrize("cpu", ["-mcpu=v1", "-mcpu=v2", "-mcpu=v3"])
def test_clang_programs_compute_what_c_says(tmp_path: Path, cpu: str) -> None:
    insns = build(
        tmp_path,
        """
        /* a bpf-to-bpf call: the callee lives in the program's own section */
        static __attribute__((noinline, section("p"))) u64 mix(u64 a, u64 b)
        { return a * 31 + (b >> 3); }
        __attribute__((section("p"), used)) long f(void *ctx) {
            volatile u64 seed = 12345; u64 acc = 0;
            for (int i = 0; i < 40; i++) {
                switch ((seed + i) % 7) {
                case 0: acc += i; break;
                case 1: case 4: acc ^= seed << (i % 13); break;
                case 3: acc = mix(acc, i); break;
                case 5: acc -= (u32)(acc >> 7) / (u32)(i + 1); break;
                default: acc |= 1ULL << (i % 64);
                }
            }
            return (long)acc;
        }
        """,
        "p",
        cpu,
    )
    acc = 0
    seed = 12345
    m = M64
    for i in range(40):
        c = (seed + i) % 7
        if c == 0:
            acc = (acc + i) & m
        elif c in (1, 4):
            acc ^= (seed << (i % 13)) & m
        elif c == 3:
            acc = (acc * 31 + (i >> 3)) & m
        elif c == 5:
            acc = (acc - ((acc >> 7) & 0xFFFFFFFF) // (i + 1)) & m
        else:
            acc |= 1 << (i % 64)
    assert run_insns(insns).r0 == acc


@needs_clang
def test_return_minus_enoent_is_0xfffffffe_at_the_call_site(tmp_path: Path) -> None:
    insns = build(
        tmp_path,
        '__attribute__((section("p"), used)) int f(void *c) { return -2; }\n'
        '__attribute__((section("q"), used)) long g(void *c) { return 0x100000000L - 2; }',
        "p",
    )
    result = run_insns(insns)
    assert result.ret == -2
    q = build(
        tmp_path,
        '__attribute__((section("q"), used)) long g(void *c) { return 0x100000000L - 2; }',
        "q",
    )
    assert run_insns(q).r0 == 0xFFFFFFFE and run_insns(q).ret == -2  # a positive long, read as -2


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    hst.lists(
        hst.tuples(
            hst.sampled_from(sorted({c for c in range(256) if c & 7 != isa.BPF_LD} | {0x18})),
            hst.integers(0, 15),
            hst.integers(0, 15),
            hst.integers(-8, 8),
            hst.integers(-(2**31), 2**31 - 1),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_arbitrary_instructions_fault_cleanly(
    slots: list[tuple[int, int, int, int, int]],
) -> None:
    import struct as _struct

    raw = b"".join(_struct.pack("<BBhi", c, (s << 4) | d, o, i) for c, d, s, o, i in slots)
    try:
        insns = isa.decode(raw)
        result = run(compile_program(insns), Memory(), budget=1000)
    except (isa.DecodeError, ProgramError, EbpfFault):
        return
    assert 0 <= result.r0 < 1 << 64
