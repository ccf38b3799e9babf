"""Which files to lint: explicit paths as given, folders walked for Python sources and
Jupyter notebooks. The caller may pass an exclusion predicate (config excludes, .gitignore)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

#: Folder names never walked into (virtualenvs are also recognised by their pyvenv.cfg).
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".dropcheck_cache", "node_modules", "site-packages",
    "build", "dist", ".eggs", "__pypackages__", ".ipynb_checkpoints",
})
SOURCE_SUFFIXES = (".py", ".pyi", ".ipynb")


def is_template(name: str) -> bool:
    """A cookiecutter/copier template name (``{{cookiecutter.name}}``): Jinja, not Python yet."""
    return "{{" in name and "}}" in name

#: ``excluded(path, is_dir)``: whether a folder walk skips ``path``.
Excluded = Callable[[str, bool], bool]


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def iter_files(
    paths: list[str],
    excluded: Excluded | None = None,
    skip_explicit: Callable[[str], bool] | None = None,
) -> Iterator[str]:
    """Yield each explicit path (whatever it is: the engine reports what it cannot read) and
    every Python source under each folder, in a deterministic order.

    ``excluded`` replaces the built-in folder skip list during walks (virtualenvs are always
    skipped); ``skip_explicit`` drops explicit paths (``--force-exclude``)."""
    seen: set[str] = set()
    for given in paths:
        if skip_explicit is not None and skip_explicit(given):
            continue
        if os.path.isdir(given) and not given.endswith(SOURCE_SUFFIXES):
            for found in _walk(given, excluded):
                if found not in seen:
                    seen.add(found)
                    yield found
        elif given not in seen:
            seen.add(given)
            yield given


def _walk(root: str, excluded: Excluded | None = None) -> Iterator[str]:
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
        if excluded is None:
            dirs[:] = sorted(
                d for d in dirs
                if d not in SKIP_DIRS and not d.endswith(".egg-info") and not is_template(d)
                and not _is_virtualenv(os.path.join(folder, d))
            )
        else:
            dirs[:] = sorted(
                d for d in dirs
                if not _is_virtualenv(os.path.join(folder, d))
                and not excluded(os.path.join(folder, d), True)
            )
        for name in sorted(files):
            if name.endswith(SOURCE_SUFFIXES) and (excluded is not None or not is_template(name)):
                path = os.path.join(folder, name)
                if excluded is None or not excluded(path, False):
                    yield path
