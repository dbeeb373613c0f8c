"""Build the teaching notebooks from their sources and execute them.

Each ``notebooks/src/NN_name.py`` is a plain Python file in "percent" format: cells are
separated by ``# %%`` lines, markdown cells start with ``# %% [markdown]`` and hold
``# ``-prefixed text.  ``python notebooks/build.py`` writes ``notebooks/NN_name.ipynb``
executed top to bottom (outputs included, so they read on GitHub without running);
``--check`` only verifies that every committed notebook has the cells of its source.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"


def parse_percent(text: str) -> list[tuple[str, str]]:
    """Split a percent-format script into (kind, source) cells."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            kind = "markdown" if "[markdown]" in line else "code"
            cells.append((kind, []))
            continue
        if not cells:
            continue
        kind, body = cells[-1]
        if kind == "markdown":
            body.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        else:
            body.append(line)
    return [(k, "\n".join(b).strip("\n")) for k, b in cells if "\n".join(b).strip()]


def to_notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for kind, source in cells:
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(source))
    return nb


def sources() -> list[Path]:
    return sorted(SRC.glob("[0-9]*.py"))


def build(src: Path, execute: bool = True) -> Path:
    nb = to_notebook(parse_percent(src.read_text()))
    if execute:
        # the kernel imports this checkout's simfs, whatever another install points at
        path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), path]))
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
        ).execute()
    out = HERE / (src.stem + ".ipynb")
    nbformat.write(nb, out)
    return out


def check(src: Path) -> list[str]:
    """Differences between a source and its committed notebook (cell sources only)."""
    out = HERE / (src.stem + ".ipynb")
    if not out.exists():
        return [f"{out.name}: missing; run python notebooks/build.py"]
    want = parse_percent(src.read_text())
    nb = nbformat.read(out, as_version=4)
    have = [(c.cell_type, c.source) for c in nb.cells]
    if have != want:
        return [f"{out.name}: cells differ from {src.name}; run python notebooks/build.py"]
    return []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="only compare notebooks with sources")
    ap.add_argument("names", nargs="*", help="build only these sources (stems)")
    args = ap.parse_args(argv)
    todo = [s for s in sources() if not args.names or s.stem in args.names]
    if args.check:
        problems = [p for s in todo for p in check(s)]
        for p in problems:
            print(p)
        return 1 if problems else 0
    for s in todo:
        print("built", build(s).name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
