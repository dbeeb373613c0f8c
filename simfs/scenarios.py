"""The scenario library: small runnable lessons about FUSE and FUSE-BPF.

A *scenario* is one Python module in the top-level ``scenarios/`` directory.  Its
docstring is the lesson (first line: a one-line summary; the rest: what to look for in
the trace), and it defines:

``TITLE: str``
    A short human title (``"Hidden files: a BPF LOOKUP prefilter"``).
``ORDER: int`` *(optional)*
    Position in ``simfs list`` (default 100); ties sort by name.
``setup(k) -> None`` *(optional)*
    Fixtures in the lower filesystem, under :data:`LOWER` (``/data``), made with
    ``k.lower`` (pyfakefs) or with a root process.  Runs before any mount.
``mount(k, target) -> object``
    The configuration the scenario teaches: a ``k.mount_fuse(...)`` (or a bind mount) at
    ``target``.  Its return value is kept as :attr:`ScenarioResult.mount`.
``workload(k, target) -> dict``
    What processes do, through the mount at ``target``.  It returns its *observations*
    (listings, contents, errno names) as a dict; it must not raise for an operation that
    fails on purpose (use :func:`attempt`).  The same workload is reused by
    ``simfs compare`` on a bind mount, classic FUSE and FUSE-BPF passthrough, so it should
    only assume what holds on all of them.
``check(result) -> None``
    Assert the claim the scenario teaches (``assert result.transitions == 0``).

:class:`Scenario` wraps a loaded module: :meth:`Scenario.run` builds a fresh
:class:`~simfs.Kernel`, runs ``setup``, ``mount``, clears the trace (so it holds the
workload only), runs ``workload`` and returns a :class:`ScenarioResult`;
:meth:`Scenario.compare` runs the same workload under every configuration of
:data:`CONFIGS` plus the scenario's own.

Where scenarios are found (:func:`scenario_dirs`): the directories in the
``SIMFS_SCENARIOS`` environment variable (``os.pathsep``-separated), else the
``scenarios/`` directory next to the ``simfs`` package (a source checkout), else
``simfs/_scenarios`` (where an installed wheel carries them).
"""

from __future__ import annotations

import difflib
import errno as errno_mod
import importlib.util
import os
import stat as stat_mod
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from simfs.errors import UsageError

if TYPE_CHECKING:
    from simfs.kernel import Kernel
    from simfs.trace import Trace

__all__ = [
    "CONFIGS",
    "LOWER",
    "MOUNT",
    "LoadFailure",
    "Scenario",
    "ScenarioResult",
    "UnknownScenario",
    "attempt",
    "discover",
    "get",
    "scenario_dirs",
]

#: Where every scenario keeps its lower (backing) tree.
LOWER = "/data"
#: Where every scenario mounts what it teaches.
MOUNT = "/mnt"

_REQUIRED = ("TITLE", "mount", "workload", "check")


@dataclass
class ScenarioResult:
    """What one run of a scenario left behind.

    ``kernel`` is the machine (its trace holds the workload only), ``mount`` what the
    mount step returned, ``seen`` the workload's observations, ``config`` the
    configuration label (``"scenario"`` for the scenario's own mount).
    """

    scenario: str
    config: str
    kernel: Kernel
    mount: Any
    seen: dict[str, Any] = field(default_factory=dict)

    @property
    def trace(self) -> Trace:
        """The kernel's trace: every event of the workload."""
        return self.kernel.trace

    @property
    def transitions(self) -> int:
        """User↔kernel transitions caused by daemon traffic during the workload."""
        return self.kernel.trace.transitions

    def request_opcodes(self) -> list[str]:
        """Opcode names of the requests the daemon read, in order."""
        return self.kernel.trace.request_opcodes()


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; return its result, or the errno *name* (``"ENOENT"``) if it fails.

    Lets a workload record an expected failure as an observation::

        seen["stat"] = attempt(p.stat, "/mnt/hide")   # "ENOENT"
    """
    try:
        return fn(*args, **kwargs)
    except OSError as e:
        return errno_mod.errorcode.get(e.errno or 0, str(e.errno))


def _mount_bind(k: Kernel, target: str) -> Any:
    return k.mount_bind(LOWER, target)


def _mount_classic(k: Kernel, target: str) -> Any:
    from simfs.daemons import Passthrough

    # allow_other + default_permissions: every uid may use it, the kernel checks modes
    return k.mount_fuse(
        target, daemon=Passthrough(LOWER), allow_other=True, default_permissions=True
    )


def _mount_fuse_bpf(k: Kernel, target: str) -> Any:
    from simfs.daemons import Passthrough

    # a daemon is attached, but with a backed root and no program nothing reaches it
    return k.mount_fuse(target, daemon=Passthrough(LOWER), root_dir=LOWER, allow_other=True)


def _mount_upstream_passthrough(k: Kernel, target: str) -> Any:
    from simfs.daemons import Passthrough

    # mainline 6.9+ (issue 15): a passthrough_hp-like daemon hands the kernel backing ids
    return k.mount_fuse(
        target,
        daemon=Passthrough(LOWER, passthrough=True),
        variant="upstream",
        allow_other=True,
        default_permissions=True,
    )


#: The reference configurations ``simfs compare`` runs every workload under: label →
#: ``mount(k, target)``.  The lower tree is always :data:`LOWER`.  FUSE mounts are made with
#: ``allow_other`` (as Android mounts its storage): without it, ``fuse_allow_current_process``
#: refuses every process but the mounter's uid with ``EACCES``.
CONFIGS: dict[str, Callable[[Kernel, str], Any]] = {
    "bind mount": _mount_bind,
    "classic FUSE": _mount_classic,
    "FUSE-BPF passthrough": _mount_fuse_bpf,
    "upstream passthrough": _mount_upstream_passthrough,
}


class Scenario:
    """A loaded scenario module (see the module docstring for the interface)."""

    def __init__(self, name: str, module: ModuleType, path: Path | None = None) -> None:
        missing = [a for a in _REQUIRED if not hasattr(module, a)]
        if missing or not (module.__doc__ or "").strip():
            what = ", ".join(missing + ([] if (module.__doc__ or "").strip() else ["a docstring"]))
            raise UsageError(
                f"scenario {name!r} ({path or module.__name__}) lacks {what}; a scenario module "
                "defines TITLE, mount(k, target), workload(k, target) and check(result), and "
                "opens with a docstring saying what it teaches"
            )
        self.name = name
        self.module = module
        self.path = path

    def __repr__(self) -> str:
        return f"<Scenario {self.name}: {self.title}>"

    @property
    def title(self) -> str:
        return str(self.module.TITLE)

    @property
    def order(self) -> int:
        return int(getattr(self.module, "ORDER", 100))

    @property
    def doc(self) -> str:
        """The lesson: the module docstring, dedented."""
        import inspect

        return inspect.cleandoc(self.module.__doc__ or "")

    @property
    def summary(self) -> str:
        """The docstring's first line."""
        return self.doc.splitlines()[0] if self.doc else ""

    def _kernel(self) -> Kernel:
        from simfs.kernel import Kernel

        k = Kernel()
        if not k.lower.exists(LOWER):
            k.lower.create_dir(LOWER)
        setup = getattr(self.module, "setup", None)
        if setup is not None:
            setup(k)
        if not k.lower.exists(MOUNT):
            k.lower.create_dir(MOUNT)
        return k

    def run(self, config: str = "scenario") -> ScenarioResult:
        """Run the workload on a fresh kernel under ``config``.

        ``"scenario"`` is the scenario's own ``mount``; any key of :data:`CONFIGS` runs the
        same fixtures and workload under that reference mount instead.  The returned
        result's trace holds the workload's events only (mount-time traffic such as
        INIT is cleared).  Raises :class:`UsageError` for an unknown ``config``.
        """
        if config == "scenario":
            mount = self.module.mount
        elif config in CONFIGS:
            mount = CONFIGS[config]
        else:
            raise UsageError(f"unknown config {config!r}; use 'scenario' or one of {list(CONFIGS)}")
        k = self._kernel()
        m = mount(k, MOUNT)
        k.trace.clear()
        k.trace_pipe.clear()
        seen = self.module.workload(k, MOUNT)
        return ScenarioResult(self.name, config, k, m, dict(seen or {}))

    def check(self, result: ScenarioResult) -> None:
        """Assert the scenario's claim on ``result`` (raises ``AssertionError``)."""
        self.module.check(result)

    def compare(self) -> dict[str, ScenarioResult | BaseException]:
        """The workload under every :data:`CONFIGS` entry and the scenario's own mount.

        Keys are the configuration labels plus ``"this scenario"``; a configuration whose
        run raised maps to the exception (so one failure does not hide the others).
        """
        out: dict[str, ScenarioResult | BaseException] = {}
        for label in [*CONFIGS, "scenario"]:
            key = "this scenario" if label == "scenario" else label
            try:
                out[key] = self.run(label)
            except Exception as e:  # reported in the comparison, not raised
                out[key] = e
        return out


@dataclass(frozen=True)
class LoadFailure:
    """A scenario file that could not be loaded, and why."""

    name: str
    path: Path
    error: BaseException

    def __str__(self) -> str:
        return f"{self.name}: {type(self.error).__name__}: {self.error}"


class UnknownScenario(UsageError):
    """No scenario of that name; the message lists the ones that exist."""

    def __init__(self, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(
            f"unknown scenario {name!r}{hint}; available: {', '.join(known) or '(none)'}"
        )
        self.name = name
        self.known = known


def scenario_dirs() -> list[Path]:
    """Directories searched for scenario modules, in order (see the module docstring)."""
    env = os.environ.get("SIMFS_SCENARIOS")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "scenarios", here / "_scenarios"):
        if candidate.is_dir():
            return [candidate]
    return []


def _load_module(name: str, path: Path) -> ModuleType:
    modname = f"_simfs_scenario_{name}"
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return module


def discover(
    dirs: list[Path] | None = None,
) -> tuple[dict[str, Scenario], list[LoadFailure]]:
    """Load every ``*.py`` (not starting with ``_``) in the scenario directories.

    Returns the scenarios by name, sorted by ``(ORDER, name)``, and the files that failed
    to load (an import error, a missing ``TITLE``...), so a listing can show both.  The
    first directory wins when two hold the same name.
    """
    found: list[Scenario] = []
    failures: list[LoadFailure] = []
    seen: set[str] = set()
    for d in scenario_dirs() if dirs is None else dirs:
        for path in sorted(Path(d).glob("*.py")):
            name = path.stem
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            try:
                found.append(Scenario(name, _load_module(name, path), path))
            except Exception as e:
                failures.append(LoadFailure(name, path, e))
    found.sort(key=lambda s: (s.order, s.name))
    return {s.name: s for s in found}, failures


def get(name: str, scenarios: Mapping[str, Scenario] | None = None) -> Scenario:
    """The scenario called ``name``; raises :class:`UnknownScenario` listing the others."""
    if scenarios is None:
        scenarios, _ = discover()
    try:
        return scenarios[name]
    except KeyError:
        raise UnknownScenario(name, list(scenarios)) from None


# --------------------------------------------------------------------------------------------
# Helpers for scenario daemons (wire values from a stat result)


def fuse_attr(st: os.stat_result, ino: int | None = None) -> Any:
    """A ``uapi.FuseAttr`` describing ``st`` (as a daemon fills ``fuse_attr`` from stat)."""
    from simfs import uapi

    return uapi.FuseAttr(
        ino=st.st_ino if ino is None else ino,
        size=st.st_size,
        blocks=getattr(st, "st_blocks", 0),
        atime=int(st.st_atime),
        mtime=int(st.st_mtime),
        ctime=int(st.st_ctime),
        atimensec=st.st_atime_ns % 1_000_000_000,
        mtimensec=st.st_mtime_ns % 1_000_000_000,
        ctimensec=st.st_ctime_ns % 1_000_000_000,
        mode=st.st_mode,
        nlink=st.st_nlink,
        uid=st.st_uid,
        gid=st.st_gid,
        rdev=getattr(st, "st_rdev", 0),
        blksize=getattr(st, "st_blksize", 4096),
    )


def dirent_type(mode: int) -> int:
    """The ``d_type`` (``DT_*``) of a file mode, as a READDIR record carries it."""
    return stat_mod.S_IFMT(mode) >> 12


def everyday_workload(k: Kernel, target: str) -> dict[str, Any]:
    """A small mix of everyday calls under ``target`` as root, for the passthrough lessons.

    Expects the fixtures of :func:`everyday_setup`.  Observes: ``stat_size`` of
    ``docs/readme.txt``, its ``content``, the ``listing`` of ``docs``, the content read
    back after a create+write (``written``), ``mkdir``, ``rename`` and ``unlink`` results,
    and the final listing (``after``).
    """
    p = k.spawn()
    seen: dict[str, Any] = {}
    seen["stat_size"] = p.stat(f"{target}/docs/readme.txt").st_size
    fd = p.open(f"{target}/docs/readme.txt", os.O_RDONLY)
    seen["content"] = p.read(fd, 100)
    p.close(fd)
    seen["listing"] = sorted(p.listdir(f"{target}/docs"))
    fd = p.open(f"{target}/docs/new.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    p.write(fd, b"fresh")
    p.close(fd)
    fd = p.open(f"{target}/docs/new.txt", os.O_RDONLY)
    seen["written"] = p.read(fd, 100)
    p.close(fd)
    seen["mkdir"] = attempt(p.mkdir, f"{target}/docs/sub", 0o755)
    seen["rename"] = attempt(p.rename, f"{target}/docs/new.txt", f"{target}/docs/sub/moved.txt")
    seen["unlink"] = attempt(p.unlink, f"{target}/docs/notes.txt")
    seen["after"] = sorted(p.listdir(f"{target}/docs"))
    return seen


def everyday_setup(k: Kernel) -> None:
    """Fixtures for :func:`everyday_workload`: ``docs/readme.txt`` and ``docs/notes.txt``."""
    k.lower.create_file(f"{LOWER}/docs/readme.txt", contents="hello, world\n")
    k.lower.create_file(f"{LOWER}/docs/notes.txt", contents="remember the milk\n")


def requests_by_syscall(trace: Trace) -> list[tuple[str, list[str]]]:
    """For each top-level system call: its name and the daemon requests it caused.

    A request belongs to the syscall whose span encloses it (at any depth), so a scenario
    can assert "reading this file cost no round trip" per call.
    """
    parent_of = {e.seq: e.parent for e in trace}
    top: dict[int, tuple[str, list[str]]] = {}
    order: list[int] = []
    for ev in trace:
        if ev.kind == "syscall" and ev.parent is None:
            top[ev.seq] = (str(ev.data.get("name")), [])
            order.append(ev.seq)
        elif ev.kind == "request":
            node: int | None = ev.parent
            while node is not None and node not in top:
                node = parent_of.get(node)
            if node is not None:
                top[node][1].append(str(ev.data.get("opcode")))
    return [top[s] for s in order]
