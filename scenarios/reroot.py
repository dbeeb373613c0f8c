"""Re-rooting a subtree: a daemon LOOKUP postfilter swaps a directory's backing (REPLACE).

Every lookup through a backed directory can end with a *lookup add-on*: the
``fuse_entry_bpf_out`` block after ``fuse_entry_out``, which says what to do with the new
inode's backing and program (KEEP / REMOVE / REPLACE).  A BPF program cannot hand the
kernel a file, but a daemon can: it opens the directory it wants, puts the fd in
``backing_fd`` with ``backing_action = FUSE_ACTION_REPLACE``, and the kernel resolves the
fd in the daemon's fd table when the reply is written.

Here the program sends only the lookup of ``folder1`` to the daemon
(``LOOKUP|POSTFILTER`` → ``USER_FILTER``); the daemon answers with
``backing REPLACE → /data/folder2`` and ``bpf REMOVE``.  From then on ``/mnt/folder1`` *is*
``/data/folder2``: lookups, reads and listings below it are pure passthrough against
``folder2`` — no program runs (it was removed), no daemon is asked (spec §9A.7).

What to look for (``simfs run reroot``): a ``⇢ daemon LOOKUP|POSTFILTER`` with the daemon's
``open('/data/folder2')`` nested beneath it; below ``folder1`` (nodeid 7) only ``backing``
nodes, never a ``BPF`` node.

And a cost the trace makes plain: a fuse-bpf dentry has no expiry and is dropped as soon as
nothing uses it (spec §8.2), so *every* path walk through ``/mnt/folder1`` repeats the
lookup and asks the daemon again (and FORGETs the previous inode).  A process whose
working directory is ``folder1`` pins the dentry: its relative paths cost no round trip.
"""

from __future__ import annotations

import errno
import os
from typing import Any

import simfs
from simfs import Kernel, bpf, uapi
from simfs.scenarios import LOWER, ScenarioResult, attempt, requests_by_syscall

TITLE = "Re-rooting a subtree: lookup add-on with backing REPLACE"
ORDER = 80

FOLDER1_NODEID = 7


@bpf.program("reroot_lookup")
def reroot_lookup(fa: bpf.FuseBpfArgs) -> int:
    """Ask the daemon (postfilter) about the lookup of ``folder1`` only."""
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER:
        if fa.in_args[0].value == "folder1":
            return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
        return uapi.FUSE_BPF_BACKING
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER:
        return uapi.FUSE_BPF_USER_FILTER
    return uapi.FUSE_BPF_BACKING


class Rerooter(simfs.Daemon):
    """Backs ``folder1`` with ``/data/folder2`` and removes its program."""

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER and req.args[0] == "folder1":
            entry_out = req.args[1]
            assert isinstance(entry_out, uapi.FuseEntryOut)
            fd = self.proc.open(f"{LOWER}/folder2", os.O_RDONLY | os.O_DIRECTORY)
            # the kernel resolves the fd while this reply is written; the daemon may close
            # it afterwards (it keeps it here: a simulated fd table costs nothing)
            return simfs.Reply(
                uapi.FuseEntryOut(nodeid=FOLDER1_NODEID, attr=entry_out.attr),
                uapi.FuseEntryBpfOut(
                    backing_action=uapi.FUSE_ACTION_REPLACE,
                    backing_fd=fd,
                    bpf_action=uapi.FUSE_ACTION_REMOVE,
                ),
            )
        if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None  # FORGET is never answered
        return simfs.Reply.error(errno.ENOSYS)


def setup(k: Kernel) -> None:
    k.lower.create_file(f"{LOWER}/folder1/file", contents="folder1's own file\n")
    k.lower.create_file(f"{LOWER}/folder2/file", contents="folder2's file\n")
    k.lower.create_file(f"{LOWER}/folder2/only-in-2", contents="2\n")


def mount(k: Kernel, target: str) -> Any:
    return k.mount_fuse(target, daemon=Rerooter(), root_dir=LOWER, root_bpf=reroot_lookup)


def workload(k: Kernel, target: str) -> dict[str, Any]:
    p = k.spawn()
    seen: dict[str, Any] = {}
    fd = p.open(f"{target}/folder1/file", os.O_RDONLY)
    seen["folder1/file"] = p.read(fd, 100)
    p.close(fd)
    seen["listing"] = sorted(p.listdir(f"{target}/folder1"))
    # a process whose cwd is folder1 pins its dentry: relative paths never walk the root
    seen["chdir"] = attempt(p.chdir, f"{target}/folder1")
    seen["stat only-in-2"] = attempt(lambda: p.stat("only-in-2").st_size)
    fd = p.open("file", os.O_RDONLY)
    seen["relative read"] = p.read(fd, 100)
    p.close(fd)
    return seen


def check(result: ScenarioResult) -> None:
    seen = result.seen
    assert seen["folder1/file"] == b"folder2's file\n"
    assert seen["listing"] == ["file", "only-in-2"]
    assert seen["stat only-in-2"] == 2
    assert seen["relative read"] == b"folder2's file\n"
    calls = requests_by_syscall(result.trace)
    asked = [[op for op in reqs if op != "FORGET"] for _, reqs in calls]
    # every path walk through /mnt/folder1 asks again: fuse-bpf dentries are not cached
    assert asked[0] == ["LOOKUP|POSTFILTER"], calls[0]  # open
    assert asked[3] == ["LOOKUP|POSTFILTER"], calls[3]  # listdir
    assert asked[4] == ["LOOKUP|POSTFILTER"], calls[4]  # chdir
    # ...but not once the cwd pins folder1: the relative calls are pure passthrough
    assert all(a == [] for a in asked[5:]), calls[5:]
    # folder1's program was removed: every BPF run was on the root (nodeid 1)
    nodeids = {e.get("nodeid") for e in result.trace.of("bpf")}
    assert nodeids == {1}, nodeids
