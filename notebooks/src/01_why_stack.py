# %% [markdown]
# # Why stack? One workload, three mounts
#
# **What you will learn.** FUSE lets a userspace daemon implement a filesystem, at the cost of a
# user↔kernel round trip for most operations. FUSE-BPF gives each FUSE inode a *backing* inode
# on a lower filesystem so the kernel can serve operations itself, and only ask the daemon when
# a filter says so. Here we run the *same* workload on
#
# 1. a **bind mount** of a lower directory (the reference: no FUSE at all),
# 2. **classic FUSE** with a passthrough daemon (like libfuse's `passthrough_ll`), and
# 3. **FUSE-BPF passthrough** (`root_dir` backs the root, no program, so every operation is
#    served from the lower filesystem),
#
# and count what each costs: user↔kernel transitions, daemon requests, backing operations.
# Everything below is the simulator's real output; nothing is drawn by hand.

# %%
import os

import matplotlib.pyplot as plt
from rich.console import Console

import simfs
from simfs import render
from simfs.daemons import Passthrough

console = Console(width=110, force_jupyter=True)

# %% [markdown]
# ## The workload
# A few files and a directory of 50 entries in `/data`; the workload stats, reads, lists, creates
# and removes through whatever is mounted at `/mnt`.

# %%
def make_kernel() -> simfs.Kernel:
    k = simfs.Kernel()
    k.lower.create_file("/data/hello.txt", contents=b"hello, world\n")
    for i in range(50):
        k.lower.create_file(f"/data/dir/f{i:02d}", contents=b"x" * i)
    k.spawn().mkdir("/mnt")
    return k


def workload(p: simfs.Process) -> dict[str, object]:
    seen: dict[str, object] = {}
    seen["size"] = p.stat("/mnt/hello.txt").st_size
    fd = p.open("/mnt/hello.txt", os.O_RDONLY)
    seen["data"] = p.read(fd, 100)
    p.close(fd)
    seen["entries"] = len(p.listdir("/mnt/dir"))
    fd = p.open("/mnt/new.txt", os.O_CREAT | os.O_WRONLY, 0o644)
    p.write(fd, b"new")
    p.close(fd)
    p.unlink("/mnt/new.txt")
    return seen


MOUNTS = {
    "bind mount": lambda k: k.mount_bind("/data", "/mnt"),
    "classic FUSE": lambda k: k.mount_fuse("/mnt", daemon=Passthrough("/data")),
    "FUSE-BPF": lambda k: k.mount_fuse("/mnt", root_dir="/data", no_daemon=True),
}

results = {}
for label, mount in MOUNTS.items():
    k = make_kernel()
    mount(k)
    k.trace.clear()
    seen = workload(k.spawn())
    results[label] = k.trace
    print(f"{label:14} {seen}")

# %% [markdown]
# All three agree on what the workload *saw*. What it *cost* differs:

# %%
console.print(render.compare(results, title="The same workload on three mounts"))

# %% [markdown]
# The bind mount and FUSE-BPF passthrough need **zero** transitions: no request ever reaches
# userspace. Classic FUSE pays a round trip (two transitions) per request, plus the system calls
# the daemon itself makes to serve them.

# %%
labels = list(results)
m = [render.metrics(results[label]) for label in labels]
fig, ax = plt.subplots(figsize=(7, 3))
x = range(len(labels))
ax.bar([i - 0.2 for i in x], [v.transitions for v in m], width=0.4, label="user↔kernel transitions")
ax.bar([i + 0.2 for i in x], [v.backing_ops for v in m], width=0.4, label="backing operations")
ax.set_xticks(list(x), labels)
ax.set_ylabel("count")
ax.set_title("Cost of one workload")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Where did the classic requests go?
# The request table lists every message the daemon read, in order, with the node it was about.

# %%
console.print(render.requests_table(results["classic FUSE"], title="classic FUSE: daemon requests"))

# %% [markdown]
# ## And in FUSE-BPF?
# The trace tree shows each system call, the FUSE operation it became, and that the operation
# was routed to the backing filesystem (`route=bpf`) with no daemon in sight.

# %%
k = make_kernel()
mount = k.mount_fuse("/mnt", root_dir="/data", no_daemon=True)
k.trace.clear()
k.spawn().stat("/mnt/hello.txt")
console.print(render.tree(k.trace))

# %% [markdown]
# ## Exercises
# 1. Give the classic daemon long cache timeouts (`Passthrough("/data", entry_timeout=86400,
#    attr_timeout=86400)`) and run the workload twice. Which requests disappear the second time?
# 2. Add `p.listdir("/mnt/dir")` twice to the workload. How many READDIR/READDIRPLUS requests does
#    classic FUSE send for 50 entries, and why does the second listing differ from the first?
# 3. Mount FUSE-BPF with a daemon (`daemon=Passthrough("/data")`) but still with `root_dir`.
#    Does the daemon see anything besides `INIT`?
