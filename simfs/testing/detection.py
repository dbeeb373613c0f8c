"""The detection benchmark: how many plausible wrong filters the machines catch, how fast.

``simfs bench detection`` runs every entry of :mod:`simfs.testing.corpus` ``K`` times,
each with a fresh random seed and no example database, under the settings the machine's
``TestCase`` carries by default (what a user who writes nothing gets), and reports per
entry how many runs caught the bug and the wall time from building the machine to the
report, shrinking and the counterexample script included.  It also checks that each
report's script reproduces the failure.

Wall-clock numbers depend on the machine and its load; the report prints the load
average next to them.  No test asserts them (``tests/detection`` runs a short budget
that checks the benchmark works and that the catches are real).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis.stateful import get_state_machine_test
from rich.console import Console
from rich.table import Table
from rich.text import Text

from simfs.testing.corpus import Entry, entries
from simfs.testing.mutants import mutant

__all__ = ["DetectionReport", "Trial", "run", "run_trial"]


@dataclass
class Trial:
    """One run of one entry with one seed."""

    entry: str
    seed: int
    caught: bool
    seconds: float
    #: CPU time of this process for the run (robust to other load on the machine)
    cpu_seconds: float = 0.0
    #: calls in the reduced counterexample script (None: no script)
    script_calls: int | None = None
    #: the printed script raised the same kind of failure when run
    replayed: bool | None = None
    #: what was raised, when it was not a property failure
    error: str | None = None


@dataclass
class DetectionReport:
    """All trials, and the summary numbers."""

    trials: list[Trial] = field(default_factory=list)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def caught_share(self) -> float:
        return sum(t.caught for t in self.trials) / len(self.trials) if self.trials else 0.0

    @property
    def median_seconds(self) -> float:
        """Median wall time to a report, over the caught runs."""
        times = [t.seconds for t in self.trials if t.caught]
        return statistics.median(times) if times else float("nan")

    @property
    def median_cpu_seconds(self) -> float:
        """Median CPU time to a report, over the caught runs."""
        times = [t.cpu_seconds for t in self.trials if t.caught]
        return statistics.median(times) if times else float("nan")

    def by_entry(self) -> dict[str, list[Trial]]:
        out: dict[str, list[Trial]] = {}
        for t in self.trials:
            out.setdefault(t.entry, []).append(t)
        return out


def _script_replays(script: str) -> bool:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    try:
        exec(compile(script, "<counterexample>", "exec"), namespace)
    except AssertionError:
        return True
    except BaseException:
        return False
    return False


def run_trial(entry: Entry, seed: int, settings: Settings | None = None) -> Trial:
    """Run ``entry`` once with ``seed``: the machine's default settings (or ``settings``),
    no database.  Never raises for a property failure; returns the :class:`Trial`."""
    start = time.perf_counter()
    cpu = time.process_time()
    ctx = mutant(entry.mutant) if entry.mutant else contextlib.nullcontext()
    with ctx:
        try:
            machine = entry.machine()
            base = settings if settings is not None else machine.TestCase.settings
            make: Any = get_state_machine_test  # typed or not, by hypothesis version
            test = make(machine, settings=Settings(base, database=None, derandomize=False))
            hypothesis_seed(seed)(test)()
        except AssertionError as e:
            seconds = time.perf_counter() - start
            script = getattr(e, "script", None)
            trial = Trial(entry.name, seed, True, seconds, time.process_time() - cpu)
            if isinstance(script, str):
                trial.script_calls = script.count("    s(") + script.count(" = s(")
                trial.replayed = _script_replays(script)
            return trial
        except Exception as e:
            seconds = time.perf_counter() - start
            last = traceback.format_exception_only(e)[-1].strip()
            cpu_used = time.process_time() - cpu
            return Trial(entry.name, seed, True, seconds, cpu_used, error=last[:200])
    return Trial(entry.name, seed, False, time.perf_counter() - start, time.process_time() - cpu)


def run(
    console: Console | None = None,
    *,
    k: int = 3,
    only: Sequence[str] = (),
    first_seed: int | None = None,
    settings: Settings | None = None,
) -> DetectionReport:
    """Run the benchmark and print its tables; return the report.

    Args:
        k: runs per entry, each with its own seed.
        only: run only the entries whose name contains one of these strings.
        first_seed: seeds are ``first_seed + i`` (default: drawn from the clock, so every
            invocation uses fresh seeds).
        settings: instead of the machines' defaults (for short smoke runs).
    """
    console = console or Console()
    chosen = [e for e in entries() if not only or any(s in e.name for s in only)]
    base_seed = first_seed if first_seed is not None else int(time.time() * 1000) % 10**9
    report = DetectionReport(load=os.getloadavg())
    with console.status("running the corpus…") as status:
        for i, entry in enumerate(chosen):
            for j in range(k):
                status.update(f"{entry.name} ({i + 1}/{len(chosen)}), seed {j + 1}/{k}")
                report.trials.append(run_trial(entry, base_seed + j, settings))
    report.load = tuple(  # type: ignore[assignment]
        max(a, b) for a, b in zip(report.load, os.getloadavg(), strict=True)
    )
    console.print(_table(report, chosen))
    console.print(_summary(report, k, base_seed))
    return report


def _table(report: DetectionReport, chosen: list[Entry]) -> Table:
    table = Table(title="detection: caught / runs, time to a report", title_justify="left")
    table.add_column("entry", style="cyan", no_wrap=True)
    table.add_column("class")
    table.add_column("caught", justify="right")
    table.add_column("median s", justify="right")
    table.add_column("max s", justify="right")
    table.add_column("median CPU s", justify="right")
    table.add_column("script calls", justify="right")
    table.add_column("replays", justify="right")
    by = report.by_entry()
    for entry in chosen:
        trials = by.get(entry.name, [])
        caught = [t for t in trials if t.caught]
        times = [t.seconds for t in caught]
        calls = [t.script_calls for t in caught if t.script_calls is not None]
        replayed = [t.replayed for t in caught if t.replayed is not None]
        style = "" if len(caught) == len(trials) else "bold red"
        table.add_row(
            entry.name,
            entry.category,
            Text(f"{len(caught)}/{len(trials)}", style=style),
            f"{statistics.median(times):.1f}" if times else "-",
            f"{max(times):.1f}" if times else "-",
            f"{statistics.median([t.cpu_seconds for t in caught]):.1f}" if caught else "-",
            "/".join(str(c) for c in sorted(set(calls))) or "-",
            f"{sum(replayed)}/{len(replayed)}" if replayed else "-",
        )
    return table


def _summary(report: DetectionReport, k: int, base_seed: int) -> Text:
    n = len(report.trials)
    caught = sum(t.caught for t in report.trials)
    errors = [t for t in report.trials if t.error]
    load = ", ".join(f"{x:.1f}" for x in report.load)
    lines = [
        f"caught {caught}/{n} runs ({100 * report.caught_share:.0f}%), "
        f"median time to a report {report.median_seconds:.1f} s wall, "
        f"{report.median_cpu_seconds:.1f} s CPU (reduction and script included); "
        f"{k} seed(s) per entry from {base_seed}; "
        f"{os.cpu_count()} CPUs, load average {load}",
    ]
    for t in errors:
        lines.append(f"  {t.entry} (seed {t.seed}): not a property failure: {t.error}")
    return Text("\n".join(lines))
