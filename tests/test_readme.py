"""The README's opening commands and its first Python example stay true."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


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
