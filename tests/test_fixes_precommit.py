"""The `dropcheck-fix` pre-commit hook, for real: `pre-commit try-repo` applies the safe fix,
fails because it changed a file (--exit-non-zero-on-fix), and passes on the next run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.test_precommit import _pre_commit, checkout, offline_env  # noqa: F401 (fixtures)

BAD = ("import torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
       "class Head(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
       "        self.fc = nn.Linear(8, 2)\n\n    def forward(self, x):\n"
       "        return self.fc(F.dropout(x, 0.1))\n")
FIXED = BAD.replace("F.dropout(x, 0.1)", "F.dropout(x, 0.1, training=self.training)")


def test_fix_hook_fixes_then_passes(tmp_path: Path, offline_env: dict[str, str],  # noqa: F811
                                    checkout: Path) -> None:  # noqa: F811
    repo = tmp_path / "project"
    repo.mkdir()
    git = shutil.which("git")
    assert git is not None

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=repo, env=offline_env, capture_output=True,
                              text=True, timeout=600)

    run(git, "init", "-q")
    (repo / "head.py").write_bytes(BAD.encode())
    run(git, "add", ".")
    first = run(*_pre_commit(), "try-repo", str(checkout), "dropcheck-fix", "--all-files")
    assert first.returncode == 1, first.stdout + first.stderr
    assert (repo / "head.py").read_bytes() == FIXED.encode()
    run(git, "add", ".")
    second = run(*_pre_commit(), "try-repo", str(checkout), "dropcheck-fix", "--all-files")
    assert second.returncode == 0, second.stdout + second.stderr
    assert (repo / "head.py").read_bytes() == FIXED.encode()
