"""check_dropout_scaling: exact scaling, a drop-rate test with a bounded false-alarm rate,
"not enough evidence" for small inputs, identity in eval mode."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dropcheck.runtime import DropcheckError, assert_dropout_scaling, check_dropout_scaling
from dropcheck.runtime._scaling import needed_trials, rate_rejected
from tests.runtime import models

# Every torch dropout layer, with an input shape it is made for and many informative trials.
TORCH_LAYERS = [
    (nn.Dropout(0.1), (32, 64)),
    (nn.Dropout(0.5, inplace=True), (32, 64)),
    (nn.Dropout(0.9), (32, 64)),
    (nn.Dropout1d(0.2), (32, 64, 5)),
    (nn.Dropout1d(0.2), (256, 5)),  # unbatched (C, L)
    (nn.Dropout2d(0.3), (32, 64, 3, 3)),
    (nn.Dropout3d(0.3), (32, 64, 2, 2, 2)),
    (nn.AlphaDropout(0.2), (32, 64)),
    (nn.FeatureAlphaDropout(0.2), (32, 64, 3, 3)),
]


@pytest.mark.parametrize(("layer", "shape"), TORCH_LAYERS,
                         ids=[f"{type(m).__name__}-{len(s)}d" for m, s in TORCH_LAYERS])
def test_torch_layers_pass_for_many_seeds(layer: nn.Module, shape: tuple[int, ...]) -> None:
    model = nn.Sequential(nn.Identity(), layer)
    for seed in range(20):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        assert check_dropout_scaling(model, x, seed=seed) == []


def test_hand_written_correct_dropouts_pass() -> None:
    for seed in range(10):
        assert check_dropout_scaling(models.MLP(models.InvertedDropout(0.2)),
                                     torch.randn(16, 64), seed=seed) == []
        # Correlated drops (whole features for all time steps) are counted as such.
        assert check_dropout_scaling(nn.Sequential(models.SpatialDropout(0.2)),
                                     torch.randn(64, 20, 32), seed=seed) == []


def test_dropout_that_does_not_rescale_is_dc103() -> None:
    model = models.MLP(models.NoRescaleDropout(0.2))
    [finding] = check_dropout_scaling(model, torch.randn(16, 64))
    assert (finding.code, finding.path, finding.module_class) == (
        "DC103", "drop", "NoRescaleDropout")
    assert "does not rescale" in finding.message and "1.25" in finding.message


def test_keep_probability_confusion_is_caught_by_rate_and_scale() -> None:
    model = models.MLP(models.KeepProbDropout(0.1))
    findings = check_dropout_scaling(model, torch.randn(16, 64))
    by_code = {f.code: f for f in findings}
    assert set(by_code) == {"DC103", "DC104"}
    assert all(f.path == "drop" for f in findings)
    assert "p is used as the keep probability" in by_code["DC104"].message
    assert "1/p = 10" in by_code["DC103"].message


def test_keep_probability_confusion_is_invisible_at_one_half() -> None:
    # The documented blind spot: at p = 0.5 keep and drop are the same distribution.
    model = models.MLP(models.KeepProbDropout(0.5))
    assert check_dropout_scaling(model, torch.randn(16, 64)) == []


def test_eval_mode_must_be_the_identity() -> None:
    model = models.MLP(models.EvalScaledDropout(0.2))
    findings = check_dropout_scaling(model, torch.randn(16, 64))
    assert {f.code for f in findings} == {"DC103", "DC105"}
    dc105 = next(f for f in findings if f.code == "DC105")
    assert dc105.path == "drop" and "eval mode" in dc105.message


def test_too_small_input_lacks_evidence_instead_of_passing() -> None:
    model = models.MLP(nn.Dropout(0.1), dim=8)
    [finding] = check_dropout_scaling(model, torch.randn(2, 8))
    assert finding.code == "DC106" and finding.name == "not-enough-evidence"
    assert f"at least {needed_trials(0.1, 1e-9)}" in finding.message
    with pytest.raises(DropcheckError, match="DC106"):
        assert_dropout_scaling(model, torch.randn(2, 8))
    # Channel dropout counts channels, not elements: a big image with few channels is small.
    [channel] = check_dropout_scaling(nn.Sequential(nn.Dropout2d(0.1)),
                                      torch.randn(2, 4, 32, 32))
    assert channel.code == "DC106" and "channels" in channel.message


def test_zero_inputs_are_not_evidence() -> None:
    x = torch.randn(32, 64)
    x[:, :60] = 0  # 4 informative units per row: 128 in all, below what p=0.1 needs
    [finding] = check_dropout_scaling(nn.Sequential(nn.Dropout(0.1)), x)
    assert finding.code == "DC106"


def test_dropout_that_never_drops_is_dc104() -> None:
    class LazyDropout(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = 0.3

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    model = models.MLP(LazyDropout())
    # Nothing dropped could be per-sample dropout: judged on the 256 samples, that is enough.
    [finding] = check_dropout_scaling(model, torch.randn(256, 64))
    assert (finding.code, finding.path) == ("DC104", "drop")
    assert "dropped 0 of 256" in finding.message and "never drops" in finding.message
    # 32 samples are not enough evidence at p=0.3 (needs 61): reported, not passed.
    [small] = check_dropout_scaling(model, torch.randn(32, 64))
    assert small.code == "DC106" and "dropped 0 of 32" in small.message


def test_p_zero_layer_passes() -> None:
    layer = nn.Dropout(0.3)
    layer.p = 0.0
    assert check_dropout_scaling(nn.Sequential(layer), torch.randn(32, 64)) == []


def test_bound_false_alarm_rate_by_simulation() -> None:
    # The test's level: with alpha=0.05, a correct Bernoulli(p) drop count is rejected at most
    # 5 % of the time (Chernoff-Hoeffding is conservative: the real rate is far lower).
    gen = torch.Generator().manual_seed(0)
    for p in (0.1, 0.3, 0.5):
        counts = torch.binomial(torch.full((4000,), 200.0), torch.full((4000,), p),
                                generator=gen)
        rejected = sum(rate_rejected(int(k), 200, p, 0.05) for k in counts)
        assert rejected / 4000 <= 0.05
    # ... and it has power: 200 trials at the keep probability are always rejected.
    assert rate_rejected(180, 200, 0.1, 1e-9)
    assert rate_rejected(0, 250, 0.1, 1e-9)


def test_needed_trials_matches_the_bound() -> None:
    threshold = math.log(2 / 1e-9)
    n = needed_trials(0.1, 1e-9)
    assert n * -math.log(0.9) > threshold >= (n - 1) * -math.log(0.9)
    assert rate_rejected(0, n, 0.1, 1e-9) and not rate_rejected(0, n - 1, 0.1, 1e-9)


def test_inplace_dropout_and_later_inplace_ops_do_not_confuse_the_check() -> None:
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = nn.Dropout(0.2, inplace=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.drop(x.clone())
            y += 1.0  # changes the dropout's output after its hook ran
            return y

    assert check_dropout_scaling(Residual(), torch.randn(32, 64)) == []


def test_modes_and_rng_restored() -> None:
    model = models.MLP(nn.Dropout(0.2))
    model.train()
    model.body.eval()
    before = [m.training for m in model.modules()]
    x = torch.randn(16, 64)
    rng = torch.get_rng_state()
    check_dropout_scaling(model, x)
    assert [m.training for m in model.modules()] == before
    assert torch.equal(torch.get_rng_state(), rng)


def test_alpha_validated() -> None:
    with pytest.raises(ValueError, match="alpha"):
        check_dropout_scaling(models.MLP(nn.Dropout(0.2)), torch.randn(2, 64), alpha=0)


def test_custom_dropout_add_with_two_inputs_is_not_judged_as_plain_dropout() -> None:
    class DropoutAdd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = 0.1

        def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
            return nn.functional.dropout(x, self.p, self.training) + residual

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dropout_add = DropoutAdd()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.dropout_add(x, x)

    assert check_dropout_scaling(Model(), torch.randn(32, 64)) == []
