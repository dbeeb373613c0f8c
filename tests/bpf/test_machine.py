"""The fuse-bpf state machine (spec §3) driven with a probe opcode and a fake daemon.

The probe spec records when its backing and finalize run and what they saw; the fake
mount records filter requests and answers them from a queue.  Every row of the §3.2
(prefilter) and §3.3 (postfilter) tables is a case here.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.bpf import ArgBuffer, BpfProg, FuseBpfArgs, Program, printk, program
from simfs.fuse import backing
from simfs.fuse.backing import KEEP, BpfArgs, Err, Op, OpSpec

U = uapi.FUSE_BPF_USER_FILTER
B = uapi.FUSE_BPF_BACKING
P = uapi.FUSE_BPF_POST_FILTER


@dataclass
class FakeMount:
    kernel: Any
    quirks: bool = True
    variant: str = "ack"
    sent: list[Any] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)

    def request(self, args: Any) -> list[Any]:
        self.sent.append(args)
        ans = self.answers.pop(0) if self.answers else None
        if isinstance(ans, int):
            raise OSError(ans, "daemon error")
        if ans is None:  # echo the out buffers (a daemon that agrees)
            return (
                [a for a in args.in_args[: len(args.out_args)]]
                if args.opcode & uapi.FUSE_PREFILTER
                else [uapi.unpack_value(o.kind, b"") for o in args.out_args]
            )
        return list(ans)


@dataclass
class Probe:
    backing_ran: int = 0
    backing_error: int = 0
    finalize_ran: int = 0
    saw_in: Any = None
    finalize_saw: Any = None
    finalize_result: Any = KEEP


def make_spec(probe: Probe) -> OpSpec:
    def init(op: Op) -> BpfArgs:
        return BpfArgs(
            opcode=uapi.FUSE_OPEN,
            nodeid=7,
            in_args=[ArgBuffer.of(uapi.FuseOpenIn(flags=2))],
            out_args=[ArgBuffer.of(uapi.FuseOpenOut())],
        )

    def back(op: Op, fa: BpfArgs) -> Any:
        probe.backing_ran += 1
        probe.saw_in = fa.in_args[0].value
        if probe.backing_error:
            raise OSError(probe.backing_error, "lower")
        fa.out_args[0].value = uapi.FuseOpenOut(fh=42)
        return 0

    def fin(op: Op, fa: BpfArgs, result: Any) -> Any:
        probe.finalize_ran += 1
        probe.finalize_saw = fa.out(0)
        return probe.finalize_result

    return OpSpec("OPEN", init, back, fin)


def run(
    prog: Program | None, answers: list[Any] | None = None, **probe_kw: Any
) -> tuple[Any, Probe, FakeMount]:
    k = simfs.Kernel()
    fm = FakeMount(k, answers=list(answers or []))
    inode = type("I", (), {})()
    inode.backing_inode = object()
    inode.nodeid = 7
    inode.bpf = backing.as_loaded(k, prog) if prog is not None else None
    probe = Probe(**probe_kw)
    op = Op(fm=fm, inode=inode, cred=k.current_cred(), kw={})
    try:
        out: Any = backing.fuse_bpf_backing(make_spec(probe), op)
    except OSError as e:
        out = ("raised", e.errno)
    return out, probe, fm


def prog_returning(pre: int, post: int = 0) -> Program:
    @program("probe")
    def p(fa: FuseBpfArgs) -> int:
        if fa.opcode & uapi.FUSE_PREFILTER:
            return pre
        return post

    return p


def sent_opcodes(fm: FakeMount) -> list[str]:
    return [uapi.opcode_name(a.opcode) for a in fm.sent]


# --- gate ---------------------------------------------------------------------------------
def test_no_backing_inode_is_not_handled() -> None:
    k = simfs.Kernel()
    inode = type("I", (), {"backing_inode": None, "bpf": prog_returning(B), "nodeid": 1})()
    op = Op(fm=FakeMount(k), inode=inode, cred=k.current_cred(), kw={})
    assert backing.fuse_bpf_backing(make_spec(Probe()), op) == (False, None)


# --- §3.2 prefilter table ------------------------------------------------------------------
def test_negative_errno_fails_without_backing_or_daemon() -> None:
    out, probe, fm = run(prog_returning(-errno.EACCES))
    assert out == ("raised", errno.EACCES)
    assert probe.backing_ran == 0 and fm.sent == []
    assert probe.finalize_ran == 1  # finalize runs after errors


def test_zero_is_classic_with_no_traffic() -> None:
    out, probe, fm = run(prog_returning(0))
    assert out == (False, None)
    assert probe.backing_ran == 0 and probe.finalize_ran == 0 and fm.sent == []


def test_user_filter_alone_sends_prefilter_then_classic() -> None:
    out, probe, fm = run(prog_returning(U))
    assert out == (False, None)
    assert sent_opcodes(fm) == ["OPEN|PREFILTER"]
    assert probe.backing_ran == 0


def test_backing_only_is_pure_passthrough() -> None:
    out, probe, fm = run(prog_returning(B))
    assert out == (True, 0)
    assert probe.backing_ran == 1 and fm.sent == []


def test_backing_user_filter_daemon_can_rewrite_inputs() -> None:
    out, probe, fm = run(prog_returning(B | U), answers=[[uapi.FuseOpenIn(flags=0o1)]])
    assert out == (True, 0)
    assert sent_opcodes(fm) == ["OPEN|PREFILTER"]
    assert probe.saw_in == uapi.FuseOpenIn(flags=0o1)
    assert fm.sent[0].in_args == [uapi.FuseOpenIn(flags=2)]
    assert [o.kind for o in fm.sent[0].out_args] == [uapi.FuseOpenIn]


def test_backing_user_filter_daemon_veto() -> None:
    out, probe, _fm = run(prog_returning(B | U), answers=[errno.EPERM])
    assert out == ("raised", errno.EPERM)
    assert probe.backing_ran == 0 and probe.finalize_ran == 1


def test_backing_post_filter_runs_bpf_postfilter_only() -> None:
    out, probe, fm = run(prog_returning(B | P, 0))
    assert out == (True, 0)
    assert fm.sent == [] and probe.backing_ran == 1


def test_all_bits_send_pre_and_post() -> None:
    _out, _probe, fm = run(prog_returning(B | P | U, U))
    assert sent_opcodes(fm) == ["OPEN|PREFILTER", "OPEN|POSTFILTER"]
    post = fm.sent[1]
    assert post.in_args == [uapi.FuseOpenIn(flags=2), uapi.FuseOpenOut(fh=42)]
    assert [(o.kind, o.size) for o in post.out_args] == [(uapi.FuseOpenOut, 16)]


@pytest.mark.parametrize("ret", [P, P | U])
def test_post_filter_without_backing_is_ignored(ret: int) -> None:
    out, probe, _fm = run(prog_returning(ret))
    assert out == (False, None)
    assert probe.backing_ran == 0


def test_no_program_means_backing() -> None:
    out, probe, _fm = run(None)
    assert out == (True, 0) and probe.backing_ran == 1


# --- §3.3 postfilter table -----------------------------------------------------------------
def test_postfilter_errno_replaces_result() -> None:
    out, _probe, _fm = run(prog_returning(B | P, -errno.EPERM))
    assert out == ("raised", errno.EPERM)


def test_postfilter_translates_backing_error_via_error_in() -> None:
    seen: list[int] = []

    @program("translate")
    def p(fa: FuseBpfArgs) -> int:
        if fa.opcode & uapi.FUSE_PREFILTER:
            return B | P
        seen.append(fa.error_in)
        return -errno.EPERM if fa.error_in == -errno.EEXIST else 0

    out, _probe, _fm = run(p, backing_error=errno.EEXIST)
    assert seen == [-errno.EEXIST]
    assert out == ("raised", errno.EPERM)


@pytest.mark.parametrize("ext2", [0, 2, 4, 6])
def test_postfilter_without_user_bit_keeps_backing_result(ext2: int) -> None:
    out, _probe, fm = run(prog_returning(B | P, ext2))
    assert out == (True, 0) and fm.sent == []


def test_daemon_postfilter_error_replaces_result_and_sees_error_in() -> None:
    out, _probe, fm = run(
        prog_returning(B | P, U), answers=[errno.ENOMEM], backing_error=errno.ENOENT
    )
    assert out == ("raised", errno.ENOMEM)
    assert fm.sent[0].error_in == -errno.ENOENT


def test_daemon_postfilter_success_does_not_clear_error() -> None:
    out, probe, _fm = run(
        prog_returning(B | P, U), answers=[[uapi.FuseOpenOut(fh=9)]], backing_error=errno.EIO
    )
    assert out == ("raised", errno.EIO)
    assert probe.finalize_saw == uapi.FuseOpenOut(fh=9)


def test_daemon_postfilter_reply_overwrites_outputs() -> None:
    out, probe, _fm = run(prog_returning(B | P, U), answers=[[uapi.FuseOpenOut(fh=9)]])
    assert out == (True, 0)
    assert probe.finalize_saw == uapi.FuseOpenOut(fh=9)


# --- finalize and aliasing -------------------------------------------------------------------
def test_prefilter_error_finalize_sees_aliased_inputs() -> None:
    _out, probe, _fm = run(prog_returning(-errno.EACCES))
    assert probe.finalize_saw == uapi.FuseOpenIn(flags=2)


def test_finalize_non_null_replaces_result() -> None:
    out, _probe, _fm = run(prog_returning(-errno.EACCES), finalize_result=5)
    assert out == (True, 5)
    out, _probe, _fm = run(prog_returning(B), finalize_result=Err(errno.EIO))
    assert out == ("raised", errno.EIO)


def test_prefilter_bpf_write_rewrites_inputs() -> None:
    @program("rewrite")
    def p(fa: FuseBpfArgs) -> int:
        if fa.opcode & uapi.FUSE_PREFILTER:
            fa.out_args[0].set(flags=0o4)
        return B

    _out, probe, _fm = run(p)
    assert probe.saw_in == uapi.FuseOpenIn(flags=0o4)


def test_rfc_v2_never_runs_programs() -> None:
    k = simfs.Kernel()
    fm = FakeMount(k, variant="rfc_v2")
    inode = type("I", (), {"backing_inode": object(), "nodeid": 7})()
    inode.bpf = backing.as_loaded(k, prog_returning(-errno.EPERM))
    probe = Probe()
    op = Op(fm=fm, inode=inode, cred=k.current_cred(), kw={})
    assert backing.fuse_bpf_backing(make_spec(probe), op) == (True, 0)
    assert probe.backing_ran == 1


# --- run-time faults (simfs.bpf) -------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "err"),
    [
        ("raise", errno.EIO),
        ("str", errno.EINVAL),
        ("bits", errno.EINVAL),
        ("write_scalar", errno.EACCES),
        ("write_in", errno.EACCES),
        ("write_type", errno.EACCES),
        ("write_past", errno.EACCES),
        ("huge_negative", errno.EINVAL),
    ],
)
def test_runtime_fault_fails_the_operation_and_is_traced(body: str, err: int) -> None:
    @program("faulty")
    def p(fa: FuseBpfArgs) -> Any:
        if body == "raise":
            raise ZeroDivisionError("boom")
        if body == "str":
            return "2"
        if body == "bits":
            return 0x100 | B
        if body == "write_scalar":
            fa.opcode = 1  # type: ignore[misc]
        if body == "write_in":
            fa.in_args[0].value = uapi.FuseOpenIn(flags=1)
        if body == "write_type":
            fa.out_args[0].value = uapi.FuseOpenOut()
        if body == "write_past":
            fa.out_args[1].value = b"x"
        if body == "huge_negative":
            return -100000
        return B

    out, probe, fm = run(p)
    assert out == ("raised", err)
    assert probe.backing_ran == 0
    k_events = [e for e in fm.kernel.trace.of("bpf_fault")]
    assert len(k_events) == 1 and k_events[0].data["errno"] == err


def test_printk_formats_c_style_into_trace_pipe() -> None:
    @program("p")
    def p(fa: FuseBpfArgs) -> int:
        printk("lookup %s %d %x", "a", -3, 255)
        printk("%llu %lx %s", 7, 16, None)
        return B

    _out, _probe, fm = run(p)
    # bpf_bprintf_prepare: a %s whose pointer cannot be read (NULL) prints as ""
    assert fm.kernel.trace_pipe.read() == ["lookup a -3 ff", "7 10 "]


def test_printk_with_more_than_three_args_faults() -> None:
    @program("p")
    def p(fa: FuseBpfArgs) -> int:
        printk("%d %d %d %d", 1, 2, 3, 4)
        return B

    out, _probe, _fm = run(p)
    assert out == ("raised", errno.EINVAL)


def test_printk_outside_a_program_is_a_usage_error() -> None:
    with pytest.raises(simfs.UsageError):
        printk("x")


def test_prog_load_verifier() -> None:
    k = simfs.Kernel()
    proc = k.spawn()
    good = prog_returning(B)
    fd = proc.bpf_prog_load(good)
    f = proc.fdtable.get(fd)
    assert isinstance(f.private, BpfProg) and f.private.program is good
    assert f.inode.__class__.__name__ == "BpfProgInode"
    for bad in (lambda fa: B, object(), 3, Program("two", lambda a, b: 0)):  # type: ignore[arg-type,misc]
        with pytest.raises(OSError) as ei:
            proc.bpf_prog_load(bad)
        assert ei.value.errno == errno.EINVAL
    fd2 = proc.bpf_prog_load(good)
    assert proc.fdtable.get(fd2).private is not f.private  # each load is a new program


def test_maps_are_per_load() -> None:
    from simfs.bpf import examples

    k = simfs.Kernel()
    a = backing.as_loaded(k, examples.test_daemon)
    assert a is not None
    fm = FakeMount(k)
    inode = type("I", (), {"backing_inode": object(), "nodeid": 1, "bpf": a})()
    op = Op(fm=fm, inode=inode, cred=k.current_cred(), kw={})
    backing.fuse_bpf_backing(make_spec(Probe()), op)
    assert a.maps["test_map"][23] == 1
    assert examples.test_daemon.maps["test_map"][23] == 0
    assert any("pid" in line and "value 0" in line for line in k.trace_pipe.read())


def test_replace_helpers() -> None:
    assert replace(uapi.FuseOpenOut(), fh=1).fh == 1
