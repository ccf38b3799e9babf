"""One function per fixable rule: the fix for a finding, or None when the right change is not
clear. Rules call these from their ``report(..., fix=...)``; the logic lives here so that rule
modules stay about finding problems."""

from __future__ import annotations

import libcst as cst

from dropcheck.analysis.context import FileContext
from dropcheck.analysis.layers import LayerStep
from dropcheck.analysis.torch_api import NN, SIGNATURES, F
from dropcheck.fix.changes import NodeFix
from dropcheck.fix.helpers import (
    contains,
    keyword_for_positional,
    rename_callee,
    self_attribute_uses,
)


def dropout_true_to_inplace(context: FileContext, call: cst.Call) -> NodeFix | None:
    """DC006: ``nn.Dropout(True)`` -> ``nn.Dropout(inplace=True)``.

    Unsafe: the rate goes from 1.0 to the default 0.5 and the layer starts working in place;
    both are what the author almost certainly meant, but the trained behaviour changes."""
    bound = context.call(call)
    if bound is None or not bound.qualified_name.startswith(NN):
        return None
    if "inplace" not in SIGNATURES.get(bound.qualified_name, ()):
        return None
    arg = bound.argument("p")
    if not isinstance(arg, cst.Arg) or not (
        isinstance(arg.value, cst.Name) and arg.value.value == "True"
    ):
        return None
    if bound.argument("inplace") is not None:
        return None  # inplace is passed too: what was meant is not clear
    return NodeFix(
        "unsafe", "Pass `inplace=True` instead of the rate `True`",
        (keyword_for_positional(arg, "inplace"),),
    )


#: Element-wise dropout -> its channel-wise counterpart for an N-d feature map.
_CHANNEL_DROPOUT = {
    NN + "Dropout": NN + "Dropout{dims}d",
    F + "dropout": F + "dropout{dims}d",
    NN + "AlphaDropout": NN + "FeatureAlphaDropout",
    F + "alpha_dropout": F + "feature_alpha_dropout",
}


def channel_dropout(context: FileContext, step: LayerStep, dims: int) -> NodeFix | None:
    """DC003: ``nn.Dropout`` -> ``nn.Dropout{N}d`` matching the conv, ``F.dropout`` ->
    ``F.dropout{N}d`` (alpha dropout -> feature alpha dropout); arguments kept.

    Unsafe: dropping whole channels regularizes much more strongly at the same ``p``, so the
    rate usually needs re-tuning. Offered only where the dropout call is used in this one
    place: an ``nn.Sequential`` element, a functional call, or an ``__init__`` attribute that
    nothing else uses."""
    call = step.call
    if call is None or step.name not in _CHANNEL_DROPOUT or not 1 <= dims <= 3:
        return None
    if context.callee(call) != step.name:
        return None
    if not contains(step.node, call) and not (
        step.attribute is not None and self_attribute_uses(context.module, step.attribute) == 2
    ):
        return None  # the module may also run elsewhere, on other shapes
    changes = rename_callee(context, call, _CHANNEL_DROPOUT[step.name].format(dims=dims))
    if changes is None:
        return None
    new = _CHANNEL_DROPOUT[step.name].format(dims=dims).rpartition(".")[2]
    return NodeFix("unsafe", f"Use `{new}` (drops whole channels)", changes)
