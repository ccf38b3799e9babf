"""The static layer-order rules (DC003, DC004, DC009) on the real execution of one forward.

Data flow is followed through tensor identity: each recorded event (a torch layer, or a torch
function called in a model's own ``forward``) knows which event produced its input, so
``Conv2d -> ReLU -> Dropout`` is found however the model is written (``nn.Sequential``,
``forward`` code, helpers, dynamically built layers), and ``x + residual`` breaks the chain as
the static rules require.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from dropcheck.analysis import torch_api as api
from dropcheck.runtime._common import (
    dedupe,
    finding,
    forked_rng,
    is_dropout_module,
    preserved_modes,
    shape_text,
)
from dropcheck.runtime._trace import Event, Tracer
from dropcheck.runtime_codes import RuntimeFinding

_F = "torch.nn.functional."
_TENSOR_PASS = frozenset({"Tensor.contiguous", "Tensor.clone", "Tensor.float", "Tensor.half",
                          "Tensor.bfloat16", "Tensor.to", "Tensor.type_as", "Tensor.relu",
                          "Tensor.relu_", "Tensor.sigmoid", "Tensor.tanh"})
#: Layers and functions that keep a feature map a feature map (DC003) ...
_KEEPS_MAP = (api.ACTIVATIONS | api.ACTIVATION_FUNCTIONS | set(api.POOLING)
              | set(api.POOLING_FUNCTIONS) | api.RUNNING_STATS_NORMS | api.INSTANCE_NORMS
              | api.STATELESS_NORMS | {"torch.nn.Identity"} | _TENSOR_PASS)
#: ... and those that let dropout's variance shift through unchanged to a BatchNorm (DC004).
_PASS_VARIANCE = (api.ACTIVATIONS | api.ACTIVATION_FUNCTIONS | set(api.POOLING)
                  | set(api.POOLING_FUNCTIONS) | {"torch.nn.Identity"} | _TENSOR_PASS)
_ELEMENTWISE_DROPOUT = api.ELEMENTWISE_DROPOUT_MODULES | api.ELEMENTWISE_DROPOUT_FUNCTIONS
_CHANNEL_DROPOUT: dict[str, int] = {**api.CHANNEL_DROPOUT_MODULES,
                                    **api.CHANNEL_DROPOUT_FUNCTIONS}
_CONV: dict[str, int] = {**api.CONV_MODULES, **api.CONV_FUNCTIONS}
_DROPOUT_FUNCTIONS = set(api.FUNCTIONAL_DROPOUT_TRAINING_DEFAULT) | {
    "torch.dropout", "torch.feature_dropout", "torch.alpha_dropout",
    "torch.feature_alpha_dropout"}


def _walk_back(event: Event, through: Callable[[Event], bool],
               target: Callable[[Event], bool]) -> Event | None:
    """The first event upstream of ``event``'s input matching ``target``, passing only
    events matching ``through``."""
    current = event.source
    for _ in range(10_000):  # a chain is never longer than the forward; guard anyway
        if current is None:
            return None
        if target(current):
            return current
        if not through(current):
            return None
        current = current.source
    return None


def _is_conv(event: Event) -> bool:
    return event.name in _CONV or (event.is_module and isinstance(
        event.module, nn.modules.conv._ConvNd))


def _is_running_stats_norm(event: Event) -> bool:
    if event.is_module:
        module = event.module
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            return module.track_running_stats
        if isinstance(module, nn.modules.instancenorm._InstanceNorm):
            return module.track_running_stats
        return False
    if event.name in api.RUNNING_STATS_NORM_FUNCTIONS:
        return event.params.get("running_mean") is not None
    return False


def _is_dropout(event: Event) -> bool:
    if event.is_module:
        return is_dropout_module(event.module)
    return event.name in _DROPOUT_FUNCTIONS


def _rate(event: Event) -> float | None:
    value = getattr(event.module, "p", None) if event.is_module else event.params.get("p")
    return float(value) if isinstance(value, (int, float)) else None


def _keeps_map(event: Event) -> bool:
    if event.name not in _KEEPS_MAP:
        return False
    output = event.output
    # Global pooling to 1x1 turns the map into a vector: dropout after it is fine.
    return not (isinstance(output, torch.Tensor) and output.dim() >= 3
                and all(s == 1 for s in output.shape[2:]))


def _label(event: Event) -> str:
    short = event.name.replace(_F, "F.").replace("torch.nn.", "nn.")
    if event.is_module:
        return f"`{event.path or '<root>'}` ({type(event.module).__name__})"
    return f"{short} in `{event.path or '<root>'}`"


def _where(event: Event) -> tuple[str, nn.Module | str]:
    return event.path, event.module


def _dc003(event: Event) -> RuntimeFinding | None:
    x = event.input
    if event.name not in _ELEMENTWISE_DROPOUT or x is None or x.dim() < 3:
        return None
    if all(s == 1 for s in x.shape[2:]):
        return None
    conv = _walk_back(event, _keeps_map, _is_conv)
    if conv is None:
        return None
    dims = _CONV.get(conv.name, x.dim() - 2)
    what = "nn.Dropout" if event.is_module else event.name.replace(_F, "F.")
    return finding("DC003", *_where(event),
                   f"{what} drops single elements of the {shape_text(x)} feature map of "
                   f"{_label(conv)}; neighbouring activations are correlated, so this barely "
                   f"regularizes: use nn.Dropout{dims}d (whole channels) or DropBlock")


def _dc004(event: Event) -> RuntimeFinding | None:
    if not _is_running_stats_norm(event):
        return None
    dropout = _walk_back(event, lambda e: e.name in _PASS_VARIANCE, _is_dropout)
    if dropout is None or _rate(dropout) == 0.0:
        return None
    return finding("DC004", *_where(dropout),
                   f"its output reaches {_label(event)}, which keeps running statistics: "
                   f"dropout changes the variance between training and eval (variance shift, "
                   f"Li et al. 2019); put dropout after the normalization, or after the last "
                   f"BatchNorm")


def _dc009(event: Event) -> RuntimeFinding | None:
    x = event.input
    name = event.name
    if name not in _CHANNEL_DROPOUT or x is None:
        return None
    dims = _CHANNEL_DROPOUT[name]
    what = ("nn" if event.is_module else "F") + (f".Dropout{dims}d" if event.is_module
                                                  else f".dropout{dims}d")
    rank = x.dim()
    if dims == 2 and rank == 3:
        return finding("DC009", *_where(event),
                       f"{what} got a 3-D input {shape_text(x)}: torch treats it as (N, C, L) "
                       f"and zeroes whole rows of dim 1 (on an (N, T, D) sequence, entire time "
                       f"steps); use nn.Dropout for element-wise dropout, or nn.Dropout1d on "
                       f"x.transpose(1, 2) to drop feature channels")
    if dims == 2 and rank != 4:
        return finding("DC009", *_where(event),
                       f"{what} got a {rank}-D input {shape_text(x)}; it expects (N, C, H, W) "
                       f"feature maps: use nn.Dropout for vectors")
    if dims == 3 and rank not in (4, 5):
        return finding("DC009", *_where(event),
                       f"{what} got a {rank}-D input {shape_text(x)}; it expects (N, C, D, H, "
                       f"W) volumes")
    if dims == 3 and rank == 4:
        conv = _walk_back(event, _keeps_map, _is_conv)
        if conv is not None and _CONV.get(conv.name) == 2:
            return finding("DC009", *_where(event),
                           f"{what} on the 4-D output {shape_text(x)} of {_label(conv)} treats "
                           f"it as one unbatched (C, D, H, W) volume: the batch dimension becomes "
                           f"the channels, so it drops whole samples; use nn.Dropout2d")
    return None


def layer_order(model: nn.Module, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> list[RuntimeFinding]:
    with preserved_modes(model), forked_rng(model, args), torch.no_grad():
        # Eval mode: no running statistics change. (torch's fused transformer fast path then
        # hides its layers, which hold no convolution or BatchNorm.)
        model.eval()
        with Tracer(model, record_events=True, args=args) as tracer:
            model(*args, **kwargs)
        events = tracer.events
    found: list[RuntimeFinding] = []
    for event in events:
        for rule in (_dc003, _dc004, _dc009):
            result = rule(event)
            if result is not None:
                found.append(result)
    return dedupe(found)


def check_layer_order(model: nn.Module, *args: Any, **kwargs: Any) -> list[RuntimeFinding]:
    """The layer-order rules on the real execution of ``model(*args, **kwargs)`` in eval mode.

    Every torch layer and dropout module that runs, and every torch function called by other
    modules (``F.conv2d``, ``F.dropout``, ``F.batch_norm`` in a ``forward``), is recorded with
    the event that produced its input, and:

    - DC003: element-wise dropout (``nn.Dropout``, ``F.dropout``, alpha dropout) on a >= 3-D
      feature map that comes from a convolution through layers that keep the map (activations,
      pooling that is not global, normalization);
    - DC004: a dropout whose output reaches a normalizer with running statistics (BatchNorm,
      InstanceNorm with ``track_running_stats``, ``F.batch_norm`` with running stats) through
      activations/pooling only;
    - DC009: ``Dropout2d`` on a tensor that is not 4-D (a 3-D ``(N, T, D)`` sequence loses whole
      time steps), ``Dropout3d`` on a 4-D conv output or another rank.

    Findings name the dropout's module path (or the module whose ``forward`` called the
    function). The forward runs in eval mode, so no running statistic changes; every module's
    ``training`` flag and the caller's RNG state are restored.
    """
    return layer_order(model, args, kwargs)
