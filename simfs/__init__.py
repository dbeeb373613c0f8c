"""simfs: a deterministic, in-process simulator of Linux FUSE-BPF stacking.

Start with :class:`Kernel`; spawn :class:`Process` objects and call them like ``os``.
"""

from __future__ import annotations

from simfs import uapi
from simfs.daemon import Daemon, DaemonExit, Reply, Request
from simfs.errors import ProtocolError, SimfsError, UnansweredRequest, UsageError
from simfs.kernel import Kernel
from simfs.process import Process

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
