"""The ``simfs`` command line: run the scenario library and the benchmark.

::

    simfs list                          the scenarios, with what each teaches
    simfs run NAME [--view tree|table|json|all]
                                        run one, print its lesson and trace, check its claim
    simfs compare NAME                  its workload on a bind mount, classic FUSE,
                                        FUSE-BPF passthrough and its own mount, side by side
    simfs bench [--quick]               ops/s against pyfakefs, and scaling with dir size
    simfs serve SOURCE MNT [--run CMD]  a daemon served on the real kernel (simfs.live)

``python -m simfs`` is the same program.  :func:`main` takes an argument list and returns
the exit status (0 success, 1 a scenario's check failed, 2 a usage error such as an
unknown scenario name), so tests call it directly.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from simfs import render
from simfs import scenarios as scenario_lib
from simfs.scenarios import Scenario, ScenarioResult, UnknownScenario

__all__ = ["build_parser", "main"]

VIEWS = ("tree", "table", "json", "all")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands ``list``, ``run``, ``compare``, ``bench``)."""
    parser = argparse.ArgumentParser(
        prog="simfs",
        description="A deterministic simulator of Linux VFS + FUSE + Android FUSE-BPF: "
        "run scenarios and see every user<->kernel transition.",
        epilog="Start with `simfs list`, then `simfs run passthrough` and `simfs run classic`.",
    )
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
        "counters; json: the raw trace as JSON only; all: tree and tables",
    )
    run.add_argument("--limit", type=int, metavar="N", help="draw at most N syscall trees")
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
        "--quick", action="store_true", help="small sizes and short runs (for CI smoke tests)"
    )
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
    from simfs.live.cli import add_serve_parser  # issue 15: the live bridge

    add_serve_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) and argparse usage errors (2)
        return int(e.code) if isinstance(e.code, int) else (0 if e.code is None else 2)
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "bench":
        from simfs import bench

        sizes = None
        if args.sizes:
            try:
                sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
            except ValueError:
                err.print(f"simfs bench: error: --sizes takes integers, got {args.sizes!r}")
                return 2
        bench.run(
            out,
            quick=args.quick,
            sizes=sizes,
            seconds=args.seconds,
            max_call_seconds=args.max_call_seconds,
        )
        return 0

    if args.command == "serve":
        from simfs.live.cli import run_serve

        return run_serve(args, out, err)
    found, failures = scenario_lib.discover(args.scenarios)
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
            err.print(Text(f"simfs {args.command}: error: {e}"))
        return 2
    if args.command == "run":
        return _run(out, err, scenario, args)
    return _compare(out, scenario)


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
    if not found and not failures:
        dirs = scenario_lib.scenario_dirs()
        out.print(f"no scenarios found (searched: {', '.join(map(str, dirs)) or 'nothing'})")
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
    if args.view == "json":
        out.print_json(result.trace.to_json(), indent=2)
        if failure:
            err.print(Text(f"check failed: {failure}", style="red"))
        return 1 if failure else 0
    if not args.no_doc:
        out.print(Panel(Markdown(scenario.doc), title=f"{scenario.name}: {scenario.title}"))
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


def entry_point() -> None:
    """Console-script entry: exit with :func:`main`'s status."""
    sys.exit(main())
