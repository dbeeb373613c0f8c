"""The helpers a compiled FUSE program may call, by ACK's numbers.

Mirrors ACK ``kernel/bpf/bpf_fuse.c`` ``fuse_prog_func_proto`` (the FUSE program type
offers ``bpf_trace_printk``, ``bpf_get_current_uid_gid``, ``bpf_get_current_pid_tgid``, and
the map helpers through ``bpf_base_func_proto``) with the behaviour of
``kernel/bpf/helpers.c`` and ``kernel/trace/bpf_trace.c``:

====  ===========================  ==========================================================
id    helper                       simfs behaviour
====  ===========================  ==========================================================
1     bpf_map_lookup_elem(map,key)  pointer to the value (writable in place) or NULL
2     bpf_map_update_elem(map,key,  0 or -EEXIST/-ENOENT/-E2BIG/-EINVAL (``htab``/``array``)
      value,flags)
3     bpf_map_delete_elem(map,key)  0, -ENOENT, or -EINVAL on an ARRAY map
6     bpf_trace_printk(fmt,size,    the line into ``k.trace_pipe``; returns its length, or
      a1,a2,a3)                     -EINVAL for a bad format (``bpf_bprintf_prepare``)
14    bpf_get_current_pid_tgid()    tgid << 32 | pid of the calling process
15    bpf_get_current_uid_gid()     gid << 32 | uid of the calling process's credentials
====  ===========================  ==========================================================

Any other id is refused when the object is loaded (``check_helper_call``: "invalid func
unknown#N", ``-EINVAL``).

``bpf_trace_printk``'s format subset (``bpf_bprintf_prepare``): ``%d %i %u %x %X`` with no,
``l`` or ``ll`` length (without ``l`` the argument is its low 32 bits, as a C ``int``),
``%c``, ``%s`` (a NUL-terminated string read from the program's memory, at most 512 bytes;
simfs prints an unreadable pointer as the empty string), ``%p``/``%px`` (simfs prints the
value in hex; the kernel hashes a plain ``%p``), ``%%``; at most three conversions; the
format must end with its NUL within ``fmt_size``.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

from simfs.bpf.ebpf.interp import MAP_HANDLE_BASE, EbpfFault, Machine

__all__ = [
    "FUSE_HELPERS",
    "MAP_HANDLE_BASE",
    "BPF_FUNC_get_current_pid_tgid",
    "BPF_FUNC_get_current_uid_gid",
    "BPF_FUNC_map_delete_elem",
    "BPF_FUNC_map_lookup_elem",
    "BPF_FUNC_map_update_elem",
    "BPF_FUNC_trace_printk",
    "RunData",
    "format_printk",
]

BPF_FUNC_map_lookup_elem = 1
BPF_FUNC_map_update_elem = 2
BPF_FUNC_map_delete_elem = 3
BPF_FUNC_trace_printk = 6
BPF_FUNC_get_current_pid_tgid = 14
BPF_FUNC_get_current_uid_gid = 15

#: the bytes a ``%s`` argument may contribute (MAX_BPRINTF_BUF)
MAX_PRINTK_STR = 512


class RunData:
    """What the helpers need from the caller: the kernel, the loaded program's maps."""

    def __init__(self, kernel: Any, maps: list[Any], prog_name: str) -> None:
        self.kernel = kernel
        self.maps = maps
        self.prog_name = prog_name
        self.value_addr: dict[int, int] = {}


def _data(vm: Machine) -> RunData:
    data = vm.data
    assert isinstance(data, RunData)
    return data


def _map(vm: Machine, handle: int, what: str) -> Any:
    maps = _data(vm).maps
    idx = handle - MAP_HANDLE_BASE
    if not 0 <= idx < len(maps):
        raise EbpfFault(errno.EACCES, f"{what}: R1 is not a map (value {handle:#x})", vm.pc)
    return maps[idx]


def _mem(vm: Machine, addr: int, size: int, what: str) -> bytes:
    try:
        return vm.memory.read(addr, size)
    except EbpfFault as f:
        raise EbpfFault(f.errno, f"{what}: {f.reason}", vm.pc) from None


def map_lookup_elem(vm: Machine, r1: int, r2: int, *_: int) -> int:
    m = _map(vm, r1, "bpf_map_lookup_elem")
    value = m.lookup(_mem(vm, r2, m.key_size, "bpf_map_lookup_elem key"))
    if value is None:
        return 0
    data = _data(vm)
    addr = data.value_addr.get(id(value))
    if addr is None:
        addr = vm.memory.add(f"map {m.name!r} value", value, writable=True)
        data.value_addr[id(value)] = addr
    return addr


def map_update_elem(vm: Machine, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    m = _map(vm, r1, "bpf_map_update_elem")
    key = _mem(vm, r2, m.key_size, "bpf_map_update_elem key")
    value = _mem(vm, r3, m.value_size, "bpf_map_update_elem value")
    return int(m.update(key, value, r4)) & 0xFFFFFFFFFFFFFFFF


def map_delete_elem(vm: Machine, r1: int, r2: int, *_: int) -> int:
    m = _map(vm, r1, "bpf_map_delete_elem")
    return int(m.delete(_mem(vm, r2, m.key_size, "bpf_map_delete_elem key"))) & (2**64 - 1)


def format_printk(vm: Machine, fmt: bytes, args: tuple[int, ...]) -> str | None:
    """``bpf_bprintf_prepare`` + ``bstr_printf``: the line, or None for a bad format."""
    out: list[str] = []
    i = 0
    ai = 0
    n = len(fmt)
    text = fmt.decode("latin-1")
    while i < n:
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        j = i + 1
        if j < n and text[j] == "%":
            out.append("%")
            i = j + 1
            continue
        flags = ""
        while j < n and text[j] in "-+ #0":
            flags += text[j]
            j += 1
        width = ""
        while j < n and text[j].isdigit():
            width += text[j]
            j += 1
        longs = 0
        while j < n and text[j] == "l":
            longs += 1
            j += 1
        if j >= n or ai >= 3:
            return None  # bpf_bprintf_prepare: too many conversions or a cut one -> EINVAL
        conv = text[j]
        arg = args[ai]
        ai += 1
        if conv == "p":
            # %p, %px, %pK...: simfs prints the value in hex (the kernel hashes plain %p)
            if j + 1 < n and text[j + 1] in "xK":
                j += 1
            out.append(f"{arg:x}")
        elif conv in "diuxX":
            if longs == 0:
                arg &= 0xFFFFFFFF
                if conv in "di" and arg & 0x80000000:
                    arg -= 1 << 32
            elif conv in "di" and arg & (1 << 63):
                arg -= 1 << 64
            pyconv = "d" if conv in "diu" else conv
            out.append(("%" + flags + width + pyconv) % arg)
        elif conv == "c":
            out.append(chr(arg & 0xFF))
        elif conv == "s":
            if j + 1 < n and not (text[j + 1].isspace() or _ispunct(text[j + 1])):
                return None  # bpf_bprintf_prepare: %s must end at a space or punctuation
            try:
                s = vm.memory.read_cstr(arg, MAX_PRINTK_STR)
            except EbpfFault:
                s = b""
            out.append(("%" + flags + width + "s") % s.decode("utf-8", "surrogateescape"))
        else:
            return None  # unsupported conversion -> EINVAL
        i = j + 1
    return "".join(out)


def _ispunct(c: str) -> bool:
    return 0x21 <= ord(c) <= 0x7E and not c.isalnum()


def trace_printk(vm: Machine, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    if r2 == 0 or r2 > 1 << 16:
        return (-errno.EINVAL) & (2**64 - 1)
    fmt = _mem(vm, r1, r2, "bpf_trace_printk fmt")
    if fmt[-1] != 0:
        return (-errno.EINVAL) & (2**64 - 1)  # bpf_bprintf_prepare: fmt not NUL-terminated
    line = format_printk(vm, fmt[: fmt.index(b"\0")], (r3, r4, r5))
    if line is None:
        return (-errno.EINVAL) & (2**64 - 1)
    line = line.rstrip("\n")
    data = _data(vm)
    data.kernel.trace_pipe.write(line)
    data.kernel.hooks.emit("printk", line=line, prog=data.prog_name)
    return len(line)


def get_current_pid_tgid(vm: Machine, *_: int) -> int:
    cur = _data(vm).kernel.current
    pid = cur.pid if cur is not None else 0
    return (pid << 32) | pid


def get_current_uid_gid(vm: Machine, *_: int) -> int:
    cur = _data(vm).kernel.current
    uid = cur.cred.uid if cur is not None else 0
    gid = cur.cred.gid if cur is not None else 0
    return (gid << 32) | uid


#: ``fuse_prog_func_proto``: id -> implementation
FUSE_HELPERS: dict[int, Callable[..., int]] = {
    BPF_FUNC_map_lookup_elem: map_lookup_elem,
    BPF_FUNC_map_update_elem: map_update_elem,
    BPF_FUNC_map_delete_elem: map_delete_elem,
    BPF_FUNC_trace_printk: trace_printk,
    BPF_FUNC_get_current_pid_tgid: get_current_pid_tgid,
    BPF_FUNC_get_current_uid_gid: get_current_uid_gid,
}
