from __future__ import annotations

import libcst as cst

from dropcheck.analysis.calls import UNKNOWN
from dropcheck.analysis.rates import source
from dropcheck.analysis.torch_api import F
from dropcheck.fix.builders import training_flag
from dropcheck.rules.base import Rule
from dropcheck.rules.prefilter import ALWAYS_ON as _ALWAYS_ON
from dropcheck.rules.tokens import MODULE_CLASS_TOKENS

#: The layer that does the same and follows the module's mode.
_MODULE_FORM = {F + "dropout": "nn.Dropout", F + "dropout1d": "nn.Dropout1d",
                F + "dropout2d": "nn.Dropout2d", F + "dropout3d": "nn.Dropout3d"}


class FunctionalDropoutAlwaysOn(Rule):
    """
    ## What it does
    Flags `F.dropout`, `F.dropout1d`, `F.dropout2d` and `F.dropout3d` (through any import alias,
    `torch.nn.functional.dropout` and `from torch.nn.functional import dropout` included) called
    without a `training` argument inside a method of an `nn.Module` subclass (a
    `LightningModule` and a Hugging Face `PreTrainedModel` are modules too).

    ## Why is this bad?
    Unlike `nn.Dropout`, the functional form does not know the module's mode: `training`
    defaults to `True`, so `model.eval()` does not turn it off. Evaluation and inference stay
    random, metrics are noisy and pessimistic, and exported models keep dropping activations.
    torchvision's `SwinTransformer` shipped this bug (its attention's `F.dropout` calls had no
    `training`, pytorch/vision#7103).

    Not reported: an explicit `training` (keyword or third positional argument, whatever its
    value: `training=True` is a deliberate always-on dropout, as in Tacotron 2's pre-net or an
    MC-dropout layer), a rate of 0, a rate that follows the mode or comes from the caller
    (`p=self.p if self.training else 0.0`, a parameter of the method), a call that runs in one
    mode only (`if self.training:`, `x if not self.training else F.dropout(x)`, after
    `if not self.training: return x`, Lightning's `training_step`), and calls outside any module
    (plain functions decide their own mode). `torch.dropout(x, p, train)` takes the mode as a
    required argument, so it is never reported.

    ## Example
    ```python
    class Block(nn.Module):
        def forward(self, x):
            return F.dropout(self.fc(x), p=0.1)
    ```

    ## Use instead
    ```python
    class Block(nn.Module):
        def forward(self, x):
            return F.dropout(self.fc(x), p=0.1, training=self.training)
    ```
    or an `nn.Dropout(0.1)` submodule, which follows `model.train()` / `model.eval()`.

    ## Fix safety
    The fix adds `training=self.training` to the call (inside a method whose `self` is the
    module). It is safe: the dropout keeps running in training mode and stops in eval mode,
    which is what `model.eval()` is written to mean; only inference outputs change, from random
    to deterministic. An explicit `training=True` (deliberate MC dropout) is never reported.

    ## References
    - [torch.nn.functional.dropout](https://pytorch.org/docs/stable/generated/torch.nn.functional.dropout.html)
    - [pytorch/vision#7103: Dropout in SwinTransformer unable to set training=False](https://github.com/pytorch/vision/issues/7103)
    """

    code = "DC005"
    name = "functional-dropout-always-on"
    message = "Functional dropout without training= stays on in eval mode"
    requires = ((b"dropout",), MODULE_CLASS_TOKENS)

    VALID = [
        # the mode is passed, by keyword or by position
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass M(nn.Module):\n    def forward(self, x):\n        x = F.dropout(x, 0.1, training=self.training)\n        return F.dropout(x, 0.1, self.training)\n",
        # deliberate: Tacotron 2's pre-net keeps dropout on at inference
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass Prenet(nn.Module):\n    def forward(self, x):\n        return F.dropout(x, 0.5, training=True)\n",
        # the caller decides the mode
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass M(nn.Module):\n    def forward(self, x, is_training: bool):\n        return F.dropout(x, 0.1, training=is_training)\n",
        # the rate follows the mode, or is zero
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass M(nn.Module):\n    def forward(self, x):\n        x = F.dropout(x, p=self.p if self.training else 0.0)\n        return F.dropout(x, p=0)\n",
        # only runs in training mode
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass M(nn.Module):\n    def forward(self, x):\n        if self.training:\n            x = F.dropout(x, 0.2)\n        return x\n",
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass M(nn.Module):\n    def forward(self, x):\n        if not self.training:\n            return x\n        return F.dropout2d(x, 0.2)\n",
        # outside a module: a plain function
        "import torch.nn.functional as F\ndef augment(x):\n    return F.dropout(x, 0.1)\n",
        # not torch's dropout
        "import torch.nn as nn\nfrom mylib import dropout\nclass M(nn.Module):\n    def forward(self, x):\n        return dropout(x, 0.1)\n",
        # *args / **kwargs may pass training
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass M(nn.Module):\n    def forward(self, x, **kw):\n        return F.dropout(x, 0.1, **kw)\n",
    ]
    INVALID = [
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass M(nn.Module):\n    def forward(self, x):\n        return F.dropout(x, 0.1)  # expect: DC005\n",
        "import torch\nclass M(torch.nn.Module):\n    def forward(self, x):\n        return torch.nn.functional.dropout2d(x, p=self.p)  # expect: DC005\n",
        "from torch import nn\nfrom torch.nn.functional import dropout as drop\nclass M(nn.Module):\n    def forward(self, x):\n        return drop(x)  # expect: DC005\n",
        "import torch.nn.functional as F\nfrom lightning import LightningModule\nclass Lit(LightningModule):\n    def forward(self, x):\n        return F.dropout(x, 0.2)  # expect: DC005\n",
        "import torch.nn.functional as F\nfrom transformers import PreTrainedModel\nclass Base(PreTrainedModel):\n    pass\nclass Model(Base):\n    def forward(self, x):\n        return F.dropout(x, self.config.dropout)  # expect: DC005\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        bound = self.context.call(node)
        if bound is None or bound.qualified_name not in _ALWAYS_ON:
            return
        if bound.value("training") is not None:  # given, or maybe given through */**
            return
        if not self.context.in_module_method() or self.context.in_training_only_method():
            return
        rate = bound.value("p")
        if rate is UNKNOWN:
            return
        if isinstance(rate, cst.BaseExpression) and (
            self.context.constant(rate) == 0 or self.context.mode_or_caller_dependent(rate)
        ):
            return
        if self.context.mode_guarded(node):
            return
        callee = source(node.func)
        self.report(
            node,
            f"{callee}() without training= is always on: training defaults to True, so "
            f"model.eval() does not turn this dropout off and inference stays random; pass "
            f"training=self.training (or use an {_MODULE_FORM[bound.qualified_name]} submodule)",
            fix=training_flag(self.context, node, "safe", "off in eval mode, as nn.Dropout"),
        )
