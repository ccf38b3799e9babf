"""The dropout rate a call passes, as a constant when it can be told."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from dropcheck.analysis.calls import BoundCall
from dropcheck.analysis.constants import Number
from dropcheck.analysis.torch_api import RATE_PARAMETER

_EMPTY = cst.Module(body=[])


@dataclass(frozen=True)
class DropoutRate:
    call: BoundCall
    #: ``p``, ``dropout`` or ``dropout_p``.
    parameter: str
    #: The constant value passed; None when omitted or not a constant.
    value: Number | None
    #: Whether the argument was given at all.
    explicit: bool

    @property
    def callee_text(self) -> str:
        """The callee as the user wrote it (``nn.Dropout``)."""
        return source(self.call.node.func)


def source(node: cst.CSTNode) -> str:
    return _EMPTY.code_for_node(node)


def format_number(value: Number) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{round(value, 6):g}"
    return str(value)


def dropout_rate(call: BoundCall, value: Number | None, explicit: bool) -> DropoutRate | None:
    parameter = RATE_PARAMETER.get(call.qualified_name)
    if parameter is None:
        return None
    return DropoutRate(call, parameter, value, explicit)


def names_keep_probability(expr: cst.BaseExpression) -> bool:
    """Whether a rate expression is a name whose last part says it is a *keep* probability
    (``keep_prob``, ``cfg.dropout_keep``, ``self.keep_rate``): passed as ``p`` it is the
    complement of what was meant, whatever its value."""
    if isinstance(expr, cst.Attribute):
        return "keep" in expr.attr.value.lower()
    return isinstance(expr, cst.Name) and "keep" in expr.value.lower()

