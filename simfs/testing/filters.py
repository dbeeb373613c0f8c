"""Mounts, daemons and example filter programs to run the machines against.

Mount factories have the shape ``factory(kernel, lower_dir, mountpoint) -> mount`` that
:mod:`simfs.testing.machines` expects:

- :func:`bind` — ``mount --bind`` (the reference);
- :func:`passthrough` — fuse-bpf with ``root_dir`` + ``no_daemon`` (no program);
- :func:`bpf_mount` — fuse-bpf with ``root_dir``, a root program and optionally a daemon;
- :func:`classic_passthrough` — classic FUSE served by ``simfs.daemons.Passthrough``;
- :func:`decision_table_mount` — a generated :class:`DecisionTable` as the program.

Every FUSE mount here passes ``allow_other=True`` (the test processes are not the
mounter) and leaves other options at their defaults unless told.

Programs (each a function returning a fresh ``@simfs.bpf.program``): the transparent
ones (:func:`backing_program`, :func:`transparent_program`), and example filters for the
property machines (:func:`hiding_program`, :func:`readonly_program`,
:func:`errno_translating_program`), including deliberately wrong ones used to show the
machines catch them (:func:`leaky_hiding_program`, :func:`deny_after_backing_program`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as hst

from simfs import uapi
from simfs.daemon import Daemon, Reply, Request

if TYPE_CHECKING:
    from simfs.kernel import Kernel
    from simfs.testing.machines import ProgramLog

__all__ = [
    "FILTERED_OPCODES",
    "MUTATING_OPCODES",
    "Decision",
    "DecisionTable",
    "EchoDaemon",
    "backing_program",
    "bind",
    "bpf_mount",
    "classic_passthrough",
    "decision_table_mount",
    "decision_tables",
    "deny_after_backing_program",
    "errno_translating_program",
    "hiding_program",
    "leaky_hiding_program",
    "passthrough",
    "readonly_program",
    "remove_below_root_program",
    "transparent_program",
]

BACKING = uapi.FUSE_BPF_BACKING
POST = uapi.FUSE_BPF_POST_FILTER
USER = uapi.FUSE_BPF_USER_FILTER
PRE_BIT = uapi.FUSE_PREFILTER
POST_BIT = uapi.FUSE_POSTFILTER
OPMASK = uapi.FUSE_OPCODE_FILTER

#: Opcodes the ACK fuse-bpf machine intercepts (spec §4).
FILTERED_OPCODES: tuple[int, ...] = tuple(
    int(o)
    for o in (
        uapi.FUSE_LOOKUP,
        uapi.FUSE_GETATTR,
        uapi.FUSE_SETATTR,
        uapi.FUSE_READLINK,
        uapi.FUSE_SYMLINK,
        uapi.FUSE_MKNOD,
        uapi.FUSE_MKDIR,
        uapi.FUSE_UNLINK,
        uapi.FUSE_RMDIR,
        uapi.FUSE_RENAME,
        uapi.FUSE_LINK,
        uapi.FUSE_OPEN,
        uapi.FUSE_READ,
        uapi.FUSE_WRITE,
        uapi.FUSE_STATFS,
        uapi.FUSE_RELEASE,
        uapi.FUSE_FSYNC,
        uapi.FUSE_SETXATTR,
        uapi.FUSE_GETXATTR,
        uapi.FUSE_LISTXATTR,
        uapi.FUSE_REMOVEXATTR,
        uapi.FUSE_FLUSH,
        uapi.FUSE_OPENDIR,
        uapi.FUSE_READDIR,
        uapi.FUSE_RELEASEDIR,
        uapi.FUSE_FSYNCDIR,
        uapi.FUSE_ACCESS,
        uapi.FUSE_CREATE,
        uapi.FUSE_FALLOCATE,
        uapi.FUSE_RENAME2,
        uapi.FUSE_LSEEK,
        uapi.FUSE_COPY_FILE_RANGE,
    )
)
#: Opcodes whose backing step changes the lower filesystem.
MUTATING_OPCODES: frozenset[int] = frozenset(
    int(o)
    for o in (
        uapi.FUSE_SETATTR,
        uapi.FUSE_SYMLINK,
        uapi.FUSE_MKNOD,
        uapi.FUSE_MKDIR,
        uapi.FUSE_UNLINK,
        uapi.FUSE_RMDIR,
        uapi.FUSE_RENAME,
        uapi.FUSE_RENAME2,
        uapi.FUSE_LINK,
        uapi.FUSE_WRITE,
        uapi.FUSE_SETXATTR,
        uapi.FUSE_REMOVEXATTR,
        uapi.FUSE_FALLOCATE,
        uapi.FUSE_CREATE,
        uapi.FUSE_COPY_FILE_RANGE,
    )
)


def _program(name: str, fn: Callable[[Any], int]) -> Any:
    import simfs.bpf

    return simfs.bpf.program(name)(fn)


def _split(fa: Any) -> tuple[int, str]:
    op = fa.opcode
    return op & OPMASK, "pre" if op & PRE_BIT else "post" if op & POST_BIT else "none"


# --- daemons ------------------------------------------------------------------------------
class EchoDaemon(Daemon):
    """Answers every fuse-bpf filter request by echoing its arguments unchanged.

    A prefilter reply carries the in-arguments back (the kernel reads the rewritten
    inputs from it); a postfilter reply carries the out-arguments the request delivered
    (the last ``len(out_shapes)`` arguments).  Classic requests get ``ENOSYS``
    (``RELEASE``/``RELEASEDIR``/``FLUSH`` succeed, ``FORGET`` is not answered).
    ``requests`` records every request, for tests that count round trips.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests: list[Request] = []

    def handle(self, req: Request) -> Reply | None:
        self.requests.append(req)
        if req.phase is not None:
            return echo_reply(req)
        return classic_fallback(req)


def echo_reply(req: Request) -> Reply:
    """The unchanged reply to a filter request (see :class:`EchoDaemon`)."""
    n = len(req.out_shapes)
    if n == 0:
        return Reply.none()
    return Reply(*req.args[len(req.args) - n :])


def classic_fallback(req: Request) -> Reply | None:
    """What the filter daemons answer to a classic request: ENOSYS, except for the
    requests a daemon must not fail (release, flush) or answer (forget)."""
    base = req.base_opcode
    if base in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
        return None
    if base in (uapi.FUSE_RELEASE, uapi.FUSE_RELEASEDIR, uapi.FUSE_FLUSH, uapi.FUSE_DESTROY):
        return Reply.none()
    return Reply.error(errno.ENOSYS)


# --- mount factories ----------------------------------------------------------------------
def bind(k: Kernel, lower_dir: str, mountpoint: str) -> object:
    """``mount --bind lower_dir mountpoint`` (the reference of every comparison)."""
    return k.mount_bind(lower_dir, mountpoint)


def passthrough(k: Kernel, lower_dir: str, mountpoint: str, **options: Any) -> object:
    """fuse-bpf pure passthrough: ``root_dir=lower_dir``, ``no_daemon``, no program."""
    return k.mount_fuse(mountpoint, root_dir=lower_dir, no_daemon=True, allow_other=True, **options)


def bpf_mount(
    program: Callable[[], Any] | Any,
    daemon: Callable[[], Daemon] | None = None,
    **options: Any,
) -> Callable[[Kernel, str, str], object]:
    """A factory for fuse-bpf mounts with ``root_dir`` = the lower dir and a root program.

    ``program`` is a ``@simfs.bpf.program`` or a zero-argument callable returning one
    (called once per mount, so each kernel gets a fresh program and fresh maps);
    ``daemon`` a zero-argument callable returning a fresh daemon, or ``None`` for
    ``no_daemon``.  ``options`` go to ``mount_fuse``.
    """

    def factory(k: Kernel, lower_dir: str, mountpoint: str) -> object:
        prog = program() if callable(program) and not hasattr(program, "func") else program
        opts: dict[str, Any] = {"allow_other": True, **options}
        if daemon is None:
            return k.mount_fuse(
                mountpoint, root_dir=lower_dir, root_bpf=prog, no_daemon=True, **opts
            )
        return k.mount_fuse(mountpoint, daemon=daemon(), root_dir=lower_dir, root_bpf=prog, **opts)

    factory.__name__ = f"bpf_mount({getattr(program, '__name__', program)!s})"
    # for the machines: the filter's vocabulary and handled opcodes, and the
    # counterexample script's import of this mount
    factory.program = program  # type: ignore[attr-defined]
    factory.daemon = daemon  # type: ignore[attr-defined]
    factory.options = dict(options)  # type: ignore[attr-defined]
    return factory


def classic_passthrough(k: Kernel, lower_dir: str, mountpoint: str) -> object:
    """Classic FUSE, every operation served by ``simfs.daemons.Passthrough(lower_dir)``,
    with ``default_permissions`` (the kernel checks permissions, as with libfuse's
    passthrough examples mounted ``-o default_permissions``)."""
    from simfs.daemons import Passthrough

    return k.mount_fuse(
        mountpoint, daemon=Passthrough(lower_dir), allow_other=True, default_permissions=True
    )


# --- transparent programs -------------------------------------------------------------------
def backing_program() -> Any:
    """Returns ``BACKING`` for everything: must be identical to no program at all."""
    return _program("test_backing", lambda fa: BACKING)


def transparent_program(*, user_filter: bool = False) -> Any:
    """``BACKING|POST_FILTER`` (``|USER_FILTER``) in every prefilter; the postfilter
    returns ``USER_FILTER`` when ``user_filter`` (so the daemon sees every filter request
    of both phases) else 0.  Changes nothing."""

    def prog(fa: Any) -> int:
        _, phase = _split(fa)
        if phase == "pre":
            return BACKING | POST | (USER if user_filter else 0)
        return USER if user_filter else 0

    return _program("test_transparent_user" if user_filter else "test_transparent", prog)


def remove_below_root_program() -> Any:
    """Removes itself from every child (LOOKUP postfilter sets ``bpf_action = REMOVE``)
    and fails any other operation on a non-root inode with EIO.  Equivalent to a bind
    mount exactly when REMOVE is honoured (children then have no program = BACKING)."""

    def prog(fa: Any) -> int:
        op, phase = _split(fa)
        if op == uapi.FUSE_LOOKUP:
            if phase == "pre":
                return BACKING | POST
            fa.out_args[1].set(bpf_action=uapi.FUSE_ACTION_REMOVE)
            return 0
        if fa.nodeid != uapi.FUSE_ROOT_ID:
            return -errno.EIO
        return BACKING

    return _program("test_remove_below_root", prog)


# --- example filters --------------------------------------------------------------------------
def _name_of(fa: Any) -> str | None:
    v = fa.in_args[0].value
    return v if isinstance(v, str) else None


def hiding_program(
    hidden: Collection[str] | Callable[[str], bool], *, in_postfilter: bool = False
) -> Any:
    """Hides names: LOOKUP of a hidden name fails ENOENT and READDIR drops hidden entries.

    ``in_postfilter=False`` decides LOOKUP in the prefilter (before the lower is
    touched); ``True`` lets the lookup reach the lower and turns it into ENOENT in the
    postfilter (as a daemon-assisted policy would).
    """
    is_hidden = hidden if callable(hidden) else frozenset(hidden).__contains__

    def prog(fa: Any) -> int:
        op, phase = _split(fa)
        if op == uapi.FUSE_LOOKUP:
            if phase == "pre":
                if not in_postfilter and is_hidden(_name_of(fa) or ""):
                    return -errno.ENOENT
                return BACKING | (POST if in_postfilter else 0)
            return -errno.ENOENT if is_hidden(_name_of(fa) or "") else 0
        if op == uapi.FUSE_READDIR:
            if phase == "pre":
                return BACKING | POST
            ents = fa.out_args[1].value
            if ents and any(is_hidden(d.name) for d in ents):
                fa.out_args[1].value = [d for d in ents if not is_hidden(d.name)]
            return 0
        return BACKING

    return _program("test_hiding", prog)


def leaky_hiding_program(hidden: Collection[str]) -> Any:
    """A hider that forgets READDIR: LOOKUP says ENOENT, ``listdir`` still shows the name."""
    names = frozenset(hidden)

    def prog(fa: Any) -> int:
        op, phase = _split(fa)
        if op == uapi.FUSE_LOOKUP and phase == "pre" and _name_of(fa) in names:
            return -errno.ENOENT
        return BACKING

    return _program("test_leaky_hiding", prog)


def _writes(fa: Any, op: int) -> bool:
    if op in MUTATING_OPCODES:
        return True
    if op == uapi.FUSE_OPEN:
        flags = getattr(fa.in_args[0].value, "flags", 0)
        return bool((flags & os.O_ACCMODE) != os.O_RDONLY or flags & os.O_TRUNC)
    return False


def readonly_program(err: int = errno.EROFS) -> Any:
    """Denies every mutating operation (and opens for writing) in the prefilter."""

    def prog(fa: Any) -> int:
        op, phase = _split(fa)
        if phase == "pre" and _writes(fa, op):
            return -err
        return BACKING

    return _program("test_readonly", prog)


def deny_after_backing_program(err: int = errno.EROFS) -> Any:
    """A wrong read-only filter: lets mutations reach the lower, then reports an error
    from the postfilter.  The caller sees the error; the lower changed anyway."""

    def prog(fa: Any) -> int:
        op, phase = _split(fa)
        if phase == "pre":
            return BACKING | POST
        return -err if _writes(fa, op) else 0

    return _program("test_deny_after_backing", prog)


def errno_translating_program(translate: Mapping[int, int]) -> Any:
    """Postfilter for every opcode: ``error_in == -E`` with ``E`` in ``translate`` becomes
    ``-translate[E]`` (spec §9A.5); everything else passes unchanged."""
    table = dict(translate)

    def prog(fa: Any) -> int:
        _, phase = _split(fa)
        if phase == "pre":
            return BACKING | POST
        e = -fa.error_in
        if e in table:
            return -table[e]
        return 0

    return _program("test_errno_translate", prog)


# --- decision tables ------------------------------------------------------------------------
def _set_nodeid(fa: Any) -> None:
    fa.out_args[0].set(nodeid=7)


def _remove_bpf(fa: Any) -> None:
    fa.out_args[1].set(bpf_action=uapi.FUSE_ACTION_REMOVE)


def _open_fh(fa: Any) -> None:
    fa.out_args[0].set(fh=1)


def _open_append(fa: Any) -> None:
    v = fa.out_args[0].value
    fa.out_args[0].set(flags=v.flags | os.O_APPEND)


def _drop_first_dirent(fa: Any) -> None:
    ents = fa.out_args[1].value
    fa.out_args[1].value = list(ents[1:]) if ents else []


def _attr_mode(fa: Any) -> None:
    v = fa.out_args[0].value
    fa.out_args[0].set(
        attr=type(v.attr)(
            **{
                **{f: getattr(v.attr, f) for f in v.attr.__dataclass_fields__},
                "mode": v.attr.mode | 0o777,
            }
        )
    )


def _mkdir_mode(fa: Any) -> None:
    fa.out_args[0].set(mode=0o700)


#: Argument edits a decision may apply before returning: (opcode, phase) -> name -> edit.
EDITS: dict[tuple[int, str], dict[str, Callable[[Any], None]]] = {
    (int(uapi.FUSE_LOOKUP), "post"): {"nodeid=7": _set_nodeid, "bpf_action=REMOVE": _remove_bpf},
    (int(uapi.FUSE_OPEN), "post"): {"fh=1": _open_fh},
    (int(uapi.FUSE_OPEN), "pre"): {"flags|=O_APPEND": _open_append},
    (int(uapi.FUSE_READDIR), "post"): {"drop first dirent": _drop_first_dirent},
    (int(uapi.FUSE_GETATTR), "post"): {"attr.mode|=0o777": _attr_mode},
    (int(uapi.FUSE_MKDIR), "pre"): {"mode=0o700": _mkdir_mode},
}

PRE_RETURNS: tuple[int, ...] = (
    BACKING,
    BACKING | POST,
    BACKING | POST | USER,
    BACKING | USER,
    0,
    USER,
    POST,
    -errno.EPERM,
    -errno.ENOENT,
    -errno.EIO,
    -errno.EACCES,
)
POST_RETURNS: tuple[int, ...] = (0, USER, -errno.EPERM, -errno.ENOENT, -errno.EIO)
#: What the daemon answers to a filter request: "echo" or an errno.
DAEMON_ANSWERS: tuple[str | int, ...] = ("echo", errno.EPERM, errno.ENOENT)


def _ret_name(r: int) -> str:
    if r < 0:
        return f"-{errno.errorcode.get(-r, str(-r))}"
    bits = [
        n for b, n in ((USER, "USER_FILTER"), (BACKING, "BACKING"), (POST, "POST_FILTER")) if r & b
    ]
    return "|".join(bits) or "0"


@dataclass(frozen=True)
class Decision:
    """What the program does for one (opcode, phase): apply ``edit``, return ``ret``;
    ``daemon`` is the answer to the filter request that ``USER_FILTER`` causes."""

    ret: int
    edit: str | None = None
    daemon: str | int = "echo"

    def __repr__(self) -> str:
        parts = [_ret_name(self.ret)]
        if self.edit:
            parts.append(f"edit={self.edit!r}")
        if self.daemon != "echo":
            parts.append(f"daemon=-{errno.errorcode.get(int(self.daemon), self.daemon)}")
        return f"Decision({', '.join(parts)})"


@dataclass(frozen=True)
class DecisionTable:
    """A program as data: ``(opcode, phase) -> Decision``; anything absent returns
    ``BACKING`` (prefilter) or 0 (postfilter), i.e. the empty table is passthrough."""

    entries: tuple[tuple[tuple[int, str], Decision], ...] = ()

    def get(self, op: int, phase: str) -> Decision | None:
        for key, d in self.entries:
            if key == (op, phase):
                return d
        return None

    def __repr__(self) -> str:
        inner = ", ".join(f"{uapi.opcode_name(op)}/{ph}: {d!r}" for (op, ph), d in self.entries)
        return f"DecisionTable({{{inner}}})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


@hst.composite
def _decision(draw: hst.DrawFn, key: tuple[int, str]) -> Decision:
    phase = key[1]
    ret = draw(hst.sampled_from(PRE_RETURNS if phase == "pre" else POST_RETURNS))
    edits = sorted(EDITS.get(key, {}))
    edit = draw(hst.sampled_from([None, *edits])) if edits else None
    daemon = draw(hst.sampled_from(DAEMON_ANSWERS)) if ret > 0 and ret & USER else "echo"
    return Decision(ret, edit, daemon)


@hst.composite
def _tables(draw: hst.DrawFn, opcodes: tuple[int, ...], max_entries: int) -> DecisionTable:
    keys = draw(
        hst.lists(
            hst.tuples(hst.sampled_from(opcodes), hst.sampled_from(("pre", "post"))),
            max_size=max_entries,
            unique=True,
        )
    )
    return DecisionTable(tuple((k, draw(_decision(k))) for k in keys))


def decision_tables(
    opcodes: tuple[int, ...] = FILTERED_OPCODES, *, max_entries: int = 6
) -> hst.SearchStrategy[DecisionTable]:
    """Random programs as :class:`DecisionTable` over opcode x phase x return x edit.
    Shrinks towards the empty table (pure passthrough)."""
    return _tables(opcodes, max_entries)


class TableDaemon(Daemon):
    """Answers filter requests as a :class:`DecisionTable` says; logs them."""

    def __init__(self, table: DecisionTable, log: ProgramLog) -> None:
        super().__init__()
        self.table = table
        self.log = log

    def handle(self, req: Request) -> Reply | None:
        base = int(req.base_opcode)
        self.log.events.append(("request", base, req.nodeid, 0))
        if req.phase is None:
            return classic_fallback(req)
        d = self.table.get(base, req.phase)
        if d is not None and d.daemon != "echo":
            return Reply.error(int(d.daemon))
        return echo_reply(req)


def decision_table_program(table: DecisionTable, log: ProgramLog) -> Any:
    """The program a :class:`DecisionTable` describes; logs each run as
    ``("pre"|"post", opcode, nodeid, ret)``."""

    def prog(fa: Any) -> int:
        op, phase = _split(fa)
        d = table.get(op, phase)
        ret = (BACKING if phase == "pre" else 0) if d is None else d.ret
        log.events.append((phase, op, fa.nodeid, ret))
        if d is not None and d.edit is not None:
            EDITS[(op, phase)][d.edit](fa)
        return ret

    return _program("test_table", prog)


def decision_table_mount(
    table: DecisionTable, log: ProgramLog
) -> Callable[[Kernel, str, str], object]:
    """A mount factory: root program from ``table`` and a :class:`TableDaemon`."""

    def factory(k: Kernel, lower_dir: str, mountpoint: str) -> object:
        return k.mount_fuse(
            mountpoint,
            daemon=TableDaemon(table, log),
            root_dir=lower_dir,
            root_bpf=decision_table_program(table, log),
            allow_other=True,
        )

    return factory
