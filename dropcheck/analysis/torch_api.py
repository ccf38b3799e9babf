"""Facts about the torch API, as data (in the spirit of TorchFix's tables).

Names are canonical: ``torch.nn.modules.dropout.Dropout`` is ``torch.nn.Dropout`` (see
:func:`canonical` below).
"""

from __future__ import annotations

import functools

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
#: Norms that track running statistics unless told not to: BatchNorm, and (unlike the eager
#: ``InstanceNorm*d``) the lazy ``LazyInstanceNorm*d``, whose default is ``True``.
TRACKS_BY_DEFAULT: frozenset[str] = RUNNING_STATS_NORMS | {
    NN + f"LazyInstanceNorm{d}d" for d in (1, 2, 3)}
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

# -- layer order (dropcheck.analysis.layers) -------------------------------------------------
# What each layer does to the tensor flowing through it. The layer-order analysis classifies
# every step of a model's data flow with these roles; rules decide which roles a finding may
# look through. Anything not listed is unknown and breaks every chain.

ROLE_DROPOUT = "dropout"  # element-wise dropout
ROLE_CHANNEL_DROPOUT = "channel-dropout"  # Dropout1d/2d/3d, feature alpha dropout
ROLE_CONV = "conv"  # keeps a feature map of ``dims`` spatial dimensions
ROLE_LINEAR = "linear"  # weight layer on the last dimension
ROLE_RECURRENT = "recurrent"  # returns (output, state); output is (N, T, H)
ROLE_ATTENTION = "attention"  # returns (output, weights); output is (N, T, E)
ROLE_SEQUENCE = "sequence"  # Transformer layers: (N, T, E) in and out
ROLE_EMBEDDING = "embedding"  # (N, T) -> (N, T, D)
ROLE_RUNNING_NORM = "running-norm"  # BatchNorm & co: running statistics
ROLE_NORM = "norm"  # per-sample normalization, no running statistics
ROLE_ACTIVATION = "activation"  # element-wise, keeps the shape
ROLE_POOL = "pool"  # keeps a (smaller) feature map of ``dims`` spatial dimensions
ROLE_ADAPTIVE_POOL = "adaptive-pool"  # global pooling when the output size is 1
ROLE_GLOBAL_POOL = "global-pool"  # spatial dimensions reduced to 1x1 or removed
ROLE_RESHAPE = "reshape"  # flatten / view / reshape: a new shape, rank in ``rank`` if known
ROLE_TRANSPOSE = "transpose"  # dimensions reordered
ROLE_IDENTITY = "identity"  # returns its input unchanged
ROLE_LOCAL = "local"  # an instance of a module class defined in the file (opaque)
ROLE_UNKNOWN = "unknown"  # anything else, including merges of branches (``a + b``)

#: Roles of torch modules and functions (canonical names; tensor methods as ``torch.Tensor.m``).
LAYER_ROLES: dict[str, str] = {
    **{name: ROLE_DROPOUT for name in ELEMENTWISE_DROPOUT_MODULES | ELEMENTWISE_DROPOUT_FUNCTIONS},
    **{name: ROLE_CHANNEL_DROPOUT for name in (
        *CHANNEL_DROPOUT_MODULES, *CHANNEL_DROPOUT_FUNCTIONS, NN + "FeatureAlphaDropout",
        F + "feature_alpha_dropout", "torch.feature_dropout", "torch.feature_alpha_dropout",
    )},
    "torch.dropout_": ROLE_DROPOUT,
    "torch.alpha_dropout_": ROLE_DROPOUT,
    "torch.feature_dropout_": ROLE_CHANNEL_DROPOUT,
    "torch.feature_alpha_dropout_": ROLE_CHANNEL_DROPOUT,
    **{name: ROLE_CONV for name in (*CONV_MODULES, *CONV_FUNCTIONS)},
    **{NN + n: ROLE_LINEAR for n in ("Linear", "LazyLinear", "Bilinear")},
    F + "linear": ROLE_LINEAR,
    **{NN + n: ROLE_RECURRENT for n in ("RNN", "LSTM", "GRU")},
    NN + "MultiheadAttention": ROLE_ATTENTION,
    **{NN + n: ROLE_SEQUENCE for n in (
        "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
        "TransformerDecoderLayer",
    )},
    NN + "Embedding": ROLE_EMBEDDING,
    F + "embedding": ROLE_EMBEDDING,
    **{name: ROLE_RUNNING_NORM for name in RUNNING_STATS_NORMS | RUNNING_STATS_NORM_FUNCTIONS},
    **{name: ROLE_NORM for name in INSTANCE_NORMS | STATELESS_NORMS},
    **{F + n: ROLE_NORM for n in ("layer_norm", "group_norm", "instance_norm", "rms_norm",
                                  "local_response_norm", "normalize")},
    **{name: ROLE_ACTIVATION for name in ACTIVATIONS | ACTIVATION_FUNCTIONS},
    **{NN + n: ROLE_ACTIVATION for n in ("Softmax", "Softmin", "LogSoftmax", "Softmax2d")},
    **{F + n: ROLE_ACTIVATION for n in ("softmax", "softmin", "log_softmax", "tanh", "sigmoid",
                                        "elu_", "leaky_relu_", "rrelu", "rrelu_", "celu_",
                                        "selu_", "hardtanh_", "logsigmoid", "tanhshrink")},
    **{"torch." + n: ROLE_ACTIVATION for n in ("softmax", "log_softmax", "sigmoid_", "tanh_")},
    **{name: ROLE_POOL for name in (*POOLING, *POOLING_FUNCTIONS)
       if ".Adaptive" not in name and ".adaptive_" not in name},
    **{name: ROLE_ADAPTIVE_POOL for name in (*POOLING, *POOLING_FUNCTIONS)
       if ".Adaptive" in name or ".adaptive_" in name},
    **{name: ROLE_RESHAPE for name in (NN + "Flatten", NN + "Unflatten", "torch.flatten",
                                       "torch.reshape", "torch.squeeze", "torch.unsqueeze")},
    **{name: ROLE_TRANSPOSE for name in ("torch.transpose", "torch.permute", "torch.movedim",
                                         "torch.swapaxes", "torch.t")},
    NN + "Identity": ROLE_IDENTITY,
    **{name: ROLE_GLOBAL_POOL for name in ("torch.mean", "torch.sum", "torch.amax",
                                           "torch.amin", "torch.max", "torch.logsumexp")},
}

#: Tensor methods the layer-order analysis follows (``x.view(n, -1)``), by role.
TENSOR_METHOD_ROLES: dict[str, str] = {
    **{m: ROLE_RESHAPE for m in ("view", "reshape", "flatten", "squeeze", "unsqueeze",
                                 "unflatten", "view_as", "reshape_as")},
    **{m: ROLE_TRANSPOSE for m in ("transpose", "permute", "movedim", "swapaxes", "swapdims",
                                   "t")},
    **{m: ROLE_GLOBAL_POOL for m in ("mean", "sum", "amax", "amin", "max", "min", "logsumexp",
                                     "norm", "std", "var")},
    **{m: ROLE_IDENTITY for m in ("contiguous", "clone", "float", "half", "bfloat16", "double",
                                  "to", "type_as", "detach")},
    **{m: ROLE_ACTIVATION for m in ("relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_",
                                    "softmax", "log_softmax")},
}

#: Layer constructors and functions whose constant arguments the layer-order analysis reads
#: (output sizes, ``track_running_stats``, ``inplace``, flatten/conv parameters).
LAYER_SIGNATURES: dict[str, tuple[str, ...]] = {
    **{name: ("output_size",) for name in POOLING if ".Adaptive" in name},
    **{name: ("input", "output_size") for name in POOLING_FUNCTIONS if ".adaptive_" in name},
    # lazy norms infer num_features: their first parameter is eps
    **{name: ("eps", "momentum", "affine", "track_running_stats") if ".Lazy" in name
       else ("num_features", "eps", "momentum", "affine", "track_running_stats")
       for name in INSTANCE_NORMS | RUNNING_STATS_NORMS if "SyncBatchNorm" not in name},
    NN + "Flatten": ("start_dim", "end_dim"),
    "torch.flatten": ("input", "start_dim", "end_dim"),
    "torch.Tensor.flatten": ("start_dim", "end_dim"),
    NN + "Linear": ("in_features", "out_features", "bias"),
    NN + "LazyLinear": ("out_features", "bias"),
    **{name: ("in_channels", "out_channels", "kernel_size")
       for name in CONV_MODULES if ".Lazy" not in name},
    **{name: ("out_channels", "kernel_size") for name in CONV_MODULES if ".Lazy" in name},
    NN + "ReLU": ("inplace",),
    NN + "SELU": ("inplace",),
    NN + "LeakyReLU": ("negative_slope", "inplace"),
    NN + "ELU": ("alpha", "inplace"),
    NN + "CELU": ("alpha", "inplace"),
    NN + "RReLU": ("lower", "upper", "inplace"),
    F + "relu": ("input", "inplace"),
    F + "selu": ("input", "inplace"),
    F + "leaky_relu": ("input", "negative_slope", "inplace"),
    F + "elu": ("input", "alpha", "inplace"),
    F + "celu": ("input", "alpha", "inplace"),
    F + "rrelu": ("input", "lower", "upper", "training", "inplace"),
}

#: Ops whose backward reads their own *output*, so an in-place op on that output makes
#: ``backward()`` raise "modified by an inplace operation" (measured with torch 2.13).
OUTPUT_SAVING_OPS: frozenset[str] = frozenset(
    {NN + n for n in ("ReLU", "Sigmoid", "Tanh", "Softmax", "Softmin", "LogSoftmax",
                      "Softmax2d")}
    | {F + n for n in ("relu", "relu_", "sigmoid", "tanh", "softmax", "softmin",
                       "log_softmax", "elu_", "leaky_relu_", "rrelu_", "celu_", "selu_")}
    | {"torch." + n for n in ("relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_",
                              "softmax", "log_softmax", "exp")}
    | {"torch.Tensor." + n for n in ("relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_",
                                     "softmax", "log_softmax")}
)
#: Ops that save their output only when run in place (``inplace=True``).
OUTPUT_SAVING_WHEN_INPLACE: frozenset[str] = frozenset(
    {NN + n for n in ("LeakyReLU", "ELU", "CELU", "SELU", "RReLU")}
    | {F + n for n in ("leaky_relu", "elu", "celu", "selu", "rrelu")}
)
#: Dropout that always works in place, and modules whose ``inplace`` flag torch ignores
#: (``AlphaDropout.forward`` never passes it on).
INPLACE_DROPOUT_FUNCTIONS: frozenset[str] = frozenset(
    {"torch.dropout_", "torch.alpha_dropout_", "torch.feature_dropout_",
     "torch.feature_alpha_dropout_"}
)
INPLACE_IGNORED: frozenset[str] = frozenset({NN + "AlphaDropout", NN + "FeatureAlphaDropout"})

#: Every torch name the tables above mention (used to resolve ``from torch.nn import *``).
KNOWN_NAMES: frozenset[str] = frozenset(
    set(SIGNATURES) | DROPOUT_MODULES | set(CONV_MODULES) | set(CONV_FUNCTIONS)
    | RUNNING_STATS_NORMS | INSTANCE_NORMS | RUNNING_STATS_NORM_FUNCTIONS | STATELESS_NORMS
    | ACTIVATIONS | ACTIVATION_FUNCTIONS | set(POOLING) | set(POOLING_FUNCTIONS)
    | MODE_DEPENDENT_MODULES | set(FUNCTIONAL_DROPOUT_TRAINING_DEFAULT)
    | set(LAYER_ROLES)
    | {NN + n for n in ("Module", "Sequential", "ModuleList", "ModuleDict", "Linear", "Flatten",
                        "Identity", "Embedding", "LazyLinear", "Bilinear", "Unflatten")}
)


@functools.cache
def names_with_role(*roles: str) -> frozenset[str]:
    """The torch names the layer-order analysis gives one of ``roles``."""
    return frozenset(name for name, role in LAYER_ROLES.items() if role in roles)


# -- names alone (no parser needed: the pre-filter's sketch uses these too) ------------------
_TORCH_NN_MODULES = "torch.nn.modules."
_NN = "torch.nn."
#: torch.nn names that are not layers (calling them builds no submodule).
_NOT_LAYERS = frozenset({"Parameter", "ParameterList", "ParameterDict", "Module"})
#: Bases of a class that is certainly no torch module.
PLAIN_BASES = frozenset({"object", "ABC", "abc.ABC", "Generic"})
#: Packages whose ``Module``-named classes are torch modules.
MODEL_PACKAGES = frozenset(
    {"torch", "lightning", "pytorch_lightning", "transformers", "diffusers"}
)


def canonical(qualified_name: str) -> str:
    """Map a defining-module path to the public name rules match on."""
    if qualified_name.startswith(_TORCH_NN_MODULES):
        # torch.nn.modules.dropout.Dropout -> torch.nn.Dropout
        return "torch.nn." + qualified_name.rsplit(".", 1)[-1]
    if qualified_name.startswith("torch.nn.functional."):
        return qualified_name
    if qualified_name.startswith("torch._C._nn."):
        return "torch.nn.functional." + qualified_name.rsplit(".", 1)[-1]
    return qualified_name


def class_like(qualified: str) -> bool:
    """Whether a name's last part is capitalised, as a class's is (``models.Net``, not
    ``utils.build``): how the analysis tells the classes a project calls from its functions
    before reading them. A name in capitals with an underscore is a constant's or a
    check function's (``KORNIA_CHECK_SHAPE``), not a class's (``MLP``, ``VGG`` are)."""
    last = qualified.rsplit(".", 1)[-1]
    return last[:1].isupper() and not (last.isupper() and "_" in last.strip("_"))


def is_module_base(qualified: str) -> bool:
    """Whether a base class, by its qualified name, makes a class a torch module."""
    if qualified in MODULE_BASES:
        return True
    # `from ...modeling_utils import PreTrainedModel`, `lightning.pytorch.core...`
    package = qualified.split(".", 1)[0]
    trusted = qualified.startswith(".") or package in MODEL_PACKAGES
    return trusted and qualified.rsplit(".", 1)[-1] in MODULE_BASE_NAMES


def layer_is_mode_dependent(qualified: str) -> bool:
    """For a ``torch.nn.X`` constructor: whether X's output may depend on the mode (with some
    arguments); ``ModeDependence.of_call`` decides for one call."""
    return qualified in MODE_DEPENDENT_MODULES


def is_torch_layer(qualified: str | None) -> bool:
    if qualified is None or not qualified.startswith(_NN):
        return False
    last = qualified.rsplit(".", 1)[-1]
    rest = qualified[len(_NN):]
    if "." in rest and not rest.startswith("modules."):
        return False  # torch.nn.parallel.X, torch.nn.utils.X ...
    return last[:1].isupper() and last not in _NOT_LAYERS
