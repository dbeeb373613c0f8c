"""``simfs fuzz``: a campaign saves what it finds in the shared database, and ``--replay``
reports it again from the database alone (issue 11)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from simfs.cli import main
from simfs.testing import fuzz

REPO = Path(__file__).resolve().parents[1]

LEAKY = textwrap.dedent(
    """
    import errno
    import simfs.bpf
    from simfs import uapi
    from simfs.testing import bpf_mount, hiding_machine

    @simfs.bpf.program("leaky")
    def leaky(fa):
        op = fa.opcode & uapi.FUSE_OPCODE_FILTER
        if op == uapi.FUSE_LOOKUP and fa.in_args[0].value.startswith("."):
            return -errno.ENOENT
        return uapi.FUSE_BPF_BACKING

    TestLeaky = hiding_machine(bpf_mount(leaky), (".a", ".b")).TestCase
    """
)


def test_a_campaign_saves_its_failures_and_replay_reports_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{tmp_path}")
    db = str(tmp_path / "db")
    assert main(["fuzz", "test_leaky.py", "--rounds", "1", "-n", "1", "--database", db]) == 1
    assert os.listdir(db), "the failing example was not saved"
    assert main(["fuzz", "test_leaky.py", "--replay", "--database", db]) == 1
    out = capfd.readouterr().out
    assert "Reproduce it" in out and "listdir" in out


def test_replay_without_a_database_says_so(tmp_path: Path) -> None:
    assert fuzz.replay(["tests"], database=str(tmp_path / "missing")) == 2


def test_rounds_use_the_fuzz_and_replay_profiles() -> None:
    cmd = fuzz.pytest_command(["t.py"], "fuzz", 4)
    assert cmd[-1] == "t.py" and "-n" in cmd and cmd[cmd.index("-n") + 1] == "4"
    assert cmd[cmd.index("--simfs-profile") + 1] == "fuzz"
    assert "-n" not in fuzz.pytest_command(["t.py"], "replay", 1)
