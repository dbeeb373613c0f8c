"""The README's "property-test your own filter" example, verbatim, so it stays true."""

from __future__ import annotations

import errno

import pytest
from hypothesis.stateful import run_state_machine_as_test

import simfs
import simfs.bpf
from simfs import uapi
from simfs.testing import bpf_mount, hiding_machine
from simfs.testing.probes import probe_fuse_bpf
from simfs.testing.profiles import machine_settings


@simfs.bpf.program("hide_dotfiles")
def hide_dotfiles(fa):  # type: ignore[no-untyped-def]
    op = fa.opcode & uapi.FUSE_OPCODE_FILTER
    if op == uapi.FUSE_LOOKUP and fa.in_args[0].value.startswith("."):
        return -errno.ENOENT  # lookup: as if absent
    if op == uapi.FUSE_READDIR:
        if fa.opcode & uapi.FUSE_PREFILTER:
            return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
        fa.out_args[1].value = [d for d in fa.out_args[1].value if not d.name.startswith(".")]
        return 0  # readdir: drop them from the page
    return uapi.FUSE_BPF_BACKING


HideDotfiles = hiding_machine(bpf_mount(hide_dotfiles), (".a", ".b"), name="HidingMachine")


def test_readme_example() -> None:
    reason = probe_fuse_bpf()
    if reason is not None:
        pytest.skip(reason)
    run_state_machine_as_test(HideDotfiles, settings=machine_settings(0.5))
