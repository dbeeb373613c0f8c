"""``O_TMPFILE`` on FUSE directories (issue 17): mainline's ``fuse_tmpfile`` sends
FUSE_TMPFILE through ``fuse_create_open`` (name "/", the create flags and mode); a daemon
that answers ENOSYS turns it into EOPNOTSUPP for good (``fc->no_tmpfile``); a reply that is
not a regular file is EIO.  libfuse 3.14's passthrough_ll (``Passthrough``) has no handler:
``tests/fuse/test_real_passthrough_probes.py::tmpfile_no_handler`` checks that on the real
kernel."""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import pytest

import simfs
from simfs import uapi
from simfs.daemon import Reply, Request
from simfs.daemons import Passthrough


class TmpfileDaemon(Passthrough):
    """Answers FUSE_TMPFILE with a new unnamed regular file (nodeid 1000, nlink 0)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tmpfile_reqs: list[Request] = []
        self.mode = stat.S_IFREG

    def handle(self, req: Request) -> Reply | None:
        if req.opcode == uapi.FUSE_TMPFILE:
            self.tmpfile_reqs.append(req)
            a = req.args[0]
            assert isinstance(a, uapi.FuseCreateIn)
            attr = uapi.FuseAttr(ino=1000, mode=self.mode | a.mode, nlink=0, uid=0, gid=0)
            return Reply(
                uapi.FuseEntryOut(nodeid=1000, attr=attr, attr_valid=60, entry_valid=60),
                uapi.FuseOpenOut(fh=77),
            )
        return super().handle(req)


def _machine(daemon: Any) -> tuple[simfs.Kernel, simfs.Process]:
    k = simfs.Kernel()
    k.lower.create_dir("/data")
    k.lower.create_dir("/mnt")
    k.mount_fuse("/mnt", daemon=daemon, variant="upstream")
    return k, k.spawn(umask=0o022)


def test_tmpfile_is_one_request_and_opens_the_reply() -> None:
    d = TmpfileDaemon("/data")
    _, p = _machine(d)
    fd = p.open("/mnt", os.O_TMPFILE | os.O_RDWR, 0o666)
    (req,) = d.tmpfile_reqs
    a = req.args[0]
    assert isinstance(a, uapi.FuseCreateIn)
    assert req.args[1] == "/"  # vfs_tmpfile's d_alloc(parent, &slash_name)
    assert a.flags & os.O_ACCMODE == os.O_RDWR and not a.flags & os.O_CREAT
    assert (a.mode & 0o777, a.umask) == (0o644, 0o022)  # vfs_prepare_mode, then fuse masks
    s = p.fstat(fd)
    assert (s.st_ino, stat.S_ISREG(s.st_mode), s.st_nlink) == (1000, True, 0)
    assert p.listdir("/mnt") == []


def test_enosys_becomes_eopnotsupp_and_is_remembered() -> None:
    k, p = _machine(Passthrough("/data"))
    with pytest.raises(OSError) as e:
        p.open("/mnt", os.O_TMPFILE | os.O_RDWR, 0o600)
    assert e.value.errno == errno.EOPNOTSUPP
    k.trace.clear()
    with pytest.raises(OSError) as e:
        p.open("/mnt", os.O_TMPFILE | os.O_RDWR, 0o600)
    assert e.value.errno == errno.EOPNOTSUPP
    assert "TMPFILE" not in k.trace.request_opcodes()  # fc->no_tmpfile: not sent again


def test_a_reply_that_is_not_a_regular_file_is_eio() -> None:
    d = TmpfileDaemon("/data")
    d.mode = stat.S_IFDIR
    _, p = _machine(d)
    with pytest.raises(OSError) as e:
        p.open("/mnt", os.O_TMPFILE | os.O_RDWR, 0o600)
    assert e.value.errno == errno.EIO
