"""Qualified names through any import alias, from the file's own import table.

This is cheaper than LibCST's ``QualifiedNameProvider`` (which needs the scope analysis of the
whole file) and enough for what the rules ask: "is this expression torch's ``nn.Dropout``?".
A name that no import binds is never torch's, so a Keras ``Dropout`` or a local class named
``Dropout`` does not match.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from dropcheck.analysis.torch_api import canonical


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` as a string, or None for anything that is not a plain dotted name."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def _module_name(node: cst.Attribute | cst.Name | None) -> str:
    return dotted_name(node) or "" if node is not None else ""


class ImportTable:
    """Maps each name an import binds in the file to the qualified name it stands for."""

    def __init__(self, imports: Iterable[cst.Import | cst.ImportFrom], local_defs: set[str],
                 path: str | None = None):
        self.aliases: dict[str, str] = {}
        self.star_modules: list[str] = []
        self.local_defs = local_defs
        #: The file's path: a star import of a project module binds what that module imports.
        self.path = path
        for node in imports:
            self._add(node)

    def _add(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted_name(alias.name) or ""
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.aliases[alias.asname.name.value] = full
                else:
                    # `import torch.nn` binds `torch`
                    top = full.split(".", 1)[0]
                    self.aliases[top] = top
            return
        module = "." * len(node.relative) + _module_name(node.module)
        if isinstance(node.names, cst.ImportStar):
            self.star_modules.append(module)
            return
        for alias in node.names:
            name = dotted_name(alias.name) or ""
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            sep = "" if module.endswith(".") else "."
            self.aliases[local] = f"{module}{sep}{name}" if module else name

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """The canonical qualified name of a dotted expression, or None if not imported."""
        dotted = dotted_name(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        base = self.aliases.get(head)
        if base is None:
            if head in self.local_defs or not self.star_modules:
                return None
            base = self._from_star(head)
            if base is None:
                return None
        return canonical(f"{base}.{rest}" if rest else base)

    def _from_star(self, name: str) -> str | None:
        # Only torch's own star imports are resolved; the name must be a torch symbol we know.
        from dropcheck.analysis.torch_api import KNOWN_NAMES

        for module in self.star_modules:
            candidate = canonical(f"{module}.{name}")
            if candidate in KNOWN_NAMES:
                return candidate
        if self.path is not None:
            from dropcheck.analysis.project import star_names

            for module in self.star_modules:
                found = star_names(self.path, module).get(name)
                if found is not None:
                    return found
        return None

    def imports_module(self, prefix: str) -> bool:
        """Whether any import in the file comes from ``prefix`` (e.g. ``"torch"``)."""
        return any(
            value == prefix or value.startswith(prefix + ".")
            for value in (*self.aliases.values(), *self.star_modules)
        )
