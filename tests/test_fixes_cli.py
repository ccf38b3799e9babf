"""Autofix through the real command line: --fix, --diff, --unsafe-fixes, exit statuses."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from .conftest import Run

# -- the command line ------------------------------------------------------------------------

BAD = b"import torch.nn as nn\n\nlayer = nn.Dropout(True)\n"
FIXED = b"import torch.nn as nn\n\nlayer = nn.Dropout(inplace=True)\n"


def test_cli_fix_writes_and_exits_zero_when_all_fixed(run_dropcheck: Run, tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(BAD)
    done = run_dropcheck("--fix", "--unsafe-fixes", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert path.read_bytes() == FIXED
    assert "Fixed 1 finding in 1 file" in done.stderr
    again = run_dropcheck("--fix", "--unsafe-fixes", str(path))
    assert again.returncode == 0
    assert path.read_bytes() == FIXED


def test_cli_fix_without_unsafe_leaves_unsafe_fixes(run_dropcheck: Run, tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(BAD)
    done = run_dropcheck("--fix", str(path))
    assert done.returncode == 1
    assert path.read_bytes() == BAD
    assert "DC006" in done.stdout


def test_cli_exit_non_zero_on_fix(run_dropcheck: Run, tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(BAD)
    done = run_dropcheck("--fix", "--unsafe-fixes", "--exit-non-zero-on-fix", str(path))
    assert done.returncode == 1
    assert path.read_bytes() == FIXED
    clean = run_dropcheck("--fix", "--unsafe-fixes", "--exit-non-zero-on-fix", str(path))
    assert clean.returncode == 0


def test_cli_diff_writes_nothing(run_dropcheck: Run, tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(BAD)
    before = path.stat()
    done = run_dropcheck("--diff", "--unsafe-fixes", str(path))
    assert done.returncode == 1
    assert path.read_bytes() == BAD
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert "-layer = nn.Dropout(True)\n+layer = nn.Dropout(inplace=True)\n" in done.stdout
    assert done.stdout.startswith(f"--- a/{path}\n+++ b/{path}\n")
    assert "Would fix 1 finding" in done.stderr
    nothing = run_dropcheck("--diff", str(path))  # the only fix is unsafe
    assert nothing.returncode == 0 and nothing.stdout == ""


def test_cli_fix_leaves_unanalysable_files_alone(run_dropcheck: Run, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_bytes(BAD + b"def f(:\n")
    good = tmp_path / "model.py"
    good.write_bytes(BAD)
    done = run_dropcheck("--fix", "--unsafe-fixes", str(tmp_path))
    assert done.returncode == 2
    assert broken.read_bytes() == BAD + b"def f(:\n"
    assert good.read_bytes() == FIXED


def test_cli_json_carries_the_fix(run_dropcheck: Run, tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(BAD + b"other = nn.Dropout(1.5)\n")
    done = run_dropcheck("--format", "json", str(path))
    findings = json.loads(done.stdout)
    assert findings[0]["fix"] == {
        "applicability": "unsafe",
        "message": "Pass `inplace=True` instead of the rate `True`",
        "edits": [{"content": "inplace=", "location": {"row": 3, "column": 20},
                   "end_location": {"row": 3, "column": 20}}],
    }
    assert findings[1]["fix"] is None


def test_cli_fix_keeps_mode_bits(run_dropcheck: Run, tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(BAD)
    path.chmod(0o640)
    run_dropcheck("--fix", "--unsafe-fixes", str(path))
    assert path.read_bytes() == FIXED
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_cli_fix_refuses_read_only_files(run_dropcheck: Run, tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(BAD)
    path.chmod(0o444)
    done = run_dropcheck("--fix", "--unsafe-fixes", str(path))
    assert path.read_bytes() == BAD
    assert done.returncode == 1
    assert "not writable" in done.stderr
