"""Pre-filter tokens shared by rules: byte strings that any matching source must contain."""

from __future__ import annotations

from dropcheck.analysis.torch_api import MODULE_BASE_NAMES, MODULE_BASES

#: Any callee that takes a dropout rate (see torch_api.RATE_PARAMETER).
RATE_TOKENS: tuple[bytes, ...] = (
    b"ropout", b"RNN", b"LSTM", b"GRU", b"Transformer", b"MultiheadAttention",
    b"scaled_dot_product_attention",
)

#: A class the analysis can tell is a torch module: its base (or its in-file ancestor's), as
#: imported, is named after an entry of torch_api.MODULE_BASES / MODULE_BASE_NAMES. Derived
#: from those tables so that the filter stays a necessary condition when they grow.
MODULE_CLASS_TOKENS: tuple[bytes, ...] = tuple(sorted(
    {name.rsplit(".", 1)[-1].encode() for name in MODULE_BASES | MODULE_BASE_NAMES}
))
