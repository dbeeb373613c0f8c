"""Counterexamples as runnable scripts: replay, reduce, and print a machine's failure.

When a machine reports a :class:`~simfs.testing.machines.Divergence` on hypothesis'
final (reported) run, :func:`explain`:

1. replays the recorded calls on fresh kernels (:func:`replay`) and deletes every call
   whose removal keeps the same kind of failure (:func:`minimize`), so no step that does
   not matter is left, and cuts the calls after the failing one;
2. for a fuse-bpf mount, replays the reduced calls with the other ``quirks`` setting and
   says whether the failure is one of ACK's modelled quirks;
3. renders the reduced calls as a short Python script of ``Process`` calls on fresh
   kernels (:func:`render_script`), which builds the same lower tree, mounts the same
   mount, makes the calls and ends with the check that fails.

The script uses the small helpers below (:class:`ScriptSide`, :func:`expect_same`, ...),
which build a side exactly as the machines do and compare outcomes with the same
:class:`~simfs.testing.calls.Observer` rules.  Running it raises the same
:class:`~simfs.testing.machines.Divergence`.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from unittest import mock

from simfs.kernel import Kernel
from simfs.testing.calls import DEFAULT_STAT_FIELDS, PROCESSES, Outcome
from simfs.testing.machines import (
    Divergence,
    FdPair,
    MountFactory,
    Step,
    SyscallMachine,
    build_side,
)
from simfs.testing.snapshot import diff_snapshots, snapshot_lower
from simfs.testing.strategies import LOWER_DIR, LowerTree

__all__ = [
    "ScriptSide",
    "expect_same",
    "expect_same_lower",
    "expect_translated",
    "expect_unchanged",
    "explain",
    "minimize",
    "render_script",
    "replay",
]

#: stop reducing after this many CPU seconds (the report must come soon)
MINIMIZE_SECONDS = 5.0


# --- replay --------------------------------------------------------------------------------
def replay(
    machine: type[SyscallMachine], tree: LowerTree, steps: Sequence[Step]
) -> tuple[Divergence | None, int]:
    """Run ``steps`` on a fresh instance of ``machine`` built over ``tree``, then its
    teardown.  Returns the divergence (or None) and how many steps ran before it (all of
    them when it came at the end).  A step on a descriptor whose ``open`` is not among
    ``steps`` (or failed) is skipped."""
    m = machine()
    m.quiet = True
    fdmap: dict[FdPair, FdPair] = {}
    ran = 0
    try:
        m.setup(tree=tree)  # type: ignore[attr-defined]
        for step in steps:
            if step.op == "exit":
                continue
            args = list(step.args)
            fd = None
            if args and isinstance(args[0], FdPair):
                if args[0] not in fdmap:
                    continue
                fd = fdmap[args[0]]
                args = args[1:]
            ran += 1
            if step.op == "open":
                pair = m._fd_result(step.proc, m.run(step.proc, "open", *args))
                if isinstance(pair, FdPair) and step.result is not None:
                    fdmap[step.result] = pair
            elif fd is not None:
                if step.op == "close":
                    del fdmap[step.args[0]]
                m.run(fd.proc, step.op, *args, fd=fd)
            else:
                m.run(step.proc, step.op, *args)
        ran = len(steps)
        m.teardown()
    except Divergence as e:
        return e, ran
    return None, ran


def _usable(steps: list[Step]) -> list[Step]:
    """Drop steps on descriptors whose open is gone."""
    opened: set[FdPair] = set()
    out = []
    for s in steps:
        if s.args and isinstance(s.args[0], FdPair) and s.args[0] not in opened:
            continue
        if s.op == "open" and s.result is not None:
            opened.add(s.result)
        out.append(s)
    return out


def minimize(
    machine: type[SyscallMachine],
    tree: LowerTree,
    steps: Sequence[Step],
    check: str,
    seconds: float = MINIMIZE_SECONDS,
) -> tuple[list[Step], LowerTree, Divergence | None]:
    """Delete steps, then tree entries (with what is below them) and xattrs, while the
    replay still fails with a divergence of kind ``check``; cut the steps after the
    failing one.  Returns the steps, the tree and the divergence of the last failing
    replay (None if even ``steps`` no longer fails that way)."""
    current = [s for s in steps if s.op != "exit"]
    found, ran = replay(machine, tree, current)
    if found is None or found.check != check:
        return current, tree, None
    current = current[:ran]
    deadline = time.process_time() + seconds  # CPU time: a loaded machine still reduces

    def fails(candidate_steps: list[Step], candidate_tree: LowerTree) -> bool:
        nonlocal current, tree, found
        d, n = replay(machine, candidate_tree, candidate_steps)
        if d is None or d.check != check:
            return False
        current, tree, found = candidate_steps[:n], candidate_tree, d
        return True

    changed = True
    while changed and time.process_time() < deadline:
        changed = False
        i = len(current) - 1
        while i >= 0 and time.process_time() < deadline:
            changed |= fails(_usable(current[:i] + current[i + 1 :]), tree)
            i = min(i - 1, len(current) - 1)
        j = len(tree.nodes) - 1
        while j >= 0 and time.process_time() < deadline:
            gone = tree.nodes[j].path
            kept = tuple(
                n for n in tree.nodes if n.path != gone and not n.path.startswith(gone + "/")
            )
            changed |= fails(current, dataclasses.replace(tree, nodes=kept))
            j = min(j - 1, len(tree.nodes) - 1)
    if time.process_time() < deadline:  # cosmetic: drop xattrs that do not matter
        for j, node in enumerate(tree.nodes):
            if getattr(node, "xattrs", ()):
                plain = dataclasses.replace(node, xattrs=())  # type: ignore[arg-type]
                nodes = (*tree.nodes[:j], plain, *tree.nodes[j + 1 :])
                fails(current, dataclasses.replace(tree, nodes=nodes))
        if tree.root_xattrs:
            fails(current, dataclasses.replace(tree, root_xattrs=()))
    return current, tree, found


# --- rendering -------------------------------------------------------------------------------
def _importable(obj: Any) -> tuple[str, str] | None:
    """``(name, import line)`` if ``obj`` is a module-level object of an importable module."""
    func = getattr(obj, "func", None)  # a @simfs.bpf.program: its function's module
    mod = getattr(func if callable(func) else obj, "__module__", None)
    if not mod or mod == "__main__":
        return None
    try:
        module = importlib.import_module(mod)
    except Exception:
        return None
    for name, value in vars(module).items():
        if value is obj and not name.startswith("__"):
            return name, f"from {mod} import {name}"
    return None


def factory_source(factory: MountFactory) -> tuple[str, list[str]] | None:
    """A Python expression for ``factory`` and the imports it needs, or None."""
    direct = _importable(factory)
    if direct is not None:
        return direct[0], [direct[1]]
    program = getattr(factory, "program", None)
    if program is None:
        return None
    prog = _importable(program)
    if prog is None:
        return None
    parts = [prog[0]]
    imports = ["from simfs.testing import bpf_mount", prog[1]]
    daemon = getattr(factory, "daemon", None)
    if daemon is not None:
        d = _importable(daemon)
        if d is None:
            return None
        parts.append(f"daemon={d[0]}")
        imports.append(d[1])
    for key, value in (getattr(factory, "options", None) or {}).items():
        parts.append(f"{key}={value!r}")
    return f"bpf_mount({', '.join(parts)})", imports


_OPEN_MODE_DEFAULT = 0o644


def _flags_expr(spec: Any) -> str:
    if isinstance(spec, str):
        return " | ".join(f"os.{f}" for f in spec.split("|"))
    return repr(spec)


def python_call(step: Step, fdnames: Mapping[FdPair, str]) -> str:
    """``root.open('a', os.O_RDONLY, 0o644)``: a recorded step as a Process call."""
    args = list(step.args)
    shown: list[str] = []
    for i, a in enumerate(args):
        if isinstance(a, FdPair):
            shown.append(fdnames.get(a, "-1"))
        elif step.op == "open" and i == 1:
            shown.append(_flags_expr(a))
        elif i == {"open": 2, "mkdir": 1, "chmod": 1, "mknod": 1}.get(step.op):
            shown.append(f"0o{a:o}" if isinstance(a, int) else repr(a))
        elif step.op == "lseek" and i == 2 and isinstance(a, str):
            shown.append(f"os.{a}")
        elif step.op == "renameat2" and i == 2 and isinstance(a, str):
            shown.append({"RENAME_NOREPLACE": "1", "RENAME_EXCHANGE": "2"}.get(a, "0"))
        elif step.op == "utime" and i == 1:
            shown.append(f"ns={tuple(a)!r}")
        else:
            shown.append(repr(a))
    return f"{step.proc}.{step.op}({', '.join(shown)})"


def render_script(
    machine: type[SyscallMachine],
    tree: LowerTree,
    steps: Sequence[Step],
    divergence: Divergence,
    *,
    at_end: bool = False,
) -> str:
    """The reduced counterexample as a runnable Python script (see the module doc)."""
    imports = {
        "from simfs.testing import Dir, File, LowerTree, Symlink",
        "from simfs.testing.script import ScriptSide, " + _CHECKS[divergence.check][0],
    }
    side_lines: list[str] = []
    under_test = machine.side_specs[-1].factory
    main_expr = None
    for spec in machine.side_specs:
        if spec.factory is under_test:
            expr = "mount_under_test"
        else:
            src = factory_source(spec.factory)
            if src is None:
                expr = "REFERENCE  # your reference mount factory"
            else:
                expr, more = src
                imports.update(more)
        tree_expr = f"TREE.rename_names({dict(spec.rename)!r})" if spec.rename else "TREE"
        fields = "" if machine.stat_fields == DEFAULT_STAT_FIELDS else ", fields=FIELDS"
        side_lines.append(f"        ScriptSide({spec.label!r}, {tree_expr}, {expr}{fields}),")
    src = factory_source(under_test)
    if src is not None:
        main_expr, more = src
        main_imports = more
    else:
        main_imports = []
    fdnames: dict[FdPair, str] = {}
    body: list[str] = []
    for step in steps:
        if step.op == "exit":
            continue
        code = python_call(step, fdnames)
        comment = f"  # {step.args[2]}" if step.op == "renameat2" else ""
        if step.op == "open" and step.result is not None:
            name = f"fd{len(fdnames) + 1}"
            fdnames[step.result] = name
            body.append(f"    {name} = s({step.op!r}, lambda: {code})")
        else:
            body.append(f"    s({step.op!r}, lambda: {code}){comment}")
    if at_end:
        body.append("    s.exit_all()")
    if not body:
        body.append("    pass")
    procs = sorted({s.proc for s in steps} & set(PROCESSES), key=list(PROCESSES).index)
    unpack = (
        f"    {', '.join(procs)} = {', '.join(f's.{p}' for p in procs)}" if procs else ""
    )
    message = str(divergence).splitlines()
    check_name, check_args = _CHECKS[divergence.check]
    extra = ""
    if divergence.check == "translation":
        extra = f", {divergence.expected!r}"
    elif divergence.check in ("trees", "setup") and len(machine.side_specs) > 1:
        rename = machine.side_specs[-1].rename
        extra = f", rename={dict(rename)!r}" if rename else ""
    lines = [
        f'"""{machine.__name__}: a counterexample found by simfs.testing, '
        f"{sum(1 for s in steps if s.op != 'exit')} calls.",
        "",
        *[line.replace('"""', "'''") for line in message],
        '"""',
        "import os",
        "",
        *sorted(imports),
        "",
        f"TREE = {tree!r}",
    ]
    if machine.stat_fields != DEFAULT_STAT_FIELDS:
        lines.append(f"FIELDS = frozenset({sorted(machine.stat_fields)!r})")
    lines += [
        "",
        "",
        "def calls(s: ScriptSide) -> None:",
        *([unpack] if unpack else []),
        *body,
        "",
        "",
        "def reproduce(mount_under_test) -> None:",
        "    sides = [",
        *side_lines,
        "    ]",
        "    for s in sides:",
        "        calls(s)",
        f"    {check_name}({check_args}{extra})",
        "",
        "",
        'if __name__ == "__main__":',
    ]
    if main_expr is not None:
        lines += [f"    {imp}" for imp in sorted(main_imports)]
        lines.append(f"    reproduce({main_expr})")
    else:
        name = getattr(under_test, "__name__", repr(under_test))
        lines.append(f"    # pass the mount under test ({name}); it could not be imported by name")
        lines.append("    raise SystemExit('call reproduce(your_mount_factory)')")
    return "\n".join(lines) + "\n"


#: divergence kind -> (check function, its first argument)
_CHECKS: dict[str, tuple[str, str]] = {
    "outcome": ("expect_same", "sides"),
    "translation": ("expect_translated", "sides"),
    "trees": ("expect_same_lower", "sides"),
    "setup": ("expect_same_lower", "sides"),
    "unchanged": ("expect_unchanged", "sides[0]"),
    "program": ("expect_same", "sides"),
}


def _flip_quirks() -> Any:
    original = Kernel.mount_fuse

    def mount_fuse(self: Kernel, target: str, daemon: Any = None, **options: Any) -> Any:
        options["quirks"] = not options.get("quirks", True)
        return original(self, target, daemon, **options)

    return mock.patch.object(Kernel, "mount_fuse", mount_fuse)


def explain(
    machine: type[SyscallMachine], tree: LowerTree, steps: Sequence[Step], divergence: Divergence
) -> list[str]:
    """Notes for a reported divergence: the quirk verdict and the runnable script.  The
    script is also stored as ``divergence.script``."""
    if divergence.check == "program" or not machine.side_specs:
        return []
    reduced, tree, found = minimize(machine, tree, steps, divergence.check)
    if found is None:  # the failure does not replay: say so rather than print a wrong script
        return ["(simfs: this failure did not replay on fresh kernels; no script)"]
    at_end = "at the end" in str(found)
    notes: list[str] = []
    fuse_bpf = any(
        getattr(getattr(s, "factory", None), "program", None) is not None
        or getattr(s.factory, "__name__", "") == "passthrough"
        for s in machine.side_specs
    )
    if fuse_bpf:
        with _flip_quirks():
            other, _ = replay(machine, tree, reduced)
        if other is None:
            notes.append(
                "(simfs: with the other `quirks` mount option these calls pass: the "
                "difference comes from how ACK's finalize quirks are modelled (spec §3.6); "
                "mount with quirks=False for the intended semantics, or pass "
                "allow=ack_differences if it is a documented difference)"
            )
    script = render_script(machine, tree, reduced, found, at_end=at_end)
    divergence.script = script  # type: ignore[attr-defined]
    notes.append(f"Reproduce it (simfs.testing reduced it to {len(reduced)} calls):\n{script}")
    return notes


# --- what the scripts run ------------------------------------------------------------------
class ScriptSide:
    """One side of a counterexample script: a fresh kernel with ``tree`` in the lower
    directory and ``factory`` mounted at the mount point, built as the machines build it;
    ``root``, ``alice`` and ``bob`` are its processes (cwd = the mount point).

    ``side(op, fn)`` runs ``fn()`` (a call of ``op``) and records its outcome, normalized
    as the machines normalize it; returns the raw value (None if it failed)."""

    def __init__(
        self,
        label: str,
        tree: LowerTree,
        factory: MountFactory,
        *,
        fields: frozenset[str] = DEFAULT_STAT_FIELDS,
    ) -> None:
        self.label = label
        self.side = build_side(label, tree, factory, fields=fields)
        self.kernel = self.side.kernel
        self.initial = snapshot_lower(self.kernel.lower, LOWER_DIR, times=True)
        self.outcomes: list[tuple[str, Outcome]] = []
        for name, proc in self.side.procs.items():
            setattr(self, name, proc)

    def __call__(self, op: str, fn: Callable[[], Any]) -> Any:
        raw: list[Any] = [None]

        def run() -> Any:
            raw[0] = fn()
            return raw[0]

        outcome = self.side.observer.outcome(op, run)
        self.outcomes.append((op, outcome))
        return raw[0] if outcome[0] == "ok" else None

    def exit_all(self) -> None:
        """Every process exits (as at the end of a machine's run)."""
        for name, proc in self.side.procs.items():
            self("exit", proc.exit)
            del name


def expect_same(sides: Sequence[ScriptSide]) -> None:
    """The last call's outcomes must agree on every side."""
    last = [s.outcomes[-1][1] if s.outcomes else None for s in sides]
    if any(o != last[0] for o in last[1:]):
        op = sides[0].outcomes[-1][0]
        raise Divergence(
            f"{op} -> " + " / ".join(f"{s.label} {o!r}" for s, o in zip(sides, last, strict=True))
        )


def expect_translated(sides: Sequence[ScriptSide], expected: str) -> None:
    """The last call must fail with ``expected`` on the side under test."""
    op, test = sides[-1].outcomes[-1]
    ref = sides[0].outcomes[-1][1]
    if test != ("err", expected):
        raise Divergence(
            f"{op} -> reference {ref!r}, under test {test!r}; expected {expected}",
            "translation",
            expected,
        )


def expect_same_lower(sides: Sequence[ScriptSide], rename: Mapping[str, str] | None = None) -> None:
    """The lower trees must agree (the first side's names renamed by ``rename``)."""
    from simfs.testing.machines import _check_trees

    _check_trees([s.side for s in sides], rename=rename)


def expect_unchanged(side: ScriptSide) -> None:
    """The lower directory must equal what it was after mounting (times included)."""
    now = snapshot_lower(side.kernel.lower, LOWER_DIR, times=True)
    if now != side.initial:
        lines = diff_snapshots(side.initial, now, ("before", "after"))
        raise Divergence("the lower tree changed:\n  " + "\n  ".join(lines), "unchanged")
