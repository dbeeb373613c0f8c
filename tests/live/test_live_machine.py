"""Hypothesis programs on both kernels: random sequences of file-system calls, each run
once on the real kernel through :mod:`simfs.live` and once in simfs, with the same
:class:`~simfs.daemons.Passthrough` (classic or mainline passthrough, short or long
timeouts); the requests (as in ``test_differential``) and every call's outcome must match.

Data stays within one page per file: simfs does not model readahead windows.  The budget
follows the hypothesis profile (``HYPOTHESIS_PROFILE``: CI runs few examples);
a falsifying program is shrunk to the shortest sequence of calls that still differs.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuse_recordings import workloads as wl
from tests.fuse_recordings.workloads import Fd, P, call
from tests.live.bridge import needs_live, recorded_daemon, run_workload_live, run_workload_sim

pytestmark = [pytest.mark.realkernel, needs_live]

NAMES = ["f", "g", "d", "d/f", "d/g", "e"]
R, W = os.O_RDONLY, os.O_WRONLY


def _step(kind: str, a: str, b: str, n: int) -> list[wl.Call]:
    pa, pb = P(a), P(b)
    if kind == "stat":
        return [call("stat", pa)]
    if kind == "read":
        return [
            call("open", pa, R, bind="fd"),
            call("read", Fd("fd"), 4096),
            call("close", Fd("fd")),
        ]
    if kind == "write":
        return [
            call("open", pa, W | os.O_CREAT, 0o644, bind="fd"),
            call("pwrite", Fd("fd"), b"x" * n, n),
            call("close", Fd("fd")),
        ]
    if kind == "append":
        return [
            call("open", pa, W | os.O_APPEND, bind="fd"),
            call("write", Fd("fd"), b"y" * n),
            call("fstat", Fd("fd")),
            call("close", Fd("fd")),
        ]
    if kind == "mkdir":
        return [call("mkdir", pa, 0o755)]
    if kind == "unlink":
        return [call("unlink", pa)]
    if kind == "rmdir":
        return [call("rmdir", pa)]
    if kind == "rename":
        return [call("rename", pa, pb)]
    if kind == "listdir":
        return [call("listdir", pa)]
    if kind == "truncate":
        return [call("truncate", pa, n)]
    if kind == "xattr":
        return [call("setxattr", pa, "user.k", b"v"), call("getxattr", pa, "user.k")]
    raise AssertionError(kind)


KINDS = ["stat", "read", "write", "append", "mkdir", "unlink", "rmdir", "rename", "listdir",
         "truncate", "xattr"]  # fmt: skip
steps = st.builds(
    _step,
    st.sampled_from(KINDS),
    st.sampled_from(NAMES),
    st.sampled_from(NAMES),
    # data sizes and offsets keep every file within one page: readahead windows
    # (mm/readahead.c: a 1-page read of a 2-page file asks for both) are a documented
    # simfs deviation; the partial-page WRITE split has its own test (test_differential)
    st.integers(0, 2000),
)
FIXTURE = (wl.File("f", wl.DATA), wl.Dir("d"), wl.File("d/f", b"abc"))


@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    program=st.lists(steps, min_size=1, max_size=8),
    config=st.sampled_from(["long", "zero"]),
    passthrough=st.booleans(),
)
def test_random_programs_agree(
    program: list[list[wl.Call]], config: str, passthrough: bool, tmp_path: Any
) -> None:
    calls = tuple(c for s in program for c in s)
    w = wl.Workload("hypothesis", "a random program", FIXTURE, (), calls)
    cfg = wl.CONFIGS[config]
    live = run_workload_live(
        w, recorded_daemon(cfg, "", passthrough=passthrough), tmp=str(tmp_path), lenient=True
    )
    sim = run_workload_sim(w, recorded_daemon(cfg, "", passthrough=passthrough), lenient=True)
    rendered = "\n".join(c.render() for c in calls)
    assert live.results == sim.results, rendered
    assert live.comparable("measured") == sim.comparable("measured"), rendered
    assert live.forgets() == sim.forgets(), rendered
