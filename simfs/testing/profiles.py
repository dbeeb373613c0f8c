"""Hypothesis settings profiles for simfs' property tests: ``dev``, ``ci``, ``nightly``.

Call :func:`register_profiles` once (the project's ``tests/conftest.py`` does); it
registers the three profiles and loads the one named by ``HYPOTHESIS_PROFILE`` (default:
``ci`` when ``$CI`` is set, else ``dev``).

``dev``
    quick local runs, random, with the example database (a failure found once is
    replayed first next time).
``ci``
    deterministic and budgeted: ``derandomize=True`` (the same examples on every run, so
    CI is never flaky and a red build reproduces locally with the same profile), no
    database.
``nightly``
    long random exploration.

``max_examples`` of a profile is for ordinary ``@given`` tests.  State machines are far
more expensive per example (two kernels, up to ``stateful_step_count`` system calls
each), so machine tests take :func:`machine_settings`, which scales their examples
from :data:`MACHINE_EXAMPLES` for the loaded profile: the whole ``tests/properties`` +
``tests/quality`` run in ``ci`` fits in a few minutes on 2 cores.

Every profile has ``deadline=None`` (a simulated syscall's cost varies with the trace
size) and ``print_blob=True``: a failure prints the readable rule list *and* a
``@reproduce_failure(...)`` line that replays it exactly.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

__all__ = [
    "MACHINE_DEFAULTS",
    "MACHINE_EXAMPLES",
    "MACHINE_PHASES",
    "PROFILES",
    "check_machine_settings",
    "loaded_profile",
    "machine_defaults",
    "machine_settings",
    "quality_settings",
    "register_profiles",
]

_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}

#: name -> keyword arguments of :class:`hypothesis.settings`.
PROFILES: dict[str, dict[str, object]] = {
    "dev": {**_COMMON, "max_examples": 30, "stateful_step_count": 30},
    "ci": {
        **_COMMON,
        "max_examples": 60,
        "stateful_step_count": 25,
        "derandomize": True,
        "database": None,
    },
    "nightly": {**_COMMON, "max_examples": 2000, "stateful_step_count": 60},
    # ``simfs fuzz`` (simfs.testing.fuzz): long random rounds and a replay of what they
    # found, both over the example database in $SIMFS_FUZZ_DB (see register_profiles)
    # derandomize=False explicitly: under $CI hypothesis' own "ci" profile is the parent of
    # every registered profile and derandomizes, which turns the example database off
    "fuzz": {**_COMMON, "max_examples": 2000, "stateful_step_count": 50, "derandomize": False},
    "replay": {**_COMMON, "phases": (Phase.explicit, Phase.reuse), "derandomize": False},
}
#: Examples per state-machine test, by profile (see :func:`machine_settings`).
MACHINE_EXAMPLES: dict[str, int] = {"dev": 40, "ci": 60, "nightly": 1000, "fuzz": 2000}
#: Where ``fuzz`` and ``replay`` keep their examples unless $SIMFS_FUZZ_DB says otherwise.
FUZZ_DATABASE = ".simfs-fuzz"

_loaded: list[str] = []


def register_profiles(default: str = "dev") -> str:
    """Register ``dev``/``ci``/``nightly`` and load ``$HYPOTHESIS_PROFILE`` (default
    ``ci`` under ``$CI``, else ``default``).  Returns the loaded profile's name."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    for name, kwargs in PROFILES.items():
        if name in ("fuzz", "replay"):  # one directory every worker process shares
            db = DirectoryBasedExampleDatabase(os.environ.get("SIMFS_FUZZ_DB", FUZZ_DATABASE))
            kwargs = {**kwargs, "database": db}
        settings.register_profile(name, **kwargs)  # type: ignore[arg-type]
    chosen = os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else default)
    settings.load_profile(chosen)
    _loaded[:] = [chosen]
    return chosen


#: What ``Machine.TestCase`` runs with when the user sets nothing, by loaded profile
#: (``default`` is hypothesis' own): examples, steps per run.  Tuned on the detection
#: corpus (``simfs bench detection``): many short-ish runs find more bugs per second than
#: few long ones, and the state-driven rules make most steps reach the filter.
MACHINE_DEFAULTS: dict[str, tuple[int, int]] = {
    "default": (300, 30),
    "dev": (300, 30),
    "ci": (100, 30),
    "nightly": (3000, 50),
    "fuzz": (2000, 50),
}


#: The phases of :func:`machine_defaults`: no ``shrink``/``explain`` (see there).
MACHINE_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target)


def loaded_profile() -> str:
    """The name of the loaded hypothesis profile (``default`` if none was loaded)."""
    if _loaded:
        return _loaded[0]
    current = getattr(settings, "_current_profile", None)
    return str(current) if current else "default"


def machine_defaults() -> settings:
    """The settings a machine's ``TestCase`` carries (see :data:`MACHINE_DEFAULTS`): the
    loaded profile, with examples and steps tuned to find bugs, no deadline (a simulated
    call's cost varies with the trace) and no health check that a slow two-kernel run
    trips.  A profile that is neither hypothesis' ``default`` nor one of simfs' keeps its
    own ``max_examples`` and ``stateful_step_count``.  Override as usual with hypothesis:
    ``TestX.settings = settings(...)``, ``@settings(...)`` on the machine class, or a
    profile."""
    base = settings.default or settings()
    tuned = MACHINE_DEFAULTS.get(loaded_profile())
    kwargs: dict[str, object] = {
        "deadline": None,
        "suppress_health_check": list(HealthCheck),
        # simfs reduces a failing run itself (simfs.testing.script.minimize: calls, tree
        # entries, xattrs), in 1-2 s where hypothesis' shrink and explain phases took
        # 6-30 s on the detection corpus; put Phase.shrink back to get both
        "phases": tuple(p for p in base.phases if p in MACHINE_PHASES),
    }
    if tuned is not None:
        kwargs["max_examples"], kwargs["stateful_step_count"] = tuned
    return settings(base, **kwargs)  # type: ignore[arg-type]


def check_machine_settings(s: settings, machine: object = None) -> None:
    """Raise :class:`~simfs.errors.UsageError` for settings under which a machine cannot
    search: no generation phase and nothing to replay, fewer than 2 steps per run (a
    descriptor must be opened before it is used), or no examples."""
    from simfs.errors import UsageError

    name = getattr(machine, "__name__", "the machine")
    if Phase.generate not in s.phases and Phase.reuse not in s.phases:
        raise UsageError(
            f"{name}: settings(phases={s.phases}) neither generate nor replay examples, so "
            "nothing would be tested; include Phase.generate"
        )
    if s.stateful_step_count < 2:
        raise UsageError(
            f"{name}: stateful_step_count={s.stateful_step_count} cannot open a file and "
            "then use it; use at least 2 (the default is "
            f"{MACHINE_DEFAULTS['default'][1]})"
        )
    if s.max_examples < 1:  # pragma: no cover - hypothesis rejects it first
        raise UsageError(f"{name}: max_examples must be at least 1")


def machine_settings(weight: float = 1.0) -> settings:
    """Settings for a state-machine test under the loaded profile: the profile's settings
    with ``max_examples`` = ``MACHINE_EXAMPLES[profile] * weight`` (at least 1).  An
    unknown profile (loaded by someone else) keeps its own ``max_examples``."""
    name = (
        _loaded[0]
        if _loaded
        else os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
    )
    base = settings.default or settings()
    n = MACHINE_EXAMPLES.get(name)
    if n is None:
        return settings(base)
    return settings(base, max_examples=max(1, int(n * weight)))


def quality_settings(max_examples: int = 300, steps: int = 30) -> settings:
    """Settings for a quality test (a machine must *find* a seeded bug): derandomized,
    no database, and no shrinking, since only finding the bug is timed.  Failing to find
    it within ``max_examples`` examples fails the quality test."""
    return settings(
        max_examples=max_examples,
        stateful_step_count=steps,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
