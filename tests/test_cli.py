"""The ``simfs`` command line, driven through ``main([...])`` with captured output."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simfs.__main__ import main
from simfs.scenarios import discover

NAMES = list(discover()[0])


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables wider than 80 columns stay one row per line (rich reads COLUMNS)."""
    monkeypatch.setenv("COLUMNS", "200")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def scenario_dir(tmp_path: Path) -> Path:
    """A scenario directory with one good, one failing and one broken scenario."""
    (tmp_path / "good.py").write_text(
        textwrap.dedent(
            '''
            """A bind mount shows the lower tree.

            Used by the CLI tests.
            """
            from simfs.scenarios import LOWER

            TITLE = "Good"

            def setup(k):
                k.lower.create_file(f"{LOWER}/f", contents="x")

            def mount(k, target):
                return k.mount_bind(LOWER, target)

            def workload(k, target):
                return {"listing": k.spawn().listdir(target)}

            def check(result):
                assert result.seen["listing"] == ["f"]
                assert result.transitions == 0
            '''
        )
    )
    (tmp_path / "failing.py").write_text(
        (tmp_path / "good.py")
        .read_text()
        .replace('TITLE = "Good"', 'TITLE = "Failing"')
        .replace('== ["f"]', '== ["nope"], "the listing differs"')
    )
    (tmp_path / "broken.py").write_text('"""No TITLE and no functions."""\n')
    (tmp_path / "_helper.py").write_text("raise RuntimeError('never imported')\n")
    return tmp_path


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for cmd in ("list", "run", "compare", "bench"):
        assert cmd in out
    for cmd, option in (("run", "--view"), ("compare", "name"), ("bench", "--quick"), ("list", "")):
        code, out, _ = run_cli(capsys, cmd, "--help")
        assert code == 0 and f"usage: simfs {cmd}" in out and option in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys)
    assert code == 2 and "usage: simfs" in out


def test_list_shows_the_scenario_library(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    assert len(NAMES) >= 8
    for name in NAMES:
        assert name in out
    assert "could not load" not in out


@pytest.mark.parametrize("command", ["run", "compare"])
def test_unknown_name_lists_what_exists(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, err = run_cli(capsys, command, "no-such-scenario")
    assert code == 2
    assert "unknown scenario 'no-such-scenario'" in err
    for name in NAMES:
        assert name in err
    assert out == ""


def test_unknown_name_suggests_a_close_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run", "passthru")
    assert code == 2 and "did you mean 'passthrough'" in err


def test_bad_view_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run", "passthrough", "--view", "pie")
    assert code == 2 and "invalid choice" in err


def test_run_tree(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "run", "passthrough")
    assert code == 0, out
    assert "Pure passthrough" in out  # the lesson
    assert "open(" in out and "FUSE" in out  # the tree
    assert "0 user↔kernel transitions" in out
    assert "check passed" in out


def test_run_table_view(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "run", "classic", "--view", "table", "--no-doc")
    assert code == 0, out
    assert "Daemon requests" in out and "Per-opcode counters" in out
    assert "LOOKUP" in out and "check passed" in out
    assert "Classic FUSE:" not in out  # --no-doc


def test_run_json_view_is_pure_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "run", "hidden_files", "--view", "json")
    assert code == 0
    events = json.loads(out)
    assert events and all("kind" in e for e in events)
    assert any(e["kind"] == "syscall" for e in events)


def test_compare(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "compare", "passthrough")
    assert code == 0, out
    labels = ("bind mount", "classic FUSE", "FUSE-BPF passthrough", "upstream passthrough")
    for label in (*labels, "this scenario"):
        assert label in out
    row = next(ln for ln in out.splitlines() if "transitions" in ln)
    cells = [c.strip() for c in row.split("│")[2:-1]]
    assert cells[0] == "0" and int(cells[1]) > 0 and cells[2] == "0" and cells[4] == "0"
    # mainline passthrough (issue 15): fewer round trips than classic (no READ/WRITE), not 0
    assert 0 < int(cells[3]) < int(cells[1])


def test_custom_scenario_dir(capsys: pytest.CaptureFixture[str], scenario_dir: Path) -> None:
    code, out, _ = run_cli(capsys, "--scenarios", str(scenario_dir), "list")
    assert code == 0
    assert "good" in out and "failing" in out
    assert "could not load broken" in out and "lacks TITLE" in out
    assert "_helper" not in out
    code, out, _ = run_cli(capsys, "--scenarios", str(scenario_dir), "run", "good")
    assert code == 0 and "check passed" in out
    code, out, _ = run_cli(capsys, "--scenarios", str(scenario_dir), "run", "failing")
    assert code == 1 and "check failed: the listing differs" in out
    code, _, err = run_cli(capsys, "--scenarios", str(scenario_dir), "run", "broken")
    assert code == 2 and "failed to load" in err


def test_bench_quick_prints_tables(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "bench", "--quick", "--sizes", "20,40", "--seconds", "0.005")
    assert code == 0
    assert "Operations per second" in out and "pyfakefs" in out
    for op in ("stat", "open+read+close", "create+unlink", "readdir"):
        assert op in out
    assert "Scaling with directory size" in out and "40" in out


def test_bench_rejects_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "bench", "--sizes", "lots")
    assert code == 2 and "--sizes" in err


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "simfs", "list"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "passthrough" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "simfs", "run", "nope"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "available:" in proc.stderr


def test_simfs_scenarios_env_var(
    capsys: pytest.CaptureFixture[str], scenario_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIMFS_SCENARIOS", str(scenario_dir))
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and "good" in out and "passthrough" not in out
