"""The teaching notebooks execute top to bottom from a fresh kernel, and match their sources."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

nbformat = pytest.importorskip("nbformat", reason="notebook tests need the dev group (nbformat)")
nbclient = pytest.importorskip("nbclient", reason="notebook tests need the dev group (nbclient)")


def _build_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["notebooks_build"] = mod
    spec.loader.exec_module(mod)
    return mod


build = _build_module()
SOURCES = build.sources()


def test_there_are_at_least_four_notebooks() -> None:
    assert len(SOURCES) >= 4, [s.name for s in SOURCES]


@pytest.mark.parametrize("src", SOURCES, ids=[s.stem for s in SOURCES])
def test_committed_notebook_matches_its_source(src: Path) -> None:
    assert build.check(src) == []


@pytest.mark.parametrize("src", SOURCES, ids=[s.stem for s in SOURCES])
def test_notebook_executes_top_to_bottom(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the kernel imports this checkout's simfs, whatever another install points at
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(NOTEBOOKS.parent), path])))
    nb = nbformat.read(NOTEBOOKS / f"{src.stem}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "What you will learn" in first.source
    assert any("Exercises" in c.source for c in nb.cells if c.cell_type == "markdown")
