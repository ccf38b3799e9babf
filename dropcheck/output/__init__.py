"""Output formats: small functions from a list of findings to text."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence

from dropcheck.findings import Finding
from dropcheck.output.github import format_github
from dropcheck.output.json import format_json, format_json_statistics
from dropcheck.output.text import format_concise, format_statistics, format_text

Formatter = Callable[[Sequence[Finding]], str]


def _on_use(module: str, function: str) -> Formatter:
    """A formatter imported when first called: SARIF's rules[] table reads every rule's
    docstring (every rule module, LibCST with them: ~0.3 s), JUnit's XML library ~10 ms; a
    one-file run with another format should not pay for them."""

    def formatter(findings: Sequence[Finding]) -> str:
        found: Formatter = getattr(importlib.import_module(f"{__name__}.{module}"), function)
        return found(findings)

    formatter.__name__ = formatter.__qualname__ = function
    return formatter


FORMATS: dict[str, Formatter] = {
    "text": format_text,
    "concise": format_concise,
    "json": format_json,
    "sarif": _on_use("sarif", "format_sarif"),
    "github": format_github,
    "junit": _on_use("junit", "format_junit"),
}


def render(name: str, findings: Sequence[Finding], *, color: bool = False,
           statistics: bool = False, sources: Mapping[str, bytes] | None = None) -> str:
    """The report in format ``name``; ``statistics`` prints counts per rule instead (a JSON
    array with ``--format json``, a table otherwise); ``sources``: the bytes of files that are
    not on disk as linted (standard input), for the text format's excerpts."""
    if statistics:
        return format_json_statistics(findings) if name == "json" else format_statistics(
            findings, color=color)
    if name == "text":
        return format_text(findings, color=color, sources=sources)
    return FORMATS[name](findings)
