"""Every fixture file: exactly the findings its `# expect: DC00N` comments announce."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropcheck.engine import LintOptions, lint_path
from dropcheck.rules import all_rules
from dropcheck.testing import actual_findings, expected_findings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FILES = sorted(p for p in FIXTURES.rglob("*.py"))


def test_there_are_fixtures() -> None:
    assert len(FILES) >= 2


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    # All rules, preview included: every finding in a fixture must be announced.
    findings = lint_path(str(path), LintOptions(rules=list(all_rules())))
    actual = actual_findings(findings)
    expected = expected_findings(source)
    missing = sorted(expected - actual)
    unexpected = sorted(
        (f.line, f.code, f.message) for f in findings if (f.line, f.code) not in expected
    )
    assert not missing and not unexpected, (
        f"\nmissing (line, code): {missing}\nunexpected (line, code, message): {unexpected}"
    )
