from __future__ import annotations

import libcst as cst

from dropcheck.analysis import torch_api as api
from dropcheck.analysis.calls import bind
from dropcheck.analysis.layers import LayerFlow, LayerStep, walk_back
from dropcheck.analysis.rates import source
from dropcheck.rules.base import Rule
from dropcheck.rules.prefilter import DROPOUT_ROLES as _DROPOUTS
from dropcheck.rules.prefilter import OUTPUT_ROLES as _OUTPUT_LAYERS

_NOTHING = frozenset({api.ROLE_IDENTITY})
#: Names of attributes/variables that hold a model's output layer or head.
_OUTPUT_NAMES = frozenset({
    "classifier", "head", "heads", "logits", "output_layer", "out_layer",
    "predictor", "prediction", "lm_head", "cls_head", "final_layer",
})
#: Names that mean "the whole model" only outside classes (``model = nn.Sequential(...)``);
#: inside a class, ``self.net`` is as often an inner block.
_MODEL_NAMES = frozenset({"model", "net", "network"})
#: Output sizes of a model's last layer (``nn.Linear(h, num_classes)``), underscores removed.
_OUTPUT_SIZES = frozenset({
    "numclasses", "nclasses", "nclass", "numclass", "classes", "numlabels", "nlabels",
    "numtags", "ntags", "vocabsize", "ntokens", "ntoken", "numactions", "nactions",
    "numoutputs", "noutputs", "numtargets", "ntargets", "numcategories",
})
_OUT_PARAMETER = {api.ROLE_LINEAR: "out_features", api.ROLE_CONV: "out_channels"}


def _is_output_size(expr: cst.BaseExpression | None) -> bool:
    if expr is None:
        return False
    last = source(expr).rsplit(".", 1)[-1]
    return last.replace("_", "").lower() in _OUTPUT_SIZES


def _out_size(layer: LayerStep) -> cst.BaseExpression | None:
    """The ``out_features``/``out_channels`` argument of a Linear/Conv constructor."""
    if layer.call is None or layer.name is None:
        return None
    if layer.name in api.LAYER_SIGNATURES:
        bound = bind(layer.name, layer.call, api.LAYER_SIGNATURES[layer.name])
        value = bound.value(_OUT_PARAMETER[layer.role])
        return value if isinstance(value, cst.BaseExpression) else None
    return None


class DropoutOnOutput(Rule):
    """
    ## What it does
    Flags dropout as the last operation of a model, right after its output layer: the last
    element of an `nn.Sequential(...)` or the value `forward()` returns, directly after a
    `Linear`/`Conv` that produces the model's outputs (its size is `num_classes`,
    `num_labels`, `vocab_size`, ..., or the layer/Sequential is named `classifier`, `head`,
    `logits`, `lm_head`, ...).

    This is a preview rule: run it with `--preview` or select `DC014`.

    ## Why is this bad?
    Dropout on the outputs zeroes random logits (and scales up the others by `1/(1-p)`) in
    training: the loss is computed on corrupted predictions, and the outputs the model learns to
    produce differ from what it produces in eval. Dropout belongs *before* the output layer.

    Not reported: dropout at the end of an inner block (a Transformer MLP's `fc2 -> dropout`
    before the residual addition is the standard layout) unless the layer is evidently the
    model's output layer.

    ## Example
    ```python
    self.classifier = nn.Sequential(nn.Linear(512, num_classes), nn.Dropout(0.5))
    ```

    ## Use instead
    ```python
    self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(512, num_classes))
    ```

    ## References
    - Srivastava et al., *Dropout: A Simple Way to Prevent Neural Networks from Overfitting*,
      JMLR 2014 (dropout is applied to hidden and input units, not to outputs)
    """

    code = "DC014"
    name = "dropout-on-output"
    message = "Dropout after the output layer corrupts the model's predictions in training"
    preview = True
    requires = ((b"ropout",), (b"inear", b"onv"))

    VALID = [
        "import torch.nn as nn\nhead = nn.Sequential(nn.Dropout(0.5), nn.Linear(512, 10))\n",
        # a Transformer MLP block ends with dropout before the residual addition
        "import torch.nn as nn\nmlp = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64), nn.Dropout(0.1))\n",
        (
            "import torch.nn as nn\n"
            "class Attention(nn.Module):\n"
            "    def __init__(self, dim):\n"
            "        super().__init__()\n"
            "        self.proj = nn.Linear(dim, dim)\n"
            "        self.proj_drop = nn.Dropout(0.1)\n"
            "    def forward(self, x):\n"
            "        return self.proj_drop(self.proj(x))\n"
        ),
    ]
    INVALID = [
        "import torch.nn as nn\nclassifier = nn.Sequential(\n    nn.Linear(512, 10),\n    nn.Dropout(0.5),  # expect: DC014\n)\n",
        (
            "import torch.nn as nn\n"
            "class Net(nn.Module):\n"
            "    def __init__(self, num_classes):\n"
            "        super().__init__()\n"
            "        self.fc1 = nn.Linear(784, 256)\n"
            "        self.fc2 = nn.Linear(256, num_classes)\n"
            "        self.drop = nn.Dropout(0.2)\n"
            "    def forward(self, x):\n"
            "        x = self.drop(self.fc1(x).relu())\n"
            "        return self.drop(self.fc2(x))  # expect: DC014\n"
        ),
    ]

    def finish(self) -> None:
        reported: set[int] = set()
        for flow in self.context.layers.flows:
            for step in flow.outputs:
                if step.role not in _DROPOUTS or step.rate == 0 or id(step.node) in reported:
                    continue
                layer, _ = walk_back(step, _NOTHING)
                if layer is None or layer.role not in _OUTPUT_LAYERS:
                    continue
                if not self._is_output_layer(flow, layer):
                    continue
                reported.add(id(step.node))
                self.report(
                    step.node,
                    f"{step.label} is the last op, right after the output layer "
                    f"{layer.label}: in training it zeroes random outputs and scales up the "
                    f"rest, so the loss sees corrupted predictions that eval never produces; "
                    f"move the dropout before {layer.label}",
                )

    @staticmethod
    def _is_output_layer(flow: LayerFlow, layer: LayerStep) -> bool:
        if _is_output_size(_out_size(layer)):
            return True
        names = {layer.attribute, flow.target if flow.kind == "sequential" else None}
        if any(name is not None and name.lower() in _OUTPUT_NAMES for name in names):
            return True
        return (flow.kind == "sequential" and flow.owner is None and flow.target is not None
                and flow.target.lower() in _MODEL_NAMES)
