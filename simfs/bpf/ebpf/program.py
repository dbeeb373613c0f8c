"""A compiled FUSE program: a peer of the Python :class:`simfs.bpf.Program`.

``load_object(path_or_bytes, section)`` reads the object (:mod:`simfs.bpf.ebpf.elf`),
checks it (the verifier in :mod:`simfs.bpf.ebpf.verifier` when present, else the structural
checks below: the instructions compile, every helper is one ``fuse_prog_func_proto``
offers, every map reference resolves) and returns a :class:`CompiledProgram`.  It is a
:class:`simfs.bpf.Program`, so everything that takes a Python program takes it:
``root_bpf=``, ``Process.bpf_prog_load``, the lookup add-on's ``bpf_fd``,
``simfs.testing.bpf_mount``.  Each load gets fresh maps (a deep copy), as each
``BPF_MAP_CREATE`` of the selftests' loader does.

Running it (:func:`run_compiled`) lays ``struct fuse_bpf_args`` out in memory
(:mod:`simfs.bpf.ebpf.ctx`), interprets the instructions with R1 pointing at it, writes
changed out-argument bytes back into the engine's values and returns R0 the way the
kernel's call site reads it: the low 32 bits, signed.  A run-time fault becomes the same
:class:`simfs.bpf.BpfFault` a Python program's fault is (the operation fails with its
errno; the ``bpf_fault`` trace event names the instruction).
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from simfs.bpf import BpfFault, FuseBpfArgs, Program
from simfs.bpf.ebpf import ctx as ctxmod
from simfs.bpf.ebpf import helpers, interp, isa
from simfs.bpf.ebpf.elf import LoadError, ObjectFile, ProgramSection, read_object
from simfs.bpf.ebpf.maps import BpfMap

__all__ = [
    "CompiledProgram",
    "SectionInfo",
    "list_sections",
    "load_object",
    "run_compiled",
    "structural_check",
]

#: instructions one run may execute (the verifier's complexity limit)
RUN_BUDGET = interp.DEFAULT_BUDGET


class CompiledProgram(Program):
    """One program section of a BPF object, relocated and checked, not yet loaded."""

    section: ProgramSection
    insns: tuple[isa.Insn, ...]
    path: str
    compiled: interp.Program
    verifier_log: str

    def __init__(self, obj: ObjectFile, section: ProgramSection) -> None:
        maps: dict[str, Any] = {m.name: m.create() for m in obj.maps}
        super().__init__(name=section.section, func=self._run_as_python, maps=maps)
        self.section = section
        self.insns = section.insns
        self.path = obj.path
        self.license = obj.license
        self.compiled = interp.compile_program(section.insns)
        self.verifier_log = ""

    def _run_as_python(self, fa: FuseBpfArgs) -> int:
        run = object.__getattribute__(fa, "_run")
        state = object.__getattribute__(fa, "_s")
        return run_compiled(run.kernel, self, run.prog.maps, state)

    @property
    def map_list(self) -> list[BpfMap]:
        return [m for m in self.maps.values() if isinstance(m, BpfMap)]

    def disasm(self) -> str:
        """The program as the verifier log prints it."""
        return isa.format_program(self.insns)

    def vocabulary(self) -> frozenset[str | int]:
        """Immediates and the strings the program compares or builds (see docs)."""
        return vocabulary_of(self.insns)

    def __repr__(self) -> str:
        return f"<compiled bpf program {self.name!r} from {os.path.basename(self.path)}>"


def run_compiled(k: Any, prog: CompiledProgram, maps: dict[str, Any], state: Any) -> int:
    """Run ``prog`` on ``state``; return R0 as the call site sees it; raise BpfFault."""
    context = ctxmod.build_context(state)
    data = helpers.RunData(k, list(maps.values()), prog.name)
    try:
        result = interp.run(
            prog.compiled,
            context.memory,
            r1=context.address,
            helpers=helpers.FUSE_HELPERS,
            budget=RUN_BUDGET,
            data=data,
        )
    except interp.EbpfFault as f:
        where = ""
        if 0 <= f.pc < len(prog.insns):
            where = f" at insn {isa.format_insn(f.pc, prog.insns[f.pc])}"
        raise BpfFault(f.errno, f"{f.reason}{where}") from None
    reason = context.write_back()
    if reason is not None:
        raise BpfFault(errno.EACCES, reason)
    return result.ret


# ---------------------------------------------------------------------------------------
# Loading


def structural_check(prog: CompiledProgram) -> str:
    """What ``load_object`` checks when the verifier module is absent; returns a log.

    Raises :class:`LoadError` (``EINVAL``) for an unknown helper or an unresolved map, as
    ``check_helper_call`` ("invalid func unknown#N") and ``resolve_pseudo_ldimm64`` do.
    """
    lines: list[str] = []
    nmaps = len(prog.maps)
    for pc, ins in enumerate(prog.insns):
        if ins.is_lddw_tail:
            continue
        lines.append(isa.format_insn(pc, ins))
        if ins.is_call and ins.src == 0 and ins.imm not in helpers.FUSE_HELPERS:
            lines.append(f"invalid func unknown#{ins.imm}")
            raise LoadError(
                f"{prog.path}: section {prog.name!r} insn {pc}: helper "
                f"{isa.HELPER_NAMES.get(ins.imm, 'unknown')}#{ins.imm} is not offered to FUSE "
                f"programs (fuse_prog_func_proto offers "
                f"{sorted(helpers.FUSE_HELPERS)})\n" + "\n".join(lines)
            )
        if ins.is_lddw and ins.src == isa.BPF_PSEUDO_MAP_FD and not 0 <= ins.imm < nmaps:
            raise LoadError(
                f"{prog.path}: insn {pc}: fd {ins.imm} is not pointing to valid bpf_map"
            )
    return "\n".join(lines)


def _verifier() -> Any:
    name = "simfs.bpf.ebpf.verifier"
    if importlib.util.find_spec(name) is None:
        return None
    module = importlib.import_module(name)
    return getattr(module, "verify", None)


def verify(prog: CompiledProgram) -> None:
    """Run the load-time checks; raise :class:`LoadError` carrying errno and log."""
    structural = structural_check(prog)
    verify_fn = _verifier()
    if verify_fn is None:
        prog.verifier_log = structural
        return
    result = verify_fn(list(prog.insns), maps=prog.map_list)
    err = int(getattr(result, "errno", 0) or 0)
    log = str(getattr(result, "log", ""))
    prog.verifier_log = log
    if err:
        raise LoadError(f"{prog.path}: section {prog.name!r} rejected by the verifier:\n{log}", err)


Source = str | os.PathLike[str] | bytes | bytearray


def load_object(source: Source, section: str) -> CompiledProgram:
    """Read ``section`` of a BPF object and check it; see the module docstring.

    Raises :class:`LoadError` (an ``OSError``-free, typed refusal whose ``errno`` is what
    ``bpf(BPF_PROG_LOAD)`` would fail with and whose message says what to do).
    """
    obj = read_object(source)
    sec = obj.program(section)
    try:
        prog = CompiledProgram(obj, sec)
    except interp.ProgramError as e:
        raise LoadError(f"{obj.path}: section {section!r}: {e}", e.errno) from None
    verify(prog)
    return prog


@dataclass(frozen=True)
class SectionInfo:
    """One line of :func:`list_sections`."""

    kind: str  # "program", "map" or "refused"
    name: str
    detail: str


def list_sections(source: Source) -> list[SectionInfo]:
    """The programs and maps of an object (and programs the loader would refuse)."""
    obj = read_object(source)
    out: list[SectionInfo] = []
    for name, p in obj.programs.items():
        n = sum(1 for i in p.insns if not i.is_lddw_tail)
        fn = ", ".join(p.functions) or "?"
        uses = f", maps {', '.join(p.map_names)}" if p.map_names else ""
        out.append(SectionInfo("program", name, f"{fn}: {n} insns{uses}"))
    for m in obj.maps:
        mp = m.create()
        kind = {1: "hash", 2: "array"}[mp.map_type]
        detail = f"{kind} key={mp.key_size} value={mp.value_size} max_entries={mp.max_entries}"
        out.append(SectionInfo("map", m.name, detail))
    for name, e in obj.refused.items():
        out.append(SectionInfo("refused", name, e.reason))
    return out


# ---------------------------------------------------------------------------------------
# Vocabulary


def _printable(b: int) -> bool:
    return 0x20 <= b < 0x7F


def _strings_in(raw: bytes) -> Iterator[str]:
    for part in raw.split(b"\0"):
        run = bytearray()
        for b in part:
            if _printable(b):
                run.append(b)
            else:
                if len(run) >= 2:
                    yield run.decode()
                run.clear()
        if len(run) >= 2:
            yield run.decode()


def vocabulary_of(insns: tuple[isa.Insn, ...]) -> frozenset[str | int]:
    """Integers: every immediate.  Strings: (1) bytes a program stores on its stack from
    constants before a helper call (``char fmt[] = "..."`` for ``bpf_printk``), assembled
    by offset; (2) byte compares against constants at consecutive offsets of one pointer,
    followed along the "equal" edges (an inlined ``strcmp(name, "hide")``).  A heuristic
    over clang's output, good enough to seed name strategies; it never invents a value
    the program does not hold, but it misses words whose first byte clang tests through a
    switch on a subtracted value (``if r2 == 0x6`` for ``name[0] - 'l'``)."""
    ints: set[int] = set()
    strs: set[str] = set()
    regconst: dict[int, int] = {}
    stack: dict[int, int] = {}
    compares: dict[int, tuple[int, int, int, int, int]] = {}  # pc -> base, off, byte, eq, ne
    loaded: dict[int, tuple[int, int]] = {}  # reg -> (base reg, offset) of a byte load

    def flush_stack() -> None:
        if stack:
            lo, hi = min(stack), max(stack)
            strs.update(_strings_in(bytes(stack.get(o, 0) for o in range(lo, hi + 1))))
            stack.clear()

    for pc, ins in enumerate(insns):
        if ins.is_lddw_tail:
            continue
        cls = ins.cls
        if ins.is_lddw:
            if ins.src == 0:
                ints.add(ins.imm64)
                regconst[ins.dst] = ins.imm64
            continue
        if ins.is_call or ins.is_exit:
            flush_stack()
            regconst.clear()
            loaded.clear()
            continue
        if (
            cls in (isa.BPF_ALU, isa.BPF_ALU64, isa.BPF_JMP, isa.BPF_JMP32, isa.BPF_ST)
            and ins.source == isa.BPF_K
        ):
            ints.add(ins.imm)
        if cls in (isa.BPF_ALU, isa.BPF_ALU64):
            if ins.op == isa.BPF_MOV and ins.source == isa.BPF_K:
                regconst[ins.dst] = ins.imm & (interp.M64 if cls == isa.BPF_ALU64 else 0xFFFFFFFF)
            else:
                regconst.pop(ins.dst, None)
            loaded.pop(ins.dst, None)
        elif cls == isa.BPF_LDX:
            regconst.pop(ins.dst, None)
            loaded.pop(ins.dst, None)
            if ins.size == isa.BPF_B and ins.src != isa.BPF_REG_FP:
                loaded[ins.dst] = (ins.src, ins.off)
        elif cls in (isa.BPF_ST, isa.BPF_STX) and ins.mode == isa.BPF_MEM:
            if ins.dst == isa.BPF_REG_FP:
                value = ins.imm if cls == isa.BPF_ST else regconst.get(ins.src)
                size = isa.SIZE_BYTES[ins.size]
                if value is not None:
                    raw = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
                    for i, b in enumerate(raw):
                        stack[ins.off + i] = b
        elif cls in (isa.BPF_JMP, isa.BPF_JMP32) and ins.source == isa.BPF_K:
            hit = loaded.get(ins.dst)
            if hit is not None and ins.op in (isa.BPF_JNE, isa.BPF_JEQ) and 0 <= ins.imm < 0x100:
                taken = pc + 1 + ins.off
                eq, ne = (taken, pc + 1) if ins.op == isa.BPF_JEQ else (pc + 1, taken)
                compares[pc] = (hit[0], hit[1], ins.imm, eq, ne)
    flush_stack()
    strs.update(_compared_strings(insns, compares))
    return frozenset(strs | ints)


def _compared_strings(
    insns: tuple[isa.Insn, ...], compares: dict[int, tuple[int, int, int, int, int]]
) -> set[str]:
    """Walk the byte compares of each pointer: the "equal" edge leads to the compare of
    the next byte, the "not equal" edge to an alternative byte at the same offset; a
    compare against 0 on the equal edge ends a word."""
    out: set[str] = set()
    seen: set[tuple[int, bytes]] = set()

    def next_compare(pc: int, base: int, off: int) -> int | None:
        for _ in range(12):
            if not 0 <= pc < len(insns):
                return None
            hit = compares.get(pc)
            if hit is not None and hit[0] == base and hit[1] == off:
                return pc
            ins = insns[pc]
            if ins.code == isa.BPF_JMP | isa.BPF_JA:
                pc = pc + 1 + ins.off
            elif ins.cls in (isa.BPF_JMP, isa.BPF_JMP32) or ins.is_call:
                return None
            else:
                pc += 1
        return None

    def walk(pc: int, prefix: bytes) -> None:
        if (pc, prefix) in seen or len(prefix) > 255 or len(seen) > 20000:
            return
        seen.add((pc, prefix))
        base, off, byte, eq, ne = compares[pc]
        if byte == 0:
            if prefix and all(_printable(b) for b in prefix):
                out.add(prefix.decode("ascii"))
        else:
            nxt = next_compare(eq, base, off + 1)
            if nxt is not None:
                walk(nxt, prefix + bytes([byte]))
            elif all(_printable(b) for b in prefix + bytes([byte])):
                out.add((prefix + bytes([byte])).decode("ascii"))
        alt = next_compare(ne, base, off)
        if alt is not None:
            walk(alt, prefix)

    for pc, (_, off, _, _, _) in compares.items():
        if off == 0:
            walk(pc, b"")
    return out
