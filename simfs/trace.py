"""Observability as hooks: what the simulated kernel did, in order, nested by cause.

Modelled after trio's ``Instrument`` ABC: the kernel calls ``Hooks.emit``/``Hooks.span``
at every interesting point (syscall entry and exit, path walk, FUSE operation, BPF run,
daemon request and reply, backing operation, finalize); every registered
:class:`Instrument` sees every event.  With no instrument registered an emit costs one
attribute test.  :class:`Trace` is the recording instrument behind ``Kernel.trace``;
the rich views in :mod:`simfs.render` and test recorders are instruments too.

Event kinds (``Event.kind``) and the data they carry:

``syscall``      span: ``name``, ``pid``, ``args``; on exit ``result`` or ``errno``
``walk``         ``path``, ``result`` (``"ok"`` or an errno name)
``fuse_op``      span: ``opcode`` (name), ``nodeid``, ``route`` (``bpf``/``classic``)
``bpf``          ``phase`` (``pre``/``post``), ``opcode``, ``nodeid``, ``prog``, ``ret``,
                 ``decision`` (decoded flags or errno name)
``request``      ``unique``, ``opcode`` (name, with ``|PREFILTER``/``|POSTFILTER``),
                 ``nodeid``, ``uid``, ``gid``, ``pid``, ``error_in``, ``insize``
``reply``        ``unique``, ``error``, ``outsize``
``backing``      ``opcode``, ``op`` (what the lower filesystem was asked), ``result``
``finalize``     ``opcode``, ``result``
``protocol_error`` / ``daemon_exception`` / ``bpf_fault``  ``reason`` and context
``printk``       ``line`` (a BPF program's trace_pipe line)
``conn``         connection state changes: ``event`` (``negotiated``, ``daemon_exit``...)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, overload

__all__ = ["Event", "Hooks", "Instrument", "Trace", "TracePipe"]


@dataclass(slots=True)
class Event:
    """One thing the kernel did.  ``parent`` is the index of the enclosing span."""

    seq: int
    kind: str
    depth: int
    parent: int | None
    data: dict[str, Any] = field(default_factory=dict)
    end: dict[str, Any] | None = None  # set when a span closes

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seq": self.seq, "kind": self.kind, "depth": self.depth}
        if self.parent is not None:
            out["parent"] = self.parent
        out["data"] = {k: _jsonable(v) for k, v in self.data.items()}
        if self.end is not None:
            out["end"] = {k: _jsonable(v) for k, v in self.end.items()}
        return out

    def __getitem__(self, key: str) -> Any:
        if self.end is not None and key in self.end:
            return self.end[key]
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, bytes):
        return v.hex() if len(v) > 64 else v.decode("latin-1")
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return repr(v)


class Instrument:
    """Base class of trace consumers: override the hooks you need (all no-ops here)."""

    def on_event(self, event: Event) -> None:
        """Called when an event is emitted or a span opens."""

    def on_span_end(self, event: Event) -> None:
        """Called when a span closes (``event.end`` holds its result fields)."""


class Hooks:
    """The kernel's single emission point; fans events out to instruments."""

    def __init__(self) -> None:
        self.instruments: list[Instrument] = []
        self._stack: list[Event] = []
        self._seq = 0

    def add(self, instrument: Instrument) -> None:
        self.instruments.append(instrument)

    def remove(self, instrument: Instrument) -> None:
        self.instruments.remove(instrument)

    def _make(self, kind: str, data: dict[str, Any]) -> Event:
        parent = self._stack[-1].seq if self._stack else None
        ev = Event(self._seq, kind, len(self._stack), parent, data)
        self._seq += 1
        return ev

    def emit(self, kind: str, **data: Any) -> Event:
        """Record a point event inside the current span."""
        ev = self._make(kind, data)
        for ins in self.instruments:
            ins.on_event(ev)
        return ev

    @contextmanager
    def span(self, kind: str, **data: Any) -> Iterator[Event]:
        """Open a span; events emitted inside nest under it.

        Fill ``ev.end`` (a dict) with the span's result before it closes; if the body
        raises ``OSError`` the span ends with ``errno`` set.
        """
        ev = self._make(kind, data)
        for ins in self.instruments:
            ins.on_event(ev)
        self._stack.append(ev)
        try:
            yield ev
        except OSError as e:
            if ev.end is None:
                ev.end = {"errno": e.errno}
            raise
        finally:
            self._stack.pop()
            if ev.end is None:
                ev.end = {}
            for ins in self.instruments:
                ins.on_span_end(ev)

    @property
    def depth(self) -> int:
        return len(self._stack)


class Trace(Instrument):
    """Records every event; ``Kernel.trace`` is one of these.

    ``transitions`` counts user<->kernel switches caused by the daemon: reading a
    request is one, writing a reply is another (a round trip is two).

    ``trace[i]`` is one :class:`Event`; ``trace[a:b]`` a new ``Trace`` holding those
    events (a slice).  In Jupyter a trace or a slice displays itself as the tree of
    :func:`simfs.render.tree` (static HTML, so it reads on GitHub too), at most
    :attr:`DISPLAY_LIMIT` system calls of it; ``repr()`` is a one-line summary.
    """

    #: System-call trees shown when a trace displays itself in Jupyter.
    DISPLAY_LIMIT = 40

    def __init__(self, events: Sequence[Event] = ()) -> None:
        self.events: list[Event] = list(events)

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        self.events.clear()

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> Trace: ...
    def __getitem__(self, index: int | slice) -> Event | Trace:
        if isinstance(index, slice):
            return Trace(self.events[index])
        return self.events[index]

    def __repr__(self) -> str:
        return (
            f"<Trace: {len(self.events)} events, {self._syscalls()} system calls, "
            f"{self.transitions} transitions>"
        )

    def _syscalls(self) -> int:
        return sum(1 for e in self.events if e.kind == "syscall" and e.depth == 0)

    def _repr_mimebundle_(
        self, include: Sequence[str] = (), exclude: Sequence[str] = (), **kwargs: Any
    ) -> dict[str, str]:
        """Jupyter's display hook: the tree as static HTML, plus its plain text."""
        # imported here so that `import simfs` does not load rich (issue 19 item 4)
        from simfs import render

        view = render.tree(self, limit=self.DISPLAY_LIMIT)
        more = self._syscalls() - self.DISPLAY_LIMIT
        if more > 0:
            view.parts.append(
                f"… {more} more system calls: simfs.render.tree(trace) draws them all, "
                "trace[a:b] a part"
            )
        bundle: dict[str, str] = view._repr_mimebundle_(include, exclude, **kwargs)
        return bundle

    def of(self, kind: str) -> list[Event]:
        """The events of one kind, in order."""
        return [e for e in self.events if e.kind == kind]

    def requests(self) -> list[Event]:
        """The requests the daemon received, in order (``request`` events)."""
        return self.of("request")

    def request_opcodes(self) -> list[str]:
        """Opcode names of the requests the daemon received, in order."""
        return [str(e.data["opcode"]) for e in self.of("request")]

    @property
    def transitions(self) -> int:
        """User<->kernel switches caused by daemon traffic (a round trip is two)."""
        return sum(1 for e in self.events if e.kind in ("request", "reply"))

    def counters(self) -> dict[str, Counter[str]]:
        """Per-opcode counts: ``requests`` (daemon), ``bpf`` runs, ``backing`` ops."""
        out: dict[str, Counter[str]] = {
            "requests": Counter(),
            "bpf": Counter(),
            "backing": Counter(),
            "syscalls": Counter(),
        }
        for e in self.events:
            if e.kind == "request":
                out["requests"][str(e.data["opcode"])] += 1
            elif e.kind == "bpf":
                out["bpf"][f"{e.data['opcode']}|{e.data['phase']}"] += 1
            elif e.kind == "backing":
                out["backing"][str(e.data["opcode"])] += 1
            elif e.kind == "syscall":
                out["syscalls"][str(e.data["name"])] += 1
        return out

    def to_json(self) -> str:
        """The whole trace as a JSON document (a list of events)."""
        return json.dumps([e.to_json() for e in self.events], indent=None)


class TracePipe:
    """The kernel's ``trace_pipe``: a consuming FIFO of ``bpf_trace_printk`` lines.

    ``read()`` returns and consumes everything buffered (as a read of tracefs'
    ``trace_pipe`` does); ``expect(s)`` consumes lines until one contains ``s`` and fails
    if the pipe runs dry first, which is how the Android self-tests' ``bpf_test_trace``
    checks a line; ``expect_none(s)`` consumes everything and checks ``s`` is absent.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []

    def write(self, line: str) -> None:
        self._lines.append(line)

    def read(self) -> list[str]:
        out, self._lines = self._lines, []
        return out

    def peek(self) -> list[str]:
        return list(self._lines)

    def clear(self) -> None:
        """``bpf_clear_trace``: truncate the buffer."""
        self._lines.clear()

    def expect(self, substring: str) -> str:
        """Consume lines up to the first containing ``substring``; return it.

        Raises ``AssertionError`` (listing what was consumed) if no line matches.
        """
        consumed: list[str] = []
        while self._lines:
            line = self._lines.pop(0)
            consumed.append(line)
            if substring in line:
                return line
        raise AssertionError(f"trace_pipe: no line containing {substring!r}; consumed {consumed!r}")

    def expect_none(self, substring: str) -> None:
        """Consume everything; raise ``AssertionError`` if a line contains ``substring``."""
        lines = self.read()
        bad = [ln for ln in lines if substring in ln]
        if bad:
            raise AssertionError(f"trace_pipe: unexpected {substring!r} in {bad!r}")

    def __len__(self) -> int:
        return len(self._lines)
