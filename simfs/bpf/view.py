"""What ``fa.in_args[i].value`` / ``fa.out_args[i].value`` hand a program for a struct:
the buffer seen through a pointer, as ``struct fuse_entry_out *feo = fa->out_args[0].value``.

A program written in C stores through that pointer (``feo->nodeid = 5``,
``feo->attr.size = 0``); in Python the same line is ``feo.nodeid = 5`` on the object
:func:`struct_view` returns.  It is an instance of the wire struct's own type (a subclass
that is not frozen), so reads, ``isinstance``, ``==`` and ``dataclasses.replace`` work as
on the frozen struct, and every store is copied back into the argument buffer at once
(the kernel's struct *is* the buffer).  A store is checked like the verifier's
``check_buffer_access`` and the C assignment:

- through an in-argument (``PTR_TO_RDONLY_BUF``): a program fault (EACCES);
- to a name that is not a field of the struct: a fault (EACCES, out of the struct);
- a value of the wrong kind (a ``str`` into a ``__u64``, a ``FuseAttr`` where no struct
  goes, an array of the wrong length): a fault (EACCES);
- an integer out of the field's range is truncated to its width, as a C store is
  (``feo.nodeid = -1`` stores ``0xffffffffffffffff``).

A view held across another write to the same buffer (``set()`` or ``value = ...``) is a
snapshot of the moment it was taken; read ``.value`` again to see the buffer.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Callable
from typing import Any

from simfs import uapi

__all__ = ["frozen", "struct_view"]

#: Called with (errno, reason): raises the program fault (``_Run.fault``).
Fault = Callable[[int, str], Any]
#: Called with the whole top-level struct after a store: copies it into the buffer.
Commit = Callable[[Any], None]

_VIEW_CLASSES: dict[type, type] = {}


def _int_code_bits(code: str) -> tuple[int, bool]:
    """Width in bits and signedness of a ``struct`` format code (``Q``, ``I``, ``i``...)."""
    size = {"b": 8, "B": 8, "h": 16, "H": 16, "i": 32, "I": 32, "l": 32, "L": 32}.get(code, 64)
    return size, code.islower()


def _store_int(value: Any, code: str, where: str, fault: Fault) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        fault(errno.EACCES, f"{where}: a {code!r} field takes an int, not {type(value).__name__}")
    bits, signed = _int_code_bits(code)
    v = int(value) & ((1 << bits) - 1)  # a C store keeps the low bits
    if signed and v >= 1 << (bits - 1):
        v -= 1 << bits
    return v


class _StructView:
    """Mixin of the per-struct view classes (see :func:`struct_view`)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        hook: _Hook | None = getattr(self, "_simfs_hook", None)
        if hook is None:  # a detached copy (dataclasses.replace of a view): a local struct
            object.__setattr__(self, name, value)
            return
        target = f"{hook.where}.{name}"
        if not hook.writable:
            hook.fault(errno.EACCES, f"write to a read-only in_args buffer ({target})")
        layout = dict(type(self)._layout)  # type: ignore[attr-defined]
        if name not in layout:
            hook.fault(errno.EACCES, f"{target}: {type(self).__name__} has no such field")
        code = layout[name]
        if isinstance(code, str):
            stored: Any = _store_int(value, code, target, hook.fault)
        elif isinstance(code, tuple):
            if not isinstance(value, tuple | list) or len(value) != code[1]:
                hook.fault(errno.EACCES, f"{target}: an array field takes {code[1]} ints")
            stored = tuple(_store_int(v, code[0], target, hook.fault) for v in value)
        else:
            if not isinstance(value, code):
                hook.fault(
                    errno.EACCES,
                    f"{target}: takes a {code.__name__}, not {type(value).__name__}",
                )
            stored = _view(frozen(value), _Hook(hook.writable, hook.fault, (self, name), target))
        object.__setattr__(self, name, stored)
        hook.store(self)

    def __eq__(self, other: object) -> bool:
        return bool(frozen(self) == frozen(other))

    def __hash__(self) -> int:
        return hash(frozen(self))


@dataclasses.dataclass(frozen=True)
class _Hook:
    """Where a view's stores go: the top-level buffer (``commit``) or the parent view's
    field (``parent`` = (view, field name))."""

    writable: bool
    fault: Fault
    commit: Commit | tuple[Any, str] | None
    where: str

    def store(self, view: Any) -> None:
        """Copy ``view`` up: into its parent's field and on, or into the buffer."""
        if isinstance(self.commit, tuple):
            parent, name = self.commit
            object.__setattr__(parent, name, view)
            parent_hook: _Hook | None = getattr(parent, "_simfs_hook", None)
            if parent_hook is not None:
                parent_hook.store(parent)
        elif self.commit is not None:
            self.commit(frozen(view))


_BASES: dict[type, type] = {}


def _view_class(cls: type) -> type:
    vc = _VIEW_CLASSES.get(cls)
    if vc is None:
        vc = type(
            cls.__name__,
            (_StructView, cls),
            {"__slots__": ("_simfs_hook",), "__qualname__": cls.__qualname__},
        )
        _VIEW_CLASSES[cls] = vc
        _BASES[vc] = cls
    return vc


def _view(value: Any, hook: _Hook) -> Any:
    v: Any = object.__new__(_view_class(type(value)))
    for name, code in type(value)._layout:
        field = getattr(value, name)
        if isinstance(code, type):  # a nested struct: a view of its own, storing upwards
            field = _view(
                field, _Hook(hook.writable, hook.fault, (v, name), f"{hook.where}.{name}")
            )
        object.__setattr__(v, name, field)
    object.__setattr__(v, "_simfs_hook", hook)
    return v


def struct_view(value: Any, writable: bool, fault: Fault, commit: Commit, where: str) -> Any:
    """The pointer a program gets for a struct buffer holding ``value``: ``where`` names
    the argument in fault messages (``out_args[0].value``)."""
    if not isinstance(value, uapi.WireStruct):
        return value
    return _view(frozen(value), _Hook(writable, fault, commit, where))


def frozen(value: Any) -> Any:
    """The frozen wire struct a view (or a struct holding views) stands for; anything
    else unchanged."""
    if not isinstance(value, uapi.WireStruct):
        return value
    base = _BASES.get(type(value), type(value))
    fields = {}
    for name, code in base._layout:  # type: ignore[attr-defined]
        f = getattr(value, name)
        fields[name] = frozen(f) if isinstance(code, type) else f
    if type(value) is base and all(fields[n] is getattr(value, n) for n in fields):
        return value
    return base(**fields)
