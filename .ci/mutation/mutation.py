#!/usr/bin/env python3
"""Mutation testing of the simfs engine with cosmic-ray (issue 21).

cosmic-ray makes the mutants (its core operators: comparison/binary/unary operator replacement,
and/or swap, True/False, numbers +-1, break/continue, exception replacement, decorator removal,
zero-iteration loops) and runs the test command against each one.  This script adds what simfs
needs around it:

* it works in a scratch copy of the repository (cosmic-ray rewrites the module in place, so a
  stopped run can never leave a mutant in the work tree, and editing the tree meanwhile is safe);
* a fast test selection per module (``modules.toml``), then survivors re-run against the whole
  suite (``--confirm``) so a reported survivor survived the test suite;
* mutants inside type annotations are not generated (never evaluated at run time here: every
  engine module has ``from __future__ import annotations``);
* a stable name for each mutant that does not move when other code is edited:
  ``path::definition::operator::original line => mutated line`` (``#2`` for a repeat), used by
  the reviewed equivalent list (``equivalent.txt``) and the fixed CI sample (``sample.txt``);
* a deterministic sample (``--sample N --seed S``) when a module has too many mutants to run.

Commands (run from the repository root; ``python3 -m pip install cosmic-ray`` first)::

    python3 .ci/mutation/mutation.py list simfs/fuse/backing.py
    python3 .ci/mutation/mutation.py run simfs/fuse/backing.py --sample 60 --seed 21
    python3 .ci/mutation/mutation.py engine --sample 40 --confirm      # the scheduled job
    python3 .ci/mutation/mutation.py sample                            # the fixed CI sample
    python3 .ci/mutation/mutation.py sample --add 'NAME ## TESTS'      # pin one more mutant

``run`` and ``engine`` print the score per module: killed / (run - equivalent).  ``sample``
exits 1 when a listed mutant (all were killed when listed) survives the tests; a listed mutant
whose line no longer exists is reported as stale and only fails the run when more than a
quarter of the sample is stale (then ``mutation.py refresh`` drops the stale entries).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cosmic_ray.ast import ast_nodes, get_ast
from cosmic_ray.ast.ast_query import ASTQuery
from cosmic_ray.commands.init import _operators
from cosmic_ray.mutating import mutate_and_test, mutate_code
from cosmic_ray.plugins import get_operator
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import MutationSpec, TestOutcome, WorkItem, WorkResult

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CONFIG = HERE / "modules.toml"
EQUIVALENT = HERE / "equivalent.txt"
SAMPLE = HERE / "sample.txt"
STALE_LIMIT = 0.25


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Target:
    """One module to mutate and the tests that judge its mutants."""

    path: str
    group: str  # the modules.toml entry (a directory's files share one sample and score)
    tests: tuple[str, ...]
    pytest_args: tuple[str, ...]
    confirm: tuple[str, ...]
    timeout: float
    exclude_operators: tuple[str, ...]

    def command(self, tests: Sequence[str], extra: Sequence[str] = ()) -> str:
        # -p no:cacheprovider: the copy's .pytest_cache must not reorder runs between mutants.
        args = ["python3", "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                "-p", "no:randomly", *extra, *tests]
        return " ".join(_quote(a) for a in args)

    @property
    def fast_command(self) -> str:
        return self.command(self.tests, self.pytest_args)

    @property
    def confirm_command(self) -> str:
        return self.command(self.confirm)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def load_targets() -> dict[str, Target]:
    """Every engine module named in modules.toml (a directory stands for its .py files)."""
    raw = tomllib.loads(CONFIG.read_text())
    defaults = raw["defaults"]
    targets: dict[str, Target] = {}
    for name, entry in raw["module"].items():
        path = ROOT / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if not file.read_text().strip():
                continue  # an empty __init__.py has nothing to mutate
            rel = file.relative_to(ROOT).as_posix()
            targets[rel] = Target(
                path=rel,
                group=name,
                tests=tuple(entry["tests"]),
                pytest_args=tuple(entry.get("pytest-args", ())),
                confirm=tuple(entry.get("confirm", defaults["confirm"])),
                timeout=float(entry.get("timeout", defaults["timeout"])),
                exclude_operators=tuple(defaults.get("exclude-operators", ())),
            )
    return targets


def resolve(targets: dict[str, Target], name: str) -> list[Target]:
    """The targets a command-line module name means (a file, or a directory prefix)."""
    name = name.rstrip("/")
    found = [t for p, t in targets.items() if p == name or p.startswith(name + "/")]
    if not found:
        raise SystemExit(f"{name}: not an engine module in {CONFIG.relative_to(ROOT)}; "
                         f"known: {', '.join(sorted(targets))}")
    return found


# ---------------------------------------------------------------- mutants and their names


@dataclass(frozen=True)
class Mutant:
    """One cosmic-ray mutation with its stable name."""

    spec: MutationSpec
    name: str
    diff: tuple[str, str]


def _in_annotation(leaf: Any) -> bool:
    """Whether a parso leaf sits inside a type annotation (never evaluated at run time)."""
    node = leaf
    while node is not None:
        parent = node.parent
        if parent is None:
            return False
        if parent.type == "tfpdef" and parent.children.index(node) == 2:  # name ':' annotation
            return True
        if parent.type == "param" and getattr(parent, "annotation", None) is node:
            return True
        if parent.type == "funcdef" and parent.annotation is node:
            return True
        if parent.type == "annassign" and parent.children.index(node) == 1:
            return True
        node = parent
    return False


def specs_for(target: Target, root: Path = ROOT) -> list[MutationSpec]:
    """Every cosmic-ray mutation of one module, in cosmic-ray's own order, minus annotations."""
    source = (root / target.path).read_text()
    module = get_ast(source)
    specs: list[MutationSpec] = []
    for operator_name, operator_args, operator in _operators({}):
        if operator_name in target.exclude_operators:
            continue
        positions = (
            (node, start, end)
            for node in ast_nodes(module)
            for start, end in operator.mutation_positions(node)
        )
        for occurrence, (node, start, end) in enumerate(positions):
            leaf = module.get_leaf_for_position(start, include_prefixes=True)
            if leaf is not None and _in_annotation(leaf):
                continue
            specs.append(MutationSpec(
                module_path=target.path, operator_name=operator_name,
                operator_args=operator_args, occurrence=occurrence, start_pos=start,
                end_pos=end, definition_name=ASTQuery(node).get_definition_name(),
            ))
    return specs


def _group(spec: MutationSpec, lines: Sequence[str]) -> tuple[str, str, str, str]:
    """Mutants that share this key can only differ by their mutated text (or its repeat)."""
    return (str(spec.module_path), str(spec.definition_name), spec.operator_name,
            lines[spec.start_pos[0] - 1].strip())


def name_mutants(specs: Sequence[MutationSpec], wanted: Sequence[MutationSpec] | None = None,
                 root: Path = ROOT) -> list[Mutant]:
    """Give mutations their stable names (each applied in memory to find the changed line).

    Applying a mutation re-parses the module, so only ``wanted`` (default: all) and the few
    mutations sharing a line with one of them (needed to number repeats) are applied.
    """
    texts: dict[str, str] = {}
    lines: dict[str, list[str]] = {}
    for spec in specs:
        key = str(spec.module_path)
        if key not in texts:
            texts[key] = (root / key).read_text()
            lines[key] = texts[key].splitlines()
    groups: dict[tuple[str, str, str, str], list[MutationSpec]] = {}
    for spec in sorted(specs, key=lambda s: (str(s.module_path), s.start_pos, s.operator_name,
                                             s.occurrence)):
        groups.setdefault(_group(spec, lines[str(spec.module_path)]), []).append(spec)
    todo = specs if wanted is None else wanted
    needed = {_group(s, lines[str(s.module_path)]) for s in todo}
    names: dict[int, Mutant] = {}  # by id(): MutationSpec holds a dict, unhashable
    for key in needed:
        seen: Counter[str] = Counter()
        for spec in groups[key]:
            module = str(spec.module_path)
            operator = get_operator(spec.operator_name)(**(spec.operator_args or {}))
            mutated = mutate_code(texts[module], operator, spec.occurrence)
            if mutated is None:
                continue
            after = mutated.splitlines()
            row = spec.start_pos[0] - 1
            old = key[3]
            new = after[row].strip() if len(after) == len(lines[module]) else "<line removed>"
            base = f"{module}::{spec.definition_name}::{spec.operator_name}::{old} => {new}"
            seen[base] += 1
            name = base if seen[base] == 1 else f"{base} #{seen[base]}"
            names[id(spec)] = Mutant(spec=spec, name=name, diff=(old, new))
    return [names[id(s)] for s in todo if id(s) in names]


def find_named(specs: Sequence[MutationSpec], names: Sequence[str],
               root: Path = ROOT) -> dict[str, Mutant]:
    """The mutants with these names, applying only the candidates on the named lines."""
    wanted_keys = set()
    for name in names:
        module, definition, operator, rest = name.split("::", 3)
        wanted_keys.add((module, definition, operator, rest.split(" => ", 1)[0]))
    texts = {str(s.module_path): (root / s.module_path).read_text().splitlines() for s in specs}
    candidates = [s for s in specs if _group(s, texts[str(s.module_path)]) in wanted_keys]
    found = {m.name: m for m in name_mutants(specs, candidates, root)}
    return {n: found[n] for n in names if n in found}


def read_list(path: Path) -> dict[str, str]:
    """A reviewed list: 'NAME' or 'NAME ## note' per line ('#' starts a comment line).

    The note is the reason (equivalent.txt) or the tests that kill the mutant (sample.txt).
    ' ## ' because a name holds a line of code, which may hold ' | ' or ' # '.
    """
    entries: dict[str, str] = {}
    if not path.exists():
        return entries
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, note = line.partition(" ## ")
        entries[name.strip()] = note.strip()
    return entries


# ---------------------------------------------------------------- running


@contextmanager
def scratch_copy() -> Iterator[Path]:
    """A throw-away copy of the repository's files (tracked and new, not ignored)."""
    base = Path(tempfile.mkdtemp(prefix="simfs-mutation-"))
    try:
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                                cwd=ROOT, capture_output=True, check=False)
        if listed.returncode == 0:
            for rel in filter(None, listed.stdout.decode().split("\0")):
                src = ROOT / rel
                if src.is_file():
                    dst = base / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
        else:
            shutil.copytree(ROOT, base, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".git", "__pycache__", ".*_cache",
                                                          ".hypothesis"))
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run_one(mutant: Mutant, command: str, timeout: float, workdir: Path) -> WorkResult:
    """cosmic-ray's mutate-and-test of one mutant inside the scratch copy."""
    here = Path.cwd()
    os.chdir(workdir)
    try:
        return mutate_and_test([mutant.spec], command, timeout)
    finally:
        os.chdir(here)


def baseline(target: Target, workdir: Path) -> None:
    """The selection must pass unmutated, or every mutant would read as killed."""
    done = subprocess.run(target.fast_command, shell=True, cwd=workdir, capture_output=True,
                          text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                          check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-15:])
        raise SystemExit(f"baseline failed for {target.path} ({target.fast_command}):\n{tail}")


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | survived | equivalent | incompetent
    seconds: float
    detail: str = ""


def campaign(target: Target, mutants: Sequence[Mutant], equivalent: dict[str, str],
             workdir: Path, confirm: bool, session: Path | None) -> list[Outcome]:
    """Run mutants of one module; record every result in a cosmic-ray session database."""
    outcomes: list[Outcome] = []
    db_cm = use_db(str(session)) if session is not None else None
    db: WorkDB | None = db_cm.__enter__() if db_cm is not None else None
    try:
        for index, mutant in enumerate(mutants, 1):
            started = time.monotonic()
            if mutant.name in equivalent:
                outcomes.append(Outcome(mutant, "equivalent", 0.0, equivalent[mutant.name]))
                continue
            result = run_one(mutant, target.fast_command, target.timeout, workdir)
            if result.test_outcome == TestOutcome.SURVIVED and confirm:
                result = run_one(mutant, target.confirm_command, target.timeout * 4, workdir)
            status = {TestOutcome.KILLED: "killed", TestOutcome.SURVIVED: "survived"}.get(
                result.test_outcome, "incompetent")  # type: ignore[arg-type]
            seconds = time.monotonic() - started
            outcomes.append(Outcome(mutant, status, seconds,
                                    (result.output or "")[-2000:] if status != "killed" else ""))
            print(f"  [{index}/{len(mutants)}] {status:9} {seconds:5.1f}s {mutant.name}",
                  flush=True)
            if db is not None:
                job = uuid.uuid4().hex
                db.add_work_item(WorkItem.single(job, mutant.spec))
                db.set_result(job, result)
    finally:
        if db_cm is not None:
            db_cm.__exit__(None, None, None)
    return outcomes


def score_line(path: str, outcomes: Sequence[Outcome], population: int) -> dict[str, Any]:
    counts = Counter(o.status for o in outcomes)
    judged = counts["killed"] + counts["survived"]
    score = counts["killed"] / judged if judged else 1.0
    return {"module": path, "mutants": population, "run": len(outcomes),
            "killed": counts["killed"], "survived": counts["survived"],
            "equivalent": counts["equivalent"], "incompetent": counts["incompetent"],
            "score": round(score, 3)}


def pick(specs: list[MutationSpec], sample: int | None, seed: int) -> list[MutationSpec]:
    """A deterministic sample: the same code, seed and size give the same mutants."""
    if sample is None or sample >= len(specs):
        return specs
    chosen = random.Random(seed).sample(range(len(specs)), sample)
    return [specs[i] for i in sorted(chosen)]


# ---------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    """Every mutant by line; with --names, the stable names (slow: one parse per mutant)."""
    targets = load_targets()
    equivalent = read_list(EQUIVALENT)
    for target in resolve(targets, args.module):
        specs = specs_for(target)
        if not args.names:
            source = (ROOT / target.path).read_text().splitlines()
            for spec in specs:
                row = spec.start_pos[0]
                print(f"{target.path}:{row}: {spec.operator_name}: {source[row - 1].strip()}")
            continue
        source = (ROOT / target.path).read_text().splitlines()
        wanted = [sp for sp in specs if args.grep is None
                  or args.grep in source[sp.start_pos[0] - 1]]
        for mutant in name_mutants(specs, wanted):
            mark = "E " if mutant.name in equivalent else "  "
            print(mark + mutant.name)
    return 0


def _run_targets(chosen: Sequence[Target], args: argparse.Namespace) -> list[dict[str, Any]]:
    """One deterministic sample per modules.toml entry (a directory pools its files)."""
    equivalent = read_list(EQUIVALENT)
    scores: list[dict[str, Any]] = []
    groups: dict[str, list[Target]] = {}
    for target in chosen:
        groups.setdefault(target.group, []).append(target)
    with scratch_copy() as workdir:
        for group, members in groups.items():
            first = members[0]
            specs = [spec for t in members for spec in specs_for(t, workdir)]
            if getattr(args, "survivors", None):
                # re-run the survivors of an earlier run (its --json) on today's code
                wanted = [n for m in json.loads(Path(args.survivors).read_text())["modules"]
                          if m["module"] == group for n in m.get("survivors", [])]
                found = find_named(specs, wanted, workdir)
                for name in wanted:
                    if name not in found:
                        print(f"  gone (its line changed or was deleted): {name}")
                picked = list(found.values())
            else:
                picked = name_mutants(specs, pick(specs, args.sample, args.seed), workdir)
            print(f"{group}: {len(specs)} mutants, running {len(picked)} "
                  f"(seed {args.seed}) with: {first.fast_command}", flush=True)
            baseline(first, workdir)
            session = None
            if args.session_dir:
                Path(args.session_dir).mkdir(parents=True, exist_ok=True)
                session = Path(args.session_dir) / (group.replace("/", "_") + ".sqlite")
                session.unlink(missing_ok=True)
            outcomes = campaign(first, picked, equivalent, workdir, args.confirm, session)
            line = score_line(group, outcomes, len(specs))
            line["files"] = {
                t.path: score_line(t.path, [o for o in outcomes
                                            if str(o.mutant.spec.module_path) == t.path],
                                   sum(1 for sp in specs if str(sp.module_path) == t.path))
                for t in members
            } if len(members) > 1 else {}
            line["survivors"] = [o.mutant.name for o in outcomes if o.status == "survived"]
            scores.append(line)
            for o in outcomes:
                if o.status in ("survived", "incompetent"):
                    print(f"  {o.status.upper()}: {o.mutant.name}")
            print(f"  score {line['score']:.0%}: killed {line['killed']}, survived "
                  f"{line['survived']}, equivalent {line['equivalent']}, incompetent "
                  f"{line['incompetent']} of {line['run']} run ({line['mutants']} mutants)",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"date": time.strftime("%Y-%m-%d"), "seed": args.seed, "sample": args.sample,
             "confirm": args.confirm, "modules": scores}, indent=2) + "\n")
    return scores


def cmd_run(args: argparse.Namespace) -> int:
    targets = load_targets()
    _run_targets(resolve(targets, args.module), args)
    return 0


def cmd_engine(args: argparse.Namespace) -> int:
    targets = load_targets()
    scores = _run_targets(list(targets.values()), args)
    print("\nmodule | mutants | run | killed | survived | equivalent | score")
    for s in scores:
        print(f"{s['module']} | {s['mutants']} | {s['run']} | {s['killed']} | "
              f"{s['survived']} | {s['equivalent']} | {s['score']:.0%}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """Run the fixed sample: every listed mutant must still be killed."""
    targets = load_targets()
    listed = read_list(SAMPLE)
    if args.add:
        return _add_to_sample(targets, args.add)
    by_module: dict[str, list[str]] = {}
    for name in listed:
        by_module.setdefault(name.split("::", 1)[0], []).append(name)
    survived: list[str] = []
    stale: list[str] = []
    checked: set[str] = set()
    ran = 0
    with scratch_copy() as workdir:
        for module, names in sorted(by_module.items()):
            target = targets.get(module)
            if target is None:
                stale.extend(names)
                continue
            known = find_named(specs_for(target, workdir), names, workdir)
            stale.extend(n for n in names if n not in known)
            # each entry runs against the tests noted after its name (the ones that pinned
            # it), else the module's fast selection; each selection must pass unmutated
            by_tests: dict[tuple[str, ...], list[Mutant]] = {}
            for name in names:
                if name in known:
                    noted = tuple(listed[name].split()) or target.tests
                    by_tests.setdefault(noted, []).append(known[name])
            for tests, todo in by_tests.items():
                chosen = replace(target, tests=tests,
                                 pytest_args=() if tests != target.tests else target.pytest_args)
                if chosen.fast_command not in checked:  # one baseline per selection
                    baseline(chosen, workdir)
                    checked.add(chosen.fast_command)
                for o in campaign(chosen, todo, {}, workdir, confirm=False, session=None):
                    ran += 1
                    if o.status != "killed":
                        survived.append(f"{o.status}: {o.mutant.name}\n{o.detail[-600:]}")
    for name in stale:
        print(f"stale (its line changed; refresh the sample): {name}")
    for text in survived:
        print(f"SURVIVED — a test that used to kill this mutant no longer does:\n  {text}")
    killed = ran - len(survived)
    print(f"mutation sample: {killed} killed, {len(survived)} survived, {len(stale)} stale")
    if survived:
        return 1
    if listed and len(stale) > STALE_LIMIT * len(listed):
        print(f"more than {STALE_LIMIT:.0%} of the sample is stale: run "
              f"'python3 .ci/mutation/mutation.py refresh'")
        return 1
    return 0


def _add_to_sample(targets: dict[str, Target], entries: Sequence[str]) -> int:
    listed = read_list(SAMPLE)
    lines = SAMPLE.read_text().splitlines() if SAMPLE.exists() else []
    for entry in entries:
        name = entry.partition(" ## ")[0].strip()
        target = targets[name.split("::", 1)[0]]
        if name not in find_named(specs_for(target), [name]):
            raise SystemExit(f"no such mutant: {name}")
        if name not in listed:
            lines.append(entry.strip())
    SAMPLE.write_text("\n".join(lines) + "\n")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    """Drop stale sample entries (the mutated line is gone); print what was dropped."""
    targets = load_targets()
    lines = SAMPLE.read_text().splitlines()
    found: dict[str, set[str]] = {}
    kept: list[str] = []
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            kept.append(line)
            continue
        name = entry.partition(" ## ")[0].strip()
        module = name.split("::", 1)[0]
        if module not in found and module in targets:
            names = [e.partition(" ## ")[0].strip() for e in lines
                     if e.strip().startswith(module + "::")]
            found[module] = set(find_named(specs_for(targets[module]), names))
        if name in found.get(module, set()):
            kept.append(line)
        else:
            print(f"dropped: {entry}")
    SAMPLE.write_text("\n".join(kept) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-nice", action="store_true", help="do not lower our priority")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="name every mutant of a module")
    p.add_argument("module")
    p.add_argument("--names", action="store_true", help="print stable names (slow)")
    p.add_argument("--grep", help="with --names: only mutants on lines containing this text")
    p.set_defaults(func=cmd_list)

    for name, func, help_ in (("run", cmd_run, "mutation campaign on one module"),
                              ("engine", cmd_engine, "campaign over every engine module")):
        p = sub.add_parser(name, help=help_)
        if name == "run":
            p.add_argument("module")
        p.add_argument("--sample", type=int, default=None, help="run N mutants per module")
        p.add_argument("--seed", type=int, default=21)
        p.add_argument("--confirm", action="store_true",
                       help="re-run survivors against the whole suite")
        p.add_argument("--json", help="write the scores here")
        p.add_argument("--survivors", help="run only the survivors listed in this --json file")
        p.add_argument("--session-dir", help="keep cosmic-ray session databases here")
        p.set_defaults(func=func)

    p = sub.add_parser("sample", help="the fixed CI sample (fails if a listed mutant survives)")
    p.add_argument("--add", nargs="+", help="append these mutant names to the sample")
    p.set_defaults(func=cmd_sample)
    p = sub.add_parser("refresh", help="drop stale entries from the fixed sample")
    p.set_defaults(func=cmd_refresh)

    args = parser.parse_args(argv)
    if not args.no_nice:
        os.nice(10)
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
