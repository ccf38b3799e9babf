"""Output formats: small functions from a list of findings to text."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dropcheck.findings import Finding
from dropcheck.output.json import format_json
from dropcheck.output.text import format_text

Formatter = Callable[[Sequence[Finding]], str]

FORMATS: dict[str, Formatter] = {
    "text": format_text,
    "json": format_json,
}
