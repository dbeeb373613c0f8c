"""Verifier-lite (simfs.bpf.ebpf.verifier): what a FUSE program must pass at load.

Each bad-input case of issue 18 as a program: C compiled with clang (``-O2 -target bpf``,
as filter authors build them) where C can say it, a hand-assembled program where the
compiler would not produce it (an uninitialised register, a pointer returned).  Every
refusal is checked for the kernel's errno *and* its log line, and a good twin of each
bad program is accepted, so no test passes by refusing everything.
"""

from __future__ import annotations

import errno
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from simfs.bpf.ebpf import interp, isa
from simfs.bpf.ebpf.elf import read_object
from simfs.bpf.ebpf.isa import Insn
from simfs.bpf.ebpf.maps import BPF_MAP_TYPE_HASH, BpfMap
from simfs.bpf.ebpf.verifier import VerifierError, VerifierResult, describe, verify
from tests.bpf.ebpf_asm import call, exit_, ins, lddw, ldx, mov64, mov64_imm, st, stx

FILTERS = Path(__file__).resolve().parents[2] / "simfs" / "bpf" / "filters"
CLANG = shutil.which("clang")
needs_clang = pytest.mark.skipif(
    CLANG is None, reason="clang is not installed (apt-get install clang)"
)

W, H, B, DW = isa.BPF_W, isa.BPF_H, isa.BPF_B, isa.BPF_DW
# struct fuse_bpf_args offsets (android_fuse.h)
NODEID, OPCODE, FLAGS = 0, 8, 24
IN0_VALUE, IN0_END = 40, 48
OUT0_VALUE = 160


def compile_c(tmp_path: Path, body: str, name: str = "prog") -> Path:
    """Compile one C file against simfs's fuse_bpf.h; return the object's path."""
    src = tmp_path / f"{name}.c"
    src.write_text('#include "fuse_bpf.h"\n' + body)
    obj = tmp_path / f"{name}.o"
    assert CLANG is not None
    subprocess.run(
        [CLANG, "-O2", "-target", "bpf", "-I", str(FILTERS), "-c", str(src), "-o", str(obj)],
        check=True,
        capture_output=True,
    )
    return obj


def verify_c(tmp_path: Path, body: str, section: str = "prog", **kw: object) -> VerifierResult:
    obj = read_object(compile_c(tmp_path, body))
    maps = [m.create() for m in obj.maps]
    return verify(obj.programs[section].insns, maps=maps, **kw)  # type: ignore[arg-type]


def rejected(result: VerifierResult, err: int, message: str) -> None:
    assert not result.accepted, result.log
    assert result.errno == err, (errno.errorcode[result.errno], result.log)
    assert message in result.error, result.log
    # the log ends with the reason (then the statistics line), as the kernel's does
    assert result.error in result.log.rstrip().splitlines()[-2:]
    with pytest.raises(VerifierError) as info:
        result.raise_for_error()
    assert info.value.errno == err and info.value.log == result.log


def accepted(result: VerifierResult) -> None:
    assert result.accepted, result.log
    assert result.errno == 0 and result.error == ""


# -- our own filters ---------------------------------------------------------------


@needs_clang
def test_every_selftest_program_we_ship_is_accepted(tmp_path: Path) -> None:
    obj_path = tmp_path / "selftests.o"
    subprocess.run(
        [
            CLANG or "clang",
            "-O2",
            "-target",
            "bpf",
            "-I",
            str(FILTERS),
            "-c",
            str(FILTERS / "selftests.c"),
            "-o",
            str(obj_path),
        ],
        check=True,
        capture_output=True,
    )
    obj = read_object(obj_path)
    maps = [m.create() for m in obj.maps]
    assert len(obj.programs) >= 10
    for name, prog in obj.programs.items():
        result = verify(prog.insns, maps=maps)
        assert result.accepted, f"{name}:\n{result.log}"
        assert result.processed >= len([i for i in prog.insns if not i.is_lddw_tail]) // 4


def test_verify_takes_a_loaded_program_with_its_maps() -> None:
    # load_object hands its CompiledProgram to verify(): the maps come from the program
    from simfs.bpf import load_object

    prog = load_object(FILTERS / "selftests.o", "test_daemon")
    accepted(verify(prog))
    rejected(verify(list(prog.insns)), errno.EBADF, "fd 0 is not pointing to valid bpf_map")


# -- loops -------------------------------------------------------------------------

BOUNDED_LOOP = """
SEC("prog") int filter(struct fuse_bpf_args *fa)
{
	__u32 acc = 0;
	#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < 6; i++)
		acc += fa->opcode >> i;
	return acc & 1;
}
"""

UNBOUNDED_LOOP = """
SEC("prog") int filter(struct fuse_bpf_args *fa)
{
	__u64 acc = 0;
	#pragma clang loop unroll(disable)
	for (__u64 i = 0; i < fa->nodeid; i++)
		acc += i ^ fa->opcode;
	return acc & 1;
}
"""


@needs_clang
def test_a_bounded_loop_is_walked_to_its_end(tmp_path: Path) -> None:
    result = verify_c(tmp_path, BOUNDED_LOOP)
    accepted(result)
    # six iterations were walked, each a distinct state of the counter
    assert result.processed > 6 * 3


@needs_clang
def test_pre_5_3_rule_refuses_any_back_edge(tmp_path: Path) -> None:
    rejected(
        verify_c(tmp_path, BOUNDED_LOOP, bounded_loops=False), errno.EINVAL, "back-edge from insn"
    )


@needs_clang
def test_a_loop_bounded_by_a_context_field_is_too_large(tmp_path: Path) -> None:
    result = verify_c(tmp_path, UNBOUNDED_LOOP, complexity_limit=20_000)
    rejected(result, errno.E2BIG, "BPF program is too large. Processed 20001 insn")


def test_a_loop_that_repeats_its_state_is_an_infinite_loop() -> None:
    # 0: r0 = 0; 1: r0 &= 1 ; 2: if r0 < 5 goto 1 ; 3: exit
    prog = [
        mov64_imm(0, 0),
        ins(isa.BPF_ALU64 | isa.BPF_AND | isa.BPF_K, 0, 0, 0, 1),
        ins(isa.BPF_JMP | isa.BPF_JLT | isa.BPF_K, 0, 0, -2, 5),
        exit_(),
    ]
    rejected(verify(prog), errno.EINVAL, "infinite loop detected at insn 1")


# -- uninitialised registers and stack ---------------------------------------------


def test_reading_an_uninitialised_register() -> None:
    rejected(verify([mov64(0, 2), exit_()]), errno.EACCES, "R2 !read_ok")
    accepted(verify([mov64_imm(2, 7), mov64(0, 2), exit_()]))


def test_exit_without_setting_r0() -> None:
    rejected(verify([mov64_imm(2, 7), exit_()]), errno.EACCES, "R0 !read_ok")


def test_helper_call_clobbers_r1_to_r5() -> None:
    prog = [mov64_imm(3, 1), call(14), mov64(0, 3), exit_()]
    rejected(verify(prog), errno.EACCES, "R3 !read_ok")
    accepted(verify([mov64_imm(6, 1), call(14), mov64(0, 6), exit_()]))


def test_reading_stack_never_written() -> None:
    prog = [ldx(DW, 0, 10, -8), exit_()]
    rejected(verify(prog), errno.EACCES, "invalid read from stack R10 off 0+-8 size 8")
    accepted(verify([st(DW, 10, -8, 3), ldx(DW, 0, 10, -8), exit_()]))


@needs_clang
def test_printk_of_an_uninitialised_buffer(tmp_path: Path) -> None:
    body = """
SEC("prog") int filter(struct fuse_bpf_args *fa)
{
	char fmt[16];
	fmt[0] = 'x';
	return bpf_trace_printk(fmt, sizeof(fmt));
}
"""
    rejected(verify_c(tmp_path, body), errno.EACCES, "invalid indirect read from stack")


def test_spilled_pointer_comes_back_typed() -> None:
    # *(u64 *)(r10 -8) = r1; r2 = *(u64 *)(r10 -8); r0 = *(u32 *)(r2 +8): ctx read
    prog = [stx(DW, 10, 1, -8), ldx(DW, 2, 10, -8), ldx(W, 0, 2, OPCODE), exit_()]
    accepted(verify(prog))
    # a 4-byte fill of the spilled pointer is refused
    bad = [stx(DW, 10, 1, -8), ldx(W, 2, 10, -8), mov64_imm(0, 0), exit_()]
    rejected(verify(bad), errno.EACCES, "invalid size of register fill")


def test_stack_bounds_and_alignment() -> None:
    rejected(
        verify([st(DW, 10, -520, 0), mov64_imm(0, 0), exit_()]),
        errno.EACCES,
        "invalid write to stack R10 off=-520 size=8",
    )
    rejected(
        verify([st(DW, 10, -12, 0), mov64_imm(0, 0), exit_()]),
        errno.EACCES,
        "misaligned stack access",
    )
    accepted(verify([st(DW, 10, -512, 0), mov64_imm(0, 0), exit_()]))


def test_frame_pointer_is_read_only() -> None:
    rejected(
        verify([mov64_imm(10, 0), mov64_imm(0, 0), exit_()]),
        errno.EACCES,
        "frame pointer is read only",
    )


# -- the context: fuse_prog_is_valid_access -------------------------------------------


@needs_clang
def test_writing_a_read_only_context_field(tmp_path: Path) -> None:
    body = """
SEC("prog") int filter(struct fuse_bpf_args *fa)
{
	fa->error_in = 0;
	return FUSE_BPF_BACKING;
}
"""
    rejected(verify_c(tmp_path, body), errno.EACCES, "invalid bpf_context access off=12 size=4")


@needs_clang
def test_writing_an_in_argument_buffer(tmp_path: Path) -> None:
    body = """
SEC("prog") int filter(struct fuse_bpf_args *fa)
{
	char *name = (char *)fa->in_args[0].value;
	name[0] = 'x';
	return FUSE_BPF_BACKING;
}
"""
    rejected(verify_c(tmp_path, body), errno.EACCES, "cannot write into rdonly_buf")


@needs_clang
def test_writing_an_out_argument_buffer_is_allowed(tmp_path: Path) -> None:
    body = """
SEC("prog") int filter(struct fuse_bpf_args *fa)
{
	struct fuse_entry_out *feo = fa->out_args[0].value;
	feo->nodeid = 5;
	return FUSE_BPF_BACKING;
}
"""
    result = verify_c(tmp_path, body)
    accepted(result)
    assert result.max_buffer_access == {"out_args[0]": 8}


def test_context_fields_at_their_own_size_only() -> None:
    narrow = [ldx(B, 0, 1, OPCODE), exit_()]
    rejected(verify(narrow), errno.EACCES, "invalid bpf_context access off=8 size=1")
    # the earlier ACK rule let any read inside the struct through
    accepted(verify(narrow, access="legacy"))
    accepted(verify([ldx(W, 0, 1, OPCODE), exit_()]))
    accepted(verify([ldx(DW, 0, 1, NODEID), exit_()]))
    rejected(
        verify([ldx(DW, 0, 1, 224), exit_()]),
        errno.EACCES,
        "invalid bpf_context access off=224 size=8",
    )


def test_modified_context_pointer_cannot_be_dereferenced() -> None:
    prog = [ins(isa.BPF_ALU64 | isa.BPF_ADD | isa.BPF_K, 1, 0, 0, 8), ldx(W, 0, 1, 0), exit_()]
    rejected(verify(prog), errno.EACCES, "dereference of modified ctx ptr R1 off=8 disallowed")


def test_legacy_rule_allows_replacing_an_out_argument_pointer() -> None:
    prog = [ldx(DW, 2, 1, OUT0_VALUE), stx(DW, 1, 2, OUT0_VALUE), mov64_imm(0, 0), exit_()]
    rejected(verify(prog), errno.EACCES, "invalid bpf_context access off=160 size=8")
    accepted(verify(prog, access="legacy"))


# -- argument buffers ----------------------------------------------------------------

PAST_BUFFER = """
SEC("prog") int filter(struct fuse_bpf_args *fa)
{
	const char *name = fa->in_args[0].value;
	return name[300];
}
"""


@needs_clang
def test_reading_past_an_argument_buffer(tmp_path: Path) -> None:
    result = verify_c(tmp_path, PAST_BUFFER)
    rejected(result, errno.EACCES, "in_args[0] access past the argument buffer: off=300, size=1")
    # the kernel itself only records the largest offset (max_rdonly_access)
    kernel_rule = verify_c(tmp_path, PAST_BUFFER, buffer_limit=None)
    accepted(kernel_rule)
    assert kernel_rule.max_buffer_access == {"in_args[0]": 301}


@needs_clang
def test_variable_offset_into_a_buffer(tmp_path: Path) -> None:
    body = """
SEC("prog") int filter(struct fuse_bpf_args *fa)
{
	const char *name = fa->in_args[0].value;
	return name[fa->opcode & 7];
}
"""
    rejected(verify_c(tmp_path, body), errno.EACCES, "invalid variable buffer offset")


def test_negative_buffer_offset() -> None:
    prog = [ldx(DW, 2, 1, IN0_VALUE), ldx(B, 0, 2, -1), exit_()]
    rejected(verify(prog), errno.EACCES, "R2 invalid rdonly buffer access: off=-1, size=1")


def test_end_offset_is_a_number_not_a_pointer() -> None:
    prog = [ldx(DW, 2, 1, IN0_END), ldx(B, 0, 2, 0), exit_()]
    rejected(verify(prog), errno.EACCES, "R2 invalid mem access 'scalar'")


# -- helpers and maps -----------------------------------------------------------------


def test_unknown_helper() -> None:
    prog = [call(16), exit_()]  # bpf_get_current_comm: not offered to FUSE programs
    rejected(
        verify(prog), errno.EINVAL, "program of this type cannot use helper bpf_get_current_comm#16"
    )
    rejected(verify([call(100000), exit_()]), errno.EINVAL, "invalid func unknown#100000")


def test_helpers_can_be_narrowed_to_acks_list() -> None:
    from simfs.bpf.ebpf.verifier import FUSE_HELPER_PROTOS

    acks = {k: v for k, v in FUSE_HELPER_PROTOS.items() if k != 3}
    prog = [
        *lddw(1, 0, isa.BPF_PSEUDO_MAP_FD),
        st(W, 10, -4, 0),
        mov64(2, 10),
        ins(isa.BPF_ALU64 | isa.BPF_ADD | isa.BPF_K, 2, 0, 0, -4),
        call(3),
        exit_(),
    ]
    maps = [BpfMap("m", BPF_MAP_TYPE_HASH, 4, 8, 4)]
    accepted(verify(prog, maps=maps))
    rejected(verify(prog, maps=maps, helpers=acks), errno.EINVAL, "bpf_map_delete_elem#3")


MAP_PROG = """
struct fuse_bpf_map SEC("maps") counts = { BPF_MAP_TYPE_HASH, sizeof(__u32), sizeof(__u64), 16 };

SEC("prog") int filter(struct fuse_bpf_args *fa)
{
	__u32 key = fa->opcode;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);
	%s
	return FUSE_BPF_BACKING;
}
"""


@needs_clang
def test_map_value_must_be_null_checked(tmp_path: Path) -> None:
    bad = verify_c(tmp_path, MAP_PROG % "*v += 1;")
    rejected(bad, errno.EACCES, "invalid mem access 'map_value_or_null'")
    accepted(verify_c(tmp_path, MAP_PROG % "if (v) *v += 1;"))


@needs_clang
def test_map_value_bounds(tmp_path: Path) -> None:
    rejected(
        verify_c(tmp_path, MAP_PROG % "if (v) v[1] = 1;"),
        errno.EACCES,
        "invalid access to map value, value_size=8 off=8 size=8",
    )


def test_map_key_must_be_initialised_stack() -> None:
    prog = [
        *lddw(1, 0, isa.BPF_PSEUDO_MAP_FD),
        mov64(2, 10),
        ins(isa.BPF_ALU64 | isa.BPF_ADD | isa.BPF_K, 2, 0, 0, -4),
        call(1),
        mov64_imm(0, 0),
        exit_(),
    ]
    maps = [BpfMap("m", BPF_MAP_TYPE_HASH, 4, 8, 4)]
    rejected(verify(prog, maps=maps), errno.EACCES, "invalid indirect read from stack R2")
    rejected(verify(prog), errno.EBADF, "fd 0 is not pointing to valid bpf_map")


def test_helper_argument_types() -> None:
    # bpf_map_lookup_elem(ctx, ...): R1 must be a map
    prog = [mov64(2, 10), call(1), mov64_imm(0, 0), exit_()]
    rejected(verify(prog), errno.EACCES, "R1 type=ctx expected=map_ptr")


# -- exit, arithmetic, limits, malformed programs ---------------------------------------


def test_returning_a_pointer() -> None:
    rejected(verify([mov64(0, 10), exit_()]), errno.EACCES, "R0 leaks addr as return value")


def test_division_by_constant_zero_and_by_a_register() -> None:
    div_k = [mov64_imm(0, 5), ins(isa.BPF_ALU64 | isa.BPF_DIV | isa.BPF_K, 0, 0, 0, 0), exit_()]
    rejected(verify(div_k), errno.EINVAL, "div by zero")
    # by a register: accepted (a zero divisor gives 0 at run time, do_misc_fixups)
    div_x = [
        ldx(W, 2, 1, OPCODE),
        mov64_imm(0, 5),
        ins(isa.BPF_ALU64 | isa.BPF_DIV | isa.BPF_X, 0, 2),
        exit_(),
    ]
    accepted(verify(div_x))


def test_pointer_arithmetic_rules() -> None:
    mul = [
        mov64(2, 10),
        ins(isa.BPF_ALU64 | isa.BPF_MUL | isa.BPF_K, 2, 0, 0, 2),
        mov64_imm(0, 0),
        exit_(),
    ]
    rejected(verify(mul), errno.EACCES, "pointer arithmetic with *= operator prohibited")
    alu32 = [
        mov64(2, 10),
        ins(isa.BPF_ALU | isa.BPF_ADD | isa.BPF_K, 2, 0, 0, 2),
        mov64_imm(0, 0),
        exit_(),
    ]
    rejected(verify(alu32), errno.EACCES, "32-bit pointer arithmetic prohibited")
    scalar_minus_ptr = [
        mov64_imm(2, 5),
        ins(isa.BPF_ALU64 | isa.BPF_SUB | isa.BPF_X, 2, 10),
        mov64_imm(0, 0),
        exit_(),
    ]
    rejected(verify(scalar_minus_ptr), errno.EACCES, "R2 tried to subtract pointer from scalar")
    # pointer - pointer of one kind is a number (privileged)
    ptr_minus_ptr = [
        mov64(2, 10),
        ins(isa.BPF_ALU64 | isa.BPF_SUB | isa.BPF_X, 2, 10),
        mov64(0, 2),
        exit_(),
    ]
    accepted(verify(ptr_minus_ptr))


def test_invalid_shift() -> None:
    prog = [mov64_imm(0, 1), ins(isa.BPF_ALU | isa.BPF_LSH | isa.BPF_K, 0, 0, 0, 32), exit_()]
    rejected(verify(prog), errno.EINVAL, "invalid shift 32")


def test_instruction_count_and_complexity_limits() -> None:
    long_prog = [mov64_imm(0, 0)] * 5000 + [exit_()]
    rejected(verify(long_prog, max_insns=4096), errno.E2BIG, "program has 5001 instructions")
    accepted(verify(long_prog))
    rejected(
        verify(long_prog, complexity_limit=1000),
        errno.E2BIG,
        "BPF program is too large. Processed 1001 insn",
    )


def test_branch_explosion_is_pruned() -> None:
    # 30 independent if/else diamonds: 2**30 paths without pruning
    prog: list[Insn] = [ldx(W, 2, 1, OPCODE), mov64_imm(0, 0)]
    for k in range(30):
        prog += [
            ins(isa.BPF_JMP | isa.BPF_JSET | isa.BPF_K, 2, 0, 1, 1 << (k % 16)),
            mov64_imm(3, k),
        ]
    prog.append(exit_())
    result = verify(prog)
    accepted(result)
    assert result.processed < 10_000


@pytest.mark.parametrize(
    ("prog", "message"),
    [
        ([mov64_imm(0, 0)], "last insn is not an exit or jmp"),
        ([ins(isa.BPF_JMP | isa.BPF_JA, off=5), exit_()], "jump out of range from insn 0 to 6"),
        ([mov64_imm(0, 0), exit_(), mov64_imm(0, 1), exit_()], "unreachable insn 2"),
        ([ins(0xE5), exit_()], "unknown opcode e5"),
        ([ins(0xFF), exit_()], "invalid BPF_ALU opcode f0"),
        (
            [ins(isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_K, 0, 3, 0, 1), exit_()],
            "BPF_ALU64 uses reserved fields",
        ),
        (
            [ins(isa.BPF_LD | isa.BPF_ABS | W, 0, 0, 0, 0), exit_()],
            "BPF_LD_[ABS|IND] instructions not allowed for this program type",
        ),
        (
            [
                ins(isa.BPF_JMP | isa.BPF_CALL, 0, isa.BPF_PSEUDO_CALL, 0, 1),
                exit_(),
                mov64_imm(0, 0),
                exit_(),
            ],
            "bpf-to-bpf calls are not modelled",
        ),
    ],
)
def test_malformed_programs_are_einval(prog: list[Insn], message: str) -> None:
    rejected(verify(prog), errno.EINVAL, message)


def test_raw_text_that_is_not_instructions() -> None:
    result = verify(b"\x95\x00\x00\x00\x00\x00\x00")
    assert not result.accepted and result.errno == errno.EINVAL
    assert "not a multiple of 8" in result.error
    empty = verify(b"")
    assert empty.errno == errno.E2BIG


def test_log_reads_like_the_kernels() -> None:
    # the same program, loaded into this machine's kernel as a syscall program, logs
    # "0: (61) r2 = *(u32 *)(r1 +0)          ; R1=ctx() R2=scalar(...)" and
    # "1: (15) if r2 == 0x1 goto pc+2 4: R1=ctx() R2=1 R10=fp0": the verified fall-through
    # path is rewound away, the failing path follows the branch line
    prog = [
        ldx(W, 2, 1, OPCODE),
        ins(isa.BPF_JMP | isa.BPF_JEQ | isa.BPF_K, 2, 0, 2, 1),
        mov64_imm(0, 0),
        exit_(),
        mov64(0, 3),
        exit_(),
    ]
    result = verify(prog)
    lines = result.log.splitlines()
    assert lines[0] == "0: R1=ctx() R10=fp0"
    assert lines[1].startswith("0: (61) r2 = *(u32 *)(r1 +8)")
    assert lines[1].endswith("; R1=ctx() R2=scalar(umin=0,umax=4294967295)")
    assert lines[2] == "1: (15) if r2 == 0x1 goto pc+2 4: R1=ctx() R2=1 R10=fp0"
    assert lines[3] == "4: (bf) r0 = r3"
    assert "R3 !read_ok" in lines
    assert not any(line.startswith("2: ") for line in lines)  # the path that verified
    assert lines[-1].startswith("processed 5 insns")
    assert describe(result) == "rejected, EACCES: R3 !read_ok"
    # level 2 keeps every path, with the kernel's "from A to B" lines
    every = verify(prog, log_level=2).log.splitlines()
    assert any(line.startswith("2: (b7) r0 = 0") for line in every)
    assert "from 1 to 4: R1=ctx() R2=1 R10=fp0" in every
    # level 0: the verdict and the statistics only
    assert verify(prog, log_level=0).log.splitlines()[-2:-1] == ["R3 !read_ok"]


# -- soundness: what the verifier accepts never faults ---------------------------------

CTX_FIELDS = [0, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 152, 160, 168, 176, 184, 200, 224]
VALUE_FIELDS = [32 + 24 * i + 8 for i in range(5)] + [152 + 24 * i + 8 for i in range(3)]


def _soundness_memory() -> tuple[interp.Memory, int]:
    """A context laid out as struct fuse_bpf_args with every argument a 256-byte buffer
    (the verifier's buffer_limit): in-arguments read-only, out-arguments writable."""
    mem = interp.Memory()
    ctx = bytearray(224)
    struct.pack_into("<QIIIII", ctx, 0, 7, 0x10001, 0, 5, 3, 0)
    for i in range(8):
        buf = bytearray(range(256))
        addr = mem.add(f"arg{i}", buf, writable=i >= 5)
        base = 32 + 24 * i if i < 5 else 152 + 24 * (i - 5)
        struct.pack_into("<I4xQQ", ctx, base, 256, addr, addr + 256)
    return mem, mem.add("ctx", ctx, writable=False)


_REGS = hs.integers(0, 9)
_SIZES = hs.sampled_from([B, H, W, DW])


@hs.composite
def _soundness_unit(draw: hs.DrawFn) -> list[Insn]:
    kind = draw(hs.integers(0, 9))
    d, s = draw(_REGS), draw(_REGS)
    if kind == 0:
        return [mov64_imm(d, draw(hs.integers(-4, 300)))]
    if kind == 1:
        cls = draw(hs.sampled_from([isa.BPF_ALU, isa.BPF_ALU64]))
        op = draw(
            hs.sampled_from([0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xA0, 0xB0])
        )
        if draw(hs.booleans()):
            return [ins(cls | op | isa.BPF_X, d, s)]
        return [ins(cls | op | isa.BPF_K, d, 0, 0, draw(hs.integers(1, 40)))]
    if kind == 2:  # a context field
        return [ldx(draw(_SIZES), d, 6, draw(hs.sampled_from(CTX_FIELDS)))]
    if kind == 3:  # an argument buffer pointer into R7 or R8
        return [ldx(DW, draw(hs.sampled_from([7, 8])), 6, draw(hs.sampled_from(VALUE_FIELDS)))]
    if kind == 4:  # read or write through a (maybe) buffer pointer
        base, off = draw(hs.sampled_from([7, 8])), draw(hs.integers(-2, 300))
        if draw(hs.booleans()):
            return [ldx(draw(_SIZES), d, base, off)]
        return [stx(draw(_SIZES), base, s, off)]
    if kind == 5:  # the stack
        size = draw(_SIZES)
        off = -draw(hs.integers(1, 66)) * 8
        choice = draw(hs.integers(0, 2))
        if choice == 0:
            return [ldx(size, d, 10, off)]
        if choice == 1:
            return [stx(size, 10, s, off)]
        return [st(size, 10, off, draw(hs.integers(-3, 3)))]
    if kind == 6:
        return [call(draw(hs.sampled_from([14, 15])))]
    if kind == 7:  # pointer arithmetic on a buffer pointer
        return [
            ins(
                isa.BPF_ALU64 | isa.BPF_ADD | isa.BPF_K,
                draw(hs.sampled_from([7, 8])),
                0,
                0,
                draw(hs.integers(-16, 64)),
            )
        ]
    # a conditional jump, forward or back (a loop)
    op = draw(hs.sampled_from([0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0xA0, 0xB0, 0xC0, 0xD0]))
    cls = draw(hs.sampled_from([isa.BPF_JMP, isa.BPF_JMP32]))
    off = draw(hs.integers(-4, 4))
    if draw(hs.booleans()):
        return [ins(cls | op | isa.BPF_X, d, s, off)]
    return [ins(cls | op | isa.BPF_K, d, 0, off, draw(hs.integers(0, 20)))]


def _soundness_assemble(units: list[list[Insn]]) -> list[Insn]:
    """R6 = ctx, R7/R8 = in_args[0]/out_args[0] buffers, other registers small numbers;
    the body; exit.  Jumps are clamped to land inside the program."""
    prologue = [mov64(6, 1), ldx(DW, 7, 6, VALUE_FIELDS[0]), ldx(DW, 8, 6, VALUE_FIELDS[5])]
    prologue += [mov64_imm(r, r * 3) for r in (0, 1, 2, 3, 4, 5, 9)]
    prog = prologue + [i for u in units for i in u] + [exit_()]
    n = len(prog)
    for pc, i in enumerate(prog):
        if i.cls in (isa.BPF_JMP, isa.BPF_JMP32) and not (i.is_exit or i.is_call):
            target = min(max(pc + 1 + i.off, len(prologue)), n - 1)
            prog[pc] = ins(i.code, i.dst, i.src, target - pc - 1, i.imm)
    return prog


_soundness_programs = hs.lists(_soundness_unit(), min_size=1, max_size=14).map(_soundness_assemble)


def test_accepted_programs_never_fault_at_run_time() -> None:
    """The verifier's contract: a program it accepts runs without a memory fault, an
    uninitialised read or an endless loop, whatever the context holds."""
    verdicts: list[bool] = []
    helpers = {14: lambda vm, *a: 0x0000_1234_0000_1234, 15: lambda vm, *a: 1000 | 1000 << 32}

    @settings(
        max_examples=600,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(_soundness_programs)
    def campaign(prog: list[Insn]) -> None:
        result = verify(prog, complexity_limit=20_000)
        verdicts.append(result.accepted)
        if not result.accepted:
            return
        mem, ctx = _soundness_memory()
        try:
            interp.run_insns(prog, mem, r1=ctx, helpers=helpers, budget=200_000)
        except interp.EbpfFault as fault:
            raise AssertionError(
                f"verifier accepted a program that faults: {fault}\n{isa.format_program(prog)}"
            ) from None

    campaign()
    # the generator must reach both verdicts often enough for the property to mean something
    assert verdicts.count(True) >= 100, verdicts.count(True)
    assert verdicts.count(False) >= 100, verdicts.count(False)
