"""The scenario library: every scenario runs and its check holds; the checks can fail."""

from __future__ import annotations

import pytest

from simfs import scenarios
from simfs.scenarios import Scenario, ScenarioResult

FOUND, FAILURES = scenarios.discover()
NAMES = list(FOUND)

REQUIRED = {
    "passthrough",
    "classic",
    "hidden_files",
    "readdir_redaction",
    "mediaprovider",
    "partial_passthrough",
    "error_translation",
    "reroot",
    "overlay",
}


def test_library_is_complete_and_loads() -> None:
    assert not FAILURES, [str(f) for f in FAILURES]
    assert len(FOUND) >= 8
    assert set(FOUND) >= REQUIRED, REQUIRED - set(FOUND)


@pytest.mark.parametrize("name", NAMES)
def test_scenario_teaches_something(name: str) -> None:
    s = FOUND[name]
    assert s.title and s.summary
    assert len(s.doc.splitlines()) >= 5, "the docstring is the lesson: say what to look for"


@pytest.mark.parametrize("name", NAMES)
def test_scenario_runs_and_its_claim_holds(name: str) -> None:
    s = FOUND[name]
    result = s.run()
    assert isinstance(result, ScenarioResult)
    assert result.trace.of("syscall"), "the trace holds the workload"
    s.check(result)


@pytest.mark.parametrize("name", NAMES)
def test_scenario_check_can_fail(name: str) -> None:
    """Each claim is specific to its configuration: on a plain bind mount it is false."""
    s = FOUND[name]
    result = s.run("bind mount")
    with pytest.raises(AssertionError):
        s.check(result)


@pytest.mark.parametrize("name", NAMES)
def test_scenario_is_deterministic(name: str) -> None:
    s = FOUND[name]
    assert s.run().trace.to_json() == s.run().trace.to_json()


@pytest.mark.parametrize("name", NAMES)
def test_workload_runs_under_every_reference_config(name: str) -> None:
    runs = FOUND[name].compare()
    assert set(runs) == {*scenarios.CONFIGS, "this scenario"}
    errors = {k: v for k, v in runs.items() if isinstance(v, BaseException)}
    assert not errors
    bind = runs["bind mount"]
    assert isinstance(bind, ScenarioResult) and bind.transitions == 0


def test_get_unknown_names_the_known() -> None:
    with pytest.raises(scenarios.UnknownScenario) as info:
        scenarios.get("nope", FOUND)
    assert all(n in str(info.value) for n in NAMES)


def test_attempt_returns_errno_names() -> None:
    def fail() -> None:
        raise FileNotFoundError(2, "x")

    assert scenarios.attempt(fail) == "ENOENT"
    assert scenarios.attempt(lambda: 5) == 5


def test_unknown_config_is_a_usage_error() -> None:
    s: Scenario = FOUND[NAMES[0]]
    with pytest.raises(scenarios.UsageError if hasattr(scenarios, "UsageError") else Exception):
        s.run("floppy")
