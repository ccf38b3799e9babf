from __future__ import annotations

from collections.abc import Sequence

from dropcheck.findings import Finding


def format_text(findings: Sequence[Finding]) -> str:
    lines = [
        f"{f.path}:{f.line}:{f.column}: {f.code} [{f.name}] {f.message}" for f in findings
    ]
    lines.append(summary(findings))
    return "\n".join(lines) + "\n"


def summary(findings: Sequence[Finding]) -> str:
    if not findings:
        return "All checks passed!"
    files = len({f.path for f in findings})
    noun = "finding" if len(findings) == 1 else "findings"
    return f"Found {len(findings)} {noun} in {files} file{'s' if files != 1 else ''}."
