"""One function per fixable rule: the fix for a finding, or None when the right change is not
clear. Rules call these from their ``report(..., fix=...)``; the logic lives here so that rule
modules stay about finding problems."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import libcst as cst

from dropcheck.analysis.context import FileContext
from dropcheck.analysis.imports import dotted_name
from dropcheck.analysis.layers import LayerStep
from dropcheck.analysis.statements import block_statements, child_blocks, walk_statements
from dropcheck.analysis.torch_api import NN, SIGNATURES, F
from dropcheck.findings import Applicability
from dropcheck.fix.changes import InsertAfter, InsertBefore, NodeFix, Replace
from dropcheck.fix.helpers import (
    add_keyword_argument,
    contains,
    file_facts,
    insert_at_top_of_body,
    keyword_for_positional,
    reference,
    rename_callee,
    self_attribute_uses,
)


def dropout_true_to_inplace(context: FileContext, call: cst.Call) -> NodeFix | None:
    """DC006: ``nn.Dropout(True)`` -> ``nn.Dropout(inplace=True)``.

    Unsafe: the rate goes from 1.0 to the default 0.5 and the layer starts working in place;
    both are what the author almost certainly meant, but the trained behaviour changes."""
    bound = context.call(call)
    if bound is None or not bound.qualified_name.startswith(NN):
        return None
    if "inplace" not in SIGNATURES.get(bound.qualified_name, ()):
        return None
    arg = bound.argument("p")
    if not isinstance(arg, cst.Arg) or not (
        isinstance(arg.value, cst.Name) and arg.value.value == "True"
    ):
        return None
    if bound.argument("inplace") is not None:
        return None  # inplace is passed too: what was meant is not clear
    return NodeFix(
        "unsafe", "Pass `inplace=True` instead of the rate `True`",
        (keyword_for_positional(arg, "inplace"),),
    )


#: Element-wise dropout -> its channel-wise counterpart for an N-d feature map.
_CHANNEL_DROPOUT = {
    NN + "Dropout": NN + "Dropout{dims}d",
    F + "dropout": F + "dropout{dims}d",
    NN + "AlphaDropout": NN + "FeatureAlphaDropout",
    F + "alpha_dropout": F + "feature_alpha_dropout",
}


def channel_dropout(context: FileContext, step: LayerStep, dims: int) -> NodeFix | None:
    """DC003: ``nn.Dropout`` -> ``nn.Dropout{N}d`` matching the conv, ``F.dropout`` ->
    ``F.dropout{N}d`` (alpha dropout -> feature alpha dropout); arguments kept.

    Unsafe: dropping whole channels regularizes much more strongly at the same ``p``, so the
    rate usually needs re-tuning. Offered only where the dropout call is used in this one
    place: an ``nn.Sequential`` element, a functional call, or an ``__init__`` attribute that
    nothing else uses."""
    call = step.call
    if call is None or step.name not in _CHANNEL_DROPOUT or not 1 <= dims <= 3:
        return None
    if context.callee(call) != step.name:
        return None
    if not contains(step.node, call) and not (
        step.attribute is not None and self_attribute_uses(context.module, step.attribute) == 2
    ):
        return None  # the module may also run elsewhere, on other shapes
    changes = rename_callee(context, call, _CHANNEL_DROPOUT[step.name].format(dims=dims))
    if changes is None:
        return None
    new = _CHANNEL_DROPOUT[step.name].format(dims=dims).rpartition(".")[2]
    return NodeFix("unsafe", f"Use `{new}` (drops whole channels)", changes)


def _self_available(context: FileContext) -> bool:
    """Whether ``self`` names the module instance where the visited node is: inside a method
    (not a static/class method) whose first parameter is ``self``, nothing in between
    rebinding it."""
    scopes = context.scopes
    for index in range(len(scopes) - 1, 0, -1):
        scope = scopes[index]
        if not isinstance(scope, cst.FunctionDef):
            return False
        params = [*scope.params.posonly_params, *scope.params.params]
        names = {p.name.value for p in [*params, *scope.params.kwonly_params]}
        if isinstance(scopes[index - 1], cst.ClassDef):
            decorators = {dotted_name(d.decorator) for d in scope.decorators}
            return (bool(params) and params[0].name.value == "self"
                    and not decorators & {"staticmethod", "classmethod"})
        if "self" in names:
            return False  # a nested function with its own `self`
    return False


def training_flag(context: FileContext, call: cst.Call, applicability: Applicability,
                  why: str) -> NodeFix | None:
    """DC005 / DC012: add ``training=self.training`` to a functional dropout call in a
    module method, so that ``model.eval()``/``model.train()`` decide."""
    if not _self_available(context):
        return None
    change = add_keyword_argument(call, "training", "self.training")
    if change is None:
        return None
    return NodeFix(applicability, f"Pass `training=self.training` ({why})", (change,))


def eval_before_inference(context: FileContext, model: cst.BaseExpression,
                          statement: cst.BaseStatement,
                          inference: cst.CSTNode | None) -> NodeFix | None:
    """DC001: insert ``<model>.eval()`` before the inference block (the ``with
    torch.no_grad():`` statement), or before the statement that runs the model.

    Unsafe: it changes what inference computes (dropout off, BatchNorm running statistics),
    which is the point, but code after it may rely on the model staying in training mode."""
    name = _plain_expression(context, model)
    if name is None:
        return None
    anchor: cst.BaseStatement = statement
    if isinstance(inference, cst.With) and not _binds_inside(inference, name):
        anchor = inference
    # Out of the loops around it that only run inference: once before the loop, not per item.
    for parent in reversed(_ancestors(context.module, anchor) or []):
        if not isinstance(parent, (cst.For, cst.While)) or _binds_inside(parent, name) or (
                _trains_or_switches(parent)):
            break
        anchor = parent
    return NodeFix("unsafe", f"Call `{name}.eval()` before inference",
                   (InsertBefore(anchor, (f"{name}.eval()",)),))


def train_at_loop_top(context: FileContext, model: cst.BaseExpression | None,
                      loop: cst.CSTNode | None) -> NodeFix | None:
    """DC008: insert ``<model>.train()`` as the first statement of the training loop's body.

    Unsafe: the loop's training steps then run in training mode again (dropout on, BatchNorm
    updating), which changes the training run's results."""
    if model is None or not isinstance(loop, (cst.For, cst.While)):
        return None
    name = _plain_expression(context, model)
    if name is None:
        return None
    if _binds_inside(loop.body, name):
        return None  # the model is (re)created in the loop: not there at the top
    change = insert_at_top_of_body(loop, f"{name}.train()")
    if change is None:
        return None
    return NodeFix("unsafe", f"Call `{name}.train()` at the top of the training loop", (change,))


def training_loop(steps: Sequence[Any], eval_loops: Sequence[cst.CSTNode],
                  trained: object) -> cst.CSTNode | None:
    """The innermost loop around the eval that also contains a training step of ``trained``
    (the loop whose next iteration trains in eval mode)."""
    for loop in reversed(eval_loops):
        if any(trained in step.trained and any(loop is other for other in step.loops)
               for step in steps):
            return loop
    return None


def dropout_only_train(context: FileContext, call: cst.Call,
                       model: cst.BaseExpression) -> NodeFix | None:
    """DC007: ``model.train()`` -> ``model.eval()`` followed by a loop that puts only the
    dropout modules (``nn.modules.dropout._DropoutNd``) in training mode.

    Unsafe: BatchNorm now uses its running statistics during sampling instead of batch
    statistics, which changes the predictions (as intended)."""
    name = _plain_expression(context, model)
    statement = _expression_statement(context.module, call)
    if name is None or statement is None:
        return None
    found = reference(context, "torch.nn.modules.dropout._DropoutNd")
    if found is None:
        return None
    dropout_class, imports = found
    variable = _fresh_name(context.module, ("submodule", "dropout_module", "layer_"))
    if variable is None:
        return None
    loop = (f"for {variable} in {name}.modules():\n"
            f"    if isinstance({variable}, {context.module.code_for_node(dropout_class)}):\n"
            f"        {variable}.train()\n")
    return NodeFix(
        "unsafe", "Call `eval()` and put only the dropout modules in training mode",
        (Replace(call, f"{name}.eval()"), InsertAfter(statement, (loop,)), *imports),
    )


def _plain_expression(context: FileContext, expr: cst.BaseExpression) -> str | None:
    """The code of a model expression that can be repeated safely: a name or attribute chain
    (``model``, ``self.teacher``), never a call."""
    if dotted_name(expr) is None:
        return None
    return context.module.code_for_node(expr)


def _binds_inside(block: cst.CSTNode, dotted: str) -> bool:
    """Whether the block binds the model expression or its root name (assignment, ``for``
    target, ``with ... as``, walrus): then the model may not exist before the block, or be
    another object there."""
    root = dotted.split(".")[0]

    class Finder(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.found = False

        def _target(self, node: cst.BaseExpression) -> None:
            if isinstance(node, (cst.Tuple, cst.List)):
                for element in node.elements:
                    self._target(element.value)
            elif isinstance(node, cst.StarredElement):
                self._target(node.value)
            elif dotted_name(node) in (root, dotted):
                self.found = True

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            self._target(node.target)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            self._target(node.target)

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            self._target(node.target)

        def visit_For(self, node: cst.For) -> None:
            self._target(node.target)

        def visit_CompFor(self, node: cst.CompFor) -> None:
            self._target(node.target)

        def visit_AsName(self, node: cst.AsName) -> None:
            if isinstance(node.name, cst.BaseExpression):
                self._target(node.name)

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            self._target(node.target)

    finder = Finder()
    block.visit(finder)
    return finder.found


def _ancestors(module: cst.Module, target: cst.BaseStatement) -> list[cst.BaseStatement] | None:
    """The compound statements around ``target``, outermost first (None if not found)."""

    def search(block: cst.Module | cst.BaseSuite) -> list[cst.BaseStatement] | None:
        if isinstance(block, cst.SimpleStatementSuite):
            return None
        for statement in block_statements(block):
            if statement is target:
                return []
            for child in child_blocks(statement):
                found = search(child)
                if found is not None:
                    return [statement, *found]
        return None

    return search(module)


#: Calls that train or switch modes: a loop containing one is not inference-only.
_TRAINING_CALLS = frozenset({"backward", "step", "zero_grad", "train", "eval", "fit",
                             "training_step", "requires_grad_"})


def _trains_or_switches(node: cst.CSTNode) -> bool:
    class Finder(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.found = False

        def visit_Call(self, call: cst.Call) -> None:
            func = call.func
            name = func.attr.value if isinstance(func, cst.Attribute) else (
                func.value if isinstance(func, cst.Name) else "")
            if name in _TRAINING_CALLS or "train" in name.lower():
                self.found = True

    finder = Finder()
    node.visit(finder)
    return finder.found


def _expression_statement(module: cst.Module, call: cst.Call) -> cst.SimpleStatementLine | None:
    """The statement line that is exactly ``call`` (``model.train()`` on its own line)."""
    for statement in walk_statements(module):
        if (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                and isinstance(statement.body[0], cst.Expr) and statement.body[0].value is call):
            return statement
    return None


def _fresh_name(module: cst.Module, candidates: tuple[str, ...]) -> str | None:
    """A name that appears nowhere in the file (so the fix shadows nothing)."""
    names = file_facts(module).names
    return next((c for c in candidates if c not in names), None)
