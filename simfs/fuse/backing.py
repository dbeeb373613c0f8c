"""FUSE-BPF: the backing state machine, once, and the per-opcode specs it drives.

Mirrors ACK ``fs/fuse/backing.c`` and the ``fuse_bpf_backing`` macro of
``fs/fuse/fuse_i.h`` (aosp-mirror/kernel_common), as ``docs/semantics.md`` ("the spec")
§3-§8 describes it; a bare §N in this module is a section of that page.  Every FUSE inode
operation first calls the ``bpf_*`` function of this module with the parameters of the
operation; each returns ``(handled, result)``: ``handled`` False means "run the classic
FUSE path"; when True, ``result`` is what the VFS method returns, and an error has
been raised as ``OSError`` already.

The machine (:func:`fuse_bpf_backing`) runs: gate on ``backing_inode`` -> initialize ->
prefilter (BPF on the in-args seen through the out slots, optional daemon
``OP|FUSE_PREFILTER``) -> backing (lower filesystem, caller's credentials) -> BPF
postfilter -> daemon ``OP|FUSE_POSTFILTER`` -> finalize.  An opcode is an
:class:`OpSpec` (initialize / backing / finalize), as in ACK, where each opcode is three
functions handed to the one macro.

Finalize quirks (spec §3.6).  With ``FuseMount.quirks`` True (the default) finalizers
read their outputs literally, so after a *prefilter* error the out slots still alias the
in-args: LOOKUP reports ENOENT, GETATTR marks the inode bad and fails EIO, READ/WRITE
report the file's ``fh`` as a byte count when it is non-zero, LSEEK commits ``fh`` to
``f_pos``, size-carrying xattr gets report 8; and a *postfilter* error cannot fail a
successful READ/WRITE/LSEEK/GETXATTR/LISTXATTR (the finalizer returns the backing's
count).  With ``quirks`` False an error result always stands and finalizers only commit
on success (the intended semantics).
"""

from __future__ import annotations

import copy
import errno
import os
import stat as st
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from simfs import uapi
from simfs.bpf import ArgBuffer, BpfProg, fault_note, prog_from_file, run_program
from simfs.vfs import dcache, ops
from simfs.vfs.file import SEEK_CUR, SEEK_SET, File
from simfs.vfs.inode import (
    ATTR_ATIME,
    ATTR_ATIME_SET,
    ATTR_CTIME,
    ATTR_FILE,
    ATTR_GID,
    ATTR_MODE,
    ATTR_MTIME,
    ATTR_MTIME_SET,
    ATTR_SIZE,
    ATTR_UID,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    Dentry,
    DirEntry,
    Iattr,
    Inode,
    Kstat,
    StatFs,
    oserror,
)
from simfs.vfs.mount import Path
from simfs.vfs.permission import inode_permission
from simfs.vfs.readdir import DirContext

if TYPE_CHECKING:
    from simfs.trace import Event
    from simfs.vfs.cred import Cred

__all__ = [
    "NOT_HANDLED",
    "SPECS",
    "EntryBpf",
    "OpSpec",
    "fuse_bpf_backing",
    "fuse_iget_backing",
    "lookup_classic_finalize",
    "lookup_request_args",
    "revalidate_backing",
    "setup_root",
]

NOT_HANDLED: tuple[bool, Any] = (False, None)

PAGE_SIZE = uapi.PAGE_SIZE
FUSE_NAME_MAX = uapi.FUSE_NAME_MAX
MAX_ERRNO = 4095


# ======================================================================================
# Results: the kernel's ERR_PTR world


@dataclass(frozen=True, slots=True)
class Err:
    """A pending error result (``ERR_PTR(-errno)``)."""

    errno: int


class _Keep:
    """A finalizer returning NULL: keep the pending result."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()


# ======================================================================================
# The internal args (struct fuse_bpf_args) and an operation's context


@dataclass(eq=False)
class BpfArgs:
    """``struct fuse_bpf_args`` (kernel side): the buffers the machine moves around."""

    opcode: int
    nodeid: int = 0
    in_args: list[ArgBuffer] = field(default_factory=list)
    out_args: list[ArgBuffer] = field(default_factory=list)
    error_in: int = 0
    flags: int = 0

    def out(self, i: int) -> Any:
        return self.out_args[i].value if i < len(self.out_args) else None


@dataclass(eq=False)
class Op:
    """One call into the machine: the VFS arguments and scratch space for the specs."""

    fm: Any
    inode: Any  # the controlling fuse inode
    cred: Cred
    kw: dict[str, Any]
    scratch: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        kw = object.__getattribute__(self, "kw")
        try:
            return kw[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def kernel(self) -> Any:
        return self.fm.kernel

    @property
    def quirks(self) -> bool:
        return bool(getattr(self.fm, "quirks", True))

    def fail(self, err: int, why: str) -> Err:
        """Fail the operation with ``err`` and say why on the syscall's OSError
        (:meth:`simfs.Kernel.explain`): the finalize steps that refuse what a filter or the
        lower filesystem left behind."""
        self.kernel.explain(err, why)
        return Err(err)


@dataclass(frozen=True)
class OpSpec:
    """An opcode for the machine: how to build its args, run it on the lower fs, and
    commit its result (``fuse_*_initialize`` / ``_backing`` / ``_finalize``)."""

    name: str
    initialize: Callable[[Op], BpfArgs]
    backing: Callable[[Op, BpfArgs], Any]
    finalize: Callable[[Op, BpfArgs, Any], Any]


def _buf(value: Any, kind: Any = None, capacity: int | None = None) -> ArgBuffer:
    return ArgBuffer.of(value, kind, capacity)


def _name(name: str) -> ArgBuffer:
    return ArgBuffer.of(name, str)


def _struct(value: Any) -> ArgBuffer:
    return ArgBuffer.of(value, type(value))


# ======================================================================================
# The machine


def _gate(inode: Any) -> bool:
    """Step 1: only fuse inodes with a backing inode enter the machine."""
    return inode is not None and getattr(inode, "backing_inode", None) is not None


def as_loaded(k: Any, prog: Any) -> BpfProg | None:
    """The loaded program behind ``inode.bpf``: a :class:`BpfProg`, or a ``@program``
    given directly as ``root_bpf`` (loaded once per kernel, so identity is stable)."""
    if prog is None or isinstance(prog, BpfProg):
        return prog
    from simfs.bpf import Program, resolve_root_bpf

    if isinstance(prog, Program):
        cache: dict[int, BpfProg] = k.__dict__.setdefault("_bpf_implicit_loads", {})
        loaded = cache.get(id(prog))
        if loaded is None:
            loaded = resolve_root_bpf(k, prog)
            assert loaded is not None
            cache[id(prog)] = loaded
        return loaded
    return None


def _decision(ret: int) -> str:
    if ret < 0:
        return errno.errorcode.get(-ret, str(ret))
    names = [
        n
        for bit, n in (
            (uapi.FUSE_BPF_USER_FILTER, "USER_FILTER"),
            (uapi.FUSE_BPF_BACKING, "BACKING"),
            (uapi.FUSE_BPF_POST_FILTER, "POST_FILTER"),
        )
        if ret & bit
    ]
    return "|".join(names) or "0"


def _run_bpf(op: Op, prog: BpfProg, fa: BpfArgs, phase: str) -> int:
    """``fuse_bpf_run`` + a ``bpf`` trace event.  What the program left in its out
    buffers is what the engine goes on with, so it is checked here, where it is consumed:
    a value the wire format cannot hold is the program's fault (``check_buffer_access``:
    ``-EACCES``, see :mod:`simfs.bpf`), and the operation fails with it."""
    k = op.kernel
    shapes = [type(b.value) for b in fa.out_args]
    # copies, so a value changed in place can be put back too
    saved = [(b, copy.copy(b.value), b.size) for b in fa.out_args]
    ret = run_program(k, prog, fa, phase)
    bad = _out_args_fault(fa, shapes)
    if bad:
        # the verifier never lets such a store happen: the buffers keep what they held,
        # so finalize and the caller only ever see values of the wire format
        for buf, value, size in saved:
            buf.value, buf.size = value, size
    if ret >= 0 and bad:
        opname = uapi.opcode_name(fa.opcode)
        k.hooks.emit(
            "bpf_fault",
            prog=prog.name,
            phase=phase,
            opcode=opname,
            nodeid=fa.nodeid,
            reason=bad,
            errno=errno.EACCES,
        )
        k.explain(errno.EACCES, fault_note(prog.name, opname, phase, errno.EACCES, bad))
        ret = -errno.EACCES
    k.hooks.emit(
        "bpf",
        phase=phase,
        opcode=uapi.opcode_name(fa.opcode),
        nodeid=fa.nodeid,
        prog=prog.name,
        ret=ret,
        decision=_decision(ret),
    )
    return ret


def _out_args_fault(fa: BpfArgs, shapes: list[type]) -> str:
    """Why an out buffer's value cannot go on to the backing op, finalize or the
    daemon (a changed type, or a field the wire struct cannot hold), or ``""``."""
    for i, (buf, shape) in enumerate(zip(fa.out_args, shapes, strict=False)):
        value = buf.value
        if shape is not type(None) and not isinstance(value, shape):
            return f"out_args[{i}] holds {shape.__name__}, program left {type(value).__name__}"
        if value is None:
            continue
        try:
            uapi.pack_value(value)
        except (ValueError, TypeError, OverflowError, AttributeError, struct.error) as e:
            return f"out_args[{i}] ({type(value).__name__}) cannot be stored: {e}"
    return ""


def _filter_request(op: Op, fa: BpfArgs, post: bool, out_sizes: list[int]) -> None:
    """``fuse_bpf_simple_request``: send the filter to the daemon; the reply overwrites
    the out buffers.  Raises ``OSError`` for an error reply (or a dead connection)."""
    from simfs.fuse.dev import FuseArgs

    outs = fa.out_args
    shapes = [uapi.OutArg(b.kind, size) for b, size in zip(outs, out_sizes, strict=True)]
    args = FuseArgs(
        opcode=fa.opcode,
        nodeid=fa.nodeid,
        in_args=[b.value for b in fa.in_args],
        out_args=shapes,
        out_argvar=bool(fa.flags & uapi.FUSE_BPF_OUT_ARGVAR),
        force=bool(fa.flags & uapi.FUSE_BPF_FORCE),
        error_in=fa.error_in,
    )
    lookup = fa.opcode & uapi.FUSE_OPCODE_FILTER == uapi.FUSE_LOOKUP and post
    resolved: list[EntryBpf] = []
    if lookup:
        # dev.c fuse_dev_do_write: LOOKUP|POSTFILTER add-on fds are fget() in the writer
        args.on_reply = _entry_bpf_on_reply(args, resolved)
    values = op.fm.request(args)
    for i, (b, v) in enumerate(zip(outs, values, strict=False)):
        b.value = v
        b.size = (
            args.out_args[i].size if i == len(outs) - 1 and args.out_argvar else uapi.wire_size(v)
        )
    if lookup and len(outs) > 1:
        outs[1].resolved = resolved[0] if resolved else None  # type: ignore[attr-defined]


def fuse_bpf_backing(spec: OpSpec, op: Op) -> tuple[bool, Any]:
    """The ``fuse_bpf_backing`` macro: run ``spec`` for ``op``; ``(handled, result)``.

    Errors are raised as ``OSError`` when handled.  See spec §3.1 for the steps.
    """
    inode = op.inode
    if not _gate(inode):
        return NOT_HANDLED
    k = op.kernel
    with k.hooks.span(
        "fuse_op", opcode=spec.name, nodeid=getattr(inode, "nodeid", 0), route="bpf"
    ) as ev:
        handled, result = _machine(spec, op, ev)
        ev.end = {"handled": handled, "result": _summ(result)}
    if not handled:
        return NOT_HANDLED
    if isinstance(result, Err):
        raise oserror(result.errno)
    return True, result


def _summ(v: Any) -> Any:
    if isinstance(v, Err):
        return f"-{errno.errorcode.get(v.errno, v.errno)}"
    if isinstance(v, int | str | None):
        return v
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    return type(v).__name__


def _machine(spec: OpSpec, op: Op, span: Event) -> tuple[bool, Any]:
    k = op.kernel
    fm = op.fm
    prog = as_loaded(k, getattr(op.inode, "bpf", None))
    # step 2: initialize; failure -> handled, that error, no finalize
    try:
        fa = spec.initialize(op)
    except OSError as e:
        return True, Err(e.errno or errno.EIO)
    # one spec may serve two opcodes (OPEN/OPENDIR, RELEASE/RELEASEDIR, FSYNC/FSYNCDIR):
    # the trace names the opcode its initialize chose, as the kernel's fuse_bpf_args do
    opname = uapi.opcode_name(fa.opcode & uapi.FUSE_OPCODE_FILTER)
    span.data["opcode"] = opname
    handled = False
    result: Any = None
    # step 3: snapshot the out layout
    backup_out = list(fa.out_args)
    backup_sizes = [b.capacity for b in backup_out]
    v2 = getattr(fm, "variant", "ack") == "rfc_v2"
    while True:  # a "do { } while (false)" block
        if v2:
            ext = uapi.FUSE_BPF_BACKING  # RFC v2: no programs, always backing
        else:
            # step 4: prefilter context: out slots alias the in buffers
            fa.opcode |= uapi.FUSE_PREFILTER
            fa.out_args = list(fa.in_args)
            # step 5
            ext = _run_bpf(op, prog, fa, "pre") if prog is not None else uapi.FUSE_BPF_BACKING
            # step 6
            if ext < 0:
                handled, result = True, Err(-ext)
                break
            # step 7: userspace prefilter
            if ext & uapi.FUSE_BPF_USER_FILTER:
                try:
                    _filter_request(op, fa, False, [b.size for b in fa.out_args])
                except OSError as e:
                    handled, result = True, Err(e.errno or errno.EIO)
                    break
            # step 8: no BACKING -> classic path (POST_FILTER alone is ignored)
            if not ext & uapi.FUSE_BPF_BACKING:
                break
            # step 9: restore for backing; the filtered out slots are the in args
            fa.opcode &= ~uapi.FUSE_PREFILTER
            fa.in_args = list(fa.out_args)
            fa.out_args = list(backup_out)
        # step 10: backing (override_creds option: the mounter's credentials, seed TODO)
        handled = True
        caller_cred = op.cred
        if getattr(fm, "override_creds", False) and fm.mounter_cred is not None:
            op.cred = fm.mounter_cred
        try:
            result = spec.backing(op, fa)
        except OSError as e:
            result = Err(e.errno or errno.EIO)
        finally:
            op.cred = caller_cred  # revert_creds
        if isinstance(result, Err):
            fa.error_in = -result.errno
        k.hooks.emit(
            "backing",
            opcode=opname,
            op=op.scratch.get("lower_op", spec.name.lower()),
            result=_summ(result),
        )
        # step 11
        if v2 or not ext & uapi.FUSE_BPF_POST_FILTER or prog is None:
            break
        # step 12: BPF postfilter sees in + out args
        fa.opcode |= uapi.FUSE_POSTFILTER
        fa.in_args = fa.in_args + list(fa.out_args)
        ext2 = _run_bpf(op, prog, fa, "post")
        if ext2 < 0:
            result = Err(-ext2)
            break
        if not ext2 & uapi.FUSE_BPF_USER_FILTER:
            break
        # step 13: userspace postfilter; out sizes reset to the snapshot
        try:
            _filter_request(op, fa, True, backup_sizes[: len(fa.out_args)])
        except OSError as e:
            result = Err(e.errno or errno.EIO)
        break
    # step 14: finalize
    if handled:
        fin = spec.finalize(op, fa, result)
        k.hooks.emit("finalize", opcode=opname, result=_summ(result if fin is KEEP else fin))
        if fin is not KEEP:
            result = fin
    return handled, result


# ======================================================================================
# Helpers shared by the specs


def _fm_of(inode: Any) -> Any:
    return inode.sb.fm


def _op(inode: Any, cred: Cred | None, **kw: Any) -> Op:
    fm = _fm_of(inode)
    if cred is None:
        cred = fm.kernel.current_cred()
    return Op(fm=fm, inode=inode, cred=cred, kw=kw)


def _fdentry(d: Dentry) -> Any:
    from simfs.fuse.inode import fuse_dentry

    return fuse_dentry(d)


def get_backing_path(d: Dentry | None) -> Path | None:
    """``get_fuse_backing_path``: the lower path stored on a fuse dentry, if any."""
    if d is None or d.fsdata is None:
        return None
    return getattr(d.fsdata, "backing_path", None)


def _need_backing_path(d: Dentry) -> Path:
    p = get_backing_path(d)
    if p is None:
        raise oserror(errno.EBADF)  # get_fuse_backing_path: none -> -EBADF
    return p


def _ff(file: File) -> Any:
    return file.private


def _backing_file(file: File) -> File:
    ff = _ff(file)
    bf = getattr(ff, "backing_file", None)
    if not isinstance(bf, File):
        raise oserror(errno.EBADF)
    return bf


def _umask(op: Op) -> int:
    cur = op.kernel.current
    return int(getattr(cur, "_umask", 0o022)) if cur is not None else 0o022


def lower_lookup(k: Any, parent: Path, name: str, cred: Cred) -> Path:
    """``lookup_one_len`` in the lower directory with the caller's credentials: search
    permission on the directory, the cached child (revalidated) or a fresh lookup.  The
    result may be negative; a positive one crosses lower mounts (ACK ``follow_down``)."""
    dir_inode = parent.inode
    inode_permission(dir_inode, MAY_EXEC, cred)  # lookup_one_common
    d = dcache.d_lookup(parent.dentry, name)
    if d is not None and not d.sb.d_revalidate(d, cred, 0):
        dcache.d_drop(d)
        d = None
    if d is None:
        d = dcache.d_alloc(parent.dentry, name)
        try:
            inode = dir_inode.lookup(d, cred, 0)
        except BaseException:
            dcache.d_drop(d)
            raise
        if d.inode is None and inode is not None:
            d.instantiate(inode)
    path = Path(parent.mnt, d)
    if d.inode is not None:
        while True:
            child = k.mounts.lookup_mnt(path.mnt, path.dentry)
            if child is None:
                break
            path = Path(child, child.root)
    return path


def _blksize(v: int) -> int:
    """``fuse_stat_to_attr``: a power of two (``1 << ilog2``), default 4096."""
    if v <= 0:
        return 4096
    return 1 << (v.bit_length() - 1)


def stat_to_attr(ks: Kstat) -> uapi.FuseAttr:
    """``fuse_stat_to_attr``: lower kstat -> ``fuse_attr`` (ino and type from lower)."""
    return uapi.FuseAttr(
        ino=ks.ino,
        size=ks.size,
        blocks=ks.blocks,
        atime=uapi.time_to_wire(ks.atime_ns)[0],
        mtime=uapi.time_to_wire(ks.mtime_ns)[0],
        ctime=uapi.time_to_wire(ks.ctime_ns)[0],
        atimensec=ks.atime_ns % 10**9,
        mtimensec=ks.mtime_ns % 10**9,
        ctimensec=ks.ctime_ns % 10**9,
        mode=ks.mode,
        nlink=ks.nlink,
        uid=ks.uid,
        gid=ks.gid,
        rdev=ks.rdev,
        blksize=_blksize(ks.blksize),
    )


def copy_attr_all(inode: Any, lower: Inode) -> None:
    """``fsstack_copy_attr_all`` (+ size): the fuse inode takes the lower attributes."""
    inode.mode = lower.mode
    inode.uid = lower.uid
    inode.gid = lower.gid
    inode.nlink = lower.nlink
    inode.rdev = lower.rdev
    inode.atime_ns = lower.atime_ns
    inode.mtime_ns = lower.mtime_ns
    inode.ctime_ns = lower.ctime_ns
    inode.size = lower.size
    inode.blocks = lower.blocks
    inode.blksize = _blksize(getattr(lower, "blksize", 4096))
    inode.ino = lower.ino
    if hasattr(inode, "orig_mode"):
        inode.orig_mode = lower.mode
        inode.orig_ino = lower.ino


def _copy_times(inode: Any, lower: Inode) -> None:
    if inode.mtime_ns != lower.mtime_ns or inode.ctime_ns != lower.ctime_ns:
        inode.mtime_ns = lower.mtime_ns
        inode.ctime_ns = lower.ctime_ns


# ======================================================================================
# Inode identity (fuse_iget_backing, spec §8.4)


def fuse_iget_backing(sb: Any, nodeid: int, backing_inode: Inode) -> Any:
    """``fuse_iget_backing``: the fuse inode for ``backing_inode`` in ``sb``.

    ACK tests ``fi->nodeid == nodeid && fi->backing_inode == backing_inode`` on an inode
    hashed by nodeid (or the lower inode when 0).  With ``quirks`` (the default) the key
    is that pair as it is *now*, so an inode renumbered by a postfilter is missed by the
    next lookup (spec §8.4 quirk); without, the lower inode alone is the key.  A new
    inode takes type, size and times from the lower inode (we copy owner, mode and link
    count too, so VFS checks on the fuse inode see the lower values), nodeid, generation
    0, and each call counts one ``nlookup``.
    """
    from simfs.fuse.inode import FuseInode

    cache: list[Any] = sb.__dict__.setdefault("bpf_icache", [])
    quirks = bool(getattr(sb.fm, "quirks", True))
    alive = []
    found = None
    for fi in cache:
        if getattr(fi, "evicted", False):
            continue  # iput_final dropped it from the inode hash
        alive.append(fi)
        if (
            found is None
            and fi.backing_inode is backing_inode
            and (not quirks or fi.nodeid == nodeid)
        ):
            found = fi
    cache[:] = alive
    if found is None:
        attr = uapi.FuseAttr(
            ino=backing_inode.ino, mode=backing_inode.mode, rdev=backing_inode.rdev
        )
        found = FuseInode(sb, nodeid, 0, attr)
        found.backing_inode = backing_inode
        found.bpf = None
        copy_attr_all(found, backing_inode)
        cache.append(found)
    found.nlookup = getattr(found, "nlookup", 0) + 1
    return found


# ======================================================================================
# The lookup add-on (struct fuse_entry_bpf)


@dataclass(eq=False)
class EntryBpf:
    """``struct fuse_entry_bpf``: the add-on block plus the files its fds named when the
    reply was written (``fget`` in ``fuse_dev_do_write``, in the replying process)."""

    out: uapi.FuseEntryBpfOut = field(default_factory=uapi.FuseEntryBpfOut)
    backing_file: File | None = None
    bpf_file: File | None = None
    present: bool = False


def resolve_entry_bpf(proc: Any, febo: uapi.FuseEntryBpfOut) -> EntryBpf:
    """fd resolution of ``fuse_dev_do_write``: REPLACE fds -> files (None if not open)."""
    entry = EntryBpf(out=febo, present=True)
    table = getattr(proc, "fdtable", None)

    def fget(fd: int) -> File | None:
        if table is None:
            return None
        ent = table.fds.get(fd)
        return ent.file if ent is not None else None

    if febo.backing_action == uapi.FUSE_ACTION_REPLACE:
        entry.backing_file = fget(febo.backing_fd)
    if febo.bpf_action == uapi.FUSE_ACTION_REPLACE:
        entry.bpf_file = fget(febo.bpf_fd)
    return entry


def _entry_bpf_on_reply(args: Any, sink: list[EntryBpf]) -> Callable[[list[Any], Any], None]:
    def on_reply(values: list[Any], daemon: Any) -> None:
        if len(values) > 1 and args.out_args[-1].size == uapi.FuseEntryBpfOut.SIZE:
            febo = values[1]
            if isinstance(febo, uapi.FuseEntryBpfOut):
                sink.append(resolve_entry_bpf(getattr(daemon, "proc", None), febo))

    return on_reply


def lookup_request_args(nodeid: int, name: str) -> tuple[Any, EntryBpf]:
    """A classic LOOKUP that accepts the fuse-bpf add-on (for helper B's ``fuse_lookup_name``).

    Returns the ``FuseArgs`` (out: ``fuse_entry_out`` + ``fuse_entry_bpf_out``, ARGVAR)
    and an :class:`EntryBpf` that is filled (``present`` True) when the reply carried the
    32-byte block; then call :func:`lookup_classic_finalize`.
    """
    from simfs.fuse.dev import FuseArgs

    holder = EntryBpf()
    sink: list[EntryBpf] = []
    args = FuseArgs(
        opcode=uapi.FUSE_LOOKUP,
        nodeid=nodeid,
        in_args=[name],
        out_args=[uapi.OutArg.of(uapi.FuseEntryOut), uapi.OutArg.of(uapi.FuseEntryBpfOut)],
        out_argvar=True,
    )

    def on_reply(values: list[Any], daemon: Any) -> None:
        _entry_bpf_on_reply(args, sink)(values, daemon)
        if sink:
            holder.out, holder.backing_file, holder.bpf_file = (
                sink[0].out,
                sink[0].backing_file,
                sink[0].bpf_file,
            )
            holder.present = True

    args.on_reply = on_reply
    return args, holder


def lookup_on_reply(values: list[Any], daemon: Any) -> None:
    """``FuseArgs.on_reply`` hook for a classic LOOKUP (helper B's ``lookup_args``):
    ``fuse_dev_do_write`` resolves the add-on's REPLACE fds in the replying daemon's fd
    table at write time; the files are kept for :func:`classic_lookup_addon`.  A reply
    without the block decodes to all-KEEP, which names no fd."""
    if len(values) < 2 or not isinstance(values[1], uapi.FuseEntryBpfOut):
        return
    proc = getattr(daemon, "proc", None)
    k = getattr(proc, "kernel", None)
    if k is None:
        return
    store: dict[int, tuple[Any, EntryBpf]] = k.__dict__.setdefault("_lookup_addon_files", {})
    store[id(values[1])] = (values[1], resolve_entry_bpf(proc, values[1]))


def lookup_on_reply_v2(values: list[Any], daemon: Any) -> None:
    """RFC v2 ``FuseArgs.on_reply`` for a classic LOOKUP: parse the typed blocks
    (``parse_fuse_bpf_entry``: size a multiple of 16, at most 2, rules of spec §6.4) in
    the replying daemon's fd table, and hand them on as the equivalent ACK actions."""
    if len(values) < 2 or not isinstance(values[1], bytes) or not values[1]:
        if len(values) >= 2:
            values[1] = b""
        return
    raw = values[1]
    size = uapi.FuseBpfEntryOut.SIZE
    if len(raw) % size:
        raise oserror(errno.EINVAL)  # parse_fuse_bpf_entry: not a whole number of blocks
    blocks = [uapi.FuseBpfEntryOut.unpack(raw[i : i + size]) for i in range(0, len(raw), size)]
    proc = getattr(daemon, "proc", None)
    entry = parse_fuse_bpf_entry_v2(blocks, proc)
    k = getattr(proc, "kernel", None)
    if k is None:
        return
    store: dict[int, tuple[Any, EntryBpf]] = k.__dict__.setdefault("_lookup_addon_files", {})
    store[id(entry.out)] = (entry.out, entry)
    values[1] = entry.out


def classic_lookup_addon(
    dir: Any, dentry: Dentry, outarg: uapi.FuseEntryOut, addon: uapi.FuseEntryBpfOut, inode: Any
) -> Any:
    """Path (b) of spec §6.1, called by the classic ``fuse_lookup`` when the reply
    carried the 32-byte block: backing must be REPLACE with an open, path-backed fd
    (else EINVAL); the dentry takes that file's path and the inode its lower inode; a
    program only if the block says REPLACE (KEEP: the parent is not consulted).
    ``inode`` is the classic inode already made for a non-zero nodeid, or None."""
    k = dir.sb.kernel
    store: dict[int, tuple[Any, EntryBpf]] = k.__dict__.setdefault("_lookup_addon_files", {})
    saved = store.pop(id(addon), None)
    entry = (
        saved[1] if saved is not None and saved[0] is addon else EntryBpf(out=addon, present=True)
    )
    if entry.out.backing_action != uapi.FUSE_ACTION_REPLACE:
        raise oserror(errno.EINVAL)
    f = entry.backing_file
    if f is None or getattr(f, "bpf_prog", None) is not None:
        raise oserror(errno.EINVAL)
    if inode is None:
        inode = fuse_iget_backing(dir.sb, outarg.nodeid, f.inode)
    else:
        inode.backing_inode = f.inode
        copy_attr_all(inode, f.inode)
    inode.bpf = handle_bpf_prog(entry, None, inode.bpf)
    _fdentry(dentry).backing_path = f.path
    inode.nodeid = outarg.nodeid
    return inode


def handle_backing(entry: EntryBpf, inode: Any, fd: Any) -> None:
    """``fuse_handle_backing``: KEEP / REMOVE / REPLACE of the lower inode and path."""
    action = entry.out.backing_action
    if action == uapi.FUSE_ACTION_KEEP:
        return
    if action == uapi.FUSE_ACTION_REMOVE:
        if inode is not None:
            inode.backing_inode = None
        fd.backing_path = None
        return
    if action == uapi.FUSE_ACTION_REPLACE:
        f = entry.backing_file
        if f is None or getattr(f, "bpf_prog", None) is not None:
            raise oserror(errno.EINVAL)  # no file (fd not open), or not a path-backed file
        if inode is not None:
            inode.backing_inode = f.inode
        fd.backing_path = f.path
        return
    raise oserror(errno.EINVAL)  # unknown action


def handle_bpf_prog(entry: EntryBpf, parent: Any, current: BpfProg | None) -> BpfProg | None:
    """``fuse_handle_bpf_prog``: the program decision; returns the program to store.

    KEEP inherits the parent's (untouched without a parent); REPLACE needs a program fd
    from a daemon reply; a target that already has a *different* program -> EINVAL
    ("Cannot change existing program"); unknown action -> EINVAL.
    """
    action = entry.out.bpf_action
    new: BpfProg | None
    if action == uapi.FUSE_ACTION_KEEP:
        if parent is None:
            return current
        new = getattr(parent, "bpf", None)
    elif action == uapi.FUSE_ACTION_REMOVE:
        new = None
    elif action == uapi.FUSE_ACTION_REPLACE:
        if entry.bpf_file is None:
            raise oserror(errno.EINVAL)
        new = prog_from_file(entry.bpf_file)  # not a FUSE program -> EINVAL
    else:
        raise oserror(errno.EINVAL)
    if current is not None and new is not None:
        if new is not current:
            raise oserror(errno.EINVAL)  # cannot change existing program
        return current
    return new


def _entry_of(buf: ArgBuffer) -> EntryBpf:
    resolved = getattr(buf, "resolved", None)
    out = buf.value if isinstance(buf.value, uapi.FuseEntryBpfOut) else uapi.FuseEntryBpfOut()
    if isinstance(resolved, EntryBpf) and resolved.out == out:
        return resolved
    return EntryBpf(out=out, present=True)


# ======================================================================================
# LOOKUP


def _lookup_init(op: Op) -> BpfArgs:
    name = op.dentry.name
    return BpfArgs(
        opcode=uapi.FUSE_LOOKUP,
        nodeid=op.dir.nodeid,
        in_args=[_name(name)],
        out_args=[_struct(uapi.FuseEntryOut()), _struct(uapi.FuseEntryBpfOut())],
        flags=uapi.FUSE_BPF_OUT_ARGVAR,
    )


def _lookup_backing(op: Op, fa: BpfArgs) -> Any:
    """``fuse_lookup_backing``: the dentry's own name in the parent's lower dir."""
    dentry: Dentry = op.dentry
    parent_path = get_backing_path(dentry.d_parent)
    if parent_path is None:
        raise oserror(errno.EBADF)
    fd = _fdentry(dentry)
    fd.backing_path = None
    lower = lower_lookup(op.kernel, parent_path, dentry.name, op.cred)
    fd.backing_path = lower
    if lower.dentry.inode is None:
        fa.error_in = -errno.ENOENT
        return 0
    try:
        ks = ops.vfs_getattr(lower, op.cred)
    except OSError:
        fd.backing_path = None
        raise
    feo = fa.out_args[0].value
    fa.out_args[0].value = replace(feo, attr=stat_to_attr(ks))
    return 0


def _lookup_finalize(op: Op, fa: BpfArgs, result: Any) -> Any:
    """``fuse_lookup_finalize`` (path (a) of spec §6.1)."""
    dentry: Dentry = op.dentry
    dir_inode = op.dir
    fd = _fdentry(dentry)
    bd = fd.backing_path
    if bd is None:
        if not op.quirks and isinstance(result, Err):
            return KEEP
        return Err(errno.ENOENT)  # no lower path recorded -> ENOENT (§3.6 A/B)
    if not op.quirks and isinstance(result, Err):
        return KEEP
    if len(fa.out_args) < 2:
        return op.fail(
            errno.EIO,
            f"LOOKUP finalize: a filter left {len(fa.out_args)} out-argument(s); "
            "fuse_lookup_finalize needs fuse_entry_out and fuse_entry_bpf_out (-EIO)",
        )
    feo = fa.out_args[0].value
    entry = _entry_of(fa.out_args[1])
    backing_inode = bd.dentry.inode
    if backing_inode is None:
        # negative: the dentry keeps the lower path and the program decision, which a
        # later CREATE/MKDIR moves to the new inode
        try:
            fd.bpf = handle_bpf_prog(entry, dir_inode, getattr(fd, "bpf", None))
        except OSError as e:
            return Err(e.errno or errno.EINVAL)
        fd.time = 0
        return KEEP
    target_nodeid = int(getattr(dentry.inode, "nodeid", 0))
    inode = fuse_iget_backing(dir_inode.sb, target_nodeid, backing_inode)
    try:
        inode.bpf = handle_bpf_prog(entry, dir_inode, inode.bpf)
        handle_backing(entry, inode, fd)
    except OSError as e:
        return Err(e.errno or errno.EINVAL)
    if isinstance(feo, uapi.FuseEntryOut):
        inode.nodeid = feo.nodeid
    fd.time = 0  # entry_valid is ignored on this path (spec §6.2 step 7)
    if dentry.inode is None:
        dentry.instantiate(inode)  # d_splice_alias
    return KEEP


def _lookup_result(op: Op, result: Any) -> Any:
    return op.dentry.inode


LOOKUP = OpSpec("LOOKUP", _lookup_init, _lookup_backing, _lookup_finalize)


def bpf_lookup(dir: Any, dentry: Any, cred: Any, flags: int) -> tuple[bool, Any]:
    """LOOKUP on a backed directory: ``(True, inode | None)``."""
    if not _gate(dir):
        return NOT_HANDLED
    op = _op(dir, cred, dir=dir, dentry=dentry, flags=flags)
    handled, _ = fuse_bpf_backing(LOOKUP, op)
    if not handled:
        return NOT_HANDLED
    return True, dentry.inode


def lookup_classic_finalize(
    fm: Any, dir: Any, dentry: Any, feo: uapi.FuseEntryOut, entry: EntryBpf
) -> Any:
    """Path (b) of spec §6.1: a classic LOOKUP reply that carried the add-on block.

    Backing must be REPLACE with a file (else EINVAL); the inode is keyed to that file's
    lower inode, the dentry takes its path; a program only when the reply says REPLACE
    (KEEP keeps none: the parent is not consulted); nodeid is the daemon's.
    """
    fd = _fdentry(dentry)
    if entry.out.backing_action != uapi.FUSE_ACTION_REPLACE:
        raise oserror(errno.EINVAL)
    f = entry.backing_file
    if f is None or getattr(f, "bpf_prog", None) is not None:
        raise oserror(errno.EINVAL)
    inode = fuse_iget_backing(fm.sb, feo.nodeid, f.inode)
    inode.bpf = handle_bpf_prog(entry, None, inode.bpf)
    fd.backing_path = f.path
    inode.backing_inode = f.inode
    inode.nodeid = feo.nodeid
    inode.generation = feo.generation
    return inode


def parse_fuse_bpf_entry_v2(blocks: list[uapi.FuseBpfEntryOut], proc: Any) -> EntryBpf:
    """RFC v2 ``parse_fuse_bpf_entry``: typed blocks -> an :class:`EntryBpf`.

    At most 2 blocks; ``unused`` must be 0; one backing and one bpf block at most;
    unknown types -> EINVAL; an fd that is not open -> EBADF.  v2 has no programs, so a
    BPF block is rejected (EINVAL).
    """
    if len(blocks) > uapi.FUSE_BPF_MAX_ENTRIES:
        raise oserror(errno.EINVAL)
    out = uapi.FuseEntryBpfOut()
    entry = EntryBpf(out=out, present=True)
    seen: set[str] = set()
    for b in blocks:
        if b.unused != 0:
            raise oserror(errno.EINVAL)
        if b.entry_type in (uapi.FUSE_ENTRY_BACKING, uapi.FUSE_ENTRY_REMOVE_BACKING):
            if "backing" in seen:
                raise oserror(errno.EINVAL)
            seen.add("backing")
            if b.entry_type == uapi.FUSE_ENTRY_REMOVE_BACKING:
                entry.out = replace(entry.out, backing_action=uapi.FUSE_ACTION_REMOVE)
                continue
            ent = proc.fdtable.fds.get(b.fd) if proc is not None else None
            if ent is None:
                raise oserror(errno.EBADF)
            entry.out = replace(entry.out, backing_action=uapi.FUSE_ACTION_REPLACE, backing_fd=b.fd)
            entry.backing_file = ent.file
        elif b.entry_type in (uapi.FUSE_ENTRY_BPF, uapi.FUSE_ENTRY_REMOVE_BPF):
            if "bpf" in seen:
                raise oserror(errno.EINVAL)
            seen.add("bpf")
            if b.entry_type == uapi.FUSE_ENTRY_BPF:
                raise oserror(errno.EINVAL)  # v2: BPF removed
            entry.out = replace(entry.out, bpf_action=uapi.FUSE_ACTION_REMOVE)
        else:
            raise oserror(errno.EINVAL)
    return entry


# ======================================================================================
# GETATTR / SETATTR / ACCESS / STATFS / CANONICAL_PATH


def _getattr_init(op: Op) -> BpfArgs:
    return BpfArgs(
        opcode=uapi.FUSE_GETATTR,
        nodeid=op.inode.nodeid,
        in_args=[
            _struct(uapi.FuseGetattrIn(getattr_flags=op.flags & 0xFFFFFFFF, fh=0xFFFFFFFFFFFFFFFF))
        ],
        out_args=[_struct(uapi.FuseAttrOut())],
    )


def _lower_path_of_inode(op: Op) -> Path:
    path = op.kw.get("path")
    d = path.dentry if path is not None else op.kw.get("dentry")
    if d is not None:
        p = get_backing_path(d)
        if p is not None:
            return p
    # no dentry to hand: any alias of the fuse inode that has a lower path
    for alias in getattr(op.inode, "aliases", []):
        p = get_backing_path(alias)
        if p is not None:
            return p
    raise oserror(errno.EBADF)


def _getattr_backing(op: Op, fa: BpfArgs) -> Any:
    lower = _lower_path_of_inode(op)
    ks = ops.vfs_getattr(lower, op.cred)
    fa.out_args[0].value = replace(fa.out_args[0].value, attr=stat_to_attr(ks))
    return 0


def _getattr_finalize(op: Op, fa: BpfArgs, result: Any) -> Any:
    """``fuse_getattr_finalize``: check the attrs, update the inode, fill the stat."""
    inode = op.inode
    if isinstance(result, Err) and not op.quirks:
        return KEEP
    out = fa.out(0)
    attr = (
        out.attr if isinstance(out, uapi.FuseAttrOut) else uapi.FuseAttr()
    )  # aliased in-arg: zeros
    from simfs.fuse.inode import attr_problem

    problem = attr_problem(attr)  # fuse_invalid_attr
    if not problem and st.S_IFMT(attr.mode) != st.S_IFMT(inode.mode):
        problem = f"attr.mode {attr.mode:#o} changes the file type"
    if problem:
        inode.bad = True  # fuse_make_bad
        return op.fail(
            errno.EIO,
            f"GETATTR finalize: {problem}; the inode is now bad (fuse_make_bad) and "
            "fails every later operation with EIO",
        )
    if isinstance(result, Err):
        return KEEP
    valid = out.attr_valid * 10**9 + out.attr_valid_nsec
    inode.mode = (inode.mode & st.S_IFMT(inode.mode)) | (attr.mode & 0o7777)
    inode.nlink = attr.nlink
    inode.uid = attr.uid
    inode.gid = attr.gid
    inode.blocks = attr.blocks
    inode.atime_ns = uapi.time_from_wire(attr.atime, attr.atimensec)
    inode.mtime_ns = uapi.time_from_wire(attr.mtime, attr.mtimensec)
    inode.ctime_ns = uapi.time_from_wire(attr.ctime, attr.ctimensec)
    inode.size = attr.size
    inode.blksize = attr.blksize or 4096
    inode.i_time = op.kernel.clock.now_ns() + valid
    return Kstat(
        ino=attr.ino,
        mode=inode.mode,
        nlink=attr.nlink,
        uid=attr.uid,
        gid=attr.gid,
        rdev=inode.rdev,
        size=attr.size,
        atime_ns=inode.atime_ns,
        mtime_ns=inode.mtime_ns,
        ctime_ns=inode.ctime_ns,
        blksize=inode.blksize,
        blocks=attr.blocks,
        dev=inode.sb.dev,
    )


GETATTR = OpSpec("GETATTR", _getattr_init, _getattr_backing, _getattr_finalize)


def bpf_getattr(inode: Any, path: Any, cred: Any, flags: int) -> tuple[bool, Any]:
    """GETATTR: ``(True, Kstat)``."""
    return fuse_bpf_backing(GETATTR, _op(inode, cred, path=path, flags=flags))


_ATTR_TO_FATTR = (
    (ATTR_MODE, uapi.FATTR_MODE),
    (ATTR_UID, uapi.FATTR_UID),
    (ATTR_GID, uapi.FATTR_GID),
    (ATTR_SIZE, uapi.FATTR_SIZE),
    (ATTR_ATIME, uapi.FATTR_ATIME),
    (ATTR_MTIME, uapi.FATTR_MTIME),
    (ATTR_CTIME, uapi.FATTR_CTIME),
    (ATTR_FILE, uapi.FATTR_FH),
)


def _setattr_init(op: Op) -> BpfArgs:
    """``fuse_setattr_initialize``: ``iattr_to_fattr``."""
    attr: Iattr = op.attr
    valid = 0
    for a, f in _ATTR_TO_FATTR:
        if attr.valid & a:
            valid |= f
    if attr.valid & ATTR_ATIME and not attr.valid & ATTR_ATIME_SET:
        valid |= uapi.FATTR_ATIME_NOW
    if attr.valid & ATTR_MTIME and not attr.valid & ATTR_MTIME_SET:
        valid |= uapi.FATTR_MTIME_NOW
    fsi = uapi.FuseSetattrIn(
        valid=valid,
        fh=getattr(_ff(attr.file), "fh", 0) if attr.file is not None else 0,
        size=max(attr.size, 0),
        atime=uapi.time_to_wire(attr.atime_ns)[0],
        atimensec=attr.atime_ns % 10**9,
        mtime=uapi.time_to_wire(attr.mtime_ns)[0],
        mtimensec=attr.mtime_ns % 10**9,
        ctime=uapi.time_to_wire(attr.ctime_ns)[0],
        ctimensec=attr.ctime_ns % 10**9,
        mode=attr.mode & 0xFFFFFFFF,
        uid=attr.uid & 0xFFFFFFFF,
        gid=attr.gid & 0xFFFFFFFF,
    )
    return BpfArgs(
        opcode=uapi.FUSE_SETATTR,
        nodeid=op.inode.nodeid,
        in_args=[_struct(fsi)],
        out_args=[_struct(uapi.FuseAttrOut())],
    )


def _setattr_backing(op: Op, fa: BpfArgs) -> Any:
    """``fuse_setattr_backing``: notify_change on the lower dentry with the filtered
    values but the original ``ia_valid`` (minus ATTR_FILE)."""
    fsi = fa.in_args[0].value
    attr: Iattr = op.attr
    lower = _lower_path_of_inode(op)
    new = Iattr(
        valid=attr.valid & ~ATTR_FILE,
        mode=fsi.mode,
        uid=fsi.uid,
        gid=fsi.gid,
        size=fsi.size,
        atime_ns=uapi.time_from_wire(fsi.atime, fsi.atimensec),
        mtime_ns=uapi.time_from_wire(fsi.mtime, fsi.mtimensec),
    )
    ops.notify_change(op.kernel, lower.dentry, new, op.cred)
    if attr.valid & ATTR_SIZE:
        op.inode.size = fsi.size  # only the size is written to the fuse inode
    return 0


def _keep(op: Op, fa: BpfArgs, result: Any) -> Any:
    return KEEP


SETATTR = OpSpec("SETATTR", _setattr_init, _setattr_backing, _keep)


def bpf_setattr(inode: Any, dentry: Any, attr: Any, cred: Any) -> tuple[bool, Any]:
    """SETATTR: ``(True, None)``."""
    return fuse_bpf_backing(SETATTR, _op(inode, cred, dentry=dentry, attr=attr))


def _access_init(op: Op) -> BpfArgs:
    return BpfArgs(
        opcode=uapi.FUSE_ACCESS,
        nodeid=op.inode.nodeid,
        in_args=[_struct(uapi.FuseAccessIn(mask=op.mask))],
    )


def _access_backing(op: Op, fa: BpfArgs) -> Any:
    mask = fa.in_args[0].value.mask
    inode_permission(op.inode.backing_inode, mask, op.cred)
    return 0


ACCESS = OpSpec("ACCESS", _access_init, _access_backing, _keep)


def bpf_access(inode: Any, mask: int, cred: Any) -> tuple[bool, Any]:
    """ACCESS (the permission hook and access(2)): ``(True, None)`` or raises."""
    return fuse_bpf_backing(ACCESS, _op(inode, cred, mask=mask))


def _statfs_init(op: Op) -> BpfArgs:
    # ACK declares the out arg with sizeof(pointer) (spec §9.10); the whole struct is
    # exchanged here
    return BpfArgs(
        opcode=uapi.FUSE_STATFS, nodeid=op.inode.nodeid, out_args=[_struct(uapi.FuseStatfsOut())]
    )


def _statfs_backing(op: Op, fa: BpfArgs) -> Any:
    lower = get_backing_path(op.dentry)
    if lower is None:
        raise oserror(errno.EBADF)
    s = ops.vfs_statfs(lower, op.cred)
    fa.out_args[0].value = uapi.FuseStatfsOut(
        st=uapi.FuseKstatfs(
            blocks=s.f_blocks,
            bfree=s.f_bfree,
            bavail=s.f_bavail,
            files=s.f_files,
            ffree=s.f_ffree,
            bsize=s.f_bsize,
            namelen=s.f_namelen,
            frsize=s.f_frsize,
        )
    )
    return 0


def _statfs_finalize(op: Op, fa: BpfArgs, result: Any) -> Any:
    if isinstance(result, Err):
        return KEEP
    out = fa.out(0)
    k = out.st if isinstance(out, uapi.FuseStatfsOut) else uapi.FuseKstatfs()
    # convert_fuse_statfs: f_type is always FUSE_SUPER_MAGIC, fsid zero
    return StatFs(
        f_type=uapi.FUSE_SUPER_MAGIC,
        f_bsize=k.bsize,
        f_blocks=k.blocks,
        f_bfree=k.bfree,
        f_bavail=k.bavail,
        f_files=k.files,
        f_ffree=k.ffree,
        f_namelen=k.namelen,
        f_frsize=k.frsize,
    )


STATFS = OpSpec("STATFS", _statfs_init, _statfs_backing, _statfs_finalize)


def bpf_statfs(inode: Any, dentry: Any, cred: Any) -> tuple[bool, Any]:
    """STATFS: ``(True, StatFs)`` with the FUSE magic."""
    return fuse_bpf_backing(STATFS, _op(inode, cred, dentry=dentry))


def _canon_init(op: Op) -> BpfArgs:
    return BpfArgs(opcode=uapi.FUSE_CANONICAL_PATH, nodeid=0)


def _canon_backing(op: Op, fa: BpfArgs) -> Any:
    p = get_backing_path(op.dentry)
    if p is None:
        raise oserror(errno.ENOENT)
    return p


CANONICAL_PATH = OpSpec("CANONICAL_PATH", _canon_init, _canon_backing, _keep)


def bpf_canonical_path(inode: Any, dentry: Any) -> tuple[bool, Any]:
    """CANONICAL_PATH: ``(True, Path)``, the dentry's lower path."""
    return fuse_bpf_backing(CANONICAL_PATH, _op(inode, None, dentry=dentry))


# ======================================================================================
# Namespace operations


def _instantiate_new(op: Op, dentry: Dentry, lower: Path, take_bpf: bool) -> Any:
    """A fuse inode for a freshly created lower object; the dentry's program moves to
    it (MKDIR/CREATE) and the dentry is instantiated."""
    lower_inode = lower.dentry.inode
    if lower_inode is None:
        raise oserror(errno.EINVAL)
    target = int(getattr(dentry.inode, "nodeid", 0))
    inode = fuse_iget_backing(op.dir.sb, target, lower_inode)
    fd = _fdentry(dentry)
    fd.backing_path = lower
    if take_bpf or inode.bpf is None:
        inode.bpf = getattr(fd, "bpf", None)
        fd.bpf = None
    if dentry.inode is None:
        dentry.instantiate(inode)
    return inode


def _lower_parent(op: Op, dentry: Dentry) -> tuple[Path, Inode]:
    lower = _need_backing_path(dentry)
    parent = lower.dentry.d_parent
    if parent.inode is None:
        raise oserror(errno.ENOENT)
    return lower, parent.inode


def _mknod_init(op: Op) -> BpfArgs:
    fmi = uapi.FuseMknodIn(mode=op.mode, rdev=op.rdev & 0xFFFFFFFF, umask=_umask(op))
    return BpfArgs(
        opcode=uapi.FUSE_MKNOD, nodeid=op.dir.nodeid, in_args=[_struct(fmi), _name(op.dentry.name)]
    )


def _mknod_backing(op: Op, fa: BpfArgs) -> Any:
    fmi = fa.in_args[0].value
    lower, lower_dir = _lower_parent(op, op.dentry)
    mode = fmi.mode & ~fmi.umask  # no POSIX ACLs on the lower fs: umask applies
    if st.S_IFMT(mode) in (0, st.S_IFREG):
        ops.vfs_create(lower_dir, lower.dentry, mode | st.S_IFREG, op.cred, False)
    else:
        ops.vfs_mknod(lower_dir, lower.dentry, mode, fmi.rdev, op.cred)
    if lower.dentry.inode is None or lower.dentry.unhashed:
        raise oserror(errno.EINVAL)
    return _instantiate_new(op, op.dentry, lower, False)


def _result_keep(op: Op, fa: BpfArgs, result: Any) -> Any:
    return KEEP


MKNOD = OpSpec("MKNOD", _mknod_init, _mknod_backing, _result_keep)


def bpf_mknod(dir: Any, dentry: Any, mode: int, rdev: int, cred: Any) -> tuple[bool, Any]:
    """MKNOD (also the non-atomic ``create``): ``(True, inode)``."""
    return fuse_bpf_backing(MKNOD, _op(dir, cred, dir=dir, dentry=dentry, mode=mode, rdev=rdev))


def _mkdir_init(op: Op) -> BpfArgs:
    fmi = uapi.FuseMkdirIn(mode=op.mode & 0xFFFFFFFF, umask=_umask(op))
    return BpfArgs(
        opcode=uapi.FUSE_MKDIR, nodeid=op.dir.nodeid, in_args=[_struct(fmi), _name(op.dentry.name)]
    )


def _mkdir_backing(op: Op, fa: BpfArgs) -> Any:
    fmi = fa.in_args[0].value
    lower, lower_dir = _lower_parent(op, op.dentry)
    mode = fmi.mode & ~fmi.umask
    ops.vfs_mkdir(lower_dir, lower.dentry, mode, op.cred)
    if lower.dentry.inode is None or lower.dentry.unhashed:
        # fuse_mkdir_backing: re-look the name up
        lower = lower_lookup(
            op.kernel, Path(lower.mnt, lower.dentry.d_parent), op.dentry.name, op.cred
        )
    return _instantiate_new(op, op.dentry, lower, True)


MKDIR = OpSpec("MKDIR", _mkdir_init, _mkdir_backing, _result_keep)


def bpf_mkdir(dir: Any, dentry: Any, mode: int, cred: Any) -> tuple[bool, Any]:
    """MKDIR: ``(True, inode)``; the program moves from the negative dentry."""
    return fuse_bpf_backing(MKDIR, _op(dir, cred, dir=dir, dentry=dentry, mode=mode))


def _symlink_init(op: Op) -> BpfArgs:
    return BpfArgs(
        opcode=uapi.FUSE_SYMLINK,
        nodeid=op.dir.nodeid,
        in_args=[_name(op.dentry.name), _name(op.target)],
    )


def _symlink_backing(op: Op, fa: BpfArgs) -> Any:
    lower, lower_dir = _lower_parent(op, op.dentry)
    ops.vfs_symlink(lower_dir, lower.dentry, op.target, op.cred)
    if lower.dentry.inode is None or lower.dentry.unhashed:
        raise oserror(errno.EINVAL)
    return _instantiate_new(op, op.dentry, lower, False)


SYMLINK = OpSpec("SYMLINK", _symlink_init, _symlink_backing, _result_keep)


def bpf_symlink(dir: Any, dentry: Any, target: str, cred: Any) -> tuple[bool, Any]:
    """SYMLINK: ``(True, inode)``."""
    return fuse_bpf_backing(SYMLINK, _op(dir, cred, dir=dir, dentry=dentry, target=target))


def _link_init(op: Op) -> BpfArgs:
    src = op.old_dentry.inode
    return BpfArgs(
        opcode=uapi.FUSE_LINK,
        nodeid=0,  # ACK leaves the args' nodeid 0 for LINK
        in_args=[
            _struct(uapi.FuseLinkIn(oldnodeid=getattr(src, "nodeid", 0))),
            _name(op.new_dentry.name),
        ],
    )


def _link_backing(op: Op, fa: BpfArgs) -> Any:
    old_lower = _need_backing_path(op.old_dentry)
    new_lower, lower_dir = _lower_parent(op, op.new_dentry)
    ops.vfs_link(old_lower.dentry, lower_dir, new_lower.dentry, op.cred)
    if new_lower.dentry.inode is None or new_lower.dentry.unhashed:
        raise oserror(errno.EINVAL)
    inode = op.old_dentry.inode
    fd = _fdentry(op.new_dentry)
    fd.backing_path = new_lower
    if inode is not None:
        inode.nlink = new_lower.dentry.inode.nlink
        if op.new_dentry.inode is None:
            op.new_dentry.instantiate(inode)
    return inode


LINK = OpSpec("LINK", _link_init, _link_backing, _result_keep)


def bpf_link(old_dentry: Any, dir: Any, new_dentry: Any, cred: Any) -> tuple[bool, Any]:
    """LINK, controlled by the *source* inode: ``(True, inode)``."""
    src = getattr(old_dentry, "inode", None)
    if not _gate(src):
        return NOT_HANDLED
    return fuse_bpf_backing(
        LINK, _op(src, cred, dir=dir, old_dentry=old_dentry, new_dentry=new_dentry)
    )


def _remove_init(opcode: int) -> Callable[[Op], BpfArgs]:
    def init(op: Op) -> BpfArgs:
        return BpfArgs(opcode=opcode, nodeid=op.dir.nodeid, in_args=[_name(op.dentry.name)])

    return init


def _unlink_backing(op: Op, fa: BpfArgs) -> Any:
    lower, lower_dir = _lower_parent(op, op.dentry)
    if lower.dentry.inode is None:
        raise oserror(errno.ENOENT)
    ops.vfs_unlink(lower_dir, lower.dentry, op.cred, op.kernel.mounts)
    inode = op.dentry.inode
    if inode is not None:
        inode.nlink = max(inode.nlink - 1, 0)
        inode.ctime_ns = getattr(inode.backing_inode, "ctime_ns", inode.ctime_ns)
    return None


def _rmdir_backing(op: Op, fa: BpfArgs) -> Any:
    lower, lower_dir = _lower_parent(op, op.dentry)
    if lower.dentry.inode is None:
        raise oserror(errno.ENOENT)
    ops.vfs_rmdir(lower_dir, lower.dentry, op.cred, op.kernel.mounts)
    inode = op.dentry.inode
    if inode is not None:
        inode.nlink = 0
    return None


UNLINK = OpSpec("UNLINK", _remove_init(uapi.FUSE_UNLINK), _unlink_backing, _result_keep)
RMDIR = OpSpec("RMDIR", _remove_init(uapi.FUSE_RMDIR), _rmdir_backing, _result_keep)


def bpf_unlink(dir: Any, dentry: Any, cred: Any) -> tuple[bool, Any]:
    """UNLINK: ``(True, None)``."""
    return fuse_bpf_backing(UNLINK, _op(dir, cred, dir=dir, dentry=dentry))


def bpf_rmdir(dir: Any, dentry: Any, cred: Any) -> tuple[bool, Any]:
    """RMDIR: ``(True, None)``."""
    return fuse_bpf_backing(RMDIR, _op(dir, cred, dir=dir, dentry=dentry))


def _rename_init(op: Op) -> BpfArgs:
    new_dir = op.new_dir
    if op.flags:
        first = _struct(uapi.FuseRename2In(newdir=new_dir.nodeid, flags=op.flags))
        opcode = uapi.FUSE_RENAME2
    else:
        first = _struct(uapi.FuseRenameIn(newdir=new_dir.nodeid))
        opcode = uapi.FUSE_RENAME
    return BpfArgs(
        opcode=opcode,
        nodeid=op.old_dir.nodeid,
        in_args=[first, _name(op.old_dentry.name), _name(op.new_dentry.name)],
    )


def _rename_backing(op: Op, fa: BpfArgs) -> Any:
    """``fuse_rename_backing_common``."""
    flags = fa.in_args[0].value.flags if fa.opcode == uapi.FUSE_RENAME2 else 0
    old = _need_backing_path(op.old_dentry)
    new = get_backing_path(op.new_dentry)
    if new is None:
        raise oserror(errno.EXDEV)  # target not instrumented with fuse-bpf
    if new.mnt is not old.mnt:
        raise oserror(errno.EXDEV)
    old_dir = old.dentry.d_parent
    new_dir = new.dentry.d_parent
    from simfs.process import _lock_rename_trap

    trap = _lock_rename_trap(new_dir, old_dir)
    if trap is old.dentry:
        raise oserror(errno.EINVAL)
    if trap is new.dentry:
        raise oserror(errno.ENOTEMPTY)
    assert old_dir.inode is not None and new_dir.inode is not None
    target_inode = op.new_dentry.inode
    ops.vfs_rename(
        old_dir.inode, old.dentry, new_dir.inode, new.dentry, flags, op.cred, op.kernel.mounts
    )
    if target_inode is not None and getattr(target_inode, "backing_inode", None) is not None:
        copy_attr_all(target_inode, target_inode.backing_inode)
    moved = op.old_dentry.inode
    if moved is not None and old.dentry.inode is not None:
        copy_attr_all(moved, old.dentry.inode)
    # the lower dentries moved (or swapped) with their names; the fuse dentries follow
    # in the VFS's d_move/d_exchange, so each keeps pointing at the same lower dentry
    return None


RENAME = OpSpec("RENAME", _rename_init, _rename_backing, _result_keep)


def bpf_rename(
    old_dir: Any, old_dentry: Any, new_dir: Any, new_dentry: Any, flags: int, cred: Any
) -> tuple[bool, Any]:
    """RENAME (flags 0) / RENAME2: ``(True, None)``."""
    valid = ops.RENAME_NOREPLACE | ops.RENAME_EXCHANGE | ops.RENAME_WHITEOUT
    if flags & ~valid and _gate(old_dir):
        raise oserror(errno.EINVAL)  # fuse_rename2: unknown flags before the machine
    return fuse_bpf_backing(
        RENAME,
        _op(
            old_dir,
            cred,
            old_dir=old_dir,
            old_dentry=old_dentry,
            new_dir=new_dir,
            new_dentry=new_dentry,
            flags=flags,
        ),
    )


def _readlink_init(op: Op) -> BpfArgs:
    return BpfArgs(
        opcode=uapi.FUSE_READLINK, nodeid=op.inode.nodeid, in_args=[_name(op.dentry.name)]
    )


def _readlink_backing(op: Op, fa: BpfArgs) -> Any:
    lower = _need_backing_path(op.dentry)
    if lower.dentry.inode is None:
        raise oserror(errno.ENOENT)
    target = lower.dentry.inode.get_link(lower.dentry, op.cred)
    return target


READLINK = OpSpec("READLINK", _readlink_init, _readlink_backing, _result_keep)


def bpf_readlink(inode: Any, dentry: Any, cred: Any) -> tuple[bool, Any]:
    """READLINK (``get_link``): ``(True, target)``."""
    return fuse_bpf_backing(READLINK, _op(inode, cred, dentry=dentry))


# ======================================================================================
# CREATE (atomic open)


def _create_init(op: Op) -> BpfArgs:
    fci = uapi.FuseCreateIn(
        flags=op.flags & 0xFFFFFFFF, mode=op.mode & 0xFFFFFFFF, umask=_umask(op)
    )
    return BpfArgs(
        opcode=uapi.FUSE_CREATE,
        nodeid=op.dir.nodeid,
        in_args=[_struct(fci), _name(op.dentry.name)],
        out_args=[_struct(uapi.FuseEntryOut()), _struct(uapi.FuseOpenOut())],
    )


def _new_fuse_file(nodeid: int, backing_file: File | None, open_flags: int = 0) -> Any:
    from simfs.fuse.inode import FuseFile

    return FuseFile(fh=0, nodeid=nodeid, open_flags=open_flags, backing_file=backing_file)


def _lower_open(op: Op, lower: Path, flags: int) -> File:
    """``dentry_open`` with the caller's credentials (the driver's open, no may_open)."""
    f = ops.vfs_open(op.kernel, lower, flags & ~(os.O_CREAT | os.O_EXCL | os.O_TRUNC), op.cred)
    f.refs = 1
    return f


def _create_backing(op: Op, fa: BpfArgs) -> Any:
    """``fuse_create_open_backing``."""
    dentry: Dentry = op.dentry
    fci = fa.in_args[0].value
    parent_lower = get_backing_path(dentry.d_parent)
    if parent_lower is None or getattr(op.dir, "backing_inode", None) is None:
        op.kernel.explain(errno.EIO, "CREATE backing: the parent directory has no backing path")
        raise oserror(errno.EIO)
    lower = lower_lookup(op.kernel, parent_lower, dentry.name, op.cred)
    if lower.dentry.inode is not None:
        # exists on the lower fs: -EIO, not EEXIST (spec §9.8)
        op.kernel.explain(
            errno.EIO,
            f"CREATE backing: {dentry.name!r} already exists in the lower directory although "
            "the fuse dentry was negative (fuse_create_open_backing gives -EIO, spec §9.8)",
        )
        raise oserror(errno.EIO)
    mode = (fci.mode & ~fci.umask) & 0o7777
    ops.vfs_create(parent_lower.inode, lower.dentry, mode | st.S_IFREG, op.cred, True)
    inode = _instantiate_new(op, dentry, lower, True)
    lower_file = _lower_open(op, lower, op.file.flags)
    op.file.private = _new_fuse_file(inode.nodeid, lower_file)
    op.scratch["inode"] = inode
    return inode


def _create_finalize(op: Op, fa: BpfArgs, result: Any) -> Any:
    if isinstance(result, Err):
        return KEEP
    inode = op.scratch.get("inode")
    feo, foo = fa.out(0), fa.out(1)
    if inode is not None and isinstance(feo, uapi.FuseEntryOut):
        inode.nodeid = feo.nodeid
    ff = op.file.private
    if ff is not None and isinstance(foo, uapi.FuseOpenOut):
        ff.fh = foo.fh
        ff.nodeid = inode.nodeid if inode is not None else 0
        ff.open_flags = foo.open_flags
    return KEEP


CREATE = OpSpec("CREATE", _create_init, _create_backing, _create_finalize)


def bpf_create_open(
    dir: Any, dentry: Any, file: Any, flags: int, mode: int, cred: Any
) -> tuple[bool, Any]:
    """CREATE (``atomic_open`` with O_CREAT): ``(True, inode)``, ``file.private`` set."""
    return fuse_bpf_backing(
        CREATE, _op(dir, cred, dir=dir, dentry=dentry, file=file, flags=flags, mode=mode)
    )


# ======================================================================================
# OPEN / RELEASE / FLUSH / FSYNC


def _open_init(op: Op) -> BpfArgs:
    flags = op.file.flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY)
    return BpfArgs(
        opcode=uapi.FUSE_OPENDIR if op.isdir else uapi.FUSE_OPEN,
        nodeid=op.inode.nodeid,
        in_args=[_struct(uapi.FuseOpenIn(flags=flags & 0xFFFFFFFF))],
        out_args=[_struct(uapi.FuseOpenOut())],
    )


def _open_backing(op: Op, fa: BpfArgs) -> Any:
    """``fuse_open_backing``: permission on the lower inode by access mode, then open."""
    flags = fa.in_args[0].value.flags
    lower = _need_backing_path(op.file.path.dentry)
    acc = flags & os.O_ACCMODE
    if acc == os.O_RDONLY:
        mask = MAY_READ
    elif acc == os.O_WRONLY:
        mask = MAY_WRITE
    elif acc == os.O_RDWR:
        mask = MAY_READ | MAY_WRITE
    else:  # switch (foi->flags & O_ACCMODE) { ... default: return -EINVAL; }: O_ACCMODE 3
        raise oserror(errno.EINVAL)
    if lower.dentry.inode is None:
        raise oserror(errno.ENOENT)
    inode_permission(lower.dentry.inode, mask, op.cred)
    lower_file = _lower_open(op, lower, flags)
    op.scratch["backing_file"] = lower_file
    return 0


def _open_finalize(op: Op, fa: BpfArgs, result: Any) -> Any:
    bf = op.scratch.get("backing_file")
    if isinstance(result, Err):
        if bf is not None:
            ops.fput(op.kernel, bf)
        return KEEP
    foo = fa.out(0)
    ff = _new_fuse_file(op.inode.nodeid, bf)
    if isinstance(foo, uapi.FuseOpenOut):
        ff.fh = foo.fh
        ff.open_flags = foo.open_flags
    op.file.private = ff
    if bf is not None and bf.inode is not None and not op.isdir:
        op.inode.size = bf.inode.size
    return KEEP


OPEN = OpSpec("OPEN", _open_init, _open_backing, _open_finalize)


def bpf_open(inode: Any, file: Any, cred: Any, isdir: bool) -> tuple[bool, Any]:
    """OPEN / OPENDIR: ``(True, None)``; ``file.private`` is a FuseFile with the lower file."""
    if not _gate(inode):
        return NOT_HANDLED
    if getattr(inode, "bad", False):
        raise inode.bad_error()  # fuse_open_common: bad inode
    return fuse_bpf_backing(OPEN, _op(inode, cred, file=file, isdir=isdir))


def _release_init(op: Op) -> BpfArgs:
    ff = _ff(op.file)
    # the lower file is dropped here, whatever the filters decide (fuse_release_initialize)
    bf = getattr(ff, "backing_file", None)
    if bf is not None:
        ff.backing_file = None
        ops.fput(op.kernel, bf)
    return BpfArgs(
        opcode=uapi.FUSE_RELEASEDIR if op.isdir else uapi.FUSE_RELEASE,
        nodeid=getattr(ff, "nodeid", op.inode.nodeid),
        in_args=[
            _struct(uapi.FuseReleaseIn(fh=getattr(ff, "fh", 0), flags=op.file.flags & 0xFFFFFFFF))
        ],
    )


def _nothing(op: Op, fa: BpfArgs) -> Any:
    return 0


RELEASE = OpSpec("RELEASE", _release_init, _nothing, _keep)


def bpf_release(inode: Any, file: Any, isdir: bool) -> tuple[bool, Any]:
    """RELEASE / RELEASEDIR: ``(True, None)``; not handled -> the classic async RELEASE."""
    return fuse_bpf_backing(RELEASE, _op(inode, None, file=file, isdir=isdir))


def _flush_init(op: Op) -> BpfArgs:
    ff = _ff(op.file)
    return BpfArgs(
        opcode=uapi.FUSE_FLUSH,
        nodeid=getattr(ff, "nodeid", op.inode.nodeid),
        in_args=[_struct(uapi.FuseFlushIn(fh=getattr(ff, "fh", 0)))],
        flags=uapi.FUSE_BPF_FORCE,
    )


def _flush_backing(op: Op, fa: BpfArgs) -> Any:
    bf = getattr(_ff(op.file), "backing_file", None)
    if bf is not None:
        bf.inode.flush(bf)
    return 0


FLUSH = OpSpec("FLUSH", _flush_init, _flush_backing, _keep)


def bpf_flush(inode: Any, file: Any) -> tuple[bool, Any]:
    """FLUSH: ``(True, None)``."""
    return fuse_bpf_backing(FLUSH, _op(inode, None, file=file))


def _fsync_init(op: Op) -> BpfArgs:
    ff = _ff(op.file)
    return BpfArgs(
        opcode=uapi.FUSE_FSYNCDIR if op.isdir else uapi.FUSE_FSYNC,
        nodeid=getattr(ff, "nodeid", op.inode.nodeid),
        in_args=[
            _struct(
                uapi.FuseFsyncIn(
                    fh=getattr(ff, "fh", 0),
                    fsync_flags=uapi.FUSE_FSYNC_FDATASYNC if op.datasync else 0,
                )
            )
        ],
        flags=uapi.FUSE_BPF_FORCE,
    )


def _fsync_backing(op: Op, fa: BpfArgs) -> Any:
    datasync = bool(fa.in_args[0].value.fsync_flags & uapi.FUSE_FSYNC_FDATASYNC)
    ops.vfs_fsync(op.kernel, _backing_file(op.file), datasync)
    return 0


FSYNC = OpSpec("FSYNC", _fsync_init, _fsync_backing, _keep)


def bpf_fsync(inode: Any, file: Any, datasync: bool, isdir: bool) -> tuple[bool, Any]:
    """FSYNC / FSYNCDIR: ``(True, None)``."""
    return fuse_bpf_backing(FSYNC, _op(inode, None, file=file, datasync=datasync, isdir=isdir))


# ======================================================================================
# READ / WRITE / LSEEK / FALLOCATE / COPY_FILE_RANGE


def _read_init(op: Op) -> BpfArgs:
    ff = _ff(op.file)
    fri = uapi.FuseReadIn(
        fh=getattr(ff, "fh", 0),
        offset=op.offset,
        size=op.size & 0xFFFFFFFF,
        flags=op.file.flags & 0xFFFFFFFF,
    )
    return BpfArgs(
        opcode=uapi.FUSE_READ,
        nodeid=getattr(ff, "nodeid", op.inode.nodeid),
        in_args=[_struct(fri)],
        out_args=[_struct(uapi.FuseReadIterOut())],
    )


def _read_backing(op: Op, fa: BpfArgs) -> Any:
    """``fuse_file_read_iter_backing``: lower read, then copy times."""
    fri = fa.in_args[0].value  # noqa: F841  (READ structs are not honoured, spec §3.4)
    if op.size == 0:
        return b""
    bf = _backing_file(op.file)
    data = ops.vfs_read(op.kernel, bf, op.size, op.offset)
    fa.out_args[0].value = uapi.FuseReadIterOut(ret=len(data))
    _copy_times(op.inode, bf.inode)
    return data


def _count_finalize(kind: str) -> Callable[[Op, BpfArgs, Any], Any]:
    """READ/WRITE finalize: ``ERR_PTR(fro->ret)`` -- the count in out slot 0 (which after
    a prefilter error is the aliased in struct, whose first word is ``fh``)."""

    def fin(op: Op, fa: BpfArgs, result: Any) -> Any:
        if isinstance(result, Err) and not op.quirks:
            return KEEP
        v = fa.out(0)
        if isinstance(v, uapi.FuseReadIterOut | uapi.FuseWriteIterOut):
            count = v.ret
        elif v is not None and hasattr(v, "fh"):
            count = v.fh  # aliased fuse_read_in/fuse_write_in (quirk §3.6 A)
        else:
            count = 0
        if count == 0:
            return KEEP
        if count >= (1 << 64) - MAX_ERRNO:
            return Err((1 << 64) - count)
        if kind == "read":
            data = result if isinstance(result, bytes) else b""
            count = min(count, op.size)
            return data[:count] + b"\0" * max(0, count - len(data))
        return min(count, len(op.data)) if not isinstance(result, Err) else count

    return fin


READ = OpSpec("READ", _read_init, _read_backing, _count_finalize("read"))


def bpf_read(inode: Any, file: Any, offset: int, size: int) -> tuple[bool, Any]:
    """READ: ``(True, bytes)``."""
    return fuse_bpf_backing(READ, _op(inode, None, file=file, offset=offset, size=size))


def _write_init(op: Op) -> BpfArgs:
    ff = _ff(op.file)
    fwi = uapi.FuseWriteIn(
        fh=getattr(ff, "fh", 0),
        offset=op.offset,
        size=len(op.data) & 0xFFFFFFFF,
        flags=op.file.flags & 0xFFFFFFFF,
    )
    return BpfArgs(
        opcode=uapi.FUSE_WRITE,
        nodeid=getattr(ff, "nodeid", op.inode.nodeid),
        in_args=[_struct(fwi)],  # the data of a user write is not visible to filters
        out_args=[_struct(uapi.FuseWriteIterOut())],
    )


def _write_backing(op: Op, fa: BpfArgs) -> Any:
    """``fuse_file_write_iter_backing``: copy attrs, lower write, copy attrs again."""
    bf = _backing_file(op.file)
    inode = op.inode
    inode.size = bf.inode.size
    n = ops.vfs_write(op.kernel, bf, op.data, op.offset)
    fa.out_args[0].value = uapi.FuseWriteIterOut(ret=n)
    inode.size = bf.inode.size
    _copy_times(inode, bf.inode)
    return n


WRITE = OpSpec("WRITE", _write_init, _write_backing, _count_finalize("write"))


def bpf_write(inode: Any, file: Any, offset: int, data: bytes) -> tuple[bool, Any]:
    """WRITE: ``(True, count)``."""
    return fuse_bpf_backing(WRITE, _op(inode, None, file=file, offset=offset, data=data))


def _lseek_init(op: Op) -> BpfArgs:
    ff = _ff(op.file)
    fli = uapi.FuseLseekIn(
        fh=getattr(ff, "fh", 0), offset=op.offset & 0xFFFFFFFFFFFFFFFF, whence=op.whence
    )
    return BpfArgs(
        opcode=uapi.FUSE_LSEEK,
        nodeid=getattr(ff, "nodeid", op.inode.nodeid),
        in_args=[_struct(fli)],
        out_args=[_struct(uapi.FuseLseekOut())],
    )


def _s64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _lseek_backing(op: Op, fa: BpfArgs) -> Any:
    """``fuse_lseek_backing``."""
    fli = fa.in_args[0].value
    offset, whence = _s64(fli.offset), fli.whence
    file = op.file
    if offset == 0 and whence == SEEK_CUR:
        fa.out_args[0].value = uapi.FuseLseekOut(offset=file.pos)
        return file.pos
    if offset == 0 and whence == SEEK_SET:
        file.pos = 0
        fa.out_args[0].value = uapi.FuseLseekOut(offset=0)
        return 0
    bf = _backing_file(file)
    bf.pos = file.pos
    new = ops.vfs_llseek(op.kernel, bf, offset, whence)
    fa.out_args[0].value = uapi.FuseLseekOut(offset=new)
    return new


def _lseek_finalize(op: Op, fa: BpfArgs, result: Any) -> Any:
    if isinstance(result, Err) and not op.quirks:
        return KEEP
    v = fa.out(0)
    off = v.offset if isinstance(v, uapi.FuseLseekOut) else getattr(v, "fh", 0)
    op.file.pos = off  # f_pos is committed from the out struct
    return off if off != 0 else KEEP


LSEEK = OpSpec("LSEEK", _lseek_init, _lseek_backing, _lseek_finalize)


def bpf_llseek(inode: Any, file: Any, offset: int, whence: int) -> tuple[bool, Any]:
    """LSEEK: ``(True, new offset)`` with ``file.pos`` updated."""
    return fuse_bpf_backing(LSEEK, _op(inode, None, file=file, offset=offset, whence=whence))


def _fallocate_init(op: Op) -> BpfArgs:
    ff = _ff(op.file)
    ffi = uapi.FuseFallocateIn(
        fh=getattr(ff, "fh", 0), offset=op.offset, length=op.length, mode=op.mode
    )
    return BpfArgs(
        opcode=uapi.FUSE_FALLOCATE,
        nodeid=getattr(ff, "nodeid", op.inode.nodeid),
        in_args=[_struct(ffi)],
    )


def _fallocate_backing(op: Op, fa: BpfArgs) -> Any:
    ffi = fa.in_args[0].value
    bf = _backing_file(op.file)
    ops.vfs_fallocate(op.kernel, bf, ffi.mode, ffi.offset, ffi.length)
    op.inode.size = bf.inode.size
    return 0


FALLOCATE = OpSpec("FALLOCATE", _fallocate_init, _fallocate_backing, _keep)


def bpf_fallocate(inode: Any, file: Any, mode: int, offset: int, length: int) -> tuple[bool, Any]:
    """FALLOCATE: ``(True, None)``."""
    return fuse_bpf_backing(
        FALLOCATE, _op(inode, None, file=file, mode=mode, offset=offset, length=length)
    )


def _cfr_init(op: Op) -> BpfArgs:
    ffi, ffo = _ff(op.file_in), _ff(op.file_out)
    cfri = uapi.FuseCopyFileRangeIn(
        fh_in=getattr(ffi, "fh", 0),
        off_in=op.off_in,
        nodeid_out=getattr(ffo, "nodeid", 0),
        fh_out=getattr(ffo, "fh", 0),
        off_out=op.off_out,
        len=op.length,
        flags=op.flags,
    )
    return BpfArgs(
        opcode=uapi.FUSE_COPY_FILE_RANGE,
        nodeid=getattr(ffi, "nodeid", op.inode.nodeid),
        in_args=[_struct(cfri)],
        out_args=[_struct(uapi.FuseWriteOut())],
    )


def _cfr_backing(op: Op, fa: BpfArgs) -> Any:
    """``fuse_copy_file_range_backing``: lower copy if the output has a lower file; else
    the generic copy (EOPNOTSUPP/EXDEV make the VFS retry with a splice copy)."""
    c = fa.in_args[0].value
    bin_ = getattr(_ff(op.file_in), "backing_file", None)
    bout = getattr(_ff(op.file_out), "backing_file", None)
    if bin_ is None or bout is None:
        raise oserror(errno.EXDEV)
    n = ops.vfs_copy_file_range(op.kernel, bin_, c.off_in, bout, c.off_out, c.len, c.flags)
    op.file_out.inode.size = bout.inode.size
    return n


COPY_FILE_RANGE = OpSpec("COPY_FILE_RANGE", _cfr_init, _cfr_backing, _result_keep)


def bpf_copy_file_range(
    inode: Any, file_in: Any, off_in: int, file_out: Any, off_out: int, length: int, flags: int
) -> tuple[bool, Any]:
    """COPY_FILE_RANGE (controlled by file_in's inode): ``(True, count)``."""
    return fuse_bpf_backing(
        COPY_FILE_RANGE,
        _op(
            inode,
            None,
            file_in=file_in,
            off_in=off_in,
            file_out=file_out,
            off_out=off_out,
            length=length,
            flags=flags,
        ),
    )


# ======================================================================================
# READDIR (+ the again loop)


def _readdir_init(op: Op) -> BpfArgs:
    ff = _ff(op.file)
    fri = uapi.FuseReadIn(fh=getattr(ff, "fh", 0), offset=op.scratch["pos"], size=PAGE_SIZE)
    return BpfArgs(
        opcode=uapi.FUSE_READDIR,
        nodeid=getattr(ff, "nodeid", op.inode.nodeid),
        in_args=[_struct(fri)],
        out_args=[_struct(uapi.FuseReadOut()), ArgBuffer([], 0, PAGE_SIZE, "dirents")],
        flags=uapi.FUSE_BPF_OUT_ARGVAR,
    )


def _readdir_backing(op: Op, fa: BpfArgs) -> Any:
    """``fuse_readdir_backing``: one page of lower entries as fuse_dirent records."""
    bf = _backing_file(op.file)
    pos = op.scratch["lower_pos"]
    entries = bf.inode.iterate(bf, pos, op.cred)
    page: list[uapi.FuseDirent] = []
    used = 0
    offset = pos  # the lower dir_context's ctx.pos
    for e in entries:
        # filldir: a record's off is the offset dir_emit passes, i.e. ctx->pos *at* this
        # entry (its own position; simfs's DirEntry.off is the position after it), and a
        # record that would cross the page (header + name, unaligned) stops the walk
        rec = uapi.FuseDirent(ino=e.ino, off=offset, type=e.dtype, name=e.name)
        if used + uapi.FUSE_NAME_OFFSET + rec.namelen > PAGE_SIZE:
            break
        page.append(rec)
        used += rec.record_size
        offset = e.off
    # fuse_readdir_backing: fro->offset = ec.ctx.pos (where the lower walk stopped)
    fa.out_args[0].value = uapi.FuseReadOut(offset=offset, again=0)
    fa.out_args[1].value = page
    fa.out_args[1].size = used
    op.scratch["force_again_ok"] = bool(page)
    return 0


def _readdir_finalize(op: Op, fa: BpfArgs, result: Any) -> Any:
    """``fuse_readdir_finalize``: ``parse_dirfile`` into the caller's buffer, ``again``
    handling, ``ctx->pos = fro->offset``.

    ACK sets ``ctx->pos = fro->offset`` after ``parse_dirfile`` stopped at a record that did
    not fit the caller's buffer too, so with ``quirks`` the records of the page that did not
    fit are skipped (a later ``getdents`` never sees them); with ``quirks`` False the
    position stays at the first record not emitted and no ``again`` pass follows."""
    if isinstance(result, Err):
        return KEEP
    fro = fa.out(0)
    recs = fa.out(1)
    if not isinstance(fro, uapi.FuseReadOut) or not isinstance(recs, list):
        # the page was never filled (quirk §3.6 A)
        return op.fail(
            errno.EIO,
            "READDIR finalize: no fuse_read_out and dirent page to parse (a filter that "
            "handled READDIR left them unfilled)",
        )
    ctx: DirContext = op.scratch["ctx"]
    err = 0
    stopped = False
    for i, r in enumerate(recs):
        if r.namelen == 0 or r.namelen > FUSE_NAME_MAX or "/" in r.name:
            err = errno.EIO
            op.kernel.explain(
                err,
                f"READDIR finalize: dirent {i} ({r.name!r}) has an empty name, one over "
                f"FUSE_NAME_MAX or a '/' (parse_dirfile: -EIO)",
            )
            break
        # parse_dirfile: ctx->pos = dirent->off before each dir_emit, and ctx->pos =
        # fro->offset at the end; getdents reports as an entry's d_off the position passed
        # with the next one (filldir64), hence DirEntry.off = the next record's off
        ctx.pos = r.off
        after = recs[i + 1].off if i + 1 < len(recs) else fro.offset
        if not ctx.emit(DirEntry(r.name, r.ino, r.type, after)):
            stopped = True
            break
    again = bool(fro.again)
    if again and not op.scratch.get("force_again_ok", False) and not err:
        err = errno.EINVAL
        op.kernel.explain(
            err,
            "READDIR finalize: a filter set fuse_read_out.again although the backing "
            "directory returned no entry, so forcing another pass is not allowed (-EINVAL)",
        )
    if stopped and not op.quirks:
        again = False  # the intended semantics: resume at the first record not emitted
    else:
        ctx.pos = fro.offset
    op.scratch["again"] = again
    op.scratch["lower_pos"] = ctx.pos  # backing_dir->f_pos = fro->offset
    return Err(err) if err else KEEP


READDIR = OpSpec("READDIR", _readdir_init, _readdir_backing, _readdir_finalize)


def _readdir_run(op: Op, ctx: DirContext) -> bool:
    """One ``fuse_readdir`` call into ``ctx``: machine runs repeated (``is_continued``)
    while the finalized ``fuse_read_out.again`` asks for it and no error occurred.
    False when the first run fell back to classic FUSE."""
    op.scratch["ctx"] = ctx
    op.scratch["pos"] = ctx.pos
    op.scratch["lower_pos"] = ctx.pos
    first = True
    while True:
        op.scratch["again"] = False
        handled, _res = fuse_bpf_backing(READDIR, op)
        if not handled:
            return not first
        first = False
        op.scratch["pos"] = ctx.pos
        if not op.scratch["again"]:  # fuse_readdir: goto again while force_again
            return True


def bpf_readdir(inode: Any, file: Any, pos: int, cred: Any) -> tuple[bool, Any]:
    """READDIR: ``(True, list[DirEntry])`` -- every remaining entry, as repeated
    ``getdents`` calls with an unlimited buffer would see them: one :func:`_readdir_run`
    per call, until a call emits nothing."""
    if not _gate(inode):
        return NOT_HANDLED
    op = _op(inode, cred, file=file)
    all_entries: list[DirEntry] = []
    for _ in range(1 << 16):
        ctx = DirContext(pos, None)
        if not _readdir_run(op, ctx):
            return (True, all_entries) if all_entries else NOT_HANDLED
        all_entries.extend(ctx.entries)
        pos = ctx.pos
        if not ctx.entries:
            break
    return True, all_entries


def bpf_readdir_once(inode: Any, file: Any, ctx: DirContext, cred: Any) -> tuple[bool, Any]:
    """READDIR, one ``fuse_readdir`` call (one ``getdents64``) filling ``ctx``:
    ``(True, None)``, or not handled (classic FUSE)."""
    if not _gate(inode):
        return NOT_HANDLED
    op = _op(inode, cred, file=file)
    return (True, None) if _readdir_run(op, ctx) else NOT_HANDLED


# ======================================================================================
# XATTRs


def _getxattr_init(op: Op) -> BpfArgs:
    size = op.size
    outs = [ArgBuffer(b"", 0, size, bytes)] if size > 0 else [_struct(uapi.FuseGetxattrOut())]
    return BpfArgs(
        opcode=uapi.FUSE_GETXATTR,
        nodeid=op.inode.nodeid,
        in_args=[_struct(uapi.FuseGetxattrIn(size=size)), _name(op.name)],
        out_args=outs,
        flags=uapi.FUSE_BPF_OUT_ARGVAR if size > 0 else 0,
    )


def _getxattr_backing(op: Op, fa: BpfArgs) -> Any:
    name = fa.in_args[1].value  # the filtered name is honoured (spec §3.4)
    lower = _lower_path_of_inode(op)
    value = ops.vfs_getxattr(lower.dentry, name, op.cred)
    if op.size > 0:
        if len(value) > op.size:
            raise oserror(errno.ERANGE)
        fa.out_args[0].value = value
        fa.out_args[0].size = len(value)
    else:
        fa.out_args[0].value = uapi.FuseGetxattrOut(size=len(value))
    op.scratch["value"] = value
    return value


def _xattr_size_finalize(op: Op, fa: BpfArgs, result: Any) -> Any:
    """Get/list finalize: the size slot replaces the result (prefilter error with a
    buffer: the aliased in struct reports 8 -- quirk §3.6 A)."""
    if isinstance(result, Err):
        if not op.quirks:
            return KEEP
        if op.size > 0 and fa.out_args and fa.out_args[0] is fa.in_args[0]:
            return b"\0" * 8 if op.kind == "get" else ["\0" * 7]
        return KEEP
    v = fa.out(0)
    if isinstance(v, bytes):
        data = v[: fa.out_args[0].size]
    elif isinstance(v, uapi.FuseGetxattrOut):
        value = op.scratch.get("value", b"")
        if isinstance(value, list):
            return value
        data = value[: v.size] + b"\0" * max(0, v.size - len(value))
        return data
    else:
        return KEEP
    if op.kind == "list":
        return [n for n in data.decode("utf-8", "surrogateescape").split("\0") if n]
    return data


def _getxattr_fin(op: Op, fa: BpfArgs, result: Any) -> Any:
    op.kw["kind"] = "get"
    return _xattr_size_finalize(op, fa, result)


GETXATTR = OpSpec("GETXATTR", _getxattr_init, _getxattr_backing, _getxattr_fin)


def bpf_getxattr(inode: Any, dentry: Any, name: str, size: int, cred: Any) -> tuple[bool, Any]:
    """GETXATTR: ``(True, value bytes)``."""
    return fuse_bpf_backing(GETXATTR, _op(inode, cred, dentry=dentry, name=name, size=size))


def _listxattr_init(op: Op) -> BpfArgs:
    size = op.size
    outs = [ArgBuffer(b"", 0, size, bytes)] if size > 0 else [_struct(uapi.FuseGetxattrOut())]
    return BpfArgs(
        opcode=uapi.FUSE_LISTXATTR,
        nodeid=op.inode.nodeid,
        in_args=[_struct(uapi.FuseGetxattrIn(size=size))],
        out_args=outs,
        flags=uapi.FUSE_BPF_OUT_ARGVAR if size > 0 else 0,
    )


def _listxattr_backing(op: Op, fa: BpfArgs) -> Any:
    lower = _lower_path_of_inode(op)
    names = ops.vfs_listxattr(lower.dentry, op.cred)
    raw = b"".join(n.encode("utf-8", "surrogateescape") + b"\0" for n in names)
    if op.size > 0:
        if len(raw) > op.size:
            raise oserror(errno.ERANGE)
        fa.out_args[0].value = raw
        fa.out_args[0].size = len(raw)
    else:
        fa.out_args[0].value = uapi.FuseGetxattrOut(size=len(raw))
    op.scratch["value"] = names
    return names


def _listxattr_fin(op: Op, fa: BpfArgs, result: Any) -> Any:
    op.kw["kind"] = "list"
    return _xattr_size_finalize(op, fa, result)


LISTXATTR = OpSpec("LISTXATTR", _listxattr_init, _listxattr_backing, _listxattr_fin)


def bpf_listxattr(inode: Any, dentry: Any, size: int, cred: Any) -> tuple[bool, Any]:
    """LISTXATTR: ``(True, list[str])``."""
    return fuse_bpf_backing(LISTXATTR, _op(inode, cred, dentry=dentry, size=size))


def _setxattr_init(op: Op) -> BpfArgs:
    return BpfArgs(
        opcode=uapi.FUSE_SETXATTR,
        nodeid=op.inode.nodeid,
        in_args=[
            _struct(uapi.FuseSetxattrIn(size=len(op.value), flags=op.flags)),
            _name(op.name),
            ArgBuffer.of(bytes(op.value), bytes),
        ],
    )


def _setxattr_backing(op: Op, fa: BpfArgs) -> Any:
    lower = _lower_path_of_inode(op)
    ops.vfs_setxattr(lower.dentry, op.name, op.value, op.flags, op.cred)  # VFS arguments
    return 0


SETXATTR = OpSpec("SETXATTR", _setxattr_init, _setxattr_backing, _keep)


def bpf_setxattr(
    inode: Any, dentry: Any, name: str, value: bytes, flags: int, cred: Any
) -> tuple[bool, Any]:
    """SETXATTR: ``(True, None)``."""
    return fuse_bpf_backing(
        SETXATTR, _op(inode, cred, dentry=dentry, name=name, value=value, flags=flags)
    )


def _removexattr_init(op: Op) -> BpfArgs:
    return BpfArgs(opcode=uapi.FUSE_REMOVEXATTR, nodeid=op.inode.nodeid, in_args=[_name(op.name)])


def _removexattr_backing(op: Op, fa: BpfArgs) -> Any:
    lower = _lower_path_of_inode(op)
    ops.vfs_removexattr(lower.dentry, op.name, op.cred)
    return 0


REMOVEXATTR = OpSpec("REMOVEXATTR", _removexattr_init, _removexattr_backing, _keep)


def bpf_removexattr(inode: Any, dentry: Any, name: str, cred: Any) -> tuple[bool, Any]:
    """REMOVEXATTR: ``(True, None)``."""
    return fuse_bpf_backing(REMOVEXATTR, _op(inode, cred, dentry=dentry, name=name))


#: Every opcode the machine knows, by name.
SPECS: dict[str, OpSpec] = {
    s.name: s
    for s in (
        LOOKUP,
        GETATTR,
        SETATTR,
        ACCESS,
        STATFS,
        CANONICAL_PATH,
        MKNOD,
        MKDIR,
        SYMLINK,
        LINK,
        UNLINK,
        RMDIR,
        RENAME,
        READLINK,
        CREATE,
        OPEN,
        RELEASE,
        FLUSH,
        FSYNC,
        READ,
        WRITE,
        LSEEK,
        FALLOCATE,
        COPY_FILE_RANGE,
        READDIR,
        GETXATTR,
        LISTXATTR,
        SETXATTR,
        REMOVEXATTR,
    )
}


# ======================================================================================
# Mount, revalidation, and the operations fuse-bpf does not intercept (spec §5)


def setup_root(fm: Any, root_inode: Any, root_dentry: Dentry, root_dir: Any, root_bpf: Any) -> None:
    """``fuse_fill_super`` with ``root_dir``/``root_bpf``: back the root inode with the
    lower directory (a :class:`Path`, a path string, or a File) and attach the program
    (a loaded :class:`BpfProg`, a ``@program``, or an fd; see ``simfs.bpf.resolve_root_bpf``)."""
    from simfs.bpf import resolve_root_bpf

    k = fm.kernel
    if root_dir is not None:
        if isinstance(root_dir, str):
            path = k.resolve(root_dir)
        elif isinstance(root_dir, File):
            path = root_dir.path
        else:
            path = root_dir
        if not st.S_ISDIR(path.inode.mode):
            raise oserror(errno.ENOTDIR)
        root_inode.backing_inode = path.inode
        _fdentry(root_dentry).backing_path = path
    if root_bpf is not None:
        root_inode.bpf = resolve_root_bpf(k, root_bpf)


def revalidate_backing(dentry: Dentry, cred: Any = None, flags: int = 0) -> bool | None:
    """``fuse_dentry_revalidate``'s fuse-bpf part (spec §6.5).

    Returns False (invalid: lower dentry unhashed, or the lower fs says so), True (valid:
    the parent is backed, so no daemon revalidation exists), or None (not a fuse-bpf
    decision: continue with the classic entry-timeout/LOOKUP check).
    """
    lower = get_backing_path(dentry)
    if lower is not None:
        bd = lower.dentry
        if bd.unhashed:
            return False
        from simfs.vfs.cred import Cred as _Cred

        c = cred if cred is not None else _Cred()
        if not bd.sb.d_revalidate(bd, c, flags):
            return False
        # a positive fuse dentry over a lower dentry that turned negative is stale
        if (dentry.inode is None) != (bd.inode is None):
            return False
        if dentry.inode is not None and getattr(dentry.inode, "backing_inode", None) not in (
            None,
            bd.inode,
        ):
            return False
    parent = dentry.parent
    if parent is not None and _gate(parent.inode):
        return True
    return None


def mmap_target(file: File) -> tuple[Inode, File] | None:
    """``fuse_backing_mmap``: a fuse file with a lower file maps the lower file (the
    VMA's file is replaced; no BPF).  The lower file must be mappable (a regular file)
    else ENODEV; the fuse inode takes the lower mtime/ctime.  None: no lower file."""
    bf = getattr(file.private, "backing_file", None)
    if not isinstance(bf, File):
        return None
    if not st.S_ISREG(bf.inode.mode):
        raise oserror(errno.ENODEV)
    _copy_times(file.inode, bf.inode)
    return bf.inode, bf


def backing_fadvise(file: File, offset: int, length: int, advice: int) -> bool:
    """Readahead/fadvise on a fuse file with a lower file: passed to the lower file
    (``vfs_fadvise``), which for this lower fs has nothing to do.  False: no lower file."""
    return getattr(file.private, "backing_file", None) is not None


def backing_ioctl(file: File, cmd: int, arg: Any) -> Any:
    """``fuse_file_ioctl`` with a lower file: plain ioctl on the lower file; the lower fs
    here has no ioctls -> ENOTTY."""
    bf = getattr(file.private, "backing_file", None)
    if bf is None:
        return None
    handler = getattr(bf.inode, "ioctl", None)
    if handler is None:
        raise oserror(errno.ENOTTY)
    return handler(bf, cmd, arg)


def backing_splice_read(file: File, offset: int, size: int) -> bytes | None:
    """Splice read from a fuse file with a lower file: a lower read (no BPF), times
    copied.  None without a lower file."""
    bf = getattr(file.private, "backing_file", None)
    if bf is None:
        return None
    data = ops.vfs_read(file.inode.sb.kernel, bf, size, offset)
    _copy_times(file.inode, bf.inode)
    return data
