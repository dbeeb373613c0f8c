"""The detection corpus and benchmark (issue 11): the wrong filters are caught, the fixed
ones pass, and ``simfs bench detection`` runs.

The full benchmark (every entry, K fresh seeds, the default 300 examples) is
``python3 -m simfs bench detection``; CI runs only this short budget: one fixed seed for
one entry per class, and the fixed filters under the loaded profile.
"""

from __future__ import annotations

import pytest
from hypothesis.stateful import run_state_machine_as_test

from simfs.cli import main
from simfs.testing.corpus import Entry, correct, entries
from simfs.testing.detection import run_trial
from simfs.testing.profiles import machine_settings

pytestmark = pytest.mark.detection

#: one entry per class of bug, for the short budget
SAMPLE = (
    "hide_dotfiles_no_readdir",
    "readonly_no_link",
    "readonly_no_rename2",
    "enodata_to_eacces",
    "users_readonly_off_by_one",
    "redactor_first_name_only",
    "rebacker_every_dir",
    "engine:attrs_not_copied_back",
)


def _entry(name: str) -> Entry:
    return next(e for e in entries() if e.name == name)


def test_corpus_has_25_wrong_filters_of_every_class() -> None:
    filters = [e for e in entries() if e.mutant is None]
    assert len(filters) >= 25
    assert len({e.name for e in entries()}) == len(entries())
    classes = {e.category for e in filters}
    assert {
        "hider",
        "read-only",
        "errno translator",
        "uid policy",
        "readdir redaction (daemon)",
        "lookup add-on REPLACE",
    } <= classes
    assert {e.mutant for e in entries() if e.mutant} == {
        "post_filter_skipped",
        "error_in_lost",
        "inheritance_dropped",
        "remove_ignored",
        "attrs_not_copied_back",
    }


@pytest.mark.parametrize("name", SAMPLE)
def test_sample_entry_is_caught_and_its_script_replays(name: str) -> None:
    trial = run_trial(_entry(name), seed=0)
    assert trial.caught, trial
    assert trial.error is None, trial.error
    assert trial.replayed, f"the counterexample script of {name} did not reproduce"
    assert trial.script_calls is not None and trial.script_calls <= 6


@pytest.mark.parametrize("entry", correct(), ids=lambda e: e.name)
def test_the_fixed_filters_pass_the_same_machines(entry: Entry) -> None:
    # without this, a catch could be the machine's mistake
    run_state_machine_as_test(entry.machine(), settings=machine_settings(0.5))


def test_cli_runs_the_benchmark_on_a_short_budget(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["bench", "detection", "--quick", "--only", "readonly_no_link", "--seed", "3"])
    out = capsys.readouterr().out
    assert status == 0
    assert "readonly_no_link" in out and "caught 1/1 runs" in out


def test_detection_report_numbers() -> None:
    from simfs.testing.detection import DetectionReport, Trial

    r = DetectionReport(
        [Trial("a", 0, True, 2.0), Trial("a", 1, False, 9.0), Trial("b", 0, True, 4.0)]
    )
    assert r.caught_share == pytest.approx(2 / 3)
    assert r.median_seconds == 3.0  # of the caught runs only
    assert [t.seed for t in r.by_entry()["a"]] == [0, 1]
