"""What a newcomer sees: trace names that match the syscall's result and the kernel's
opcode, fixtures with the modes a shell gives, a trace that displays itself in Jupyter,
tables that choose their columns by width, and sequence diagrams."""

from __future__ import annotations

import io
import itertools
import os
import re
import stat

import pytest
from rich.console import Console

import simfs
from simfs import diagram, render
from simfs.trace import Trace


def text_of(renderable: object, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.fixture
def fuse_bpf() -> simfs.Kernel:
    """A pure FUSE-BPF passthrough of /data at /mnt, trace cleared."""
    k = simfs.Kernel()
    k.lower.create_file("/data/d/a.txt", contents="hello")
    k.lower.create_dir("/mnt")
    k.mount_fuse("/mnt", root_dir="/data", no_daemon=True)
    k.trace.clear()
    return k


# --- trace names ----------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["listdir", "scandir"])
def test_listing_syscalls_record_what_os_returns(fuse_bpf: simfs.Kernel, call: str) -> None:
    p = fuse_bpf.spawn()
    got = p.listdir("/mnt/d") if call == "listdir" else [e.name for e in p.scandir("/mnt/d")]
    assert got == ["a.txt"]
    span = next(e for e in fuse_bpf.trace if e.kind == "syscall" and e.data["name"] == call)
    recorded = str(span.end["result"]) if span.end else ""
    assert "'.'" not in recorded and "'..'" not in recorded
    if call == "listdir":
        assert span.end == {"result": ["a.txt"]}


def test_fuse_op_nodes_name_the_opcode_the_kernel_ran(fuse_bpf: simfs.Kernel) -> None:
    p = fuse_bpf.spawn()
    p.listdir("/mnt/d")  # OPENDIR ... RELEASEDIR
    fd = p.open("/mnt/d/a.txt", os.O_RDONLY)  # OPEN
    p.fsync(fd)  # FSYNC
    p.close(fd)  # RELEASE
    by_seq = {e.seq: e for e in fuse_bpf.trace}
    seen: set[str] = set()
    for ev in fuse_bpf.trace:
        if ev.kind not in ("bpf", "backing", "finalize") or ev.parent is None:
            continue
        op = by_seq[ev.parent]
        assert op.kind == "fuse_op"
        base = str(ev.data["opcode"]).split("|")[0]
        assert base == op.data["opcode"], (op.data, ev.data)  # no OPEN node holding OPENDIR
        seen.add(base)
    assert {"OPENDIR", "RELEASEDIR", "OPEN", "RELEASE", "FSYNC"} <= seen
    tree = text_of(render.tree(fuse_bpf.trace), 120)
    assert "FUSE OPENDIR" in tree and "finalize OPENDIR" in tree


def test_fixture_modes_are_those_of_a_shell_with_umask_022() -> None:
    k = simfs.Kernel()
    k.lower.create_file("/data/f", contents="x")
    k.lower.create_dir("/data/d")
    k.lower.create_file("/data/g", st_mode=stat.S_IFREG | 0o666)
    k.lower.create_dir("/data/pub", perm_bits=0o777)
    k.lower.create_file("/data/exact", st_mode=stat.S_IFREG | 0o666, apply_umask=False)
    k.lower.create_dir("/data/tmp", perm_bits=0o1777, apply_umask=False)
    p = k.spawn()
    assert stat.S_IMODE(p.stat("/data/f").st_mode) == 0o644
    assert stat.S_IMODE(p.stat("/data/d").st_mode) == 0o755
    # like open(2)/mkdir(2) and pyfakefs: a requested mode passes through the umask...
    assert stat.S_IMODE(p.stat("/data/g").st_mode) == 0o644
    assert stat.S_IMODE(p.stat("/data/pub").st_mode) == 0o755
    # ...unless pyfakefs is told not to apply it
    assert stat.S_IMODE(p.stat("/data/exact").st_mode) == 0o666
    assert stat.S_IMODE(p.stat("/data/tmp").st_mode) == 0o1777
    # the simulated processes' own umask is theirs, not the fixture store's
    p.mkdir("/data/made", 0o777)
    assert stat.S_IMODE(p.stat("/data/made").st_mode) == 0o755
    q = k.spawn(umask=0)
    q.mkdir("/data/made0", 0o777)
    assert stat.S_IMODE(q.stat("/data/made0").st_mode) == 0o777


# --- Jupyter --------------------------------------------------------------------------------


def test_trace_and_slices_display_as_the_tree(fuse_bpf: simfs.Kernel) -> None:
    p = fuse_bpf.spawn()
    p.stat("/mnt/d/a.txt")
    p.listdir("/mnt/d")
    trace = fuse_bpf.trace
    bundle = trace._repr_mimebundle_()
    assert bundle["text/plain"] == text_of(render.tree(trace), 100)[: len(bundle["text/plain"])]
    assert "<pre" in bundle["text/html"] and "FUSE LOOKUP" in bundle["text/html"]
    assert "('/mnt/d/a.txt')" in bundle["text/html"]
    first = next(
        i for i, e in enumerate(trace) if e.kind == "syscall" and e.data["name"] == "listdir"
    )
    part = trace[first:]
    assert isinstance(part, Trace) and part[0].data["name"] == "listdir"
    text = part._repr_mimebundle_(include=["text/plain"])
    assert set(text) == {"text/plain"}
    assert "listdir('/mnt/d')" in text["text/plain"] and "stat('/mnt" not in text["text/plain"]
    assert re.fullmatch(r"<Trace: \d+ events, 2 system calls, 0 transitions>", repr(trace))


def test_a_long_trace_displays_its_first_calls_and_says_so() -> None:
    k = simfs.Kernel()
    k.lower.create_file("/data/a", contents="x")
    p = k.spawn()
    for _ in range(Trace.DISPLAY_LIMIT + 5):
        p.stat("/data/a")
    text = k.trace._repr_mimebundle_()["text/plain"]
    assert text.count("stat('/data/a')") == Trace.DISPLAY_LIMIT
    assert "5 more system calls" in text


# --- tables at 80 columns -------------------------------------------------------------------


def test_requests_table_hides_minor_columns_when_narrow() -> None:
    from simfs.scenarios import get

    result = get("mediaprovider").run()
    wide = text_of(render.requests_table(result), 200)
    narrow = text_of(render.requests_table(result), 80)
    assert "uid/gid" in wide and "hidden at" not in wide
    assert all(len(ln) <= 80 for ln in narrow.splitlines())
    assert "hidden at 80 columns: pid, uid/gid" in narrow
    # the arguments column keeps a readable width instead of collapsing
    row = next(ln for ln in narrow.splitlines() if "LOOKUP|POSTFILTER" in ln and "IMG_2" in ln)
    assert "'IMG_2.jpg'" in row


# --- sequence diagrams ----------------------------------------------------------------------


def classic_kernel() -> simfs.Kernel:
    from simfs.daemons import Passthrough

    k = simfs.Kernel()
    k.lower.create_file("/data/a.txt", contents="hello")
    k.lower.create_dir("/mnt")
    k.mount_fuse("/mnt", daemon=Passthrough("/data"))
    k.trace.clear()
    return k


def test_diagram_steps_of_a_classic_stat() -> None:
    k = classic_kernel()
    k.spawn().stat("/mnt/a.txt")
    rows = diagram.steps(k.trace)
    lanes = [(s.source, s.target) for s in rows]
    assert lanes[0] == ("process", "VFS") and rows[0].label == "stat('/mnt/a.txt')"
    assert lanes[-1] == ("VFS", "process") and rows[-1].returns
    assert rows[-1].label.startswith("stat(mode=100644")
    i = lanes.index(("VFS", "daemon"))
    assert rows[i].label.startswith("LOOKUP req ")
    # while the daemon holds the request it calls into the lower fs, then replies
    assert lanes[i + 1] == ("daemon", "lower fs") and "stat('/data/a.txt')" in rows[i + 1].label
    reply = lanes.index(("daemon", "VFS"))
    assert reply > i + 1 and rows[reply].label.endswith("ok, 144 bytes")
    assert ("VFS", "BPF") not in lanes  # classic FUSE: no program ran


def test_diagram_of_a_fuse_bpf_lookup_shows_decoded_returns() -> None:
    from simfs import bpf, uapi

    @bpf.program("diagram_probe")
    def probe(fa: bpf.FuseBpfArgs) -> int:
        if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER:
            if fa.in_args[0].value == "secret":
                return -2
            return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
        return uapi.FUSE_BPF_BACKING

    k = simfs.Kernel()
    k.lower.create_file("/data/a.txt", contents="hello")
    k.lower.create_file("/data/secret", contents="x")
    k.lower.create_dir("/mnt")
    k.mount_fuse("/mnt", root_dir="/data", root_bpf=probe, no_daemon=True)
    k.trace.clear()
    p = k.spawn()
    p.stat("/mnt/a.txt")
    with pytest.raises(FileNotFoundError):
        p.stat("/mnt/secret")
    text = diagram.mermaid(k.trace, title="probe; #1")
    assert text.startswith("sequenceDiagram\n    title probe#59; #35;1\n")
    assert "    V->>B: LOOKUP|PREFILTER (diagram_probe)\n    B-->>V: BACKING|POST_FILTER\n" in text
    assert "    V->>L: lookup\n" in text
    assert "    B-->>V: -ENOENT\n" in text and "    V-->>P: -1 ENOENT\n" in text
    assert "Note over V: FUSE LOOKUP nodeid=1 [bpf]" in text
    only = diagram.mermaid(k.trace, syscalls={"stat"}, limit=1)
    assert only.count("P->>V:") == 1 and "secret" not in only


def test_diagram_figure_has_one_row_per_step() -> None:
    pytest.importorskip("matplotlib", reason="figures need matplotlib (the dev extra)")
    k = classic_kernel()
    k.spawn().stat("/mnt/a.txt")
    rows = diagram.steps(k.trace)
    fig = diagram.figure(k.trace, title="classic stat")
    ax = fig.axes[0]
    texts = [t for t in ax.texts if t.get_text() not in diagram._TITLES.values()]
    texts = [t for t in texts if t.get_text() not in ("classic stat", "")]  # "": arrows
    # one text per step, in order, each on its own row: no two labels share a line
    assert [t.get_text() for t in texts] == [s.label for s in rows]
    ys = [t.get_position()[1] for t in texts]
    assert all(a - b >= 0.9 for a, b in itertools.pairwise(ys))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
