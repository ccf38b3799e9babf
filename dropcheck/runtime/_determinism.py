"""Eval-mode determinism: same input, different seeds, same output; else name the culprits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from dropcheck.runtime._common import (
    cuda_devices,
    dedupe,
    difference,
    finding,
    flatten,
    forked_rng,
    is_allowed,
    number,
    preserved_modes,
    raise_if,
    seed_rng,
    short_function,
)
from dropcheck.runtime._trace import RandomCall, Tracer
from dropcheck.runtime_codes import RuntimeFinding

_F = "torch.nn.functional."
#: Functional dropout and where its "on" flag lives; a call that drew random numbers in an eval
#: forward had it on (explicitly, or by F.dropout's default ``training=True``).
_DROPOUT_FUNCTIONS: dict[str, str] = {
    **{_F + n: "training" for n in ("dropout", "dropout1d", "dropout2d", "dropout3d",
                                    "alpha_dropout", "feature_alpha_dropout")},
    **{f"torch.{n}": "train" for n in ("dropout", "feature_dropout", "alpha_dropout",
                                       "feature_alpha_dropout")},
}
_SDPA = _F + "scaled_dot_product_attention"


def _snapshot(output: Any) -> list[tuple[str, Any]]:
    """Output leaves, tensors cloned (a model may return views of buffers it reuses)."""
    return [(path, value.detach().clone() if isinstance(value, torch.Tensor) else value)
            for path, value in flatten(output)]


def _leaf_differences(a: list[tuple[str, Any]], b: list[tuple[str, Any]], rtol: float,
                      atol: float) -> list[str]:
    if [p for p, _ in a] != [p for p, _ in b]:
        return [f"the output structure differs ({len(a)} vs {len(b)} leaves)"]
    out = []
    for (path, x), (_, y) in zip(a, b, strict=True):
        how = difference(x, y, rtol, atol)
        if how is not None:
            out.append(f"{path}: {how}")
    return out


def _culprit(call: RandomCall) -> RuntimeFinding:
    name = short_function(call.function)
    module = call.module
    if call.function in _DROPOUT_FUNCTIONS:
        p = call.params.get("p")
        rate = f"p={number(float(p))}, " if isinstance(p, (int, float)) else ""
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.training:
            return finding("DC005", call.path, module,
                           f"is in training mode during an eval forward (something sets its "
                           f"training flag after model.eval()), so {name}({rate}training=True) "
                           f"runs; do not switch dropout modules on inside the model")
        return finding("DC005", call.path, module,
                       f"called {name}({rate}training=True) while in eval mode; pass "
                       f"training=self.training")
    if call.function == _SDPA:
        p = call.params.get("dropout_p")
        rate = number(float(p)) if isinstance(p, (int, float)) else "..."
        return finding("DC011", call.path, module,
                       f"called F.scaled_dot_product_attention(dropout_p={rate}) while in eval "
                       f"mode; SDPA has no training flag: pass "
                       f"dropout_p=(p if self.training else 0.0)")
    return finding("DC101", call.path, module,
                   f"drew random numbers with {name} while in eval mode; guard it with "
                   f"`if self.training:` (or pass it to allow= if it is random on purpose)")


def _localize(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], seed: int,
              allow: tuple[type | str, ...]) -> list[RuntimeFinding]:
    """One watched eval forward: every module that drew random numbers, and how."""
    seed_rng(seed, cuda_devices(model, args))
    with Tracer(model, watch_random=True, hold=allow, args=args) as tracer:
        model(*args, **kwargs)
    found: list[RuntimeFinding] = []
    for call in tracer.random_calls:
        if not is_allowed(call.path, call.module, allow):
            found.append(_culprit(call))
    for path, module in tracer.opaque_random:
        if not is_allowed(path, module, allow):
            found.append(finding("DC101", path, module,
                                 "advanced the random number generator in eval mode (in code "
                                 "torch functions cannot see, e.g. a C++/CUDA extension); guard "
                                 "it with `if self.training:` or pass it to allow="))
    return dedupe(found)


def eval_determinism(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], *,
                     n_runs: int, seed: int, allow: Iterable[type | str], rtol: float,
                     atol: float) -> tuple[list[RuntimeFinding], str]:
    """The findings, and a headline saying which runs differed where."""
    if n_runs < 2:
        raise ValueError(f"n_runs must be at least 2, got {n_runs}")
    allowed = tuple(allow)
    for entry in allowed:
        if not isinstance(entry, (type, str)):
            raise TypeError(f"allow= takes module classes or path prefixes, got {entry!r}")
    with preserved_modes(model), forked_rng(model, args), torch.no_grad():
        model.eval()
        devices = cuda_devices(model, args)
        runs = []
        for i in range(n_runs):
            seed_rng(seed + i, devices)
            with Tracer(model, hold=allowed, args=args) if allowed else contextlib.nullcontext():
                runs.append(_snapshot(model(*args, **kwargs)))
        differences: list[str] = []
        other_seed = seed
        for i in range(1, n_runs):
            differences = _leaf_differences(runs[0], runs[i], rtol, atol)
            if differences:
                other_seed = seed + i
                break
        if not differences:
            return [], ""
        shown = "; ".join(differences[:3]) + (" ..." if len(differences) > 3 else "")
        headline = (f"eval-mode outputs differ between runs seeded {seed} and {other_seed} "
                    f"({shown})")
        culprits = _localize(model, args, kwargs, seed + n_runs, allowed)
    if culprits:
        return culprits, headline + "; modules that drew random numbers in eval mode:"
    root = finding("DC102", "", model,
                   f"eval outputs differ between runs ({shown}) but no module drew random "
                   f"numbers: a nondeterministic kernel (CUDA atomics in index_add_/scatter_add_, "
                   f"some cuDNN algorithms) or state the model changes on every call; try "
                   f"torch.use_deterministic_algorithms(True), or compare with atol=/rtol=")
    return [root], "eval-mode outputs are not deterministic:"


def check_eval_determinism(model: nn.Module, *args: Any, n_runs: int = 2, seed: int = 0,
                           allow: Iterable[type | str] = (), rtol: float = 0.0,
                           atol: float = 0.0, **kwargs: Any) -> list[RuntimeFinding]:
    """Like :func:`assert_eval_deterministic`, but return the findings instead of raising."""
    return eval_determinism(model, args, kwargs, n_runs=n_runs, seed=seed, allow=allow,
                            rtol=rtol, atol=atol)[0]


def assert_eval_deterministic(model: nn.Module, *args: Any, n_runs: int = 2, seed: int = 0,
                              allow: Iterable[type | str] = (), rtol: float = 0.0,
                              atol: float = 0.0, **kwargs: Any) -> None:
    """Assert that ``model`` in eval mode gives the same output for the same input.

    The model runs ``n_runs`` times on ``model(*args, **kwargs)`` in eval mode under
    ``torch.no_grad()``, each run with a *different* RNG seed (``seed``, ``seed + 1``, ...: with
    equal seeds a model that draws random numbers would pass). Outputs are compared leaf by leaf
    (tensors in tuples, lists, dicts, dataclasses, Hugging Face ``ModelOutput``), bitwise by
    default with NaN equal to NaN, or with ``torch.isclose(rtol=, atol=)``.

    On a difference one more, watched, eval forward finds *every* culprit: each torch call that
    advanced a random number generator (``F.dropout`` with its real ``p``/``training``,
    ``F.scaled_dot_product_attention(dropout_p=...)``, ``torch.randn_like``, ...), attributed to
    the module that made it, and each module whose forward advanced the RNG otherwise. If no
    module drew random numbers the message points to nondeterministic kernels instead.

    ``allow`` names modules that are random on purpose, as classes (``isinstance``) or path
    prefixes (``"decoder.sampler"``): their draws are held fixed across the runs.

    The model's and every submodule's ``training`` flag and the caller's RNG state are restored.

    Raises:
        DropcheckError: an ``AssertionError`` naming every culprit by module path and class.
    """
    __tracebackhide__ = True
    findings, headline = eval_determinism(model, args, kwargs, n_runs=n_runs, seed=seed,
                                          allow=allow, rtol=rtol, atol=atol)
    raise_if(findings, headline)
