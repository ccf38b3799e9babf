"""LibCST's parse, without checking again what LibCST's own parser built.

Every LibCST node validates its fields when it is constructed (``CSTNode.__post_init__``
calls ``_validate``). That is right for the nodes a program builds (the autofixes), and
redundant for the nodes the parser builds from source it has just accepted: about a fifth of
a parse's time on real PyTorch files (``bench/stage_cost.py``). LibCST's own comment there
says as much. Validation only raises, so skipping it changes no tree.
"""

from __future__ import annotations

import threading

import libcst as cst

_VALIDATING = cst.CSTNode.__post_init__
_LOCK = threading.Lock()
_DEPTH = [0]  # parses under way (threads of the editor server), so the last one restores


def _trusted(self: cst.CSTNode) -> None:
    return None


def parse_module(source: bytes | str,
                 config: cst.PartialParserConfig | None = None) -> cst.Module:
    """``libcst.parse_module``, with the parser's nodes not validated again."""
    with _LOCK:
        _DEPTH[0] += 1
        cst.CSTNode.__post_init__ = _trusted  # type: ignore[method-assign]
    try:
        if config is None:
            return cst.parse_module(source)
        return cst.parse_module(source, config=config)
    finally:
        with _LOCK:
            _DEPTH[0] -= 1
            if not _DEPTH[0]:
                cst.CSTNode.__post_init__ = _VALIDATING  # type: ignore[method-assign]
