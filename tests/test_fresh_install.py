"""The README's two opening commands work in a fresh venv with the pip Python ships.

Python 3.11's ``ensurepip`` installs pip 23.2, which has no ``--group`` (pip 25.1 added
it); the README therefore installs the development tools as the ``dev`` *extra*.  This
test makes a new virtual environment (``python -m venv``, so its pip is the bundled one),
copies the repository's tracked files into a fresh directory (a stand-in for a fresh
clone, including uncommitted edits so it tests what is about to be committed), puts the
venv first on ``PATH`` and runs the README's lines *as written*:

- line 1 in full (editable install, then ``python3 -m simfs run passthrough``);
- line 2's install part in full, then its test command on a small selection instead of
  the whole suite (``tests/test_readme.py``, which checks line 2's pytest command is the
  one ``.ci/run`` runs): the whole suite is the CI step right after this one and would
  double CI's time; what can break on a fresh machine is the install, and the selection
  proves pytest and pytest-xdist (``-n 2``) came with it.

It needs a package index (the dependencies are downloaded); where none answers it skips
and says so.  It takes a minute or two, so it is marked ``fresh_install``; CI runs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.fresh_install


def readme_commands() -> list[str]:
    """The README's opening ``sh`` block, one command per line, comments removed."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert block is not None, "README.md lost its opening sh block"
    lines = [ln.split("#", 1)[0].strip() for ln in block.group(1).splitlines()]
    return [ln for ln in lines if ln]


def copy_checkout(dest: Path) -> None:
    """The repository's tracked files (a fresh clone's content) copied to ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell which files a fresh clone has")
    for name in listed.stdout.decode().split("\0"):
        if not name or not (ROOT / name).is_file():
            continue  # deleted in the work tree
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)


def run(
    cmd: str, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_readme_commands_in_a_fresh_venv(tmp_path: Path) -> None:
    first, second = readme_commands()[:2]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.pop("COLUMNS", None)
    pip = run("python3 -m pip --version", tmp_path, env, 120)
    assert pip.returncode == 0 and str(venv) in pip.stdout, pip.stdout + pip.stderr
    probe = run(
        f"python3 -m pip download -q --no-deps -d {tmp_path / 'probe'} hatchling",
        tmp_path,
        env,
        180,
    )
    if probe.returncode != 0:
        pytest.skip(f"no package index answers here (pip download failed): {probe.stderr[-300:]}")

    clone = tmp_path / "simfs"
    clone.mkdir()
    copy_checkout(clone)

    demo = run(first, clone, env, 900)
    assert demo.returncode == 0, f"{first}\n{pip.stdout}{demo.stdout[-3000:]}{demo.stderr[-3000:]}"
    assert "check passed" in demo.stdout

    install, _, test_cmd = second.partition(" && ")
    assert "pip install" in install and "pytest" in test_cmd, second
    installed = run(install, clone, env, 1500)
    assert installed.returncode == 0, f"{install}\n{pip.stdout}{installed.stderr[-3000:]}"
    tests = run(f"{test_cmd} tests/test_readme.py -p no:cacheprovider", clone, env, 600)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert re.search(r"\b\d+ passed\b", tests.stdout), tests.stdout[-2000:]
    assert "bringing up nodes" in tests.stdout, tests.stdout  # pytest-xdist ran it (-n 2)
