"""Hidden files: a BPF LOOKUP prefilter answers -ENOENT, and nothing else ever sees the name.

The program attached to the root inode (``root_bpf``) runs before every operation on a
backed inode.  For ``LOOKUP|PREFILTER`` it reads the name being looked up
(``in_args[0]``) and returns ``-ENOENT`` for the hidden names: the lookup fails in the
kernel before the lower filesystem is even asked.  Every path-based system call goes
through lookup, so ``stat``, ``open``, ``access``, ``chdir``, ``rename``, and even
``open(O_CREAT)`` and ``mkdir`` of the hidden name fail with ``ENOENT`` — not ``EEXIST``,
which would betray that something is there.

Lookup is not the only way to learn a name: ``getdents`` lists it.  So the program also
asks for a ``READDIR`` postfilter (``BACKING|POST_FILTER``) and, in the postfilter, removes
the hidden names from the page of entries the lower filesystem produced.

What to look for (``simfs run hidden_files``):

- ``BPF prefilter LOOKUP → -ENOENT`` nodes, with no backing lookup after them;
- ``BPF postfilter READDIR`` after the backing readdir;
- no daemon exists (``no_daemon``): 0 transitions, yet a policy was enforced;
- ``simfs compare hidden_files``: the bind mount shows the files, of course.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from simfs import Kernel, bpf, uapi
from simfs.scenarios import LOWER, ScenarioResult, attempt

TITLE = "Hidden files: BPF LOOKUP prefilter → -ENOENT"
ORDER = 30

HIDDEN = ("diary.txt", "vault")


@bpf.program("hide_names")
def hide_names(fa: bpf.FuseBpfArgs) -> int:
    """Hide :data:`HIDDEN` from lookup and from directory listings."""
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER:
        name = fa.in_args[0].value
        if name in HIDDEN:
            bpf.printk("hide_names: hid %s", name)
            return -errno.ENOENT
        return uapi.FUSE_BPF_BACKING
    if fa.opcode == uapi.FUSE_READDIR | uapi.FUSE_PREFILTER:
        return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
    if fa.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER:
        dirents = fa.out_args[1].value
        kept = [d for d in dirents if d.name not in HIDDEN]
        fa.out_args[1].value = kept  # the buffer's size follows the records
        return 0
    return uapi.FUSE_BPF_BACKING


def setup(k: Kernel) -> None:
    k.lower.create_file(f"{LOWER}/notes.txt", contents="shopping list\n")
    k.lower.create_file(f"{LOWER}/diary.txt", contents="dear diary\n")
    k.lower.create_file(f"{LOWER}/vault/gold.txt", contents="gold\n")
    k.lower.create_dir(f"{LOWER}/public")


def mount(k: Kernel, target: str) -> Any:
    return k.mount_fuse(
        target, root_dir=LOWER, root_bpf=hide_names, no_daemon=True, allow_other=True
    )


def workload(k: Kernel, target: str) -> dict[str, Any]:
    p = k.spawn(uid=1000, gid=1000)
    seen: dict[str, Any] = {}
    seen["listdir"] = sorted(p.listdir(target))
    seen["scandir"] = sorted(e.name for e in p.scandir(target))
    seen["notes"] = attempt(p.stat, f"{target}/notes.txt") is not None
    for name in HIDDEN:
        path = f"{target}/{name}"
        seen[f"stat {name}"] = attempt(p.stat, path)
        seen[f"open {name}"] = attempt(p.open, path, os.O_RDONLY)
        seen[f"access {name}"] = attempt(p.access, path, os.F_OK)
        seen[f"creat {name}"] = attempt(p.open, path, os.O_WRONLY | os.O_CREAT, 0o644)
        seen[f"mkdir {name}"] = attempt(p.mkdir, path)
        seen[f"rename onto {name}"] = attempt(p.rename, f"{target}/public", path)
    seen["chdir vault"] = attempt(p.chdir, f"{target}/vault")
    seen["stat vault/gold.txt"] = attempt(p.stat, f"{target}/vault/gold.txt")
    return seen


def check(result: ScenarioResult) -> None:
    seen = result.seen
    assert seen["notes"] is True
    for listing in ("listdir", "scandir"):
        assert seen[listing] == ["notes.txt", "public"], seen[listing]
    for key, value in seen.items():
        if key.startswith("access "):
            assert value is False, f"{key}: {value!r}"  # os.access answers, it does not raise
        elif key.split(" ")[-1] in HIDDEN or key.endswith("gold.txt") or key == "chdir vault":
            assert value == "ENOENT", f"{key}: {value!r} (must look like nothing is there)"
    # no syscall result anywhere in the trace mentions a hidden name
    for ev in result.trace.of("syscall"):
        shown = repr((ev.end or {}).get("result"))
        assert not any(name in shown for name in HIDDEN), (ev.data, shown)
    # the lower filesystem still has them: hidden, not deleted
    assert result.kernel.lower.exists(f"{LOWER}/diary.txt")
    assert result.kernel.lower.exists(f"{LOWER}/vault/gold.txt")
    # decided in BPF: no daemon, no transitions
    assert result.transitions == 0
    assert any(ev.get("ret") == -errno.ENOENT for ev in result.trace.of("bpf"))
