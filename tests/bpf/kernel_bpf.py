"""This machine's kernel BPF, through ``bpf(2)`` and ctypes: the oracle for instruction semantics.

A program is loaded as ``BPF_PROG_TYPE_SYSCALL`` (its context is plain memory the caller
supplies: ``syscall_prog_is_valid_access`` allows any aligned read or write below
``U16_MAX``) and run once with ``BPF_PROG_TEST_RUN``; ``bpf_prog_test_run_syscall``
(net/bpf/test_run.c) copies ``ctx_in`` into a kernel buffer, runs the program with R1
pointing at it, copies the buffer back to ``ctx_in`` and reports R0 (its low 32 bits:
``retval`` is a ``__u32``) in ``attr.test.retval``.

:func:`available` says whether this works here (root, bpf(2) not filtered, the program
type known); tests skip with its reason otherwise.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass

from simfs.bpf.ebpf import isa
from simfs.bpf.ebpf.isa import Insn

__all__ = ["KernelRun", "LoadRejected", "available", "load_and_run"]

#: __NR_bpf by machine (arch/*/entry/syscalls)
_NR_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "riscv64": 280, "i686": 357}
BPF_PROG_LOAD = 5
BPF_PROG_TEST_RUN = 10
BPF_PROG_TYPE_SYSCALL = 31
BPF_F_SLEEPABLE = 1 << 4
#: a bpf_attr buffer larger than any field we set (the kernel checks the tail is zero)
_ATTR_SIZE = 160

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class LoadRejected(Exception):
    """The kernel's verifier refused the program: ``errno`` and its log."""

    def __init__(self, errno_value: int, log: str) -> None:
        super().__init__(f"{errno.errorcode.get(errno_value, errno_value)}: {log.strip()[-400:]}")
        self.errno = errno_value
        self.log = log


@dataclass(frozen=True)
class KernelRun:
    """One ``BPF_PROG_TEST_RUN``: R0's low 32 bits and the context memory afterwards."""

    retval: int
    ctx: bytes


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    nr = _NR_BPF.get(platform.machine())
    if nr is None:
        raise OSError(errno.ENOSYS, f"bpf(2) number unknown for {platform.machine()}")
    ret = int(
        _libc.syscall(
            ctypes.c_long(nr),
            ctypes.c_long(cmd),
            ctypes.c_void_p(ctypes.addressof(attr)),
            ctypes.c_long(_ATTR_SIZE),
        )
    )
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def load(insns: list[Insn], log_size: int = 1 << 16) -> int:
    """``BPF_PROG_LOAD`` as ``BPF_PROG_TYPE_SYSCALL``; returns the program fd.

    Raises :class:`LoadRejected` with the verifier's errno and log."""
    text = isa.encode(insns)
    code = ctypes.create_string_buffer(text, len(text))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(log_size)
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into(
        "<IIQQIIQ",
        attr,
        0,
        BPF_PROG_TYPE_SYSCALL,
        len(insns),
        ctypes.addressof(code),
        ctypes.addressof(lic),
        1,  # log_level
        log_size,
        ctypes.addressof(log),
    )
    # bpf_prog_load: "Syscall programs can only be sleepable"
    struct.pack_into("<I", attr, 44, BPF_F_SLEEPABLE)  # prog_flags
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except OSError as exc:
        text = log.value.decode(errors="replace")
        if exc.errno != errno.ENOSPC:
            raise LoadRejected(exc.errno or 0, text) from None
    # the log did not fit: the kernel kept its tail (the reason is there) and said ENOSPC;
    # load again without a log for the verifier's own errno
    struct.pack_into("<IIQ", attr, 24, 0, 0, 0)
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except OSError as exc:
        raise LoadRejected(exc.errno or 0, text) from None


def test_run(fd: int, ctx: bytes) -> KernelRun:
    """``BPF_PROG_TEST_RUN`` once with ``ctx`` as the context; returns retval and ctx out."""
    buf = ctypes.create_string_buffer(bytes(ctx), len(ctx))
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("<I", attr, 0, fd)
    struct.pack_into("<II", attr, 40, len(ctx), 0)  # ctx_size_in, ctx_size_out
    struct.pack_into("<Q", attr, 48, ctypes.addressof(buf))  # ctx_in
    _bpf(BPF_PROG_TEST_RUN, attr)
    (retval,) = struct.unpack_from("<I", attr, 4)
    return KernelRun(retval, buf.raw)


# the name is not a pytest test
test_run.__test__ = False  # type: ignore[attr-defined]


def load_and_run(insns: list[Insn], ctx: bytes) -> KernelRun:
    """Load, run once, close.  Raises :class:`LoadRejected` or ``OSError``."""
    fd = load(insns)
    try:
        return test_run(fd, ctx)
    finally:
        os.close(fd)


def available() -> str | None:
    """``None`` when syscall programs load and run here, else the reason they cannot."""
    if platform.machine() not in _NR_BPF:
        return f"bpf(2) syscall number unknown for {platform.machine()}"
    if os.geteuid() != 0:
        return "loading BPF_PROG_TYPE_SYSCALL programs needs root (CAP_BPF)"
    # r0 = *(u32 *)(r1 +0); r0 += 1; *(u32 *)(r1 +4) = r0; exit
    probe = isa.decode(
        struct.pack("<BBhi", 0x61, 0x10, 0, 0)
        + struct.pack("<BBhi", 0x07, 0x00, 0, 1)
        + struct.pack("<BBhi", 0x63, 0x01, 4, 0)
        + struct.pack("<BBhi", 0x95, 0, 0, 0)
    )
    try:
        out = load_and_run(probe, struct.pack("<II", 41, 0))
    except LoadRejected as exc:
        return f"this kernel refuses a BPF_PROG_TYPE_SYSCALL program: {exc}"
    except OSError as exc:
        return f"BPF_PROG_TEST_RUN of a syscall program failed: {exc}"
    if out.retval != 42 or out.ctx != struct.pack("<II", 41, 42):
        return f"probe program gave {out} (expected retval 42, ctx 41,42)"
    return None
