"""Mounting and unmounting a FUSE filesystem (``fs/fuse/inode.c``: ``fuse_parse_param``,
``fuse_fill_super``/``fuse_fill_super_common``, ``fuse_get_root_inode``,
``fuse_kill_sb_anon``/``fuse_conn_destroy``; ACK's ``root_dir``/``root_bpf``/``no_daemon``).

:func:`mount_fuse` is what ``Kernel.mount_fuse`` runs.  It builds the connection
(:class:`simfs.fuse.dev.FuseConn`), the superblock and the root inode (nodeid 1, attributes
from ``rootmode`` only, nlink 1, attributes already stale so the first permission check or
stat sends GETATTR), gives the daemon a process, sends INIT and registers the mount.

Unmounting follows ``fuse_conn_destroy``: DESTROY is sent only when ``fc->destroy`` is set,
which Linux does for ``fuseblk`` and virtiofs, never for a ``/dev/fuse`` mount; the inodes
are evicted with the superblock already inactive, so no FORGET is sent
(``fuse_evict_inode`` tests ``SB_ACTIVE``); then the connection is aborted, which is what
makes a real daemon's next ``read(2)`` fail with ENODEV and exit.  Requests queued before
the unmount (RELEASE, FORGET) are read by the daemon first, as its reader thread would
have done already.
"""

from __future__ import annotations

import errno
import inspect
import stat as st
from typing import TYPE_CHECKING, Any

from simfs import uapi
from simfs.daemon import Daemon
from simfs.errors import UsageError
from simfs.fuse.dev import CallerIds, FuseArgs, FuseConn
from simfs.fuse.inode import FuseDentry, FuseInode, FuseSuperBlock, attr_from_root
from simfs.fuse.passthrough import FuseDevice, fuse_backing_files_free
from simfs.vfs import dcache
from simfs.vfs.inode import Dentry, oserror
from simfs.vfs.mount import Mount, Path

if TYPE_CHECKING:
    from simfs.kernel import Kernel
    from simfs.process import Process
    from simfs.vfs.cred import Cred

__all__ = ["VALID_OPTIONS", "FuseMount", "mount_fuse"]

#: Mount options (``fuse_parse_param`` + simfs modelling switches) and their defaults.
VALID_OPTIONS: dict[str, Any] = {
    "default_permissions": False,
    "allow_other": False,
    "user_id": 0,
    "group_id": 0,
    "rootmode": st.S_IFDIR | 0o755,
    "max_read": None,
    # simfs switches (not Linux mount options):
    # "ack" | "rfc_v2" | "upstream" (mainline 6.18: 7.45 INIT, FUSE passthrough with
    # backing ids and inode io modes -- simfs.fuse.passthrough, simfs.fuse.iomode)
    "variant": "ack",
    "quirks": True,  # spec §3.6 finalize quirks modelled literally (fuse-bpf)
    "android_canonical_path": None,  # default: True for "ack"
    "readdir_bufsize": None,  # default: PAGE_SIZE (ACK fuse_readdir_uncached)
    "mounter": None,  # the Process whose fd table resolves an int root_bpf
    "source": "fuse",
    # issue 17: the seed's TODO (ACK fuse_file_flock: "simply passthrough") applied to POSIX
    # locks: F_GETLK/F_SETLK on a file with a backing file lock the backing file.  ACK's
    # fuse_file_lock has no backing branch (False: the classic GETLK/SETLK or local path).
    "posix_locks_on_backing": False,
    # issue 17: the RFC v2 cover letter's TODO "backing operations with the daemon's
    # credentials": the backing phase of every fuse-bpf operation runs with the mounter's
    # credentials (override_creds/revert_creds, as overlayfs does), not the caller's.
    "override_creds": False,
}


class FuseMount:
    """A mounted FUSE filesystem (``struct fuse_mount`` + its ``fuse_conn``).

    Public attributes: ``kernel``, ``sb``, ``mnt`` (the VFS mount), ``conn``, ``daemon``,
    ``root`` (the root :class:`FuseInode`), and the options (``root_dir``, ``root_bpf``,
    ``no_daemon``, ``default_permissions``, ``allow_other``, ``user_id``, ``group_id``,
    ``rootmode``, ``variant``, ``quirks``, ``android_canonical_path``, ``readdir_bufsize``,
    ``posix_locks_on_backing``, ``override_creds``).
    """

    def __init__(
        self, kernel: Kernel, daemon: Daemon | None, no_daemon: bool, opts: dict[str, Any]
    ) -> None:
        self.kernel = kernel
        self.daemon = daemon
        self.no_daemon = no_daemon
        self.default_permissions: bool = bool(opts["default_permissions"])
        self.allow_other: bool = bool(opts["allow_other"])
        self.user_id: int = int(opts["user_id"])
        self.group_id: int = int(opts["group_id"])
        self.rootmode: int = int(opts["rootmode"])
        self.variant: str = str(opts["variant"])
        self.quirks: bool = bool(opts["quirks"])
        acp = opts["android_canonical_path"]
        self.android_canonical_path: bool = self.variant == "ack" if acp is None else bool(acp)
        self.posix_locks_on_backing: bool = bool(opts["posix_locks_on_backing"])
        self.override_creds: bool = bool(opts["override_creds"])
        #: the mounter's credentials, taken at mount time (``fc->cred`` style)
        self.mounter_cred: Cred | None = None
        rb = opts["readdir_bufsize"]
        self.readdir_bufsize: int = uapi.PAGE_SIZE if rb is None else int(rb)
        self.root_dir: str | None = None
        self.root_bpf: Any = None
        self.conn = FuseConn(
            kernel.hooks, daemon, no_daemon=no_daemon, clock=kernel.clock, explain=kernel.explain
        )
        if opts["max_read"] is not None:
            self.conn.max_read = max(4096, int(opts["max_read"]))  # fuse_fill_super_common
        self.sb = FuseSuperBlock(kernel, kernel.new_dev(), self)
        self.mnt: Mount | None = None
        self._attr_version = 0
        self.root = FuseInode(self.sb, uapi.FUSE_ROOT_ID, 0, attr_from_root(self.rootmode))
        self.sb.icache[uapi.FUSE_ROOT_ID] = self.root
        self.root.nlookup = 1
        # fuse_iget(..., attr_valid 0): attributes stale from the start
        self.root.change_attributes(attr_from_root(self.rootmode), 0, 0)
        self.mounted = False

    def __repr__(self) -> str:
        target = self.mnt.target if self.mnt is not None else "?"
        return f"<FuseMount {target!r} state={self.conn.state.value}>"

    # -- requests ---------------------------------------------------------------------
    def caller(self) -> Any:
        cur = self.kernel.current
        return cur if cur is not None else CallerIds()

    def request(self, args: FuseArgs) -> list[uapi.WireValue]:
        """``fuse_simple_request`` on behalf of the current task; raises ``OSError``."""
        return self.conn.request(args, self.caller())

    def request_async(self, args: FuseArgs) -> int:
        """``fuse_simple_background`` / ``fuse_queue_forget``; returns 0 or -errno."""
        return self.conn.request_async(args, self.caller())

    def queue_forget(self, nodeid: int, nlookup: int) -> None:
        """``fuse_queue_forget``."""
        if nodeid == 0 or nlookup == 0:
            return
        self.conn.request_async(
            FuseArgs(
                opcode=uapi.FUSE_FORGET,
                nodeid=nodeid,
                in_args=[uapi.FuseForgetIn(nlookup=nlookup)],
                noreply=True,
            )
        )

    def next_attr_version(self) -> int:
        """``atomic64_inc_return(&fc->attr_version)``."""
        self._attr_version += 1
        return self._attr_version

    def get_attr_version(self) -> int:
        """``fuse_get_attr_version``."""
        return self._attr_version

    def allow_current_process(self) -> bool:
        """``fuse_allow_current_process``: with ``allow_other`` anyone (in the init user
        namespace); otherwise only tasks whose uid/gid equal ``user_id``/``group_id``
        (``allow_sys_admin_access`` is off by default)."""
        if self.allow_other:
            return True
        cred = self.kernel.current_cred()
        return cred.uid == self.user_id and cred.gid == self.group_id

    # -- unmount ------------------------------------------------------------------------
    def on_umount(self) -> None:
        """``fuse_kill_sb_anon`` -> ``fuse_sb_destroy`` -> ``fuse_conn_destroy``."""
        if not self.mounted:
            return
        self.mounted = False
        conn = self.conn
        if conn.reads:
            conn.drain()  # the daemon's reader had already consumed what was queued
        # generic_shutdown_super: SB_ACTIVE is cleared before the inodes are evicted
        self.sb.active = False
        if self.sb.root is not None:
            self.sb.root.pins = 0
            dcache.shrink_sb(self.sb, self.sb.root)
        self.sb.icache.clear()
        # fuse_conn_destroy: no DESTROY (fc->destroy is only set for fuseblk), then abort
        conn.abort()
        fuse_backing_files_free(self.kernel, conn)  # fuse_conn_put -> fuse_backing_files_free
        self.kernel.fuse_mounts.pop(self.mnt.mnt_id if self.mnt is not None else -1, None)

    def abort(self) -> None:
        """``/sys/fs/fuse/connections/N/abort``: later operations fail ENOTCONN."""
        self.conn.abort()


def _resolve_bpf(prog: Any, mounter: Process) -> Any:
    if prog is None:
        return None
    if getattr(prog, "is_fuse_bpf_prog", False):
        from simfs.bpf import Program, _verify

        if isinstance(prog, Program):
            try:
                _verify(prog)  # what bpf_prog_load would refuse, refused at mount time
            except OSError as e:
                why = "; ".join(getattr(e, "__notes__", ())) or "the verifier refused it"
                raise UsageError(f"mount_fuse: root_bpf {prog.name!r}: {why}") from None
        return prog
    if isinstance(prog, int) and not isinstance(prog, bool):
        file = mounter.fdtable.get(prog)  # EBADF for a bad descriptor
        obj = file.private
        if not getattr(obj, "is_fuse_bpf_prog", False):
            obj = getattr(obj, "prog", obj)
        if not getattr(obj, "is_fuse_bpf_prog", False):
            # ACK fuse_parse_param: "Unable to open bpf program"
            raise oserror(errno.EINVAL)
        return obj
    raise UsageError(
        f"mount_fuse: root_bpf must be a FUSE BPF program (simfs.bpf.program) or a "
        f"descriptor from Process.bpf_prog_load, not {type(prog).__name__}"
    )


def mount_fuse(
    k: Kernel,
    target: str,
    daemon: Daemon | None,
    *,
    root_dir: str | None = None,
    root_bpf: Any = None,
    no_daemon: bool = False,
    **options: Any,
) -> FuseMount:
    """Mount FUSE at ``target`` (an existing directory) and return the :class:`FuseMount`.

    ``daemon`` serves requests (``None``: the device is held but nobody reads it);
    ``no_daemon=True`` is fuse-bpf's daemon-less mount (INIT never sent).  ``root_dir`` is
    a path resolved by the mounting process, ``root_bpf`` a program or a descriptor of the
    mounter (option ``mounter=``, default the kernel's root task).  Options: see
    :data:`VALID_OPTIONS`.  Raises ``OSError`` as mount(2) would (ENOENT, ENOTDIR) and
    :class:`~simfs.errors.UsageError` for misuse.
    """
    unknown = sorted(set(options) - set(VALID_OPTIONS))
    if unknown:
        raise UsageError(
            f"mount_fuse: unknown option(s) {', '.join(unknown)}; valid options are "
            f"{', '.join(sorted(VALID_OPTIONS))} (entry_timeout/attr_timeout belong to the "
            "daemon's replies, e.g. Passthrough(source, entry_timeout=...))"
        )
    if no_daemon and daemon is not None:
        raise UsageError("mount_fuse: pass either daemon=... or no_daemon=True, not both")
    if daemon is not None and not isinstance(daemon, Daemon):
        raise UsageError(
            f"mount_fuse: daemon must be an instance of a simfs.Daemon subclass (define "
            f"handle(self, req) -> simfs.Reply), not {type(daemon).__name__}; use "
            "simfs.daemons.Passthrough(source) for a ready-made one"
        )
    if daemon is not None:
        try:
            inspect.signature(daemon.handle).bind(None)
        except (TypeError, ValueError):
            raise UsageError(
                f"mount_fuse: {type(daemon).__name__}.handle must take one argument, the "
                "simfs.Request: def handle(self, req) -> simfs.Reply"
            ) from None
    opts = dict(VALID_OPTIONS)
    opts.update(options)
    if opts["variant"] not in ("ack", "rfc_v2", "upstream"):
        raise UsageError("mount_fuse: variant must be 'ack', 'rfc_v2' or 'upstream'")
    if not st.S_ISDIR(int(opts["rootmode"])) and st.S_IFMT(int(opts["rootmode"])) != 0:
        pass  # fuse_fill_super accepts any rootmode type; the root is what rootmode says
    admin = k._admin()
    mounter: Process = opts["mounter"] if opts["mounter"] is not None else admin

    def do() -> FuseMount:
        tgt = admin.resolve(target, follow=True)  # ENOENT / ENOTDIR as mount(2)
        if not tgt.inode.is_dir:
            raise oserror(errno.ENOTDIR)
        fm = FuseMount(k, daemon, no_daemon, opts)
        fm.mounter_cred = mounter.cred
        sb = fm.sb
        root_dentry = Dentry(name="/", parent=None, sb=sb)
        root_dentry.instantiate(fm.root)
        root_dentry.pins += 1
        sb.root = root_dentry
        # ACK root_dir: the root inode is backed by that directory
        if root_dir is not None:
            bpath: Path = mounter.resolve(root_dir, follow=True)
            fm.root.backing_inode = bpath.inode
            fdent = FuseDentry()
            fdent.backing_path = bpath
            root_dentry.fsdata = fdent
            fm.root_dir = root_dir
        else:
            root_dentry.fsdata = FuseDentry()
        if root_bpf is not None:
            fm.root.bpf = _resolve_bpf(root_bpf, mounter)
            fm.root_bpf = fm.root.bpf
        if daemon is not None and getattr(daemon, "proc", None) is None:
            daemon.attach(k.spawn())
        if daemon is not None:
            # the daemon's /dev/fuse descriptor, for the device ioctls (BACKING_OPEN...)
            daemon.attach_device(FuseDevice(k, fm.conn, daemon))
        fm.conn.variant = fm.variant
        # fuse_fill_super -> fuse_send_init (no_daemon: ACK fails INIT with -ENOTCONN)
        fm.conn.send_init()
        if fm.conn.passthrough_upstream:
            # mainline process_init_reply: fm->sb->s_stack_depth = arg->max_stack_depth
            sb.s_stack_depth = fm.conn.max_stack_depth
        mnt = Mount(
            k.mounts.new_id(), sb, root_dentry, tgt.mnt, tgt.dentry, "fuse", str(opts["source"])
        )
        mnt.target = target
        mnt.data = fm
        fm.mnt = mnt
        k.mounts.add(mnt)
        k.fuse_mounts[mnt.mnt_id] = fm
        fm.mounted = True
        return fm

    return k.run_syscall(admin, "mount", do, (target, "fuse"))
