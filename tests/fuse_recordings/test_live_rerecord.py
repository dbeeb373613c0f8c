"""Re-record a few cheap workloads on the real kernel and compare with ``recordings.json``.

This keeps the committed recordings honest: where this machine can mount FUSE (root,
/dev/fuse, gcc + libfuse3-dev to build passthrough_ll, unshare), the same recorder runs again
and every phase's request sequence must equal the committed one.  Elsewhere it skips, saying
exactly why.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import record
from .workloads import BY_NAME, CONFIGS

pytestmark = pytest.mark.realkernel

RECORDINGS = Path(__file__).resolve().parent / "recordings.json"

# Cheap recordings that still cover the interesting kernel behaviour: attribute/entry timeouts,
# READDIRPLUS then READDIR, FLUSH/RELEASE, ENOSYS memory (FLUSH, ACCESS, xattr),
# default_permissions, FORGET after unlink, COPY_FILE_RANGE_64 fallback.
LIVE = [
    "stat_cold/long",
    "stat_warm/zero",
    "stat_deep_cold/zero_dp",
    "open_read_close_warm/long",
    "create_cold/long",
    "unlink_cold/long",
    "readdir_small_warm/long",
    "readdir_big_cold/long",
    "access_warm/long",
    "xattr_nosys_warm/long_noxattr",
    "close_noflush_warm/long_noflush",
    "copy_file_range_cold/long",
]

RETRIES = 3  # see test_rerecord_equals_committed

COMPARED = ("mount", "setup", "measured", "unmount", "init", "results", "fixture")


def _committed() -> dict[str, dict[str, Any]]:
    data = json.loads(RECORDINGS.read_text())
    return {r["id"]: r for r in data["recordings"]}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[record.Build]:
    why = record.cannot_record()
    if why:
        pytest.skip(f"cannot mount FUSE here: {why}")
    yield record.build(tmp_path_factory.mktemp("passthrough_ll"))


def test_live_ids_are_committed() -> None:
    committed = _committed()
    missing = [i for i in LIVE if i not in committed]
    assert not missing, f"not in recordings.json (re-record?): {missing}"


@pytest.mark.parametrize("rec_id", LIVE)
def test_rerecord_equals_committed(rec_id: str, build: record.Build) -> None:
    committed = _committed()[rec_id]
    if committed["kernel_release"].split(".")[:2] != platform.release().split(".")[:2]:
        pytest.skip(
            f"recorded on kernel {committed['kernel_release']}, this is {platform.release()}:"
            " the request sequences may legitimately differ; re-record"
        )
    name, cfg = rec_id.split("/")
    # The real kernel queues FORGET from inode eviction (fuse_evict_inode -> fuse_queue_forget)
    # and the daemon reads it whenever it next reads /dev/fuse, so on a loaded machine a FORGET
    # can miss the fence that closes its phase.  Such a drift is the real kernel's timing, not
    # the recording's content: record up to RETRIES times and require one exact match.
    mismatch = ""
    for _attempt in range(RETRIES):
        live = record.record_one(BY_NAME[name], CONFIGS[cfg], build)
        live.pop("_init_full")
        mismatch = next(
            (
                f"{rec_id}: phase {key!r} drifted from recordings.json\n"
                f"committed: {json.dumps(committed[key])}\nlive:      {json.dumps(live[key])}"
                for key in COMPARED
                if live[key] != committed[key]
            ),
            "",
        )
        if not mismatch:
            break
    assert not mismatch, mismatch
    assert live["libfuse"] == committed["libfuse"]
    assert live["daemon_argv"] == committed["daemon_argv"]
