"""What a machine's runs reached: the opcodes and phases the filter ran for, and which
calls succeeded.

Every :class:`~simfs.testing.machines.SyscallMachine` class keeps one :class:`Coverage`
(``Machine.coverage``), filled at the end of each run from the kernels' traces (``bpf``
events: opcode and phase; ``fuse_op`` events: opcodes that reached the mount).  Each run
also reports them as ``hypothesis.event`` lines (``pytest --hypothesis-show-statistics``)
and as ``hypothesis.target`` scores, so the search leans towards runs that reach more of
the opcodes the filter handles.  ``Machine.coverage.table()`` prints the summary; the
pytest plugin prints it for every machine run in the session, and a ``Machine.TestCase``
whose runs never reached an opcode its filter mentions warns with :class:`CoverageWarning`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

__all__ = ["Coverage", "CoverageWarning"]


class CoverageWarning(UserWarning):
    """A machine's runs never reached an opcode its filter handles: a pass says little
    about that opcode."""

    def __init__(self, machine: str, unreached: Iterable[str]) -> None:
        self.machine = machine
        self.unreached = tuple(sorted(unreached))
        super().__init__(
            f"{machine}: no run reached {', '.join(self.unreached)}, which the filter "
            "handles; the property is untested there (add names or trees that lead "
            "there, or raise max_examples)"
        )


class Coverage:
    """Counts over the runs of one machine class."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.examples = 0
        #: (opcode, phase) -> runs in which the filter ran for it
        self.phases: Counter[tuple[str, str]] = Counter()
        #: opcode -> runs in which it reached the mount
        self.reached: Counter[str] = Counter()
        #: call -> successes / attempts, over all runs
        self.ok: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        #: per run: the opcodes it reached (for "since" queries)
        self._runs: list[frozenset[str]] = []
        #: per run: the calls that succeeded at least once
        self.ok_runs: list[frozenset[str]] = []

    def add(
        self,
        phases: Iterable[tuple[str, str]],
        reached: Iterable[str],
        ok: Mapping[str, int],
        calls: Mapping[str, int],
    ) -> None:
        """Record one run."""
        pairs = set(phases)
        ops = set(reached) | {op for op, _ in pairs}
        self.examples += 1
        self.phases.update(pairs)
        self.reached.update(ops)
        self.ok.update(ok)
        self.calls.update(calls)
        self._runs.append(frozenset(ops))
        self.ok_runs.append(frozenset(op for op, n in ok.items() if n))

    def unreached(self, handled: Iterable[str], since: int = 0) -> frozenset[str]:
        """The opcodes of ``handled`` that no run after the first ``since`` reached."""
        seen: set[str] = set()
        for ops in self._runs[since:]:
            seen |= ops
        return frozenset(handled) - seen

    def table(self, handled: Iterable[str] = ()) -> str:
        """A plain-text summary: opcode, pre/post runs, and calls ok/attempted."""
        handled = frozenset(handled)
        lines = [f"{self.name}: {self.examples} runs"]
        ops = sorted(set(self.reached) | handled)
        if ops:
            lines.append(f"  {'opcode':<16}{'reached':>8}{'pre':>6}{'post':>6}")
            for op in ops:
                mark = " (handled)" if op in handled else ""
                lines.append(
                    f"  {op:<16}{self.reached[op]:>8}{self.phases[(op, 'pre')]:>6}"
                    f"{self.phases[(op, 'post')]:>6}{mark}"
                )
        if self.calls:
            lines.append(f"  {'call':<16}{'ok':>8}{'tried':>8}")
            for call in sorted(self.calls):
                lines.append(f"  {call:<16}{self.ok[call]:>8}{self.calls[call]:>8}")
        gap = self.unreached(handled)
        if gap:
            lines.append(f"  never reached although handled: {', '.join(sorted(gap))}")
        return "\n".join(lines)
