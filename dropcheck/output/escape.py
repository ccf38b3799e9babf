"""File names that are not valid UTF-8 in formats that must be.

Python hands such a name over as lone surrogates (PEP 383: ``b"\\xff"`` becomes ``"\\udcff"``),
which no UTF-8 document may contain. Each format escapes them as it allows: JSON with its own
``\\uDCFF`` escape (``json.loads`` then ``os.fsencode`` gives the bytes back), URIs by
percent-encoding the bytes, XML and workflow commands as ``\\xff`` text."""

from __future__ import annotations

import os
import re
from urllib.parse import quote

_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(document: str) -> str:
    """A JSON document with each lone surrogate written as a ``\\uXXXX`` escape (only string
    contents can hold one, so the escape stays inside its string)."""
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", document)


def printable(text: str) -> str:
    """``text`` with the bytes a name smuggled in as surrogates shown as ``\\xff``."""
    if _SURROGATE.search(text) is None:
        return text
    raw = text.encode("utf-8", "surrogateescape") if _only_escapes(text) else None
    if raw is None:
        return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    return raw.decode("utf-8", "backslashreplace")


def _only_escapes(text: str) -> bool:
    # surrogateescape only encodes U+DC80..U+DCFF (the bytes 0x80-0xFF it decoded them from).
    return all("\udc80" <= char <= "\udcff" for char in _SURROGATE.findall(text))


def uri_path(path: str, safe: str = "/") -> str:
    """Percent-encoded from the name's bytes, as RFC 3986 encodes octets."""
    return quote(os.fsencode(path) if _only_escapes(path) else path.encode("utf-8",
                 "surrogatepass"), safe=safe)
