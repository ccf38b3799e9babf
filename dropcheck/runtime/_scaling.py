"""Dropout modules checked on their real inputs: scaling, drop rate, identity in eval."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from dropcheck.runtime._common import (
    cuda_devices,
    difference,
    dropout_rate,
    finding,
    first_tensor,
    forked_rng,
    is_dropout_module,
    number,
    preserved_modes,
    raise_if,
    seed_rng,
)
from dropcheck.runtime_codes import RuntimeFinding

#: SELU's alpha * scale, the value torch's alpha dropout sets dropped units to (before a, b).
_ALPHA = 1.7580993408473766

#: torch's own layers: (kind, how many leading dimensions index a trial, by input rank;
#: None means every element is a trial).
_BUILTIN: dict[type, tuple[str, Callable[[int], int | None]]] = {
    nn.Dropout: ("standard", lambda rank: None),
    nn.AlphaDropout: ("alpha", lambda rank: None),
    nn.Dropout1d: ("standard", lambda rank: 2 if rank == 3 else 1),
    nn.Dropout2d: ("standard", lambda rank: 2),
    nn.Dropout3d: ("standard", lambda rank: 2 if rank == 5 else 1),
    nn.FeatureAlphaDropout: ("alpha", lambda rank: 2),
}


@dataclass
class _Module:
    """What one dropout module showed over all its calls in the training-mode forward."""

    path: str
    module: nn.Module
    p: float | None
    calls: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    eval_calls: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    trials: int = 0
    dropped: int = 0
    unit: str = "units"
    scaling: str | None = None
    #: The scaling problem is "kept units equal the input": moot if nothing was dropped.
    unscaled: bool = False
    rate_testable: bool = True


def _kl(q: float, p: float) -> float:
    """Kullback-Leibler divergence between Bernoulli(q) and Bernoulli(p), 0 < p < 1."""
    def term(a: float, b: float) -> float:
        return 0.0 if a == 0 else a * math.log(a / b)
    return term(q, p) + term(1 - q, 1 - p)


def needed_trials(p: float, alpha: float) -> int:
    """Trials for the test to reject both "never drops" and "keep/drop confused" (p != 0.5)."""
    threshold = math.log(2 / alpha)
    divergences = [_kl(0.0, p)]
    if abs(p - 0.5) > 1e-12:
        divergences.append(_kl(1 - p, p))
    return math.floor(threshold / min(divergences)) + 1


def rate_rejected(dropped: int, trials: int, p: float, alpha: float) -> bool:
    """Two-sided Chernoff-Hoeffding test: P(reject | each trial drops w.p. p, independently)
    <= 2 exp(-log(2/alpha)) = alpha, since P(p_hat >= q) <= exp(-n KL(q||p)) for q >= p (and
    symmetrically below p), whatever the input values."""
    return trials > 0 and trials * _kl(dropped / trials, p) > math.log(2 / alpha)


def _layout(module: nn.Module, rank: int) -> tuple[str, int | None] | None:
    """(kind, leading trial dims) for torch's own layers; None for custom classes."""
    spec = _BUILTIN.get(type(module))
    if spec is None:
        return None
    kind, dims = spec
    return kind, dims(rank)


def _constant_dims(keep: torch.Tensor, drop: torch.Tensor) -> list[int]:
    """Dimensions along which the observed drop pattern never changes (a custom dropout's
    structure: whole channels, time steps, samples); trials are counted across the others."""
    out = []
    for d in range(keep.dim()):
        if keep.shape[d] > 1 and not bool((keep.any(d) & drop.any(d)).any()):
            out.append(d)
    return out


def _trials(keep: torch.Tensor, drop: torch.Tensor, lead: int | None,
            empirical: bool) -> tuple[int, int]:
    """(informative trials, dropped trials). A trial counts when all its informative elements
    agree (kept or dropped); uninformative elements (x == 0 for inverted dropout) are ignored."""
    if empirical:
        constant = _constant_dims(keep, drop)
        if len(constant) == sum(1 for s in keep.shape if s > 1) and 0 in constant:
            # No variation at all (nothing dropped): judge it on its samples, the coarsest
            # structure a dropout uses (DropPath drops whole samples).
            constant.remove(0)
        order = [d for d in range(keep.dim()) if d not in constant] + constant
        keep, drop = keep.permute(order), drop.permute(order)
        lead = keep.dim() - len(constant)
    if lead is None:
        lead = keep.dim()
    rows = math.prod(keep.shape[:lead]) if lead else 1
    keep, drop = keep.reshape(rows, -1), drop.reshape(rows, -1)
    n_keep, n_drop = keep.sum(1), drop.sum(1)
    kept_rows = (n_keep > 0) & (n_drop == 0)
    dropped_rows = (n_drop > 0) & (n_keep == 0)
    return int(kept_rows.sum() + dropped_rows.sum()), int(dropped_rows.sum())


def _scaling_problem(x: torch.Tensor, y: torch.Tensor, p: float,
                     eps: float) -> tuple[str, torch.Tensor | None]:
    """Why kept units are not x / (1 - p), and the observed factor if there is one."""
    sel = (y != 0) & (x != 0) & torch.isfinite(x) & torch.isfinite(y)
    if not bool(sel.any()):
        return "zeroes units it should keep", None
    ratio = y[sel] / x[sel]
    factor = float(ratio.median())
    expected = 1 / (1 - p)
    if not bool(((ratio - factor).abs() <= 1e-3 * abs(factor) + 64 * eps).all()):
        return (f"does not output its input with units zeroed and the rest scaled by "
                f"1/(1 - p) = {number(expected)}: kept units are not a common multiple of "
                f"the input"), None
    tensor = torch.tensor(factor, dtype=torch.float64)
    if abs(factor - 1) <= 1e-3:
        return (f"does not rescale kept units (they equal the input); inverted dropout "
                f"needs x / (1 - p) = {number(expected)}·x, or layers after it see "
                f"{number(1 - p)}x smaller activations in training than at inference"), tensor
    if p > 0 and abs(factor - 1 / p) <= 1e-3 * (1 / p):
        return (f"scales kept units by 1/p = {number(1 / p)} instead of 1/(1 - p) = "
                f"{number(expected)}: p is used as the keep probability"), tensor
    return (f"scales kept units by {number(factor)} instead of 1/(1 - p) = "
            f"{number(expected)}"), tensor


def _observe(entry: _Module) -> None:
    """Classify every element of every call: kept, dropped, uninformative, or neither."""
    assert entry.p is not None
    p = entry.p
    for x_raw, y_raw in entry.calls:
        if x_raw.shape != y_raw.shape or not y_raw.is_floating_point():
            entry.rate_testable = False
            continue
        eps = torch.finfo(y_raw.dtype).eps
        x, y = x_raw.double(), y_raw.double()
        finite = torch.isfinite(x) & torch.isfinite(y)
        layout = _layout(entry.module, x.dim())
        kind, lead = layout if layout is not None else ("standard", None)
        if kind == "alpha":
            a = 1 / math.sqrt((_ALPHA**2 * p + 1) * (1 - p)) if p < 1 else 0.0
            kept_value = a * x + _ALPHA * a * p
            dropped_value = -_ALPHA * a * (1 - p)
            keep = (y - kept_value).abs() <= 8 * eps * (a * x.abs() + abs(_ALPHA * a * p))
            drop = (y - dropped_value).abs() <= 8 * eps * abs(dropped_value)
        else:
            scale = 1 / (1 - p) if p < 1 else 0.0
            keep = (y - x * scale).abs() <= 8 * eps * (x * scale).abs()
            drop = y == 0
        neither = ~keep & ~drop & finite
        if bool(neither.any()) and 0 < p < 1:
            if kind == "alpha":
                entry.scaling = entry.scaling or (
                    f"does not output alpha dropout's a·x + b for kept units and a constant "
                    f"for dropped ones ({int(neither.sum())} of {x.numel()} elements are "
                    f"neither)")
                entry.rate_testable = False
                continue
            message, factor = _scaling_problem(x, y, p, eps)
            if entry.scaling is None:
                entry.scaling = message
                entry.unscaled = factor is not None and abs(float(factor) - 1) <= 1e-3
            if factor is None:
                entry.rate_testable = False
                continue
            # Count drops against the observed factor, so a wrong rate is reported too.
            keep = (y - x * factor).abs() <= 1e-3 * (x * factor).abs() + 64 * eps
        informative = (keep ^ drop) & finite
        trials, dropped = _trials(keep & informative, drop & informative, lead,
                                  empirical=layout is None)
        entry.trials += trials
        entry.dropped += dropped
        if layout is not None and lead is not None and lead < x.dim():
            entry.unit = "channels"


def _verdict(entry: _Module, alpha: float) -> list[RuntimeFinding]:
    out: list[RuntimeFinding] = []
    module, path = entry.module, entry.path
    if entry.scaling is not None and not (entry.unscaled and entry.dropped == 0):
        out.append(finding("DC103", path, module, entry.scaling))
    if entry.p is None or not entry.rate_testable:
        return out
    p, n, k = entry.p, entry.trials, entry.dropped
    unit = entry.unit
    observed = f"dropped {k} of {n} {unit}" + (f" ({100 * k / n:.1f} %)" if n else "")
    if p in (0.0, 1.0):
        if (p == 0.0 and k > 0) or (p == 1.0 and k < n):
            out.append(finding("DC104", path, module, f"{observed} but p={number(p)}"))
        elif n == 0:
            out.append(finding("DC106", path, module,
                               f"saw no informative {unit} (all inputs zero); use a nonzero "
                               f"input"))
        return out
    if rate_rejected(k, n, p, alpha):
        hint = ""
        if k == 0:
            hint = ": it never drops anything"
        elif abs(k / n - (1 - p)) < abs(k / n - p):
            hint = f": p is used as the keep probability (drops 1 - p = {number(1 - p)})"
        out.append(finding("DC104", path, module,
                           f"{observed} but p={number(p)}, outside the range a correct "
                           f"dropout stays in with probability 1 - {alpha:g}{hint}"))
        return out
    need = needed_trials(p, alpha)
    if n < need:
        out.append(finding("DC106", path, module,
                           f"{observed}: too few to test p={number(p)} at alpha={alpha:g} "
                           f"(needs at least {need} informative {unit} to detect a dropout "
                           f"that never drops or uses p as the keep probability); pass a "
                           f"larger input"))
    return out


def _hook_pair(store: Callable[[], list[tuple[torch.Tensor, torch.Tensor]]]
               ) -> tuple[Callable[..., None], Callable[..., None]]:
    pending: list[torch.Tensor | None] = []

    def pre(_m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        x = first_tensor(args, kwargs)
        if sum(isinstance(v, torch.Tensor) for v in (*args, *kwargs.values())) != 1:
            x = None  # not a plain dropout call (a fused "dropout + add" takes two tensors)
        # Cloned now: an in-place dropout (inplace=True) overwrites its input.
        pending.append(x.detach().clone() if x is not None else None)

    def post(_m: nn.Module, _args: tuple[Any, ...], _kwargs: dict[str, Any],
             output: Any) -> None:
        x = pending.pop() if pending else None
        if x is not None and isinstance(output, torch.Tensor):
            # Cloned now: a later in-place op (x += residual) would change it.
            store().append((x, output.detach().clone()))

    return pre, post


def dropout_scaling(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], *,
                    alpha: float, seed: int) -> list[RuntimeFinding]:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    entries = [_Module(path, m, dropout_rate(m)) for path, m in model.named_modules()
               if is_dropout_module(m)]
    if not entries:
        return []
    phase = {"train": True}
    handles: list[RemovableHandle] = []
    for entry in entries:
        pre, post = _hook_pair(
            lambda e=entry: e.calls if phase["train"] else e.eval_calls)  # type: ignore[misc]
        handles.append(entry.module.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(entry.module.register_forward_hook(post, with_kwargs=True,
                                                          always_call=True))
    try:
        with preserved_modes(model), forked_rng(model, args), torch.enable_grad():
            # Grad on: torch's transformer fast paths skip the dropout modules under no_grad.
            model.eval()
            for entry in entries:
                for sub in entry.module.modules():
                    sub.training = True
            seed_rng(seed, cuda_devices(model, args))
            model(*args, **kwargs)
            phase["train"] = False
            model.eval()
            model(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    found: list[RuntimeFinding] = []
    for entry in entries:
        if entry.p is not None and entry.calls:
            _observe(entry)
            found.extend(_verdict(entry, alpha))
        for x, y in entry.eval_calls[:1] if entry.eval_calls else []:
            how = difference(x, y, 0.0, 0.0)
            if how is not None:
                found.append(finding("DC105", entry.path, entry.module,
                                     f"changes its input in eval mode ({how}); dropout must be "
                                     f"the identity at inference: return x when not "
                                     f"self.training"))
    return found


def check_dropout_scaling(model: nn.Module, *args: Any, alpha: float = 1e-9, seed: int = 0,
                          **kwargs: Any) -> list[RuntimeFinding]:
    """Check every dropout module on the real inputs of ``model(*args, **kwargs)``.

    The dropout modules -- torch's ``_DropoutNd`` layers (``Dropout``, ``Dropout1d/2d/3d``,
    ``AlphaDropout``, ``FeatureAlphaDropout``) and custom classes whose name contains "Dropout"
    (with no parameters; their rate read from ``p``, ``drop_prob``, ``rate``, ...) -- run in
    training mode, everything else in eval mode, and each dropout module's input and output are
    compared:

    - **Scaling (DC103)**: kept units must equal ``x / (1 - p)`` up to float rounding (for alpha
      dropout, ``a·x + b``). Non-inverted dropout (no rescaling) and ``1/p`` scaling are named.
      This comparison is exact: it never raises a false alarm.
    - **Drop rate (DC104)**: the fraction of dropped trials (elements; *channels* for
      ``Dropout1d/2d/3d``) must be compatible with ``p``. The test is a two-sided
      Chernoff-Hoeffding bound: for a module that drops each trial independently with
      probability ``p``, **the probability of a false alarm is at most ``alpha`` per module**,
      whatever the input values (distribution-free). Elements whose input is 0 are
      uninformative and not counted.
    - **Evidence (DC106)**: when the input gives too few informative trials for the test to
      detect a dropout that never drops, or one that uses ``p`` as the keep probability, the
      module is reported as lacking evidence instead of passing.
    - **Eval identity (DC105)**: with the whole model in eval mode each dropout module must
      return its input unchanged.

    Blind spot: at ``p = 0.5`` dropping and keeping are equally likely, so a keep/drop confusion
    does not change the drop fraction and cannot be seen (its scaling, 1/p = 1/(1 - p), is also
    the same). Custom modules whose drops are correlated are tested on the pattern they show
    (trials are counted across the dimensions along which their drops vary; one that drops
    nothing is judged on its batch dimension); a custom module without a rate attribute is only
    checked for eval identity.

    Every module's ``training`` flag and the caller's RNG state are restored.
    """
    return dropout_scaling(model, args, kwargs, alpha=alpha, seed=seed)


def assert_dropout_scaling(model: nn.Module, *args: Any, alpha: float = 1e-9, seed: int = 0,
                           **kwargs: Any) -> None:
    """:func:`check_dropout_scaling`, raising :class:`DropcheckError` on any finding (lack of
    evidence included). The same statistical guarantee: at most ``alpha`` false-alarm
    probability per dropout module, and the same blind spot at ``p = 0.5``."""
    __tracebackhide__ = True
    findings = dropout_scaling(model, args, kwargs, alpha=alpha, seed=seed)
    raise_if(findings, "dropout modules do not behave as dropout:")
