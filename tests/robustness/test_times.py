"""Out-of-range timestamps: ``utime`` with times before 1970 or past 2**64 ns is stored as
tmpfs stores it (measured on 6.18 tmpfs: no clamping), and reads back the same through a
bind mount, a classic FUSE mount (``fuse_attr`` carries the seconds as ``__u64``; the
kernel reads them back as ``time64_t``) and a FUSE-BPF mount."""

from __future__ import annotations

import pytest

import simfs
import simfs.daemons

from .machines import lower_kernel

# (atime_ns, mtime_ns) given to utime -> read back on tmpfs (6.18, measured)
MEASURED = [
    ((-(10**9), -1), (-(10**9), -1)),
    ((2**64, 5), (2**64, 5)),
    ((-(2**63), 0), (-(2**63), 0)),
    ((2**63 - 1, 2**63), (2**63 - 1, 2**63)),
]


@pytest.mark.parametrize("route", ["lower", "classic", "fuse-bpf"])
@pytest.mark.parametrize(("given", "read"), MEASURED)
def test_out_of_range_times_read_back_as_on_tmpfs(
    route: str, given: tuple[int, int], read: tuple[int, int]
) -> None:
    k, p = lower_kernel()
    base = "/data"
    if route == "classic":
        k.mount_fuse("/mnt", daemon=simfs.daemons.Passthrough("/data", attr_timeout=0))
        base = "/mnt"
    elif route == "fuse-bpf":
        k.mount_fuse("/mnt", root_dir="/data", no_daemon=True)
        base = "/mnt"
    p.utime(f"{base}/a", ns=given)
    s = p.stat(f"{base}/a")
    assert (s.st_atime_ns, s.st_mtime_ns) == read
    lower = p.stat("/data/a")
    assert (lower.st_atime_ns, lower.st_mtime_ns) == read
