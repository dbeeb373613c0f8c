"""simfs: a deterministic, in-process simulator of Linux FUSE-BPF stacking.

Start with :class:`Kernel`; spawn :class:`Process` objects and call them like ``os``.
``simfs.bpf``, ``simfs.daemons``, ``simfs.testing``, ``simfs.render`` and ``simfs.uapi``
are reachable after ``import simfs`` alone; all but ``uapi`` are imported on first use
(``simfs.testing`` pulls in hypothesis, ``simfs.render`` rich).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from simfs import uapi
from simfs.daemon import Daemon, DaemonExit, Reply, Request
from simfs.errors import ProtocolError, SimfsError, UnansweredRequest, UsageError
from simfs.kernel import Kernel
from simfs.process import Process

if TYPE_CHECKING:
    from simfs import bpf as bpf
    from simfs import daemons as daemons
    from simfs import render as render
    from simfs import testing as testing

_LAZY_SUBMODULES = frozenset({"bpf", "daemons", "render", "testing"})


def __getattr__(name: str) -> Any:
    """PEP 562: import ``simfs.<name>`` the first time it is used."""
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"simfs.{name}")
    raise AttributeError(f"module 'simfs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_SUBMODULES)


__all__ = [
    "Daemon",
    "DaemonExit",
    "Kernel",
    "Process",
    "ProtocolError",
    "Reply",
    "Request",
    "SimfsError",
    "UnansweredRequest",
    "UsageError",
    "uapi",
]
__version__ = "0.1.0"
