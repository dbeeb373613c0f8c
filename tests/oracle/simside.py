"""The simulated side: the same operation sequences run against ``simfs``.

A :class:`SimWorld` is a fresh ``simfs.Kernel`` with ``/t`` (mode 0o777, made by a root
process) and the same processes as the real world, spawned with the same credentials, umask
and cwd. Ops are executed by calling the ``simfs.Process`` method of the same name as the
``os`` function, through :func:`ops.execute`, exactly as the real side calls ``os``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .ops import Cred, Raw, RawSnapshot, execute, take_snapshot


def import_error() -> str | None:
    """Why ``simfs.Kernel`` cannot be used, or None if it can."""
    try:
        import simfs

        simfs.Kernel  # noqa: B018 - the attribute is what we check for
    except Exception as exc:
        return f"simfs is not importable: {type(exc).__name__}: {exc}"
    return None


class SimWorld:
    """A fresh simulated machine with ``/t`` and the processes a case or machine needs."""

    def __init__(self, extra_dirs: tuple[str, ...] = ()) -> None:
        import simfs

        self.kernel: Any = simfs.Kernel()
        self.admin: Any = self.kernel.spawn(uid=0, gid=0, groups=(), umask=0, cwd="/")
        for path in ["/t", *(f"/t/{rel}" for rel in extra_dirs)]:
            self.admin.mkdir(path, 0o777)
            self.admin.chmod(path, 0o777)
        self.procs: dict[str, Any] = {}

    def spawn(self, proc: str, cred: Cred, umask: int, cwd: str) -> None:
        self.procs[proc] = self.kernel.spawn(
            uid=cred.uid, gid=cred.gid, groups=cred.groups, umask=umask, cwd=cwd
        )

    def call(
        self, proc: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], tick: bool
    ) -> Raw:
        # ``tick`` needs no action: simfs's virtual clock already advances one jiffy at every
        # system call, which is what the real side waits for before an op that sets times.
        return execute(self.procs[proc], name, args, kwargs)

    def snapshot(self, top: str) -> RawSnapshot:
        return take_snapshot(self.admin, top)

    def close(self) -> None:
        self.procs.clear()

    def __enter__(self) -> SimWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
