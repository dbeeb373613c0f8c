"""A griffe extension for the API reference: simfs's docstrings use a few reST roles.

``:func:`name```, ``:class:`~simfs.trace.Trace```, ``:meth:``... become inline code
(``name``, ``Trace``) and the one reST link target (``rich``_) a Markdown link, so the
docstrings read the same in ``help()`` and on the documentation site.  Loaded by
``mkdocs.yml`` (``plugins: mkdocstrings: ... extensions``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|exc|obj):`~?([^`]+)`")
_TARGET = re.compile(r"^\.\. _(\w+): (\S+)\s*$", re.M)


def markdown_of(text: str) -> str:
    """The docstring with reST roles as inline code and reST link targets as links."""
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
