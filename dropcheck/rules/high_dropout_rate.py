from __future__ import annotations

import libcst as cst

from dropcheck.analysis.rates import format_number, names_keep_probability, source
from dropcheck.rules.base import Rule
from dropcheck.rules.tokens import RATE_TOKENS


class HighDropoutRate(Rule):
    """
    ## What it does
    Flags a constant dropout rate above 0.5 passed to a torch dropout layer or function
    (`nn.Dropout*`, `nn.AlphaDropout`, `F.dropout*`, `torch.dropout`), or as `dropout=` of
    `nn.RNN/LSTM/GRU`, `nn.Transformer*`, `nn.MultiheadAttention`, or `dropout_p=` of
    `F.scaled_dot_product_attention`.

    ## Why is this bad?
    In PyTorch `p` is the probability of *dropping* a unit. Keras 1, TensorFlow 1 and many papers
    use the *keep* probability instead, so `nn.Dropout(0.8)` usually means "keep 80 %" but drops
    80 % of the activations: the model underfits, silently. Rates above 0.5 are rarely intended.

    Values that are not constants (config fields, arguments, attributes) are reported only
    when their name says they are a keep probability (`nn.Dropout(keep_prob)`,
    `nn.Dropout(cfg.dropout_keep)`): whatever the value, it is the complement of the rate.

    ## Example
    ```python
    self.drop = nn.Dropout(0.8)
    ```

    ## Use instead
    ```python
    self.drop = nn.Dropout(0.2)  # drop 20 %, keep 80 %
    ```

    ## Options
    - `max-rate` (default `0.5`): rates strictly above this are reported.

    ## References
    - [torch.nn.Dropout](https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html)
    - Srivastava et al., *Dropout: A Simple Way to Prevent Neural Networks from Overfitting*,
      JMLR 2014 (uses the retention probability `p`).
    """

    code = "DC002"
    name = "high-dropout-rate"
    message = "Dropout rate above 0.5: p is the drop probability, not the keep probability"
    requires = (RATE_TOKENS,)
    options = {"max-rate": 0.5}

    VALID = [
        "import torch.nn as nn\nnn.Dropout(0.5)\nnn.Dropout(p=0.1)\n",
        "import torch.nn as nn\ndef make(rate):\n    return nn.Dropout(rate)\n",
        "import torch.nn as nn\nnn.Dropout(config.hidden_dropout_prob)\n",
        "from keras.layers import Dropout\nDropout(0.8)\n",
        "import torch.nn as nn\nnn.Dropout(1.0)  # invalid rate, reported by DC006 only\n",
        "import torch.nn as nn\nnn.LSTM(10, 20, 2, True, True, 0.3)\n",
    ]
    INVALID = [
        "import torch.nn as nn\nnn.Dropout(0.8)  # expect: DC002\n",
        "from torch import nn\nlayer = nn.Dropout2d(p=0.9)  # expect: DC002\n",
        "from torch.nn import Dropout as D\nD(1 - 0.2)  # expect: DC002\n",
        "import torch.nn.functional as F\ny = F.dropout(x, 0.75, training=True)  # expect: DC002\n",
        # a keep probability by name, whatever its value
        "import torch.nn as nn\nclass Head(nn.Module):\n    def __init__(self, keep_prob):\n        super().__init__()\n        self.drop = nn.Dropout(keep_prob)  # expect: DC002\n",
        "import torch\nKEEP = 0.9\nnn = torch.nn\nlstm = torch.nn.LSTM(10, 20, num_layers=2, dropout=KEEP)  # expect: DC002\n",
        "import torch.nn as nn\nenc = nn.TransformerEncoderLayer(512, 8, 2048, 0.6)  # expect: DC002\n",
        "import torch.nn.functional as F\nF.scaled_dot_product_attention(q, k, v, dropout_p=0.7)  # expect: DC002\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        rate = self.context.dropout_rate(node)
        if rate is None or isinstance(rate.value, bool):
            return
        if rate.value is None:
            expr = rate.call.value(rate.parameter)
            if isinstance(expr, cst.BaseExpression) and names_keep_probability(expr):
                text = source(expr)
                self.report(
                    node,
                    f"{rate.callee_text}({rate.parameter}={text}) passes a keep probability "
                    f"as the drop rate: `{rate.parameter}` is the probability of dropping a "
                    f"unit, so a keep probability of 0.9 drops 90 %; use "
                    f"{rate.parameter}=1 - {text}",
                )
            return
        limit = float(self.settings["max-rate"])
        if not limit < rate.value < 1:
            return
        value = rate.value
        dropped = round(value * 100, 1)
        self.report(
            node,
            f"{rate.callee_text}({rate.parameter}={format_number(value)}) drops "
            f"{dropped:g} % of units; if you meant keep probability {format_number(value)}, use "
            f"{rate.parameter}={format_number(1 - value)}",
        )
