"""flake8 plugin: ``flake8 --select=DC`` reports dropcheck's findings.

Registered as the ``DC`` entry of ``flake8.extension``. It runs the same engine with the same
effective settings as the ``dropcheck`` command (``[tool.dropcheck]`` of the nearest
``pyproject.toml``: rule options, ``select``, ``per-file-ignores``), and flake8 applies its own
``--select``/``--extend-ignore``/``# noqa`` on top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from typing import Any

from dropcheck import __version__

Result = tuple[int, int, str, type[Any]]


class Plugin:
    """A flake8 "tree" plugin (flake8 recognises those by a ``tree`` parameter); it lints the
    file's lines, which flake8 has already read, with dropcheck's own parser."""

    name = "dropcheck"
    version = __version__

    def __init__(self, tree: ast.AST, filename: str, lines: Sequence[str]) -> None:
        self.filename = filename
        self.lines = lines

    def run(self) -> Iterator[Result]:
        # Imported here: flake8 loads every plugin at start-up, dropcheck's engine only when a
        # file is actually checked.
        from dropcheck.config import ConfigError, Resolver
        from dropcheck.engine import LintOptions, lint_source

        try:
            settings = Resolver().settings_for(self.filename)
        except ConfigError as error:
            yield 1, 0, f"DC000 [file-not-analysed] invalid configuration: {error}", type(self)
            return
        options = settings.lint_options(LintOptions(rules=[]))
        source = "".join(self.lines).encode("utf-8")
        for finding in lint_source(self.filename, source, options):
            text = f"{finding.code} [{finding.name}] {finding.message}"
            yield finding.line, max(finding.column - 1, 0), text, type(self)
