"""Verifier-lite: the checks ``bpf(BPF_PROG_LOAD)`` makes before a FUSE program may run.

Mirrors ``kernel/bpf/verifier.c`` (``bpf_check``: ``check_subprogs``, ``check_cfg``,
``do_check`` with ``is_state_visited``) restricted to what a ``BPF_PROG_TYPE_FUSE`` program
compiled by clang uses, and ACK's program type ``kernel/bpf/bpf_fuse.c``
(``fuse_prog_is_valid_access``, ``fuse_prog_func_proto``).

API (the loader calls it; keep it stable)::

    result = verify(insns_or_text, maps=[...], access="fixed", bounded_loops=True,
                    buffer_limit=256, complexity_limit=1_000_000, helpers=None)
    result.accepted          # bool
    result.errno             # 0, or EACCES / EINVAL / E2BIG / EBADF as bpf_check returns
    result.error             # the log's last message ("R0 !read_ok"), "" when accepted
    result.log               # the whole log, in the kernel verifier's style
    result.raise_for_error() # VerifierError (an OSError with .log) when rejected

``insns_or_text`` is a list of :class:`~simfs.bpf.ebpf.isa.Insn` (one per 8-byte slot, as
:func:`~simfs.bpf.ebpf.isa.decode` returns), the section's raw bytes, or a loaded program
with ``.insns`` and ``.map_list`` (``load_object`` passes its ``CompiledProgram``; its maps
are used unless ``maps=`` is given). ``maps[i]`` is the
map a ``lddw rX, map[i]`` (``BPF_PSEUDO_MAP_FD``, imm ``i``) loads: anything with
``key_size``, ``value_size`` and ``name`` (``simfs.bpf.ebpf.maps.BpfMap``).

What is checked, each with the kernel's message and errno:

- program shape (``bpf_prog_load``, ``check_subprogs``, ``check_cfg``): empty or too long
  (``E2BIG``), unknown opcodes and reserved fields, a ``lddw`` cut in half, jumps out of
  range, a last instruction that falls off the end, unreachable instructions (``EINVAL``);
- loops.  Kernels since 5.3 accept a loop when exploring it with concrete counter values
  ends (``bounded_loops=True``, the default: ACK's fuse-bpf kernels are 5.10 and later);
  a state that repeats on its own path is "infinite loop detected" (``EINVAL``) and a walk
  longer than ``complexity_limit`` instructions is "BPF program is too large" (``E2BIG``).
  ``bounded_loops=False`` is the pre-5.3 rule: any back-edge is refused by ``check_cfg``;
- register types along every path (``do_check``): not initialised, scalar with an unsigned
  range, ``ctx``, stack pointer, argument buffer (read-only for in-arguments, read-write for
  out-arguments) at a fixed offset, map pointer, map value, map value or NULL (a NULL check
  splits it); reading an uninitialised register or stack byte is ``EACCES``; R10 is
  read-only; pointer arithmetic is as ``adjust_ptr_min_max_vals`` allows;
- the context (``fuse_prog_is_valid_access``, option ``access``): ``"fixed"`` is ACK after
  "ANDROID: fuse-bpf: fix verifier bypass in fuse_prog_is_valid_access" (android17-6.18,
  5c7556339e29): reads only, each field at its own size, ``value`` fields give buffer
  pointers; ``"legacy"`` is the earlier rule (any read inside the struct, ``value`` fields
  typed by offset, writes only to ``out_args[i].value``);
- argument buffers (``check_buffer_access``): a constant offset, not negative, no writes to
  an in-argument. The kernel records the largest offset (``max_rdonly_access``) and checks
  nothing above it; simfs refuses an access past ``buffer_limit`` bytes (ACK declares
  ``ctx_field_size = FUSE_BPF_COMPAT_ARG_SIZE``, 256) unless ``buffer_limit=None``. How far
  a *particular* buffer really is can only be known when the program runs: the interpreter
  faults there;
- the stack (``check_stack_read``/``check_stack_write``): 512 bytes below R10, aligned
  accesses, spilled registers keep their type, bytes never written are unreadable;
- helpers (``check_helper_call`` against ``fuse_prog_func_proto``): unknown ids are
  ``EINVAL``; each argument's type (map pointer, key/value on the stack, readable memory
  with a constant size, any initialised value); R1-R5 are clobbered, R0 typed by the
  helper's return;
- exit (``check_return_code``): R0 initialised and a scalar — a pointer in R0 is refused
  as an unprivileged load would ("R0 leaks addr as return value").

What it does not do (see docs/verifier.md): BTF, bpf-to-bpf calls, tail calls, signed and
32-bit range tracking beyond what a branch on a constant needs (a range that crosses the
sign bit is left unknown), precision and liveness marks (so it prunes less than the kernel
and may walk more states), and the kernel's exact numbers in the final statistics line.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from simfs import uapi
from simfs.bpf.ebpf import isa
from simfs.bpf.ebpf.isa import Insn

__all__ = [
    "BPF_COMPLEXITY_LIMIT_INSNS",
    "BPF_MAXINSNS",
    "FUSE_BPF_COMPAT_ARG_SIZE",
    "FUSE_HELPER_PROTOS",
    "HelperProto",
    "VerifierError",
    "VerifierResult",
    "describe",
    "verify",
]

#: include/uapi/linux/bpf_common.h: an unprivileged program's length limit
BPF_MAXINSNS = 4096
#: include/linux/bpf.h: instructions a privileged load may have and ``do_check`` may walk
BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000
#: kernel/bpf/verifier.c: pending branches before "The sequence of N jumps is too complex"
BPF_COMPLEXITY_LIMIT_JMP_SEQ = 8192
#: kernel/bpf/bpf_fuse.c: the ``ctx_field_size`` ACK declares for each argument buffer
FUSE_BPF_COMPAT_ARG_SIZE = 256
#: include/linux/bpf.h BPF_MAX_VAR_SIZ
BPF_MAX_VAR_SIZ = 1 << 29
STACK = isa.MAX_BPF_STACK
U64 = (1 << 64) - 1
U32 = 0xFFFFFFFF
#: how many log lines are kept (the tail: where a rejection is explained)
LOG_LINES = 4000

# struct fuse_bpf_args (include/uapi/linux/android_fuse.h), offsets on 64-bit
_IN_ARGS = 32
_OUT_ARGS = _IN_ARGS + uapi.FUSE_MAX_IN_ARGS * 24
_CTX_SIZE = _OUT_ARGS + 3 * 24
_SCALAR_FIELDS = {0: 8, 8: 4, 12: 4, 16: 4, 20: 4, 24: 4}  # nodeid .. flags: offset -> size


def _arg_name(arg: int) -> str:
    return f"in_args[{arg}]" if arg < uapi.FUSE_MAX_IN_ARGS else f"out_args[{arg - 5}]"


# ---------------------------------------------------------------------------------------
# Abstract values


NOT_INIT = "not_init"
SCALAR = "scalar"
PTR_TO_CTX = "ctx"
PTR_TO_STACK = "fp"
PTR_TO_BUF = "buf"
CONST_PTR_TO_MAP = "map_ptr"
PTR_TO_MAP_VALUE = "map_value"
PTR_TO_MAP_VALUE_OR_NULL = "map_value_or_null"


@dataclass(frozen=True, slots=True)
class Reg:
    """One register's abstract value (``struct bpf_reg_state``, reduced).

    A scalar's value lies in ``[umin, umax]``.  A pointer is its base plus ``off`` plus a
    variable part in ``[umin, umax]``.  ``ref`` is the argument index (0-4 in, 5-7 out) of
    a buffer or the map index of a map pointer/value; ``id`` pairs the copies of one
    map-value-or-NULL so a NULL check on one settles all.
    """

    type: str
    umin: int = 0
    umax: int = 0
    off: int = 0
    ref: int = -1
    rdonly: bool = False
    id: int = 0

    @property
    def is_const(self) -> bool:
        return self.type == SCALAR and self.umin == self.umax

    @property
    def is_pointer(self) -> bool:
        return self.type not in (SCALAR, NOT_INIT)


_NOT_INIT = Reg(NOT_INIT)
_UNKNOWN = Reg(SCALAR, 0, U64)


def _const(v: int) -> Reg:
    v &= U64
    return Reg(SCALAR, v, v)


def _range(lo: int, hi: int) -> Reg:
    if lo < 0 or hi > U64 or lo > hi:
        return _UNKNOWN
    return Reg(SCALAR, lo, hi)


def _width(size: int) -> Reg:
    return Reg(SCALAR, 0, (1 << (8 * size)) - 1)


# a stack slot is 8 bytes: either a spilled register (an aligned 8-byte store of one) or
# one character per byte: '?' never written (STACK_INVALID), 'm' data (STACK_MISC),
# '0' known zero (STACK_ZERO)
Slot = Reg | str
_EMPTY_SLOT = "????????"


@dataclass(frozen=True, slots=True)
class State:
    regs: tuple[Reg, ...]
    stack: tuple[Slot, ...]

    def reg(self, i: int) -> Reg:
        return self.regs[i]

    def with_reg(self, i: int, r: Reg) -> State:
        regs = list(self.regs)
        regs[i] = r
        return State(tuple(regs), self.stack)


def _initial_state() -> State:
    regs = [_NOT_INIT] * isa.MAX_BPF_REG
    regs[1] = Reg(PTR_TO_CTX)
    regs[10] = Reg(PTR_TO_STACK)
    return State(tuple(regs), (_EMPTY_SLOT,) * (STACK // 8))


# ---------------------------------------------------------------------------------------
# Helpers: fuse_prog_func_proto


ARG_ANYTHING = "anything"
ARG_CONST_MAP_PTR = "const_map_ptr"
ARG_PTR_TO_MAP_KEY = "map_key"
ARG_PTR_TO_MAP_VALUE = "map_value"
ARG_PTR_TO_MEM_RDONLY = "mem_rdonly"
ARG_CONST_SIZE = "const_size"
RET_INTEGER = "integer"
RET_PTR_TO_MAP_VALUE_OR_NULL = "map_value_or_null"


@dataclass(frozen=True)
class HelperProto:
    """``struct bpf_func_proto``, reduced to what the verifier checks."""

    name: str
    args: tuple[str, ...]
    ret: str = RET_INTEGER


#: ``fuse_prog_func_proto`` (kernel/bpf/bpf_fuse.c) with the protos of
#: kernel/bpf/helpers.c and kernel/trace/bpf_trace.c.  ``bpf_map_delete_elem`` (3) is the
#: one simfs adds beside ACK's list because simfs's helpers offer it; pass
#: ``helpers=`` to refuse it.
FUSE_HELPER_PROTOS: dict[int, HelperProto] = {
    1: HelperProto(
        "bpf_map_lookup_elem", (ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY), RET_PTR_TO_MAP_VALUE_OR_NULL
    ),
    2: HelperProto(
        "bpf_map_update_elem",
        (ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY, ARG_PTR_TO_MAP_VALUE, ARG_ANYTHING),
    ),
    3: HelperProto("bpf_map_delete_elem", (ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY)),
    # bpf_trace_printk_proto declares fmt and fmt_size only: R3-R5 are not checked
    6: HelperProto("bpf_trace_printk", (ARG_PTR_TO_MEM_RDONLY, ARG_CONST_SIZE)),
    14: HelperProto("bpf_get_current_pid_tgid", ()),
    15: HelperProto("bpf_get_current_uid_gid", ()),
}
#: __BPF_FUNC_MAX_ID on 6.18 (enum bpf_func_id)
_BPF_FUNC_MAX_ID = 212


class MapLike(Protocol):
    name: str
    key_size: int
    value_size: int


class HasInsns(Protocol):
    """A loaded program (``simfs.bpf.ebpf.program.CompiledProgram``): its instructions,
    and its maps as ``map_list`` (index ``i`` is ``lddw rX, map[i]``)."""

    @property
    def insns(self) -> Sequence[Insn]: ...


def _maps_of(prog: object) -> Sequence[MapLike]:
    found = getattr(prog, "map_list", None)
    if found is None:
        return ()
    return list(found)


# ---------------------------------------------------------------------------------------
# Result


class VerifierError(OSError):
    """A program the verifier refused: ``errno``, ``strerror`` (the reason) and ``log``."""

    def __init__(self, result: VerifierResult) -> None:
        super().__init__(result.errno, result.error)
        self.log = result.log
        self.result = result


@dataclass(frozen=True)
class VerifierResult:
    """What :func:`verify` found.  ``max_buffer_access`` is the kernel's
    ``max_rdonly_access``/``max_rdwr_access``, per argument buffer."""

    accepted: bool
    errno: int
    error: str
    log: str
    insn_count: int
    processed: int
    max_stack_depth: int = 0
    max_buffer_access: dict[str, int] = field(default_factory=dict)

    def raise_for_error(self) -> None:
        """Raise :class:`VerifierError` when the program was refused."""
        if not self.accepted:
            raise VerifierError(self)


class _Reject(Exception):
    def __init__(self, err: int, msg: str) -> None:
        super().__init__(msg)
        self.errno = err
        self.msg = msg


# ---------------------------------------------------------------------------------------
# Log formatting (print_verifier_state)


def _fmt_reg(r: Reg, maps: Sequence[MapLike]) -> str:
    if r.type == SCALAR:
        if r.is_const:
            v = r.umin
            return str(v - (1 << 64) if v >> 63 else v)
        if (r.umin, r.umax) == (0, U64):
            return "scalar()"
        return f"scalar(umin={r.umin},umax={r.umax})"
    var = "" if (r.umin, r.umax) == (0, 0) else f",var=[{r.umin},{r.umax}]"
    if r.type == PTR_TO_STACK:
        return f"fp{r.off}" if not var else f"fp(off={r.off}{var})"
    if r.type == PTR_TO_CTX:
        return "ctx()" if r.off == 0 and not var else f"ctx(off={r.off}{var})"
    if r.type == PTR_TO_BUF:
        kind = "rdonly_buf" if r.rdonly else "rdwr_buf"
        return f"{kind}({_arg_name(r.ref)},off={r.off}{var})"
    m = maps[r.ref] if 0 <= r.ref < len(maps) else None
    mdesc = f"map={m.name},ks={m.key_size},vs={m.value_size}" if m is not None else "map=?"
    if r.type == CONST_PTR_TO_MAP:
        return f"map_ptr({mdesc})"
    if r.type == PTR_TO_MAP_VALUE:
        return f"map_value({mdesc},off={r.off}{var})"
    return f"map_value_or_null(id={r.id},{mdesc})"


def _fmt_state(st: State, maps: Sequence[MapLike]) -> str:
    parts = [f"R{i}={_fmt_reg(r, maps)}" for i, r in enumerate(st.regs) if r.type != NOT_INIT]
    for i, slot in enumerate(st.stack):
        off = -(STACK - 8 * i)
        if isinstance(slot, Reg):
            parts.append(f"fp{off}={_fmt_reg(slot, maps)}")
        elif slot != _EMPTY_SLOT:
            parts.append(f"fp{off}={slot}")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------
# Scalar arithmetic on ranges (adjust_scalar_min_max_vals, unsigned part)


def _alu_scalar(op: int, a: Reg, b: Reg, is64: bool) -> Reg:
    mask = U64 if is64 else U32
    if not is64:
        # a 32-bit operation sees the low halves: a constant stays a constant
        a, b = _low32(a), _low32(b)
    full = Reg(SCALAR, 0, mask)
    if op in (isa.BPF_DIV, isa.BPF_MOD):
        # adjust_scalar_min_max_vals on 6.18 tracks no division, not even of constants
        # (checked against this kernel: a branch on 46 / 7 == 6 is walked both ways)
        return full
    if a.is_const and b.is_const:
        return _const(_alu_const(op, a.umin, b.umin, is64))
    if op == isa.BPF_ADD:
        lo, hi = a.umin + b.umin, a.umax + b.umax
        return Reg(SCALAR, lo, hi) if hi <= mask else full
    if op == isa.BPF_SUB:
        lo, hi = a.umin - b.umax, a.umax - b.umin
        return Reg(SCALAR, lo, hi) if lo >= 0 else full
    if op == isa.BPF_MUL:
        hi = a.umax * b.umax
        return Reg(SCALAR, a.umin * b.umin, hi) if hi <= mask else full
    if op == isa.BPF_AND:
        return Reg(SCALAR, 0, min(a.umax, b.umax))
    if op in (isa.BPF_OR, isa.BPF_XOR):
        bound = (1 << max(a.umax.bit_length(), b.umax.bit_length())) - 1
        lo = max(a.umin, b.umin) if op == isa.BPF_OR else 0
        return Reg(SCALAR, lo, bound)
    if op == isa.BPF_RSH and b.is_const:
        return Reg(SCALAR, a.umin >> b.umin, a.umax >> b.umin)
    if op == isa.BPF_LSH and b.is_const:
        hi = a.umax << b.umin
        return Reg(SCALAR, a.umin << b.umin, hi) if hi <= mask else full
    return full


def _low32(r: Reg) -> Reg:
    if r.is_const:
        return _const(r.umin & U32)
    return r if r.umax <= U32 else Reg(SCALAR, 0, U32)


def _alu_const(op: int, a: int, b: int, is64: bool) -> int:
    bits = 64 if is64 else 32
    mask = (1 << bits) - 1
    a &= mask
    b &= mask
    if op == isa.BPF_ADD:
        v = a + b
    elif op == isa.BPF_SUB:
        v = a - b
    elif op == isa.BPF_MUL:
        v = a * b
    elif op == isa.BPF_OR:
        v = a | b
    elif op == isa.BPF_AND:
        v = a & b
    elif op == isa.BPF_XOR:
        v = a ^ b
    elif op == isa.BPF_LSH:
        v = a << (b & (bits - 1))
    elif op == isa.BPF_RSH:
        v = a >> (b & (bits - 1))
    elif op == isa.BPF_ARSH:
        sa = a - (1 << bits) if a >> (bits - 1) else a
        v = sa >> (b & (bits - 1))
    else:
        raise AssertionError(op)
    return v & mask


def _signed(v: int, bits: int = 64) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


# ---------------------------------------------------------------------------------------
# The walk


@dataclass(eq=False)
class _Visit:
    """A state recorded at a prune point (``struct bpf_verifier_state_list``).

    ``live`` counts the paths still walking below it (``branches``): a visit may prune
    another path only once every path below it has been checked."""

    pc: int
    state: State
    parent: _Visit | None
    live: int = 1


@dataclass
class _Path:
    pc: int
    state: State
    visit: _Visit | None
    came_from: int = -1
    log_pos: int = 0  # log lines written when the branch was pushed


class _Verifier:
    def __init__(
        self,
        insns: Sequence[Insn],
        maps: Sequence[MapLike],
        helpers: Mapping[int, HelperProto],
        access: str,
        bounded_loops: bool,
        buffer_limit: int | None,
        complexity_limit: int,
        log_level: int,
    ) -> None:
        self.insns = insns
        self.maps = maps
        self.helpers = helpers
        self.access = access
        self.bounded_loops = bounded_loops
        self.buffer_limit = buffer_limit
        self.complexity_limit = complexity_limit
        self.log_level = log_level
        self.lines: list[str] = []
        self.dropped = 0
        self.processed = 0
        self.total_states = 0
        self.peak_states = 0
        self.max_stack = 0
        self.max_buf: dict[int, int] = {}
        self.next_id = 0
        self.prune_points: set[int] = set()
        self.complete: dict[int, list[_Visit]] = {}
        self.by_state: dict[tuple[int, State], list[_Visit]] = {}
        self.explored_pcs: set[int] = set()
        self.jumps = 0
        self.last_add_jumps = 0
        self.last_add_insns = 0
        self.helper_names = {k: v.name for k, v in helpers.items()}

    # -- log -------------------------------------------------------------------------
    def log(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) > 2 * LOG_LINES:
            self.dropped += len(self.lines) - LOG_LINES
            del self.lines[:-LOG_LINES]

    def text(self) -> str:
        head = [f"... {self.dropped} earlier lines dropped"] if self.dropped else []
        lines = head + self.lines[-LOG_LINES:]
        return "\n".join(lines) + "\n"

    # -- static checks: check_subprogs, check_cfg --------------------------------------
    def check_shape(self) -> None:
        insns = self.insns
        n = len(insns)
        succ: list[tuple[int, ...]] = []
        for pc, ins in enumerate(insns):
            succ.append(self._check_insn_shape(pc, ins, n))
        last = insns[-1]
        if not (
            last.is_exit
            or (last.cls == isa.BPF_JMP and last.op == isa.BPF_JA)
            or (last.cls == isa.BPF_JMP32 and last.op == isa.BPF_JA)
        ):
            # check_subprogs
            raise _Reject(errno.EINVAL, "last insn is not an exit or jmp")
        # check_cfg: depth-first walk; back-edges are loops, unvisited insns unreachable
        state = [0] * n  # 0 unseen, 1 on the walk, 2 done
        stack: list[tuple[int, int]] = [(0, 0)]
        state[0] = 1
        while stack:
            pc, i = stack[-1]
            if i < len(succ[pc]):
                stack[-1] = (pc, i + 1)
                t = succ[pc][i]
                if state[t] == 1:
                    if not self.bounded_loops:
                        raise _Reject(errno.EINVAL, f"back-edge from insn {pc} to {t}")
                elif state[t] == 0:
                    state[t] = 1
                    stack.append((t, 0))
            else:
                state[pc] = 2
                stack.pop()
        for pc in range(n):
            if state[pc] == 0 and not insns[pc].is_lddw_tail:
                raise _Reject(errno.EINVAL, f"unreachable insn {pc}")

    def _check_insn_shape(self, pc: int, ins: Insn, n: int) -> tuple[int, ...]:
        if ins.is_lddw_tail:
            return ()
        cls = ins.cls

        def target(t: int) -> int:
            if not 0 <= t < n or self.insns[t].is_lddw_tail:
                raise _Reject(errno.EINVAL, f"jump out of range from insn {pc} to {t}")
            return t

        if cls in (isa.BPF_JMP, isa.BPF_JMP32):
            op = ins.op
            if ins.is_exit:
                return ()
            if cls == isa.BPF_JMP and op == isa.BPF_CALL:
                if ins.src == isa.BPF_PSEUDO_CALL:  # the callee is reachable too
                    return (target(pc + 1), target(pc + 1 + ins.imm))
                return (target(pc + 1),)
            if op == isa.BPF_JA:
                off = ins.imm if cls == isa.BPF_JMP32 else ins.off
                return (target(pc + 1 + off),)
            if op in (isa.BPF_CALL, isa.BPF_EXIT) or op > isa.BPF_JSLE:
                raise _Reject(errno.EINVAL, f"unknown opcode {ins.code:02x}")
            self.prune_points.add(pc + 1 + ins.off)
            self.prune_points.add(pc + 1)
            return (target(pc + 1), target(pc + 1 + ins.off))
        step = 2 if ins.is_lddw else 1
        if pc + step >= n:
            # check_subprogs catches the fall-through as "last insn is not an exit or jmp"
            return ()
        return (pc + step,)

    # -- the walk: do_check ------------------------------------------------------------
    def run(self) -> None:
        if self.log_level:
            self.log(f"0: {_fmt_state(_initial_state(), self.maps)}")
        pending: list[_Path] = [_Path(0, _initial_state(), None)]
        while pending:
            path = pending.pop()
            if path.came_from >= 0 and self.log_level:
                state = _fmt_state(path.state, self.maps)
                keep = path.log_pos - self.dropped
                if self.log_level == 1 and keep > 0:
                    # bpf_vlog_reset: a path that verified leaves no trace at level 1, so
                    # the log ends as the path that failed; the branch line gets the target
                    del self.lines[keep:]
                    self.lines[-1] += f" {path.pc}: {state}"
                else:
                    self.log(f"from {path.came_from} to {path.pc}: {state}")
            self.walk(path, pending)

    def _finish(self, visit: _Visit | None) -> None:
        # update_branch_counts: a path ended; parents whose paths all ended become usable
        while visit is not None:
            visit.live -= 1
            if visit.live:
                return
            self.complete.setdefault(visit.pc, []).append(visit)
            visit = visit.parent

    def walk(self, path: _Path, pending: list[_Path]) -> None:
        pc, st = path.pc, path.state
        while True:
            if pc in self.prune_points:
                pruned, path.visit = self._state_visited(pc, st, path.visit)
                if pruned:
                    if self.log_level:
                        self.log(f"{pc}: safe")
                    self._finish(path.visit)
                    return
            self.processed += 1
            if self.processed > self.complexity_limit:
                raise _Reject(
                    errno.E2BIG,
                    f"BPF program is too large. Processed {self.processed} insn",
                )
            ins = self.insns[pc]
            if self.log_level:
                self.log(isa.format_insn(pc, ins, self.helper_names))
            at = len(self.lines)
            try:
                nxt = self.step(pc, ins, st, path, pending)
            except _Reject:
                self.log(_fmt_state(st, self.maps))
                raise
            if nxt is None:
                self._finish(path.visit)
                return
            if self.log_level and len(self.lines) == at:
                self._annotate(ins, nxt[1])
            pc, st = nxt

    def _annotate(self, ins: Insn, st: State) -> None:
        """print_insn_state: after an instruction, the registers (and stack slot) it
        touched, as ``"; R2=scalar() fp-8=..."`` aligned after the instruction."""
        cls = ins.cls
        regs: list[int] = []
        if cls in (isa.BPF_ALU, isa.BPF_ALU64):
            regs = [ins.dst, ins.src] if ins.source == isa.BPF_X else [ins.dst]
        elif cls in (isa.BPF_LDX, isa.BPF_STX):
            regs = [ins.dst, ins.src]
        elif cls in (isa.BPF_ST, isa.BPF_LD):
            regs = [ins.dst]
        elif ins.is_call:
            regs = [0]
        parts = [
            f"R{r}={_fmt_reg(st.regs[r], self.maps)}"
            for r in sorted(set(regs))
            if r < isa.MAX_BPF_REG and st.regs[r].type != NOT_INIT
        ]
        if cls in (isa.BPF_STX, isa.BPF_ST) and ins.dst == isa.BPF_REG_FP:
            slot_i = (ins.off + STACK) // 8
            if 0 <= slot_i < len(st.stack):
                slot = st.stack[slot_i]
                text = _fmt_reg(slot, self.maps) if isinstance(slot, Reg) else slot
                parts.append(f"fp{-(STACK - 8 * slot_i)}={text}")
        if parts:
            self.lines[-1] = f"{self.lines[-1]:<40}; " + " ".join(parts)

    def _state_visited(
        self, pc: int, st: State, visit: _Visit | None
    ) -> tuple[bool, _Visit | None]:
        """is_state_visited: prune against a finished equivalent, catch a loop that
        repeats its state, else record this state here."""
        for old in self.complete.get(pc, ()):
            if _subsumes(old.state, st):
                return True, visit
        same = self.by_state.get((pc, st))
        if same:
            live = [v for v in same if v.live]
            if live:
                v = visit
                while v is not None:
                    if v in live:
                        raise _Reject(errno.EINVAL, f"infinite loop detected at insn {pc}")
                    v = v.parent
        # is_state_visited adds a state only after 2 jumps and 8 insns since the last one
        if (
            self.jumps - self.last_add_jumps < 2 or self.processed - self.last_add_insns < 8
        ) and pc in self.explored_pcs:
            return False, visit
        self.last_add_jumps, self.last_add_insns = self.jumps, self.processed
        self.explored_pcs.add(pc)
        new = _Visit(pc, st, visit)
        # the path moves from `visit` to `new`: `visit` keeps one live child instead
        self.by_state.setdefault((pc, st), []).append(new)
        self.total_states += 1
        self.peak_states = max(self.peak_states, self.total_states)
        return False, new

    # -- one instruction -----------------------------------------------------------
    def step(
        self, pc: int, ins: Insn, st: State, path: _Path, pending: list[_Path]
    ) -> tuple[int, State] | None:
        cls = ins.cls
        if cls in (isa.BPF_ALU, isa.BPF_ALU64):
            return pc + 1, self.alu(ins, st)
        if cls == isa.BPF_LDX:
            return pc + 1, self.ldx(ins, st)
        if cls == isa.BPF_STX:
            return pc + 1, self.stx(ins, st)
        if cls == isa.BPF_ST:
            return pc + 1, self.st(ins, st)
        if cls == isa.BPF_LD:
            return pc + 2, self.ld(ins, st)
        # JMP / JMP32
        op = ins.op
        if ins.is_exit:
            self.check_exit(ins, st)
            return None
        if cls == isa.BPF_JMP and op == isa.BPF_CALL:
            return pc + 1, self.call(ins, st)
        if op == isa.BPF_JA:
            if ins.src or ins.dst or (cls == isa.BPF_JMP and ins.imm):
                raise _Reject(errno.EINVAL, "BPF_JA uses reserved fields")
            return pc + 1 + (ins.imm if cls == isa.BPF_JMP32 else ins.off), st
        return self.cond_jump(pc, ins, st, path, pending)

    def read_reg(self, st: State, r: int) -> Reg:
        if r >= isa.MAX_BPF_REG:
            raise _Reject(errno.EINVAL, f"R{r} is invalid")
        reg = st.regs[r]
        if reg.type == NOT_INIT:
            raise _Reject(errno.EACCES, f"R{r} !read_ok")
        return reg

    def write_check(self, r: int) -> None:
        if r >= isa.MAX_BPF_REG:
            raise _Reject(errno.EINVAL, f"R{r} is invalid")
        if r == isa.BPF_REG_FP:
            raise _Reject(errno.EACCES, "frame pointer is read only")

    # ALU: check_alu_op
    def alu(self, ins: Insn, st: State) -> State:
        is64 = ins.cls == isa.BPF_ALU64
        op = ins.op
        name = "BPF_ALU64" if is64 else "BPF_ALU"
        d = ins.dst
        if op == isa.BPF_END:
            if (
                ins.src
                or ins.off
                or ins.imm not in (16, 32, 64)
                or (is64 and ins.source == isa.BPF_X)
            ):
                raise _Reject(errno.EINVAL, "BPF_END uses reserved fields")
            a = self.read_reg(st, d)
            self.write_check(d)
            if a.is_pointer:
                raise _Reject(errno.EACCES, f"R{d} pointer arithmetic prohibited")
            if a.is_const:
                return st.with_reg(d, _const(_end_const(ins, a.umin)))
            return st.with_reg(d, _width(ins.imm // 8))
        if op == isa.BPF_NEG:
            if ins.src or ins.off or ins.imm or ins.source != isa.BPF_K:
                raise _Reject(errno.EINVAL, "BPF_NEG uses reserved fields")
            a = self.read_reg(st, d)
            self.write_check(d)
            if a.is_pointer:
                raise _Reject(errno.EACCES, f"R{d} pointer arithmetic prohibited")
            mask = U64 if is64 else U32
            if a.is_const:
                return st.with_reg(d, _const(-a.umin & mask))
            return st.with_reg(d, Reg(SCALAR, 0, mask))
        if op not in _OPNAME:
            raise _Reject(errno.EINVAL, f"invalid BPF_ALU opcode {op:x}")
        # reserved fields: K form has src 0; X form has imm 0; off only for sdiv/smod/movsx
        allowed_off = {0}
        if op in (isa.BPF_DIV, isa.BPF_MOD):
            allowed_off = {0, 1}
        elif op == isa.BPF_MOV:
            allowed_off = {0, 8, 16, 32}
        if (
            ins.off not in allowed_off
            or (ins.source == isa.BPF_K and ins.src)
            or (ins.source == isa.BPF_X and ins.imm)
        ):
            raise _Reject(errno.EINVAL, f"{name} uses reserved fields")
        if ins.source == isa.BPF_X:
            b = self.read_reg(st, ins.src)
        else:
            b = _const(ins.imm if is64 else ins.imm & U32)
        if op == isa.BPF_MOV:
            self.write_check(d)
            if ins.off:  # movsx: sign extension of the low 8/16/32 bits
                if b.is_pointer:
                    raise _Reject(errno.EACCES, f"R{ins.src} sign-extension of a pointer")
                if b.is_const:
                    v = _signed(b.umin & ((1 << ins.off) - 1), ins.off)
                    return st.with_reg(d, _const(v if is64 else v & U32))
                return st.with_reg(d, _UNKNOWN if is64 else Reg(SCALAR, 0, U32))
            if is64:
                return st.with_reg(d, b)
            if b.is_pointer:
                # a 32-bit copy of a pointer is a number (privileged: allow_ptr_leaks)
                return st.with_reg(d, Reg(SCALAR, 0, U32))
            return st.with_reg(d, _low32(b))
        # check_alu_op's order: source, destination as a source, the constant's checks,
        # destination as a destination
        a = self.read_reg(st, d)
        if ins.source == isa.BPF_K:
            bits = 64 if is64 else 32
            if op in (isa.BPF_DIV, isa.BPF_MOD) and ins.imm == 0:
                raise _Reject(errno.EINVAL, "div by zero")
            if op in (isa.BPF_LSH, isa.BPF_RSH, isa.BPF_ARSH) and not 0 <= ins.imm < bits:
                raise _Reject(errno.EINVAL, f"invalid shift {ins.imm}")
        self.write_check(d)
        if a.is_pointer or b.is_pointer:
            return st.with_reg(d, self.ptr_alu(ins, a, b, is64))
        if ins.off:  # signed division/modulo (cpu v4): untracked, as unsigned ones
            return st.with_reg(d, _UNKNOWN if is64 else Reg(SCALAR, 0, U32))
        return st.with_reg(d, _alu_scalar(op, a, b, is64))

    def ptr_alu(self, ins: Insn, a: Reg, b: Reg, is64: bool) -> Reg:
        """adjust_ptr_min_max_vals for a privileged load: only +/- of a scalar, 64-bit, on
        a pointer that may move; pointer - pointer and a 32-bit pointer subtraction are
        numbers."""
        d, op = ins.dst, ins.op
        if a.is_pointer and b.is_pointer:
            # adjust_reg_min_max_vals: two pointers only subtract (allow_ptr_leaks)
            if op == isa.BPF_SUB:
                return _UNKNOWN if is64 else Reg(SCALAR, 0, U32)
            raise _Reject(errno.EACCES, f"R{d} pointer {_OPNAME[op]} pointer prohibited")
        if not is64:
            # "32-bit ALU ops on pointers produce (meaningless) scalars": SUB only, privileged
            if op == isa.BPF_SUB and a.is_pointer:
                return Reg(SCALAR, 0, U32)
            raise _Reject(errno.EACCES, f"R{d} 32-bit pointer arithmetic prohibited")
        ptr, other = (a, b) if a.is_pointer else (b, a)
        if op == isa.BPF_SUB and b.is_pointer:
            raise _Reject(errno.EACCES, f"R{d} tried to subtract pointer from scalar")
        if op in (isa.BPF_AND, isa.BPF_OR, isa.BPF_XOR):
            raise _Reject(
                errno.EACCES, f"R{d} bitwise operator {_OPNAME[op]} on pointer prohibited"
            )
        if op not in (isa.BPF_ADD, isa.BPF_SUB):
            raise _Reject(
                errno.EACCES, f"R{d} pointer arithmetic with {_OPNAME[op]} operator prohibited"
            )
        if ptr.type == PTR_TO_MAP_VALUE_OR_NULL:
            raise _Reject(errno.EACCES, f"R{d} pointer arithmetic on map_value_or_null prohibited")
        if ptr.type == CONST_PTR_TO_MAP:
            raise _Reject(errno.EACCES, f"R{d} pointer arithmetic on map_ptr prohibited")
        if other.is_const:
            k = _signed(other.umin)
            return replace(ptr, off=ptr.off + (k if op == isa.BPF_ADD else -k))
        if op == isa.BPF_SUB:
            # the kernel tracks a signed variable offset; ours is an unsigned range
            raise _Reject(
                errno.EACCES,
                f"R{d} subtracting a variable from a pointer is not modelled by simfs's "
                "verifier; add a negative constant or index upwards",
            )
        if other.umax >= BPF_MAX_VAR_SIZ:
            raise _Reject(
                errno.EACCES,
                f"R{d} unbounded memory access, make sure to bounds check any such access",
            )
        return replace(ptr, umin=ptr.umin + other.umin, umax=ptr.umax + other.umax)

    # memory: check_mem_access
    def mem_access(
        self,
        st: State,
        regno: int,
        off: int,
        size: int,
        write: bool,
        value: Reg | None,
        what: str = "",
    ) -> tuple[State, Reg]:
        """Check an access of ``size`` bytes at ``R[regno] + off``; returns the state
        after a write and the value a read gives."""
        ptr = self.read_reg(st, regno)
        t = ptr.type
        if t == PTR_TO_STACK:
            return self.stack_access(st, regno, ptr, off, size, write, value)
        if t == PTR_TO_CTX:
            if what:
                raise _Reject(errno.EACCES, f"{what} stores into R{regno} ctx is not allowed")
            if ptr.off or ptr.umax:
                raise _Reject(
                    errno.EACCES,
                    f"dereference of modified ctx ptr R{regno} off={ptr.off} disallowed",
                )
            return st, self.ctx_access(ptr.off + off, size, write)
        if t == PTR_TO_BUF:
            kind = "rdonly" if ptr.rdonly else "rdwr"
            if ptr.umax:
                raise _Reject(
                    errno.EACCES,
                    f"R{regno} invalid variable buffer offset: off={off}, "
                    f"var_off=[{ptr.umin},{ptr.umax}]",
                )
            where = ptr.off + off
            if write and ptr.rdonly:
                raise _Reject(errno.EACCES, f"R{regno} cannot write into rdonly_buf")
            if where < 0:
                raise _Reject(
                    errno.EACCES,
                    f"R{regno} invalid {kind} buffer access: off={where}, size={size}",
                )
            if self.buffer_limit is not None and where + size > self.buffer_limit:
                raise _Reject(
                    errno.EACCES,
                    f"R{regno} {_arg_name(ptr.ref)} access past the argument buffer: "
                    f"off={where}, size={size}, ctx_field_size={self.buffer_limit}",
                )
            self.max_buf[ptr.ref] = max(self.max_buf.get(ptr.ref, 0), where + size)
            return st, _width(size)
        if t == PTR_TO_MAP_VALUE:
            m = self.maps[ptr.ref]
            lo, hi = ptr.off + off + ptr.umin, ptr.off + off + ptr.umax
            if lo < 0 or hi + size > m.value_size:
                raise _Reject(
                    errno.EACCES,
                    f"invalid access to map value, value_size={m.value_size} "
                    f"off={ptr.off + off} size={size}",
                )
            return st, _width(size)
        raise _Reject(errno.EACCES, f"R{regno} invalid mem access '{_type_name(ptr)}'")

    def ctx_access(self, off: int, size: int, write: bool) -> Reg:
        """check_ctx_access -> fuse_prog_is_valid_access (kernel/bpf/bpf_fuse.c)."""
        ok, reg = (
            _fuse_access_fixed(off, size, write)
            if self.access == "fixed"
            else _fuse_access_legacy(off, size, write)
        )
        if not ok:
            raise _Reject(errno.EACCES, f"invalid bpf_context access off={off} size={size}")
        return reg

    def stack_access(
        self,
        st: State,
        regno: int,
        ptr: Reg,
        off: int,
        size: int,
        write: bool,
        value: Reg | None,
    ) -> tuple[State, Reg]:
        rw = "write" if write else "read"
        if ptr.umax:
            raise _Reject(
                errno.EACCES,
                f"variable stack access var_off=[{ptr.umin},{ptr.umax}] off={off} size={size}",
            )
        where = ptr.off + off
        if where % size:
            # check_ptr_alignment (before the bounds): stack accesses are always strict
            raise _Reject(
                errno.EACCES, f"misaligned stack access off 0+{ptr.off}+{off} size {size}"
            )
        if where < -STACK or where + size > 0:
            raise _Reject(
                errno.EACCES,
                f"invalid {rw} to stack R{regno} off={where} size={size}"
                if write
                else f"invalid read from stack R{regno} off={where} size={size}",
            )
        self.max_stack = max(self.max_stack, -where)
        slot_i = (where + STACK) // 8
        byte = (where + STACK) % 8
        stack = list(st.stack)
        slot = stack[slot_i]
        if write:
            assert value is not None
            if value.is_pointer and size != 8:
                # check_stack_write_fixed_off: a pointer is spilled whole or not at all
                raise _Reject(errno.EACCES, "invalid size of register spill")
            if size == 8:
                stack[slot_i] = value if value.type != NOT_INIT else "mmmmmmmm"
            else:
                chars = list(_slot_bytes(slot))
                fill = "0" if value.is_const and value.umin == 0 else "m"
                for k in range(byte, byte + size):
                    chars[k] = fill
                stack[slot_i] = "".join(chars)
            return State(st.regs, tuple(stack)), _NOT_INIT
        if isinstance(slot, Reg):
            if size == 8:
                return st, slot
            if slot.is_pointer:
                raise _Reject(errno.EACCES, "invalid size of register fill")
            if slot.is_const:
                return st, _const((slot.umin >> (8 * byte)) & ((1 << (8 * size)) - 1))
            return st, _width(size)
        got = slot[byte : byte + size]
        if "?" in got:
            raise _Reject(
                errno.EACCES,
                f"invalid read from stack R{regno} off {ptr.off}+{off} size {size}",
            )
        return st, _const(0) if set(got) == {"0"} else _width(size)

    def ldx(self, ins: Insn, st: State) -> State:
        if ins.mode not in (isa.BPF_MEM, 0x80) or ins.imm:
            raise _Reject(errno.EINVAL, "BPF_LDX uses reserved fields")
        size = isa.SIZE_BYTES[ins.size]
        self.read_reg(st, ins.src)  # check_reg_arg(src, SRC_OP) comes first
        self.write_check(ins.dst)
        st, val = self.mem_access(st, ins.src, ins.off, size, False, None)
        if ins.mode == 0x80 and not val.is_pointer:  # BPF_MEMSX: sign-extending load
            val = _UNKNOWN
        return st.with_reg(ins.dst, val)

    def stx(self, ins: Insn, st: State) -> State:
        size = isa.SIZE_BYTES[ins.size]
        if ins.mode == isa.BPF_ATOMIC:
            return self.atomic(ins, st, size)
        if ins.mode != isa.BPF_MEM or ins.imm:
            raise _Reject(errno.EINVAL, "BPF_STX uses reserved fields")
        val = self.read_reg(st, ins.src)
        st, _ = self.mem_access(st, ins.dst, ins.off, size, True, val)
        return st

    def st(self, ins: Insn, st: State) -> State:
        if ins.mode != isa.BPF_MEM or ins.src:
            raise _Reject(errno.EINVAL, "BPF_ST uses reserved fields")
        size = isa.SIZE_BYTES[ins.size]
        val = _const(ins.imm & ((1 << (8 * size)) - 1) if size < 8 else ins.imm)
        st, _ = self.mem_access(st, ins.dst, ins.off, size, True, val, what="BPF_ST")
        return st

    def atomic(self, ins: Insn, st: State, size: int) -> State:
        """check_atomic."""
        if size not in (4, 8):
            raise _Reject(errno.EINVAL, "invalid atomic operand size")
        base = ins.imm & ~isa.BPF_FETCH
        if ins.imm not in (isa.BPF_XCHG, isa.BPF_CMPXCHG) and base not in isa._ATOMIC_STR:
            raise _Reject(
                errno.EINVAL, f"BPF_ATOMIC uses invalid atomic opcode {ins.imm & 0xFF:02x}"
            )
        src = self.read_reg(st, ins.src)
        if ins.imm == isa.BPF_CMPXCHG:
            self.read_reg(st, 0)
        self.read_reg(st, ins.dst)
        if src.is_pointer:
            raise _Reject(errno.EACCES, f"R{ins.src} leaks addr into mem")
        st, old = self.mem_access(st, ins.dst, ins.off, size, False, None, what="BPF_ATOMIC")
        st, _ = self.mem_access(st, ins.dst, ins.off, size, True, _width(size))
        if old.is_pointer:
            old = _UNKNOWN
        if ins.imm == isa.BPF_CMPXCHG:
            return st.with_reg(0, _width(size))
        if ins.imm & isa.BPF_FETCH:
            self.write_check(ins.src)
            return st.with_reg(ins.src, _width(size))
        return st

    def ld(self, ins: Insn, st: State) -> State:
        """check_ld_imm (and resolve_pseudo_ldimm64 for map references)."""
        if ins.mode in (isa.BPF_ABS, isa.BPF_IND):
            raise _Reject(
                errno.EINVAL,
                "BPF_LD_[ABS|IND] instructions not allowed for this program type",
            )
        if not ins.is_lddw:
            raise _Reject(errno.EINVAL, f"unknown opcode {ins.code:02x}")
        self.write_check(ins.dst)
        if ins.src == 0:
            return st.with_reg(ins.dst, _const(ins.imm64))
        if ins.src == isa.BPF_PSEUDO_MAP_FD:
            idx = ins.imm & U32
            if idx >= len(self.maps):
                raise _Reject(errno.EBADF, f"fd {ins.imm} is not pointing to valid bpf_map")
            return st.with_reg(ins.dst, Reg(CONST_PTR_TO_MAP, ref=idx))
        raise _Reject(errno.EINVAL, "unrecognized bpf_ld_imm64 insn")

    # calls: check_helper_call
    def call(self, ins: Insn, st: State) -> State:
        if ins.src == isa.BPF_PSEUDO_CALL:
            raise _Reject(
                errno.EINVAL,
                "bpf-to-bpf calls are not modelled by simfs's verifier; "
                "mark the function __always_inline",
            )
        if ins.src or ins.off or ins.dst:
            raise _Reject(errno.EINVAL, "BPF_CALL uses reserved fields")
        fid = ins.imm
        name = isa.HELPER_NAMES.get(fid, "unknown")
        if not 0 <= fid < _BPF_FUNC_MAX_ID:
            raise _Reject(errno.EINVAL, f"invalid func {name}#{fid}")
        proto = self.helpers.get(fid)
        if proto is None:
            raise _Reject(errno.EINVAL, f"program of this type cannot use helper {name}#{fid}")
        map_idx = -1
        for i, kind in enumerate(proto.args, start=1):
            reg = self.read_reg(st, i)
            map_idx = self.check_arg(st, i, reg, kind, map_idx, proto)
        regs = list(st.regs)
        for i in range(1, 6):
            regs[i] = _NOT_INIT
        if proto.ret == RET_PTR_TO_MAP_VALUE_OR_NULL:
            self.next_id += 1
            regs[0] = Reg(PTR_TO_MAP_VALUE_OR_NULL, ref=map_idx, id=self.next_id)
        else:
            regs[0] = _UNKNOWN
        return State(tuple(regs), st.stack)

    def check_arg(
        self, st: State, i: int, reg: Reg, kind: str, map_idx: int, proto: HelperProto
    ) -> int:
        """check_func_arg for one argument; returns the map index seen so far."""

        def expected(what: str) -> _Reject:
            return _Reject(errno.EACCES, f"R{i} type={_type_name(reg)} expected={what}")

        if kind == ARG_ANYTHING:
            return map_idx
        if kind == ARG_CONST_MAP_PTR:
            if reg.type != CONST_PTR_TO_MAP:
                raise expected("map_ptr")
            return reg.ref
        if kind in (ARG_PTR_TO_MAP_KEY, ARG_PTR_TO_MAP_VALUE):
            if map_idx < 0:
                raise _Reject(errno.EACCES, "invalid map_ptr to access map->key")
            m = self.maps[map_idx]
            size = m.key_size if kind == ARG_PTR_TO_MAP_KEY else m.value_size
            if reg.type not in (PTR_TO_STACK, PTR_TO_MAP_VALUE, PTR_TO_BUF):
                raise expected("fp, map_value, buf")
            self.check_region(st, i, reg, size)
            return map_idx
        if kind == ARG_PTR_TO_MEM_RDONLY:
            if reg.type not in (PTR_TO_STACK, PTR_TO_MAP_VALUE, PTR_TO_BUF):
                raise expected("fp, map_value, buf")
            return map_idx
        if kind == ARG_CONST_SIZE:
            if reg.type != SCALAR:
                raise expected("scalar")
            if reg.umax == 0:
                raise _Reject(errno.EACCES, f"R{i} invalid zero-sized read")
            if reg.umax >= BPF_MAX_VAR_SIZ:
                raise _Reject(
                    errno.EACCES,
                    f"R{i} unbounded memory access, use 'var &= const' or 'if (var < const)'",
                )
            self.check_region(st, i - 1, st.regs[i - 1], reg.umax)
            return map_idx
        raise AssertionError(kind)

    def check_region(self, st: State, regno: int, ptr: Reg, size: int) -> None:
        """check_helper_mem_access: ``size`` bytes from ``ptr`` readable (and, on the
        stack, every byte initialised: "invalid indirect read from stack")."""
        if ptr.type == PTR_TO_STACK:
            if ptr.umax:
                raise _Reject(errno.EACCES, f"R{regno} variable stack access prohibited")
            start = ptr.off
            if start < -STACK or start + size > 0:
                raise _Reject(
                    errno.EACCES,
                    f"invalid indirect access to stack R{regno} off={start} size={size}",
                )
            self.max_stack = max(self.max_stack, -start)
            for a in range(start, start + size):
                slot = st.stack[(a + STACK) // 8]
                if isinstance(slot, Reg):
                    continue
                if slot[(a + STACK) % 8] == "?":
                    raise _Reject(
                        errno.EACCES,
                        f"invalid indirect read from stack R{regno} off {start}+{a - start} "
                        f"size {size}",
                    )
            return
        # map value / buffer: the whole region must be inside it
        self.mem_access(st, regno, 0, 1, False, None)
        if size > 1:
            self.mem_access(st, regno, size - 1, 1, False, None)

    # exit: check_return_code
    def check_exit(self, ins: Insn, st: State) -> None:
        if ins.src or ins.dst or ins.off or ins.imm:
            raise _Reject(errno.EINVAL, "BPF_EXIT uses reserved fields")
        r0 = st.regs[0]
        if r0.type == NOT_INIT:
            raise _Reject(errno.EACCES, "R0 !read_ok")
        if r0.is_pointer:
            raise _Reject(errno.EACCES, "R0 leaks addr as return value")

    # branches: check_cond_jmp_op
    def cond_jump(
        self, pc: int, ins: Insn, st: State, path: _Path, pending: list[_Path]
    ) -> tuple[int, State] | None:
        is64 = ins.cls == isa.BPF_JMP
        if (ins.source == isa.BPF_K and ins.src) or (ins.source == isa.BPF_X and ins.imm):
            raise _Reject(errno.EINVAL, "BPF_JMP/JMP32 uses reserved fields")
        a = self.read_reg(st, ins.dst)
        if ins.source == isa.BPF_X:
            b = self.read_reg(st, ins.src)
        else:
            b = _const(ins.imm if is64 else ins.imm & U32)
        op = ins.op
        target = pc + 1 + ins.off
        self.jumps += 1
        taken = _branch_taken(op, a, b, is64)
        if taken is True:
            return target, st
        if taken is False:
            return pc + 1, st
        st_taken, st_fall = st, st
        if a.is_pointer or b.is_pointer:
            st_taken, st_fall = self._null_check(op, ins, a, b, st, is64)
        elif is64 or (a.umax <= U32 and b.umax <= U32):
            # a 32-bit compare of values that fit in 32 bits is the 64-bit one
            st_taken, st_fall = _refine(op, ins, a, b, st, 64 if is64 else 32)
        if len(pending) >= BPF_COMPLEXITY_LIMIT_JMP_SEQ:
            raise _Reject(errno.E2BIG, f"The sequence of {len(pending)} jumps is too complex.")
        if path.visit is not None:
            path.visit.live += 1
        pending.append(
            _Path(
                target, st_taken, path.visit, came_from=pc, log_pos=self.dropped + len(self.lines)
            )
        )
        return pc + 1, st_fall

    def _null_check(
        self, op: int, ins: Insn, a: Reg, b: Reg, st: State, is64: bool
    ) -> tuple[State, State]:
        """mark_ptr_or_null_regs: ``if rX == 0`` / ``!= 0`` on a map value or NULL."""
        if (
            is64
            and a.type == PTR_TO_MAP_VALUE_OR_NULL
            and b.is_const
            and b.umin == 0
            and op in (isa.BPF_JEQ, isa.BPF_JNE)
        ):
            null = _mark_id(st, a.id, _const(0))
            nonnull = _mark_id(st, a.id, Reg(PTR_TO_MAP_VALUE, ref=a.ref))
            return (null, nonnull) if op == isa.BPF_JEQ else (nonnull, null)
        # any other comparison involving a pointer settles nothing
        return st, st


_OPNAME = {
    isa.BPF_ADD: "+=",
    isa.BPF_SUB: "-=",
    isa.BPF_MUL: "*=",
    isa.BPF_DIV: "/=",
    isa.BPF_OR: "|=",
    isa.BPF_AND: "&=",
    isa.BPF_LSH: "<<=",
    isa.BPF_RSH: ">>=",
    isa.BPF_NEG: "neg",
    isa.BPF_MOD: "%=",
    isa.BPF_XOR: "^=",
    isa.BPF_MOV: "=",
    isa.BPF_ARSH: "s>>=",
    isa.BPF_END: "end",
}


def _type_name(r: Reg) -> str:
    if r.type == PTR_TO_BUF:
        return "rdonly_buf" if r.rdonly else "rdwr_buf"
    return {NOT_INIT: "?", PTR_TO_STACK: "fp"}.get(r.type, r.type)


def _slot_bytes(slot: Slot) -> str:
    if isinstance(slot, Reg):
        return "mmmmmmmm"
    return slot


def _mark_id(st: State, rid: int, new: Reg) -> State:
    regs = tuple(new if r.type == PTR_TO_MAP_VALUE_OR_NULL and r.id == rid else r for r in st.regs)
    stack = tuple(
        new if isinstance(s, Reg) and s.type == PTR_TO_MAP_VALUE_OR_NULL and s.id == rid else s
        for s in st.stack
    )
    return State(regs, stack)


def _end_const(ins: Insn, v: int) -> int:
    bits = ins.imm
    low = v & ((1 << bits) - 1)
    if ins.cls == isa.BPF_ALU64 or ins.source == isa.BPF_TO_BE:
        return int.from_bytes(low.to_bytes(bits // 8, "little"), "big")
    return low


def _fuse_access_fixed(off: int, size: int, write: bool) -> tuple[bool, Reg]:
    """fuse_prog_is_valid_access after "fix verifier bypass" (android17-6.18)."""
    if off < 0 or size <= 0 or size > _CTX_SIZE or off > _CTX_SIZE - size:
        return False, _NOT_INIT
    if write:
        return False, _NOT_INIT
    if off in _SCALAR_FIELDS:  # fuse_prog_is_scalar_access
        return size == _SCALAR_FIELDS[off], _width(size)
    for i in range(8):
        base = (_IN_ARGS + 24 * i) if i < 5 else (_OUT_ARGS + 24 * (i - 5))
        if off == base:  # .size
            return size == 4, _width(4)
        if off == base + 8:  # .value: PTR_TO_RDONLY_BUF / PTR_TO_RDWR_BUF
            return size == 8, Reg(PTR_TO_BUF, ref=i, rdonly=i < 5)
        if off == base + 16:  # .end_offset: a number to the program
            return size == 8, _width(8)
    return False, _NOT_INIT


def _fuse_access_legacy(off: int, size: int, write: bool) -> tuple[bool, Reg]:
    """fuse_prog_is_valid_access before the fix (android12-5.10 .. android16-6.12)."""
    if off < 0 or off > _CTX_SIZE:  # offsetofend(struct fuse_bpf_args, out_args)
        return False, _NOT_INIT
    for i in range(8):
        base = (_IN_ARGS + 24 * i) if i < 5 else (_OUT_ARGS + 24 * (i - 5))
        if off == base + 8:
            if i < 5 and write:
                return False, _NOT_INIT
            return True, Reg(PTR_TO_BUF, ref=i, rdonly=i < 5)
    if write:
        return False, _NOT_INIT
    return True, _width(min(size, 8))


def _branch_taken(op: int, a: Reg, b: Reg, is64: bool) -> bool | None:
    """is_branch_taken on unsigned ranges: True/False when the ranges decide, else None."""
    if a.is_pointer or b.is_pointer:
        if a.type == PTR_TO_MAP_VALUE_OR_NULL or b.type == PTR_TO_MAP_VALUE_OR_NULL:
            return None
        # a non-NULL pointer against the constant 0 (is_branch_taken: reg_not_null)
        zero = b if a.is_pointer else a
        if zero.is_const and zero.umin == 0 and op in (isa.BPF_JEQ, isa.BPF_JNE):
            return op == isa.BPF_JNE
        return None
    if not is64 and (a.umax > U32 or b.umax > U32):
        if not (a.is_const and b.is_const):
            return None
        a, b = _const(a.umin & U32), _const(b.umin & U32)
    bits = 64 if is64 else 32
    if a.is_const and b.is_const:
        x, y = a.umin, b.umin
        sx, sy = _signed(x, bits), _signed(y, bits)
        return {
            isa.BPF_JEQ: x == y,
            isa.BPF_JNE: x != y,
            isa.BPF_JGT: x > y,
            isa.BPF_JGE: x >= y,
            isa.BPF_JLT: x < y,
            isa.BPF_JLE: x <= y,
            isa.BPF_JSET: bool(x & y),
            isa.BPF_JSGT: sx > sy,
            isa.BPF_JSGE: sx >= sy,
            isa.BPF_JSLT: sx < sy,
            isa.BPF_JSLE: sx <= sy,
        }[op]
    half = 1 << (bits - 1)
    if op in (isa.BPF_JSGT, isa.BPF_JSGE, isa.BPF_JSLT, isa.BPF_JSLE):
        if a.umax >= half or b.umax >= half:
            return None
        op = {
            isa.BPF_JSGT: isa.BPF_JGT,
            isa.BPF_JSGE: isa.BPF_JGE,
            isa.BPF_JSLT: isa.BPF_JLT,
            isa.BPF_JSLE: isa.BPF_JLE,
        }[op]
    if op == isa.BPF_JEQ:
        return False if a.umax < b.umin or a.umin > b.umax else None
    if op == isa.BPF_JNE:
        return True if a.umax < b.umin or a.umin > b.umax else None
    if op == isa.BPF_JGT:
        return True if a.umin > b.umax else False if a.umax <= b.umin else None
    if op == isa.BPF_JGE:
        return True if a.umin >= b.umax else False if a.umax < b.umin else None
    if op == isa.BPF_JLT:
        return True if a.umax < b.umin else False if a.umin >= b.umax else None
    if op == isa.BPF_JLE:
        return True if a.umax <= b.umin else False if a.umin > b.umax else None
    if op == isa.BPF_JSET and b.is_const:
        return False if a.umax < (b.umin & -b.umin) else None
    return None


def _refine(op: int, ins: Insn, a: Reg, b: Reg, st: State, bits: int) -> tuple[State, State]:
    """reg_set_min_max: narrow the unsigned range of a comparison's register(s) against
    a constant, on each side of the branch."""
    if op in (isa.BPF_JSGT, isa.BPF_JSGE, isa.BPF_JSLT, isa.BPF_JSLE):
        half = 1 << (bits - 1)
        if a.umax >= half or b.umax >= half:
            return st, st
        op = {
            isa.BPF_JSGT: isa.BPF_JGT,
            isa.BPF_JSGE: isa.BPF_JGE,
            isa.BPF_JSLT: isa.BPF_JLT,
            isa.BPF_JSLE: isa.BPF_JLE,
        }[op]
    if op == isa.BPF_JSET or op not in _FLIP:
        return st, st
    t_st, f_st = st, st
    if b.is_const:
        t, f = _narrow(op, a, b.umin)
        t_st, f_st = st.with_reg(ins.dst, t), st.with_reg(ins.dst, f)
    if a.is_const and ins.source == isa.BPF_X:
        t, f = _narrow(_FLIP[op], b, a.umin)
        t_st, f_st = t_st.with_reg(ins.src, t), f_st.with_reg(ins.src, f)
    return t_st, f_st


#: the comparison seen from the other operand (a > b is b < a)
_FLIP = {
    isa.BPF_JEQ: isa.BPF_JEQ,
    isa.BPF_JNE: isa.BPF_JNE,
    isa.BPF_JGT: isa.BPF_JLT,
    isa.BPF_JGE: isa.BPF_JLE,
    isa.BPF_JLT: isa.BPF_JGT,
    isa.BPF_JLE: isa.BPF_JGE,
}


def _narrow(op: int, r: Reg, k: int) -> tuple[Reg, Reg]:
    """(taken, fall-through) ranges of ``r`` for ``r OP k``."""
    lo, hi = r.umin, r.umax
    if op == isa.BPF_JEQ:
        return _range(max(lo, k), min(hi, k)) if lo <= k <= hi else r, _ne(r, k)
    if op == isa.BPF_JNE:
        return _ne(r, k), (_const(k) if lo <= k <= hi else r)
    if op == isa.BPF_JGT:
        return _range(max(lo, k + 1), hi), _range(lo, min(hi, k))
    if op == isa.BPF_JGE:
        return _range(max(lo, k), hi), _range(lo, min(hi, k - 1))
    if op == isa.BPF_JLT:
        return _range(lo, min(hi, k - 1)), _range(max(lo, k), hi)
    if op == isa.BPF_JLE:
        return _range(lo, min(hi, k)), _range(max(lo, k + 1), hi)
    return r, r


def _ne(r: Reg, k: int) -> Reg:
    if r.umin == k and r.umax > k:
        return Reg(SCALAR, k + 1, r.umax)
    if r.umax == k and r.umin < k:
        return Reg(SCALAR, r.umin, k - 1)
    return r


def _reg_subsumes(old: Reg, new: Reg) -> bool:
    """regsafe, on our reduced state: everything ``new`` may be, ``old`` may be."""
    if old.type == NOT_INIT:
        return True
    if old.type != new.type:
        return False
    if old.type == SCALAR:
        return old.umin <= new.umin and new.umax <= old.umax
    return (
        old.off == new.off
        and old.ref == new.ref
        and old.rdonly == new.rdonly
        and old.umin <= new.umin
        and new.umax <= old.umax
        and (old.type != PTR_TO_MAP_VALUE_OR_NULL or old.id == new.id)
    )


def _subsumes(old: State, new: State) -> bool:
    """states_equal (not exact): ``new`` is safe if ``old`` was found safe."""
    for o, n in zip(old.regs, new.regs, strict=True):
        if not _reg_subsumes(o, n):
            return False
    for o_slot, n_slot in zip(old.stack, new.stack, strict=True):
        if o_slot == n_slot:
            continue
        if isinstance(o_slot, Reg):
            if not (isinstance(n_slot, Reg) and _reg_subsumes(o_slot, n_slot)):
                return False
            continue
        n_bytes = _slot_bytes(n_slot)
        if isinstance(n_slot, Reg) and n_slot.is_pointer and o_slot != _EMPTY_SLOT:
            return False
        for ob, nb in zip(o_slot, n_bytes, strict=True):
            if ob == "?" or ob == nb or (ob == "m" and nb == "0"):
                continue
            return False
    return True


# ---------------------------------------------------------------------------------------
# Entry point


def verify(
    prog: Sequence[Insn] | bytes | bytearray | HasInsns,
    *,
    maps: Sequence[MapLike] | None = None,
    helpers: Mapping[int, HelperProto] | None = None,
    access: str = "fixed",
    bounded_loops: bool = True,
    buffer_limit: int | None = FUSE_BPF_COMPAT_ARG_SIZE,
    max_insns: int = BPF_COMPLEXITY_LIMIT_INSNS,
    complexity_limit: int = BPF_COMPLEXITY_LIMIT_INSNS,
    log_level: int = 1,
) -> VerifierResult:
    """Verify one FUSE program as ``bpf(BPF_PROG_LOAD)`` would (see the module docs).

    ``max_insns`` is the length limit (``BPF_COMPLEXITY_LIMIT_INSNS`` for a privileged
    load, :data:`BPF_MAXINSNS` for an unprivileged one); ``complexity_limit`` bounds the
    instructions walked.  ``log_level`` is the kernel's: 0 logs only the verdict and the
    statistics, 1 (default) the path being walked, rewound when a path verifies so a
    refusal's log is the path that failed (``bpf_vlog_reset``), 2 every path walked.
    Never raises for a bad program: the verdict is in the result
    (:meth:`VerifierResult.raise_for_error`).
    Raises ``ValueError`` for an unknown ``access``.
    """
    if access not in ("fixed", "legacy"):
        raise ValueError(f"access must be 'fixed' or 'legacy', not {access!r}")
    if maps is None:
        maps = _maps_of(prog)
    if isinstance(prog, (bytes, bytearray)):
        try:
            insns: Sequence[Insn] = isa.decode(prog)
        except isa.DecodeError as exc:
            return _verdict(errno.EINVAL, str(exc), str(exc) + "\n", 0, 0)
    elif isinstance(prog, Sequence):
        insns = [ins for ins in prog if isinstance(ins, Insn)]
    else:
        insns = list(prog.insns)
    n = len(insns)
    if n == 0 or n > max_insns:
        # bpf_prog_load: insn_cnt == 0 or above the limit is -E2BIG before any log
        msg = f"program has {n} instructions (allowed: 1 to {max_insns})"
        return _verdict(errno.E2BIG, msg, msg + "\n", n, 0)
    v = _Verifier(
        insns,
        maps,
        FUSE_HELPER_PROTOS if helpers is None else helpers,
        access,
        bounded_loops,
        buffer_limit,
        complexity_limit,
        log_level,
    )
    try:
        v.check_shape()
        v.run()
    except _Reject as rej:
        v.log(rej.msg)
        v.log(_stats(v))
        return _verdict(rej.errno, rej.msg, v.text(), n, v.processed, v)
    v.log(_stats(v))
    return _verdict(0, "", v.text(), n, v.processed, v)


def _stats(v: _Verifier) -> str:
    return (
        f"processed {v.processed} insns (limit {v.complexity_limit}) "
        f"total_states {v.total_states} peak_states {v.peak_states}"
    )


def _verdict(
    err: int, msg: str, log: str, n: int, processed: int, v: _Verifier | None = None
) -> VerifierResult:
    return VerifierResult(
        accepted=err == 0,
        errno=err,
        error=msg,
        log=log,
        insn_count=n,
        processed=processed,
        max_stack_depth=v.max_stack if v else 0,
        max_buffer_access={_arg_name(k): b for k, b in sorted(v.max_buf.items())} if v else {},
    )


def describe(result: VerifierResult) -> str:
    """One line for a person: "accepted (N insns processed)" or "EACCES: reason"."""
    if result.accepted:
        return f"accepted ({result.processed} instructions processed)"
    return f"rejected, {errno.errorcode.get(result.errno, result.errno)}: {result.error}"
