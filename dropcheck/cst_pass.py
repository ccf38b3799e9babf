"""The engine's LibCST stage, for a file that some rule may report on: one parse, the rules in
one batched pass, then positions and fixes for what they reported. Imported only when a file
gets this far (LibCST, the analysis and the rules cost ~0.3 s to import), so a run whose files
need no parse never pays for it; see engine.py for the stages before."""

from __future__ import annotations

import ast
import functools
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from dropcheck.analysis.context import FileContext
from dropcheck.analysis.parsing import parse_module
from dropcheck.analysis.walk import child_nodes
from dropcheck.encoding import detect_encoding
from dropcheck.findings import Finding, Fix, not_analysed
from dropcheck.fix.changes import FixBuilder
from dropcheck.fix.source import FixError
from dropcheck.rules.base import Report, Rule

if TYPE_CHECKING:
    from dropcheck.engine import LintOptions


class _ScopeTracker(cst.BatchableCSTVisitor):
    """Keeps ``FileContext.scopes`` current during the batched pass.

    The engine puts one instance first and one last in the batch, so that rules see a scope
    pushed when they visit it and still see it when they leave it.
    """

    def __init__(self, context: FileContext, entering: bool) -> None:
        super().__init__()
        self.context = context
        self.entering = entering

    def _push(self, node: cst.ClassDef | cst.FunctionDef) -> None:
        if self.entering:
            self.context.scopes.append(node)

    def _pop(self, node: cst.ClassDef | cst.FunctionDef) -> None:
        if not self.entering and self.context.scopes and self.context.scopes[-1] is node:
            self.context.scopes.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._push(node)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._pop(original_node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._push(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._pop(original_node)


def _guarded(
    rule: Rule, method: Callable[..., Any], crashed: dict[str, BaseException]
) -> Callable[..., Any]:
    """Wrap a rule's visitor method so that one rule's bug cannot stop the other rules."""

    def call(*args: Any) -> Any:
        if rule.code in crashed:
            return None
        try:
            return method(*args)
        except RecursionError:
            raise
        except Exception as error:
            crashed[rule.code] = error
            return None

    return call


def lint_module(
    path: str, module: cst.Module, rules: Sequence[Rule], context: FileContext
) -> tuple[list[Report], dict[str, BaseException]]:
    """Run already-constructed rules over a parsed module in one batched pass."""
    crashed: dict[str, BaseException] = {}
    visitors: list[cst.BatchableCSTVisitor] = [_ScopeTracker(context, entering=True)]
    visitors.extend(rules)
    visitors.append(_ScopeTracker(context, entering=False))
    guarded = _GuardedBatch(visitors, rules, crashed)
    guarded.walk(module)
    for rule in rules:
        if rule.code not in crashed:
            _guarded(rule, rule.finish, crashed)()
    reports = [r for rule in rules if rule.code not in crashed for r in rule.reports]
    return reports, crashed


@functools.cache
def _visitor_names(cls: type) -> tuple[str, ...]:
    # What LibCST's get_visitors() finds (visit_*/leave_* methods that are not its empty
    # stubs), computed once per class: LibCST runs inspect.getmembers on every instance
    # (~10 % of a file's analysis time).
    names = []
    for name in dir(cls):
        if name.startswith(("visit_", "leave_")):
            member = getattr(cls, name, None)
            if callable(member) and not getattr(member, "_is_no_op", False):
                names.append(name)
    return tuple(names)


def _visitors(visitor: cst.BatchableCSTVisitor) -> list[tuple[str, Callable[..., Any]]]:
    return [(name, getattr(visitor, name)) for name in _visitor_names(type(visitor))]


class _GuardedBatch:
    """LibCST's batched visitor, with each rule's callbacks guarded, over a read-only walk
    (LibCST's own ``visit`` rebuilds every node it passes: ~25 % of a cold run)."""

    def __init__(
        self,
        visitors: Sequence[cst.BatchableCSTVisitor],
        rules: Sequence[Rule],
        crashed: dict[str, BaseException],
    ) -> None:
        rule_ids = {id(rule): rule for rule in rules}
        self._visit: dict[str, list[Callable[..., Any]]] = {}
        self._leave: dict[str, list[Callable[..., Any]]] = {}
        for visitor in visitors:
            rule = rule_ids.get(id(visitor))
            for name, method in _visitors(visitor):
                wrapped = _guarded(rule, method, crashed) if rule is not None else method
                kind, _, node_type = name.partition("_")
                target = self._visit if kind == "visit" else self._leave
                target.setdefault(node_type, []).append(wrapped)

    def walk(self, node: cst.CSTNode) -> None:
        name = type(node).__name__
        for method in self._visit.get(name, ()):
            method(node)
        for child in child_nodes(node):
            self.walk(child)
        for method in self._leave.get(name, ()):
            method(node)


def _positions(module: cst.Module, reports: Sequence[Report]) -> Mapping[cst.CSTNode, CodeRange]:
    # Positions cost a full code-generation pass; pay it only when there is something to report.
    # unsafe_skip_copy keeps node identity, so the rules' nodes are the keys.
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    return wrapper.resolve(PositionProvider)


_LINE_ENDS = re.compile(r"\r\n|\r|\n")
_INDENT = " \t\x0c"


def _form_feed_corrected(
    module: cst.Module, data: bytes, positions: Mapping[cst.CSTNode, CodeRange]
) -> Mapping[cst.CSTNode, CodeRange]:
    """Positions in the file's own columns. LibCST drops the whitespace before a module-level
    statement on a line that starts with a form feed (its code then differs from the file
    there) and counts that line's columns from the statement: one or more too small. The
    shift is the whitespace it dropped, line by line."""
    try:
        text = data.decode(module.encoding)
    except (UnicodeDecodeError, LookupError):
        return positions
    ours, theirs = _LINE_ENDS.split(text), _LINE_ENDS.split(module.code)
    if len(ours) != len(theirs):
        return positions
    shifts: dict[int, int] = {}
    for number, (line, parsed) in enumerate(zip(ours, theirs, strict=True), start=1):
        if line != parsed and line.lstrip(_INDENT) == parsed.lstrip(_INDENT):
            shifts[number] = len(line) - len(parsed)
    if not shifts:
        return positions

    def moved(where: CodePosition) -> CodePosition:
        return CodePosition(where.line, where.column + shifts.get(where.line, 0))

    return {node: CodeRange(moved(where.start), moved(where.end))
            for node, where in positions.items()}


def lint_parsed(
    path: str, data: bytes, rules: Sequence[type[Rule]], options: LintOptions
) -> list[Finding]:
    try:
        # The encoding as CPython finds it (lone-CR line ends included), not LibCST's guess.
        config = cst.PartialParserConfig(encoding=detect_encoding(data))
        module = parse_module(data, config)
    except cst.ParserSyntaxError as error:
        return [_syntax_error(path, data, error)]
    except (UnicodeDecodeError, LookupError, SyntaxError, ValueError) as error:
        return [not_analysed(path, _decode_reason(error))]
    except RecursionError:
        return [not_analysed(path, "code nested too deeply for the parser")]
    except Exception as error:
        return [not_analysed(path, f"parser failed: {type(error).__name__}: {error}")]
    context = FileContext(path, module)
    instances = [rule(context, options.rule_settings.get(rule.code)) for rule in rules]
    reports, crashed = lint_module(path, module, instances, context)
    findings = [
        _internal_error(path, code, error, options.verbose) for code, error in crashed.items()
    ]
    if reports:
        positions = _positions(module, reports)
        # Fixes map LibCST's positions onto the file themselves (fix/source.py); findings
        # need the file's own columns.
        fixes = _fixes(module, data, positions, reports, options.verbose)
        if b"\x0c" in data:
            positions = _form_feed_corrected(module, data, positions)
        for report in reports:
            findings.append(_finding(path, report, positions[report.node], fixes.get(id(report))))
    return sorted(set(findings), key=lambda f: f.sort_key)


def _syntax_error(path: str, data: bytes, error: cst.ParserSyntaxError) -> Finding:
    # LibCST's native parser often points past the real error; CPython's message and location
    # are what users know, so prefer them when CPython rejects the file too.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(data)
    except SyntaxError as cpython:
        if cpython.lineno:
            return not_analysed(path, f"syntax error: {cpython.msg}", cpython.lineno,
                                max(cpython.offset or 1, 1))
    except (ValueError, RecursionError, MemoryError, UnicodeError, LookupError):
        pass
    message = error.message.replace("parser error: ", "")
    return not_analysed(path, f"syntax error: {message}", max(error.raw_line, 1),
                        max(error.raw_column + 1, 1))


def _decode_reason(error: BaseException) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"cannot decode the file ({error.encoding}: {error.reason} at byte {error.start})"
    if isinstance(error, LookupError):
        return f"unknown source encoding ({error})"
    return f"{type(error).__name__}: {error}"


def _fixes(
    module: cst.Module, data: bytes, positions: Mapping[cst.CSTNode, CodeRange],
    reports: Sequence[Report], verbose: bool,
) -> dict[int, Fix]:
    """Text edits for the reports that carry a fix. A fix that cannot be expressed safely is
    dropped (the finding stays); it never costs the finding or the file."""
    fixes: dict[int, Fix] = {}
    if not any(report.fix is not None for report in reports):
        return fixes
    try:
        builder = FixBuilder(module, data, positions)
    except FixError:
        return fixes
    for report in reports:
        if report.fix is None:
            continue
        try:
            fixes[id(report)] = builder.build(report.fix)
        except RecursionError:
            raise
        except Exception as error:  # a fix bug must not lose the finding
            if verbose:
                sys.stderr.write(f"dropcheck: {report.code} fix not offered: {error}\n")
    return fixes


def _finding(path: str, report: Report, where: CodeRange, fix: Fix | None = None) -> Finding:
    return Finding(
        code=report.code,
        name=report.name,
        path=path,
        line=where.start.line,
        column=where.start.column + 1,
        end_line=where.end.line,
        end_column=where.end.column + 1,
        message=report.message,
        fix=fix,
    )


def _internal_error(path: str, code: str, error: BaseException, verbose: bool) -> Finding:
    reason = f"internal error in rule {code}: {type(error).__name__}: {error}"
    if verbose:
        sys.stderr.write(f"dropcheck: {path}: internal error in rule {code}:\n")
        sys.stderr.write("".join(traceback.format_exception(error)))
    else:
        reason += " (run with --verbose for the traceback, and please report it)"
    return not_analysed(path, reason)
