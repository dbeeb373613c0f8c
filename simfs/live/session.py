"""Serve a :class:`simfs.Daemon` on this machine's real kernel through ``/dev/fuse``.

This is the bridge between the simulator and Linux: the same daemon object that answers
simfs's modelled kernel answers the real one.  Pieces, each one kernel interface:

* :func:`fuse_mount` / :func:`fuse_umount`: ``mount(2)`` of type ``fuse.simfs`` with
  ``fd=N,rootmode=...,user_id=...,group_id=...`` (what ``fuse_parse_param`` takes, as
  libfuse's ``fuse_mount_sys`` passes it, with ``MS_NOSUID|MS_NODEV``) and
  ``umount2(2)`` (plain first, ``MNT_DETACH`` if busy).
* :class:`LiveDevice`: the daemon's open ``/dev/fuse``: ``read(2)`` one request,
  ``write(2)`` one reply, and the device ioctls ``FUSE_DEV_IOC_BACKING_OPEN`` /
  ``FUSE_DEV_IOC_BACKING_CLOSE`` behind :meth:`simfs.Daemon.backing_open` /
  :meth:`~simfs.Daemon.backing_close`.
* :func:`serve`: the daemon loop, libfuse's ``fuse_session_loop`` with simfs's rules for a
  daemon's answer (``OSError`` -> its errno, :class:`~simfs.daemon.DaemonExit` -> close
  the device, anything else -> ``EIO``, ``None`` -> no reply), recording every request
  and reply in a :class:`LiveTrace`.
* :func:`run_live`: one whole session for tests: a forked child enters a private mount
  namespace (``unshare(CLONE_NEWNS)`` + ``MS_REC|MS_PRIVATE`` on ``/``), opens the device,
  mounts, forks the workload into a process of its own (a task that calls into the mount
  blocks until the daemon answers, and a page fault on a mapping blocks with the GIL
  held, so the two cannot share a process), runs the daemon loop in a thread, unmounts
  when the workload is done, and sends the results and the trace back through a pipe.
  Whatever happens (exception, daemon crash, hang past ``timeout``), the child ends, and
  with it its mount namespace and its ``/dev/fuse`` descriptor: the kernel aborts the
  connection and drops the mount, so nothing outlives the call.

No thread or process is ever created inside the simulator: only here, where a real kernel
is served.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import pickle
import select
import signal
import stat as st
import struct
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from simfs import uapi
from simfs.daemon import Daemon, DaemonExit, Reply, Request
from simfs.errors import SimfsError
from simfs.live.wire import WireState, decode_request, encode_reply

__all__ = [
    "LiveDevice",
    "LiveError",
    "LiveResult",
    "LiveTrace",
    "fuse_mount",
    "fuse_umount",
    "live_unavailable",
    "run_live",
    "serve",
]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2
PR_SET_PDEATHSIG = 1
CLONE_NEWNS = 0x00020000
DEV_FUSE = "/dev/fuse"
#: ``fuse_dev_do_read`` refuses a buffer smaller than this or than header + write_in +
#: max_write; simfs daemons' max_write is at most 1 MiB.
_READ_SLACK = uapi.FuseInHeader.SIZE + uapi.FuseWriteIn.SIZE + uapi.FUSE_MIN_READ_BUFFER


class LiveError(SimfsError):
    """The bridge could not do what was asked (no ``/dev/fuse``, not root, a hang...)."""


def live_unavailable() -> str | None:
    """Why a real FUSE mount cannot be made here, or ``None`` if it can."""
    if os.uname().sysname != "Linux":
        return "not Linux"
    if not os.path.exists(DEV_FUSE):
        return f"{DEV_FUSE} does not exist (no FUSE in this kernel or container)"
    if os.geteuid() != 0:
        return "not root: mounting FUSE with fd= needs CAP_SYS_ADMIN (/dev/fuse is 0600 here)"
    try:
        fd = os.open(DEV_FUSE, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"cannot open {DEV_FUSE}: {e.strerror}"
    os.close(fd)
    return None


def _check(ret: int, what: str, *names: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", *names)


def fuse_mount(
    mountpoint: str,
    devfd: int,
    *,
    rootmode: int = st.S_IFDIR,
    user_id: int = 0,
    group_id: int = 0,
    default_permissions: bool = False,
    allow_other: bool = False,
    max_read: int | None = None,
    source: str = "simfs",
) -> None:
    """``mount(2)`` a FUSE filesystem served through ``devfd`` on ``mountpoint``."""
    opts = [f"fd={devfd}", f"rootmode={rootmode:o}", f"user_id={user_id}", f"group_id={group_id}"]
    if default_permissions:
        opts.append("default_permissions")
    if allow_other:
        opts.append("allow_other")
    if max_read is not None:
        opts.append(f"max_read={max_read}")
    ret = _libc.mount(
        source.encode(),
        os.fsencode(mountpoint),
        b"fuse.simfs",
        MS_NOSUID | MS_NODEV,
        ",".join(opts).encode(),
    )
    _check(ret, "mount", mountpoint)


def fuse_umount(mountpoint: str) -> None:
    """``umount2(2)``: plain (the superblock goes, the connection is aborted), or lazily
    (``MNT_DETACH``) when something still uses the mount.  A mount already gone is fine."""
    target = os.fsencode(mountpoint)
    if _libc.umount2(target, 0) == 0:
        return
    err = ctypes.get_errno()
    if err == errno.EINVAL:  # not a mount point (any more)
        return
    _check(_libc.umount2(target, MNT_DETACH), "umount2(MNT_DETACH)", mountpoint)


def enter_private_mount_namespace() -> None:
    """``unshare(CLONE_NEWNS)`` and make every mount private, as ``unshare -m`` does."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")


def connection_id(mountpoint: str) -> int | None:
    """The FUSE connection id of the mount on ``mountpoint``: the minor of its device, from
    ``/proc/self/mountinfo`` (a ``stat`` would send GETATTR)."""
    target = os.path.abspath(mountpoint)  # no realpath: lstat of the root would send GETATTR
    found: int | None = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 4 and fields[4] == target:
                found = int(fields[2].split(":")[1])  # the last mount on top wins
    return found


def abort_connection(conn_id: int) -> None:
    """``echo 1 > /sys/fs/fuse/connections/N/abort`` (``fuse_abort_conn``), mounting the
    fusectl filesystem on a scratch directory if it is not there (call it in a private
    mount namespace)."""
    ctl = "/sys/fs/fuse/connections"
    scratch = None
    if not os.path.exists(os.path.join(ctl, str(conn_id))):
        ctl = scratch = tempfile.mkdtemp(prefix="simfs-fusectl-")
        _check(_libc.mount(b"fusectl", ctl.encode(), b"fusectl", 0, None), "mount fusectl", ctl)
    try:
        with open(os.path.join(ctl, str(conn_id), "abort"), "w") as f:
            f.write("1")
    finally:
        if scratch is not None:
            _libc.umount2(scratch.encode(), MNT_DETACH)
            os.rmdir(scratch)


def _os_process() -> Any:
    """A new :class:`~simfs.live.osproc.OsProcess`, imported here, in the process that
    serves the mount: importing the adapter into a pytest worker was seen to change
    which examples two derandomized quality machines (tests/quality) explore, a
    nondeterminism not yet explained, so it stays out of processes that do not serve."""
    from simfs.live.osproc import OsProcess

    return OsProcess()


# ============================================================================================
# The device


class LiveDevice:
    """An open ``/dev/fuse`` (the daemon's end of one connection)."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = os.open(DEV_FUSE, os.O_RDWR | os.O_CLOEXEC) if fd is None else fd
        self.closed = False

    def backing_open(self, fd: int, flags: int = 0) -> int:
        """``ioctl(FUSE_DEV_IOC_BACKING_OPEN, {fd, flags})``: the new backing id."""
        arg = bytearray(uapi.FuseBackingMap(fd=fd, flags=flags).pack())
        return int(fcntl.ioctl(self.fd, uapi.FUSE_DEV_IOC_BACKING_OPEN, arg, True))

    def backing_close(self, backing_id: int) -> None:
        """``ioctl(FUSE_DEV_IOC_BACKING_CLOSE, &id)``."""
        arg = bytearray(struct.pack("<I", backing_id & 0xFFFFFFFF))
        fcntl.ioctl(self.fd, uapi.FUSE_DEV_IOC_BACKING_CLOSE, arg, True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)


# ============================================================================================
# The daemon loop


@dataclass
class LiveExchange:
    """One request as the daemon read it, and what it wrote back (``None``: nothing)."""

    request: Request
    reply: Reply | None
    #: ``errno`` of a refused ``write(2)`` of the reply (0: accepted)
    write_error: int = 0
    #: why the reply is what it is, when the daemon did not return it itself
    note: str = ""

    @property
    def opcode(self) -> str:
        return self.request.name


@dataclass
class LiveTrace:
    """Every exchange of a served connection, in the order the daemon read them."""

    exchanges: list[LiveExchange] = field(default_factory=list)

    def requests(self) -> list[Request]:
        return [x.request for x in self.exchanges]

    def request_opcodes(self) -> list[str]:
        return [x.opcode for x in self.exchanges]

    def clear(self) -> None:
        self.exchanges.clear()


def _answer(daemon: Daemon, req: Request) -> tuple[Reply | None, str, bool]:
    """(reply, note, exit) for one request, with simfs's rules for a daemon's answer."""
    try:
        if req.opcode == uapi.FUSE_INIT:
            return daemon.init(req), "", False
        return daemon.handle(req), "", False
    except DaemonExit:
        return None, "daemon exit", True
    except OSError as e:
        err = e.errno if e.errno and e.errno > 0 else errno.EIO
        return Reply.error(err), f"OSError {errno.errorcode.get(err, err)}", False
    except Exception as e:  # the daemon's bug fails this request, as in the simulator
        return Reply.error(errno.EIO), f"daemon_exception {type(e).__name__}: {e}", False


def serve(
    daemon: Daemon,
    dev: LiveDevice,
    trace: LiveTrace | None = None,
    *,
    on_init: Callable[[], None] | None = None,
) -> None:
    """Read requests and answer them until the connection ends.

    Ends when ``read(2)`` fails ``ENODEV`` (unmounted or aborted), when the daemon raises
    :class:`DaemonExit`, or when the device is closed.  ``on_init`` runs after the INIT
    reply is written.
    """
    state = WireState()
    size = max(daemon.max_write, 4096) + _READ_SLACK
    while not dev.closed:
        try:
            buf = os.read(dev.fd, size)
        except OSError as e:
            if e.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                continue  # ENOENT: the request was interrupted before it was read
            if e.errno in (errno.ENODEV, errno.EBADF):
                return
            raise
        req = decode_request(buf, state)
        reply, note, leave = _answer(daemon, req)
        if leave:
            if trace is not None:
                trace.exchanges.append(LiveExchange(req, None, note=note))
            dev.close()
            return
        if req.opcode == uapi.FUSE_INIT and reply is not None:
            state.negotiated(reply)
        x = LiveExchange(req, reply, note=note)
        if trace is not None:
            trace.exchanges.append(x)
        if reply is None:
            continue
        try:
            os.write(dev.fd, encode_reply(req, reply))
        except OSError as e:
            x.write_error = e.errno or 0
            daemon.write_failed(req, reply, e.errno or 0)
        if req.opcode == uapi.FUSE_INIT and on_init is not None:
            on_init()


# ============================================================================================
# One session, in a child process


@dataclass
class LiveResult:
    """What :func:`run_live` brings back: the workload's return value, the trace, and
    what ``collect(daemon)`` returned after the session (the daemon lives in the child)."""

    value: Any
    trace: LiveTrace
    daemon_error: str = ""
    collected: Any = None
    traces: list[LiveTrace] = field(default_factory=list)


_T = TypeVar("_T")


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _pickled(result: dict[str, Any]) -> bytes:
    try:
        return pickle.dumps(result)
    except Exception as e:
        return pickle.dumps({"error": LiveError(f"result not picklable: {e}")})


def _workload_process(
    workload: Callable[[str], Any], mountpoint: str, wfd: int
) -> None:  # pragma: no cover - runs in the grandchild
    """The task that uses the mount: a process of its own, so that a page fault on a
    mapping (taken with the GIL held) never waits for a daemon thread of the same process."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # die with the session
    result: dict[str, Any] = {}
    try:
        result["value"] = workload(mountpoint)
    except BaseException as e:
        result["error"] = e
        result["tb"] = traceback.format_exc()
    with os.fdopen(wfd, "wb") as w:
        w.write(_pickled(result))


@dataclass
class _Layer:
    """One mount of a session: its daemon, mount point, options, device and trace."""

    daemon: Daemon
    mountpoint: str
    options: dict[str, Any]
    trace: LiveTrace = field(default_factory=LiveTrace)
    dev: LiveDevice | None = None
    mounted: bool = False
    thread: threading.Thread | None = None
    conn_id: int | None = None  # the minor of the superblock's device (fusectl's dir name)


def _settle(layers: list[_Layer]) -> None:
    """Before unmounting, let each daemon read what the workload left queued (RELEASE
    after the last close, FORGET...), as simfs's unmount drains the queue.

    A fence is one STATFS from this process, answered after every request queued before
    it (``fiq->pending`` is FIFO) and dropped from the trace.  A FORGET is not FIFO with
    requests: ``fuse_dev_do_read`` hands it out when nothing else is pending, or when
    ``fiq->forget_batch`` allows, so fences are repeated until two in a row bring nothing
    new (at most 24: forget_batch lets a forget through at least every 9 requests)."""
    for layer in reversed(layers):
        ex = layer.trace.exchanges  # appended to by the daemon thread: only read here
        quiet = 0
        for _ in range(24):
            before = len(ex)
            try:
                os.statvfs(layer.mountpoint)
            except OSError:
                break  # the daemon exited or the mount is gone: nothing left to read
            quiet = quiet + 1 if len(ex) == before + 1 else 0  # only the fence came
            if quiet == 2:
                break


def _drop_fences(layers: list[_Layer]) -> None:
    """Remove :func:`_settle`'s STATFS fences (made by this process) from the traces,
    once the daemon threads are done."""
    me = os.getpid()
    for layer in layers:
        ex = layer.trace.exchanges
        ex[:] = [x for x in ex if not (x.request.pid == me and x.opcode == "STATFS")]


def _child(
    layers: list[_Layer],
    workload: Callable[[str], Any],
    wfd: int,
    serve_timeout: float,
    collect: Callable[[Daemon], Any] | None,
) -> None:  # pragma: no cover - runs in the session child
    result: dict[str, Any] = {}
    daemon_error: list[str] = []
    top = layers[-1]
    try:
        enter_private_mount_namespace()
        rw, ww = os.pipe()
        go_r, go_w = os.pipe()
        wpid = os.fork()  # before any thread exists in this process
        if wpid == 0:
            code = 0
            try:
                os.close(rw)
                os.close(go_w)
                ready = os.read(go_r, 1)  # the mounts are up (empty: they failed)
                os.close(go_r)
                if ready:
                    _workload_process(workload, top.mountpoint, ww)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(ww)
        os.close(go_r)

        def loop(layer: _Layer) -> None:
            assert layer.dev is not None
            try:
                serve(layer.daemon, layer.dev, layer.trace)
            except BaseException:
                daemon_error.append(traceback.format_exc())

        try:
            # lower layers first, each served before the next daemon starts: an upper
            # daemon's source (stat, open at attach) may be on a lower mount
            for layer in layers:
                layer.dev = LiveDevice()
                layer.daemon.attach(_os_process())
                layer.daemon.attach_device(layer.dev)
                fuse_mount(layer.mountpoint, layer.dev.fd, **layer.options)
                layer.mounted = True
                layer.conn_id = connection_id(layer.mountpoint)
                layer.thread = threading.Thread(
                    target=loop, args=(layer,), name="simfs-live-daemon", daemon=True
                )
                layer.thread.start()
            os.write(go_w, b"1")
        finally:
            os.close(go_w)
        try:
            data = _read_all(rw)
            os.close(rw)
            os.waitpid(wpid, 0)
            if not data:
                raise LiveError("the workload process died without a result")
            result.update(pickle.loads(data))
            _settle(layers)
        finally:
            for layer in reversed(layers):
                fuse_umount(layer.mountpoint)
                layer.mounted = False
                if layer.thread is None:
                    continue
                layer.thread.join(0.5)
                if layer.thread.is_alive() and layer.conn_id is not None:
                    # still referenced (an upper daemon's open files keep a lazily
                    # unmounted superblock alive): abort the connection, as fusermount -u
                    # cannot; the daemon's read(2) then fails ENODEV
                    abort_connection(layer.conn_id)
                layer.thread.join(serve_timeout)
                if layer.thread.is_alive():
                    daemon_error.append(f"daemon of {layer.mountpoint} still running")
    except BaseException as e:
        result["error"] = e
        result["tb"] = traceback.format_exc()
    finally:
        for layer in reversed(layers):
            if layer.mounted:
                try:
                    fuse_umount(layer.mountpoint)
                except OSError:
                    pass
            if layer.dev is not None:
                layer.dev.close()
    _drop_fences(layers)
    result["trace"] = top.trace
    result["traces"] = [layer.trace for layer in layers]
    result["daemon_error"] = "".join(daemon_error)
    if collect is not None:
        try:
            result["collected"] = collect(top.daemon)
        except Exception:
            result["daemon_error"] += traceback.format_exc()
    with os.fdopen(wfd, "wb") as w:
        w.write(_pickled(result))


def run_live(
    daemon: Daemon,
    mountpoint: str,
    workload: Callable[[str], _T],
    *,
    timeout: float = 60.0,
    collect: Callable[[Daemon], Any] | None = None,
    below: Sequence[tuple[Daemon, str]] = (),
    **mount_options: Any,
) -> LiveResult:
    """Serve ``daemon`` on ``mountpoint`` (an existing empty directory) in a private mount
    namespace, run ``workload(mountpoint)`` against it, unmount, and return its value and
    the trace of requests.

    ``mount_options`` are :func:`fuse_mount`'s (``default_permissions``, ``rootmode``...).
    ``collect(daemon)`` runs in the child after the session; its (picklable) value comes
    back as :attr:`LiveResult.collected`.  ``below``: ``(daemon, mountpoint)`` pairs
    mounted first, each served by its own thread (a stack of FUSE filesystems, e.g. the
    passthrough stacking-depth rule); their traces are :attr:`LiveResult.traces`.
    An exception in the workload is raised again here (its traceback is in the note); a
    session that does not finish within ``timeout`` seconds is killed and raises
    :class:`LiveError`.  Raises :class:`LiveError` when :func:`live_unavailable` says why.
    """
    why = live_unavailable()
    if why is not None:
        raise LiveError(f"cannot serve on the real kernel: {why}")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.close(rfd)
            layers = [_Layer(d, m, {}) for d, m in below]
            layers.append(_Layer(daemon, mountpoint, mount_options))
            _child(layers, workload, wfd, min(10.0, timeout), collect)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                raise LiveError(
                    f"live session on {mountpoint} did not finish in {timeout:g}s; killed it "
                    "(a request the daemon never answered, or a workload that hangs)"
                )
            ready, _, _ = select.select([rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(rfd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(rfd)
        os.waitpid(pid, 0)
    if not chunks:
        raise LiveError("live session child died without a result")
    result = pickle.loads(b"".join(chunks))
    if "error" in result:
        err = result["error"]
        if isinstance(err, BaseException):
            err.add_note(f"in the live session child:\n{result.get('tb', '')}")
            raise err
    return LiveResult(
        result["value"],
        result["trace"],
        result.get("daemon_error", ""),
        result.get("collected"),
        result.get("traces", []),
    )
