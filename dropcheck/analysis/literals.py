"""Literal values and the ``if`` tests they decide, for analyses that specialise code to the
literal arguments of one call (a factory's branches, a layer builder's conditional appends)."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from dropcheck.analysis.scopes import parameter_names

NOT_LITERAL = object()


def literal(expr: cst.BaseExpression) -> object:
    """The value of a literal string, number, True/False/None; else ``NOT_LITERAL``."""
    if isinstance(expr, (cst.SimpleString, cst.Integer, cst.Float)):
        return expr.evaluated_value
    if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[expr.value]
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = literal(expr.expression)
        return -inner if isinstance(inner, (int, float)) else NOT_LITERAL
    return NOT_LITERAL


def decide(test: cst.BaseExpression, constants: dict[str, object],
           rebound: frozenset[str]) -> bool | None:
    """The truth of an ``if`` test over parameters with known literal values: ``flag``,
    ``not flag``, ``kind == "mlp"``, ``kind != ...``, ``drop > 0``, ``kind in ("a", "b")``,
    ``x is None``, and ``and``/``or`` of those;
    None when it cannot be told (a parameter the function reassigns is never known)."""
    def value(expr: cst.BaseExpression) -> object:
        if isinstance(expr, cst.Name) and expr.value in constants:
            return constants[expr.value] if expr.value not in rebound else NOT_LITERAL
        if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
            items = [value(e.value) for e in expr.elements]
            return NOT_LITERAL if NOT_LITERAL in items else tuple(items)
        return literal(expr)

    if isinstance(test, cst.BooleanOperation):
        first = decide(test.left, constants, rebound)
        second = decide(test.right, constants, rebound)
        if isinstance(test.operator, cst.And):
            if first is False or second is False:
                return False
            return True if first is True and second is True else None
        if first is True or second is True:
            return True
        return False if first is False and second is False else None
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = decide(test.expression, constants, rebound)
        return None if inner is None else not inner
    if isinstance(test, cst.Name):
        known = value(test)
        return None if known is NOT_LITERAL else bool(known)
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        left, right = value(test.left), value(test.comparisons[0].comparator)
        if left is NOT_LITERAL or right is NOT_LITERAL:
            return None
        operator = test.comparisons[0].operator
        try:
            if isinstance(operator, cst.Equal):
                return left == right
            if isinstance(operator, cst.NotEqual):
                return left != right
            if isinstance(operator, cst.Is):
                return left is right if right is None else None
            if isinstance(operator, cst.IsNot):
                return left is not right if right is None else None
            if isinstance(operator, cst.GreaterThan):
                return left > right  # type: ignore[operator]
            if isinstance(operator, cst.GreaterThanEqual):
                return left >= right  # type: ignore[operator]
            if isinstance(operator, cst.LessThan):
                return left < right  # type: ignore[operator]
            if isinstance(operator, cst.LessThanEqual):
                return left <= right  # type: ignore[operator]
            if isinstance(operator, cst.In) and isinstance(right, tuple):
                return left in right
            if isinstance(operator, cst.NotIn) and isinstance(right, tuple):
                return left not in right
        except TypeError:
            return None
    return None


def passed_arguments(function: cst.FunctionDef, args: Sequence[cst.Arg], is_method: bool,
                     ) -> tuple[dict[str, cst.BaseExpression], bool]:
    """What a call with ``args`` passes to each parameter of ``function``, by name, up to the
    first ``*args``/``**kwargs`` (the rest may come from those); and whether no such
    unpacking came (then the parameters left out take their defaults)."""
    names = parameter_names(function)[1 if is_method else 0:]
    passed: dict[str, cst.BaseExpression] = {}
    for index, arg in enumerate(args):
        if arg.star:
            return passed, False
        name = arg.keyword.value if arg.keyword is not None else (
            names[index] if index < len(names) else None)
        if name is not None:
            passed[name] = arg.value
    return passed, True


def literal_arguments(function: cst.FunctionDef, args: Sequence[cst.Arg], is_method: bool,
                      only: frozenset[str]) -> dict[str, object]:
    """The literal value each parameter in ``only`` takes at a call with ``args``: the literal
    argument passed, else the parameter's literal default. Parameters a ``*args``/``**kwargs``
    may fill are left out."""
    passed, complete = passed_arguments(function, args, is_method)
    found: dict[str, object] = {}
    for name, expr in passed.items():
        value = literal(expr)
        if name in only and value is not NOT_LITERAL:
            found[name] = value
    if not complete:
        return found
    params = function.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        name = param.name.value
        if name in only and name not in passed and param.default is not None:
            value = literal(param.default)
            if value is not NOT_LITERAL:
                found[name] = value
    return found

