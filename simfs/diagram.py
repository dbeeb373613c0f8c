"""Sequence diagrams of a trace: who called whom, with the decoded return at each step.

Five lanes, always in this order:

``process``   the workload's system calls (and what they return)
``VFS``       the kernel: path walk, the FUSE operation and its fuse-bpf state machine
``BPF``       the program's pre- and post-filter runs (return decoded: ``BACKING|POST_FILTER``)
``daemon``    requests read from ``/dev/fuse`` and the replies written back
``lower fs``  backing operations on the lower filesystem, and the daemon's own system calls

:func:`steps` turns a trace (the same inputs as :mod:`simfs.render`) into a list of
:class:`Step` rows; :func:`mermaid` writes them as a Mermaid ``sequenceDiagram`` (GitHub
and the documentation site draw it), :func:`figure` as a static matplotlib figure for
notebooks (matplotlib is a development dependency, imported only when a figure is drawn).
``simfs run NAME --view diagram`` prints the Mermaid text.

What becomes what: a top-level ``syscall`` span is an arrow process → VFS and its return
VFS → process; a ``fuse_op`` span is a note over the VFS naming the opcode and route
(``bpf`` or ``classic``); a ``bpf`` event is VFS → BPF (``LOOKUP|PREFILTER``) and back
(the decoded return); a ``request``/``reply`` pair is VFS → daemon and back; a system call
the daemon made while holding a request is daemon → lower fs and back; a ``backing`` event
is VFS → lower fs and back; ``finalize`` is a note over the VFS.  Path walks and printk
lines are left out (the tree view shows them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simfs.errors import UsageError
from simfs.render import (
    TraceLike,
    _base_opcode,
    _errname,
    _events,
    _short,
    _syscall_args,
    decode_bpf_ret,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from simfs.trace import Event

__all__ = ["LANES", "Step", "figure", "mermaid", "steps"]

#: The lanes, left to right.
LANES = ("process", "VFS", "BPF", "daemon", "lower fs")
_IDS = {"process": "P", "VFS": "V", "BPF": "B", "daemon": "D", "lower fs": "L"}
_TITLES = {
    "process": "process",
    "VFS": "VFS (kernel)",
    "BPF": "BPF program",
    "daemon": "daemon",
    "lower fs": "lower fs",
}
#: Labels longer than this are cropped with "…" (the JSON view keeps everything).
LABEL_WIDTH = 48


@dataclass(frozen=True, slots=True)
class Step:
    """One row of a sequence diagram.

    ``source == target`` is a note over that lane; otherwise an arrow, ``returns`` telling
    a return (dashed) from a call (solid).  ``seq`` is the trace event it came from.
    """

    source: str
    target: str
    label: str
    returns: bool = False
    seq: int = -1

    @property
    def is_note(self) -> bool:
        return self.source == self.target


def _crop(text: str) -> str:
    return text if len(text) <= LABEL_WIDTH else text[: LABEL_WIDTH - 1] + "…"


def _syscall_label(ev: Event, *, pid: bool) -> str:
    name = str(ev.data.get("name", "?"))
    head = f"pid {ev.data.get('pid')}: " if pid else ""
    return _crop(f"{head}{name}({_syscall_args(name, ev.data.get('args'))})")


def _returned(ev: Event) -> str:
    end = ev.end or {}
    if end.get("errno") is not None:
        return f"-1 {_errname(end['errno'])}"
    res = end.get("result")
    return _crop("ok" if res is None else _short(res, LABEL_WIDTH, quote=False))


def _reply_label(ev: Event) -> str:
    err = ev.data.get("error") or 0
    status = "ok" if not err else f"-{_errname(err)}"
    return f"reply {ev.data.get('unique')}: {status}, {ev.data.get('outsize')} bytes"


def _bpf_steps(ev: Event) -> list[Step]:
    d = ev.data
    ret = d.get("ret")
    decision = decode_bpf_ret(ret) if isinstance(ret, int) else str(d.get("decision", "?"))
    phase = "PREFILTER" if d.get("phase") == "pre" else "POSTFILTER"
    call = f"{_base_opcode(d.get('opcode', '?'))}|{phase}"
    if d.get("prog"):
        call += f" ({d.get('prog')})"
    return [
        Step("VFS", "BPF", _crop(call), seq=ev.seq),
        Step("BPF", "VFS", _crop(f"{decision}"), returns=True, seq=ev.seq),
    ]


def steps(
    source: TraceLike,
    *,
    syscalls: Iterable[str] | None = None,
    limit: int | None = None,
) -> list[Step]:
    """The diagram's rows for ``source``, in the order things happened.

    Args:
        source: a trace, a list of events, or an object with a ``trace`` (a scenario
            result); slices of a trace work too.
        syscalls: only the workload's system calls of these names (``{"open"}``).
        limit: at most this many of the workload's system calls (the first ones).
    """
    events = _events(source)
    wanted = set(syscalls) if syscalls is not None else None
    known = {e.seq for e in events}
    children: dict[int | None, list[Event]] = {}
    for ev in events:
        children.setdefault(ev.parent if ev.parent in known else None, []).append(ev)
    pids = {e.data.get("pid") for e in children.get(None, []) if e.kind == "syscall"}
    out: list[Step] = []

    def walk(evs: list[Event], in_request: bool) -> None:
        for ev in evs:
            d = ev.data
            if ev.kind == "syscall":
                if in_request:  # the daemon serving a request calls into the lower fs
                    out.append(
                        Step("daemon", "lower fs", _syscall_label(ev, pid=False), seq=ev.seq)
                    )
                    out.append(Step("lower fs", "daemon", _returned(ev), True, ev.seq))
                continue  # nested syscalls outside a request: not a lane of their own
            if ev.kind == "fuse_op":
                note = f"FUSE {_base_opcode(d.get('opcode'))} nodeid={d.get('nodeid')}"
                out.append(Step("VFS", "VFS", f"{note} [{d.get('route')}]", seq=ev.seq))
                walk(children.get(ev.seq, []), in_request)
            elif ev.kind == "bpf":
                out.extend(_bpf_steps(ev))
            elif ev.kind == "request":
                label = f"{d.get('opcode')} req {d.get('unique')} nodeid={d.get('nodeid')}"
                out.append(Step("VFS", "daemon", _crop(label), seq=ev.seq))
                in_request = True
            elif ev.kind == "reply":
                out.append(Step("daemon", "VFS", _reply_label(ev), True, ev.seq))
                in_request = False
            elif ev.kind == "backing":
                op = str(d.get("op", _base_opcode(d.get("opcode", "?"))))
                res = d.get("result", (ev.end or {}).get("result"))
                out.append(Step("VFS", "lower fs", _crop(op), seq=ev.seq))
                shown = "ok" if res is None else _short(res, quote=False)
                out.append(Step("lower fs", "VFS", _crop(shown), True, ev.seq))
            elif ev.kind == "finalize":
                res = d.get("result")
                shown = "ok" if res is None else _short(res, quote=False)
                label = f"finalize {_base_opcode(d.get('opcode', '?'))} → {shown}"
                out.append(Step("VFS", "VFS", _crop(label), seq=ev.seq))
            elif ev.kind in ("protocol_error", "daemon_exception", "bpf_fault"):
                out.append(
                    Step("VFS", "VFS", _crop(f"{ev.kind}: {d.get('reason', '')}"), seq=ev.seq)
                )

    shown = 0
    for ev in children.get(None, []):
        if ev.kind != "syscall":
            continue
        if wanted is not None and ev.data.get("name") not in wanted:
            continue
        if limit is not None and shown >= limit:
            break
        shown += 1
        out.append(Step("process", "VFS", _syscall_label(ev, pid=len(pids) > 1), seq=ev.seq))
        walk(children.get(ev.seq, []), False)
        out.append(Step("VFS", "process", _returned(ev), True, ev.seq))
    return out


def _mermaid_text(label: str) -> str:
    # Mermaid ends a message at ';' and reads '#...;' as an entity: write both as entities
    return re.sub(r"[#;]", lambda m: "#35;" if m.group() == "#" else "#59;", label)


def mermaid(
    source: TraceLike,
    *,
    syscalls: Iterable[str] | None = None,
    limit: int | None = None,
    title: str | None = None,
) -> str:
    """The trace as Mermaid ``sequenceDiagram`` text (arguments as :func:`steps`).

    Paste it into a fenced ``mermaid`` block on GitHub or in the docs and it is drawn;
    calls are solid arrows, returns dashed, notes sit over the VFS.
    """
    lines = ["sequenceDiagram"]
    if title:
        lines.append(f"    title {_mermaid_text(title)}")
    for lane in LANES:
        lines.append(f"    participant {_IDS[lane]} as {_TITLES[lane]}")
    for s in steps(source, syscalls=syscalls, limit=limit):
        text = _mermaid_text(s.label)
        if s.is_note:
            lines.append(f"    Note over {_IDS[s.source]}: {text}")
        else:
            arrow = "-->>" if s.returns else "->>"
            lines.append(f"    {_IDS[s.source]}{arrow}{_IDS[s.target]}: {text}")
    return "\n".join(lines) + "\n"


def figure(
    source: TraceLike,
    *,
    syscalls: Iterable[str] | None = None,
    limit: int | None = None,
    title: str | None = None,
    width: float = 11.0,
) -> Figure:
    """The same diagram as a static matplotlib figure (for notebooks and saved images).

    One row per step, so labels never share a line; lanes are spaced so a cropped label
    (:data:`LABEL_WIDTH` characters) fits between two neighbours.  Raises
    :class:`~simfs.UsageError` if matplotlib is not installed (it comes with the ``dev``
    extra).
    """
    try:
        from matplotlib.figure import Figure as MplFigure  # optional: the dev extra
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise UsageError(
            "simfs.diagram.figure needs matplotlib: pip install 'simfs[dev]' "
            "(or use simfs.diagram.mermaid for text)"
        ) from e
    rows = steps(source, syscalls=syscalls, limit=limit)
    row_h = 0.28
    height = 1.0 + row_h * (len(rows) + (3 if title else 1))
    fig = MplFigure(figsize=(width, height))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(-0.5, len(LANES) - 0.5)
    ax.set_ylim(-(len(rows) + 0.5), 2.1 if title else 1.5)
    ax.axis("off")
    x = {lane: float(i) for i, lane in enumerate(LANES)}
    for lane in LANES:
        ax.plot([x[lane], x[lane]], [0.6, -(len(rows) + 0.3)], color="#9a9a9a", lw=0.8, zorder=0)
        ax.text(
            x[lane],
            1.0,
            _TITLES[lane],
            ha="center",
            va="center",
            fontsize=10,
            fontweight="bold",
            bbox={"boxstyle": "round", "fc": "#eef2f7", "ec": "#5b6b80"},
        )
    if title:
        ax.text(-0.45, 1.75, title, ha="left", va="center", fontsize=11, fontweight="bold")
    colours = {
        "process": "#1f4e9c",
        "VFS": "#333333",
        "BPF": "#9c6500",
        "daemon": "#1d7a3a",
        "lower fs": "#6b3fa0",
    }
    for i, s in enumerate(rows):
        y = -(i + 0.5)
        if s.is_note:
            ax.text(
                x[s.source],
                y,
                s.label,
                ha="center",
                va="center",
                fontsize=7.5,
                bbox={"boxstyle": "square,pad=0.2", "fc": "#fff8d6", "ec": "#c9b458", "lw": 0.6},
            )
            continue
        x0, x1 = x[s.source], x[s.target]
        colour = colours[s.source if not s.returns else s.target]
        ax.annotate(
            "",
            xy=(x1, y),
            xytext=(x0, y),
            arrowprops={
                "arrowstyle": "-|>",
                "color": colour,
                "lw": 1.0,
                "linestyle": "--" if s.returns else "-",
                "shrinkA": 0,
                "shrinkB": 0,
            },
        )
        ax.text(
            (x0 + x1) / 2,
            y + 0.06,
            s.label,
            ha="center",
            va="bottom",
            fontsize=7.5,
            color=colour,
            style="italic" if s.returns else "normal",
        )
    return fig
