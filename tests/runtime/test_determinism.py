"""assert_eval_deterministic / check_eval_determinism on real models with seeded bugs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from dropcheck.runtime import (
    DropcheckError,
    assert_eval_deterministic,
    check_eval_determinism,
)
from tests.runtime import models


def test_correct_model_passes_for_many_seeds() -> None:
    model = models.net()
    x = torch.randn(4, 5, 8)
    for seed in range(10):
        assert check_eval_determinism(model, x, seed=seed, n_runs=3) == []


def test_functional_dropout_deep_in_the_model_is_named_with_its_real_arguments() -> None:
    model = models.net(attn="leaky")
    with pytest.raises(DropcheckError) as info:
        assert_eval_deterministic(model, torch.randn(4, 5, 8))
    error = info.value
    assert isinstance(error, AssertionError)
    message = str(error)
    assert ("encoder.layers.2.attn (LeakyAttention): called F.dropout(p=0.1, training=True) "
            "while in eval mode; pass training=self.training [DC005]") in message
    assert "output['hidden']" in message  # which output leaf differed
    assert [(f.code, f.path) for f in error.findings] == [("DC005", "encoder.layers.2.attn")]
    assert error.findings[0].line is None


def test_every_culprit_is_found_in_one_forward() -> None:
    model = models.net(attn="leaky", noise_in=0)
    findings = check_eval_determinism(model, torch.randn(2, 3, 8))
    assert {(f.code, f.path, f.module_class) for f in findings} == {
        ("DC005", "encoder.layers.2.attn", "LeakyAttention"),
        ("DC101", "encoder.layers.0.noise", "Noise"),
    }
    noise = next(f for f in findings if f.code == "DC101")
    assert "torch.randn_like" in noise.message and noise.name == "random-in-eval"


def test_allow_by_class_and_by_path_prefix() -> None:
    model = models.net(attn="leaky", noise_in=1)
    x = torch.randn(2, 3, 8)
    assert [f.path for f in check_eval_determinism(model, x, allow=[models.Noise])] == [
        "encoder.layers.2.attn"]
    assert [f.path for f in check_eval_determinism(model, x, allow=["encoder.layers.2"])] == [
        "encoder.layers.1.noise"]
    assert check_eval_determinism(model, x, allow=[models.Noise, "encoder.layers.2.attn"]) == []
    # A prefix is a path prefix, not a string prefix.
    assert len(check_eval_determinism(model, x, allow=["encoder.layers.2.at"])) == 2


def test_allowed_randomness_is_held_fixed_but_others_still_vary() -> None:
    # With the noise allowed, the leaky attention after it must still be found.
    model = models.net(attn="leaky", noise_in=2)
    findings = check_eval_determinism(model, torch.randn(2, 3, 8), allow=[models.Noise])
    assert [(f.code, f.path) for f in findings] == [("DC005", "encoder.layers.2.attn")]


class Counter(nn.Module):
    """Deterministic given the seed, but its output changes on every call (state)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.lin(x) + self.calls


def test_difference_without_random_numbers_points_to_kernels_or_state() -> None:
    with pytest.raises(DropcheckError) as info:
        assert_eval_deterministic(Counter(), torch.randn(3, 4))
    [finding] = info.value.findings
    assert finding.code == "DC102" and finding.path == ""
    assert "no module drew random numbers" in str(info.value)
    assert "nondeterministic kernel" in str(info.value)


def test_tolerances() -> None:
    class Jitter(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + 1e-7 * torch.rand(())

    x = torch.ones(3)
    assert check_eval_determinism(Jitter(), x)
    assert check_eval_determinism(Jitter(), x, atol=1e-5) == []


def test_nan_equals_nan_and_non_tensor_leaves() -> None:
    @dataclasses.dataclass
    class Out:
        logits: torch.Tensor
        extra: tuple[torch.Tensor, str]

    class NanModel(nn.Module):
        def forward(self, x: torch.Tensor) -> Out:
            return Out(x / 0 * 0, (x.sum(), "ok"))

    assert check_eval_determinism(NanModel(), torch.randn(5)) == []


def test_difference_in_a_nested_dataclass_leaf_is_located() -> None:
    @dataclasses.dataclass
    class Out:
        logits: torch.Tensor
        extra: tuple[torch.Tensor, int]

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.noise = models.Noise()

        def forward(self, x: torch.Tensor) -> Out:
            return Out(x, (self.noise(x), 1))

    with pytest.raises(DropcheckError, match=r"output\.extra\[0\]"):
        assert_eval_deterministic(Model(), torch.randn(5))


def test_sdpa_dropout_in_eval_is_dc011() -> None:
    class Attn(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.scaled_dot_product_attention(x, x, x, dropout_p=0.2)

    [finding] = check_eval_determinism(Attn(), torch.randn(2, 4, 8, 16))
    assert finding.code == "DC011" and "dropout_p=0.2" in finding.message


def test_modes_and_rng_are_restored_and_train_is_never_called() -> None:
    class Watched(models.Net):
        def train(self, mode: bool = True) -> Watched:
            calls.append(mode)
            return super().train(mode)

    calls: list[bool] = []
    model = Watched([models.Block(16, models.LeakyAttention(16))])
    model.train()
    model.encoder.layers[0].ff.eval()  # a mixed state must come back exactly
    before = {name: m.training for name, m in model.named_modules()}
    calls.clear()
    x = torch.randn(2, 8)
    torch.manual_seed(123)
    rng = torch.get_rng_state()
    assert check_eval_determinism(model, x)
    assert torch.equal(torch.get_rng_state(), rng)
    assert {name: m.training for name, m in model.named_modules()} == before
    assert True not in calls


def test_n_runs_and_allow_are_validated() -> None:
    model = models.net()
    with pytest.raises(ValueError, match="n_runs"):
        check_eval_determinism(model, torch.randn(1, 8), n_runs=1)
    with pytest.raises(TypeError, match="allow"):
        check_eval_determinism(model, torch.randn(1, 8), allow=[3])  # type: ignore[list-item]


def test_keyword_inputs_are_forwarded() -> None:
    class KW(nn.Module):
        def forward(self, x: torch.Tensor, *, scale: torch.Tensor) -> torch.Tensor:
            return x * scale + torch.randn_like(x)

    [finding] = check_eval_determinism(KW(), torch.ones(3), scale=torch.ones(3))
    assert finding.code == "DC101" and finding.path == ""


def test_objects_in_the_output_are_compared_by_their_tensors_not_identity() -> None:
    class Cache:
        def __init__(self, keys: torch.Tensor) -> None:
            self.keys = [keys]
            self.seen = 1

    class WithCache(nn.Module):
        def __init__(self, noisy: bool) -> None:
            super().__init__()
            self.noisy = noisy

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Cache, object]:
            keys = x + torch.rand_like(x) if self.noisy else x * 2
            return x, Cache(keys), object()

    x = torch.randn(3)
    assert check_eval_determinism(WithCache(noisy=False), x) == []
    with pytest.raises(DropcheckError, match=r"output\[1\]\.keys\[0\]"):
        assert_eval_deterministic(WithCache(noisy=True), x)


def test_allowed_class_covers_the_random_children_it_contains() -> None:
    class Sampler(nn.Module):
        """Random on purpose; the draw happens in a child module."""

        def __init__(self) -> None:
            super().__init__()
            self.noise = models.Noise()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.noise(x)

    model = models.net(attn="leaky")
    model.encoder.layers[0].noise = Sampler()  # type: ignore[index]
    findings = check_eval_determinism(model, torch.randn(2, 3, 8), allow=[Sampler])
    assert [(f.code, f.path) for f in findings] == [("DC005", "encoder.layers.2.attn")]
