"""Python's ``os`` argument conversion, so a :class:`~simfs.Process` rejects what ``os`` rejects.

CPython converts every argument of an ``os`` function before the system call, with the
Argument Clinic converters of ``Modules/posixmodule.c``: a wrong type is ``TypeError``, a
value the C type cannot hold is ``OverflowError`` (or ``ValueError`` where CPython checks
a range itself), and only then does the kernel see the call and answer with an errno.
These functions are those converters; each names the C type it models.  The messages
are CPython 3.11's (checked against the real ``os`` in ``tests/robustness``).
"""

from __future__ import annotations

import operator
from typing import Any

__all__ = [
    "UID_UNCHANGED",
    "as_buffer",
    "as_c_int",
    "as_c_uint",
    "as_dev",
    "as_fd",
    "as_fileno",
    "as_flags",
    "as_id",
    "as_off",
    "as_read_count",
    "as_ssize",
    "umode",
]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
#: ``(uid_t)-1`` / ``(gid_t)-1``: "leave unchanged" for chown
UID_UNCHANGED = -1


def _index(value: Any) -> int:
    """``PyNumber_Index``: ints and objects with ``__index__``; TypeError otherwise."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"'{type(value).__name__}' object cannot be interpreted as an integer"
        ) from None


def as_c_int(value: Any) -> int:
    """Clinic ``int`` (``_PyLong_AsInt``): flags, modes, whence, fds."""
    v = _index(value)
    if not _INT_MIN <= v <= _INT_MAX:
        raise OverflowError("Python int too large to convert to C int")
    return v


as_fd = as_c_int


def as_c_uint(value: Any) -> int:
    """A C ``unsigned int`` (``getdents64``'s ``count``, which ``os`` does not wrap):
    negative or past 32 bits is OverflowError, a non-integer TypeError."""
    v = _index(value)
    if not 0 <= v <= 2**32 - 1:
        raise OverflowError("Python int too large to convert to C unsigned int")
    return v


def as_flags(value: Any) -> int:
    """Clinic ``unsigned_int(bitwise=True)`` (``os.splice``'s ``flags``): a negative value is
    ValueError, a non-integer TypeError, the bits past 32 are dropped."""
    if not isinstance(value, int):
        raise TypeError("an integer is required")
    if value < 0:
        raise ValueError("value must be positive")
    return value & 0xFFFFFFFF


def as_ssize(value: Any) -> int:
    """Clinic ``Py_ssize_t``: byte counts of ``read``/``pread``."""
    v = _index(value)
    if not _LONG_MIN <= v <= _LONG_MAX:
        raise OverflowError("Python int too large to convert to C ssize_t")
    return v


#: ``PyBytes_FromStringAndSize`` refuses sizes past ``PY_SSIZE_T_MAX`` minus its header.
_BYTES_MAX = 2**63 - 1 - 33


def as_read_count(value: Any) -> int:
    """The count of ``os.read``/``os.pread``: a ``Py_ssize_t``, for which CPython then
    allocates the result bytes before the call (too large -> OverflowError)."""
    n = as_ssize(value)
    if n > _BYTES_MAX:
        raise OverflowError("byte string is too large")
    return n


def as_off(value: Any) -> int:
    """Clinic ``Py_off_t`` (``off_t`` is a C ``long`` on 64-bit Linux): offsets, lengths."""
    v = _index(value)
    if not _LONG_MIN <= v <= _LONG_MAX:
        raise OverflowError("Python int too large to convert to C long")
    return v


def as_id(value: Any, what: str) -> int:
    """``_Py_Uid_Converter``/``_Py_Gid_Converter``: -1 and ``(uid_t)-1`` mean "unchanged"
    (returned as :data:`UID_UNCHANGED`); other negatives and values past ``uid_t`` are
    OverflowError; a non-integer is TypeError."""
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} should be integer, not {type(value).__name__}") from None
    if v == -1 or v == 2**32 - 1:
        return UID_UNCHANGED
    if v < 0:
        raise OverflowError(f"{what} is less than minimum")
    if v > 2**32 - 1:
        raise OverflowError(f"{what} is greater than maximum")
    return v


def as_dev(value: Any) -> int:
    """``_Py_Dev_Converter``: ``dev_t`` is an unsigned 64-bit integer."""
    v = _index(value)
    if v < 0:
        raise OverflowError("can't convert negative int to unsigned")
    if v >= 2**64:
        raise OverflowError("int too big to convert")
    return v


def as_buffer(value: Any) -> bytes:
    """Clinic ``Py_buffer``: a bytes-like object (``str`` and ints are TypeError)."""
    if isinstance(value, str):
        raise TypeError(f"a bytes-like object is required, not '{type(value).__name__}'")
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not '{type(value).__name__}'") from None


def as_fileno(value: Any) -> int:
    """``PyObject_AsFileDescriptor`` (``os.fsync``): an int or an object with ``fileno()``;
    a negative descriptor is ValueError."""
    if isinstance(value, int):
        fd = as_c_int(value)
    elif hasattr(value, "fileno"):
        fd = as_c_int(value.fileno())
    else:
        raise TypeError("argument must be an int, or have a fileno() method.")
    if fd < 0:
        raise ValueError(f"file descriptor cannot be a negative integer ({fd})")
    return fd


def umode(mode: int) -> int:
    """The kernel's side of a mode argument: ``SYSCALL_DEFINE`` declares it ``umode_t``
    (unsigned short), so the C int is truncated to 16 bits (``mkdir(p, -1)`` asks for
    0o177777: every permission bit, file-type bits ignored by mkdir, EINVAL from mknod)."""
    return mode & 0xFFFF
