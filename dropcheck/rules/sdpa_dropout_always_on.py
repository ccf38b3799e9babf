from __future__ import annotations

import libcst as cst

from dropcheck.analysis.rates import source
from dropcheck.rules.base import Rule
from dropcheck.rules.prefilter import SDPA as _SDPA
from dropcheck.rules.tokens import MODULE_CLASS_TOKENS


class SdpaDropoutAlwaysOn(Rule):
    """
    ## What it does
    Flags `F.scaled_dot_product_attention(..., dropout_p=...)` inside a method of an
    `nn.Module` subclass when the rate can be non-zero and does not follow the module's mode:
    a non-zero constant, or an attribute or config value with no `self.training` in the
    expression.

    ## Why is this bad?
    `scaled_dot_product_attention` is a function: it has no `training` flag and does not know
    the module's mode, so a non-zero `dropout_p` drops attention weights in `model.eval()` too.
    Evaluation and inference become random. This is a recurring bug (nanoGPT and timm fixed
    it; pytorch/pytorch#124464).

    Not reported: an omitted or zero `dropout_p`; an expression that mentions `self.training`
    (or another mode flag); a rate that the caller controls (a parameter of the method, or a
    local computed from one, as in `dropout_p=dropout`); a `self.X` that some method other
    than `__init__` assigns (it may follow the mode); a call that runs in one mode only
    (`if self.training:`); calls outside any module.

    ## Example
    ```python
    class Attention(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout)
    ```

    ## Use instead
    ```python
    class Attention(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0
            )
    ```

    ## References
    - [torch.nn.functional.scaled_dot_product_attention](https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html)
    - [pytorch/pytorch#124464: SDPA does not switch off dropout during evaluation](https://github.com/pytorch/pytorch/issues/124464)
    - [huggingface/pytorch-image-models#1978: scaled_dot_product_attention: don't dropout in eval](https://github.com/huggingface/pytorch-image-models/pull/1978)
    """

    code = "DC011"
    name = "sdpa-dropout-always-on"
    message = "scaled_dot_product_attention dropout_p stays on in eval mode"
    requires = ((b"scaled_dot_product_attention",), MODULE_CLASS_TOKENS)

    VALID = [
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass A(nn.Module):\n    def forward(self, q, k, v):\n        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0)\n",
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass A(nn.Module):\n    def forward(self, q, k, v):\n        p = self.p if self.training else 0.0\n        return F.scaled_dot_product_attention(q, k, v, None, p)\n",
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass A(nn.Module):\n    def forward(self, q, k, v):\n        return F.scaled_dot_product_attention(q, k, v, is_causal=True)\n",
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass A(nn.Module):\n    def forward(self, q, k, v, dropout: float = 0.0):\n        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)\n",
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass A(nn.Module):\n    def forward(self, q, k, v):\n        if not self.training:\n            return F.scaled_dot_product_attention(q, k, v)\n        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)\n",
        "import torch.nn.functional as F\ndef attention(q, k, v):\n    return F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)\n",
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass A(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.p = 0.0\n    def forward(self, q, k, v):\n        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.p)\n",
    ]
    INVALID = [
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass A(nn.Module):\n    def forward(self, q, k, v):\n        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)  # expect: DC011\n",
        "import torch.nn as nn\nimport torch.nn.functional as F\nclass A(nn.Module):\n    def __init__(self, p: float):\n        super().__init__()\n        self.p = p\n    def forward(self, q, k, v):\n        return F.scaled_dot_product_attention(q, k, v, None, self.p)  # expect: DC011\n",
        "import torch\nclass A(torch.nn.Module):\n    def forward(self, q, k, v):\n        p = self.config.attention_dropout\n        return torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=p)  # expect: DC011\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        bound = self.context.call(node)
        if bound is None or bound.qualified_name != _SDPA:
            return
        rate = bound.value("dropout_p")
        if not isinstance(rate, cst.BaseExpression) or not self.context.in_module_method():
            return  # omitted (0.0), or maybe passed through */**
        value = self.context.constant(rate)
        if value == 0:
            return
        if value is None and self._zero_attribute(rate):
            return
        if self.context.mode_or_caller_dependent(rate) or self.context.mode_guarded(node):
            return
        text = source(rate)
        self.report(
            node,
            f"{source(node.func)}(dropout_p={text}) drops attention weights in eval mode too: "
            f"scaled_dot_product_attention has no training flag; pass "
            f"dropout_p={_parenthesized(rate, text)} if self.training else 0.0",
        )

    def _zero_attribute(self, rate: cst.BaseExpression) -> bool:
        """``self.p`` whose every assignment in the class is the constant 0."""
        cls = self.context.enclosing_class
        if (
            cls is None
            or not isinstance(rate, cst.Attribute)
            or not isinstance(rate.value, cst.Name)
            or rate.value.value != "self"
        ):
            return False
        assignments = self.context.instance_attributes.assignments(cls, rate.attr.value)
        return bool(assignments) and all(
            a.value is not None and self.context.constant(a.value, [self.context.module]) == 0
            for a in assignments
        )


def _parenthesized(expr: cst.BaseExpression, text: str) -> str:
    simple = isinstance(expr, (cst.Name, cst.Attribute, cst.Integer, cst.Float, cst.Subscript,
                               cst.Call))
    return text if simple else f"({text})"
