"""An example training script with dropout mistakes for `dropcheck` to find."""

import torch
import torch.nn as nn
import torch.nn.functional as F

KEEP_PROB = 0.8  # ported from TF1, where dropout took the keep probability


class Classifier(nn.Module):
    def __init__(self, vocab: int, classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 128)
        self.rnn = nn.LSTM(128, 128, num_layers=2, dropout=0.2, batch_first=True)
        self.drop = nn.Dropout(KEEP_PROB)
        self.head = nn.Linear(128, classes)
        self.bad = nn.Dropout(True)  # meant inplace=True

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.embed(tokens))
        return self.head(self.drop(F.relu(h[:, -1])))
