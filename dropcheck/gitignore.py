"""`.gitignore` matching for folder walks, as git reads it (inside a git work tree only).

Covers what real repositories use: comments, blank lines, negation (`!`), escapes (`\\#`,
`\\!`, trailing `\\ `), folder-only patterns (`build/`), anchored patterns (`/x`, `a/b`),
`*`, `?`, `[...]` and `**` in all its positions, nested `.gitignore` files (deeper ones win)
and `.git/info/exclude`. Folder walks prune ignored folders, so what is below them is never
seen; ``--force-exclude`` checks the folders above an explicit path one by one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _translate(glob: str) -> str:
    """A gitignore glob (no leading/trailing slash) to a regex over '/'-separated paths."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*" and glob.startswith("**", i):
            before_ok = i == 0 or glob[i - 1] == "/"
            after = i + 2
            if before_ok and after == n:
                out.append(".*")  # trailing `/**`: everything inside
                i = after
                continue
            if before_ok and glob[after] == "/":
                out.append("(?:.*/)?")  # `**/`: zero or more folders
                i = after + 1
                continue
            out.append("[^/]*")  # `**` inside a name is a plain star
            i = after
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = glob.find("]", i + 2 if glob[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            if end < 0:
                out.append(re.escape(c))
                i += 1
                continue
            body = glob[i + 1 : end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def compile_line(line: str) -> Pattern | None:
    """One line of a `.gitignore`, or None for a blank line or a comment."""
    line = line.rstrip("\r\n")
    if not line or line.startswith("#"):
        return None
    while line.endswith(" ") and not line.endswith("\\ "):
        line = line[:-1]
    negate = line.startswith("!")
    if negate or line.startswith(("\\!", "\\#")):
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    regex = _translate(line.lstrip("/"))
    if not anchored:
        regex = "(?:.*/)?" + regex
    return Pattern(re.compile(f"^{regex}$", re.DOTALL), negate, dir_only)


def parse(text: str) -> tuple[Pattern, ...]:
    return tuple(p for p in map(compile_line, text.splitlines()) if p is not None)


@lru_cache(maxsize=4096)
def _patterns_in(folder: str) -> tuple[Pattern, ...]:
    try:
        with open(os.path.join(folder, ".gitignore"), encoding="utf-8", errors="replace") as fh:
            return parse(fh.read())
    except OSError:
        return ()


@lru_cache(maxsize=256)
def _info_exclude(root: str) -> tuple[Pattern, ...]:
    try:
        path = os.path.join(root, ".git", "info", "exclude")
        with open(path, encoding="utf-8", errors="replace") as fh:
            return parse(fh.read())
    except OSError:
        return ()


@lru_cache(maxsize=4096)
def git_root(folder: str) -> str | None:
    """The work tree that contains ``folder`` (absolute), or None outside any git repository."""
    if os.path.exists(os.path.join(folder, ".git")):
        return folder
    parent = os.path.dirname(folder)
    return None if parent == folder else git_root(parent)


@lru_cache(maxsize=4096)
def _chain(folder: str, root: str) -> tuple[tuple[str, tuple[Pattern, ...]], ...]:
    """The ignore files that apply inside ``folder``, outermost first: the repository's
    ``.git/info/exclude`` and every ``.gitignore`` from ``root`` down to ``folder``."""
    if folder == root:
        found: tuple[tuple[str, tuple[Pattern, ...]], ...] = ()
        exclude = _info_exclude(root)
        if exclude:
            found = ((root, exclude),)
    else:
        parent = os.path.dirname(folder)
        found = () if parent == folder else _chain(parent, root)
    patterns = _patterns_in(folder)
    return (*found, (folder, patterns)) if patterns else found


def _decide(rel: str, is_dir: bool, patterns: tuple[Pattern, ...], verdict: bool | None
            ) -> bool | None:
    for pattern in patterns:
        if pattern.dir_only and not is_dir:
            continue
        if pattern.regex.match(rel):
            verdict = not pattern.negate
    return verdict


class GitIgnore:
    """Answers "is this path ignored by git?" with per-folder caching."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, bool], bool] = {}

    def ignored(self, path: str, is_dir: bool) -> bool:
        path = os.path.abspath(path)
        key = (path, is_dir)
        if key not in self._cache:
            self._cache[key] = self._compute(path, is_dir)
        return self._cache[key]

    def _compute(self, path: str, is_dir: bool) -> bool:
        parent = os.path.dirname(path)
        root = git_root(parent)
        if root is None or path == root:
            return False
        # Only the path itself is matched: a walk never descends into an ignored folder, and a
        # folder given explicitly is linted even if git ignores it (as ruff does).
        verdict: bool | None = None
        # Deeper .gitignore files override shallower ones: evaluate from the root down.
        for folder, patterns in _chain(parent, root):
            rel = path[len(folder):].lstrip(os.sep).replace(os.sep, "/")
            verdict = _decide(rel, is_dir, patterns, verdict)
        return bool(verdict)
