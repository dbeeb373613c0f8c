"""Rich views of a trace: what the simulated kernel did, drawn for a human.

A :class:`~simfs.trace.Trace` is a flat list of events, each pointing at the span that
caused it (``Event.parent``).  This module turns that list into static `rich`_
renderables, so the same call shows in a terminal (``rich.print(render.tree(k.trace))``)
and in Jupyter (the last expression of a cell renders itself):

- :func:`tree` — one tree per system call, nested by cause::

      open('/mnt/a', O_RDONLY) → 3
      ├── walk /mnt/a → ok
      └── FUSE LOOKUP nodeid=1 [bpf]
          ├── BPF prefilter LOOKUP (test_trace) → BACKING|POST_FILTER
          ├── backing lookup → ok
          ├── BPF postfilter LOOKUP (test_trace) → USER_FILTER
          ├── ⇢ daemon LOOKUP|POSTFILTER #4 nodeid=1 uid=1000
          │   └── ⇠ reply #4 ok, 160 bytes
          └── finalize LOOKUP → ok


  A daemon request and its reply are drawn as one node: whatever happened while the
  daemon held the request (its own system calls on the lower filesystem, say) hangs
  under the request, which is where the time went.

- :func:`requests_table` — the requests the daemon read, with their replies.
- :func:`counters_table` — per opcode: FUSE operations, daemon requests (plain,
  prefilter, postfilter), BPF runs and backing operations; transitions in the caption.
- :func:`compare` — one workload under several mounts side by side (bind mount, classic
  FUSE, FUSE-BPF): the table that shows what FUSE-BPF is for.
- :func:`json` — the trace as pretty-printed JSON (:meth:`Trace.to_json`).
- :func:`console` — a ``rich`` console that prints the way the command line does: colour
  and box drawing on a terminal (no colour under ``NO_COLOR``), plain text elsewhere (a
  pipe or a file: no escape codes, ASCII tables and tree guides, 80 columns unless
  ``COLUMNS`` says otherwise).

:func:`metrics` is the plain-data summary the tables are drawn from (also used by
``simfs bench`` and tests).  Every function accepts a :class:`~simfs.trace.Trace`, a list
of events, or anything with a ``trace`` attribute (a scenario result).

.. _rich: https://rich.readthedocs.io
"""

from __future__ import annotations

import copy
import errno as errno_mod
import json as json_mod
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.json import JSON
from rich.jupyter import JupyterMixin
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

if TYPE_CHECKING:  # simfs.trace imports this module to display a Trace in Jupyter
    from simfs.trace import Event, Trace

__all__ = [
    "FittingTable",
    "Metrics",
    "PlainConsole",
    "View",
    "compare",
    "console",
    "counters_table",
    "decode_bpf_ret",
    "json",
    "metrics",
    "requests_table",
    "tree",
    "trees",
]

# fuse-bpf return bits (include/uapi/linux/android_fuse.h); mirrored here so the renderer
# does not depend on the FUSE layer being importable.
_BPF_FLAGS = (("USER_FILTER", 1), ("BACKING", 2), ("POST_FILTER", 4))


@runtime_checkable
class _HasTrace(Protocol):
    @property
    def trace(self) -> Trace: ...


#: What every view accepts: a trace, a list of events, or anything with a ``trace``.
TraceLike: TypeAlias = "Trace | Sequence[Event] | _HasTrace"


def _events(source: TraceLike) -> list[Event]:
    events = getattr(source, "events", None)  # a Trace (duck-typed: no import cycle)
    if isinstance(events, list):
        return list(events)
    if isinstance(source, _HasTrace):
        return list(source.trace.events)
    return list(source)


class View(JupyterMixin):
    """A static group of renderables that also displays itself in Jupyter.

    ``rich.console.Group`` is not a ``JupyterMixin``; this is, so a cell whose value is a
    ``View`` shows the rendering rather than a ``repr``.  Iterate it for the parts.
    """

    def __init__(self, parts: Iterable[RenderableType]) -> None:
        self.parts: list[RenderableType] = list(parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.parts

    def __iter__(self) -> Iterator[RenderableType]:
        return iter(self.parts)

    def __len__(self) -> int:
        return len(self.parts)


class PlainConsole(Console):
    """A console for pipes and files: ASCII tables and tree guides, never escape codes.

    ``rich`` already drops colour when its file is not a terminal, but keeps drawing boxes
    and tree guides with Unicode box-drawing characters.  This console reports an ASCII
    encoding to the renderables (``ConsoleOptions.ascii_only``), so tables and panels
    fall back to ``+--+`` boxes and trees to ``|--`` guides, and drops the blanks rich
    pads lines with; text itself is written unchanged (UTF-8 arrows in labels stay).
    """

    @property
    def encoding(self) -> str:
        return "ascii"

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        # rich pads every line to the full width; a file keeps no trailing blanks
        text = super()._render_buffer(buffer)
        return "\n".join(line.rstrip(" ") for line in text.split("\n"))


def console(
    file: IO[str] | None = None,
    *,
    stderr: bool = False,
    plain: bool | None = None,
    width: int | None = None,
) -> Console:
    """A console that prints the way ``simfs`` does, plain when not on a terminal.

    Args:
        file: where to write (default ``sys.stdout``, or ``sys.stderr`` with ``stderr``).
        plain: force plain (``True``) or terminal (``False``) output; by default plain
            exactly when ``file`` is not a terminal.
        width: columns; by default the terminal's width, or ``COLUMNS``, or 80.

    A terminal console colours unless ``NO_COLOR`` is set (https://no-color.org: then no
    colour, bold and italics stay); a plain one is a :class:`PlainConsole` with no colour,
    no escape codes and ASCII boxes.
    """
    stream = file if file is not None else (sys.stderr if stderr else sys.stdout)
    if plain is None:
        isatty = getattr(stream, "isatty", None)
        plain = not (callable(isatty) and isatty())
    if plain:
        return PlainConsole(
            file=stream,
            highlight=False,
            color_system=None,
            force_terminal=False,
            no_color=True,
            width=width,
            soft_wrap=False,
        )
    return Console(
        file=stream,
        highlight=False,
        no_color=bool(os.environ.get("NO_COLOR")) or None,
        width=width,
    )


class FittingTable(Table):
    """A table that hides its least important columns when the width cannot hold them.

    ``optional`` names columns (by header) in the order they may go.  At render time, while
    the table's minimum width exceeds the space available, the next optional column is
    hidden and the caption says which were hidden, so a narrow terminal (80 columns) or a
    file still shows the columns that matter at a readable width instead of squeezing all
    of them to nothing.
    """

    def __init__(self, *args: Any, optional: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.optional: list[str] = list(optional)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table: Table = self
        hidden: list[str] = []
        for header in self.optional:
            if table.__rich_measure__(console, options).minimum <= options.max_width:
                break
            narrower = copy.copy(table)
            narrower.columns = [c for c in table.columns if str(c.header) != header]
            table = narrower
            hidden.append(header)
        if hidden:
            table = copy.copy(table)
            note = f"hidden at {options.max_width} columns: {', '.join(hidden)}"
            table.caption = f"{table.caption} · {note}" if table.caption else note
        yield from Table.__rich_console__(table, console, options)


# --------------------------------------------------------------------------------------------
# Small formatters


def _errname(n: int | None) -> str:
    if n is None:
        return "?"
    n = abs(int(n))
    return errno_mod.errorcode.get(n, f"E{n}")


def decode_bpf_ret(ret: int) -> str:
    """A BPF filter's return value as the kernel reads it.

    Negative values are errnos (``-ENOENT``); otherwise the set bits of
    ``FUSE_BPF_USER_FILTER | FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER`` joined by ``|``
    (``BACKING|POST_FILTER``); ``0`` means "classic FUSE for this operation" and is shown
    as ``0``.  Unknown bits are kept as a hex remainder.
    """
    if ret < 0:
        return f"-{_errname(-ret)}"
    if ret == 0:
        return "0"
    names = [name for name, bit in _BPF_FLAGS if ret & bit]
    rest = ret & ~sum(bit for _, bit in _BPF_FLAGS)
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def _base_opcode(name: Any) -> str:
    """``FUSE_LOOKUP|PREFILTER`` → ``LOOKUP``."""
    text = str(name).split("|", 1)[0]
    return text.removeprefix("FUSE_")


_OPEN_FLAGS = [
    ("O_CREAT", os.O_CREAT),
    ("O_EXCL", os.O_EXCL),
    ("O_TRUNC", os.O_TRUNC),
    ("O_APPEND", os.O_APPEND),
    ("O_DIRECTORY", getattr(os, "O_DIRECTORY", 0)),
    ("O_NOFOLLOW", getattr(os, "O_NOFOLLOW", 0)),
    ("O_CLOEXEC", getattr(os, "O_CLOEXEC", 0)),
    ("O_PATH", getattr(os, "O_PATH", 0)),
    ("O_NONBLOCK", getattr(os, "O_NONBLOCK", 0)),
]


def _open_flags(flags: int) -> str:
    acc = flags & 3
    parts = [{0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}.get(acc, "3")]
    rest = flags & ~3
    for name, bit in _OPEN_FLAGS:
        if bit and rest & bit == bit:
            parts.append(name)
            rest &= ~bit
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


_KERNEL_SUMMARY = re.compile(r"^\[\d+ items\]$")


def _short(v: Any, limit: int = 40, *, quote: bool = True) -> str:
    if isinstance(v, bytes):
        text = repr(v)
    elif isinstance(v, bool):
        text = str(v)
    elif isinstance(v, int) and -4096 < v < 0:
        text = f"-{_errname(-v)}"  # a kernel-internal negative errno
    elif isinstance(v, list):
        if (
            v
            and len(set(map(str, v))) == 1
            and str(v[0]).isidentifier()
            and str(v[0])[:1].isupper()
        ):
            text = f"[{len(v)} × {v[0]}]"  # the kernel summarised objects by type name
        elif v and all(isinstance(x, str) for x in v) and len(v) <= 6:
            text = "[" + ", ".join(repr(x) for x in v) + "]"
        else:
            text = f"[{len(v)} items]"
    elif isinstance(v, str) and _KERNEL_SUMMARY.match(v):
        text = v  # already a summary made by the kernel ("[12 items]")
    else:
        text = repr(v) if isinstance(v, str) and quote else str(v)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _args_summary(args: list[Any], limit: int = 44) -> str:
    """A request's argument summaries, each cropped (the JSON view keeps them whole)."""
    return ", ".join(_short(a, limit, quote=False) for a in args)


def _syscall_args(name: str, args: Any) -> str:
    if not isinstance(args, list | tuple):
        return ""
    shown: list[str] = []
    for i, a in enumerate(args):
        if name == "open" and i == 1 and isinstance(a, int):
            shown.append(_open_flags(a))
        elif (
            name in ("open", "mkdir", "chmod", "mknod")
            and isinstance(a, int)
            and i == (2 if name == "open" else 1)
        ):
            if name == "open" and a == 0o777:
                continue  # os.open's default mode: noise
            shown.append(oct(a))
        else:
            shown.append(_short(a, 32))
    return ", ".join(shown)


def _result_text(ev: Event) -> Text:
    end = ev.end or {}
    if "errno" in end and end["errno"] is not None:
        return Text(f"{_errname(end['errno'])}", style="bold red")
    if "result" in end:
        res = end["result"]
        if res is None:
            return Text("ok", style="green")
        return Text(_short(res), style="green")
    return Text("…", style="dim")


# --------------------------------------------------------------------------------------------
# Node labels, one per event kind


def _label(ev: Event, *, nested_syscall: bool = False) -> Text:
    d = ev.data
    kind = ev.kind
    if kind == "syscall":
        name = str(d.get("name", "?"))
        head = Text()
        if nested_syscall:
            head.append(f"pid {d.get('pid')} ", style="magenta")
        head.append(name, style="bold magenta" if nested_syscall else "bold")
        head.append(f"({_syscall_args(name, d.get('args'))})")
        head.append(" → ")
        head.append_text(_result_text(ev))
        return head
    if kind == "walk":
        res = str(d.get("result", "?"))
        return Text.assemble(
            ("walk ", "cyan"),
            str(d.get("path", "")),
            " → ",
            (res, "green" if res == "ok" else "red"),
        )
    if kind == "fuse_op":
        route = str(d.get("route", "?"))
        t = Text.assemble(
            ("FUSE ", "bold blue"),
            (str(_base_opcode(d.get("opcode", "?"))), "bold blue"),
            f" nodeid={d.get('nodeid')} ",
            (f"[{route}]", "yellow" if route == "bpf" else "blue"),
        )
        end = ev.end or {}
        if end.get("errno"):
            t.append(" → ")
            t.append(_errname(end["errno"]), style="red")
        return t
    if kind == "bpf":
        phase = str(d.get("phase", "?"))
        ret = d.get("ret")
        decision = d.get("decision")
        if decision is None and isinstance(ret, int):
            decision = decode_bpf_ret(ret)
        bad = isinstance(ret, int) and ret < 0
        prog = d.get("prog")
        return Text.assemble(
            ("BPF ", "bold yellow"),
            (
                ("prefilter" if phase == "pre" else "postfilter" if phase == "post" else phase),
                "yellow",
            ),
            f" {_base_opcode(d.get('opcode', '?'))}",
            (f" ({prog})" if prog else "", "dim"),
            " → ",
            (str(decision), "bold red" if bad else "bold yellow"),
            (f"  ret={ret}" if isinstance(ret, int) else "", "dim"),
        )
    if kind == "request":
        extra = [f"nodeid={d.get('nodeid')}"]
        if d.get("uid") is not None:
            extra.append(f"uid={d.get('uid')}")
        if d.get("error_in"):
            extra.append(f"error_in=-{_errname(d.get('error_in'))}")
        args = d.get("args")
        t = Text.assemble(
            ("⇢ daemon ", "bold green"),
            (str(d.get("opcode", "?")), "bold green"),
            f" #{d.get('unique')} ",
            " ".join(extra),
        )
        if isinstance(args, list) and args:
            t.append("  " + _args_summary(args), style="dim")
        return t
    if kind == "reply":
        err = d.get("error") or 0
        status = Text("ok", style="green") if not err else Text(f"-{_errname(err)}", style="red")
        return Text.assemble(
            ("⇠ reply ", "green"), f"#{d.get('unique')} ", status, f", {d.get('outsize')} bytes"
        )
    if kind == "backing":
        backing_res = d.get("result", (ev.end or {}).get("result"))
        return Text.assemble(
            ("backing ", "bold cyan"),
            str(d.get("op", _base_opcode(d.get("opcode", "?")))),
            " → ",
            (_short(backing_res, quote=False) if backing_res is not None else "ok", "cyan"),
        )
    if kind == "finalize":
        fin_res = d.get("result")
        return Text.assemble(
            ("finalize ", "bold"),
            _base_opcode(d.get("opcode", "?")),
            " → ",
            _short(fin_res, quote=False) if fin_res is not None else "ok",
        )
    if kind == "printk":
        return Text.assemble(("printk ", "dim"), (str(d.get("line", "")), "dim italic"))
    if kind in ("protocol_error", "daemon_exception", "bpf_fault"):
        return Text.assemble((f"{kind} ", "bold red"), (str(d.get("reason", "")), "red"))
    # unknown kinds: show them honestly rather than hide them
    fields = " ".join(f"{k}={_short(v, 24)}" for k, v in d.items())
    return Text.assemble((f"{kind} ", "dim bold"), (fields, "dim"))


# --------------------------------------------------------------------------------------------
# Trees


def _children_index(events: list[Event]) -> dict[int | None, list[Event]]:
    known = {e.seq for e in events}
    index: dict[int | None, list[Event]] = {}
    for ev in events:
        parent = ev.parent if ev.parent in known else None
        index.setdefault(parent, []).append(ev)
    return index


def _add(
    node: Tree,
    siblings: list[Event],
    index: dict[int | None, list[Event]],
    show_daemon_syscalls: bool,
) -> None:
    i = 0
    while i < len(siblings):
        ev = siblings[i]
        if ev.kind == "request":
            # pair with the reply among the siblings: what lies between was done while the
            # daemon held the request
            j = next(
                (
                    k
                    for k in range(i + 1, len(siblings))
                    if siblings[k].kind == "reply"
                    and siblings[k].data.get("unique") == ev.data.get("unique")
                ),
                None,
            )
            sub = node.add(_label(ev))
            if j is not None:
                _add(sub, siblings[i + 1 : j], index, show_daemon_syscalls)
                sub.add(_label(siblings[j]))
                i = j + 1
                continue
            i += 1
            continue
        if ev.kind == "syscall" and not show_daemon_syscalls:
            i += 1
            continue
        child = node.add(_label(ev, nested_syscall=ev.kind == "syscall"))
        _add(child, index.get(ev.seq, []), index, show_daemon_syscalls)
        i += 1


def trees(
    source: TraceLike,
    *,
    syscalls: Iterable[str] | None = None,
    limit: int | None = None,
    show_daemon_syscalls: bool = True,
) -> list[Tree]:
    """One ``rich.tree.Tree`` per top-level system call, in order.

    Args:
        source: a trace, a list of events, or an object with a ``trace``.
        syscalls: only these system call names (e.g. ``{"open", "stat"}``).
        limit: at most this many trees (the first ones).
        show_daemon_syscalls: draw the system calls a daemon made while it held a request
            (nested under the request); off, only the kernel's side is drawn.

    Events outside any system call (mount-time INIT, connection state changes) are
    gathered into a tree labelled ``(outside any system call)``.
    """
    events = _events(source)
    index = _children_index(events)
    wanted = set(syscalls) if syscalls is not None else None
    out: list[Tree] = []
    loose: Tree | None = None
    for ev in index.get(None, []):
        if limit is not None and len(out) >= limit:
            break
        if ev.kind == "syscall":
            loose = None
            if wanted is not None and ev.data.get("name") not in wanted:
                continue
            t = Tree(_label(ev), guide_style="dim")
            _add(t, index.get(ev.seq, []), index, show_daemon_syscalls)
            out.append(t)
            continue
        if wanted is not None:
            continue
        if loose is None:
            loose = Tree(Text("(outside any system call)", style="dim italic"), guide_style="dim")
            out.append(loose)
        _add(loose, [ev], index, show_daemon_syscalls)
    return out


def tree(
    source: TraceLike,
    *,
    syscalls: Iterable[str] | None = None,
    limit: int | None = None,
    show_daemon_syscalls: bool = True,
) -> View:
    """All of :func:`trees` as one renderable (arguments as there).

    An empty trace renders as a single dim line saying so.
    """
    ts = trees(source, syscalls=syscalls, limit=limit, show_daemon_syscalls=show_daemon_syscalls)
    if not ts:
        return View([Text("(no events)", style="dim")])
    return View(ts)


# --------------------------------------------------------------------------------------------
# Numbers


@dataclass(frozen=True, slots=True)
class Metrics:
    """The counts one workload produced (see :func:`metrics`).

    ``syscalls`` counts the workload's own system calls (top level); ``daemon_syscalls``
    those a daemon made while serving requests.  ``transitions`` follows
    :attr:`Trace.transitions` (reading a request is one, writing its reply another).
    """

    syscalls: int
    failed_syscalls: int
    daemon_syscalls: int
    transitions: int
    requests: int
    filter_requests: int
    bpf_runs: int
    backing_ops: int
    fuse_ops_bpf: int
    fuse_ops_classic: int
    requests_by_opcode: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for JSON)."""
        return {f: getattr(self, f) for f in self.__slots__}


def metrics(source: TraceLike) -> Metrics:
    """Count what a trace shows: syscalls, transitions, requests, BPF runs, backing ops."""
    events = _events(source)
    syscalls = [e for e in events if e.kind == "syscall"]
    top = [e for e in syscalls if e.depth == 0]
    requests = [e for e in events if e.kind == "request"]
    by_opcode: Counter[str] = Counter(str(e.data.get("opcode")) for e in requests)
    fuse_ops = [e for e in events if e.kind == "fuse_op"]
    return Metrics(
        syscalls=len(top),
        failed_syscalls=sum(1 for e in top if (e.end or {}).get("errno")),
        daemon_syscalls=len(syscalls) - len(top),
        transitions=sum(1 for e in events if e.kind in ("request", "reply")),
        requests=len(requests),
        filter_requests=sum(1 for e in requests if "FILTER" in str(e.data.get("opcode"))),
        bpf_runs=sum(1 for e in events if e.kind == "bpf"),
        backing_ops=sum(1 for e in events if e.kind == "backing"),
        fuse_ops_bpf=sum(1 for e in fuse_ops if e.data.get("route") == "bpf"),
        fuse_ops_classic=sum(1 for e in fuse_ops if e.data.get("route") != "bpf"),
        requests_by_opcode=dict(sorted(by_opcode.items())),
    )


def requests_table(source: TraceLike, *, title: str | None = "Daemon requests") -> Table:
    """The requests the daemon read, in order, each with its reply.

    Columns: ``unique``, opcode (with ``|PREFILTER``/``|POSTFILTER``), nodeid, uid/gid,
    pid, ``error_in``, request size, argument summary, reply status and size.  A request
    never answered (FORGET) shows ``—`` as its reply.  Where the width is short (80
    columns) pid, uid/gid, request size, ``error_in`` and nodeid are hidden in that order
    until the arguments have room (:class:`FittingTable`; the caption names them).
    """
    events = _events(source)
    replies: dict[Any, Event] = {}
    for e in events:
        if e.kind == "reply":
            replies.setdefault(e.data.get("unique"), e)
    reqs = [e for e in events if e.kind == "request"]
    widest = max((len(str(e.data.get("opcode"))) for e in reqs), default=6)
    table = FittingTable(
        title=title,
        header_style="bold",
        show_lines=False,
        optional=("pid", "uid/gid", "in", "error_in", "nodeid"),
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("opcode", no_wrap=True, min_width=widest)
    table.add_column("nodeid", justify="right", no_wrap=True)
    table.add_column("uid/gid", justify="right", no_wrap=True)
    table.add_column("pid", justify="right", no_wrap=True)
    table.add_column("error_in", no_wrap=True, min_width=8)
    table.add_column("in", justify="right", no_wrap=True)
    table.add_column("args", ratio=1, min_width=20)
    table.add_column("reply", no_wrap=True, min_width=7)
    table.add_column("out", justify="right", no_wrap=True)
    for e in reqs:
        d = e.data
        rep = replies.get(d.get("unique"))
        if rep is None:
            status, outsize = Text("—", style="dim"), ""
        else:
            err = rep.data.get("error") or 0
            status = (
                Text("ok", style="green") if not err else Text(f"-{_errname(err)}", style="red")
            )
            outsize = str(rep.data.get("outsize", ""))
        args = d.get("args")
        table.add_row(
            str(d.get("unique")),
            Text(str(d.get("opcode")), style="yellow" if "FILTER" in str(d.get("opcode")) else ""),
            str(d.get("nodeid")),
            f"{d.get('uid')}/{d.get('gid')}",
            str(d.get("pid")),
            f"-{_errname(d['error_in'])}" if d.get("error_in") else "",
            str(d.get("insize", "")),
            Text(_args_summary(args) if isinstance(args, list) else "", style="dim"),
            status,
            outsize,
        )
    if not reqs:
        table.caption = "no requests reached the daemon"
    return table


def counters_table(source: TraceLike, *, title: str | None = "Per-opcode counters") -> Table:
    """Per opcode: FUSE operations by route, daemon requests, BPF runs, backing operations.

    Daemon requests are split into plain (classic FUSE), ``|PREFILTER`` and
    ``|POSTFILTER``; BPF runs into prefilter and postfilter.  The last row sums every
    column; the caption gives user↔kernel transitions and system call counts.
    """
    events = _events(source)
    cols = (
        "ops\nbpf",
        "ops\nclassic",
        "daemon\nplain",
        "daemon\npre",
        "daemon\npost",
        "BPF\npre",
        "BPF\npost",
        "backing\nops",
    )
    rows: dict[str, Counter[str]] = {}

    def bump(opcode: Any, col: str) -> None:
        rows.setdefault(_base_opcode(opcode), Counter())[col] += 1

    for e in events:
        d = e.data
        if e.kind == "fuse_op":
            bump(d.get("opcode"), cols[0] if d.get("route") == "bpf" else cols[1])
        elif e.kind == "request":
            op = str(d.get("opcode"))
            bump(op, cols[3] if "PREFILTER" in op else cols[4] if "POSTFILTER" in op else cols[2])
        elif e.kind == "bpf":
            bump(d.get("opcode"), cols[5] if d.get("phase") == "pre" else cols[6])
        elif e.kind == "backing":
            bump(d.get("opcode"), cols[7])
    m = metrics(events)
    table = Table(title=title, header_style="bold")
    table.add_column("opcode")
    for c in cols:
        table.add_column(c, justify="right")
    totals: Counter[str] = Counter()
    for op in sorted(rows):
        table.add_row(op, *(_num(rows[op][c]) for c in cols))
        totals.update(rows[op])
    table.add_section()
    table.add_row(Text("total", style="bold"), *(Text(str(totals[c]), style="bold") for c in cols))
    table.caption = (
        f"transitions {m.transitions} · syscalls {m.syscalls}"
        + (f" (+{m.daemon_syscalls} by the daemon)" if m.daemon_syscalls else "")
        + (f" · {m.failed_syscalls} failed" if m.failed_syscalls else "")
    )
    return table


def _num(n: int) -> Text:
    return Text(str(n), style="dim") if n == 0 else Text(str(n))


_COMPARE_ROWS: tuple[tuple[str, str], ...] = (
    ("syscalls", "syscalls"),
    ("  failed", "failed_syscalls"),
    ("transitions", "transitions"),
    ("daemon requests", "requests"),
    ("  filter requests", "filter_requests"),
    ("daemon syscalls", "daemon_syscalls"),
    ("BPF runs", "bpf_runs"),
    ("backing ops", "backing_ops"),
    ("FUSE ops, bpf", "fuse_ops_bpf"),
    ("FUSE ops, classic", "fuse_ops_classic"),
)


def compare(results: Mapping[str, TraceLike | Metrics], *, title: str | None = None) -> Table:
    """One workload under several configurations, side by side.

    ``results`` maps a column label (``"bind"``, ``"classic FUSE"``, ``"FUSE-BPF"``) to a
    trace, a scenario result or precomputed :class:`Metrics`.  Rows: the workload's system
    calls (and how many failed), user↔kernel transitions, daemon requests (and how many were
    fuse-bpf filter requests), system calls the daemon made, BPF runs, backing operations,
    FUSE operations by route; then one row per request opcode.  The smallest transition
    count is highlighted.
    """
    cols = {label: (v if isinstance(v, Metrics) else metrics(v)) for label, v in results.items()}
    table = Table(title=title, header_style="bold")
    table.add_column("", no_wrap=True)
    for label in cols:
        table.add_column(label, justify="right")
    least = min((m.transitions for m in cols.values()), default=0)
    for name, attr in _COMPARE_ROWS:
        cells: list[Text] = []
        for m in cols.values():
            v = int(getattr(m, attr))
            style = (
                "bold green" if attr == "transitions" and v == least else ("dim" if v == 0 else "")
            )
            cells.append(Text(str(v), style=style))
        table.add_row(name, *cells)
    opcodes = sorted({op for m in cols.values() for op in m.requests_by_opcode})
    if opcodes:
        table.add_section()
        table.add_row(Text("requests by opcode", style="italic"), *("" for _ in cols))
        for op in opcodes:
            table.add_row(
                Text(f"  {op}", style="dim"),
                *(_num(m.requests_by_opcode.get(op, 0)) for m in cols.values()),
            )
    return table


def json(source: TraceLike) -> View:
    """The trace as indented, highlighted JSON (the document of :meth:`Trace.to_json`)."""
    document = json_mod.dumps([e.to_json() for e in _events(source)])
    return View([JSON(document, indent=2)])
