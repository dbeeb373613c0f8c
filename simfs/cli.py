"""The ``simfs`` command line: run the scenario library and the benchmark.

::

    simfs list                          the scenarios, with what each teaches
    simfs run NAME [--view tree|table|json|diagram|all]
                                        run one, print its lesson and trace, check its claim
    simfs compare NAME                  its workload on a bind mount, classic FUSE,
                                        FUSE-BPF passthrough and its own mount, side by side
    simfs bench [--quick]               ops/s against pyfakefs, and scaling with dir size
    simfs bench --json | --compare F    every figure as JSON; or each next to baseline F
    simfs bpf check FILE.o [SECTION]    the verifier's verdict and log for compiled programs
    simfs bpf disasm FILE.o [SECTION]   their instructions as the verifier log prints them
    simfs bench detection [-k K]        share of wrong filters the property machines catch
    simfs fuzz [PATHS] [--replay]       property tests as a long multi-core campaign
    simfs serve SOURCE MNT [--run CMD]  a daemon served on the real kernel (simfs.live)

``python -m simfs`` is the same program.  :func:`main` takes an argument list and returns
the exit status (0 success, 1 a scenario's check failed or the verifier refused a program,
2 a usage error such as an unknown scenario name, a ``--scenarios`` directory that does
not exist (with the directories actually searched), or a file that is not a BPF object
or lacks the section), so tests call it directly.

Output is for people on a terminal (colour unless ``NO_COLOR`` is set, box drawing) and
plain text when written to a pipe or a file (no colour or escape codes, ASCII tables and
tree guides); every view fits 80 columns (:func:`simfs.render.console`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

import simfs
from simfs import diagram, render
from simfs import scenarios as scenario_lib
from simfs.scenarios import Scenario, ScenarioResult, UnknownScenario

__all__ = ["build_parser", "main"]

VIEWS = ("tree", "table", "json", "diagram", "all")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands ``list``, ``run``, ``compare``, ``bench``)."""
    parser = argparse.ArgumentParser(
        prog="simfs",
        description="A deterministic simulator of Linux VFS + FUSE + Android FUSE-BPF: "
        "run scenarios and see every user<->kernel transition.",
        epilog="Start with `simfs list`, then `simfs run passthrough` and `simfs run classic`.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {simfs.__version__}")
    parser.add_argument(
        "--scenarios",
        metavar="DIR",
        action="append",
        type=Path,
        help="load scenarios from DIR instead of the default location (repeatable)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser(
        "list",
        help="list the scenarios",
        description="List the scenarios: name, title and the first line of the lesson.",
    )

    run = sub.add_parser(
        "run",
        help="run a scenario and show its trace",
        description="Run a scenario on a fresh simulated kernel, print its lesson (the "
        "module docstring) and what happened, then assert the claim it teaches.",
    )
    run.add_argument("name", help="scenario name (see `simfs list`)")
    run.add_argument(
        "--view",
        choices=VIEWS,
        default="tree",
        help="tree: one tree per syscall (default); table: daemon requests and per-opcode "
        "counters; json: the raw trace as JSON only; diagram: a Mermaid sequence diagram "
        "(process, VFS, BPF program, daemon, lower fs) only; all: tree and tables",
    )
    run.add_argument(
        "--limit",
        type=_positive,
        metavar="N",
        help="draw at most N system calls (tree, diagram)",
    )
    run.add_argument(
        "--hide-daemon-syscalls",
        action="store_true",
        help="do not draw the system calls a daemon made while serving a request",
    )
    run.add_argument("--no-doc", action="store_true", help="do not print the lesson text")

    cmp = sub.add_parser(
        "compare",
        help="compare a scenario's workload across mount types",
        description="Run the scenario's workload on a bind mount, classic FUSE (Passthrough "
        "daemon), FUSE-BPF passthrough, and the scenario's own mount; print transitions, "
        "daemon requests, BPF runs and backing ops side by side.",
    )
    cmp.add_argument("name", help="scenario name (see `simfs list`)")

    bench = sub.add_parser(
        "bench",
        help="measure simulated ops/s against pyfakefs",
        description="Operations per second for stat, open+read+close, create+unlink and "
        "readdir of a large directory through a bind mount, FUSE-BPF passthrough and classic "
        "FUSE, next to pyfakefs's FakeOsModule; then how readdir time grows with directory "
        "size.  Prints numbers; wall-clock, so they vary between machines and runs.",
    )
    bench.add_argument(
        "suite",
        nargs="?",
        choices=("ops", "detection"),
        default="ops",
        help="ops (default): operations per second; detection: the share of the wrong "
        "filters of simfs.testing.corpus the property machines catch, and how fast",
    )
    bench.add_argument(
        "--quick", action="store_true", help="small sizes and short runs (for CI smoke tests)"
    )
    _add_detection_arguments(bench)
    bench.add_argument(
        "--sizes",
        metavar="N,N,...",
        help="directory sizes for the scaling table (default 1000,10000,100000)",
    )
    bench.add_argument(
        "--max-call-seconds",
        type=float,
        metavar="S",
        default=5.0,
        help="skip a scaling cell whose single listdir is estimated to exceed S seconds "
        "(default 5)",
    )
    bench.add_argument(
        "--seconds",
        type=float,
        metavar="S",
        help="time budget per measurement (default 0.3, --quick 0.05)",
    )
    bench.add_argument(
        "--json",
        action="store_true",
        help="print every figure as one JSON object instead of the tables",
    )
    bench.add_argument(
        "--compare",
        metavar="BASELINE.json",
        help="run, then print each figure next to BASELINE's (a --json output, e.g. "
        "simfs/bench_baseline.json) and the ratio run/baseline",
    )
    _add_bpf_parser(sub)
    _add_fuzz_parser(sub)
    from simfs.live.cli import add_serve_parser  # issue 15: the live bridge

    add_serve_parser(sub)
    return parser


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse turns the error into exit 2)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {n}")
    return n


def _add_bpf_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``simfs bpf check|disasm FILE.o [SECTION]`` (issue 18)."""
    bpf = sub.add_parser(
        "bpf",
        help="check or disassemble a compiled fuse-bpf object (.o)",
        description="Work with a fuse-bpf filter compiled by clang (-O2 -target bpf): "
        "`check` runs simfs's verifier on each program section as bpf(BPF_PROG_LOAD) "
        "would and prints the verdict and log; `disasm` prints the instructions.",
    )
    bsub = bpf.add_subparsers(dest="bpf_command", metavar="ACTION", required=True)
    check = bsub.add_parser(
        "check",
        help="verifier verdict and log (exit 1 if a program is refused)",
        description="Verify every program section of FILE.o (or only SECTION) with the "
        "rules of ACK's fuse_prog_is_valid_access and the core verifier; print each "
        "verdict with the kernel's errno, and the verifier log.  Exit 0 when all are "
        "accepted, 1 when one is refused, 2 when FILE is not a BPF object or lacks SECTION.",
    )
    disasm = bsub.add_parser(
        "disasm",
        help="the instructions, as the kernel's verifier log prints them",
        description="Print each program section's instructions as the verifier log "
        "shows them (kernel/bpf/disasm.c), with the maps the object defines.",
    )
    for p in (check, disasm):
        p.add_argument("file", metavar="FILE.o", help="object built by clang -target bpf")
        p.add_argument("section", nargs="?", metavar="SECTION", help="one program section")
    check.add_argument(
        "--access",
        choices=("fixed", "legacy"),
        default="fixed",
        help="fuse_prog_is_valid_access as fixed in android17-6.18 (default) or the "
        "earlier, looser rule",
    )
    check.add_argument(
        "--no-bounded-loops",
        action="store_true",
        help="refuse every back-edge, as kernels before 5.3 do",
    )
    check.add_argument(
        "--buffer-limit",
        metavar="N|none",
        default="256",
        help="refuse argument-buffer accesses past N bytes (default 256, ACK's "
        "ctx_field_size); 'none' is the kernel's own rule (no upper bound at load)",
    )
    check.add_argument("--quiet", "-q", action="store_true", help="verdicts only, no verifier log")
    check.add_argument(
        "--log-level",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="the kernel's log_level: 1 (default) shows the path that failed, 2 every path "
        "walked, 0 the verdict only",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) and argparse usage errors (2)
        return int(e.code) if isinstance(e.code, int) else (0 if e.code is None else 2)
    out = render.console()
    err = render.console(stderr=True)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "fuzz":
        return _fuzz(args)
    if args.command == "bench" and args.suite == "detection":
        return _bench_detection(out, args)
    if args.command == "bench":
        from simfs import bench

        sizes = None
        if args.sizes:
            try:
                sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
            except ValueError:
                err.print(f"simfs bench: error: --sizes takes integers, got {args.sizes!r}")
                return 2
        baseline = None
        if args.compare:
            try:
                baseline = json.loads(Path(args.compare).read_text())
            except (OSError, ValueError) as e:
                err.print(f"simfs bench: error: cannot read baseline {args.compare!r}: {e}")
                return 2
        quiet = args.json or baseline is not None
        report = bench.run(
            render.console(file=io.StringIO()) if quiet else out,
            quick=args.quick,
            sizes=sizes,
            seconds=args.seconds,
            max_call_seconds=args.max_call_seconds,
        )
        if args.json:
            print(json.dumps(report.figures(), indent=1))
        if baseline is not None:
            out.print(bench.comparison_table(report.figures(), baseline))
        return 0

    if args.command == "bpf":
        return _bpf(out, err, args)
    if args.command == "serve":
        from simfs.live.cli import run_serve

        return run_serve(args, out, err)

    dirs = args.scenarios if args.scenarios is not None else scenario_lib.scenario_dirs()
    missing = [d for d in dirs if not d.is_dir()]
    if missing:
        what = "is not a directory" if missing[0].exists() else "does not exist"
        source = "--scenarios" if args.scenarios is not None else "SIMFS_SCENARIOS"
        err.print(Text(f"simfs: error: {source} {missing[0]} {what}"))
        return 2
    found, failures = scenario_lib.discover(dirs)
    searched = ", ".join(str(d) for d in dirs) or "(no scenario directory found)"
    if not found and not failures:
        err.print(Text(f"simfs {args.command}: error: no scenarios found (searched: {searched})"))
        return 2
    if args.command == "list":
        return _list(out, found, failures)
    try:
        scenario = scenario_lib.get(args.name, found)
    except UnknownScenario as e:
        broken = [f for f in failures if f.name == args.name]
        if broken:
            err.print(f"simfs {args.command}: error: scenario {args.name!r} failed to load: ")
            err.print(Text(str(broken[0]), style="red"))
        else:
            err.print(Text(f"simfs {args.command}: error: {e} (searched: {searched})"))
        return 2
    if args.command == "run":
        return _run(out, err, scenario, args)
    return _compare(out, scenario)


def _add_detection_arguments(bench: argparse.ArgumentParser) -> None:
    """``simfs bench detection`` options (issue 11)."""
    bench.add_argument(
        "-k", type=int, default=3, metavar="K", help="detection: runs per entry (default 3)"
    )
    bench.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="detection: run only entries whose name contains TEXT (repeatable)",
    )
    bench.add_argument(
        "--seed", type=int, metavar="N", help="detection: first seed (default: from the clock)"
    )


def _add_fuzz_parser(sub: Any) -> None:
    """``simfs fuzz`` (issue 11): see :mod:`simfs.testing.fuzz`."""
    fuzz = sub.add_parser(
        "fuzz",
        help="run property tests as a long campaign on many cores; replay its failures",
        description="Run the given property tests (default tests/properties) in rounds "
        "with pytest-xdist and random seeds until the time budget is spent, saving every "
        "failing example in a shared hypothesis database; --replay reports them again.",
    )
    fuzz.add_argument("paths", nargs="*", help="test files or directories")
    fuzz.add_argument("-n", "--workers", type=int, default=os.cpu_count() or 1)
    fuzz.add_argument("--minutes", type=float, default=60.0, help="time budget (default 60)")
    fuzz.add_argument("--rounds", type=int, help="stop after this many rounds")
    fuzz.add_argument(
        "--database", default=None, help="example database directory (default .simfs-fuzz)"
    )
    fuzz.add_argument(
        "--replay", action="store_true", help="run only the examples saved in the database"
    )


def _fuzz(args: argparse.Namespace) -> int:
    from simfs.testing import fuzz
    from simfs.testing.profiles import FUZZ_DATABASE

    paths = args.paths or list(fuzz.DEFAULT_PATHS)
    database = args.database or FUZZ_DATABASE
    if args.replay:
        return fuzz.replay(paths, database=database)
    failed = fuzz.campaign(
        paths,
        workers=args.workers,
        seconds=args.minutes * 60,
        database=database,
        rounds=args.rounds,
    )
    return 1 if failed else 0


def _bench_detection(out: Console, args: argparse.Namespace) -> int:
    """``simfs bench detection``: see :mod:`simfs.testing.detection`.  ``--quick`` runs
    each entry once with 30 examples (a smoke test, not the benchmark)."""
    from hypothesis import settings

    from simfs.testing import detection
    from simfs.testing.profiles import machine_defaults

    report = detection.run(
        out,
        k=1 if args.quick else args.k,
        only=args.only,
        first_seed=args.seed,
        settings=settings(machine_defaults(), max_examples=30) if args.quick else None,
    )
    return 0 if report.trials else 2


def _list(
    out: Console, found: dict[str, Scenario], failures: list[scenario_lib.LoadFailure]
) -> int:
    table = Table(title=f"{len(found)} scenarios", header_style="bold", title_justify="left")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("what it teaches", ratio=1)
    for s in found.values():
        table.add_row(s.name, s.summary)
    out.print(table)
    for f in failures:
        out.print(Text(f"could not load {f}", style="red"))
    out.print("run one with [bold]simfs run NAME[/], compare with [bold]simfs compare NAME[/]")
    return 0


def _check(scenario: Scenario, result: ScenarioResult) -> str | None:
    """``None`` if the check passed, else a one-paragraph reason."""
    try:
        scenario.check(result)
    except AssertionError as e:
        where = traceback.extract_tb(e.__traceback__)[-1]
        return f"{e or 'assertion failed'} ({Path(where.filename).name}:{where.lineno})"
    return None


def _run(out: Console, err: Console, scenario: Scenario, args: argparse.Namespace) -> int:
    try:
        result = scenario.run()
    except Exception as e:
        err.print(Text(f"simfs run: scenario {scenario.name!r} raised {type(e).__name__}: {e}"))
        err.print(Text("".join(traceback.format_exception(e)), style="dim"))
        return 1
    failure = _check(scenario, result)
    if args.view in ("json", "diagram"):  # machine-readable: nothing else on stdout
        if args.view == "json":
            out.print_json(result.trace.to_json(), indent=2)
        else:
            title = f"{scenario.name}: {scenario.title}"
            out.file.write(diagram.mermaid(result, limit=args.limit, title=title))
        if failure:
            err.print(Text(f"check failed: {failure}", style="red"))
        return 1 if failure else 0
    if not args.no_doc:
        heading = f"{scenario.name}: {scenario.title}"
        if isinstance(out, render.PlainConsole):  # a pipe or a file: no frame
            out.print(Text(f"{heading}\n{'=' * min(len(heading), out.width)}\n"))
            out.print(Markdown(scenario.doc))
            out.print()
        else:
            out.print(Panel(Markdown(scenario.doc), title=heading))
    if args.view in ("tree", "all"):
        out.print(
            render.tree(
                result,
                limit=args.limit,
                show_daemon_syscalls=not args.hide_daemon_syscalls,
            )
        )
    if args.view in ("table", "all"):
        if result.trace.requests():
            out.print(render.requests_table(result))
        else:
            out.print(Text("no requests reached the daemon", style="dim italic"))
        out.print(render.counters_table(result))
    if args.view == "tree":
        m = render.metrics(result)
        out.print(
            f"[bold]{m.syscalls}[/] syscalls, [bold]{m.transitions}[/] user↔kernel transitions, "
            f"{m.requests} daemon requests, {m.bpf_runs} BPF runs, {m.backing_ops} backing ops"
        )
    if result.seen:
        seen = Table(title="what the workload saw", header_style="bold", title_justify="left")
        seen.add_column("observation", style="cyan")
        seen.add_column("value", ratio=1)
        for key, value in result.seen.items():
            seen.add_row(str(key), Text(repr(value)))
        out.print(seen)
    if failure:
        out.print(Text(f"✗ check failed: {failure}", style="bold red"))
        return 1
    out.print(Text("✓ check passed: the claim above holds in this run", style="bold green"))
    return 0


def _compare(out: Console, scenario: Scenario) -> int:
    runs = scenario.compare()
    ok = {k: v for k, v in runs.items() if isinstance(v, ScenarioResult)}
    out.print(render.compare(ok, title=f"{scenario.name}: one workload, {len(ok)} configurations"))
    status = 0
    for label, v in runs.items():
        if isinstance(v, BaseException):
            out.print(Text(f"{label}: the workload failed: {type(v).__name__}: {v}", style="red"))
            status = 1
    out.print(
        Text(
            "Bind mount: the VFS alone. Classic FUSE: every operation is a daemon round trip "
            "(two transitions). FUSE-BPF passthrough: backed, no program. Upstream "
            "passthrough: mainline 6.9+ backing ids, the kernel serves file data only. "
            "This scenario: "
            "its own mount, program and daemon. The lower tree is the scenario's own, so a "
            "workload written for its layout may fail elsewhere (see 'failed').",
            style="dim",
        )
    )
    return status


def _bpf(out: Console, err: Console, args: argparse.Namespace) -> int:
    """``simfs bpf check|disasm``: 0 all accepted, 1 one refused, 2 bad input."""
    from simfs.bpf.ebpf import isa, verifier
    from simfs.bpf.ebpf.elf import LoadError, read_object

    cmd = f"simfs bpf {args.bpf_command}"
    limit: int | None = None
    if args.bpf_command == "check" and args.buffer_limit.lower() != "none":
        try:
            limit = int(args.buffer_limit)
        except ValueError:
            err.print(f"{cmd}: error: --buffer-limit takes a number or 'none'", soft_wrap=True)
            return 2
    try:
        obj = read_object(args.file)
    except LoadError as e:  # unreadable, not ELF, truncated, not EM_BPF
        err.print(Text(f"{cmd}: error: {e.reason}"), soft_wrap=True)
        return 2
    if args.section and args.section not in obj.refused:
        try:
            obj.program(args.section)
        except LoadError as e:  # no such section
            err.print(Text(f"{cmd}: error: {e.reason}"), soft_wrap=True)
            return 2
    names = [args.section] if args.section else [*obj.programs, *obj.refused]
    if not names:
        err.print(
            Text(f"{cmd}: error: {args.file}: no program sections (SEC(...) functions)"),
            soft_wrap=True,
        )
        return 2
    maps = [m.create() for m in obj.maps]
    status = 0
    for name in names:
        refused = obj.refused.get(name)
        if refused is not None:
            # the loader could not relocate it: bpf_prog_load never gets that far
            out.print(
                Text(f"{name}: rejected by the loader, {_errname(refused.errno)}: "), soft_wrap=True
            )
            out.print(Text(refused.reason, style="red"), soft_wrap=True)
            status = 1
            continue
        prog = obj.programs[name]
        if args.bpf_command == "disasm":
            n = sum(1 for ins in prog.insns if not ins.is_lddw_tail)
            out.print(Text(f"{name}: {n} instructions", style="bold"), soft_wrap=True)
            for i, m in enumerate(maps):
                out.print(Text(f"  map[id:{i}] {m!r}"), soft_wrap=True)
            out.print(Text(isa.format_program(prog.insns)), soft_wrap=True)
            continue
        result = verifier.verify(
            prog.insns,
            maps=maps,
            access=args.access,
            bounded_loops=not args.no_bounded_loops,
            buffer_limit=limit,
            log_level=args.log_level,
        )
        style = "green" if result.accepted else "red"
        out.print(
            Text(f"{name}: {verifier.describe(result)}", style=f"bold {style}"), soft_wrap=True
        )
        if not args.quiet:
            out.print(Text(result.log.rstrip()), soft_wrap=True)
        if not result.accepted:
            status = 1
    return status


def _errname(value: int | None) -> str:
    import errno as errno_mod

    return errno_mod.errorcode.get(value or 0, str(value))


def entry_point() -> None:
    """Console-script entry: exit with :func:`main`'s status."""
    sys.exit(main())
