"""``simfs bench``: how fast the simulator runs, next to pyfakefs on the same machine.

What it measures is the *simulator's* cost: wall-clock time of this Python process doing
the simulated work.  A FUSE-BPF column faster or slower than a classic-FUSE one says how
much simulated work each path does in Python, not how a real kernel performs; the
kernel-level facts (transitions, daemon requests, BPF runs) are counted exactly by
``simfs compare``.

Two tables, measured in one run:

1. **Operations per second** for ``stat``, ``open+read+close``, ``create+unlink`` and
   ``readdir`` (``listdir`` of a directory of :data:`READDIR_SIZE` entries) through

   - ``pyfakefs``: pyfakefs's own ``FakeOsModule`` (the baseline the simulator stores its
     lower filesystem in),
   - ``simfs lower``: the simulated kernel's root filesystem, no mount in between,
   - ``bind mount``: the same tree through ``k.mount_bind``,
   - ``FUSE-BPF``: ``k.mount_fuse(root_dir=..., no_daemon=True)``, pure passthrough,
   - ``classic FUSE``: ``k.mount_fuse(daemon=Passthrough(...))``, every operation a
     simulated daemon round trip;

   each cell shows ops/s and the time ratio to pyfakefs (``12×`` = twelve times slower).
2. **Scaling with directory size** (1k, 10k, 100k entries by default): milliseconds per
   ``listdir`` and microseconds per ``stat`` of one entry, per configuration.
3. **The eBPF interpreter** (issue 18): instructions per second of
   :mod:`simfs.bpf.ebpf.interp` on an ALU loop, and ``stat`` per second through a FUSE-BPF
   mount with no program, with the Python ``media_provider`` program and with its compiled
   twin from ``simfs/bpf/filters/selftests.o`` (each ``stat`` runs the filter), so the
   cost of a compiled filter reads next to the operation around it.

4. **Ratios side by side** (issue 14): the figures the project's speed goals are stated in,
   each a ratio of two configurations measured *interleaved* in one run (short slices
   alternating between the two, so a loaded machine slows both alike), with the trace
   attached as by default: FUSE-BPF passthrough / bind for ``stat`` and open+read+close,
   classic FUSE / bind for open+read+close, simfs root fs and bind / pyfakefs
   ``FakeOsModule`` for both, and the cost of tracing (FUSE-BPF ``stat`` traced /
   untraced).  Then the property machine's throughput: examples/s of
   :func:`simfs.testing.equivalence_machine` against a bind mount, FUSE-BPF passthrough
   and classic FUSE, derandomized (a fixed seed), at most :data:`MACHINE_STEPS` steps.

:meth:`BenchReport.figures` flattens everything into named numbers (``simfs bench --json``);
:func:`compare_figures` divides a run's figures by a recorded baseline
(``simfs/bench_baseline.json``, ``simfs bench --compare``), a regression guard that is
read by a person, never a timed test.

Timings are wall-clock (``time.perf_counter``) and vary between machines and runs; the
simulated kernel's virtual clock is not involved.  The trace instrument is detached while
measuring (``k.hooks.remove(k.trace)``), so the numbers are those of an untraced kernel;
with the trace attached every event is also recorded.  Nothing asserts on these numbers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pyfakefs.fake_file import FakeDirectory, FakeFile
from pyfakefs.fake_filesystem import FakeFilesystem, OSType
from pyfakefs.fake_os import FakeOsModule
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = [
    "OPS",
    "READDIR_SIZE",
    "BenchReport",
    "compare_figures",
    "comparison_table",
    "measure_ebpf",
    "measure_machines",
    "measure_ops",
    "measure_ratios",
    "measure_scaling",
    "run",
]

#: Entries in the directory the ``readdir`` operation lists.
READDIR_SIZE = 1000
#: Directory sizes of the scaling table.
SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000)
#: The operations of the first table, in display order.
OPS = ("stat", "open+read+close", "create+unlink", "readdir")
#: A scaling measurement is skipped when one ``listdir`` is estimated (linearly, from the
#: previous size) to take longer than this many seconds.
MAX_CALL_SECONDS = 5.0

Target = tuple[Any, str]  # (an os-like object, the root path of the tree under test)


@dataclass
class BenchReport:
    """What :func:`run` measured: ops/s per configuration and operation, and scaling."""

    ops: dict[str, dict[str, float]] = field(default_factory=dict)
    scaling: dict[int, dict[str, tuple[float, float] | None]] = field(default_factory=dict)
    readdir_size: int = READDIR_SIZE
    ebpf: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    machines: dict[str, float] = field(default_factory=dict)

    def figures(self) -> dict[str, float]:
        """Every number as ``{"section: name": value}`` (the ``--json`` output)."""
        out: dict[str, float] = {}
        for label, rates in self.ops.items():
            for op, r in rates.items():
                out[f"ops/s: {label}: {op}"] = r
        for n, row in self.scaling.items():
            for label, v in row.items():
                if v is not None:
                    out[f"scaling: {label}: listdir {n} s"] = v[0]
                    out[f"scaling: {label}: stat in {n} s"] = v[1]
        for section in ("ebpf", "ratios", "machines"):
            for name, value in getattr(self, section).items():
                out[f"{section}: {name}"] = value
        return out


# --------------------------------------------------------------------------------------------
# Fixtures


def _fill(fs: FakeFilesystem, path: str, n: int) -> None:
    """``n`` empty files in ``path``, through pyfakefs's object layer (fast)."""
    d = fs.create_dir(path)
    assert isinstance(d, FakeDirectory)
    for i in range(n):
        d.add_entry(FakeFile(f"f{i:06d}", filesystem=fs))


def _populate(fs: FakeFilesystem, root: str, dir_sizes: list[int]) -> None:
    fs.create_file(f"{root}/small/file", contents=b"x" * 100)
    for n in sorted(set(dir_sizes)):
        _fill(fs, f"{root}/dir{n}", n)


def _pyfakefs(dir_sizes: list[int]) -> Target:
    fs = FakeFilesystem(path_separator="/")
    fs.os = OSType.LINUX
    _populate(fs, "/data", dir_sizes)
    return FakeOsModule(fs), "/data"


def _simfs_targets(dir_sizes: list[int]) -> dict[str, Target]:
    """One kernel, one lower tree, seen through each kind of mount."""
    from simfs import Kernel

    k = Kernel()
    _populate(k.lower, "/data", dir_sizes)
    for d in ("/bind", "/fusebpf", "/classic"):
        k.lower.create_dir(d)
    p = k.spawn()
    targets: dict[str, Target] = {"simfs lower": (p, "/data")}
    k.mount_bind("/data", "/bind")
    targets["bind mount"] = (p, "/bind")
    try:
        k.mount_fuse("/fusebpf", root_dir="/data", no_daemon=True)
        targets["FUSE-BPF"] = (p, "/fusebpf")
    except (ImportError, NotImplementedError):
        pass
    try:
        from simfs.daemons import Passthrough

        k.mount_fuse("/classic", daemon=Passthrough("/data"))
        targets["classic FUSE"] = (p, "/classic")
    except (ImportError, NotImplementedError):
        pass
    k.hooks.remove(k.trace)  # measure the untraced kernel
    return targets


# --------------------------------------------------------------------------------------------
# Measuring


def _rate(fn: Callable[[], object], seconds: float, max_iters: int = 1_000_000) -> float:
    """Calls per second of ``fn``: repeat until ``seconds`` have passed (at least 3 calls).

    The first call warms caches (dentries, pyfakefs path resolution) and is not counted,
    unless it alone took longer than ``seconds``: then its time is the answer.
    """
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    if first > seconds:
        return 1.0 / first
    n = 0
    start = time.perf_counter()
    elapsed = 0.0
    while n < 3 or (elapsed < seconds and n < max_iters):
        fn()
        n += 1
        elapsed = time.perf_counter() - start
    return n / elapsed if elapsed > 0 else float("inf")


def _op(name: str, o: Any, root: str, readdir_size: int) -> Callable[[], object]:
    small = f"{root}/small/file"
    if name == "stat":
        return lambda: o.stat(small)
    if name == "open+read+close":

        def orc() -> None:
            fd = o.open(small, os.O_RDONLY)
            o.read(fd, 4096)
            o.close(fd)

        return orc
    if name == "create+unlink":
        tmp = f"{root}/small/tmp"

        def cu() -> None:
            fd = o.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            o.close(fd)
            o.unlink(tmp)

        return cu
    if name == "readdir":
        big = f"{root}/dir{readdir_size}"
        return lambda: o.listdir(big)
    raise ValueError(f"unknown operation {name!r}; one of {OPS}")


def measure_ops(
    targets: dict[str, Target], seconds: float, readdir_size: int = READDIR_SIZE
) -> dict[str, dict[str, float]]:
    """ops/s for each configuration and each of :data:`OPS`."""
    return {
        label: {op: _rate(_op(op, o, root, readdir_size), seconds) for op in OPS}
        for label, (o, root) in targets.items()
    }


def measure_scaling(
    targets: dict[str, Target],
    sizes: list[int],
    seconds: float,
    max_call_seconds: float = MAX_CALL_SECONDS,
) -> dict[int, dict[str, tuple[float, float] | None]]:
    """Per size and configuration: (seconds per listdir, seconds per stat of one entry).

    ``None`` marks a measurement skipped because the previous size's ``listdir``, scaled
    linearly, predicts more than ``max_call_seconds`` for one call.
    """
    out: dict[int, dict[str, tuple[float, float] | None]] = {}
    last: dict[str, tuple[int, float] | None] = {}
    for n in sorted(sizes):
        row: dict[str, tuple[float, float] | None] = {}
        for label, (o, root) in targets.items():
            prev = last.get(label)
            if prev is None and label in last:
                row[label] = None  # an earlier size was already skipped
                continue
            if prev is not None and prev[1] * n / prev[0] > max_call_seconds:
                row[label] = None
                last[label] = None
                continue
            big = f"{root}/dir{n}"
            entry = f"{big}/f{n // 2:06d}"
            per_list = 1.0 / _rate(partial(o.listdir, big), seconds, max_iters=50)
            per_stat = 1.0 / _rate(partial(o.stat, entry), seconds)
            row[label] = (per_list, per_stat)
            last[label] = (n, per_list)
        out[n] = row
    return out


# --------------------------------------------------------------------------------------------
# Printing


#: Column headings of the operations table: what each timed call sequence is.
_OP_HEADINGS = {
    "stat": "stat",
    "open+read+close": "open\n+read\n+close",
    "create+unlink": "create\n+unlink",
    "readdir": "listdir",
}


def _ops_table(ops: dict[str, dict[str, float]], readdir_size: int) -> Table:
    """Configurations as rows, operations as columns, so it fits 80 columns."""
    table = Table(
        title="Simulator speed: simulated calls per second of this Python process "
        "(n× time: the call takes n times as long as pyfakefs's FakeOsModule doing it)",
        header_style="bold",
        title_justify="left",
        caption=f"listdir: a directory of {readdir_size:,} entries.  A simulator's cost "
        "in Python, not kernel performance: compare counts with `simfs compare`.",
        caption_justify="left",
    )
    table.add_column("simulated\nthrough")
    for op in OPS:
        table.add_column(_OP_HEADINGS[op], justify="right")
    base = ops.get("pyfakefs", {})
    for label, rates in ops.items():
        cells: list[Text] = []
        for op in OPS:
            r = rates[op]
            text = Text(f"{r:,.0f}/s")
            if label != "pyfakefs" and base.get(op):
                text.append(f"\n{base[op] / r:.1f}× time", style="dim")
            cells.append(text)
        table.add_row(label, *cells)
    return table


def _loop_program(iterations: int) -> list[Any]:
    """An ALU loop: 7 instructions per iteration, ``iterations`` times, then exit."""
    from simfs.bpf.ebpf import isa

    def ins(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> isa.Insn:
        return isa.Insn(code, dst, src, off, imm, imm)

    alu64 = isa.BPF_ALU64
    return [
        ins(alu64 | isa.BPF_MOV | isa.BPF_K, 0, imm=0),
        ins(alu64 | isa.BPF_MOV | isa.BPF_K, 1, imm=iterations),
        ins(alu64 | isa.BPF_ADD | isa.BPF_X, 0, 1),  # loop:
        ins(alu64 | isa.BPF_XOR | isa.BPF_K, 0, imm=0x55),
        ins(alu64 | isa.BPF_MOV | isa.BPF_X, 2, 0),
        ins(alu64 | isa.BPF_RSH | isa.BPF_K, 2, imm=3),
        ins(alu64 | isa.BPF_ADD | isa.BPF_X, 0, 2),
        ins(alu64 | isa.BPF_SUB | isa.BPF_K, 1, imm=1),
        ins(isa.BPF_JMP | isa.BPF_JNE | isa.BPF_K, 1, off=-7, imm=0),
        ins(isa.BPF_JMP | isa.BPF_EXIT),
    ]


def measure_ebpf(seconds: float, iterations: int = 20_000) -> dict[str, float]:
    """Interpreter instructions/s, and stat/s through FUSE-BPF without a program, with a
    Python program and with the same program compiled (see the module docstring)."""
    from importlib import resources

    from simfs import Kernel, bpf
    from simfs.bpf import examples
    from simfs.bpf.ebpf import interp

    out: dict[str, float] = {}
    prog = interp.compile_program(_loop_program(iterations))
    done: list[int] = []

    def loop() -> None:
        done.append(interp.run(prog, interp.Memory()).insns)

    calls = _rate(loop, seconds)
    out["interpreter instructions/s"] = calls * (sum(done) / len(done))
    obj = resources.files("simfs.bpf.filters").joinpath("selftests.o")
    programs: dict[str, Any] = {
        "no program": None,
        "Python media_provider": examples.media_provider,
    }
    with resources.as_file(obj) as path:
        programs["compiled media_provider"] = bpf.load_object(path, "media_provider")
    for label, program in programs.items():
        k = Kernel()
        k.lower.create_dir("/data/small")
        k.lower.create_file("/data/small/file", contents=b"x")
        k.lower.create_dir("/m")
        k.mount_fuse("/m", root_dir="/data", no_daemon=True, root_bpf=program)
        k.hooks.remove(k.trace)
        p = k.spawn()
        out[f"stat/s, FUSE-BPF, {label}"] = _rate(partial(p.stat, "/m/small/file"), seconds)
    return out


def _ebpf_table(ebpf: dict[str, float]) -> Table:
    table = Table(
        title="eBPF interpreter (compiled fuse-bpf programs)",
        header_style="bold",
        title_justify="left",
    )
    table.add_column("measurement")
    table.add_column("rate", justify="right")
    base = ebpf.get("stat/s, FUSE-BPF, no program")
    for label, rate in ebpf.items():
        text = Text(f"{rate:,.0f}")
        if label.startswith("stat/s") and base and label != "stat/s, FUSE-BPF, no program":
            text.append(f" ({base / rate:.2f}× the time)", style="dim")
        table.add_row(label, text)
    return table


#: Steps of one example of the throughput measurement (the issue's "≤25 steps").
MACHINE_STEPS = 25

#: The ratio figures: name -> (numerator config, denominator config, operation, goal).
#: Configurations are those of :func:`_ratio_targets`; the goal is the issue's minimum.
RATIOS: dict[str, tuple[str, str, str, float]] = {
    "FUSE-BPF / bind: stat": ("FUSE-BPF", "bind mount", "stat", 0.5),
    "FUSE-BPF / bind: open+read+close": ("FUSE-BPF", "bind mount", "open+read+close", 0.5),
    "classic / bind: open+read+close": ("classic FUSE", "bind mount", "open+read+close", 0.25),
    "root fs / pyfakefs: stat": ("simfs lower", "pyfakefs", "stat", 2.0),
    "root fs / pyfakefs: open+read+close": ("simfs lower", "pyfakefs", "open+read+close", 2.0),
    "bind / pyfakefs: stat": ("bind mount", "pyfakefs", "stat", 2.0),
    "bind / pyfakefs: open+read+close": ("bind mount", "pyfakefs", "open+read+close", 2.0),
    "traced / untraced FUSE-BPF: stat": ("FUSE-BPF", "FUSE-BPF untraced", "stat", 0.0),
}


def _ratio_targets() -> dict[str, Target]:
    """pyfakefs and the simfs mounts with the trace attached (the default), plus an
    untraced FUSE-BPF mount on a second kernel, for the tracing-cost ratio."""
    targets: dict[str, Target] = {"pyfakefs": _pyfakefs([])}
    traced = _simfs_targets([])
    untraced_fuse = traced.pop("FUSE-BPF", None)
    o = traced["simfs lower"][0]
    o.kernel.hooks.add(o.kernel.trace)  # _simfs_targets detached it: attach it again
    targets.update(traced)
    if untraced_fuse is not None:
        targets["FUSE-BPF"] = untraced_fuse
        fresh = _simfs_targets([])
        targets["FUSE-BPF untraced"] = fresh["FUSE-BPF"]
    return targets


def measure_ratios(seconds: float, rounds: int = 10) -> dict[str, float]:
    """The :data:`RATIOS`, each configuration pair measured interleaved: ``rounds``
    alternating slices of ``seconds / rounds`` each, calls and time summed per side."""
    targets = _ratio_targets()
    out: dict[str, float] = {}
    for name, (num, den, op, _goal) in RATIOS.items():
        if num not in targets or den not in targets:
            continue
        fns = [_op(op, *targets[c], READDIR_SIZE) for c in (num, den)]
        calls = [0, 0]
        spent = [0.0, 0.0]
        for f in fns:
            f()  # warm dentries and pyfakefs caches
        for _ in range(rounds):
            for i, f in enumerate(fns):
                start = time.perf_counter()
                deadline = start + seconds / rounds
                n = 0
                now = start
                while n < 3 or now < deadline:
                    f()
                    n += 1
                    now = time.perf_counter()
                calls[i] += n
                spent[i] += now - start
        rate_num, rate_den = calls[0] / spent[0], calls[1] / spent[1]
        out[name] = rate_num / rate_den
        out[f"{name} [{num} ops/s]"] = rate_num
        out[f"{name} [{den} ops/s]"] = rate_den
        for c in (num, den):
            kernel = getattr(targets[c][0], "kernel", None)
            if kernel is not None:
                kernel.trace.clear()  # what was recorded is not needed: keep memory flat
    return out


def measure_machines(examples: int = 20, steps: int = MACHINE_STEPS) -> dict[str, float]:
    """examples/s of :func:`~simfs.testing.equivalence_machine` (derandomized: the same
    examples every run) with a bind mount, FUSE-BPF passthrough and classic FUSE under
    test, ``examples`` examples of at most ``steps`` steps each."""
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.stateful import run_state_machine_as_test

    from simfs.testing import bind, classic_passthrough, equivalence_machine, passthrough
    from simfs.testing.machines import ack_differences

    mounts: dict[str, tuple[Any, Any]] = {
        "bind": (bind, None),
        "FUSE-BPF passthrough": (passthrough, ack_differences),
        "classic FUSE": (classic_passthrough, None),
    }
    config = settings(
        max_examples=examples,
        stateful_step_count=steps,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    out: dict[str, float] = {}
    for label, (factory, allow) in mounts.items():
        machine = equivalence_machine(factory, allow=allow, name=f"Bench{label}")
        run_state_machine_as_test(machine, settings=settings(config, max_examples=1))  # warm
        start = time.perf_counter()
        run_state_machine_as_test(machine, settings=config)
        out[f"equivalence examples/s: {label}"] = examples / (time.perf_counter() - start)
    return out


def compare_figures(
    current: dict[str, float], baseline: dict[str, float]
) -> dict[str, tuple[float | None, float | None, float | None]]:
    """Per figure: (baseline, current, current / baseline); ``None`` where one is missing.

    Read each ratio by the figure's meaning: for ops/s, ratios and examples/s above 1 is
    faster; for the ``scaling`` figures (seconds per call) below 1 is faster."""
    out: dict[str, tuple[float | None, float | None, float | None]] = {}
    for name in [*baseline, *(n for n in current if n not in baseline)]:
        b, c = baseline.get(name), current.get(name)
        out[name] = (b, c, c / b if b and c is not None else None)
    return out


def comparison_table(current: dict[str, float], baseline: dict[str, float]) -> Table:
    """:func:`compare_figures` as a table: figure, baseline, this run, run/baseline."""
    table = Table(
        title="This run against the recorded baseline (wall-clock: read, never asserted)",
        header_style="bold",
        title_justify="left",
        caption="run/baseline above 1: more of the figure (faster for ops/s, ratios and "
        "examples/s; slower for the scaling figures, which are seconds per call).",
        caption_justify="left",
    )
    for heading in ("figure", "baseline", "this run", "run/baseline"):
        table.add_column(heading, justify="left" if heading == "figure" else "right")
    for name, (b, c, r) in compare_figures(current, baseline).items():
        table.add_row(
            name,
            "—" if b is None else f"{b:,.4g}",
            "—" if c is None else f"{c:,.4g}",
            "—" if r is None else f"{r:.2f}",
        )
    return table


def _ratios_table(ratios: dict[str, float], machines: dict[str, float]) -> Table:
    table = Table(
        title="Speed goals (issue 14): ratios measured interleaved in one run, trace attached",
        header_style="bold",
        title_justify="left",
    )
    table.add_column("figure")
    table.add_column("ratio", justify="right")
    table.add_column("goal", justify="right")
    table.add_column("ops/s (numerator, denominator)", justify="right")
    for name, (num, den, _op_name, goal) in RATIOS.items():
        if name not in ratios:
            continue
        r = ratios[name]
        met = goal == 0.0 or r >= goal
        goal_text = Text("(cost)" if goal == 0.0 else f"≥ {goal:g}", style="" if met else "red")
        rates = f"{ratios[f'{name} [{num} ops/s]']:,.0f} / {ratios[f'{name} [{den} ops/s]']:,.0f}"
        table.add_row(name, f"{r:.2f}", goal_text, rates)
    for name, value in machines.items():
        table.add_row(name, f"{value:,.1f}", "", "")
    return table


def _scaling_table(
    scaling: dict[int, dict[str, tuple[float, float] | None]], max_call_seconds: float
) -> Table:
    table = Table(
        title="Simulator scaling with directory size: wall-clock ms per listdir and µs "
        "per stat of one entry, in this Python process",
        header_style="bold",
        title_justify="left",
    )
    table.add_column("entries", justify="right")
    labels = list(next(iter(scaling.values()), {}))
    for label in labels:
        table.add_column(label, justify="right")
    for n, row in scaling.items():
        cells: list[Text] = []
        for label in labels:
            v = row.get(label)
            if v is None:
                cells.append(Text(f"skipped (> {max_call_seconds:g} s)", style="dim"))
            else:
                cells.append(Text(f"{v[0] * 1e3:,.1f} ms\n{v[1] * 1e6:,.0f} µs"))
        table.add_row(f"{n:,}", *cells)
    return table


def run(
    console: Console | None = None,
    *,
    quick: bool = False,
    sizes: list[int] | None = None,
    seconds: float | None = None,
    max_call_seconds: float = MAX_CALL_SECONDS,
    machines: bool = True,
) -> BenchReport:
    """Measure and print both tables; return the numbers.

    Args:
        console: where to print (a new ``Console`` by default).
        quick: small directories (:data:`QUICK_SIZES`, readdir of 100) and 0.05 s per
            measurement, for smoke tests.
        sizes: directory sizes of the scaling table (default :data:`SIZES`).
        seconds: time budget of each measurement (default 0.3, quick 0.05).
        max_call_seconds: skip a scaling cell whose single ``listdir`` is estimated to
            take longer than this (see :func:`measure_scaling`).
        machines: also measure property-machine throughput (:func:`measure_machines`).
    """
    console = console or Console()
    seconds = seconds if seconds is not None else (0.05 if quick else 0.3)
    sizes = list(sizes) if sizes else list(QUICK_SIZES if quick else SIZES)
    readdir_size = 100 if quick else READDIR_SIZE
    dir_sizes = [*sizes, readdir_size]
    with console.status("building fixtures…"):
        targets: dict[str, Target] = {"pyfakefs": _pyfakefs(dir_sizes)}
        targets.update(_simfs_targets(dir_sizes))
    report = BenchReport(readdir_size=readdir_size)
    with console.status("measuring operations…"):
        report.ops = measure_ops(targets, seconds, readdir_size)
    console.print(_ops_table(report.ops, readdir_size))
    with console.status("measuring scaling…"):
        report.scaling = measure_scaling(targets, sizes, seconds, max_call_seconds)
    console.print(_scaling_table(report.scaling, max_call_seconds))
    with console.status("measuring the eBPF interpreter…"):
        report.ebpf = measure_ebpf(seconds, iterations=2_000 if quick else 20_000)
    console.print(_ebpf_table(report.ebpf))
    with console.status("measuring ratios side by side…"):
        report.ratios = measure_ratios(seconds * 4)
    if machines:
        with console.status("measuring property-machine throughput…"):
            report.machines = measure_machines(5 if quick else 20)
    console.print(_ratios_table(report.ratios, report.machines))
    missing = [c for c in ("FUSE-BPF", "classic FUSE") if c not in targets]
    if missing:
        console.print(
            Text(f"not measured (not available in this build): {', '.join(missing)}", style="dim")
        )
    console.print(
        Text(
            f"{seconds:g} s per measurement, trace detached; wall-clock numbers of the "
            "simulator vary between machines and runs, and say nothing about a real kernel's "
            f"speed.  'skipped': one listdir was estimated to take over {max_call_seconds:g} s.",
            style="dim",
        )
    )
    return report
