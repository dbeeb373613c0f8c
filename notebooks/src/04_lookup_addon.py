# %% [markdown]
# # The lookup add-on: who backs what, and with which program
#
# **What you will learn.** A FUSE-BPF inode gets its *backing* inode and its *program* at LOOKUP
# time. By default a child inherits its parent's program and is backed by the same name in the
# parent's backing directory. A LOOKUP reply can change that with the 32-byte add-on
# `fuse_entry_bpf_out`: for the backing and for the program, `KEEP`, `REMOVE` or `REPLACE` (with
# an fd the daemon opened). We look at
#
# 1. program inheritance,
# 2. `REMOVE` of the program from a daemon LOOKUP post-filter,
# 3. `REPLACE` of the backing: re-rooting a subtree,
# 4. nodeid 0: what the daemon sees for inodes it never named, and why no FORGET follows,
# 5. a classic LOOKUP reply that attaches a backing file, and revalidation of such entries.

# %%
import errno
import os

from rich.console import Console

import simfs
from simfs import bpf, render, uapi

console = Console(width=120, force_jupyter=True)


def inode_of(k: simfs.Kernel, path: str):  # the fuse inode behind a path (for inspection)
    return k.resolve(path).dentry.inode


def describe(k: simfs.Kernel, path: str) -> str:
    ino = inode_of(k, path)
    prog = getattr(ino, "bpf", None)
    backing = getattr(ino, "backing_inode", None)
    return (f"{path}: nodeid={ino.nodeid} program={getattr(prog, 'name', None)} "
            f"backed={f'yes (lower ino {backing.ino})' if backing is not None else 'no'}")

# %% [markdown]
# ## 1. Inheritance
# The root carries a program that prints every call. A file two levels down is looked up with the
# root's program, and inherits it: its own operations print too.

# %%
@bpf.program("chatty")
def chatty(fa: bpf.FuseBpfArgs) -> int:
    phase = "post" if fa.opcode & uapi.FUSE_POSTFILTER else "pre"
    bpf.printk("%s %s nodeid=%d", uapi.FuseOpcode(fa.opcode & uapi.FUSE_OPCODE_FILTER).name, phase, fa.nodeid)
    return uapi.FUSE_BPF_BACKING


k = simfs.Kernel()
k.lower.create_file("/data/folder1/file", contents=b"in folder1")
k.lower.create_file("/data/folder2/file", contents=b"in folder2")
root = k.spawn()
root.mkdir("/mnt")
mount = k.mount_fuse("/mnt", root_dir="/data", root_bpf=chatty, no_daemon=True)
fd = root.open("/mnt/folder1/file", os.O_RDONLY)
print(root.read(fd, 100))
print(describe(k, "/mnt/folder1/file"))
print("\n".join(k.trace_pipe.read()))
root.close(fd)

# %% [markdown]
# ## 2. REMOVE the program from a daemon post-filter
# Now the root program asks for a LOOKUP post-filter and sends it to the daemon (`USER_FILTER`).
# The daemon sees `LOOKUP|POSTFILTER` with the name, the `fuse_entry_out` the backing lookup filled
# in, and the add-on, all `KEEP`. It answers `bpf_action=REMOVE` for `folder1`: the directory stays
# backed but runs no program, so nothing below it ever reaches BPF or the daemon.

# %%
@bpf.program("ask_daemon_on_lookup")
def ask_daemon_on_lookup(fa: bpf.FuseBpfArgs) -> int:
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER:
        return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER:
        bpf.printk("lookup post %s error_in=%d", fa.in_args[0].value, fa.error_in)
        return uapi.FUSE_BPF_USER_FILTER
    return uapi.FUSE_BPF_BACKING


class Policy(simfs.Daemon):
    """LOOKUP post-filter: strip the program from folder1; re-root folder3 onto folder2."""

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER:
            name, entry, addon = req.args
            if name == "folder1":
                addon = uapi.FuseEntryBpfOut(bpf_action=uapi.FUSE_ACTION_REMOVE)
            elif name == "folder3":
                fd = self.proc.open("/data/folder2", os.O_RDONLY | os.O_DIRECTORY)
                addon = uapi.FuseEntryBpfOut(backing_action=uapi.FUSE_ACTION_REPLACE, backing_fd=fd,
                                             bpf_action=uapi.FUSE_ACTION_REMOVE)
            return simfs.Reply(entry, addon)
        if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None
        return simfs.Reply.error(errno.ENOSYS)


k = simfs.Kernel()
k.lower.create_file("/data/folder1/file", contents=b"in folder1")
k.lower.create_file("/data/folder2/file", contents=b"in folder2")
k.lower.create_dir("/data/folder3")
root = k.spawn()
root.mkdir("/mnt")
mount = k.mount_fuse("/mnt", daemon=Policy(), root_dir="/data", root_bpf=ask_daemon_on_lookup)
k.trace.clear()
fd = root.open("/mnt/folder1/file", os.O_RDONLY)
print(root.read(fd, 100))
root.close(fd)
console.print(render.requests_table(k.trace, title="what the daemon saw"))
print(describe(k, "/mnt/folder1"))
print(describe(k, "/mnt/folder1/file"))

# %% [markdown]
# Only `folder1` was asked about: `file`, below a directory without a program, was looked up, opened
# and read as pure passthrough.
#
# ## 3. REPLACE the backing: re-rooting a subtree
# For `folder3` the daemon opens `/data/folder2` and replies `backing_action=REPLACE` with that fd.
# `folder3` is now backed by the lower `folder2`: its children are found there.

# %%
k.trace.clear()
print(root.listdir("/mnt/folder3"))
fd = root.open("/mnt/folder3/file", os.O_RDONLY)
print(root.read(fd, 100))
root.close(fd)
print(describe(k, "/mnt/folder3"))

# %% [markdown]
# ## 4. nodeid 0
# Inodes made by a backing lookup have nodeid **0** unless a post-filter sets
# `fuse_entry_out.nodeid`: the daemon never named them. Filter requests about them carry nodeid 0
# (a daemon must key on names, not nodeids), they never use READDIRPLUS, and when they are evicted
# the kernel sends **no FORGET**, because the daemon holds no lookup count for them.

# %%
print("folder3's nodeid:", inode_of(k, "/mnt/folder3").nodeid)
print("FORGETs so far:", [e for e in k.trace.request_opcodes() if "FORGET" in e])

# %% [markdown]
# ## 5. A classic LOOKUP reply with the add-on, and revalidation
# Without `root_dir`, the root is classic FUSE: LOOKUP goes to the daemon. A daemon can still hand
# over a file to the kernel by appending the add-on to its `fuse_entry_out`: `backing_action` must be
# `REPLACE` (with a file it opened), and the program is only what the reply says (no inheritance on
# this path). After that, reads are served from the backing file with no traffic.

# %%
class Handover(simfs.Daemon):
    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == uapi.FUSE_LOOKUP and req.args[0] == "test":
            fd = self.proc.open("/data/backing", os.O_RDONLY)
            return simfs.Reply(uapi.FuseEntryOut(nodeid=2, attr=uapi.FuseAttr(mode=0o100644)),
                               uapi.FuseEntryBpfOut(backing_action=uapi.FUSE_ACTION_REPLACE, backing_fd=fd))
        if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None
        return simfs.Reply.error(errno.ENOENT if req.opcode == uapi.FUSE_LOOKUP else errno.ENOSYS)


k = simfs.Kernel()
k.lower.create_file("/data/backing", contents=b"data")
root = k.spawn()
root.mkdir("/mnt")
mount = k.mount_fuse("/mnt", daemon=Handover())
k.trace.clear()
for _ in range(3):
    fd = root.open("/mnt/test", os.O_RDONLY)
    print(root.read(fd, 4))
    root.close(fd)
console.print(render.requests_table(k.trace, title="classic root, backed child"))

# %% [markdown]
# The entry has no timeout, so every path walk revalidates it with the daemon. A revalidation reply
# that carries the add-on would *change* the backing, which the kernel refuses: the dentry is treated
# as invalid and looked up afresh. That is why each `open` above costs LOOKUPs, but no OPEN or READ
# ever reaches the daemon.
#
# ## Exercises
# 1. In part 2, have the daemon answer `-ENOENT` for `folder1`. What do `stat`, `listdir("/mnt")`
#    and `open` report? Is the name hidden from listings too?
# 2. Set `fuse_entry_out.nodeid = 7` in the post-filter reply for `folder1`. Which later requests carry
#    7, and when does a FORGET for nodeid 7 arrive?
# 3. Reply `bpf_action=REPLACE` with an fd from `self.proc.bpf_prog_load(chatty)` for a directory that
#    already has a different program. What errno does the lookup fail with, and why?
