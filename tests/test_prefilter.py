"""The pre-filter never changes findings (issue 7).

A rule's ``requires`` tokens must be a necessary condition for any of its findings. Checked on
every rule example, every fixture and a sample of real code (installed torch sources), each
linted with all rules (preview included) with and without the pre-filter.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from dropcheck.engine import LintOptions, lint_path, lint_source, passes_prefilter
from dropcheck.rules import all_rules
from dropcheck.rules.base import Rule
from dropcheck.testing import expected_findings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures").rglob("*.py"))
WITH = LintOptions(rules=list(all_rules()))
WITHOUT = replace(WITH, prefilter=False)


def torch_sample(count: int = 80) -> list[Path]:
    """Every n-th installed torch source: files that pass the filter and files that do not."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return []
    files = sorted(Path(spec.origin).parent.rglob("*.py"))
    step = max(1, len(files) // count)
    return files[::step][:count]


EXAMPLES = [(rule, i, source) for rule in all_rules()
            for i, source in enumerate([*rule.VALID, *rule.INVALID])]


@pytest.mark.parametrize(("rule", "index", "source"), EXAMPLES,
                         ids=[f"{r.code}-{i}" for r, i, _ in EXAMPLES])
def test_examples_same_findings_with_and_without_prefilter(
    rule: type[Rule], index: int, source: str
) -> None:
    data = source.encode("utf-8")
    assert lint_source("<example>.py", data, WITH) == lint_source("<example>.py", data, WITHOUT)


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_every_invalid_example_passes_its_rules_own_filter(rule: type[Rule]) -> None:
    for source in rule.INVALID:
        if any(code == rule.code for _, code in expected_findings(source)):
            assert passes_prefilter(source.encode("utf-8"), rule), source


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT / "fixtures")))
def test_fixtures_same_findings_with_and_without_prefilter(path: Path) -> None:
    assert lint_path(str(path), WITH) == lint_path(str(path), WITHOUT)


def test_real_code_same_findings_with_and_without_prefilter() -> None:
    sample = torch_sample()
    assert len(sample) >= 40, "torch sources are part of the test extras"
    skipped = 0
    for path in sample:
        data = path.read_bytes()
        if not any(passes_prefilter(data, rule) for rule in WITH.rules):
            skipped += 1
        assert lint_source(str(path), data, WITH) == lint_source(str(path), data, WITHOUT), path
    # The sample exercises both sides of the filter.
    assert 0 < skipped < len(sample)


def test_prefilter_needs_every_group() -> None:
    class Needs(Rule):
        code = "DC998"
        name = "needs-both"
        message = "test"
        requires = ((b"ropout",), (b"Conv", b"conv"))

    assert passes_prefilter(b"nn.Dropout(); nn.Conv2d()", Needs)
    assert passes_prefilter(b"F.dropout(F.conv1d(x))", Needs)
    assert not passes_prefilter(b"nn.Dropout()", Needs)
    assert not passes_prefilter(b"nn.Conv2d()", Needs)


def test_engine_finds_the_same_visitor_methods_as_libcst() -> None:
    # The engine caches the visit_*/leave_* lookup per rule class instead of LibCST's
    # per-instance inspect.getmembers; it must find exactly the same methods.
    import libcst as cst

    from dropcheck.analysis.context import FileContext
    from dropcheck.engine import _visitors

    context = FileContext("x.py", cst.parse_module("x = 1\n"))
    for rule in all_rules():
        instance = rule(context)
        assert dict(_visitors(instance)) == instance.get_visitors(), rule.code
