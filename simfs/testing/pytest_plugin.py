"""The simfs pytest plugin: profiles, ``--simfs-profile``, fixtures, machine coverage.

Installed with simfs (entry point ``pytest11``: ``simfs``), so a project that property-
tests its filters needs no ``conftest.py``:

- registers the hypothesis profiles ``dev``, ``ci`` and ``nightly``
  (:mod:`simfs.testing.profiles`) and loads the one named by ``--simfs-profile``, else
  ``$HYPOTHESIS_PROFILE``, else ``ci`` under ``$CI``, else ``dev``;
- fixtures: ``simfs_kernel`` (a fresh :class:`~simfs.Kernel`), ``simfs_mount`` (a kernel
  with ``simfs_tree`` built in ``/data`` and ``simfs_mount_factory`` mounted at ``/m``,
  plus a root process whose cwd is ``/m``); override ``simfs_tree`` or
  ``simfs_mount_factory`` in your own ``conftest.py`` to change them;
- after the run: for every machine that ran in this process, the opcodes its filter
  handles but no run reached (``--simfs-coverage`` prints the whole table: opcodes and
  phases the filter ran for, calls that succeeded).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from simfs.kernel import Kernel
from simfs.testing.profiles import PROFILES, register_profiles
from simfs.testing.strategies import LOWER_DIR, MOUNTPOINT, Dir, File, LowerTree

__all__ = ["MountedTree", "entry_point_installed"]


def entry_point_installed() -> bool:
    """Whether the installed simfs registers this plugin through ``pytest11`` (then it
    must not be loaded a second time by ``-p`` or ``pytest_plugins``)."""
    from importlib.metadata import entry_points

    return any(ep.value == __name__ for ep in entry_points(group="pytest11"))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("simfs", "simfs property testing")
    group.addoption(
        "--simfs-profile",
        choices=sorted(PROFILES),
        default=None,
        help="hypothesis profile for simfs machines and @given tests (default: "
        "$HYPOTHESIS_PROFILE, else ci under $CI, else dev)",
    )
    group.addoption(
        "--simfs-coverage",
        action="store_true",
        default=False,
        help="print each state machine's coverage table after the run",
    )


def pytest_configure(config: pytest.Config) -> None:
    chosen = config.getoption("--simfs-profile", default=None)
    if chosen:
        os.environ["HYPOTHESIS_PROFILE"] = chosen  # also for xdist workers
    register_profiles()


def pytest_report_header(config: pytest.Config) -> str:
    from simfs.testing.profiles import loaded_profile

    return f"simfs: hypothesis profile {loaded_profile()!r}"


def _machines() -> list[Any]:
    from simfs.testing.machines import SyscallMachine

    out: list[Any] = []
    todo: list[Any] = [SyscallMachine]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls is not SyscallMachine and cls.coverage.examples:
            out.append(cls)
    return out


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    machines = _machines()
    if not machines:
        return
    full = config.getoption("--simfs-coverage", default=False)
    lines: list[str] = []
    for cls in machines:
        if full:
            lines.append(cls.coverage.table(cls.handled))
        else:
            gap = cls.coverage.unreached(cls.handled)
            if gap:
                lines.append(
                    f"{cls.__name__}: never reached {', '.join(sorted(gap))}, which the "
                    "filter handles"
                )
    if lines:
        terminalreporter.write_sep("-", "simfs machine coverage")
        for line in lines:
            terminalreporter.write_line(line)


# --- fixtures ----------------------------------------------------------------------------------
@dataclass
class MountedTree:
    """What ``simfs_mount`` gives: the kernel, where things are, a root process in
    the mount point, and what the mount factory returned."""

    kernel: Kernel
    lower_dir: str
    mountpoint: str
    root: Any
    mount: object


@pytest.fixture
def simfs_kernel() -> Kernel:
    """A fresh simulated machine."""
    return Kernel()


@pytest.fixture
def simfs_tree() -> LowerTree:
    """The lower tree ``simfs_mount`` builds (override to change it)."""
    return LowerTree((File("a", data=b"hello"), Dir("d"), File("d/b", 0o600, uid=1000)))


@pytest.fixture
def simfs_mount_factory() -> Any:
    """The mount ``simfs_mount`` makes (override: any ``factory(kernel, lower, mnt)``,
    e.g. ``bpf_mount(my_program)``); default fuse-bpf pure passthrough."""
    from simfs.testing.filters import passthrough

    return passthrough


@pytest.fixture
def simfs_mount(
    simfs_kernel: Kernel, simfs_tree: LowerTree, simfs_mount_factory: Any
) -> Iterator[MountedTree]:
    """``simfs_tree`` in ``/data`` with ``simfs_mount_factory`` mounted at ``/m``."""
    k = simfs_kernel
    k.lower.create_dir(MOUNTPOINT)
    simfs_tree.build(k, LOWER_DIR)
    mount = simfs_mount_factory(k, LOWER_DIR, MOUNTPOINT)
    root = k.spawn()
    root.chdir(MOUNTPOINT)
    yield MountedTree(k, LOWER_DIR, MOUNTPOINT, root, mount)
    root.exit()
