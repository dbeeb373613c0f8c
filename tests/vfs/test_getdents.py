"""``Process.getdents`` is one ``getdents64(2)`` call (issue 19, item 1).

The lower filesystem's answers to small buffers are checked against the real kernel by
the oracle case ``fd_getdents_small_buffers``; these tests cover what only simfs can show:
one call is one ``iterate_dir`` on a FUSE directory (one READDIR request, one fuse-bpf
READDIR run a post-filter sees), and ACK's ``ctx->pos = fro->offset`` after a buffer that
filled up (``quirks``).
"""

from __future__ import annotations

import errno
import os
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.bpf import FuseBpfArgs, program
from simfs.daemons import Passthrough
from simfs.vfs.readdir import GETDENTS_BUFSIZE, dirent64_reclen

NAMES = [f"file{i:03d}" for i in range(40)]


def _tree(k: simfs.Kernel) -> None:
    k.lower.create_dir("/src", perm_bits=0o755)
    for n in NAMES:
        k.lower.create_file(f"/src/{n}")
    k.lower.create_dir("/mnt", perm_bits=0o755)


def test_reclen_is_linux_dirent64() -> None:
    # ALIGN(offsetof(struct linux_dirent64, d_name) + namelen + 1, 8), as measured with the
    # raw syscall: "." takes 24 bytes, a 51-byte name 72
    assert dirent64_reclen(".") == 24
    assert dirent64_reclen("b" * 51) == 72
    assert dirent64_reclen("b" * 4) == 24
    assert dirent64_reclen("b" * 5) == 32
    assert GETDENTS_BUFSIZE == 32768


def test_lower_one_call_fills_one_buffer() -> None:
    k = simfs.Kernel()
    _tree(k)
    p = k.spawn()
    fd = p.open("/src", os.O_RDONLY | os.O_DIRECTORY)
    with pytest.raises(OSError) as e:
        p.getdents(fd, 23)
    assert e.value.errno == errno.EINVAL
    assert [d.name for d in p.getdents(fd, 24)] == ["."]
    # ".." takes 24 bytes, "file039" 32: 55 bytes hold "..", 56 both
    assert [d.name for d in p.getdents(fd, 55)] == [".."]
    assert [d.name for d in p.getdents(fd, 32)] == [NAMES[-1]]
    batch = p.getdents(fd, 5 * 32 + 31)
    assert len(batch) == 5
    rest = p.getdents_all(fd)
    assert sorted([d.name for d in batch + rest] + [NAMES[-1]]) == sorted(NAMES)
    assert p.getdents(fd) == [] and p.getdents(fd, 0) == []
    # d_off of the last record is where the next call starts
    p.lseek(fd, 0, os.SEEK_SET)
    first = p.getdents(fd, 24)
    assert p.lseek(fd, 0, os.SEEK_CUR) == first[-1].d_off


def test_bad_count_is_an_argument_error() -> None:
    k = simfs.Kernel()
    _tree(k)
    p = k.spawn()
    fd = p.open("/src", os.O_RDONLY | os.O_DIRECTORY)
    with pytest.raises(OverflowError):
        p.getdents(fd, -1)
    with pytest.raises(TypeError):
        p.getdents(fd, 1.5)  # type: ignore[arg-type]
    fd2 = p.open("/src/file000", os.O_RDONLY)
    with pytest.raises(NotADirectoryError):
        p.getdents(fd2)


def _counting_prog(seen: list[int]) -> Any:
    @program("count_readdir")
    def prog(fa: FuseBpfArgs) -> int:
        if fa.opcode == uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER:
            seen.append(len(fa.out_args[1].value))
            return 0
        if fa.opcode == uapi.FUSE_READDIR | uapi.FUSE_PREFILTER:
            return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
        return uapi.FUSE_BPF_BACKING

    return prog


def test_fuse_bpf_one_call_is_one_readdir_run() -> None:
    k = simfs.Kernel()
    _tree(k)
    seen: list[int] = []
    k.mount_fuse("/mnt", root_dir="/src", root_bpf=_counting_prog(seen), no_daemon=True)
    p = k.spawn()
    fd = p.open("/mnt", os.O_RDONLY | os.O_DIRECTORY)
    got = p.getdents(fd)
    assert len(seen) == 1 and seen[0] == len(got) == len(NAMES) + 2
    assert p.getdents(fd) == []
    assert len(seen) == 2 and seen[1] == 0  # the end is one more (empty) pass


@pytest.mark.parametrize("quirks", [True, False])
def test_fuse_bpf_small_buffer(quirks: bool) -> None:
    """ACK ``fuse_readdir_finalize`` sets ``ctx->pos = fro->offset`` even when
    ``parse_dirfile`` stopped at a record the caller's buffer could not take, so those
    records are never listed; ``quirks=False`` resumes at the first one not emitted."""
    k = simfs.Kernel()
    _tree(k)
    seen: list[int] = []
    k.mount_fuse(
        "/mnt", root_dir="/src", root_bpf=_counting_prog(seen), no_daemon=True, quirks=quirks
    )
    p = k.spawn()
    fd = p.open("/mnt", os.O_RDONLY | os.O_DIRECTORY)
    first = p.getdents(fd, 2 * 24 + 32)
    assert [d.name for d in first][:2] == [".", ".."] and len(first) == 3
    rest = p.getdents_all(fd)
    listed = [d.name for d in first + rest]
    assert len(listed) == len(set(listed))
    if quirks:
        assert rest == []  # the rest of the page was skipped
        assert len(seen) == 2
    else:
        assert sorted(n for n in listed if n not in (".", "..")) == sorted(NAMES)
    with pytest.raises(OSError) as e:
        p.lseek(fd, 0, os.SEEK_SET)
        p.getdents(fd, 10)
    assert e.value.errno == errno.EINVAL
    # ACK moved f_pos past the page anyway; the intended semantics did not move it
    assert (p.getdents(fd, GETDENTS_BUFSIZE) == []) is quirks


def test_classic_fuse_small_buffer_asks_again() -> None:
    """Classic ``parse_dirfile``: ``ctx->pos`` only moves past emitted records, so the
    next ``getdents`` sends a READDIR from the first record that did not fit."""
    k = simfs.Kernel()
    _tree(k)
    k.mount_fuse("/mnt", daemon=Passthrough("/src"))
    p = k.spawn()
    fd = p.open("/mnt", os.O_RDONLY | os.O_DIRECTORY)
    before = len(k.trace.request_opcodes())
    names: list[str] = []
    calls = 1
    while batch := p.getdents(fd, 2 * 32):
        assert len(batch) <= 2
        names += [d.name for d in batch]
        calls += 1
    ops = k.trace.request_opcodes()[before:]
    assert sorted(n for n in names if n not in (".", "..")) == sorted(NAMES)
    assert len(names) == len(NAMES) + 2
    # one READDIR(PLUS) per getdents call; a daemon page holds them all, so each call
    # after the first re-asks from the first record that did not fit
    assert ops.count("READDIR") + ops.count("READDIRPLUS") == calls == (len(NAMES) + 2) // 2 + 1
