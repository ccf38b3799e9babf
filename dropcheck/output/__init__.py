"""Output formats: small functions from a list of findings to text."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from dropcheck.findings import Finding
from dropcheck.output.github import format_github
from dropcheck.output.json import format_json, format_json_statistics
from dropcheck.output.junit import format_junit
from dropcheck.output.sarif import format_sarif
from dropcheck.output.text import format_concise, format_statistics, format_text

Formatter = Callable[[Sequence[Finding]], str]

FORMATS: dict[str, Formatter] = {
    "text": format_text,
    "concise": format_concise,
    "json": format_json,
    "sarif": format_sarif,
    "github": format_github,
    "junit": format_junit,
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
