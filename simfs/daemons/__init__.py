"""Shipped userspace daemons: a scripted one for protocol tests (as the Android self-test
harness), and a classic passthrough."""

from __future__ import annotations

# --- scripted daemon (simfs/daemons/scripted.py) ---------------------------------------------
from simfs.daemons.scripted import (
    Scripted,
    ScriptMismatch,
    Step,
    expect,
    expect_ext,
    expect_init,
    expect_lookup,
    expect_null,
)

# --- passthrough daemon (simfs/daemons/passthrough.py): added here by its owner ---------------

__all__ = [
    "ScriptMismatch",
    "Scripted",
    "Step",
    "expect",
    "expect_ext",
    "expect_init",
    "expect_lookup",
    "expect_null",
]
