"""``simfs fuzz``: run the property machines as a long campaign on many cores, and
replay every failure it found.

The engine is pytest-xdist (``-n WORKERS``) with hypothesis' directory example database
shared by every worker (``$SIMFS_FUZZ_DB``, default ``.simfs-fuzz``): a campaign runs the
given tests in rounds under the ``fuzz`` profile (random seeds, 2000 examples per
machine per round) until the time budget is spent; hypothesis saves each failing
example in the database.  ``simfs fuzz --replay`` runs the same tests under the
``replay`` profile (only the examples saved in the database, no generation), so every
failure found is reported again, with its counterexample script, on any machine that
has the database directory.

HypoFuzz (which schedules many tests adaptively in one process per core) would serve the
same purpose over the same tests; it is AGPL-licensed, so simfs does not depend on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence

from simfs.testing.profiles import FUZZ_DATABASE

__all__ = ["campaign", "pytest_command", "replay"]

DEFAULT_PATHS = ("tests/properties",)


def pytest_command(paths: Sequence[str], profile: str, workers: int) -> list[str]:
    """The pytest command one round runs (the plugin is loaded explicitly, so the
    command also works from a checkout whose simfs is not installed)."""
    from simfs.testing.pytest_plugin import entry_point_installed

    cmd = [sys.executable, "-m", "pytest", "-q"]
    if not entry_point_installed():
        cmd += ["-p", "simfs.testing.pytest_plugin"]
    cmd += ["--simfs-profile", profile, "-p", "no:cacheprovider"]
    if workers > 1:
        cmd += ["-n", str(workers)]
    return [*cmd, *paths]


def _env(database: str) -> dict[str, str]:
    # $CI makes hypothesis load its own "ci" profile under every registered one, and a round
    # run that way saved failures that its replay did not find (seen in .ci/run); a campaign
    # and its replay are never CI runs of the user's suite, so they run without it
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["SIMFS_FUZZ_DB"] = database
    return env




def campaign(
    paths: Sequence[str] = DEFAULT_PATHS,
    *,
    workers: int = 2,
    seconds: float = 3600.0,
    database: str = FUZZ_DATABASE,
    rounds: int | None = None,
) -> int:
    """Run rounds until ``seconds`` are spent (or ``rounds`` ran); returns the number of
    rounds that failed.  Each round is one pytest run; its output streams through."""
    deadline = time.monotonic() + seconds
    failed = 0
    n = 0
    while time.monotonic() < deadline and (rounds is None or n < rounds):
        n += 1
        print(f"simfs fuzz: round {n}, database {database}", flush=True)
        cmd = pytest_command(paths, "fuzz", workers)
        if subprocess.run(cmd, env=_env(database), check=False).returncode not in (0, 5):
            failed += 1
    print(
        f"simfs fuzz: {n} rounds, {failed} with failures; replay them with "
        f"`simfs fuzz --replay --database {database} {' '.join(paths)}`",
        flush=True,
    )
    return failed


def replay(paths: Sequence[str] = DEFAULT_PATHS, *, database: str = FUZZ_DATABASE) -> int:
    """Run ``paths`` on the saved examples only; returns pytest's exit status."""
    if not os.path.isdir(database):
        print(f"simfs fuzz: no database at {database!r}; run a campaign first", flush=True)
        return 2
    cmd = pytest_command(paths, "replay", 1)
    return subprocess.run(cmd, env=_env(database), check=False).returncode
