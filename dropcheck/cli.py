"""The command line: parse options, run the engine, print, exit 0/1/2. Nothing else here."""

from __future__ import annotations

import functools
import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn, TextIO

import click

from dropcheck import __version__
from dropcheck.cache import DEFAULT_CACHE_DIR
from dropcheck.config import ConfigError, FileSettings, Overrides, Resolver, explicitly_excluded
from dropcheck.discovery import iter_files
from dropcheck.engine import DEFAULT_MAX_FILE_BYTES, ISOLATED_TIMEOUT, LintOptions
from dropcheck.entry import interrupted
from dropcheck.findings import NOT_ANALYSED_CODE, Finding
from dropcheck.output import FORMATS, render
from dropcheck.output.rules_info import use_docs_url
from dropcheck.rules import SelectionError, all_rules, validate_selectors
from dropcheck.runner import RunOptions, RunStats
from dropcheck.runner import lint_paths as run_paths

if TYPE_CHECKING:
    from dropcheck.fix.run import FileFix

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _codes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part for part in value.replace(" ", ",").split(",") if part]


class _ByteSize(click.ParamType):
    """A size in bytes: ``500000``, ``500KB``, ``2MB`` (powers of 1000, as ``ls --si``)."""

    name = "size"
    _UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2,
              "G": 1000**3, "GB": 1000**3}

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().replace("_", "")
        number = text.rstrip("KMGB")
        unit = text[len(number):]
        try:
            size = int(float(number) * self._UNITS[unit])
        except (ValueError, KeyError):
            self.fail(f"{value!r} is not a size (bytes, or a number with KB/MB)", param, ctx)
        if size <= 0:
            self.fail(f"{value!r}: the size must be positive", param, ctx)
        return size


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit status: 0 no findings, 1 findings, 2 a file could not be analysed or usage "
    "error. `dropcheck rule DC003` explains a rule; `dropcheck rule --all` lists them. "
    "Settings come from [tool.dropcheck] in the nearest pyproject.toml; the command line wins.",
)
@click.argument("paths", nargs=-1, required=False, type=click.Path())
@click.option("--format", "output_format", type=click.Choice(sorted(FORMATS)), default="text",
              show_default=True, help="Output format.")
@click.option("--select", metavar="CODES", help="Comma-separated codes or prefixes (DC00, ALL); "
              "replaces the configured selection.")
@click.option("--extend-select", metavar="CODES", help="Codes or prefixes to enable as well.")
@click.option("--ignore", metavar="CODES", help="Comma-separated codes or prefixes to skip.")
@click.option("--preview", is_flag=True, help="Enable preview rules matched by --select.")
@click.option("--extend-exclude", metavar="PATTERNS",
              help="Comma-separated path patterns to skip as well as the configured ones.")
@click.option("--force-exclude", is_flag=True,
              help="Apply excludes and .gitignore to paths given explicitly too (pre-commit).")
@click.option("--stdin-filename", metavar="PATH", type=click.Path(),
              help="Lint standard input (also `dropcheck -`) under this name: it picks the "
              "settings, per-file ignores, --force-exclude excludes, a notebook by .ipynb, and "
              "the path in the report. --fix prints the fixed source; --diff the diff.")
@click.option("--show-settings", metavar="PATH", type=click.Path(),
              help="Print the effective settings for PATH and exit.")
@click.option("--output-file", "-o", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write the report to FILE instead of standard output.")
@click.option("--statistics", is_flag=True, help="Print counts per rule instead of findings.")
@click.option("--exit-zero", is_flag=True,
              help="Exit 0 even when there are findings (2 still means a file was not analysed).")
@click.option("--add-noqa", is_flag=True,
              help="Append `# noqa: CODE` to every line with a finding (adopt on a big codebase).")
@click.option("--fix", is_flag=True,
              help="Apply safe fixes (unsafe ones too with --unsafe-fixes), then report what "
              "remains.")
@click.option("--unsafe-fixes", is_flag=True,
              help="Also apply fixes that change behaviour and need review.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Print the fixes as a unified diff and write nothing (exit 1 if any).")
@click.option("--exit-non-zero-on-fix", is_flag=True,
              help="With --fix: exit 1 when anything was fixed, even if nothing remains.")
@click.option("--verbose", "-v", is_flag=True,
              help="Show tracebacks of internal errors, and what the run did (files linted, "
              "served from the cache, worker processes) on stderr.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes; 0 uses every available core, 1 lints in one process.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=DEFAULT_CACHE_DIR,
              show_default=True, envvar="DROPCHECK_CACHE_DIR",
              help="Folder of the result cache (env DROPCHECK_CACHE_DIR).")
@click.option("--max-file-size", type=_ByteSize(), default=DEFAULT_MAX_FILE_BYTES,
              show_default="2MB", metavar="SIZE",
              help="Larger files are not parsed (DC000); bytes, or with a KB/MB suffix.")
@click.option("--file-timeout", type=click.FloatRange(min=0, min_open=True),
              default=ISOLATED_TIMEOUT, show_default=True, metavar="SECONDS",
              help="Stop analysing a file after SECONDS and report it as DC000 (a "
              "pathological input), with any --jobs.")
@click.option("--no-prefilter", is_flag=True, hidden=True,
              help="Parse every file (for testing that the pre-filter changes nothing).")
@click.version_option(__version__, "--version", prog_name="dropcheck")
def check(
    paths: Sequence[str],
    output_format: str,
    select: str | None,
    extend_select: str | None,
    ignore: str | None,
    preview: bool,
    extend_exclude: str | None,
    force_exclude: bool,
    stdin_filename: str | None,
    show_settings: str | None,
    output_file: str | None,
    statistics: bool,
    exit_zero: bool,
    add_noqa: bool,
    fix: bool,
    unsafe_fixes: bool,
    show_diff: bool,
    exit_non_zero_on_fix: bool,
    verbose: bool,
    jobs: int,
    no_cache: bool,
    cache_dir: str,
    max_file_size: int,
    file_timeout: float,
    no_prefilter: bool,
) -> None:
    """Find dropout misuse in PyTorch code under PATHS (files, folders, notebooks)."""
    try:
        overrides = Overrides(
            select=tuple(validate_selectors(_codes(select) or [])) if select is not None
            else None,
            ignore=tuple(validate_selectors(_codes(ignore) or ())),
            extend_select=tuple(validate_selectors(_codes(extend_select) or ())),
            extend_exclude=tuple(_codes(extend_exclude) or ()),
            preview=preview,
            force_exclude=force_exclude,
        )
    except SelectionError as error:
        raise click.UsageError(str(error)) from None
    resolver = Resolver(overrides)
    if show_settings is not None:
        try:
            sys.stdout.write(resolver.describe(show_settings))
        except ConfigError as error:
            _config_error(error)
        sys.exit(EXIT_CLEAN)
    stdin = stdin_filename is not None or "-" in paths
    if stdin and tuple(paths) not in ((), ("-",)):
        raise click.UsageError("standard input ('-' or --stdin-filename) is linted alone: "
                               "give no other PATH")
    if not paths and not stdin:
        raise click.UsageError("Missing argument 'PATH...'.")
    try:
        # The rule pages' base URL: the project's (the config above the first path or the
        # standard input's name) for the whole report.
        project = stdin_filename or (paths[0] if paths else ".")
        use_docs_url(resolver.config_for(project).docs_url)
    except ConfigError as error:
        _config_error(error)
    base = LintOptions(rules=[], prefilter=not no_prefilter, verbose=verbose,
                       max_file_bytes=max_file_size)
    if stdin:
        if add_noqa:
            raise click.UsageError("--add-noqa edits files; it cannot take standard input")
        _check_stdin(stdin_filename or "-", resolver, base, output_format=output_format,
                     output_file=output_file, statistics=statistics, exit_zero=exit_zero,
                     fix=fix, unsafe=unsafe_fixes, show_diff=show_diff,
                     exit_non_zero_on_fix=exit_non_zero_on_fix)
    stats = RunStats()
    lint_paths = functools.partial(
        run_paths, run=RunOptions(jobs=jobs, cache_dir=None if no_cache else cache_dir,
                                  file_timeout=file_timeout,
                                  started=_say_started if verbose else None),
        stats=stats)
    fixed: list[FileFix] = []
    run = _fixer(fixed, unsafe=unsafe_fixes, write=not show_diff, lint=lint_paths) \
        if fix or show_diff else lint_paths
    try:
        findings = _lint(paths, resolver, base, run)
    except ConfigError as error:
        _config_error(error)
    if verbose:
        sys.stderr.write(f"dropcheck: {stats.files} files: {stats.linted} linted, "
                         f"{stats.cached} from the cache, {stats.workers} worker processes\n")
    if show_diff:
        _print_diff(fixed, findings)
    if fix:
        exit_non_zero_on_fix = _report_fixes(fixed) and exit_non_zero_on_fix
    if add_noqa:
        from dropcheck.suppression import add_noqa as write_noqa

        added, files, skipped = write_noqa(findings)
        for path, reason in skipped:
            sys.stderr.write(f"dropcheck: {path}: noqa not added: {reason}\n")
        sys.stderr.write(f"Added {added} noqa directive{'s' if added != 1 else ''} to {files} "
                         f"file{'s' if files != 1 else ''}.\n")
        errors = any(f.code == NOT_ANALYSED_CODE for f in findings)
        sys.exit(EXIT_ERROR if errors else EXIT_CLEAN)
    color = output_file is None and output_format == "text" and _use_color(sys.stdout)
    report = render(output_format, findings, color=color, statistics=statistics)
    if output_file is not None:
        _write_report_file(output_file, report)
    else:
        _write_stdout(report)
    sys.exit(_exit_status(findings, fix, exit_non_zero_on_fix, exit_zero))


Runner = Callable[[Sequence[str], LintOptions], list[Finding]]


def _check_stdin(name: str, resolver: Resolver, base: LintOptions, *, output_format: str,
                 output_file: str | None, statistics: bool, exit_zero: bool, fix: bool,
                 unsafe: bool, show_diff: bool, exit_non_zero_on_fix: bool) -> NoReturn:
    """Standard input as the file ``name``, as ruff and flake8 do: the report on stdout, or with
    ``--fix`` the fixed source on stdout and the report of what remains on stderr (a pipe's
    consumer reads the code; nothing is written), or with ``--diff`` the diff."""
    from dropcheck.engine import lint_bytes

    if fix or show_diff:  # the fixer imports LibCST: only when asked for
        from dropcheck.fix.run import fix_source
    data = sys.stdin.buffer.read()
    try:
        excluded = resolver.force_exclude(name) and explicitly_excluded(resolver, name)
        options = resolver.settings_for(name).lint_options(base)
    except ConfigError as error:
        _config_error(error)
    if excluded:  # as ruff: nothing to report, and --fix passes the source through
        if fix:
            _write_stdout_bytes(data)
        sys.exit(EXIT_CLEAN)
    notebook = name.endswith(".ipynb")  # notebooks are reported, never fixed (as files)
    if show_diff:
        _print_diff([] if notebook else [fix_source(name, data, options, unsafe=unsafe)],
                    lint_bytes(name, data, options) if notebook else [])
    if not fix or notebook:
        findings = lint_bytes(name, data, options)
        if fix:
            _write_stdout_bytes(data)
        fixed = data
    else:
        result = fix_source(name, data, options, unsafe=unsafe)
        fixed = result.fixed if result.changed and result.fixed is not None else data
        _write_stdout_bytes(fixed)
        exit_non_zero_on_fix = _report_fixes([result]) and exit_non_zero_on_fix
        findings = result.remaining
    color = output_file is None and output_format == "text" and not fix \
        and _use_color(sys.stdout)
    report = render(output_format, findings, color=color, statistics=statistics,
                    sources={name: fixed})
    if output_file is not None:
        _write_report_file(output_file, report)
    elif fix:
        sys.stderr.write(report)  # stdout carries the code
    else:
        _write_stdout(report)
    sys.exit(_exit_status(findings, fix, exit_non_zero_on_fix, exit_zero))


def _exit_status(findings: Sequence[Finding], fix: bool, exit_non_zero_on_fix: bool,
                 exit_zero: bool) -> int:
    """2 when a file could not be analysed, else 1 for findings (or fixes, if asked), else 0."""
    if any(f.code == NOT_ANALYSED_CODE for f in findings):
        return EXIT_ERROR
    if fix and exit_non_zero_on_fix:
        return EXIT_FINDINGS
    return EXIT_FINDINGS if findings and not exit_zero else EXIT_CLEAN


def _write_stdout_bytes(data: bytes) -> None:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(data.decode("utf-8", "surrogateescape"))
        return
    sys.stdout.flush()
    buffer.write(data)
    buffer.flush()


def _fixer(results: list[FileFix], *, unsafe: bool, write: bool, lint: Runner) -> Runner:
    """A runner that fixes each group of files and returns the findings that remain (files are
    linted by ``lint`` first, in parallel and cached; only those with fixes are re-read)."""
    from dropcheck.fix.run import fix_paths

    def run(files: Sequence[str], options: LintOptions) -> list[Finding]:
        done = fix_paths(files, options, unsafe=unsafe, write=write, lint=lint)
        results.extend(done)
        return [f for result in done for f in result.remaining]

    return run


def _print_diff(results: Sequence[FileFix], findings: Sequence[Finding]) -> NoReturn:
    """``--diff``: the diffs on stdout, a count on stderr; exit 1 when something would change
    (as ruff), 2 when a file could not be analysed."""
    results = sorted(results, key=lambda r: r.path)
    _write_stdout("".join(result.diff() for result in results))
    _report_skipped(results)
    count = sum(len(result.applied) for result in results if result.changed)
    sys.stderr.write(f"Would fix {count} finding{'s' if count != 1 else ''}.\n" if count
                     else "No fixes available.\n")
    if any(f.code == NOT_ANALYSED_CODE for f in findings):
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if count else EXIT_CLEAN)


def _report_fixes(results: Sequence[FileFix]) -> bool:
    """Say on stderr what ``--fix`` did; True when it changed something."""
    results = sorted(results, key=lambda r: r.path)
    _report_skipped(results)
    for result in results:
        if result.error is not None:
            sys.stderr.write(f"dropcheck: {result.path}: not fixed: {result.error}\n")
    written = [r for r in results if r.changed and r.error is None]
    count = sum(len(r.applied) for r in written)
    if count:
        sys.stderr.write(f"Fixed {count} finding{'s' if count != 1 else ''} in {len(written)} "
                         f"file{'s' if len(written) != 1 else ''}.\n")
    return bool(count)


def _report_skipped(results: Sequence[FileFix]) -> None:
    for result in results:
        for finding, reason in result.skipped:
            sys.stderr.write(f"dropcheck: {result.path}:{finding.line}:{finding.column}: "
                             f"{finding.code} fix skipped: {reason}\n")


def _lint(paths: Sequence[str], resolver: Resolver, base: LintOptions,
          run: Runner = run_paths) -> list[Finding]:
    """Discover files (excludes, .gitignore), resolve each file's settings, lint each group of
    files that share settings with one runner call, and merge in a deterministic order."""
    def skip(path: str) -> bool:
        return resolver.force_exclude(path) and explicitly_excluded(resolver, path)

    groups: dict[FileSettings, list[str]] = {}
    for path in iter_files(list(paths), resolver.is_excluded, skip):
        groups.setdefault(resolver.settings_for(path), []).append(path)
    findings: list[Finding] = []
    for settings, files in groups.items():
        findings.extend(run(files, settings.lint_options(base)))
    findings.sort(key=lambda f: f.sort_key)
    return findings


def _encoded(report: str, encoding: str) -> bytes:
    """The report's bytes. A file name that is not valid UTF-8 reaches the text formats as lone
    surrogates (PEP 383): they go out as the name's own bytes, as ``ls`` prints them (the
    formats that must be valid UTF-8 escaped them already); text the encoding cannot hold
    becomes ``\\x..``/``\\u....`` escapes rather than a crash."""
    try:
        return report.encode(encoding, "surrogateescape")
    except UnicodeEncodeError:
        return report.encode(encoding, "backslashreplace")


def _write_report_file(output_file: str, report: str) -> None:
    try:
        with open(output_file, "wb") as handle:
            handle.write(_encoded(report, "utf-8"))
    except OSError as error:
        sys.stderr.write(f"dropcheck: error: cannot write {output_file}: "
                         f"{error.strerror or error}\n")
        sys.exit(EXIT_ERROR)


def _write_stdout(report: str) -> None:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a replaced stdout (tests, embedding): text is all it takes
        sys.stdout.write(report)
        return
    sys.stdout.flush()
    buffer.write(_encoded(report, sys.stdout.encoding or "utf-8"))
    buffer.flush()


def _say_started(files: int, workers: int) -> None:
    # Flushed: a test (or a user watching a long run) waits for this line before interrupting.
    where = (f"{workers} worker process{'es' if workers != 1 else ''}" if workers
             else "this process")
    sys.stderr.write(f"dropcheck: linting {files} file{'s' if files != 1 else ''} in {where}\n")
    sys.stderr.flush()


def _config_error(error: ConfigError) -> NoReturn:
    sys.stderr.write(f"dropcheck: error: {error}\n")
    sys.exit(EXIT_ERROR)


def _use_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


@click.command(name="rule", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
def rule_command(code: str | None, show_all: bool) -> None:
    """Print a rule's documentation (dropcheck rule DC003), or list them all (--all)."""
    # Runtime-only codes (DC1xx, reported by dropcheck.runtime) are documented here too.
    from dropcheck.output.rules_info import rule_documentation
    from dropcheck.runtime_codes import RUNTIME_CODES

    if show_all or code is None:
        for rule in all_rules():
            tag = " (preview)" if rule.preview else ""
            click.echo(f"{rule.code}  {rule.name:<36} {rule.message}{tag}")
        for entry in RUNTIME_CODES:
            click.echo(f"{entry.code}  {entry.name:<36} {entry.message} (runtime)")
        return
    text = rule_documentation(code)  # the language server's hover shows the same text
    if text is None:
        raise click.UsageError(f"unknown rule: {code!r} (see `dropcheck rule --all`)")
    click.echo(text)


@click.command(name="server", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--stdio", is_flag=True,
              help="Talk over standard input and output: the only transport, and the default "
              "(editors' LSP clients pass this flag).")
def server_command(stdio: bool) -> None:
    """Run the language server (LSP) for editors; needs `pip install 'dropcheck[server]'`."""
    try:
        from dropcheck.server import serve  # pygls: imported only by this command
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        sys.stderr.write("dropcheck: error: the language server needs pygls: "
                         "pip install 'dropcheck[server]'\n")
        sys.exit(EXIT_ERROR)
    sys.exit(serve())


@click.command(name="explain", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("location", metavar="PATH:LINE")
def explain_command(location: str) -> None:
    """Print what dropcheck knows about the models on one line (class, where it is defined,
    mode-dependent layers, mode at that point and why, findings)."""
    from libcst import ParserSyntaxError

    from dropcheck.explain import explain

    path, _, line = location.rpartition(":")
    if not path or not line.isdigit():
        raise click.UsageError(f"expected PATH:LINE, got {location!r}")
    try:
        click.echo(explain(path, int(line)), nl=False)
    except (OSError, SyntaxError, ParserSyntaxError) as error:
        raise click.ClickException(f"cannot explain {location}: {error}") from None


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    # Syntax trees are millions of small objects, and the sketches and parsed files of a
    # project stay alive for the run: with the default thresholds the cyclic collector
    # rescans them over and over (half the CPU time of a cold run, bench/stage_cost.py).
    # Cycles are rare in this code; collect far less often, as mypy does.
    gc.set_threshold(100_000, 50, 100)
    if args[:1] == ["--explain-model"]:
        # `dropcheck --explain-model PATH:LINE`
        _run_command(explain_command, args[1:], "dropcheck --explain-model")
        return
    # `dropcheck rule ...` and `dropcheck server` are the subcommands; everything else is a
    # lint run. A folder literally named `rule` or `server` can still be linted as `./rule`.
    subcommands = {"rule": rule_command, "server": server_command}
    command = subcommands.get(args[0], check) if args else check
    if command is not check:
        args = args[1:]
    _run_command(command, args,
                 "dropcheck" if command is check else f"dropcheck {command.name}")


def _run_command(command: click.Command, args: list[str], prog_name: str) -> None:
    try:
        # Not click's standalone mode: it turns Ctrl-C into "Aborted!" and exit status 1.
        command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except (KeyboardInterrupt, click.Abort):
        interrupted()
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
