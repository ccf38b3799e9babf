from __future__ import annotations

import json
from collections.abc import Sequence

from dropcheck.findings import Finding


def format_json(findings: Sequence[Finding]) -> str:
    """Exactly one JSON array; keys as the CLI contract says."""
    return json.dumps([f.to_dict() for f in findings], indent=2, ensure_ascii=False) + "\n"
