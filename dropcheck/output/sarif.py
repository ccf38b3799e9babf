"""SARIF 2.1.0 (GitHub code scanning, VS Code's SARIF viewer): one run, a ``rules[]`` table built
from the rule docs (the text `dropcheck rule CODE` prints), one result per finding."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from dropcheck import __version__
from dropcheck.findings import NOT_ANALYSED_CODE, NOT_ANALYSED_NAME, Finding
from dropcheck.output.escape import json_text, uri_path
from dropcheck.output.rules_info import NOT_ANALYSED_DOC, repository, rule_for, rule_url
from dropcheck.rules import all_rules
from dropcheck.rules.base import Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _uri(path: str) -> tuple[str, str | None]:
    """(uri, uriBaseId): relative paths stay relative to the checkout (%SRCROOT%), as code
    scanning expects; absolute ones become file: URIs."""
    if os.path.isabs(path):
        return PurePath(path).as_uri(), None
    posix = path.replace(os.sep, "/")
    posix = posix.removeprefix("./")
    return uri_path(posix), "%SRCROOT%"


def _rule_descriptor(rule: type[Rule]) -> dict[str, Any]:
    doc = rule.documentation()
    descriptor: dict[str, Any] = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary()},
        "fullDescription": {"text": _section(doc, "What it does") or rule.summary()},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": "warning", "enabled": not rule.preview},
        "properties": {"preview": rule.preview, "tags": ["pytorch", "dropout"]},
    }
    url = rule_url(rule.code)
    if url:
        descriptor["helpUri"] = url
    return descriptor


def _section(doc: str, title: str) -> str:
    """The text of one ``## title`` section of a rule's docs."""
    lines = doc.splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("## "):
            inside = line[3:].strip().lower() == title.lower()
            continue
        if inside:
            out.append(line)
    return "\n".join(out).strip()


def _not_analysed_descriptor() -> dict[str, Any]:
    text = NOT_ANALYSED_DOC
    return {
        "id": NOT_ANALYSED_CODE,
        "name": NOT_ANALYSED_NAME,
        "shortDescription": {"text": "File not analysed."},
        "fullDescription": {"text": text},
        "help": {"text": text},
        "helpUri": rule_url(NOT_ANALYSED_CODE),
        "defaultConfiguration": {"level": "error"},
    }


def _result(finding: Finding, index: int) -> dict[str, Any]:
    uri, base = _uri(finding.path)
    artifact: dict[str, Any] = {"uri": uri}
    if base:
        artifact["uriBaseId"] = base
    region: dict[str, Any] = {
        "startLine": max(finding.line, 1),
        "startColumn": max(finding.column, 1),
        "endLine": max(finding.end_line, finding.line, 1),
        "endColumn": max(finding.end_column, 1),
    }
    message = finding.message
    properties: dict[str, Any] = {}
    if finding.cell is not None:
        # Lines are relative to the notebook cell: say so in the message and the properties.
        message = f"cell {finding.cell}: {message}"
        properties["cell"] = finding.cell
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": "error" if finding.code == NOT_ANALYSED_CODE else "warning",
        "message": {"text": message},
        "locations": [{"physicalLocation": {"artifactLocation": artifact, "region": region}}],
    }
    fix = getattr(finding, "fix", None)
    if fix is not None:
        properties["fix"] = fix.to_dict()
    if properties:
        result["properties"] = properties
    return result


def format_sarif(findings: Sequence[Finding]) -> str:
    descriptors = [_not_analysed_descriptor()]
    descriptors.extend(_rule_descriptor(rule) for rule in all_rules())
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    for finding in findings:  # a code from outside the registry still gets a descriptor
        if finding.code not in index:
            known = rule_for(finding.code)
            descriptors.append(_rule_descriptor(known) if known else {"id": finding.code,
                                                                       "name": finding.name})
            index[finding.code] = len(descriptors) - 1
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "dropcheck",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": repository(),
                "rules": descriptors,
            }},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"uri": PurePath(os.getcwd()).as_uri() + "/"}},
            "results": [_result(f, index[f.code]) for f in findings],
        }],
    }
    return json_text(json.dumps(log, indent=2, ensure_ascii=False)) + "\n"
