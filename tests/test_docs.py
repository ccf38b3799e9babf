"""Issue 15, part 3: rule pages users can open (docs/rules/, generated from the rule docstrings
by `python -m dropcheck.docs`, checked in) and the `url` the outputs give for them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

from dropcheck.output.rules_info import REPOSITORY
from dropcheck.rules import all_rules
from dropcheck.runtime_codes import RUNTIME_CODES
from tests.conftest import Run, write

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "rules"
BAD = "import torch.nn as nn\nlayer = nn.Dropout(p=1.5)\n"


def _repository() -> str:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return str(tomllib.load(handle)["project"]["urls"]["Homepage"]).rstrip("/")


def _docs_command(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dropcheck.docs", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_checked_in_pages_are_current() -> None:
    result = _docs_command("--check")
    assert result.returncode == 0, (
        f"{result.stderr}\nthe rule pages are stale: run `python -m dropcheck.docs`")


def test_a_stale_page_is_named_and_regenerated(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(DOCS, folder)
    (folder / "DC006.md").write_text("old text\n", encoding="utf-8")
    (folder / "DC999.md").write_text("a rule that no longer exists\n", encoding="utf-8")
    (folder / "DC002.md").unlink()
    check = _docs_command("--check", "--folder", str(folder))
    assert check.returncode == 1
    named = {Path(line.split()[1]).name for line in check.stderr.splitlines()}
    assert named == {"DC002.md", "DC006.md", "DC999.md"}
    assert _docs_command("--folder", str(folder)).returncode == 0
    assert _docs_command("--check", "--folder", str(folder)).returncode == 0
    assert not (folder / "DC999.md").exists()


def test_every_code_has_a_page_and_an_index_row() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    codes = ["DC000", *(rule.code for rule in all_rules()), *(c.code for c in RUNTIME_CODES)]
    for code in codes:
        page = (DOCS / f"{code}.md").read_text(encoding="utf-8")
        assert f"({code})" in page.splitlines()[2]
        assert f"| [{code}]({code}.md) |" in index
    for rule in all_rules():
        row = next(line for line in index.splitlines() if line.startswith(f"| [{rule.code}]"))
        status, fix = row.split(" | ")[3], row.split(" | ")[5].rstrip(" |")
        assert status == ("preview" if rule.preview else "stable")
        assert fix == ("yes" if "## Fix safety" in rule.documentation() else "no")
        # The page carries the docstring, the text `dropcheck rule CODE` prints.
        assert rule.documentation().strip() in (DOCS / f"{rule.code}.md").read_text("utf-8")


def test_fallback_repository_is_the_one_in_pyproject() -> None:
    assert _repository() == REPOSITORY


def test_json_and_sarif_urls_point_at_the_pages(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "a.py", BAD)
    base = f"{_repository()}/blob/main/docs/rules"
    found = json.loads(run_dropcheck("--format", "json", "a.py", cwd=tmp_path).stdout)
    assert found[0]["url"] == f"{base}/DC006.md"
    assert (DOCS / "DC006.md").is_file()  # the page the URL names is checked in
    sarif = json.loads(run_dropcheck("--format", "sarif", "a.py", cwd=tmp_path).stdout)
    rules = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["DC006"]["helpUri"] == f"{base}/DC006.md"
    assert rules["DC000"]["helpUri"] == f"{base}/DC000.md"
    stats = json.loads(run_dropcheck("--format", "json", "--statistics", "a.py",
                                     cwd=tmp_path).stdout)
    assert stats[0]["url"] == f"{base}/DC006.md"


def test_docs_url_from_the_configuration(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "pyproject.toml", '[tool.dropcheck]\ndocs-url = "https://docs.example.org/dc/"\n')
    write(tmp_path / "a.py", BAD)
    found = json.loads(run_dropcheck("--format", "json", "a.py", cwd=tmp_path).stdout)
    assert found[0]["url"] == "https://docs.example.org/dc/DC006.md"
    piped = subprocess.run([*_command(), "--format", "json", "--stdin-filename", "a.py"],
                           input=BAD, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert json.loads(piped.stdout)[0]["url"] == "https://docs.example.org/dc/DC006.md"
    write(tmp_path / "pyproject.toml", "[tool.dropcheck]\ndocs-url = 3\n")
    broken = run_dropcheck("a.py", cwd=tmp_path)
    assert broken.returncode == 2 and "docs-url" in broken.stderr


def _command() -> list[str]:
    from tests.conftest import _dropcheck_command

    return _dropcheck_command()
