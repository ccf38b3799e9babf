from __future__ import annotations

import libcst as cst

from dropcheck.analysis.mode_domain import Export, code_of, describe_source, held, must_train
from dropcheck.rules.base import Rule


class ExportInTrainMode(Rule):
    """
    ## What it does
    Flags `torch.jit.trace`, `torch.onnx.export` and `torch.export.export` of a model that is
    still in training mode (no `model.eval()` on the path since it was built or loaded; same
    model/mode tracking as `missing-eval`).

    ## Why is this bad?
    Tracing and export record the operations that run *now*: in training mode dropout is
    recorded as a random op and BatchNorm as batch-statistics normalisation, and calling
    `.eval()` on the result afterwards does not remove them (exported programs even refuse
    `.eval()`). The deployed model is stochastic and worse than the one you validated. Since
    torch 2.9 `torch.onnx.export` uses the dynamo exporter, which exports the current mode too.

    Not reported: models that were evaluated first, `from_pretrained(...)` models, parameters,
    models without mode-dependent layers, `torch.onnx.export(..., dynamo=False)` (the legacy
    exporter switches to eval itself) or an explicit `training=` argument, and exports after an
    explicit `model.train()` (deliberately exporting the training graph).

    ## Example
    ```python
    model = Net()
    model.load_state_dict(torch.load("weights.pt"))
    traced = torch.jit.trace(model, example)
    ```

    ## Use instead
    ```python
    model = Net()
    model.load_state_dict(torch.load("weights.pt"))
    model.eval()
    traced = torch.jit.trace(model, example)
    ```

    ## References
    - [torch.jit.trace](https://pytorch.org/docs/stable/generated/torch.jit.trace.html)
    - [torch.export](https://pytorch.org/docs/stable/export.html)
    - [torch.onnx.export](https://pytorch.org/docs/stable/onnx_export.html)
    """

    code = "DC013"
    name = "export-in-train-mode"
    message = "Model exported in training mode: dropout and batch statistics are baked in"
    requires = ((b"trace", b"onnx", b"export"),)

    VALID = [
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout())\nmodel.eval()\ntraced = torch.jit.trace(model, torch.randn(1, 4))\n",
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout())\ntorch.onnx.export(model, (torch.randn(1, 4),), 'm.onnx', dynamo=False)\n",
        "import torch\ndef export(model, example):\n    return torch.export.export(model, (example,))\n",
        "import torch\nimport torch.nn as nn\nmodel = nn.Linear(4, 4)\ntraced = torch.jit.trace(model, torch.randn(1, 4))\n",
    ]
    INVALID = [
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout())\nmodel.load_state_dict(torch.load('w.pt'))\ntraced = torch.jit.trace(model, torch.randn(1, 4))  # expect: DC013\n",
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))\nep = torch.export.export(model, (torch.randn(2, 4),))  # expect: DC013\n",
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout())\ntorch.onnx.export(model, (torch.randn(1, 4),), 'm.onnx')  # expect: DC013\n",
    ]

    def finish(self) -> None:
        seen: set[int] = set()
        for result in self.context.modes.results_outside_tests:
            for export in result.exports:
                if id(export.call) in seen or not self._reportable(export):
                    continue
                seen.add(id(export.call))
                self._report(export)

    @staticmethod
    def _reportable(export: Export) -> bool:
        if not must_train(export.facts) or not any(o.mode_dependent for o in export.objects):
            return False
        if any(f.train_call is not None for f in export.facts):
            return False  # an explicit train() right before: exporting the training graph
        if export.callee == "torch.onnx.export":
            for arg in export.call.args:
                keyword = arg.keyword.value if arg.keyword is not None else None
                if keyword == "training" or arg.star:
                    return False
                if keyword == "dynamo" and not (
                        isinstance(arg.value, cst.Name) and arg.value.value == "True"):
                    return False  # the legacy exporter evaluates the model itself
        return True

    def _report(self, export: Export) -> None:
        module = self.context.module
        model = code_of(module, export.model)
        why = describe_source(module, export.facts)
        self.report(
            export.call,
            f"`{export.callee}` records `{model}` in training mode ({why}): "
            f"{_in_graph(export)}; `.eval()` on the result does not undo it. Call "
            f"`{model}.eval()` before exporting",
        )


def _in_graph(export: Export) -> str:
    """What the exported graph keeps, from what the model's class is known to contain."""
    dependence, defined = held(export.objects)
    parts = []
    if dependence.dropout:
        parts.append("dropout is baked into the exported graph as a random op")
    if dependence.batch_statistics:
        parts.append("BatchNorm uses batch statistics")
    if not parts:
        parts.append("any dropout is baked into the exported graph as a random op, and any "
                     "BatchNorm uses batch statistics")
    return " and ".join(parts) + dependence.where(defined)
