"""Errno translators that change more than declared.

Machine for all of them: ``errno_translation_machine(bpf_mount(prog), TABLE)``.
"""

from __future__ import annotations

import errno

import simfs.bpf
from simfs import uapi
from simfs.bpf import FuseBpfArgs
from simfs.testing import bpf_mount, errno_translation_machine
from simfs.testing.corpus import Entry

BACKING = uapi.FUSE_BPF_BACKING
POST = uapi.FUSE_BPF_POST_FILTER
#: what the authors declared: "no such attribute" becomes "permission denied"
TABLE = {errno.ENODATA: errno.EPERM}


@simfs.bpf.program("enodata_to_eperm")
def enodata_to_eperm(fa: FuseBpfArgs) -> int:
    """Correct: a postfilter that turns ENODATA into EPERM and passes everything else."""
    if fa.opcode & uapi.FUSE_PREFILTER:
        return BACKING | POST
    if fa.error_in == -errno.ENODATA:
        return -errno.EPERM
    return 0


@simfs.bpf.program("enodata_to_eacces")
def enodata_to_eacces(fa: FuseBpfArgs) -> int:
    """Translates ENODATA to EACCES, not the declared EPERM."""
    if fa.opcode & uapi.FUSE_PREFILTER:
        return BACKING | POST
    if fa.error_in == -errno.ENODATA:
        return -errno.EACCES
    return 0


@simfs.bpf.program("every_error_to_eperm")
def every_error_to_eperm(fa: FuseBpfArgs) -> int:
    """Turns every error into EPERM, not only ENODATA."""
    if fa.opcode & uapi.FUSE_PREFILTER:
        return BACKING | POST
    if fa.error_in < 0:
        return -errno.EPERM
    return 0


@simfs.bpf.program("enodata_to_eperm_positive")
def enodata_to_eperm_positive(fa: FuseBpfArgs) -> int:
    """Returns ``errno.EPERM`` (positive) from the postfilter instead of ``-EPERM``."""
    if fa.opcode & uapi.FUSE_PREFILTER:
        return BACKING | POST
    if fa.error_in == -errno.ENODATA:
        return errno.EPERM
    return 0


@simfs.bpf.program("enodata_to_eperm_inverted")
def enodata_to_eperm_inverted(fa: FuseBpfArgs) -> int:
    """Tests ``error_in != -ENODATA``: fails every call that did not fail ENODATA."""
    if fa.opcode & uapi.FUSE_PREFILTER:
        return BACKING | POST
    if fa.error_in != -errno.ENODATA and fa.error_in != 0:
        return -errno.EPERM
    return 0


@simfs.bpf.program("enoent_to_eacces")
def enoent_to_eacces(fa: FuseBpfArgs) -> int:
    """Translates ENOENT for every opcode, LOOKUP included: creating a new name fails."""
    if fa.opcode & uapi.FUSE_PREFILTER:
        return BACKING | POST
    if fa.error_in == -errno.ENOENT:
        return -errno.EACCES
    return 0


def _entry(prog: object, table: dict[int, int] = TABLE) -> Entry:
    return Entry(
        prog.name,  # type: ignore[attr-defined]
        "errno translator",
        (prog.func.__doc__ or "").strip().splitlines()[0],  # type: ignore[attr-defined]
        lambda: errno_translation_machine(bpf_mount(prog), table),
    )


ENTRIES = [
    _entry(enodata_to_eacces),
    _entry(every_error_to_eperm),
    _entry(enodata_to_eperm_positive),
    _entry(enodata_to_eperm_inverted),
    _entry(enoent_to_eacces, {errno.ENOENT: errno.EACCES}),
]
CORRECT = [_entry(enodata_to_eperm)]
