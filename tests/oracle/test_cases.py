"""The edge-case table, run on real Linux (the oracle) and on simfs, compared outcome by outcome.

Three kinds of test:

* ``test_case_table_is_well_formed`` (no kernel needed): the table has enough cases and each
  passes :func:`cases.validate`.
* ``test_real_kernel_is_deterministic[case-cred]``: the case runs twice on the real kernel and
  both runs normalise identically, setup included. This is what makes the real side a usable
  oracle; if it fails, the normalisation (not simfs) needs fixing.
* ``test_simfs_matches_real_linux[case-cred]``: simfs gives the same normalised outcome for
  every op and the same final tree.

Real runs are cached per (case, cred) for the session, so each case costs two real runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from .cases import CASES, Case, case_ids, validate
from .compare import Run, diff_runs, run_case
from .ops import Raw
from .realfs import RealWorld, read_sysctl, unavailable_reason
from .simside import SimWorld

MIN_CASES = 170

KNOWN_DEVIATIONS: dict[str, str] = {}
"""``"case-cred"`` -> why simfs deliberately differs there (the test is then a strict xfail).
Each entry must also be listed in the README with its reason."""

_REAL_UNAVAILABLE = unavailable_reason()
_real_runs: dict[tuple[str, str], tuple[Run, Run]] = {}


def _params() -> list[Any]:
    params = []
    for c, cred in case_ids():
        test_id = f"{c.name}-{cred}"
        marks = [pytest.mark.realkernel]
        if test_id in KNOWN_DEVIATIONS:
            marks.append(pytest.mark.xfail(reason=KNOWN_DEVIATIONS[test_id], strict=True))
        params.append(pytest.param(c, cred, id=test_id, marks=marks))
    return params


def _require_real(c: Case) -> None:
    if _REAL_UNAVAILABLE:
        pytest.skip(_REAL_UNAVAILABLE)
    for name, wanted in c.sysctl.items():
        actual = read_sysctl(name)
        if actual != wanted:
            pytest.skip(f"case assumes fs.{name}={wanted}; this machine has {actual}")


def _run_real(c: Case, cred: str) -> Run:
    with RealWorld() as world:
        return run_case(world, setup=c.setup, ops=c.ops, cred=c.cred(cred), umask=c.umask)


def real_runs(c: Case, cred: str) -> tuple[Run, Run]:
    """Two independent real-kernel runs of a case (cached for the session)."""
    key = (c.name, cred)
    if key not in _real_runs:
        _real_runs[key] = (_run_real(c, cred), _run_real(c, cred))
    return _real_runs[key]


def test_case_table_is_well_formed() -> None:
    assert len(CASES) >= MIN_CASES
    problems = {name: p for name, c in CASES.items() if (p := validate(c))}
    assert not problems


@pytest.mark.parametrize(("case", "cred"), _params())
def test_real_kernel_is_deterministic(case: Case, cred: str) -> None:
    _require_real(case)
    first, second = real_runs(case, cred)
    failed_setup = [s for s in first.steps if s.phase == "setup" and s.outcome[0] != "ok"]
    assert not failed_setup, f"setup ops failed on real Linux: {failed_setup}"
    diff = diff_runs(first, second, ("run 1", "run 2"))
    if diff is not None:
        pytest.fail(
            f"real Linux gave two different normalised runs of {case.name} [{cred}]:\n{diff}"
        )


@pytest.mark.parametrize(("case", "cred"), _params())
def test_simfs_matches_real_linux(case: Case, cred: str) -> None:
    _require_real(case)
    real, _ = real_runs(case, cred)
    with SimWorld() as world:
        sim = run_case(
            world, setup=case.setup, ops=case.ops, cred=case.cred(cred), umask=case.umask
        )
    diff = diff_runs(real, sim)
    if diff is not None:
        pytest.fail(
            f"simfs differs from real Linux in {case.name} [{cred}] ('!!' marks a difference):\n"
            f"{diff}",
            pytrace=False,
        )


class _SeededBug(SimWorld):
    """simfs with one planted deviation: rename reports EEXIST where it reports ENOTEMPTY."""

    def call(
        self, proc: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], tick: bool
    ) -> Raw:
        outcome = super().call(proc, name, args, kwargs, tick)
        return ("err", "EEXIST") if outcome == ("err", "ENOTEMPTY") else outcome


@pytest.mark.realkernel
def test_a_planted_deviation_is_reported() -> None:
    """The comparison can fail: a one-errno bug in the simulated side shows as a diff."""
    case = CASES["rename_dir_over_nonempty_dir"]
    _require_real(case)
    real, _ = real_runs(case, "root")
    with _SeededBug() as world:
        sim = run_case(world, setup=case.setup, ops=case.ops, cred=case.cred("root"), umask=0o022)
    diff = diff_runs(real, sim)
    assert diff is not None
    assert "!! ops#0" in diff
    assert "EEXIST" in diff
