"""Shared pytest configuration: hypothesis profiles (dev, ci, nightly) by HYPOTHESIS_PROFILE."""

from __future__ import annotations

from simfs.testing.profiles import register_profiles

register_profiles()
