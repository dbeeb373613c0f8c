"""Compiled FUSE BPF programs: eBPF objects built by clang, loaded and run by simfs.

- :mod:`simfs.bpf.ebpf.isa`: instruction encoding, decoding, the verifier log's disassembly.
- :mod:`simfs.bpf.ebpf.interp`: the interpreter (``___bpf_prog_run``, kernel/bpf/core.c).
- :mod:`simfs.bpf.ebpf.ctx`: ``struct fuse_bpf_args`` in memory (ACK android_fuse.h).
- :mod:`simfs.bpf.ebpf.helpers`: helper ids and implementations (``fuse_prog_func_proto``).
- :mod:`simfs.bpf.ebpf.maps`: legacy ``maps`` section ARRAY and HASH maps.
- :mod:`simfs.bpf.ebpf.elf`: the ELF loader (the Android selftests' ``bpf_load``).
"""
