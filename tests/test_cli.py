"""The ``simfs`` command line, driven through ``main([...])`` with captured output."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import simfs
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
    cells = [c.strip() for c in row.split("|")[2:-1]]  # captured output is plain ASCII
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
    assert "Simulator speed: simulated calls per second" in out and "pyfakefs" in out
    assert "not kernel performance" in out  # says what it measures
    for op in ("stat", "+read", "+close", "create", "+unlink", "listdir"):
        assert op in out
    for config in ("simfs lower", "bind mount", "FUSE-BPF", "classic FUSE"):
        assert config in out
    assert "Simulator scaling with directory size" in out and "40" in out


def test_bench_json_has_every_figure_and_compare_divides_by_the_baseline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ("bench", "--quick", "--sizes", "20", "--seconds", "0.005")
    code, out, _ = run_cli(capsys, *args, "--json")
    assert code == 0
    figures = json.loads(out)
    for name in (
        "ratios: FUSE-BPF / bind: stat",
        "ratios: classic / bind: open+read+close",
        "ratios: root fs / pyfakefs: stat",
        "ratios: traced / untraced FUSE-BPF: stat",
        "machines: equivalence examples/s: FUSE-BPF passthrough",
        "ops/s: bind mount: stat",
    ):
        assert figures[name] > 0, name
    baseline = {name: value / 2 for name, value in figures.items()}
    baseline["only in the baseline"] = 1.0
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline))
    code, out, _ = run_cli(capsys, *args, "--compare", str(path))
    assert code == 0 and "run/baseline" in out
    assert "only in the baseline" in out and "FUSE-BPF / bind: stat" in out
    code, _, err = run_cli(capsys, "bench", "--compare", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read baseline" in err


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


# --- issue 20: versions, errors that name the path searched, plain and narrow output ----------

BOX_DRAWING = re.compile("[\u2500-\u257f]")  # ─│┌┐└┘├┤┬┴┼ and friends
ESCAPE = "\x1b["


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"simfs {simfs.__version__}"
    assert simfs.__version__ == importlib.metadata.version("simfs")


@pytest.mark.parametrize("command", [["list"], ["run", "passthrough"], ["compare", "classic"]])
def test_missing_scenario_dir_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], command: list[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nonexistent"
    code, out, err = run_cli(capsys, "--scenarios", str(missing), *command)
    assert code == 2 and out == ""
    assert f"--scenarios {missing} does not exist" in err
    code, _, err = run_cli(capsys, "--scenarios", str(tmp_path), *command)
    assert code == 2 and f"no scenarios found (searched: {tmp_path})" in err


def test_missing_env_scenario_dir_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIMFS_SCENARIOS", str(tmp_path / "gone"))
    code, _, err = run_cli(capsys, "list")
    assert code == 2 and f"SIMFS_SCENARIOS {tmp_path / 'gone'} does not exist" in err


def test_unknown_name_says_where_it_looked(
    capsys: pytest.CaptureFixture[str], scenario_dir: Path
) -> None:
    code, _, err = run_cli(capsys, "--scenarios", str(scenario_dir), "run", "nope")
    assert code == 2 and f"(searched: {scenario_dir})" in " ".join(err.split())


VIEWS_80 = [
    ["list"],
    ["run", "classic", "--view", "tree"],
    ["run", "mediaprovider", "--view", "table"],
    ["run", "readdir_redaction", "--view", "all"],
    ["compare", "mediaprovider"],
    ["bench", "--quick", "--sizes", "20", "--seconds", "0.002"],
]


@pytest.mark.parametrize("argv", VIEWS_80, ids=["-".join(a[:3]) for a in VIEWS_80])
def test_piped_output_is_plain_and_fits_80_columns(argv: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR", "FORCE_COLOR")}
    proc = subprocess.run(
        [sys.executable, "-m", "simfs", *argv], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert ESCAPE not in out, "escape codes in piped output"
    assert not BOX_DRAWING.search(out), BOX_DRAWING.search(out)
    wide = [ln for ln in out.splitlines() if len(ln) > 80]
    assert not wide, wide[:3]
    assert not [ln for ln in out.splitlines() if ln != ln.rstrip()], "trailing blanks"
    if argv[:2] == ["run", "mediaprovider"]:
        # the table chose its columns: the arguments column still says something
        row = next(ln for ln in out.splitlines() if re.match(r"\| +4 \| LOOKUP", ln))
        assert "IMG_" in row
        assert "hidden at 80 columns" in out


def test_terminal_output_draws_boxes_and_honours_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from simfs import render

    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: behave as on a terminal
    monkeypatch.delenv("NO_COLOR", raising=False)
    buf = io.StringIO()
    c = render.console(buf, plain=False, width=80)
    c.print(render.counters_table([]))
    c.print("[red]red[/]")
    assert BOX_DRAWING.search(buf.getvalue()) and "\x1b[31m" in buf.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    buf = io.StringIO()
    render.console(buf, plain=False, width=80).print("[red]red[/] [bold]bold[/]")
    assert "\x1b[31m" not in buf.getvalue() and "\x1b[1m" in buf.getvalue()  # no colour only
    assert isinstance(render.console(io.StringIO()), render.PlainConsole)  # not a TTY: plain


def test_diagram_view_is_mermaid_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "run", "hidden_files", "--view", "diagram", "--limit", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "sequenceDiagram"
    for lane in ("process", "VFS (kernel)", "BPF program", "daemon", "lower fs"):
        assert any(ln.strip().startswith("participant") and lane in ln for ln in lines)
    calls = [ln for ln in lines if ln.strip().startswith("P->>V:")]
    assert len(calls) == 2  # --limit 2
    assert "check passed" not in out
    code, out, _ = run_cli(capsys, "run", "hidden_files", "--view", "diagram")
    assert code == 0
    # the hiding prefilter's decision, then the errno the process gets
    assert "B-->>V: -ENOENT" in out and "V-->>P: -1 ENOENT" in out


@pytest.mark.parametrize("bad", ["0", "-3", "many"])
def test_bad_limit_is_a_usage_error(capsys: pytest.CaptureFixture[str], bad: str) -> None:
    code, out, err = run_cli(capsys, "run", "passthrough", "--limit", bad)
    assert code == 2 and out == "" and "--limit" in err
