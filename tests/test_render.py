"""simfs.render: the rich views draw the events a known workload produced."""

from __future__ import annotations

import errno
import io
import json
import os
from typing import Any

import pytest
from rich.console import Console

import simfs
from simfs import render
from simfs.trace import Trace


def text_of(renderable: Any, width: int = 160) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.fixture
def bind_kernel() -> simfs.Kernel:
    k = simfs.Kernel()
    k.lower.create_file("/data/a.txt", contents="hello")
    k.lower.create_dir("/bind")
    k.mount_bind("/data", "/bind")
    k.trace.clear()
    return k


def synthetic_fuse_bpf(k: simfs.Kernel) -> None:
    """The events of one FUSE-BPF lookup with a daemon postfilter, emitted by hand.

    Independent of the FUSE layer: pins the drawing of every event kind the trace model
    documents, nested as the kernel nests them.
    """
    h = k.hooks
    with h.span("syscall", name="stat", pid=100, args=["/mnt/x"]) as sc:
        h.emit("walk", path="/mnt/x", result="ENOENT")
        with h.span("fuse_op", opcode="LOOKUP", nodeid=1, route="bpf"):
            h.emit("bpf", phase="pre", opcode="LOOKUP", nodeid=1, prog="p", ret=6)
            h.emit("backing", opcode="LOOKUP", op="lookup 'x'", result="ok")
            h.emit("bpf", phase="post", opcode="LOOKUP", nodeid=1, prog="p", ret=1)
            h.emit(
                "request",
                unique=4,
                opcode="LOOKUP|POSTFILTER",
                nodeid=1,
                uid=1000,
                gid=1000,
                pid=100,
                error_in=0,
                insize=202,
                args=["'x'"],
            )
            with h.span("syscall", name="open", pid=7, args=["/data/x", 0]) as inner:
                inner.end = {"result": 3}
            h.emit("reply", unique=4, error=-errno.ENOENT, outsize=16)
            h.emit("finalize", opcode="LOOKUP", result=-errno.ENOENT)
            h.emit("printk", line="lookup x")
        sc.end = {"errno": errno.ENOENT}


def test_decode_bpf_ret() -> None:
    assert render.decode_bpf_ret(0) == "0"
    assert render.decode_bpf_ret(1) == "USER_FILTER"
    assert render.decode_bpf_ret(2) == "BACKING"
    assert render.decode_bpf_ret(6) == "BACKING|POST_FILTER"
    assert render.decode_bpf_ret(7) == "USER_FILTER|BACKING|POST_FILTER"
    assert render.decode_bpf_ret(-errno.ENOENT) == "-ENOENT"
    assert render.decode_bpf_ret(8 | 2) == "BACKING|0x8"


def test_tree_of_bind_mount_syscalls(bind_kernel: simfs.Kernel) -> None:
    p = bind_kernel.spawn(uid=1000)
    fd = p.open("/bind/a.txt", os.O_RDONLY)
    p.read(fd, 10)
    p.close(fd)
    with pytest.raises(FileNotFoundError):
        p.stat("/bind/missing")
    trees = render.trees(bind_kernel.trace)
    assert len(trees) == 4  # one per syscall
    out = text_of(render.tree(bind_kernel.trace))
    assert "open('/bind/a.txt', O_RDONLY) → 0" in out
    assert "read(0, 10) → b'hello'" in out
    assert "stat('/bind/missing') → ENOENT" in out
    only = text_of(render.tree(bind_kernel.trace, syscalls={"stat"}))
    assert "stat(" in only and "open(" not in only
    assert len(render.trees(bind_kernel.trace, limit=2)) == 2


def test_tree_nests_fuse_bpf_events_by_cause() -> None:
    k = simfs.Kernel()
    synthetic_fuse_bpf(k)
    out = text_of(render.tree(k.trace))
    lines = out.splitlines()
    assert lines[0].startswith("stat('/mnt/x') → ENOENT")

    def line_with(s: str) -> str:
        found = [ln for ln in lines if s in ln]
        assert found, f"{s!r} not in\n{out}"
        return found[0]

    def depth(s: str) -> int:
        ln = line_with(s)
        return len(ln) - len(ln.lstrip(" │├└─"))

    assert "BACKING|POST_FILTER" in line_with("BPF prefilter LOOKUP")
    assert "USER_FILTER" in line_with("BPF postfilter LOOKUP")
    assert "[bpf]" in line_with("FUSE LOOKUP nodeid=1")
    assert "uid=1000" in line_with("daemon LOOKUP|POSTFILTER #4")
    # the daemon's own syscall and the reply hang under the request they served
    assert depth("pid 7 open('/data/x'") > depth("daemon LOOKUP|POSTFILTER")
    assert depth("reply #4 -ENOENT") > depth("daemon LOOKUP|POSTFILTER")
    assert depth("BPF prefilter") > depth("FUSE LOOKUP")
    assert "finalize LOOKUP → -ENOENT" in out
    assert "walk /mnt/x → ENOENT" in out
    assert "printk lookup x" in out
    hidden = text_of(render.tree(k.trace, show_daemon_syscalls=False))
    assert "pid 7 open" not in hidden and "reply #4" in hidden


def test_tree_of_empty_trace_and_loose_events() -> None:
    assert "(no events)" in text_of(render.tree(Trace()))
    k = simfs.Kernel()
    k.hooks.emit("conn", event="init", old="awaiting", new="ready")
    out = text_of(render.tree(k.trace))
    assert "(outside any system call)" in out and "conn" in out


def test_requests_and_counters_tables() -> None:
    k = simfs.Kernel()
    synthetic_fuse_bpf(k)
    req = text_of(render.requests_table(k.trace))
    row = next(ln for ln in req.splitlines() if "LOOKUP|POSTFILTER" in ln)
    assert "-ENOENT" in row and "1000/1000" in row and "202" in row
    counters = text_of(render.counters_table(k.trace))
    row = next(ln for ln in counters.splitlines() if ln.strip("│ ").startswith("LOOKUP"))
    # ops bpf, ops classic, daemon plain, pre, post, BPF pre, BPF post, backing
    assert [c.strip() for c in row.split("│")[2:-1]] == ["1", "0", "0", "0", "1", "1", "1", "1"]
    assert "transitions 2" in counters
    assert "+1 by the daemon" in counters
    empty = text_of(render.requests_table(Trace()))
    assert "no requests reached the daemon" in empty


def test_metrics_and_compare(bind_kernel: simfs.Kernel) -> None:
    p = bind_kernel.spawn()
    p.stat("/bind/a.txt")
    fuse = simfs.Kernel()
    synthetic_fuse_bpf(fuse)
    m = render.metrics(fuse.trace)
    assert (m.syscalls, m.daemon_syscalls, m.transitions, m.requests) == (1, 1, 2, 1)
    assert (m.bpf_runs, m.backing_ops, m.fuse_ops_bpf, m.failed_syscalls) == (2, 1, 1, 1)
    assert m.requests_by_opcode == {"LOOKUP|POSTFILTER": 1}
    out = text_of(render.compare({"bind mount": bind_kernel.trace, "FUSE-BPF": fuse.trace}))
    header = next(ln for ln in out.splitlines() if "bind mount" in ln)
    assert header.index("bind mount") < header.index("FUSE-BPF")
    row = next(ln for ln in out.splitlines() if "transitions" in ln)
    assert [c.strip() for c in row.split("│")[2:-1]] == ["0", "2"]
    assert "requests by opcode" in out
    row = next(ln for ln in out.splitlines() if "LOOKUP|POSTFILTER" in ln)
    assert [c.strip() for c in row.split("│")[2:-1]] == ["0", "1"]


def test_json_view_is_the_trace_json(bind_kernel: simfs.Kernel) -> None:
    bind_kernel.spawn().stat("/bind/a.txt")
    out = text_of(render.json(bind_kernel.trace), width=200)
    assert json.loads(out) == json.loads(bind_kernel.trace.to_json())


def test_views_display_in_jupyter(bind_kernel: simfs.Kernel) -> None:
    bind_kernel.spawn().stat("/bind/a.txt")
    for view in (
        render.tree(bind_kernel.trace),
        render.json(bind_kernel.trace),
        render.counters_table(bind_kernel.trace),
        render.requests_table(bind_kernel.trace),
        render.compare({"x": bind_kernel.trace}),
    ):
        bundle = view._repr_mimebundle_(include=[], exclude=[])
        assert "text/plain" in bundle and bundle["text/plain"].strip()


def test_real_fuse_bpf_lookup_shows_prefilter_flags() -> None:
    """A real FUSE-BPF LOOKUP: the prefilter node carries the decoded program return."""
    from simfs import bpf, uapi

    @bpf.program("render_probe")
    def probe(fa: bpf.FuseBpfArgs) -> int:
        if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER:
            return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
        return uapi.FUSE_BPF_BACKING

    k = simfs.Kernel()
    k.lower.create_file("/data/a.txt", contents="hello")
    k.lower.create_dir("/mnt")
    k.mount_fuse("/mnt", root_dir="/data", root_bpf=probe, no_daemon=True)
    k.trace.clear()
    k.spawn().stat("/mnt/a.txt")
    out = text_of(render.tree(k.trace))
    assert "FUSE LOOKUP" in out and "[bpf]" in out
    pre = next(ln for ln in out.splitlines() if "BPF prefilter LOOKUP" in ln)
    assert "BACKING|POST_FILTER" in pre
    assert "BPF postfilter LOOKUP" in out
    assert "backing" in out


def test_real_classic_request_nests_the_daemons_syscalls() -> None:
    """Classic FUSE with the Passthrough daemon: the daemon's own calls hang under the request."""
    from simfs.daemons import Passthrough

    k = simfs.Kernel()
    k.lower.create_file("/data/a.txt", contents="hello")
    k.lower.create_dir("/mnt")
    k.mount_fuse("/mnt", daemon=Passthrough("/data"))
    k.trace.clear()
    k.spawn().stat("/mnt/a.txt")
    out = text_of(render.tree(k.trace))
    lines = out.splitlines()
    req = next(i for i, ln in enumerate(lines) if "⇢ daemon LOOKUP" in ln)
    daemon_call = next(i for i, ln in enumerate(lines) if "stat('/data/a.txt')" in ln)
    reply = next(i for i, ln in enumerate(lines) if "⇠ reply" in ln)
    assert req < daemon_call < reply
    assert "[classic]" in out
    table = text_of(render.requests_table(k.trace))
    assert "LOOKUP" in table and "ok" in table
    assert render.metrics(k.trace).transitions == 2
