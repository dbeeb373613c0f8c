"""Replay the real-kernel FUSE recordings (``tests/fuse_recordings``) on simfs.

Each recording ran a workload from ``workloads.py`` against libfuse 3.14's
``passthrough_ll`` on Linux 6.18 (protocol 7.45).  :func:`simulate` builds the same
fixture in a fresh machine, mounts :class:`simfs.daemons.Passthrough` configured like
that passthrough_ll (same timeouts, INIT flags, xattr and FLUSH support,
``default_permissions``), with the mount modelling the upstream kernel where the two
kernels differ in a way the mount can express (``variant="upstream"``: no Android
CANONICAL_PATH, no fuse-bpf LOOKUP add-on; ``readdir_bufsize=32768``: upstream sizes a
READDIR buffer by the caller's getdents buffer, glibc's 32 KiB), and returns the opcode
sequence of each phase.
"""

from __future__ import annotations

import json
import os
import stat as st
from pathlib import Path
from typing import Any

import simfs
from simfs.daemons import Passthrough
from tests.fuse_recordings import workloads as wl

RECORDINGS = Path(__file__).resolve().parent.parent / "fuse_recordings" / "recordings.json"


def load() -> list[dict[str, Any]]:
    if not RECORDINGS.exists():
        return []
    data = json.loads(RECORDINGS.read_text())
    return list(data["recordings"])


class GlibcProcess:
    """A simfs process seen through the C library the recordings ran through.

    ``os.listdir`` is glibc's ``opendir`` (open O_DIRECTORY, then ``fstat`` for the buffer
    size), ``getdents64`` calls, ``closedir``: the ``fstat`` is what makes the kernel send
    GETATTR when the directory's attributes are stale.
    """

    def __init__(self, proc: Any) -> None:
        self._proc = proc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._proc, name)

    def listdir(self, path: str) -> list[str]:
        p = self._proc
        # glibc opendir: O_RDONLY|O_NDELAY|O_DIRECTORY|O_LARGEFILE|O_CLOEXEC
        fd = p.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            p.fstat(fd)
            return [d.name for d in p.getdents_all(fd) if d.name not in (".", "..")]
        finally:
            p.close(fd)


def _opcodes(k: simfs.Kernel) -> list[str]:
    return [op for op in k.trace.request_opcodes() if op != "INIT"]


def simulate(rec: dict[str, Any]) -> dict[str, list[str]]:
    """Run one recording's workload on simfs; the daemon's opcodes per phase."""
    w = wl.BY_NAME[rec["workload"]]
    cfg = wl.CONFIGS[rec["config"]]
    k = simfs.Kernel()
    root = k.spawn(umask=0)
    root.mkdir("/data", 0o755)
    root.mkdir("/mnt", 0o755)
    wl.materialize(w.fixture, "/data", root)
    daemon = Passthrough(
        "/data",
        entry_timeout=cfg.timeout,
        attr_timeout=cfg.timeout,
        xattr=cfg.xattr,
        flush=cfg.flush,
        rename_flags=False,
    )
    fm = k.mount_fuse(
        "/mnt",
        daemon=daemon,
        variant="upstream",
        default_permissions=cfg.default_permissions,
        readdir_bufsize=32768,
    )
    proc = GlibcProcess(k.spawn())
    fds: dict[str, Any] = {}

    def resolve(rel: str) -> str:
        return "/mnt/" + rel if rel else "/mnt"

    out: dict[str, list[str]] = {}
    k.trace.clear()
    wl.replay(proc, w.setup, resolve, fds)
    fm.conn.drain()
    out["setup"] = _opcodes(k)
    k.trace.clear()
    wl.replay(proc, w.measured, resolve, fds)
    fm.conn.drain()
    out["measured"] = _opcodes(k)
    _ = st
    return out


def recorded(rec: dict[str, Any], phase: str) -> list[str]:
    return [str(e["opcode"]) for e in rec[phase]]
