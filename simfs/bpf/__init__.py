"""FUSE BPF programs: ``BPF_PROG_TYPE_FUSE`` as ACK implements it.

Mirrors ACK ``kernel/bpf/bpf_fuse.c`` (the program type: ``fuse_prog_is_valid_access``,
``fuse_prog_func_proto``), ``include/linux/bpf_fuse.h`` / ``fs/fuse/fuse_i.h``
(``struct fuse_bpf_args``) and the ``bpf(BPF_PROG_LOAD)`` path (``bpf_prog_load``,
``bpf_prog_new_fd``: an anonymous ``bpf-prog`` inode whose file's ``private_data`` is the
program).

A program is a Python function taking a :class:`FuseBpfArgs` and returning an ``int``::

    @simfs.bpf.program("test_hidden")
    def hidden(fa):
        if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER and fa.in_args[0].value == "hide":
            return -errno.ENOENT
        return uapi.FUSE_BPF_BACKING

What the context allows follows ``fuse_prog_is_valid_access`` (ACK, after "fuse-bpf: fix
verifier bypass"): every scalar field (``nodeid``, ``opcode``, ``error_in``, the counts,
``flags``, each arg's ``size``) is read-only; ``in_args[i].value`` is a read-only buffer
(``PTR_TO_RDONLY_BUF``); ``out_args[i].value`` is writable (``PTR_TO_BUF``) within the
buffer's end (``end_offset``).  A struct argument's ``value`` is a pointer to the
buffer, as in C: ``feo = fa.out_args[0].value; feo.nodeid = 5`` (ACK's
``feo->nodeid = 5``) stores into the buffer, type-checked (:mod:`simfs.bpf.view`); the
same store through an in-argument is a fault.  ``fa.out_args[0].set(nodeid=5)`` and
``fa.out_args[0].value = dataclasses.replace(v, nodeid=5)`` do the same.

Faults.  A real verifier rejects bad programs at load time; a Python function can only
be checked when it runs.  ``prog_load`` rejects what the verifier would reject statically
(not a program, wrong arity) with ``EINVAL`` (``bpf_prog_load``: invalid attr ->
``-EINVAL``).  Faults found while running fail *the operation* and are traced as
``bpf_fault``; the simulator stays usable:

=====================================================  ======  ==========================
fault                                                  errno   kernel analogue
=====================================================  ======  ==========================
write to a read-only context field or in-arg buffer    EACCES  ``check_ctx_access`` /
                                                               ``check_buffer_access``:
                                                               "invalid bpf_context
                                                               access" is ``-EACCES``
write past an arg's buffer end / wrong value type      EACCES  ``check_buffer_access``:
                                                               out of bounds ``-EACCES``
return value not an int, or positive with bits other   EINVAL  ``check_return_code``:
than USER_FILTER|BACKING|POST_FILTER, or below                 "At program exit the
-MAX_ERRNO                                                     register R0 has value
                                                               ... should have been in
                                                               ..." is ``-EINVAL``
the function raised any other exception                EIO     none (a verified program
                                                               cannot fault); the
                                                               operation fails as an I/O
                                                               error, as a crashed daemon
                                                               does (dev.c: ``-EIO``)
more than 3 printk arguments                           EINVAL  ``bpf_trace_printk`` proto
=====================================================  ======  ==========================
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simfs import uapi
from simfs.bpf.view import frozen, struct_view
from simfs.vfs.inode import Inode, SuperBlock, oserror

if TYPE_CHECKING:
    from simfs.kernel import Kernel
    from simfs.process import Process
    from simfs.vfs.file import File

__all__ = [
    "BPF_RET_MASK",
    "BpfFault",
    "BpfProg",
    "FuseBpfArg",
    "FuseBpfArgs",
    "Program",
    "fault_note",
    "get_current_pid_tgid",
    "get_current_uid_gid",
    "list_sections",
    "load_object",
    "map_lookup_elem",
    "map_update_elem",
    "printk",
    "prog_from_fd",
    "prog_load",
    "program",
    "resolve_root_bpf",
    "run_program",
]

#: The return bits a FUSE program may set (android_fuse.h).
BPF_RET_MASK = uapi.FUSE_BPF_USER_FILTER | uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
MAX_ERRNO = 4095
#: bpf_trace_printk takes at most three value arguments.
MAX_PRINTK_ARGS = 3


# ---------------------------------------------------------------------------------------
# Programs


@dataclass(eq=False)
class Program:
    """What ``@program(name)`` produces: an ELF section's worth of program, not loaded.

    ``maps`` declares the program's BPF maps (name -> initial ``dict``); every load gets
    its own copy, as every ``bpf_object__load`` creates its own maps.
    """

    name: str
    func: Callable[[FuseBpfArgs], int]
    maps: dict[str, dict[Any, Any]] = field(default_factory=dict)
    is_fuse_bpf_prog: bool = True
    prog_type: str = "fuse"

    def __call__(self, fa: FuseBpfArgs) -> int:
        return self.func(fa)

    def __repr__(self) -> str:
        return f"<bpf program {self.name!r}>"

    def vocabulary(self) -> frozenset[str | int]:
        """The strings and integers the program's code holds as constants (its function
        and the module-level functions it calls, transitively): names it compares
        against, errnos, opcodes.  Property tests seed name strategies with it; a
        compiled program answers the same question from its immediates."""
        return _code_vocabulary(self.func)


def _code_vocabulary(func: Callable[..., Any]) -> frozenset[str | int]:
    out: set[str | int] = set()
    seen: set[int] = set()
    todo: list[Any] = [func]
    while todo:
        fn = todo.pop()
        code = getattr(fn, "__code__", None)
        if code is None or id(code) in seen:
            continue
        seen.add(id(code))
        glb = getattr(fn, "__globals__", {})
        doc = getattr(fn, "__doc__", None)
        codes = [code]
        while codes:
            c = codes.pop()
            for const in c.co_consts:
                if isinstance(const, bool) or (c is code and const == doc):
                    continue
                if isinstance(const, str | int):
                    out.add(const)
                elif hasattr(const, "co_consts"):
                    codes.append(const)
            for name in c.co_names:
                target = glb.get(name)
                if inspect.isfunction(target) and target.__module__ == fn.__module__:
                    todo.append(target)
    return frozenset(out)


def program(
    name: str, *, maps: dict[str, dict[Any, Any]] | None = None
) -> Callable[[Callable[[FuseBpfArgs], int]], Program]:
    """Decorator: turn ``def f(fa: FuseBpfArgs) -> int`` into a loadable FUSE program."""
    if not isinstance(name, str) or not name:
        from simfs.errors import UsageError

        raise UsageError("simfs.bpf.program(name): give the program a non-empty section name")

    def wrap(func: Callable[[FuseBpfArgs], int]) -> Program:
        return Program(name=name, func=func, maps=dict(maps or {}))

    return wrap


_next_prog_id = [0]


@dataclass(eq=False)
class BpfProg:
    """``struct bpf_prog``: one *loaded* program (each load is a distinct program)."""

    program: Program
    id: int
    maps: dict[str, dict[Any, Any]]

    @property
    def name(self) -> str:
        return self.program.name

    is_fuse_bpf_prog = True

    def __repr__(self) -> str:
        return f"<BpfProg {self.name!r} id={self.id}>"


class BpfSuperBlock(SuperBlock):
    """``anon_inode_fs``: where bpf-prog inodes live."""

    fs_name = "anon_inodefs"
    magic = 0x09041934


class BpfProgInode(Inode):
    """The anonymous ``bpf-prog`` inode (``anon_inode_getfile("bpf-prog", ...)``)."""

    def __init__(self, sb: SuperBlock, prog: BpfProg) -> None:
        super().__init__(sb)
        self.prog = prog
        self.ino = prog.id
        self.mode = 0o600
        self.uid = self.gid = 0
        self.nlink = 1
        self.size = 0
        self.rdev = 0
        self.atime_ns = self.mtime_ns = self.ctime_ns = 0
        self.blksize = 4096
        self.blocks = 0


def load_object(source: str | os.PathLike[str] | bytes | bytearray, section: str) -> Program:
    """Load program ``section`` of a clang-built BPF object (a path or its bytes).

    The result is a :class:`Program` like a ``@program`` function: pass it as
    ``root_bpf``, to ``Process.bpf_prog_load``, to ``simfs.testing.bpf_mount``.  Raises
    ``simfs.bpf.ebpf.elf.LoadError`` (an ``OSError`` with the errno ``bpf(BPF_PROG_LOAD)``
    gives and a message saying what to do) for an object it cannot load or that the
    verifier rejects.  See ``docs/compiled-filters.md``.
    """
    from simfs.bpf.ebpf.program import load_object as _load

    return _load(source, section)


def list_sections(source: str | os.PathLike[str] | bytes | bytearray) -> list[Any]:
    """The program sections and maps of a BPF object, as ``SectionInfo(kind, name,
    detail)`` rows (``kind`` is ``"program"``, ``"map"`` or ``"refused"``)."""
    from simfs.bpf.ebpf.program import list_sections as _list

    return list(_list(source))


def _verify(prog: Any) -> Program:
    """The load-time verifier: what can be decided without running the program."""
    if not isinstance(prog, Program) or not getattr(prog, "is_fuse_bpf_prog", False):
        raise oserror(errno.EINVAL)  # bpf_prog_load: not a FUSE program
    try:
        sig = inspect.signature(prog.func)
    except (TypeError, ValueError):
        raise oserror(errno.EINVAL) from None
    params = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if len(params) != 1:
        e = oserror(errno.EINVAL)  # a FUSE program takes exactly the context (R1)
        e.add_note(
            f"program {prog.name!r}: {prog.func.__name__}{sig} takes {len(params)} required "
            "positional arguments; a FUSE program takes exactly one, the FuseBpfArgs "
            "context: def prog(fa) -> int"
        )
        raise e
    return prog


def _anon_sb(k: Kernel) -> SuperBlock:
    sb = getattr(k, "_bpf_anon_sb", None)
    if sb is None:
        sb = BpfSuperBlock(k, 0)
        k._bpf_anon_sb = sb  # type: ignore[attr-defined]
    return sb


def prog_load(proc: Process, prog: Any) -> int:
    """``bpf(BPF_PROG_LOAD)``: verify, load, return a new descriptor in ``proc``.

    The descriptor's file is an anonymous ``bpf-prog`` file whose ``private`` is the
    loaded :class:`BpfProg`.  Raises ``OSError(EINVAL)`` for anything the verifier rejects.
    """
    from simfs.vfs.file import FMODE_READ, FMODE_WRITE, File
    from simfs.vfs.inode import Dentry
    from simfs.vfs.mount import Mount, Path

    k = proc.kernel
    verified = _verify(prog)
    _next_prog_id[0] += 1
    loaded = BpfProg(verified, _next_prog_id[0], copy.deepcopy(verified.maps))
    sb = _anon_sb(k)
    inode = BpfProgInode(sb, loaded)
    dentry = Dentry(name="bpf-prog", parent=None, sb=sb)
    dentry.instantiate(inode)
    mnt = getattr(k, "_bpf_anon_mnt", None)
    if mnt is None:
        mnt = Mount(-1, sb, dentry, None, None, "anon", "anon_inodefs")
        k._bpf_anon_mnt = mnt  # type: ignore[attr-defined]
    file = File(path=Path(mnt, dentry), inode=inode, flags=2, fmode=FMODE_READ | FMODE_WRITE)
    file.private = loaded
    file.bpf_prog = loaded  # type: ignore[attr-defined]
    inode.open_count += 1
    k.bpf_progs[loaded.id] = loaded
    return proc.fdtable.alloc(file, cloexec=True)


def prog_from_file(file: File | None) -> BpfProg:
    """``fuse_get_bpf_prog``: the program behind a file; not a FUSE program -> EINVAL."""
    prog = getattr(file, "bpf_prog", None) if file is not None else None
    if not isinstance(prog, BpfProg):
        raise oserror(errno.EINVAL)
    return prog


def prog_from_fd(proc: Process, fd: int) -> BpfProg:
    """``fget`` + ``fuse_get_bpf_prog`` in ``proc``'s table (EBADF / EINVAL)."""
    file = proc.fdtable.get(fd)
    return prog_from_file(file)


def resolve_root_bpf(k: Kernel, value: Any, proc: Process | None = None) -> BpfProg | None:
    """The ``root_bpf`` mount option: a loaded :class:`BpfProg`, a ``@program`` (loaded
    now, as the harness's ``install_elf_bpf`` does), or an fd in ``proc`` (default the
    kernel's admin process).  A value that is not a FUSE program -> ``EINVAL`` (ACK's
    mount fails "Unable to open bpf program")."""
    if value is None:
        return None
    if isinstance(value, BpfProg):
        return value
    if isinstance(value, Program):
        loaded = BpfProg(_verify(value), 0, copy.deepcopy(value.maps))
        _next_prog_id[0] += 1
        loaded.id = _next_prog_id[0]
        k.bpf_progs[loaded.id] = loaded
        return loaded
    if isinstance(value, int) and not isinstance(value, bool):
        owner = proc if proc is not None else k._admin()
        return prog_from_fd(owner, value)
    raise oserror(errno.EINVAL)


# ---------------------------------------------------------------------------------------
# The context


class BpfFault(Exception):
    """A program did something the verifier would have refused; fails the operation."""

    def __init__(self, errno_value: int, reason: str) -> None:
        super().__init__(reason)
        self.errno = errno_value
        self.reason = reason


@dataclass(eq=False)
class ArgBuffer:
    """One argument buffer of ``struct fuse_bpf_args``: its value, used size and end.

    ``capacity`` is ``end_offset - value``: how much the buffer can hold (for a fixed
    struct its size; for a name its length; for a READDIR page ``PAGE_SIZE``).  ``kind``
    is the wire kind a daemon filter request uses for it.
    """

    value: Any
    size: int
    capacity: int
    kind: Any

    @classmethod
    def of(cls, value: Any, kind: Any = None, capacity: int | None = None) -> ArgBuffer:
        size = uapi.wire_size(value) if value is not None else 0
        if kind is None:
            kind = type(value) if not isinstance(value, list) else "dirents"
        return cls(value, size, size if capacity is None else capacity, kind)


class FuseBpfArg:
    """``struct fuse_bpf_arg`` as a program sees it: ``size`` and ``value`` (and the
    buffer's ``end_offset`` as ``capacity``)."""

    __slots__ = ("_buf", "_index", "_run", "_writable")
    _buf: ArgBuffer
    _run: _Run
    _writable: bool
    _index: int

    def __init__(self, buf: ArgBuffer, writable: bool, run: _Run, index: int = -1) -> None:
        object.__setattr__(self, "_buf", buf)
        object.__setattr__(self, "_writable", writable)
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_index", index)

    @property
    def size(self) -> int:
        return int(self._buf.size)

    @property
    def capacity(self) -> int:
        return int(self._buf.capacity)

    @property
    def end_offset(self) -> int:
        return int(self._buf.capacity)

    @property
    def value(self) -> Any:
        """The buffer: a struct as a pointer to it (stores through it are checked and
        copied back, :mod:`simfs.bpf.view`); a name, bytes or the dirent records as is
        (a list's edits are checked when the program returns)."""
        v = self._buf.value
        if isinstance(v, uapi.WireStruct):
            i = "" if self._index < 0 else str(self._index)
            where = f"out_args[{i}].value" if self._writable else f"in_args[{i}].value"
            return struct_view(v, self._writable, self._run.fault, self._store, where)
        return v

    @value.setter
    def value(self, new: Any) -> None:
        self._run.write(self._buf, self._writable, new)

    def _store(self, new: Any) -> None:
        self._run.write(self._buf, self._writable, new)

    def set(self, **fields: Any) -> None:
        """Write struct fields: ``fa.out_args[0].set(nodeid=5)``."""
        cur = self._buf.value
        if not dataclasses.is_dataclass(cur):
            self._run.fault(errno.EACCES, "set() on a buffer that is not a struct")
        try:
            new = dataclasses.replace(cur, **fields)
        except TypeError as e:
            self._run.fault(errno.EACCES, f"no such field: {e}")
        self.value = new

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "value":
            self._run.write(self._buf, self._writable, value)
            return
        self._run.fault(errno.EACCES, f"write to read-only arg field {name!r}")

    def __repr__(self) -> str:
        v = self._buf.value
        shown = uapi.value_summary(v) if v is not None else None
        return f"FuseBpfArg(size={self.size}, value={shown})"


class FuseBpfArgs:
    """``struct fuse_bpf_args``, the program's context (read-only scalars)."""

    __slots__ = ("_run", "_s", "in_args", "out_args")
    in_args: tuple[FuseBpfArg, ...]
    out_args: tuple[FuseBpfArg, ...]
    _s: Any
    _run: _Run

    def __init__(self, s: Any, run: _Run) -> None:
        object.__setattr__(self, "_s", s)
        object.__setattr__(self, "_run", run)
        ins = list(s.in_args) + [
            ArgBuffer(None, 0, 0, bytes) for _ in range(uapi.FUSE_MAX_IN_ARGS - len(s.in_args))
        ]
        outs = list(s.out_args) + [
            ArgBuffer(None, 0, 0, bytes) for _ in range(uapi.FUSE_MAX_OUT_ARGS - len(s.out_args))
        ]
        # the kernel's arrays are fixed (5 in, 3 out); unused slots are zero (NULL, size 0)
        object.__setattr__(
            self, "in_args", tuple(FuseBpfArg(b, False, run, i) for i, b in enumerate(ins))
        )
        object.__setattr__(
            self, "out_args", tuple(FuseBpfArg(b, True, run, i) for i, b in enumerate(outs))
        )

    @property
    def nodeid(self) -> int:
        return int(self._s.nodeid)

    @property
    def opcode(self) -> int:
        return int(self._s.opcode)

    @property
    def error_in(self) -> int:
        return int(self._s.error_in)

    @property
    def in_numargs(self) -> int:
        return len(self._s.in_args)

    @property
    def out_numargs(self) -> int:
        return len(self._s.out_args)

    @property
    def flags(self) -> int:
        return int(self._s.flags)

    def __setattr__(self, name: str, value: Any) -> None:
        self._run.fault(errno.EACCES, f"write to read-only context field {name!r}")

    def __repr__(self) -> str:
        return (
            f"FuseBpfArgs(nodeid={self.nodeid}, opcode={uapi.opcode_name(self.opcode)}, "
            f"error_in={self.error_in}, in={list(self.in_args)}, out={list(self.out_args)})"
        )


@dataclass
class _Run:
    """One program invocation: the kernel, the program and what went wrong."""

    kernel: Any
    prog: BpfProg
    faulted: BpfFault | None = None

    def fault(self, err: int, reason: str) -> None:
        f = BpfFault(err, reason)
        if self.faulted is None:
            self.faulted = f
        raise f

    def write(self, buf: ArgBuffer, writable: bool, new: Any) -> None:
        if not writable:
            self.fault(errno.EACCES, "write to a read-only in_args buffer")
        new = frozen(new)  # a struct view (or one holding views) stores its frozen struct
        cur = buf.value
        if isinstance(cur, uapi.WireStruct) or dataclasses.is_dataclass(cur):
            if type(new) is not type(cur):
                self.fault(
                    errno.EACCES,
                    f"buffer holds {type(cur).__name__}, program wrote {type(new).__name__}",
                )
        elif isinstance(cur, list):
            if not isinstance(new, list) or not all(isinstance(r, uapi.FuseDirent) for r in new):
                self.fault(errno.EACCES, "a dirent buffer takes a list of uapi.FuseDirent")
        elif cur is not None and not isinstance(new, type(cur)):
            self.fault(
                errno.EACCES,
                f"buffer holds {type(cur).__name__}, program wrote {type(new).__name__}",
            )
        try:
            size = uapi.wire_size(new)
        except TypeError:
            self.fault(errno.EACCES, f"not a wire value: {new!r}")
        if size > buf.capacity:
            self.fault(errno.EACCES, f"write of {size} bytes past the buffer end ({buf.capacity})")
        buf.value = new
        if isinstance(new, list | str | bytes):
            buf.size = size


_current: ContextVar[_Run | None] = ContextVar("simfs_bpf_run", default=None)


@contextmanager
def _running(run: _Run) -> Iterator[None]:
    token = _current.set(run)
    try:
        yield
    finally:
        _current.reset(token)


def _need_run(what: str) -> _Run:
    run = _current.get()
    if run is None:
        from simfs.errors import UsageError

        raise UsageError(f"simfs.bpf.{what}() is a BPF helper: call it from a running program")
    return run


# ---------------------------------------------------------------------------------------
# Helpers (fuse_prog_func_proto: trace_printk, uid/gid, pid/tgid, map lookup/update)


def _c_format(fmt: str, args: tuple[Any, ...]) -> str:
    """C-style ``%`` formatting as ``bpf_trace_printk`` does (``%lx``, ``%llu``, ``%s``...)."""
    out: list[str] = []
    i = 0
    ai = 0
    n = len(fmt)
    while i < n:
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        j = i + 1
        if j < n and fmt[j] == "%":
            out.append("%")
            i = j + 1
            continue
        spec_flags = ""
        while j < n and fmt[j] in "-+ #0":
            spec_flags += fmt[j]
            j += 1
        width = ""
        while j < n and fmt[j].isdigit():
            width += fmt[j]
            j += 1
        longs = 0
        while j < n and fmt[j] in "lhzLqj":
            longs += fmt[j] in "lLqjz"
            j += 1
        if j >= n:
            out.append(fmt[i:])
            break
        conv = fmt[j]
        arg = args[ai] if ai < len(args) else 0
        ai += 1
        pyconv = {"u": "d", "i": "d", "p": "x"}.get(conv, conv)
        if conv in "duixXop":
            value = int(arg) if isinstance(arg, int) else 0
            if conv in "duixX" and not longs:
                # bpf_bprintf_prepare: without 'l' the argument is sizeof(int) bytes
                value &= 0xFFFFFFFF
                if conv in "di" and value & 0x80000000:
                    value -= 1 << 32
            if conv in "uxXop" and value < 0:
                value &= (1 << 64) - 1
            out.append(("%" + spec_flags + width + pyconv) % value)
        elif conv == "s":
            # bpf_bprintf_prepare: a %s pointer strncpy_from_kernel_nofault cannot read
            # (NULL: an unused argument slot) prints as the empty string
            out.append(("%" + spec_flags + width + "s") % ("" if arg is None else arg,))
        elif conv == "c":
            out.append(chr(int(arg)) if isinstance(arg, int) else str(arg)[:1])
        else:
            out.append(fmt[i : j + 1])
        i = j + 1
    return "".join(out)


def printk(fmt: str, *args: Any) -> int:
    """``bpf_trace_printk``: format C-style and append the line to ``k.trace_pipe``."""
    run = _need_run("printk")
    if len(args) > MAX_PRINTK_ARGS:
        run.fault(errno.EINVAL, "bpf_trace_printk takes at most 3 arguments")
    line = _c_format(fmt, args).rstrip("\n")
    run.kernel.trace_pipe.write(line)
    run.kernel.hooks.emit("printk", line=line, prog=run.prog.name)
    return len(line)


def get_current_uid_gid() -> int:
    """``bpf_get_current_uid_gid``: gid << 32 | uid of the calling task."""
    run = _need_run("get_current_uid_gid")
    cur = run.kernel.current
    uid = cur.cred.uid if cur is not None else 0
    gid = cur.cred.gid if cur is not None else 0
    return (gid << 32) | uid


def get_current_pid_tgid() -> int:
    """``bpf_get_current_pid_tgid``: tgid << 32 | pid of the calling task."""
    run = _need_run("get_current_pid_tgid")
    cur = run.kernel.current
    pid = cur.pid if cur is not None else 0
    return (pid << 32) | pid


def map_lookup_elem(map_name: str, key: Any) -> Any:
    """``bpf_map_lookup_elem`` on the running program's map (``None`` if absent)."""
    run = _need_run("map_lookup_elem")
    m = run.prog.maps.get(map_name)
    if m is None:
        run.fault(errno.EINVAL, f"program has no map {map_name!r}")
    return m.get(key)  # type: ignore[union-attr]


def map_update_elem(map_name: str, key: Any, value: Any) -> int:
    """``bpf_map_update_elem`` on the running program's map."""
    run = _need_run("map_update_elem")
    m = run.prog.maps.get(map_name)
    if m is None:
        run.fault(errno.EINVAL, f"program has no map {map_name!r}")
    m[key] = value  # type: ignore[index]
    return 0


# ---------------------------------------------------------------------------------------
# Running


def _snapshot(buf: ArgBuffer) -> Any:
    v = buf.value
    return list(v) if isinstance(v, list) else v


def run_program(k: Kernel, prog: BpfProg, state: Any, phase: str) -> int:
    """``fuse_bpf_run``: run ``prog`` on the internal args ``state``; return R0.

    ``state`` has ``nodeid``, ``opcode``, ``error_in``, ``flags``, ``in_args`` and
    ``out_args`` (lists of :class:`ArgBuffer`).  A fault returns ``-errno`` (see the
    module docstring) after a ``bpf_fault`` trace event.
    """
    run = _Run(k, prog)
    ctx = FuseBpfArgs(state, run)
    out_ids = {id(b) for b in state.out_args}
    ro = [(b, _snapshot(b)) for b in state.in_args if id(b) not in out_ids]
    ret: Any
    err = 0
    reason = ""
    with _running(run):
        try:
            ret = prog.program.func(ctx)
        except BpfFault as f:
            err, reason = f.errno, f.reason
        except Exception as e:  # a verified program cannot fault: fail the operation
            err, reason = errno.EIO, f"{type(e).__name__}: {e}"
    if not err and run.faulted is not None:
        err, reason = run.faulted.errno, run.faulted.reason
    if not err:
        for b, before in ro:
            if _snapshot(b) != before:
                err, reason = errno.EACCES, "in-place write to a read-only in_args buffer"
                break
    if not err:
        for b in state.out_args:
            if isinstance(b.value, list):
                try:
                    size = uapi.wire_size(b.value)
                except (TypeError, ValueError, AttributeError) as e:
                    err, reason = errno.EACCES, f"a record buffer holds a non-record: {e}"
                    break
                if size > b.capacity:
                    err, reason = (
                        errno.EACCES,
                        f"records of {size} bytes overflow the buffer ({b.capacity})",
                    )
                    break
                b.size = size
    if not err:
        if isinstance(ret, bool) or not isinstance(ret, int):
            err, reason = errno.EINVAL, f"program returned {ret!r}, not an int"
        elif ret < -MAX_ERRNO or (ret > 0 and ret & ~BPF_RET_MASK):
            err, reason = errno.EINVAL, f"program returned {ret}: unknown bits"
    if err:
        k.hooks.emit(
            "bpf_fault",
            prog=prog.name,
            phase=phase,
            opcode=uapi.opcode_name(state.opcode),
            nodeid=state.nodeid,
            reason=reason,
            errno=err,
        )
        explain = getattr(k, "explain", None)
        if explain is not None:
            explain(err, fault_note(prog.name, uapi.opcode_name(state.opcode), phase, err, reason))
        return -err
    return int(ret)


def fault_note(prog: str, opcode: str, phase: str, err: int, reason: str) -> str:
    """The note a faulting program leaves on the caller's ``OSError``: who, where, why,
    and what to change."""
    if err == errno.EACCES:
        fix = (
            "a program may write only out_args[i].value, with a value of the same type "
            "that fits the buffer (in_args and the scalar fields are read-only)"
        )
    elif err == errno.EINVAL:
        fix = (
            "return a negative errno (-errno.EXXX) or a combination of FUSE_BPF_BACKING, "
            "FUSE_BPF_USER_FILTER and FUSE_BPF_POST_FILTER"
        )
    else:
        fix = (
            "a verified program cannot raise: return -errno.EXXX to fail the operation "
            "on purpose (wire structs are frozen: write out_args[i].value = "
            "dataclasses.replace(value, field=...) or out_args[i].set(field=...))"
        )
    name = errno.errorcode.get(err, str(err))
    return f"program {prog!r}, {opcode}, {phase}-filter: {reason} -> {name}; {fix}"
