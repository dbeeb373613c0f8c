"""A virtual clock (after trio's ``MockClock``): integer nanoseconds, advanced only by
the simulator, so every timestamp and timeout is the same on every run.

Every system call advances the clock by ``tick_ns`` (one jiffy at HZ=250 by default,
the kernel of this machine kind), so two calls never share a timestamp and a FUSE
entry with a timeout of 0 has expired by the next call, as on a real machine where
consecutive calls from a Python program land in different jiffies.
"""

from __future__ import annotations

JIFFY_NS = 4_000_000  # CONFIG_HZ=250
BOOT_NS = 1_700_000_000 * 10**9  # a fixed, plausible epoch time at boot


class VirtualClock:
    """Monotonic simulated time in nanoseconds since the Unix epoch."""

    def __init__(self, start_ns: int = BOOT_NS, tick_ns: int = JIFFY_NS) -> None:
        self._now = int(start_ns)
        self.tick_ns = int(tick_ns)

    def now_ns(self) -> int:
        """The current simulated time."""
        return self._now

    def tick(self) -> int:
        """Advance by one tick (done at every system call entry); returns the new time."""
        self._now += self.tick_ns
        return self._now

    def advance(self, ns: int) -> int:
        """Let ``ns`` nanoseconds pass (e.g. to expire FUSE cache timeouts)."""
        if ns < 0:
            from simfs.errors import UsageError

            raise UsageError("VirtualClock.advance: time only moves forward; pass ns >= 0")
        self._now += int(ns)
        return self._now

    def jiffies(self) -> int:
        return self._now // JIFFY_NS
