"""JUnit XML (CI test-report viewers): one test suite per file, one failed test case per
finding; a clean run is one passing case, so the report is never empty."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from dropcheck.findings import Finding
from dropcheck.output.escape import printable
from dropcheck.output.text import location


def format_junit(findings: Sequence[Finding]) -> str:
    root = ET.Element("testsuites", name="dropcheck", tests=str(max(len(findings), 1)),
                      failures=str(len(findings)), errors="0")
    by_path: dict[str, list[Finding]] = {}
    for finding in findings:
        by_path.setdefault(finding.path, []).append(finding)
    if not by_path:
        suite = ET.SubElement(root, "testsuite", name="dropcheck", tests="1", failures="0",
                              errors="0", skipped="0")
        ET.SubElement(suite, "testcase", name="no findings", classname="dropcheck")
    for raw_path, items in by_path.items():
        path = printable(raw_path)  # XML cannot hold the bytes of a non-UTF-8 name
        suite = ET.SubElement(root, "testsuite", name=path, tests=str(len(items)),
                              failures=str(len(items)), errors="0", skipped="0")
        for f in items:
            where = printable(location(f))
            case = ET.SubElement(suite, "testcase", name=f"{f.code} {f.name} at {where}",
                                 classname=path, file=path, line=str(f.line))
            failure = ET.SubElement(case, "failure", message=printable(f.message), type=f.code)
            failure.text = f"{where}: {f.code} [{f.name}] {printable(f.message)}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"
