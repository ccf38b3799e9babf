"""Runs the engine over many files: cache first, then a process pool (one worker process for
a single file or ``--jobs 1``, so that the per-file time limit holds there too: LibCST's
native parser holds the GIL, and nothing in the parsing process can stop it). Output order
is deterministic (sorted by path, line) whatever the scheduling; results are streamed back
per file, so memory does not grow with the tree (only findings are kept, never parse
trees)."""

from __future__ import annotations

import itertools
import os
import signal
import stat
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dropcheck.cache import Cache, content_hash, open_cache
from dropcheck.discovery import iter_files
from dropcheck.engine import (
    ISOLATED_TIMEOUT,
    LintOptions,
    consulted,
    lint_isolated,
    lint_light,
    lint_path,
    new_run,
    preload,
    read_source,
)
from dropcheck.findings import Finding

if TYPE_CHECKING:
    # Imported where a pool starts: with multiprocessing they cost a one-file run ~20 ms.
    from concurrent.futures import Future, ProcessPoolExecutor


@dataclass(frozen=True)
class RunOptions:
    """How to run, as opposed to what to find (that is ``LintOptions``)."""

    #: Worker processes; 0 means one per available core. 1 lints in this process.
    jobs: int = 1
    #: Folder of the result cache; None disables it.
    cache_dir: str | None = None
    #: Seconds without any progress after which the pool's workers are deemed stuck (a
    #: pathological file: LibCST's parser is super-linear on some inputs); their files are
    #: then linted one by one in child processes, each stopped after this many seconds.
    file_timeout: float = ISOLATED_TIMEOUT
    #: Where warnings go (cache unavailable, ...); stderr by default.
    warn: Callable[[str], None] | None = None
    #: Told (files to lint, worker processes) when the linting starts (``--verbose``).
    started: Callable[[int, int], None] | None = None


@dataclass
class RunStats:
    """What a run did (``--verbose`` prints it; tests check that a warm run parses nothing)."""

    files: int = 0
    cached: int = 0
    linted: int = 0
    workers: int = 0
    warnings: list[str] = field(default_factory=list)


#: The outcome of one file in a worker: path, stat and content hash (None when the file could
#: not be read), and its findings (None when the bytes matched the cached hash: not linted).
#: Last: the other files the findings depend on (path -> content hash), see project.py.
Outcome = tuple[str, "os.stat_result | None", "str | None", "list[Finding] | None",
                "dict[str, str]"]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def lint_paths(
    paths: Sequence[str], options: LintOptions, run: RunOptions | None = None,
    stats: RunStats | None = None,
) -> list[Finding]:
    run = run or RunOptions()
    stats = stats if stats is not None else RunStats()
    new_run()
    warn = run.warn or _stderr_warning
    cache: Cache | None = None
    if run.cache_dir is not None:
        cache, problem = open_cache(run.cache_dir, options)
        if problem:
            stats.warnings.append(problem)
            warn(problem)
    findings: list[Finding] = []
    todo: list[tuple[str, str | None]] = []
    for path in iter_files(list(paths)):
        stats.files += 1
        if cache is not None:
            hit, expected = _cached(cache, path)
            if hit is not None:
                stats.cached += 1
                findings.extend(hit)
                continue
            todo.append((path, expected))
        else:
            todo.append((path, None))
    screened: list[Outcome] = []
    if len(todo) <= SCREEN_FILES:
        rest = []
        for path, expected in todo:
            outcome = _light(path, options, expected)
            if outcome is None:
                rest.append((path, expected))
            else:
                screened.append(outcome)
        todo = rest
    jobs = run.jobs if run.jobs > 0 else available_cores()
    jobs = max(min(jobs, len(todo)), 1)
    stats.workers = jobs if todo else 0
    if run.started is not None:
        run.started(len(todo) + len(screened), stats.workers)
    # Without fork (Windows) one file or --jobs 1 run in this process, with no time limit.
    if len(todo) == 1 and hasattr(os, "fork"):
        # One file (pre-commit, an editor): one forked child holds the time limit as a pool
        # would, without the pool's start-up (~50 ms).
        (path, expected), = todo
        linted: Iterable[Outcome] = [lint_file(path, options, expected, isolate=True,
                                               timeout=run.file_timeout)]
    elif todo and (jobs > 1 or hasattr(os, "fork")):
        linted = _in_pool(todo, options, jobs, run.file_timeout)
    else:
        linted = _serial(todo, options)
    outcomes = itertools.chain(screened, linted)
    for path, st, digest, result, deps in outcomes:
        if result is None:  # unchanged bytes: the cached findings stand
            assert cache is not None and st is not None and digest is not None
            hit = cache.lookup_hash(path, digest, st)
            if hit is not None:
                stats.cached += 1
                findings.extend(hit)
                continue
            consulted()
            result = lint_path(path, options)
            deps = consulted(path)
        stats.linted += 1
        findings.extend(result)
        if cache is not None and st is not None and digest is not None:
            cache.store(path, digest, st, result, deps)
    if cache is not None:
        problem = cache.save()
        if problem:
            stats.warnings.append(problem)
            warn(problem)
    findings.sort(key=lambda f: f.sort_key)
    return findings


def _stderr_warning(message: str) -> None:
    sys.stderr.write(f"dropcheck: warning: {message}\n")


def _cached(cache: Cache, path: str) -> tuple[list[Finding] | None, str | None]:
    """A cache hit by stat alone, or the content hash a worker should compare against."""
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    if not stat.S_ISREG(st.st_mode):
        return None, None
    entry = cache.entries.get(path)
    if entry is not None and not cache.dependencies_unchanged(entry):
        return None, None  # a file it depends on changed: lint it again
    hit = cache.lookup_stat(path, st)
    if hit is not None:
        return hit, None
    return None, entry.hash if entry is not None else None


# -- one file ----------------------------------------------------------------------------------
#: Runs with at most this many files to lint (pre-commit, an editor) lint those that need no
#: LibCST parse in this process (see _light); larger ones send every file to the pool.
SCREEN_FILES = 32


def _light(path: str, options: LintOptions, expected: str | None) -> Outcome | None:
    """``lint_file``'s outcome, in this process, for a file that needs no LibCST parse (no
    rule's tokens in its bytes, see engine.lint_light): for a few such files a pool's start-up
    and LibCST's import (~0.3 s) cost far more than the files. None: the file needs the
    engine's whole path, in the pool (its time limit included)."""
    try:
        st = os.stat(path)
        data = read_source(path)
    except OSError:
        return None  # the pool reports why, as DC000
    digest = content_hash(data)
    if digest == expected:
        return path, st, digest, None, {}
    consulted()  # forget what an earlier lint in this process read
    findings = lint_light(path, data, options)
    # what the byte stage read of other files (a helper file's loads) decides these too
    return None if findings is None else (path, st, digest, findings, consulted(path))


def lint_file(path: str, options: LintOptions, expected: str | None,
              isolate: bool = False, timeout: float = ISOLATED_TIMEOUT) -> Outcome:
    """Lint one file; ``isolate``: in a child process (the engine itself isolates the parses
    it considers risky, see ``engine._lint_unsuppressed``)."""
    try:
        st = os.stat(path)
        data = read_source(path)
    except OSError:
        return path, None, None, lint_path(path, options), {}  # reports why, as DC000
    digest = content_hash(data)
    if digest == expected:
        return path, st, digest, None, {}
    consulted()  # forget what an earlier lint in this process read
    result = lint_isolated(path, options, timeout) if isolate else lint_path(path, options)
    # the other files the findings depend on (a model class imported from models.py): the
    # cache entry holds their hashes, so that an edit there shows here on the next run
    return path, st, digest, result, consulted(path)


def _serial(todo: Sequence[tuple[str, str | None]], options: LintOptions) -> Iterator[Outcome]:
    for path, expected in todo:
        yield lint_file(path, options, expected)


# -- the pool ----------------------------------------------------------------------------------
_WORKER_OPTIONS: LintOptions | None = None


def _init_worker(options: LintOptions) -> None:
    global _WORKER_OPTIONS
    _WORKER_OPTIONS = options
    # Ctrl-C goes to the whole process group: the parent handles it and stops the workers.
    # The worker was forked with SIGINT blocked (see _submit): ignore it, then unblock (a
    # pending one is dropped), so that no interrupt lands before this line.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _submit(executor: ProcessPoolExecutor, chunk: list[tuple[str, str | None]]
            ) -> Future[list[Outcome]]:
    """``executor.submit``, with SIGINT blocked meanwhile: submitting forks the workers, and an
    interrupt then would reach a child before its ``_init_worker`` (a traceback from it) or
    leave the executor's locks held in the parent (a hang in ``_stop``). A Ctrl-C that
    arrives meanwhile is delivered when the mask is restored, as KeyboardInterrupt."""
    if not hasattr(signal, "pthread_sigmask"):
        return executor.submit(_lint_chunk, chunk)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return executor.submit(_lint_chunk, chunk)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _lint_chunk(chunk: Sequence[tuple[str, str | None]]) -> list[Outcome]:
    assert _WORKER_OPTIONS is not None
    return [lint_file(path, _WORKER_OPTIONS, expected) for path, expected in chunk]


def _pool(options: LintOptions, jobs: int) -> ProcessPoolExecutor:
    from concurrent.futures import ProcessPoolExecutor

    context = None
    if sys.platform.startswith("linux"):
        import multiprocessing

        # fork: the workers start with dropcheck and LibCST already imported (once, here).
        context = multiprocessing.get_context("fork")
        preload(options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        return ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                                   initializer=_init_worker, initargs=(options,))


def _in_pool(
    todo: Sequence[tuple[str, str | None]], options: LintOptions, jobs: int, timeout: float
) -> Iterator[Outcome]:
    """Lint in ``jobs`` worker processes, a few small chunks in flight per worker.

    A worker that dies (a native crash the engine's own isolation did not catch, the OOM
    killer) breaks the pool, and workers that make no progress for ``timeout`` seconds are
    stopped: the files of every unfinished chunk are then linted one by one in isolated
    child processes, where the culprit becomes a DC000, and the run goes on with a fresh
    pool.
    """
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    # One worker: one file per chunk, so that "no progress" means one file over the limit.
    chunks = _chunks(todo, jobs) if jobs > 1 else [[item] for item in todo]
    chunks.reverse()  # pop() from the end: the largest files first
    executor = _pool(options, jobs)
    pending: dict[Future[list[Outcome]], list[tuple[str, str | None]]] = {}
    try:
        while chunks or pending:
            while chunks and len(pending) < jobs * 3:
                chunk = chunks.pop()
                pending[_submit(executor, chunk)] = chunk
            done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            suspects: list[tuple[str, str | None]] = []
            if not done:  # stuck: treat it as a broken pool
                suspects.extend(pending.pop(next(iter(pending))))
            for future in done:
                chunk = pending.pop(future)
                try:
                    outcomes = future.result()
                except BrokenProcessPool:
                    suspects.extend(chunk)
                    continue
                yield from outcomes
            if suspects:
                # Every chunk still running went down with the pool: isolate file by file.
                for chunk in pending.values():
                    suspects.extend(chunk)
                pending.clear()
                _stop(executor)
                for path, expected in sorted(suspects, key=lambda item: item[0]):
                    yield lint_file(path, options, expected, isolate=True, timeout=timeout)
                executor = _pool(options, jobs)
    except BaseException:
        _stop(executor)
        raise
    executor.shutdown(wait=True)


def _chunks(
    todo: Sequence[tuple[str, str | None]], jobs: int
) -> list[list[tuple[str, str | None]]]:
    """Work units for the pool, of similar total size. A chunk holds neighbouring files (in
    path order): files of one package import the same models and helpers, which a worker
    then reads once rather than each worker once. The chunks holding the largest files go
    first, so that no worker is left with a big file while the others idle at the end
    (output is sorted afterwards, so the order does not show)."""
    sizes: dict[str, int] = {}
    for path, _ in todo:
        try:
            sizes[path] = os.stat(path).st_size
        except OSError:
            sizes[path] = 0
    budget = max(1, sum(sizes.values()) // (jobs * 16))
    chunks: list[list[tuple[str, str | None]]] = []
    current: list[tuple[str, str | None]] = []
    weight = 0
    for item in sorted(todo, key=lambda item: item[0]):
        current.append(item)
        weight += sizes[item[0]]
        if weight >= budget or len(current) >= _CHUNK_FILES:
            chunks.append(current)
            current, weight = [], 0
    if current:
        chunks.append(current)
    chunks.sort(key=lambda chunk: -max(sizes[path] for path, _ in chunk))
    return chunks


#: Files per chunk at most: a chunk's outcomes come back together.
_CHUNK_FILES = 64


def _stop(executor: ProcessPoolExecutor) -> None:
    """Stop at once: cancel what has not started and end the workers (Ctrl-C, broken pool)."""
    processes = list(getattr(executor, "_processes", {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
