"""Constant evaluation of rates: literals, unary minus, simple arithmetic, and names that a
function, class or module assigns exactly once. Anything else is unknown (None), and rules never
report unknown values."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence

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
        self._mutations: dict[str, set[str] | None] = {}

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

    def dict_entries(self, expr: cst.BaseExpression, scopes: Sequence[Scope],
                     depth: int = 0) -> dict[str, Number | None] | None:
        """The constant entries of a configuration dict (``{"drop_rate": 0.0, ...}``, or a
        module-level name bound once to one), by string key; None when it is no such dict.
        Keys the module later sets (``CFG["drop_rate"] = x``, ``CFG.update(...)``) are not
        constant (None); an update with unknown keys makes the whole dict unknown."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, cst.Dict):
            entries: dict[str, Number | None] = {}
            for element in expr.elements:
                if isinstance(element, cst.StarredDictElement):
                    inner = self.dict_entries(element.value, scopes, depth + 1)
                    if inner is None:
                        return None
                    entries.update(inner)
                elif (isinstance(element, cst.DictElement)
                      and isinstance(element.key, cst.SimpleString)
                      and isinstance(element.key.evaluated_value, str)):
                    entries[element.key.evaluated_value] = self.evaluate(element.value, scopes)
                else:
                    return None
            return entries
        if not isinstance(expr, cst.Name) or not scopes or not isinstance(scopes[0], cst.Module):
            return None
        module = scopes[0]
        bindings = self.bindings(module)
        if not bindings.binds(expr.value) or not self._module_constant(expr.value, module):
            return None
        value = bindings.single_assignment(expr.value)
        if not isinstance(value, cst.Dict):
            return None
        found = self.dict_entries(value, (module,), depth + 1)
        changed = self._mutated_keys(expr.value, module, depth)
        if found is None or changed is None:
            return None
        return {**found, **dict.fromkeys(changed)}

    def _mutated_keys(self, name: str, module: cst.Module, depth: int) -> set[str] | None:
        """Keys a module-level dict gets set anywhere in the file (None: cannot be told)."""
        if name not in self._mutations:
            self._mutations[name] = self._find_mutations(name, module, depth)
        return self._mutations[name]

    def _find_mutations(self, name: str, module: cst.Module, depth: int) -> set[str] | None:
        found: set[str] = set()
        for node in _walk_all(module):
            if isinstance(node, (cst.Assign, cst.AugAssign)):
                targets = ([t.target for t in node.targets] if isinstance(node, cst.Assign)
                           else [node.target])
                for target in targets:
                    if (isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name)
                            and target.value.value == name):
                        key = string_key(target)
                        if key is None:
                            return None
                        found.add(key)
            elif (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                  and isinstance(node.func.value, cst.Name) and node.func.value.value == name
                  and node.func.attr.value in ("update", "setdefault", "pop", "clear")):
                if node.func.attr.value != "update":
                    return None
                for arg in node.args:
                    keys = self._possible_keys(arg.value, module, depth)
                    if arg.keyword is not None:
                        keys = {arg.keyword.value}
                    if keys is None:
                        return None
                    found |= keys
        return found

    def _possible_keys(self, expr: cst.BaseExpression, module: cst.Module,
                       depth: int) -> set[str] | None:
        """Keys an ``update`` argument may hold: a dict literal's, or any of the dict literals
        that a subscript of a dict-of-dicts literal may be (``model_configs[name]``)."""
        entries = self.dict_entries(expr, (module,), depth + 1)
        if entries is not None:
            return set(entries)
        if isinstance(expr, cst.Subscript) and isinstance(expr.value, cst.Name):
            outer = self.bindings(module).single_assignment(expr.value.value) if (
                self.bindings(module).binds(expr.value.value)) else None
            if isinstance(outer, cst.Dict):
                keys: set[str] = set()
                for element in outer.elements:
                    inner = (self.dict_entries(element.value, (module,), depth + 1)
                             if isinstance(element, cst.DictElement) else None)
                    if inner is None:
                        return None
                    keys |= set(inner)
                return keys
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


def string_key(node: cst.Subscript) -> str | None:
    """The key of ``x["key"]`` (None: not a single string key)."""
    if len(node.slice) != 1:
        return None
    index = node.slice[0].slice
    if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
        value = index.value.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _walk_all(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)
