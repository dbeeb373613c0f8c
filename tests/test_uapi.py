"""simfs.uapi: values, sizes and byte layouts equal to the kernel's headers."""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simfs import uapi
from simfs.uapi import FuseDirent, FuseDirentplus, FuseEntryOut, WireStruct

# sizeof() of the kernel structs (x86-64 / arm64; include/uapi/linux/fuse.h, android_fuse.h)
KERNEL_SIZES: dict[type[Any], int] = {
    uapi.FuseInHeader: 40,
    uapi.FuseInPostfilterHeader: 40,
    uapi.FuseOutHeader: 16,
    uapi.FuseEntryOut: 128,
    uapi.FuseAttr: 88,
    uapi.FuseAttrOut: 104,
    uapi.FuseOpenIn: 8,
    uapi.FuseOpenOut: 16,
    uapi.FuseCreateIn: 16,
    uapi.FuseReadIn: 40,
    uapi.FuseWriteIn: 40,
    uapi.FuseWriteOut: 8,
    uapi.FuseGetattrIn: 16,
    uapi.FuseSetattrIn: 88,
    uapi.FuseGetxattrIn: 8,
    uapi.FuseGetxattrOut: 8,
    uapi.FuseSetxattrIn: 8,  # ACK 7.33 (FUSE_COMPAT_SETXATTR_IN_SIZE)
    uapi.FuseCopyFileRangeIn: 56,
    uapi.FuseFlushIn: 24,
    uapi.FuseReleaseIn: 24,
    uapi.FuseInitIn: 16,  # ACK 7.33 (no flags2)
    uapi.FuseInitOut: 64,
    uapi.FuseEntryBpfOut: 32,
    uapi.FuseBpfEntryOut: 16,
    uapi.FuseReadOut: 16,
    uapi.FuseDirent: 24,
    uapi.FuseDirentplus: 152,
    uapi.FuseKstatfs: 80,
    uapi.FuseStatfsOut: 80,
    uapi.FuseFileLock: 24,
    uapi.FuseLkIn: 48,
    uapi.FuseLkOut: 24,
    uapi.FuseMknodIn: 16,
    uapi.FuseMkdirIn: 8,
    uapi.FuseRenameIn: 8,
    uapi.FuseRename2In: 16,
    uapi.FuseLinkIn: 8,
    uapi.FuseFsyncIn: 16,
    uapi.FuseAccessIn: 8,
    uapi.FuseInterruptIn: 8,
    uapi.FuseForgetIn: 8,
    uapi.FuseForgetOne: 16,
    uapi.FuseBatchForgetIn: 8,
    uapi.FuseFallocateIn: 32,
    uapi.FuseLseekIn: 24,
    uapi.FuseLseekOut: 8,
    uapi.FusePollIn: 24,
    uapi.FuseIoctlIn: 32,
    uapi.FuseIoctlOut: 16,
    uapi.FuseBmapIn: 16,
    uapi.FuseReadIterOut: 8,
    uapi.FuseWriteIterOut: 8,
    uapi.CuseInitOut: 72,
}


@pytest.mark.parametrize("cls", list(KERNEL_SIZES), ids=lambda c: c.__name__)
def test_sizes_equal_the_kernels(cls: type[Any]) -> None:
    assert KERNEL_SIZES[cls] == cls.SIZE


def all_structs() -> list[type[WireStruct]]:
    return sorted(
        (
            c
            for c in vars(uapi).values()
            if isinstance(c, type) and issubclass(c, WireStruct) and c is not WireStruct
        ),
        key=lambda c: c.__name__,
    )


def test_every_struct_is_frozen_slotted_and_zero_by_default() -> None:
    for cls in all_structs():
        obj = cls()
        assert obj.pack() == bytes(cls.SIZE), cls
        assert not hasattr(obj, "__dict__"), cls
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, dataclasses.fields(obj)[0].name, 1)  # type: ignore[arg-type]


def test_layouts_follow_the_kernel_field_order() -> None:
    h = uapi.FuseInHeader(len=1, opcode=2, unique=3, nodeid=4, uid=5, gid=6, pid=7, padding=8)
    assert h.pack() == struct.pack("<IIQQIIII", 1, 2, 3, 4, 5, 6, 7, 8)
    assert uapi.FuseOutHeader(len=16, error=-2, unique=9).pack() == struct.pack("<IiQ", 16, -2, 9)
    e = FuseEntryOut(
        nodeid=2,
        generation=1,
        entry_valid=3,
        attr_valid=4,
        entry_valid_nsec=5,
        attr_valid_nsec=6,
        attr=uapi.FuseAttr(ino=100, mode=0o100777, flags=9),
    )
    raw = e.pack()
    assert struct.unpack_from("<QQQQII", raw) == (2, 1, 3, 4, 5, 6)
    assert struct.unpack_from("<Q", raw, 40) == (100,)  # attr.ino right after the header part
    assert struct.unpack_from("<I", raw, 40 + 60) == (0o100777,)  # attr.mode
    assert struct.unpack_from("<I", raw, 124) == (9,)  # attr.flags is the last word
    init = uapi.FuseInitOut(
        major=7,
        minor=33,
        max_readahead=4096,
        flags=1,
        max_background=2,
        congestion_threshold=3,
        max_write=4,
        time_gran=5,
        max_pages=6,
        map_alignment=7,
    )
    assert init.pack()[:32] == struct.pack("<IIIIHHIIHH", 7, 33, 4096, 1, 2, 3, 4, 5, 6, 7)
    bpf = uapi.FuseEntryBpfOut(backing_action=2, backing_fd=3, bpf_action=1, bpf_fd=4)
    assert bpf.pack() == struct.pack("<QQQQ", 2, 3, 1, 4)
    assert uapi.FuseReadOut(offset=5, again=1).pack() == struct.pack("<QII", 5, 1, 0)
    assert uapi.FuseBpfEntryOut(entry_type=1, fd=7).pack() == struct.pack("<IIQ", 1, 0, 7)
    assert uapi.FuseOpenOut(fh=1, open_flags=2, passthrough_fh=3).pack() == struct.pack(
        "<QII", 1, 2, 3
    )


# --------------------------------------------------------------------------------------------
# round trips

_INT_RANGES = {
    "B": (0, 2**8 - 1),
    "H": (0, 2**16 - 1),
    "I": (0, 2**32 - 1),
    "Q": (0, 2**64 - 1),
    "i": (-(2**31), 2**31 - 1),
    "q": (-(2**63), 2**63 - 1),
}


def struct_strategy(cls: type[WireStruct]) -> st.SearchStrategy[WireStruct]:
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for name, code in cls._layout:
        if isinstance(code, str):
            kwargs[name] = st.integers(*_INT_RANGES[code])
        elif isinstance(code, tuple):
            kwargs[name] = st.tuples(*[st.integers(*_INT_RANGES[code[0]])] * code[1])
        else:
            kwargs[name] = struct_strategy(code)
    return st.builds(cls, **kwargs)


any_struct = st.sampled_from(all_structs()).flatmap(struct_strategy)


@given(any_struct)
def test_struct_pack_unpack_round_trip(obj: WireStruct) -> None:
    raw = obj.pack()
    assert len(raw) == obj.SIZE
    assert type(obj).unpack(raw) == obj
    assert uapi.unpack_value(type(obj), uapi.pack_value(obj)) == obj


names = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\0/"),
    min_size=1,
    max_size=40,
)
dirents = st.lists(
    st.builds(
        FuseDirent,
        ino=st.integers(0, 2**64 - 1),
        off=st.integers(0, 2**64 - 1),
        type=st.integers(0, 15),
        name=names,
    ),
    max_size=8,
)


@given(dirents)
def test_dirent_lists_round_trip_with_aligned_records(ents: list[FuseDirent]) -> None:
    raw = uapi.pack_value(ents)
    assert len(raw) == uapi.wire_size(ents)
    assert len(raw) % 8 == 0
    assert uapi.unpack_value("dirents", raw) == ents


@given(
    st.lists(
        st.builds(
            FuseDirentplus,
            entry_out=struct_strategy(FuseEntryOut),
            dirent=st.builds(FuseDirent, ino=st.integers(0, 9), name=names),
        ),
        max_size=4,
    )
)
def test_direntplus_lists_round_trip(ents: list[FuseDirentplus]) -> None:
    raw = uapi.pack_value(ents)
    assert len(raw) == uapi.wire_size(ents)
    assert uapi.unpack_value("direntplus", raw) == ents


def test_dirent_record_sizes_follow_fuse_dirent_size() -> None:
    # FUSE_DIRENT_SIZE = FUSE_DIRENT_ALIGN(24 + namelen)
    assert uapi.wire_size([FuseDirent(name="a")]) == 32
    assert uapi.wire_size([FuseDirent(name="abcdefgh")]) == 32
    assert uapi.wire_size([FuseDirent(name="abcdefghi")]) == 40
    assert uapi.wire_size([FuseDirent(name="."), FuseDirent(name="..")]) == 64
    # FUSE_DIRENTPLUS_SIZE = FUSE_DIRENT_ALIGN(152 + namelen)
    assert uapi.wire_size([FuseDirentplus(dirent=FuseDirent(name="a"))]) == 160
    assert FuseDirent(name="é").namelen == 2  # bytes, not characters
    raw = FuseDirent(ino=5, off=1, type=4, name="ab").pack()
    assert raw == struct.pack("<QQII", 5, 1, 2, 4) + b"ab" + b"\0" * 6


def test_unpack_dirents_ignores_a_partial_trailing_record() -> None:
    raw = uapi.pack_value([FuseDirent(name="one"), FuseDirent(name="two")])
    assert uapi.unpack_value("dirents", raw[:-1]) == [FuseDirent(name="one")]
    assert uapi.unpack_value("dirents", b"") == []


def test_wire_sizes_of_names_and_data() -> None:
    assert uapi.wire_size("test") == 5  # the kernel sends the NUL
    assert uapi.wire_size("") == 1
    assert uapi.wire_size(b"data") == 4
    assert uapi.wire_size(uapi.FuseOpenIn()) == 8
    assert uapi.wire_size([uapi.FuseForgetOne(), uapi.FuseForgetOne()]) == 32
    assert uapi.pack_value("ab") == b"ab\0"
    with pytest.raises(TypeError):
        uapi.wire_size(3)  # type: ignore[arg-type]


def test_unpack_value_short_struct_is_zero_filled_and_long_is_refused() -> None:
    # an out_argvar reply may be short: the kernel's buffer was zeroed
    short = struct.pack("<II", 7, 22)
    assert uapi.unpack_value(uapi.FuseInitOut, short) == uapi.FuseInitOut(major=7, minor=22)
    with pytest.raises(ValueError, match="FuseOpenOut is 16 bytes, got 17"):
        uapi.unpack_value(uapi.FuseOpenOut, bytes(17))
    with pytest.raises(ValueError):
        uapi.FuseOpenOut.unpack(bytes(15))
    assert uapi.unpack_value(str, b"ignored\0") == "ignored"
    assert uapi.unpack_value(str, b"ignored") == "ignored"
    assert uapi.unpack_value(bytes, b"\0x") == b"\0x"
    forgets = uapi.pack_value([uapi.FuseForgetOne(nodeid=2, nlookup=3)])
    assert uapi.unpack_value("forget_ones", forgets) == [uapi.FuseForgetOne(2, 3)]
    with pytest.raises(ValueError):
        uapi.unpack_value("nonsense", b"")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# constants


def test_opcodes_have_kernel_values_and_module_aliases() -> None:
    assert uapi.FUSE_LOOKUP == 1
    assert uapi.FUSE_FORGET == 2
    assert uapi.FUSE_INIT == 26
    assert uapi.FUSE_BATCH_FORGET == 42
    assert uapi.FUSE_READDIRPLUS == 44
    assert uapi.FUSE_COPY_FILE_RANGE == 47
    assert uapi.FUSE_SYNCFS == 50
    assert uapi.FUSE_TMPFILE == 51
    assert uapi.FUSE_STATX == 52
    assert uapi.FUSE_COPY_FILE_RANGE_64 == 53
    assert uapi.FUSE_CANONICAL_PATH == 2016
    assert uapi.CUSE_INIT == 4096
    assert 7 not in set(uapi.FuseOpcode)  # there is no opcode 7 nor 19
    assert 19 not in set(uapi.FuseOpcode)
    for member in uapi.FuseOpcode:
        assert getattr(uapi, member.name) is member, member.name


def test_protocol_and_android_constants() -> None:
    assert (uapi.FUSE_KERNEL_VERSION, uapi.FUSE_KERNEL_MINOR_VERSION) == (7, 33)
    assert uapi.FUSE_ROOT_ID == 1
    assert (uapi.FUSE_PREFILTER, uapi.FUSE_POSTFILTER, uapi.FUSE_OPCODE_FILTER) == (
        0x10000,
        0x20000,
        0xFFFF,
    )
    assert (uapi.FUSE_BPF_USER_FILTER, uapi.FUSE_BPF_BACKING, uapi.FUSE_BPF_POST_FILTER) == (
        1,
        2,
        4,
    )
    assert (uapi.FUSE_ACTION_KEEP, uapi.FUSE_ACTION_REMOVE, uapi.FUSE_ACTION_REPLACE) == (0, 1, 2)
    assert (uapi.FUSE_BPF_FORCE, uapi.FUSE_BPF_OUT_ARGVAR) == (1, 64)
    assert (uapi.FUSE_MAX_IN_ARGS, uapi.FUSE_MAX_OUT_ARGS) == (5, 3)
    assert uapi.FUSE_SUPER_MAGIC == 0x65735546
    assert (
        uapi.FUSE_ENTRY_BACKING,
        uapi.FUSE_ENTRY_BPF,
        uapi.FUSE_ENTRY_REMOVE_BACKING,
        uapi.FUSE_ENTRY_REMOVE_BPF,
        uapi.FUSE_BPF_MAX_ENTRIES,
    ) == (1, 2, 3, 4, 2)
    assert uapi.FUSE_DO_READDIRPLUS == 1 << 13
    assert uapi.FUSE_READDIRPLUS_AUTO == 1 << 14
    assert uapi.FUSE_MAX_PAGES == 1 << 22
    assert uapi.FUSE_SECURITY_CTX == 1 << 32
    assert uapi.FOPEN_KEEP_CACHE == 2
    assert uapi.FATTR_CTIME == 1 << 10
    assert uapi.FUSE_GETATTR_FH == 1
    assert uapi.FUSE_FSYNC_FDATASYNC == 1


def test_ioctl_numbers() -> None:
    # FUSE_DEV_IOC_CLONE is 0x8004e500 on x86-64 and arm64
    assert uapi.FUSE_DEV_IOC_CLONE == 0x8004E500
    # _IOW(229, 125, char[N]) = write dir (1 << 30) | N << 16 | 229 << 8 | 125
    assert uapi.FUSE_DEV_IOC_BPF_RESPONSE(32) == 0x4020E57D
    n = uapi.FUSE_BPF_MAX_ENTRIES * uapi.FuseBpfEntryOut.SIZE
    assert uapi.FUSE_DEV_IOC_BPF_RESPONSE(n) == (1 << 30) | (n << 16) | (229 << 8) | 125
    with pytest.raises(ValueError):
        uapi.FUSE_DEV_IOC_BPF_RESPONSE(1 << 14)


def test_opcode_names_and_phases() -> None:
    assert uapi.opcode_name(uapi.FUSE_LOOKUP) == "LOOKUP"
    assert uapi.opcode_name(uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER) == "LOOKUP|PREFILTER"
    assert uapi.opcode_name(uapi.FUSE_READDIR | uapi.FUSE_POSTFILTER) == "READDIR|POSTFILTER"
    assert uapi.opcode_name(uapi.CUSE_INIT) == "CUSE_INIT"
    assert uapi.opcode_name(7) == "UNKNOWN(7)"
    assert uapi.split_opcode(uapi.FUSE_OPEN | uapi.FUSE_POSTFILTER) == (uapi.FUSE_OPEN, "post")
    assert uapi.split_opcode(uapi.FUSE_OPEN | uapi.FUSE_PREFILTER) == (uapi.FUSE_OPEN, "pre")
    assert uapi.split_opcode(uapi.FUSE_OPEN) == (uapi.FUSE_OPEN, None)
    # ACK's FUSE_OPEN_ATOMIC (u32 max - 1) has both filter bits set but is a plain opcode
    assert uapi.split_opcode(uapi.FUSE_OPEN_ATOMIC) == (uapi.FUSE_OPEN_ATOMIC, None)


def test_replace_edits_a_frozen_struct() -> None:
    e = FuseEntryOut(nodeid=2)
    e2 = dataclasses.replace(e, attr=dataclasses.replace(e.attr, size=4))
    assert (e.attr.size, e2.attr.size, e2.nodeid) == (0, 4, 2)


def test_in_kinds_size() -> None:
    assert uapi.in_kinds_size([uapi.FuseCreateIn, 5]) == 21
    with pytest.raises(TypeError):
        uapi.in_kinds_size([bytes])
