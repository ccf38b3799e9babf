"""Findings are plain frozen data: rules create them, output formats print them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The code reported for a file that could not be analysed; never filtered out.
NOT_ANALYSED_CODE = "DC000"
NOT_ANALYSED_NAME = "file-not-analysed"


@dataclass(frozen=True)
class Finding:
    """One problem at one place. Lines and columns are 1-based; ends are exclusive (as ruff)."""

    code: str
    name: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)


def not_analysed(path: str, reason: str, line: int = 1, column: int = 1) -> Finding:
    """The DC000 finding for a file that could not be analysed."""
    reason = " ".join(reason.split())  # always one line, whatever the exception said
    return Finding(
        code=NOT_ANALYSED_CODE,
        name=NOT_ANALYSED_NAME,
        path=path,
        line=line,
        column=column,
        end_line=line,
        end_column=column,
        message=f"file not analysed: {reason}",
    )
