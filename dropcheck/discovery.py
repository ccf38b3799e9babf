"""Which files to lint: explicit paths as given, folders walked for Python sources."""

from __future__ import annotations

import os
from collections.abc import Iterator

#: Folder names never walked into (virtualenvs are also recognised by their pyvenv.cfg).
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".dropcheck_cache", "node_modules", "site-packages",
    "build", "dist", ".eggs", "__pypackages__", ".ipynb_checkpoints",
})
SOURCE_SUFFIXES = (".py", ".pyi")


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def iter_files(paths: list[str]) -> Iterator[str]:
    """Yield each explicit path (whatever it is: the engine reports what it cannot read) and
    every Python source under each folder, in a deterministic order."""
    seen: set[str] = set()
    for given in paths:
        if os.path.isdir(given) and not given.endswith(SOURCE_SUFFIXES):
            for found in _walk(given):
                if found not in seen:
                    seen.add(found)
                    yield found
        elif given not in seen:
            seen.add(given)
            yield given


def _walk(root: str) -> Iterator[str]:
    visited: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        try:
            st = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        key = (st.st_dev, st.st_ino)
        if key in visited:  # symlink loop
            dirs[:] = []
            continue
        visited.add(key)
        dirs[:] = sorted(
            d for d in dirs
            if d not in SKIP_DIRS and not d.endswith(".egg-info")
            and not _is_virtualenv(os.path.join(folder, d))
        )
        for name in sorted(files):
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.join(folder, name)
