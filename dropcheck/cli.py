"""The command line: parse options, run the engine, print, exit 0/1/2. Nothing else here."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from dropcheck import __version__
from dropcheck.engine import LintOptions
from dropcheck.findings import NOT_ANALYSED_CODE
from dropcheck.output import FORMATS
from dropcheck.rules import SelectionError, all_rules, rule_by_code, select_rules
from dropcheck.runner import lint_paths

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _codes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part for part in value.replace(" ", ",").split(",") if part]


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit status: 0 no findings, 1 findings, 2 a file could not be analysed or usage "
    "error. `dropcheck rule DC003` explains a rule; `dropcheck rule --all` lists them.",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "output_format", type=click.Choice(sorted(FORMATS)), default="text",
              show_default=True, help="Output format.")
@click.option("--select", metavar="CODES", help="Comma-separated codes or prefixes (DC00, ALL).")
@click.option("--ignore", metavar="CODES", help="Comma-separated codes or prefixes to skip.")
@click.option("--preview", is_flag=True, help="Enable preview rules matched by --select.")
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks of internal errors.")
@click.option("--no-prefilter", is_flag=True, hidden=True,
              help="Parse every file (for testing that the pre-filter changes nothing).")
@click.version_option(__version__, "--version", prog_name="dropcheck")
def check(
    paths: Sequence[str],
    output_format: str,
    select: str | None,
    ignore: str | None,
    preview: bool,
    verbose: bool,
    no_prefilter: bool,
) -> None:
    """Find dropout misuse in PyTorch code under PATHS (files or folders)."""
    try:
        rules = select_rules(_codes(select), _codes(ignore) or (), preview=preview)
    except SelectionError as error:
        raise click.UsageError(str(error)) from None
    options = LintOptions(rules=rules, prefilter=not no_prefilter, verbose=verbose)
    findings = lint_paths(paths, options)
    sys.stdout.write(FORMATS[output_format](findings))
    if any(f.code == NOT_ANALYSED_CODE for f in findings):
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if findings else EXIT_CLEAN)


@click.command(name="rule", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
def rule_command(code: str | None, show_all: bool) -> None:
    """Print a rule's documentation (dropcheck rule DC003), or list them all (--all)."""
    # Runtime-only codes (DC1xx, reported by dropcheck.runtime) are documented here too.
    from dropcheck.runtime_codes import RUNTIME_CODES, runtime_code

    if show_all or code is None:
        for rule in all_rules():
            tag = " (preview)" if rule.preview else ""
            click.echo(f"{rule.code}  {rule.name:<36} {rule.message}{tag}")
        for entry in RUNTIME_CODES:
            click.echo(f"{entry.code}  {entry.name:<36} {entry.message} (runtime)")
        return
    found = rule_by_code(code) or runtime_code(code)
    if found is None:
        raise click.UsageError(f"unknown rule: {code!r} (see `dropcheck rule --all`)")
    title = f"# {found.name} ({found.code})" + (" — preview" if found.preview else "")
    click.echo(f"{title}\n\n{found.documentation()}")


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    # `dropcheck rule ...` is the one subcommand; everything else is a lint run. A folder
    # literally named `rule` can still be linted as `./rule`.
    command = rule_command if args[:1] == ["rule"] else check
    if command is rule_command:
        args = args[1:]
    try:
        command.main(args=args, prog_name="dropcheck" if command is check else "dropcheck rule")
    except KeyboardInterrupt:
        sys.stderr.write("dropcheck: interrupted\n")
        sys.exit(130)
