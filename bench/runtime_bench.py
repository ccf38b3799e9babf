"""Cost of each dropcheck.runtime check relative to one plain forward pass of the same model.

    .venv/bin/python bench/runtime_bench.py [--repeat 9] [--threads 1]

The plain forward is ``model(*inputs)`` in eval mode under ``torch.no_grad()`` (inference).
Each time is the best of ``--repeat`` runs after one warm-up, in CPU time of this process
(``time.process_time``) with one torch thread: on a shared, loaded machine wall time measures
the other processes. Ratios are check time / forward time.
Models: Hugging Face BERTs built offline from a config (no download), one test-suite sized and
one larger, and an ``nn.TransformerEncoder``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from dropcheck.runtime import (
    audit,
    check_dropout_scaling,
    check_eval_determinism,
    check_layer_order,
    mc_predict,
)


def _bert(hidden: int = 64, layers: int = 2, batch: int = 8, length: int = 32
          ) -> tuple[nn.Module, tuple[Any, ...]]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=1000, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=4, intermediate_size=4 * hidden,
                        max_position_embeddings=128)
    torch.manual_seed(0)
    ids = torch.randint(0, 1000, (batch, length))
    return BertModel(config), (ids, torch.ones_like(ids))


def _bert_large() -> tuple[nn.Module, tuple[Any, ...]]:
    return _bert(hidden=128, layers=4, batch=8, length=128)


def _encoder() -> tuple[nn.Module, tuple[Any, ...]]:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.1, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), (torch.randn(8, 32, 64),)


class _Culprit(nn.Module):
    """An always-on F.dropout planted in the model, for the cost of a failing check."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.dropout(x, 0.1)


def _timed(function: Callable[[], Any], repeat: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return min(times)


def _planted(model: nn.Module) -> nn.Module:
    """The model with an always-on F.dropout after its first GELU activation module (deep in
    BERT), or after the whole model where torch's fused fast path hides the layers."""
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child).__name__ == "GELUActivation":
                setattr(parent, name, nn.Sequential(child, _Culprit()))
                return model
    return nn.Sequential(model, _Culprit())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    rows: list[tuple[str, str, float, float]] = []
    for label, build in (("BertModel (2 layers, h=64, 8x32 tokens)", _bert),
                         ("BertModel (4 layers, h=128, 8x128 tokens)", _bert_large),
                         ("TransformerEncoder (2 layers, d=64, 8x32)", _encoder)):
        model, inputs = build()
        model.eval()

        def forward(model: nn.Module = model, inputs: tuple[Any, ...] = inputs) -> None:
            with torch.no_grad():
                model(*inputs)

        base = _timed(forward, options.repeat)
        planted = _planted(build()[0])
        checks: dict[str, Callable[[], Any]] = {
            "assert_eval_deterministic (passes, n_runs=2)":
                lambda m=model, i=inputs: check_eval_determinism(m, *i),
            "check_eval_determinism (fails: localize)":
                lambda m=planted, i=inputs: check_eval_determinism(m, *i),
            "check_dropout_scaling": lambda m=model, i=inputs: check_dropout_scaling(m, *i),
            "check_layer_order": lambda m=model, i=inputs: check_layer_order(m, *i),
            "audit (all of the above)": lambda m=model, i=inputs: audit(m, *i),
            "mc_predict (n=50)": lambda m=model, i=inputs: mc_predict(m, *i, n=50),
        }
        rows.append((label, "plain forward (eval, no_grad)", base, 1.0))
        for name, check in checks.items():
            # mc_predict is 50 forwards: fewer repeats keep the benchmark short.
            repeat = max(1, options.repeat // 3) if name.startswith("mc_") else options.repeat
            seconds = _timed(check, repeat)
            rows.append((label, name, seconds, seconds / base))
    print(f"torch {torch.__version__}, {options.threads} thread(s), CPU time, best "
          f"of {options.repeat} runs\n")
    print("| model | check | time (ms) | cost (forwards) |")
    print("|---|---|---:|---:|")
    for label, name, seconds, ratio in rows:
        print(f"| {label} | {name} | {seconds * 1e3:.1f} | {ratio:.1f} |")


if __name__ == "__main__":
    main()
