"""Central suppression (# noqa, # dropcheck: noqa), DC017 unused-noqa, and --add-noqa."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dropcheck.engine import LintOptions, lint_path
from dropcheck.rules import all_rules
from dropcheck.suppression import add_noqa
from dropcheck.testing import lint_text
from tests.conftest import Run

ALL = list(all_rules())


def codes_at(source: str, rules: list | None = None) -> list[tuple[int, str]]:  # type: ignore[type-arg]
    return sorted((f.line, f.code) for f in lint_text(source, rules if rules is not None else ALL))


@pytest.mark.parametrize(
    "source",
    [
        "import torch.nn as nn\nd = nn.Dropout(0.8)  # noqa: DC002\n",
        "import torch.nn as nn\nd = nn.Dropout(0.8)  # noqa:DC002\n",
        "import torch.nn as nn\nd = nn.Dropout(0.8)  # NOQA: dc002\n",
        "import torch.nn as nn\nd = nn.Dropout(0.8)  # noqa\n",
        "import torch.nn as nn\nd = nn.Dropout(0.8)  # noqa: E501, DC002 -- reviewed\n",
        "import torch.nn as nn\nd = nn.Dropout(0.8)  # why: legacy  # noqa: DC002\n",
        # the first line of the statement that contains the finding
        "import torch.nn as nn\nm = nn.Sequential(  # noqa: DC002\n    nn.Linear(2, 2),\n"
        "    nn.Dropout(0.8),\n)\n",
        # its last line
        "import torch.nn as nn\nm = nn.Sequential(\n    nn.Linear(2, 2),\n"
        "    nn.Dropout(0.8),\n)  # noqa: DC002\n",
        # a compound statement's header
        "import torch.nn as nn\nwith ctx(\n    nn.Dropout(0.8)\n):  # noqa: DC002\n    pass\n",
        "# dropcheck: noqa: DC002\nimport torch.nn as nn\nd = nn.Dropout(0.8)\n",
        "import torch.nn as nn\n# dropcheck: noqa\nd = nn.Dropout(0.8)\ne = nn.Dropout(True)\n",
    ],
)
def test_suppressed(source: str) -> None:
    assert [c for c in codes_at(source) if c[1] != "DC017"] == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # another code does not suppress
        ("import torch.nn as nn\nd = nn.Dropout(0.8)  # noqa: DC006\n", [(2, "DC002")]),
        # a noqa in a string is not a comment
        ("import torch.nn as nn\nd = nn.Dropout(0.8); s = '# noqa'\n", [(2, "DC002")]),
        # a line in the middle of a statement is neither its first nor last line
        ("import torch.nn as nn\nm = nn.Sequential(\n    nn.Linear(2, 2),  # noqa: DC002\n"
         "    nn.Dropout(0.8),\n)\n", [(4, "DC002")]),
        # the body of a compound statement is not its header
        ("import torch.nn as nn\nif x:  # noqa: DC002\n    d = nn.Dropout(0.8)\n",
         [(3, "DC002")]),
        # file-level codes only cover those codes
        ("# dropcheck: noqa: DC006\nimport torch.nn as nn\nd = nn.Dropout(0.8)\n",
         [(3, "DC002")]),
        # "noqa" inside other words is no directive
        ("import torch.nn as nn\nd = nn.Dropout(0.8)  # see noqa docs\n", [(2, "DC002")]),
    ],
)
def test_not_suppressed(source: str, expected: list[tuple[int, str]]) -> None:
    assert [c for c in codes_at(source) if c[1] != "DC017"] == expected


def test_dc000_is_never_suppressed() -> None:
    source = "# dropcheck: noqa\nx = (  # noqa\n"
    assert [c for _, c in codes_at(source)] == ["DC000"]


def test_each_finding_on_a_line_needs_its_code() -> None:
    source = ("import torch.nn as nn\n"
              "nn.Sequential(nn.Dropout(0.8), nn.Dropout(True))  # noqa: DC002\n")
    assert codes_at(source) == [(2, "DC006")]


# -- DC017 -----------------------------------------------------------------------------------


def test_unused_noqa_reports_codes_whose_rule_ran_and_found_nothing() -> None:
    source = (
        "import torch.nn as nn\n"
        "a = nn.Dropout(0.8)  # noqa: DC002\n"          # used
        "b = nn.Dropout(0.1)  # noqa: DC002\n"          # unused: DC017
        "c = nn.Dropout(0.1)  # noqa: E501\n"           # another tool's: never reported
        "d = nn.Dropout(0.1)  # noqa\n"                  # blanket: never reported
        "e = nn.Dropout(0.8)  # noqa: DC002, DC006\n"   # DC006 unused
        "f = nn.Dropout(0.1)  # noqa: DC002, DC017\n"   # DC017 silences itself
    )
    findings = [f for f in lint_text(source, ALL) if f.code == "DC017"]
    assert [(f.line, f.column) for f in findings] == [(3, 22), (6, 22)]
    assert "DC002 (no DC002 finding here)" in findings[0].message
    assert "DC006" in findings[1].message and "DC002" not in findings[1].message
    assert findings[0].name == "unused-noqa"
    assert (findings[0].end_line, findings[0].end_column) == (3, 35)


def test_unused_noqa_ignores_rules_that_did_not_run() -> None:
    source = "import torch.nn as nn\nb = nn.Dropout(0.1)  # noqa: DC002\n"
    dc017 = [r for r in ALL if r.code == "DC017"]
    assert codes_at(source, dc017) == []
    assert codes_at(source, ALL) == [(2, "DC017")]


def test_unused_noqa_is_preview_and_selectable(tmp_path: Path, run_dropcheck: Run) -> None:
    path = tmp_path / "m.py"
    path.write_text("import torch.nn as nn\nb = nn.Dropout(0.1)  # noqa: DC002\n")
    assert run_dropcheck(str(path)).returncode == 0
    result = run_dropcheck("--preview", "--format", "json", str(path))
    assert [item["code"] for item in json.loads(result.stdout)] == ["DC017"]
    result = run_dropcheck("--extend-select", "DC017", "--format", "json", str(path))
    assert [item["code"] for item in json.loads(result.stdout)] == ["DC017"]


# -- --add-noqa ------------------------------------------------------------------------------


def test_add_noqa_then_clean(tmp_path: Path, run_dropcheck: Run) -> None:
    source = (
        "import torch.nn as nn\n"
        "a = nn.Dropout(0.8)\n"
        "b = nn.Dropout(0.8)  # keep: legacy\n"
        "c = nn.Dropout(0.8)  # noqa: E501\n"
        "s = nn.Sequential(nn.Dropout(0.9), nn.Dropout(True))\n"
        "t = nn.Sequential(\n    nn.Dropout(0.7),\n)\n"
        "good = nn.Dropout(0.1)\n"
    )
    path = tmp_path / "m.py"
    path.write_text(source)
    before = run_dropcheck("--format", "json", str(path))
    assert len(json.loads(before.stdout)) == 6
    result = run_dropcheck("--add-noqa", str(path))
    assert result.returncode == 0, result.stderr
    assert "Added 5 noqa directives to 1 file." in result.stderr
    assert path.read_text() == (
        "import torch.nn as nn\n"
        "a = nn.Dropout(0.8)  # noqa: DC002\n"
        "b = nn.Dropout(0.8)  # keep: legacy  # noqa: DC002\n"
        "c = nn.Dropout(0.8)  # noqa: E501, DC002\n"
        "s = nn.Sequential(nn.Dropout(0.9), nn.Dropout(True))  # noqa: DC002, DC006\n"
        "t = nn.Sequential(\n    nn.Dropout(0.7),  # noqa: DC002\n)\n"
        "good = nn.Dropout(0.1)\n"
    )
    after = run_dropcheck("--preview", str(path))
    assert after.returncode == 0, after.stdout  # nothing left, and no unused directive either
    # Running it again adds nothing.
    again = run_dropcheck("--add-noqa", str(path))
    assert "Added 0 noqa directives" in again.stderr


def test_add_noqa_preserves_encoding_line_endings_and_mode(tmp_path: Path,
                                                         run_dropcheck: Run) -> None:
    text = ("# -*- coding: latin-1 -*-\r\nimport torch.nn as nn\r\n"
            "name = 'caf\u00e9'\r\nd = nn.Dropout(0.8)\rx = 1\n\x0c\ny = 2")
    path = tmp_path / "legacy.py"
    path.write_bytes(text.encode("latin-1"))
    os.chmod(path, 0o751)
    assert run_dropcheck("--add-noqa", str(path)).returncode == 0
    expected = text.replace("nn.Dropout(0.8)\r", "nn.Dropout(0.8)  # noqa: DC002\r")
    assert path.read_bytes() == expected.encode("latin-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    # A UTF-8 BOM stays.
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbfimport torch.nn as nn\nd = nn.Dropout(0.8)\n")
    assert run_dropcheck("--add-noqa", str(bom)).returncode == 0
    assert bom.read_bytes() == (b"\xef\xbb\xbfimport torch.nn as nn\n"
                                b"d = nn.Dropout(0.8)  # noqa: DC002\n")


def test_add_noqa_inside_multiline_string_goes_to_statement_end(tmp_path: Path,
                                                                run_dropcheck: Run) -> None:
    source = ('import torch.nn as nn\nx = (nn.Dropout(0.8), """\ntext\n""")\n'
              "y = nn.Dropout(0.8) + \\\n    1\n")
    path = tmp_path / "m.py"
    path.write_text(source)
    assert run_dropcheck("--add-noqa", str(path)).returncode == 0
    assert path.read_text() == ('import torch.nn as nn\nx = (nn.Dropout(0.8), """\ntext\n""")'
                                "  # noqa: DC002\ny = nn.Dropout(0.8) + \\\n    1  # noqa: DC002\n")
    assert run_dropcheck(str(path)).returncode == 0


def test_add_noqa_leaves_broken_files_alone(tmp_path: Path, run_dropcheck: Run) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import torch.nn as nn\nnn.Dropout(0.8)\nx = (\n")
    result = run_dropcheck("--add-noqa", str(broken))
    assert result.returncode == 2
    assert broken.read_text() == "import torch.nn as nn\nnn.Dropout(0.8)\nx = (\n"


def test_unused_noqa_fix_is_safe_and_removes_only_the_unused_codes(tmp_path: Path,
                                                                   run_dropcheck: Run) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(
        b"import torch.nn as nn\r\n"
        b"a = nn.Dropout(0.1)  # noqa: DC002\r\n"
        b"b = nn.Dropout(0.8)  # noqa: DC002, DC006\r\n"
        b"c = nn.Dropout(0.1)  # why: old  # noqa: DC002\r\n"
        b"d = nn.Dropout(0.1)  # noqa: DC002 -- reviewed\r\n"
        b"e = nn.Dropout(0.1)  # noqa: E501, DC002\r\n"
    )
    data = json.loads(run_dropcheck("--preview", "--format", "json", str(path)).stdout)
    fixes = {item["line"]: item["fix"] for item in data}
    assert fixes[5] is None  # the comment goes on after the codes: left to the author
    assert {fix["applicability"] for line, fix in fixes.items() if line != 5} == {"safe"}
    result = run_dropcheck("--preview", "--fix", str(path))
    assert result.returncode == 1  # line 5 remains
    assert path.read_bytes() == (
        b"import torch.nn as nn\r\n"
        b"a = nn.Dropout(0.1)\r\n"
        b"b = nn.Dropout(0.8)  # noqa: DC002\r\n"
        b"c = nn.Dropout(0.1)  # why: old\r\n"
        b"d = nn.Dropout(0.1)  # noqa: DC002 -- reviewed\r\n"
        b"e = nn.Dropout(0.1)  # noqa: E501\r\n"
    )


#: Statements random files are made of; several report DC002/DC006, some span lines.
PIECES = [
    "a = nn.Dropout(0.8)", "b = nn.Dropout(True)", "c = nn.Dropout(0.1)", "x = 1  # a comment",
    "d = nn.Dropout(0.9)  # noqa: E501", "s = '''\nnn.Dropout(0.9)\n'''",
    "t = (nn.Dropout(0.7), '''\ntext\n''')", "u = nn.Dropout(0.6) + \\\n    0",
    "m = nn.Sequential(\n    nn.Linear(2, 2),\n    nn.Dropout(0.95),\n)",
    "def f():\n    return nn.Dropout(0.99)", "\x0c", "name = 'caf\u00e9'",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=8),
       newline=st.sampled_from(["\n", "\r\n", "\r"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
def test_add_noqa_property(tmp_path: Path, pieces: list[str], newline: str,
                           encoding: str) -> None:
    """After --add-noqa nothing is reported, and only lines that got a directive changed."""
    header = "# -*- coding: latin-1 -*-\n" if encoding == "latin-1" else ""
    text = (header + "import torch.nn as nn\n" + "\n".join(pieces) + "\n").replace("\n", newline)
    path = tmp_path / "m.py"
    path.write_bytes(text.encode(encoding))
    options = LintOptions(rules=list(all_rules()))
    before = lint_path(str(path), options)
    # The engine cannot yet read a coding cookie in a file with lone-CR line ends (LibCST's
    # encoding detection reads "lines" up to a \n): a DC000 file is left alone, nothing to test.
    assume(all(f.code != "DC000" for f in before))
    add_noqa(before)
    after = path.read_bytes().decode(encoding)
    assert lint_path(str(path), options) == []
    old_lines, new_lines = text.split(newline), after.split(newline)
    assert len(old_lines) == len(new_lines)
    for old, new in zip(old_lines, new_lines, strict=True):
        assert new == old or (new.startswith(old) and "# noqa: DC" in new[len(old):]) or (
            "# noqa: E501, DC" in new and new.replace(", DC002", "").replace(", DC006", "")
            == old)
