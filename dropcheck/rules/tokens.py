"""Pre-filter tokens shared by rules: byte strings that any matching source must contain."""

from __future__ import annotations

#: Any callee that takes a dropout rate (see torch_api.RATE_PARAMETER).
RATE_TOKENS: tuple[bytes, ...] = (
    b"ropout", b"RNN", b"LSTM", b"GRU", b"Transformer", b"MultiheadAttention",
    b"scaled_dot_product_attention",
)

#: A class the analysis can tell is a torch module (see torch_api.MODULE_BASES/_BASE_NAMES):
#: its base's name, as imported, is one of these (``LightningModule`` contains ``Module``).
MODULE_CLASS_TOKENS: tuple[bytes, ...] = (b"Module", b"PreTrainedModel", b"ModelMixin")
