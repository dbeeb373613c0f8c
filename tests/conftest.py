"""Shared pytest configuration: simfs' own pytest plugin (hypothesis profiles dev, ci,
nightly by ``--simfs-profile`` / ``HYPOTHESIS_PROFILE``, and its fixtures).

An installed simfs registers the plugin through its ``pytest11`` entry point; a checkout
run against an older installation loads it here instead (never both: pytest refuses to
register one module under two names).  The check does not import the plugin, so pytest
can still rewrite its asserts."""

from __future__ import annotations

from importlib.metadata import entry_points

_PLUGIN = "simfs.testing.pytest_plugin"

if not any(ep.value == _PLUGIN for ep in entry_points(group="pytest11")):
    pytest_plugins = [_PLUGIN]
