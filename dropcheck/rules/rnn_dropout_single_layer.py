from __future__ import annotations

import libcst as cst

from dropcheck.analysis.calls import UNKNOWN
from dropcheck.analysis.rates import format_number, source
from dropcheck.rules.base import Rule
from dropcheck.rules.prefilter import RECURRENT as _RECURRENT


class RnnDropoutSingleLayer(Rule):
    """
    ## What it does
    Flags `nn.LSTM`, `nn.GRU` and `nn.RNN` built with a constant `dropout` above 0 and
    `num_layers` omitted or 1 (by keyword or position).

    ## Why is this bad?
    The recurrent layers apply `dropout` to the outputs of each layer *except the last*. With
    one layer there is no such output, so the dropout does nothing: the model is trained without
    the regularization its author configured. torch only emits a `UserWarning` at construction,
    which is easy to miss in a training log.

    Not reported: rates or layer counts that are not constants (`num_layers=config.layers`),
    and `*args`/`**kwargs` that may pass them.

    ## Example
    ```python
    self.encoder = nn.LSTM(128, 256, batch_first=True, dropout=0.3)
    ```

    ## Use instead
    ```python
    self.encoder = nn.LSTM(128, 256, batch_first=True)
    self.dropout = nn.Dropout(0.3)  # applied to the LSTM's output in forward
    ```
    or stack layers (`num_layers=2`) if the dropout between them is what you meant.

    ## References
    - [torch.nn.LSTM](https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html) (`dropout`:
      "on the outputs of each LSTM layer except the last layer")
    """

    code = "DC010"
    name = "rnn-dropout-single-layer"
    message = "RNN dropout with a single layer does nothing"
    requires = ((b"RNN", b"LSTM", b"GRU"),)

    VALID = [
        "import torch.nn as nn\nlstm = nn.LSTM(10, 20, num_layers=2, dropout=0.3)\n",
        "import torch.nn as nn\ngru = nn.GRU(10, 20, 1)\nrnn = nn.RNN(10, 20, dropout=0.0)\n",
        "import torch.nn as nn\nlstm = nn.LSTM(10, 20, num_layers=cfg.layers, dropout=0.3)\n",
        "import torch.nn as nn\nlstm = nn.LSTM(10, 20, dropout=cfg.dropout)\n",
        "import torch.nn as nn\nlstm = nn.LSTM(10, 20, **kwargs, dropout=0.3)\n",
        "from keras.layers import LSTM\nLSTM(20, dropout=0.3)\n",
    ]
    INVALID = [
        "import torch.nn as nn\nlstm = nn.LSTM(10, 20, batch_first=True, dropout=0.3)  # expect: DC010\n",
        "from torch import nn\ngru = nn.GRU(10, 20, 1, dropout=0.2)  # expect: DC010\n",
        "import torch\nN = 1\nrnn = torch.nn.RNN(10, 20, N, 'tanh', True, False, 0.25)  # expect: DC010\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        bound = self.context.call(node)
        if bound is None or bound.qualified_name not in _RECURRENT:
            return
        rate = bound.value("dropout")
        if not isinstance(rate, cst.BaseExpression):
            return
        value = self.context.constant(rate)
        if value is None or isinstance(value, bool) or not 0 < value <= 1:
            return
        layers = bound.value("num_layers")
        if layers is UNKNOWN:
            return
        if isinstance(layers, cst.BaseExpression) and self.context.constant(layers) != 1:
            return
        callee = source(node.func)
        self.report(
            node,
            f"{callee}(dropout={format_number(value)}) with a single layer applies no dropout: "
            f"it drops the outputs of every layer but the last; use num_layers >= 2, or drop "
            f"the output with an nn.Dropout({format_number(value)}) layer",
        )
