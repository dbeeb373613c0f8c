# %% [markdown]
# # Anatomy of an operation: the FUSE-BPF state machine
#
# **What you will learn.** Every operation on a backed FUSE inode runs through *one* state
# machine in the kernel (ACK's `fuse_bpf_backing`):
#
# `initialize → BPF pre-filter → daemon pre-filter → backing op → BPF post-filter → daemon post-filter → finalize`
#
# An opcode only supplies three functions: how to build its arguments (*initialize*), what to do
# on the lower filesystem (*backing*) and how to commit the result (*finalize*). Below, the list
# of opcodes and their three functions is read from the simulator's engine itself
# (`simfs.fuse.backing.SPECS`), so it cannot drift from what runs. Then we trace LOOKUP, OPEN and
# a READDIR whose page goes through a daemon post-filter, step by step.

# %%
import errno
import os

import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table

import simfs
from simfs import bpf, diagram, render, uapi
from simfs.fuse import backing

console = Console(width=120, force_jupyter=True)

# %% [markdown]
# ## The machine's steps
# The return value of the BPF pre-filter decides the route. Its bits: `USER_FILTER` (1) asks the
# daemon, `BACKING` (2) runs the lower operation, `POST_FILTER` (4) runs the program again after
# it. A negative value fails the operation with that errno; 0 hands the operation to the daemon
# as classic FUSE.

# %%
steps = ["initialize", "BPF\npre-filter", "daemon\npre-filter", "backing op", "BPF\npost-filter",
         "daemon\npost-filter", "finalize"]
bits = ["", "", "if USER_FILTER", "if BACKING", "if POST_FILTER", "if USER_FILTER", ""]
fig, ax = plt.subplots(figsize=(12, 3.2))
for i, (s, bit) in enumerate(zip(steps, bits, strict=True)):
    x = i * 1.8
    ax.add_patch(plt.Rectangle((x, 0), 1.4, 1, facecolor="#dce6f2", edgecolor="#5b6b80"))
    ax.text(x + 0.7, 0.5, s, ha="center", va="center", fontsize=10)
    if bit:
        ax.text(x + 0.7, 1.15, bit, ha="center", va="bottom", fontsize=9, color="#555555")
    if i:
        ax.annotate("", xy=(x, 0.5), xytext=(x - 0.4, 0.5), arrowprops={"arrowstyle": "->"})
pre = 1.8 + 0.7  # below the BPF pre-filter box: the two other routes it can choose
ax.annotate("returns 0: a classic FUSE request to the daemon instead", xy=(pre + 0.3, 0), xytext=(3.0, -0.45),
            fontsize=9, ha="left", va="center", arrowprops={"arrowstyle": "->", "color": "#1d7a3a"}, color="#1d7a3a")
ax.annotate("returns < 0: the operation fails with that errno", xy=(pre - 0.3, 0), xytext=(-0.1, -0.85),
            fontsize=9, ha="left", va="center", arrowprops={"arrowstyle": "->", "color": "#b00020"}, color="#b00020")
ax.set_xlim(-0.2, len(steps) * 1.8 - 0.2)
ax.set_ylim(-1.1, 1.6)
ax.axis("off")
plt.show()

# %% [markdown]
# ## Every opcode is a spec
# Generated from `simfs.fuse.backing.SPECS`: the opcode, and the three functions the machine calls
# for it, with the first line of each function's own documentation.

# %%
def first_line(fn: object) -> str:
    doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else ""


table = Table(title=f"{len(backing.SPECS)} opcodes, one machine", show_lines=False)
for col in ("opcode", "initialize", "backing", "finalize"):
    table.add_column(col, overflow="fold")
for name, spec in backing.SPECS.items():
    table.add_row(name, spec.initialize.__name__, spec.backing.__name__, spec.finalize.__name__)
console.print(table)

# %% [markdown]
# ## A program that shows its decisions
# `simfs.bpf.program` turns a Python function into a FUSE BPF program. This one lets everything
# through to the backing filesystem, asks for a post-filter on READDIR, and prints a line for each
# call into the kernel's trace pipe, like `bpf_trace_printk`.

# %%
@bpf.program("teach")
def teach(fa: bpf.FuseBpfArgs) -> int:
    op = fa.opcode & uapi.FUSE_OPCODE_FILTER
    phase = "post" if fa.opcode & uapi.FUSE_POSTFILTER else "pre"
    bpf.printk("%s %s nodeid=%d", uapi.FuseOpcode(op).name, phase, fa.nodeid)
    if fa.opcode == uapi.FUSE_READDIR | uapi.FUSE_PREFILTER:
        return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
    if fa.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER:
        return uapi.FUSE_BPF_USER_FILTER
    return uapi.FUSE_BPF_BACKING


class Redactor(simfs.Daemon):
    """Answers READDIR post-filters by dropping hidden names (but not '.' and '..')."""

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER:
            _read_in, read_out, dirents = req.args
            kept = [d for d in dirents if d.name in (".", "..") or not d.name.startswith(".")]
            return simfs.Reply(read_out, kept)
        if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None
        return simfs.Reply.error(errno.ENOSYS)


k = simfs.Kernel()
for name in ("a.txt", "b.txt", ".secret"):
    k.lower.create_file(f"/data/{name}", contents=name)
root = k.spawn()
root.mkdir("/mnt")
mount = k.mount_fuse("/mnt", daemon=Redactor(), root_dir="/data", root_bpf=teach)

# %% [markdown]
# ## LOOKUP and OPEN
# `open("/mnt/a.txt")` walks the path: the root's program runs as a LOOKUP pre-filter for `a.txt`
# (the child inherits the program), then OPEN runs on the child. Both go to the backing
# filesystem; the daemon is never asked.

# %%
k.trace.clear()
fd = root.open("/mnt/a.txt", os.O_RDONLY)
print("trace_pipe:", k.trace_pipe.read())
k.trace  # a trace displays itself as the tree (k.trace[a:b] shows a part)

# %% [markdown]
# The same system call as a sequence diagram: one lane each for the process, the VFS, the BPF
# program, the daemon and the lower filesystem, with the decoded return at each step
# (`simfs.diagram.mermaid` gives the same as Mermaid text, and `simfs run NAME --view diagram`
# prints it for a scenario).

# %%
diagram.figure(k.trace, title="open('/mnt/a.txt', O_RDONLY) on a backed inode")

# %% [markdown]
# ## READDIR with a daemon post-filter
# The backing op reads a page of entries from the lower directory; the post-filter returns
# `USER_FILTER`, so the page is sent to the daemon as `READDIR|POSTFILTER`, and the daemon's
# answer is what the caller sees. A last pass with no entries ends the listing.

# %%
k.trace.clear()
names = root.listdir("/mnt")
console.print(render.tree(k.trace))
print("listing:", sorted(names))
console.print(render.requests_table(k.trace))

# %% [markdown]
# The hidden name is only hidden from listings: LOOKUP never asks the daemon, so `stat` still
# finds it. Hiding a name for good needs a LOOKUP filter (see the next notebooks).

# %%
print(root.stat("/mnt/.secret").st_size)

# %% [markdown]
# ## Exercises
# 1. Make the program return `-errno.EACCES` for `OPEN` pre-filters of nodeids other than the
#    root. What does `open` return, and does the daemon see anything?
# 2. Return `0` (classic FUSE) for `GETATTR` pre-filters. What request does the daemon get for a
#    `stat`, and with which nodeid? (Hint: backing-created inodes have nodeid 0.)
# 3. Count with `render.counters_table(k.trace)` how many BPF runs one `listdir` of 1,000 entries
#    needs, and explain the number from the page size.
