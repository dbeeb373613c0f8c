"""Misbehaving BPF programs (hypothesis): at one opcode and phase a program raises,
returns garbage, writes values of the wrong type or range, writes read-only buffers or
fields, or calls a helper wrongly.  The operation fails by the program fault rule of
:mod:`simfs.bpf` (traced as ``bpf_fault``, a note on the ``OSError``), nothing else
escapes, a call that failed before a backing op succeeded leaves the lower tree as it
was (a post-filter runs after the backing op, as in the kernel), the machine stays
usable and the same program gives the same trace."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import simfs
import simfs.bpf
import simfs.daemons
from simfs import uapi
from simfs.testing.profiles import machine_settings

from .machines import assert_usable, bpf_mount, run_checked, trace_fingerprint
from .test_replies import OPCODES, field_values, garbage_structs

B, P = uapi.FUSE_BPF_BACKING, uapi.FUSE_BPF_POST_FILTER
BPF_OPCODES = [*OPCODES, uapi.FUSE_ACCESS, uapi.FUSE_FALLOCATE, uapi.FUSE_RENAME]


def _replace_field(i: int, value: Any) -> Any:
    def act(fa: Any) -> None:
        buf = fa.out_args[i % max(len(fa.out_args), 1)]
        v = buf.value
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            name = dataclasses.fields(v)[0].name
            buf.value = dataclasses.replace(v, **{name: value})
        else:
            buf.value = value

    return act


def _set_value(i: int, value: Any) -> Any:
    def act(fa: Any) -> None:
        fa.out_args[i % max(len(fa.out_args), 1)].value = value

    return act


def _append(value: Any) -> Any:
    def act(fa: Any) -> None:
        for buf in fa.out_args:
            if isinstance(buf.value, list):
                buf.value.append(value)

    return act


def _raise(exc: BaseException) -> Any:
    def act(fa: Any) -> None:
        raise exc

    return act


def _write_in(fa: Any) -> None:
    fa.in_args[0].value = fa.in_args[0].value


def _scalar(fa: Any) -> None:
    fa.nodeid = 3


def _printk(fa: Any) -> None:
    simfs.bpf.printk("%d %d %d %d", 1, 2, 3, 4)


actions = st.one_of(
    st.tuples(st.integers(0, 3), field_values).map(lambda t: _replace_field(*t)),
    st.tuples(st.integers(0, 3), st.one_of(field_values, garbage_structs())).map(
        lambda t: _set_value(*t)
    ),
    st.one_of(field_values, st.just(42)).map(_append),
    st.sampled_from([ValueError("v"), KeyError("k"), ZeroDivisionError(), RecursionError()]).map(
        _raise
    ),
    st.sampled_from([_write_in, _scalar, _printk]),
)
returns = st.one_of(
    st.just(None),  # keep the passthrough answer
    st.sampled_from([None, "x", 2**40, -5000, 1.5, True, 8, -(2**70)]).map(lambda r: ("ret", r)),
)


def _program(opcode: int, action: Any, ret: Any) -> simfs.bpf.Program:
    @simfs.bpf.program("misbehaving")
    def prog(fa: simfs.bpf.FuseBpfArgs) -> Any:
        if fa.opcode == opcode:
            action(fa)
            if ret is not None:
                return ret[1]
            return 0 if opcode & uapi.FUSE_POSTFILTER else B | P
        return B | P

    return prog


def _run(opcode: int, action: Any, ret: Any) -> tuple[simfs.Kernel, list[str]]:
    k, p = bpf_mount(_program(opcode, action, ret))
    outcomes = run_checked(k, p, "/mnt")
    assert_usable(k)
    return k, outcomes


@settings(machine_settings(weight=2.0))
@given(
    opcode=st.sampled_from(BPF_OPCODES),
    phase=st.sampled_from([uapi.FUSE_PREFILTER, uapi.FUSE_POSTFILTER]),
    action=actions,
    ret=returns,
)
def test_misbehaving_programs_fail_only_their_operation(
    opcode: int, phase: int, action: Any, ret: Any
) -> None:
    k1, out1 = _run(opcode | phase, action, ret)
    k2, out2 = _run(opcode | phase, action, ret)
    assert out1 == out2
    assert trace_fingerprint(k1) == trace_fingerprint(k2)
    faults = k1.trace.of("bpf_fault")
    for f in faults:
        assert f.data["reason"] and f.data["prog"] == "misbehaving"
