"""The human format: ``path:line:col: CODE [name] message``, then the source line with a caret
under the finding, then a one-line summary. Colour only when asked (a terminal, no NO_COLOR)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from dropcheck.encoding import detect_encoding
from dropcheck.findings import Finding

_RESET, _BOLD, _RED, _BLUE, _CYAN, _YELLOW = (
    "\033[0m", "\033[1m", "\033[31m", "\033[34m", "\033[36m", "\033[33m",
)


def _paint(text: str, *codes: str, color: bool) -> str:
    return "".join(codes) + text + _RESET if color else text


def location(finding: Finding) -> str:
    """``path:line:col``, or ``nb.ipynb:cell 3:4:5`` in a notebook."""
    cell = f"cell {finding.cell}:" if finding.cell is not None else ""
    return f"{finding.path}:{cell}{finding.line}:{finding.column}"


def headline(finding: Finding, color: bool = False) -> str:
    where = _paint(location(finding), _BOLD, color=color)
    code = _paint(finding.code, _BOLD, _RED, color=color)
    return f"{where}: {code} [{finding.name}] {finding.message}"


def format_concise(findings: Sequence[Finding]) -> str:
    """One line per finding and the summary: for scripts that grep."""
    return "\n".join([*(headline(f) for f in findings), summary(findings)]) + "\n"


class _Sources:
    """Source lines of the reported files, read once each (for the excerpts); ``given`` holds
    the bytes of files that are not on disk as linted (standard input)."""

    def __init__(self, given: Mapping[str, bytes] | None = None) -> None:
        self._files: dict[tuple[str, int | None], list[str] | None] = {}
        self._given = given or {}

    def lines(self, path: str, cell: int | None) -> list[str] | None:
        key = (path, cell)
        if key not in self._files:
            self._files[key] = self._read(path, cell, self._given.get(path))
        return self._files[key]

    @staticmethod
    def _read(path: str, cell: int | None, data: bytes | None) -> list[str] | None:
        if cell is not None:
            from dropcheck.notebook import cell_lines

            return cell_lines(path, cell, data)
        try:
            if data is None:
                with open(path, "rb") as handle:
                    data = handle.read(4_000_000)
            encoding = detect_encoding(data)
            text = data.decode(encoding, errors="replace")
        except (OSError, SyntaxError, LookupError):
            return None
        from dropcheck.suppression import _split_lines

        return _split_lines(text)


def _excerpt(finding: Finding, sources: _Sources, color: bool) -> list[str]:
    lines = sources.lines(finding.path, finding.cell)
    if lines is None or not 1 <= finding.line <= len(lines):
        return []
    raw = lines[finding.line - 1]
    text = raw.expandtabs(4).rstrip()
    prefix = raw[: max(finding.column - 1, 0)].expandtabs(4)
    start = len(prefix)
    if finding.end_line == finding.line and finding.end_column > finding.column:
        width = len(raw[: finding.end_column - 1].expandtabs(4)) - start
    else:
        width = max(len(text) - start, 1)
    width = max(width, 1)
    number = str(finding.line)
    gutter = " " * len(number)
    bar = _paint("|", _BLUE, _BOLD, color=color)
    caret = _paint("^" * width + f" {finding.code}", _RED, _BOLD, color=color)
    out = [
        f"{gutter} {bar}",
        f"{_paint(number, _BLUE, _BOLD, color=color)} {bar} {text}",
        f"{gutter} {bar} {' ' * start}{caret}",
    ]
    fix = getattr(finding, "fix", None)
    if fix is not None:
        label = _paint(f"= fix ({fix.applicability})", _CYAN, _BOLD, color=color)
        out.append(f"{gutter} {label}: {fix.message}")
    return out


def format_text(findings: Sequence[Finding], color: bool = False,
                sources: Mapping[str, bytes] | None = None) -> str:
    """Each finding: its contract line first, then the excerpt (from ``sources`` for a file
    that is not on disk as linted); the summary is the last line."""
    lines = _Sources(sources)
    out: list[str] = []
    for finding in findings:
        out.append(headline(finding, color))
        out.extend(_excerpt(finding, lines, color))
        out.append("")
    out.append(summary(findings))
    return "\n".join(out) + "\n"


def format_statistics(findings: Sequence[Finding], color: bool = False) -> str:
    counts = Counter((f.code, f.name) for f in findings)
    width = max((len(str(n)) for n in counts.values()), default=1)
    out = [
        f"{count:>{width}}  {_paint(code, _BOLD, _RED, color=color)}  {name}"
        for (code, name), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    out.append(summary(findings))
    return "\n".join(out) + "\n"


def summary(findings: Sequence[Finding]) -> str:
    if not findings:
        return "All checks passed!"
    files = len({f.path for f in findings})
    noun = "finding" if len(findings) == 1 else "findings"
    return f"Found {len(findings)} {noun} in {files} file{'s' if files != 1 else ''}."
