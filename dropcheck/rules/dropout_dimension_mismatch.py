from __future__ import annotations

from dropcheck.analysis import torch_api as api
from dropcheck.analysis.layers import LayerStep, through_text, walk_back
from dropcheck.rules.base import Rule

#: Layers that keep the rank of their input.
_KEEPS_RANK = frozenset(
    {api.ROLE_ACTIVATION, api.ROLE_POOL, api.ROLE_NORM, api.ROLE_RUNNING_NORM, api.ROLE_IDENTITY,
     api.ROLE_DROPOUT, api.ROLE_CHANNEL_DROPOUT}
)
#: Sources whose output is (N, D) or (N, T, D): vectors or sequences, not feature maps.
_SEQUENCE_SOURCES = frozenset(
    {api.ROLE_LINEAR, api.ROLE_RECURRENT, api.ROLE_ATTENTION, api.ROLE_SEQUENCE,
     api.ROLE_EMBEDDING}
)


def _spelled(step: LayerStep, dims: int) -> str:
    """``nn.Dropout2d`` or ``F.dropout2d``, matching how the user called dropout."""
    module = step.name in api.DROPOUT_MODULES
    return f"nn.Dropout{dims}d" if module else f"F.dropout{dims}d"


def _conv_mismatch(step: LayerStep, source: LayerStep, via: str) -> str | None:
    dims, conv = step.dims, source.dims
    if dims is None or conv is None or dims == conv:
        return None
    right = _spelled(step, conv)
    head = f"{step.label} after {source.label}{via}"
    if dims == 1:
        return (f"{head} raises at the first forward: dropout1d expects (N, C, L) input, and "
                f"{source.label} gives a {conv + 2}-D tensor; use {right}")
    if dims == 3 and conv == 2:
        return (f"{head} reads the (N, C, H, W) output as one unbatched (C, D, H, W) volume and "
                f"zeroes whole samples of the batch instead of channels; use {right}")
    if dims == 2 and conv == 1:
        return (f"{head} gets the 3-D (N, C, L) output: torch warns and falls back to 1-D "
                f"channel dropout; use {right}, which says what it does")
    return (f"{head} gets a {conv + 2}-D tensor, which torch deprecates (a warning now, an "
            f"error in a future release); use {right} to drop whole channels of the "
            f"{source.label} feature map")


def _sequence_mismatch(step: LayerStep, source: LayerStep, via: str) -> str | None:
    if step.dims not in (2, 3):
        return None
    return (f"{step.label} after {source.label}{via} gets a 2-D (N, D) or 3-D (N, T, D) tensor, not a "
            f"feature map: 2-D input is deprecated, and 3-D input silently becomes 1-D channel "
            f"dropout that zeroes whole time steps; use {_element_wise(step)} for element-wise "
            f"dropout (or {_spelled(step, 1)} on an (N, C, L) tensor to drop whole channels)")


def _element_wise(step: LayerStep) -> str:
    return "nn.Dropout" if step.name in api.DROPOUT_MODULES else "F.dropout"


class DropoutDimensionMismatch(Rule):
    """
    ## What it does
    Flags channel dropout whose dimensionality does not match its input: `nn.Dropout2d` /
    `F.dropout2d` (or `Dropout3d`) fed by `nn.Linear`, `nn.Flatten`/`torch.flatten`/`.view`
    to 2-D or 3-D, an RNN/LSTM/GRU, `nn.MultiheadAttention`, a Transformer layer or an
    `nn.Embedding`; `nn.Dropout2d` after `Conv1d` or `Conv3d`; `nn.Dropout1d` after `Conv2d` or
    `Conv3d`; `nn.Dropout3d` after `Conv1d` or `Conv2d`.

    The order comes from `nn.Sequential(...)` and from the data flow of `forward()`, as for
    DC003.

    ## Why is this bad?
    Channel dropout zeroes whole channels and infers the layout from the number of dimensions:
    - `Dropout2d` on a 3-D `(N, T, D)` tensor (a Linear, RNN or embedding output) warns, treats
      it as `(N, C, L)` and zeroes whole time steps; on 2-D input it is deprecated.
    - `Dropout1d` on a 4-D `Conv2d` output raises `RuntimeError` at the first forward.
    - `Dropout3d` on a 4-D `Conv2d` output reads it as one unbatched `(C, D, H, W)` volume:
      it zeroes whole samples of the batch instead of channels, silently.

    ## Example
    ```python
    self.head = nn.Sequential(nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Dropout2d(0.5))
    ```

    ## Use instead
    ```python
    self.head = nn.Sequential(nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Dropout(0.5))
    ```

    ## References
    - [torch.nn.Dropout1d](https://pytorch.org/docs/stable/generated/torch.nn.Dropout1d.html),
      [Dropout2d](https://pytorch.org/docs/stable/generated/torch.nn.Dropout2d.html),
      [Dropout3d](https://pytorch.org/docs/stable/generated/torch.nn.Dropout3d.html)
    """

    code = "DC009"
    name = "dropout-dimension-mismatch"
    message = "Channel dropout of the wrong dimensionality for its input"
    requires = ((b"ropout1d", b"ropout2d", b"ropout3d"),)

    VALID = [
        "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout2d(0.1))\n",
        "import torch.nn as nn\nm = nn.Sequential(nn.Conv1d(3, 8, 3), nn.ReLU(), nn.Dropout1d(0.1))\n",
        "import torch.nn as nn\nm = nn.Sequential(nn.Conv3d(3, 8, 3), nn.MaxPool3d(2), nn.Dropout3d(0.1))\n",
        "import torch.nn as nn\nm = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1))\n",
        # reshaped back to a 4-D feature map
        (
            "import torch.nn as nn\n"
            "class Decoder(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(16, 8 * 7 * 7)\n"
            "        self.drop = nn.Dropout2d(0.1)\n"
            "    def forward(self, z):\n"
            "        x = self.fc(z).view(-1, 8, 7, 7)\n"
            "        return self.drop(x)\n"
        ),
    ]
    INVALID = [
        "import torch.nn as nn\nm = nn.Sequential(nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Dropout2d(0.5))  # expect: DC009\n",
        "import torch.nn as nn\nm = nn.Sequential(\n    nn.Conv2d(3, 8, 3),\n    nn.Dropout1d(0.1),  # expect: DC009\n)\n",
        "import torch.nn as nn\nm = nn.Sequential(\n    nn.Conv2d(3, 8, 3),\n    nn.ReLU(),\n    nn.Dropout3d(0.1),  # expect: DC009\n)\n",
        (
            "import torch.nn as nn\n"
            "import torch.nn.functional as F\n"
            "class Tagger(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.lstm = nn.LSTM(100, 64, batch_first=True)\n"
            "    def forward(self, x):\n"
            "        out, _ = self.lstm(x)\n"
            "        return F.dropout2d(out, 0.2, self.training)  # expect: DC009\n"
        ),
    ]

    def finish(self) -> None:
        reported: set[int] = set()
        for _, step in self.context.layers.steps():
            if (step.role != api.ROLE_CHANNEL_DROPOUT or step.dims is None
                    or id(step.node) in reported):
                continue
            source, passed = walk_back(step, _KEEPS_RANK)
            if source is None:
                continue
            via = through_text(passed[::-1])
            message: str | None = None
            if source.role == api.ROLE_CONV:
                message = _conv_mismatch(step, source, via)
            elif source.role in _SEQUENCE_SOURCES:
                message = _sequence_mismatch(step, source, via)
            elif source.role == api.ROLE_RESHAPE and source.rank is not None:
                if source.rank in (2, 3):
                    message = _sequence_mismatch(step, source, via)
                elif step.dims == 1 and source.rank in (4, 5):
                    message = (f"{step.label} after {source.label}{via} raises at the first "
                               f"forward: dropout1d expects (N, C, L) input, and this is a "
                               f"{source.rank}-D tensor; use {_spelled(step, source.rank - 2)}")
            if message is not None:
                reported.add(id(step.node))
                self.report(step.node, message)
