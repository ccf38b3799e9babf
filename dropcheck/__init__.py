"""dropcheck: find dropout misuse in PyTorch code.

Importing this package never imports torch; ``dropcheck.runtime`` does, lazily.
"""

from __future__ import annotations

__version__ = "0.1.0"

from dropcheck.findings import Finding

__all__ = ["Finding", "__version__"]
