"""Runs the engine over many files. Output order is deterministic: sorted by path, line."""

from __future__ import annotations

from collections.abc import Sequence

from dropcheck.discovery import iter_files
from dropcheck.engine import LintOptions, lint_path
from dropcheck.findings import Finding


def lint_paths(paths: Sequence[str], options: LintOptions) -> list[Finding]:
    findings: list[Finding] = []
    for path in iter_files(list(paths)):
        findings.extend(lint_path(path, options))
    findings.sort(key=lambda f: f.sort_key)
    return findings
