"""One function per fixable rule: the fix for a finding, or None when the right change is not
clear. Rules call these from their ``report(..., fix=...)``; the logic lives here so that rule
modules stay about finding problems."""

from __future__ import annotations

import libcst as cst

from dropcheck.analysis.context import FileContext
from dropcheck.analysis.torch_api import NN, SIGNATURES
from dropcheck.fix.changes import NodeFix
from dropcheck.fix.helpers import keyword_for_positional


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
