# %% [markdown]
# # Testing the filter you ship
#
# **What you will learn.** How to test the *compiled* fuse-bpf filter, the `.o` that goes on the
# device, instead of a Python re-write of it: compile C with clang, load the object into simfs
# (`simfs.bpf.load_object`), read it as the kernel's verifier does, property-test it with
# hypothesis, and meet two things a Python model hides: a context field that is 32 bits wide
# and a verifier that refuses a program before it ever runs.
#
# The filter is an errno translation a storage policy might want: when `rmdir` fails because the
# directory is not empty, tell the caller `EPERM` instead of `ENOTEMPTY`. The kernel runs the
# backing `rmdir` first, then hands the result to the program's post-filter in `error_in`.

# %%
import errno
import shutil
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import simfs
from simfs import bpf, uapi
from simfs.__main__ import main as simfs_cli
from simfs.bpf.ebpf import interp, isa

CLANG = shutil.which("clang")
assert CLANG, "this notebook compiles C: apt-get install clang"
HEADER_DIR = Path(simfs.__file__).parent / "bpf" / "filters"  # fuse_bpf.h: the context, opcodes
WORK = Path(tempfile.mkdtemp(prefix="simfs-nb05-"))


def compile_c(source: str, name: str, *flags: str) -> Path:
    """clang -O2 -target bpf, exactly as a filter author builds the object for a device."""
    src, obj = WORK / f"{name}.c", WORK / f"{name}.o"
    src.write_text('#include "fuse_bpf.h"\n' + source)
    done = subprocess.run([CLANG, "-O2", "-target", "bpf", *flags, "-I", str(HEADER_DIR),
                           "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"clang failed:\n{done.stderr}")
    return obj

# %% [markdown]
# ## The C filter, compiled
# `fa->error_in` holds the backing's result as a negative errno. The author keeps it in a `long`.

# %%
BUGGY = r"""
#define ENOTEMPTY 39 /* asm-generic/errno.h */

SEC("enotempty_to_eperm")
int translate(struct fuse_bpf_args *fa)
{
	if (fa->opcode == PRE(FUSE_RMDIR))
		return FUSE_BPF_BACKING | FUSE_BPF_POST_FILTER;
	if (fa->opcode == POST(FUSE_RMDIR)) {
		long err = fa->error_in;
		return err == -ENOTEMPTY ? -EPERM : 0;
	}
	return FUSE_BPF_BACKING;
}
"""
buggy_o = compile_c(BUGGY, "buggy")
for info in bpf.list_sections(buggy_o):
    print(info)

# %% [markdown]
# `simfs bpf disasm` prints the instructions as the kernel's verifier log shows them. Look for the
# comparison with `-ENOTEMPTY`:

# %%
status = simfs_cli(["bpf", "disasm", str(buggy_o)])

# %% [markdown]
# There is none. In `struct fuse_bpf_args` (ACK's `android_fuse.h`) `error_in` is a `uint32_t`:
# `-39` arrives as `0xffffffd9`, and converting an unsigned 32-bit value to `long` zero-extends it,
# so `err` is 4294967257 and can never equal -39. clang proved that and deleted the branch: the
# post-filter always returns 0. A Python twin of this filter (`fa.error_in == -errno.ENOTEMPTY`)
# would be correct, and a test of the twin would pass.

# %% [markdown]
# ## Load it and watch it run
# `load_object` reads the ELF section, relocates maps, runs simfs's verifier (the rules of the
# kernel's `do_check` and ACK's `fuse_prog_is_valid_access`) and returns a program usable
# everywhere a Python program is: here as the mount's `root_bpf`.

# %%
def rmdir_results(program, dirs) -> dict[str, str]:
    """Create the directories in the lower tree, then rmdir each through the mount, parents
    first; return path -> 'ok' or the errno name."""
    k = simfs.Kernel()
    p = k.spawn()
    p.mkdir("/data")
    p.mkdir("/m")
    for d in sorted(dirs):
        p.mkdir(f"/data/{d}")
    k.mount_fuse("/m", root_dir="/data", root_bpf=program, no_daemon=True, allow_other=True)
    out = {}
    for d in sorted(dirs):
        try:
            p.rmdir(f"/m/{d}")
            out[d] = "ok"
        except OSError as e:
            out[d] = errno.errorcode[e.errno]
    return out


buggy = bpf.load_object(buggy_o, "enotempty_to_eperm")
print(buggy.verifier_log.splitlines()[-1])
print(rmdir_results(buggy, {"a", "a/x"}))

# %% [markdown]
# ## A property, and hypothesis looking for a counterexample
# *Whatever directories exist, no `rmdir` through the mount reports `ENOTEMPTY`.* hypothesis draws
# directory sets and shrinks the first failure to the simplest one. The Python twin passes; the
# object that would ship does not.

# %%
@bpf.program("enotempty_to_eperm")
def python_twin(fa: bpf.FuseBpfArgs) -> int:
    if fa.opcode == uapi.FUSE_RMDIR | uapi.FUSE_PREFILTER:
        return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
    if fa.opcode == uapi.FUSE_RMDIR | uapi.FUSE_POSTFILTER:
        return -errno.EPERM if fa.error_in == -errno.ENOTEMPTY else 0
    return uapi.FUSE_BPF_BACKING


def with_parents(paths: frozenset[str]) -> frozenset[str]:
    """Each path and every directory above it ("a/x/z" -> a, a/x, a/x/z)."""
    parts = (p.split("/") for p in paths)
    return frozenset("/".join(ps[:i]) for ps in parts for i in range(1, len(ps) + 1))


dir_sets = st.frozensets(st.sampled_from(["a", "b", "a/x", "a/y", "b/x", "a/x/z"]),
                         min_size=1).map(with_parents)
QUICK = settings(max_examples=200, deadline=None, database=None, derandomize=True,
                 suppress_health_check=list(HealthCheck))


def says_enotempty(program, dirs) -> bool:
    return "ENOTEMPTY" in rmdir_results(program, dirs).values()


@given(dir_sets)
@QUICK
def test_python_twin(dirs) -> None:
    assert not says_enotempty(python_twin, dirs)


test_python_twin()
print("Python twin: 200 directory sets, no ENOTEMPTY")
smallest = find(dir_sets, lambda d: says_enotempty(buggy, d), settings=QUICK)
print("compiled filter, simplest counterexample:", sorted(smallest))
print("rmdir results:", rmdir_results(buggy, smallest))

# %% [markdown]
# ## The fix, and the 32-bit return
# Keep the value as the kernel means it: a signed 32-bit `int`. Compiled for `-mcpu=v3` (32-bit
# ALU and jumps), the comparison is back, on the low 32 bits (`if w1 == 0xffffffd9`).

# %%
FIXED = BUGGY.replace("long err = fa->error_in;", "int err = fa->error_in;")
fixed_o = compile_c(FIXED, "fixed", "-mcpu=v3")
status = simfs_cli(["bpf", "disasm", str(fixed_o)])
fixed = bpf.load_object(fixed_o, "enotempty_to_eperm")


@given(dir_sets)
@QUICK
def test_compiled_filter(dirs) -> None:
    assert not says_enotempty(fixed, dirs)


test_compiled_filter()
print("compiled filter: 200 directory sets, no ENOTEMPTY")
print(rmdir_results(fixed, {"a", "a/x"}))

# %% [markdown]
# The program returns `-EPERM` with `w0 = -1`: a 32-bit move, so the 64-bit R0 holds
# `0x00000000ffffffff`, a large *positive* number. The kernel reads the result at the call site as
# an `int` (`ret = bpf_prog_run(...)`), the low 32 bits, signed: -1. simfs's interpreter reports
# both, `r0` as the register holds it and `ret` as the kernel uses it. A harness that compared R0
# with `-errno.EPERM` would be wrong for the `-mcpu=v3` object and right for the `v1` one.

# %%
w0_minus_1 = isa.decode(bytes.fromhex("b4000000ffffffff" "9500000000000000"))
print(isa.format_program(w0_minus_1))
result = interp.run_insns(w0_minus_1)
print(f"R0 = {result.r0:#018x}, the call site sees {result.ret}")

# %% [markdown]
# ## A program the verifier refuses
# Names arrive in a read-only buffer: `fuse_prog_is_valid_access` types `in_args[i].value` as
# `PTR_TO_RDONLY_BUF`. A filter that "normalises" a name in place never loads: `load_object`
# fails as `bpf(BPF_PROG_LOAD)` does, with the kernel's errno and a verifier log that ends at the
# offending instruction. `simfs bpf check` prints the same verdict and exits 1.

# %%
LOWERCASE = r"""
SEC("lowercase_first")
int lowercase(struct fuse_bpf_args *fa)
{
	if (fa->opcode == PRE(FUSE_LOOKUP)) {
		char *name = (char *)fa->in_args[0].value;

		if (name[0] >= 'A' && name[0] <= 'Z')
			name[0] += 'a' - 'A';
	}
	return FUSE_BPF_BACKING;
}
"""
bad_o = compile_c(LOWERCASE, "lowercase")
try:
    bpf.load_object(bad_o, "lowercase_first")
except OSError as e:
    print("refused with", errno.errorcode[e.errno])
    print("\n".join(str(e).splitlines()[-5:]))
print("exit status:", simfs_cli(["bpf", "check", "--quiet", str(bad_o)]))

# %% [markdown]
# ## Exercises
# 1. Run `simfs_cli(["bpf", "check", str(fixed_o)])` and read the log: which instruction splits
#    the walk into the PRE and POST paths, and which branch does the verifier prove dead?
# 2. Rewrite the buggy filter with `__s32 err` and `-mcpu=v1`. Does clang still need the `lddw`
#    of `0xffffffd9`? Why does the `v1` object compare 64-bit registers?
# 3. Make `lowercase_first` load: copy the name into a stack buffer instead of writing the
#    argument. What does the verifier say when the copy's length comes from `in_args[0].size`
#    (a variable) instead of a constant?
# 4. Property-test the Android selftest objects shipped in `simfs/bpf/filters/selftests.o`
#    against their Python twins in `simfs.bpf.examples` with `simfs.testing.bpf_mount`.
