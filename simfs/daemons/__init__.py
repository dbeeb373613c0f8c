"""Shipped userspace daemons: a scripted one for protocol tests (as the Android self-test
harness), and a classic passthrough."""

from __future__ import annotations

# --- passthrough daemon (simfs/daemons/passthrough.py): added here by its owner ---------------
from simfs.daemons.passthrough import Passthrough

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

__all__ = [
    "Passthrough",
    "ScriptMismatch",
    "Scripted",
    "Step",
    "expect",
    "expect_ext",
    "expect_init",
    "expect_lookup",
    "expect_null",
]
