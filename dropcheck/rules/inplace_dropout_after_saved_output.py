from __future__ import annotations

from dropcheck.analysis import torch_api as api
from dropcheck.analysis.layers import LayerStep
from dropcheck.rules.base import Rule
from dropcheck.rules.prefilter import DROPOUT_ROLES as _DROPOUTS


def _saves_output(step: LayerStep) -> bool:
    name = step.name or ""
    return name in api.OUTPUT_SAVING_OPS or (
        name in api.OUTPUT_SAVING_WHEN_INPLACE and step.inplace
    )


def _producer(step: LayerStep) -> LayerStep | None:
    """The op whose output tensor ``step`` overwrites: its input, looking through other
    in-place dropouts (they write the same tensor)."""
    current = step.previous
    seen = 0
    while current is not None and current.role in _DROPOUTS and current.inplace and seen < 16:
        current = current.previous
        seen += 1
    return current


class InplaceDropoutAfterSavedOutput(Rule):
    """
    ## What it does
    Flags dropout that works in place (`nn.Dropout(inplace=True)`, `F.dropout(...,
    inplace=True)`, `torch.dropout_`) right after an op whose backward needs its own output:
    `ReLU`, `Sigmoid`, `Tanh`, `Softmax`/`LogSoftmax`/`Softmin`, `torch.exp`, and
    `LeakyReLU`/`ELU`/`CELU`/`SELU`/`RReLU` when they run in place themselves.

    This is a preview rule: run it with `--preview` or select `DC015`.

    ## Why is this bad?
    These ops save their output for the backward pass. An in-place dropout overwrites that
    saved tensor, so the first training step fails in `loss.backward()` with
    `RuntimeError: one of the variables needed for gradient computation has been modified by an
    inplace operation`. In eval mode dropout does nothing, so inference code hides the bug.
    (`nn.AlphaDropout`/`nn.FeatureAlphaDropout` ignore their `inplace` flag and are fine;
    `GELU`, `SiLU`, `ReLU6`, `Hardswish` save their input and are fine.)

    ## Example
    ```python
    self.block = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Dropout(0.1, inplace=True))
    ```

    ## Use instead
    ```python
    self.block = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Dropout(0.1))
    ```

    ## References
    - [Autograd mechanics: in-place operations](https://pytorch.org/docs/stable/notes/autograd.html#in-place-operations-with-autograd)
    """

    code = "DC015"
    name = "inplace-dropout-after-saved-output"
    message = "In-place dropout overwrites an output autograd saved for backward"
    preview = True
    # no "inplace" group: `nn.Dropout(0.1, True)` passes it positionally
    requires = ((b"ropout",), (b"LU", b"elu", b"igmoid", b"anh", b"oftm", b"exp"))

    VALID = [
        "import torch.nn as nn\nm = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Dropout(0.1))\n",
        "import torch.nn as nn\nm = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Dropout(0.1, inplace=True))\n",
        "import torch.nn as nn\nm = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1, inplace=True))\n",
        "import torch.nn as nn\nm = nn.Sequential(nn.Linear(8, 8), nn.SELU(), nn.AlphaDropout(0.1, inplace=True))\n",
        "import torch.nn as nn\nm = nn.Sequential(nn.Linear(8, 8), nn.LeakyReLU(0.1), nn.Dropout(0.1, inplace=True))\n",
    ]
    INVALID = [
        "import torch.nn as nn\nm = nn.Sequential(\n    nn.Linear(8, 8),\n    nn.ReLU(inplace=True),\n    nn.Dropout(0.1, inplace=True),  # expect: DC015\n)\n",
        (
            "import torch\n"
            "import torch.nn as nn\n"
            "import torch.nn.functional as F\n"
            "class Attn(nn.Module):\n"
            "    def forward(self, q, k):\n"
            "        w = torch.softmax(q @ k.transpose(-2, -1), dim=-1)\n"
            "        return F.dropout(w, 0.1, self.training, inplace=True)  # expect: DC015\n"
        ),
        "import torch.nn as nn\nm = nn.Sequential(nn.Linear(8, 8), nn.ELU(inplace=True), nn.Dropout(0.1, True))  # expect: DC015\n",
        "import torch.nn as nn\nm = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Dropout(0.1, True))  # expect: DC015\n",
    ]

    def finish(self) -> None:
        reported: set[int] = set()
        for _, step in self.context.layers.steps():
            if step.role not in _DROPOUTS or not step.inplace or id(step.node) in reported:
                continue
            producer = _producer(step)
            if producer is None or not _saves_output(producer):
                continue
            reported.add(id(step.node))
            self.report(
                step.node,
                f"in-place {step.label} overwrites the output of {producer.label}, which "
                f"autograd saved for its backward: the first training step fails in "
                f"loss.backward() with 'one of the variables needed for gradient computation "
                f"has been modified by an inplace operation'; drop inplace=True",
            )
