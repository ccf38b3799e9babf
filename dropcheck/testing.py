"""Helpers that turn rule examples and fixture files into test cases (used by tests/)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from dropcheck.engine import LintOptions, lint_source
from dropcheck.findings import Finding
from dropcheck.rules import all_rules
from dropcheck.rules.base import Rule

EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>DC\d{3}(?:\s*,\s*DC\d{3})*)")


def expected_findings(source: str) -> set[tuple[int, str]]:
    """``(line, code)`` for every ``# expect: DC00N[, DC00M]`` comment in the source."""
    found: set[tuple[int, str]] = set()
    for number, line in enumerate(source.splitlines(), start=1):
        for match in EXPECT.finditer(line):
            for code in match.group("codes").split(","):
                found.add((number, code.strip()))
    return found


def lint_text(
    source: str, rules: Sequence[type[Rule]] | None = None, path: str = "<example>.py"
) -> list[Finding]:
    options = LintOptions(rules=list(rules) if rules is not None else list(all_rules()))
    return lint_source(path, source.encode("utf-8"), options)


def actual_findings(findings: Iterable[Finding]) -> set[tuple[int, str]]:
    return {(f.line, f.code) for f in findings}
