"""Issue 15, part 1: standard input (`dropcheck -`, `--stdin-filename PATH`), each through a
real subprocess of the installed `dropcheck`, as ruff and flake8 read it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import _dropcheck_command, write
from tests.test_hostile_inputs import assert_untouched, snapshot

#: Two findings: DC006 with an unsafe fix (`True` meant `inplace=True`), DC006 without one.
SOURCE = (b"import torch.nn as nn\nlayer = nn.Dropout(True)\n"
          b"other = nn.Dropout(p=1.5)\n")
FIXED = SOURCE.replace(b"nn.Dropout(True)", b"nn.Dropout(inplace=True)")


def piped(cwd: Path, *args: str, data: bytes = SOURCE) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*_dropcheck_command(), "--no-cache", *args], input=data,
                          capture_output=True, cwd=cwd, timeout=120)


def test_dash_lints_standard_input(tmp_path: Path) -> None:
    write(tmp_path / "-", "print('a file named -')\n")  # not read: `-` is standard input
    result = piped(tmp_path, "-")
    assert result.returncode == 1, result.stderr
    out = result.stdout.decode()
    assert out.startswith("-:2:9: DC006 [invalid-dropout-rate]")
    assert "2 | layer = nn.Dropout(True)" in out  # the excerpt comes from the piped source
    assert "-:3:9: DC006" in out and out.endswith("Found 2 findings in 1 file.\n")


def test_json_and_clean_input(tmp_path: Path) -> None:
    result = piped(tmp_path, "--format", "json", "-")
    found = json.loads(result.stdout)
    assert [(f["path"], f["line"], f["code"]) for f in found] == [("-", 2, "DC006"),
                                                                  ("-", 3, "DC006")]
    clean = piped(tmp_path, "-", data=b"import torch\n")
    assert clean.returncode == 0 and clean.stdout == b"All checks passed!\n"


def test_stdin_filename_picks_settings_per_file_ignores_and_names_the_output(
        tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.dropcheck]\nignore = []\n")
    write(tmp_path / "pkg" / "pyproject.toml",
          '[tool.dropcheck]\n[tool.dropcheck.per-file-ignores]\n"gen/*" = ["DC006"]\n')
    named = piped(tmp_path, "--format", "json", "--stdin-filename", "pkg/model.py")
    assert {f["path"] for f in json.loads(named.stdout)} == {"pkg/model.py"}
    ignored = piped(tmp_path, "--format", "json", "--stdin-filename", "pkg/gen/model.py")
    assert ignored.returncode == 0 and json.loads(ignored.stdout) == []
    # `-` with --stdin-filename is the same thing.
    same = piped(tmp_path, "--format", "json", "--stdin-filename", "pkg/gen/model.py", "-")
    assert json.loads(same.stdout) == []


def test_force_exclude_applies_to_the_stdin_filename(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.dropcheck]\nextend-exclude = ["legacy"]\n')
    linted = piped(tmp_path, "--stdin-filename", "legacy/old.py")
    assert linted.returncode == 1  # excludes apply to explicit names only when forced
    skipped = piped(tmp_path, "--force-exclude", "--stdin-filename", "legacy/old.py")
    assert skipped.returncode == 0 and skipped.stdout == b""
    passed = piped(tmp_path, "--force-exclude", "--fix", "--stdin-filename", "legacy/old.py")
    assert passed.returncode == 0 and passed.stdout == SOURCE  # --fix passes it through


def test_fix_prints_the_fixed_source_and_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path / "model.py", SOURCE)
    before = snapshot(tmp_path)
    result = piped(tmp_path, "--fix", "--unsafe-fixes", "--stdin-filename", "model.py")
    assert result.stdout == FIXED
    err = result.stderr.decode()
    assert "Fixed 1 finding in 1 file." in err
    assert "model.py:3:9: DC006" in err and "DC006" not in err.split("model.py:3:9")[0]
    assert result.returncode == 1  # a finding remains
    assert_untouched(before, snapshot(tmp_path), cache="")
    # Only safe fixes without --unsafe-fixes: the source comes back unchanged.
    unchanged = piped(tmp_path, "--fix", "-")
    assert unchanged.stdout == SOURCE and unchanged.returncode == 1


def test_fix_keeps_line_endings_and_encoding(tmp_path: Path) -> None:
    data = b"# -*- coding: latin-1 -*-\r\n# caf\xe9\r\n" + SOURCE.replace(b"\n", b"\r\n")
    result = piped(tmp_path, "--fix", "--unsafe-fixes", "-", data=data)
    assert result.stdout == data.replace(b"nn.Dropout(True)", b"nn.Dropout(inplace=True)")


def test_diff_prints_the_diff(tmp_path: Path) -> None:
    result = piped(tmp_path, "--diff", "--unsafe-fixes", "--stdin-filename", "m.py")
    assert result.returncode == 1
    assert result.stdout.decode().splitlines()[:2] == ["--- a/m.py", "+++ b/m.py"]
    assert "+layer = nn.Dropout(inplace=True)" in result.stdout.decode()
    assert b"Would fix 1 finding." in result.stderr


def test_notebook_on_standard_input(tmp_path: Path) -> None:
    notebook = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# title"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": ["%matplotlib inline\n", "import torch.nn as nn\n",
                    "layer = nn.Dropout(p=1.5)\n"]},
    ], "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    data = json.dumps(notebook).encode()
    result = piped(tmp_path, "--stdin-filename", "nb/train.ipynb", data=data)
    assert result.returncode == 1, result.stderr
    out = result.stdout.decode()
    assert out.startswith("nb/train.ipynb:cell 2:3:9: DC006")
    assert "3 | layer = nn.Dropout(p=1.5)" in out  # the cell's excerpt, from the piped bytes
    fixed = piped(tmp_path, "--fix", "--stdin-filename", "nb/train.ipynb", data=data)
    assert fixed.stdout == data  # notebooks are reported, not fixed


def test_syntax_error_is_dc000(tmp_path: Path) -> None:
    result = piped(tmp_path, "--format", "concise", "-", data=b"def f(:\n")
    assert result.returncode == 2
    assert result.stdout.decode().startswith("-:1:7: DC000 [file-not-analysed]")


def test_stdin_is_linted_alone(tmp_path: Path) -> None:
    write(tmp_path / "a.py", SOURCE)
    result = piped(tmp_path, "-", "a.py")
    assert result.returncode == 2 and b"linted alone" in result.stderr
    noqa = piped(tmp_path, "--add-noqa", "-")
    assert noqa.returncode == 2 and b"--add-noqa" in noqa.stderr
