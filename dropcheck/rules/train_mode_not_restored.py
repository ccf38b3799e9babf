from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from dropcheck.analysis.mode_domain import FlowResult, Mode, ModelObject, Step, code_of
from dropcheck.fix.builders import train_at_loop_top, training_loop
from dropcheck.rules.base import Rule


@dataclass(frozen=True)
class NotRestoredSite:
    """What an autofix needs: ``eval`` is the ``.eval()`` call (or the helper call that evals);
    ``model`` the model expression, when known; insert ``<model>.train()`` after
    ``statement``."""

    eval: cst.CSTNode
    model: cst.BaseExpression | None
    statement: cst.BaseStatement | None


class TrainModeNotRestored(Rule):
    """
    ## What it does
    Flags `model.eval()` (directly, or through a helper that does not restore the mode, or
    restores it on one path only: a sample generation that returns early with the model in
    eval mode) inside a training loop, such that the next iteration's training step runs
    without `model.train()` first.

    ## Why is this bad?
    After the first validation pass the model keeps training in eval mode: dropout is off (the
    model overfits as if it had none) and BatchNorm stops updating its statistics. Nothing
    fails; the training curve just looks different from the one in the paper.

    Not reported: `model.train()` at the top of the loop body or right after the validation
    block; helpers that save and restore `model.training`; `eval()` after the loop; models
    without a mode-dependent layer (only Linear, Conv, ReLU, pooling: `eval()` changes
    nothing), also in a training function whose callers in the file all pass such a model;
    test code.

    ## Example
    ```python
    for epoch in range(epochs):
        for x, y in train_loader:
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
        model.eval()
        validate(model, val_loader)
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            ...
        model.eval()
        validate(model, val_loader)
    ```

    ## Fix safety
    The fix inserts `model.train()` as the first statement of the training loop's body (the
    innermost loop around the `eval()` that also contains the training step), at its
    indentation. It is unsafe: the following training steps run with dropout and BatchNorm
    updates on again, which changes the training run's results (as intended).

    ## References
    - [torch.nn.Module.train](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.train)
    """

    code = "DC008"
    name = "train-mode-not-restored"
    message = "model.eval() in a training loop without model.train() before the next step"
    # an eval (`.eval()`, `.train(False)`, or a helper containing one) and a training step
    # (an import: the eval may be in a helper of another project file)
    requires = ((b"eval", b"train", b"import"), (b"backward", b"step"))

    VALID = [
        # train() at the top of the loop body
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout())\nopt = torch.optim.SGD(model.parameters(), 0.1)\nfor epoch in range(3):\n    model.train()\n    for x, y in loader:\n        loss = (model(x) - y).pow(2).mean()\n        loss.backward()\n        opt.step()\n    model.eval()\n    with torch.no_grad():\n        val = model(vx)\n",
        # eval after the loop
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout())\nopt = torch.optim.SGD(model.parameters(), 0.1)\nfor x, y in loader:\n    loss = (model(x) - y).pow(2).mean()\n    loss.backward()\n    opt.step()\nmodel.eval()\n",
        # helper that restores the mode
        "import torch\nimport torch.nn as nn\ndef evaluate(model, data):\n    was_training = model.training\n    model.eval()\n    with torch.no_grad():\n        out = [model(x) for x in data]\n    model.train(was_training)\n    return out\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout())\nopt = torch.optim.SGD(model.parameters(), 0.1)\nfor epoch in range(3):\n    for x, y in loader:\n        loss = (model(x) - y).pow(2).mean()\n        loss.backward()\n        opt.step()\n    evaluate(model, val)\n",
    ]
    INVALID = [
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout())\nopt = torch.optim.SGD(model.parameters(), 0.1)\nmodel.train()\nfor epoch in range(3):\n    for x, y in loader:\n        loss = (model(x) - y).pow(2).mean()\n        loss.backward()\n        opt.step()\n    model.eval()  # expect: DC008\n    with torch.no_grad():\n        val = model(vx)\n",
        "import torch\nimport torch.nn as nn\ndef validate(model, data):\n    model.eval()\n    with torch.no_grad():\n        return [model(x) for x in data]\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout())\nopt = torch.optim.SGD(model.parameters(), 0.1)\nfor step, (x, y) in enumerate(loader):\n    loss = (model(x) - y).pow(2).mean()\n    loss.backward()\n    opt.step()\n    if step % 100 == 0:\n        validate(model, val)  # expect: DC008\n",
    ]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.sites: list[NotRestoredSite] = []

    def finish(self) -> None:
        seen: set[int] = set()
        for result in self.context.modes.results_outside_tests:
            for step in result.steps:
                for obj, facts in step.trained.items():
                    if not obj.mode_dependent:
                        continue  # no dropout or BatchNorm: eval() changes nothing
                    for fact in facts:
                        source = fact.source
                        if (fact.mode is not Mode.EVAL or source is None or id(source) in seen
                                or fact.caller is not None
                                or not self._carried_to_next_iteration(result, step, fact.order)):
                            continue
                        seen.add(id(source))
                        self._report(result, source, obj, fact.via)

    @staticmethod
    def _carried_to_next_iteration(result: FlowResult, step: Step, order: int) -> bool:
        """The eval comes later in a loop body that also contains the step: it reaches the
        step through the loop's back edge."""
        if order <= step.order:
            return False
        eval_loops = result.loop_of.get(order, ())
        return any(loop is step_loop for loop in eval_loops for step_loop in step.loops)

    def _report(self, result: FlowResult, source: cst.CSTNode, obj: ModelObject,
                via: str | None) -> None:
        module = self.context.module
        # a helper call changes several models (`fabric` and `model`): name the reported one
        change = next((c for c in result.changes if c.call is source and obj in c.objects),
                      None)
        model_expr = change.model if change is not None else None
        if model_expr is not None:
            model = code_of(module, model_expr)
        else:
            model = obj.description or code_of(module, obj.site)
        self.sites.append(NotRestoredSite(source, model_expr,
                                          change.statement if change is not None else None))
        # a helper that restores the mode on one path only (an early return, an `else:`)
        some_path = change is not None and change.mode is not Mode.EVAL
        how = (f"`{via}()` calls `.eval()` on `{model}` and "
               f"{'on some path returns without restoring' if some_path else 'does not restore'}"
               " the mode"
               if via is not None else f"`{code_of(module, source)}` switches `{model}` to eval")
        self.report(
            source,
            f"{how} inside the training loop, and the next iteration trains without "
            f"`{model}.train()`: {obj.dependence.eval_consequence(obj.defined)} for the rest "
            f"of training. Call `{model}.train()` after the validation block (or at the top of "
            f"the loop body)",
            fix=train_at_loop_top(self.context, model_expr, training_loop(
                result.steps, change.loops if change is not None else (), obj)),
        )
