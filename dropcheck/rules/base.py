"""The rule unit: one class per module carrying code, name, message, docs, examples and logic."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import libcst as cst

from dropcheck.analysis.context import FileContext
from dropcheck.analysis.sketch import Sketch
from dropcheck.fix.changes import NodeFix


@dataclass(frozen=True)
class Report:
    """A finding before it has a position: the node it is about and the message."""

    code: str
    name: str
    node: cst.CSTNode
    message: str
    #: How to fix it, as node changes; the engine turns it into text edits.
    fix: NodeFix | None = None


class Rule(cst.BatchableCSTVisitor):
    """Base class of every rule.

    Subclasses set the class attributes below, write their documentation as the class docstring
    in ruff's form (What it does / Why is this bad? / Example / Use instead / Options /
    References), and call :meth:`report` from ``visit_*`` methods or from :meth:`finish`.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    #: The default message; a rule usually formats a more specific one per finding.
    message: ClassVar[str]
    #: Preview rules run only when selected by exact code or with ``--preview``.
    preview: ClassVar[bool] = False
    #: Pre-filter: every group must have at least one token occurring in the file's bytes.
    #: Must be a necessary condition for any finding (see tests/test_prefilter.py).
    requires: ClassVar[tuple[tuple[bytes, ...], ...]] = ()
    #: Pre-filter: a file that imports a module of its own project whose file holds one of
    #: these tokens (or re-exports such a module) also passes without ``requires``: a helper
    #: there may supply what they stand for (a model it loads); ``could_match`` then reads it.
    cross_file: ClassVar[tuple[bytes, ...]] = ()
    #: Options with their defaults, settable from configuration.
    options: ClassVar[Mapping[str, Any]] = {}
    #: Examples the generic test runs: VALID must give no finding of this rule; in INVALID
    #: every line marked ``# expect: <code>`` must be reported and no other.
    VALID: ClassVar[Sequence[str]] = ()
    INVALID: ClassVar[Sequence[str]] = ()

    def __init__(self, context: FileContext, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.context = context
        self.settings: dict[str, Any] = {**self.options, **(settings or {})}
        self.reports: list[Report] = []

    def report(
        self, node: cst.CSTNode, message: str | None = None, fix: NodeFix | None = None
    ) -> None:
        self.reports.append(Report(self.code, self.name, node, message or self.message, fix))

    @classmethod
    def could_match(cls, sketch: Sketch) -> bool:
        """Second pre-filter stage, for a file whose bytes passed ``requires``: False only if
        the rule cannot report anything in the file, judged on a cheap sketch of CPython's
        tree (see analysis/sketch.py). Must be a necessary condition, like ``requires``.
        Each rule's is in rules/prefilter.py (it needs neither LibCST nor the rule)."""
        from dropcheck.rules.prefilter import could_match

        return could_match(cls.__module__, sketch)

    def finish(self) -> None:
        """Called once after the batched pass, for rules that analyse whole functions/classes."""

    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        """The first sentence of "What it does"."""
        doc = cls.documentation()
        lines = doc.splitlines()
        for i, line in enumerate(lines):
            if line.strip().lower().startswith("## what it does") and i + 1 < len(lines):
                rest = lines[i + 1 :]
                text = " ".join(s.strip() for s in rest if s.strip() and not s.startswith("#"))
                return text.split(". ")[0].rstrip(".") + "."
        return cls.message


