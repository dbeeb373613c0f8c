# %% [markdown]
# # Mainline passthrough vs fuse-bpf
#
# **What you will learn.** FUSE-BPF never reached mainline Linux; what did (6.9+) is **FUSE
# passthrough**: the daemon registers a file it has open (`FUSE_DEV_IOC_BACKING_OPEN`), answers
# OPEN with `FOPEN_PASSTHROUGH` and the id it got, and the kernel then serves read, write,
# splice and mmap of that open file from the backing file. We run the *same* workload on
#
# 1. **classic FUSE** (the shipped `Passthrough` daemon, like libfuse's `passthrough_ll`),
# 2. **mainline passthrough** (`variant="upstream"`, `Passthrough(..., passthrough=True)`,
#    like libfuse's `passthrough_hp` on Linux 6.9+), and
# 3. **FUSE-BPF passthrough** (Android: `root_dir` backs the root, no program),
#
# and look at who serves each operation, what it costs, and where the two stacked designs
# give *different results*, not just different costs. Mainline's rules were checked against
# this project's real Linux 6.18 through the live bridge (`tests/live`).

# %%
import os

from rich.console import Console
from rich.table import Table

import simfs
from simfs.daemons import Passthrough
from simfs.scenarios import attempt, requests_by_syscall

console = Console(width=110, force_jupyter=True)

# %% [markdown]
# ## One workload, three mounts

# %%
BIG = 256 * 1024


def make_kernel() -> simfs.Kernel:
    k = simfs.Kernel()
    k.lower.create_file("/data/hello.txt", contents=b"hello, world\n")
    k.lower.create_file("/data/big.bin", contents=b"\xab" * BIG)
    k.spawn().mkdir("/mnt")
    return k


MOUNTS = {
    "classic": lambda k: k.mount_fuse("/mnt", daemon=Passthrough("/data"), variant="upstream"),
    "mainline passthrough": lambda k: k.mount_fuse(
        "/mnt", daemon=Passthrough("/data", passthrough=True), variant="upstream"
    ),
    "fuse-bpf": lambda k: k.mount_fuse("/mnt", daemon=Passthrough("/data"), root_dir="/data"),
}


def workload(p: simfs.Process) -> None:
    p.stat("/mnt/hello.txt")
    fd = p.open("/mnt/big.bin", os.O_RDWR)
    p.read(fd, BIG)
    p.pwrite(fd, b"\xcd" * 4096, 0)
    p.close(fd)
    p.listdir("/mnt")
    fd = p.open("/mnt/new.txt", os.O_WRONLY | os.O_CREAT, 0o644)
    p.write(fd, b"fresh")
    p.close(fd)
    p.unlink("/mnt/new.txt")


runs = {}
for name, mount in MOUNTS.items():
    k = make_kernel()
    mount(k)
    k.trace.clear()
    workload(k.spawn())
    runs[name] = k

# %% [markdown]
# ## Who serves each system call
# Each cell lists the daemon requests one system call caused (`·` = none: served in the
# kernel). Mainline passthrough removes READ and WRITE and nothing else: lookups, attributes,
# open/flush/release and directory operations still go to the daemon. FUSE-BPF serves them
# all from the backing inodes.

# %%
table = Table("syscall", *runs, title="daemon requests per system call")
per = {name: requests_by_syscall(k.trace) for name, k in runs.items()}
for i, (call, _) in enumerate(per["classic"]):
    table.add_row(call, *(" ".join(per[n][i][1]) or "·" for n in runs))
console.print(table)

# %%
costs = Table("mount", "transitions", "requests", "READ", "WRITE")
for name, k in runs.items():
    ops = k.trace.request_opcodes()
    costs.add_row(
        name, str(k.trace.transitions), str(len(ops)), str(ops.count("READ")), str(ops.count("WRITE"))
    )
console.print(costs)

# %% [markdown]
# ## Transitions: the backing-id lifecycle
# The daemon's own system calls show the ioctls: `passthrough_hp` registers one backing id at
# the first open of an inode and closes it at the last release.

# %%
k = runs["mainline passthrough"]
print([e.data["name"] for e in k.trace.of("syscall") if "BACKING" in str(e.data.get("name"))])

# %% [markdown]
# ## Where the results differ
# **Attributes.** fuse-bpf backs GETATTR, so a change made on the lower filesystem behind the
# mount's back is visible at once. Mainline passthrough only passes file *data* through; the
# attributes are the daemon's replies, cached for `attr_timeout` (here 1 s): the size a `stat`
# reports stays stale until the timeout.

# %%
for name in ("mainline passthrough", "fuse-bpf"):
    k = make_kernel()
    MOUNTS[name](k)
    p = k.spawn()
    before = p.stat("/mnt/hello.txt").st_size
    k.lower.get_object("/data/hello.txt").set_contents(b"a longer greeting, written below\n")
    after = p.stat("/mnt/hello.txt").st_size
    print(f"{name:22} size before {before}, after a lower-side change {after}")

# %% [markdown]
# **Open modes.** Mainline's rules are per open file, and a daemon that breaks one makes the
# user's `open(2)` fail with EIO (``fs/fuse/iomode.c``: "using incorrect open mode is a server
# mistake"). A daemon that registers a *second* backing file for an inode that is already open
# in passthrough mode (libfuse issue #1125) is the classic example; fuse-bpf has no such rule,
# since the kernel itself picks the backing file at lookup.

# %%
class TwoBackings(Passthrough):
    def _open_out(self, nodeid, fd):
        bid = self.backing_open(fd)  # a new id for every open: wrong
        return simfs.uapi.FuseOpenOut(fh=fd, open_flags=simfs.uapi.FOPEN_PASSTHROUGH, backing_id=bid)


k = make_kernel()
k.mount_fuse("/mnt", daemon=TwoBackings("/data", passthrough=True), variant="upstream")
p = k.spawn()
first = p.open("/mnt/hello.txt", os.O_RDONLY)
print("second open:", attempt(p.open, "/mnt/hello.txt", os.O_RDONLY))
print("the first still reads:", p.read(first, 5))

# %% [markdown]
# **Privilege.** `FUSE_DEV_IOC_BACKING_OPEN` needs CAP_SYS_ADMIN; without it the ioctl fails
# EPERM and `passthrough_hp` (like our daemon) silently serves READ itself: same results, the
# classic cost.

# %%
from simfs.vfs.cred import CAP_SYS_ADMIN

k = make_kernel()
d = Passthrough("/data", passthrough=True)
k.mount_fuse("/mnt", daemon=d, variant="upstream")
d.proc.cred = d.proc.cred.without(CAP_SYS_ADMIN)
k.trace.clear()
p = k.spawn()
fd = p.open("/mnt/big.bin", os.O_RDONLY)
p.read(fd, 4096)
p.close(fd)
print(k.trace.request_opcodes())

# %% [markdown]
# ## Exercises
#
# 1. Give the mainline daemon `cache="never"` (`FOPEN_DIRECT_IO`). Which requests come back,
#    and why does the kernel still accept `FOPEN_PASSTHROUGH`? (Hint: `fuse_file_read_iter`,
#    and what mmap does.)
# 2. Make the daemon answer the first open of an inode without passthrough and the second with
#    it. What does the second `open(2)` return, and which rule of `iomode.c` says so?
# 3. Mount the mainline daemon's source *on another passthrough FUSE mount* with
#    `max_stack_depth=1`, then 2. Which one can register backing files (`ELOOP`)?
# 4. Run `python3 -m simfs serve /some/dir /some/mnt --passthrough --trace --run "cat
#    /some/mnt/file"` as root on a 6.9+ kernel and compare its requests with this notebook's.
