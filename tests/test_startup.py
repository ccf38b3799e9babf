"""Issue 14: start-up. `dropcheck --version`, `--help` and a run on files that no rule can match
import neither LibCST nor a rule module nor the analysis (they cost most of a one-file run);
the rule catalog those runs read instead (dropcheck/rules/catalog.py) matches the rule classes.

Structural checks only (which modules a real process imported), never timings: the machines
these tests run on are shared and noisy. bench/speed.py measures the time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dropcheck.engine import LintOptions, lint_light, lint_source
from dropcheck.rules import all_rules, catalog, rule_info, select_infos, select_rules
from tests.conftest import write

#: Runs dropcheck's console entry point in a fresh interpreter, then reports on stderr the
#: modules that only a LibCST parse needs.
PROBE = """
import sys
from dropcheck.entry import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
# the project layout (where an import leads) is light: the byte pre-filter of a cross-file
# rule asks it whether the file imports a module of its project
light = ("dropcheck.analysis", "dropcheck.analysis.layout", "dropcheck.rules.catalog")
heavy = sorted(name for name in sys.modules
               if name.split(".")[0] in ("libcst", "torch")
               or (name.startswith(("dropcheck.analysis", "dropcheck.cst_pass", "dropcheck.fix",
                                    "dropcheck.rules.")) and name not in light))
sys.stderr.write("\\nHEAVY " + " ".join(heavy) + "\\n")
"""

#: No rule's pre-filter tokens: nothing in it can need a parse.
UNMATCHED = "import os\n\n\ndef join(a, b):\n    return os.path.join(a, b)  # noqa: E501\n"
MATCHED = "import torch.nn as nn\n\nlayer = nn.Dropout(p=0.9)\n"


def heavy_modules(*args: str, cwd: Path) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    line = result.stderr.rstrip("\n").rsplit("\n", 1)[-1]
    assert line.startswith("HEAVY"), result.stderr[-2000:]
    return line.split()[1:], result


@pytest.mark.parametrize("args", [
    ["--version"],
    ["--help"],
    ["--no-cache", "plain.py"],
    ["plain.py"],  # with the cache: written the first time, read the second
    ["plain.py"],
    ["--no-cache", "--format", "json", "--statistics", "plain.py"],
    ["--no-cache", "--format", "junit", "plain.py"],
    ["--no-cache", "--select", "ALL", "--preview", "plain.py", "other.py"],
    ["--no-cache", "--ignore", "DC002", "--show-settings", "plain.py"],
    ["--no-cache", "-"],
], ids=["version", "help", "file", "cache-cold", "cache-warm", "json-statistics", "junit",
        "preview-two-files", "show-settings", "stdin"])
def test_no_libcst_nor_rules_when_no_file_needs_them(tmp_path: Path, args: list[str]) -> None:
    write(tmp_path / "plain.py", UNMATCHED)
    write(tmp_path / "other.py", "x = 1\n")
    # options of a rule, validated against the catalog (not the rule's class)
    write(tmp_path / "pyproject.toml", "[tool.dropcheck]\nextend-select = ['DC0']\n"
                                       "[tool.dropcheck.DC002]\nmax-rate = 0.6\n")
    heavy, result = heavy_modules(*args, cwd=tmp_path)
    assert heavy == [], heavy
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    if "--version" in args:
        assert "dropcheck, version" in result.stdout


#: Some rules' tokens ("data", "load", "eval"), but no model: the sketch stage decides.
TOKENS_ONLY = ("import json\n\n\ndef load(path):\n    with open(path) as f:\n"
               "        data = json.load(f)\n    return data['eval']\n")
#: What the sketch stage may import (CPython's tree and names only).
SKETCH_STAGE = {"dropcheck.analysis.sketch", "dropcheck.analysis.torch_api",
                "dropcheck.analysis.mode_api", "dropcheck.analysis.library",
                "dropcheck.rules.prefilter"}


@pytest.mark.parametrize("args", [["--no-cache", "helpers.py"],
                                  ["--no-cache", "helpers.py", "plain.py"]],
                         ids=["one-file", "two-files"])
def test_no_libcst_nor_rules_when_the_sketch_rules_a_file_out(tmp_path: Path,
                                                               args: list[str]) -> None:
    """A file whose bytes pass some rule's tokens but that no rule can match (most files
    a pre-commit run is given): the rules' second stage (rules/prefilter.py) runs on the
    CPython sketch, without LibCST or a rule module."""
    write(tmp_path / "helpers.py", TOKENS_ONLY)
    write(tmp_path / "plain.py", UNMATCHED)
    heavy, result = heavy_modules(*args, cwd=tmp_path)
    assert "dropcheck.analysis.sketch" in heavy, "the sketch stage should have run"
    assert set(heavy) <= SKETCH_STAGE, sorted(set(heavy) - SKETCH_STAGE)
    assert "All checks passed" in result.stdout, result.stdout


def test_the_probe_sees_libcst_when_a_file_needs_it(tmp_path: Path) -> None:
    # The check above is only worth something if the probe can fail. Two files: a pool's
    # workers are forked after the parent imported what they need (one file is linted in
    # one forked child, which imports it there).
    write(tmp_path / "model.py", MATCHED)
    write(tmp_path / "other.py", MATCHED)
    heavy, result = heavy_modules("--no-cache", "model.py", "other.py", cwd=tmp_path)
    assert "libcst" in heavy and "dropcheck.rules.high_dropout_rate" in heavy
    assert "model.py" in result.stdout and "other.py" in result.stdout


def test_the_catalog_matches_the_rule_classes() -> None:
    # Stale after a rule changes its code, name, status, options or tokens, or a rule is
    # added: run `python -m dropcheck.rules`.
    text = Path(catalog.__file__).read_text(encoding="utf-8")
    assert catalog.regenerated(text, all_rules()) == text, "run `python -m dropcheck.rules`"
    assert [catalog.info_of(rule) for rule in all_rules()] == list(catalog.CATALOG)
    for info in catalog.CATALOG:
        assert info.load() is rule_info(info.code).load() is rule_info(info.name).load()  # type: ignore[union-attr]
        assert info.load().code == info.code


def test_the_catalog_command_reports_a_stale_table(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "dropcheck.rules", "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    stale = catalog.regenerated(Path(catalog.__file__).read_text(encoding="utf-8"),
                                all_rules()[:-1])
    assert stale != Path(catalog.__file__).read_text(encoding="utf-8")


@pytest.mark.parametrize(("select", "ignore", "preview"), [
    (None, (), False), (None, (), True), (["ALL"], ["DC00"], False), (["DC01"], ["DC013"], True),
    (["DC015"], (), False), (["dropout-on-output", "DC001"], ["DC0"], True),
])
def test_selection_by_catalog_is_selection_by_class(
    select: list[str] | None, ignore: tuple[str, ...], preview: bool
) -> None:
    assert [info.code for info in select_infos(select, ignore, preview=preview)] == \
        [rule.code for rule in select_rules(select, ignore, preview=preview)]


@pytest.mark.parametrize("source", [UNMATCHED, MATCHED, "x = (\n", "# noqa: DC002\nx = 1\n",
                                    "x = 1  # dropcheck: noqa\n"])
def test_the_light_path_agrees_with_the_engine(source: str) -> None:
    # Catalog entries and classes give the same findings, and the light path (no LibCST)
    # either declines or agrees.
    data = source.encode()
    by_info = LintOptions(rules=select_infos(["ALL"], preview=True))
    by_class = LintOptions(rules=list(all_rules()))
    expected = lint_source("a.py", data, by_class)
    assert lint_source("a.py", data, by_info) == expected
    light = lint_light("a.py", data, by_info)
    assert light is None or light == expected
    if source == UNMATCHED:
        assert light == []
