"""Building blocks for rules' fixes: name a torch symbol through the file's own imports, add a
keyword argument, rename a callee, insert statements. Each returns changes, or None when the
right change is not clear (then no fix is offered; the finding stays)."""

from __future__ import annotations

from collections import Counter

import libcst as cst

from dropcheck.analysis.context import FileContext
from dropcheck.analysis.imports import dotted_name
from dropcheck.analysis.statements import small_statements
from dropcheck.fix.changes import Change, InsertAfter, InsertBefore, Replace


def reference(
    context: FileContext, qualified: str
) -> tuple[cst.BaseExpression, tuple[Change, ...]] | None:
    """An expression for torch's ``qualified`` (e.g. ``torch.nn.Dropout2d``) through the file's
    own aliases (``nn.Dropout2d``, ``torch.nn.Dropout2d``), with the import to add when no
    import reaches it (``from torch.nn import Dropout2d``, after the file's own import from
    ``torch.nn``)."""
    aliases = context.imports.aliases
    bindings = context.module_bindings.bindings
    best: tuple[int, str] | None = None
    for local, target in aliases.items():
        if not bindings.get(local) or not all(
            isinstance(node, cst.ImportAlias) for node in bindings[local]
        ):
            continue  # imported only inside a function, or rebound: not reliably the import
        if target == qualified:
            return cst.Name(local), ()
        if qualified.startswith(target + ".") and (best is None or len(target) > best[0]):
            best = (len(target), local)
    if best is not None:
        rest = qualified[best[0] + 1:].split(".")
        expr: cst.BaseExpression = cst.Name(best[1])
        for part in rest:
            expr = cst.Attribute(value=expr, attr=cst.Name(part))
        return expr, ()
    module, _, name = qualified.rpartition(".")
    if name in aliases or name in bindings:
        return None  # the name means something else here
    anchor = _import_anchor(context, module)
    statement = f"from {module} import {name}"
    if anchor is not None:
        return cst.Name(name), (InsertAfter(anchor, (statement,)),)
    first = _first_code_statement(context.module)
    if first is None:
        return None
    body = list(context.module.body)
    index = next(i for i, s in enumerate(body) if s is first)
    if index:  # after the docstring and `from __future__` imports
        return cst.Name(name), (InsertAfter(body[index - 1], (statement,)),)
    return cst.Name(name), (InsertBefore(first, (statement,)),)


def _import_anchor(context: FileContext, module: str) -> cst.BaseStatement | None:
    """The module-level import statement to add an import from ``module`` after: the last one
    importing from ``module`` itself, else the last one importing from torch."""
    same: cst.BaseStatement | None = None
    torch: cst.BaseStatement | None = None
    for statement in context.module.body:
        for small in small_statements(statement):
            if (isinstance(small, cst.ImportFrom) and small.module is not None
                    and not small.relative):
                name = dotted_name(small.module) or ""
                if name == module:
                    same = statement
                if name == "torch" or name.startswith("torch."):
                    torch = statement
            elif isinstance(small, cst.Import) and any(
                (dotted_name(alias.name) or "").split(".")[0] == "torch" for alias in small.names
            ):
                torch = statement
    return same or torch


def _first_code_statement(module: cst.Module) -> cst.BaseStatement | None:
    """The first statement after the docstring and ``from __future__`` imports."""
    for index, statement in enumerate(module.body):
        smalls = small_statements(statement)
        if index == 0 and len(smalls) == 1 and isinstance(smalls[0], cst.Expr) and isinstance(
            smalls[0].value, (cst.SimpleString, cst.ConcatenatedString)
        ):
            continue
        if smalls and all(
            isinstance(s, cst.ImportFrom) and s.module is not None
            and dotted_name(s.module) == "__future__" for s in smalls
        ):
            continue
        return statement
    return None


def rename_callee(
    context: FileContext, call: cst.Call, qualified: str
) -> tuple[Change, ...] | None:
    """Call ``qualified`` instead, keeping the arguments: ``nn.Dropout(...)`` ->
    ``nn.Dropout2d(...)``. Reuses the callee's own spelling when the new name is its sibling."""
    func = call.func
    new_name = qualified.rpartition(".")[2]
    current = context.qualified_name(func)
    if current is not None and isinstance(func, cst.Attribute) and (
        current.rpartition(".")[0] == qualified.rpartition(".")[0]
    ):
        # nn.Dropout -> nn.Dropout2d, F.dropout -> F.dropout2d: same module, same alias.
        return (Replace(func.attr, cst.Name(new_name)),)
    found = reference(context, qualified)
    if found is None:
        return None
    expr, imports = found
    return (Replace(func, expr), *imports)


def add_keyword_argument(call: cst.Call, keyword: str, value: str) -> Replace | None:
    """Append ``keyword=value`` to the call's arguments, keeping its layout (one argument per
    line stays one per line; a trailing comma stays trailing)."""
    args = list(call.args)
    if any(arg.keyword is not None and arg.keyword.value == keyword for arg in args):
        return None
    if any(arg.star == "**" for arg in args):
        return None  # it may already be passed
    new = cst.Arg(
        value=cst.parse_expression(value),
        keyword=cst.Name(keyword),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )
    if args:
        last = args[-1]
        if isinstance(last.comma, cst.Comma):
            # `f(a, b,)` / one per line: the new argument takes the trailing comma; the old last
            # one gets the separator its predecessor used.
            separator = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            if len(args) > 1 and isinstance(args[-2].comma, cst.Comma):
                separator = args[-2].comma
            new = new.with_changes(comma=last.comma)
            args[-1] = last.with_changes(comma=separator)
        else:
            args[-1] = last.with_changes(
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    args.append(new)
    return Replace(call, call.with_changes(args=args))


def keyword_for_positional(arg: cst.Arg, keyword: str) -> Replace:
    """``f(True)`` -> ``f(inplace=True)``: pass the same value under another parameter name."""
    return Replace(arg, arg.with_changes(
        keyword=cst.Name(keyword),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    ))


def insert_before(anchor: cst.BaseStatement, *statements: str) -> InsertBefore:
    return InsertBefore(anchor, tuple(statements))


def insert_at_top_of_body(block_owner: cst.CSTNode, *statements: str) -> InsertBefore | None:
    """Insert statements as the first ones of a compound statement's indented body
    (``for``/``while``/``with``/``def``), or None for a one-line body (``for x in y: f(x)``)."""
    body = getattr(block_owner, "body", None)
    if not isinstance(body, cst.IndentedBlock) or not body.body:
        return None
    return InsertBefore(body.body[0], tuple(statements))


def contains(tree: cst.CSTNode, target: cst.CSTNode) -> bool:
    """Whether ``target`` is ``tree`` or one of its descendants (by identity)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if node is target:
            return True
        stack.extend(node.children)
    return False


#: Per-file facts the fixes need, computed once per file: (module, facts) of the last file.
_FACTS: list[tuple[cst.Module, _FileFacts]] = []


class _FileFacts(cst.CSTVisitor):
    """One walk over the file: how often each ``self.<attr>`` appears, and every name used."""

    def __init__(self) -> None:
        super().__init__()
        self.self_attributes: Counter[str] = Counter()
        self.names: set[str] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.value.value == "self":
            self.self_attributes[node.attr.value] += 1

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def file_facts(module: cst.Module) -> _FileFacts:
    if not _FACTS or _FACTS[0][0] is not module:
        facts = _FileFacts()
        module.visit(facts)
        _FACTS[:] = [(module, facts)]  # only the current file is kept alive
    return _FACTS[0][1]


def self_attribute_uses(module: cst.Module, attribute: str) -> int:
    """How many times ``self.<attribute>`` appears in the file (assignments included)."""
    return file_facts(module).self_attributes[attribute]
