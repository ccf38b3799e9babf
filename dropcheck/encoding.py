"""A source file's encoding as CPython's tokenizer finds it (BOM, or a coding cookie on one of
the first two lines), with lines ending at ``\\r\\n``, ``\\r`` or ``\\n``.

``tokenize.detect_encoding`` (and LibCST, which calls it) splits lines at ``\\n`` only: a file
with lone-CR line ends is one long "first line" to it, which it decodes as UTF-8 to look for
the cookie, so a Latin-1 file that Python runs looked undecodable (a false DC000)."""

from __future__ import annotations

import re
import tokenize

_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")


def first_lines(data: bytes, count: int = 2) -> list[bytes]:
    """The first ``count`` lines as Python splits them, each ending in ``\\n`` when it ended."""
    lines: list[bytes] = []
    for match in _LINE.finditer(data):
        line = match.group()
        if not line or len(lines) == count:
            break
        body = line.rstrip(b"\r\n")
        lines.append(body + b"\n" if body != line else body)
    return lines


def detect_encoding(data: bytes) -> str:
    """The codec name (``utf-8-sig`` with a BOM); raises SyntaxError for a bad cookie or bytes
    the cookie's lines cannot be read in, as ``tokenize.detect_encoding`` does."""
    lines = iter([*first_lines(data), b""])
    encoding, _ = tokenize.detect_encoding(lambda: next(lines, b""))
    return encoding
