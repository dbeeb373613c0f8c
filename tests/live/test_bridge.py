"""The live bridge itself: wire decoding (everywhere) and serving on the real kernel
(root and /dev/fuse): results, the daemon's answer rules, and teardown on every path."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simfs import uapi
from simfs.daemon import Daemon, DaemonExit, Reply, Request
from simfs.daemons import Passthrough
from simfs.live import LiveError, run_live
from simfs.live.wire import WireState, decode_request, encode_reply
from tests.live.bridge import needs_live


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(path) in line]


# ------------------------------------------------------------------ decoding (no root)


def test_decode_lookup_and_write() -> None:
    head = uapi.FuseInHeader(len=40 + 4, opcode=uapi.FUSE_LOOKUP, unique=8, nodeid=1, pid=7)
    req = decode_request(head.pack() + b"abc\0", WireState())
    assert (req.opcode, req.unique, req.nodeid, req.pid, req.args) == (1, 8, 1, 7, ("abc",))
    w = uapi.FuseWriteIn(fh=3, offset=5, size=2)
    head = uapi.FuseInHeader(len=40 + w.SIZE + 2, opcode=uapi.FUSE_WRITE, unique=10, nodeid=2)
    req = decode_request(head.pack() + w.pack() + b"hi", WireState())
    assert req.args == (w, b"hi") and req.insize == 82


def test_decode_setxattr_follows_the_negotiation() -> None:
    """fuse_setxattr_in is 8 bytes unless FUSE_SETXATTR_EXT was agreed (then 16)."""
    body = uapi.FuseSetxattrIn(size=1, flags=0).pack()[:8] + b"user.a\0" + b"v"
    head = uapi.FuseInHeader(len=40 + len(body), opcode=uapi.FUSE_SETXATTR, unique=2, nodeid=1)
    req = decode_request(head.pack() + body, WireState())
    assert req.args[1:] == ("user.a", b"v")
    st = WireState()
    st.negotiated(Reply(uapi.FuseInitOut(major=7, minor=45, flags=uapi.FUSE_SETXATTR_EXT)))
    assert st.setxattr_ext


def test_decode_init_is_the_7_45_struct() -> None:
    init = uapi.FuseInitInExt(major=7, minor=45, flags=uapi.FUSE_INIT_EXT, flags2=1 << 5)
    head = uapi.FuseInHeader(len=40 + init.SIZE, opcode=uapi.FUSE_INIT, unique=2)
    req = decode_request(head.pack() + init.pack(), WireState())
    assert req.args == (init,)
    assert uapi.init_flags64(init) & uapi.FUSE_PASSTHROUGH_UPSTREAM


def test_encode_reply_header() -> None:
    req = Request(unique=6, opcode=uapi.FUSE_GETATTR, nodeid=1)
    raw = encode_reply(req, Reply.error(errno.ENOENT))
    assert uapi.FuseOutHeader.unpack(raw) == uapi.FuseOutHeader(len=16, error=-2, unique=6)
    out = uapi.FuseOpenOut(fh=1, open_flags=uapi.FOPEN_PASSTHROUGH, backing_id=3)
    raw = encode_reply(Request(unique=8, opcode=uapi.FUSE_OPEN, nodeid=2), Reply(out))
    assert raw[16:] == out.pack() and out.backing_id == 3 and out.passthrough_fh == 3


def test_short_request_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter than fuse_in_header"):
        decode_request(b"\0" * 10, WireState())


# ------------------------------------------------------------------ serving (root)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    lower, mnt = tmp_path / "lower", tmp_path / "mnt"
    lower.mkdir()
    mnt.mkdir()
    (lower / "f").write_bytes(b"hello")
    return lower, mnt


def _ops(m: str) -> list[Any]:
    out: list[Any] = [os.stat(m + "/f").st_size, sorted(os.listdir(m))]
    with open(m + "/f", "rb") as f:
        out.append(f.read())
    os.mkdir(m + "/d")
    with open(m + "/d/n", "wb") as f:
        f.write(b"xyz")
    os.rename(m + "/d/n", m + "/n2")
    os.symlink("f", m + "/l")
    out.append(os.readlink(m + "/l"))
    os.setxattr(m + "/f", "user.k", b"v")
    out.append(os.getxattr(m + "/f", "user.k"))
    os.unlink(m + "/l")
    return out


@needs_live
@pytest.mark.realkernel
@pytest.mark.parametrize("passthrough", [False, True])
def test_shipped_passthrough_daemon_serves_the_real_kernel(
    dirs: tuple[Path, Path], passthrough: bool
) -> None:
    lower, mnt = dirs
    r = run_live(Passthrough(str(lower), passthrough=passthrough), str(mnt), _ops)
    assert r.value == [5, ["f"], b"hello", "f", b"v"]
    assert sorted(os.listdir(lower)) == ["d", "f", "n2"]
    assert (lower / "n2").read_bytes() == b"xyz"
    ops = r.trace.request_opcodes()
    assert ops[0] == "INIT" and "MKDIR" in ops and "SYMLINK" in ops
    assert ("READ" in ops) is not passthrough
    assert not r.daemon_error
    assert not _mounts_under(mnt) and os.listdir(mnt) == []


class _Broken(Passthrough):
    """LOOKUP of 'boom' raises a bug, of 'bye' exits, anything else is passthrough."""

    def lookup(self, req: Request) -> Reply:
        name = req.args[0]
        if name == "boom":
            raise ZeroDivisionError("daemon bug")
        if name == "bye":
            raise DaemonExit("asked to exit")
        return super().lookup(req)


def _errno_of(fn: Any) -> Any:
    try:
        return fn()
    except OSError as e:
        return errno.errorcode[e.errno or 0]


@needs_live
@pytest.mark.realkernel
def test_daemon_answer_rules_as_in_the_simulator(dirs: tuple[Path, Path]) -> None:
    """A daemon bug fails that request EIO and the mount stays usable; DaemonExit closes
    the device: the request in flight gets ECONNABORTED, later ones ENOTCONN."""
    lower, mnt = dirs

    def work(m: str) -> list[Any]:
        return [
            _errno_of(lambda: os.stat(m + "/boom")),
            os.stat(m + "/f").st_size,
            _errno_of(lambda: os.stat(m + "/bye")),
            _errno_of(lambda: os.stat(m + "/f2")),
        ]

    r = run_live(_Broken(str(lower)), str(mnt), work)
    assert r.value == ["EIO", 5, "ECONNABORTED", "ENOTCONN"]
    notes = [x.note for x in r.trace.exchanges if x.note]
    assert any("ZeroDivisionError" in n for n in notes) and "daemon exit" in notes
    assert not _mounts_under(mnt)


@needs_live
@pytest.mark.realkernel
def test_workload_exception_is_raised_and_the_mount_is_gone(dirs: tuple[Path, Path]) -> None:
    lower, mnt = dirs

    def work(m: str) -> None:
        os.stat(m + "/f")
        raise KeyError("workload bug")

    with pytest.raises(KeyError, match="workload bug"):
        run_live(Passthrough(str(lower)), str(mnt), work)
    assert not _mounts_under(mnt)


class _Silent(Daemon):
    """Answers INIT, then never replies."""

    def handle(self, req: Request) -> Reply | None:
        return None


@needs_live
@pytest.mark.realkernel
def test_a_hung_session_is_killed_and_cleaned_up(dirs: tuple[Path, Path]) -> None:
    _, mnt = dirs
    with pytest.raises(LiveError, match="did not finish"):
        run_live(_Silent(), str(mnt), lambda m: os.stat(m + "/x"), timeout=2)
    assert not _mounts_under(mnt)


@needs_live
@pytest.mark.realkernel
def test_cli_serve_runs_a_command_on_the_mount(dirs: tuple[Path, Path]) -> None:
    lower, mnt = dirs
    cmd = [sys.executable, "-m", "simfs", "serve", str(lower), str(mnt), "--passthrough"]
    res = subprocess.run(
        [*cmd, "--trace", "--run", f"cat {mnt}/f"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("hello")
    assert "opcode: OPEN" in res.stdout and "opcode: READ" not in res.stdout
    res = subprocess.run(
        [*cmd, "--run", f"cat {mnt}/nope"],
        capture_output=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert res.returncode == 1
    assert not _mounts_under(mnt)


@needs_live
@pytest.mark.realkernel
def test_cli_serve_foreground_unmounts_on_sigterm(dirs: tuple[Path, Path]) -> None:
    """The foreground server (own mount namespace via unshare -m, so nothing leaks) serves
    until SIGTERM, then unmounts and exits 0."""
    lower, mnt = dirs
    script = (
        f"{sys.executable} -m simfs serve {lower} {mnt} & pid=$!; "
        f"for i in $(seq 50); do grep -q ' {mnt} ' /proc/self/mountinfo && break; sleep 0.1; done; "
        f"cat {mnt}/f; echo; kill -TERM $pid; wait $pid; echo rc=$?; "
        f"grep -c ' {mnt} ' /proc/self/mountinfo || true"
    )
    res = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    lines = res.stdout.split()
    assert lines == ["hello", "rc=0", "0"], (res.stdout, res.stderr)
