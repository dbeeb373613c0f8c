"""Examples the machines once got wrong, replayed as fixed step lists.

Each is a falsifying example that hypothesis found where the kernel was right (checked on
real Linux) and the comparison was not:

- a walk that leaves the mount: with ``a -> .`` in the lower directory, ``/m/a`` is the
  mount root and ``/m/a/..`` the parent of the mount point (``follow_dotdot`` crosses
  mounts upwards; on Linux, ``ln -s a /m/a/../.secret`` in a bind mount creates
  ``/.secret``).  Such a call acts on the root filesystem, where no filter is.
- ``lseek(dirfd, 0, SEEK_END)`` succeeds on a FUSE directory (``fuse_dir_operations``
  uses ``generic_file_llseek``) and fails EINVAL on tmpfs (``dcache_dir_lseek``): after
  that allowed difference the two file positions differ.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from simfs.testing import (
    DEFAULT_STAT_FIELDS,
    Dir,
    File,
    LowerTree,
    Symlink,
    bpf_mount,
    classic_passthrough,
    equivalence_machine,
    errno_translating_program,
    errno_translation_machine,
    hiding_machine,
    hiding_program,
    readonly_machine,
    readonly_program,
)
from simfs.testing.machines import fuse_differences
from simfs.testing.probes import probe_fuse_bpf, probe_mount

HIDDEN = (".secret", ".private")
TRANSLATE = {errno.ENODATA: errno.EPERM}


def _in_hypothesis(steps: Callable[[], None]) -> None:
    # the machines note() every call, which hypothesis allows only inside a test
    @given(hst.just(None))
    @settings(max_examples=1, database=None, deadline=None)
    def run(_: None) -> None:
        steps()

    run()


def _need_fuse_bpf() -> None:
    reason = probe_fuse_bpf()
    if reason is not None:
        pytest.skip(reason)


def test_hider_compares_what_a_walk_out_of_the_mount_creates_as_is() -> None:
    _need_fuse_bpf()
    machine = hiding_machine(bpf_mount(lambda: hiding_program(HIDDEN, in_postfilter=True)), HIDDEN)

    def steps() -> None:
        state = machine()
        state.setup(
            tree=LowerTree(
                (Dir("b"), Symlink("b/a", "a"), Symlink("a", "."), Symlink(".secret", "a"))
            )
        )
        state.symlink(proc="root", src="a", dst="/m/a/../.secret")  # creates /.secret on both
        state.teardown()

    _in_hypothesis(steps)


def test_readonly_machine_watches_only_the_lower_directory() -> None:
    _need_fuse_bpf()
    machine = readonly_machine(bpf_mount(readonly_program))

    def steps() -> None:
        state = machine()
        state.setup(tree=LowerTree((Symlink("a", "."),)))
        state.mkdir(proc="root", path="/m/a/../b", mode="0o755")  # /b, outside the filter
        state.teardown()

    _in_hypothesis(steps)


def test_translation_is_required_only_of_calls_that_reach_the_mount() -> None:
    _need_fuse_bpf()
    machine = errno_translation_machine(
        bpf_mount(lambda: errno_translating_program(TRANSLATE)),
        TRANSLATE,
        must_translate=lambda op, err: op == "removexattr",
    )

    def steps() -> None:
        state = machine()
        state.setup(tree=LowerTree((File("f"), Symlink("a", "."))))
        state.removexattr(proc="root", path="a/../", attribute="user.a")  # "/": ENODATA
        state.removexattr(proc="root", path="f", attribute="user.a")  # EPERM on the mount
        state.teardown()

    _in_hypothesis(steps)


def test_positions_are_not_compared_after_an_allowed_seek_difference() -> None:
    reason = probe_mount(classic_passthrough)
    if reason is not None:
        pytest.skip(reason)
    machine = equivalence_machine(
        classic_passthrough,
        stat_fields=DEFAULT_STAT_FIELDS - {"mtime", "ctime"},
        processes=("root",),
        allow=fuse_differences,
    )

    def steps() -> None:
        state = machine()
        state.setup(tree=LowerTree((Dir("a"), File("a/x"))))
        fd = state.open(proc="root", path="./a/..", flags="O_RDONLY", mode="0o644")
        state.lseek(fd=fd, offset=3, whence="SEEK_END")  # allowed: EINVAL / i_size + 3
        state.getdents(fd=fd)  # not compared: all entries / none
        state.stat(proc="root", path="a")  # inode labels still in step
        state.lseek(fd=fd, offset=0, whence="SEEK_CUR")  # not compared
        state.lseek(fd=fd, offset=0, whence="SEEK_SET")  # both 0: in step again
        state.getdents(fd=fd)  # compared
        state.close(fd=fd)
        state.teardown()

    _in_hypothesis(steps)


def test_fuse_hides_the_sticky_bit_from_may_delete() -> None:
    """Found by the backing-program equivalence machine (issue 20's fixture modes changed
    its exploration): alice's rmdir of root's *file* in a sticky directory is EPERM on tmpfs
    (check_sticky comes first) and ENOTDIR through FUSE, whose inodes never carry the sticky
    bit without default_permissions (fuse_change_attributes_common)."""
    import simfs

    k = simfs.Kernel()
    k.lower.create_file("/data/b", contents="x")
    for d in ("/bind", "/mnt"):
        k.lower.create_dir(d)
    root = k.spawn()
    root.chmod("/data", 0o1777)
    k.mount_bind("/data", "/bind")
    k.mount_fuse("/mnt", root_dir="/data", no_daemon=True, allow_other=True)
    alice = k.spawn(uid=1000)
    seen = {}
    for base in ("/bind", "/mnt"):
        with pytest.raises(OSError) as e:
            alice.rmdir(f"{base}/b")
        seen[base] = errno.errorcode[e.value.errno]
    assert seen == {"/bind": "EPERM", "/mnt": "ENOTDIR"}
    assert fuse_differences("rmdir", ("b",), ("err", "EPERM"), ("err", "ENOTDIR"))
    assert not fuse_differences("rmdir", ("b",), ("err", "EPERM"), ("ok", None))
    assert not fuse_differences("mkdir", ("b",), ("err", "EPERM"), ("err", "ENOTDIR"))
