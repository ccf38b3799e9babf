"""A read-only walk over LibCST nodes, shared by the analyses.

LibCST's own ``children``/``visit`` re-create every node they pass (`_visit_and_replace_children`),
which dominated the analyses' cost on big files. Reading the dataclass fields directly is
several times cheaper. Fields that hold only whitespace and punctuation tokens are skipped.
"""

from __future__ import annotations

from dataclasses import fields

import libcst as cst

#: Field-name prefixes/suffixes of fields that only hold whitespace, comments or punctuation.
_TOKEN_FIELDS = ("whitespace", "lpar", "rpar", "comma", "leading_lines", "header", "footer",
                 "semicolon", "equal", "dot", "colon", "newline", "lbracket", "rbracket",
                 "lbrace", "rbrace", "asynchronous", "lines_after_decorators", "operator",
                 "default_indicator", "arrow")
_FIELDS: dict[type, tuple[str, ...]] = {}
_NODE_TYPES: dict[type, bool] = {}


def is_node(kind: type) -> bool:
    # isinstance against LibCST's abstract base classes is slow; cache per concrete type
    known = _NODE_TYPES.get(kind)
    if known is None:
        known = _NODE_TYPES[kind] = issubclass(kind, cst.CSTNode)
    return known


def child_nodes(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The syntactic children of ``node`` in source order, without whitespace/punctuation."""
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(
            f.name for f in fields(node)
            if not any(f.name.startswith(p) or f.name.endswith(p) for p in _TOKEN_FIELDS)
        )
    result: list[cst.CSTNode] = []
    known = _NODE_TYPES  # is_node() inlined: this runs for every node of every analysis walk
    for name in names:
        value = getattr(node, name)
        kind = type(value)
        if kind is list or kind is tuple:
            for item in value:
                item_kind = type(item)
                flag = known.get(item_kind)
                if flag is None:
                    flag = is_node(item_kind)
                if flag:
                    result.append(item)
        else:
            flag = known.get(kind)
            if flag is None:
                flag = is_node(kind)
            if flag:
                result.append(value)
    return result


def visit_readonly(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """``node.visit(visitor)`` for a visitor that only reads: the same callbacks in the same
    order (``visit_X`` returning False still skips the children), without LibCST's rebuilding
    of every node. Whitespace and punctuation nodes are not visited."""
    if visitor.on_visit(node):
        for child in child_nodes(node):
            visit_readonly(child, visitor)
    visitor.on_leave(node)
