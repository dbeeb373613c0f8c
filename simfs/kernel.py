"""The simulated machine: namespace, mount table, processes, clock and trace.

``Kernel`` is what users create first.  It boots with one filesystem, the tmpfs-like
lower filesystem over ``Kernel.lower`` (a pyfakefs store), mounted at ``/``; bind mounts
and FUSE mounts are added on top.  Every system call of every :class:`~simfs.Process`
enters through :meth:`Kernel.run_syscall`, which advances the virtual clock, sets
``current``, opens a ``syscall`` trace span and, on return, releases the dentries the
call looked up (``dput``), exactly where Linux would.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from simfs.clock import VirtualClock
from simfs.errors import UsageError
from simfs.lowerfs import LowerStore, LowerSuperBlock
from simfs.trace import Hooks, Trace, TracePipe
from simfs.vfs import dcache
from simfs.vfs.cred import Cred
from simfs.vfs.inode import Dentry, oserror
from simfs.vfs.mount import Mount, MountTable, Path

if TYPE_CHECKING:
    from simfs.daemon import Daemon
    from simfs.process import Process
    from simfs.vfs.locks import LockWait

T = TypeVar("T")

LOWER_DEV = 27  # st_dev of the root filesystem (a tmpfs's anonymous dev on this kind)


class Kernel:
    """A fresh, deterministic simulated machine.

    ``lower`` is the pyfakefs store of the root filesystem (use it for fixtures),
    ``trace`` records every event, ``trace_pipe`` collects BPF ``printk`` lines,
    ``clock`` is the virtual clock.
    """

    def __init__(self, *, tick_ns: int | None = None, disk_size: int = 1 << 30) -> None:
        self.clock = VirtualClock() if tick_ns is None else VirtualClock(tick_ns=tick_ns)
        self.hooks = Hooks()
        self.trace = Trace()
        self.hooks.add(self.trace)
        self.trace_pipe = TracePipe()
        self.lower = LowerStore(total_size=disk_size)
        self.mounts = MountTable()
        self._next_dev = 40  # anonymous devs for later superblocks (FUSE: 40+ as here)
        self.lower_sb = LowerSuperBlock(self, LOWER_DEV, self.lower)
        root_inode = self.lower_sb.iget(self.lower.root)
        root = Dentry(name="/", parent=None, sb=self.lower_sb)
        root.instantiate(root_inode)
        self.lower_sb.root = root
        self.root_mount = Mount(
            self.mounts.new_id(), self.lower_sb, root, None, None, "rootfs", "rootfs"
        )
        self.mounts.add(self.root_mount)
        self.processes: dict[int, Process] = {}
        self._next_pid = 100
        self.current: Process | None = None
        #: fs/locks.c ``blocked_hash``: tasks asleep in F_SETLKW (issue 17, simfs.vfs.locks)
        self.blocked_locks: list[LockWait] = []
        self._touched: list[Dentry] = []
        self._why: list[tuple[int, str]] = []
        self.fuse_mounts: dict[int, Any] = {}
        from simfs.vfs.pipe import PipeSuperBlock

        self.pipe_sb = PipeSuperBlock(self, 13)
        self._anon_root = Dentry(name="anon_inode:", parent=None, sb=self.pipe_sb)
        self._anon_mount = Mount(0, self.pipe_sb, self._anon_root, None, None, "anon", "anon")
        self._next_anon_ino = 1
        self.bpf_progs: dict[int, Any] = {}

    # --- plumbing used by the VFS ---------------------------------------------------
    @property
    def root_path(self) -> Path:
        return Path(self.root_mount, self.root_mount.root)

    def new_dev(self) -> int:
        dev = self._next_dev
        self._next_dev += 1
        return dev

    def next_anon_ino(self) -> int:
        ino = self._next_anon_ino
        self._next_anon_ino += 1
        return ino

    def anon_path(self, inode: Any, name: str = "anon") -> Path:
        """A path for an anonymous inode (pipes, bpf programs): not in any directory."""
        d = Dentry(name=f"{name}:[{inode.ino}]", parent=self._anon_root, sb=inode.sb)
        d.instantiate(inode)
        return Path(self._anon_mount, d)

    def touch_atime(self, path: Path) -> None:
        """``touch_atime`` for the path walk (following symlinks)."""
        from simfs.vfs.ops import touch_atime

        touch_atime(self, path)

    def touch(self, dentry: Dentry) -> None:
        """A walk referenced ``dentry``; it is released when the syscall returns."""
        self._touched.append(dentry)

    def note_released(self, dentry: Dentry) -> None:
        """An open file let go of ``dentry``: give ``d_delete`` a chance at syscall end."""
        self._touched.append(dentry)

    def explain(self, err: int, note: str) -> None:
        """Record why the running syscall may fail with ``err`` (a positive errno).

        The filter, daemon or reply that caused it says so here; if the syscall then
        leaves with an ``OSError`` of that errno, the note is attached to it (PEP 678
        ``add_note``), so the caller sees the reason the trace holds.
        """
        self._why.append((err, note))

    def current_cred(self) -> Cred:
        if self.current is None:
            return Cred()
        return self.current.cred

    def run_syscall(
        self, proc: Process, name: str, fn: Callable[[], T], args: tuple[Any, ...]
    ) -> T:
        """Enter the kernel on behalf of ``proc``: tick, trace, run, release dentries."""
        self.clock.tick()
        prev_current, prev_touched, prev_why = self.current, self._touched, self._why
        self.current = proc
        self._touched = []
        self._why = []
        try:
            with self.hooks.span("syscall", name=name, pid=proc.pid, args=_summarize(args)) as ev:
                result = fn()
                ev.end = {"result": _summarize_one(result)}
                return result
        except OSError as e:
            _attach_notes(e, self._why)
            raise
        finally:
            try:
                dcache.release(self._touched, self.mounts)
            finally:
                self.current, self._touched, self._why = prev_current, prev_touched, prev_why

    # --- processes --------------------------------------------------------------------
    def spawn(
        self,
        uid: int = 0,
        gid: int | None = None,
        groups: tuple[int, ...] | list[int] = (),
        umask: int = 0o022,
        cwd: str = "/",
    ) -> Process:
        """A new simulated process; root (uid 0) gets every capability, others none."""
        from simfs.process import Process

        if gid is None:
            gid = uid
        if not isinstance(uid, int) or not isinstance(gid, int) or uid < 0 or gid < 0:
            raise UsageError("Kernel.spawn: uid and gid must be non-negative integers")
        pid = self._next_pid
        self._next_pid += 1
        proc = Process(self, pid, Cred.for_ids(uid, gid, tuple(groups)), umask)
        self.processes[pid] = proc
        if cwd != "/":
            proc.chdir(cwd)
        return proc

    def _admin(self) -> Process:
        """A root process for kernel-initiated work (mount, umount)."""
        admin = self.processes.get(1)
        if admin is None:
            from simfs.process import Process

            admin = Process(self, 1, Cred(), 0o022)
            self.processes[1] = admin
        return admin

    # --- mounts -----------------------------------------------------------------------
    def resolve(self, path: str, *, follow: bool = True) -> Path:
        """Resolve ``path`` as root would (for mount/umount and tests)."""
        admin = self._admin()
        return admin.resolve(path, follow=follow)

    def mount_bind(self, source: str, target: str) -> Mount:
        """``mount --bind source target``: the same tree visible at a second place."""
        admin = self._admin()

        def do() -> Mount:
            src = admin.resolve(source, follow=True)
            tgt = admin.resolve(target, follow=True)
            src_dir = src.inode.is_dir
            if src_dir != tgt.inode.is_dir:
                # do_loopback -> graft_tree: a directory only over a directory
                raise oserror(errno.ENOTDIR)
            mnt = Mount(
                self.mounts.new_id(), src.mnt.sb, src.dentry, tgt.mnt, tgt.dentry, "bind", source
            )
            mnt.target = target
            src.dentry.pins += 1
            self.mounts.add(mnt)
            return mnt

        return self.run_syscall(admin, "mount", do, (source, target, "bind"))

    def mount_fuse(
        self,
        target: str,
        daemon: Daemon | None = None,
        *,
        root_dir: str | None = None,
        root_bpf: Any = None,
        no_daemon: bool = False,
        **options: Any,
    ) -> Any:
        """Mount a FUSE filesystem at ``target`` (see :func:`simfs.fuse.mount.mount_fuse`)."""
        from simfs.fuse.mount import mount_fuse

        return mount_fuse(
            self,
            target,
            daemon,
            root_dir=root_dir,
            root_bpf=root_bpf,
            no_daemon=no_daemon,
            **options,
        )

    def umount(self, target: str) -> None:
        """``umount target``: EINVAL if not a mount root, EBUSY while in use."""
        admin = self._admin()

        def do() -> None:
            path = admin.resolve(target, follow=True)
            mnt = path.mnt
            if path.dentry is not mnt.root or mnt.parent is None:
                raise oserror(errno.EINVAL)
            if mnt.busy_refs > 0 or self.mounts.children(mnt):
                raise oserror(errno.EBUSY)
            self.mounts.remove(mnt)
            if mnt.kind == "bind":
                mnt.root.pins -= 1
            hook = getattr(mnt.data, "on_umount", None)
            if hook is not None:
                hook()

        self.run_syscall(admin, "umount", do, (target,))


def _attach_notes(e: OSError, why: list[tuple[int, str]]) -> None:
    """Add the recorded reasons for ``e.errno`` to ``e`` (each once)."""
    have = set(getattr(e, "__notes__", ()))
    for err, note in why:
        if err == e.errno and note not in have:
            e.add_note(note)
            have.add(note)


def _summarize_one(v: Any) -> Any:
    if isinstance(v, bytes) and len(v) > 32:
        return v[:32] + b"..."
    if isinstance(v, str | int | bytes | float | bool) or v is None:
        return v
    if isinstance(v, os.stat_result):
        return f"stat(mode={v.st_mode:o}, ino={v.st_ino}, size={v.st_size}, nlink={v.st_nlink})"
    if isinstance(v, list | tuple):
        if len(v) > 8:
            return f"[{len(v)} items]"
        return [_summarize_one(x) for x in v]
    name = getattr(v, "name", None)
    if isinstance(name, str):
        return name
    return type(v).__name__


def _summarize(args: tuple[Any, ...]) -> list[Any]:
    return [_summarize_one(a) for a in args]
