"""Hypothesis state machines over simulated kernels, ready to point at your own mount.

Every machine is a :class:`~hypothesis.stateful.RuleBasedStateMachine` whose rules are
system calls named and shaped like the ``os`` functions they run (``open``, ``rename``,
``getxattr``...), made by one of three processes (``root``, ``alice`` uid 1000, ``bob``
uid 1001 in alice's group; see :data:`~simfs.testing.calls.PROCESSES`) whose cwd is the
mount point ``/m``.  Paths come from :func:`~simfs.testing.strategies.path_vocabulary`;
open descriptors live in the ``fds`` bundle.  Each step is recorded with ``note()``, so a
failure prints the calls as hypothesis' replayable rule list *and* as ``os`` calls::

    state = BindEquivalence()
    state.setup(tree=LowerTree((File('a', 0o644, data=b'hello'),)))
    state.rename(proc='alice', src='a', dst='b/')
    ...
    alice: os.rename('a', 'b/') -> reference ('err', 'ENOTDIR') / under test ('ok', None)

The factories:

:func:`equivalence_machine`
    the same calls on a bind mount and on the mount under test; results, errno, data,
    stat (see :mod:`simfs.testing.calls` for what is compared), listings and the lower
    tree must agree.
:func:`hiding_machine`
    noninterference for a hiding filter: two kernels whose lower trees differ only in
    *which* hidden names exist; nothing a process can observe may differ.
:func:`readonly_machine`
    the lower tree (contents, metadata, mtime and ctime) never changes.
:func:`errno_translation_machine`
    a filter that translates errors changes nothing but the errno, and only as declared.
:func:`random_program_machine`
    hypothesis-generated decision tables as programs: no crash, and a negative prefilter
    return means no lower change and no daemon request for that operation.

A mount factory is any ``Callable[[Kernel, str, str], object]`` called as
``factory(kernel, lower_dir, mountpoint)``; :mod:`simfs.testing.filters` has the shipped
ones (bind, pure passthrough, programs, daemons).
"""

from __future__ import annotations

import errno as errno_mod
import os
import stat as st
import unittest
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hypothesis import event, note, target
from hypothesis import strategies as hst
from hypothesis.control import current_build_context
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pyfakefs.fake_file import FakeDirectory

from simfs.errors import UsageError
from simfs.kernel import Kernel
from simfs.testing.calls import (
    DEFAULT_STAT_FIELDS,
    PROCESSES,
    Observer,
    Outcome,
    execute,
    render_call,
)
from simfs.testing.coverage import Coverage, CoverageWarning
from simfs.testing.snapshot import diff_snapshots, snapshot_lower
from simfs.testing.strategies import (
    LOWER_DIR,
    MOUNTPOINT,
    NAMES,
    SYMLINK_TARGETS,
    XATTR_NAMES,
    XATTR_VALUES,
    LowerTree,
    lower_trees,
    open_flags,
    parse_flags,
    paths,
)

__all__ = [
    "ACK_DIFFERENCES",
    "Divergence",
    "FdPair",
    "MountFactory",
    "Side",
    "SideSpec",
    "Step",
    "SyscallMachine",
    "ack_differences",
    "equivalence_machine",
    "errno_translation_machine",
    "fuse_differences",
    "hiding_machine",
    "random_program_machine",
    "readonly_machine",
]

#: ``factory(kernel, lower_dir, mountpoint)`` mounts something at ``mountpoint``.
MountFactory = Callable[[Kernel, str, str], object]
#: ``allow(op, args, reference_outcome, test_outcome) -> reason or None``.
Allowance = Callable[[str, tuple[Any, ...], Outcome, Outcome], "str | None"]


def fuse_differences(op: str, args: tuple[Any, ...], ref: Outcome, test: Outcome) -> str | None:
    """Differences every FUSE mount has from a bind mount of tmpfs, by design:

    - ``lseek`` on a directory with SEEK_END/SEEK_DATA/SEEK_HOLE: FUSE directories use
      ``generic_file_llseek`` (SEEK_END is i_size + offset), tmpfs's
      ``dcache_dir_lseek`` accepts only SEEK_SET/SEEK_CUR (EINVAL).
    - removing the wrong type of object from a sticky directory one does not own:
      ``fuse_change_attributes_common`` keeps the sticky bit out of a FUSE inode's
      ``i_mode`` unless ``default_permissions`` ("This prevents failures due to the check
      in may_delete()"), so the VFS's ``may_delete`` reaches its type checks (ENOTDIR for
      rmdir of a non-directory, EISDIR for unlink of one) where tmpfs says EPERM first.
    """
    on_dir = op == "lseek" and bool(args) and isinstance(args[0], FdPair) and args[0].kind == "dir"
    seek = args[-1] in ("SEEK_END", "SEEK_DATA", "SEEK_HOLE") if args else False
    if on_dir and seek and ref == ("err", "EINVAL"):
        return "FUSE directories seek with generic_file_llseek; tmpfs's only SEEK_SET/SEEK_CUR"
    removes = op in ("rmdir", "unlink", "remove", "rename", "replace", "renameat2")
    if removes and ref == ("err", "EPERM") and test in (("err", "ENOTDIR"), ("err", "EISDIR")):
        return "FUSE hides the sticky bit from may_delete without default_permissions"
    return None


def _ack_lookup_name_too_long(
    op: str, args: tuple[Any, ...], ref: Outcome, test: Outcome
) -> str | None:
    paths = [a for a in args if isinstance(a, str)]
    too_long = any(len(c.encode()) > 255 for p in paths for c in p.split("/"))
    if ref == ("err", "ENAMETOOLONG") and test == ("err", "ENOENT") and too_long:
        return "ACK lookup_finalize: ENAMETOOLONG from the lower lookup becomes ENOENT"
    return None


def _ack_open_accmode_3(op: str, args: tuple[Any, ...], ref: Outcome, test: Outcome) -> str | None:
    flags = args[1] if op == "open" and len(args) > 1 else None
    if isinstance(flags, str):
        flags = parse_flags(flags)
    accmode_3 = isinstance(flags, int) and flags & os.O_ACCMODE == os.O_ACCMODE
    if accmode_3 and ref[0] == "ok" and test == ("err", "EINVAL"):
        return "ACK fuse_open_backing: O_ACCMODE 3 is no access mode it knows -> EINVAL"
    return None


#: The differences between ACK fuse-bpf and a bind mount that ACK has by design, by name,
#: each with the ACK source it follows (``fs/fuse/dir.c``, ``fs/fuse/backing.c`` of
#: aosp-mirror/kernel_common, android14-6.1 / android15-6.6):
#:
#: ``lookup_name_too_long``: a path component longer than NAME_MAX gives ENOENT, not
#:   ENAMETOOLONG.  ``fuse_lookup`` runs ``fuse_bpf_backing`` before ``fuse_lookup_name``'s
#:   ``name->len > FUSE_NAME_MAX`` check; ``fuse_lookup_backing`` returns
#:   ``PTR_ERR(lookup_one_len(...))`` (the lower fs's ENAMETOOLONG) before it stores
#:   ``fuse_entry->backing_path``; ``fuse_lookup_finalize`` then finds no
#:   ``backing_path.dentry`` and returns ``ERR_PTR(-ENOENT)``, which replaces the pending
#:   error (spec §3.6 B).  With ``quirks=False`` the error stands: ENAMETOOLONG.
#: ``open_accmode_3``: ``open(f, O_WRONLY|O_RDWR)`` (the ioctl-only mode Linux accepts) is
#:   EINVAL: ``fuse_open_backing`` switches on ``foi->flags & O_ACCMODE`` with cases for
#:   O_RDONLY, O_WRONLY and O_RDWR only, ``default: return -EINVAL``.  Not a finalize
#:   quirk: both ``quirks`` settings have it.
ACK_DIFFERENCES: dict[str, Allowance] = {
    "lookup_name_too_long": _ack_lookup_name_too_long,
    "open_accmode_3": _ack_open_accmode_3,
}


def ack_differences(op: str, args: tuple[Any, ...], ref: Outcome, test: Outcome) -> str | None:
    """The differences between ACK fuse-bpf (``quirks=True``, the default) and a bind
    mount that the kernel has by design; every other difference fails.  Those of
    :func:`fuse_differences`, and each of :data:`ACK_DIFFERENCES` (named, cited).

    With this allowance, a machine also stops comparing a descriptor's position after an
    ``lseek`` that failed on both sides: ACK's ``fuse_lseek_finalize`` commits ``f_pos``
    from the out struct even then (spec §3.6), so the positions differ by design.
    """
    reason = fuse_differences(op, args, ref, test)
    if reason:
        return reason
    for name, allow in ACK_DIFFERENCES.items():
        reason = allow(op, args, ref, test)
        if reason:
            return f"{name}: {reason}"
    return None


class Divergence(AssertionError):
    """A property of a machine was violated; the message says which call and how.

    ``check`` names the kind of property (``"outcome"``: the sides' results of one call
    differ; ``"translation"``: an errno was not translated as declared, ``expected``
    holds the wanted errno name; ``"trees"``: the lower trees differ; ``"unchanged"``:
    the lower tree changed; ``"program"``: a random-program invariant), so that a
    counterexample script can check the same thing (:mod:`simfs.testing.script`)."""

    def __init__(self, message: str, check: str = "outcome", expected: str | None = None):
        super().__init__(message)
        self.check = check
        self.expected = expected


@dataclass(frozen=True)
class Step:
    """One recorded call: ``proc`` ran ``os.<op>(*args)``; a descriptor argument is the
    :class:`FdPair` it was opened as."""

    proc: str
    op: str
    args: tuple[Any, ...]
    #: what an ``open`` gave on every side, when it succeeded everywhere
    result: FdPair | None = None


@dataclass(frozen=True)
class SideSpec:
    """How a machine builds one side: its label, a renaming of the drawn tree's names
    (the hiding machine's second side), and the mount factory."""

    label: str
    factory: MountFactory
    rename: Mapping[str, str] | None = None


@dataclass
class Side:
    """One simulated machine in a comparison: kernel, processes, observer."""

    label: str
    kernel: Kernel
    procs: dict[str, Any]
    observer: Observer
    mount: object = None
    #: per process: "ok", or the errno of its chdir into the mount point
    cwd: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FdPair:
    """An open descriptor: its owner and its number on every side."""

    proc: str
    fds: tuple[int, ...]
    kind: str = "?"  # file type on the first side ("dir", "reg", ...), for allowances

    def __repr__(self) -> str:
        same = len(set(self.fds)) == 1
        return f"FdPair({self.proc!r}, {self.fds[0] if same else self.fds})"


def build_side(
    label: str,
    tree: LowerTree,
    mount: MountFactory,
    *,
    fields: frozenset[str] = DEFAULT_STAT_FIELDS,
    lower_dir: str = LOWER_DIR,
    mountpoint: str = MOUNTPOINT,
) -> Side:
    """A fresh kernel with ``tree`` at ``lower_dir``, ``mount`` at ``mountpoint``, and the
    :data:`~simfs.testing.calls.PROCESSES` spawned with cwd = ``mountpoint``."""
    k = Kernel()
    k.lower.create_dir(mountpoint)
    tree.build(k, lower_dir)
    # let the kernel see every fixture object once (through the lower, not the mount), so
    # their wall-clock stamps become virtual-clock ones now and not during the first step
    seer = k.spawn()
    for node in tree.nodes:
        seer.lstat(f"{lower_dir}/{node.path}")
    seer.exit()
    m = mount(k, lower_dir, mountpoint)
    procs: dict[str, Any] = {}
    cwd: dict[str, str] = {}
    for name, spec in PROCESSES.items():
        proc = k.spawn(uid=spec.uid, gid=spec.gid, groups=spec.groups, umask=spec.umask)
        try:
            proc.chdir(mountpoint)
            cwd[name] = "ok"
        except OSError as e:  # a filter may deny even that; the process stays in "/"
            cwd[name] = errno_mod.errorcode.get(e.errno or 0, str(e.errno))
        procs[name] = proc
    return Side(label, k, procs, Observer(fields), m, cwd)


_MODES = ("0o644", "0o600", "0o755", "0o000", "0o4755", "0o1777", "0o2775", "0o444")
_ACCESS = ("F_OK", "R_OK", "W_OK", "X_OK", "R_OK|W_OK")
_DATA = (b"x", b"hello world", b"\0\0\0", b"y" * 5000)
_SIZES = (0, 1, 5, 4096, 100000)
_OFFSETS = (0, 3, 4096, 10000)
_WHENCES = ("SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE")
_IDS = (-1, 0, 1000, 1001)
_TIMES = ((1_000_000_000, 2_000_000_000), (5, 7))
_ACCESS_BITS = {"F_OK": 0, "R_OK": 4, "W_OK": 2, "X_OK": 1}
#: opens of existing names: reads, writes, truncating and appending ones
_EXISTING_FLAGS = (
    "O_RDONLY",
    "O_RDWR",
    "O_WRONLY|O_TRUNC",
    "O_RDWR|O_APPEND",
    "O_RDONLY|O_DIRECTORY",
)
#: mknod types an unprivileged process may create (FIFO, socket, regular)
_MKNOD_MODES = (st.S_IFIFO | 0o644, st.S_IFREG | 0o600, st.S_IFSOCK | 0o755)
#: FUSE operations a path walk sends (lookup, revalidation, permission, symlinks)
_WALK_OPCODES = frozenset({"LOOKUP", "GETATTR", "READLINK", "ACCESS", "STATX"})
#: descriptor calls that move the file position
_MOVES_POSITION = frozenset({"lseek", "read", "write", "getdents"})


class SyscallMachine(RuleBasedStateMachine):
    """Base of every machine: runs each call on every side; subclasses judge the outcomes.

    Subclasses set :attr:`sides` in an ``@initialize`` rule (the factories do) and
    override :meth:`check_step` (called with one outcome per side after every call),
    :meth:`after_step` (an invariant over the kernels after every call) and
    :meth:`check_final` (after every process has exited).
    """

    sides: list[Side]
    #: how :meth:`build_sides` builds the sides (set by the factories)
    side_specs: ClassVar[tuple[SideSpec, ...]] = ()
    #: stat fields the observers compare
    stat_fields: ClassVar[frozenset[str]] = DEFAULT_STAT_FIELDS
    #: opcodes the filter under test mentions (see :mod:`simfs.testing.vocabulary`)
    handled: ClassVar[frozenset[str]] = frozenset()
    #: what the filter saw and which calls succeeded, over every run of this class
    coverage: ClassVar[Coverage]
    #: the ``allow`` the user gave (None: chosen from the mount, see :meth:`effective_allow`)
    allow: ClassVar[Allowance | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.sides = []
        self._healthy = False  # set by the factories' setup, cleared while a step runs
        #: descriptors whose file positions may differ between the sides (see
        #: :meth:`allowed_difference`)
        self.unsynced: set[FdPair] = set()
        #: every call of this run, in order (for the counterexample script)
        self.steps: list[Step] = []
        self.tree: LowerTree | None = None
        self.open_fds: list[FdPair] = []
        self.ok_calls: Counter[str] = Counter()
        self.all_calls: Counter[str] = Counter()
        #: replaying (no notes, events or explanations)
        self.quiet = False
        self._explained = False
        self._auto_allow: Allowance | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.coverage = Coverage(cls.__name__)

    # -- sides ----------------------------------------------------------------------------
    def build_sides(self, tree: LowerTree) -> None:
        """Build one side per :attr:`side_specs` over ``tree`` and remember ``tree``."""
        self.tree = tree
        self.sides = [
            build_side(
                spec.label,
                tree.rename_names(dict(spec.rename)) if spec.rename else tree,
                spec.factory,
                fields=self.stat_fields,
            )
            for spec in self.side_specs
        ]
        self._auto_allow = _mount_allowance(self.sides[-1].mount)

    def effective_allow(self) -> Allowance | None:
        """The user's ``allow``, else the documented differences of the mount under test:
        :func:`ack_differences` for a fuse-bpf mount with ``quirks=True`` (ACK's
        default), :func:`fuse_differences` for any other FUSE mount."""
        user = type(self).allow
        return user if user is not None else self._auto_allow

    def _note(self, text: str) -> None:
        if not self.quiet:
            note(text)

    # -- hooks --------------------------------------------------------------------------
    def check_step(self, call: str, op: str, outcomes: list[Outcome]) -> None:
        """Judge one call (default: every side must agree)."""
        if any(o != outcomes[0] for o in outcomes[1:]):
            detail = " / ".join(
                f"{s.label} {o!r}" for s, o in zip(self.sides, outcomes, strict=True)
            )
            raise Divergence(f"{call} -> {detail}")

    def allowed_difference(self, allow: Allowance | None, op: str, outcomes: list[Outcome]) -> bool:
        """Whether ``allow`` names the difference between the two outcomes of this call
        (the reason is noted).

        An allowed difference on a call that moves a descriptor's file position
        (``lseek``, ``read``, ``write``, ``getdents``) leaves the two positions apart,
        and they stay apart: from then on that descriptor's position-dependent calls
        (``read``, ``getdents``, ``lseek(SEEK_CUR)``) run but are not compared, and its
        ``write`` is not run (it would write at different offsets), until an ``lseek``
        returns the same position on both sides.  Everything else on it (``fstat``,
        ``pread``, ``pwrite``, ``ftruncate``...) is still compared.
        """
        ref, test = outcomes
        reason = allow(op, self.current_args, ref, test) if allow is not None else None
        if not reason:
            return False
        self._note(f"  allowed difference: {reason}")
        fd = self.current_args[0] if self.current_args else None
        if isinstance(fd, FdPair) and op in _MOVES_POSITION and fd not in self.unsynced:
            self.unsynced.add(fd)
            self._note(f"  {fd!r}: file positions may differ from here on")
        return True

    def unallowed(self, op: str, outcomes: list[Outcome]) -> str:
        """What to add to the message of a difference the allowance did not accept:
        whether :func:`ack_differences` (a documented ACK difference) would."""
        ref, test = outcomes[0], outcomes[-1]
        allow = self.effective_allow()
        if allow is ack_differences:
            return ""
        reason = ack_differences(op, self.current_args, ref, test)
        if reason:
            return (
                f"\n  (a documented ACK fuse-bpf difference: {reason}; pass "
                "allow=ack_differences if the mount under test models ACK's quirks)"
            )
        return ""

    def after_step(self) -> None:
        """Invariant over the kernels after each call (default: none)."""

    def check_final(self) -> None:
        """Called after every process exited (default: none)."""

    # -- the engine -----------------------------------------------------------------------
    def run(self, proc: str, op: str, *args: Any, fd: FdPair | None = None) -> list[Outcome]:
        """Run ``os.<op>(*args)`` as ``proc`` on every side, note it, judge it."""
        try:
            return self._run(proc, op, *args, fd=fd)
        except Divergence as e:
            self._explain(e)
            raise

    def _run(self, proc: str, op: str, *args: Any, fd: FdPair | None = None) -> list[Outcome]:
        self._healthy = False
        if fd is not None:
            proc = fd.proc
        call = render_call(proc, op, args if fd is None else (fd.fds[0], *args))
        self.current_args = args if fd is None else (fd, *args)
        self.steps.append(Step(proc, op, self.current_args))
        unsynced = fd is not None and fd in self.unsynced
        if unsynced and op == "write":
            self._note(f"{call} -> not run: the file positions differ")
            self._healthy = True
            return []
        # what an uncompared call returns must not teach the observers anything (inode
        # labels are given in order of first sight, times compared with the last seen)
        blind = unsynced and op in ("read", "getdents")
        outcomes: list[Outcome] = []
        for i, side in enumerate(self.sides):
            real = args if fd is None else (fd.fds[i], *args)
            p = side.procs[proc]
            observer = side.observer.fork() if blind else side.observer
            outcomes.append(observer.outcome(op, lambda p=p, real=real: execute(p, op, real)))
        if (
            fd is not None
            and op == "lseek"
            and fd not in self.unsynced
            and all(o[0] == "err" for o in outcomes)
            and self.effective_allow() is ack_differences
            and _mount_allowance(self.sides[0].mount) is not ack_differences
        ):
            # ACK fuse_lseek_finalize commits f_pos from the out struct even after an
            # error (spec §3.6, quirks=True): the positions now differ, as documented
            self.unsynced.add(fd)
            self._note(f"  {fd!r}: a failed lseek moved the ACK side's position (quirk)")
        self.all_calls[op] += 1
        if all(o[0] == "ok" for o in outcomes):
            self.ok_calls[op] += 1
        if all(o == outcomes[0] for o in outcomes):
            self._note(f"{call} -> {_short(outcomes[0])}")
        else:
            self._note(
                f"{call} -> "
                + " / ".join(
                    f"{s.label} {_short(o)}" for s, o in zip(self.sides, outcomes, strict=True)
                )
            )
        if fd is not None and op == "close":
            self.unsynced.discard(fd)
            if fd in self.open_fds:
                self.open_fds.remove(fd)
        same = all(o == outcomes[0] for o in outcomes) and outcomes[0][0] == "ok"
        if unsynced and op == "lseek" and same:
            assert fd is not None
            self.unsynced.discard(fd)
            self._note(f"  {fd!r}: file positions agree again")
        elif unsynced and (
            op in ("read", "getdents") or (op == "lseek" and args[-1] == "SEEK_CUR")
        ):
            self._note("  not compared: the file positions differ")
        else:
            self.check_step(call, op, outcomes)
        self.after_step()
        self._healthy = True
        return outcomes

    def teardown(self) -> None:
        if self.sides and not self.quiet:
            self._record_coverage()
        if not self.sides or not self._healthy:
            return
        for name in PROCESSES:
            self.run(name, "exit")
        try:
            self.check_final()
        except Divergence as e:
            self._explain(e)
            raise

    # -- coverage -------------------------------------------------------------------------
    def _record_coverage(self) -> None:
        pairs: set[tuple[str, str]] = set()
        reached: set[str] = set()
        for side in self.sides:
            for e in side.kernel.trace.events:
                if e.kind == "bpf":
                    pairs.add((str(e.data.get("opcode", "?")).split("|")[0], e.data["phase"]))
                elif e.kind == "fuse_op":
                    reached.add(str(e.data.get("opcode", "?")))
        type(self).coverage.add(pairs, reached, self.ok_calls, self.all_calls)
        try:
            for op, phase in sorted(pairs):
                event(f"filter ran: {op}/{phase}")
            for op in sorted(self.ok_calls):
                event(f"call succeeded: {op}")
            seen = {op for op, _ in pairs} | reached
            handled = type(self).handled
            if handled:
                target(float(len(handled & seen)), label="handled opcodes reached")
            target(float(len(pairs)), label="opcode/phase pairs the filter ran")
        except InvalidArgument:  # not inside a hypothesis test (a replay by hand)
            pass

    # -- counterexamples --------------------------------------------------------------------
    def _explain(self, e: Divergence) -> None:
        """On hypothesis' final (reported) run: shrink the steps further by deleting
        calls that do not matter, and attach a runnable script (see
        :mod:`simfs.testing.script`) to the exception's notes."""
        if self.quiet or self._explained or self.tree is None:
            return
        try:
            final = current_build_context().is_final
        except InvalidArgument:
            final = False
        if not final:
            return
        self._explained = True
        from simfs.testing.script import explain

        for line in explain(type(self), self.tree, list(self.steps), e):
            e.add_note(line)

    # -- defaults for Machine.TestCase ----------------------------------------------------------
    @classmethod
    def _to_test_case(cls) -> type[unittest.TestCase]:  # type: ignore[override]
        cached = cls.__dict__.get("_simfs_test_case")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        from simfs.testing.profiles import check_machine_settings, machine_defaults

        machine = cls

        class MachineTestCase(unittest.TestCase):
            settings = machine_defaults()

            def runTest(self) -> None:
                check_machine_settings(self.settings, machine)
                before = machine.coverage.examples
                run: Any = run_state_machine_as_test  # typed or not, by hypothesis version
                run(machine, settings=self.settings)
                gap = machine.coverage.unreached(machine.handled, since=before)
                if gap:
                    warnings.warn(CoverageWarning(machine.__name__, gap), stacklevel=1)

        MachineTestCase.__name__ = MachineTestCase.__qualname__ = f"{cls.__name__}TestCase"
        MachineTestCase.__module__ = cls.__module__
        type.__setattr__(cls, "_simfs_test_case", MachineTestCase)
        return MachineTestCase

    # -- the state the targeted rules draw from ------------------------------------------------
    def entries(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """``(path relative to the mount, kind, xattr names)`` of everything in the first
        side's lower directory, the root as ``"."`` first."""
        fs = self.sides[0].kernel.lower
        try:
            top = fs.resolve(LOWER_DIR, follow_symlinks=False)
        except OSError:
            return []
        out: list[tuple[str, str, tuple[str, ...]]] = []
        todo: list[tuple[str, Any]] = [(".", top)]
        while todo:
            rel, obj = todo.pop(0)
            kind = _KIND.get(st.S_IFMT(int(obj.st_mode)), "other")
            xattrs = tuple(sorted(getattr(obj, "xattr", None) or ()))
            out.append((rel, kind, xattrs))
            if isinstance(obj, FakeDirectory):
                for name in sorted(obj.entries):
                    todo.append((name if rel == "." else f"{rel}/{name}", obj.entries[name]))
        return out

    # -- descriptor-producing rule helper --------------------------------------------------
    def _fd_result(self, proc: str, outcomes: list[Outcome]) -> Any:
        if all(o[0] == "ok" for o in outcomes):
            fds = tuple(int(o[1]) for o in outcomes)
            try:  # the open file's type, read from the kernel's fd table (no syscall)
                mode = self.sides[0].procs[proc].fdtable.get(fds[0]).inode.mode
                kind = {0o040000: "dir", 0o100000: "reg", 0o120000: "lnk"}.get(
                    mode & 0o170000, "other"
                )
            except Exception:  # pragma: no cover - introspection only
                kind = "?"
            pair = FdPair(proc, fds, kind)
            self.open_fds.append(pair)
            if self.steps and self.steps[-1].op == "open":
                last = self.steps[-1]
                self.steps[-1] = Step(last.proc, last.op, last.args, pair)
            return pair
        return multiple()


_KIND = {st.S_IFDIR: "dir", st.S_IFREG: "reg", st.S_IFLNK: "lnk"}


def _mount_allowance(mount: object) -> Allowance | None:
    """The documented differences a mount brings (see :meth:`SyscallMachine.effective_allow`)."""
    variant = getattr(mount, "variant", None)
    if variant is None:  # not a FUSE mount
        return None
    if getattr(mount, "root_dir", None) is not None and getattr(mount, "quirks", False):
        return ack_differences
    return fuse_differences


def _short(o: Outcome) -> str:
    kind, v = o
    if kind == "err":
        return v  # type: ignore[no-any-return]
    if isinstance(v, bytes) and len(v) > 24:
        return f"ok {v[:24]!r}...({len(v)} bytes)"
    if isinstance(v, tuple) and v and isinstance(v[0], tuple) and len(v) > 6 and v[0][0] == "type":
        return "ok stat(" + ", ".join(f"{k}={x}" for k, x in v) + ")"
    return f"ok {v!r}"


_RULE_CLASSES: dict[tuple[str, ...], type[SyscallMachine]] = {}


def syscall_rules(
    names: Sequence[str] = NAMES,
    processes: Sequence[str] | None = None,
    ints: Sequence[int] = (),
) -> type[SyscallMachine]:
    """A :class:`SyscallMachine` subclass with one rule per system call, paths drawn over
    ``names``, calls made by ``processes`` (default: all of
    :data:`~simfs.testing.calls.PROCESSES`).  Machine factories subclass it and add an
    ``@initialize`` rule."""
    procs = tuple(processes) if processes is not None else tuple(PROCESSES)
    key = (*names, "|", *procs, "|", *map(str, ints))
    if key in _RULE_CLASSES:
        return _RULE_CLASSES[key]
    P = paths(tuple(names))
    PR = hst.sampled_from(procs)
    # targeted calls are made by root half of the time (when root is one of the
    # processes): an unprivileged caller's create in the root-owned mount root fails, and
    # the point of these rules is to reach the filter with calls that take effect
    PRT = hst.sampled_from(("root", *procs)) if "root" in procs else PR
    MODE = hst.sampled_from(_MODES)
    IDS = hst.sampled_from(tuple(dict.fromkeys((*_IDS, *ints))))
    SIZES = hst.sampled_from(tuple(dict.fromkeys((*_SIZES[:4], *ints))))

    class SyscallRules(SyscallMachine):
        fds = Bundle("fds")
        #: the names paths and fresh targets are made of
        fresh_names: ClassVar[tuple[str, ...]] = tuple(names)

        @rule(target=fds, proc=PR, path=P, flags=open_flags(), mode=MODE)
        def open(self, proc: str, path: str, flags: str, mode: str) -> Any:
            return self._fd_result(proc, self.run(proc, "open", path, flags, int(mode, 8)))

        @rule(fd=consumes(fds))
        def close(self, fd: FdPair) -> None:
            self.run(fd.proc, "close", fd=fd)

        @rule(fd=fds, n=hst.sampled_from(_SIZES))
        def read(self, fd: FdPair, n: int) -> None:
            self.run(fd.proc, "read", n, fd=fd)

        @rule(fd=fds, data=hst.sampled_from(_DATA))
        def write(self, fd: FdPair, data: bytes) -> None:
            self.run(fd.proc, "write", data, fd=fd)

        @rule(fd=fds, n=hst.sampled_from(_SIZES), offset=hst.sampled_from(_OFFSETS))
        def pread(self, fd: FdPair, n: int, offset: int) -> None:
            self.run(fd.proc, "pread", n, offset, fd=fd)

        @rule(fd=fds, data=hst.sampled_from(_DATA), offset=hst.sampled_from(_OFFSETS))
        def pwrite(self, fd: FdPair, data: bytes, offset: int) -> None:
            self.run(fd.proc, "pwrite", data, offset, fd=fd)

        @rule(fd=fds, offset=hst.sampled_from(_OFFSETS), whence=hst.sampled_from(_WHENCES))
        def lseek(self, fd: FdPair, offset: int, whence: str) -> None:
            self.run(fd.proc, "lseek", offset, whence, fd=fd)

        @rule(fd=fds)
        def fstat(self, fd: FdPair) -> None:
            self.run(fd.proc, "fstat", fd=fd)

        @rule(fd=fds, length=hst.sampled_from(_SIZES[:4]))
        def ftruncate(self, fd: FdPair, length: int) -> None:
            self.run(fd.proc, "ftruncate", length, fd=fd)

        @rule(fd=fds)
        def fsync(self, fd: FdPair) -> None:
            self.run(fd.proc, "fsync", fd=fd)

        @rule(fd=fds)
        def getdents(self, fd: FdPair) -> None:
            self.run(fd.proc, "getdents", fd=fd)

        @rule(proc=PR, path=P)
        def stat(self, proc: str, path: str) -> None:
            self.run(proc, "stat", path)

        @rule(proc=PR, path=P)
        def lstat(self, proc: str, path: str) -> None:
            self.run(proc, "lstat", path)

        @rule(proc=PR, path=P, mode=hst.sampled_from(_ACCESS))
        def access(self, proc: str, path: str, mode: str) -> None:
            bits = sum(_ACCESS_BITS[m] for m in mode.split("|"))
            self.run(proc, "access", path, bits)

        @rule(proc=PR, path=P, mode=MODE)
        def mkdir(self, proc: str, path: str, mode: str) -> None:
            self.run(proc, "mkdir", path, int(mode, 8))

        @rule(proc=PR, path=P)
        def rmdir(self, proc: str, path: str) -> None:
            self.run(proc, "rmdir", path)

        @rule(proc=PR, path=P)
        def unlink(self, proc: str, path: str) -> None:
            self.run(proc, "unlink", path)

        @rule(proc=PR, src=P, dst=P)
        def rename(self, proc: str, src: str, dst: str) -> None:
            self.run(proc, "rename", src, dst)

        @rule(
            proc=PR, src=P, dst=P, flags=hst.sampled_from(("RENAME_NOREPLACE", "RENAME_EXCHANGE"))
        )
        def renameat2(self, proc: str, src: str, dst: str, flags: str) -> None:
            self.run(proc, "renameat2", src, dst, flags)

        @rule(proc=PR, src=P, dst=P)
        def link(self, proc: str, src: str, dst: str) -> None:
            self.run(proc, "link", src, dst)

        @rule(proc=PR, src=hst.sampled_from(SYMLINK_TARGETS), dst=P)
        def symlink(self, proc: str, src: str, dst: str) -> None:
            self.run(proc, "symlink", src, dst)

        @rule(proc=PR, path=P)
        def readlink(self, proc: str, path: str) -> None:
            self.run(proc, "readlink", path)

        @rule(proc=PR, path=P, mode=MODE)
        def chmod(self, proc: str, path: str, mode: str) -> None:
            self.run(proc, "chmod", path, int(mode, 8))

        @rule(proc=PR, path=P, uid=IDS, gid=IDS)
        def chown(self, proc: str, path: str, uid: int, gid: int) -> None:
            self.run(proc, "chown", path, uid, gid)

        @rule(proc=PR, path=P, length=SIZES)
        def truncate(self, proc: str, path: str, length: int) -> None:
            self.run(proc, "truncate", path, length)

        @rule(proc=PR, path=P, ns=hst.sampled_from(_TIMES))
        def utime(self, proc: str, path: str, ns: tuple[int, int]) -> None:
            self.run(proc, "utime", path, ns)

        @rule(proc=PR, path=P)
        def listdir(self, proc: str, path: str) -> None:
            self.run(proc, "listdir", path)

        @rule(proc=PR, path=P, attribute=hst.sampled_from(XATTR_NAMES))
        def getxattr(self, proc: str, path: str, attribute: str) -> None:
            self.run(proc, "getxattr", path, attribute)

        @rule(
            proc=PR,
            path=P,
            attribute=hst.sampled_from(XATTR_NAMES),
            value=hst.sampled_from(XATTR_VALUES),
            flags=hst.sampled_from((0, 1, 2)),
        )
        def setxattr(self, proc: str, path: str, attribute: str, value: bytes, flags: int) -> None:
            self.run(proc, "setxattr", path, attribute, value, flags)

        @rule(proc=PR, path=P)
        def listxattr(self, proc: str, path: str) -> None:
            self.run(proc, "listxattr", path)

        @rule(proc=PR, path=P, attribute=hst.sampled_from(XATTR_NAMES))
        def removexattr(self, proc: str, path: str, attribute: str) -> None:
            self.run(proc, "removexattr", path, attribute)

        # -- targeted calls: drawn from the current tree, so that effects happen --------------
        # (sources that exist, fresh names in existing directories as targets, descriptors
        # of the right kind; hypothesis' swarm testing switches whole rules off per run)
        def _pick(
            self, data: Any, kinds: Sequence[str] = ("reg", "dir", "lnk"), root: bool = True
        ) -> str:
            found = [
                rel
                for rel, kind, _ in self.entries()
                if kind in kinds and (root or rel != ".")
            ]
            if not found:
                return "."
            return str(data.draw(hst.sampled_from(found)))

        def _fresh(self, data: Any) -> str:
            entries = self.entries()
            dirs = [rel for rel, kind, _ in entries if kind == "dir"]
            taken = {rel for rel, _, _ in entries}
            where = str(data.draw(hst.sampled_from(dirs))) if dirs else "."
            free = [
                n
                for n in names
                if (n if where == "." else f"{where}/{n}") not in taken and len(n.encode()) <= 255
            ]
            name = str(data.draw(hst.sampled_from(free or list(names))))
            return name if where == "." else f"{where}/{name}"

        def _fd_of(self, data: Any, kind: str) -> FdPair:
            return data.draw(hst.sampled_from([f for f in self.open_fds if f.kind == kind]))  # type: ignore[no-any-return]

        @rule(target=fds, proc=PRT, data=hst.data(), flags=hst.sampled_from(_EXISTING_FLAGS))
        def open_existing(self, proc: str, data: Any, flags: str) -> Any:
            path = self._pick(data)
            return self._fd_result(proc, self.run(proc, "open", path, flags, 0o644))

        @rule(target=fds, proc=PRT, data=hst.data(), mode=MODE)
        def create_new(self, proc: str, data: Any, mode: str) -> Any:
            path = self._fresh(data)
            flags = "O_RDWR|O_CREAT|O_EXCL"
            return self._fd_result(proc, self.run(proc, "open", path, flags, int(mode, 8)))

        @rule(
            proc=PRT,
            data=hst.data(),
            flags=hst.sampled_from(("O_RDWR", "O_WRONLY", "O_WRONLY|O_APPEND")),
            payload=hst.sampled_from(_DATA),
        )
        def write_existing(self, proc: str, data: Any, flags: str, payload: bytes) -> None:
            # open + write + close in one step: what `echo x >> file` does
            opened = self._fd_result(
                proc, self.run(proc, "open", self._pick(data, ("reg",)), flags, 0o644)
            )
            if isinstance(opened, FdPair):
                self.run(proc, "write", payload, fd=opened)
                self.run(proc, "close", fd=opened)

        @rule(proc=PRT, data=hst.data())
        def link_new(self, proc: str, data: Any) -> None:
            self.run(proc, "link", self._pick(data, ("reg", "lnk", "other")), self._fresh(data))

        @rule(proc=PRT, data=hst.data(), to_existing=hst.booleans())
        def rename_existing(self, proc: str, data: Any, to_existing: bool) -> None:
            src = self._pick(data, root=False)
            dst = self._pick(data, root=False) if to_existing else self._fresh(data)
            self.run(proc, "rename", src, dst)

        @rule(proc=PRT, data=hst.data(), exchange=hst.booleans())
        def renameat2_existing(self, proc: str, data: Any, exchange: bool) -> None:
            src = self._pick(data, root=False)
            if exchange:
                dst = self._pick(data, root=False)
                self.run(proc, "renameat2", src, dst, "RENAME_EXCHANGE")
            else:
                self.run(proc, "renameat2", src, self._fresh(data), "RENAME_NOREPLACE")

        @rule(proc=PRT, data=hst.data(), mode=hst.sampled_from(_MKNOD_MODES))
        def mknod_new(self, proc: str, data: Any, mode: int) -> None:
            self.run(proc, "mknod", self._fresh(data), mode, 0)

        @rule(proc=PRT, data=hst.data(), mode=MODE)
        def mkdir_new(self, proc: str, data: Any, mode: str) -> None:
            self.run(proc, "mkdir", self._fresh(data), int(mode, 8))

        @rule(proc=PRT, data=hst.data(), src=hst.sampled_from(SYMLINK_TARGETS))
        def symlink_new(self, proc: str, data: Any, src: str) -> None:
            self.run(proc, "symlink", src, self._fresh(data))

        @rule(proc=PRT, data=hst.data())
        def unlink_existing(self, proc: str, data: Any) -> None:
            self.run(proc, "unlink", self._pick(data, ("reg", "lnk", "other")))

        @rule(proc=PRT, data=hst.data())
        def rmdir_existing(self, proc: str, data: Any) -> None:
            self.run(proc, "rmdir", self._pick(data, ("dir",), root=False))

        @rule(
            proc=PR,
            data=hst.data(),
            attribute=hst.sampled_from(XATTR_NAMES),
            value=hst.sampled_from(XATTR_VALUES),
            flags=hst.sampled_from((0, 1, 2)),
        )
        def setxattr_existing(
            self, proc: str, data: Any, attribute: str, value: bytes, flags: int
        ) -> None:
            self.run(proc, "setxattr", self._pick(data), attribute, value, flags)

        @rule(proc=PRT, data=hst.data())
        def removexattr_existing(self, proc: str, data: Any) -> None:
            having = [(rel, xs) for rel, _, xs in self.entries() if xs]
            if having:
                rel, xs = data.draw(hst.sampled_from(having))
                self.run(proc, "removexattr", rel, data.draw(hst.sampled_from(xs)))
            else:
                self.run(proc, "removexattr", self._pick(data), XATTR_NAMES[0])

        @rule(proc=PRT, data=hst.data(), mode=MODE)
        def chmod_existing(self, proc: str, data: Any, mode: str) -> None:
            self.run(proc, "chmod", self._pick(data), int(mode, 8))

        @rule(proc=PRT, data=hst.data(), uid=IDS, gid=IDS)
        def chown_existing(self, proc: str, data: Any, uid: int, gid: int) -> None:
            self.run(proc, "chown", self._pick(data), uid, gid)

        @rule(proc=PRT, data=hst.data(), length=SIZES)
        def truncate_existing(self, proc: str, data: Any, length: int) -> None:
            self.run(proc, "truncate", self._pick(data, ("reg",)), length)

        @rule(proc=PRT, data=hst.data(), ns=hst.sampled_from(_TIMES))
        def utime_existing(self, proc: str, data: Any, ns: tuple[int, int]) -> None:
            self.run(proc, "utime", self._pick(data), ns)

        @rule(proc=PRT, data=hst.data())
        def stat_existing(self, proc: str, data: Any) -> None:
            self.run(proc, "lstat", self._pick(data))

        @rule(proc=PRT, data=hst.data())
        def listdir_existing(self, proc: str, data: Any) -> None:
            self.run(proc, "listdir", self._pick(data, ("dir",)))

        @rule(proc=PRT, data=hst.data(), attribute=hst.sampled_from(XATTR_NAMES))
        def getxattr_existing(self, proc: str, data: Any, attribute: str) -> None:
            self.run(proc, "getxattr", self._pick(data), attribute)

        @precondition(lambda self: any(f.kind == "reg" for f in self.open_fds))
        @rule(data=hst.data(), payload=hst.sampled_from(_DATA))
        def write_file(self, data: Any, payload: bytes) -> None:
            fd = self._fd_of(data, "reg")
            self.run(fd.proc, "write", payload, fd=fd)

        @precondition(lambda self: any(f.kind == "reg" for f in self.open_fds))
        @rule(data=hst.data(), n=hst.sampled_from(_SIZES))
        def read_file(self, data: Any, n: int) -> None:
            fd = self._fd_of(data, "reg")
            self.run(fd.proc, "read", n, fd=fd)

        @precondition(lambda self: any(f.kind == "dir" for f in self.open_fds))
        @rule(data=hst.data())
        def getdents_dir(self, data: Any) -> None:
            fd = self._fd_of(data, "dir")
            self.run(fd.proc, "getdents", fd=fd)

        # -- swarm over call kinds: some runs use only the targeted calls ----------------------
        @initialize(mix=hst.sampled_from(("targeted", "all")))
        def choose_mix(self, mix: str) -> None:
            self.mix = mix

    for rule_name in _GENERIC_RULES:
        fn = getattr(SyscallRules, rule_name)
        setattr(SyscallRules, rule_name, precondition(_generic_allowed)(fn))
    _RULE_CLASSES[key] = SyscallRules
    return SyscallRules


def _generic_allowed(self: Any) -> bool:
    return getattr(self, "mix", "all") != "targeted"


#: the rules whose paths come from the vocabulary, not from the current tree: switched
#: off in the runs whose ``mix`` is ``"targeted"`` (hypothesis' own swarm testing
#: switches single rules off per run on top of that)
_GENERIC_RULES = (
    "open",
    "stat",
    "lstat",
    "access",
    "mkdir",
    "rmdir",
    "unlink",
    "rename",
    "renameat2",
    "link",
    "symlink",
    "readlink",
    "chmod",
    "chown",
    "truncate",
    "utime",
    "listdir",
    "getxattr",
    "setxattr",
    "listxattr",
    "removexattr",
)


def _rename_snapshot(
    snap: Mapping[str, Any], mapping: Mapping[str, str], under: str = LOWER_DIR
) -> dict[str, Any]:
    """Rename the components of the paths below ``under`` (relative to the store root);
    a path outside it (reached by a walk that left the mount) keeps its names."""
    top = under.strip("/") + "/"

    def ren(p: str) -> str:
        if not p.startswith(top):
            return p
        return top + "/".join(mapping.get(c, c) for c in p[len(top) :].split("/"))

    return {ren(p): e for p, e in snap.items()}


def _check_trees(
    sides: Sequence[Side], *, rename: Mapping[str, str] | None = None, when: str = "after this call"
) -> None:
    if when == "after mounting" and sides[0].cwd != sides[1].cwd:
        raise Divergence(
            f"chdir into the mount point: {sides[0].label} {sides[0].cwd} / "
            f"{sides[1].label} {sides[1].cwd}",
            "setup",
        )
    a = snapshot_lower(sides[0].kernel.lower)
    b = snapshot_lower(sides[1].kernel.lower)
    if rename:
        a = dict(sorted(_rename_snapshot(a, rename).items()))
    if a != b:
        lines = diff_snapshots(a, b, (sides[0].label, sides[1].label))
        raise Divergence(f"lower trees differ {when}:\n  " + "\n  ".join(lines), "trees")


# --- checks before the search ---------------------------------------------------------------
def _check_names(names: Sequence[str], what: str) -> None:
    """Names must be valid path components (a bad one makes every call a path error)."""
    if isinstance(names, str):
        raise UsageError(f"{what}={names!r}: give a sequence of names, e.g. ('a', 'b')")
    for n in names:
        if not isinstance(n, str) or not n or "/" in n or "\0" in n or n in (".", ".."):
            raise UsageError(
                f"{what}: {n!r} is not a valid path component (non-empty, no '/' or NUL, "
                "not '.' or '..'); use plain names such as 'a' or '.secret'"
            )
        if len(n.encode()) > 255:
            raise UsageError(f"{what}: {n[:20]!r}... is longer than NAME_MAX (255 bytes)")


def _check_processes(processes: Sequence[str] | None) -> None:
    if processes is None:
        return
    if isinstance(processes, str) or not processes:
        raise UsageError(
            f"processes={processes!r}: give a non-empty sequence of process names from "
            f"{list(PROCESSES)}, e.g. ('alice', 'bob')"
        )
    unknown = [p for p in processes if p not in PROCESSES]
    if unknown:
        raise UsageError(f"processes: unknown {unknown}; choose from {list(PROCESSES)}")


def _vocabulary(
    names: Sequence[str], factory: MountFactory
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """``names`` plus the names and integers the mount's filter compares against."""
    from simfs.testing.vocabulary import int_vocabulary, mount_program, name_vocabulary

    prog = mount_program(factory)
    extra = name_vocabulary(prog)
    return tuple(dict.fromkeys((*names, *extra))), int_vocabulary(prog)


def _handled(factory: MountFactory) -> frozenset[str]:
    from simfs.testing.vocabulary import handled_opcodes, mount_program

    return handled_opcodes(mount_program(factory))


def _preflight(*factories: MountFactory) -> None:
    """Mount each factory once over a small tree and make a few calls, so that a factory
    that raises or a filter that fails every call is reported before the search starts
    (a search over them would report the same thing hundreds of times, or nothing)."""
    from simfs.testing.strategies import Dir, File

    tree = LowerTree((File("f", 0o644, data=b"x"), Dir("d")))
    for factory in factories:
        fname = getattr(factory, "__name__", repr(factory))
        if not callable(factory):
            raise UsageError(
                f"the mount factory {factory!r} is not callable; pass a "
                "factory(kernel, lower_dir, mountpoint), e.g. bpf_mount(my_program)"
            )
        try:
            side = build_side("preflight", tree, factory)
        except Exception as e:
            raise UsageError(
                f"the mount factory {fname} raised {type(e).__name__}: {e} while mounting "
                f"{LOWER_DIR} at {MOUNTPOINT} on a fresh kernel; fix the factory (it is "
                "called as factory(kernel, lower_dir, mountpoint)) before searching"
            ) from e
        k = side.kernel
        mark = len(k.trace.events)
        root = side.procs["root"]
        m = MOUNTPOINT  # absolute: the filter may have refused the chdir into it
        for op, args in (
            ("stat", (f"{m}/f",)),
            ("listdir", (m,)),
            ("open", (f"{m}/f", 0)),
            ("stat", (f"{m}/d",)),
        ):
            try:
                execute(root, op, args)
            except OSError:
                pass
        faults = [e for e in k.trace.events[mark:] if e.kind == "bpf_fault"]
        runs = [e for e in k.trace.events[mark:] if e.kind == "bpf"]
        if faults and len(faults) >= len(runs):
            first = faults[0].data
            raise UsageError(
                f"the filter of {fname} failed every one of its {len(faults)} runs in a "
                f"smoke test (stat, listdir, open of a file); the first: "
                f"{first.get('opcode', '?')} {first.get('phase', '?')}: "
                f"{first.get('reason', first)}; fix the program before searching"
            )


# --- equivalence ----------------------------------------------------------------------------
def bind_reference(k: Kernel, lower_dir: str, mountpoint: str) -> object:
    """The reference mount: ``mount --bind lower_dir mountpoint``."""
    return k.mount_bind(lower_dir, mountpoint)


def equivalence_machine(
    mount_under_test: MountFactory,
    *,
    reference: MountFactory = bind_reference,
    trees: hst.SearchStrategy[LowerTree] | None = None,
    stat_fields: frozenset[str] = DEFAULT_STAT_FIELDS,
    names: Sequence[str] = NAMES,
    allow: Allowance | None = None,
    processes: Sequence[str] | None = None,
    name: str = "EquivalenceMachine",
) -> type[SyscallMachine]:
    """A machine checking that ``mount_under_test`` behaves exactly like ``reference``.

    Two kernels are built from the same drawn lower tree (``trees``, default
    :func:`~simfs.testing.strategies.lower_trees`); the first gets ``reference`` (a bind
    mount of the lower directory), the second ``mount_under_test``, both at ``/m``.
    Every step runs the same call with the same credentials on both and requires equal
    outcomes (values, errno, data, normalized stat with ``stat_fields``, listings as
    sets); after every step and at the end the lower trees (all of ``kernel.lower``,
    as :func:`~simfs.testing.snapshot.snapshot_lower`) must be equal.

    ``processes`` restricts who makes the calls (e.g. ``("root",)`` for a daemon that
    serves every request with its own credentials).
    ``allow(op, args, reference_outcome, test_outcome)`` may name a *documented*
    difference (returning a short reason, which is noted) instead of failing; see
    :func:`ack_differences` for the ones ACK's fuse-bpf has by design.  After an allowed
    difference on a call that moves a file position, that descriptor's position-dependent
    calls are not compared until the positions agree again (see
    :meth:`SyscallMachine.allowed_difference`).

    Returns the machine class; run it with ``Machine.TestCase`` or
    ``run_state_machine_as_test(Machine)``.
    """
    _check_names(names, "names")
    tree_strategy = trees if trees is not None else lower_trees(names=names)
    fields = frozenset(stat_fields)
    _preflight(mount_under_test, reference)
    all_names, ints = _vocabulary(names, mount_under_test)

    _check_processes(processes)

    class Equivalence(syscall_rules(all_names, processes, ints)):  # type: ignore[misc]
        side_specs = (SideSpec("reference", reference), SideSpec("under test", mount_under_test))
        stat_fields = fields
        handled = _handled(mount_under_test)

        @initialize(tree=tree_strategy)
        def setup(self, tree: LowerTree) -> None:
            self.build_sides(tree)
            _check_trees(self.sides, when="after mounting")
            self._healthy = True

        def check_step(self, call: str, op: str, outcomes: list[Outcome]) -> None:
            if outcomes[0] != outcomes[1] and self.allowed_difference(
                self.effective_allow(), op, outcomes
            ):
                return
            try:
                super().check_step(call, op, outcomes)
            except Divergence as e:
                raise Divergence(str(e) + self.unallowed(op, outcomes), e.check) from None

        def after_step(self) -> None:
            _check_trees(self.sides)

        def check_final(self) -> None:
            _check_trees(self.sides, when="at the end")

    Equivalence.allow = allow
    Equivalence.__name__ = Equivalence.__qualname__ = name
    Equivalence.coverage.name = name
    return Equivalence


# --- hiding ---------------------------------------------------------------------------------
def hiding_machine(
    mount_under_test: MountFactory,
    hidden_names: tuple[str, str],
    *,
    names: Sequence[str] = ("a", "b"),
    trees: hst.SearchStrategy[LowerTree] | None = None,
    stat_fields: frozenset[str] = DEFAULT_STAT_FIELDS,
    processes: Sequence[str] | None = None,
    name: str = "HidingMachine",
) -> type[SyscallMachine]:
    """Noninterference for a filter that hides every name in ``hidden_names``.

    Two kernels get the same mount (``mount_under_test``, the hiding filter) over lower
    trees that differ only in which hidden name is used: the drawn tree places entries
    named ``hidden_names[0]`` (anywhere, files, directories or symlinks, with contents and
    xattrs), the second kernel's tree has each of them renamed to ``hidden_names[1]``.
    Paths name both.  A filter that hides both names perfectly makes the two kernels
    indistinguishable: every outcome must be equal (names listed, errors for lookups,
    opens, renames, links, xattr calls, stat of parents...), and the lower trees must stay
    equal up to the swap.  Any difference reveals which hidden name exists.

    ``processes`` restricts who makes the calls (e.g. ``("alice", "bob")`` for a filter
    that hides from unprivileged callers only).

    The swap applies below the lower directory only.  A walk may leave the mount (as on
    Linux, ``..`` at the mount root crosses to the parent of ``/m``, e.g. in
    ``/m/a/..`` when ``a`` links to ``.``); what such a call creates outside is made
    with the same names on both kernels and is compared as is.
    """
    if (
        not isinstance(hidden_names, tuple | list)
        or len(hidden_names) != 2
        or hidden_names[0] == hidden_names[1]
    ):
        raise UsageError(
            f"hiding_machine: hidden_names={hidden_names!r}: give two different names the "
            "filter hides, e.g. ('.secret', '.private')"
        )
    h0, h1 = hidden_names
    _check_names((h0, h1), "hidden_names")
    _check_names(names, "names")
    if set(names) & {h0, h1}:
        raise UsageError(
            f"hiding_machine: names {sorted(set(names) & {h0, h1})} are also hidden names; "
            "names are the visible ones"
        )
    extra, ints = _vocabulary((), mount_under_test)
    visible = tuple(n for n in (*names, *extra) if n not in (h0, h1))
    all_names = (*visible, h0, h1)
    tree_strategy = (
        trees if trees is not None else lower_trees(names=(*visible, h0), long_names=False)
    )
    swap = {h0: h1, h1: h0}
    fields = frozenset(stat_fields)
    _preflight(mount_under_test)

    _check_processes(processes)

    class Hiding(syscall_rules(all_names, processes, ints)):  # type: ignore[misc]
        side_specs = (
            SideSpec(f"with {h0!r}", mount_under_test),
            SideSpec(f"with {h1!r}", mount_under_test, swap),
        )
        stat_fields = fields
        handled = _handled(mount_under_test)

        @initialize(tree=tree_strategy)
        def setup(self, tree: LowerTree) -> None:
            self.build_sides(tree)
            _check_trees(self.sides, rename=swap, when="after mounting")
            self._healthy = True

        def after_step(self) -> None:
            _check_trees(self.sides, rename=swap)

        def check_final(self) -> None:
            _check_trees(self.sides, rename=swap, when="at the end")

    Hiding.__name__ = Hiding.__qualname__ = name
    Hiding.coverage.name = name
    return Hiding


# --- read-only ------------------------------------------------------------------------------
def readonly_machine(
    mount_under_test: MountFactory,
    *,
    trees: hst.SearchStrategy[LowerTree] | None = None,
    names: Sequence[str] = NAMES,
    processes: Sequence[str] | None = None,
    name: str = "ReadOnlyMachine",
) -> type[SyscallMachine]:
    """The lower tree never changes under a read-only filter.

    One kernel, ``mount_under_test`` at ``/m``; after every call the lower directory
    must equal its initial snapshot, including mtime and ctime (atime may move: reads
    reach the lower file).  Outcomes themselves are free (a read-only filter may deny
    with any errno), but any exception other than ``OSError`` fails.  Only the lower
    directory is watched: a walk may leave the mount (``..`` at the mount root after a
    symlink to ``.``, as on Linux) and change the root filesystem, which no filter sees.
    ``processes`` restricts who makes the calls (e.g. ``("bob",)`` for a policy that
    makes the mount read-only for one uid).
    """
    _check_names(names, "names")
    tree_strategy = trees if trees is not None else lower_trees(names=names)
    _preflight(mount_under_test)
    all_names, ints = _vocabulary(names, mount_under_test)

    _check_processes(processes)

    class ReadOnly(syscall_rules(all_names, processes, ints)):  # type: ignore[misc]
        side_specs = (SideSpec("under test", mount_under_test),)
        handled = _handled(mount_under_test)

        @initialize(tree=tree_strategy)
        def setup(self, tree: LowerTree) -> None:
            self.build_sides(tree)
            self.initial = snapshot_lower(self.sides[0].kernel.lower, LOWER_DIR, times=True)
            self._healthy = True

        def after_step(self) -> None:
            now = snapshot_lower(self.sides[0].kernel.lower, LOWER_DIR, times=True)
            if now != self.initial:
                lines = diff_snapshots(self.initial, now, ("before", "after"))
                raise Divergence("the lower tree changed:\n  " + "\n  ".join(lines), "unchanged")

    ReadOnly.__name__ = ReadOnly.__qualname__ = name
    ReadOnly.coverage.name = name
    return ReadOnly


# --- errno translation --------------------------------------------------------------------------
def errno_translation_machine(
    mount_under_test: MountFactory,
    translate: Mapping[int, int],
    *,
    reference: MountFactory = bind_reference,
    must_translate: Callable[[str, int], bool] | None = None,
    trees: hst.SearchStrategy[LowerTree] | None = None,
    stat_fields: frozenset[str] = DEFAULT_STAT_FIELDS,
    names: Sequence[str] = NAMES,
    allow: Allowance | None = None,
    name: str = "ErrnoTranslationMachine",
) -> type[SyscallMachine]:
    """A post-filter that translates errors changes only the errno, and only as declared.

    As :func:`equivalence_machine`, except that where the reference fails with an errno
    ``E`` in ``translate``, the mount under test may fail with ``E`` (the error did not
    come from the lower filesystem, e.g. the VFS decided it first) or with
    ``translate[E]``; where ``must_translate(op, E)`` is true it must be
    ``translate[E]``, provided the call reached the mount under test (it sent the mount
    an operation other than the path walk's ``LOOKUP``/``GETATTR``/``READLINK``/
    ``ACCESS``/``STATX``: a walk may leave the mount, as in ``a/..`` with ``a -> .``,
    and then no filter sees the call).  Every other outcome, and the lower trees, must
    be equal, except for differences ``allow`` names (as in :func:`equivalence_machine`).
    """
    _check_names(names, "names")
    unknown = [e for pair in translate.items() for e in pair if e not in errno_mod.errorcode]
    if unknown:
        raise UsageError(
            f"errno_translation_machine: {unknown} are not errno numbers; write "
            "{errno.ENOENT: errno.EACCES}"
        )
    tree_strategy = trees if trees is not None else lower_trees(names=names)
    table = {errno_mod.errorcode[k]: errno_mod.errorcode[v] for k, v in translate.items()}
    fields = frozenset(stat_fields)
    _preflight(mount_under_test, reference)
    all_names, ints = _vocabulary(names, mount_under_test)

    class Translation(syscall_rules(all_names, None, ints)):  # type: ignore[misc]
        side_specs = (SideSpec("reference", reference), SideSpec("under test", mount_under_test))
        stat_fields = fields
        handled = _handled(mount_under_test)

        @initialize(tree=tree_strategy)
        def setup(self, tree: LowerTree) -> None:
            self.build_sides(tree)
            _check_trees(self.sides, when="after mounting")
            self._healthy = True
            self.mark = 0

        def run(self, proc: str, op: str, *args: Any, fd: FdPair | None = None) -> list[Outcome]:
            self.mark = len(self.sides[1].kernel.trace.events)
            outcomes: list[Outcome] = super().run(proc, op, *args, fd=fd)
            return outcomes

        def strict(self, op: str, err: str) -> bool:
            if must_translate is None or not must_translate(op, getattr(errno_mod, err)):
                return False
            events = self.sides[1].kernel.trace.events[self.mark :]
            return any(
                e.kind == "fuse_op" and e.data.get("opcode") not in _WALK_OPCODES for e in events
            )

        def check_step(self, call: str, op: str, outcomes: list[Outcome]) -> None:
            ref, test = outcomes
            if ref != test and self.allowed_difference(self.effective_allow(), op, outcomes):
                return
            if ref == test and not (
                ref[0] == "err" and ref[1] in table and self.strict(op, ref[1])
            ):
                return
            if ref[0] == "err" and test[0] == "err" and ref[1] in table:
                want = table[ref[1]]
                strict = self.strict(op, ref[1])
                if test[1] == want or (test[1] == ref[1] and not strict):
                    return
                raise Divergence(
                    f"{call} -> reference {ref[1]}, under test {test[1]}; expected {want}",
                    "translation",
                    want,
                )
            raise Divergence(
                f"{call} -> reference {ref!r} / under test {test!r}" + self.unallowed(op, outcomes)
            )

        def after_step(self) -> None:
            _check_trees(self.sides)

        def check_final(self) -> None:
            _check_trees(self.sides, when="at the end")

    Translation.allow = allow
    Translation.__name__ = Translation.__qualname__ = name
    Translation.coverage.name = name
    return Translation


# --- random programs --------------------------------------------------------------------------
@dataclass
class ProgramLog:
    """What a generated program and its daemon saw, in order (see
    :func:`simfs.testing.filters.decision_table_mount`)."""

    events: list[tuple[str, int, int, int]] = field(
        default_factory=list
    )  # (kind, opcode, nodeid, ret)

    def mark(self) -> int:
        return len(self.events)


def random_program_machine(
    *,
    tables: hst.SearchStrategy[Any] | None = None,
    trees: hst.SearchStrategy[LowerTree] | None = None,
    names: Sequence[str] = NAMES,
    name: str = "RandomProgramMachine",
) -> type[SyscallMachine]:
    """Random decision-table programs never crash the simulator and keep its invariants.

    The mount is a fuse-bpf mount whose root program is a drawn
    :class:`~simfs.testing.filters.DecisionTable` (opcode x phase -> return value and
    argument edit) with a daemon that answers filter requests as the table says and
    classic requests with ``ENOSYS``.  After every call:

    - nothing but ``OSError`` escaped the system call (no crash, no hang);
    - after a prefilter returned a negative errno for an opcode, no daemon request and no
      postfilter run for that opcode follows until its next prefilter;
    - if every prefilter of a mutating opcode in the call returned a negative errno, the
      lower tree did not change.
    """
    from simfs.testing.filters import MUTATING_OPCODES, decision_table_mount, decision_tables

    tree_strategy = trees if trees is not None else lower_trees(names=names)
    table_strategy = tables if tables is not None else decision_tables()

    class RandomProgram(syscall_rules(names)):  # type: ignore[misc]
        @initialize(tree=tree_strategy, table=table_strategy)
        def setup(self, tree: LowerTree, table: Any) -> None:
            self.log = ProgramLog()
            self.tree = None  # not scriptable: the program is a drawn table
            self.sides = [build_side("under test", tree, decision_table_mount(table, self.log))]
            self.before = snapshot_lower(self.sides[0].kernel.lower)
            self.start = self.log.mark()
            self._healthy = True

        def run(self, proc: str, op: str, *args: Any, fd: FdPair | None = None) -> list[Outcome]:
            self.start = self.log.mark()
            self.before = snapshot_lower(self.sides[0].kernel.lower)
            outcomes: list[Outcome] = super().run(proc, op, *args, fd=fd)
            return outcomes

        def after_step(self) -> None:
            events = self.log.events[self.start :]
            blocked: set[int] = set()
            mutating_pre: list[int] = []
            for kind, opcode, _nodeid, ret in events:
                if kind == "pre":
                    blocked.discard(opcode)
                    if ret < 0:
                        blocked.add(opcode)
                    if opcode in MUTATING_OPCODES:
                        mutating_pre.append(ret)
                elif opcode in blocked:
                    raise Divergence(
                        f"{kind} for opcode {opcode} after its prefilter returned a "
                        f"negative errno; events of this call: {events}",
                        "program",
                    )
            if mutating_pre and all(r < 0 for r in mutating_pre):
                after = snapshot_lower(self.sides[0].kernel.lower)
                if after != self.before:
                    lines = diff_snapshots(self.before, after, ("before", "after"))
                    raise Divergence(
                        "the lower tree changed although every mutating prefilter failed:\n  "
                        + "\n  ".join(lines),
                        "program",
                    )

    RandomProgram.__name__ = RandomProgram.__qualname__ = name
    return RandomProgram
