/* SPDX-License-Identifier: MIT */
/*
 * fuse_bpf.h: what a FUSE BPF filter needs, written for simfs from the fuse-bpf spec
 * (docs/compiled-filters.md): fixed-width types, FUSE opcodes and return bits, the wire
 * structs a filter reads or writes, struct fuse_bpf_args as ACK's android_fuse.h lays it
 * out (224 bytes), the helpers by number, and the legacy map definition the Android
 * selftests' loader reads from SEC("maps").  No system headers, so the object depends only
 * on the compiler:  clang -O2 -target bpf -c filter.c -o filter.o
 */
#ifndef SIMFS_FUSE_BPF_H
#define SIMFS_FUSE_BPF_H

#define SEC(name) __attribute__((section(name), used))
#define INLINE static inline __attribute__((always_inline))

#include "fuse_bpf_uapi.h"

/* helpers, by number (uapi/linux/bpf.h enum bpf_func_id) */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value,
				   __u64 flags) = (void *)2;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static long (*bpf_trace_printk)(const char *fmt, __u32 fmt_size, ...) = (void *)6;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static __u64 (*bpf_get_current_uid_gid)(void) = (void *)15;

#define BPF_ANY 0
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2

/* the format lives on the stack: the loader relocates maps only, never .rodata */
#define bpf_printk(fmt, ...)                                              \
	({                                                                \
		char ____fmt[] = fmt;                                     \
		bpf_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__); \
	})

/* legacy map definition, SEC("maps"): 32 bytes on a 64-bit host */
struct fuse_bpf_map {
	unsigned int map_type;
	unsigned long key_size;
	unsigned long value_size;
	unsigned int max_entries;
};

/*
 * name_is(name, "lit"): does the NUL-terminated name equal the literal (at most 31
 * characters)?  Compares strlen(lit) + 1 bytes in order, stopping at the first difference,
 * so it never reads past the name's NUL unless name and literal agree up to it.  Written
 * out byte by byte: after inlining every test folds to a compare against an immediate (no
 * loop for the verifier to bound, no .rodata).
 */
#define name_is(name, lit) name_equals((name), (lit), sizeof(lit))
#define NAME_BYTE(i)                                   \
	if ((i) < len && name[(i)] != lit[(i) < len ? (i) : 0]) \
		return 0;

INLINE int name_equals(const char *name, const char *lit, unsigned int len)
{
	NAME_BYTE(0) NAME_BYTE(1) NAME_BYTE(2) NAME_BYTE(3)
	NAME_BYTE(4) NAME_BYTE(5) NAME_BYTE(6) NAME_BYTE(7)
	NAME_BYTE(8) NAME_BYTE(9) NAME_BYTE(10) NAME_BYTE(11)
	NAME_BYTE(12) NAME_BYTE(13) NAME_BYTE(14) NAME_BYTE(15)
	NAME_BYTE(16) NAME_BYTE(17) NAME_BYTE(18) NAME_BYTE(19)
	NAME_BYTE(20) NAME_BYTE(21) NAME_BYTE(22) NAME_BYTE(23)
	NAME_BYTE(24) NAME_BYTE(25) NAME_BYTE(26) NAME_BYTE(27)
	NAME_BYTE(28) NAME_BYTE(29) NAME_BYTE(30) NAME_BYTE(31)
	return len <= 32;
}

#define OPCODE(fa) ((fa)->opcode)
#define PRE(op) ((op) | FUSE_PREFILTER)
#define POST(op) ((op) | FUSE_POSTFILTER)

#endif /* SIMFS_FUSE_BPF_H */
