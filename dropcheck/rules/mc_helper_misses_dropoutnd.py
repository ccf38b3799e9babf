from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import libcst as cst

from dropcheck.analysis.context import FileContext
from dropcheck.analysis.rates import source
from dropcheck.analysis.torch_api import DROPOUT_MODULES, NN
from dropcheck.analysis.walk import visit_readonly
from dropcheck.rules.base import Rule

#: What ``isinstance(m, nn.Dropout)`` matches: nn.Dropout and its subclasses only.
_DROPOUT = NN + "Dropout"
#: The common base of every dropout layer; naming it matches them all.
_DROPOUT_BASES = frozenset({NN + "_DropoutNd", NN + "modules.dropout._DropoutNd"})
#: Dropout layers that are not ``nn.Dropout`` subclasses (siblings under ``_DropoutNd``).
_SIBLINGS = DROPOUT_MODULES - {_DROPOUT}


@dataclass
class _Helper:
    call: cst.Call
    subject: str
    covered: frozenset[str]


class McHelperMissesDropoutNd(Rule):
    """
    ## What it does
    Flags an MC-dropout helper that re-enables dropout with `isinstance(m, nn.Dropout)` (then
    `m.train()`) in a file whose models build `nn.Dropout1d/2d/3d`, `nn.AlphaDropout` or
    `nn.FeatureAlphaDropout`.

    ## Why is this bad?
    Those layers derive from `nn.modules.dropout._DropoutNd`, not from `nn.Dropout`, so the
    helper leaves them in eval mode: the "Monte Carlo" samples only vary through some of the
    model's dropout, and the uncertainty estimates are too confident.

    ## Example
    ```python
    def enable_mc_dropout(model):
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.train()

    net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.Dropout2d(0.2), ...)
    ```

    ## Use instead
    ```python
    def enable_mc_dropout(model):
        for m in model.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.train()
    ```

    ## References
    - Gal & Ghahramani, *Dropout as a Bayesian Approximation*, ICML 2016 (MC dropout).
    - [torch.nn.Dropout2d](https://pytorch.org/docs/stable/generated/torch.nn.Dropout2d.html)
    """

    code = "DC016"
    name = "mc-helper-misses-dropoutnd"
    message = "isinstance(m, nn.Dropout) misses Dropout1d/2d/3d and AlphaDropout"
    preview = True
    requires = (
        (b"isinstance",),
        (b"Dropout1d", b"Dropout2d", b"Dropout3d", b"AlphaDropout"),
        (b"train",),
    )

    VALID = [
        # the helper names the common base
        "import torch.nn as nn\nnet = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Dropout2d(0.1))\ndef mc(model):\n    for m in model.modules():\n        if isinstance(m, nn.modules.dropout._DropoutNd):\n            m.train()\n",
        # the file builds only nn.Dropout
        "import torch.nn as nn\nnet = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1))\ndef mc(model):\n    for m in model.modules():\n        if isinstance(m, nn.Dropout):\n            m.train()\n",
        # the tuple names every layer the file builds
        "import torch.nn as nn\nnet = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Dropout2d(0.1), nn.Flatten(), nn.Dropout(0.1))\ndef mc(model):\n    for m in model.modules():\n        if isinstance(m, (nn.Dropout, nn.Dropout2d)):\n            m.train()\n",
        # not an MC-dropout helper: it only counts
        "import torch.nn as nn\nnet = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Dropout2d(0.1))\ndef count(model):\n    return sum(1 for m in model.modules() if isinstance(m, nn.Dropout))\n",
    ]
    INVALID = [
        "import torch.nn as nn\nnet = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Dropout2d(0.1))\ndef mc(model):\n    for m in model.modules():\n        if isinstance(m, nn.Dropout):  # expect: DC016\n            m.train()\n",
        "from torch import nn\nclass SNN(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.drop = nn.AlphaDropout(0.05)\ndef enable(model):\n    [m.train() for m in model.modules() if isinstance(m, nn.Dropout)]  # expect: DC016\n",
    ]

    def __init__(
        self, context: FileContext, settings: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(context, settings)
        self._helpers: list[_Helper] = []
        self._built: set[str] = set()

    def visit_Call(self, node: cst.Call) -> None:
        bound = self.context.call(node)  # cached, shared with the other rules
        if bound is not None and bound.qualified_name in _SIBLINGS:
            self._built.add(bound.qualified_name)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        for base in node.bases:  # `class MyDrop(nn.Dropout2d)`: the file uses a Dropout2d
            name = self.context.qualified_name(base.value)
            if name in _SIBLINGS:
                self._built.add(name)

    def visit_If(self, node: cst.If) -> None:
        for check in self._dropout_checks(node.test):
            if _enables(node.body, check.subject):
                self._helpers.append(check)

    def _visit_comprehension(self, elt: cst.BaseExpression, clauses: cst.CompFor) -> None:
        clause: cst.CompFor | None = clauses
        while clause is not None:
            for condition in clause.ifs:
                for check in self._dropout_checks(condition.test):
                    if _enables(elt, check.subject):
                        self._helpers.append(check)
            clause = clause.inner_for_in

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._visit_comprehension(node.elt, node.for_in)

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self._visit_comprehension(node.elt, node.for_in)

    def visit_SetComp(self, node: cst.SetComp) -> None:
        self._visit_comprehension(node.elt, node.for_in)

    def _dropout_checks(self, test: cst.BaseExpression) -> list[_Helper]:
        """``isinstance(x, nn.Dropout)`` (or a tuple naming nn.Dropout) calls in a test."""
        found: list[_Helper] = []
        for call in _isinstance_calls(test):
            if len(call.args) != 2 or any(a.star or a.keyword for a in call.args):
                continue
            classes = call.args[1].value
            elements = (
                [e.value for e in classes.elements]
                if isinstance(classes, (cst.Tuple, cst.List)) else [classes]
            )
            names = {self.context.qualified_name(e) for e in elements}
            if _DROPOUT in names and not names & _DROPOUT_BASES:
                covered = frozenset(n for n in names if n is not None)
                found.append(_Helper(call, source(call.args[0].value), covered))
        return found

    def finish(self) -> None:
        for helper in self._helpers:
            missed = sorted(self._built - helper.covered)
            if not missed:
                continue
            layers = ", ".join("nn." + name.rsplit(".", 1)[-1] for name in missed)
            self.report(
                helper.call,
                f"{source(helper.call)} misses the {layers} layers this file builds: they "
                f"derive from _DropoutNd, not nn.Dropout, so this MC-dropout helper leaves "
                f"them off; use isinstance({helper.subject}, nn.modules.dropout._DropoutNd)",
            )


def _isinstance_calls(test: cst.BaseExpression) -> list[cst.Call]:
    """``isinstance(...)`` calls a test consists of (through ``and``/``or``/parentheses); a
    plain recursion, cheaper than a visitor over every ``if`` test of the file."""
    if isinstance(test, cst.Call):
        func = test.func
        return [test] if isinstance(func, cst.Name) and func.value == "isinstance" else []
    if isinstance(test, cst.BooleanOperation):
        return _isinstance_calls(test.left) + _isinstance_calls(test.right)
    return []


def _enables(body: cst.CSTNode, subject: str) -> bool:
    """Whether ``body`` turns ``subject`` to training mode: ``subject.train()`` /
    ``subject.train(True)`` / ``subject.training = True``."""
    hit = False

    class _Find(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            nonlocal hit
            func = node.func
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value == "train"
                and source(func.value) == subject
                and not (node.args and _is_false(node.args[0].value))
            ):
                hit = True

        def visit_Assign(self, node: cst.Assign) -> None:
            nonlocal hit
            for target in node.targets:
                t = target.target
                if (
                    isinstance(t, cst.Attribute)
                    and t.attr.value == "training"
                    and source(t.value) == subject
                    and not _is_false(node.value)
                ):
                    hit = True

    visit_readonly(body, _Find())
    return hit


def _is_false(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"
