"""The README's opening commands and its first Python example stay true."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_commands() -> None:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block is not None
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    assert "pip install" in lines[0] and "python3 -m simfs run" in lines[0]
    assert "pip install" in lines[1] and "pytest" in lines[1]
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "python3 -m pytest -q -n 2" in ci and "python3 -m pytest -q -n 2" in lines[1]


def test_quick_look_example_runs() -> None:
    code = re.search(r"## Quick look\n\n```python\n(.*?)```", README, re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)  # asserts inside
    hide = namespace["hide"]
    assert getattr(hide, "name", None) == "hide"


def _fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a new interpreter importing this checkout's simfs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )


def test_import_simfs_is_enough() -> None:
    """Issue 19 item 4: the subpackages are attributes of ``simfs`` after ``import simfs``
    (imported on first use: ``simfs.testing`` pulls in hypothesis, ``simfs.render`` rich)."""
    r = _fresh_python(
        "import sys, simfs\n"
        "assert 'hypothesis' not in sys.modules and 'rich' not in sys.modules\n"
        "assert simfs.bpf.program and simfs.bpf.FuseBpfArgs and simfs.uapi.FUSE_LOOKUP\n"
        "assert simfs.daemons.Passthrough and simfs.daemons.Scripted\n"
        "assert simfs.testing.__name__ == 'simfs.testing' and simfs.render.tree\n"
        "assert {'bpf', 'daemons', 'testing', 'render', 'uapi'} <= set(dir(simfs))\n"
        "try:\n    simfs.no_such_thing\nexcept AttributeError:\n    pass\n"
        "else:\n    raise SystemExit('no AttributeError')\n"
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("index", range(len(re.findall(r"```python\n", README))))
def test_every_python_block_runs_in_a_fresh_interpreter(index: int) -> None:
    block = re.findall(r"```python\n(.*?)```", README, re.S)[index]
    r = _fresh_python(block)
    assert r.returncode == 0, f"README python block {index}:\n{block}\n{r.stderr}"
