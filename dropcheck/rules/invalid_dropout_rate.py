from __future__ import annotations

import libcst as cst

from dropcheck.analysis.rates import DropoutRate, format_number
from dropcheck.analysis.torch_api import NN, SIGNATURES
from dropcheck.fix.builders import dropout_true_to_inplace
from dropcheck.rules.base import Rule
from dropcheck.rules.tokens import RATE_TOKENS

#: Callees that check the rate only when a training forward runs, not at construction.
_CHECKED_IN_FORWARD = {NN + "MultiheadAttention"}


class InvalidDropoutRate(Rule):
    """
    ## What it does
    Flags a constant dropout rate below 0, above 1, or exactly 1 (including `True`) at the same
    callees as DC002 (`nn.Dropout*`, `F.dropout*`, `torch.dropout`, RNN/Transformer/attention
    `dropout=`, SDPA `dropout_p=`).

    ## Why is this bad?
    A rate outside [0, 1] raises `ValueError` — at construction for layers, at the call for
    functions, and for `nn.MultiheadAttention` only in the first *training* forward, long after
    the model was built. A rate of exactly 1 zeroes every activation in training: the network
    learns nothing. `nn.Dropout(True)` is `p=1.0`: it was almost certainly meant as
    `nn.Dropout(inplace=True)`.

    ## Example
    ```python
    self.drop = nn.Dropout(True)
    self.attn = nn.MultiheadAttention(512, 8, dropout=10)
    ```

    ## Use instead
    ```python
    self.drop = nn.Dropout(inplace=True)
    self.attn = nn.MultiheadAttention(512, 8, dropout=0.1)
    ```

    ## Fix safety
    `nn.Dropout(True)` (and `Dropout1d/2d/3d`, `AlphaDropout`, `FeatureAlphaDropout`) has an
    unsafe fix to `inplace=True`: the rate becomes the default 0.5 and the layer works in place,
    which is what the author almost certainly meant, but training behaves differently, so review
    it (`--unsafe-fixes`). Other invalid rates have no fix: the right rate is not knowable.

    ## References
    - [torch.nn.Dropout](https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html)
    """

    code = "DC006"
    name = "invalid-dropout-rate"
    message = "Dropout rate outside [0, 1) is invalid or drops everything"
    requires = (RATE_TOKENS,)

    VALID = [
        "import torch.nn as nn\nnn.Dropout(0.0)\nnn.Dropout(0.99)\nnn.Dropout(inplace=True)\n",
        "import torch.nn as nn\nnn.Dropout(p)\n",
        "class Dropout:\n    pass\nDropout(2)\n",
        "import torch.nn as nn\nnn.Linear(1, 1)\n",
    ]
    INVALID = [
        "import torch.nn as nn\nnn.Dropout(True)  # expect: DC006\n",
        "import torch.nn as nn\nnn.Dropout(p=1)  # expect: DC006\n",
        "import torch.nn as nn\nnn.Dropout(-0.1)  # expect: DC006\n",
        "import torch.nn as nn\nattn = nn.MultiheadAttention(512, 8, 10)  # expect: DC006\n",
        "import torch\ny = torch.dropout(x, 1.5, True)  # expect: DC006\n",
        "import torch.nn.functional as F\nPCT = 20\nF.dropout(x, PCT / 10)  # expect: DC006\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        rate = self.context.dropout_rate(node)
        if rate is None or rate.value is None:
            return
        value = rate.value
        if 0 <= value < 1:
            return
        fix = dropout_true_to_inplace(self.context, node) if isinstance(value, bool) else None
        self.report(node, _message(rate), fix=fix)


def _message(rate: DropoutRate) -> str:
    value = rate.value
    assert value is not None
    call = f"{rate.callee_text}({rate.parameter}={format_number(value)})"
    if isinstance(value, bool):
        inplace = "inplace" in SIGNATURES.get(rate.call.qualified_name, ())
        hint = "; you probably meant inplace=True" if inplace else ""
        return (f"{call} is a rate of 1.0: every unit is zeroed in training{hint}")
    if value == 1:
        return (f"{call} zeroes every unit in training, so the model learns nothing; use a rate "
                f"below 1 (e.g. 0.1-0.5)")
    name = rate.call.qualified_name
    if name in _CHECKED_IN_FORWARD:
        when = "in the first training forward, not at construction"
    elif ".functional." in name or name.count(".") == 1:  # F.dropout, torch.dropout
        when = "when called"
    else:
        when = "at construction"
    return (f"{call} is not a probability: torch raises ValueError {when}; use a rate in [0, 1), "
            f"e.g. 0.1")
