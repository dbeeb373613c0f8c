/* SPDX-License-Identifier: MIT */
/*
 * fuse_bpf_uapi.h: the data a FUSE BPF filter sees, written for simfs from the fuse-bpf
 * spec (docs/compiled-filters.md): fixed-width types, errno values, FUSE opcodes and
 * return bits, struct fuse_bpf_args as ACK's android_fuse.h lays it out (224 bytes) and
 * the wire structs a filter reads or writes.  No helpers, no macros a program would
 * define itself: fuse_bpf.h adds those.
 */
#ifndef SIMFS_FUSE_BPF_UAPI_H
#define SIMFS_FUSE_BPF_UAPI_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;

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

struct fuse_getattr_in { __u32 getattr_flags, dummy; __u64 fh; };
struct fuse_setattr_in {
	__u32 valid, padding;
	__u64 fh, size, lock_owner, atime, mtime, ctime;
	__u32 atimensec, mtimensec, ctimensec, mode, unused4, uid, gid, unused5;
};
struct fuse_release_in { __u64 fh; __u32 flags, release_flags; __u64 lock_owner; };
struct fuse_write_in {
	__u64 fh, offset;
	__u32 size, write_flags;
	__u64 lock_owner;
	__u32 flags, padding;
};
struct fuse_fallocate_in { __u64 fh, offset, length; __u32 mode, padding; };

#endif /* SIMFS_FUSE_BPF_UAPI_H */
