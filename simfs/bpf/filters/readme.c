// SPDX-License-Identifier: MIT
/*
 * The README's example filters in C (docs/compiled-filters.md walks through them):
 *
 *   hide_dotfiles      LOOKUP of a name starting with '.' fails ENOENT in the prefilter.
 *                      A FUSE program may read an argument buffer only at constant
 *                      offsets (check_buffer_access refuses a variable one), so it cannot
 *                      walk a page of dirents as the Python example does: READDIR is read
 *                      from the lower directory and its postfilter hands the page to the
 *                      daemon (USER_FILTER), which drops the dotfiles, as MediaProvider
 *                      leaves listing redaction to its daemon.
 *   read_only          every mutating request, and OPEN for writing or truncation, fails
 *                      EROFS in the prefilter, before the lower filesystem is touched.
 *   errno_translation  every request runs backed with a postfilter; ENODATA becomes EPERM
 *                      and ENOTEMPTY becomes EBUSY, everything else passes unchanged.
 */
#include "fuse_bpf.h"

#define O_ACCMODE 03
#define O_RDONLY 00
#define O_TRUNC 01000

SEC("hide_dotfiles")
int hide_dotfiles_prog(struct fuse_bpf_args *fa)
{
	if (fa->opcode == PRE(FUSE_LOOKUP)) {
		const char *name = fa->in_args[0].value;

		if (name[0] == '.')
			return -ENOENT;
	}
	if (fa->opcode == PRE(FUSE_READDIR))
		return FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
	if (fa->opcode == POST(FUSE_READDIR))
		return FUSE_BPF_USER_FILTER;
	return FUSE_BPF_BACKING;
}

INLINE int mutating(__u32 op)
{
	switch (op) {
	case FUSE_SETATTR: case FUSE_SYMLINK: case FUSE_MKNOD: case FUSE_MKDIR:
	case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_RENAME: case FUSE_RENAME2:
	case FUSE_LINK: case FUSE_WRITE: case FUSE_SETXATTR: case FUSE_REMOVEXATTR:
	case FUSE_FALLOCATE: case FUSE_CREATE: case FUSE_COPY_FILE_RANGE:
		return 1;
	}
	return 0;
}

SEC("read_only")
int read_only_prog(struct fuse_bpf_args *fa)
{
	__u32 op = fa->opcode & FUSE_OPCODE_FILTER;

	if (!(fa->opcode & FUSE_PREFILTER))
		return 0;
	if (mutating(op))
		return -EROFS;
	if (op == FUSE_OPEN) {
		const struct fuse_open_in *foi = fa->in_args[0].value;

		if ((foi->flags & O_ACCMODE) != O_RDONLY || (foi->flags & O_TRUNC))
			return -EROFS;
	}
	return FUSE_BPF_BACKING;
}

#define ENOTEMPTY 39
#define EBUSY 16

SEC("errno_translation")
int errno_translation_prog(struct fuse_bpf_args *fa)
{
	if (fa->opcode & FUSE_PREFILTER)
		return FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
	if (fa->error_in == -ENODATA)
		return -EPERM;
	if (fa->error_in == -ENOTEMPTY)
		return -EBUSY;
	return 0;
}

char _license[] SEC("license") = "GPL";
