"""Issue 15, part 4: faults found by hostile inputs, each through a real subprocess of the
installed `dropcheck`: file names that are not valid UTF-8 in every output format, the
per-file time limit with ``--jobs 1``, lone-CR files with a coding cookie, form feeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import Run, _dropcheck_command, write

BAD = b"import torch.nn as nn\nlayer = nn.Dropout(p=1.5)\n"
#: A name no UTF-8 decoder accepts (Python hands it over as "bad\udcff.py").
NAME = b"bad\xff.py"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names are bytes")


def _strict_env() -> dict[str, str]:
    # A UTF-8 locale with strict encoding of stdout, as on a developer's machine (the C locale
    # would let surrogates through by accident).
    env = dict(os.environ, LC_ALL="C.UTF-8", PYTHONUTF8="0", PYTHONIOENCODING="utf-8:strict")
    env.pop("NO_COLOR", None)
    return env


@pytest.fixture
def odd_name(tmp_path: Path) -> Path:
    with open(os.path.join(os.fsencode(tmp_path), NAME), "wb") as handle:
        handle.write(BAD)
    return tmp_path


@pytest.mark.parametrize("output_format", ["text", "concise", "json", "sarif", "github",
                                           "junit"])
@pytest.mark.parametrize("to_file", [False, True], ids=["stdout", "output-file"])
def test_every_format_survives_a_non_utf8_file_name(
    odd_name: Path, output_format: str, to_file: bool
) -> None:
    extra = ["-o", "report.out"] if to_file else []
    # Bytes: the text formats print the name's own bytes, which no decoder would accept.
    result = subprocess.run([*_dropcheck_command(), "--no-cache", "--format", output_format,
                             *extra, "."], cwd=odd_name, env=_strict_env(), capture_output=True,
                            stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 1, result.stderr
    assert b"Traceback" not in result.stderr
    report = (odd_name / "report.out").read_bytes() if to_file else result.stdout
    if output_format in ("text", "concise"):
        # The name's own bytes, as `ls` prints them.
        assert b"./" + NAME + b":2:9: DC006" in report
        return
    text = report.decode("utf-8")  # the other formats must be valid UTF-8
    if output_format == "json":
        (finding,) = json.loads(text)
        assert os.fsencode(finding["path"]) == b"./" + NAME  # the escape gives the bytes back
    elif output_format == "sarif":
        (result_,) = json.loads(text)["runs"][0]["results"]
        location = result_["locations"][0]["physicalLocation"]["artifactLocation"]
        assert location["uri"] == "bad%FF.py"
    elif output_format == "github":
        assert "file=./bad\\xff.py,line=2" in text
    else:
        suite = ET.fromstring(text.split("\n", 1)[1]).find("testsuite")
        assert suite is not None and suite.get("name") == "./bad\\xff.py"


def test_statistics_and_cache_survive_a_non_utf8_file_name(odd_name: Path,
                                                           run_dropcheck: Run) -> None:
    for _ in range(2):  # cold, then from the cache
        result = run_dropcheck("--format", "json", "--statistics", ".", cwd=odd_name,
                               env=_strict_env())
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert json.loads(result.stdout)[0]["code"] == "DC006"


def _chain(terms: int) -> str:
    # LibCST's parser is super-linear on long operator chains (~6 s for 4,000 terms here,
    # ~24 s on a busy 2-core machine) and holds the GIL meanwhile.
    return ("import torch.nn as nn\nlayer = nn.Dropout(p=0.5)\nx = "
            + " + ".join(["a"] * terms) + "\n")


@pytest.mark.parametrize("target", ["folder", "one-file"])
def test_file_time_limit_holds_with_jobs_1(tmp_path: Path, run_dropcheck: Run,
                                           target: str) -> None:
    write(tmp_path / "slow.py", _chain(6000))
    write(tmp_path / "good.py", BAD)
    paths = ["."] if target == "folder" else ["slow.py"]
    result = run_dropcheck("--no-cache", "--jobs", "1", "--file-timeout", "1", "--format",
                           "json", *paths, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    found = {(f["path"].removeprefix("./"), f["code"]): f for f in json.loads(result.stdout)}
    slow = found[("slow.py", "DC000")]
    assert "took longer than 1 s" in slow["message"]
    if target == "folder":
        assert ("good.py", "DC006") in found  # the rest of the run goes on


@pytest.mark.parametrize("eol", [b"\r", b"\r\n", b"\n"])
def test_lone_cr_file_with_a_coding_cookie(tmp_path: Path, run_dropcheck: Run,
                                           eol: bytes) -> None:
    lines = [b"# -*- coding: latin-1 -*-", b"import torch.nn as nn", b"name = '\xe9t\xe9'",
             b"layer = nn.Dropout(p=1.5)", b""]
    write(tmp_path / "latin.py", eol.join(lines))
    result = run_dropcheck("--no-cache", "--format", "json", "latin.py", cwd=tmp_path)
    assert [(f["code"], f["line"], f["column"]) for f in json.loads(result.stdout)] == [
        ("DC006", 4, 9)], result.stdout


@pytest.mark.parametrize("prefix", ["\x0c", "\x0c\x0c", "\x0c  \x0c", " \x0c"])
def test_columns_on_a_line_that_starts_with_a_form_feed(tmp_path: Path, run_dropcheck: Run,
                                                         prefix: str) -> None:
    write(tmp_path / "ff.py", f"import torch.nn as nn\n{prefix}layer = nn.Dropout(p=1.5)\n")
    result = run_dropcheck("--no-cache", "--format", "json", "ff.py", cwd=tmp_path)
    (finding,) = json.loads(result.stdout)
    column = len(prefix) + len("layer = ") + 1
    assert (finding["line"], finding["column"], finding["end_column"]) == (
        2, column, column + len("nn.Dropout(p=1.5)"))
