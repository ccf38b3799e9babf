"""Findings are plain frozen data: rules create them, output formats print them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

#: The code reported for a file that could not be analysed; never filtered out.
NOT_ANALYSED_CODE = "DC000"
NOT_ANALYSED_NAME = "file-not-analysed"


Applicability = Literal["safe", "unsafe"]


@dataclass(frozen=True)
class Edit:
    """Replace the text from (row, column) to (end_row, end_column) with ``content``.

    Rows and columns are 1-based, in characters of the decoded file, the end exclusive (as
    ruff's JSON). Rows are counted as Python counts lines (``\\r\\n``, ``\\r`` or ``\\n``);
    an insertion has equal start and end.
    """

    row: int
    column: int
    end_row: int
    end_column: int
    content: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "location": {"row": self.row, "column": self.column},
            "end_location": {"row": self.end_row, "column": self.end_column},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Edit:
        return cls(data["location"]["row"], data["location"]["column"],
                   data["end_location"]["row"], data["end_location"]["column"],
                   data["content"])


@dataclass(frozen=True)
class Fix:
    """How to fix a finding: text edits applied together. ``safe`` fixes keep what the user
    clearly meant and are applied by ``--fix``; ``unsafe`` ones change behaviour the user must
    review and need ``--unsafe-fixes``."""

    applicability: Applicability
    message: str
    edits: tuple[Edit, ...]

    def applies(self, unsafe_fixes: bool) -> bool:
        """Whether ``--fix`` applies it (unsafe ones only with ``--unsafe-fixes``)."""
        return self.applicability == "safe" or unsafe_fixes

    def to_dict(self) -> dict[str, Any]:
        return {"applicability": self.applicability, "message": self.message,
                "edits": [edit.to_dict() for edit in self.edits]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fix:
        applicability: Applicability = "safe" if data["applicability"] == "safe" else "unsafe"
        return cls(applicability, data["message"],
                   tuple(Edit.from_dict(edit) for edit in data["edits"]))


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
    #: How to fix it, when dropcheck knows; always present in ``to_dict()`` (null if none).
    fix: Fix | None = None
    #: For a Jupyter notebook: the cell's 1-based position in it; ``line``/``end_line`` are then
    #: relative to that cell. None for ordinary source files.
    cell: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fix"] = self.fix.to_dict() if self.fix is not None else None
        return data

    @property
    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (self.path, self.cell or 0, self.line, self.column, self.code)


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
