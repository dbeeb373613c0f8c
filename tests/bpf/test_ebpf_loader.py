"""simfs.bpf.load_object / list_sections: the ELF loader, its refusals, and compiled
programs used everywhere a Python program is (root_bpf, bpf_prog_load, bpf_mount)."""

from __future__ import annotations

import errno
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

import simfs
from simfs import uapi
from simfs.bpf import ArgBuffer, BpfProg, examples, list_sections, load_object, run_program
from simfs.bpf.ebpf.elf import LoadError
from simfs.bpf.ebpf.program import CompiledProgram
from simfs.bpf.filters import DIRECTORY, path
from simfs.testing import bpf_mount, errno_translation_machine, readonly_machine
from simfs.testing.profiles import machine_settings

SELFTESTS = path("selftests")
README = path("readme")
CLANG = shutil.which("clang")
needs_clang = pytest.mark.skipif(CLANG is None, reason="clang is not installed")


def build(tmp_path: Path, source: str, *extra: str) -> Path:
    src = tmp_path / "f.c"
    src.write_text('#include "fuse_bpf.h"\n' + source)
    out = tmp_path / "f.o"
    subprocess.run(
        [CLANG or "clang", "-O2", "-target", "bpf", f"-I{DIRECTORY}", *extra, "-c", str(src),
         "-o", str(out)],
        check=True,
    )  # fmt: skip
    return out


def test_list_sections_names_every_program_and_map() -> None:
    rows = {(r.kind, r.name): r.detail for r in list_sections(SELFTESTS)}
    assert ("program", "test_hidden") in rows
    assert rows[("map", "test_map")] == "array key=4 value=4 max_entries=1000"
    assert rows[("map", "test_map2")] == "hash key=4 value=4 max_entries=1000"
    assert "maps test_map" in rows[("program", "test_daemon")]


def test_load_object_takes_a_path_or_bytes_and_checks_the_program() -> None:
    a = load_object(SELFTESTS, "test_hidden")
    b = load_object(SELFTESTS.read_bytes(), "test_hidden")
    assert isinstance(a, simfs.bpf.Program) and isinstance(a, CompiledProgram)
    assert a.insns == b.insns
    assert "call bpf_trace_printk#6" in a.disasm()
    assert a.verifier_log  # the verifier's (or the structural check's) log


@pytest.mark.parametrize(
    ("data", "err", "match"),
    [
        (b"", errno.EINVAL, "not an ELF"),
        (b"hello world, not an object", errno.EINVAL, "not an ELF"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 9, errno.EINVAL, "truncated|malformed"),
    ],
)
def test_non_elf_and_truncated_files_are_refused(data: bytes, err: int, match: str) -> None:
    with pytest.raises(LoadError, match=match) as exc:
        load_object(data, "x")
    assert exc.value.errno == err and isinstance(exc.value, OSError)


def test_a_truncated_object_is_refused() -> None:
    raw = SELFTESTS.read_bytes()
    for cut in (64, len(raw) // 2, len(raw) - 8):
        with pytest.raises(LoadError):
            load_object(raw[:cut], "test_hidden")


def test_a_missing_section_is_enoent_and_names_the_sections() -> None:
    with pytest.raises(LoadError, match="test_hidden") as exc:
        load_object(SELFTESTS, "no_such_section")
    assert exc.value.errno == errno.ENOENT


@needs_clang
def test_wrong_machine_type_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "x.c"
    src.write_text("int f(void) { return 0; }\n")
    out = tmp_path / "x.o"
    subprocess.run([CLANG or "clang", "-c", str(src), "-o", str(out)], check=True)
    with pytest.raises(LoadError, match="EM_BPF"):
        load_object(out, ".text")


@needs_clang
def test_rodata_relocations_are_refused_naming_the_symbol(tmp_path: Path) -> None:
    obj = build(
        tmp_path,
        'const char *names[] = {"one", "two"};\n'
        'SEC("p") int prog(struct fuse_bpf_args *fa) { return names[fa->nodeid & 1][0]; }\n',
    )
    with pytest.raises(LoadError, match=r"names.*only maps can be relocated"):
        load_object(obj, "p")


@needs_clang
def test_calls_to_external_functions_are_refused(tmp_path: Path) -> None:
    obj = build(
        tmp_path,
        "extern int decide(__u64 nodeid);\n"
        'SEC("p") int prog(struct fuse_bpf_args *fa) { return decide(fa->nodeid); }\n',
    )
    with pytest.raises(LoadError, match="external symbol 'decide'"):
        load_object(obj, "p")


@needs_clang
def test_unknown_helpers_are_refused_at_load(tmp_path: Path) -> None:
    obj = build(
        tmp_path,
        "static long (*bpf_ktime_get_ns)(void) = (void *)5;\n"
        'SEC("p") int prog(struct fuse_bpf_args *fa) { return bpf_ktime_get_ns() & 2; }\n',
    )
    with pytest.raises(LoadError, match="5") as exc:
        load_object(obj, "p")
    assert exc.value.errno == errno.EINVAL


@needs_clang
def test_a_program_the_verifier_rejects_never_loads(tmp_path: Path) -> None:
    obj = build(
        tmp_path,
        'SEC("p") int prog(struct fuse_bpf_args *fa) {\n'
        "  char *name = (char *)fa->in_args[0].value; name[0] = 'x'; return 2; }\n",
    )
    with pytest.raises(LoadError) as exc:
        load_object(obj, "p")
    assert exc.value.errno == errno.EACCES  # a write into a read-only in-argument buffer


def test_each_load_gets_fresh_maps() -> None:
    prog = load_object(SELFTESTS, "test_daemon")
    k = simfs.Kernel()
    p = k.spawn()
    fd1 = p.bpf_prog_load(prog)
    fd2 = p.bpf_prog_load(prog)
    a = simfs.bpf.prog_from_fd(p, fd1)
    b = simfs.bpf.prog_from_fd(p, fd2)
    key = (23).to_bytes(4, "little")
    a.maps["test_map"][key][:] = (7).to_bytes(4, "little")
    assert b.maps["test_map"][key] == bytearray(4)
    assert prog.maps["test_map"][key] == bytearray(4)


def _mount(k: simfs.Kernel, prog: object) -> simfs.Process:
    k.lower.create_dir("/lower", perm_bits=0o755)
    k.lower.create_dir("/m", perm_bits=0o755)
    for name in (".hide", "show", "a"):
        k.lower.create_file(f"/lower/{name}", contents=b"x")
    k.mount_fuse("/m", root_dir="/lower", root_bpf=prog, no_daemon=True)
    return k.spawn()


def test_a_compiled_program_as_root_bpf_hides_a_name() -> None:
    k = simfs.Kernel()
    p = _mount(k, load_object(README, "hide_dotfiles"))
    assert p.stat("/m/show").st_size == 1
    with pytest.raises(FileNotFoundError):
        p.stat("/m/.hide")
    assert k.lower.exists("/lower/.hide")


def test_a_compiled_program_loaded_by_fd_works_as_root_bpf() -> None:
    k = simfs.Kernel()
    fd = k._admin().bpf_prog_load(load_object(README, "hide_dotfiles"))
    p = _mount(k, fd)
    with pytest.raises(FileNotFoundError):
        p.stat("/m/.hide")


def test_maps_are_updated_through_map_value_pointers() -> None:
    prog = load_object(SELFTESTS, "test_daemon")
    k = simfs.Kernel()
    loaded = BpfProg(prog, 1, dict(prog.maps))
    lookup = State(uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER, [ArgBuffer.of("x")], [])
    lookup.nodeid = 2  # below the root: BACKING (the root would add USER_FILTER)
    for _ in range(3):
        assert run_program(k, loaded, lookup, "pre") == uapi.FUSE_BPF_BACKING
    assert loaded.maps["test_map"][(23).to_bytes(4, "little")] == (3).to_bytes(4, "little")
    assert k.trace_pipe.read() == [
        "pid 0 uid 0 value 0", "Lookup: 2 x",
        "pid 0 uid 0 value 1", "Lookup: 2 x",
        "pid 0 uid 0 value 2", "Lookup: 2 x",
    ]  # fmt: skip


def run_on(prog: CompiledProgram, state: object) -> tuple[int, list[str]]:
    k = simfs.Kernel()
    loaded = BpfProg(prog, 1, dict(prog.maps))
    ret = run_program(k, loaded, state, "pre")
    return ret, k.trace_pipe.read()


class State:
    def __init__(self, opcode: int, ins: list[ArgBuffer], outs: list[ArgBuffer]) -> None:
        self.opcode, self.nodeid, self.error_in, self.flags = opcode, 1, 0, 0
        self.in_args, self.out_args = ins, outs


def test_out_argument_writes_flow_back_into_the_engine() -> None:
    prog = load_object(SELFTESTS, "test_trace")
    out = ArgBuffer.of(uapi.FuseEntryOut(nodeid=9))
    ret, lines = run_on(
        prog, State(uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER, [ArgBuffer.of("real")], [out])
    )
    assert ret == 0 and out.value.nodeid == 5 and lines == ["post-lookup real 5"]


@needs_clang
def test_reading_past_a_short_name_sees_zeros_then_faults(tmp_path: Path) -> None:
    obj = build(
        tmp_path,
        'SEC("p") int prog(struct fuse_bpf_args *fa) {\n'
        "  const char *n = fa->in_args[0].value;\n"
        "  if (fa->nodeid == 1) return n[20] == 0 ? 2 : -1;\n"
        "  return n[40] == 0 ? 2 : -1; }\n",
    )
    prog = load_object(obj, "p")
    state = State(uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER, [ArgBuffer.of("ab")], [])
    assert run_on(prog, state)[0] == uapi.FUSE_BPF_BACKING  # inside d_iname: zero
    state.nodeid = 2
    assert run_on(prog, state)[0] == -errno.EACCES  # past the 32-byte buffer: a fault


@needs_clang
def test_a_run_time_fault_fails_the_operation_and_leaves_the_lower_alone(
    tmp_path: Path,
) -> None:
    obj = build(
        tmp_path,
        'SEC("p") int prog(struct fuse_bpf_args *fa) {\n'
        "  const char *n = fa->in_args[1].value;\n"
        "  if (fa->opcode == (FUSE_MKDIR | FUSE_PREFILTER)) return n[200];\n"
        "  return FUSE_BPF_BACKING; }\n",
    )
    k = simfs.Kernel()
    p = _mount(k, load_object(obj, "p"))
    with pytest.raises(PermissionError) as exc:
        p.mkdir("/m/newdir")
    assert exc.value.errno == errno.EACCES
    assert not k.lower.exists("/lower/newdir")
    faults = list(k.trace.of("bpf_fault"))
    assert faults and "insn" in faults[0].data["reason"]
    assert p.stat("/m/a").st_size == 1  # the simulator is still usable


@needs_clang
def test_a_loop_that_never_ends_is_refused_or_stopped(tmp_path: Path) -> None:
    obj = build(
        tmp_path,
        'SEC("p") int prog(struct fuse_bpf_args *fa) {\n'
        "  volatile __u64 n = fa->nodeid; while (n) n++; return 2; }\n",
    )
    with pytest.raises(LoadError) as exc:
        load_object(obj, "p")
    assert exc.value.errno in (errno.EINVAL, errno.E2BIG)


def test_vocabulary_holds_the_names_and_errnos_a_program_compares() -> None:
    compiled = load_object(SELFTESTS, "test_hidden").vocabulary()
    python = examples.test_hidden.vocabulary()
    assert {"hide", "show", "Lookup: %s"} <= compiled
    assert {"hide", "show", "Lookup: %s"} <= python
    assert uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER in compiled
    gate = load_object(SELFTESTS, "test_mount_gate").vocabulary()
    assert {"test", "folder1", "folder2"} <= gate


def test_readme_read_only_filter_never_changes_the_lower_tree() -> None:
    factory = bpf_mount(lambda: load_object(README, "read_only"))
    run_state_machine_as_test(
        readonly_machine(factory, name="CompiledReadOnly"), settings=machine_settings()
    )


def test_readme_errno_translation_changes_only_the_errno() -> None:
    from simfs.testing.machines import ack_differences

    factory = bpf_mount(lambda: load_object(README, "errno_translation"))
    machine = errno_translation_machine(
        factory,
        {errno.ENODATA: errno.EPERM, errno.ENOTEMPTY: errno.EBUSY},
        must_translate=lambda op, err: err == errno.ENODATA and op in ("removexattr", "setxattr"),
        allow=ack_differences,
        name="CompiledErrnoTranslator",
    )
    run_state_machine_as_test(machine, settings=machine_settings())


def test_readme_hide_dotfiles_hides_from_lookup() -> None:
    k = simfs.Kernel()
    k.lower.create_dir("/lower", perm_bits=0o755)
    k.lower.create_dir("/m", perm_bits=0o755)
    k.lower.create_file("/lower/.secret", contents=b"s")
    k.lower.create_file("/lower/plain", contents=b"p")
    k.mount_fuse("/m", root_dir="/lower", root_bpf=load_object(README, "hide_dotfiles"),
                 no_daemon=True)  # fmt: skip
    p = k.spawn()
    with pytest.raises(FileNotFoundError):
        p.stat("/m/.secret")
    assert p.stat("/m/plain").st_size == 1


def _readme_block(lang: str) -> str:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Compiled filters: from C source to property test", 1)[1]
    block = re.search(rf"```{lang}\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1)


def test_readme_compiled_filters_python_example_runs() -> None:
    namespace: dict[str, object] = {}
    exec(compile(_readme_block("python"), "README.md", "exec"), namespace)
    assert namespace["prog"].name == "read_only"  # type: ignore[attr-defined]
    namespace["TestReadOnly"]("runTest").runTest()  # type: ignore[operator]


@needs_clang
def test_readme_c_example_compiles_loads_and_denies(tmp_path: Path) -> None:
    src = tmp_path / "filter.c"
    src.write_text(_readme_block("c"))
    out = tmp_path / "filter.o"
    subprocess.run(
        [CLANG or "clang", "-O2", "-target", "bpf", f"-I{DIRECTORY}", "-c", str(src), "-o",
         str(out)],
        check=True,
    )  # fmt: skip
    k = simfs.Kernel()
    p = _mount(k, load_object(out, "read_only"))
    with pytest.raises(OSError) as exc:
        p.mkdir("/m/d")
    assert exc.value.errno == errno.EROFS and not k.lower.exists("/lower/d")
    assert p.stat("/m/a").st_size == 1


def test_python_printk_reads_int_conversions_as_the_kernel_does() -> None:
    @simfs.bpf.program("p")
    def prog(fa: simfs.bpf.FuseBpfArgs) -> int:
        simfs.bpf.printk("%d %x %lu", (1 << 32) + 5, (1 << 40) + 1, 1 << 40)
        simfs.bpf.printk("%d %u %lld", 0xFFFFFFFE, -2, -2)
        return uapi.FUSE_BPF_BACKING

    k = simfs.Kernel()
    state = State(uapi.FUSE_GETATTR | uapi.FUSE_PREFILTER, [], [])
    run_program(k, BpfProg(prog, 1, {}), state, "pre")
    # bpf_bprintf_prepare: without 'l' an argument is a C int (its low 32 bits)
    assert k.trace_pipe.read() == ["5 1 1099511627776", "-2 4294967294 -2"]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(SELFTESTS.read_bytes()) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    ),
    header_edit=st.tuples(st.integers(0, 63), st.integers(0, 255)),
    cut=st.none() | st.integers(0, len(SELFTESTS.read_bytes())),
)
def test_corrupt_objects_are_refused_never_crash(
    edits: list[tuple[int, int]], header_edit: tuple[int, int], cut: int | None
) -> None:
    raw = bytearray(SELFTESTS.read_bytes())
    for pos, value in [*edits, header_edit]:
        raw[pos] = value
    data = bytes(raw[:cut] if cut is not None else raw)
    for attempt_load in (
        lambda: load_object(data, "test_hidden"),
        lambda: list_sections(data),
    ):
        try:
            attempt_load()
        except OSError as e:  # LoadError: a refusal with an errno
            assert e.errno in (errno.EINVAL, errno.ENOENT, errno.EACCES, errno.E2BIG, errno.EBADF)


@needs_clang
def test_dirent_records_written_by_a_program_flow_back(tmp_path: Path) -> None:
    obj = build(
        tmp_path,
        'SEC("p") int prog(struct fuse_bpf_args *fa) {\n'
        "  struct fuse_dirent *d = fa->out_args[1].value;\n"
        "  d->ino = 77; d->name[0] = 'X'; return 0; }\n",
    )
    page = [uapi.FuseDirent(ino=1, off=1, type=8, name="abc"),
            uapi.FuseDirent(ino=2, off=2, type=4, name="sub")]  # fmt: skip
    records = ArgBuffer.of(page, "dirents", capacity=4096)
    state = State(
        uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER,
        [ArgBuffer.of(uapi.FuseReadIn(fh=1))],
        [ArgBuffer.of(uapi.FuseReadOut()), records],
    )
    assert run_on(load_object(obj, "p"), state)[0] == 0
    assert records.value == [
        uapi.FuseDirent(ino=77, off=1, type=8, name="Xbc"),
        uapi.FuseDirent(ino=2, off=2, type=4, name="sub"),
    ]


class DotfileRedactor(simfs.Daemon):
    """The daemon half of the C hide_dotfiles: drops dotfiles from READDIR pages."""

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER:
            _read_in, read_out, dirents = req.args
            kept = [d for d in dirents if d.name in (".", "..") or not d.name.startswith(".")]
            return simfs.Reply(read_out, kept)
        if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None
        return simfs.Reply.error(errno.ENOSYS)


def test_readme_hide_dotfiles_with_its_daemon_never_reveals_a_dotfile() -> None:
    from simfs.testing import hiding_machine

    factory = bpf_mount(lambda: load_object(README, "hide_dotfiles"), daemon=DotfileRedactor)
    run_state_machine_as_test(
        hiding_machine(factory, (".secret", ".private"), name="CompiledHideDotfiles"),
        settings=machine_settings(),
    )
