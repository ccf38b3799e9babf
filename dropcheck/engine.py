"""The engine: bytes -> pre-filter -> one parse -> shared facts -> all rules in one batched
pass -> findings. It never raises for a bad file: what cannot be analysed is a DC000 finding."""

from __future__ import annotations

import ast
import contextlib
import faulthandler
import functools
import os
import pickle
import queue
import re
import selectors
import signal
import stat
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from dropcheck.analysis import project
from dropcheck.analysis.context import FileContext
from dropcheck.analysis.sketch import Sketch
from dropcheck.analysis.walk import child_nodes
from dropcheck.encoding import detect_encoding
from dropcheck.findings import Finding, Fix, not_analysed
from dropcheck.fix.changes import FixBuilder
from dropcheck.fix.source import FixError
from dropcheck.notebook import lint_notebook
from dropcheck.rules.base import Report, Rule
from dropcheck.suppression import UNUSED_NOQA_CODE, apply_suppressions

#: Files larger than this are not parsed (LibCST costs ~20 s and ~0.5 GB per MB of source).
DEFAULT_MAX_FILE_BYTES = 2_000_000


@dataclass(frozen=True)
class LintOptions:
    rules: Sequence[type[Rule]]
    #: Per-rule option overrides, keyed by rule code.
    rule_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    prefilter: bool = True
    verbose: bool = False


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


def passes_prefilter(data: bytes, rule: type[Rule]) -> bool:
    return all(any(token in data for token in group) for group in rule.requires)


class RuleCrash(Exception):
    def __init__(self, rule: type[Rule], error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.rule = rule
        self.error = error


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


def lint_source(path: str, data: bytes, options: LintOptions) -> list[Finding]:
    """Lint one file's bytes. Never raises for bad input.

    Suppression comments (``# noqa``) are applied here, once, after all rules have reported;
    rules never look at comments. DC017 (unused noqa) is computed by that same step."""
    findings = _lint_unsuppressed(path, data, options)
    return apply_suppressions(path, data, findings, frozenset(r.code for r in options.rules))


def _lint_unsuppressed(path: str, data: bytes, options: LintOptions) -> list[Finding]:
    if len(data) > options.max_file_bytes:
        return [not_analysed(path, f"file is {len(data):,} bytes, larger than the "
                                   f"{options.max_file_bytes:,}-byte limit")]
    rules = [r for r in options.rules if (not options.prefilter or passes_prefilter(data, r))
             and r.code != UNUSED_NOQA_CODE]  # DC017 reads comments only: no parse for it
    # CPython's parser first (~10x cheaper than LibCST's). It decides which files LibCST may
    # parse in this process: LibCST's native parser has crashed the process (segfault at
    # ~1,500 nested brackets) or used many GB on inputs CPython rejects.
    # Deep but valid code parses there; the sketch's second filter stage runs on the same tree.
    rejected, rules = _with_deep_stack(
        lambda: _parse_and_select(data, rules, options.prefilter, path))
    if rejected is None:
        if not rules:
            return []  # nothing selected can match and the file is valid: no LibCST parse
        return _lint_deep(path, data, rules, options)
    if _beyond_cpython_limits(rejected):
        # Nesting no CPython version accepts (its limits have not changed since 3.8): a
        # syntax error for every interpreter, not newer syntax; LibCST is not asked.
        return [_cpython_error(path, rejected)]
    # A syntax error, or syntax newer than this Python, which only LibCST can tell apart:
    # parsed in a child process, so that a crash or a runaway parse costs only this file.
    return _isolated(path, lambda: _lint_deep(path, data, rules, options))


#: CPython's SyntaxError messages for its fixed nesting limits (200 brackets, 100 indents).
_LIMIT_MESSAGES = ("too many nested parentheses", "too many levels of indentation",
                   "too many nested", "too complex")


def _cpython_parse(data: bytes) -> tuple[ast.Module | None, BaseException | None]:
    """CPython's tree of the file, or the error its parser raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like
            return ast.parse(data), None
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError,
            LookupError) as error:
        return None, error


def _cpython_rejects(data: bytes) -> BaseException | None:
    """None when CPython's parser accepts the file, else the error it raised."""
    return _cpython_parse(data)[1]


def _parse_and_select(
    data: bytes, rules: Sequence[type[Rule]], prefilter: bool, path: str | None = None,
) -> tuple[BaseException | None, list[type[Rule]]]:
    """CPython's verdict on the file, and the rules that may report on it: with the
    pre-filter, those whose ``could_match`` holds on a sketch of CPython's tree (LibCST, ~10x
    dearer, then parses only files some rule may report on)."""
    tree, rejected = _cpython_parse(data)
    if tree is None or not prefilter or not rules:
        return rejected, list(rules)
    try:
        sketch = Sketch(tree, path)
    except Exception:  # the sketch only saves time: without it, every rule runs
        return rejected, list(rules)
    return rejected, [rule for rule in rules if _could_match(rule, sketch)]


def _could_match(rule: type[Rule], sketch: Sketch) -> bool:
    try:
        return rule.could_match(sketch)
    except Exception:
        return True  # when in doubt, analyse (tests/test_prefilter.py calls it unguarded)


def _beyond_cpython_limits(error: BaseException) -> bool:
    if isinstance(error, (RecursionError, MemoryError)):
        return True
    return isinstance(error, SyntaxError) and any(
        text in (error.msg or "") for text in _LIMIT_MESSAGES)


def _cpython_error(path: str, error: BaseException) -> Finding:
    if isinstance(error, SyntaxError):
        return not_analysed(path, f"syntax error: {error.msg}", max(error.lineno or 1, 1),
                            max(error.offset or 1, 1))
    return not_analysed(path, "code nested too deeply to analyse")


def _lint_deep(
    path: str, data: bytes, rules: Sequence[type[Rule]], options: LintOptions
) -> list[Finding]:
    try:
        return _with_deep_stack(lambda: _lint_parsed(path, data, rules, options))
    except RecursionError:
        return [not_analysed(path, "code nested too deeply to analyse")]
    except MemoryError:
        return [not_analysed(path, "out of memory while analysing")]


def _lint_parsed(
    path: str, data: bytes, rules: Sequence[type[Rule]], options: LintOptions
) -> list[Finding]:
    try:
        # The encoding as CPython finds it (lone-CR line ends included), not LibCST's guess.
        config = cst.PartialParserConfig(encoding=detect_encoding(data))
        module = cst.parse_module(data, config=config)
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


def _compiles(data: bytes) -> bool:
    """Whether CPython's own parser accepts the file."""
    return _cpython_rejects(data) is None


class _DeepStack:
    """One long-lived thread with a 256 MB stack and a raised recursion limit, where LibCST
    parses and the rules run: valid but deeply nested code then parses instead of raising
    RecursionError (or overflowing the C stack). One thread per process, reused for every file
    (a thread per file costs its start-up each time). Daemonic, so Ctrl-C never waits for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]] = (
            queue.SimpleQueue()
        )
        old_size = threading.stack_size()
        try:
            threading.stack_size(256 * 1024 * 1024)
            self.thread = threading.Thread(target=self._serve, name="dropcheck-parse",
                                           daemon=True)
            self.thread.start()
        finally:
            threading.stack_size(old_size)

    def _serve(self) -> None:
        while True:
            function, answer = self.jobs.get()
            # The limit is interpreter-wide: raised only while this thread works (the caller
            # waits meanwhile), so a program that imports dropcheck keeps its own.
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old, 20_000))
            try:
                outcome: tuple[bool, Any] = (True, function())
            except BaseException as exc:
                outcome = (False, exc)
            sys.setrecursionlimit(old)  # before answering: the caller may look at it at once
            answer.put(outcome)

    def run(self, function: Callable[[], Any]) -> Any:
        answer: queue.SimpleQueue[Any] = queue.SimpleQueue()
        with self.lock:  # one file at a time: the rules' state is per file
            self.jobs.put((function, answer))
            ok, value = answer.get()
        if not ok:
            raise value
        return value


_deep_stack: _DeepStack | None = None


def _forget_deep_stack() -> None:
    # A forked child has no copy of the parent's threads: it starts its own when needed.
    global _deep_stack
    _deep_stack = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_deep_stack)


def _with_deep_stack(function: Callable[[], Any]) -> Any:
    global _deep_stack
    if _deep_stack is None:
        _deep_stack = _DeepStack()
    return _deep_stack.run(function)


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


def read_source(path: str) -> bytes:
    """Read a regular file's bytes; anything else (directory, pipe, device) raises OSError.

    Opened non-blocking and checked with ``fstat`` on the open descriptor, so a named pipe or
    device never blocks the run, even one swapped in after a ``stat``."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise IsADirectoryError(f"{kind}") if stat.S_ISDIR(st.st_mode) else OSError(kind)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    with open(fd, "rb", closefd=True) as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file")
        return handle.read()


#: Seconds an isolated analysis may take (LibCST needs ~20 s per MB; files are capped at 2 MB
#: by default) before it is stopped and reported as DC000.
ISOLATED_TIMEOUT = 300.0


#: Address space an isolated analysis may use (a runaway parse then fails, not the machine).
ISOLATED_MEMORY = 8 * 1024**3


def _limit_memory(limit: int) -> None:
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass


def lint_isolated(path: str, options: LintOptions, timeout: float = ISOLATED_TIMEOUT
                  ) -> list[Finding]:
    """:func:`lint_path` in a forked child process, so that a native crash of the parser
    (LibCST's segfaults at ~1,500 nested brackets; no ``except`` catches those) or a runaway
    analysis costs only this file: it becomes a DC000 finding and the run goes on.

    The runner uses it for files CPython's parser rejects (syntax errors, newer syntax,
    nesting beyond CPython's limits: where the native crashes were seen) and for the files of
    a pool worker that died."""
    return _isolated(path, lambda: lint_path(path, options), timeout)


def _isolated(path: str, function: Callable[[], list[Finding]],
              timeout: float = ISOLATED_TIMEOUT) -> list[Finding]:
    """``function()`` in a forked child; a crash, a timeout or no result is a DC000.
    Without ``os.fork`` (Windows) it runs in this process."""
    if not hasattr(os, "fork"):
        return function()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # the child: run, send the findings, and leave without any cleanup
        status = 0
        try:
            os.close(read_end)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            faulthandler.disable()  # an expected crash here is a DC000, not a stack dump
            _limit_memory(ISOLATED_MEMORY)
            # the files it consulted travel with the findings (the cache must know them)
            payload = pickle.dumps((function(), project.consulted()))
            with open(write_end, "wb") as pipe:
                pipe.write(payload)
        except BaseException:
            status = 3
        finally:
            os._exit(status)
    os.close(write_end)
    chunks: list[bytes] = []
    reason: str | None = None
    try:
        with open(read_end, "rb") as pipe, selectors.DefaultSelector() as selector:
            selector.register(pipe, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    os.kill(pid, signal.SIGKILL)
                    reason = f"analysis took longer than {timeout:g} s and was stopped"
                    break
                chunk = os.read(pipe.fileno(), 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    except BaseException:  # Ctrl-C: leave no child behind
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    _, status = os.waitpid(pid, 0)
    if reason is None and os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        reason = f"the parser crashed ({name}); the code may be nested too deeply"
    if reason is None:
        try:
            findings, consulted = pickle.loads(b"".join(chunks))
            project.record(consulted)
            return list(findings)
        except Exception:
            reason = "the analysis process ended without a result"
    return [not_analysed(path, reason)]


def lint_path(path: str, options: LintOptions) -> list[Finding]:
    try:
        data = read_source(path)
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        return [not_analysed(path, f"cannot read the file: {reason}")]
    return lint_bytes(path, data, options)


def lint_bytes(path: str, data: bytes, options: LintOptions) -> list[Finding]:
    """A file's bytes that did not come from ``path`` (standard input, an editor's buffer):
    a notebook when the name ends in ``.ipynb``, Python source otherwise."""
    if path.endswith(".ipynb"):
        return lint_notebook(path, data, options)
    return lint_source(path, data, options)
