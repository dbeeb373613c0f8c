"""Typed exceptions for misuse of the simfs Python API and for simulation faults.

A *modelled* failure is always an ``OSError`` carrying the errno Linux would give; the
classes here are for everything else: a user of the Python API doing something the
simulator cannot honour (the message says what to do), or a simulated situation that on
a real machine would hang forever (a request no daemon will ever answer).
"""

from __future__ import annotations


class SimfsError(Exception):
    """Base class of every simfs-specific exception."""


class UsageError(SimfsError):
    """The simfs Python API was called in a way it does not support.

    The message names the argument at fault and the fix.
    """


class UnansweredRequest(SimfsError):
    """A synchronous FUSE request was sent on a connection that no daemon reads.

    On a real machine the calling task would sleep forever in ``request_wait_answer``;
    the simulator reports it instead of hanging.
    """


class ProtocolError(SimfsError):
    """An illegal state transition of a modelled protocol state machine."""


class LockWouldSleep(SimfsError):
    """A blocking lock request (F_SETLKW, F_OFD_SETLKW, ``lockf`` without LOCK_NB) met a
    conflicting lock and no deadlock: on Linux the task would sleep until another task
    releases the range.  Only the caller runs in the simulator, so that wait could never
    end; simfs refuses it instead of hanging.

    Use the non-blocking command (F_SETLK, LOCK_NB) to get EAGAIN, or
    ``Process.fcntl_sleep`` to model a task that sleeps while others run.
    """
