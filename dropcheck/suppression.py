"""Suppression comments, applied once, centrally, after the rules have reported (never in rules).

- ``# noqa: DC001[, DC003]`` (or a blanket ``# noqa``) on the reported line, or on the first or
  last line of the statement that contains it (for a compound statement: of its header), as
  flake8 and ruff users write them.
- ``# dropcheck: noqa`` anywhere in a file (own line) skips the file; ``# dropcheck: noqa:
  DC002`` skips those codes in the file.
- ``DC000`` (file not analysed) is never suppressed.
- When ``DC017 unused-noqa`` is enabled, each ``DC…`` code in a directive that suppressed nothing
  while its rule ran, and each unknown ``DC…`` code, is reported. Codes of other tools
  (``E501``) and blanket ``# noqa`` comments are never reported: they may be someone else's.

``add_noqa`` writes the baseline comments for ``--add-noqa``.
"""

from __future__ import annotations

import ast
import io
import os
import re
import stat
import tokenize
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dropcheck.encoding import detect_encoding
from dropcheck.findings import NOT_ANALYSED_CODE, Edit, Finding, Fix

UNUSED_NOQA_CODE = "DC017"
UNUSED_NOQA_NAME = "unused-noqa"

_CODE = r"[A-Za-z]+[0-9]+"
_HAS_NOQA = re.compile(rb"noqa", re.I)
NOQA = re.compile(rf"#\s*noqa(?P<sep>:\s*(?P<codes>{_CODE}(?:[,\s]+{_CODE})*)?)?", re.I)
FILE_NOQA = re.compile(rf"#\s*dropcheck\s*:\s*noqa(?::\s*(?P<codes>{_CODE}(?:[,\s]+{_CODE})*))?",
                       re.I)


@dataclass
class Directive:
    """One ``noqa`` directive; ``codes`` None means blanket. Columns are 1-based."""

    line: int
    column: int
    end_column: int
    codes: tuple[str, ...] | None
    used: set[str] = field(default_factory=set)
    #: Where the code list and the whole comment are (1-based, ends exclusive), for fixes.
    codes_span: tuple[int, int] | None = None
    comment_span: tuple[int, int] | None = None

    def covers(self, code: str) -> bool:
        return self.codes is None or code in self.codes


@dataclass
class Directives:
    lines: dict[int, Directive] = field(default_factory=dict)
    files: list[Directive] = field(default_factory=list)


def _codes(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    return tuple(code.upper() for code in re.split(r"[,\s]+", text.strip()) if code)


def _universal(data: bytes) -> bytes:
    """``\r\n`` and lone ``\r`` as ``\n``: Python counts all three as line ends, but
    ``tokenize`` reads lines with ``readline``, which only splits at ``\n``. Line numbers and
    columns stay the same."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in data else data


def _comments(data: bytes) -> Iterable[tuple[int, int, str]]:
    """(line, 0-based column, text) of every comment; falls back to a plain scan of the lines
    when the file does not tokenize (the engine reports that file as DC000 anyway)."""
    data = _universal(data)
    try:
        found = [
            (token.start[0], token.start[1], token.string)
            for token in tokenize.tokenize(io.BytesIO(data).readline)
            if token.type == tokenize.COMMENT
        ]
        return found
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError, LookupError, ValueError):
        text = data.decode("utf-8", errors="replace")
        return [
            (number, line.index("#"), line[line.index("#"):])
            for number, line in enumerate(_split_lines(text), start=1)
            if "#" in line
        ]


def parse_directives(data: bytes) -> Directives:
    result = Directives()
    if _HAS_NOQA.search(data) is None:
        return result
    for line, column, text in _comments(data):
        file_level = FILE_NOQA.search(text)
        if file_level is not None:
            result.files.append(Directive(line, column + file_level.start() + 1,
                                          column + file_level.end() + 1,
                                          _codes(file_level["codes"])))
            continue
        match = NOQA.search(text)
        if match is not None:
            codes_span = None
            if match["codes"]:
                codes_span = (column + match.start("codes") + 1, column + match.end("codes") + 1)
            result.lines[line] = Directive(
                line, column + match.start() + 1, column + match.end() + 1,
                _codes(match["codes"]), codes_span=codes_span,
                comment_span=(column + 1, column + len(text) + 1))
    return result


def statement_spans(data: bytes) -> list[tuple[int, int]]:
    """(first, last) line of every statement (of a compound statement's header, and of each
    decorator), innermost spans being the shortest. Empty when CPython cannot parse the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(_universal(data))
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError, LookupError):
        return []
    spans: list[tuple[int, int]] = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.stmt, ast.ExceptHandler, ast.match_case)) or (
            isinstance(node, ast.AST) and hasattr(node, "lineno") and isinstance(body, list)
        ):
            start = getattr(node, "lineno", None)
            if start is None:  # match_case has no position of its own; its pattern does
                pattern = getattr(node, "pattern", None)
                start = getattr(pattern, "lineno", None)
                if start is None:
                    continue
            if isinstance(body, list) and body:
                first_body = getattr(body[0], "lineno", start)
                end = max(start, first_body - 1) if first_body > start else start
            else:
                end = getattr(node, "end_lineno", None) or start
            spans.append((start, end))
            for decorator in getattr(node, "decorator_list", ()):
                spans.append((decorator.lineno, decorator.end_lineno or decorator.lineno))
    return spans


def _innermost(spans: Sequence[tuple[int, int]], line: int) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    for start, end in spans:
        if start <= line <= end and (best is None or end - start < best[1] - best[0]):
            best = (start, end)
    return best


def apply_suppressions(
    path: str, data: bytes, findings: Sequence[Finding], active: frozenset[str] | set[str]
) -> list[Finding]:
    """Drop suppressed findings; add DC017 findings when that rule is active."""
    report_unused = UNUSED_NOQA_CODE in active
    if not findings and not report_unused:
        return list(findings)
    directives = parse_directives(data)
    if not directives.lines and not directives.files:
        return list(findings)
    if any(d.codes is None for d in directives.files):
        return [f for f in findings if f.code == NOT_ANALYSED_CODE]
    spans: list[tuple[int, int]] | None = None
    kept: list[Finding] = []
    for finding in findings:
        if finding.code == NOT_ANALYSED_CODE:
            kept.append(finding)
            continue
        candidates = {finding.line}
        if directives.lines:
            if spans is None:
                spans = statement_spans(data)
            span = _innermost(spans, finding.line)
            if span is not None:
                candidates.update(span)
        suppressed = False
        for line in candidates:
            directive = directives.lines.get(line)
            if directive is not None and directive.covers(finding.code):
                directive.used.add(finding.code)
                suppressed = True
        for directive in directives.files:
            if directive.covers(finding.code):
                directive.used.add(finding.code)
                suppressed = True
        if not suppressed:
            kept.append(finding)
    if report_unused and not any(f.code == NOT_ANALYSED_CODE for f in findings):
        # A crashed rule (DC000 internal error) may have missed findings: report nothing then.
        kept.extend(_unused(path, data, directives, active))
    return kept


def _unused(path: str, data: bytes, directives: Directives,
            active: frozenset[str] | set[str]) -> list[Finding]:
    from dropcheck.rules import rule_info  # the registry imports this module; import it late

    found: list[Finding] = []
    lines: list[str] | None = None
    for directive in [*directives.lines.values(), *directives.files]:
        if directive.codes is None:
            continue
        if UNUSED_NOQA_CODE in directive.codes and directive in directives.lines.values():
            continue  # a DC017 code in the directive silences this rule on that line
        problems: list[str] = []
        bad: list[str] = []
        for code in directive.codes:
            if not code.startswith("DC"):
                continue  # another tool's code
            if code == NOT_ANALYSED_CODE:
                problems.append(f"{code} (DC000 cannot be suppressed)")
            elif rule_info(code) is None:
                problems.append(f"{code} (no such dropcheck rule)")
            elif code in active and code not in directive.used and code != UNUSED_NOQA_CODE:
                problems.append(f"{code} (no {code} finding here)")
            else:
                continue
            bad.append(code)
        if not problems:
            continue
        what = "file-level `dropcheck: noqa`" if directive in directives.files else "`noqa`"
        fix = None
        if directive.comment_span is not None:
            if lines is None:
                lines = _decoded_lines(data)
            if lines is not None and 1 <= directive.line <= len(lines):
                fix = _removal_fix(directive, lines[directive.line - 1], bad)
        found.append(Finding(
            code=UNUSED_NOQA_CODE,
            name=UNUSED_NOQA_NAME,
            path=path,
            line=directive.line,
            column=directive.column,
            end_line=directive.line,
            end_column=directive.end_column,
            message=f"Unused {what} directive: {', '.join(problems)}; remove the code(s) so "
                    f"that the comment does not hide a future finding",
            fix=fix,
        ))
    return found


def _decoded_lines(data: bytes) -> list[str] | None:
    try:
        encoding = detect_encoding(data)
        return _split_lines(data.decode(encoding))
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return None


def _removal_fix(directive: Directive, line: str, bad: Sequence[str]) -> Fix | None:
    """A safe fix: drop the unused codes from the directive, or the whole directive when no
    code is left (with the spaces before it). None when the comment goes on after the codes
    (`# noqa: DC002 -- reviewed`): removing the directive would leave that text as code."""
    assert directive.codes is not None and directive.comment_span is not None
    remaining = [code for code in directive.codes if code not in bad]
    plural = "s" if len(bad) != 1 else ""
    if remaining and directive.codes_span is not None:
        start, end = directive.codes_span
        edit = Edit(directive.line, start, directive.line, end, ", ".join(remaining))
        return Fix("safe", f"Remove the unused code{plural} {', '.join(bad)}", (edit,))
    comment_end = directive.comment_span[1]
    if line[directive.end_column - 1 : comment_end - 1].strip():
        return None
    before = line[: directive.column - 1]
    start = len(before.rstrip()) + 1 if before.strip() else directive.column
    edit = Edit(directive.line, start, directive.line, comment_end, "")
    return Fix("safe", "Remove the unused `noqa` directive", (edit,))


# -- --add-noqa --------------------------------------------------------------------------------

_LINE_END = re.compile(r"\r\n|\r|\n")


def _split_lines(text: str) -> list[str]:
    """Lines as Python counts them (``\\r\\n``, ``\\r``, ``\\n``; not form feeds)."""
    return _LINE_END.split(text)


def _uncommentable_lines(data: bytes) -> set[int] | None:
    """Lines whose end is inside a multi-line string or continued by a backslash, where a
    comment cannot go. None when the file does not tokenize."""
    blocked: set[int] = set()
    data = _universal(data)
    try:
        tokens = list(tokenize.tokenize(io.BytesIO(data).readline))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError, LookupError, ValueError):
        return None
    for token in tokens:
        start, end = token.start[0], token.end[0]
        if end > start and token.type not in (tokenize.NL, tokenize.NEWLINE):
            blocked.update(range(start, end))
    text_lines = data.splitlines()
    for number, raw in enumerate(text_lines, start=1):
        if raw.rstrip(b" \t").endswith(b"\\"):
            blocked.add(number)
    return blocked


def _target_line(finding: Finding, spans: list[tuple[int, int]], blocked: set[int]) -> int:
    if finding.line not in blocked:
        return finding.line
    span = _innermost(spans, finding.line)
    return span[1] if span is not None else finding.line


def _with_codes(line: str, codes: Sequence[str]) -> str:
    match = None
    hash_at = line.find("#")
    if hash_at >= 0:
        match = NOQA.search(line, hash_at)
    if match is not None and match["codes"]:
        present = set(_codes(match["codes"]) or ())
        extra = [code for code in codes if code not in present]
        if not extra:
            return line
        insert = match.end("codes")
        return line[:insert] + ", " + ", ".join(extra) + line[insert:]
    return f"{line}  # noqa: {', '.join(codes)}"


def add_noqa(findings: Sequence[Finding]) -> tuple[int, int, list[tuple[str, str]]]:
    """Write ``# noqa: CODES`` for every finding. Returns (directives added, files changed,
    [(path, reason skipped)]). Bytes outside the edited lines, the encoding (BOM included) and
    every line ending are kept; files with a DC000 and notebooks are left alone."""
    by_path: dict[str, list[Finding]] = {}
    broken = {f.path for f in findings if f.code == NOT_ANALYSED_CODE}
    skipped: list[tuple[str, str]] = []
    for finding in findings:
        if finding.path in broken or finding.code in (NOT_ANALYSED_CODE, UNUSED_NOQA_CODE):
            continue  # a stale directive is removed (DC017's fix), not suppressed
        if finding.cell is not None:
            if (finding.path, "notebooks are not edited") not in skipped:
                skipped.append((finding.path, "notebooks are not edited"))
            continue
        by_path.setdefault(finding.path, []).append(finding)
    added = changed = 0
    for path, items in by_path.items():
        try:
            count = _add_to_file(path, items)
        except (OSError, SyntaxError, UnicodeError, LookupError) as error:
            skipped.append((path, f"{type(error).__name__}: {error}"))
            continue
        added += count
        changed += 1 if count else 0
    return added, changed, skipped


def noqa_lines(data: bytes, findings: Sequence[Finding]) -> dict[int, str]:
    """The lines (1-based, without their line break) that ``# noqa`` comments for
    ``findings`` change, as they become: each finding's line, or where a comment cannot go
    there (inside a multi-line string, after a backslash) the last line of its statement.
    ``--add-noqa`` and the language server's code action both use it. Raises SyntaxError,
    UnicodeError or LookupError for a file that does not decode or tokenize."""
    text = data.decode(detect_encoding(data))
    blocked = _uncommentable_lines(data)
    if blocked is None:
        raise SyntaxError("the file does not tokenize")
    spans = statement_spans(data)
    wanted: dict[int, list[str]] = {}
    for finding in findings:
        line = _target_line(finding, spans, blocked)
        codes = wanted.setdefault(line, [])
        if finding.code not in codes:
            codes.append(finding.code)
    parts = _LINE_END.split(text)
    changed: dict[int, str] = {}
    for line, codes in wanted.items():
        if 1 <= line <= len(parts):
            new = _with_codes(parts[line - 1], sorted(codes))
            if new != parts[line - 1]:
                changed[line] = new
    return changed


def _add_to_file(path: str, findings: Sequence[Finding]) -> int:
    with open(path, "rb") as handle:
        data = handle.read()
    changed = noqa_lines(data, findings)
    if not changed:
        return 0
    encoding = detect_encoding(data)
    text = data.decode(encoding)
    parts = _LINE_END.split(text)
    ends = _LINE_END.findall(text)
    for line, new in changed.items():
        parts[line - 1] = new
    result = "".join(part + (ends[i] if i < len(ends) else "") for i, part in enumerate(parts))
    _write_atomic(path, result.encode(encoding))
    return len(changed)


def _write_atomic(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    mode = stat.S_IMODE(os.stat(path).st_mode)
    import tempfile  # only --add-noqa writes; every lint imports this module

    handle, temp = tempfile.mkstemp(prefix=".dropcheck-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
