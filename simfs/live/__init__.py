"""The live bridge: a :class:`simfs.Daemon` served on this machine's real kernel.

``run_live(daemon, mountpoint, workload)`` runs one session in a private mount namespace
(tests); ``python3 -m simfs serve SOURCE MOUNTPOINT`` serves a daemon for a person to try
(:mod:`simfs.live.cli`).  :mod:`simfs.live.wire` decodes the real ``/dev/fuse`` bytes into
the simulator's :class:`~simfs.daemon.Request` objects, :mod:`simfs.live.osproc` gives the
daemon a ``self.proc`` over the real :mod:`os`.
"""

from typing import Any

from simfs.live.session import (
    LiveDevice,
    LiveError,
    LiveResult,
    LiveTrace,
    fuse_mount,
    fuse_umount,
    live_unavailable,
    run_live,
    serve,
)


def __getattr__(name: str) -> Any:
    """``simfs.live.OsProcess`` is imported on first use: the adapter loads libc through
    ctypes, which only a process that serves a real mount needs (see session._os_process)."""
    if name == "OsProcess":
        from simfs.live.osproc import OsProcess

        return OsProcess
    raise AttributeError(f"module 'simfs.live' has no attribute {name!r}")


__all__ = [
    "LiveDevice",
    "LiveError",
    "LiveResult",
    "LiveTrace",
    "OsProcess",
    "fuse_mount",
    "fuse_umount",
    "live_unavailable",
    "run_live",
    "serve",
]
