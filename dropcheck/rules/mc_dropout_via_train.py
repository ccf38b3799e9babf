from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from dropcheck.analysis.mode_domain import Forward, TrainCall, code_of
from dropcheck.analysis.scopes import target_names
from dropcheck.analysis.statements import small_statements
from dropcheck.fix.builders import dropout_only_train
from dropcheck.rules.base import Rule


@dataclass(frozen=True)
class McDropoutSite:
    """What an autofix needs: replace ``<model>.train()`` (``call``) by an eval plus enabling
    only the dropout modules."""

    call: cst.Call
    model: cst.BaseExpression
    forwards: tuple[cst.Call, ...]


class McDropoutViaTrain(Rule):
    """
    ## What it does
    Flags `model.train()` used to get stochastic predictions (Monte Carlo dropout): after the
    call the model runs forward under `torch.no_grad()`/`inference_mode()`, or repeatedly with
    the outputs collected (`torch.stack([model(x) for _ in range(T)])`), and no training step
    (`backward()`, `optimizer.step()`) follows before the mode changes again.

    ## Why is this bad?
    `train()` switches on more than dropout: BatchNorm then normalises with the statistics of
    each batch (so a prediction depends on what else is in the batch, and a batch of one
    breaks) and overwrites its running mean/variance with test data, silently changing the
    model for every later evaluation. Other mode-dependent layers (stochastic depth,
    layer-specific `self.training` branches) change too.

    Not reported: ordinary training after `train()` (also when the loss comes from a method of
    the model, `model.loss(...)`, or backward and step run in a callable handed the loss and
    the optimizer, `loss_scaler(loss, optimizer)`, or the model's own call returns the loss it
    back-propagates, `loss = trainer(x, y)`); models without dropout (BatchNorm alone is
    no MC sampling); models known to hold dropout and no BatchNorm or other mode-dependent
    layer (`train()` then switches only dropout, as the fix would); a single forward under
    `no_grad` of a model whose contents dropcheck cannot see (a Gaussian process scores its
    training data in train mode: sampling from one of those takes repeated forwards);
    `.train()` on individual dropout submodules; BatchNorm recalibration loops
    (`torch.optim.swa_utils.update_bn` style) whose forwards' outputs are not collected; test
    code.

    ## Example
    ```python
    model.train()  # enable dropout for MC sampling
    with torch.no_grad():
        samples = torch.stack([model(x) for _ in range(30)])
    ```

    ## Use instead
    ```python
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.train()  # only dropout is stochastic
    with torch.no_grad():
        samples = torch.stack([model(x) for _ in range(30)])
    ```
    or `with dropcheck.runtime.mc_dropout(model): ...`.

    ## Fix safety
    When `model.train()` stands on its own line, the fix turns it into `model.eval()` followed
    by a loop that puts only the dropout modules (`nn.modules.dropout._DropoutNd`, which covers
    `Dropout`, `Dropout1d/2d/3d`, `AlphaDropout`, `FeatureAlphaDropout`) in training mode,
    reusing the file's `torch.nn` alias. It is unsafe: BatchNorm switches to its running
    statistics during sampling and stops being updated by inference data, so the predictions
    change (as intended).

    ## References
    - Gal & Ghahramani, *Dropout as a Bayesian Approximation*, ICML 2016.
    - [torch.nn.Module.train](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.train)
    """

    code = "DC007"
    name = "mc-dropout-via-train"
    message = "model.train() used for stochastic predictions also switches BatchNorm to batch statistics"
    requires = ((b"train",),)

    VALID = [
        # ordinary training
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout())\nopt = torch.optim.SGD(model.parameters(), 0.1)\nmodel.train()\nfor x, y in loader:\n    loss = (model(x) - y).pow(2).mean()\n    opt.zero_grad()\n    loss.backward()\n    opt.step()\n",
        # only the dropout submodules
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(), nn.BatchNorm1d(4))\nmodel.eval()\nfor m in model.modules():\n    if isinstance(m, nn.Dropout):\n        m.train()\nwith torch.no_grad():\n    preds = torch.stack([model(x) for _ in range(20)])\n",
        # BatchNorm recalibration: outputs not collected
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))\nmodel.train()\nwith torch.no_grad():\n    for x in loader:\n        model(x)\nmodel.eval()\n",
    ]
    INVALID = [
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(), nn.BatchNorm1d(4))\nmodel.eval()\nmodel.train()  # expect: DC007\nwith torch.no_grad():\n    preds = torch.stack([model(x) for _ in range(20)])\n",
        "import torch\ndef mc_predict(model, x, samples=30):\n    model.train()  # expect: DC007\n    outputs = []\n    for _ in range(samples):\n        outputs.append(model(x))\n    return torch.stack(outputs).mean(0)\n",
    ]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.sites: list[McDropoutSite] = []

    def finish(self) -> None:
        seen: set[int] = set()
        for result in self.context.modes.results_outside_tests:
            for record in result.train_call_records():
                if id(record.node) in seen or not self._is_mc_dropout(record):
                    continue
                seen.add(id(record.node))
                self._report(record)

    @staticmethod
    def _is_mc_dropout(record: TrainCall) -> bool:
        # a model known to hold dropout and nothing else that depends on the mode (no
        # BatchNorm): train() then switches only dropout, which is what the fix would do
        if record.trained or not any(obj.dependence.stochastic and obj.dependence.statistics
                                     for obj in record.objects):
            return False
        if any(f.inference is None and _assigns_loss(f) for f in record.forwards):
            return False  # `loss = trainer(x, y)`: a model that back-propagates in its call
        # one no-grad forward after train() is sampling only for a model known to hold
        # dropout; for one whose contents are unknown (a Gaussian process, whose train mode
        # scores the training data; a flow) it takes the MC shape: outputs of repeated forwards
        dropout = any(obj.dependence.dropout for obj in record.objects)
        sampling = [f for f in record.forwards if f.collected and (
            f.repeated or (f.inference is not None and dropout))]
        if not sampling:
            return False
        # a plain forward with grad, outside any repetition, is a training-style forward whose
        # loss a caller may back-propagate: not sampling
        return not any(f.inference is None and not f.repeated for f in record.forwards)

    def _report(self, record: TrainCall) -> None:
        module = self.context.module
        func = record.node.func
        target = func.value if isinstance(func, cst.Attribute) else record.node
        model = code_of(module, target)
        forwards: tuple[Forward, ...] = tuple(record.forwards)
        self.sites.append(McDropoutSite(record.node, target, tuple(f.call for f in forwards)))
        known = any(obj.dependence.batch_statistics for obj in record.objects)
        bn = "BatchNorm" if known else "any BatchNorm (or other mode-dependent layer) in it"
        self.report(
            record.node,
            f"`{model}.train()` is used for stochastic (MC-dropout) predictions with no "
            f"training step: it also switches {bn} to batch statistics and overwrites its "
            f"running stats with inference data. Call `{model}.eval()` and re-enable only the "
            f"dropout modules (`isinstance(m, nn.modules.dropout._DropoutNd)`: `m.train()`), "
            f"or use `dropcheck.runtime.mc_dropout({model})`",
            fix=dropout_only_train(self.context, record.node, target),
        )


def _assigns_loss(forward: Forward) -> bool:
    """The forward's output is bound to a loss (``loss = trainer(text, image)``): a training
    forward, whatever steps the model takes inside its call."""
    return any(isinstance(small, cst.Assign) and small.value is forward.call and any(
        "loss" in name.lower() for target in small.targets
        for name in target_names(target.target)) for small in small_statements(
            forward.statement))
