"""simfs's own C filters and the BPF objects built from them (see ``build.py``).

``path(stem)`` gives each committed object: ``selftests`` holds the program of every
Android selftest scenario (section names as in :mod:`simfs.bpf.examples`), ``readme`` the
README's examples (hide dotfiles, read-only, errno translation).  Load one with
``simfs.bpf.load_object(simfs.bpf.filters.path("selftests"), "test_hidden")``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DIRECTORY", "path"]

DIRECTORY = Path(__file__).resolve().parent


def path(stem: str) -> Path:
    """The committed object ``<stem>.o`` of this directory."""
    return DIRECTORY / f"{stem}.o"
