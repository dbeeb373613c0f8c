"""Garbage daemon replies (hypothesis): a daemon that answers one opcode with anything --
structs with out-of-range or wrongly typed fields, random bytes, bad headers, objects
that are not replies, exceptions -- fails the requests it answers the kernel's way.
Only ``OSError`` (or the documented ``UnansweredRequest``) reaches the caller, a call that
failed before the daemon changed anything leaves the lower tree as it was, the machine
stays usable, and the same garbage gives the same trace."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import simfs
from simfs import uapi
from simfs.testing.profiles import machine_settings

from .machines import Replying, assert_usable, daemon_mount, run_checked, trace_fingerprint

OPCODES = [
    uapi.FUSE_LOOKUP,
    uapi.FUSE_GETATTR,
    uapi.FUSE_SETATTR,
    uapi.FUSE_OPEN,
    uapi.FUSE_READ,
    uapi.FUSE_WRITE,
    uapi.FUSE_CREATE,
    uapi.FUSE_MKDIR,
    uapi.FUSE_SYMLINK,
    uapi.FUSE_READLINK,
    uapi.FUSE_RENAME2,
    uapi.FUSE_UNLINK,
    uapi.FUSE_RMDIR,
    uapi.FUSE_OPENDIR,
    uapi.FUSE_READDIRPLUS,
    uapi.FUSE_READDIR,
    uapi.FUSE_STATFS,
    uapi.FUSE_GETXATTR,
    uapi.FUSE_SETXATTR,
    uapi.FUSE_LINK,
    uapi.FUSE_FLUSH,
    uapi.FUSE_RELEASE,
]

STRUCTS = [
    uapi.FuseEntryOut,
    uapi.FuseAttrOut,
    uapi.FuseOpenOut,
    uapi.FuseWriteOut,
    uapi.FuseStatfsOut,
    uapi.FuseGetxattrOut,
    uapi.FuseCreateOut if hasattr(uapi, "FuseCreateOut") else uapi.FuseEntryOut,
]

field_values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=0, max_value=2**16),
    st.text(max_size=4),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
)


@st.composite
def garbage_structs(draw: st.DrawFn) -> Any:
    cls = draw(st.sampled_from(STRUCTS))
    obj = cls()
    for f in dataclasses.fields(obj):
        if draw(st.booleans()):
            value = draw(field_values)
            obj = dataclasses.replace(obj, **{f.name: value})
    return obj


def _raise(exc: BaseException) -> Any:
    def answer(req: simfs.Request) -> Any:
        raise exc

    return answer


answers = st.one_of(
    garbage_structs().map(lambda s: lambda req: simfs.Reply(s)),
    st.binary(max_size=200).map(lambda b: lambda req: simfs.Reply.raw(b)),
    st.tuples(st.binary(max_size=16), st.integers(-(2**40), 2**40)).map(
        lambda t: lambda req: simfs.Reply.raw(t[0], error=t[1])
    ),
    st.integers(-(2**66), 2**66).map(
        lambda u: lambda req: simfs.Reply(uapi.FuseAttrOut(), unique=u)
    ),
    st.sampled_from([0, "x", b"x", [], {}, 3.5, object]).map(lambda v: lambda req: v),
    st.sampled_from(
        [ValueError("bad"), KeyError("k"), OSError(0, "zero"), OSError(600, "big"), OSError()]
    ).map(_raise),
    st.integers(-5, 600).map(lambda e: lambda req: simfs.Reply.error(e)),
)


def _run(opcode: int, answer: Any) -> tuple[simfs.Kernel, list[str]]:
    k, p = daemon_mount(Replying(opcode, answer))
    outcomes = run_checked(k, p, "/mnt")
    assert_usable(k)
    return k, outcomes


@settings(machine_settings(weight=2.0))
@given(opcode=st.sampled_from(OPCODES), answer=answers)
def test_garbage_replies_fail_only_their_request(opcode: int, answer: Any) -> None:
    k1, out1 = _run(opcode, answer)
    k2, out2 = _run(opcode, answer)
    assert out1 == out2
    assert trace_fingerprint(k1) == trace_fingerprint(k2)
