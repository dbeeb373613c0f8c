"""``simfs bpf check`` and ``simfs bpf disasm`` on compiled objects (issue 18, item 8)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from simfs.__main__ import main
from simfs.bpf.ebpf import isa
from simfs.bpf.ebpf.elf import read_object

FILTERS = Path(__file__).resolve().parents[2] / "simfs" / "bpf" / "filters"
SELFTESTS = FILTERS / "selftests.o"
CLANG = shutil.which("clang")

BAD_C = """#include "fuse_bpf.h"
SEC("good") int good_filter(struct fuse_bpf_args *fa)
{
	return fa->opcode == PRE(FUSE_LOOKUP) ? FUSE_BPF_BACKING : 0;
}
SEC("bad") int bad_filter(struct fuse_bpf_args *fa)
{
	fa->flags = 1;
	return FUSE_BPF_BACKING;
}
"""


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def bad_object(tmp_path: Path) -> Path:
    if CLANG is None:
        pytest.skip("clang is not installed (apt-get install clang)")
    src = tmp_path / "two.c"
    src.write_text(BAD_C)
    obj = tmp_path / "two.o"
    subprocess.run(
        [CLANG, "-O2", "-target", "bpf", "-I", str(FILTERS), "-c", str(src), "-o", str(obj)],
        check=True,
        capture_output=True,
    )
    return obj


def test_check_accepts_every_shipped_program(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "bpf", "check", "-q", str(SELFTESTS))
    assert code == 0, out + err
    names = read_object(SELFTESTS).programs
    for name in names:
        assert f"{name}: accepted (" in out
    assert "rejected" not in out


def test_check_one_section_prints_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "bpf", "check", str(SELFTESTS), "test_hidden")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("test_hidden: accepted (")
    assert lines[1] == "0: R1=ctx() R10=fp0"
    assert any(line.startswith("0: (61) r3 = *(u32 *)(r1 +8)") for line in lines)
    assert lines[-1].startswith("processed ")


def test_check_refusal_exits_1_with_errno_and_reason(
    capsys: pytest.CaptureFixture[str], bad_object: Path
) -> None:
    code, out, _ = run_cli(capsys, "bpf", "check", str(bad_object))
    assert code == 1
    assert "good: accepted (" in out
    assert "bad: rejected, EACCES: invalid bpf_context access off=24 size=4" in out
    code, out, _ = run_cli(capsys, "bpf", "check", "-q", str(bad_object), "good")
    assert code == 0 and "bad" not in out
    # ACK's earlier rule refused scalar writes too
    code, out, _ = run_cli(capsys, "bpf", "check", "-q", "--access", "legacy", str(bad_object))
    assert code == 1


def test_disasm_prints_what_the_verifier_log_prints(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "bpf", "disasm", str(SELFTESTS), "test_simple")
    assert code == 0
    prog = read_object(SELFTESTS).programs["test_simple"]
    assert isa.format_program(prog.insns) in out
    assert (
        out.splitlines()[0]
        == f"test_simple: {sum(not i.is_lddw_tail for i in prog.insns)} instructions"
    )
    assert "map[id:0]" in out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.o", "cannot read the object"),
        (lambda d: _write(d / "text.o", b"hello, not an object\n"), "not an ELF file"),
        (lambda d: _write(d / "cut.o", SELFTESTS.read_bytes()[:200]), "malformed"),
    ],
    ids=["missing", "not-elf", "truncated"],
)
@pytest.mark.parametrize("action", ["check", "disasm"])
def test_bad_input_exits_2_with_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make: object, message: str, action: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    code, out, err = run_cli(capsys, "bpf", action, str(path))
    assert code == 2
    assert out == ""
    assert err.startswith(f"simfs bpf {action}: error: ") and message in err
    assert "Traceback" not in err


def test_wrong_machine_and_missing_section_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "bpf", "check", shutil.which("ls") or "/bin/ls")
    assert code == 2 and "not EM_BPF" in err
    code, _, err = run_cli(capsys, "bpf", "check", str(SELFTESTS), "no_such_section")
    assert code == 2 and "no program section 'no_such_section'" in err


def test_buffer_limit_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "bpf", "check", "--buffer-limit", "lots", str(SELFTESTS))
    assert code == 2 and "--buffer-limit takes a number or 'none'" in err
    code, _, _ = run_cli(capsys, "bpf", "check", "-q", "--buffer-limit", "none", str(SELFTESTS))
    assert code == 0


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    # the real process: exit status and stderr, no traceback
    import sys

    bad = tmp_path / "x.o"
    bad.write_bytes(b"\x7fELF")
    proc = subprocess.run(
        [sys.executable, "-m", "simfs", "bpf", "check", str(bad)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "simfs bpf check: error:" in proc.stderr


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_section_the_loader_refuses_is_a_rejection(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    if CLANG is None:
        pytest.skip("clang is not installed (apt-get install clang)")
    src = tmp_path / "glob.c"
    src.write_text(
        '#include "fuse_bpf.h"\n'
        "__u32 counter;\n"
        'SEC("uses_global") int bump(struct fuse_bpf_args *fa)\n'
        "{\n\tcounter++;\n\treturn FUSE_BPF_BACKING;\n}\n"
    )
    obj = tmp_path / "glob.o"
    subprocess.run(
        [CLANG, "-O2", "-target", "bpf", "-I", str(FILTERS), "-c", str(src), "-o", str(obj)],
        check=True,
        capture_output=True,
    )
    code, out, _ = run_cli(capsys, "bpf", "check", str(obj))
    assert code == 1
    assert "uses_global: rejected by the loader, EINVAL" in out
    assert "counter" in out  # the message names the symbol


def test_log_level_two_shows_every_path(capsys: pytest.CaptureFixture[str]) -> None:
    _, one, _ = run_cli(capsys, "bpf", "check", str(SELFTESTS), "test_error")
    _, two, _ = run_cli(capsys, "bpf", "check", "--log-level", "2", str(SELFTESTS), "test_error")
    assert "from " not in one and "from " in two
    assert len(two.splitlines()) > len(one.splitlines())
