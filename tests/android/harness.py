"""The Android FUSE-BPF self-test harness, simulated (docs/android-selftests.md §1).

``L`` is the lower directory ``ft-src``, ``M`` the mount point ``ft-dst`` (both created
empty for every test, under ``CWD``).  ``mount_fuse`` answers INIT the way the harness's
``mount_fuse`` does; without a daemon script nobody reads the device afterwards, so a
synchronous request would hang (the simulator raises ``UnansweredRequest``).
``mount_fuse_no_init`` leaves INIT to the script (or unanswered without one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import simfs
from simfs import uapi
from simfs.daemon import Daemon, Reply, Request
from simfs.daemons.scripted import Scripted, Step

CWD = "/work"
L = f"{CWD}/ft-src"
M = f"{CWD}/ft-dst"
ASYNC_OPCODES = {
    uapi.FUSE_RELEASE,
    uapi.FUSE_RELEASEDIR,
    uapi.FUSE_FORGET,
    uapi.FUSE_BATCH_FORGET,
    uapi.FUSE_INTERRUPT,
}
TEST_DATA = b"Weebles wobble but they don't fall down"  # 39 bytes
PAGE = 4096


def pattern(index: int, block: int) -> bytes:
    """``create_file``/``test_buffer``: page ``block`` of file ``index`` (signed 32-bit LCG,
    byte = low 8 bits of ``seed >> (i % 13)``, arithmetic shift)."""
    seed = (7919 * index + block) & 0xFFFFFFFF
    out = bytearray(PAGE)
    for i in range(PAGE):
        seed = (1103515245 * seed + 12345) & 0xFFFFFFFF
        signed = seed - (1 << 32) if seed & 0x80000000 else seed
        out[i] = (signed >> (i % 13)) & 0xFF
    return bytes(out)


class HarnessDaemon(Scripted):
    """The forked child: once its script is done it exits, so FORGETs queued after that
    are never read by anyone (they cannot fail the test)."""

    def handle(self, req: Request) -> Reply | None:
        if self.position >= len(self.steps) and req.opcode in (
            uapi.FUSE_FORGET,
            uapi.FUSE_BATCH_FORGET,
        ):
            return None
        return super().handle(req)


class _InitOnly(Daemon):
    """The harness's ``mount_fuse`` without a script: answer INIT, then read nothing."""

    def handle(self, req: Request) -> Reply | None:
        raise AssertionError(f"no daemon: {req.name} reached userspace")


@dataclass
class Env:
    """One test's machine: kernel, the acting process and the mount."""

    k: simfs.Kernel
    proc: simfs.Process
    m: Any = None
    daemon: Daemon | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # -- harness helpers --------------------------------------------------------
    def create_file(self, path: str, index: int, blocks: int) -> None:
        """``create_file(dir, name, index, blocks)`` on the lower fs (mode 0777)."""
        fd = self.proc.open(path, os.O_WRONLY | os.O_CREAT, 0o777)
        for b in range(blocks):
            self.proc.write(fd, pattern(index, b))
        self.proc.close(fd)

    def write_lower(self, path: str, data: bytes) -> None:
        fd = self.proc.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o777)
        self.proc.write(fd, data)
        self.proc.close(fd)

    def trace(self, s: str) -> str:
        """``bpf_test_trace(s)``: consume the trace pipe up to a line containing ``s``."""
        return self.k.trace_pipe.expect(s)

    def no_trace(self, s: str) -> None:
        """``bpf_test_no_trace(s)``."""
        self.k.trace_pipe.expect_none(s)

    def errno_of(self, fn: Any, *args: Any) -> int:
        try:
            fn(*args)
        except OSError as e:
            assert e.errno is not None
            return e.errno
        return 0

    def mount_fuse(
        self,
        bpf: Any = None,
        root_dir: bool = True,
        script: list[Step] | None = None,
        *,
        init: bool = True,
        daemon: Daemon | None = None,
        **opts: Any,
    ) -> Any:
        """``mount_fuse`` (init=True) / ``mount_fuse_no_init`` (init=False)."""
        d: Daemon | None = daemon
        if d is None and script is not None:
            d = HarnessDaemon(script, handle_init=init)
        elif d is None and init:
            d = _InitOnly()
        self.daemon = d
        self.m = self.k.mount_fuse(M, d, root_dir=L if root_dir else None, root_bpf=bpf, **opts)
        if script is None and daemon is None and init:
            self.m.conn.detach_daemon()  # the harness answered INIT; nobody reads now
        return self.m

    def umount(self) -> None:
        self.k.umount(M)

    def sync_requests(self) -> list[str]:
        """Requests that reached (or wait for) userspace and are not asynchronous,
        excluding INIT."""
        reqs = [
            e.data["opcode_num"]
            for e in self.k.trace.requests()
            if e.data.get("opcode_num") not in ASYNC_OPCODES
            and e.data.get("opcode_num") != uapi.FUSE_INIT
        ]
        pending = [
            r.opcode
            for r in self.m.conn.pending
            if r.opcode not in ASYNC_OPCODES and r.opcode != uapi.FUSE_INIT
        ]
        return [uapi.opcode_name(o) for o in reqs + pending]

    def assert_no_sync_requests(self) -> None:
        """The implicit expectation of every "no daemon" test."""
        assert self.sync_requests() == []

    def finish_daemon(self) -> None:
        """``FUSE_END_DAEMON``: the daemon reads what is queued and must have succeeded."""
        self.m.conn.drain()
        assert isinstance(self.daemon, Scripted)
        self.daemon.verify()


def make_env() -> Env:
    """A fresh machine with empty ``ft-src`` and ``ft-dst`` under ``CWD``."""
    k = simfs.Kernel()
    k.lower.create_dir(CWD, perm_bits=0o755)
    k.lower.create_dir(L, perm_bits=0o755)
    k.lower.create_dir(M, perm_bits=0o755)
    proc = k.spawn(cwd=CWD)
    return Env(k, proc)


def entry(nodeid: int, ino: int, size: int, mode: int, generation: int = 1) -> uapi.FuseEntryOut:
    """The harness's ``fuse_entry_out`` literal (validity fields 0, blksize 512)."""
    return uapi.FuseEntryOut(
        nodeid=nodeid,
        generation=generation,
        attr=uapi.FuseAttr(ino=ino, size=size, blksize=512, mode=mode),
    )


def open_reply(fh: int) -> Any:
    """``fuse_open_out`` {fh, open_flags = the request's flags}."""

    def answer(req: Request) -> Reply:
        arg = req.args[0]
        flags = getattr(arg, "flags", 0)
        return Reply(uapi.FuseOpenOut(fh=fh, open_flags=flags))

    return answer


# =========================================================================================
# Helpers for the held-back scenarios (tests/android/test_selftests_heldback.py).
# Added in one block; nothing above this line changed behaviour.

O_CLOEXEC = getattr(os, "O_CLOEXEC", 0o2000000)
#: glibc ``opendir``: ``open(name, O_RDONLY|O_NDELAY|O_DIRECTORY|O_LARGEFILE|O_CLOEXEC)``
OPENDIR_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_DIRECTORY | O_CLOEXEC
#: ``FUSE_MIN_READ_BUFFER``: the forked daemons' ``bytes_in`` buffer
FUSE_MIN_READ_BUFFER = 8192
U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1


class ForkedDaemon(HarnessDaemon):
    """``FUSE_START_DAEMON``'s child, as the newer harness forks it.

    After its last scripted step the child either exits (``after="exit"``: the parent
    still holds ``/dev/fuse``, so from then on nobody reads it -- asynchronous requests
    stay queued, a synchronous one would block forever, :class:`UnansweredRequest`) or
    keeps reading without answering until the mount goes (``after="read_forever"``, the
    ``while (read(fuse_dev, ...) != -1);`` loop of ``bpf_test_remove_backing``).
    """

    def __init__(self, steps: list[Step], *, handle_init: bool = True, after: str = "exit") -> None:
        super().__init__(steps, handle_init=handle_init)
        self.after = after
        self.conn: Any = None
        self.unanswered: list[Request] = []  # read after the script (read_forever)

    def handle(self, req: Request) -> Reply | None:
        if self.position >= len(self.steps) and self.after == "read_forever":
            self.requests.append(req)
            self.unanswered.append(req)
            return None
        reply = super().handle(req)
        if self.position >= len(self.steps) and self.after == "exit" and self.conn is not None:
            self.conn.detach_daemon()
        return reply


def start_daemon(
    env: Env,
    script: list[Step],
    bpf: Any = None,
    *,
    root_dir: bool = True,
    init: bool = True,
    after: str = "exit",
) -> ForkedDaemon:
    """``mount_fuse``/``mount_fuse_no_init`` + ``FUSE_START_DAEMON``: the daemon runs as its
    own process (``daemon.proc``, attached before mounting so a script can open backing
    files and load programs there)."""
    daemon = ForkedDaemon(script, handle_init=init, after=after)
    daemon.attach(env.k.spawn(cwd=CWD))
    env.mount_fuse(bpf, root_dir, daemon=daemon, init=init)
    daemon.conn = env.m.conn
    if daemon.position >= len(daemon.steps) and after == "exit":
        env.m.conn.detach_daemon()
    return daemon


class Dir:
    """glibc's ``DIR``: ``opendir`` = open + ``fstat``; ``readdir`` refills its buffer
    with one ``getdents64`` (the public :meth:`simfs.Process.getdents`, glibc's 32 KiB
    buffer) when it runs dry; 0 entries is the end of the directory
    (``None``); an error raises ``OSError`` (``readdir`` returns NULL with ``errno``)."""

    def __init__(self, env: Env, path: str) -> None:
        self.env = env
        self.fd = env.proc.open(path, OPENDIR_FLAGS)
        env.proc.fstat(self.fd)
        self.buffer: list[Any] = []
        self.eof = False

    def readdir(self) -> Any:
        if not self.buffer and not self.eof:
            self.buffer = self.env.proc.getdents(self.fd)
            self.eof = not self.buffer
        return self.buffer.pop(0) if self.buffer else None

    def closedir(self) -> None:
        self.env.proc.close(self.fd)


def fuse_attr_of(env: Env, path: str) -> uapi.FuseAttr:
    """The harness's ``s_fuse_attr``: ``stat`` a path into a ``struct fuse_attr``."""
    s = env.proc.stat(path)
    return uapi.FuseAttr(
        ino=s.st_ino,
        size=s.st_size,
        blocks=s.st_blocks,
        atime=int(s.st_atime),
        mtime=int(s.st_mtime),
        ctime=int(s.st_ctime),
        atimensec=s.st_atime_ns % 10**9,
        mtimensec=s.st_mtime_ns % 10**9,
        ctimensec=s.st_ctime_ns % 10**9,
        mode=s.st_mode,
        nlink=s.st_nlink,
        uid=s.st_uid,
        gid=s.st_gid,
        rdev=s.st_rdev,
        blksize=s.st_blksize,
    )


def normalised_trace(k: simfs.Kernel) -> list[list[Any]]:
    """What a Python program and its compiled twin must agree on: BPF runs with their
    decoded returns, faults, printk lines and daemon requests, in order."""
    out: list[list[Any]] = []
    for e in k.trace.events:
        d = e.data
        if e.kind == "bpf":
            out.append(["bpf", d.get("phase"), d.get("opcode"), d.get("nodeid"), d.get("ret")])
        elif e.kind == "bpf_fault":
            out.append(["bpf_fault", d.get("phase"), d.get("opcode"), d.get("errno")])
        elif e.kind == "printk":
            out.append(["printk", d.get("line")])
        elif e.kind == "request":
            out.append(["request", d.get("opcode")])
    return out
