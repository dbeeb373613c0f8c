"""``struct fuse_bpf_args`` in memory, as a compiled program's R1 points at it.

Layout from ACK ``include/uapi/linux/android_fuse.h`` (224 bytes on 64-bit)::

    0   u64 nodeid
    8   u32 opcode
    12  u32 error_in            (a negative errno, stored as u32)
    16  u32 in_numargs
    20  u32 out_numargs
    24  u32 flags
    28  (padding)
    32  struct fuse_bpf_in_arg in_args[5]  {u32 size; pad; const void *value, *end_offset}
    152 struct fuse_bpf_arg    out_args[3] {u32 size; pad; void *value, *end_offset}

Each used argument's ``value`` points at a buffer of its own holding the kernel's wire bytes
(``simfs.uapi.pack_value``: the struct, the NUL-terminated name, the data, the dirent
records); ``end_offset`` points just past the buffer's capacity.  Unused slots are zero.

What is writable follows ``fuse_prog_is_valid_access`` / ``check_buffer_access``: the context
itself and every in-argument buffer are read-only (a store faults ``EACCES``), each
out-argument buffer is writable up to ``end_offset``.  After the run, an out-argument whose
bytes changed is parsed back into its uapi value, exactly what a Python program's ``set()``
does; a record buffer's used size is the bytes up to the last record that parses.

Names.  A name (a ``str`` in-argument: the dentry name of LOOKUP, MKDIR, ...) sits in the
kernel in the dentry's inline ``d_iname[DNAME_INLINE_LEN]`` (32 bytes on 64-bit) when short:
``size`` and ``end_offset`` cover the name and its NUL, and the bytes after the NUL up to 32
are whatever an earlier name left in that slab object.  simfs maps the buffer as the name, its
NUL and zero bytes up to 32 (deterministic where the kernel is not), so an inlined ``strcmp``
that reads a few bytes past a short name's NUL reads zeros; reading past that (or past a
longer name's NUL) faults ``EACCES``, as the verifier's ``check_buffer_access`` refuses an
access past the buffer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from simfs import uapi
from simfs.bpf.ebpf.interp import Memory

__all__ = [
    "ARG_SIZE",
    "CTX_SIZE",
    "DNAME_INLINE_LEN",
    "IN_ARGS_OFFSET",
    "OUT_ARGS_OFFSET",
    "Context",
    "build_context",
]

CTX_SIZE = 224
IN_ARGS_OFFSET = 32
OUT_ARGS_OFFSET = IN_ARGS_OFFSET + uapi.FUSE_MAX_IN_ARGS * 24
ARG_SIZE = 24
#: include/linux/dcache.h, 64-bit
DNAME_INLINE_LEN = 32

_HEAD = struct.Struct("<QIIIII4x")
_ARG = struct.Struct("<I4xQQ")


@dataclass(eq=False)
class _Mapped:
    buf: Any  # simfs.bpf.ArgBuffer
    data: bytearray
    original: bytes
    writable: bool


@dataclass(eq=False)
class Context:
    """One run's context: the memory, R1, and the argument buffers to write back."""

    memory: Memory
    address: int
    mapped: list[_Mapped]

    def write_back(self) -> str | None:
        """Parse changed out-argument bytes back into their uapi values.

        Returns None, or the reason the bytes do not parse (the caller faults the run).
        """
        for m in self.mapped:
            if not m.writable or bytes(m.data) == m.original:
                continue
            reason = _store(m.buf, bytes(m.data))
            if reason is not None:
                return reason
        return None


def _pack(buf: Any) -> bytes:
    v = buf.value
    if v is None:
        return b""
    return uapi.pack_value(v)


def _store(buf: Any, raw: bytes) -> str | None:
    cur = buf.value
    if isinstance(cur, uapi.WireStruct):
        buf.value = type(cur).unpack(raw[: type(cur).SIZE])
        return None
    if isinstance(cur, str):
        nul = raw.find(b"\0")
        if nul < 0:
            return "the program left a name without its NUL"
        buf.value = raw[:nul].decode("utf-8", "surrogateescape")
        buf.size = nul + 1
        return None
    if isinstance(cur, bytes):
        buf.value = raw[: buf.size]
        return None
    if isinstance(cur, list):
        return _store_records(buf, raw)
    return f"cannot write back into a {type(cur).__name__} buffer"


def _store_records(buf: Any, raw: bytes) -> str | None:
    cur = buf.value
    kind = buf.kind
    rec_type: Any
    if kind == "direntplus" or (cur and isinstance(cur[0], uapi.FuseDirentplus)):
        rec_type = uapi.FuseDirentplus
    elif kind == "forget_ones":
        return "forget records are not writable"
    else:
        rec_type = uapi.FuseDirent
    out: list[Any] = []
    pos = 0
    used = buf.size
    while pos < used:
        try:
            rec = rec_type.unpack(raw[pos:used])
        except ValueError as e:
            return f"record at offset {pos} does not parse: {e}"
        if rec.record_size <= 0:
            break
        out.append(rec)
        pos += rec.record_size
    buf.value = out
    return None


def build_context(state: Any, memory: Memory | None = None) -> Context:
    """Lay ``state`` (``nodeid``, ``opcode``, ``error_in``, ``flags``, ``in_args``,
    ``out_args`` of :class:`simfs.bpf.ArgBuffer`) out in a fresh :class:`Memory`."""
    mem = memory if memory is not None else Memory()
    ctx = bytearray(CTX_SIZE)
    _HEAD.pack_into(
        ctx,
        0,
        state.nodeid & 0xFFFFFFFFFFFFFFFF,
        state.opcode & 0xFFFFFFFF,
        state.error_in & 0xFFFFFFFF,
        len(state.in_args),
        len(state.out_args),
        state.flags & 0xFFFFFFFF,
    )
    by_id: dict[int, tuple[int, _Mapped]] = {}
    out_ids = {id(b) for b in state.out_args}
    mapped: list[_Mapped] = []

    def place(buf: Any) -> tuple[int, int]:
        hit = by_id.get(id(buf))
        if hit is None:
            raw = _pack(buf)
            writable = id(buf) in out_ids
            capacity = max(buf.capacity, len(raw))
            room = capacity
            if isinstance(buf.value, str) and not writable:
                room = max(capacity, DNAME_INLINE_LEN)
            data = bytearray(raw) + bytearray(room - len(raw))
            m = _Mapped(buf, data, bytes(data), writable)
            name = f"{'out' if writable else 'in'}-arg buffer ({uapi.value_summary(buf.value)})"
            addr = mem.add(name, data, writable=writable)
            by_id[id(buf)] = (addr, m)
            mapped.append(m)
            return addr, capacity
        addr, m = hit
        return addr, max(buf.capacity, len(m.original))

    for i, buf in enumerate(state.in_args[: uapi.FUSE_MAX_IN_ARGS]):
        if buf.value is None:
            continue
        addr, capacity = place(buf)
        _ARG.pack_into(ctx, IN_ARGS_OFFSET + i * ARG_SIZE, buf.size, addr, addr + capacity)
    for i, buf in enumerate(state.out_args[: uapi.FUSE_MAX_OUT_ARGS]):
        if buf.value is None:
            continue
        addr, capacity = place(buf)
        _ARG.pack_into(ctx, OUT_ARGS_OFFSET + i * ARG_SIZE, buf.size, addr, addr + capacity)
    address = mem.add("ctx (struct fuse_bpf_args)", ctx, writable=False)
    return Context(mem, address, mapped)
