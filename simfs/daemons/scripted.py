"""A daemon that follows a fixed script, like the Android FUSE-BPF self-test harness.

``tools/testing/selftests/filesystems/fuse/test_fuse.h`` forks a child that reads
``/dev/fuse`` one request at a time and checks each against the next matcher of its script
(``TESTFUSEIN``, ``TESTFUSELOOKUP``, ``TESTFUSEINNULL``, ``TESTFUSEINEXT``...), then
writes the scripted reply.  Any other request, or one of the wrong size, makes the child
exit with a failure, which closes the device: the kernel aborts the connection, the
request in flight fails ``ECONNABORTED`` and later ones ``ENOTCONN``.  The parent's
``FUSE_END_DAEMON`` then requires the child to have succeeded; here that is
:meth:`Scripted.verify` (after ``conn.drain()`` lets the daemon read what is queued).

    daemon = Scripted([
        expect_lookup("test").reply(Reply(FuseEntryOut(nodeid=2, ...))),
        expect(FUSE_OPEN, FuseOpenIn).reply(
            lambda req: Reply(FuseOpenOut(fh=1, open_flags=req.args[0].flags))),
        expect(FUSE_READ, FuseReadIn).reply(Reply.raw(b"data")),
        expect(FUSE_RELEASE, FuseReleaseIn).reply(Reply.none()),
    ])

See ``docs/android-selftests.md`` §1.4.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from simfs import uapi
from simfs.daemon import Daemon, DaemonExit, Reply, Request
from simfs.errors import SimfsError

__all__ = [
    "Expect",
    "ReplySpec",
    "ScriptMismatch",
    "Scripted",
    "Step",
    "expect",
    "expect_at_least",
    "expect_ext",
    "expect_init",
    "expect_lookup",
    "expect_null",
]

#: What a step answers: a fixed reply, a function of the request, or ``None`` (read the
#: request and write nothing, e.g. for FORGET, or to leave a request hanging).
ReplySpec = Reply | Callable[[Request], Reply | None] | None

_HEADER = uapi.FuseInHeader.SIZE
_FORGETS = (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET)


class ScriptMismatch(SimfsError):
    """The scripted daemon saw something its script did not allow (or missed a step)."""


@dataclass(frozen=True, slots=True)
class Expect:
    """One request matcher (one of the harness's ``TESTFUSE*`` macros)."""

    opcode: int
    insize: int
    description: str
    name: str | None = None  # TESTFUSELOOKUP: the payload must start with name + NUL
    skip_forgets: bool = False  # TESTFUSELOOKUP reads past FORGET and BATCH_FORGET
    at_least: bool = False  # TESTGE(res, ...): ``insize`` is a minimum, not the size

    def reply(self, reply: ReplySpec, *, final_blocking_read: bool = False) -> Step:
        """Pair the matcher with its answer.

        ``final_blocking_read``: this last read may also end without a request (the
        harness's read that returns when the file system is unmounted); :meth:`verify`
        then accepts it unconsumed.
        """
        return Step(self, reply, final_blocking_read)

    def no_reply(self, *, final_blocking_read: bool = False) -> Step:
        """Read the request and write nothing."""
        return Step(self, None, final_blocking_read)

    def problem(self, req: Request) -> str | None:
        """Why ``req`` does not match, or ``None``."""
        size_ok = req.insize >= self.insize if self.at_least else req.insize == self.insize
        if req.opcode != self.opcode or not size_ok:
            return (
                f"expected {self.description}: opcode {uapi.opcode_name(self.opcode)}, "
                f"insize {self.insize}; got opcode {req.name}, insize {req.insize} "
                f"(unique {req.unique}, nodeid {req.nodeid})"
            )
        if self.name is not None:
            got = req.args[0] if req.args else None
            if got != self.name:
                return f"expected {self.description}: name {self.name!r}; got {got!r}"
        return None


@dataclass(frozen=True, slots=True)
class Step:
    """A matcher and its reply."""

    expect: Expect
    reply: ReplySpec
    final_blocking_read: bool = False

    def answer(self, req: Request) -> Reply | None:
        if callable(self.reply):
            return self.reply(req)
        return self.reply


def _kinds_text(kinds: Iterable[uapi.WireKind | int]) -> str:
    return ", ".join(str(k) if isinstance(k, int) else uapi.kind_name(k) for k in kinds)


def expect(opcode: int, *in_kinds: uapi.WireKind | int) -> Expect:
    """``TESTFUSEIN(op, in)`` / ``TESTFUSEIN2(op, a, b)``: opcode ``op`` and length header +
    the sizes of the given struct kinds or byte counts."""
    size = _HEADER + uapi.in_kinds_size(in_kinds)
    desc = f"TESTFUSEIN({uapi.opcode_name(opcode)}, {_kinds_text(in_kinds)})"
    return Expect(opcode, size, desc)


def expect_at_least(opcode: int, *in_kinds: uapi.WireKind | int) -> Expect:
    """A read checked with ``TESTGE(res, ...)``: opcode ``op`` and at least header + the
    sizes of the given kinds (the self-tests' READDIR postfilter daemons, whose payload
    carries as many dirents as the backing produced)."""
    size = _HEADER + uapi.in_kinds_size(in_kinds)
    desc = f"TESTGE({uapi.opcode_name(opcode)}, {_kinds_text(in_kinds)})"
    return Expect(opcode, size, desc, at_least=True)


def expect_null(opcode: int) -> Expect:
    """``TESTFUSEINNULL(op)``: header only."""
    return Expect(opcode, _HEADER, f"TESTFUSEINNULL({uapi.opcode_name(opcode)})")


def expect_ext(opcode: int, kind: uapi.WireKind | int, extra: int) -> Expect:
    """``TESTFUSEINEXT(op, in, extra)``: header + ``in`` + ``extra`` bytes."""
    size = _HEADER + uapi.in_kinds_size([kind]) + extra
    desc = f"TESTFUSEINEXT({uapi.opcode_name(opcode)}, {_kinds_text([kind])}, {extra})"
    return Expect(opcode, size, desc)


def expect_lookup(name: str, filter: int = 0) -> Expect:
    """``TESTFUSELOOKUP(name, filter)``: skips FORGET/BATCH_FORGET, then a LOOKUP|filter
    of ``name``; with ``FUSE_POSTFILTER`` the payload also carries ``fuse_entry_out`` and
    ``fuse_entry_bpf_out``."""
    size = _HEADER + uapi.wire_size(name)
    if filter == uapi.FUSE_POSTFILTER:
        size += uapi.FuseEntryOut.SIZE + uapi.FuseEntryBpfOut.SIZE
    op = uapi.FUSE_LOOKUP | filter
    desc = f"TESTFUSELOOKUP({name!r}, {uapi.opcode_name(op)})"
    return Expect(op, size, desc, name=name, skip_forgets=True)


def expect_init(flags: int = 0) -> Step:
    """``TESTFUSEINIT()`` / ``TESTFUSEINITFLAGS(flags)``: read INIT and answer it like
    ``mount_fuse`` does, with ``flags`` (for daemons made with ``handle_init=False``)."""
    step = Expect(
        uapi.FUSE_INIT,
        _HEADER + uapi.FuseInitIn.SIZE,
        f"TESTFUSEINITFLAGS({flags:#x})",
    )

    def answer(req: Request) -> Reply:
        init_in = req.args[0] if req.args else None
        minor = init_in.minor if isinstance(init_in, uapi.FuseInitIn) else 0
        return Reply(
            uapi.FuseInitOut(
                major=uapi.FUSE_KERNEL_VERSION,
                minor=minor,
                max_readahead=4096,
                flags=flags,
                max_write=4096,
                time_gran=1000,
                max_pages=12,
                map_alignment=4096,
            )
        )

    return step.reply(answer)


class Scripted(Daemon):
    """A daemon that accepts exactly the requests of its script, in order.

    ``handle_init=True`` (the harness's ``mount_fuse``) answers INIT outside the script
    with the harness reply (``init_flags`` and the other :class:`~simfs.daemon.Daemon`
    keywords change it); ``handle_init=False`` (``mount_fuse_no_init``) routes INIT
    through the script, whose first step is then :func:`expect_init`.

    On a mismatch, a request after the last step, or a failed reply write, the daemon
    records a :class:`ScriptMismatch` and exits (:class:`~simfs.daemon.DaemonExit`).
    """

    def __init__(
        self,
        steps: Iterable[Step],
        *,
        handle_init: bool = True,
        init_flags: int | None = None,
    ) -> None:
        super().__init__(init_flags=init_flags)
        self.steps: list[Step] = list(steps)
        for i, s in enumerate(self.steps):
            if not isinstance(s, Step):
                raise TypeError(
                    f"Scripted: step {i + 1} is {s!r}; pair each matcher with its reply: "
                    "expect(...).reply(Reply(...))"
                )
        self.handle_init = handle_init
        self.position = 0  # index of the next step
        self.mismatches: list[ScriptMismatch] = []
        self.requests: list[Request] = []  # everything read, in order
        self.exited = False

    def init(self, req: Request) -> Reply | None:
        if self.handle_init:
            return self.init_reply(req)
        return self.handle(req)

    def _fail(self, message: str) -> DaemonExit:
        err = ScriptMismatch(message)
        self.mismatches.append(err)
        self.exited = True
        return DaemonExit(message)

    def handle(self, req: Request) -> Reply | None:
        self.requests.append(req)
        if self.exited:
            raise DaemonExit("the scripted daemon has already exited")
        if self.position >= len(self.steps):
            raise self._fail(
                f"after the last of {len(self.steps)} steps: unexpected request {req.name} "
                f"(insize {req.insize}, unique {req.unique}, nodeid {req.nodeid})"
            )
        step = self.steps[self.position]
        if step.expect.skip_forgets and req.opcode in _FORGETS:
            return None  # TESTFUSELOOKUP reads on past forgets
        problem = step.expect.problem(req)
        if problem is not None:
            raise self._fail(f"step {self.position + 1}: {problem}")
        self.position += 1
        return step.answer(req)

    def write_failed(self, req: Request, reply: Reply, errno_value: int) -> None:
        # the harness checks every write(): a failed one fails the daemon
        raise self._fail(
            f"step {self.position}: writing {reply!r} for {req.name} (unique {req.unique}) "
            f"failed with errno {errno_value}"
        )

    @property
    def remaining(self) -> list[Step]:
        """Steps not consumed yet."""
        return self.steps[self.position :]

    def verify(self) -> None:
        """Raise the first mismatch, or a :class:`ScriptMismatch` if steps remain.

        Trailing ``final_blocking_read`` steps may remain (their read ended at unmount).
        Call ``conn.drain()`` first so queued asynchronous requests are read.
        """
        if self.mismatches:
            raise self.mismatches[0]
        left = self.remaining
        if left and not all(s.final_blocking_read for s in left):
            first = next(s for s in left if not s.final_blocking_read)
            raise ScriptMismatch(
                f"script unfinished: step {self.steps.index(first) + 1} "
                f"({first.expect.description}) never came; {len(left)} step(s) left"
            )
