"""dropcheck: find dropout misuse in PyTorch code.

Importing this package never imports torch; ``dropcheck.runtime`` does, lazily.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dropcheck.findings import Finding

__all__ = ["Finding", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the console script imports this package before its Ctrl-C
    # handler is in place (dropcheck/entry.py), so the package itself imports nothing.
    if name == "Finding":
        from dropcheck.findings import Finding

        return Finding
    raise AttributeError(f"module 'dropcheck' has no attribute {name!r}")
