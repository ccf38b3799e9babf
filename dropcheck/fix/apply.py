"""Applying text edits to a file's text, and checking the result before anyone writes it."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from dropcheck.findings import Edit, Finding
from dropcheck.fix.source import FixError, LineIndex


@dataclass(frozen=True)
class Span:
    """An edit in offsets of one text: replace ``text[start:end]`` with ``content``."""

    start: int
    end: int
    content: str
    #: The 1-based rows of the text the edit touches (an insertion touches its own row).
    first_row: int
    last_row: int


def spans(lines: LineIndex, edits: Iterable[Edit]) -> list[Span]:
    result = []
    for edit in edits:
        start = lines.offset(edit.row, edit.column)
        end = lines.offset(edit.end_row, edit.end_column)
        if end < start:
            raise FixError("an edit ends before it starts")
        result.append(Span(start, end, edit.content, edit.row, edit.end_row))
    return result


def _conflict(a: Span, b: Span) -> bool:
    if a == b:
        return False  # the same edit wanted twice (e.g. one import for two fixes)
    if a.start < b.end and b.start < a.end:
        return True
    # Two different insertions at one point: which goes first is unclear. (An insertion where
    # a replacement starts or ends is ordered by position, as applying them one by one would.)
    return a.start == a.end == b.start == b.end


def select(findings: Sequence[Finding], lines: LineIndex) -> list[tuple[Finding, list[Span]]]:
    """The fixes that can be applied together in one pass: in file order, each fix whose edits
    do not overlap those already taken. The others wait for the next pass."""
    taken: list[tuple[Finding, list[Span]]] = []
    chosen: list[Span] = []
    ordered = sorted(findings, key=lambda f: (
        f.sort_key, min((e.row, e.column) for e in f.fix.edits) if f.fix else (0, 0)))
    for finding in ordered:
        assert finding.fix is not None
        own = spans(lines, finding.fix.edits)
        if any(_conflict(a, b) for i, a in enumerate(own) for b in own[i + 1:]):
            raise FixError(f"the {finding.code} fix at line {finding.line} overlaps itself")
        if any(_conflict(a, b) for a in own for b in chosen):
            continue
        taken.append((finding, own))
        chosen.extend(own)
    return taken


def apply(text: str, edits: Iterable[Span]) -> str:
    unique = sorted(set(edits), key=lambda s: (s.start, s.end))
    parts: list[str] = []
    position = 0
    for span in unique:
        if span.start < position:
            raise FixError("overlapping edits")
        parts.append(text[position:span.start])
        parts.append(span.content)
        position = span.end
    parts.append(text[position:])
    return "".join(parts)


_LINE = re.compile(rb"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+$")


def byte_lines(data: bytes) -> list[bytes]:
    """The file's lines with their own line breaks, byte for byte."""
    return _LINE.findall(data)


def check_changed_lines(before: bytes, after: bytes, edits: Sequence[Span]) -> None:
    """The result differs from the input only on the lines the edits touch: every other line,
    its line break, form feeds and encoding included, is the same bytes."""
    old, new = byte_lines(before), byte_lines(after)
    if b"".join(old) != before or b"".join(new) != after:
        raise FixError("cannot split the file into lines")
    allowed = {row - 1 for span in edits for row in range(span.first_row, span.last_row + 1)}
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i1 < i2:
            outside = [i + 1 for i in range(i1, i2) if i not in allowed]
            if outside:
                raise FixError(f"the fix changes line {outside[0]}, outside the fixed code")
            continue
        # Lines only inserted: fine where an edit is; with equal lines around, the matcher may
        # place them elsewhere, so accept any place giving the same result.
        inserted = new[j1:j2]
        candidate = old[:i1] + inserted + old[i1:]
        places = allowed | {a + 1 for a in allowed}
        if not any(old[:p] + inserted + old[p:] == candidate for p in places):
            raise FixError(f"the fix inserts lines at line {i1 + 1}, outside the fixed code")


def check_parses(after: bytes, before_compiled: bool) -> None:
    """The result must compile (when the input did with this Python); LibCST's parse is checked
    by linting the result again."""
    if not before_compiled:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(after, "<fixed>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        raise FixError(f"the fixed code does not parse: {error}") from error
