"""The pre-commit hooks, for real: `pre-commit try-repo` on this checkout, in a throwaway git
repository, with a bad file (the hook fails) and then the fixed file (it passes).

pre-commit builds a fresh virtualenv and pip-installs this checkout into it. To make that work
offline and quickly, the test repacks the already-installed distributions dropcheck needs
(libcst, PyYAML, click, and setuptools to build dropcheck) into a local wheelhouse and points
pip at it with PIP_NO_INDEX/PIP_FIND_LINKS: no network is used.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as metadata
import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from tests.conftest import ROOT

BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.8)\n"
GOOD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.2)\n"


def _closure(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need at run time, on this interpreter."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        requirement = Requirement(todo.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = requirement.name.lower().replace("_", "-")
        if key in found:
            continue
        dist = metadata.distribution(requirement.name)
        found[key] = dist
        todo.extend(dist.requires or [])
    return list(found.values())


def _repack(dist: metadata.Distribution, wheelhouse: Path) -> None:
    """Write an installed distribution back out as a wheel (files from its RECORD)."""
    tag = next(line.split(":", 1)[1].strip() for line in (dist.read_text("WHEEL") or "")
               .splitlines() if line.startswith("Tag:"))
    name = dist.metadata["Name"].replace("-", "_")
    target = wheelhouse / f"{name}-{dist.version}-{tag}.whl"
    site = Path(str(dist.locate_file("")))
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    rows = []
    record_path = None
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel:
        for entry in dist.files or ():
            rel = entry.as_posix()
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
                continue
            top, _, leaf = rel.partition("/")
            if top.endswith(".dist-info") and leaf in skip:  # not a vendored package's
                if rel.endswith("/RECORD"):
                    record_path = rel
                continue
            data = (site / rel).read_bytes()
            wheel.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            rows.append((rel, f"sha256={digest.decode()}", str(len(data))))
        assert record_path is not None, dist.metadata["Name"]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([*rows, (record_path, "", "")])
        wheel.writestr(record_path, out.getvalue())


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    if not (ROOT / ".git").exists():
        pytest.skip("pre-commit try-repo needs this checkout to be a git repository")
    wheelhouse = tmp_path_factory.mktemp("wheelhouse")
    requires = [r for r in metadata.requires("dropcheck") or [] if "extra ==" not in r]
    for dist in _closure([*requires, "setuptools"]):
        _repack(dist, wheelhouse)
    home = tmp_path_factory.mktemp("pre-commit-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.update({
        "PRE_COMMIT_HOME": str(home),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
        "PRE_COMMIT_COLOR": "never",
        "NO_COLOR": "1",
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    })
    return env


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory, offline_env: dict[str, str]) -> Path:
    """This checkout's working tree (tracked and untracked files that git does not ignore) as a
    committed repository: `try-repo` on the checkout itself would take only committed and
    tracked changes, not the new files the working tree's code may already import."""
    git = shutil.which("git")
    assert git is not None
    listing = subprocess.run(
        [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
        capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    snapshot = tmp_path_factory.mktemp("checkout")
    for rel in filter(None, listing):
        source = ROOT / rel
        if source.is_file():
            target = snapshot / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run([git, *args], cwd=snapshot, env=offline_env, check=True,
                       capture_output=True, timeout=120)
    return snapshot


def _pre_commit() -> list[str]:
    exe = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "pre_commit"]


def test_hooks_file_has_ruff_pre_commit_shape() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"dropcheck", "dropcheck-fix"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["require_serial"] is True
        assert set(hook["types_or"]) == {"python", "pyi", "jupyter"}
        assert "--force-exclude" in hook["entry"]
        assert hook["minimum_pre_commit_version"]
    assert "--fix" in hooks["dropcheck-fix"]["entry"]


Runner = Callable[..., subprocess.CompletedProcess[str]]


def _project(tmp_path: Path, env: dict[str, str]) -> tuple[Path, Runner, str]:
    """A throwaway git repository, a runner for commands in it, and the git executable."""
    repo = tmp_path / "project"
    repo.mkdir()
    git = shutil.which("git")
    assert git is not None

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=repo, env=env, capture_output=True,
                              text=True, timeout=600)

    run(git, "init", "-q")
    return repo, run, git


def test_pre_commit_try_repo_fails_then_passes(tmp_path: Path, offline_env: dict[str, str],
                                               checkout: Path) -> None:
    repo, run, git = _project(tmp_path, offline_env)
    (repo / "model.py").write_text(BAD)
    (repo / "clean.py").write_text(GOOD)
    run(git, "add", ".")
    failing = run(*_pre_commit(), "try-repo", str(checkout), "dropcheck", "--all-files")
    output = failing.stdout + failing.stderr
    assert failing.returncode == 1, output
    assert "model.py:3:9: DC002 [high-dropout-rate]" in output
    assert "clean.py:" not in output.replace("Files were modified", "")

    (repo / "model.py").write_text(GOOD)
    run(git, "add", ".")
    passing = run(*_pre_commit(), "try-repo", str(checkout), "dropcheck", "--all-files")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "Passed" in passing.stdout


FIXABLE = ("import torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
           "class Head(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
           "        self.fc = nn.Linear(8, 2)\n\n    def forward(self, x):\n"
           "        return self.fc(F.dropout(x, 0.1))\n")
FIXED = FIXABLE.replace("F.dropout(x, 0.1)", "F.dropout(x, 0.1, training=self.training)")


def test_fix_hook_fixes_then_passes(tmp_path: Path, offline_env: dict[str, str],
                                    checkout: Path) -> None:
    """`dropcheck-fix` applies the safe fix, fails because it changed a file
    (--exit-non-zero-on-fix), and passes on the next run."""
    repo, run, git = _project(tmp_path, offline_env)
    (repo / "head.py").write_bytes(FIXABLE.encode())
    run(git, "add", ".")
    first = run(*_pre_commit(), "try-repo", str(checkout), "dropcheck-fix", "--all-files")
    assert first.returncode == 1, first.stdout + first.stderr
    assert (repo / "head.py").read_bytes() == FIXED.encode()
    run(git, "add", ".")
    second = run(*_pre_commit(), "try-repo", str(checkout), "dropcheck-fix", "--all-files")
    assert second.returncode == 0, second.stdout + second.stderr
    assert (repo / "head.py").read_bytes() == FIXED.encode()
