"""Every scenario's full trace, under every reference configuration, is unchanged.

Issue 14 made the simulated paths faster with the promise that not one observable result
changes.  This test holds the simulator to it: the SHA-256 of ``Trace.to_json()`` of each
scenario run (the scenario's own mount and every configuration of ``simfs compare``) is
recorded in ``tests/golden/scenario_traces.json``.  A change that alters a trace fails here;
if the change is meant (a new event, a fidelity fix), look at the difference with
``python3 -m simfs run NAME --view json`` before and after, then record the new digests with
``SIMFS_UPDATE_GOLDEN=1 python3 -m pytest -q tests/test_trace_golden.py`` and say why in the
commit message.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from simfs import scenarios

GOLDEN = Path(__file__).parent / "golden" / "scenario_traces.json"
FOUND, _ = scenarios.discover()


def _digests(name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for config, run in FOUND[name].compare().items():
        text = repr(run) if isinstance(run, BaseException) else run.trace.to_json()
        out[config] = hashlib.sha256(text.encode()).hexdigest()
    return out


@pytest.mark.parametrize("name", list(FOUND))
def test_scenario_traces_unchanged(name: str) -> None:
    got = _digests(name)
    if os.environ.get("SIMFS_UPDATE_GOLDEN"):
        recorded = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        recorded[name] = got
        GOLDEN.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
        return
    recorded = json.loads(GOLDEN.read_text())
    assert name in recorded, f"no recorded traces for {name!r}: see this module's docstring"
    changed = sorted(
        c for c in set(got) | set(recorded[name]) if got.get(c) != recorded[name].get(c)
    )
    assert not changed, f"{name}: the trace changed under {changed} (see the module docstring)"
