"""``--fix`` and ``--diff``: lint, apply the applicable fixes pass after pass until nothing
more applies (with a bound), check every pass, and write atomically or print a diff."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from dropcheck.discovery import iter_files
from dropcheck.engine import LintOptions, lint_path, lint_source, read_source
from dropcheck.findings import NOT_ANALYSED_CODE, Finding
from dropcheck.fix.apply import Span, apply, check_changed_lines, check_parses, select
from dropcheck.fix.source import Decoded, FixError, LineIndex, decode
from dropcheck.fix.write import write_atomic

#: Passes over one file before giving up on fixes that keep producing new fixes.
MAX_PASSES = 10


@dataclass
class FileFix:
    """What fixing one file did."""

    path: str
    original: bytes = b""
    fixed: bytes | None = None
    #: The findings whose fixes were applied.
    applied: list[Finding] = field(default_factory=list)
    #: The findings left after fixing (all of them when nothing was applied).
    remaining: list[Finding] = field(default_factory=list)
    #: Fixes that failed a check, with the reason; never written.
    skipped: list[tuple[Finding, str]] = field(default_factory=list)
    #: Set when the file could not be written.
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.fixed is not None and self.fixed != self.original

    def diff(self) -> str:
        """A unified diff of the change (empty when nothing changed)."""
        if not self.changed or self.fixed is None:
            return ""
        try:
            before = decode(self.original).text
            after = decode(self.fixed).text
        except FixError:
            return ""
        lines = difflib.unified_diff(
            _lines(before), _lines(after), fromfile=f"a/{self.path}", tofile=f"b/{self.path}",
        )
        out = []
        for line in lines:
            if line.endswith("\r"):  # a lone CR would overwrite the line on a terminal
                line = line[:-1] + "\n"
            elif not line.endswith("\n"):
                line += "\n\\ No newline at end of file\n"
            out.append(line)
        return "".join(out)


def _lines(text: str) -> list[str]:
    """Python's lines with their breaks (``str.splitlines`` would also split at form feeds)."""
    return re.findall(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+$", text)


def _applicable(findings: Iterable[Finding], unsafe: bool, refused: set[tuple[str, ...]],
                lines: LineIndex) -> list[Finding]:
    return [f for f in findings if f.fix is not None and f.fix.applies(unsafe)
            and _key(f, lines) not in refused]


def _key(finding: Finding, lines: LineIndex) -> tuple[str, ...]:
    """Identifies a fix across passes, where line numbers may have moved."""
    assert finding.fix is not None
    try:
        line = lines.line(finding.line)
    except FixError:
        line = ""
    return (finding.code, finding.message, line.strip(),
            *(edit.content for edit in finding.fix.edits))


class _Pass:
    """One attempt: apply some fixes to the current text, check, lint the result."""

    def __init__(self, path: str, decoded: Decoded, options: LintOptions, compiled: bool):
        self.path = path
        self.decoded = decoded
        self.options = options
        self.compiled = compiled

    def run(self, text: str, chosen: Sequence[tuple[Finding, list[Span]]]
            ) -> tuple[str, bytes, list[Finding]]:
        edits = [span for _, own in chosen for span in own]
        new_text = apply(text, edits)
        before = self.decoded.encode(text)
        after = self.decoded.encode(new_text)
        check_changed_lines(before, after, edits)
        check_parses(after, self.compiled)
        findings = lint_source(self.path, after, self.options)
        broken = [f for f in findings if f.code == NOT_ANALYSED_CODE]
        if broken:
            raise FixError(f"the fixed file cannot be analysed: {broken[0].message}")
        return new_text, after, findings


def fix_source(path: str, data: bytes, options: LintOptions, *, unsafe: bool) -> FileFix:
    """Fix one file's bytes in memory. Never raises for bad input; writes nothing."""
    result = FileFix(path, original=data)
    findings = lint_source(path, data, options)
    result.remaining = findings
    if any(f.code == NOT_ANALYSED_CODE for f in findings):
        return result  # a file we cannot fully analyse is never touched
    fixable = [f for f in findings if f.fix is not None and f.fix.applies(unsafe)]
    if not fixable:
        return result
    try:
        decoded = decode(data)
    except FixError as error:
        result.skipped = [(f, str(error)) for f in fixable]
        return result
    step = _Pass(path, decoded, options, compiles(data))
    text, current = decoded.text, data
    refused: set[tuple[str, ...]] = set()
    for _ in range(MAX_PASSES):
        lines = LineIndex(text)
        candidates = _applicable(findings, unsafe, refused, lines)
        if not candidates:
            break
        try:
            chosen = select(candidates, lines)
            text, current, findings = step.run(text, chosen)
            result.applied.extend(f for f, _ in chosen)
            continue
        except FixError:
            pass
        # Something in the batch failed: find the culprits one fix at a time.
        progressed = False
        for finding in candidates:
            try:
                chosen = select([finding], lines)
                new_text, new_bytes, new_findings = step.run(text, chosen)
            except FixError as error:
                refused.add(_key(finding, lines))
                result.skipped.append((finding, str(error)))
                continue
            text, current, findings = new_text, new_bytes, new_findings
            result.applied.append(finding)
            progressed = True
            break  # positions moved: lint again before the next fix
        if not progressed:
            break
    else:
        if _applicable(findings, unsafe, refused, LineIndex(text)):
            # Fixes that keep producing fixes are a bug: write nothing for this file.
            result.skipped = [(f, f"fixes did not settle after {MAX_PASSES} passes; the file "
                                  f"was left unchanged") for f in fixable]
            result.applied = []
            return result
    result.remaining = findings
    if current != data:
        result.fixed = current
    return result


def compiles(data: bytes) -> bool:
    """Whether the bytes parse (a fix must not break a file that did)."""
    try:
        check_parses(data, True)
    except FixError:
        return False
    return True


def fix_path(path: str, options: LintOptions, *, unsafe: bool, write: bool) -> FileFix:
    if path.endswith(".ipynb"):
        # Notebook findings are cell-relative; fixing notebooks is not supported.
        return FileFix(path, remaining=lint_path(path, options))
    try:
        data = read_source(path)
    except OSError:
        return FileFix(path, remaining=lint_path(path, options))  # reports the DC000
    result = fix_source(path, data, options, unsafe=unsafe)
    if write and result.changed and result.fixed is not None:
        try:
            write_atomic(path, data, result.fixed)
        except FixError as error:
            result.error = str(error)
            # Nothing was written: everything found is still there.
            result.remaining = lint_source(path, data, options)
            result.applied = []
    return result


Lint = Callable[[Sequence[str], LintOptions], list[Finding]]


def fix_paths(paths: Sequence[str], options: LintOptions, *, unsafe: bool, write: bool,
              lint: Lint | None = None) -> list[FileFix]:
    """Fix every file under ``paths`` (write=False: compute only, for ``--diff``).

    With ``lint`` (the parallel, cached runner), every file is linted that way first and only
    the files with an applicable fix are fixed, one by one; the others keep their findings.
    """
    if lint is None:
        return [fix_path(path, options, unsafe=unsafe, write=write)
                for path in iter_files(list(paths))]
    found: dict[str, list[Finding]] = {}
    for finding in lint(paths, options):
        found.setdefault(finding.path, []).append(finding)
    results = []
    for path in sorted(found):
        if any(f.fix is not None and f.fix.applies(unsafe) for f in found[path]):
            results.append(fix_path(path, options, unsafe=unsafe, write=write))
        else:
            results.append(FileFix(path, remaining=found[path]))
    return results
