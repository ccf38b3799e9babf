"""The CLI contract, through a real subprocess of the installed `dropcheck`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Run, write

BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.8)\n"
GOOD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.1)\n"
KEYS = {"code", "name", "path", "line", "column", "end_line", "end_column", "message"}




def no_traceback(result) -> None:  # type: ignore[no-untyped-def]
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_exit_0_when_clean(tmp_path: Path, run_dropcheck: Run) -> None:
    result = run_dropcheck(str(write(tmp_path / "good.py", GOOD)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed!" in result.stdout


def test_exit_1_with_findings_and_text_format(tmp_path: Path, run_dropcheck: Run) -> None:
    path = write(tmp_path / "bad.py", BAD)
    result = run_dropcheck(str(path))
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{path}:3:9: DC002 [high-dropout-rate] ")
    assert result.stdout.splitlines()[-1] == "Found 1 finding in 1 file."


def test_json_keys_and_one_based_columns(tmp_path: Path, run_dropcheck: Run) -> None:
    path = write(tmp_path / "bad.py", BAD)
    result = run_dropcheck("--format", "json", str(path))
    assert result.returncode == 1
    data = json.loads(result.stdout)  # exactly one JSON document
    assert isinstance(data, list) and len(data) == 1
    item = data[0]
    assert set(item) >= KEYS
    assert (item["code"], item["name"], item["path"]) == ("DC002", "high-dropout-rate", str(path))
    # `nn.Dropout(0.8)` spans columns 9..23 (1-based), end exclusive as ruff.
    assert (item["line"], item["column"], item["end_line"], item["end_column"]) == (3, 9, 3, 24)


def test_json_empty_array_when_clean(tmp_path: Path, run_dropcheck: Run) -> None:
    result = run_dropcheck("--format", "json", str(write(tmp_path / "good.py", GOOD)))
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_folders_are_walked_and_paths_reported_as_walked(
    tmp_path: Path, run_dropcheck: Run
) -> None:
    write(tmp_path / "pkg" / "bad.py", BAD)
    write(tmp_path / "pkg" / ".venv" / "lib" / "bad.py", BAD)
    write(tmp_path / "pkg" / "__pycache__" / "bad.py", BAD)
    write(tmp_path / "pkg" / ".git" / "bad.py", BAD)
    write(tmp_path / "pkg" / "env" / "pyvenv.cfg", "home = /usr\n")
    write(tmp_path / "pkg" / "env" / "bad.py", BAD)
    write(tmp_path / "pkg" / "notes.txt", BAD)
    result = run_dropcheck("--format", "json", "pkg", cwd=tmp_path)
    assert [item["path"] for item in json.loads(result.stdout)] == [os.path.join("pkg", "bad.py")]


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("syntax.py", "def f(:\n    pass\n", 1),
        ("undecodable.py", b"x = '\xff\xfe\xfa'\n", 1),
        ("nul.py", b"import torch\x00\n", 1),
        ("python2.py", "print 'hello'\n", 1),
    ],
)
def test_unanalysable_file_is_dc000_and_others_still_reported(
    tmp_path: Path, run_dropcheck: Run, name: str, content: str | bytes, line: int
) -> None:
    broken = write(tmp_path / name, content)
    bad = write(tmp_path / "z_bad.py", BAD)
    result = run_dropcheck("--format", "json", str(broken), str(bad))
    no_traceback(result)
    assert result.returncode == 2
    data = json.loads(result.stdout)
    codes = {(item["path"], item["code"]) for item in data}
    assert codes == {(str(broken), "DC000"), (str(bad), "DC002")}
    dc000 = next(item for item in data if item["code"] == "DC000")
    assert dc000["name"] == "file-not-analysed" and dc000["line"] == line
    assert "\n" not in dc000["message"]


def test_directory_named_like_a_file_and_missing_file(tmp_path: Path, run_dropcheck: Run) -> None:
    (tmp_path / "x.py").mkdir()
    result = run_dropcheck("--format", "json", str(tmp_path / "x.py"), str(tmp_path / "nope.py"))
    no_traceback(result)
    assert result.returncode == 2
    assert [item["code"] for item in json.loads(result.stdout)] == ["DC000", "DC000"]


def test_dc000_survives_select_and_ignore(tmp_path: Path, run_dropcheck: Run) -> None:
    broken = write(tmp_path / "syntax.py", "import torch.nn as nn\nnn.Dropout(0.9\n")
    for flags in (["--select", "DC006"], ["--ignore", "ALL"], ["--ignore", "DC000"]):
        result = run_dropcheck("--format", "json", *flags, str(broken))
        assert result.returncode == 2, flags
        assert [item["code"] for item in json.loads(result.stdout)] == ["DC000"], flags


def test_syntax_error_line_is_reported(tmp_path: Path, run_dropcheck: Run) -> None:
    broken = write(tmp_path / "late.py", "x = 1\ny = 2\nz = (\n")
    data = json.loads(run_dropcheck("--format", "json", str(broken)).stdout)
    assert data[0]["code"] == "DC000" and data[0]["line"] >= 3


def test_select_and_ignore_by_code_and_prefix(tmp_path: Path, run_dropcheck: Run) -> None:
    path = write(tmp_path / "both.py", "import torch.nn as nn\nnn.Dropout(0.8)\nnn.Dropout(True)\n")

    def codes(*flags: str) -> list[str]:
        result = run_dropcheck("--format", "json", *flags, str(path))
        return sorted(item["code"] for item in json.loads(result.stdout))

    assert codes() == ["DC002", "DC006"]
    assert codes("--select", "DC002") == ["DC002"]
    assert codes("--select", "DC00", "--ignore", "DC006") == ["DC002"]
    assert codes("--select", "ALL", "--ignore", "DC0") == []
    assert codes("--ignore", "high-dropout-rate") == ["DC006"]


def test_unknown_selector_is_usage_error(tmp_path: Path, run_dropcheck: Run) -> None:
    result = run_dropcheck("--select", "DC999", str(write(tmp_path / "good.py", GOOD)))
    assert result.returncode == 2
    no_traceback(result)
    assert "DC999" in result.stderr


def test_usage_errors_exit_2(run_dropcheck: Run) -> None:
    assert run_dropcheck().returncode == 2
    assert run_dropcheck("--format", "yaml", ".").returncode == 2
    assert run_dropcheck("--no-such-flag", ".").returncode == 2


def test_rule_docs(run_dropcheck: Run) -> None:
    result = run_dropcheck("rule", "DC002")
    assert result.returncode == 0
    sections = ("high-dropout-rate", "## What it does", "## Why is this bad?", "## Use instead")
    for section in sections:
        assert section in result.stdout
    listing = run_dropcheck("rule", "--all")
    assert listing.returncode == 0 and "DC002" in listing.stdout and "DC006" in listing.stdout
    unknown = run_dropcheck("rule", "DC999")
    assert unknown.returncode == 2


def test_python_dash_m(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(tmp_path / "bad.py", BAD)
    result = subprocess.run([sys.executable, "-m", "dropcheck", str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1 and "DC002" in result.stdout


def test_linter_never_imports_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(tmp_path / "bad.py", BAD)
    code = (
        "import sys\nfrom dropcheck.cli import main\n"
        "try:\n    main([sys.argv[1]])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'the linter imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_explicit_folder_inside_excluded_folder_is_linted(
    tmp_path: Path, run_dropcheck: Run
) -> None:
    # Users point dropcheck at installed code (`.venv/.../site-packages/pkg`); excludes apply
    # to what a walk discovers below the given folder, not to the folder the user named.
    write(tmp_path / ".gitignore", ".venv/\n")
    (tmp_path / ".git").mkdir()
    target = tmp_path / ".venv" / "lib" / "site-packages" / "pkg"
    write(target / "bad.py", BAD)
    for given in (str(target), os.path.relpath(target, tmp_path)):
        result = run_dropcheck("--format", "json", given, cwd=tmp_path)
        assert result.returncode == 1, (given, result.stdout, result.stderr)
        assert len(json.loads(result.stdout)) == 1
