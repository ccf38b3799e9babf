"""Editor buffers, for the language server (``dropcheck/server.py``); no LSP library here.

A buffer is linted as if it were its file: through the engine's entry point for bytes that did
not come from the file (``engine.lint_bytes``, as standard input is), with that file's settings
as the CLI resolves them (``config.Resolver``: the nearest ``[tool.dropcheck]``, per file).
The code actions' edits are computed here, in the buffer's own characters (rows and columns
1-based, as :class:`~dropcheck.findings.Edit`): one finding's fix, checked as ``--fix`` checks
it; all safe fixes (``fix.run.fix_source``); a ``# noqa`` comment (``suppression.noqa_lines``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from dropcheck.config import Resolver, explicitly_excluded, find_config, load_pyproject
from dropcheck.encoding import detect_encoding
from dropcheck.engine import LintOptions, lint_bytes, new_run
from dropcheck.findings import NOT_ANALYSED_CODE, Edit, Finding
from dropcheck.fix.apply import apply, check_changed_lines, check_parses, spans
from dropcheck.fix.run import compiles, fix_source
from dropcheck.fix.source import FixError, LineIndex, decode
from dropcheck.output.escape import printable
from dropcheck.output.rules_info import rule_url, use_docs_url
from dropcheck.suppression import UNUSED_NOQA_CODE, noqa_lines

#: Suffixes of the files a text document is linted as (a notebook comes as a notebook).
PYTHON_SUFFIXES = (".py", ".pyi")


def path_of(uri: str) -> str | None:
    """The file a ``file:`` URI names, from its percent-encoded bytes as the OS sees them
    (a name that is not valid UTF-8 keeps its bytes, as PEP 383 surrogates); None for any
    other scheme (``untitled:``, a notebook cell)."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        return None
    raw = unquote_to_bytes(parts.path)
    if os.name == "nt" and re.match(rb"/[A-Za-z]:", raw):
        raw = raw[1:]  # file:///C:/x is C:/x
    path = os.fsdecode(raw)
    if parts.netloc and parts.netloc != "localhost":
        path = f"//{parts.netloc}{path}"  # a UNC share
    return path


def to_bytes(text: str) -> bytes:
    """A buffer's text as its file's bytes: in the encoding its coding cookie names, so that
    the engine decodes the same characters (and columns), else UTF-8."""
    try:
        encoding = detect_encoding(text.encode("utf-8", "surrogatepass"))
        return text.encode("utf-8" if encoding == "utf-8-sig" else encoding)
    except (SyntaxError, LookupError, UnicodeError):
        return text.encode("utf-8", "surrogatepass")


def notebook_bytes(cells: Sequence[tuple[bool, str]], metadata: Mapping[str, Any] | None
                   ) -> bytes:
    """A notebook document as the ``.ipynb`` JSON the engine reads: ``cells`` are (is a Python
    code cell, text); the others go in as markdown, so that cell numbers stay the document's."""
    document = {
        "cells": [{"cell_type": "code" if code else "markdown", "source": text,
                   "metadata": {}} for code, text in cells],
        "metadata": dict(metadata or {}),
        "nbformat": 4, "nbformat_minor": 5,
    }
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Linted:
    """One buffer's findings, the rule pages' URLs for them (its project's ``docs-url``), and
    the options it was linted with (None: its settings exclude it, nothing was linted)."""

    findings: list[Finding]
    urls: dict[str, str] = field(default_factory=dict)
    options: LintOptions | None = None


class Projects:
    """Settings per buffer, as the CLI resolves them for a file named on its command line."""

    def __init__(self, roots: Sequence[str] = ()) -> None:
        #: Workspace folders, deepest first: a file's folder is the default project root when
        #: no ``pyproject.toml`` configures dropcheck above it.
        self.roots = sorted((os.path.abspath(root) for root in roots), key=len, reverse=True)

    def resolver(self, path: str) -> Resolver:
        # A fresh resolver and fresh pyproject.toml caches for every lint: the user edits the
        # configuration while the server runs, and a client need not report that it did.
        # Reading a few small files costs far less than the lint itself.
        load_pyproject.cache_clear()
        find_config.cache_clear()
        absolute = os.path.abspath(path)
        root = next((root for root in self.roots
                     if absolute.startswith(root.rstrip(os.sep) + os.sep)), None)
        return Resolver(cwd=root or (self.roots[-1] if self.roots else None))

    def options_for(self, path: str) -> tuple[Resolver, LintOptions | None]:
        """Raises ConfigError for an invalid configuration."""
        resolver = self.resolver(path)
        # As the CLI with --force-exclude (pre-commit): a file excluded from its project's
        # walks, by `exclude` or .gitignore, is not linted when the editor names it either.
        if explicitly_excluded(resolver, path):
            return resolver, None
        return resolver, resolver.settings_for(path).lint_options(
            LintOptions(rules=[]))

    def lint(self, path: str, data: bytes) -> Linted:
        """Lint ``data`` as the file ``path`` (a notebook when it ends in ``.ipynb``)."""
        resolver, options = self.options_for(path)
        if options is None:
            return Linted([])
        new_run()  # other files may have changed since the last lint
        findings = lint_bytes(path, data, options)
        use_docs_url(resolver.config_for(path).docs_url)
        urls = {f.code: url for f in findings if (url := rule_url(f.code)) is not None}
        return Linted(findings, urls, options)


# -- positions ---------------------------------------------------------------------------------


def to_units(line: str, index: int, encoding: str) -> int:
    """Character ``index`` (0-based) of ``line`` in the client's units: UTF-16 code units
    (the LSP default), UTF-8 bytes or code points."""
    index = min(max(index, 0), len(line))
    if encoding == "utf-32":
        return index
    codec = "utf-8" if encoding == "utf-8" else "utf-16-le"
    width = len(line[:index].encode(codec, "surrogatepass"))
    return width if codec == "utf-8" else width // 2


def from_units(line: str, units: int, encoding: str) -> int:
    """The inverse of :func:`to_units`: a character index from a client's column (a column
    inside a character counts as that character; past the end, the end)."""
    if encoding == "utf-32":
        return min(max(units, 0), len(line))
    codec = "utf-8" if encoding == "utf-8" else "utf-16-le"
    step = 1 if codec == "utf-8" else 2
    count = 0
    for index, char in enumerate(line):
        count += len(char.encode(codec, "surrogatepass")) // step
        if count > units:
            return index
    return len(line)


def finding_range(lines: LineIndex, finding: Finding) -> tuple[int, int, int, int]:
    """A finding's (row, column, end row, end column), 1-based, clamped into the text."""
    last = len(lines)
    row = min(max(finding.line, 1), last)
    end_row = min(max(finding.end_line, row), last)
    column = min(max(finding.column, 1), len(lines.line(row)) + 1)
    end_column = min(max(finding.end_column, 1), len(lines.line(end_row)) + 1)
    if (end_row, end_column) < (row, column):
        end_row, end_column = row, column
    return row, column, end_row, end_column


def message(finding: Finding) -> str:
    """The finding's message as valid UTF-8 (a name's undecodable bytes shown as ``\\xff``)."""
    return printable(finding.message)


# -- code actions ------------------------------------------------------------------------------


def fix_edits(text: str, finding: Finding) -> tuple[Edit, ...] | None:
    """A finding's fix as edits of ``text``, when it passes the checks ``--fix`` makes (every
    line it does not touch stays the same, and code that compiled still compiles); None when
    there is no fix or it fails a check."""
    if finding.fix is None:
        return None
    try:
        own = spans(LineIndex(text), finding.fix.edits)
        before, after = to_bytes(text), to_bytes(apply(text, own))
        check_changed_lines(before, after, own)
        check_parses(after, compiles(before))
    except FixError:
        return None
    return finding.fix.edits


def fix_all(path: str, text: str, options: LintOptions) -> Edit | None:
    """Every safe fix, as ``--fix`` applies them (pass after pass, every check), as one edit
    of the lines that change; None when nothing changes."""
    result = fix_source(path, to_bytes(text), options, unsafe=False)
    if not result.changed or result.fixed is None:
        return None
    try:
        fixed = decode(result.fixed).text
    except FixError:
        return None
    return changed_lines(text, fixed)


_LINES = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+$")


def changed_lines(old: str, new: str) -> Edit | None:
    """One edit that turns ``old`` into ``new``, spanning only the lines that differ (an
    editor then keeps the cursor and folds elsewhere)."""
    if old == new:
        return None
    before, after = _LINES.findall(old), _LINES.findall(new)
    head = 0
    while head < min(len(before), len(after)) and before[head] == after[head]:
        head += 1
    tail = 0
    while (tail < min(len(before), len(after)) - head
           and before[-1 - tail] == after[-1 - tail]):
        tail += 1
    start = sum(len(line) for line in before[:head])
    end = len(old) - sum(len(line) for line in before[len(before) - tail:])
    content = "".join(after[head:len(after) - tail])
    lines = LineIndex(old)
    row, column = lines.position(start)
    end_row, end_column = lines.position(end)
    return Edit(row, column, end_row, end_column, content)


def noqa_edit(text: str, finding: Finding) -> Edit | None:
    """The edit that adds ``# noqa: CODE`` for ``finding`` (to its line, or to the end of its
    statement where a comment cannot go), as ``--add-noqa`` writes it; None where there is
    nothing to add or the text does not tokenize. DC000 and DC017 get none, as there."""
    if finding.code in (NOT_ANALYSED_CODE, UNUSED_NOQA_CODE):
        return None
    try:
        changed = noqa_lines(to_bytes(text), [replace(finding, cell=None)])
    except (SyntaxError, UnicodeError, LookupError):
        return None
    lines = LineIndex(text)
    for row, new in changed.items():
        old = lines.line(row)
        head = 0
        while head < min(len(old), len(new)) and old[head] == new[head]:
            head += 1
        tail = 0
        while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
            tail += 1
        return Edit(row, head + 1, row, len(old) - tail + 1, new[head:len(new) - tail])
    return None
