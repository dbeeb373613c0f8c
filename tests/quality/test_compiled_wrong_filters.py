"""The property machines catch a wrong *compiled* filter as they catch a wrong Python one:
the C ``hide_dotfiles`` (simfs/bpf/filters/readme.c) whose daemon forgets to redact the
READDIR page it is handed leaks the hidden names through ``listdir``."""

from __future__ import annotations

import errno

import pytest
from hypothesis.stateful import run_state_machine_as_test

import simfs
from simfs import uapi
from simfs.bpf import load_object
from simfs.bpf.filters import path
from simfs.testing import Divergence, bpf_mount, hiding_machine
from simfs.testing.profiles import quality_settings

pytestmark = pytest.mark.quality

HIDDEN = (".secret", ".private")


class ForgetfulRedactor(simfs.Daemon):
    """Answers the READDIR postfilter with the page unchanged."""

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER:
            _read_in, read_out, dirents = req.args
            return simfs.Reply(read_out, dirents)
        if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None
        return simfs.Reply.error(errno.ENOSYS)


def test_compiled_hider_whose_daemon_forgets_readdir_is_caught() -> None:
    factory = bpf_mount(
        lambda: load_object(path("readme"), "hide_dotfiles"), daemon=ForgetfulRedactor
    )
    machine = hiding_machine(factory, HIDDEN, name="CompiledLeakyHider")
    with pytest.raises(Divergence):
        run_state_machine_as_test(machine, settings=quality_settings(max_examples=300))
