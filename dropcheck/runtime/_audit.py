"""Everything at once: module attributes, eval determinism, dropout scaling, layer order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

from dropcheck.runtime._common import dedupe, finding, number
from dropcheck.runtime._determinism import eval_determinism
from dropcheck.runtime._order import layer_order
from dropcheck.runtime._scaling import dropout_scaling
from dropcheck.runtime_codes import RuntimeFinding

#: The static DC002 threshold: rates strictly above it are reported.
MAX_RATE = 0.5


def _rate_findings(path: str, module: nn.Module, what: str, rate: float
                   ) -> list[RuntimeFinding]:
    if rate < 0 or rate > 1:
        return [finding("DC006", path, module,
                        f"{what}={number(rate)} is not a probability; it must be in [0, 1)")]
    if rate == 1:
        return [finding("DC006", path, module,
                        f"{what}=1 drops every unit: the output is all zeros in training")]
    if rate > MAX_RATE:
        return [finding("DC002", path, module,
                        f"{what}={number(rate)} drops {100 * rate:g} % of units; if you meant "
                        f"keep probability {number(rate)}, use {what}={number(1 - rate)}")]
    return []


def attribute_findings(model: nn.Module) -> list[RuntimeFinding]:
    """DC002/DC006 rates and DC010 single-layer RNN dropout, read from torch's layers."""
    out: list[RuntimeFinding] = []
    for path, module in model.named_modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            out += _rate_findings(path, module, "p", float(module.p))
        elif isinstance(module, nn.RNNBase):
            rate = float(module.dropout)
            out += _rate_findings(path, module, "dropout", rate)
            if rate > 0 and module.num_layers == 1:
                out.append(finding(
                    "DC010", path, module,
                    f"dropout={number(rate)} with num_layers=1 does nothing: "
                    f"{type(module).__name__} applies dropout between stacked layers only; "
                    f"use num_layers > 1 or an nn.Dropout on its output"))
        elif isinstance(module, nn.MultiheadAttention):
            out += _rate_findings(path, module, "dropout", float(module.dropout))
    return out


def audit(model: nn.Module, *args: Any, seed: int = 0, alpha: float = 1e-9,
          allow: Iterable[type | str] = (), n_runs: int = 2, **kwargs: Any
          ) -> list[RuntimeFinding]:
    """One report for ``model(*args, **kwargs)``: module attributes (DC002/DC006 rates, DC010
    single-layer RNN dropout), :func:`check_eval_determinism`, :func:`check_dropout_scaling`
    and :func:`check_layer_order`. ``seed``/``alpha``/``allow``/``n_runs`` go to the checks
    that take them. Modes and the caller's RNG state are restored."""
    findings = attribute_findings(model)
    findings += eval_determinism(model, args, kwargs, n_runs=n_runs, seed=seed, allow=allow,
                                 rtol=0.0, atol=0.0)[0]
    findings += dropout_scaling(model, args, kwargs, alpha=alpha, seed=seed)
    findings += layer_order(model, args, kwargs)
    return dedupe(findings)
