"""The engine: bytes -> pre-filter -> one parse -> shared facts -> all rules in one batched
pass -> findings. It never raises for a bad file: what cannot be analysed is a DC000 finding.

This module does the stages before LibCST (the byte pre-filter on the rules' catalog entries,
CPython's parse, the sketch) and imports LibCST, the analysis and a rule's module only for a
file that gets past them: dropcheck/cst_pass.py is the LibCST stage. A one-file run on code
no rule can match (pre-commit, an editor) then costs a fraction of those imports."""

from __future__ import annotations

import ast
import contextlib
import faulthandler
import os
import queue
import selectors
import signal
import stat
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dropcheck.findings import Finding, not_analysed
from dropcheck.notebook import lint_notebook
from dropcheck.rules.catalog import RuleInfo
from dropcheck.suppression import UNUSED_NOQA_CODE, apply_suppressions

if TYPE_CHECKING:
    from typing import TypeAlias

    from dropcheck.analysis.sketch import Sketch
    from dropcheck.rules.base import Rule

    #: A rule as LintOptions holds it: its class, or its catalog entry (the configuration's
    #: choice), whose module is imported only for a file whose bytes pass its pre-filter.
    RuleSpec: TypeAlias = "type[Rule] | RuleInfo"

#: Files larger than this are not parsed (LibCST costs ~20 s and ~0.5 GB per MB of source).
DEFAULT_MAX_FILE_BYTES = 2_000_000


@dataclass(frozen=True)
class LintOptions:
    rules: Sequence[RuleSpec]
    #: Per-rule option overrides, keyed by rule code.
    rule_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    prefilter: bool = True
    verbose: bool = False


def passes_prefilter(data: bytes, rule: RuleSpec, path: str | None = None) -> bool:
    """The byte stage: every group of the rule's tokens occurs in ``data``, or (a cross-file
    rule) the file at ``path`` imports a module of its project."""
    if all(any(token in data for token in group) for group in rule.requires):
        return True
    if rule.cross_file and path is not None:
        from dropcheck.analysis.layout import imports_project_module

        return imports_project_module(path, data, tuple(rule.cross_file))
    return False


def loaded(rules: Iterable[RuleSpec]) -> list[type[Rule]]:
    """The rule classes (importing the modules of those given by their catalog entry)."""
    return [rule.load() if isinstance(rule, RuleInfo) else rule for rule in rules]


def preload(options: LintOptions) -> None:
    """Import everything a LibCST parse needs, for all of ``options``' rules: before forking
    worker processes, so that they share one import instead of each paying for its own."""
    from dropcheck import cst_pass  # noqa: F401
    from dropcheck.analysis import sketch  # noqa: F401

    loaded(options.rules)


def new_run() -> None:
    """A run starts: files may have changed since the last one, so what the pre-filter keeps
    about other files is dropped (nothing to drop, and nothing imported, in a fresh process)."""
    sketch = sys.modules.get("dropcheck.analysis.sketch")
    if sketch is not None:
        sketch.forget()
    layout = sys.modules.get("dropcheck.analysis.layout")
    if layout is not None:
        layout.forget()
    pickled = sys.modules.get("dropcheck.analysis.pickled")
    if pickled is not None:
        pickled.forget()
    project = sys.modules.get("dropcheck.analysis.project")
    if project is not None:
        project.forget_answers()


#: Files a forked child reported reading for the current lint (see _isolated).
_REPORTED: dict[str, str] = {}


def consulted(linted: str | None = None) -> dict[str, str]:
    """The other files the last lint (of ``linted``) read, and answers about them read in
    turn, by content hash (the result cache re-lints the file when one of them changes),
    then forgets them. Imports nothing: a process that analysed no file has read none."""
    found = dict(_REPORTED)
    _REPORTED.clear()
    project = sys.modules.get("dropcheck.analysis.project")
    layout = sys.modules.get("dropcheck.analysis.layout")
    direct: dict[str, str] = project.consulted() if project is not None else {}
    found.update(direct)
    if layout is not None and linted is not None:
        found.update(layout.read_by(linted, direct))
    return found


def __getattr__(name: str) -> Any:
    # The LibCST stage's names (lint_module, ...) and `cst` as before the split, imported on
    # first use. Never for dunders: the import system probes those (``__path__``).
    if name.startswith("__"):
        raise AttributeError(f"module 'dropcheck.engine' has no attribute {name!r}")
    from dropcheck import cst_pass

    try:
        return getattr(cst_pass, name)
    except AttributeError:
        raise AttributeError(f"module 'dropcheck.engine' has no attribute {name!r}") from None


class RuleCrash(Exception):
    def __init__(self, rule: type[Rule], error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.rule = rule
        self.error = error


def lint_source(path: str, data: bytes, options: LintOptions) -> list[Finding]:
    """Lint one file's bytes. Never raises for bad input.

    Suppression comments (``# noqa``) are applied here, once, after all rules have reported;
    rules never look at comments. DC017 (unused noqa) is computed by that same step."""
    findings = _lint_unsuppressed(path, data, options)
    return apply_suppressions(path, data, findings, frozenset(r.code for r in options.rules))


def lint_light(path: str, data: bytes, options: LintOptions) -> list[Finding] | None:
    """:func:`lint_bytes`' findings when they need neither LibCST nor a rule's module: CPython's
    parser accepts the bytes, and no selected rule's pre-filter passes them (its tokens, then
    its ``could_match`` on the sketch). None otherwise (and for notebooks): the file then
    needs the whole engine."""
    if path.endswith(".ipynb") or len(data) > options.max_file_bytes:
        return None
    candidates = _candidates(data, options, path)
    if candidates:
        if not options.prefilter:
            return None
        # the sketch stage, which imports neither LibCST nor a rule (rules/prefilter.py)
        rejected, chosen = _with_deep_stack(
            lambda: _parse_and_select(data, candidates, True, path))
        if rejected is not None or chosen:
            return None
    elif _with_deep_stack(lambda: _cpython_rejects(data)) is not None:
        return None  # an error, or newer syntax: LibCST tells (_lint_unsuppressed)
    return apply_suppressions(path, data, [], frozenset(r.code for r in options.rules))


def _candidates(data: bytes, options: LintOptions, path: str | None = None,
                ) -> list[RuleSpec]:
    """The rules that may need a parse of the file: those whose tokens occur in its bytes."""
    return [r for r in options.rules
            if (not options.prefilter or passes_prefilter(data, r, path))
            and r.code != UNUSED_NOQA_CODE]  # DC017 reads comments only: no parse for it


def _lint_unsuppressed(path: str, data: bytes, options: LintOptions) -> list[Finding]:
    if len(data) > options.max_file_bytes:
        return [not_analysed(path, f"file is {len(data):,} bytes, larger than the "
                                   f"{options.max_file_bytes:,}-byte limit")]
    rules = _candidates(data, options, path)
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
    data: bytes, rules: Sequence[RuleSpec], prefilter: bool, path: str | None = None,
) -> tuple[BaseException | None, list[RuleSpec]]:
    """CPython's verdict on the file, and the rules that may report on it: with the
    pre-filter, those whose ``could_match`` holds on a sketch of CPython's tree (LibCST, ~10x
    dearer, then parses only files some rule may report on)."""
    if prefilter and rules and path is not None:
        from dropcheck.analysis.sketch import known_sketch

        # read already, as another linted file's import: CPython parsed these very bytes
        known = known_sketch(path, data)
        if known is not None:
            return None, [rule for rule in rules if _could_match(rule, known)]
    tree, rejected = _cpython_parse(data)
    if tree is None or not prefilter or not rules:
        return rejected, list(rules)
    try:
        from dropcheck.analysis.sketch import sketch_for

        sketch = sketch_for(path, data, tree)
    except Exception:  # the sketch only saves time: without it, every rule runs
        return rejected, list(rules)
    return rejected, [rule for rule in rules if _could_match(rule, sketch)]


def _could_match(rule: RuleSpec, sketch: Sketch) -> bool:
    """The rule's second pre-filter stage; a catalog entry's without importing its rule
    (rules/prefilter.py needs neither LibCST nor the rule's module)."""
    try:
        if isinstance(rule, RuleInfo):
            from dropcheck.rules.prefilter import could_match

            return could_match(rule.module, sketch)
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
    path: str, data: bytes, rules: Sequence[RuleSpec], options: LintOptions
) -> list[Finding]:
    from dropcheck.cst_pass import lint_parsed

    try:
        return _with_deep_stack(lambda: lint_parsed(path, data, loaded(rules), options))
    except RecursionError:
        return [not_analysed(path, "code nested too deeply to analyse")]
    except MemoryError:
        return [not_analysed(path, "out of memory while analysing")]


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
    import pickle
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
            payload = pickle.dumps((function(), consulted(path)))
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
            findings, files = pickle.loads(b"".join(chunks))
            _REPORTED.update(files)
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
