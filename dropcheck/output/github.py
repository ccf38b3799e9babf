"""GitHub Actions workflow commands: each finding becomes an annotation on the pull request."""

from __future__ import annotations

from collections.abc import Sequence

from dropcheck.findings import NOT_ANALYSED_CODE, Finding
from dropcheck.output.escape import printable


def _escape_data(text: str) -> str:
    return printable(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        level = "error" if f.code == NOT_ANALYSED_CODE else "warning"
        where = f"cell {f.cell}, line {f.line}: " if f.cell is not None else ""
        props = ",".join(f"{key}={_escape_property(str(value))}" for key, value in (
            ("file", f.path), ("line", f.line), ("col", f.column), ("endLine", f.end_line),
            ("endColumn", f.end_column), ("title", f"{f.code} {f.name}"),
        ))
        message = _escape_data(f"{where}{f.code} [{f.name}] {f.message}")
        lines.append(f"::{level} {props}::{message}")
    return "".join(line + "\n" for line in lines)
