"""BPF maps a compiled FUSE program uses: ``BPF_MAP_TYPE_HASH`` and ``BPF_MAP_TYPE_ARRAY``.

Mirrors ``kernel/bpf/hashtab.c`` (``htab_map_lookup_elem``, ``htab_map_update_elem``,
``htab_map_delete_elem``) and ``kernel/bpf/arraymap.c`` (``array_map_*``), created from the
Android selftests' legacy ``maps`` section (``bpf_loader.c``'s ``install_maps``: one 32-byte
``struct fuse_bpf_map {unsigned int map_type; size_t key_size; size_t value_size;
unsigned int max_entries;}`` per symbol, ``BPF_MAP_CREATE`` with those four attributes).

A map is a ``dict`` from key bytes to a ``bytearray`` value, so Python code can inspect it
as it inspects a Python program's map; the interpreter hands the program a pointer into the
value's bytes (a lookup result is writable in place, as a map value is in the kernel).
"""

from __future__ import annotations

import errno
import struct

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_MAP_TYPE_ARRAY",
    "BPF_MAP_TYPE_HASH",
    "BPF_NOEXIST",
    "MAP_DEF_SIZE",
    "BpfMap",
    "MapError",
    "parse_map_def",
]

BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
#: sizeof(struct fuse_bpf_map) on a 64-bit host (u32, pad, size_t, size_t, u32, pad)
MAP_DEF_SIZE = 32
_MAP_DEF = struct.Struct("<I4xQQI4x")
#: KMALLOC_MAX_SIZE-ish bound on one value; map_create refuses absurd sizes with E2BIG
MAX_VALUE_SIZE = 1 << 20
MAX_ENTRIES = 1 << 20


class MapError(ValueError):
    """A map definition ``BPF_MAP_CREATE`` refuses; carries the errno."""

    def __init__(self, errno_value: int, reason: str) -> None:
        super().__init__(reason)
        self.errno = errno_value
        self.reason = reason


class BpfMap(dict[bytes, bytearray]):
    """One created map: ``{key bytes: value bytearray}`` plus its definition."""

    def __init__(
        self, name: str, map_type: int, key_size: int, value_size: int, max_entries: int
    ) -> None:
        super().__init__()
        self.name = name
        self.map_type = map_type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        if map_type == BPF_MAP_TYPE_ARRAY:
            # array_map_alloc: every element exists, zeroed
            for i in range(max_entries):
                self[i.to_bytes(4, "little")] = bytearray(value_size)

    def __repr__(self) -> str:
        kind = {BPF_MAP_TYPE_HASH: "hash", BPF_MAP_TYPE_ARRAY: "array"}[self.map_type]
        return (
            f"<BpfMap {self.name!r} {kind} key={self.key_size} value={self.value_size} "
            f"max_entries={self.max_entries} used={len(self)}>"
        )

    def lookup(self, key: bytes) -> bytearray | None:
        """``map_lookup_elem``: the value (shared, writable) or None."""
        return self.get(bytes(key))

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> int:  # type: ignore[override]
        """``map_update_elem``: 0 or a negative errno, as the helper returns."""
        key = bytes(key)
        if flags not in (BPF_ANY, BPF_NOEXIST, BPF_EXIST):
            return -errno.EINVAL
        if self.map_type == BPF_MAP_TYPE_ARRAY:
            # array_map_update_elem: index past the end -> E2BIG; all elements exist
            if int.from_bytes(key, "little") >= self.max_entries:
                return -errno.E2BIG
            if flags == BPF_NOEXIST:
                return -errno.EEXIST
            self[key][:] = value
            return 0
        cur = self.get(key)
        if cur is not None and flags == BPF_NOEXIST:
            return -errno.EEXIST
        if cur is None and flags == BPF_EXIST:
            return -errno.ENOENT
        if cur is None and len(self) >= self.max_entries:
            return -errno.E2BIG  # htab_map_update_elem: the table is full
        if cur is None:
            self[key] = bytearray(value)
        else:
            cur[:] = value  # in place: pointers the program holds see the new value
        return 0

    def delete(self, key: bytes) -> int:
        """``map_delete_elem``: arrays refuse (EINVAL), a missing key is ENOENT."""
        if self.map_type == BPF_MAP_TYPE_ARRAY:
            return -errno.EINVAL
        if self.pop(bytes(key), None) is None:
            return -errno.ENOENT
        return 0


def parse_map_def(name: str, raw: bytes) -> BpfMap:
    """Create a map from one ``struct fuse_bpf_map``; raises :class:`MapError`."""
    if len(raw) < MAP_DEF_SIZE:
        raise MapError(
            errno.EINVAL, f"map {name!r}: definition is {len(raw)} bytes, not {MAP_DEF_SIZE}"
        )
    map_type, key_size, value_size, max_entries = _MAP_DEF.unpack_from(raw)
    if map_type not in (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY):
        raise MapError(
            errno.EINVAL,
            f"map {name!r}: type {map_type} is not supported (1 = HASH, 2 = ARRAY)",
        )
    if key_size == 0 or value_size == 0 or max_entries == 0:
        raise MapError(errno.EINVAL, f"map {name!r}: zero key_size, value_size or max_entries")
    if map_type == BPF_MAP_TYPE_ARRAY and key_size != 4:
        raise MapError(errno.EINVAL, f"map {name!r}: an ARRAY map's key_size must be 4")
    if value_size > MAX_VALUE_SIZE or max_entries > MAX_ENTRIES or key_size > 512:
        raise MapError(errno.E2BIG, f"map {name!r}: too large for simfs")
    return BpfMap(name, map_type, key_size, value_size, max_entries)
