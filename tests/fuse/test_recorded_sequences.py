"""simfs's classic FUSE sends the requests the real kernel sent, workload by workload.

Every recording of ``tests/fuse_recordings/recordings.json`` is replayed on simfs (see
``recorded.py``) and its opcode sequence per phase must equal the real one, after the
intentional differences below are applied to the real sequence.  Each difference is named
and says why; a recording that needs one not listed fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fuse import recorded as rec_mod

RECORDINGS = rec_mod.load()


def _drop(op: str) -> Callable[[list[str]], list[str]]:
    return lambda seq: [o for o in seq if o != op]


#: name -> (applies to workload ids starting with, transformation of the real sequence, why)
#: (Empty since issue 15: variant="upstream" speaks 7.45, COPY_FILE_RANGE_64 included.)
INTENTIONAL: dict[str, tuple[tuple[str, ...], Callable[[list[str]], list[str]], str]] = {}


def expected(rec: dict[str, Any], phase: str) -> tuple[list[str], list[str]]:
    seq = rec_mod.recorded(rec, phase)
    used: list[str] = []
    for name, (prefixes, fn, _why) in INTENTIONAL.items():
        if rec["id"].startswith(prefixes) and seq:
            new = fn(seq)
            if new != seq:
                used.append(name)
            seq = new
    return seq, used


@pytest.mark.skipif(not RECORDINGS, reason="no recordings.json")
@pytest.mark.parametrize("rec", RECORDINGS, ids=[r["id"] for r in RECORDINGS])
def test_recorded_sequence(rec: dict[str, Any]) -> None:
    sim = rec_mod.simulate(rec)
    for phase in ("setup", "measured"):
        want, _ = expected(rec, phase)
        assert sim[phase] == want, (
            f"{rec['id']} {phase}: real {rec_mod.recorded(rec, phase)} -> "
            f"expected {want}, simfs {sim[phase]}"
        )


@pytest.mark.skipif(not RECORDINGS, reason="no recordings.json")
def test_every_intentional_difference_is_used() -> None:
    """A listed difference that no recording needs any more must be removed."""
    used: set[str] = set()
    for rec in RECORDINGS:
        for phase in ("setup", "measured"):
            used.update(expected(rec, phase)[1])
    assert used == set(INTENTIONAL)


@pytest.mark.skipif(not RECORDINGS, reason="no recordings.json")
def test_comparison_can_fail() -> None:
    """Replaying with a different configuration is noticed (zero timeouts vs long)."""
    long_rec = next(r for r in RECORDINGS if r["id"] == "stat_warm/long")
    zero_rec = next(r for r in RECORDINGS if r["id"] == "stat_warm/zero")
    assert rec_mod.simulate(long_rec)["measured"] != rec_mod.recorded(zero_rec, "measured")
