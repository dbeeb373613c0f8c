#!/usr/bin/env python3
"""Record the FUSE requests the real kernel sends for each workload of ``workloads.py``.

Usage (as root, on a machine with /dev/fuse)::

    python tests/fuse_recordings/record.py --out tests/fuse_recordings/recordings.json
    python tests/fuse_recordings/record.py --out /tmp/x.json --only stat_cold --config long

How one recording is made:

1. libfuse's low-level ``passthrough_ll`` example (source shipped by Debian's ``libfuse3-dev``)
   is built once with ``gcc``; a second build drops its ``.flush`` handler (libfuse then answers
   FLUSH with ENOSYS).
2. A fresh temp *lower* directory gets the workload's fixture, and a fresh temp mount point is
   made.
3. ``unshare -m --propagation private`` runs this file's ``_drive`` mode, so the mount exists
   only in a private mount namespace.  The driver starts ``passthrough_ll -d -f -s -o
   source=LOWER,timeout=T,xattr MNT`` (``-d``: one debug line per request; ``-s``: single
   threaded, so the log is in the order the daemon read the requests), waits for INIT's reply,
   and starts a worker process (this file's ``_worker`` mode) that runs the workload's os calls.
4. Between phases the driver issues a *fence*: ``os.statvfs(MNT)`` from the driver's own pid,
   which always sends one STATFS.  The daemon is single threaded and prints each reply before
   writing it, so when statvfs returns, every request queued before the fence is in the log.
   The fences cut the log into: mount (INIT), setup (warm-up), measured, unmount.
5. The driver unmounts with ``umount2(MNT, 0)`` (no helper program, so no extra requests),
   waits for the daemon to exit (killing it only as a last resort) and writes a result file.
6. The log is parsed into the ordered list of requests of each phase.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import json
import os
import platform
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from fuse_recordings.workloads import (  # noqa: E402
    BY_NAME,
    CONFIGS,
    WORKLOADS,
    DaemonConfig,
    Workload,
    calls_to_json,
    fixture_to_json,
    materialize,
    replay,
    summarize,
)

THIS = Path(__file__).resolve()
EXAMPLE_SRC = Path("/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c")
APT_LINE = (
    "apt-get update && DEBIAN_FRONTEND=noninteractive "
    "apt-get install -y fuse3 libfuse3-dev pkg-config gcc"
)
# What libfuse's own meson build defines for the examples on glibc; without them the example
# answers FALLOCATE with EOPNOTSUPP and has no COPY_FILE_RANGE handler at all.
DEFINES = ("-DHAVE_FALLOCATE", "-DHAVE_COPY_FILE_RANGE")
FLUSH_LINE = re.compile(r"^[ \t]*\.flush[ \t]*=[ \t]*lo_flush,[ \t]*\n", re.M)

# The requests left out of the recorded sequences.  Every one is provably not caused by the
# workload: it carries the pid of the driver process, which runs no workload call.
FILTERS = [
    "fence: STATFS (nodeid 1) sent by the driver's os.statvfs(MNT) between phases; identified "
    "by the driver's pid.  Three per recording: after INIT, after the setup, after the "
    "measured step.  They cut the log into phases and are not part of any phase.",
]

# --------------------------------------------------------------------------------------------
# FUSE constants, for decoding (include/uapi/linux/fuse.h)

INIT_FLAGS = [
    "ASYNC_READ", "POSIX_LOCKS", "FILE_OPS", "ATOMIC_O_TRUNC", "EXPORT_SUPPORT", "BIG_WRITES",
    "DONT_MASK", "SPLICE_WRITE", "SPLICE_MOVE", "SPLICE_READ", "FLOCK_LOCKS", "HAS_IOCTL_DIR",
    "AUTO_INVAL_DATA", "DO_READDIRPLUS", "READDIRPLUS_AUTO", "ASYNC_DIO", "WRITEBACK_CACHE",
    "NO_OPEN_SUPPORT", "PARALLEL_DIROPS", "HANDLE_KILLPRIV", "POSIX_ACL", "ABORT_ERROR",
    "MAX_PAGES", "CACHE_SYMLINKS", "NO_OPENDIR_SUPPORT", "EXPLICIT_INVAL_DATA", "MAP_ALIGNMENT",
    "SUBMOUNTS", "HANDLE_KILLPRIV_V2", "SETXATTR_EXT", "INIT_EXT", "INIT_RESERVED",
]  # fmt: skip

OPEN_FLAGS = [
    (0o1, "O_WRONLY"), (0o2, "O_RDWR"), (0o100, "O_CREAT"), (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"), (0o20000, "FASYNC"), (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"), (0o2000000, "O_CLOEXEC"), (0o4000000, "__O_SYNC"),
    (0o10000000, "O_PATH"), (0o20000000, "__O_TMPFILE"),
]  # fmt: skip


def decode_init_flags(flags: int) -> list[str]:
    return [name for bit, name in enumerate(INIT_FLAGS) if flags >> bit & 1]


def decode_open_flags(flags: int) -> str:
    names = [n for v, n in OPEN_FLAGS if flags & v]
    if not flags & 3:
        names.insert(0, "O_RDONLY")
    return "|".join(names)


# --------------------------------------------------------------------------------------------
# Building passthrough_ll


@dataclass(frozen=True)
class Build:
    binaries: dict[str, str]  # variant -> path; variants "passthrough_ll", "passthrough_ll_noflush"
    commands: dict[str, str]  # variant -> the gcc command line (with placeholders)


def build(outdir: str | Path) -> Build:
    """Build passthrough_ll and its no-flush variant into ``outdir``."""
    outdir = Path(outdir)
    if not EXAMPLE_SRC.exists():
        raise FileNotFoundError(f"{EXAMPLE_SRC} missing: install libfuse3-dev ({APT_LINE})")
    flags = shlex.split(
        subprocess.run(
            ["pkg-config", "fuse3", "--cflags", "--libs"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    src_text = EXAMPLE_SRC.read_text()
    if len(FLUSH_LINE.findall(src_text)) != 1:
        raise RuntimeError("passthrough_ll.c: expected exactly one '.flush = lo_flush,' line")
    noflush_dir = outdir / "noflush"
    noflush_dir.mkdir(parents=True, exist_ok=True)
    for h in EXAMPLE_SRC.parent.glob("*.h"):
        shutil.copy(h, noflush_dir / h.name)
    (noflush_dir / "passthrough_ll.c").write_text(FLUSH_LINE.sub("", src_text))
    sources = {
        "passthrough_ll": EXAMPLE_SRC,
        "passthrough_ll_noflush": noflush_dir / "passthrough_ll.c",
    }
    binaries: dict[str, str] = {}
    commands: dict[str, str] = {}
    for variant, src in sources.items():
        out = outdir / variant
        cmd = [
            "gcc",
            "-Wall",
            "-Wno-unused-function",
            "-O2",
            *DEFINES,
            str(src),
            *flags,
            "-o",
            str(out),
        ]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        binaries[variant] = str(out)
        shown = [
            "$(pkg-config fuse3 --cflags --libs)" if a == flags[0] else a
            for a in cmd
            if a not in flags[1:]
        ]
        shown = [
            str(EXAMPLE_SRC) + " (minus its '.flush = lo_flush,' line)"
            if a == str(src) and variant.endswith("noflush")
            else a
            for a in shown
        ]
        commands[variant] = " ".join(a.replace(str(outdir), "BUILD") for a in shown)
    return Build(binaries, commands)


# --------------------------------------------------------------------------------------------
# Log parsing

REQ = re.compile(
    r"^unique: (\d+), opcode: (\S+) \((\d+)\), nodeid: (\d+), insize: (\d+), pid: (\d+)$"
)
# Opcode numbers (include/uapi/linux/fuse.h, protocol 7.45), to name those libfuse 3.14 prints
# as "???" because it predates them (e.g. 53, COPY_FILE_RANGE_64).
OPCODES = {
    1: "LOOKUP", 2: "FORGET", 3: "GETATTR", 4: "SETATTR", 5: "READLINK", 6: "SYMLINK",
    8: "MKNOD", 9: "MKDIR", 10: "UNLINK", 11: "RMDIR", 12: "RENAME", 13: "LINK", 14: "OPEN",
    15: "READ", 16: "WRITE", 17: "STATFS", 18: "RELEASE", 20: "FSYNC", 21: "SETXATTR",
    22: "GETXATTR", 23: "LISTXATTR", 24: "REMOVEXATTR", 25: "FLUSH", 26: "INIT", 27: "OPENDIR",
    28: "READDIR", 29: "RELEASEDIR", 30: "FSYNCDIR", 31: "GETLK", 32: "SETLK", 33: "SETLKW",
    34: "ACCESS", 35: "CREATE", 36: "INTERRUPT", 37: "BMAP", 38: "DESTROY", 39: "IOCTL",
    40: "POLL", 41: "NOTIFY_REPLY", 42: "BATCH_FORGET", 43: "FALLOCATE", 44: "READDIRPLUS",
    45: "RENAME2", 46: "LSEEK", 47: "COPY_FILE_RANGE", 48: "SETUPMAPPING", 49: "REMOVEMAPPING",
    50: "SYNCFS", 51: "TMPFILE", 52: "STATX", 53: "COPY_FILE_RANGE_64",
}  # fmt: skip
REP = re.compile(r"^\s+unique: (\d+), (?:success|error: (-?\d+) \((.*)\)), outsize: (\d+)$")
NEW_ENTRY = re.compile(r"^\s+(\d+)/(.*) -> (\d+)$")
FORGET = re.compile(r"^\s+forget (\d+) (\d+) -(\d+)$")
LO_CALL = re.compile(r"^lo_(\w+)\((.*)\)$")
KV = re.compile(r"(\w+)=([^,\s]*)")
INIT_VER = re.compile(r"^(\s*)INIT: (\d+)\.(\d+)$")
INIT_KV = re.compile(r"^(\s*)(\w+)=(0x[0-9a-fA-F]+|\d+)$")
LIBVER = re.compile(r"^FUSE library version: (\S+)$")
DETAIL_KEYS = ("name", "size", "off", "flags")
NODE_LABELS = (
    "passthrough_ll's node ids are heap pointers, different on every run, so each request's "
    "'node' is a label: '.' for the root (nodeid 1); otherwise the path, relative to the mount "
    "root, at which the daemon most recently reported that node id (its debug lines "
    "'PARENT/NAME -> NODEID', printed for every entry it returns: LOOKUP, CREATE, MKDIR, MKNOD, "
    "SYMLINK, LINK, READDIRPLUS); '?N' for an id never reported; null for nodeid 0.  So a "
    "renamed node keeps its old path until it is looked up again under its new name."
)
MANY = 20  # READDIRPLUS and BATCH_FORGET details longer than this are summarised by count


@dataclass
class Parsed:
    requests: list[dict[str, Any]]  # in log order, with "pid"
    init: dict[str, Any]
    library_version: str | None
    unparsed: list[str]


def parse_log(text: str) -> Parsed:
    """Parse passthrough_ll's ``-d -s`` log into requests (node ids replaced by path labels).

    Node ids of passthrough_ll are heap pointers, different on every run.  Each is replaced by
    a label: "." for the root (1), else the path (relative to the mount root) at which the
    daemon most recently reported that node id (its ``  PARENT/NAME -> NODEID`` lines, which
    it prints for every entry it returns: LOOKUP, CREATE, MKDIR, MKNOD, SYMLINK, LINK and
    READDIRPLUS).  An id never reported is labelled "?N", N counting from 1 in order of
    appearance.  ``None`` stands for nodeid 0.
    """
    labels: dict[int, str] = {1: "."}
    unknown = 0

    def label(raw: int) -> str | None:
        nonlocal unknown
        if raw == 0:
            return None
        if raw not in labels:
            unknown += 1
            labels[raw] = f"?{unknown}"
        return labels[raw]

    requests: list[dict[str, Any]] = []
    by_unique: dict[int, dict[str, Any]] = {}
    cur: dict[str, Any] | None = None
    init: dict[str, Any] = {}
    libver: str | None = None
    unparsed: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = REQ.match(line)
        if m:
            unique, opcode, num, nodeid, insize, pid = m.groups()
            known = opcode != "???"
            cur = {
                "unique": int(unique),
                "opcode": opcode if known else OPCODES.get(int(num), f"OPCODE_{num}"),
                "node": label(int(nodeid)),
                "insize": int(insize),
                "pid": int(pid),
                "error": None,
                "outsize": None,
            }
            if not known:
                cur["unknown_to_libfuse"] = True
            requests.append(cur)
            by_unique[int(unique)] = cur
            continue
        m = REP.match(line)
        if m:
            unique, err, _msg, outsize = m.groups()
            r = by_unique.get(int(unique))
            if r is None:
                unparsed.append(line)
                continue
            r["replied"] = True
            r["outsize"] = int(outsize)
            if err is not None:
                r["error"] = errno.errorcode.get(-int(err), err)
            continue
        m = NEW_ENTRY.match(line)
        if m and cur is not None:
            parent, name, raw = m.groups()
            plabel = label(int(parent))
            lab = name if plabel in (".", None) else f"{plabel}/{name}"
            labels[int(raw)] = lab
            cur.setdefault("entries", []).append(lab)
            continue
        m = FORGET.match(line)
        if m and cur is not None:
            raw, _refcount, count = m.groups()
            if cur["opcode"] in ("FORGET", "BATCH_FORGET"):
                forgot = {"node": label(int(raw)), "nlookup": int(count)}
                cur.setdefault("forgets", []).append(forgot)
            else:
                # the daemon undoing its own lookup count, e.g. for the READDIRPLUS entry that
                # did not fit in the reply buffer: that entry was not sent to the kernel
                lab = label(int(raw))
                ents = cur.get("entries", [])
                if lab in ents:
                    ents.reverse()
                    ents.remove(lab)
                    ents.reverse()
                cur.setdefault("daemon_dropped", []).append(lab)
            continue
        m = LO_CALL.match(line)
        if m and cur is not None:
            detail: dict[str, Any] = {}
            for k, v in KV.findall(m.group(2)):
                if k not in DETAIL_KEYS:
                    continue
                val: Any = v
                if k in ("size", "off"):
                    val = int(v)
                elif k == "flags":
                    val = int(v, 0)
                if k in detail:
                    prev = detail[k]
                    detail[k] = [*prev, val] if isinstance(prev, list) else [prev, val]
                else:
                    detail[k] = val
            if cur["opcode"] == "LOOKUP" and "name" in detail:
                cur["name"] = detail.pop("name")
            if "flags" in detail and cur["opcode"] in ("OPEN", "CREATE"):
                detail["flags"] = decode_open_flags(detail["flags"])
            cur.update(detail)
            continue
        m = INIT_VER.match(line)
        if m:
            side = "daemon" if m.group(1) else "kernel"
            init.setdefault(side, {})["version"] = f"{m.group(2)}.{m.group(3)}"
            init[side]["minor"] = int(m.group(3))
            continue
        m = INIT_KV.match(line)
        if m and cur is not None and cur["opcode"] == "INIT":
            side = "daemon" if m.group(1) else "kernel"
            key, val = m.group(2), m.group(3)
            init.setdefault(side, {})[key] = val if val.startswith("0x") else int(val)
            continue
        m = LIBVER.match(line)
        if m:
            libver = m.group(1)
            continue
        unparsed.append(line)
    for r in requests:
        ents = r.get("entries")
        if ents is not None:
            if len(ents) == 1 and r["opcode"] != "READDIRPLUS":
                r["entry"] = ents[0]
                del r["entries"]
            elif len(ents) > MANY:
                r["entries"] = len(ents)
        fg = r.get("forgets")
        if fg is not None and len(fg) > MANY:
            r["forgets"] = len(fg)
    for side in init.values():
        if isinstance(side.get("flags"), str):
            side["flag_names"] = "|".join(decode_init_flags(int(side["flags"], 16)))
    return Parsed(requests, init, libver, unparsed)


def split_phases(
    requests: Sequence[dict[str, Any]], driver_pid: int, worker_pid: int | None
) -> dict[str, list[dict[str, Any]]]:
    """Cut at the driver's STATFS fences; label who sent each request; drop pid and fences."""
    names = ["mount", "setup", "measured", "unmount"]
    phases: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    idx = 0
    for r in requests:
        pid = r["pid"]
        if pid == driver_pid and r["opcode"] == "STATFS" and idx < 3:
            idx += 1
            continue
        out = {k: v for k, v in r.items() if k not in ("pid", "replied")}
        if pid == 0:
            who = "kernel"
        elif pid == worker_pid:
            who = "workload"
        elif pid == driver_pid:
            who = "driver"
        else:
            who = "other"
        # keep a stable key order: opcode, node, insize first
        ordered: dict[str, Any] = {
            "opcode": out.pop("opcode"),
            "node": out.pop("node"),
            "insize": out.pop("insize"),
            "by": who,
            "unique": out.pop("unique"),
        }
        err = out.pop("error")
        outsize = out.pop("outsize")
        if r.get("replied"):
            ordered["error"] = err
            ordered["outsize"] = outsize
        else:
            ordered["reply"] = None
        ordered.update(out)
        phases[names[idx]].append(ordered)
    if idx != 3:
        raise RuntimeError(f"expected 3 fences in the log, found {idx}")
    return phases


# --------------------------------------------------------------------------------------------
# Driver (runs inside the private mount namespace) and worker


def _is_mounted(mnt: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == mnt for line in f)


def _init_replied(log_path: str) -> bool:
    text = Path(log_path).read_text(errors="replace")
    m = re.search(r"^unique: (\d+), opcode: INIT ", text, re.M)
    return bool(m) and re.search(rf"^\s+unique: {m.group(1)}, ", text, re.M) is not None  # type: ignore[union-attr]


def _readline(stream: Any, timeout: float) -> str:
    r, _, _ = select.select([stream], [], [], timeout)
    if not r:
        raise TimeoutError("worker did not answer in time")
    line: str = stream.readline()
    if not line:
        raise RuntimeError("worker exited")
    return line


def _umount(mnt: str) -> str:
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(50):
        if libc.umount2(mnt.encode(), 0) == 0:
            return "umount2"
        e = ctypes.get_errno()
        if e == errno.EINVAL and not _is_mounted(mnt):
            return "not mounted"
        if e != errno.EBUSY:
            break
        time.sleep(0.1)
    libc.umount2(mnt.encode(), 2)  # MNT_DETACH, last resort
    return "detach"


def drive(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    mnt: str = spec["mnt"]
    result: dict[str, Any] = {"driver_pid": os.getpid(), "errors": [], "fences": 0}
    worker: subprocess.Popen[str] | None = None
    t0 = time.monotonic()
    with open(spec["log"], "wb") as log:
        daemon = subprocess.Popen(
            spec["argv"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd="/"
        )
    Path(spec["pidfile"]).write_text(str(daemon.pid))

    def fence() -> None:
        os.statvfs(mnt)
        result["fences"] += 1

    try:
        deadline = time.monotonic() + 15
        while not (_is_mounted(mnt) and _init_replied(spec["log"])):
            if daemon.poll() is not None:
                raise RuntimeError(f"daemon exited with {daemon.returncode} before INIT")
            if time.monotonic() > deadline:
                raise TimeoutError("no mount / INIT reply within 15 s")
            time.sleep(0.01)
        result["mount_s"] = round(time.monotonic() - t0, 3)
        fence()
        worker = subprocess.Popen(
            [sys.executable, str(THIS), "_worker", mnt, spec["workload"]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd="/",
            text=True,
        )
        result["worker_pid"] = worker.pid
        assert worker.stdin is not None and worker.stdout is not None
        if _readline(worker.stdout, 30).strip() != "ready":
            raise RuntimeError("worker did not start")
        for phase in ("setup", "measured"):
            worker.stdin.write(phase + "\n")
            worker.stdin.flush()
            res = json.loads(_readline(worker.stdout, 60))
            result[phase] = res
            if "error" in res:
                raise RuntimeError(f"{phase}: {res['error']}")
            fence()
        worker.stdin.write("exit\n")
        worker.stdin.flush()
        worker.wait(30)
    except Exception:
        result["errors"].append(traceback.format_exc())
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        try:
            result["umount"] = _umount(mnt) if _is_mounted(mnt) else "not mounted"
        except Exception:
            result["errors"].append(traceback.format_exc())
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            result["errors"].append("daemon did not exit after unmount; terminated")
            daemon.terminate()
            try:
                daemon.wait(5)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        result["daemon_rc"] = daemon.returncode
        result["still_mounted"] = _is_mounted(mnt)
        Path(spec["result"]).write_text(json.dumps(result))
    return 0


def work(mnt: str, name: str) -> int:
    w = BY_NAME[name]
    fds: dict[str, Any] = {}

    def resolve(rel: str) -> str:
        return os.path.join(mnt, rel) if rel else mnt

    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "exit":
            break
        calls = w.setup if cmd == "setup" else w.measured
        try:
            res = replay(os, calls, resolve, fds)
            out: dict[str, Any] = {
                "results": [summarize(c, r) for c, r in zip(calls, res, strict=True)]
            }
        except Exception:
            out = {"error": traceback.format_exc()}
        print(json.dumps(out), flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# Recording (outside the namespace)


def cannot_record() -> str | None:
    """Why this machine cannot record, or None if it can."""
    if os.geteuid() != 0:
        return "not root (/dev/fuse is root-only here and mounting needs CAP_SYS_ADMIN)"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist"
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as e:
        return f"cannot open /dev/fuse: {e}"
    for tool in ("gcc", "pkg-config", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} not found (install: {APT_LINE})"
    if not EXAMPLE_SRC.exists():
        return f"{EXAMPLE_SRC} not found (install: {APT_LINE})"
    if subprocess.run(["pkg-config", "--exists", "fuse3"]).returncode != 0:
        return f"pkg-config cannot find fuse3 (install: {APT_LINE})"
    return None


def _kill_if_ours(pid: int, binary: str) -> None:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return
    if exe == binary:
        os.kill(pid, signal.SIGKILL)


def record_one(
    w: Workload, cfg: DaemonConfig, b: Build, keep_log_dir: str | None = None
) -> dict[str, Any]:
    variant = "passthrough_ll" if cfg.flush else "passthrough_ll_noflush"
    binary = b.binaries[variant]
    base = Path(tempfile.mkdtemp(prefix=f"fuserec-{w.name}-{cfg.name}-"))
    try:
        lower, mnt = base / "lower", base / "mnt"
        lower.mkdir()
        mnt.mkdir()
        materialize(w.fixture, str(lower))
        opts = ",".join([f"source={lower}", *cfg.options()])
        argv = [binary, "-d", "-f", "-s", "-o", opts, str(mnt)]
        spec = {
            "argv": argv,
            "mnt": str(mnt),
            "log": str(base / "daemon.log"),
            "result": str(base / "result.json"),
            "pidfile": str(base / "daemon.pid"),
            "workload": w.name,
        }
        (base / "spec.json").write_text(json.dumps(spec))
        cmd = ["unshare", "-m", "--propagation", "private", "--"]
        cmd += [sys.executable, str(THIS), "_drive", str(base / "spec.json")]
        proc = subprocess.Popen(cmd, cwd="/")
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        finally:
            pidfile = base / "daemon.pid"
            if pidfile.exists():
                _kill_if_ours(int(pidfile.read_text()), binary)
        if keep_log_dir:
            Path(keep_log_dir).mkdir(parents=True, exist_ok=True)
            shutil.copy(base / "daemon.log", Path(keep_log_dir) / f"{w.name}.{cfg.name}.log")
        if not (base / "result.json").exists():
            raise RuntimeError(
                f"{w.name}/{cfg.name}: driver wrote no result (rc {proc.returncode})"
            )
        result = json.loads((base / "result.json").read_text())
        if result["errors"]:
            raise RuntimeError(f"{w.name}/{cfg.name}: " + "\n".join(result["errors"]))
        if result["still_mounted"] or result["daemon_rc"] != 0:
            raise RuntimeError(f"{w.name}/{cfg.name}: bad teardown {result}")
        parsed = parse_log((base / "daemon.log").read_text(errors="replace"))
        bad = [ln for ln in parsed.unparsed if "unique:" in ln or "opcode:" in ln]
        if bad:
            raise RuntimeError(f"{w.name}/{cfg.name}: unparsed request/reply lines: {bad}")
        phases = split_phases(parsed.requests, result["driver_pid"], result.get("worker_pid"))
    finally:
        if os.path.ismount(base / "mnt"):  # never in this namespace; be safe anyway
            raise RuntimeError(f"{base / 'mnt'} is mounted in the caller's namespace")
        shutil.rmtree(base, ignore_errors=True)
    k, d = parsed.init.get("kernel", {}), parsed.init.get("daemon", {})
    shown_argv = [variant, *argv[1:]]
    shown_argv[5] = opts.replace(str(lower), "LOWER")
    shown_argv[6] = "MNT"
    return {
        "id": f"{w.name}/{cfg.name}",
        "workload": w.name,
        "syscall": w.syscall,
        "cache": w.cache,
        "config": cfg.name,
        "description": w.description,
        "timeouts": {"entry": cfg.timeout, "attr": cfg.timeout},
        "xattr": cfg.xattr,
        "flush_handler": cfg.flush,
        "default_permissions": cfg.default_permissions,
        "daemon_argv": shown_argv,
        "kernel_release": platform.release(),
        "libfuse": parsed.library_version,
        "init": {
            "kernel_minor": k.get("minor"),
            "daemon_minor": d.get("minor"),
            "kernel_flags": k.get("flags"),
            "daemon_flags": d.get("flags"),
        },
        "fixture": fixture_to_json(w.fixture),
        "setup_calls": calls_to_json(w.setup),
        "measured_calls": calls_to_json(w.measured),
        "results": {"setup": result["setup"]["results"], "measured": result["measured"]["results"]},
        "mount": phases["mount"],
        "setup": phases["setup"],
        "measured": phases["measured"],
        "unmount": phases["unmount"],
        "unparsed_log_lines": [ln for ln in parsed.unparsed if not ln.startswith("Ignoring")],
        "_init_full": parsed.init,
    }


def selected(
    only: Iterable[str] | None, configs: Iterable[str] | None
) -> list[tuple[Workload, DaemonConfig]]:
    only_set = set(only or [])
    cfg_set = set(configs or [])
    out = []
    for w in WORKLOADS:
        if only_set and w.name not in only_set and w.syscall not in only_set:
            continue
        for c in w.configs:
            if cfg_set and c not in cfg_set:
                continue
            out.append((w, CONFIGS[c]))
    return out


def record_all(
    pairs: Sequence[tuple[Workload, DaemonConfig]],
    keep_log_dir: str | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuserec-build-") as bdir:
        b = build(bdir)
        recs = []
        for w, c in pairs:
            r = record_one(w, c, b, keep_log_dir)
            recs.append(r)
            if verbose:
                seq = " ".join(x["opcode"] for x in r["measured"])
                print(f"{r['id']:<40} {seq}", flush=True)
    init_full = recs[0]["_init_full"] if recs else {}
    for r in recs:
        r.pop("_init_full")
    return {
        "format": 1,
        "generated_by": "tests/fuse_recordings/record.py",
        "kernel_release": platform.release(),
        "machine": platform.machine(),
        "libfuse": recs[0]["libfuse"] if recs else None,
        "build": b.commands,
        "apt": APT_LINE,
        "init": init_full,
        "filters": FILTERS,
        "node_labels": NODE_LABELS,
        "total_seconds": round(time.monotonic() - t0, 1),
        "recordings": recs,
    }


# --------------------------------------------------------------------------------------------
# JSON output: one line per small object (one request per line), expanded otherwise


def dumps(obj: Any, indent: int = 0, width: int = 100) -> str:
    flat = json.dumps(obj, ensure_ascii=False)
    if len(flat) + indent <= width or not isinstance(obj, dict | list) or not obj:
        return flat
    if isinstance(obj, dict) and "opcode" in obj:  # one request: always one line
        return flat
    pad = " " * (indent + 1)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 1, width)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + dumps(v, indent + 1, width) for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def _leftover_mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln.strip() for ln in f if "fuserec-" in ln]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "_drive":
        return drive(args[1])
    if args and args[0] == "_worker":
        return work(args[1], args[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--out", required=True, help="where to write the recordings JSON")
    ap.add_argument("--only", nargs="*", help="workload names or syscall families to record")
    ap.add_argument("--config", nargs="*", help=f"daemon configs to record ({', '.join(CONFIGS)})")
    ap.add_argument("--keep-logs", help="copy every daemon log into this directory")
    a = ap.parse_args(args)
    why = cannot_record()
    if why:
        print(f"cannot record here: {why}", file=sys.stderr)
        return 2
    pairs = selected(a.only, a.config)
    if not pairs:
        print("nothing selected", file=sys.stderr)
        return 2
    data = record_all(pairs, a.keep_logs)
    Path(a.out).write_text(dumps(data) + "\n")
    left = _leftover_mounts()
    print(f"{len(data['recordings'])} recordings in {data['total_seconds']} s -> {a.out}")
    if left:
        print("LEFTOVER MOUNTS:\n" + "\n".join(left), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
