"""mc_dropout / mc_predict: MC dropout without disturbing BatchNorm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropcheck.runtime import mc_dropout, mc_predict
from tests.runtime import models


def _trained_model() -> models.BNDropoutClassifier:
    model = models.BNDropoutClassifier()
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(32, 10) * 3 + 1)  # give the running stats something non-trivial
    model.eval()
    return model


def _stats(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k
            or "num_batches" in k}


def test_mc_via_train_moves_batchnorm_stats_but_mc_dropout_does_not() -> None:
    x = torch.randn(8, 10)
    naive = _trained_model()
    before = _stats(naive)
    naive.train()  # the DC007 pattern: MC dropout through model.train()
    with torch.no_grad():
        for _ in range(5):
            naive(x)
    assert not torch.equal(before["bn.running_mean"], naive.state_dict()["bn.running_mean"])

    model = _trained_model()
    before = _stats(model)
    with mc_dropout(model), torch.no_grad():
        samples = torch.stack([model(x) for _ in range(5)])
        assert not model.training and not model.bn.training and model.drop.training
    after = _stats(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert samples.std(0).sum() > 0  # the samples differ: dropout is on
    assert not any(m.training for m in model.modules())  # restored


def test_mc_dropout_switches_every_dropout_kind_and_restores_mixed_modes() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout1d(0.1), nn.AlphaDropout(0.1),
                          nn.BatchNorm1d(4), nn.Dropout(0.1))
    model.train()
    model[3].eval()
    before = [m.training for m in model.modules()]
    with mc_dropout(model) as inside:
        assert inside is model
        assert [m.training for m in model] == [False, True, True, False, True]
    assert [m.training for m in model.modules()] == before


def test_mc_dropout_restores_modes_after_an_exception() -> None:
    model = _trained_model()
    with pytest.raises(RuntimeError), mc_dropout(model):
        raise RuntimeError("boom")
    assert not any(m.training for m in model.modules())


def test_mc_dropout_refuses_a_model_without_dropout() -> None:
    with pytest.raises(ValueError, match="no dropout module"), mc_dropout(nn.Linear(2, 2)):
        pass


def test_mc_predict_mean_and_std() -> None:
    model = _trained_model()
    before = _stats(model)
    x = torch.randn(6, 10)
    rng = torch.get_rng_state()
    mean, std = mc_predict(model, x, n=30)
    assert torch.equal(torch.get_rng_state(), rng)
    assert mean.shape == std.shape == (6, 2)
    assert bool((std > 0).all())
    with torch.no_grad():
        assert not torch.equal(mean, model(x))  # not the deterministic prediction
    assert all(torch.equal(before[k], v) for k, v in _stats(model).items())
    again_mean, _ = mc_predict(model, x, n=30, seed=1)
    same_mean, _ = mc_predict(model, x, n=30, seed=1)
    assert torch.equal(again_mean, same_mean)


def test_mc_predict_nested_outputs_and_validation() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = nn.Dropout(0.5)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"a": self.drop(x), "b": x}

    mean, std = mc_predict(Two(), torch.ones(100), n=20, seed=0)
    assert set(mean) == {"a", "b"} and float(std["b"].abs().max()) == 0.0
    assert 0.5 < float(mean["a"].mean()) < 1.5
    with pytest.raises(ValueError, match="n must be"):
        mc_predict(Two(), torch.ones(3), n=1)
