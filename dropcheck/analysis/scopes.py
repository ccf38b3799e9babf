"""Which names a scope binds, and how often: the basis for "assigned once" constants."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import libcst as cst

from dropcheck.analysis.statements import small_statements, walk_statements
from dropcheck.analysis.walk import visit_readonly

Scope = cst.Module | cst.ClassDef | cst.FunctionDef


class _BindingCollector(cst.CSTVisitor):
    """Collects the names bound directly in one scope (nested functions/classes are their own)."""

    def __init__(self) -> None:
        self.bindings: dict[str, list[cst.CSTNode]] = defaultdict(list)
        self.globals: set[str] = set()

    def _bind_target(self, target: cst.BaseExpression, stmt: cst.CSTNode) -> None:
        if isinstance(target, cst.Name):
            self.bindings[target.value].append(stmt)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value, stmt)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, stmt)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind_target(target.target, node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind_target(node.target, node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind_target(node.target, node)

    def visit_For(self, node: cst.For) -> None:
        self._bind_target(node.target, node)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name, node)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target, node)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._bind_target(node.name.name, node)

    def visit_Del(self, node: cst.Del) -> None:
        self._bind_target(node.target, node)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name, node)
        else:
            name = node.name
            while isinstance(name, cst.Attribute):
                name = name.value  # type: ignore[assignment]
            self._bind_target(name, node)

    def visit_Global(self, node: cst.Global) -> None:
        self.globals.update(item.name.value for item in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.globals.update(item.name.value for item in node.names)

    # Nested scopes bind their own name here and nothing else.
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.bindings[node.name.value].append(node)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.bindings[node.name.value].append(node)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ListComp(self, node: cst.ListComp) -> bool:
        return False

    def visit_SetComp(self, node: cst.SetComp) -> bool:
        return False

    def visit_DictComp(self, node: cst.DictComp) -> bool:
        return False

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        return False


class ScopeBindings:
    """Names bound in one scope, with every binding statement."""

    def __init__(self, scope: Scope):
        collector = _BindingCollector()
        if isinstance(scope, cst.FunctionDef):
            for param in _all_params(scope.params):
                collector.bindings[param.name.value].append(param)
            visit_readonly(scope.body, collector)
        elif isinstance(scope, cst.ClassDef):
            visit_readonly(scope.body, collector)
        else:
            for stmt in scope.body:
                visit_readonly(stmt, collector)
        self.bindings = dict(collector.bindings)
        self.declared_global = collector.globals

    def single_assignment(self, name: str) -> cst.BaseExpression | None:
        """The value of ``name`` if the scope binds it exactly once, by a plain assignment."""
        stmts = self.bindings.get(name, ())
        if len(stmts) != 1:
            return None
        stmt = stmts[0]
        if (
            isinstance(stmt, cst.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0].target, cst.Name)
        ):
            return stmt.value
        if isinstance(stmt, cst.AnnAssign) and stmt.value is not None:
            return stmt.value
        return None

    def binds(self, name: str) -> bool:
        return name in self.bindings


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    result = [*params.posonly_params, *params.params, *params.kwonly_params]
    if isinstance(params.star_arg, cst.Param):
        result.append(params.star_arg)
    if params.star_kwarg is not None:
        result.append(params.star_kwarg)
    return result


def target_names(target: cst.BaseExpression) -> Iterator[str]:
    """The names an assignment target binds (``a``, ``a, (b, *c)``, ``[a, b]``)."""
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from target_names(target.value)


def parameter_names(function: cst.FunctionDef) -> list[str]:
    return [param.name.value for param in _all_params(function.params)]


def function_bound_names(function: cst.FunctionDef, parameters: bool = True) -> frozenset[str]:
    """Names a function binds, from a statement-level walk (cheaper than a full visit):
    parameters (unless ``parameters`` is False), assignment/for/with/import targets, nested
    defs, except names."""
    names: set[str] = set(parameter_names(function)) if parameters else set()

    def add(target: cst.BaseExpression) -> None:
        names.update(target_names(target))

    for stmt in walk_statements(function.body, into_defs=False):
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            names.add(stmt.name.value)
        elif isinstance(stmt, cst.For):
            add(stmt.target)
        elif isinstance(stmt, cst.With):
            for item in stmt.items:
                if item.asname is not None:
                    add(item.asname.name)
        elif isinstance(stmt, (cst.Try, cst.TryStar)):
            for handler in stmt.handlers:
                if handler.name is not None:
                    add(handler.name.name)
        for small in small_statements(stmt):
            if isinstance(small, cst.Assign):
                for target in small.targets:
                    add(target.target)
            elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                add(small.target)
            elif isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(
                    small.names, cst.ImportStar):
                for alias in small.names:
                    bound: cst.BaseExpression = (
                        alias.asname.name if alias.asname is not None else alias.name)
                    while isinstance(bound, cst.Attribute):
                        bound = bound.value
                    add(bound)
    return frozenset(names)
