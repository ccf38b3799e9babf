from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from dropcheck.findings import Finding
from dropcheck.output.escape import json_text
from dropcheck.output.rules_info import rule_url


def finding_dict(finding: Finding) -> dict[str, Any]:
    """The contract's keys (and whatever else ``Finding.to_dict()`` carries: ``fix``, ``cell``),
    plus the rule's documentation ``url``."""
    data = finding.to_dict()
    data["url"] = rule_url(finding.code)
    return data


def format_json(findings: Sequence[Finding]) -> str:
    """Exactly one JSON array; keys as the CLI contract says."""
    return json_text(json.dumps([finding_dict(f) for f in findings], indent=2,
                                 ensure_ascii=False)) + "\n"


def format_json_statistics(findings: Sequence[Finding]) -> str:
    counts = Counter((f.code, f.name) for f in findings)
    rows = [
        {"code": code, "name": name, "count": count, "url": rule_url(code)}
        for (code, name), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return json_text(json.dumps(rows, indent=2, ensure_ascii=False)) + "\n"
