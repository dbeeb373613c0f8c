"""``simfs serve``: serve a daemon on this machine's real kernel, for a person to try it.

::

    simfs serve SOURCE MOUNTPOINT [--passthrough] [--timeout S] [--cache never]
    simfs serve SOURCE MOUNTPOINT [options] --run "CMD ARGS..."

Without a command the mount is made in the current mount namespace and served in the
foreground until it is unmounted (``umount MOUNTPOINT``) or the server gets SIGINT/SIGTERM,
which unmount it (lazily if busy) before exiting.  With ``--run CMD`` the mount exists only
in a private mount namespace, ``CMD`` runs there, and the mount goes away when it exits;
the exit status is the command's.  ``--trace`` prints one line per request, as libfuse's
``-d`` does.  ``--daemon MODULE:FACTORY`` serves ``FACTORY(SOURCE)`` instead of the
shipped :class:`simfs.daemons.Passthrough`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import signal
import subprocess
import sys
from types import FrameType
from typing import Any

from rich.console import Console

from simfs.daemon import Daemon
from simfs.daemons import Passthrough
from simfs.errors import UsageError
from simfs.live.session import (
    LiveDevice,
    LiveError,
    LiveExchange,
    LiveTrace,
    _os_process,
    fuse_mount,
    fuse_umount,
    live_unavailable,
    run_live,
    serve,
)

__all__ = ["add_serve_parser", "make_daemon", "run_serve"]


def add_serve_parser(sub: Any) -> None:
    """Add the ``serve`` subcommand to the ``simfs`` parser."""
    p = sub.add_parser(
        "serve",
        help="serve a daemon on the real kernel (root, /dev/fuse)",
        description="Mount SOURCE on MOUNTPOINT through the real /dev/fuse, served by a "
        "simfs daemon (default: the shipped Passthrough, like libfuse's passthrough_ll / "
        "passthrough_hp).  With --run CMD the mount lives in a private mount namespace "
        "for the duration of CMD.",
    )
    p.add_argument("source", help="the directory to serve")
    p.add_argument("mountpoint", help="an existing directory to mount on")
    p.add_argument(
        "--daemon",
        default="passthrough",
        metavar="passthrough|MODULE:FACTORY",
        help="the daemon: the shipped Passthrough (default) or FACTORY(SOURCE) from MODULE",
    )
    p.add_argument(
        "--passthrough",
        action="store_true",
        help="kernel passthrough (FOPEN_PASSTHROUGH + backing ids), as passthrough_hp",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=1.0,
        metavar="S",
        help="entry and attribute timeout in seconds (default 1)",
    )
    p.add_argument("--cache", choices=("normal", "never", "always"), default="normal")
    p.add_argument("--default-permissions", action="store_true")
    p.add_argument("--trace", action="store_true", help="print every request and reply")
    p.add_argument(
        "--run",
        metavar="CMD",
        help="run CMD (split like a shell line) in a private mount namespace with the "
        "mount, then unmount; the exit status is CMD's",
    )


def make_daemon(spec: str, source: str, args: argparse.Namespace) -> Daemon:
    """The daemon named by ``--daemon`` for ``source``."""
    if spec == "passthrough":
        return Passthrough(
            source,
            entry_timeout=args.timeout,
            attr_timeout=args.timeout,
            cache=args.cache,
            passthrough=args.passthrough,
        )
    module, _, factory = spec.partition(":")
    if not module or not factory:
        raise UsageError(f"--daemon takes 'passthrough' or MODULE:FACTORY, got {spec!r}")
    made = getattr(importlib.import_module(module), factory)(source)
    if not isinstance(made, Daemon):
        raise UsageError(f"--daemon {spec}: {factory}({source!r}) did not return a simfs.Daemon")
    return made


def _line(x: LiveExchange) -> str:
    r = x.request
    text = f"unique: {r.unique}, opcode: {r.name} ({r.opcode}), nodeid: {r.nodeid}, "
    text += f"insize: {r.insize}, pid: {r.pid}"
    if x.reply is None:
        return text + " -> (no reply)" + (f" [{x.note}]" if x.note else "")
    return text + f" -> {x.reply!r}" + (f" [{x.note}]" if x.note else "")


class _Printing(LiveTrace):
    """A trace that prints each exchange as it is recorded (``--trace``)."""

    def __init__(self, out: Console) -> None:
        super().__init__()
        self.out = out
        self.exchanges = _PrintList(out)


class _PrintList(list[LiveExchange]):
    def __init__(self, out: Console) -> None:
        super().__init__()
        self.out = out

    def append(self, x: LiveExchange) -> None:
        super().append(x)
        self.out.print(_line(x), markup=False, highlight=False, soft_wrap=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_serve(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run ``simfs serve``; returns the exit status."""
    why = live_unavailable()
    if why is not None:
        err.print(f"simfs serve: error: cannot serve on the real kernel here: {why}")
        return 2
    for d in (args.source, args.mountpoint):
        if not os.path.isdir(d):
            err.print(f"simfs serve: error: {d}: not a directory")
            return 2
    source = os.path.abspath(args.source)
    mountpoint = os.path.abspath(args.mountpoint)
    try:
        daemon = make_daemon(args.daemon, source, args)
    except (UsageError, ImportError, AttributeError) as e:
        err.print(f"simfs serve: error: {e}")
        return 2
    opts: dict[str, Any] = {"default_permissions": args.default_permissions}
    command = shlex.split(args.run) if args.run else []
    if command:
        try:
            res = run_live(
                daemon,
                mountpoint,
                lambda m: subprocess.run(command, check=False).returncode,
                timeout=24 * 3600,
                **opts,
            )
        except (LiveError, OSError) as e:
            err.print(f"simfs serve: error: {e}")
            return 1
        if args.trace:
            for x in res.trace.exchanges:
                out.print(_line(x), markup=False, highlight=False, soft_wrap=True)
        if res.daemon_error:
            err.print(res.daemon_error, markup=False)
        return int(res.value)
    return _foreground(daemon, mountpoint, opts, args.trace, out, err)


def _foreground(
    daemon: Daemon, mountpoint: str, opts: dict[str, Any], trace: bool, out: Console, err: Console
) -> int:
    dev = LiveDevice()
    mounted = False
    old = signal.signal(signal.SIGTERM, _interrupt)
    try:
        daemon.attach(_os_process())
        daemon.attach_device(dev)
        fuse_mount(mountpoint, dev.fd, **opts)
        mounted = True
        err.print(f"simfs serve: serving {mountpoint}; `umount {mountpoint}` or Ctrl-C to stop")
        serve(daemon, dev, _Printing(out) if trace else None)
        mounted = False  # ENODEV: someone unmounted it
    except KeyboardInterrupt:
        pass
    except OSError as e:
        err.print(f"simfs serve: error: {e}")
        return 1
    finally:
        signal.signal(signal.SIGTERM, old)
        if mounted:
            fuse_umount(mountpoint)
        dev.close()
    sys.stdout.flush()
    return 0
