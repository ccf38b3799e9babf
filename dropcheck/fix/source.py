"""Source text as the fixer sees it: exact decoding, Python's lines, and LibCST positions mapped
back onto the file's own characters.

LibCST's ``Module.code`` is not always the file: it drops a form feed that starts a statement
line and a lone ``\\r`` that ends the file. Edits are therefore computed on the decoded file
itself, never on regenerated code, and LibCST positions are mapped onto it line by line.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from dropcheck.encoding import detect_encoding

#: Python's line breaks (and LibCST's): CRLF, lone CR, LF. A form feed is not one.
NEWLINE = re.compile(r"\r\n?|\n")


class FixError(Exception):
    """A fix that cannot be built or applied safely; the file is left alone."""


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    bom: bool

    def encode(self, text: str) -> bytes:
        try:
            body = text.encode(self.encoding)
        except UnicodeEncodeError as error:
            raise FixError(f"the fixed text cannot be encoded as {self.encoding}") from error
        return (codecs.BOM_UTF8 if self.bom else b"") + body


def decode(data: bytes) -> Decoded:
    """Decode as Python does (BOM, coding cookie), and refuse what would not round-trip."""
    try:
        encoding = detect_encoding(data)
    except (SyntaxError, LookupError) as error:
        raise FixError(f"cannot detect the encoding: {error}") from error
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8):] if bom else data
    encoding = "utf-8" if encoding == "utf-8-sig" else encoding
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise FixError(f"cannot decode the file as {encoding}") from error
    if text.encode(encoding) != body:
        raise FixError(f"{encoding} does not round-trip this file byte for byte")
    return Decoded(text, encoding, bom)


class LineIndex:
    """Offsets of the lines of a text; rows and columns are 1-based, in characters."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in NEWLINE.finditer(text)]

    def __len__(self) -> int:
        return len(self.starts)

    def line(self, row: int) -> str:
        """Line ``row`` without its line break."""
        start, end = self.bounds(row)
        return self.text[start:end]

    def bounds(self, row: int) -> tuple[int, int]:
        """Start and end (before the line break) of line ``row``."""
        if not 1 <= row <= len(self.starts):
            raise FixError(f"line {row} is outside the file")
        start = self.starts[row - 1]
        end = self.starts[row] if row < len(self.starts) else len(self.text)
        while end > start and self.text[end - 1] in "\r\n":
            end -= 1
        return start, end

    def eol(self, row: int) -> str:
        """The line break that ends line ``row`` ("" for a last line without one)."""
        _, end = self.bounds(row)
        nxt = self.starts[row] if row < len(self.starts) else len(self.text)
        return self.text[end:nxt]

    def offset(self, row: int, column: int) -> int:
        start, end = self.bounds(row)
        if not 1 <= column <= end - start + 1:
            raise FixError(f"column {column} is outside line {row}")
        return start + column - 1

    def position(self, offset: int) -> tuple[int, int]:
        if not 0 <= offset <= len(self.text):
            raise FixError(f"offset {offset} is outside the file")
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:  # last line start <= offset
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        row = lo + 1
        start, end = self.bounds(row)
        if offset > end:
            raise FixError(f"offset {offset} falls inside a line break")
        return row, offset - start + 1


class PositionMap:
    """Maps LibCST positions (computed on ``Module.code``) onto the file's own text.

    The two have the same lines; within a line LibCST may only have dropped characters (form
    feeds), so each differing line is aligned greedily. Anything else is refused.
    """

    def __init__(self, code: str, text: str) -> None:
        self.code = LineIndex(code)
        self.text = LineIndex(text)
        if len(self.code) != len(self.text) and not (
            # A lone CR ending the file is dropped by LibCST: one line fewer.
            len(self.code) + 1 == len(self.text) and text.endswith("\r")
            and self.text.line(len(self.text)) == ""
        ):
            raise FixError("LibCST's lines differ from the file's")
        self._columns: dict[int, list[int]] = {}

    def to_text(self, line: int, column: int) -> tuple[int, int]:
        """LibCST's (1-based line, 0-based column) -> the file's (1-based row, column)."""
        code_line = self.code.line(line)
        text_line = self.text.line(line)
        if code_line == text_line:
            if column > len(code_line):
                raise FixError("position past the end of its line")
            return line, column + 1
        columns = self._columns.get(line)
        if columns is None:
            columns = self._columns[line] = _align(code_line, text_line)
        if column >= len(columns):
            raise FixError("position past the end of its line")
        return line, columns[column] + 1


def _align(code: str, text: str) -> list[int]:
    """For each offset in ``code`` (and its end), the offset of the same character in
    ``text``, where ``text`` is ``code`` with some form feeds inserted."""
    mapping: list[int] = []
    j = 0
    for char in code:
        while j < len(text) and text[j] != char and text[j] == "\x0c":
            j += 1
        if j == len(text) or text[j] != char:
            raise FixError("LibCST's code differs from the file beyond dropped form feeds")
        mapping.append(j)
        j += 1
    if text[j:].strip("\x0c"):
        raise FixError("LibCST's code differs from the file beyond dropped form feeds")
    mapping.append(mapping[-1] + 1 if mapping else 0)
    return mapping
