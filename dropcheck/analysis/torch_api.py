"""Facts about the torch API, as data (in the spirit of TorchFix's tables).

Names are canonical: ``torch.nn.modules.dropout.Dropout`` is ``torch.nn.Dropout`` (see
:func:`dropcheck.analysis.imports.canonical`).
"""

from __future__ import annotations

NN = "torch.nn."
F = "torch.nn.functional."

#: Positional parameters of each callee we bind arguments for, in order (``self`` left out).
#: Only the prefix up to the last parameter any rule asks about is needed.
SIGNATURES: dict[str, tuple[str, ...]] = {
    NN + "Dropout": ("p", "inplace"),
    NN + "Dropout1d": ("p", "inplace"),
    NN + "Dropout2d": ("p", "inplace"),
    NN + "Dropout3d": ("p", "inplace"),
    NN + "AlphaDropout": ("p", "inplace"),
    NN + "FeatureAlphaDropout": ("p", "inplace"),
    F + "dropout": ("input", "p", "training", "inplace"),
    F + "dropout1d": ("input", "p", "training", "inplace"),
    F + "dropout2d": ("input", "p", "training", "inplace"),
    F + "dropout3d": ("input", "p", "training", "inplace"),
    F + "alpha_dropout": ("input", "p", "training", "inplace"),
    F + "feature_alpha_dropout": ("input", "p", "training", "inplace"),
    "torch.dropout": ("input", "p", "train"),
    "torch.alpha_dropout": ("input", "p", "train"),
    "torch.feature_dropout": ("input", "p", "train"),
    "torch.feature_alpha_dropout": ("input", "p", "train"),
    NN + "RNN": (
        "input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first",
        "dropout", "bidirectional",
    ),
    NN + "LSTM": (
        "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
        "bidirectional", "proj_size",
    ),
    NN + "GRU": (
        "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
        "bidirectional",
    ),
    NN + "Transformer": (
        "d_model", "nhead", "num_encoder_layers", "num_decoder_layers", "dim_feedforward",
        "dropout",
    ),
    NN + "TransformerEncoderLayer": ("d_model", "nhead", "dim_feedforward", "dropout"),
    NN + "TransformerDecoderLayer": ("d_model", "nhead", "dim_feedforward", "dropout"),
    NN + "MultiheadAttention": ("embed_dim", "num_heads", "dropout"),
    F + "scaled_dot_product_attention": (
        "query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale",
    ),
}

#: Callees that take a dropout rate, and the name of that parameter.
RATE_PARAMETER: dict[str, str] = {
    name: ("dropout_p" if "dropout_p" in params else "dropout" if "dropout" in params else "p")
    for name, params in SIGNATURES.items()
}

#: Rate used when the argument is omitted (only those that matter for rate rules).
RATE_DEFAULT: dict[str, float] = {
    **{NN + n: 0.5 for n in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
                             "AlphaDropout", "FeatureAlphaDropout")},
    **{F + n: 0.5 for n in ("dropout", "dropout1d", "dropout2d", "dropout3d",
                            "alpha_dropout", "feature_alpha_dropout")},
    NN + "RNN": 0.0, NN + "LSTM": 0.0, NN + "GRU": 0.0,
    NN + "Transformer": 0.1, NN + "TransformerEncoderLayer": 0.1,
    NN + "TransformerDecoderLayer": 0.1, NN + "MultiheadAttention": 0.0,
    F + "scaled_dot_product_attention": 0.0,
}

#: Dropout layers (``nn.Module`` classes). ``_DropoutNd`` is their common base in torch.
DROPOUT_MODULES: frozenset[str] = frozenset(
    NN + n for n in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                     "FeatureAlphaDropout")
)
#: Element-wise (not channel-wise) dropout layers.
ELEMENTWISE_DROPOUT_MODULES: frozenset[str] = frozenset({NN + "Dropout", NN + "AlphaDropout"})
#: Channel-wise dropout layers, by the spatial dimensionality they expect.
CHANNEL_DROPOUT_MODULES: dict[str, int] = {
    NN + "Dropout1d": 1, NN + "Dropout2d": 2, NN + "Dropout3d": 3,
}

#: Functional dropout, and whether ``training`` defaults to True.
FUNCTIONAL_DROPOUT_TRAINING_DEFAULT: dict[str, bool] = {
    F + "dropout": True, F + "dropout1d": True, F + "dropout2d": True, F + "dropout3d": True,
    F + "alpha_dropout": False, F + "feature_alpha_dropout": False,
}
#: Element-wise functional dropout.
ELEMENTWISE_DROPOUT_FUNCTIONS: frozenset[str] = frozenset(
    {F + "dropout", F + "alpha_dropout", "torch.dropout", "torch.alpha_dropout"}
)
CHANNEL_DROPOUT_FUNCTIONS: dict[str, int] = {
    F + "dropout1d": 1, F + "dropout2d": 2, F + "dropout3d": 3,
}

#: Convolution layers and functions, by spatial dimensionality.
CONV_MODULES: dict[str, int] = {
    **{NN + f"Conv{d}d": d for d in (1, 2, 3)},
    **{NN + f"ConvTranspose{d}d": d for d in (1, 2, 3)},
    **{NN + f"LazyConv{d}d": d for d in (1, 2, 3)},
    **{NN + f"LazyConvTranspose{d}d": d for d in (1, 2, 3)},
}
CONV_FUNCTIONS: dict[str, int] = {
    **{F + f"conv{d}d": d for d in (1, 2, 3)},
    **{F + f"conv_transpose{d}d": d for d in (1, 2, 3)},
    **{f"torch.conv{d}d": d for d in (1, 2, 3)},
}

#: Normalizers that keep running statistics (their eval output depends on train-time variance).
RUNNING_STATS_NORMS: frozenset[str] = frozenset(
    {NN + f"BatchNorm{d}d" for d in (1, 2, 3)}
    | {NN + f"LazyBatchNorm{d}d" for d in (1, 2, 3)}
    | {NN + "SyncBatchNorm"}
)
#: InstanceNorm keeps running statistics only with ``track_running_stats=True``.
INSTANCE_NORMS: frozenset[str] = frozenset(
    {NN + f"InstanceNorm{d}d" for d in (1, 2, 3)}
    | {NN + f"LazyInstanceNorm{d}d" for d in (1, 2, 3)}
)
RUNNING_STATS_NORM_FUNCTIONS: frozenset[str] = frozenset({F + "batch_norm", "torch.batch_norm"})

#: Normalizers without running statistics: dropout before them is fine.
STATELESS_NORMS: frozenset[str] = frozenset(
    {NN + "LayerNorm", NN + "GroupNorm", NN + "RMSNorm", NN + "LocalResponseNorm"}
)

#: Layers that keep the shape/meaning of a feature map (activations, pooling, normalization).
ACTIVATIONS: frozenset[str] = frozenset(
    NN + n for n in (
        "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
        "Mish", "Sigmoid", "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus",
        "Softsign", "Tanhshrink", "Threshold", "LogSigmoid", "Hardshrink", "Softshrink", "GLU",
    )
)
ACTIVATION_FUNCTIONS: frozenset[str] = frozenset(
    {F + n for n in (
        "relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "selu", "celu", "gelu", "silu",
        "mish", "sigmoid", "tanh", "hardtanh", "hardswish", "hardsigmoid", "softplus",
        "softsign", "glu", "relu_", "elu_", "leaky_relu_", "threshold",
    )}
    | {"torch.relu", "torch.sigmoid", "torch.tanh", "torch.relu_", "torch.selu", "torch.celu"}
)
#: Pooling that keeps spatial dimensions (global pooling to 1x1 is handled by the layer-order
#: analysis, which looks at the output size).
POOLING: dict[str, int] = {
    **{NN + f"MaxPool{d}d": d for d in (1, 2, 3)},
    **{NN + f"AvgPool{d}d": d for d in (1, 2, 3)},
    **{NN + f"LPPool{d}d": d for d in (1, 2, 3)},
    **{NN + f"FractionalMaxPool{d}d": d for d in (2, 3)},
    **{NN + f"AdaptiveAvgPool{d}d": d for d in (1, 2, 3)},
    **{NN + f"AdaptiveMaxPool{d}d": d for d in (1, 2, 3)},
}
POOLING_FUNCTIONS: dict[str, int] = {
    **{F + f"max_pool{d}d": d for d in (1, 2, 3)},
    **{F + f"avg_pool{d}d": d for d in (1, 2, 3)},
    **{F + f"adaptive_avg_pool{d}d": d for d in (1, 2, 3)},
    **{F + f"adaptive_max_pool{d}d": d for d in (1, 2, 3)},
}

#: Layers whose output is mode dependent (dropout, running-stats norms, recurrent/attention
#: layers with a dropout argument). A model class containing none of these behaves the same in
#: train and eval mode.
MODE_DEPENDENT_MODULES: frozenset[str] = (
    DROPOUT_MODULES
    | RUNNING_STATS_NORMS
    | INSTANCE_NORMS
    | frozenset(NN + n for n in (
        "RNN", "LSTM", "GRU", "Transformer", "TransformerEncoder", "TransformerDecoder",
        "TransformerEncoderLayer", "TransformerDecoderLayer", "MultiheadAttention",
    ))
)

#: Base classes that make a class a torch module (matched on the canonical qualified name, or
#: for relative/unknown imports on the last component).
MODULE_BASES: frozenset[str] = frozenset(
    {"torch.nn.Module", "pytorch_lightning.LightningModule", "lightning.LightningModule",
     "lightning.pytorch.LightningModule", "transformers.PreTrainedModel",
     "transformers.modeling_utils.PreTrainedModel"}
)
MODULE_BASE_NAMES: frozenset[str] = frozenset(
    {"Module", "LightningModule", "PreTrainedModel", "ModelMixin"}
)

#: Every torch name the tables above mention (used to resolve ``from torch.nn import *``).
KNOWN_NAMES: frozenset[str] = frozenset(
    set(SIGNATURES) | DROPOUT_MODULES | set(CONV_MODULES) | set(CONV_FUNCTIONS)
    | RUNNING_STATS_NORMS | INSTANCE_NORMS | RUNNING_STATS_NORM_FUNCTIONS | STATELESS_NORMS
    | ACTIVATIONS | ACTIVATION_FUNCTIONS | set(POOLING) | set(POOLING_FUNCTIONS)
    | MODE_DEPENDENT_MODULES | set(FUNCTIONAL_DROPOUT_TRAINING_DEFAULT)
    | {NN + n for n in ("Module", "Sequential", "ModuleList", "ModuleDict", "Linear", "Flatten",
                        "Identity", "Embedding", "LazyLinear", "Bilinear", "Unflatten")}
)
