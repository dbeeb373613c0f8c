"""The same daemon, the same calls: the real kernel (through :mod:`simfs.live`) and simfs
must send the same requests and give the same results.

For every recorded workload of ``tests/fuse_recordings`` and its daemon configurations,
the shipped :class:`simfs.daemons.Passthrough` configured as ``tests/fuse/recorded.py``
configures it is served on this machine's kernel and mounted in simfs
(``variant="upstream"``); the requests of each phase are compared as (opcode, node id,
``insize``, reply error, reply ``outsize``), the measured calls' results as
``workloads.summarize`` sums them up.  Once with classic FUSE and once with mainline
passthrough (``passthrough=True``, as libfuse's passthrough_hp), where the kernel serves
read and write from the backing file.  The recorded data keeps checking simfs on machines
without FUSE (``tests/fuse/test_recorded_sequences.py``).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.fuse import recorded
from tests.fuse_recordings import workloads as wl
from tests.live.bridge import (
    Phases,
    needs_live,
    recorded_daemon,
    run_workload_live,
    run_workload_sim,
)

RECORDINGS = recorded.load()
pytestmark = [pytest.mark.realkernel, needs_live]


def _both(rec: dict[str, Any], passthrough: bool, tmp: str) -> tuple[Phases, Phases]:
    w = wl.BY_NAME[rec["workload"]]
    cfg = wl.CONFIGS[rec["config"]]
    dp = cfg.default_permissions
    live = run_workload_live(
        w, recorded_daemon(cfg, "", passthrough=passthrough), default_permissions=dp, tmp=tmp
    )
    sim = run_workload_sim(
        w, recorded_daemon(cfg, "", passthrough=passthrough), default_permissions=dp
    )
    return live, sim


def _check(rec: dict[str, Any], live: Phases, sim: Phases) -> None:
    for phase in ("setup", "measured"):
        assert live.comparable(phase) == sim.comparable(phase), (
            f"{rec['id']} {phase}:\n real  {live.comparable(phase)}\n simfs {sim.comparable(phase)}"
        )
    assert live.forgets() == sim.forgets(), rec["id"]
    assert live.results == sim.results, rec["id"]


@pytest.mark.skipif(not RECORDINGS, reason="no recordings.json")
@pytest.mark.parametrize("rec", RECORDINGS, ids=[r["id"] for r in RECORDINGS])
@pytest.mark.parametrize("passthrough", [False, True], ids=["classic", "passthrough"])
def test_same_daemon_same_requests(rec: dict[str, Any], passthrough: bool, tmp_path: Any) -> None:
    live, sim = _both(rec, passthrough, str(tmp_path))
    _check(rec, live, sim)


def test_passthrough_really_bypasses_the_daemon(tmp_path: Any) -> None:
    """The comparison above is not vacuous for passthrough: on both kernels an
    open/read/close sends READ without passthrough and none with it."""
    rec = next(r for r in RECORDINGS if r["id"] == "open_read_close_cold/long")
    for passthrough, want in ((False, True), (True, False)):
        live, sim = _both(rec, passthrough, str(tmp_path))
        assert ("READ" in live.opcodes("measured")) is want
        assert ("READ" in sim.opcodes("measured")) is want


def test_comparison_can_fail(tmp_path: Any) -> None:
    """A daemon configured differently on the two sides is noticed (zero vs long)."""
    w = wl.BY_NAME["stat_warm"]
    live = run_workload_live(w, recorded_daemon(wl.CONFIGS["zero"], ""), tmp=str(tmp_path))
    sim = run_workload_sim(w, recorded_daemon(wl.CONFIGS["long"], ""))
    assert live.comparable("measured") != sim.comparable("measured")


@pytest.mark.parametrize("passthrough", [False, True], ids=["classic", "passthrough"])
def test_write_across_a_page_boundary(passthrough: bool, tmp_path: Any) -> None:
    """2049 bytes at offset 2049 of a cold file: mainline ends a WRITE at a partly written
    page that is not uptodate (fuse_fill_write_pages), so classic FUSE sends two WRITEs;
    passthrough none."""
    w = wl.Workload(
        "page_boundary",
        "pwrite across a page boundary",
        (wl.File("f", wl.DATA),),
        (),
        (
            wl.call("open", wl.P("f"), os.O_WRONLY, bind="fd"),
            wl.call("pwrite", wl.Fd("fd"), b"x" * 2049, 2049),
            wl.call("close", wl.Fd("fd")),
        ),
    )
    cfg = wl.CONFIGS["long"]
    live = run_workload_live(
        w, recorded_daemon(cfg, "", passthrough=passthrough), tmp=str(tmp_path)
    )
    sim = run_workload_sim(w, recorded_daemon(cfg, "", passthrough=passthrough))
    assert live.comparable("measured") == sim.comparable("measured")
    writes = [x[5:7] for x in live.comparable("measured") if x[0] == "WRITE"]
    assert writes == ([] if passthrough else [(2049, 2047), (4096, 2)])
