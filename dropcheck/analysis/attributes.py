"""Instance attributes of the file's classes: which method assigns ``self.X``, and to what."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from dropcheck.analysis.classes import ClassIndex, ClassInfo
from dropcheck.analysis.imports import dotted_name
from dropcheck.analysis.walk import visit_readonly

_CONSTRUCTORS = frozenset({"__init__", "__post_init__", "<class body>"})


@dataclass(frozen=True)
class Assignment:
    #: The method that assigns (``"<class body>"`` for a class attribute).
    method: str
    #: The value assigned; None for augmented, tuple-unpacking or loop-target assignments.
    value: cst.BaseExpression | None

    @property
    def fixed(self) -> bool:
        """Assigned at construction only (``__init__`` or the class body)."""
        return self.method in _CONSTRUCTORS


class _SelfAssignments(cst.CSTVisitor):
    def __init__(self, method: str) -> None:
        self.method = method
        self.found: dict[str, list[Assignment]] = {}

    def _add(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if (
            isinstance(target, cst.Attribute)
            and isinstance(target.value, cst.Name)
            and target.value.value == "self"
        ):
            self.found.setdefault(target.attr.value, []).append(Assignment(self.method, value))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._add(element.value, None)

    def visit_Assign(self, node: cst.Assign) -> None:
        single = len(node.targets) == 1
        for target in node.targets:
            self._add(target.target, node.value if single else None)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:  # `self.p: float` alone declares, it does not assign
            self._add(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._add(node.target, None)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._add(node.target, None)

    def visit_For(self, node: cst.For) -> None:
        self._add(node.target, None)


def _class_body_assignments(info: ClassInfo) -> dict[str, list[Assignment]]:
    found: dict[str, list[Assignment]] = {}
    body = info.node.body.body if isinstance(info.node.body, cst.IndentedBlock) else ()
    for stmt in body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target = small.targets[0].target
                if isinstance(target, cst.Name):
                    found.setdefault(target.value, []).append(
                        Assignment("<class body>", small.value))
            elif (isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name)
                  and small.value is not None):  # `p: float` alone is a declaration
                found.setdefault(small.target.value, []).append(
                    Assignment("<class body>", small.value))
    return found


class InstanceAttributes:
    """``self.X`` assignments per class, including the classes it inherits from in this file."""

    def __init__(self, classes: ClassIndex) -> None:
        self._classes = classes
        self._own: dict[int, dict[str, list[Assignment]]] = {}
        self._properties: dict[int, set[str]] = {}

    def _own_assignments(self, info: ClassInfo) -> dict[str, list[Assignment]]:
        key = id(info.node)
        if key not in self._own:
            found = _class_body_assignments(info)
            properties: set[str] = set()
            for name, method in info.methods.items():
                if any(_decorator_name(d) in ("property", "cached_property", "setter")
                       for d in method.decorators):
                    properties.add(name)
                collector = _SelfAssignments(name)
                visit_readonly(method.body, collector)
                for attr, assignments in collector.found.items():
                    found.setdefault(attr, []).extend(assignments)
            self._own[key] = found
            self._properties[key] = properties
        return self._own[key]

    def _lineage(self, cls: cst.ClassDef) -> list[ClassInfo]:
        """``cls`` and the classes of this file it inherits from."""
        result: list[ClassInfo] = []
        seen: set[int] = set()
        pending = [self._classes.get(cls)]
        while pending:
            info = pending.pop()
            if info is None or id(info.node) in seen:
                continue
            seen.add(id(info.node))
            result.append(info)
            for base in info.bases:
                name = dotted_name(base)
                if name is not None:
                    pending.append(self._classes.by_name.get(name))
        return result

    def assignments(self, cls: cst.ClassDef, attr: str) -> list[Assignment]:
        """Every assignment of ``self.<attr>`` in ``cls`` and its in-file bases (empty when it
        is inherited from another file or set from outside)."""
        result: list[Assignment] = []
        for info in self._lineage(cls):
            result.extend(self._own_assignments(info).get(attr, ()))
        return result

    def is_property(self, cls: cst.ClassDef, attr: str) -> bool:
        """Whether ``attr`` is a property (or cached property) of ``cls`` or an in-file base."""
        for info in self._lineage(cls):
            self._own_assignments(info)
            if attr in self._properties[id(info.node)]:
                return True
        return False


def _decorator_name(decorator: cst.Decorator) -> str:
    expr = decorator.decorator
    if isinstance(expr, cst.Call):
        expr = expr.func
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return expr.value if isinstance(expr, cst.Name) else ""
