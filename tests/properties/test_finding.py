"""Machines that find bugs by default (issue 11): defaults, state-driven calls, the
filter's vocabulary, coverage, runnable counterexamples, allowances, and bad input."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

import simfs
import simfs.bpf
from simfs import uapi
from simfs.errors import UsageError
from simfs.testing import (
    Divergence,
    File,
    LowerTree,
    bind,
    bpf_mount,
    equivalence_machine,
    hiding_machine,
    passthrough,
    readonly_machine,
)
from simfs.testing.coverage import CoverageWarning
from simfs.testing.machines import ack_differences, fuse_differences
from simfs.testing.profiles import MACHINE_DEFAULTS, loaded_profile
from simfs.testing.strategies import TOO_LONG_NAME
from simfs.testing.vocabulary import filter_constants, handled_opcodes, name_vocabulary

BACKING = uapi.FUSE_BPF_BACKING
REPO = Path(__file__).resolve().parents[2]


@simfs.bpf.program("hide_dotfiles_buggy")
def hide_dotfiles_buggy(fa: Any) -> int:
    """The README's bug: no READDIR branch."""
    if fa.opcode & uapi.FUSE_OPCODE_FILTER == uapi.FUSE_LOOKUP and fa.in_args[0].value.startswith(
        "."
    ):
        return -errno.ENOENT
    return BACKING


@simfs.bpf.program("hide_dotfiles_fixed")
def hide_dotfiles_fixed(fa: Any) -> int:
    op = fa.opcode & uapi.FUSE_OPCODE_FILTER
    if op == uapi.FUSE_LOOKUP and fa.in_args[0].value.startswith("."):
        return -errno.ENOENT
    if op == uapi.FUSE_READDIR:
        if fa.opcode & uapi.FUSE_PREFILTER:
            return BACKING | uapi.FUSE_BPF_POST_FILTER
        fa.out_args[1].value = [d for d in fa.out_args[1].value if not d.name.startswith(".")]
        return 0
    return BACKING


@simfs.bpf.program("db_policy")
def db_policy(fa: Any) -> int:
    """Denies unlinking ``*.db`` files except ``keep.db``, and mentions COPY_FILE_RANGE."""
    op = fa.opcode & uapi.FUSE_OPCODE_FILTER
    if op == uapi.FUSE_UNLINK and fa.in_args[0].value.endswith(".db"):
        return -errno.EPERM if fa.in_args[0].value != "keep.db" else BACKING
    if op == uapi.FUSE_COPY_FILE_RANGE:
        return -errno.EXDEV
    return BACKING


def _failure(machine: Any) -> AssertionError:
    with pytest.raises(AssertionError) as info:
        run_state_machine_as_test(
            machine, settings=settings(machine.TestCase.settings, database=None)
        )
    return info.value


# --- defaults -------------------------------------------------------------------------------
def test_testcase_carries_settings_tuned_to_find_bugs() -> None:
    machine = hiding_machine(bpf_mount(hide_dotfiles_fixed), (".a", ".b"), name="Tuned")
    s = machine.TestCase.settings
    examples, steps = MACHINE_DEFAULTS[loaded_profile()]
    assert (s.max_examples, s.stateful_step_count, s.deadline) == (examples, steps, None)
    assert Phase.generate in s.phases and Phase.shrink not in s.phases


def test_testcase_settings_are_overridable_the_hypothesis_way() -> None:
    machine = readonly_machine(bpf_mount(hide_dotfiles_fixed), name="Overridden")
    settings(max_examples=7, stateful_step_count=3)(machine)
    assert machine.TestCase.settings.max_examples == 7


def test_readme_bug_is_caught_by_the_readme_test_and_the_script_reproduces() -> None:
    machine = hiding_machine(bpf_mount(hide_dotfiles_buggy), (".a", ".b"))
    e = _failure(machine)
    script = getattr(e, "script", None)
    assert isinstance(script, str) and "def calls(s: ScriptSide)" in script
    assert any(script in note for note in getattr(e, "__notes__", []))
    assert "test_finding import hide_dotfiles_buggy" in script
    calls = [line for line in script.splitlines() if "s('" in line]
    assert 1 <= len(calls) <= 3, script  # reduced: no call that does not matter
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with pytest.raises(Divergence):
        exec(compile(script, "<counterexample>", "exec"), namespace)
    # the script's check is not vacuous: the fixed filter passes it
    namespace = {"__name__": "counterexample"}
    exec(compile(script, "<counterexample>", "exec"), namespace)
    namespace["reproduce"](bpf_mount(hide_dotfiles_fixed))


def test_a_two_kernel_script_reproduces_as_a_subprocess(tmp_path: Path) -> None:
    from simfs.testing.mutants import mutant

    with mutant("attrs_not_copied_back"):
        e = _failure(equivalence_machine(passthrough))
    path = tmp_path / "counterexample.py"
    path.write_text(e.script)  # type: ignore[attr-defined]
    mutated = tmp_path / "run_mutated.py"
    mutated.write_text(
        textwrap.dedent(
            f"""
            import runpy
            from simfs.testing.mutants import mutant
            with mutant("attrs_not_copied_back"):
                runpy.run_path({str(path)!r}, run_name="__main__")
            """
        )
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    bad = subprocess.run([sys.executable, str(mutated)], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "Divergence" in bad.stderr, bad.stderr
    good = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr  # the unmutated engine passes the same calls


# --- state-driven calls, vocabulary, coverage ----------------------------------------------------
#: calls that change the tree (what a filter that guards writes must see happen)
EFFECTS = frozenset(
    {
        "link",
        "rename",
        "renameat2",
        "mknod",
        "mkdir",
        "symlink",
        "setxattr",
        "removexattr",
        "unlink",
        "rmdir",
        "chmod",
        "chown",
        "truncate",
        "utime",
        "write",
        "ftruncate",
        "pwrite",
    }
)


def test_effects_happen_in_most_runs() -> None:
    machine = equivalence_machine(bind, name="EffectsBindVsBind")
    run_state_machine_as_test(
        machine, settings=settings(machine.TestCase.settings, max_examples=60)
    )
    ok = machine.coverage.ok_runs
    with_effects = sum(bool(r & EFFECTS) for r in ok) / len(ok)
    assert with_effects >= 0.5, with_effects
    # and every kind of effect succeeds in some runs (swarm testing switches each off in
    # about half of them)
    for call in ("link", "rename", "renameat2", "mknod", "setxattr", "write", "truncate"):
        assert any(call in r for r in ok), call


def test_filter_constants_join_the_vocabulary() -> None:
    assert {"keep.db", ".db"} <= filter_constants(db_policy)
    assert "keep.db" in name_vocabulary(db_policy)
    assert {"UNLINK", "COPY_FILE_RANGE"} == handled_opcodes(db_policy)

    class Compiled:  # what a compiled program offers (issue 18)
        def vocabulary(self) -> frozenset[str | int]:
            return frozenset({"photo.jpg", 10030})

    assert name_vocabulary(Compiled()) == ("photo.jpg",)
    machine = readonly_machine(bpf_mount(db_policy), name="DbPolicy")
    assert "keep.db" in machine.fresh_names


@simfs.bpf.program("counts_copies")
def counts_copies(fa: Any) -> int:
    """Transparent; mentions COPY_FILE_RANGE, which no machine call sends."""
    if fa.opcode & uapi.FUSE_OPCODE_FILTER in (uapi.FUSE_COPY_FILE_RANGE, uapi.FUSE_LOOKUP):
        return BACKING
    return BACKING


def test_coverage_says_which_handled_opcodes_no_run_reached() -> None:
    machine = equivalence_machine(bpf_mount(counts_copies), name="CopyCoverage")
    settings(max_examples=5, stateful_step_count=5)(machine)
    with pytest.warns(CoverageWarning, match="COPY_FILE_RANGE"):
        machine.TestCase().runTest()
    table = machine.coverage.table(machine.handled)
    assert "never reached although handled: COPY_FILE_RANGE" in table
    assert "LOOKUP" in table


# --- allowances -----------------------------------------------------------------------------------
def test_a_quirky_mount_brings_its_documented_allowances() -> None:
    machine = equivalence_machine(passthrough, name="AutoAllow")
    state = machine()
    state.quiet = True
    state.setup(tree=LowerTree((File("a"),)))
    assert state.effective_allow() is ack_differences
    state.run("root", "stat", TOO_LONG_NAME)  # ENAMETOOLONG / ENOENT: allowed, no raise
    state.teardown()


def test_a_divergence_a_documented_allowance_accepts_says_so() -> None:
    machine = equivalence_machine(passthrough, allow=fuse_differences, name="NoAckAllow")
    state = machine()
    state.quiet = True
    state.setup(tree=LowerTree((File("a"),)))
    with pytest.raises(Divergence, match="allow=ack_differences"):
        state.run("root", "stat", TOO_LONG_NAME)


# --- bad input ------------------------------------------------------------------------------------
def test_a_mount_factory_that_raises_is_reported_before_the_search() -> None:
    def broken(k: Any, lower: str, mnt: str) -> object:
        raise RuntimeError("no such option")

    with pytest.raises(UsageError, match="raised RuntimeError: no such option"):
        equivalence_machine(broken)


def test_a_filter_that_crashes_every_call_is_reported_before_the_search() -> None:
    @simfs.bpf.program("crashes")
    def crashes(fa: Any) -> int:
        return fa.no_such_field  # type: ignore[no-any-return]

    with pytest.raises(UsageError, match="failed every one of its"):
        readonly_machine(bpf_mount(crashes))


@pytest.mark.parametrize("bad", [("a/b",), ("",), ("..",), ("x" * 256,), "ab"])
def test_names_that_are_not_path_components_are_refused(bad: Any) -> None:
    with pytest.raises(UsageError, match="names"):
        readonly_machine(bind, names=bad)


def test_hidden_names_must_be_two_different_names() -> None:
    with pytest.raises(UsageError, match="two different names"):
        hiding_machine(bind, (".a", ".a"))
    with pytest.raises(UsageError, match="processes"):
        hiding_machine(bind, (".a", ".b"), processes=("mallory",))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"stateful_step_count": 1}, "at least 2"), ({"phases": [Phase.explicit]}, "Phase.generate")],
)
def test_settings_that_make_the_search_impossible_are_refused(kwargs: Any, match: str) -> None:
    machine = readonly_machine(bind, name="Impossible")
    settings(max_examples=5, **kwargs)(machine)
    with pytest.raises(UsageError, match=match):
        machine.TestCase().runTest()


# --- the pytest plugin ----------------------------------------------------------------------------
def test_the_plugin_gives_profiles_and_fixtures_without_a_conftest(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            from hypothesis import settings
            from simfs.testing.profiles import loaded_profile

            def test_profile():
                assert loaded_profile() == "ci"
                assert settings.default.derandomize

            def test_fixtures(simfs_kernel, simfs_mount):
                assert simfs_mount.root.listdir(".") == ["a", "d"] or sorted(
                    simfs_mount.root.listdir(".")) == ["a", "d"]
                assert simfs_kernel is simfs_mount.kernel
            """
        )
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    from simfs.testing.pytest_plugin import entry_point_installed

    if not entry_point_installed():
        cmd += ["-p", "simfs.testing.pytest_plugin"]
    r = subprocess.run(
        [*cmd, "--simfs-profile", "ci", str(tmp_path / "test_user.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 passed" in r.stdout


def test_pyproject_declares_the_pytest11_entry_point() -> None:
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert data["project"]["entry-points"]["pytest11"]["simfs"] == "simfs.testing.pytest_plugin"


# --- what the state-driven calls found ------------------------------------------------------------
@pytest.mark.parametrize("mount", ["classic", "fuse-bpf"])
def test_lseek_on_a_fifo_through_fuse_is_espipe(mount: str) -> None:
    # found by test_classic_passthrough_daemon once mknod + open of existing names came in:
    # fuse_init_inode -> init_special_inode gives a FIFO pipefifo_fops (no_llseek), as
    # on the bind mount's tmpfs
    import os

    from simfs.testing import classic_passthrough
    from simfs.testing.machines import build_side

    factory = classic_passthrough if mount == "classic" else passthrough
    side = build_side("t", LowerTree(), factory)
    root = side.procs["root"]
    root.mkfifo("p", 0o644)
    fd = root.open("p", os.O_RDWR)
    with pytest.raises(OSError) as info:
        root.lseek(fd, 3, os.SEEK_END)
    assert info.value.errno == errno.ESPIPE


@pytest.mark.parametrize("mount", ["classic", "fuse-bpf"])
def test_a_fifo_through_fuse_is_a_pipe_in_the_kernel(mount: str) -> None:
    # found by the classic passthrough equivalence test: data written to a FIFO through
    # the mount must come back from it (pipefifo_fops), not go to the daemon as WRITE
    import os

    from simfs.testing import classic_passthrough
    from simfs.testing.machines import build_side

    factory = classic_passthrough if mount == "classic" else passthrough
    side = build_side("t", LowerTree(), factory)
    root = side.procs["root"]
    root.mkfifo("p", 0o644)
    mark = len(side.kernel.trace.events)
    fd = root.open("p", os.O_RDWR)
    assert root.write(fd, b"x") == 1
    assert root.read(fd, 1) == b"x"
    root.close(fd)
    sent = {e.data.get("opcode") for e in side.kernel.trace.events[mark:] if e.kind == "fuse_op"}
    assert not sent & {"OPEN", "READ", "WRITE", "RELEASE", "FLUSH"}, sent


def test_a_divergence_the_other_quirk_setting_removes_says_so() -> None:
    from simfs.testing.machines import Step
    from simfs.testing.script import explain

    machine = equivalence_machine(passthrough, allow=fuse_differences, name="QuirkNote")
    tree = LowerTree((File("a"),))
    steps = [Step("root", "stat", (TOO_LONG_NAME,))]
    state = machine()
    state.quiet = True
    state.setup(tree=tree)
    with pytest.raises(Divergence) as info:
        state.run("root", "stat", TOO_LONG_NAME)
    notes = explain(machine, tree, steps, info.value)
    assert any("other `quirks` mount option these calls pass" in n for n in notes), notes
    assert any("def calls" in n for n in notes)


def test_a_failed_lseek_on_ack_stops_position_comparisons() -> None:
    # spec §3.6: ACK commits f_pos after a failed LSEEK; the machine must not report the
    # later SEEK_CUR difference as a bug of the filter
    import errno as errno_mod

    from simfs.testing import errno_translating_program, errno_translation_machine

    def translator() -> object:
        return errno_translating_program({errno_mod.ENODATA: errno_mod.EPERM})

    machine = errno_translation_machine(
        bpf_mount(translator), {errno_mod.ENODATA: errno_mod.EPERM}, name="LseekQuirk"
    )
    state = machine()
    state.quiet = True
    state.setup(tree=LowerTree())
    outcomes = state.run("root", "open", "a", "O_RDWR|O_CREAT|O_EXCL", 0o644)
    pair = state._fd_result("root", outcomes)
    state.run("root", "lseek", 3, "SEEK_SET", fd=pair)
    state.run("root", "lseek", 0, "SEEK_DATA", fd=pair)  # ENXIO on both
    state.run("root", "lseek", 10000, "SEEK_CUR", fd=pair)  # 10003 / 10000: not compared
    assert pair in state.unsynced
    state.teardown()


def test_classic_passthrough_links_an_inode_whose_first_name_was_unlinked() -> None:
    """Found by issue 11's state-driven calls; fixed by issue 19 (the daemon keeps every
    name of an inode, as passthrough_ll keeps an O_PATH fd)."""
    from simfs.testing import classic_passthrough
    from simfs.testing.machines import build_side

    side = build_side("t", LowerTree((File("a"),)), classic_passthrough)
    root = side.procs["root"]
    root.link("a", "b")
    root.unlink("a")
    root.link("b", "a")  # a bind mount (and real FUSE with passthrough_ll) succeeds
