"""Build simfs's C filters into the BPF objects committed beside them, or check them.

    python3 -m simfs.bpf.filters.build            # rebuild every *.c here into *.o
    python3 -m simfs.bpf.filters.build --check    # rebuild in a temp dir; exit 1 if any
                                                  # program's instructions, relocations
                                                  # or maps differ from the committed .o

The objects are built with Debian's clang (``apt-get install clang``; clang 14 here) as
``clang -O2 -g0 -target bpf -mcpu=v1 -Wall -Werror -c NAME.c -o NAME.o`` from this
directory, so the file carries no path of the machine that built it.  ``--check`` compares
what loading depends on (each program section's bytes, its relocations by symbol name, the
``maps`` and ``license`` sections) rather than the whole file, so a different clang that
emits the same program passes and one that emits another program fails, naming the section.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

HERE = Path(__file__).resolve().parent
CFLAGS = ["-O2", "-g0", "-target", "bpf", "-mcpu=v1", "-Wall", "-Werror"]


def sources() -> list[Path]:
    return sorted(HERE.glob("*.c"))


def compile_one(src: Path, out: Path, clang: str = "clang") -> None:
    """Compile ``src`` (run from its directory) into ``out``; raises CalledProcessError."""
    subprocess.run(
        [clang, *CFLAGS, "-c", src.name, "-o", str(out)],
        cwd=src.parent,
        check=True,
    )


def fingerprint(raw: bytes) -> dict[str, bytes | tuple[tuple[int, str, int], ...]]:
    """What loading an object depends on: program bytes, relocations, maps, license."""
    elf = ELFFile(io.BytesIO(raw))
    symtab = elf.get_section_by_name(".symtab")
    out: dict[str, bytes | tuple[tuple[int, str, int], ...]] = {}
    for sec in elf.iter_sections():
        if sec.name in ("maps", "license") or (
            sec["sh_type"] == "SHT_PROGBITS" and sec["sh_flags"] & 0x4 and sec.data_size
        ):
            out[sec.name] = sec.data()
        elif isinstance(sec, RelocationSection) and symtab is not None:
            target = elf.get_section(sec["sh_info"]).name
            out[f"relocations of {target}"] = tuple(
                (
                    int(r["r_offset"]),
                    symtab.get_symbol(r["r_info_sym"]).name,  # type: ignore[attr-defined]
                    int(r["r_info_type"]),
                )
                for r in sec.iter_relocations()
            )
    return out


def check(clang: str = "clang") -> list[str]:
    """Rebuild into a temp dir; return one line per difference (empty: all equal)."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for src in sources():
            shutil.copy(src, Path(tmp) / src.name)
        for header in HERE.glob("*.h"):
            shutil.copy(header, Path(tmp) / header.name)
        for src in sources():
            committed = src.with_suffix(".o")
            fresh = Path(tmp) / committed.name
            compile_one(Path(tmp) / src.name, fresh, clang)
            if not committed.exists():
                problems.append(f"{committed.name}: not committed (run build.py)")
                continue
            old = fingerprint(committed.read_bytes())
            new = fingerprint(fresh.read_bytes())
            for name in sorted(set(old) | set(new)):
                if old.get(name) != new.get(name):
                    problems.append(f"{committed.name}: section {name!r} differs from a rebuild")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--clang", default="clang", help="the clang to use")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.clang)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("rebuild with: python3 -m simfs.bpf.filters.build", file=sys.stderr)
            return 1
        print(f"{len(sources())} filter sources match their committed objects")
        return 0
    for src in sources():
        compile_one(src, src.with_suffix(".o"), args.clang)
        print(f"built {src.with_suffix('.o').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
