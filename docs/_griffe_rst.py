"""A griffe extension for the API reference: simfs's docstrings use a few reST roles.

``:func:`name```, ``:class:`~simfs.trace.Trace```, ``:meth:``... become inline code
(``name``, ``Trace``) and the one reST link target (``rich``_) a Markdown link, so the
docstrings read the same in ``help()`` and on the documentation site.  Loaded by
``mkdocs.yml`` (``plugins: mkdocstrings: ... extensions``).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|exc|obj):`~?([^`]+)`")
_TARGET = re.compile(r"^\.\. _(\w+): (\S+)\s*$", re.M)


def _fence_literals(text: str) -> str:
    """``text::`` + a blank line + a more-indented block (a reST literal block) becomes
    ``text:`` + a fenced ``text`` block; the block ends at the first line indented less
    than its own first line."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 2] if i + 2 < len(lines) else ""
        if line.rstrip().endswith("::") and i + 1 < len(lines) and not lines[i + 1].strip():
            indent = len(nxt) - len(nxt.lstrip())
            if nxt.strip() and indent > len(line) - len(line.lstrip()):
                j = i + 2
                block: list[str] = []
                while j < len(lines) and (
                    not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) >= indent
                ):
                    block.append(lines[j])
                    j += 1
                while block and not block[-1].strip():
                    block.pop()
                    j -= 1
                lead = line.rstrip()[:-1]  # "text::" -> "text:"; a bare "::" goes
                code = textwrap.dedent("\n".join(block)).split("\n")
                out += [*([lead, ""] if lead.strip() != ":" else []), "```text", *code, "```"]
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


def markdown_of(text: str) -> str:
    """The docstring with reST roles as inline code, reST literal blocks fenced and reST
    link targets as links."""
    text = _fence_literals(text)
    targets = dict(_TARGET.findall(text))
    text = _TARGET.sub("", text)
    for name, url in targets.items():
        text = re.sub(rf"`{name}`_", f"[{name}]({url})", text)
    return _ROLE.sub(_code, text)


def _code(match: re.Match[str]) -> str:
    target = match.group(1)
    if match.group(0).split("`", 1)[1].startswith("~"):  # ~a.b.c shows only c
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


class RstRoles(griffe.Extension):
    """Rewrite every docstring once it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
