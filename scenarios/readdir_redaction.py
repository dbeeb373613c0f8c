"""Readdir redaction: the daemon edits directory listings in a READDIR postfilter.

The program returns ``BACKING|POST_FILTER`` for ``READDIR|PREFILTER``: the kernel reads a
page of entries from the lower directory itself, then runs the program again as a
postfilter, which returns ``USER_FILTER``.  That sends ``READDIR|POSTFILTER`` to the daemon
with ``[fuse_read_in, fuse_read_out, dirents]``; the daemon answers with the
``fuse_read_out`` and the entries it wants the caller to see (here: everything not ending
in ``.tmp``).  Lookups, opens and reads stay pure passthrough: the daemon is asked about
listings only, once per page.

What to look for:

- ``simfs run readdir_redaction``: under ``listdir`` a ``backing readdir`` node, then the
  ``BPF postfilter READDIR → USER_FILTER`` and the ``⇢ daemon READDIR|POSTFILTER`` request
  whose reply is smaller than the request (entries were dropped).
- Redaction is not hiding: ``stat`` of a redacted name still succeeds, because LOOKUP never
  consults the daemon.  Compare ``hidden_files``, which filters lookup too.
- ``simfs compare readdir_redaction``: classic FUSE pays for every LOOKUP, GETATTR and READ
  as well; here only the listing costs a round trip.
"""

from __future__ import annotations

import errno
import os
from typing import Any

import simfs
from simfs import Kernel, bpf, uapi
from simfs.scenarios import LOWER, ScenarioResult, attempt

TITLE = "Readdir redaction by a daemon READDIR postfilter"
ORDER = 40

NAMES = ("a.txt", "b.txt", "c.tmp", "d.txt", "e.tmp", "f.txt")


@bpf.program("redact_listing")
def redact_listing(fa: bpf.FuseBpfArgs) -> int:
    """Send every READDIR page to the daemon after the backing read; pass the rest."""
    if fa.opcode == uapi.FUSE_READDIR | uapi.FUSE_PREFILTER:
        return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
    if fa.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER:
        return uapi.FUSE_BPF_USER_FILTER
    return uapi.FUSE_BPF_BACKING


class Redactor(simfs.Daemon):
    """Drops ``*.tmp`` from every listing page it is shown."""

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER:
            _read_in, read_out, dirents = req.args
            assert isinstance(read_out, uapi.FuseReadOut) and isinstance(dirents, list)
            kept = [
                d for d in dirents if isinstance(d, uapi.FuseDirent) and not d.name.endswith(".tmp")
            ]
            return simfs.Reply(read_out, kept)
        if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None  # FORGET is never answered
        return simfs.Reply.error(errno.ENOSYS)


def setup(k: Kernel) -> None:
    for name in NAMES:
        k.lower.create_file(f"{LOWER}/work/{name}", contents=name)


def mount(k: Kernel, target: str) -> Any:
    return k.mount_fuse(
        target, daemon=Redactor(), root_dir=LOWER, root_bpf=redact_listing, allow_other=True
    )


def workload(k: Kernel, target: str) -> dict[str, Any]:
    p = k.spawn(uid=1000, gid=1000)
    seen: dict[str, Any] = {}
    seen["listing"] = sorted(p.listdir(f"{target}/work"))
    seen["stat c.tmp"] = attempt(lambda: p.stat(f"{target}/work/c.tmp").st_size)
    fd = p.open(f"{target}/work/a.txt", os.O_RDONLY)
    seen["read a.txt"] = p.read(fd, 64)
    p.close(fd)
    return seen


def check(result: ScenarioResult) -> None:
    seen = result.seen
    assert seen["listing"] == ["a.txt", "b.txt", "d.txt", "f.txt"]
    assert seen["stat c.tmp"] == len("c.tmp"), "readdir redaction does not hide from lookup"
    assert seen["read a.txt"] == b"a.txt"
    ops = result.request_opcodes()
    assert ops and set(ops) == {"READDIR|POSTFILTER"}, ops
    # each daemon reply was smaller than the page it was shown, or equal for the last one
    assert result.trace.of("backing"), "the entries came from the lower directory"
