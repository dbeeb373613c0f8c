"""Partial passthrough: some files are served by the daemon, the rest straight from the lower fs.

One program, two routes.  For ``LOOKUP|PREFILTER`` the program returns ``0`` for names
ending in ``.gen`` and ``BACKING`` for everything else:

- ``BACKING``: the kernel looks the name up in the lower directory; the new inode is
  backed, and its opens and reads never leave the kernel;
- ``0``: "classic FUSE for this operation": a plain ``LOOKUP`` goes to the daemon, which
  answers with a ``fuse_entry_out`` *without* the fuse-bpf add-on, so the child becomes a
  classic inode (nodeid 2 here) and every later operation on it — OPEN, READ, FLUSH,
  RELEASE — is a daemon request.  The daemon makes the content up on the fly (a report it
  computes by listing ``/data`` with its own system calls).

The lower directory holds an empty ``report.gen`` placeholder so that listings, which stay
passthrough, show the name.

What to look for (``simfs run partial_passthrough``): ``cat real.txt`` has only ``[bpf]``
FUSE nodes and backing ops; ``cat report.gen`` has ``[classic]`` nodes with daemon
requests, and under the READ the daemon's own ``listdir('/data')``.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import simfs
from simfs import Kernel, bpf, uapi
from simfs.scenarios import LOWER, ScenarioResult, requests_by_syscall

TITLE = "Partial passthrough: .gen files from the daemon, the rest backed"
ORDER = 60

GEN_NODEID = 2


@bpf.program("gen_to_daemon")
def gen_to_daemon(fa: bpf.FuseBpfArgs) -> int:
    """LOOKUP of ``*.gen`` goes to the daemon (0); everything else is backed."""
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER:
        name = fa.in_args[0].value
        if isinstance(name, str) and name.endswith(".gen"):
            return 0
    return uapi.FUSE_BPF_BACKING


class ReportDaemon(simfs.Daemon):
    """Serves ``report.gen`` (nodeid 2) as a classic FUSE file computed on demand."""

    def content(self) -> bytes:
        names = sorted(n for n in self.proc.listdir(LOWER) if not n.endswith(".gen"))
        return ("report: " + ", ".join(names) + "\n").encode()

    def attr(self) -> uapi.FuseAttr:
        return uapi.FuseAttr(
            ino=GEN_NODEID,
            size=len(self.content()),
            mode=stat.S_IFREG | 0o444,
            nlink=1,
            blksize=4096,
        )

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        op = req.opcode
        if op == uapi.FUSE_LOOKUP:
            if req.nodeid == uapi.FUSE_ROOT_ID and req.args[0] == "report.gen":
                return simfs.Reply(
                    uapi.FuseEntryOut(
                        nodeid=GEN_NODEID, entry_valid=60, attr_valid=60, attr=self.attr()
                    )
                )
            return simfs.Reply.error(errno.ENOENT)
        if req.nodeid != GEN_NODEID:
            return simfs.Reply.error(errno.ENOSYS)
        if op == uapi.FUSE_GETATTR:
            return simfs.Reply(uapi.FuseAttrOut(attr_valid=60, attr=self.attr()))
        if op == uapi.FUSE_OPEN:
            return simfs.Reply(uapi.FuseOpenOut(fh=1))
        if op == uapi.FUSE_READ:
            read_in = req.args[0]
            assert isinstance(read_in, uapi.FuseReadIn)
            data = self.content()
            return simfs.Reply(data[read_in.offset : read_in.offset + read_in.size])
        if op in (uapi.FUSE_FLUSH, uapi.FUSE_RELEASE):
            return simfs.Reply.none()
        if op in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None  # FORGET is never answered
        return simfs.Reply.error(errno.ENOSYS)


def setup(k: Kernel) -> None:
    k.lower.create_file(f"{LOWER}/real.txt", contents="stored on disk\n")
    k.lower.create_file(f"{LOWER}/photo.jpg", contents="jpeg")
    k.lower.create_file(f"{LOWER}/report.gen", contents="")  # placeholder for listings


def mount(k: Kernel, target: str) -> Any:
    return k.mount_fuse(
        target, daemon=ReportDaemon(), root_dir=LOWER, root_bpf=gen_to_daemon, allow_other=True
    )


def _cat(p: simfs.Process, path: str) -> bytes:
    fd = p.open(path, os.O_RDONLY)
    try:
        return p.read(fd, 4096)
    finally:
        p.close(fd)


def workload(k: Kernel, target: str) -> dict[str, Any]:
    p = k.spawn(uid=1000, gid=1000)
    return {
        "real.txt": _cat(p, f"{target}/real.txt"),
        "report.gen": _cat(p, f"{target}/report.gen"),
        "listing": sorted(p.listdir(target)),
    }


def check(result: ScenarioResult) -> None:
    seen = result.seen
    assert seen["real.txt"] == b"stored on disk\n"
    assert seen["report.gen"] == b"report: photo.jpg, real.txt\n"
    assert seen["listing"] == ["photo.jpg", "real.txt", "report.gen"]
    calls = requests_by_syscall(result.trace)
    # open/read/close of real.txt: no daemon traffic at all
    assert [reqs for _, reqs in calls[:3]] == [[], [], []], calls[:3]
    # open/read of report.gen: a classic LOOKUP and OPEN, then a READ
    assert calls[3][1][:2] == ["LOOKUP", "OPEN"], calls[3]
    assert "READ" in calls[4][1], calls[4]
    # the listing stayed passthrough
    assert calls[-1][1] == [], calls[-1]
    assert not [op for _, reqs in calls for op in reqs if "FILTER" in op]
