"""Constant evaluation of rates: literals, unary minus, simple arithmetic, and names that a
function, class or module assigns exactly once. Anything else is unknown (None), and rules never
report unknown values."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

import libcst as cst

from dropcheck.analysis.scopes import Scope, ScopeBindings
from dropcheck.analysis.walk import visit_readonly

Number = int | float  # bool is an int

_BINARY: dict[type[cst.BaseBinaryOp], Callable[[Number, Number], Number]] = {
    cst.Add: operator.add,
    cst.Subtract: operator.sub,
    cst.Multiply: operator.mul,
    cst.Divide: operator.truediv,
    cst.FloorDivide: operator.floordiv,
    cst.Modulo: operator.mod,
    cst.Power: operator.pow,
}
_MAX_DEPTH = 32


class ConstantEvaluator:
    def __init__(self, module: cst.Module) -> None:
        self._module = module
        self._bindings: dict[int, ScopeBindings] = {}
        self._global_rebinds: set[str] | None = None

    def bindings(self, scope: Scope) -> ScopeBindings:
        key = id(scope)
        found = self._bindings.get(key)
        if found is None:
            found = self._bindings[key] = ScopeBindings(scope)
        return found

    def evaluate(self, expr: cst.BaseExpression, scopes: Sequence[Scope]) -> Number | None:
        """The value of ``expr`` as seen from the innermost of ``scopes`` (outermost first)."""
        try:
            return self._eval(expr, tuple(scopes), 0)
        except (ArithmeticError, ValueError, TypeError, OverflowError):
            return None

    def _eval(
        self, expr: cst.BaseExpression, scopes: tuple[Scope, ...], depth: int
    ) -> Number | None:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, (cst.Integer, cst.Float)):
            value = expr.evaluated_value
            return value if isinstance(value, (int, float)) else None
        if isinstance(expr, cst.UnaryOperation):
            operand = self._eval(expr.expression, scopes, depth + 1)
            if operand is None:
                return None
            if isinstance(expr.operator, cst.Minus):
                return -operand
            if isinstance(expr.operator, cst.Plus):
                return +operand
            return None
        if isinstance(expr, cst.BinaryOperation):
            op = _BINARY.get(type(expr.operator))
            if op is None:
                return None
            left = self._eval(expr.left, scopes, depth + 1)
            right = self._eval(expr.right, scopes, depth + 1)
            if left is None or right is None:
                return None
            if op is operator.pow and abs(right) > 64:
                return None
            return op(left, right)
        if isinstance(expr, cst.Name):
            if expr.value in ("True", "False"):
                return expr.value == "True"
            return self._lookup_name(expr.value, scopes, depth)
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            return self._lookup_attribute(expr.value.value, expr.attr.value, scopes, depth)
        return None

    def _lookup_name(self, name: str, scopes: tuple[Scope, ...], depth: int) -> Number | None:
        # Python's rule: the enclosing function scopes, then the module (class bodies are
        # visible only to code directly in them).
        innermost = len(scopes) - 1
        for index in range(innermost, -1, -1):
            scope = scopes[index]
            if isinstance(scope, cst.ClassDef) and index != innermost:
                continue
            bindings = self.bindings(scope)
            if name in bindings.declared_global:
                return self._lookup_name(name, scopes[:1], depth + 1) if scopes else None
            if bindings.binds(name):
                value = bindings.single_assignment(name)
                if value is None or not self._module_constant(name, scope):
                    return None
                return self._eval(value, scopes[: index + 1], depth + 1)
        return None

    def _module_constant(self, name: str, scope: Scope) -> bool:
        """A module name assigned once can still be rebound by a function's ``global``."""
        if not isinstance(scope, cst.Module):
            return True
        if self._global_rebinds is None:
            self._global_rebinds = set()
            for node in _functions(scope):
                bindings = self.bindings(node)
                self._global_rebinds.update(
                    n for n in bindings.declared_global if bindings.binds(n)
                )
        return name not in self._global_rebinds

    def _lookup_attribute(
        self, owner: str, attr: str, scopes: tuple[Scope, ...], depth: int
    ) -> Number | None:
        """``self.RATE`` / ``cls.RATE`` in a method, or ``ClassName.RATE``: a class constant."""
        cls: cst.ClassDef | None = None
        if owner in ("self", "cls"):
            for scope in reversed(scopes):
                if isinstance(scope, cst.ClassDef):
                    cls = scope
                    break
        else:
            for scope in scopes:
                for stmt in getattr(scope, "body", ()) if isinstance(scope, cst.Module) else ():
                    if isinstance(stmt, cst.ClassDef) and stmt.name.value == owner:
                        cls = stmt
        if cls is None:
            return None
        bindings = self.bindings(cls)
        value = bindings.single_assignment(attr)
        if value is None or _assigned_on_instance(cls, attr):
            return None
        outer = tuple(s for s in scopes if isinstance(s, cst.Module))
        return self._eval(value, (*outer, cls), depth + 1)


def _functions(module: cst.Module) -> list[cst.FunctionDef]:
    found: list[cst.FunctionDef] = []

    class _Collect(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            found.append(node)

    visit_readonly(module, _Collect())
    return found


def _assigned_on_instance(cls: cst.ClassDef, attr: str) -> bool:
    """Whether any method assigns ``self.<attr>`` (then the class value is only a default)."""
    hit = False

    class _Find(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            nonlocal hit
            target = node.target
            if isinstance(target, cst.Attribute) and target.attr.value == attr:
                hit = True

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            nonlocal hit
            target = node.target
            if isinstance(target, cst.Attribute) and target.attr.value == attr:
                hit = True

    visit_readonly(cls.body, _Find())
    return hit
