"""Capability probes: can this simfs build run a given mount at all?

A property test over a mount whose implementation has not landed (or that a build leaves
out) must *skip with the reason*, never pass vacuously.  :func:`probe_mount` runs a few
system calls through the mount on a throwaway kernel and returns ``None`` when they work,
or the reason to skip: the ``ImportError``, ``NotImplementedError`` or rejected mount
option that stopped it.  Any other exception is *not* a reason to skip: it is re-raised,
so a broken implementation fails the test instead of hiding behind a skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from simfs.errors import UsageError
from simfs.kernel import Kernel

__all__ = ["probe_fuse_bpf", "probe_mount"]


def probe_mount(factory: Callable[[Kernel, str, str], object]) -> str | None:
    """``None`` if ``factory`` mounts and serves stat/open/read/write/mkdir/listdir/rename,
    else the reason the implementation is unavailable (for ``pytest.skip``)."""
    name = getattr(factory, "__name__", repr(factory))
    try:
        k = Kernel()
        k.lower.create_dir("/m")
        k.lower.create_dir("/data/d")
        k.lower.create_file("/data/f", contents=b"probe")
        factory(k, "/data", "/m")
        p = k.spawn(cwd="/m")
        p.stat("f")
        fd = p.open("f", os.O_RDWR)
        p.read(fd, 5)
        p.write(fd, b"x")
        p.close(fd)
        p.mkdir("d/e")
        p.listdir("d")
        p.rename("d/e", "g")
        p.getdents  # noqa: B018 - present on every Process
    except ImportError as e:
        return f"{name}: not importable in this build yet ({e})"
    except NotImplementedError as e:
        return f"{name}: not implemented yet ({e})"
    except UsageError as e:
        return f"{name}: mount rejected by this build ({e})"
    return None


def probe_fuse_bpf() -> str | None:
    """:func:`probe_mount` on a fuse-bpf mount with a root program that returns BACKING
    (the capability every filter test needs, whatever its filter then denies)."""
    from simfs.testing.filters import backing_program, bpf_mount

    return probe_mount(bpf_mount(backing_program))
