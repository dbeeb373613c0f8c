"""Reading a clang-built BPF object: the Android selftests' loader, in pure Python.

Mirrors ``tools/testing/selftests/filesystems/fuse/bpf_loader.c`` (``install_elf_bpf``,
``install_maps``, ``relocate_maps``) as described in the spec: one program per ELF section
named by ``SEC("...")``; a legacy ``maps`` section of 32-byte ``struct fuse_bpf_map``
entries, one per symbol, each created as a map; every relocation of the program's section
patches a ``lddw`` to ``src_reg = BPF_PSEUDO_MAP_FD`` with the map's number.

Stricter than that loader (which patches every relocation as a map without looking), this
one refuses, with a :class:`LoadError` naming the symbol and saying what to do, anything it
cannot resolve: a call to an external or another section's function, a relocation against
``.rodata``/``.data``/``.bss`` (string literals and globals), a relocation on an instruction
that is not a ``lddw``, a missing section.  A file that is not a 64-bit little-endian ELF for
``EM_BPF`` (247) is refused too.  Errors carry ``errno`` (``EINVAL``, or ``ENOENT`` for a
missing section) so ``bpf_prog_load`` can fail the kernel's way.
"""

from __future__ import annotations

import errno
import io
import os
import struct
from dataclasses import dataclass, field

from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import Section, SymbolTableSection

from simfs.bpf.ebpf import isa
from simfs.bpf.ebpf.isa import Insn
from simfs.bpf.ebpf.maps import MAP_DEF_SIZE, BpfMap, MapError, parse_map_def

__all__ = ["EM_BPF", "LoadError", "MapDef", "ObjectFile", "ProgramSection", "read_object"]

EM_BPF = 247
SHF_EXECINSTR = 0x4
#: R_BPF_64_64 (lddw), R_BPF_64_ABS64, R_BPF_64_ABS32, R_BPF_64_NODYLD32, R_BPF_64_32 (call)
R_BPF_64_32 = 10


class LoadError(OSError):
    """An object the loader refuses: an ``OSError`` whose ``errno`` is what
    ``bpf(BPF_PROG_LOAD)`` fails with and whose message says what to do."""

    def __init__(self, reason: str, errno_value: int = errno.EINVAL) -> None:
        super().__init__(errno_value, reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"[{errno.errorcode.get(self.errno or 0, self.errno)}] {self.reason}"


@dataclass(frozen=True)
class MapDef:
    """One ``struct fuse_bpf_map`` of the ``maps`` section."""

    name: str
    offset: int
    raw: bytes

    def create(self) -> BpfMap:
        return parse_map_def(self.name, self.raw)


@dataclass(frozen=True)
class ProgramSection:
    """One program: its section name, function symbol(s) and relocated instructions."""

    section: str
    functions: tuple[str, ...]
    insns: tuple[Insn, ...]
    map_names: tuple[str, ...]


@dataclass
class ObjectFile:
    """What :func:`read_object` found: program sections, maps, the license."""

    path: str
    programs: dict[str, ProgramSection] = field(default_factory=dict)
    maps: list[MapDef] = field(default_factory=list)
    license: str = ""
    refused: dict[str, LoadError] = field(default_factory=dict)

    def program(self, section: str) -> ProgramSection:
        prog = self.programs.get(section)
        if prog is not None:
            return prog
        refused = self.refused.get(section)
        if refused is not None:
            raise refused
        have = ", ".join(sorted(self.programs)) or "none"
        raise LoadError(
            f"{self.path}: no program section {section!r} (sections with programs: {have})",
            errno.ENOENT,
        )


def _open(source: str | os.PathLike[str] | bytes | bytearray) -> tuple[str, bytes]:
    if isinstance(source, bytes | bytearray):
        return "<bytes>", bytes(source)
    path = os.fspath(source)
    try:
        with open(path, "rb") as f:
            return path, f.read()
    except OSError as e:
        raise LoadError(f"{path}: cannot read the object: {e.strerror}", e.errno or 0) from None


def read_object(source: str | os.PathLike[str] | bytes | bytearray) -> ObjectFile:
    """Parse an object file (a path or its bytes); raises :class:`LoadError`.

    A program section whose relocations cannot be resolved is kept in ``refused`` so the
    other sections of the file still load (and ``program(section)`` raises its error).
    """
    path, raw = _open(source)
    if raw[:4] != b"\x7fELF":
        raise LoadError(f"{path}: not an ELF file (no \\x7fELF magic)")
    try:
        elf = ELFFile(io.BytesIO(raw))
        if elf.elfclass != 64 or not elf.little_endian:
            raise LoadError(
                f"{path}: a BPF object is a 64-bit little-endian ELF (clang -target bpf)"
            )
        machine = elf.header["e_machine"]
        if machine not in ("EM_BPF", EM_BPF):
            raise LoadError(
                f"{path}: ELF machine is {machine}, not EM_BPF: compile with clang -target bpf"
            )
        return _read(elf, path)
    except LoadError:
        raise
    except ELFError as e:
        raise LoadError(f"{path}: malformed ELF: {e}") from None
    except (
        ValueError,
        KeyError,
        IndexError,
        OSError,
        ArithmeticError,
        struct.error,
        ConstructError,
    ) as e:
        # pyelftools raises these on truncated or corrupt headers and tables
        raise LoadError(f"{path}: malformed or truncated ELF: {type(e).__name__}: {e}") from None


def _section_name(elf: ELFFile, index: int) -> str:
    if index in ("SHN_UNDEF", 0):
        return ""
    if not isinstance(index, int):
        return str(index)
    return str(elf.get_section(index).name)


def _read(elf: ELFFile, path: str) -> ObjectFile:
    obj = ObjectFile(path)
    symtab = elf.get_section_by_name(".symtab")
    symbols = list(symtab.iter_symbols()) if isinstance(symtab, SymbolTableSection) else []
    maps_index = -1
    sections: list[tuple[int, Section]] = list(enumerate(elf.iter_sections()))
    for i, sec in sections:
        if sec.name == "maps":
            maps_index = i
            data = sec.data()
            for sym in symbols:
                if sym["st_shndx"] == i and sym["st_info"]["type"] in ("STT_OBJECT", "STT_NOTYPE"):
                    off = int(sym["st_value"])
                    if off + MAP_DEF_SIZE > len(data):
                        raise LoadError(
                            f"{path}: map {sym.name!r} runs past the maps section: declare maps "
                            f"as struct fuse_bpf_map (32 bytes)"
                        )
                    obj.maps.append(MapDef(sym.name, off, bytes(data[off : off + MAP_DEF_SIZE])))
        elif sec.name == "license":
            obj.license = sec.data().split(b"\0", 1)[0].decode("ascii", "replace")
    obj.maps.sort(key=lambda m: m.offset)
    for m in obj.maps:
        try:
            m.create()
        except MapError as e:
            raise LoadError(f"{path}: {e.reason}", e.errno) from None
    map_by_offset = {m.offset: n for n, m in enumerate(obj.maps)}
    relocs: dict[int, RelocationSection] = {}
    for _, sec in sections:
        if isinstance(sec, RelocationSection):
            relocs[int(sec["sh_info"])] = sec
    for i, sec in sections:
        if sec["sh_type"] != "SHT_PROGBITS" or not sec["sh_flags"] & SHF_EXECINSTR:
            continue
        if sec.data_size == 0:
            continue
        funcs = tuple(
            s.name
            for s in symbols
            if s["st_shndx"] == i and s["st_info"]["type"] == "STT_FUNC" and s.name
        )
        try:
            insns = isa.decode(sec.data())
            used: list[str] = []
            if i in relocs:
                insns = _relocate(
                    elf, path, sec.name, insns, relocs[i], symtab, maps_index, map_by_offset, obj
                )
                used = sorted({obj.maps[x.imm].name for x in insns if _is_map_lddw(x)})
        except isa.DecodeError as e:
            obj.refused[sec.name] = LoadError(f"{path}: section {sec.name!r}: {e}")
            continue
        except LoadError as e:
            obj.refused[sec.name] = e
            continue
        obj.programs[sec.name] = ProgramSection(sec.name, funcs, tuple(insns), tuple(used))
    return obj


def _is_map_lddw(ins: Insn) -> bool:
    return ins.is_lddw and ins.src == isa.BPF_PSEUDO_MAP_FD


def _relocate(
    elf: ELFFile,
    path: str,
    section: str,
    insns: list[Insn],
    rel: RelocationSection,
    symtab: Section | None,
    maps_index: int,
    map_by_offset: dict[int, int],
    obj: ObjectFile,
) -> list[Insn]:
    """``relocate_maps``: patch map ``lddw``s; refuse every other relocation."""
    out = list(insns)
    if not isinstance(symtab, SymbolTableSection):
        raise LoadError(
            f"{path}: section {section!r} has relocations but the object has no .symtab"
        )
    for r in rel.iter_relocations():
        offset = int(r["r_offset"])
        sym = symtab.get_symbol(int(r["r_info_sym"]))
        name = sym.name or _section_name(elf, sym["st_shndx"])
        where = f"{path}: section {section!r} insn {offset // 8}"
        if offset % 8 or offset // 8 >= len(out):
            raise LoadError(f"{where}: relocation offset {offset} is not an instruction")
        idx = offset // 8
        ins = out[idx]
        shndx = sym["st_shndx"]
        target = _section_name(elf, shndx)
        if shndx == "SHN_UNDEF":
            raise LoadError(
                f"{where}: call to or use of external symbol {name!r}, which nothing defines: "
                f"make it a helper call (e.g. (void *) 6 for bpf_trace_printk) or a "
                f"static inline function"
            )
        if ins.is_call:
            if target == section and ins.src == isa.BPF_PSEUDO_CALL:
                continue  # a call inside this section: clang already wrote the offset
            raise LoadError(
                f"{where}: call to function {name!r} in section {target!r}: the loader loads "
                f"one section; declare it static __always_inline or move it into {section!r}"
            )
        if not ins.is_lddw:
            raise LoadError(f"{where}: relocation against {name!r} on a non-lddw instruction")
        if shndx != maps_index:
            raise LoadError(
                f"{where}: relocation against {name!r} in section {target!r}: only maps can be "
                f"relocated (no .rodata/.data/.bss); build strings on the stack "
                f'(char fmt[] = "...") and declare maps in SEC("maps")'
            )
        value = int(sym["st_value"]) + ins.imm
        map_idx = map_by_offset.get(value)
        if map_idx is None:
            raise LoadError(f"{where}: relocation against {name!r} points at no map")
        out[idx] = Insn(ins.code, ins.dst, isa.BPF_PSEUDO_MAP_FD, ins.off, map_idx, map_idx)
        out[idx + 1] = Insn(0, 0, 0, 0, 0, 0, True)
    return out
