"""check_layer_order: DC003/DC004/DC009 from the real execution of one forward."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from dropcheck.runtime import check_layer_order
from tests.runtime import models


def codes(findings: list) -> list[tuple[str, str]]:
    return sorted((f.code, f.path) for f in findings)


def test_conv_relu_dropout_in_forward_is_dc003() -> None:
    [finding] = check_layer_order(models.ConvReluDropout(), torch.randn(2, 3, 8, 8))
    assert (finding.code, finding.path, finding.module_class) == ("DC003", "drop", "Dropout")
    assert "(2, 8, 8, 8) feature map of `conv` (Conv2d)" in finding.message
    assert "nn.Dropout2d" in finding.message
    assert finding.name == "dropout-after-conv"


def test_sequential_conv_dropout_only_where_the_map_reaches_it() -> None:
    model = models.conv_sequential()
    model.eval()
    # Only index 3: 11/9 follow global pooling/flatten, 7 is Dropout2d.
    assert codes(check_layer_order(model, torch.randn(2, 3, 16, 16))) == [("DC003", "3")]


def test_functional_dropout_after_conv_is_attributed_to_the_calling_module() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(4, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.dropout(torch.tanh(self.conv(x)), 0.1, self.training)

    model = nn.Sequential(nn.Identity(), Block())
    [finding] = check_layer_order(model, torch.randn(2, 4, 10))
    assert (finding.code, finding.path, finding.module_class) == ("DC003", "1", "Block")
    assert "F.dropout" in finding.message and "nn.Dropout1d" in finding.message


def test_dropout_then_batchnorm_is_dc004_at_the_dropout() -> None:
    [finding] = check_layer_order(models.dropout_batchnorm(), torch.randn(4, 16))
    assert (finding.code, finding.path) == ("DC004", "2")
    assert "`3` (BatchNorm1d)" in finding.message


def test_dropout2d_on_a_sequence_is_dc009() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about the 3-D input itself
        [finding] = check_layer_order(models.SequenceTagger(), torch.randint(0, 50, (2, 7)))
    assert (finding.code, finding.path, finding.module_class) == ("DC009", "drop", "Dropout2d")
    assert "(2, 7, 16)" in finding.message and "time steps" in finding.message


def test_dropout3d_after_conv2d_is_dc009() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Dropout3d(0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        [finding] = check_layer_order(model, torch.randn(2, 3, 8, 8))
    assert (finding.code, finding.path) == ("DC009", "2")
    assert "`0` (Conv2d)" in finding.message and "drops whole samples" in finding.message


def test_correct_orders_are_silent() -> None:
    cases: list[tuple[nn.Module, torch.Tensor]] = [
        # BatchNorm -> activation -> Dropout (the recommended order)
        (nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2)),
         torch.randn(4, 8)),
        # Dropout -> LayerNorm / Linear -> BatchNorm
        (nn.Sequential(nn.Dropout(0.2), nn.LayerNorm(8), nn.Linear(8, 8), nn.Dropout(0.2),
                       nn.Linear(8, 8), nn.BatchNorm1d(8)), torch.randn(4, 8)),
        # conv -> Dropout2d; conv -> flatten -> Dropout; conv -> global pool -> Dropout
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout2d(0.2), nn.Flatten(), nn.Dropout(0.2)),
         torch.randn(2, 3, 6, 6)),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Dropout(0.5)),
         torch.randn(2, 3, 6, 6)),
        # BatchNorm with track_running_stats=False has no running statistics
        (nn.Sequential(nn.Dropout(0.2), nn.BatchNorm1d(8, track_running_stats=False)),
         torch.randn(4, 8)),
    ]
    for model, x in cases:
        assert check_layer_order(model, x) == [], model


def test_patch_embedding_then_token_dropout_is_silent() -> None:
    class Patches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Conv2d(3, 16, 4, stride=4)
            self.drop = nn.Dropout(0.1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.drop(self.proj(x).flatten(2).transpose(1, 2))

    assert check_layer_order(Patches(), torch.randn(2, 3, 16, 16)) == []


def test_branches_merged_by_addition_are_silent() -> None:
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.drop = nn.Dropout2d(0.1)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bn(x + self.drop(self.conv(x)))

    assert check_layer_order(Residual(), torch.randn(2, 4, 5, 5)) == []


def test_batchnorm_running_stats_untouched_and_modes_restored() -> None:
    model = models.dropout_batchnorm()
    model.train()
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    check_layer_order(model, torch.randn(4, 16))
    assert all(torch.equal(stats[k], v) for k, v in model.state_dict().items())
    assert all(m.training for m in model.modules())


def test_a_tensor_used_beside_the_dropout_is_not_its_output() -> None:
    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(8, 8)
            self.drop = nn.Dropout(0.2)
            self.bn = nn.BatchNorm1d(8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.lin(x)
            return self.drop(h) + self.bn(h)  # BatchNorm sees h, not the dropout's output

    assert check_layer_order(Branches(), torch.randn(4, 8)) == []


def test_functional_conv_dropout_and_batch_norm_calls() -> None:
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4, 3, 3, 3))
            self.register_buffer("mean", torch.zeros(4))
            self.register_buffer("var", torch.ones(4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = F.dropout(F.relu(F.conv2d(x, self.weight)), 0.2, self.training)  # DC003
            h = F.batch_norm(h, self.mean, self.var, training=self.training)  # after dropout
            return F.batch_norm(h, None, None, training=True)  # no running stats: fine

    model = nn.Sequential(Functional())
    findings = check_layer_order(model, torch.randn(2, 3, 8, 8))
    assert sorted((f.code, f.path, f.module_class) for f in findings) == [
        ("DC003", "0", "Functional"), ("DC004", "0", "Functional")]
    dc004 = next(f for f in findings if f.code == "DC004")
    assert "F.batch_norm in `0`" in dc004.message
