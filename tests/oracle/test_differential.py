"""Differential state machine: random op sequences on simfs and on real Linux, step by step.

SibylFS-style: a tiny namespace of paths (``a``, ``a/b``, ``.``, ``..``, ``a/..``, trailing
``/``, symlinks that dangle or loop, a 255- and a 256-byte name) drawn with
``st.sampled_from`` so a failing example reads as a script. Two processes (root and uid 1000)
share the tree, each with its own fds. Every step runs in both worlds and the normalised
outcomes must be equal; after every step the final-tree snapshots must be equal too.

Both processes start in ``/t/w``, so ``..`` is ``/t`` and stays inside the compared tree.
Symlink targets never contain ``.`` or ``..`` components: a link then always resolves below
its own directory, so no path in the namespace can reach above ``/t`` physically either (and
the real side is chrooted anyway). Timestamps are not compared here (no clock ticks, so the
real side's relations would depend on timing); the table in ``test_cases`` covers them.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, multiple, rule

from simfs.testing.profiles import machine_settings

from .compare import Normalizer
from .ops import ROOT, USER, Cred, Raw, render
from .realfs import RealWorld, unavailable_reason
from .simside import SimWorld

N255 = "n" * 255
N256 = "n" * 256
PATHS = [
    "a", "b", "a/b", "b/a", "a/a", ".", "..", "a/..", "a/../b", "a/", "b/", "a/b/",
    "l", "l/", "l/b", "l/..", "loop", "../x", N255, f"a/{N255}", N256,
]  # fmt: skip
TARGETS = ["a", "b", "a/b", "l", "loop", "missing", "", "a/", N255]
PROCS: dict[str, Cred] = {"root": ROOT, "alice": USER}
CWD = "/t/w"
MACHINE_WEIGHT = 5  # about 0.1 s an example: 100 examples (10-16 s) under the ci profile
UMASK = 0o022

procs = st.sampled_from(sorted(PROCS))
paths = st.sampled_from(PATHS)
modes = st.sampled_from([0o000, 0o600, 0o644, 0o666, 0o700, 0o755, 0o777, 0o1777, 0o2755, 0o4755])
create_flags = st.sampled_from(
    [
        os.O_CREAT | os.O_WRONLY,
        os.O_CREAT | os.O_EXCL | os.O_WRONLY,
        os.O_CREAT | os.O_RDWR | os.O_TRUNC,
    ]
)
open_flags = st.sampled_from(
    [os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_DIRECTORY, os.O_WRONLY | os.O_APPEND,
     os.O_RDONLY | os.O_NOFOLLOW, os.O_PATH, os.O_RDONLY | os.O_TRUNC]
)  # fmt: skip


@dataclass(frozen=True)
class FdRef:
    """An fd owned by one simulated process, the same in both worlds by its key."""

    proc: str
    key: int

    def __repr__(self) -> str:
        return f"fd{self.key}({self.proc})"


class DifferentialMachine(RuleBasedStateMachine):
    """Runs every rule on real Linux and on simfs and insists on identical outcomes."""

    fds = Bundle("fds")

    def __init__(self) -> None:
        super().__init__()
        self.real = RealWorld(extra_dirs=("w",))
        try:
            self.sim = SimWorld(extra_dirs=("w",))
            for name, cred in PROCS.items():
                self.real.spawn(name, cred, UMASK, CWD)
                self.sim.spawn(name, cred, UMASK, CWD)
        except BaseException:
            self.real.close()
            raise
        self.norm_real = Normalizer(times=False)
        self.norm_sim = Normalizer(times=False)
        self.real_fds: dict[int, Any] = {}
        self.sim_fds: dict[int, Any] = {}
        self.keys = itertools.count(1)

    def teardown(self) -> None:
        self.real.close()
        self.sim.close()

    def _step(
        self,
        proc: str,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        fd: FdRef | None = None,
    ) -> tuple[Raw, Raw]:
        """Run one op in both worlds (an ``fd`` goes first in the args) and insist they agree."""
        real_args = (self.real_fds[fd.key], *args) if fd else args
        sim_args = (self.sim_fds[fd.key], *args) if fd else args
        real_raw = self.real.call(proc, name, real_args, kwargs, False)
        sim_raw = self.sim.call(proc, name, sim_args, kwargs, False)
        real = self.norm_real.outcome(name, real_raw)
        sim = self.norm_sim.outcome(name, sim_raw)
        shown = render((name, *((repr(fd),) if fd else ()), *args, *((kwargs,) if kwargs else ())))
        note(f"{proc}: {shown}: real={real} simfs={sim}")
        assert real == sim, f"{proc}: {shown}\n  real:  {real}\n  simfs: {sim}"
        return real_raw, sim_raw

    def _both(self, proc: str, name: str, *args: Any, fd: FdRef | None = None) -> None:
        self._step(proc, name, args, {}, fd)

    def _opened(self, proc: str, *args: Any) -> Any:
        """``open`` in both worlds; a new fd reference for the bundle when it succeeded."""
        real_raw, sim_raw = self._step(proc, "open", args, {})
        if real_raw[0] != "ok":
            return multiple()
        ref = FdRef(proc, next(self.keys))
        self.real_fds[ref.key], self.sim_fds[ref.key] = real_raw[1], sim_raw[1]
        return ref

    # --- namespace ---------------------------------------------------------------------------

    @rule(proc=procs, p=paths, mode=st.sampled_from([0o755, 0o700, 0o777]))
    def mkdir(self, proc: str, p: str, mode: int) -> None:
        self._both(proc, "mkdir", p, mode)

    @rule(
        target=fds,
        proc=procs,
        p=paths,
        flags=create_flags,
        mode=st.sampled_from([0o644, 0o600, 0o666]),
    )
    def create(self, proc: str, p: str, flags: int, mode: int) -> Any:
        return self._opened(proc, p, flags, mode)

    @rule(target=fds, proc=procs, p=paths, flags=open_flags)
    def open(self, proc: str, p: str, flags: int) -> Any:
        return self._opened(proc, p, flags)

    @rule(proc=procs, p=paths)
    def unlink(self, proc: str, p: str) -> None:
        self._both(proc, "unlink", p)

    @rule(proc=procs, p=paths)
    def rmdir(self, proc: str, p: str) -> None:
        self._both(proc, "rmdir", p)

    @rule(proc=procs, src=paths, dst=paths)
    def rename(self, proc: str, src: str, dst: str) -> None:
        self._both(proc, "rename", src, dst)

    @rule(proc=procs, src=paths, dst=paths)
    def link(self, proc: str, src: str, dst: str) -> None:
        self._both(proc, "link", src, dst)

    @rule(proc=procs, tgt=st.sampled_from(TARGETS), p=paths)
    def symlink(self, proc: str, tgt: str, p: str) -> None:
        self._both(proc, "symlink", tgt, p)

    @rule(proc=procs, p=paths, mode=modes)
    def chmod(self, proc: str, p: str, mode: int) -> None:
        self._both(proc, "chmod", p, mode)

    @rule(proc=procs, p=paths, size=st.sampled_from([0, 3, 5000, -1]))
    def truncate(self, proc: str, p: str, size: int) -> None:
        self._both(proc, "truncate", p, size)

    # --- observation -------------------------------------------------------------------------

    @rule(proc=procs, p=paths)
    def stat(self, proc: str, p: str) -> None:
        self._both(proc, "stat", p)

    @rule(proc=procs, p=paths)
    def lstat(self, proc: str, p: str) -> None:
        self._both(proc, "lstat", p)

    @rule(proc=procs, p=paths)
    def listdir(self, proc: str, p: str) -> None:
        self._both(proc, "listdir", p)

    @rule(proc=procs, p=paths)
    def readlink(self, proc: str, p: str) -> None:
        self._both(proc, "readlink", p)

    # --- fds ---------------------------------------------------------------------------------

    @rule(fd=fds, data=st.sampled_from([b"", b"x", b"hello"]))
    def write(self, fd: FdRef, data: bytes) -> None:
        self._both(fd.proc, "write", data, fd=fd)

    @rule(fd=fds, n=st.sampled_from([0, 1, 100]))
    def read(self, fd: FdRef, n: int) -> None:
        self._both(fd.proc, "read", n, fd=fd)

    @rule(
        fd=fds, pos=st.sampled_from([0, 2, -1]), whence=st.sampled_from([os.SEEK_SET, os.SEEK_END])
    )
    def lseek(self, fd: FdRef, pos: int, whence: int) -> None:
        self._both(fd.proc, "lseek", pos, whence, fd=fd)

    @rule(fd=fds)
    def fstat(self, fd: FdRef) -> None:
        self._both(fd.proc, "fstat", fd=fd)

    @rule(fd=consumes(fds))
    def close(self, fd: FdRef) -> None:
        self._both(fd.proc, "close", fd=fd)

    @invariant()
    def same_tree(self) -> None:
        real = Normalizer().snapshot(self.real.snapshot("/t"))
        sim = Normalizer().snapshot(self.sim.snapshot("/t"))
        if real != sim:
            diff = [f"{p}: real={real.get(p)} simfs={sim.get(p)}"
                    for p in sorted(set(real) | set(sim)) if real.get(p) != sim.get(p)]  # fmt: skip
            raise AssertionError("final trees differ:\n" + "\n".join(diff))


_REASON = unavailable_reason()

DifferentialMachine.TestCase.settings = machine_settings(weight=MACHINE_WEIGHT)
TestDifferential = pytest.mark.realkernel(
    pytest.mark.skipif(_REASON is not None, reason=_REASON or "")(DifferentialMachine.TestCase)
)
