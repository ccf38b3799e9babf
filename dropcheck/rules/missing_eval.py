from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from dropcheck.analysis.mode_api import LIGHTNING_EVAL_HOOKS
from dropcheck.analysis.mode_domain import (
    FlowResult,
    Forward,
    code_of,
    describe_source,
    evaluation_forward,
    held,
    innermost_loop,
    must_train,
)
from dropcheck.fix.builders import eval_before_inference
from dropcheck.rules.base import Rule


@dataclass(frozen=True)
class MissingEvalSite:
    """What an autofix needs: insert ``<model>.eval()`` before ``statement`` (or before the
    ``inference`` block that contains it)."""

    call: cst.Call
    model: cst.BaseExpression
    statement: cst.BaseStatement
    inference: cst.CSTNode | None


class MissingEval(Rule):
    """
    ## What it does
    Flags a model run forward for inference while it is still in training mode: inside
    `torch.no_grad()` / `torch.inference_mode()` / `torch.set_grad_enabled(False)`, in a function
    decorated `@torch.no_grad()` / `@torch.inference_mode()`, or in a predict-style script that
    loads trained weights and runs the model with no training step anywhere, without
    `model.eval()` (or `model.train(False)`) first.

    The model is a name or `self.attr` bound to a module built in the same flow (a torch layer,
    an `nn.Module` subclass of the file or of another file of the project, a library class
    dropcheck's table knows, `torch.load(...)`, `Model.from_config(...)`, `Model(config)`,
    torchvision/timm factories), followed flow-sensitively through wrappers (`DDP(m)`,
    `torch.compile(m)`, `.module`, `.to(dev)`) and helpers — of the same file or imported
    from another project file — that call `eval()` or return an evaluated model. A later
    `model.train()` re-arms it. A helper of another file that runs the model it is given under
    no-grad without switching modes (`accuracy(model, val_loader)` from `engine.py`) is
    reported at the call. A loop over evaluation data (`for x, y in test_loader:`) in which
    nothing trains is an evaluation phase even without no-grad (pre-0.4 accuracy helpers, the
    test loop after the training loop of an epoch), and so is a no-grad forward that runs
    only in some iterations after the step
    (`if step % 500 == 0:`). The message says what in the model depends on the mode and where
    its class is defined (`Net (models.py:6): nn.BatchNorm2d, nn.Dropout`); `dropcheck
    --explain-model PATH:LINE` shows everything the analysis knows at a line.

    ## Why is this bad?
    `torch.no_grad()` and `inference_mode()` only switch off autograd; they do not change the
    mode. In training mode dropout keeps zeroing activations and BatchNorm normalises with the
    statistics of the current batch (and updates its running averages), so validation scores
    are noisy and too low, and predictions change from call to call. `requires_grad_(False)`
    freezes weights but does not switch modes either.

    Not reported: `from_pretrained(...)` models (Hugging Face returns them in eval mode), models
    received as parameters unless a caller in the file passes one in training mode (a
    mode-independent module such as a bare `nn.Linear` does not count),
    `torch.jit.load`/`torch.export` results, Lightning's `validation_step`/`test_step`/
    `predict_step` (the Trainer switches modes), `no_grad` blocks without a model forward (EMA
    updates, metrics), models whose class has no mode-dependent layer (no dropout with a rate
    above 0, counting the constants its constructor is called with; no BatchNorm or tracked
    InstanceNorm; an LSTM with the default `dropout=0`; a model loaded whole by `torch.load`
    when every class the program trains, or else imports, is such a model, or, when it names
    none, every model the scripts beside it save whole to that path, or else save at all: a
    `predict.py` loading what `train.py` saved), models whose constructor leaves every
    dropout and BatchNorm in eval mode (an `__init__` ending with `self.eval()`, a
    `vgg16(...).features.eval()` submodule), forwards under `no_grad` of the model
    being trained in the same iteration (pseudo-labels, targets), a `no_grad` pass whose output
    nothing reads before training starts (a step, or `trainer.fit`: lazy-module
    initialisation), forwards whose output is read only for its shape (`out.size()`,
    `model(x).shape`, `len(out)`: a smoke test in a module's `__main__` block), and test code (test files, methods of test classes). A `@torch.no_grad()`
    evaluation helper called in the epoch loop after training (`test(loader)` after `train()`)
    is an evaluation phase: reported. So is a helper that runs the model it is given without a
    `no_grad` of its own, called inside one (`with torch.no_grad(): embed(model, x)`): reported
    at the call, for a helper of another project file only when the model is known to have
    dropout or BatchNorm.

    ## Example
    ```python
    model = Net()
    model.load_state_dict(torch.load("weights.pt"))
    with torch.no_grad():
        predictions = model(images)
    ```

    ## Use instead
    ```python
    model = Net()
    model.load_state_dict(torch.load("weights.pt"))
    model.eval()
    with torch.no_grad():
        predictions = model(images)
    ```

    ## Fix safety
    The fix inserts `model.eval()` on its own line before the inference block (the
    `with torch.no_grad():` statement, or the loop that only runs inference), at that
    statement's indentation; none is offered when the model is created inside the block or
    loop. It is unsafe: it changes what inference computes (which is the point), and code after
    it that expects the model to still be in training mode must call `.train()` again.

    ## References
    - [torch.nn.Module.eval](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval)
    - [Autograd mechanics: locally disabling gradient computation](https://pytorch.org/docs/stable/notes/autograd.html#locally-disabling-gradient-computation)
    """

    code = "DC001"
    name = "missing-eval"
    message = "Model runs forward for inference in training mode: call model.eval() first"
    # An inference context, weights loaded / frozen for a predict-style flow, or a loop over
    # evaluation data (test_loader, val_data, valid_dataset, loaders["valid"]); or an import
    # of a project module whose helper may load the model (`model = restore(path)`): its file
    # loads, freezes or asks for pretrained weights.
    requires = (
        (b"no_grad", b"inference_mode", b"set_grad_enabled", b"load", b"requires_grad",
         b"weights", b"pretrained", b"data", b"Data", b"set", b"Set", b"_ds", b"_dl",
         b"_iter", b"batches", b"samples", b'"val', b"'val", b'"test', b"'test", b'"dev',
         b"'dev", b'"eval', b"'eval"),
    )
    cross_file = (b"load", b"pretrained", b"weights", b"requires_grad")

    VALID = [
        # a mode-independent module (no dropout, no BatchNorm) passed to a no-grad helper, or
        # kept by a predictor class: its mode changes nothing
        "import torch\nimport torch.nn as nn\ndef predict(m, x):\n    with torch.no_grad():\n        return m(x)\npredict(nn.Linear(4, 4), torch.randn(2, 4))\n",
        "import torch\nimport torch.nn as nn\nclass Predictor:\n    def __init__(self):\n        self.m = nn.Linear(4, 4)\n    def run(self, x):\n        with torch.no_grad():\n            return self.m(x)\n",
        # eval before inference
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\nmodel.eval()\nwith torch.no_grad():\n    y = model(x)\n",
        # from_pretrained returns eval mode
        "import torch\nfrom transformers import AutoModel\nmodel = AutoModel.from_pretrained('bert-base-uncased')\nwith torch.no_grad():\n    out = model(**batch)\n",
        # a parameter: the caller decides
        "import torch\n@torch.no_grad()\ndef evaluate(model, loader):\n    return [model(x) for x in loader]\n",
        # TorchScript results
        "import torch\nmodel = torch.jit.load('model.pt')\nwith torch.no_grad():\n    y = model(x)\n",
        # no forward inside no_grad (EMA update)
        "import torch, copy\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout())\nema = copy.deepcopy(model)\nwith torch.no_grad():\n    for e, p in zip(ema.parameters(), model.parameters()):\n        e.mul_(0.99).add_(p, alpha=0.01)\n",
        # a model without mode-dependent layers
        "import torch\nimport torch.nn as nn\nclass MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n    def forward(self, x):\n        return torch.relu(self.fc(x))\nmodel = MLP()\nwith torch.no_grad():\n    y = model(x)\n",
        # chained eval and train(False)
        "import torch\nimport torch.nn as nn\nmodel = nn.Dropout().to('cpu').eval()\nwith torch.no_grad():\n    y = model(x)\nnet = nn.Dropout()\nnet.train(mode=False)\nwith torch.inference_mode():\n    z = net(x)\n",
    ]
    INVALID = [
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\nmodel.load_state_dict(torch.load('w.pt'))\nwith torch.no_grad():\n    y = model(x)  # expect: DC001\n",
        # eval, then train again, then inference
        "import torch\nimport torch.nn as nn\nmodel = nn.Dropout()\nmodel.eval()\nmodel.train()\nloss = model(x).sum()\nloss.backward()\nwith torch.no_grad():\n    y = model(x)  # expect: DC001\n",
        # inference_mode decorator on a freshly built model
        "import torch\nimport torch.nn as nn\n@torch.inference_mode\ndef predict(x):\n    model = nn.LSTM(8, 8, num_layers=2, dropout=0.1)\n    model.load_state_dict(torch.load('w.pt'))\n    return model(x)  # expect: DC001\n",
        # requires_grad_(False) is not eval
        "import torch\nimport torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))\nmodel.requires_grad_(False)\npreds = model(x)  # expect: DC001\n",
    ]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        #: One entry per finding, for the autofix.
        self.sites: list[MissingEvalSite] = []

    def finish(self) -> None:
        seen: set[int] = set()
        modes = self.context.modes
        for result in modes.results_outside_tests:
            unit = result.unit
            if isinstance(unit, cst.FunctionDef):
                if unit.name.value in LIGHTNING_EVAL_HOOKS:
                    continue  # the Lightning Trainer calls model.eval() around these
                owner = modes.owner_class(unit)
                if (unit.name.value == "__init__" and owner is not None
                        and self.context.classes.is_module(owner)):
                    continue  # a dummy forward in __init__ to infer shapes
            for forward in result.forwards:
                if id(forward.call) in seen or not self._reportable(forward, result):
                    continue
                seen.add(id(forward.call))
                self._report(forward, result)

    def _reportable(self, forward: Forward, result: FlowResult) -> bool:
        if not must_train(forward.facts):
            return False
        if any(f.train_call is not None and not f.train_call.trained for f in forward.facts):
            return False  # an explicit train() for inference: MC dropout (DC007) or BN recal
        if not any(obj.mode_dependent for obj in forward.objects):
            return False
        evaluation_loop = forward.inference is None and not (forward.loaded or forward.frozen)
        if (forward.via is not None or evaluation_loop) and not any(
                obj.dependence.dropout or obj.dependence.batch_statistics
                for obj in forward.objects):
            # seen only through a helper of another file, or an evaluation loop without
            # no_grad: reported only for a model known to have dropout or BatchNorm
            return False
        if forward.inference is not None and self.context.modes.output_unused(result, forward):
            return False  # a no-grad pass that initialises lazy modules before training
        if self.context.modes.output_shape_only(result, forward):
            return False  # a shape check: the values the mode makes noisy are never read
        if not evaluation_forward(forward, result) and (
                result.has_training or not (forward.loaded or forward.frozen)):
            # not predict-style (trained weights loaded or frozen, and nothing trains here)
            return False
        # the model being trained, run under no_grad in the same iteration (pseudo-labels,
        # targets, train-accuracy): a training-time forward, not inference — unless it runs
        # only in some iterations after the step (`if step % 500 == 0:` evaluation)
        if forward.frame is not None:
            for step in result.steps:
                if (innermost_loop(step.loops) is forward.frame.node
                        and forward.objects & step.trained.keys()
                        and not (forward.conditional and step.order < forward.order)):
                    return False
        return True

    def _report(self, forward: Forward, result: FlowResult) -> None:
        module = self.context.module
        model = code_of(module, forward.model)
        inference = forward.inference
        if forward.via is not None and forward.runner is None:
            # a helper of another file runs it under no_grad: fixed here, before the call
            where = f"in {forward.via}, which disables grad (that does not switch modes)"
            inference = None
        elif forward.inference is None and forward.eval_loop is not None and (
                evaluation_forward(forward, result)):
            loader = " ".join(module.code_for_node(forward.eval_loop.iter).split())
            steps = "a flow" if not result.has_training else "a loop"
            where = (f"over `{loader[:40]}` in {steps} with no training step (an evaluation "
                     "phase, even without no_grad)")
        elif forward.inference is None:
            where = "after its trained weights are loaded, in a flow with no training step"
            if forward.frozen:
                where = ("after its weights are frozen (`requires_grad` off freezes weights "
                         "but does not switch modes)")
        elif isinstance(forward.inference, cst.FunctionDef):
            where = (f"in `{forward.inference.name.value}()`, decorated to disable grad "
                     "(which does not switch modes)")
        elif isinstance(forward.inference, cst.With):
            where = "inside a no-grad block (which does not switch modes)"
        else:
            where = "after `torch.set_grad_enabled(False)` (which does not switch modes)"
        if forward.runner is not None:
            where = f"through {forward.runner} {where}"
        why = describe_source(module, forward.facts)
        caller = next((f.caller for f in forward.facts if f.caller is not None), None)
        if caller is not None:
            why = f"a caller passes it in training mode: `{code_of(module, caller)}`"
        self.sites.append(MissingEvalSite(forward.call, forward.model, forward.statement,
                                          inference))
        self.report(
            forward.call,
            f"`{model}` is still in training mode ({why}) but runs for inference {where}: "
            f"{_consequence(forward)}, so outputs are noisy and wrong. Call `{model}.eval()` "
            f"before inference (and `.train()` before training resumes)",
            fix=eval_before_inference(self.context, forward.model, forward.statement,
                                      inference),
        )


def _consequence(forward: Forward) -> str:
    """What training mode does to the model, from what its class is known to contain."""
    dependence, defined = held(forward.objects)
    return dependence.consequence(defined)
