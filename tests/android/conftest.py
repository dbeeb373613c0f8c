"""Run every Android scenario that uses a BPF program with the Python program of
``simfs.bpf.examples`` and with its compiled C twin (``simfs/bpf/filters/selftests.o``,
same section name), and check both runs produce the same trace.

A third flavour, ``ack``, runs the scenario with objects built from the Android kernel's
own selftest sources (``test_bpf.c``, and ``fd_bpf.c`` if present, from ACK's
``tools/testing/selftests/filesystems/fuse``) with clang ``-O2 -target bpf`` against
simfs's uapi header: set ``SIMFS_ACK_FUSE_SELFTESTS`` to a directory holding them.  Those
sources are not part of simfs (GPL, not ours to ship); without them the flavour skips.
Programs the ACK sources do not define keep their simfs twin; ACK's trace lines are its
own, so an ``ack`` run must pass the scenario's assertions but is not compared.

A test whose source mentions ``progs.`` is parametrized with ``bpf_flavour`` in
(``python``, ``compiled``).  For ``compiled`` the example module's attributes are replaced
by the loaded objects for the test's duration.  Each run writes its normalised trace (BPF
decisions, ``trace_pipe`` lines, daemon requests, faults by errno) under a directory
shared by xdist workers; whichever run of the pair finishes second compares the two.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import simfs
from simfs.bpf import examples, list_sections, load_object
from simfs.bpf.filters import DIRECTORY
from simfs.bpf.filters import path as filter_path

from . import harness
from .harness import normalised_trace

FLAVOURS = ("python", "compiled", "ack")
COMPARED = ("python", "compiled")
ACK_ENV = "SIMFS_ACK_FUSE_SELFTESTS"
_COMPILED: dict[str, Any] = {}
_ACK: dict[str, Any] = {}


def _compiled(name: str) -> Any:
    prog = _COMPILED.get(name)
    if prog is None:
        prog = load_object(filter_path("selftests"), name)
        _COMPILED[name] = prog
    return prog


def _ack_programs(tmp: Path) -> dict[str, Any] | str:
    """Build ACK's selftest sources once; the programs by section, or why not."""
    if _ACK:
        return _ACK
    where = os.environ.get(ACK_ENV)
    if not where or not (Path(where) / "test_bpf.c").is_file():
        return f"set {ACK_ENV} to a directory with ACK's fuse selftest test_bpf.c"
    clang = shutil.which("clang")
    if clang is None:
        return "clang is not installed"
    shim = tmp / "shim" / "uapi" / "linux"
    shim.mkdir(parents=True, exist_ok=True)
    header = DIRECTORY / "fuse_bpf_uapi.h"
    common = (
        f'#include "{header}"\n'
        "typedef __u32 uint32_t;\ntypedef __u64 uint64_t;\ntypedef unsigned long size_t;\n"
    )
    for name in ("types.h", "fuse.h", "errno.h"):
        (shim / name).write_text(common)
    (shim / "bpf.h").write_text(
        common + "#define BPF_MAP_TYPE_HASH 1\n#define BPF_MAP_TYPE_ARRAY 2\n#define BPF_ANY 0\n"
    )
    for source in ("test_bpf.c", "fd_bpf.c"):
        src = Path(where) / source
        if not src.is_file():
            continue
        obj = tmp / (src.stem + ".o")
        subprocess.run(
            [clang, "-O2", "-target", "bpf", f"-I{tmp / 'shim'}", "-c", str(src), "-o", str(obj)],
            check=True,
        )
        for row in list_sections(obj):
            if row.kind == "program":
                _ACK[row.name] = load_object(obj, row.name)
    return _ACK


def _uses_programs(fn: Any) -> bool:
    try:
        return "progs." in inspect.getsource(fn)
    except (OSError, TypeError):
        return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if _uses_programs(metafunc.function):
        metafunc.fixturenames.append("bpf_flavour")
        metafunc.parametrize("bpf_flavour", FLAVOURS)


@pytest.fixture(autouse=True)
def _bpf_flavour(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    flavour = (
        request.node.callspec.params.get("bpf_flavour")
        if hasattr(request.node, "callspec")
        else None
    )
    if flavour is None:
        yield
        return
    kernels: list[simfs.Kernel] = []
    real_make_env = harness.make_env

    def recording_make_env() -> harness.Env:
        env = real_make_env()
        kernels.append(env.k)
        return env

    monkeypatch.setattr(harness, "make_env", recording_make_env)
    module = request.module
    if getattr(module, "make_env", None) is real_make_env:
        monkeypatch.setattr(module, "make_env", recording_make_env)
    if flavour == "compiled":
        for name in examples.ALL:
            if name in examples.__all__:
                monkeypatch.setattr(examples, name, _compiled(name))
    if flavour == "ack":
        ack = _ack_programs(tmp_path_factory.mktemp("ack"))
        if isinstance(ack, str):
            pytest.skip(ack)
        for name, prog in ack.items():
            if name in examples.__all__:
                monkeypatch.setattr(examples, name, prog)
    yield
    if flavour not in COMPARED:
        return
    trace = [normalised_trace(k) for k in kernels]
    base = tmp_path_factory.getbasetemp()
    run_dir = base.parent if base.name.startswith("popen-gw") else base  # xdist: shared
    shared = run_dir / "android-bpf-flavours"
    shared.mkdir(exist_ok=True)
    key = request.node.nodeid.split("[")[0].replace("/", "_").replace("::", "__")
    mine = shared / f"{key}.{flavour}.json"
    mine.write_text(json.dumps(trace))
    other_flavour = COMPARED[1 - COMPARED.index(flavour)]
    other = shared / f"{key}.{other_flavour}.json"
    if other.exists():
        theirs = json.loads(other.read_text())
        ours = json.loads(json.dumps(trace))
        python, compiled = (ours, theirs) if flavour == "python" else (theirs, ours)
        assert compiled == python, _first_difference(python, compiled)


def _first_difference(python: list[Any], compiled: list[Any]) -> str:
    for i, (a, b) in enumerate(zip(python, compiled, strict=False)):
        for j, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return f"kernel {i}, event {j}: python {x} != compiled {y}"
        if len(a) != len(b):
            return f"kernel {i}: python {len(a)} events, compiled {len(b)}"
    return f"python ran {len(python)} kernels, compiled {len(compiled)}"
