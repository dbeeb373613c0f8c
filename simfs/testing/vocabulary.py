"""What a filter compares against: its string and integer constants, and the opcodes it names.

A filter that treats ``"secret.db"`` specially is only exercised when a path names
``secret.db``; the machines therefore add the strings a filter compares against to their
name vocabulary (:func:`name_vocabulary`), and the integers to their uid/size choices.

Where the constants come from:

- a compiled program that offers ``vocabulary() -> frozenset[str | int]`` (the string and
  integer immediates of its instructions) is asked for them;
- a Python ``@simfs.bpf.program``: the constants of its function's code object and every
  nested code object (``co_consts``, recursively), the strings and collections of
  strings its closure cells and the globals it names hold (``HIDDEN = (".a", ".b")``),
  and the members of collections bound methods are made of
  (``frozenset(...).__contains__``).

:func:`handled_opcodes` reads the ``FUSE_*`` opcode names a Python program mentions
(``uapi.FUSE_READDIR``) and the opcode sets it names (``MUTATING_OPCODES``), so a run can
say which of them it never reached.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from simfs import uapi

__all__ = [
    "filter_constants",
    "handled_opcodes",
    "int_vocabulary",
    "mount_program",
    "name_vocabulary",
]

_MAX_DEPTH = 4
#: opcode value -> name (``FUSE_LOOKUP`` -> 1), the FUSE opcodes only
_OPCODES: dict[str, int] = {
    name: int(getattr(uapi, name))
    for name in dir(uapi)
    if name.startswith("FUSE_")
    and isinstance(getattr(uapi, name), int)
    and uapi.opcode_name(int(getattr(uapi, name))) == name.removeprefix("FUSE_")
}

#: every integer constant of ``simfs.uapi`` (return bits, flags): not policy values
_UAPI_INTS: frozenset[int] = frozenset(
    int(getattr(uapi, n))
    for n in dir(uapi)
    if n.startswith("FUSE_") and isinstance(getattr(uapi, n), int)
)


def mount_program(factory: Any) -> Any:
    """The program a mount factory installs (:func:`~simfs.testing.filters.bpf_mount`
    records it as ``factory.program``; a zero-argument maker is called once), or None."""
    prog = getattr(factory, "program", None)
    if prog is None:
        return None
    if callable(prog) and not hasattr(prog, "func") and not hasattr(prog, "vocabulary"):
        try:
            prog = prog()
        except Exception:  # the machine will report a factory that cannot build
            return None
    return prog


def _functions(prog: Any) -> list[Callable[..., Any]]:
    func = getattr(prog, "func", None)
    if callable(func):
        return [func]
    if isinstance(prog, types.FunctionType):
        return [prog]
    return []


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _codes(c)


def _atoms(value: Any, depth: int = 0) -> Iterator[str | int]:
    """Strings and integers in ``value``: itself, a collection's members, a bound
    method's object, a function's constants."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, bool):
        return
    if isinstance(value, str | int):
        yield value
    elif isinstance(value, frozenset | set | tuple | list):
        for v in value:
            yield from _atoms(v, depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _atoms(k, depth + 1)
            yield from _atoms(v, depth + 1)
    elif isinstance(value, types.BuiltinMethodType | types.MethodType):
        yield from _atoms(getattr(value, "__self__", None), depth + 1)
    elif isinstance(value, types.FunctionType) and _own(value):
        yield from _function_atoms(value, depth + 1)


def _own(func: types.FunctionType) -> bool:
    """Whether to read a helper function's constants: a user's, not simfs's own helpers
    (whose strings are argument-slot names, not policy); the detection corpus counts as
    a user."""
    mod = str(getattr(func, "__module__", "") or "")
    return not mod.startswith("simfs.") or mod.startswith("simfs.testing.corpus")


def _function_atoms(func: types.FunctionType, depth: int = 0) -> Iterator[str | int]:
    for code in _codes(func.__code__):
        for c in code.co_consts:
            if not isinstance(c, types.CodeType):
                yield from _atoms(c, depth)
        for name in code.co_names:
            if name in func.__globals__ and not isinstance(
                func.__globals__[name], types.ModuleType
            ):
                yield from _atoms(func.__globals__[name], depth + 1)
    for cell in func.__closure__ or ():
        try:
            yield from _atoms(cell.cell_contents, depth)
        except ValueError:  # an empty cell
            continue


def filter_constants(prog: Any) -> frozenset[str | int]:
    """The string and integer constants ``prog`` compares against (see the module doc).

    ``prog`` may be a compiled program with ``vocabulary()``, a ``@simfs.bpf.program``,
    a plain function, or None (empty set)."""
    if prog is None:
        return frozenset()
    vocab = getattr(prog, "vocabulary", None)
    if callable(vocab):
        return frozenset(v for v in vocab() if isinstance(v, str | int))
    out: set[str | int] = set()
    for func in _functions(prog):
        if isinstance(func, types.FunctionType):
            out.update(_function_atoms(func))
    return frozenset(out)


def _is_name(s: str) -> bool:
    return (
        0 < len(s.encode()) <= 255
        and "/" not in s
        and "\0" not in s
        and s not in (".", "..")
        and s.isprintable()
        and not s.startswith(("FUSE_", "O_", "SEEK_", "S_"))
        and " " not in s
    )


def name_vocabulary(prog: Any, limit: int = 6) -> tuple[str, ...]:
    """Path components made from the strings ``prog`` compares against: each valid name,
    and for one that looks like a suffix (``".db"``) or a prefix (``"tmp_"``) a name
    that ends or starts with it (``"a.db"``, ``"tmp_a"``).  At most ``limit`` names,
    shortest first (each name multiplies the paths the machines draw)."""
    names: set[str] = set()
    for c in filter_constants(prog):
        if not isinstance(c, str) or not _is_name(c) or c.startswith("test_"):
            continue
        names.add(c)
        if c.startswith(".") and len(c) > 1:
            names.add("a" + c)
        elif c.endswith(("_", "-", ".")):
            names.add(c + "a")
    return tuple(sorted(names, key=lambda s: (len(s), s))[:limit])


def int_vocabulary(prog: Any, limit: int = 6) -> tuple[int, ...]:
    """Small non-negative integers ``prog`` compares against (uids, sizes, modes)."""
    ints = sorted(
        {c for c in filter_constants(prog) if isinstance(c, int) and 1 < c < 1 << 20}
        - set(_OPCODES.values())
        - _UAPI_INTS
    )
    return tuple(ints[:limit])


def handled_opcodes(prog: Any) -> frozenset[str]:
    """Names (``"READDIR"``) of the opcodes a Python program mentions: ``FUSE_*``
    attribute names and global sets of opcode values it names.  Empty when unknown."""
    out: set[str] = set()
    for func in _functions(prog):
        if not isinstance(func, types.FunctionType):
            continue
        for code in _codes(func.__code__):
            for name in code.co_names:
                if name in _OPCODES:
                    out.add(name.removeprefix("FUSE_"))
                value = func.__globals__.get(name)
                if isinstance(value, frozenset | set | tuple) and _all_opcodes(value):
                    out.update(uapi.opcode_name(v) for v in value)
        for cell in func.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if isinstance(value, frozenset | set | tuple) and _all_opcodes(value):
                out.update(uapi.opcode_name(v) for v in value)
    return frozenset(out)


def _all_opcodes(values: Iterable[Any]) -> bool:
    vals = list(values)
    known = set(_OPCODES.values())
    return len(vals) > 1 and all(
        isinstance(v, int) and not isinstance(v, bool) and v in known for v in vals
    )
