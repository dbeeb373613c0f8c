"""Every Android selftest program and its compiled C twin (simfs/bpf/filters/selftests.o)
decide alike: one workload that reaches most opcodes runs on two kernels, one with the
Python program and one with the compiled one, and the traces (BPF decisions, trace_pipe
lines, daemon requests, faults by errno) and the syscall outcomes must be equal.

The Android scenarios themselves run with both in tests/android (conftest.py); this
covers the programs no scenario uses (media_provider, test_mount_gate, test_partial,
test_trace_simple) and opcodes the scenarios do not reach.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

import simfs
from simfs.bpf import examples, list_sections, load_object
from simfs.bpf.filters import path
from simfs.daemons import Passthrough
from simfs.scenarios import attempt
from tests.android.harness import normalised_trace

SELFTESTS = path("selftests")
NAMES = ("real", "partial", "show", "hide", "user", "test", "folder1", "dir", "file1", ".dot")


def workload(prog: Any) -> tuple[list[Any], list[list[Any]]]:
    k = simfs.Kernel()
    k.lower.create_dir("/lower", perm_bits=0o755)
    k.lower.create_dir("/m", perm_bits=0o755)
    for name in NAMES:
        k.lower.create_file(f"/lower/{name}", contents=b"0123456789" * 3)
    k.lower.create_dir("/lower/sub", perm_bits=0o755)
    k.mount_fuse("/m", Passthrough("/lower"), root_dir="/lower", root_bpf=prog)
    p = k.spawn(uid=0, gid=0)
    seen: list[Any] = []
    seen.append(attempt(lambda: sorted(p.listdir("/m"))))
    for name in NAMES:
        seen.append(attempt(lambda n=name: p.stat(f"/m/{n}").st_size))
    seen.append(attempt(lambda: p.stat("/m/doesnotexist")))

    def rw() -> Any:
        fd = p.open("/m/real", os.O_RDWR)
        data = p.read(fd, 5)
        p.lseek(fd, 3, os.SEEK_SET)
        p.write(fd, b"xy")
        p.fsync(fd)
        p.close(fd)
        return data

    seen.append(attempt(rw))
    seen.append(attempt(p.mkdir, "/m/newdir", 0o755))
    seen.append(attempt(p.mkdir, "/m/newdir", 0o755))
    seen.append(attempt(lambda: p.close(p.open("/m/created", os.O_CREAT | os.O_WRONLY, 0o644))))
    seen.append(attempt(p.rename, "/m/created", "/m/renamed"))
    seen.append(attempt(p.link, "/m/renamed", "/m/linked"))
    seen.append(attempt(p.symlink, "renamed", "/m/sym"))
    seen.append(attempt(p.readlink, "/m/sym"))
    seen.append(attempt(p.setxattr, "/m/file1", "user.k", b"v"))
    seen.append(attempt(p.getxattr, "/m/file1", "user.k"))
    seen.append(attempt(p.listxattr, "/m/file1"))
    seen.append(attempt(p.removexattr, "/m/file1", "user.k"))
    seen.append(attempt(p.chmod, "/m/file1", 0o600))
    seen.append(attempt(p.truncate, "/m/file1", 3))
    seen.append(attempt(p.access, "/m/file1", os.R_OK))
    seen.append(attempt(lambda: p.statfs("/m").f_bsize))
    seen.append(attempt(lambda: sorted(p.listdir("/m/sub"))))
    seen.append(attempt(p.unlink, "/m/linked"))
    seen.append(attempt(p.rmdir, "/m/newdir"))
    seen.append(attempt(p.rmdir, "/m/sub"))
    return seen, normalised_trace(k)


PROGRAMS = sorted(
    r.name for r in list_sections(SELFTESTS) if r.kind == "program" and r.name in examples.__all__
)


def test_every_example_program_has_a_compiled_twin() -> None:
    python = {n for n in examples.ALL if n in examples.__all__}
    assert python <= set(PROGRAMS)


@pytest.mark.parametrize("name", PROGRAMS)
def test_python_and_compiled_programs_trace_alike(name: str) -> None:
    python_seen, python_trace = workload(getattr(examples, name))
    compiled_seen, compiled_trace = workload(load_object(SELFTESTS, name))
    assert any(e[0] == "bpf" for e in python_trace)
    for i, (a, b) in enumerate(zip(python_trace, compiled_trace, strict=False)):
        assert a == b, f"event {i}: python {a} != compiled {b}"
    assert len(python_trace) == len(compiled_trace)
    assert python_seen == compiled_seen
