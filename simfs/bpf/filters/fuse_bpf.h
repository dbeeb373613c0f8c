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

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;

#define SEC(name) __attribute__((section(name), used))
#define INLINE static inline __attribute__((always_inline))

/* errno values (asm-generic/errno-base.h, errno.h) */
#define EPERM 1
#define ENOENT 2
#define EIO 5
#define EACCES 13
#define EEXIST 17
#define EXDEV 18
#define EINVAL 22
#define EROFS 30
#define ENODATA 61
#define EOPNOTSUPP 95

/* opcodes (uapi/linux/fuse.h) */
#define FUSE_LOOKUP 1
#define FUSE_GETATTR 3
#define FUSE_SETATTR 4
#define FUSE_READLINK 5
#define FUSE_SYMLINK 6
#define FUSE_MKNOD 8
#define FUSE_MKDIR 9
#define FUSE_UNLINK 10
#define FUSE_RMDIR 11
#define FUSE_RENAME 12
#define FUSE_LINK 13
#define FUSE_OPEN 14
#define FUSE_READ 15
#define FUSE_WRITE 16
#define FUSE_STATFS 17
#define FUSE_RELEASE 18
#define FUSE_FSYNC 20
#define FUSE_SETXATTR 21
#define FUSE_GETXATTR 22
#define FUSE_LISTXATTR 23
#define FUSE_REMOVEXATTR 24
#define FUSE_FLUSH 25
#define FUSE_OPENDIR 27
#define FUSE_READDIR 28
#define FUSE_RELEASEDIR 29
#define FUSE_FSYNCDIR 30
#define FUSE_ACCESS 34
#define FUSE_CREATE 35
#define FUSE_FALLOCATE 43
#define FUSE_READDIRPLUS 44
#define FUSE_RENAME2 45
#define FUSE_LSEEK 46
#define FUSE_COPY_FILE_RANGE 47
#define FUSE_CANONICAL_PATH 2016

/* fuse-bpf (android_fuse.h) */
#define FUSE_BPF_USER_FILTER 1
#define FUSE_BPF_BACKING 2
#define FUSE_BPF_POST_FILTER 4
#define FUSE_OPCODE_FILTER 0x0ffff
#define FUSE_PREFILTER 0x10000
#define FUSE_POSTFILTER 0x20000
#define FUSE_ACTION_KEEP 0
#define FUSE_ACTION_REMOVE 1
#define FUSE_ACTION_REPLACE 2
#define FUSE_MAX_IN_ARGS 5
#define FUSE_MAX_OUT_ARGS 3

struct fuse_bpf_in_arg {
	__u32 size;
	const void *value;
	const void *end_offset;
};

struct fuse_bpf_arg {
	__u32 size;
	void *value;
	void *end_offset;
};

struct fuse_bpf_args {
	__u64 nodeid;
	__u32 opcode;
	__u32 error_in;
	__u32 in_numargs;
	__u32 out_numargs;
	__u32 flags;
	struct fuse_bpf_in_arg in_args[FUSE_MAX_IN_ARGS];
	struct fuse_bpf_arg out_args[FUSE_MAX_OUT_ARGS];
};

_Static_assert(sizeof(struct fuse_bpf_args) == 224, "struct fuse_bpf_args is 224 bytes");

/* wire structs */
struct fuse_attr {
	__u64 ino, size, blocks, atime, mtime, ctime;
	__u32 atimensec, mtimensec, ctimensec;
	__u32 mode, nlink, uid, gid, rdev, blksize, flags;
};

struct fuse_entry_out {
	__u64 nodeid, generation, entry_valid, attr_valid;
	__u32 entry_valid_nsec, attr_valid_nsec;
	struct fuse_attr attr;
};

struct fuse_entry_bpf_out {
	__u64 backing_action, backing_fd, bpf_action, bpf_fd;
};

struct fuse_read_in {
	__u64 fh, offset;
	__u32 size, read_flags;
	__u64 lock_owner;
	__u32 flags, padding;
};

struct fuse_mknod_in { __u32 mode, rdev, umask, padding; };
struct fuse_mkdir_in { __u32 mode, umask; };
struct fuse_rename2_in { __u64 newdir; __u32 flags, padding; };
struct fuse_link_in { __u64 oldnodeid; };
struct fuse_flush_in { __u64 fh; __u32 unused, padding; __u64 lock_owner; };
struct fuse_getxattr_in { __u32 size, padding; };
struct fuse_lseek_in { __u64 fh, offset; __u32 whence, padding; };
struct fuse_open_in { __u32 flags, open_flags; };
struct fuse_open_out { __u64 fh; __u32 open_flags, padding; };
struct fuse_create_in { __u32 flags, mode, umask, open_flags; };

struct fuse_dirent {
	__u64 ino, off;
	__u32 namelen, type;
	char name[];
};

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
