"""The flake8 plugin, through the real flake8 (entry point `flake8.extension`, code `DC`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.8)\nok = nn.Dropout(0.7)  # noqa: DC002\n"


def flake8(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("flake8", path=str(Path(sys.executable).parent)) or shutil.which("flake8")
    if exe is None:
        pytest.fail("flake8 is not installed; it is part of the test extras")
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_flake8_select_dc_reports_dropcheck_findings(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "good.py").write_text("import torch.nn as nn\nlayer = nn.Dropout(0.1)\n")
    result = flake8("--select=DC", "bad.py", "good.py", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "bad.py:3:9: DC002 [high-dropout-rate] nn.Dropout(p=0.8) drops 80 % of units; if you "
        "meant keep probability 0.8, use p=0.2",
    ]
    clean = flake8("--select=DC", "good.py", cwd=tmp_path)
    assert clean.returncode == 0 and clean.stdout == ""


def test_flake8_plugin_uses_the_dropcheck_config(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.dropcheck.DC002]\nmax-rate = 0.9\n")
    (tmp_path / "bad.py").write_text(BAD)
    result = flake8("--select=DC", "bad.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.dropcheck]\nselec = []\n")
    result = flake8("--select=DC", "bad.py", cwd=tmp_path)
    assert "DC000" in result.stdout and "unknown key 'selec'" in result.stdout
