"""Small probes run on the real kernel with libfuse's ``passthrough_ll`` and on simfs's
classic mount with :class:`simfs.daemons.Passthrough`; the results must be equal
(issue 19, items 2, 7 and 8).

Each probe is a function of an ``os``-like object and the mount point, returning
JSON-able results; the real side runs it in a private mount namespace (``unshare -m``)
against a freshly built ``passthrough_ll -f -s -o source=LOWER,timeout=1[,OPTS]``.
Neither side carries expected values: the real kernel is the reference.

- ``access_*`` (item 2): without ``default_permissions`` ``fuse_permission`` sends
  ACCESS for ``access(2)`` (``mask & MAY_ACCESS`` is tested before the MAY_EXEC rule);
  passthrough_ll has no ACCESS handler, so ENOSYS makes the kernel allow every later
  ``access`` (``fc->no_access``): root's ``X_OK`` on a 0644 file is True there.  A daemon
  that calls ``access(2)`` itself, libfuse's high-level ``passthrough`` example
  (``xmp_access``; ``Passthrough(access=True)`` here), says False, as tmpfs does; so does
  ``default_permissions``, where ``generic_permission`` decides.
- ``chown_noop`` (item 8): ``chown(f, -1, -1)`` is a SETATTR with no attribute bit;
  passthrough_ll changes nothing, so ctime stays (tmpfs bumps it).
- ``relink`` / ``unlinked_open`` (item 7): the daemon must keep reaching an inode after
  one of its names went away.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import simfs
from simfs.daemons import Passthrough
from tests.fuse_recordings import record

Probe = Callable[[Any, str], list[Any]]


def _outcome(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except OSError as e:
        return f"errno {e.errno}"


def probe_access(o: Any, m: str) -> list[Any]:
    f = f"{m}/f"
    out = [o.access(f, os.X_OK), o.access(f, os.R_OK), o.access(f, os.W_OK)]
    o.chmod(f, 0o100)
    out += [o.access(f, os.X_OK), o.access(f, os.R_OK)]
    o.chmod(f, 0o000)
    out += [o.access(f, os.X_OK), o.access(f, os.R_OK)]
    return out


def probe_chown_noop(o: Any, m: str) -> list[Any]:
    f = f"{m}/f"
    s1 = o.stat(f)
    o.chown(f, -1, -1)
    s2 = o.stat(f)
    o.chown(f, 0, -1)  # root to root: a real FATTR_UID, passthrough_ll's fchownat bumps ctime
    s3 = o.stat(f)
    return [s2.st_ctime_ns == s1.st_ctime_ns, s3.st_ctime_ns == s2.st_ctime_ns, s3.st_uid]


def probe_relink(o: Any, m: str) -> list[Any]:
    a, b, c = f"{m}/A", f"{m}/B", f"{m}/C"
    fd = o.open(a, os.O_CREAT | os.O_WRONLY, 0o644)
    o.write(fd, b"data")
    o.close(fd)
    o.link(a, b)
    o.unlink(a)
    out: list[Any] = [_outcome(lambda: o.link(b, a)), sorted(o.listdir(m))]
    out.append(_outcome(lambda: o.rename(b, c)))
    out.append(_outcome(lambda: o.stat(a).st_nlink))
    out.append(_outcome(lambda: o.unlink(a)))
    out.append(_outcome(lambda: o.link(c, b)))
    out.append(_outcome(lambda: o.chmod(b, 0o600)))
    out.append(_outcome(lambda: oct(o.stat(c).st_mode)))
    fd = o.open(b, os.O_RDONLY)
    out.append(o.read(fd, 10).decode())
    o.close(fd)
    out.append(sorted(o.listdir(m)))
    return out


def probe_unlinked_open(o: Any, m: str) -> list[Any]:
    f = f"{m}/u"
    fd = o.open(f, os.O_CREAT | os.O_RDWR, 0o644)
    o.write(fd, b"abc")
    o.unlink(f)
    out = [
        _outcome(lambda: o.fchmod(fd, 0o600)),
        _outcome(lambda: oct(o.fstat(fd).st_mode)),
        _outcome(lambda: o.fchown(fd, -1, -1)),
        _outcome(lambda: o.fchown(fd, 0, 0)),
        _outcome(lambda: o.utime(fd, ns=(10**9, 2 * 10**9))),
        _outcome(lambda: o.fstat(fd).st_mtime_ns),
        _outcome(lambda: o.ftruncate(fd, 1)),
        _outcome(lambda: o.fstat(fd).st_size),
        _outcome(lambda: o.fstat(fd).st_nlink),
    ]
    o.close(fd)
    return out


def probe_ofd_locks(o: Any, m: str) -> list[Any]:
    """Issue 17: passthrough_ll has no getlk/setlk, so FUSE_POSIX_LOCKS is not negotiated
    and the kernel keeps the locks itself (``fc->no_lock``).  OFD locks conflict between
    two descriptions of one process, so one process shows it."""
    import fcntl as pyfcntl
    import struct

    fc = getattr(o, "fcntl", None) or pyfcntl.fcntl

    def lk(fd: int, cmd: int, t: int, s: int, n: int) -> Any:
        return _outcome(
            lambda: list(struct.unpack("hhqqi", fc(fd, cmd, struct.pack("hhqqi", t, 0, s, n, 0))))
        )

    f = f"{m}/f"
    a, b = o.open(f, os.O_RDWR), o.open(f, os.O_RDWR)
    out = [
        lk(a, pyfcntl.F_OFD_SETLK, pyfcntl.F_WRLCK, 0, 10),
        lk(b, pyfcntl.F_OFD_GETLK, pyfcntl.F_RDLCK, 5, 0),
        lk(b, pyfcntl.F_OFD_SETLK, pyfcntl.F_RDLCK, 5, 1),
        lk(b, pyfcntl.F_OFD_SETLK, pyfcntl.F_WRLCK, 10, 5),
        lk(a, pyfcntl.F_OFD_SETLK, pyfcntl.F_UNLCK, 2, 2),
        lk(b, pyfcntl.F_OFD_GETLK, pyfcntl.F_WRLCK, 0, 0),
        lk(b, pyfcntl.F_OFD_SETLK, pyfcntl.F_WRLCK, 2, 2),
    ]
    o.close(a)
    out.append(lk(b, pyfcntl.F_OFD_SETLK, pyfcntl.F_WRLCK, 0, 0))
    o.close(b)
    return out


def probe_ioctl(o: Any, m: str) -> list[Any]:
    """Issue 17: FS_IOC_GETFLAGS/SETFLAGS on a FUSE file become FUSE_IOCTL requests
    (``fuse_fileattr_get`` -> ``fuse_priv_ioctl``), which passthrough_ll does not answer;
    FIONREAD is the VFS's own (``i_size - f_pos``)."""
    import fcntl as pyfcntl

    ioctl = getattr(o, "ioctl", None) or pyfcntl.ioctl
    fd = o.open(f"{m}/f", os.O_RDWR)
    dfd = o.open(m, os.O_RDONLY)
    out = [
        _outcome(lambda: list(ioctl(fd, 0x80086601, bytes(4)))),
        _outcome(lambda: list(ioctl(fd, 0x40086602, bytes(4)))),
        _outcome(lambda: list(ioctl(fd, 0x541B, bytes(4)))),
        _outcome(lambda: list(ioctl(dfd, 0x80086601, bytes(4)))),
        _outcome(lambda: list(ioctl(dfd, 0x541B, bytes(4)))),
    ]
    o.close(fd)
    o.close(dfd)
    return out


def probe_tmpfile(o: Any, m: str) -> list[Any]:
    """Issue 17: O_TMPFILE on a FUSE directory.  Mainline sends FUSE_TMPFILE; a daemon
    without it (libfuse 3.14's passthrough_ll answers ENOSYS) makes it EOPNOTSUPP
    (``fuse_tmpfile``: ``fc->no_tmpfile``); simfs does not send the request and answers
    EOPNOTSUPP at once."""
    return [
        _outcome(lambda: o.open(m, os.O_TMPFILE | os.O_RDWR, 0o600)),
        _outcome(lambda: o.open(m, os.O_TMPFILE | os.O_RDONLY, 0o600)),
        _outcome(lambda: o.open(f"{m}/f", os.O_TMPFILE | os.O_RDWR, 0o600)),
    ]


#: name -> (probe, extra mount options, daemon: "ll" = passthrough_ll serving LOWER,
#: "hl" = libfuse's high-level passthrough serving "/" with ACCESS answered by access(2))
PROBES: dict[str, tuple[Probe, str, str]] = {
    "access": (probe_access, "", "ll"),
    "access_default_permissions": (probe_access, "default_permissions", "ll"),
    "access_daemon_access": (probe_access, "", "hl"),
    "chown_noop": (probe_chown_noop, "", "ll"),
    "relink": (probe_relink, "", "ll"),
    "unlinked_open": (probe_unlinked_open, "", "ll"),
    "ofd_locks_local": (probe_ofd_locks, "", "ll"),
    "ioctl_no_handler": (probe_ioctl, "", "ll"),
    "tmpfile_no_handler": (probe_tmpfile, "", "ll"),
}
HIGH_LEVEL_SRC = record.EXAMPLE_SRC.parent / "passthrough.c"


def _fixture(root: str, o: Any) -> None:
    fd = o.open(f"{root}/f", os.O_CREAT | os.O_WRONLY, 0o644)
    o.write(fd, b"hi\n")
    o.close(fd)
    o.chmod(f"{root}/f", 0o644)


def run_sim(name: str) -> list[Any]:
    fn, opts, kind = PROBES[name]
    k = simfs.Kernel()
    root = k.spawn(umask=0o022)
    root.mkdir("/src")
    root.mkdir("/mnt")
    _fixture("/src", root)
    if kind == "hl":  # passthrough.c: the whole tree, timeouts 0 (xmp_init), access(2)
        daemon = Passthrough("/", xattr=False, access=True, entry_timeout=0, attr_timeout=0)
        where = "/mnt/src"
    else:
        daemon = Passthrough("/src", xattr=False)
        where = "/mnt"
    k.mount_fuse("/mnt", daemon=daemon, default_permissions="default_permissions" in opts)
    return json.loads(json.dumps(fn(root, where)))


# --- the real side ---------------------------------------------------------------------


def _namespace_main(binaries: dict[str, str], base: str, name: str) -> int:
    """Inside ``unshare -m``: mount, run the probe, print its JSON, unmount."""
    fn, opts, kind = PROBES[name]
    lower, mnt = f"{base}/lower", f"{base}/mnt"
    os.makedirs(lower)
    os.makedirs(mnt)
    os.umask(0o022)
    _fixture(lower, os)
    if kind == "hl":
        argv = [binaries["hl"], "-f", "-s", *(["-o", opts] if opts else []), mnt]
        where = mnt + lower
    else:
        o = "source=" + lower + ",timeout=1" + ("," + opts if opts else "")
        argv = [binaries["ll"], "-f", "-s", "-o", o, mnt]
        where = mnt
    daemon = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while not os.path.ismount(mnt):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"passthrough_ll did not mount (rc {daemon.poll()})")
            time.sleep(0.01)
        print(json.dumps(fn(os, where)), flush=True)
    finally:
        record._umount(mnt)
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()  # the daemon this function started, by its own handle
            daemon.wait()
    return 0


@pytest.fixture(scope="module")
def binaries() -> Iterator[dict[str, str]]:
    why = record.cannot_record()
    if why:
        pytest.skip(f"cannot run passthrough_ll on the real kernel: {why}")
    if not HIGH_LEVEL_SRC.exists():
        pytest.skip(f"{HIGH_LEVEL_SRC} not found (libfuse3-dev's examples)")
    with tempfile.TemporaryDirectory(prefix="simfs-probe-build-") as d:
        flags = subprocess.run(
            ["pkg-config", "fuse3", "--cflags", "--libs"], capture_output=True, text=True
        ).stdout.split()
        hl = f"{d}/passthrough"
        subprocess.run(["gcc", "-O2", str(HIGH_LEVEL_SRC), *flags, "-o", hl], check=True)
        yield {"ll": record.build(d).binaries["passthrough_ll"], "hl": hl}


def run_real(binaries: dict[str, str], name: str) -> list[Any]:
    with tempfile.TemporaryDirectory(prefix=f"simfs-probe-{name}-") as base:
        root = Path(__file__).resolve().parents[2]
        code = (
            f"import sys; sys.path.insert(0, {str(root)!r});"
            "from tests.fuse import test_real_passthrough_probes as t;"
            f"sys.exit(t._namespace_main({binaries!r}, {base!r}, {name!r}))"
        )
        r = subprocess.run(
            ["unshare", "-m", "--propagation", "private", sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        return list(json.loads(r.stdout.strip().splitlines()[-1]))


@pytest.mark.realkernel
@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_matches_real_kernel(binaries: dict[str, str], name: str) -> None:
    assert run_sim(name) == run_real(binaries, name)


def test_probes_see_the_differences_they_are_about() -> None:
    """The probes can fail: each one's simfs result shows the behaviour in question."""
    assert run_sim("access")[0] is True  # ACCESS -> ENOSYS -> allowed
    assert run_sim("access_default_permissions")[0] is False  # generic_permission
    assert run_sim("access_daemon_access")[0] is False  # the daemon's access(2) as root
    assert run_sim("chown_noop")[:2] == [True, False]
    assert run_sim("relink")[0] is None  # link B A works (no ESTALE)
