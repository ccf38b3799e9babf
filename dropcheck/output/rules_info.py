"""What the output formats say about a rule: its documentation URL and help text."""

from __future__ import annotations

from functools import cache

from dropcheck.findings import NOT_ANALYSED_CODE
from dropcheck.rules import rule_by_code
from dropcheck.rules.base import Rule

REPOSITORY = "https://github.com/dropcheck/dropcheck"
#: Where DC000 (not a rule module) is documented.
NOT_ANALYSED_URL = f"{REPOSITORY}/blob/main/README.md#rules"


@cache
def rule_for(code: str) -> type[Rule] | None:
    return rule_by_code(code)


@cache
def rule_url(code: str) -> str | None:
    """The rule's documentation: its module in the repository, whose docstring is the same text
    `dropcheck rule CODE` prints."""
    if code == NOT_ANALYSED_CODE:
        return NOT_ANALYSED_URL
    rule = rule_for(code)
    if rule is None:
        return None
    return f"{REPOSITORY}/blob/main/{rule.__module__.replace('.', '/')}.py"
