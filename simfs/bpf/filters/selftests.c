// SPDX-License-Identifier: MIT
/*
 * The programs the Android fuse-bpf selftest scenarios use, written for simfs from the
 * decision tables of the spec (android-selftests.md section 3): each section is the C twin
 * of the Python program of the same name in simfs/bpf/examples.py, with the same
 * bpf_printk lines, so tests/android runs every scenario with either and compares traces.
 */
#include "fuse_bpf.h"

SEC("test_readdir_redact")
int readdir_redact(struct fuse_bpf_args *fa)
{
	if (fa->opcode == PRE(FUSE_READDIR)) {
		const struct fuse_read_in *fri = fa->in_args[0].value;

		bpf_printk("readdir %d", fri->fh);
		return FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
	}
	if (fa->opcode == POST(FUSE_READDIR)) {
		const struct fuse_read_in *fri = fa->in_args[0].value;

		bpf_printk("readdir postfilter %x", fri->fh);
		return FUSE_BPF_USER_FILTER;
	}
	bpf_printk("opcode %d", fa->opcode);
	return FUSE_BPF_BACKING;
}

/* the cases both test_trace variants share; -1 when the opcode is not one of them */
INLINE int trace_common(struct fuse_bpf_args *fa)
{
	__u32 op = fa->opcode;

	if (op == PRE(FUSE_ACCESS)) {
		bpf_printk("Access: %d", fa->nodeid);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_CREATE)) {
		bpf_printk("Create: %d", fa->nodeid);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_MKNOD)) {
		const struct fuse_mknod_in *fmi = fa->in_args[0].value;

		bpf_printk("mknod %s %x %x", fa->in_args[1].value, fmi->rdev | fmi->mode, fmi->umask);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_MKDIR)) {
		const struct fuse_mkdir_in *fmi = fa->in_args[0].value;

		bpf_printk("mkdir %s %x %x", fa->in_args[1].value, fmi->mode, fmi->umask);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_RMDIR)) {
		bpf_printk("rmdir %s", fa->in_args[0].value);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_RENAME)) {
		bpf_printk("rename from %s", fa->in_args[1].value);
		bpf_printk("rename to %s", fa->in_args[2].value);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_RENAME2)) {
		const struct fuse_rename2_in *fri = fa->in_args[0].value;

		bpf_printk("rename(%x) from %s", fri->flags, fa->in_args[1].value);
		bpf_printk("rename to %s", fa->in_args[2].value);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_UNLINK)) {
		bpf_printk("unlink %s", fa->in_args[0].value);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_LINK)) {
		const struct fuse_link_in *fli = fa->in_args[0].value;

		bpf_printk("link %d %s", fli->oldnodeid, fa->in_args[1].value);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_SYMLINK)) {
		bpf_printk("symlink from %s", fa->in_args[0].value);
		bpf_printk("symlink to %s", fa->in_args[1].value);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_READLINK)) {
		bpf_printk("readlink from");
		return FUSE_BPF_BACKING;
	}
	if (op == POST(FUSE_OPEN)) {
		bpf_printk("open postfilter");
		return FUSE_BPF_USER_FILTER;
	}
	if (op == PRE(FUSE_REMOVEXATTR)) {
		bpf_printk("removexattr %s", fa->in_args[0].value);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_CANONICAL_PATH)) {
		bpf_printk("canonical_path");
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_STATFS)) {
		bpf_printk("statfs");
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_LSEEK)) {
		const struct fuse_lseek_in *fli = fa->in_args[0].value;

		bpf_printk("lseek type:%d, offset:%lld", fli->whence, fli->offset);
		return FUSE_BPF_BACKING;
	}
	return -1;
}

INLINE int trace_backed_name(const char *name)
{
	return name_is(name, "real") || name_is(name, "partial") || name_is(name, "dir") ||
	       name_is(name, "dir2") || name_is(name, "file1") || name_is(name, "file2");
}

INLINE int trace_detailed(struct fuse_bpf_args *fa)
{
	__u32 op = fa->opcode;
	int ret;

	if (op == PRE(FUSE_LOOKUP)) {
		const char *name = fa->in_args[0].value;
		int backed = trace_backed_name(name);

		bpf_printk("lookup %s %d", name, backed);
		return backed ? FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER : 0;
	}
	if (op == POST(FUSE_LOOKUP)) {
		const char *name = fa->in_args[0].value;
		struct fuse_entry_out *feo = fa->out_args[0].value;

		if (name_is(name, "real"))
			feo->nodeid = 5;
		else if (name_is(name, "partial"))
			feo->nodeid = 6;
		bpf_printk("post-lookup %s %d", name, feo->nodeid);
		return 0;
	}
	ret = trace_common(fa);
	if (ret != -1)
		return ret;
	if (op == PRE(FUSE_OPEN)) {
		int backing = 0;

		if (fa->nodeid == 5)
			backing = FUSE_BPF_BACKING;
		else if (fa->nodeid == 6)
			backing = FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
		bpf_printk("open %d %d", fa->nodeid, backing);
		return backing;
	}
	if (op == PRE(FUSE_READ)) {
		const struct fuse_read_in *fri = fa->in_args[0].value;

		bpf_printk("read %llu %llu", fri->fh, fri->offset);
		if (fri->fh == 1 && fri->offset == 0)
			return 0;
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_GETATTR) || op == PRE(FUSE_SETATTR)) {
		__u64 n = fa->nodeid;
		int backing = (n == 1 || n == 5 || n == 6 || n == 100) ? FUSE_BPF_BACKING : 0;

		if (op == PRE(FUSE_GETATTR))
			bpf_printk("getattr %d %d", n, backing);
		else
			bpf_printk("setattr %d %d", n, backing);
		return backing;
	}
	if (op == PRE(FUSE_OPENDIR)) {
		int backing = fa->nodeid == 1 ? FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER : 0;

		bpf_printk("opendir %d %d", fa->nodeid, backing);
		return backing;
	}
	if (op == POST(FUSE_OPENDIR)) {
		struct fuse_open_out *foo = fa->out_args[0].value;

		foo->fh = 2;
		bpf_printk("opendir postfilter");
		return 0;
	}
	if (op == PRE(FUSE_READDIR)) {
		const struct fuse_read_in *fri = fa->in_args[0].value;
		int backing = fri->fh == 2 ? FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER : 0;

		bpf_printk("readdir %d %d", fri->fh, backing);
		return backing;
	}
	if (op == POST(FUSE_READDIR)) {
		const struct fuse_read_in *fri = fa->in_args[0].value;
		int backing = fri->fh == 2 ? FUSE_BPF_USER_FILTER | FUSE_BPF_BACKING |
						  FUSE_BPF_POST_FILTER : 0;

		bpf_printk("readdir postfilter %d %d", fri->fh, backing);
		return backing;
	}
	if (op == PRE(FUSE_FLUSH)) {
		const struct fuse_flush_in *ffi = fa->in_args[0].value;

		bpf_printk("Flush %d", ffi->fh);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_GETXATTR) || op == PRE(FUSE_LISTXATTR)) {
		const struct fuse_getxattr_in *fgi = fa->in_args[0].value;

		if (op == PRE(FUSE_GETXATTR))
			bpf_printk("getxattr %d %s", fgi->size, fa->in_args[1].value);
		else
			bpf_printk("listxattr %d %s", fgi->size, fa->in_args[1].value);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_SETXATTR)) {
		const struct fuse_getxattr_in *fsi = fa->in_args[0].value;

		bpf_printk("setxattr %d %s %u", fsi->size, fa->in_args[1].value,
			   fa->in_args[2].size);
		return FUSE_BPF_BACKING;
	}
	bpf_printk("Unknown opcode %d", op);
	return 0;
}

SEC("test_trace")
int trace_test(struct fuse_bpf_args *fa)
{
	return trace_detailed(fa);
}

/* the newest snapshot's name for the detailed program */
SEC("test_partial")
int partial_test(struct fuse_bpf_args *fa)
{
	return trace_detailed(fa);
}

SEC("test_trace_simple")
int trace_simple_test(struct fuse_bpf_args *fa)
{
	__u32 op = fa->opcode;
	int ret;

	if (op == PRE(FUSE_LOOKUP)) {
		bpf_printk("lookup %s", fa->in_args[0].value);
		return FUSE_BPF_BACKING;
	}
	ret = trace_common(fa);
	if (ret != -1)
		return ret;
	if (op == PRE(FUSE_OPEN)) {
		bpf_printk("open");
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_READ)) {
		const struct fuse_read_in *fri = fa->in_args[0].value;

		bpf_printk("read %llu", fri->offset);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_GETATTR)) {
		bpf_printk("getattr");
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_SETATTR)) {
		bpf_printk("setattr");
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_OPENDIR)) {
		bpf_printk("opendir");
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_READDIR)) {
		bpf_printk("readdir");
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_FLUSH)) {
		bpf_printk("Flush");
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_GETXATTR)) {
		bpf_printk("getxattr %s", fa->in_args[1].value);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_LISTXATTR)) {
		bpf_printk("listxattr %s", fa->in_args[1].value);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_SETXATTR)) {
		bpf_printk("setxattr %s %u", fa->in_args[1].value, fa->in_args[2].size);
		return FUSE_BPF_BACKING;
	}
	bpf_printk("Unknown opcode %d", op);
	return FUSE_BPF_BACKING;
}

SEC("test_hidden")
int hidden_test(struct fuse_bpf_args *fa)
{
	__u32 op = fa->opcode;

	if (op == PRE(FUSE_LOOKUP)) {
		const char *name = fa->in_args[0].value;

		bpf_printk("Lookup: %s", name);
		if (name_is(name, "show"))
			return FUSE_BPF_BACKING;
		if (name_is(name, "hide"))
			return -ENOENT;
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_ACCESS)) {
		bpf_printk("Access: %d", fa->nodeid);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_CREATE)) {
		bpf_printk("Create: %d", fa->nodeid);
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_WRITE) || op == PRE(FUSE_FLUSH) || op == PRE(FUSE_RELEASE) ||
	    op == PRE(FUSE_FALLOCATE) || op == PRE(FUSE_CANONICAL_PATH))
		return FUSE_BPF_BACKING;
	bpf_printk("Unknown opcode: %d", op);
	return 0;
}

INLINE void phase_line(struct fuse_bpf_args *fa)
{
	if (fa->opcode & FUSE_PREFILTER)
		bpf_printk("prefilter opcode: %d", fa->opcode & FUSE_OPCODE_FILTER);
	else if (fa->opcode & FUSE_POSTFILTER)
		bpf_printk("postfilter opcode: %d", fa->opcode & FUSE_OPCODE_FILTER);
	else
		bpf_printk("*** UNKNOWN *** opcode: %d", fa->opcode);
}

SEC("test_simple")
int simple_test(struct fuse_bpf_args *fa)
{
	phase_line(fa);
	return FUSE_BPF_BACKING;
}

SEC("test_passthrough")
int passthrough_test(struct fuse_bpf_args *fa)
{
	if (fa->opcode == PRE(FUSE_LOOKUP)) {
		bpf_printk("Lookup prefilter: %lx %s", fa->nodeid, fa->in_args[0].value);
		return FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
	}
	if (fa->opcode == POST(FUSE_LOOKUP)) {
		struct fuse_entry_bpf_out *febo = fa->out_args[1].value;

		/* the selftest's line has three conversions and two arguments */
		bpf_printk("Lookup postfilter: %lx %s %lu", fa->nodeid, fa->in_args[0].value, 0);
		febo->bpf_action = FUSE_ACTION_REMOVE;
		return FUSE_BPF_USER_FILTER;
	}
	phase_line(fa);
	return FUSE_BPF_BACKING;
}

SEC("test_error")
int error_test(struct fuse_bpf_args *fa)
{
	__u32 op = fa->opcode;

	if (op == PRE(FUSE_MKDIR)) {
		bpf_printk("mkdir");
		return FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
	}
	if (op == POST(FUSE_MKDIR)) {
		bpf_printk("mkdir postfilter");
		if (fa->error_in == -EEXIST)
			return -EPERM;
		return 0;
	}
	if (op == PRE(FUSE_LOOKUP)) {
		bpf_printk("lookup prefilter %s", fa->in_args[0].value);
		return FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
	}
	if (op == POST(FUSE_LOOKUP)) {
		const char *name = fa->in_args[0].value;

		bpf_printk("lookup postfilter %s %d", name, fa->error_in);
		if (name_is(name, "doesnotexist")) {
			bpf_printk("lookup postfilter doesnotexist");
			return FUSE_BPF_USER_FILTER;
		}
		bpf_printk("meh");
		return 0;
	}
	phase_line(fa);
	return FUSE_BPF_BACKING;
}

SEC("test_readdirplus")
int readdirplus_test(struct fuse_bpf_args *fa)
{
	if (fa->opcode == PRE(FUSE_READDIR))
		return 0;
	return FUSE_BPF_BACKING;
}

SEC("test_lookup_postfilter")
int lookup_postfilter_test(struct fuse_bpf_args *fa)
{
	if (fa->opcode == PRE(FUSE_LOOKUP))
		return FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
	if (fa->opcode == POST(FUSE_LOOKUP))
		return FUSE_BPF_USER_FILTER;
	return FUSE_BPF_BACKING;
}

INLINE int remove_bpf_then(struct fuse_bpf_args *fa, __u32 fail_opcode)
{
	if (fa->opcode == PRE(FUSE_LOOKUP))
		return FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
	if (fa->opcode == POST(FUSE_LOOKUP)) {
		struct fuse_entry_bpf_out *febo = fa->out_args[1].value;

		febo->bpf_action = FUSE_ACTION_REMOVE;
		return 0;
	}
	if (fa->opcode == PRE(fail_opcode))
		return -EIO;
	return FUSE_BPF_BACKING;
}

SEC("test_create_remove")
int create_remove_test(struct fuse_bpf_args *fa)
{
	return remove_bpf_then(fa, FUSE_OPEN);
}

SEC("test_mkdir_remove")
int mkdir_remove_test(struct fuse_bpf_args *fa)
{
	return remove_bpf_then(fa, FUSE_OPENDIR);
}

SEC("copy_file_range_test")
int copy_file_range_prog(struct fuse_bpf_args *fa)
{
	if (fa->opcode == PRE(FUSE_LOOKUP))
		return FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
	if (fa->opcode == POST(FUSE_LOOKUP)) {
		const char *name = fa->in_args[0].value;
		struct fuse_entry_bpf_out *febo = fa->out_args[1].value;

		bpf_printk("lookup postfilter %s %d", name, fa->error_in);
		if (name_is(name, "user")) {
			bpf_printk("lookup postfilter user");
			febo->bpf_action = FUSE_ACTION_REMOVE;
			febo->backing_action = FUSE_ACTION_REMOVE;
		}
		return 0;
	}
	return FUSE_BPF_BACKING;
}

SEC("test_mount_gate")
int mount_gate_test(struct fuse_bpf_args *fa)
{
	__u32 op = fa->opcode;

	if (op == PRE(FUSE_LOOKUP)) {
		const char *name = fa->in_args[0].value;

		if (name_is(name, "test") || name_is(name, "folder1") || name_is(name, "folder2"))
			return 0;
		return FUSE_BPF_BACKING;
	}
	if (op == PRE(FUSE_GETATTR))
		return fa->nodeid == 1 ? 0 : FUSE_BPF_BACKING;
	if (op == PRE(FUSE_OPENDIR) || op == PRE(FUSE_READDIR) || op == PRE(FUSE_READDIRPLUS))
		return 0;
	return FUSE_BPF_BACKING;
}

/* fd_bpf's maps: an array of 1000 u32 (zeroed) and an unused hash map */
struct fuse_bpf_map SEC("maps") test_map = {
	.map_type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 1000,
};

struct fuse_bpf_map SEC("maps") test_map2 = {
	.map_type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 1000,
};

SEC("test_daemon")
int daemon_test(struct fuse_bpf_args *fa)
{
	__u32 key = 23;
	__u32 *value = bpf_map_lookup_elem(&test_map, &key);
	__u32 op = fa->opcode;

	if (value) {
		__u32 pid = bpf_get_current_pid_tgid();
		__u32 uid = bpf_get_current_uid_gid();
		__u32 next = *value + 1;

		bpf_printk("pid %u uid %u value %u", pid, uid, *value);
		bpf_map_update_elem(&test_map, &key, &next, BPF_ANY);
	}
	if (op == PRE(FUSE_LOOKUP)) {
		bpf_printk("Lookup: %lx %s", fa->nodeid, fa->in_args[0].value);
		return fa->nodeid == 1 ? FUSE_BPF_USER_FILTER | FUSE_BPF_BACKING : FUSE_BPF_BACKING;
	}
	switch (op) {
	case PRE(FUSE_ACCESS): bpf_printk("Access: %d", fa->nodeid); break;
	case PRE(FUSE_GETATTR): bpf_printk("Get Attr %d", fa->nodeid); break;
	case PRE(FUSE_SETATTR): bpf_printk("Set Attr %d", fa->nodeid); break;
	case PRE(FUSE_OPENDIR): bpf_printk("Open Dir: %d", fa->nodeid); break;
	case PRE(FUSE_READDIR): bpf_printk("Read Dir: fh: %lu", fa->nodeid); break;
	case PRE(FUSE_MKNOD): bpf_printk("Mknod %d", fa->nodeid); break;
	case PRE(FUSE_MKDIR): bpf_printk("Mkdir %d", fa->nodeid); break;
	case PRE(FUSE_RMDIR): bpf_printk("Rmdir %d", fa->nodeid); break;
	case PRE(FUSE_RENAME): bpf_printk("Rename %d", fa->nodeid); break;
	case PRE(FUSE_RENAME2): bpf_printk("Rename2 %d", fa->nodeid); break;
	case PRE(FUSE_UNLINK): bpf_printk("Unlink %d", fa->nodeid); break;
	case PRE(FUSE_LINK): bpf_printk("Link %d", fa->nodeid); break;
	case PRE(FUSE_SYMLINK): bpf_printk("Symlink %d", fa->nodeid); break;
	case PRE(FUSE_READLINK): bpf_printk("Readlink %d", fa->nodeid); break;
	case PRE(FUSE_RELEASE): bpf_printk("Release %d", fa->nodeid); break;
	case PRE(FUSE_RELEASEDIR): bpf_printk("Release Dir: %d", fa->nodeid); break;
	case PRE(FUSE_CREATE): bpf_printk("Create %d", fa->nodeid); break;
	case PRE(FUSE_OPEN): bpf_printk("Open: %d", fa->nodeid); break;
	case PRE(FUSE_READ): bpf_printk("Read: fh: %lu", fa->nodeid); break;
	case PRE(FUSE_WRITE): bpf_printk("Write: fh: %lu", fa->nodeid); break;
	case PRE(FUSE_FLUSH): bpf_printk("Flush %d", fa->nodeid); break;
	case PRE(FUSE_FALLOCATE): bpf_printk("Fallocate %d", fa->nodeid); break;
	case PRE(FUSE_GETXATTR): bpf_printk("Getxattr %d", fa->nodeid); break;
	case PRE(FUSE_LISTXATTR): bpf_printk("Listxattr %d", fa->nodeid); break;
	case PRE(FUSE_SETXATTR): bpf_printk("Setxattr %d", fa->nodeid); break;
	case PRE(FUSE_STATFS): bpf_printk("Statfs %d", fa->nodeid); break;
	case PRE(FUSE_LSEEK): bpf_printk("Lseek %d", fa->nodeid); break;
	default: bpf_printk("UNKNOWN opcode: %d", op); break;
	}
	return FUSE_BPF_BACKING;
}

/*
 * MediaProvider-style policy (spec section 6.3): LOOKUP is backed with a postfilter that
 * drops the program for the child and lets the lookup through when it failed, the file is
 * world-readable, or the caller owns it; otherwise the daemon decides.  READDIR: backing,
 * then the daemon redacts.  Everything else: backing.
 */
SEC("media_provider")
int media_provider_prog(struct fuse_bpf_args *fa)
{
	__u32 op = fa->opcode;

	if (op == PRE(FUSE_LOOKUP) || op == PRE(FUSE_READDIR))
		return FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
	if (op == POST(FUSE_LOOKUP)) {
		const struct fuse_entry_out *feo = fa->out_args[0].value;
		struct fuse_entry_bpf_out *febo = fa->out_args[1].value;
		__u64 ids;

		febo->bpf_action = FUSE_ACTION_REMOVE;
		if (fa->error_in != 0)
			return 0;
		ids = bpf_get_current_uid_gid();
		if ((feo->attr.mode & 04) || feo->attr.uid == (__u32)ids ||
		    feo->attr.gid == (__u32)(ids >> 32))
			return 0;
		return FUSE_BPF_USER_FILTER;
	}
	if (op == POST(FUSE_READDIR))
		return FUSE_BPF_USER_FILTER;
	return FUSE_BPF_BACKING;
}

char _license[] SEC("license") = "GPL";
