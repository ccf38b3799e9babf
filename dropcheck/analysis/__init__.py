"""The shared analysis layer: facts about one file, computed once and asked by every rule.

Rules never re-derive these facts; when a rule needs to know more, the analysis learns it here.
Importing the package imports nothing else: the byte pre-filter uses ``layout`` before any
LibCST import (``FileContext`` is loaded on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dropcheck.analysis.context import FileContext

__all__ = ["FileContext"]


def __getattr__(name: str) -> Any:
    if name == "FileContext":
        from dropcheck.analysis.context import FileContext

        return FileContext
    raise AttributeError(f"module 'dropcheck.analysis' has no attribute {name!r}")
