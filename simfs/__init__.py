"""simfs: a deterministic, in-process simulator of Linux FUSE-BPF stacking.

Start with :class:`Kernel`; spawn :class:`Process` objects and call them like ``os``.
"""

from __future__ import annotations

from simfs.errors import ProtocolError, SimfsError, UnansweredRequest, UsageError
from simfs.kernel import Kernel
from simfs.process import Process

__all__ = [
    "Kernel",
    "Process",
    "ProtocolError",
    "SimfsError",
    "UnansweredRequest",
    "UsageError",
]
__version__ = "0.1.0"
