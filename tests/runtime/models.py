"""Small real models for the runtime tests: correct ones and ones with a seeded bug."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# -- seeded bugs ---------------------------------------------------------------------------


class LeakyAttention(nn.Module):
    """F.dropout without `training`: on in eval mode too (DC005)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.proj(x), 0.1)


class GoodAttention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.proj(x), 0.1, training=self.training)


class Noise(nn.Module):
    """Gaussian noise that forgets to check `self.training` (DC101)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.1 * torch.randn_like(x)


class Block(nn.Module):
    def __init__(self, dim: int, attn: nn.Module, noise: nn.Module | None = None) -> None:
        super().__init__()
        self.attn = attn
        self.noise = noise if noise is not None else nn.Identity()
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(0.1),
                                nn.Linear(2 * dim, dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x + self.attn(x))
        return self.noise(x + self.ff(x))


class Encoder(nn.Module):
    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class Net(nn.Module):
    """Embedding -> encoder of blocks -> head; returns a dict (nested output)."""

    def __init__(self, blocks: list[nn.Module], dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Linear(8, dim)
        self.encoder = Encoder(blocks)
        self.head = nn.Linear(dim, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.encoder(self.embed(x))
        return {"hidden": h, "logits": self.head(h)}


def net(attn: str = "good", noise_in: int | None = None, dim: int = 16) -> Net:
    blocks: list[nn.Module] = []
    for i in range(3):
        attention = LeakyAttention(dim) if attn == "leaky" and i == 2 else GoodAttention(dim)
        blocks.append(Block(dim, attention, Noise() if noise_in == i else None))
    return Net(blocks, dim)


class HandWrittenDropout(nn.Module):
    """A dropout module written by hand, with its rate ``p`` (the variants below differ only in
    ``forward``)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p


class NoRescaleDropout(HandWrittenDropout):
    """Non-inverted dropout: drops with probability p but never rescales (DC103)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return x * (torch.rand_like(x) >= self.p)


class KeepProbDropout(HandWrittenDropout):
    """p used as the keep probability: keeps with probability p, scales by 1/p (DC104, DC103)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return x * (torch.rand_like(x) < self.p) / self.p


class EvalScaledDropout(HandWrittenDropout):
    """Classic non-inverted dropout: masks in training, multiplies by 1 - p in eval."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x * (1 - self.p)
        return x * (torch.rand_like(x) >= self.p)


class InvertedDropout(HandWrittenDropout):
    """A correct hand-written dropout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return x * (torch.rand_like(x) >= self.p) / (1 - self.p)


class SpatialDropout(HandWrittenDropout):
    """A correct custom channel dropout for (N, T, D): drops features for all time steps."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        mask = torch.rand(x.shape[0], 1, x.shape[2]) >= self.p
        return x * mask / (1 - self.p)


class MLP(nn.Module):
    def __init__(self, dropout: nn.Module, dim: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())
        self.drop = dropout
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.body(x)))


class ConvReluDropout(nn.Module):
    """Conv2d -> ReLU -> element-wise Dropout (DC003), written in forward()."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.drop = nn.Dropout(0.2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(F.relu(self.conv(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def conv_sequential() -> nn.Sequential:
    """The same bug in nn.Sequential, plus a correct head (pool to 1x1 -> dropout)."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),  # DC003 at 3
        nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout2d(0.1),
        nn.AdaptiveAvgPool2d(1), nn.Dropout(0.5), nn.Flatten(), nn.Dropout(0.5),
        nn.Linear(8, 2),
    )


def dropout_batchnorm() -> nn.Sequential:
    """Dropout -> BatchNorm (DC004) at index 2; then a correct BN -> ReLU -> Dropout."""
    return nn.Sequential(
        nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.3), nn.BatchNorm1d(32),  # DC004 at 2
        nn.Linear(32, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(32, 4),
    )


class SequenceTagger(nn.Module):
    """Dropout2d on an (N, T, D) embedding sequence (DC009): whole time steps vanish."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.drop = nn.Dropout2d(0.2)
        self.rnn = nn.GRU(16, 16, batch_first=True)
        self.out = nn.Linear(16, 5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.drop(self.embed(tokens)))
        return self.out(h)


class BNDropoutClassifier(nn.Module):
    """BatchNorm and dropout together: the model MC dropout must not disturb."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(10, 32)
        self.bn = nn.BatchNorm1d(32)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(torch.relu(self.bn(self.fc1(x)))))
