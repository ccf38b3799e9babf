"""Whether code depends on the train/eval mode.

Three facts, asked by the functional-dropout rules:

- :func:`mentions_mode_flag`: an expression mentions ``self.training`` (or any ``x.training``) or
  a mode flag such as ``training`` / ``is_training`` / ``deterministic``.
- :class:`ModeGuards`: the calls of a function that only run in one mode, because an ``if`` /
  conditional expression / ``and`` tests a mode flag around them, or an earlier
  ``if not self.training: return ...`` leaves the function in the other mode.
- :class:`ValueOrigins`: whether a value can change with the mode or is chosen by the caller
  (a parameter of the enclosing function, a local assigned from one, an attribute some method
  other than ``__init__`` assigns): then the code that computes it decides, not the call.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from dropcheck.analysis.attributes import InstanceAttributes
from dropcheck.analysis.constants import ConstantEvaluator
from dropcheck.analysis.scopes import Scope
from dropcheck.analysis.walk import visit_readonly

#: Identifiers (names or attribute names) that are mode flags, besides anything containing
#: "training" (``training``, ``self.training``, ``is_training``, ``training_mode``).
_MODE_FLAGS = frozenset(
    {"train", "is_train", "train_mode", "deterministic", "inference", "is_inference",
     "eval_mode", "evaluation", "is_eval"}
)
_MAX_DEPTH = 16
#: Methods the frameworks call in training mode only.
TRAINING_ONLY_METHODS = frozenset({"training_step"})


def is_mode_flag(identifier: str) -> bool:
    lowered = identifier.lower()
    return "training" in lowered or lowered in _MODE_FLAGS


class _FlagFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Name(self, node: cst.Name) -> bool:
        if is_mode_flag(node.value):
            self.found = True
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if is_mode_flag(node.attr.value):
            self.found = True
            return False
        return not self.found


def mentions_mode_flag(expr: cst.CSTNode) -> bool:
    """Whether ``expr`` mentions ``self.training``, ``module.training``, ``training``, ..."""
    finder = _FlagFinder()
    visit_readonly(expr, finder)
    return finder.found


def _exits(block: cst.BaseSuite) -> bool:
    """Whether the block always leaves (its last statement returns, raises, breaks, ...)."""
    if isinstance(block, cst.SimpleStatementSuite):
        last_small = block.body[-1] if block.body else None
    elif isinstance(block, cst.IndentedBlock) and block.body:
        last = block.body[-1]
        last_small = last.body[-1] if isinstance(last, cst.SimpleStatementLine) else None
    else:
        last_small = None
    return isinstance(last_small, (cst.Return, cst.Raise, cst.Continue, cst.Break))


class _GuardCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.depth = 0
        self.guarded: set[int] = set()

    def visit_Call(self, node: cst.Call) -> None:
        if self.depth:
            self.guarded.add(id(node))

    def _guarded_visit(self, *nodes: cst.CSTNode | None) -> None:
        self.depth += 1
        for node in nodes:
            if node is not None:
                visit_readonly(node, self)
        self.depth -= 1

    def visit_If(self, node: cst.If) -> bool:
        if not mentions_mode_flag(node.test):
            return True
        visit_readonly(node.test, self)
        self._guarded_visit(node.body, node.orelse)
        return False

    def visit_While(self, node: cst.While) -> bool:
        if not mentions_mode_flag(node.test):
            return True
        visit_readonly(node.test, self)
        self._guarded_visit(node.body, node.orelse)
        return False

    def visit_IfExp(self, node: cst.IfExp) -> bool:
        if not mentions_mode_flag(node.test):
            return True
        visit_readonly(node.test, self)
        self._guarded_visit(node.body, node.orelse)
        return False

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> bool:
        # `self.training and F.dropout(x)`: the right side runs in one mode only
        if not mentions_mode_flag(node.left):
            return True
        visit_readonly(node.left, self)
        self._guarded_visit(node.right)
        return False

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> bool:
        # After `if not self.training: return x`, the rest of the block runs in one mode only.
        raised = 0
        for stmt in node.body:
            visit_readonly(stmt, self)
            if (
                isinstance(stmt, cst.If)
                and mentions_mode_flag(stmt.test)
                and (_exits(stmt.body) or (isinstance(stmt.orelse, cst.Else)
                                           and _exits(stmt.orelse.body)))
            ):
                self.depth += 1
                raised += 1
        self.depth -= raised
        return False


class ModeGuards:
    """The calls inside one function (nested functions included) that run in one mode only."""

    def __init__(self, function: cst.FunctionDef) -> None:
        collector = _GuardCollector()
        visit_readonly(function.body, collector)
        self._guarded = collector.guarded

    def guarded(self, call: cst.Call) -> bool:
        return id(call) in self._guarded


class _Names(cst.CSTVisitor):
    """Free names and ``self.X`` attributes an expression reads."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.self_attributes: list[str] = []

    def visit_Name(self, node: cst.Name) -> None:
        self.names.append(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if isinstance(node.value, cst.Name) and node.value.value == "self":
            self.self_attributes.append(node.attr.value)
            return False
        visit_readonly(node.value, self)  # `a.b.c`: only the base name is read
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


class ValueOrigins:
    """Where a value comes from, as far as the mode and the caller are concerned."""

    def __init__(self, constants: ConstantEvaluator, attributes: InstanceAttributes) -> None:
        self._constants = constants
        self._attributes = attributes

    def mode_or_caller_dependent(
        self, expr: cst.BaseExpression, scopes: Sequence[Scope], cls: cst.ClassDef | None
    ) -> bool:
        """Whether ``expr`` mentions a mode flag, or reads a value the caller chooses (a
        parameter, a local assigned from one, several times, or by a loop) or that can change
        after construction (``self.X`` assigned outside ``__init__``, a property).

        ``cls`` is the class whose ``self`` the expression reads (None outside a class).
        """
        return self._dependent(expr, tuple(scopes), cls, 0)

    def _dependent(
        self, expr: cst.BaseExpression, scopes: tuple[Scope, ...], cls: cst.ClassDef | None,
        depth: int,
    ) -> bool:
        if depth > _MAX_DEPTH or mentions_mode_flag(expr):
            return True
        reads = _Names()
        visit_readonly(expr, reads)
        for name in reads.names:
            if name not in ("self", "cls") and self._name_dependent(name, scopes, cls, depth):
                return True
        for attr in reads.self_attributes:
            if cls is None or self._attribute_dependent(cls, attr):
                return True
        return False

    def _name_dependent(
        self, name: str, scopes: tuple[Scope, ...], cls: cst.ClassDef | None, depth: int
    ) -> bool:
        innermost = len(scopes) - 1
        for index in range(innermost, -1, -1):
            scope = scopes[index]
            if isinstance(scope, cst.ClassDef) and index != innermost:
                continue
            if isinstance(scope, cst.Module):
                return False  # a global: the module decides, not the caller or the mode
            bindings = self._constants.bindings(scope)
            if not bindings.binds(name):
                continue
            if name in bindings.declared_global:
                return False
            if any(isinstance(node, cst.Param) for node in bindings.bindings[name]):
                return True
            value = bindings.single_assignment(name)
            if value is None:
                return True  # assigned several times, in a loop, a with...: cannot tell
            return self._dependent(value, scopes[: index + 1], cls, depth + 1)
        return False

    def _attribute_dependent(self, cls: cst.ClassDef, attr: str) -> bool:
        if self._attributes.is_property(cls, attr):
            return True  # computed on each access: it may read self.training
        # `self.p = p` in __init__ is fixed at construction (the constructor's caller chose it
        # once); an assignment in any other method can follow the mode. An attribute no class
        # of the file assigns (inherited from another file) is taken as fixed.
        return any(
            not assignment.fixed or assignment.value is None
            or mentions_mode_flag(assignment.value)
            for assignment in self._attributes.assignments(cls, attr)
        )
