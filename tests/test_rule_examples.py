"""Every rule's VALID and INVALID examples, as test cases (Fixit's idea)."""

from __future__ import annotations

import pytest

from dropcheck.rules import all_rules
from dropcheck.rules.base import Rule
from dropcheck.testing import actual_findings, expected_findings, lint_text

VALID = [(rule, i, code) for rule in all_rules() for i, code in enumerate(rule.VALID)]
INVALID = [(rule, i, code) for rule in all_rules() for i, code in enumerate(rule.INVALID)]


@pytest.mark.parametrize(("rule", "index", "source"), VALID,
                         ids=[f"{r.code}-valid-{i}" for r, i, _ in VALID])
def test_valid_example(rule: type[Rule], index: int, source: str) -> None:
    findings = [f for f in lint_text(source, [rule]) if f.code == rule.code]
    assert findings == [], f"{rule.code} VALID[{index}] reported: {findings}"


@pytest.mark.parametrize(("rule", "index", "source"), INVALID,
                         ids=[f"{r.code}-invalid-{i}" for r, i, _ in INVALID])
def test_invalid_example(rule: type[Rule], index: int, source: str) -> None:
    expected = {(line, code) for line, code in expected_findings(source) if code == rule.code}
    assert expected, f"{rule.code} INVALID[{index}] has no '# expect: {rule.code}' marker"
    actual = actual_findings(f for f in lint_text(source, [rule]) if f.code == rule.code)
    assert actual == expected


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_is_documented(rule: type[Rule]) -> None:
    doc = rule.documentation()
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead"):
        assert section in doc, f"{rule.code} docs lack {section!r}"
    headings = [line.strip() for line in doc.splitlines() if line.startswith("## ")]
    assert len(headings) == len(set(headings)), f"{rule.code} docs repeat a section: {headings}"
    assert rule.VALID and rule.INVALID, f"{rule.code} needs VALID and INVALID examples"
    assert rule.requires, f"{rule.code} must declare pre-filter tokens"
    assert rule.name == rule.name.lower() and " " not in rule.name
