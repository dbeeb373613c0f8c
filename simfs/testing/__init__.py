"""Property testing for simfs mounts and for your own fuse-bpf filters.

Strategies (:mod:`simfs.testing.strategies`)
    :func:`lower_trees` (small trees with modes, owners, xattrs, dangling and looping
    symlinks, 255-byte names), :func:`paths` (SibylFS-style path classes),
    :func:`calls` / :func:`syscall_sequences` (system calls by root and unprivileged
    processes over open descriptors), :func:`decision_tables` (random programs).
Machines (:mod:`simfs.testing.machines`)
    :func:`equivalence_machine` (the mount under test behaves as a bind mount),
    :func:`hiding_machine`, :func:`readonly_machine`, :func:`errno_translation_machine`,
    :func:`random_program_machine`; each returns a ``RuleBasedStateMachine`` class.
Mounts and example filters (:mod:`simfs.testing.filters`)
    :func:`bind`, :func:`passthrough`, :func:`bpf_mount`, :func:`classic_passthrough`,
    :class:`EchoDaemon`, and example programs.
Snapshots (:mod:`simfs.testing.snapshot`)
    :func:`snapshot_lower` / :func:`diff_snapshots`: canonical lower trees.
Profiles (:mod:`simfs.testing.profiles`)
    :func:`register_profiles`: ``dev``, ``ci``, ``nightly`` (and ``fuzz``/``replay`` for
    ``simfs fuzz``) by ``HYPOTHESIS_PROFILE``; the pytest plugin
    (:mod:`simfs.testing.pytest_plugin`, entry point ``pytest11``) loads them and adds
    ``--simfs-profile``, ``--simfs-coverage`` and the ``simfs_kernel``/``simfs_mount``
    fixtures.
Finding bugs (issue 11)
    :mod:`~simfs.testing.vocabulary` (the filter's constants join the names),
    :mod:`~simfs.testing.coverage` (what the filter saw), :mod:`~simfs.testing.script`
    (reduced, runnable counterexamples), :mod:`~simfs.testing.mutants` (seeded engine
    bugs applied from outside), :mod:`~simfs.testing.corpus` and
    :mod:`~simfs.testing.detection` (``simfs bench detection``),
    :mod:`~simfs.testing.fuzz` (``simfs fuzz``).

Example: property-test your own filter::

    from simfs.testing import bpf_mount, hiding_machine

    TestMyHider = hiding_machine(bpf_mount(my_hider), hidden_names=(".secret", ".private")).TestCase
"""

from __future__ import annotations

from simfs.testing.calls import (
    DEFAULT_STAT_FIELDS,
    PROCESSES,
    STAT_FIELDS,
    Call,
    FdRef,
    Observer,
    Outcome,
    execute,
    run_sequence,
)
from simfs.testing.coverage import CoverageWarning
from simfs.testing.filters import (
    Decision,
    DecisionTable,
    EchoDaemon,
    backing_program,
    bind,
    bpf_mount,
    classic_passthrough,
    decision_tables,
    errno_translating_program,
    hiding_program,
    passthrough,
    readonly_program,
    transparent_program,
)
from simfs.testing.machines import (
    Divergence,
    SyscallMachine,
    ack_differences,
    equivalence_machine,
    errno_translation_machine,
    fuse_differences,
    hiding_machine,
    random_program_machine,
    readonly_machine,
)
from simfs.testing.profiles import register_profiles
from simfs.testing.snapshot import EntrySnapshot, diff_snapshots, snapshot_lower
from simfs.testing.strategies import (
    Dir,
    File,
    LowerTree,
    Symlink,
    calls,
    lower_trees,
    path_vocabulary,
    paths,
    syscall_sequences,
)

__all__ = [
    "DEFAULT_STAT_FIELDS",
    "PROCESSES",
    "STAT_FIELDS",
    "Call",
    "CoverageWarning",
    "Decision",
    "DecisionTable",
    "Dir",
    "Divergence",
    "EchoDaemon",
    "EntrySnapshot",
    "FdRef",
    "File",
    "LowerTree",
    "Observer",
    "Outcome",
    "Symlink",
    "SyscallMachine",
    "ack_differences",
    "backing_program",
    "bind",
    "bpf_mount",
    "calls",
    "classic_passthrough",
    "decision_tables",
    "diff_snapshots",
    "equivalence_machine",
    "errno_translating_program",
    "errno_translation_machine",
    "execute",
    "fuse_differences",
    "hiding_machine",
    "hiding_program",
    "lower_trees",
    "passthrough",
    "path_vocabulary",
    "paths",
    "random_program_machine",
    "readonly_machine",
    "readonly_program",
    "register_profiles",
    "run_sequence",
    "snapshot_lower",
    "syscall_sequences",
    "transparent_program",
]
