"""``python -m simfs``: the command line (see :mod:`simfs.cli`).

The ``simfs`` console script points at :func:`main` here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from simfs.cli import main as _cli_main

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``simfs`` command line; returns the exit status.

    Called by the console script with no arguments (``sys.argv[1:]`` is used); its return
    value becomes the process's exit status.
    """
    return _cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
