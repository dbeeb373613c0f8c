"""Run every Android scenario that uses a BPF program twice: with the Python program of
``simfs.bpf.examples`` and with its compiled C twin (``simfs/bpf/filters/selftests.o``,
same section name), and check both runs produce the same trace.

A test whose source mentions ``progs.`` is parametrized with ``bpf_flavour`` in
(``python``, ``compiled``).  For ``compiled`` the example module's attributes are replaced
by the loaded objects for the test's duration.  Each run writes its normalised trace (BPF
decisions, ``trace_pipe`` lines, daemon requests, faults by errno) under a directory
shared by xdist workers; whichever run of the pair finishes second compares the two.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any

import pytest

import simfs
from simfs.bpf import examples, load_object
from simfs.bpf.filters import path as filter_path

from . import harness

FLAVOURS = ("python", "compiled")
_COMPILED: dict[str, Any] = {}


def _compiled(name: str) -> Any:
    prog = _COMPILED.get(name)
    if prog is None:
        prog = load_object(filter_path("selftests"), name)
        _COMPILED[name] = prog
    return prog


def _uses_programs(fn: Any) -> bool:
    try:
        return "progs." in inspect.getsource(fn)
    except (OSError, TypeError):
        return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if _uses_programs(metafunc.function):
        metafunc.fixturenames.append("bpf_flavour")
        metafunc.parametrize("bpf_flavour", FLAVOURS)


def _normalised(k: simfs.Kernel) -> list[list[Any]]:
    out: list[list[Any]] = []
    for e in k.trace.events:
        d = e.data
        if e.kind == "bpf":
            out.append(["bpf", d.get("phase"), d.get("opcode"), d.get("nodeid"), d.get("ret")])
        elif e.kind == "bpf_fault":
            out.append(["bpf_fault", d.get("phase"), d.get("opcode"), d.get("errno")])
        elif e.kind == "printk":
            out.append(["printk", d.get("line")])
        elif e.kind == "request":
            out.append(["request", d.get("opcode")])
    return out


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
    yield
    trace = [_normalised(k) for k in kernels]
    shared = tmp_path_factory.getbasetemp().parent / "android-bpf-flavours"
    shared.mkdir(exist_ok=True)
    key = request.node.nodeid.split("[")[0].replace("/", "_").replace("::", "__")
    mine = shared / f"{key}.{flavour}.json"
    mine.write_text(json.dumps(trace))
    other_flavour = FLAVOURS[1 - FLAVOURS.index(flavour)]
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
