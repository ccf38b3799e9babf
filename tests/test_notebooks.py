"""Jupyter notebooks: code cells linted as one program, magics neutralised, findings carry the
cell and a cell-relative line in every format; a broken notebook is a DC000."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dropcheck.engine import LintOptions, lint_path
from dropcheck.notebook import Cell, cell_source_lines, neutralise, to_program
from dropcheck.rules import all_rules
from tests.conftest import Run, write


def notebook(*cells: tuple[str, str], language: str | None = "python") -> str:
    metadata = {"language_info": {"name": language}} if language else {}
    return json.dumps({
        "cells": [
            {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
             **({"outputs": [], "execution_count": None} if kind == "code" else {})}
            for kind, source in cells
        ],
        "metadata": metadata, "nbformat": 4, "nbformat_minor": 5,
    }, indent=1)


FLOW = notebook(
    ("markdown", "# Training a classifier\n"),
    ("code", "%matplotlib inline\n!pip install torch\nimport torch\nimport torch.nn as nn\n"),
    ("code", "files = !ls data\n%time x = 1\nmodel = nn.Sequential(\n    nn.Linear(4, 4),\n"
             "    nn.Dropout(0.9),\n)\n"),
    ("markdown", "Evaluate:"),
    ("code", "model?\nmodel.load_state_dict(torch.load('w.pt'))\nwith torch.no_grad():\n"
             "    y = model(x)\n"),
    ("code", "%%bash\necho 'nn.Dropout(0.9)' > x.txt\n"),
)


#: Lines random notebooks are made of: Python, IPython-only syntax, and broken code.
LINES = [
    "import torch", "import torch.nn as nn", "m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.9))",
    "with torch.no_grad():", "    y = m(x)", "    %time m(x)", "%matplotlib inline", "!pip list",
    "files = !ls", "m?", "%%bash", "%%time", "x = (", ")", "def f():", "    return 1",
    "s = '''", "'''", "m.eval()", "nn.Dropout(True)  # noqa: DC006", "\t", "if x:", "    pass",
    "a = 1\x0cb = nn.Dropout(0.9)", "y = 2\r", "z = nn.Dropout(True)\r\nw = 3",
]




def test_cells_are_one_program_and_findings_map_to_cells(tmp_path: Path) -> None:
    path = write(tmp_path / "train.ipynb", FLOW)
    findings = lint_path(str(path), LintOptions(rules=list(all_rules())))
    got = sorted((f.code, f.cell, f.line, f.column) for f in findings)
    # DC002 in cell 3, line 5; DC001: the model built in cell 3 runs under no_grad in cell 5
    # without eval() (only detectable when the cells are one flow).
    assert ("DC002", 3, 5, 5) in got
    assert ("DC001", 5, 4, 9) in got
    assert all(code != "DC000" for code, *_ in got), got
    # Nothing from the %%bash cell.
    assert all(cell != 6 for _, cell, *_ in got)


def test_text_json_sarif_github_junit_carry_the_cell(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "nb.ipynb", FLOW)
    text = run_dropcheck("--select", "DC002", "nb.ipynb", cwd=tmp_path)
    assert text.returncode == 1
    lines = text.stdout.splitlines()
    assert lines[0].startswith("nb.ipynb:cell 3:5:5: DC002 [high-dropout-rate] ")
    assert "5 |     nn.Dropout(0.9)," in lines  # the excerpt comes from the cell
    data = json.loads(run_dropcheck("--select", "DC002", "--format", "json", "nb.ipynb",
                                    cwd=tmp_path).stdout)
    assert [(d["cell"], d["line"], d["column"], d["end_line"]) for d in data] == [(3, 5, 5, 5)]
    sarif = json.loads(run_dropcheck("--select", "DC002", "--format", "sarif", "nb.ipynb",
                                     cwd=tmp_path).stdout)
    result = sarif["runs"][0]["results"][0]
    assert result["properties"]["cell"] == 3
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    github = run_dropcheck("--select", "DC002", "--format", "github", "nb.ipynb",
                           cwd=tmp_path).stdout
    assert "line=5," in github and "::cell 3, line 5: DC002" in github
    junit = ET.fromstring(run_dropcheck("--select", "DC002", "--format", "junit", "nb.ipynb",
                                        cwd=tmp_path).stdout)
    case = junit.find("testsuite/testcase")
    assert case is not None and "nb.ipynb:cell 3:5:5" in (case.get("name") or "")


def test_noqa_in_a_cell(tmp_path: Path, run_dropcheck: Run) -> None:
    path = write(tmp_path / "nb.ipynb", notebook(
        ("code", "import torch.nn as nn\nd = nn.Dropout(0.9)  # noqa: DC002\n")))
    assert run_dropcheck(str(path)).returncode == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('{"cells": 3}', "no list of cells"),
        ('{"cells": [{"cell_type": "code", "source": 7}]}', "cell 1"),
        ("[]", "no list of cells"),
    ],
)
def test_broken_notebook_is_dc000(tmp_path: Path, run_dropcheck: Run, content: str,
                                  reason: str) -> None:
    write(tmp_path / "broken.ipynb", content)
    write(tmp_path / "z.py", "import torch.nn as nn\nnn.Dropout(0.9)\n")
    result = run_dropcheck("--format", "json", ".", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert [d["code"] for d in data] == ["DC000", "DC002"]
    assert reason in data[0]["message"]


def test_syntax_error_in_a_cell_is_dc000_at_that_cell(tmp_path: Path) -> None:
    path = write(tmp_path / "nb.ipynb", notebook(("code", "x = 1\n"), ("code", "y = 2\nz = (\n")))
    findings = lint_path(str(path), LintOptions(rules=list(all_rules())))
    assert [(f.code, f.cell) for f in findings] == [("DC000", 2)]


def test_other_languages_and_empty_notebooks_are_skipped(tmp_path: Path) -> None:
    r_nb = write(tmp_path / "r.ipynb", notebook(("code", "x <- nn.Dropout(0.9)\n"), language="R"))
    empty = write(tmp_path / "e.ipynb", notebook(("markdown", "nothing")))
    options = LintOptions(rules=list(all_rules()))
    assert lint_path(str(r_nb), options) == [] and lint_path(str(empty), options) == []


def test_neutralise_keeps_line_count_and_python() -> None:
    source = ("%load_ext autoreload\n!ls -la \\\n   more\nfiles = !ls\na, b = %sx echo\n"
              "obj?\n??obj\nif True:\n    %time f()\ns = '''\n!not a magic\n'''\n"
              "x = (1\n%2)\nprint(x)  # really?\n")
    lines = neutralise(source)
    assert len(lines) == len(source.splitlines())
    compile("\n".join(lines), "<cell>", "exec")
    assert lines[10] == "!not a magic"  # inside a string: untouched
    assert lines[13] == "%2)"  # a continuation line, not a magic
    assert lines[3] == "files = None" and lines[4] == "a, b = None"
    assert neutralise("%%writefile x.py\nimport os\n") == ["", ""]
    assert neutralise("%%time\nimport os\n") == ["pass", "import os"]
    # magics without `%` (IPython's automagic), only where the line is not Python
    assert neutralise("ls /content/checkpoints/\ncd data\npip install timm\n") == [
        "pass", "pass", "pass"]
    assert neutralise("cat = 3\nrun(model)\nls\n") == ["cat = 3", "run(model)", "ls"]
    opened = "system = System(model=model,\n               optimizer=optimizer)\n"
    assert neutralise(opened) == opened.splitlines()  # a statement going on below


def test_program_line_map() -> None:
    program = to_program([Cell(2, "a = 1\nb = 2"), Cell(4, "c = 3\n")])
    assert program.source == "a = 1\nb = 2\nc = 3\n"
    assert program.lines == ((2, 1), (2, 2), (4, 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["code", "markdown", "raw"]),
                          st.lists(st.sampled_from(LINES), max_size=6)), max_size=5))
def test_any_notebook_is_linted_without_crashing(cells: list[tuple[str, list[str]]]) -> None:
    """Random cells of Python, IPython syntax and junk: never an exception, line counts kept,
    and every finding points into an existing code cell."""
    import tempfile

    sources = [(kind, "".join(line + "\n" for line in lines)) for kind, lines in cells]
    for kind, source in sources:
        if kind == "code":
            assert len(neutralise(source)) == len(cell_source_lines(source))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "nb.ipynb"
        path.write_text(notebook(*sources))
        findings = lint_path(str(path), LintOptions(rules=list(all_rules())))
    line_counts = {i: len(cell_source_lines(src)) for i, (kind, src) in enumerate(sources, start=1)
                   if kind == "code"}
    for finding in findings:
        assert finding.cell in line_counts, finding
        assert 1 <= finding.line <= max(line_counts[finding.cell], 1), finding


def test_uniformly_indented_cell_is_dedented_as_ipython_does(tmp_path: Path) -> None:
    # every line of the cell starts with one space: IPython strips it and runs the cell
    source = notebook(
        ("code", "import torch\nimport torch.nn as nn\n"),
        ("code", " model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.9), nn.Linear(4, 2))\n"
                 " for p in model.parameters():\n"
                 "     p.requires_grad_(False)\n"),
    )
    path = write(tmp_path / "indented.ipynb", source)
    findings = lint_path(str(path), LintOptions(rules=list(all_rules())))
    got = sorted((f.code, f.cell, f.line, f.column) for f in findings)
    # the rate in the indented cell, at its column in the cell as written (after the space)
    assert got == [("DC002", 2, 1, 41)]


def test_one_unparsable_cell_costs_only_that_cell(tmp_path: Path) -> None:
    source = notebook(
        ("code", "import torch\nimport torch.nn as nn\n"),
        ("markdown", "Exercise: choose a learning rate"),
        ("code", "lr = \n"),
        ("code", "model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.9), nn.Linear(4, 2))\n"),
    )
    path = write(tmp_path / "exercise.ipynb", source)
    findings = lint_path(str(path), LintOptions(rules=list(all_rules())))
    got = sorted((f.code, f.cell, f.line) for f in findings)
    assert got == [("DC000", 3, 1), ("DC002", 4, 1)]
    broken = next(f for f in findings if f.code == "DC000")
    assert broken.message.startswith("cell 3 not analysed (the other cells are): syntax error")
