"""Parallelism and the cache never change findings; the cache is never trusted blindly."""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import dropcheck.cache as cache_module
import dropcheck.engine as engine
from dropcheck.cache import Cache, open_cache, settings_key
from dropcheck.engine import LintOptions
from dropcheck.findings import Finding
from dropcheck.rules import all_rules, select_rules
from dropcheck.runner import RunOptions, RunStats, lint_paths
from tests.conftest import Run

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.8)\n"
ALL = LintOptions(rules=list(all_rules()))


def torch_sample(count: int = 40) -> list[str]:
    """A deterministic sample of the installed torch sources (real code, many shapes)."""
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return []
    torch_dir = Path(spec.origin).parent
    files = sorted(str(p) for p in torch_dir.rglob("*.py"))
    step = max(1, len(files) // count)
    return files[::step][:count]


def corpus() -> list[str]:
    return [str(FIXTURES), *torch_sample()]


def run(paths: list[str], options: LintOptions = ALL, **kwargs: object) -> list[Finding]:
    return lint_paths(paths, options, RunOptions(**kwargs))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def stable_code_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    # The cache key includes a fingerprint of dropcheck's own modules (size, mtime); pinned
    # here so that someone editing the package while the tests run cannot change the key.
    monkeypatch.setattr(cache_module, "code_fingerprint", lambda: "pinned")


@pytest.fixture(scope="module")
def reference() -> list[Finding]:
    return run(corpus(), jobs=1)


def test_the_corpus_is_real() -> None:
    assert len(torch_sample()) >= 30, "torch sources are part of the test extras"


def test_pool_gives_the_same_findings_in_the_same_order(reference: list[Finding]) -> None:
    assert reference, "the corpus has findings (the fixtures do)"
    assert run(corpus(), jobs=2) == reference


def test_cache_cold_and_warm_give_the_same_findings(
    tmp_path: Path, reference: list[Finding], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = str(tmp_path / "cache")
    cold = RunStats()
    assert lint_paths(corpus(), ALL, RunOptions(jobs=2, cache_dir=cache), cold) == reference
    assert cold.linted == cold.files and cold.cached == 0
    # A warm run parses nothing: any parse would now fail loudly.
    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a warm run parsed a file")

    monkeypatch.setattr(engine.cst, "parse_module", no_parse)
    monkeypatch.setattr(engine, "lint_path", no_parse)
    for jobs in (1, 2):
        warm = RunStats()
        assert lint_paths(corpus(), ALL, RunOptions(jobs=jobs, cache_dir=cache), warm) == reference
        assert warm.linted == 0 and warm.cached == warm.files == cold.files


def test_cache_folder_is_gitignored_and_no_cache_writes_nothing(
    tmp_path: Path, run_dropcheck: Run
) -> None:
    (tmp_path / "a.py").write_text(BAD)
    result = run_dropcheck("a.py", cwd=tmp_path)
    assert result.returncode == 1
    assert (tmp_path / ".dropcheck_cache" / ".gitignore").read_text().strip().endswith("*")
    other = tmp_path / "elsewhere"
    result = run_dropcheck("--cache-dir", str(other), "a.py", cwd=tmp_path)
    assert result.returncode == 1 and any(other.glob("*.json"))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "a.py").write_text(BAD)
    result = run_dropcheck("--no-cache", "a.py", cwd=fresh)
    assert result.returncode == 1 and sorted(os.listdir(fresh)) == ["a.py"]


def lint_one(path: Path, cache: str, options: LintOptions = ALL) -> tuple[list[Finding], RunStats]:
    stats = RunStats()
    found = lint_paths([str(path)], options, RunOptions(jobs=1, cache_dir=cache), stats)
    return found, stats


def test_cache_follows_content_options_and_rules(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    source = tmp_path / "a.py"
    source.write_text(BAD)
    first, stats = lint_one(source, cache)
    assert stats.linted == 1 and [f.code for f in first] == ["DC002"]
    _, stats = lint_one(source, cache)
    assert stats.cached == 1
    # Same bytes, new mtime: found by content hash, not linted again.
    os.utime(source, ns=(time.time_ns() - 10**10, time.time_ns() - 10**10))
    again, stats = lint_one(source, cache)
    assert stats.cached == 1 and stats.linted == 0 and again == first
    # New bytes: linted again.
    source.write_text(BAD.replace("0.8", "0.1"))
    changed, stats = lint_one(source, cache)
    assert stats.linted == 1 and changed == []
    # Other rules or other rule settings: another cache key, so linted again.
    source.write_text(BAD)
    lint_one(source, cache)
    only_dc006 = replace(ALL, rules=select_rules(["DC006"]))
    found, stats = lint_one(source, cache, only_dc006)
    assert stats.linted == 1 and found == []
    strict = replace(ALL, rule_settings={"DC002": {"max-rate": 0.9}})
    found, stats = lint_one(source, cache, strict)
    assert stats.linted == 1 and found == []
    assert len({settings_key(ALL), settings_key(only_dc006), settings_key(strict)}) == 3


def test_dc000_is_never_cached(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    for _ in range(2):
        found, stats = lint_one(broken, cache)
        assert [f.code for f in found] == ["DC000"] and stats.linted == 1


def cache_files(folder: Path) -> list[Path]:
    return [p for p in folder.glob("*.json")]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-shape", "bad-entry", "empty"])
def test_corrupt_cache_is_ignored_and_rewritten(tmp_path: Path, damage: str) -> None:
    cache = tmp_path / "cache"
    source = tmp_path / "a.py"
    source.write_text(BAD)
    os.utime(source, ns=(time.time_ns() - 10**10,) * 2)
    expected, _ = lint_one(source, str(cache))
    [file] = cache_files(cache)
    good = file.read_bytes()
    if damage == "garbage":
        file.write_bytes(b"\x00\xffnot json at all")
    elif damage == "truncated":
        file.write_bytes(good[: len(good) // 2])
    elif damage == "wrong-shape":
        file.write_text(json.dumps(["a", "list"]))
    elif damage == "empty":
        file.write_bytes(b"")
    else:  # an entry that claims this file's stat and hash but holds nonsense
        data = json.loads(good)
        entry = next(iter(data["files"].values()))
        entry["findings"] = [{"code": "DC002", "bogus": True}]
        file.write_text(json.dumps(data))
    found, stats = lint_one(source, str(cache))
    assert found == expected and stats.linted == 1
    rewritten = json.loads(file.read_bytes())
    assert rewritten["files"] and file.read_bytes() == good
    _, stats = lint_one(source, str(cache))
    assert stats.cached == 1


def test_cache_writes_are_atomic(tmp_path: Path) -> None:
    cache, problem = open_cache(tmp_path / "cache", ALL)
    assert cache is not None and problem is None
    source = tmp_path / "a.py"
    source.write_text(BAD)
    cache.store(str(source), "0" * 32, os.stat(source), [])
    assert cache.save() is None
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.suffix == ".tmp") == []
    reloaded = Cache(tmp_path / "cache", settings_key(ALL))
    assert str(source) in reloaded.entries


def test_cli_output_is_identical_with_and_without_pool_and_cache(
    tmp_path: Path, run_dropcheck: Run
) -> None:
    args = ("--format", "json", "--select", "ALL", "--preview", str(FIXTURES))
    serial = run_dropcheck(*args, "--jobs", "1", "--no-cache", cwd=tmp_path)
    assert serial.returncode in (1, 2) and json.loads(serial.stdout)
    for extra in (("--jobs", "2", "--no-cache"), ("--jobs", "2"), ("--jobs", "1")):
        other = run_dropcheck(*args, *extra, cwd=tmp_path)
        assert other.stdout == serial.stdout, extra
        assert other.returncode == serial.returncode


def crashing_or_hanging(real: object, how: str) -> object:
    def fake(path: str, data: bytes, options: LintOptions) -> list[Finding]:
        if os.path.basename(path) == "culprit.py":
            if how == "crash":
                faulthandler.disable()  # pytest's: the crash is expected, no stack dump
                os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(600)
        return real(path, data, options)  # type: ignore[operator, no-any-return]

    return fake


@pytest.fixture
def many_files(tmp_path: Path) -> Iterator[Path]:
    for i in range(12):
        (tmp_path / f"f{i:02}.py").write_text(BAD)
    (tmp_path / "culprit.py").write_text(BAD)
    yield tmp_path


@pytest.mark.parametrize("how", ["crash", "hang"])
def test_a_dying_or_stuck_worker_costs_only_its_file(
    many_files: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # The workers are forked from this process, so they inherit the sabotaged engine.
    monkeypatch.setattr(engine, "lint_source", crashing_or_hanging(engine.lint_source, how))
    start = time.monotonic()
    found = lint_paths([str(many_files)], ALL, RunOptions(jobs=2, file_timeout=3))
    assert time.monotonic() - start < 60
    by_file = {os.path.basename(f.path): f for f in found}
    assert len(found) == 13 and len(by_file) == 13
    culprit = by_file.pop("culprit.py")
    assert culprit.code == "DC000"
    expected = "SIGSEGV" if how == "crash" else "longer than 3"
    assert expected in culprit.message
    assert {f.code for f in by_file.values()} == {"DC002"}
