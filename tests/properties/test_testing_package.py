"""Fast coverage tests of simfs.testing itself (no FUSE needed): strategies, snapshots,
outcome normalization, and that a machine fails on a mount that is not equivalent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis.stateful import run_state_machine_as_test

from simfs.kernel import Kernel
from simfs.testing import (
    PROCESSES,
    Dir,
    Divergence,
    File,
    LowerTree,
    Observer,
    Symlink,
    bind,
    diff_snapshots,
    equivalence_machine,
    lower_trees,
    path_vocabulary,
    run_sequence,
    snapshot_lower,
    syscall_sequences,
)
from simfs.testing.profiles import quality_settings
from simfs.testing.strategies import LONG_NAME, TOO_LONG_NAME


def _kernel(tree: LowerTree, mount: bool = True) -> tuple[Kernel, dict[str, object]]:
    k = Kernel()
    k.lower.create_dir("/m")
    tree.build(k)
    if mount:
        bind(k, "/data", "/m")
    procs = {
        n: k.spawn(uid=s.uid, gid=s.gid, groups=s.groups, umask=s.umask, cwd="/m")
        for n, s in PROCESSES.items()
    }
    return k, procs


def test_tree_repr_is_a_constructor_call() -> None:
    tree = LowerTree(
        (
            Dir("a", 0o700, uid=1000, gid=1000),
            File("a/b", 0o644, data=b"hi"),
            Symlink("c", "missing"),
        )
    )
    assert eval(repr(tree)) == tree


@given(lower_trees())
@settings(max_examples=30)
def test_built_tree_snapshot_matches_the_spec(tree: LowerTree) -> None:
    k, _ = _kernel(tree, mount=False)
    snap = snapshot_lower(k.lower, "/data")
    assert set(snap) == {"."} | {n.path for n in tree.nodes}
    for n in tree.nodes:
        e = snap[n.path]
        assert (e.uid, e.gid) == (n.uid, n.gid)
        if isinstance(n, File):
            assert (e.kind, e.mode, e.data) == ("reg", n.mode, n.data)
        elif isinstance(n, Dir):
            assert (e.kind, e.mode) == ("dir", n.mode)
        else:
            assert (e.kind, e.data) == ("lnk", n.target.encode())


def test_snapshot_sees_hard_links_xattrs_and_reports_differences() -> None:
    k, procs = _kernel(LowerTree((File("a", data=b"x"),)))
    root = procs["root"]
    before = snapshot_lower(k.lower)
    root.link("a", "b")  # type: ignore[attr-defined]
    root.setxattr("a", "user.k", b"v")  # type: ignore[attr-defined]
    after = snapshot_lower(k.lower)
    assert after["data/a"].link == after["data/b"].link == "h1"
    assert after["data/a"].xattrs == (("user.k", b"v"),)
    lines = diff_snapshots(before, after, ("before", "after"))
    assert any(line.startswith("data/b: only in after") for line in lines)
    assert diff_snapshots(after, snapshot_lower(k.lower)) == []


def test_vocabulary_stays_inside_the_mount_and_has_every_class() -> None:
    vocab = path_vocabulary()
    assert len(vocab) == len(set(vocab))
    for p in vocab:
        rel = p.removeprefix("/m").lstrip("/")
        depth = 0
        for c in rel.split("/"):
            depth += {"..": -1, ".": 0, "": 0}.get(c, 1)
            assert depth >= 0, p
    for cls in (".", "a/..", "a/", "/m/a", LONG_NAME, TOO_LONG_NAME, ""):
        assert cls in vocab


def test_observer_compares_inodes_up_to_renaming_and_times_as_moved() -> None:
    _, procs = _kernel(LowerTree((File("a"), File("b"))))
    alice = procs["root"]
    obs = Observer()
    sa1 = obs.value("stat", alice.stat("a"))  # type: ignore[attr-defined]
    alice.link("a", "c")  # type: ignore[attr-defined]
    sc = dict(obs.value("stat", alice.stat("c")))  # type: ignore[attr-defined]
    sb = dict(obs.value("stat", alice.stat("b")))  # type: ignore[attr-defined]
    assert dict(sa1)["ino"] == "i1" and sc["ino"] == "i1" and sb["ino"] == "i2"
    assert dict(sa1)["ctime"] == "seen" and sc["ctime"] == "moved"
    assert "atime" not in sc and all(k_ != "dev" for k_, _ in sa1)


@given(seq=syscall_sequences(max_size=15))
@settings(max_examples=30)
def test_run_sequence_is_deterministic_and_only_raises_oserror(seq: list[object]) -> None:
    tree = LowerTree((Dir("a", 0o777), File("a/b", 0o666, data=b"hello"), Symlink("c", "a")))
    outs = []
    for _ in range(2):
        _, procs = _kernel(tree)
        outs.append(run_sequence(procs, seq))
    assert outs[0] == outs[1]


def test_equivalence_machine_catches_a_mount_that_is_not_a_bind_mount() -> None:
    # "a test that cannot fail is worse than no test": a mount that differs in one
    # permission bit below the root must be found
    def skewed(k: Kernel, lower_dir: str, mountpoint: str) -> object:
        m = bind(k, lower_dir, mountpoint)
        for obj in k.lower.resolve(lower_dir).entries.values():
            obj.st_mode ^= 0o002
        return m

    machine = equivalence_machine(skewed, name="Skewed")
    with pytest.raises(Divergence):
        run_state_machine_as_test(machine, settings=quality_settings(max_examples=200))


def test_steps_render_as_os_calls() -> None:
    from simfs.testing.calls import render_call

    assert (
        render_call("alice", "open", ("a/b", "O_RDWR|O_CREAT", 0o644))
        == "alice: os.open('a/b', O_RDWR|O_CREAT, 0o644)"
    )
    assert render_call("bob", "rename", ("a", "b/")) == "bob: os.rename('a', 'b/')"
    assert render_call("root", "stat", (LONG_NAME,)) == "root: os.stat('N'*255)"
