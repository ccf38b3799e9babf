"""Monte Carlo dropout done right: eval mode, only the dropout layers sampling."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from dropcheck.runtime._common import cuda_devices, forked_rng, preserved_modes, seed_rng


def _dropout_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


@contextlib.contextmanager
def mc_dropout(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block the model is in eval mode except its dropout layers.

    Only ``_DropoutNd`` modules (``Dropout``, ``Dropout1d/2d/3d``, ``AlphaDropout``,
    ``FeatureAlphaDropout`` -- note ``isinstance(m, nn.Dropout)`` misses all but the first) are
    switched to training mode; BatchNorm keeps using, and does not update, its running
    statistics, which ``model.train()`` would change on every stochastic forward. On exit every
    module's ``training`` flag is restored. The random draws are the caller's (the RNG is not
    touched), so successive samples differ.

    Raises:
        ValueError: the model has no dropout module, so every sample would be the same.
    """
    dropouts = _dropout_modules(model)
    if not dropouts:
        raise ValueError(
            f"{type(model).__name__} has no dropout module (nn.Dropout, Dropout1d/2d/3d, "
            f"AlphaDropout): MC dropout would return identical samples")
    with preserved_modes(model):
        model.eval()
        for module in dropouts:
            module.training = True
        yield model


def mc_predict(model: nn.Module, *args: Any, n: int = 50, seed: int | None = None,
               **kwargs: Any) -> tuple[Any, Any]:
    """Mean and standard deviation of ``n`` MC-dropout forwards of ``model(*args, **kwargs)``.

    Runs under :func:`mc_dropout` and ``torch.no_grad()``. The output may be a tensor or a
    tuple/list/dict of tensors; mean and std (``correction=1``) have the same structure. The
    caller's RNG state is restored afterwards; ``seed`` makes the samples reproducible.
    """
    if n < 2:
        raise ValueError(f"n must be at least 2 to estimate a standard deviation, got {n}")
    samples = []
    with forked_rng(model, args), mc_dropout(model), torch.no_grad():
        if seed is not None:
            seed_rng(seed, cuda_devices(model, args))
        for _ in range(n):
            samples.append(model(*args, **kwargs))
    return _reduce(samples, lambda s: s.mean(0)), _reduce(samples, lambda s: s.std(0))


def _reduce(samples: list[Any], op: Any) -> Any:
    first = samples[0]
    if isinstance(first, torch.Tensor):
        return op(torch.stack(samples))
    if isinstance(first, dict):
        return {key: _reduce([s[key] for s in samples], op) for key in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_reduce([s[i] for s in samples], op) for i in range(len(first)))
    raise TypeError(f"mc_predict needs tensor outputs (or tuples/lists/dicts of them), got "
                    f"{type(first).__name__}")
