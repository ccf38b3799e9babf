"""Output formats through the real CLI: text (excerpt, caret, colour rules), json (url, fix),
sarif (validated against the official 2.1.0 schema), github, junit; --statistics,
--output-file, --exit-zero."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dropcheck.findings import Finding
from dropcheck.output import FORMATS
from dropcheck.output.github import format_github
from dropcheck.output.sarif import format_sarif
from tests.conftest import ROOT, Run, _dropcheck_command, write

BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.8)\nother = nn.Dropout(True)\n"
HEADLINE = "{path}:3:9: DC002 [high-dropout-rate] "




def sarif_schema() -> dict:  # type: ignore[type-arg]
    """The official schema, found relative to the checkout: ../shared (a clean clone beside
    the shared folder, as CI has it) or ./shared."""
    for candidate in (ROOT.parent / "shared", ROOT / "shared"):
        path = candidate / "schemas" / "sarif-schema-2.1.0.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    pytest.skip("shared/schemas/sarif-schema-2.1.0.json not found beside or inside the checkout "
                "(CI puts shared/ beside it); the SARIF output cannot be validated here")


# -- text --------------------------------------------------------------------------------------


def test_text_contract_lines_and_excerpt(tmp_path: Path, run_dropcheck: Run) -> None:
    path = write(tmp_path / "bad.py", BAD)
    result = run_dropcheck(str(path), env={**os.environ, "FORCE_COLOR": ""})
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(HEADLINE.format(path=path))
    assert lines[-1] == "Found 2 findings in 1 file."
    assert "\033[" not in result.stdout  # not a terminal: no colour
    block = result.stdout.split("\n\n")[0].splitlines()
    assert block[1:] == [
        "  |",
        "3 | layer = nn.Dropout(0.8)",
        "  |         ^^^^^^^^^^^^^^^ DC002",
    ]
    # Every finding's first line is the contract line.
    headlines = [line for line in lines if line.startswith(str(path))]
    assert [h.split(": ")[1].split()[0] for h in headlines] == ["DC002", "DC006"]


def test_text_marks_fixes(tmp_path: Path, run_dropcheck: Run) -> None:
    path = write(tmp_path / "bad.py", BAD)
    result = run_dropcheck("--select", "DC006", str(path))
    assert "= fix (unsafe):" in result.stdout or "= fix (safe):" in result.stdout


def _run_in_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run the CLI with stdout on a pseudo-terminal and return what it printed."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen([*_dropcheck_command(), *args], stdout=terminal,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=120)
    finally:
        os.close(controller)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_colour_on_a_terminal_unless_no_color(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.py", BAD)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm"
    coloured = _run_in_terminal([str(path)], env)
    assert "\033[31m" in coloured and "DC002" in coloured
    plain = _run_in_terminal([str(path)], {**env, "NO_COLOR": "1"})
    assert "\033[" not in plain and "DC002" in plain
    # Colour never goes to a file, even from a terminal.
    out = tmp_path / "report.txt"
    _run_in_terminal(["--output-file", str(out), str(path)], env)
    assert "\033[" not in out.read_text() and "DC002" in out.read_text()


# -- json --------------------------------------------------------------------------------------


def test_json_has_url_and_fix(tmp_path: Path, run_dropcheck: Run) -> None:
    path = write(tmp_path / "bad.py", BAD)
    data = json.loads(run_dropcheck("--format", "json", str(path)).stdout)
    assert {"code", "name", "path", "line", "column", "end_line", "end_column", "message",
            "url"} <= set(data[0])
    by_code = {item["code"]: item for item in data}
    assert by_code["DC002"]["url"].endswith("/docs/rules/DC002.md")
    fix = by_code["DC006"]["fix"]
    assert fix["applicability"] in ("safe", "unsafe") and fix["edits"]
    assert by_code["DC002"].get("fix") is None
    assert by_code["DC002"]["cell"] is None


# -- sarif -------------------------------------------------------------------------------------


def test_sarif_validates_against_the_official_schema(tmp_path: Path, run_dropcheck: Run) -> None:
    import jsonschema

    schema = sarif_schema()
    write(tmp_path / "src" / "bad model.py", BAD)
    write(tmp_path / "src" / "broken.py", "x = (\n")
    result = run_dropcheck("--format", "sarif", "src", cwd=tmp_path)
    assert result.returncode == 2
    log = json.loads(result.stdout)
    jsonschema.validate(log, schema)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert "DC002" in ids and "DC000" in ids
    dc002 = rules[ids.index("DC002")]
    assert "## Why is this bad?" in dc002["help"]["markdown"]
    assert dc002["fullDescription"]["text"].startswith("Flags a constant dropout rate")
    assert dc002["helpUri"].startswith("https://")
    results = run["results"]
    assert {r["ruleId"] for r in results} == {"DC000", "DC002", "DC006"}
    for r in results:
        assert ids[r["ruleIndex"]] == r["ruleId"]
    first = next(r for r in results if r["ruleId"] == "DC002")
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "src/bad%20model.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 3, "startColumn": 9, "endLine": 3,
                                  "endColumn": 24}
    assert next(r for r in results if r["ruleId"] == "DC000")["level"] == "error"


def test_sarif_of_a_clean_run_and_absolute_paths_validate(tmp_path: Path) -> None:
    import jsonschema

    schema = sarif_schema()
    jsonschema.validate(json.loads(format_sarif([])), schema)
    finding = Finding("DC002", "high-dropout-rate", str(tmp_path / "a.py"), 1, 1, 1, 2, "m",
                      cell=2)
    log = json.loads(format_sarif([finding]))
    jsonschema.validate(log, schema)
    result = log["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(
        "file:///")
    assert result["properties"]["cell"] == 2


# -- github, junit -----------------------------------------------------------------------------


def test_github_annotations(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "bad.py", BAD)
    result = run_dropcheck("--format", "github", "bad.py", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "::warning file=bad.py,line=3,col=9,endLine=3,endColumn=24,"
        "title=DC002 high-dropout-rate::DC002 [high-dropout-rate] nn.Dropout(p=0.8) drops 80 %25")
    assert len(lines) == 2


def test_github_escapes() -> None:
    finding = Finding("DC000", "file-not-analysed", "a,b:c.py", 1, 1, 1, 1, "50% bad\nline")
    assert format_github([finding]) == (
        "::error file=a%2Cb%3Ac.py,line=1,col=1,endLine=1,endColumn=1,"
        "title=DC000 file-not-analysed::DC000 [file-not-analysed] 50%25 bad%0Aline\n")


def test_junit(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "bad.py", BAD)
    write(tmp_path / "good.py", "x = 1\n")
    result = run_dropcheck("--format", "junit", ".", cwd=tmp_path)
    root = ET.fromstring(result.stdout)
    assert root.tag == "testsuites" and root.get("failures") == "2"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [os.path.join(".", "bad.py")]
    failures = [case.find("failure") for case in suites[0].findall("testcase")]
    assert [f.get("type") for f in failures if f is not None] == ["DC002", "DC006"]
    clean = ET.fromstring(run_dropcheck("--format", "junit", "good.py", cwd=tmp_path).stdout)
    assert clean.get("failures") == "0" and clean.find("testsuite/testcase") is not None


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_handles_no_findings_and_odd_text(name: str) -> None:
    odd = Finding("DC002", "high-dropout-rate", "dir/ü <&>\".py", 1, 1, 1, 2, "<&> \"quote\" ü")
    for findings in ([], [odd]):
        out = FORMATS[name](findings)
        assert isinstance(out, str)
        if name in ("json", "sarif"):
            json.loads(out)
        if name == "junit":
            ET.fromstring(out)


# -- --statistics, --output-file, --exit-zero --------------------------------------------------


def test_statistics(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "a.py", BAD + "x = nn.Dropout(0.9)\n")
    result = run_dropcheck("--statistics", "a.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "2  DC002  high-dropout-rate", "1  DC006  invalid-dropout-rate",
        "Found 3 findings in 1 file."]
    data = json.loads(run_dropcheck("--statistics", "--format", "json", "a.py",
                                    cwd=tmp_path).stdout)
    assert [(row["code"], row["count"]) for row in data] == [("DC002", 2), ("DC006", 1)]


def test_output_file_and_exit_zero(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "a.py", BAD)
    result = run_dropcheck("--format", "json", "--output-file", "out.json", "--exit-zero",
                           "a.py", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == ""
    assert len(json.loads((tmp_path / "out.json").read_text())) == 2
    # --exit-zero does not hide a file that could not be analysed.
    write(tmp_path / "broken.py", "x = (\n")
    assert run_dropcheck("--exit-zero", "broken.py", cwd=tmp_path).returncode == 2
    bad_target = run_dropcheck("--output-file", str(tmp_path / "no" / "dir" / "x"), "a.py",
                               cwd=tmp_path)
    assert bad_target.returncode == 2 and "Traceback" not in bad_target.stderr
