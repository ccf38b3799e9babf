"""Where an import leads in the importing file's project, from the file system alone.

As Python would find the module for a script run from its own folder or a package run from
the project root: a relative import from the importing file's package; an absolute one
(``a.b``) from the importing file's folder or any folder above it (also their ``src/``), up to
the project root (the nearest folder with a ``pyproject.toml``, ``setup.py``, ``setup.cfg`` or
``.git``). Installed packages are never searched here. No LibCST: the byte pre-filter asks
:func:`imports_project_module` before any parser or rule module is imported.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePath

from dropcheck.cache import content_hash

_ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
MAX_HOPS = 4  # re-exports followed (`from .defaults import Predictor` in a package __init__)
#: Files of block classes the layer analysis enters, nested (`LayerIndex.imported_block`).
MAX_FILES_DEEP = 3
MAX_PARSED_BYTES = 2_000_000  # larger files of the project are not read for their classes
_MAX_LEVELS = 8
SKIP_PARTS = frozenset({"site-packages", "dist-packages", ".venv", "venv", "node_modules"})

#: The module of every import statement: ``from X import`` / ``import X, Y`` at the start of
#: a line or after ``;`` or ``:`` (``try: import x``).
_IMPORT = re.compile(
    rb"(?:^|[;:])[ \t]*(?:from[ \t]+([.\w]+)[ \t]+import\b|import[ \t]+([\w. \t,]+))",
    re.MULTILINE)


def _is_root(folder: Path) -> bool:
    return any((folder / marker).exists() for marker in _ROOT_MARKERS)


def _search_folders(importer: Path) -> list[Path]:
    """The importing file's folder and those above it, up to the project root."""
    folders: list[Path] = []
    folder = importer.parent
    for _ in range(_MAX_LEVELS):
        folders.append(folder)
        if _is_root(folder) or folder.parent == folder:
            break
        folder = folder.parent
    return folders


def module_file(importer: str, module: str) -> Path | None:
    """The project file an import of ``module`` from ``importer`` loads, if any."""
    return _module_file(os.path.dirname(os.path.abspath(importer)), module)


@functools.lru_cache(maxsize=4096)
def _module_file(folder: str, module: str) -> Path | None:
    path = Path(folder) / "__importer__.py"
    if any(part in SKIP_PARTS for part in path.parts):
        return None
    if module.startswith("."):
        level = len(module) - len(module.lstrip("."))
        base = path.parent
        for _ in range(level - 1):
            base = base.parent
        rest = module.lstrip(".")
        return file_in(base, rest.split(".") if rest else [])
    parts = module.split(".")
    for above in _search_folders(path):
        for base in (above, above / "src"):
            found = file_in(base, parts)
            if found is not None:
                return found
    return None


def file_in(base: Path, parts: list[str]) -> Path | None:
    if not parts:
        init = base / "__init__.py"
        return init if init.is_file() else None
    target = base.joinpath(*parts)
    for candidate in (target.with_name(target.name + ".py"), target / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_project_module(importer: str, data: bytes,
                           tokens: tuple[bytes, ...] | None = None) -> bool:
    """Whether the file's bytes import a module of its own project (a relative import, or a
    module :func:`module_file` finds): what a helper of another file supplies may then
    matter, although these bytes do not show it. With ``tokens``, only a module whose file
    contains one of them, or imports (re-exports) such a module in turn."""
    # re-exports followed from an imported module (a package ``__init__``) to the file
    # holding the helper, as the analysis follows them
    return _imports_matching(importer, data, tokens, MAX_HOPS)


def _imports_matching(importer: str, data: bytes, tokens: tuple[bytes, ...] | None,
                      depth: int) -> bool:
    for match in _IMPORT.finditer(data):
        source, names = match.group(1), match.group(2)
        modules = [source] if source is not None else [
            n.strip().split()[0] for n in names.split(b",") if n.strip()]
        for raw in modules:
            module = raw.decode("ascii", "replace")
            if tokens is None and module.startswith("."):
                return True
            parts = module.lstrip(".").split(".") if module.strip(".") else []
            dots = module[: len(module) - len(module.lstrip("."))]
            candidates = [dots + ".".join(parts[:i]) for i in range(0 if dots else 1,
                                                                    len(parts) + 1)]
            for candidate in candidates:
                path = module_file(importer, candidate) if candidate else None
                if path is None:
                    continue
                # a package: `from pkg import helpers` may name any of its modules
                if tokens is None or path.name == "__init__.py" or file_matches(
                        str(path), tokens, depth, importer):
                    return True
    return False


def file_matches(path: str, tokens: tuple[bytes, ...], depth: int,
                 importer: str | None = None) -> bool:
    """Whether a file holds one of ``tokens``, or (``depth`` > 0) imports a project module
    that does, through at most ``depth`` re-exports; True when it cannot be read. The answer
    depends on that file (and those it imports): recorded as read by ``importer``."""
    found = _file_matches(path, tokens, depth)
    if importer is not None:
        note_read(importer, path)
    return found


@functools.lru_cache(maxsize=4096)
def _file_matches(path: str, tokens: tuple[bytes, ...], depth: int) -> bool:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return True
    note_read(None, path, data)
    if any(token in data for token in tokens):
        return True
    return depth > 0 and _imports_matching(path, data, tokens, depth - 1)


# -- what a file's findings depend on (the result cache re-lints it when one of them changes) --
#: Content hashes of the other files read in this run.
_HASHES: dict[str, str] = {}
#: ``a -> {b, ...}``: an answer about file a read file b (its sketch, its bytes, its LibCST
#: tree). Answers are cached for a run, so a file's findings depend on everything reachable
#: from it here, also through answers another file's lint asked for first.
_READS: dict[str, set[str]] = {}


def note_read(importer: str | None, path: str, data: bytes | str | None = None) -> None:
    """Record that ``importer``'s analysis read ``path``; ``data``: its bytes, or their
    :func:`content_hash`, when they were read now."""
    if data is not None:
        _HASHES[path] = data if isinstance(data, str) else content_hash(data)
    if importer and importer != path:
        _READS.setdefault(importer, set()).add(path)


def read_by(linted: str, also: Iterable[str] = ()) -> dict[str, str]:
    """The other files ``linted``'s findings depend on, with their content hashes: what its
    lint read, and what answers about those files read in turn (``also``: more files the
    lint read directly)."""
    todo = [linted, *also]
    seen = set(todo)
    while todo:
        for other in _READS.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    seen.discard(linted)
    return {path: _HASHES[path] for path in seen if path in _HASHES}


_TEST_FOLDERS = frozenset({"tests", "test", "testing", "unittests", "unit_tests"})


def is_test_file(path: str) -> bool:
    """By the file's name, or a test folder in the part of its path below the working
    directory (the folders above a project say nothing about it)."""
    pure = PurePath(path)
    stem = pure.name.rsplit(".", 1)[0]
    if stem.startswith("test_") or stem.endswith("_test") or stem in ("conftest", "tests"):
        return True
    if pure.is_absolute():
        try:
            pure = PurePath(os.path.relpath(path))
        except ValueError:  # another drive (Windows)
            return False
    return any(part in _TEST_FOLDERS for part in pure.parts[:-1] if part != "..") and (
        ".." not in pure.parts)


def class_line(source: bytes, name: str) -> int | None:
    """The first line that starts (after indentation) with ``class <name>``."""
    found = re.search(rb"^[ \t]*class[ \t]+" + re.escape(name.encode()) + rb"\b", source,
                      re.MULTILINE)
    return source.count(b"\n", 0, found.start()) + 1 if found else None


def where_class(name: str, path: Path, line: int | None) -> str:
    """How a message names where a class is defined: ``Net (models.py:12)``."""
    return f"{name} ({path.name}{f':{line}' if line else ''})"


def forget() -> None:
    """Drop what is known of files' contents (a new run: they may have changed)."""
    _file_matches.cache_clear()
    _HASHES.clear()
    _READS.clear()
