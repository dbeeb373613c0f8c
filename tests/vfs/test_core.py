"""Direct tests of the kernel core's rules (the real-Linux oracle lives in tests/oracle)."""

from __future__ import annotations

import errno
import os
import stat

import pytest

import simfs
from simfs.process import RENAME_EXCHANGE, RENAME_NOREPLACE


def err(fn: object, *args: object, **kw: object) -> str:
    try:
        fn(*args, **kw)  # type: ignore[operator]
    except OSError as e:
        return errno.errorcode[e.errno]
    return "ok"


@pytest.fixture
def k() -> simfs.Kernel:
    k = simfs.Kernel()
    k.lower.create_dir("/data", perm_bits=0o777)
    k.lower.create_file("/data/f", contents=b"hello")
    return k


def test_read_write_and_shared_offset_on_dup(k: simfs.Kernel) -> None:
    p = k.spawn()
    fd = p.open("/data/f", os.O_RDWR)
    fd2 = p.dup(fd)
    assert p.read(fd, 2) == b"he"
    assert p.read(fd2, 2) == b"ll"  # dup shares the description's offset
    assert p.lseek(fd, 0, os.SEEK_CUR) == 4
    p.close(fd)
    p.close(fd2)
    assert err(p.read, fd, 1) == "EBADF"


def test_unlinked_but_open_file_stays_readable(k: simfs.Kernel) -> None:
    p = k.spawn()
    fd = p.open("/data/f", os.O_RDONLY)
    p.unlink("/data/f")
    assert err(p.stat, "/data/f") == "ENOENT"
    assert p.read(fd, 10) == b"hello"
    assert p.fstat(fd).st_nlink == 0
    p.close(fd)


def test_symlink_limit_is_forty(k: simfs.Kernel) -> None:
    p = k.spawn(cwd="/data")
    p.symlink("f", "l0")
    for i in range(1, 42):
        p.symlink(f"l{i - 1}", f"l{i}")
    assert p.stat("l39").st_size == 5  # 40 links followed
    assert err(p.stat, "l40") == "ELOOP"  # 41
    p.symlink("loop", "loop")
    assert err(p.open, "loop", os.O_RDONLY) == "ELOOP"


def test_dotdot_is_physical(k: simfs.Kernel) -> None:
    p = k.spawn(cwd="/data")
    p.mkdir("real")
    p.mkdir("real/sub")
    p.symlink("real/sub", "ln")
    assert sorted(p.listdir("ln/..")) == ["sub"]
    assert err(p.rmdir, "missing/..") == "ENOENT"


def test_trailing_slash_rules(k: simfs.Kernel) -> None:
    p = k.spawn(cwd="/data")
    assert err(p.stat, "f/") == "ENOTDIR"
    assert err(p.open, "new/", os.O_CREAT | os.O_WRONLY) == "EISDIR"
    assert err(p.mkdir, "d/") == "ok"
    assert err(p.unlink, "f/") == "ENOTDIR"
    assert err(p.rmdir, "d/.") == "EINVAL"
    assert err(p.rename, "d/.", "e") == "EBUSY"


def test_sticky_directory_protects_other_users_files(k: simfs.Kernel) -> None:
    root = k.spawn()
    root.mkdir("/tmp", 0o1777)
    root.chmod("/tmp", 0o1777)
    alice = k.spawn(uid=1000)
    bob = k.spawn(uid=1001)
    fd = alice.open("/tmp/a", os.O_CREAT | os.O_WRONLY, 0o666)
    alice.close(fd)
    assert err(bob.unlink, "/tmp/a") == "EPERM"
    assert err(alice.unlink, "/tmp/a") == "ok"


def test_ownership_rules_for_chmod_chown_utime(k: simfs.Kernel) -> None:
    alice = k.spawn(uid=1000)
    assert err(alice.chmod, "/data/f", 0o777) == "EPERM"
    assert err(alice.chown, "/data/f", 1000, 1000) == "EPERM"
    assert err(alice.utime, "/data/f", ns=(1, 1)) == "EPERM"
    k.spawn().chmod("/data/f", 0o644)
    assert err(alice.utime, "/data/f") == "EACCES"  # touch needs write permission


def test_write_by_non_root_kills_suid(k: simfs.Kernel) -> None:
    root = k.spawn()
    root.chmod("/data/f", 0o4777)
    fd = root.open("/data/f", os.O_WRONLY)
    root.write(fd, b"x")
    root.close(fd)
    assert stat.S_IMODE(root.stat("/data/f").st_mode) == 0o4777  # CAP_FSETID keeps it
    alice = k.spawn(uid=1000)
    fd = alice.open("/data/f", os.O_WRONLY)
    alice.write(fd, b"y")
    alice.close(fd)
    assert stat.S_IMODE(root.stat("/data/f").st_mode) == 0o777


def test_setgid_directory_inheritance(k: simfs.Kernel) -> None:
    root = k.spawn()
    root.mkdir("/data/g")
    root.chown("/data/g", 0, 50)
    root.chmod("/data/g", 0o2777)
    alice = k.spawn(uid=1000)
    alice.mkdir("/data/g/sub")
    st_ = alice.stat("/data/g/sub")
    assert st_.st_gid == 50 and st_.st_mode & stat.S_ISGID


def test_directory_link_count_and_size(k: simfs.Kernel) -> None:
    p = k.spawn(cwd="/data")
    p.mkdir("d")
    p.mkdir("d/a")
    p.mkdir("d/b")
    fd = p.open("d/file", os.O_CREAT | os.O_WRONLY)
    p.close(fd)
    assert p.stat("d").st_nlink == 4  # 2 + two subdirectories, files do not count


def test_parent_times_move_on_create_and_unlink(k: simfs.Kernel) -> None:
    p = k.spawn(cwd="/data")
    before = p.stat(".")
    fd = p.open("n", os.O_CREAT | os.O_WRONLY)
    p.close(fd)
    mid = p.stat(".")
    assert mid.st_mtime_ns > before.st_mtime_ns and mid.st_ctime_ns > before.st_ctime_ns
    p.unlink("n")
    assert p.stat(".").st_mtime_ns > mid.st_mtime_ns


def test_seek_data_and_hole_on_a_sparse_file(k: simfs.Kernel) -> None:
    p = k.spawn(cwd="/data")
    fd = p.open("sparse", os.O_CREAT | os.O_RDWR)
    p.ftruncate(fd, 3 * 4096)
    p.pwrite(fd, b"x", 4096)
    assert p.lseek(fd, 0, os.SEEK_DATA) == 4096
    assert p.lseek(fd, 4096, os.SEEK_HOLE) == 8192
    assert err(p.lseek, fd, 5 * 4096, os.SEEK_DATA) == "ENXIO"
    assert err(p.lseek, fd, 0, 99) == "EINVAL"
    assert err(p.lseek, fd, -1, os.SEEK_SET) == "EINVAL"


def test_xattr_flags_and_namespaces(k: simfs.Kernel) -> None:
    p = k.spawn(cwd="/data")
    assert err(p.setxattr, "f", "user.a", b"1", os.XATTR_REPLACE) == "ENODATA"
    p.setxattr("f", "user.a", b"1", os.XATTR_CREATE)
    assert err(p.setxattr, "f", "user.a", b"2", os.XATTR_CREATE) == "EEXIST"
    assert p.getxattr("f", "user.a") == b"1"
    assert err(p.setxattr, "f", "foo", b"1") == errno.errorcode[errno.EOPNOTSUPP]
    p.symlink("f", "ln")
    assert err(p.setxattr, "ln", "user.a", b"1", follow_symlinks=False) == "EPERM"
    assert err(p.removexattr, "f", "user.nope") == "ENODATA"
    assert p.listxattr("f") == ["user.a"]


def test_o_path_and_o_trunc(k: simfs.Kernel) -> None:
    p = k.spawn(cwd="/data")
    fd = p.open("f", os.O_PATH)
    assert err(p.read, fd, 1) == "EBADF"
    assert p.fstat(fd).st_size == 5
    p.close(fd)
    fd = p.open("f", os.O_RDONLY | os.O_TRUNC)
    assert p.fstat(fd).st_size == 0  # Linux truncates even without write access mode
    assert err(p.ftruncate, fd, 0) == "EINVAL"
    p.close(fd)
    assert err(p.open, "f", os.O_CREAT | os.O_EXCL | os.O_WRONLY) == "EEXIST"
    assert err(p.open, ".", os.O_WRONLY) == "EISDIR"
    dfd = p.open(".", os.O_RDONLY)
    assert err(p.read, dfd, 1) == "EISDIR"


def test_bad_arguments_raise_what_os_raises(k: simfs.Kernel) -> None:
    p = k.spawn()
    with pytest.raises(ValueError):
        p.stat("/data/\0x")
    with pytest.raises(TypeError):
        p.stat(3.5)
    assert err(p.close, 99) == "EBADF"
    assert err(p.stat, "") == "ENOENT"
    assert err(p.stat, "/data/" + "x" * 256) == "ENAMETOOLONG"
    assert err(p.stat, "/" + "a/" * 2048) == "ENAMETOOLONG"
    with pytest.raises(FileNotFoundError):
        p.open("/nope", os.O_RDONLY)


def test_renameat2_flags(k: simfs.Kernel) -> None:
    p = k.spawn(cwd="/data")
    fd = p.open("g", os.O_CREAT | os.O_WRONLY)
    p.write(fd, b"G")
    p.close(fd)
    assert err(p.renameat2, "f", "g", RENAME_NOREPLACE) == "EEXIST"
    p.renameat2("f", "g", RENAME_EXCHANGE)
    fd = p.open("f", os.O_RDONLY)
    assert p.read(fd, 5) == b"G"
    assert err(p.renameat2, "f", "g", RENAME_EXCHANGE | RENAME_NOREPLACE) == "EINVAL"
    p.mkdir("d")
    assert err(p.rename, "d", "d/sub") == "EINVAL"


def test_bind_mount_exdev_and_busy_umount(k: simfs.Kernel) -> None:
    root = k.spawn()
    root.mkdir("/bind")
    k.mount_bind("/data", "/bind")
    assert root.read(root.open("/bind/f", os.O_RDONLY), 5) == b"hello"
    assert err(root.rename, "/bind/f", "/data/g") == "EXDEV"
    assert err(root.link, "/bind/f", "/data/g") == "EXDEV"
    with pytest.raises(OSError) as e:
        k.umount("/bind")
    assert e.value.errno == errno.EBUSY  # the descriptor above is still open
    for fd in list(root.fdtable.fds):
        root.close(fd)
    k.umount("/bind")
    assert root.listdir("/bind") == []
    with pytest.raises(OSError) as e:
        k.umount("/data")
    assert e.value.errno == errno.EINVAL


def test_getdents_has_dot_entries_and_offsets(k: simfs.Kernel) -> None:
    p = k.spawn(cwd="/data")
    fd = p.open(".", os.O_RDONLY | os.O_DIRECTORY)
    ents = p.getdents(fd)
    assert [e.name for e in ents][:2] == [".", ".."]
    assert [e.d_off for e in ents] == sorted(e.d_off for e in ents)
    assert p.getdents(fd) == []  # the position moved to the end


def test_runs_are_deterministic() -> None:
    def run() -> str:
        k = simfs.Kernel()
        k.lower.create_dir("/d")
        p = k.spawn()
        fd = p.open("/d/x", os.O_CREAT | os.O_RDWR)
        p.write(fd, b"abc")
        p.close(fd)
        p.stat("/d/x")
        return k.trace.to_json() + repr(p.stat("/d/x"))

    assert run() == run()


def test_protected_hardlinks(k: simfs.Kernel) -> None:
    root = k.spawn()
    root.chmod("/data/f", 0o600)
    alice = k.spawn(uid=1000)
    assert err(alice.link, "/data/f", "/data/mine") == "EPERM"
