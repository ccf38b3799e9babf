from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _dropcheck_command() -> list[str]:
    # The installed console script when there is one (what users run), else the module.
    exe = shutil.which("dropcheck", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "dropcheck"]


Run = Callable[..., subprocess.CompletedProcess[str]]


def write(path: Path, content: str | bytes) -> Path:
    """Create ``path`` (and its folders) with text (UTF-8) or raw bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def run_dropcheck() -> Run:
    """Run the installed `dropcheck` in a real subprocess."""

    def run(*args: str, cwd: str | Path | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command: Sequence[str] = [*_dropcheck_command(), *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=cwd,
                              timeout=timeout, env=env, stdin=subprocess.DEVNULL)

    return run
