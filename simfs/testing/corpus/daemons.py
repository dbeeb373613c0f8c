"""Filters with a daemon: READDIR redaction in userspace, lookup add-on REPLACE policies.

The daemons are classes (a fresh one per mount); the lower tree the machines build is at
:data:`~simfs.testing.strategies.LOWER_DIR` (``/data``), which a REPLACE daemon opens.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import simfs
import simfs.bpf
from simfs import uapi
from simfs.bpf import FuseBpfArgs
from simfs.testing import bpf_mount, equivalence_machine, hiding_machine
from simfs.testing.corpus import Entry

BACKING = uapi.FUSE_BPF_BACKING
POST = uapi.FUSE_BPF_POST_FILTER
USER = uapi.FUSE_BPF_USER_FILTER
HIDDEN = (".secret", ".private")
LOWER = "/data"


def _op(fa: FuseBpfArgs) -> int:
    return fa.opcode & uapi.FUSE_OPCODE_FILTER


def _classic(req: simfs.Request) -> simfs.Reply | None:
    if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
        return None
    if req.opcode in (uapi.FUSE_RELEASE, uapi.FUSE_RELEASEDIR, uapi.FUSE_FLUSH):
        return simfs.Reply.none()
    return simfs.Reply.error(errno.ENOSYS)


# --- readdir redaction ------------------------------------------------------------------------
@simfs.bpf.program("redact_hidden")
def redact_hidden(fa: FuseBpfArgs) -> int:
    """Hides LOOKUP in BPF, sends every READDIR page to the daemon to redact."""
    op = _op(fa)
    if op == uapi.FUSE_LOOKUP and fa.in_args[0].value in HIDDEN:
        return -errno.ENOENT
    if op == uapi.FUSE_READDIR:
        return BACKING | POST if fa.opcode & uapi.FUSE_PREFILTER else USER
    return BACKING


@simfs.bpf.program("redact_hidden_root_only")
def redact_hidden_root_only(fa: FuseBpfArgs) -> int:
    """Sends only the root directory's READDIR pages to the daemon."""
    op = _op(fa)
    if op == uapi.FUSE_LOOKUP and fa.in_args[0].value in HIDDEN:
        return -errno.ENOENT
    if op == uapi.FUSE_READDIR and fa.nodeid == uapi.FUSE_ROOT_ID:
        return BACKING | POST if fa.opcode & uapi.FUSE_PREFILTER else USER
    return BACKING


class Redactor(simfs.Daemon):
    """Correct: drops the hidden names from each page, echoes ``fuse_read_out``."""

    hidden: tuple[str, ...] = HIDDEN

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER:
            _read_in, read_out, dirents = req.args
            kept = [
                d
                for d in dirents  # type: ignore[union-attr]
                if isinstance(d, uapi.FuseDirent) and d.name not in self.hidden
            ]
            return simfs.Reply(read_out, kept)
        return _classic(req)


class RedactorFirstName(Redactor):
    """Redacts only ``.secret`` (its author tested with one hidden name)."""

    hidden = HIDDEN[:1]


# --- lookup add-on REPLACE ------------------------------------------------------------------
@simfs.bpf.program("rebacked_top_dirs")
def rebacked_top_dirs(fa: FuseBpfArgs) -> int:
    """Asks the daemon about every lookup in the root directory (postfilter)."""
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER and fa.nodeid == uapi.FUSE_ROOT_ID:
        return BACKING | POST
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER:
        return USER
    return BACKING


@simfs.bpf.program("rebacked_every_dir")
def rebacked_every_dir(fa: FuseBpfArgs) -> int:
    """Asks the daemon about every lookup, in any directory (forgot the root check)."""
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER:
        return BACKING | POST
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER:
        return USER
    return BACKING


class Rebacker(simfs.Daemon):
    """Correct: backs a top-level directory with a freshly opened fd of the same lower
    directory (``backing_action = REPLACE``); anything else keeps what the kernel found."""

    nodeid: int | None = None

    def open_backing(self, name: str, attr: Any) -> int | None:
        if not stat.S_ISDIR(attr.mode):
            return None
        return int(self.proc.open(f"{LOWER}/{name}", os.O_RDONLY | os.O_DIRECTORY))

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER:
            name, entry_out, bpf_out = req.args
            assert isinstance(entry_out, uapi.FuseEntryOut)
            if req.error_in:
                return simfs.Reply(entry_out, bpf_out)
            try:
                fd = self.open_backing(str(name), entry_out.attr)
            except OSError as e:
                return simfs.Reply.error(e.errno or errno.EIO)
            if fd is None:
                return simfs.Reply(entry_out, bpf_out)
            nodeid = self.nodeid if self.nodeid is not None else entry_out.nodeid
            return simfs.Reply(
                uapi.FuseEntryOut(nodeid=nodeid, attr=entry_out.attr),
                uapi.FuseEntryBpfOut(backing_action=uapi.FUSE_ACTION_REPLACE, backing_fd=fd),
            )
        return _classic(req)


class RebackerOpensEverything(Rebacker):
    """Opens every name with ``O_DIRECTORY``; a file fails ENOTDIR and the daemon
    answers that error: top-level files cannot be looked up."""

    def open_backing(self, name: str, attr: Any) -> int | None:
        return int(self.proc.open(f"{LOWER}/{name}", os.O_RDONLY | os.O_DIRECTORY))


ENTRIES = [
    Entry(
        "redactor_first_name_only",
        "readdir redaction (daemon)",
        "the daemon redacts .secret but not .private from READDIR pages",
        lambda: hiding_machine(bpf_mount(redact_hidden, daemon=RedactorFirstName), HIDDEN),
    ),
    Entry(
        "redactor_root_only",
        "readdir redaction (daemon)",
        "only the root directory's READDIR pages reach the daemon",
        lambda: hiding_machine(bpf_mount(redact_hidden_root_only, daemon=Redactor), HIDDEN),
    ),
    Entry(
        "rebacker_every_dir",
        "lookup add-on REPLACE",
        "every directory's lookups are re-backed with a top-level path",
        lambda: equivalence_machine(bpf_mount(rebacked_every_dir, daemon=Rebacker)),
    ),
    Entry(
        "rebacker_opens_files_as_dirs",
        "lookup add-on REPLACE",
        "opens files with O_DIRECTORY and answers ENOTDIR",
        lambda: equivalence_machine(
            bpf_mount(rebacked_top_dirs, daemon=RebackerOpensEverything)
        ),
    ),
]
CORRECT = [
    Entry(
        "redactor",
        "readdir redaction (daemon)",
        "correct redaction",
        lambda: hiding_machine(bpf_mount(redact_hidden, daemon=Redactor), HIDDEN),
    ),
    Entry(
        "rebacker",
        "lookup add-on REPLACE",
        "correct re-backing of top-level directories",
        lambda: equivalence_machine(bpf_mount(rebacked_top_dirs, daemon=Rebacker)),
    ),
]
