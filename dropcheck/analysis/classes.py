"""Which classes of the file are torch modules, and their methods."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from dropcheck.analysis.imports import ImportTable, dotted_name
from dropcheck.analysis.statements import walk_statements
from dropcheck.analysis.torch_api import is_module_base


@dataclass
class ClassInfo:
    node: cst.ClassDef
    name: str
    bases: list[cst.BaseExpression]
    methods: dict[str, cst.FunctionDef] = field(default_factory=dict)
    is_module: bool = False


class ClassIndex:
    def __init__(self, module: cst.Module, imports: ImportTable) -> None:
        self.by_node: dict[int, ClassInfo] = {}
        self.by_name: dict[str, ClassInfo] = {}
        for stmt in walk_statements(module):
            if isinstance(stmt, cst.ClassDef):
                info = ClassInfo(stmt, stmt.name.value, [arg.value for arg in stmt.bases
                                                         if arg.keyword is None])
                for item in stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else ():
                    if isinstance(item, cst.FunctionDef):
                        info.methods[item.name.value] = item
                self.by_node[id(stmt)] = info
                self.by_name.setdefault(info.name, info)
        self._resolve_modules(imports)

    def _resolve_modules(self, imports: ImportTable) -> None:
        changed = True
        while changed:  # fixpoint: a subclass of a local module class is a module
            changed = False
            for info in self.by_node.values():
                if not info.is_module and any(self._is_module_base(b, imports) for b in info.bases):
                    info.is_module = changed = True

    def _is_module_base(self, base: cst.BaseExpression, imports: ImportTable) -> bool:
        if isinstance(base, cst.Subscript):  # Generic[...]-style bases
            base = base.value
        qualified = imports.resolve(base)
        if qualified is not None:
            return is_module_base(qualified)
        name = dotted_name(base)
        local = self.by_name.get(name) if name else None
        return local is not None and local.is_module

    def get(self, node: cst.ClassDef) -> ClassInfo | None:
        return self.by_node.get(id(node))

    def is_module(self, node: cst.ClassDef) -> bool:
        info = self.by_node.get(id(node))
        return info is not None and info.is_module

    def module_classes(self) -> list[ClassInfo]:
        return [info for info in self.by_node.values() if info.is_module]
