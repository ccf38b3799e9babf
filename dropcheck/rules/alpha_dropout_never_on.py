from __future__ import annotations

import libcst as cst

from dropcheck.analysis.calls import UNKNOWN
from dropcheck.analysis.rates import source
from dropcheck.analysis.torch_api import F
from dropcheck.fix.builders import training_flag
from dropcheck.rules.base import Rule
from dropcheck.rules.prefilter import NEVER_ON as _NEVER_ON
from dropcheck.rules.tokens import MODULE_CLASS_TOKENS

#: The layer that does the same and follows the module's mode.
_MODULE_FORM = {F + "alpha_dropout": "nn.AlphaDropout",
                F + "feature_alpha_dropout": "nn.FeatureAlphaDropout"}


class AlphaDropoutNeverOn(Rule):
    """
    ## What it does
    Flags `F.alpha_dropout` and `F.feature_alpha_dropout` (any import alias) called without a
    `training` argument inside a method of an `nn.Module` subclass.

    ## Why is this bad?
    The alpha-dropout functions are the odd ones out: their `training` defaults to `False`
    (`F.dropout`'s defaults to `True`). Without it they return the input unchanged, in
    training too, so a self-normalizing (SELU) network is trained without the regularization its
    author chose, silently.

    Not reported: an explicit `training` (keyword or third positional argument), a rate of 0,
    `*args`/`**kwargs` that may pass `training`, and calls outside any module.

    ## Example
    ```python
    class SNN(nn.Module):
        def forward(self, x):
            return F.alpha_dropout(F.selu(self.fc(x)), p=0.05)
    ```

    ## Use instead
    ```python
    class SNN(nn.Module):
        def forward(self, x):
            return F.alpha_dropout(F.selu(self.fc(x)), p=0.05, training=self.training)
    ```
    or an `nn.AlphaDropout(0.05)` submodule.

    ## Fix safety
    The fix adds `training=self.training` to the call (inside a method whose `self` is the
    module). It is unsafe: the dropout, which never ran, now runs in training mode, so training
    behaves differently (as the author intended, but results change and the rate may need
    tuning).

    ## References
    - [torch.nn.functional.alpha_dropout](https://pytorch.org/docs/stable/generated/torch.nn.functional.alpha_dropout.html)
    - Klambauer et al., *Self-Normalizing Neural Networks*, NeurIPS 2017 (alpha dropout).
    """

    code = "DC012"
    name = "alpha-dropout-never-on"
    message = "Functional alpha dropout without training= never drops anything"
    requires = ((b"alpha_dropout",), MODULE_CLASS_TOKENS)

    VALID = [
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass SNN(nn.Module):\n    def forward(self, x):\n        x = F.alpha_dropout(x, 0.05, training=self.training)\n        return F.feature_alpha_dropout(x, 0.05, self.training)\n",
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass SNN(nn.Module):\n    def forward(self, x):\n        return F.alpha_dropout(x, p=0.0)\n",
        "import torch.nn.functional as F\ndef noise(x):\n    return F.alpha_dropout(x, 0.1)\n",
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass SNN(nn.Module):\n    def forward(self, x, *args):\n        return F.alpha_dropout(x, 0.1, *args)\n",
        # nn.AlphaDropout follows the module's mode
        "import torch.nn as nn\nclass SNN(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.drop = nn.AlphaDropout(0.1)\n",
    ]
    INVALID = [
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass SNN(nn.Module):\n    def forward(self, x):\n        return F.alpha_dropout(F.selu(x), p=0.05)  # expect: DC012\n",
        "import torch\nfrom torch.nn.functional import feature_alpha_dropout\nclass SNN(torch.nn.Module):\n    def forward(self, x):\n        if self.training:\n            x = feature_alpha_dropout(x, self.p)  # expect: DC012\n        return x\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        bound = self.context.call(node)
        if bound is None or bound.qualified_name not in _NEVER_ON:
            return
        if bound.value("training") is not None or not self.context.in_module_method():
            return
        rate = bound.value("p")
        if rate is UNKNOWN or (
            isinstance(rate, cst.BaseExpression) and self.context.constant(rate) == 0
        ):
            return
        callee = source(node.func)
        self.report(
            node,
            f"{callee}() without training= never drops anything: unlike F.dropout, its "
            f"training defaults to False, so the network trains without this dropout; pass "
            f"training=self.training (or use an {_MODULE_FORM[bound.qualified_name]} submodule)",
            fix=training_flag(self.context, node, "unsafe", "on in training mode"),
        )
