"""A cheap over-approximation of a file, from CPython's ``ast``, for the second pre-filter stage.

The engine parses every file with CPython's parser anyway (to report syntax errors); that tree
costs about a tenth of LibCST's. Before paying for LibCST, each selected rule is asked
``Rule.could_match(sketch)``: a necessary condition for any finding, decided on this sketch.
Everything here errs towards "maybe": qualified names are resolved through every alias an
import might bind, a name counts as a constant if any plain assignment gives it a value that
may be one, and the flow units of the mode analysis are joined whenever a call might link them.
A rule answering False must be unable to report on the file; tests/test_prefilter.py checks
that the findings never change.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cached_property
from pathlib import Path

from dropcheck.analysis import layout, library, mode_api
from dropcheck.analysis.layout import (
    MAX_FILES_DEEP,
    MAX_HOPS,
    MAX_PARSED_BYTES,
    class_line,
    file_matches,
    module_file,
    note_read,
    where_class,
)
from dropcheck.analysis.torch_api import (
    KNOWN_NAMES,
    PLAIN_BASES,
    SIGNATURES,
    canonical,
    class_like,
    is_module_base,
    is_torch_layer,
    layer_is_mode_dependent,
)

_CONSTANT_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_BUILTIN_NAMES = frozenset(dir(builtins))
#: Project files followed from a class to the classes it derives from.
_MAX_CLASS_DEPTH = 6
_UNIT_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)
#: Fields that never hold a node the sketch reads (contexts, operators, literals' values).
_LEAF_FIELDS = frozenset({"ctx", "op", "ops", "kind", "type_comment", "value_kind"})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` as a string, or None for anything that is not a plain dotted name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


#: What an imported name stands for in its project file (see ``follow_import``).
Definition = tuple[str, "Sketch | None", "list[int] | None"]


class Unit:
    """A flow unit of the mode analysis: the module script, or one function body (nested
    functions are their own units; class bodies count as part of the module)."""

    __slots__ = ("block", "bound", "callee_names", "calls", "name", "name_calls", "other_calls",
                 "owner", "plain_owner", "returns", "self_calls")

    def __init__(self, name: str | None, owner: str | None, plain_owner: bool,
                 block: int = 0) -> None:
        self.name = name
        #: The top-level statement it is written in (see ``Sketch._block_dotted``).
        self.block = block
        #: The class the function is a method of (its name), if any.
        self.owner = owner
        self.plain_owner = plain_owner
        self.calls: list[ast.Call] = []
        #: Last names of everything this unit calls (``f``, ``self.m``, ``x.m``).
        self.callee_names: set[str] = set()
        #: The same, split as the mode analysis resolves same-file callees: ``f(...)`` (a
        #: function), ``self.m(...)`` (a method of the class) and ``x.m(...)`` (a method of a
        #: class whose instance ``x`` may be).
        self.name_calls: set[str] = set()
        self.self_calls: set[str] = set()
        self.other_calls: set[str] = set()
        #: Whether it has a ``return <value>`` (a helper may hand back a model).
        self.returns = False
        #: The names it binds: parameters, assignment, loop and ``with`` targets.
        self.bound: set[str] = set()


class Sketch:
    """What a file mentions, resolved through its imports, collected in one walk."""

    def __init__(self, tree: ast.Module, path: str | None = None) -> None:
        #: The file's path: classes imported from other files of its project build models too.
        self.path = path
        #: Every qualified name each imported local name may stand for.
        self.aliases: dict[str, set[str]] = {}
        self.star_modules: list[str] = []
        self._stars: list[tuple[int, int, str]] = []
        #: Units with a ``for`` loop over something named like evaluation data.
        self._evaluation_loops: set[int] = set()
        #: The values of plain ``name = value`` / ``name: T = value`` assignments, by name:
        #: the only ones constant folding reads (``ScopeBindings.single_assignment``).
        self.assigned: dict[str, list[ast.expr]] = {}
        #: Names of the classes the file defines.
        self.class_names: set[str] = set()
        #: (class name, its bases as dotted names, its block) for every class.
        self._class_bases: list[tuple[str, list[str | None], int]] = []
        self.units: list[Unit] = [Unit(None, None, False)]
        #: (dotted callee, call, unit index) for every call with a dotted callee.
        self._calls: list[tuple[str, ast.Call, int]] = []
        #: Per block (0: the module's other statements; then each top-level def or class):
        #: the dotted names it mentions, and the bare names it calls.
        self._block_dotted: list[set[str]] = [set()]
        self._block_called: list[set[str]] = [set()]
        #: Per block, the dotted callees of its calls (``Mlp``, ``layers.Mlp``).
        self._block_callees: list[set[str]] = [set()]
        #: Decorators (with the unit of the function they decorate) and ``with`` items.
        self._contexts: list[tuple[ast.expr, int]] = []
        #: Top-level functions by name, with their block (layer builders a flow may call).
        self._function_blocks: dict[str, int] = {}
        #: Top-level functions by name: their units (the def a project import finds).
        self._top_units: dict[str, list[int]] = {}
        #: The strings of a literal ``__all__`` list or tuple (what a star import binds).
        self.exported: frozenset[str] | None = None
        self._definitions: dict[str, Definition | None] = {}
        #: Whether ``_forward_units`` is being computed (helper files that call each other).
        self._forwards_in_progress = False
        #: Memo of ``_class_may_hold``.
        self._held: dict[tuple[str, frozenset[str], int], bool] = {}
        #: Names the file binds other than by import, def or class (assigned, loop and
        #: ``with`` targets, parameters), and the dotted attribute chains it assigns
        #: (``self.net = ...``): only these may hold a model the mode analysis calls.
        self._stored: set[str] = set()
        self._stored_chains: set[str] = set()
        #: Names bound in the module's own scope (or declared ``global``): the globals a
        #: function of the file may read as the mode analysis maps them from its caller.
        self._module_stored: set[str] = set()
        #: Per class name, its methods, and those that are static or class methods.
        self._methods: dict[str, set[str]] = {}
        self._static_methods: set[tuple[str, str]] = set()
        for stmt in tree.body:
            if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == "__all__"
                    and isinstance(stmt.value, (ast.List, ast.Tuple))):
                self.exported = frozenset(
                    e.value for e in stmt.value.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str))
            block = 0
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                # the walk below opens the def's unit first
                self._top_units.setdefault(stmt.name, []).append(len(self.units))
            if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                block = len(self._block_dotted)
                self._block_dotted.append(set())
                self._block_called.append(set())
                self._block_callees.append(set())
                if not isinstance(stmt, ast.ClassDef):
                    self._function_blocks.setdefault(stmt.name, block)
            self._walk(stmt, block)
        # in source order, as LibCST's import table lists them (the walk's stack is not)
        self.star_modules = [module for _, _, module in sorted(self._stars)]

    # -- collection ------------------------------------------------------------------------
    def _walk(self, statement: ast.stmt, block: int) -> None:
        stack: list[tuple[ast.AST, int, str | None, bool]] = [(statement, 0, None, False)]
        units = self.units
        dotted_names = self._block_dotted[block]
        called = self._block_called[block]
        callees = self._block_callees[block]
        AST, Attribute, Name, Call = ast.AST, ast.Attribute, ast.Name, ast.Call
        while stack:
            node, unit, owner, plain = stack.pop()
            kind = type(node)
            if kind is Name:
                if type(node.ctx) is not ast.Store:  # type: ignore[attr-defined]
                    dotted_names.add(node.id)  # type: ignore[attr-defined]
                else:
                    self._stored.add(node.id)  # type: ignore[attr-defined]
                    units[unit].bound.add(node.id)  # type: ignore[attr-defined]
                    if unit == 0 and owner is None:
                        self._module_stored.add(node.id)  # type: ignore[attr-defined]
                continue
            if kind is Attribute:
                if type(node.ctx) is ast.Store:  # type: ignore[attr-defined]
                    chain = dotted(node)
                    if chain is not None:
                        self._stored_chains.add(chain)
                # a whole chain at once: every prefix of `a.b.c` is a reference
                parts = [node.attr]  # type: ignore[attr-defined]
                root = node.value  # type: ignore[attr-defined]
                while type(root) is Attribute:
                    parts.append(root.attr)
                    root = root.value
                if type(root) is Name:
                    name = root.id
                    dotted_names.add(name)
                    for part in reversed(parts):
                        name = f"{name}.{part}"
                        dotted_names.add(name)
                else:
                    stack.append((root, unit, owner, plain))
                continue
            if kind is Call:
                func = node.func  # type: ignore[attr-defined]
                callee = dotted(func)
                if callee is not None:
                    self._calls.append((callee, node, unit))  # type: ignore[arg-type]
                    callees.add(callee)
                units[unit].calls.append(node)  # type: ignore[arg-type]
                if type(func) is Attribute:
                    units[unit].callee_names.add(func.attr)
                    receiver = func.value
                    if type(receiver) is Name and receiver.id == "self":
                        units[unit].self_calls.add(func.attr)
                    else:
                        units[unit].other_calls.add(func.attr)
                elif type(func) is Name:
                    units[unit].callee_names.add(func.id)
                    units[unit].name_calls.add(func.id)
                    called.add(func.id)
            elif kind in _UNIT_TYPES:
                units.append(Unit(node.name, owner, plain, block))  # type: ignore[attr-defined]
                if owner is not None:
                    self._methods.setdefault(owner, set()).add(node.name)  # type: ignore[attr-defined]
                    if any(dotted(d) in ("staticmethod", "classmethod")
                           for d in node.decorator_list):  # type: ignore[attr-defined]
                        self._static_methods.add((owner, node.name))  # type: ignore[attr-defined]
                for decorator in node.decorator_list:  # type: ignore[attr-defined]
                    # run in the enclosing unit, but switch grad off for this one
                    self._contexts.append((decorator, len(units) - 1))
                    stack.append((decorator, unit, owner, plain))
                # the rest is the function's own unit; a def nested in it is no method
                unit, owner, plain = len(units) - 1, None, False
            elif kind is ast.ClassDef:
                self.class_names.add(node.name)  # type: ignore[attr-defined]
                bases = node.bases  # type: ignore[attr-defined]
                self._class_bases.append((node.name, [  # type: ignore[attr-defined]
                    dotted(b.value if isinstance(b, ast.Subscript) else b) for b in bases],
                    block))
                # the class body runs in the enclosing unit; its defs are its methods
                owner = node.name  # type: ignore[attr-defined]
                plain = all(dotted(b) in PLAIN_BASES for b in bases)
            elif kind is ast.arg:
                self._stored.add(node.arg)  # type: ignore[attr-defined]
                units[unit].bound.add(node.arg)  # type: ignore[attr-defined]
            elif kind is ast.Global:
                self._module_stored.update(node.names)  # type: ignore[attr-defined]
            elif kind is ast.Assign:
                targets = node.targets  # type: ignore[attr-defined]
                if len(targets) == 1 and type(targets[0]) is Name:
                    self.assigned.setdefault(targets[0].id, []).append(
                        node.value)  # type: ignore[attr-defined]
            elif kind is ast.AnnAssign:
                target = node.target  # type: ignore[attr-defined]
                if type(target) is Name and node.value is not None:  # type: ignore[attr-defined]
                    self.assigned.setdefault(target.id, []).append(
                        node.value)  # type: ignore[attr-defined]
            elif kind is ast.Return:
                if node.value is not None:  # type: ignore[attr-defined]
                    units[unit].returns = True
            elif kind is ast.With or kind is ast.AsyncWith:
                for item in node.items:  # type: ignore[attr-defined]
                    self._contexts.append((item.context_expr, unit))
            elif kind is ast.For or kind is ast.AsyncFor:
                if _mentions_evaluation_data(node.iter):  # type: ignore[attr-defined]
                    self._evaluation_loops.add(unit)
            elif kind is ast.Import:
                for alias in node.names:  # type: ignore[attr-defined]
                    if alias.asname is not None:
                        self._alias(alias.asname, alias.name)
                    else:
                        top = alias.name.split(".", 1)[0]
                        self._alias(top, top)
            elif kind is ast.ImportFrom:
                module = "." * node.level + (node.module or "")  # type: ignore[attr-defined]
                for alias in node.names:  # type: ignore[attr-defined]
                    if alias.name == "*":
                        self._stars.append((node.lineno, node.col_offset,  # type: ignore[attr-defined]
                                            module))
                        continue
                    sep = "" if module.endswith(".") else "."
                    self._alias(alias.asname or alias.name,
                                f"{module}{sep}{alias.name}" if module else alias.name)
            fields = _CHILD_FIELDS.get(kind)
            if fields is None:
                fields = _CHILD_FIELDS[kind] = tuple(
                    f for f in node._fields if f not in _LEAF_FIELDS
                    and not (kind in _UNIT_TYPES and f == "decorator_list"))
            for field in fields:
                # defs under `if`/`try` in a class body are still its methods
                value = getattr(node, field, None)
                if type(value) is list:
                    for item in value:
                        if isinstance(item, AST):
                            stack.append((item, unit, owner, plain))
                elif isinstance(value, AST):
                    stack.append((value, unit, owner, plain))

    @property
    def top_functions(self) -> Mapping[str, list[int]]:
        """Top-level functions by name, with their units."""
        return self._top_units

    def _alias(self, local: str, qualified: str) -> None:
        self.aliases.setdefault(local, set()).add(qualified)

    # -- names -----------------------------------------------------------------------------
    def resolve(self, name: str) -> set[str]:
        """Every canonical qualified name the dotted ``name`` may stand for."""
        head, _, rest = name.partition(".")
        bases = set(self.aliases.get(head, ()))
        for module in self.star_modules:  # torch symbols we know come from a star import
            candidate = canonical(f"{module}.{head}")
            if candidate in KNOWN_NAMES:
                bases.add(candidate)
            elif self.path is not None and head not in self.aliases:
                # as ImportTable resolves it: what a project module's star import binds
                bases |= _star_names(self.path, module).get(head, set())
        return {canonical(f"{base}.{rest}" if rest else base) for base in bases}

    @cached_property
    def _resolved_calls(self) -> list[tuple[frozenset[str], ast.Call, int]]:
        cache: dict[str, frozenset[str]] = {}
        out = []
        for name, call, unit in self._calls:
            qualified = cache.get(name)
            if qualified is None:
                qualified = cache[name] = frozenset(self.resolve(name))
            if qualified:
                out.append((qualified, call, unit))
        return out

    def calls_to(self, names: Iterable[str] | frozenset[str]) -> Iterator[tuple[str, ast.Call]]:
        """Calls whose callee may resolve to one of ``names``, with that name."""
        wanted = names if isinstance(names, (set, frozenset, dict)) else frozenset(names)
        for qualified, call, _ in self._resolved_calls:
            for name in qualified:
                if name in wanted:
                    yield name, call

    def calls_method(self, *methods: str) -> bool:
        """Whether any call's callee ends in one of ``methods`` (``x.train()``, an alias)."""
        return any(any(m in unit.callee_names for m in methods) for unit in self.units) or any(
            q.rsplit(".", 1)[-1] in methods for qs in self.aliases.values() for q in qs)

    # -- layer flows (analysis/layers.py) -----------------------------------------------------
    @cached_property
    def _block_own_references(self) -> list[frozenset[str]]:
        """Per block, the qualified names it mentions itself."""
        cache: dict[str, set[str]] = {}
        found: list[frozenset[str]] = []
        for names in self._block_dotted:
            resolved: set[str] = set()
            for name in names:
                if name not in cache:
                    cache[name] = self.resolve(name)
                resolved |= cache[name]
            found.append(frozenset(resolved))
        return found

    @cached_property
    def _block_references(self) -> list[frozenset[str]]:
        """Per block, the qualified names a layer flow there may use: its own, and the
        module-level names it may read."""
        module = self._block_own_references[0]
        return [module | own for own in self._block_own_references]

    @cached_property
    def _block_links(self) -> tuple[dict[str, set[int]], list[set[int]]]:
        """The blocks defining each class name, and per block the blocks of its classes'
        in-file bases."""
        defined: dict[str, set[int]] = {}
        bases_of: list[set[int]] = [set() for _ in self._block_dotted]
        for name, _, block in self._class_bases:
            defined.setdefault(name, set()).add(block)
        for _, bases, block in self._class_bases:
            for base in bases:
                if base is not None:
                    bases_of[block] |= defined.get(base, set())
        return defined, bases_of

    def flow_may_hold(self, names: frozenset[str]) -> bool:
        """Whether a layer flow may hold a layer named in ``names`` (see flow_may_connect)."""
        return self.flow_may_connect(names, None, into_local_classes=False)

    def flow_may_connect(self, first: frozenset[str], second: frozenset[str] | None,
                         into_local_classes: bool) -> bool:
        """Whether one layer flow (a Sequential, or a module class's forward) may hold a layer
        named in ``first`` and one named in ``second``. A flow's layers come from the block
        (top-level class or function) that holds it, module-level names, the in-file base
        classes of its class (``self.attr`` set there), the file's functions it calls (layer
        builders whose lists it spreads) and, ``into_local_classes``, what the
        file's module classes it builds return, and the block classes of other project files
        it builds (which walk_back follows)."""
        flows = {block for block, flow in enumerate(self._block_has_flow) if flow}
        if not flows:
            return False
        # first as if every block class of another file held every layer: most files are
        # decided without reading another file
        for precise in (False, True) if into_local_classes else (True,):
            first_in = self._holds(first, False, into_local_classes, flows, precise)
            wanted = {block for block in flows if first_in[block]}
            if not wanted:
                return False
            if second is not None:
                second_in = self._holds(second, into_local_classes, into_local_classes,
                                        wanted, precise)
                wanted = {block for block in wanted if second_in[block]}
            if not wanted:
                return False
        return True

    def _holds(self, names: frozenset[str], local_classes: bool, foreign: bool,
               wanted: set[int], precise: bool = True, depth: int = MAX_FILES_DEEP,
               ) -> list[bool]:
        """For the ``wanted`` blocks (others: False), whether their layers may include one
        named in ``names``: their references, those of their in-file bases and of the layer
        builders they (or the module) call, and ``local_classes``, of the file's classes they
        build; ``foreign``, a block class of another project file they call that may hold
        one (``precise``: read on that file's sketch, ``depth`` files deep, as
        ``LayerIndex.imported_block`` enters them; else any such class)."""
        refs = self._block_references
        via = self._block_via[1 if local_classes else 0]
        relevant = set(wanted)
        stack = list(wanted)
        while stack:
            for other in via[stack.pop()]:
                if other not in relevant:
                    relevant.add(other)
                    stack.append(other)
        has = [False] * len(refs)
        for block in relevant:
            has[block] = bool(refs[block] & names) or (foreign and (
                self._foreign_holds(block, names, depth) if precise
                else bool(self._foreign_classes[block])))
        changed = True
        while changed:
            changed = False
            for block in relevant:
                if not has[block] and any(has[other] for other in via[block]):
                    has[block] = changed = True
        return has

    @cached_property
    def _block_via(self) -> tuple[list[set[int]], list[set[int]]]:
        """Per block, the blocks whose layers it may use: its in-file bases and the layer
        builders it or the module calls (``nn.Sequential(*conv_block(...))``); and the same
        with the blocks of the file's classes it builds."""
        defined, bases_of = self._block_links
        module_called = self._block_called[0]
        functions = self._function_blocks
        builders = [bases_of[block] | {functions[name] for name in (
            self._block_called[block] | module_called) if name in functions}
            for block in range(len(self._block_dotted))]
        local = [builders[block] | {b for name in (self._block_called[block] | module_called)
                                    for b in defined.get(name, ())}
                 for block in range(len(builders))]
        return builders, local

    def _foreign_holds(self, block: int, names: frozenset[str], depth: int) -> bool:
        """Whether a class of another project file that ``block`` refers to may hold a layer
        named in ``names``."""
        return any(self._class_may_hold(name, names, depth)
                   for name in self._foreign_classes[block])

    @cached_property
    def _foreign_classes(self) -> list[frozenset[str]]:
        """Per block, the capitalised names from another project file that it (or the
        module's own code) calls: the block classes the layer analysis enters there
        (``LayerIndex.imported_block``, for a call such as ``Mlp(...)``; a base class of
        another file is not entered)."""
        called: list[frozenset[str]] = []
        cache: dict[str, frozenset[str]] = {}
        for callees in self._block_callees:
            found: set[str] = set()
            for callee in callees:
                if callee not in cache:
                    cache[callee] = frozenset(
                        name for name in self.resolve(callee)
                        if class_like(name) and self._project_name(name))
                found |= cache[callee]
            called.append(frozenset(found))
        module = called[0]
        return [module | own for own in called]

    def _class_may_hold(self, qualified: str, names: frozenset[str], depth: int) -> bool:
        """Whether the class an imported name stands for (in another project file) may hold
        a layer named in ``names``; True when that cannot be told on sketches."""
        key = (qualified, names, depth)
        known = self._held.get(key)
        if known is not None:
            return known
        found = self._project_definition(qualified) if depth > 0 else None
        if found is None:
            held = True
        elif found[1] is None or found[0] not in found[1].class_names:
            held = False  # no such name there, or a function: no block class to enter
        else:
            held = found[1].class_holds(found[0], names, depth - 1)
        self._held[key] = held
        return held

    def class_holds(self, name: str, names: frozenset[str], depth: int) -> bool:
        """Whether the class ``name`` of this file may hold a layer named in ``names`` (its
        block, as ``_holds`` reads it with the file's classes and other files' blocks)."""
        blocks = self._block_links[0].get(name)
        if not blocks or self.star_modules:
            return True  # defined elsewhere (a re-export the sketch did not follow), or names
            # a star import may bind
        has = self._holds(names, True, True, set(blocks), depth=depth)
        return any(has[block] for block in blocks)

    @cached_property
    def _block_has_flow(self) -> list[bool]:
        """Per block, whether it may hold a layer flow: an ``nn.Sequential`` (called, or a
        base class), or a class with its own ``forward()``."""
        with_forward = {unit.owner for unit in self.units
                        if unit.name == "forward" and unit.owner is not None}
        flows = ["torch.nn.Sequential" in own for own in self._block_own_references]
        for name, _, block in self._class_bases:
            if name in with_forward:
                flows[block] = True
        return flows

    # -- arguments -------------------------------------------------------------------------
    @staticmethod
    def argument(call: ast.Call, qualified: str, parameter: str) -> list[ast.expr] | None:
        """Every expression that may be bound to ``parameter`` of ``qualified`` (by keyword or
        position); None when a ``*args``/``**kwargs`` may supply it."""
        params = SIGNATURES.get(qualified, ())
        found = [k.value for k in call.keywords if k.arg == parameter]
        position = params.index(parameter) if parameter in params else None
        for index, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                if position is not None and index <= position and not found:
                    return None
                break
            if index == position:
                found.append(arg)
        if not found and any(k.arg is None for k in call.keywords):
            return None
        return found

    def maybe_constant(self, expr: ast.expr, seen: frozenset[str] = frozenset()) -> bool:
        """Whether constant folding (analysis/constants.py) might give ``expr`` a value:
        numbers, +/- and arithmetic of those, and names (or ``X.attr``) that some plain
        assignment in the file gives such a value."""
        kind = type(expr)
        if kind is ast.Constant:
            return isinstance(expr.value, (int, float))  # type: ignore[attr-defined]
        if kind is ast.UnaryOp:
            return isinstance(expr.op, (ast.USub, ast.UAdd)) and self.maybe_constant(  # type: ignore[attr-defined]
                expr.operand, seen)  # type: ignore[attr-defined]
        if kind is ast.BinOp:
            return (isinstance(expr.op, _CONSTANT_OPS)  # type: ignore[attr-defined]
                    and self.maybe_constant(expr.left, seen)  # type: ignore[attr-defined]
                    and self.maybe_constant(expr.right, seen))  # type: ignore[attr-defined]
        name: str | None = None
        if kind is ast.Name:
            name = expr.id  # type: ignore[attr-defined]
        elif kind is ast.Attribute and type(expr.value) is ast.Name:  # type: ignore[attr-defined]
            name = expr.attr  # type: ignore[attr-defined]
        if name is None or name in seen:
            return False
        inner = seen | {name}
        return any(self.maybe_constant(value, inner) for value in self.assigned.get(name, ()))

    def constant_argument(self, names: Iterable[str], parameter_of: dict[str, str]) -> bool:
        """Whether a call to one of ``names`` passes its rate parameter something that might
        fold to a constant."""
        for qualified, call in self.calls_to(frozenset(names)):
            values = self.argument(call, qualified, parameter_of[qualified])
            if values and any(self.maybe_constant(v) for v in values):
                return True
        return False

    def named_argument(self, names: Iterable[str], parameter_of: dict[str, str],
                       word: str) -> bool:
        """Whether a call to one of ``names`` may pass its rate parameter a name or attribute
        whose last part contains ``word`` (``keep_prob``, ``cfg.dropout_keep``)."""
        for qualified, call in self.calls_to(frozenset(names)):
            for value in self.argument(call, qualified, parameter_of[qualified]) or ():
                name = dotted(value)
                if name is not None and word in name.rsplit(".", 1)[-1].lower():
                    return True
        return False

    def omits(self, names: Iterable[str], parameter: str) -> bool:
        """Whether a call to one of ``names`` certainly does not pass ``parameter``."""
        for qualified, call in self.calls_to(frozenset(names)):
            if self.argument(call, qualified, parameter) == []:
                return True
        return False

    # -- flow units (analysis/modes.py) ----------------------------------------------------
    @cached_property
    def _calls_between(self) -> list[list[int]]:
        """Per unit, the units it may call as the mode analysis resolves same-file callees:
        ``f(...)`` reaches functions, ``self.m(...)`` methods, and ``x.m(...)`` the methods
        of classes the file instantiates by name (a model built by ``Net(...)``)."""
        functions: dict[str, list[int]] = {}
        methods: dict[str, list[int]] = {}
        built = self.class_names & set().union(*(u.name_calls for u in self.units))
        for index, unit in enumerate(self.units):
            if unit.name is not None:
                table = functions if unit.owner is None else methods
                table.setdefault(unit.name, []).append(index)
        edges: list[list[int]] = []
        for unit in self.units:
            targets = [t for name in unit.name_calls for t in functions.get(name, ())]
            targets += [t for name in unit.self_calls for t in methods.get(name, ())]
            targets += [t for name in unit.other_calls for t in methods.get(name, ())
                        if self.units[t].owner in built]
            edges.append(targets)
        return edges

    @cached_property
    def _components(self) -> list[int]:
        """The flow units joined by calls (a helper's summary, a caller's arguments, globals
        read by a helper) or by a plain class's ``__init__`` (its attributes seen by the other
        methods): a representative per unit."""
        parent = list(range(len(self.units)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        inits: dict[str, int] = {}
        for index, unit in enumerate(self.units):
            if unit.name == "__init__" and unit.owner is not None and unit.plain_owner:
                inits.setdefault(unit.owner, index)
        for index, unit in enumerate(self.units):
            targets = list(self._calls_between[index])
            if unit.owner is not None and unit.plain_owner and unit.owner in inits:
                targets.append(inits[unit.owner])
            for target in targets:
                ra, rb = find(index), find(target)
                if ra != rb:
                    parent[ra] = rb
        return [find(i) for i in range(len(self.units))]

    def reaches(self, targets: set[int]) -> bool:
        """Whether a possibly mode-dependent model in training mode may reach one of the
        ``targets`` units (a forward under no_grad, an export): a source in a linked unit.
        Layers known to be mode independent (``nn.Linear(4, 4)``) are no source: the mode
        analysis neither reports them nor passes their mode on to helpers."""
        sources = self.train_sources
        if not targets or not sources:
            return False
        if sources & targets:
            return True
        component = self._components
        parts = {component[i] for i in sources}
        return any(component[i] in parts for i in targets)

    def units_calling(self, names: Iterable[str] | frozenset[str]) -> set[int]:
        wanted = frozenset(names)
        return {unit for qualified, _, unit in self._resolved_calls if qualified & wanted}

    def units_calling_method(self, *methods: str) -> set[int]:
        return {i for i, unit in enumerate(self.units)
                if any(m in unit.callee_names for m in methods)}

    @cached_property
    def module_classes(self) -> frozenset[str]:
        """Names of the file's classes that may be torch modules (as ``ClassIndex``
        decides, with every alias a base name may stand for)."""
        found: set[str] = set()
        changed = True
        while changed:  # fixpoint: a subclass of a local module class is a module
            changed = False
            for name, bases, _ in self._class_bases:
                if name not in found and any(
                        base is not None and (base in found or self._module_base(base))
                        for base in bases):
                    found.add(name)
                    changed = True
        return frozenset(found)

    def _module_base(self, base: str) -> bool:
        return any(is_module_base(qualified) for qualified in self.resolve(base))

    def units_calling_class(self) -> set[int]:
        """Units that call a module class of the file by its bare name (``Net(cfg)``)."""
        return {i for i, unit in enumerate(self.units)
                if unit.callee_names & self.module_classes}

    def units_in_context(self, names: frozenset[str]) -> set[int]:
        """Units decorated with, or holding a ``with`` over, one of ``names`` (called or
        not)."""
        found: set[int] = set()
        for expr, unit in self._contexts:
            target = expr.func if isinstance(expr, ast.Call) else expr
            name = dotted(target)
            if name is not None and self.resolve(name) & names:
                found.add(unit)
        return found

    # -- the mode analysis' facts (analysis/modes.py) --------------------------------------
    @cached_property
    def train_sources(self) -> set[int]:
        """Units that may give a possibly mode-dependent model a training-mode fact: they
        build one (a mode-dependent torch layer, a module class of the file, ``from_config``,
        ``Model(config)``, a factory), load one (``torch.load``), call ``.train()``, or call a
        helper of another project file that may do one of these (its file's sketch tells)."""
        return self._train_sources(self._project_source)

    @cached_property
    def _helper_sources(self) -> set[int]:
        """``train_sources`` as the mode analysis sees them inside a helper another file
        calls: there, helpers of further files stay unknown (``FOREIGN_DEPTH``) and build
        nothing; classes of further files still build models."""
        return self._train_sources(self._project_nonfunction)

    def _train_sources(self, project: Callable[[str], bool]) -> set[int]:
        found = self.units_calling_class() | self.units_calling_method(
            "train", "from_config", "_from_config")
        for qualified, call, unit in self._resolved_calls:
            if unit in found:
                continue
            for name in qualified:
                if ((is_torch_layer(name) and _maybe_mode_dependent_layer(name, call))
                        or name in mode_api.MODEL_LOADERS
                        or name in mode_api.TRAIN_MODE_FACTORIES
                        or name.startswith(mode_api.TRAIN_MODE_FACTORIES_PREFIXES)
                        or name == "torch.nn.Module.train"
                        or (_maybe_config_constructor(name, call)
                            and not self._project_non_module(name))
                        or project(name)
                        or _library_module_class(name)):
                    found.add(unit)
                    break
        return found

    @cached_property
    def project_helper_units(self) -> set[int]:
        """Units that call a name imported from another file of the project (a helper such
        as ``evaluate(model)``, a factory, a class): the mode analysis applies what it does
        there, which may build a model, switch its mode or run it for inference."""
        return {unit for qualified, _, unit in self._resolved_calls
                if any(self._project_name(name) for name in qualified)}

    def _project_file_loads(self, qualified: str) -> bool:
        """Whether an imported name is defined in a project file whose bytes mention loading
        a model (``load``, ``pretrained``, ``weights``)."""
        return self._project_file_mentions(qualified, _LOADING)

    def _project_file_mentions(self, qualified: str, tokens: tuple[bytes, ...]) -> bool:
        """Whether an imported name is defined in a project file whose bytes contain one of
        ``tokens`` (the mode analysis applies what a helper of another file does, not what
        that helper's own helpers in further files do: its file's bytes tell)."""
        path = self._project_file(qualified)
        return path is not None and file_matches(str(path), tokens, 0, self.path)

    def project_helpers_doing(self, does: Callable[[Sketch, int], bool],
                              tokens: tuple[bytes, ...]) -> set[int]:
        """Units that call a name of another project file that may do something at the call:
        for a top-level function there, ``does(its file's sketch, unit)`` for a unit it may
        run; a class there does nothing at the call (the analysis builds it, it runs none of
        its methods); for a name not followed, one of ``tokens`` in its file."""
        found: set[int] = set()
        for qualified, _, unit in self._resolved_calls:
            if unit in found:
                continue
            for name in qualified:
                definition = self._project_definition(name)
                if definition is None:
                    hit = self._project_file_mentions(name, tokens)
                else:
                    _, other, units = definition
                    hit = other is not None and units is not None and any(
                        does(other, i) for i in other._closure(units))
                if hit:
                    found.add(unit)
                    break
        return found

    def inert(self, units: Iterable[int]) -> bool:
        """Whether these units (a helper's, see ``helper_of``) can neither make a model (a
        torch layer, a module class, a loader, ``from_pretrained``, a copy), switch or load
        one, nor train: the mode analysis' summary of the helper then hands its caller no
        model and changes none the caller gives it."""
        found = set(units)
        return not (found & (self._helper_sources | self._own_loaded | self._maker_units)
                    or any(self.unit_switches_mode(i) or self.unit_steps(i) for i in found))

    @cached_property
    def _maker_units(self) -> set[int]:
        """Units that call any torch layer (mode-independent ones too) or ``copy.deepcopy``."""
        return {unit for qualified, _, unit in self._resolved_calls
                if any(is_torch_layer(name) or name == "copy.deepcopy" for name in qualified)}

    def reads_global(self, units: Iterable[int], name: str) -> bool:
        """Whether these units (a helper's, see ``helper_of``) may read the global ``name``
        of this file: the file's module scope binds it (assigned there or declared
        ``global``; ``ModelModes.module_names``) and their code mentions it. Only such a
        global is mapped from the caller's binding of the same name."""
        return name in self._module_stored and any(
            name in self._block_dotted[self.units[unit].block] for unit in units)

    def unit_switches_mode(self, index: int) -> bool:
        """Whether a unit may set a model's mode: ``.eval()``, ``.train(...)``, or a model
        from ``from_pretrained`` (eval mode)."""
        return bool(self.units[index].callee_names & _MODE_METHODS)

    def unit_steps(self, index: int) -> bool:
        """Whether a unit may run a training step as the mode analysis records one
        (``_step``): ``optimizer.step()`` (a receiver named like an optimizer or a scaler,
        not ``scheduler.step()``), ``.backward()``, ``.train_step()``, a call given a loss
        and an optimizer; or, in a function (whose summary its callers apply as a step),
        ``trainer.fit()``/``trainer.train()``."""
        unit = self.units[index]
        helper = unit.name is not None
        for call in unit.calls:
            func = call.func
            if type(func) is ast.Attribute:
                method = func.attr
                if method.endswith("backward") or method in _LOSS_STEPS or (
                        helper and method in _FIT_METHODS):
                    return True
                if method == "step":
                    name = (dotted(func.value) or "").rsplit(".", 1)[-1].lower()
                    if any(hint in name for hint in mode_api.OPTIMIZER_NAME_HINTS):
                        return True
            if _passes_loss_and_optimizer(call):
                return True
        return False

    def steps(self) -> bool:
        """Whether any unit of the file may run a training step (``unit_steps``)."""
        return any(self.unit_steps(i) for i in range(len(self.units)))


    def _project_name(self, qualified: str) -> bool:
        """Whether an imported name may be a class or function of another file of the
        project (its module is a project file): the mode analysis reads it there."""
        return self._project_file(qualified) is not None

    def _project_file(self, qualified: str) -> Path | None:
        """The project file whose module an imported name comes from, if any."""
        if self.path is None or qualified.startswith("torch."):
            return None
        module = qualified.rpartition(".")[0]
        if not module.strip("."):
            module = qualified[: len(qualified) - len(qualified.lstrip("."))]
        return module_file(self.path, module) if module else None

    # -- helpers of other project files, read on their CPython trees ----------------------
    def _project_helper(self, qualified: str) -> tuple[Sketch, set[int]] | None:
        """For an imported name that ``project.lookup_function`` resolves to a top-level
        function of another project file: that file's sketch and the units the function may
        run (its own and the same-file helpers it calls, which its summary applies)."""
        found = self._project_definition(qualified)
        if found is None or found[1] is None or found[2] is None:
            return None
        return found[1], found[1]._closure(found[2])

    def _project_definition(self, qualified: str,
                            ) -> Definition | None:
        """What an imported name of a project module stands for there, following re-exports
        as ``project._lookup`` does: ``(name, sketch, units)`` for a top-level function,
        ``(name, sketch, None)`` for a class, ``(name, None, None)`` when that module defines
        no such name (the analysis finds nothing to read); None when it cannot be told here
        (not a project module, a star import, an ambiguous alias)."""
        if self.path is None or qualified.startswith("torch."):
            return None
        if qualified in self._definitions:
            return self._definitions[qualified]
        found = self._definitions[qualified] = follow_import(self.path, qualified)
        return found

    def surely_plain(self, name: str, budget: int, seen: frozenset[str] = frozenset(),
                     ) -> int | None:
        """For a class defined once in this file: whether ``ModeDependence.is_plain`` finds it
        plain and no torch module, as the number of other files its bases are read in (at
        most ``budget``, the class lookups left to the analysis); None when that cannot be
        told here. Each base is ``object``-like, a plain class defined once in this file, or
        one of another project file (followed as ``project.lookup_class`` would)."""
        defined = [bases for defined, bases, _ in self._class_bases if defined == name]
        if len(defined) != 1 or self.star_modules or name in seen:
            return None
        hops = 0
        for base in defined[0]:
            if base is None:
                return None
            if base in PLAIN_BASES:
                continue
            head = base.partition(".")[0]
            if head not in self.aliases:
                if base not in self.class_names:
                    return None
                inner = self.surely_plain(base, budget, seen | {name})
                if inner is None:
                    return None
                hops = max(hops, inner)
                continue
            resolved = self.resolve(base)  # (no star import here)
            if len(resolved) != 1 or budget < 1:
                return None
            qualified = next(iter(resolved))
            if (qualified.startswith("torch.") or is_module_base(qualified)
                    or not class_like(qualified)):
                return None
            assert self.path is not None
            found = follow_import(self.path, qualified)
            if found is None or found[1] is None or found[2] is not None:
                return None
            other_name, other = found[0], found[1]
            if other_name in other.aliases:
                return None
            inner = other.surely_plain(other_name, budget - 1)
            if inner is None:
                return None
            hops = max(hops, inner + 1)
        return hops if hops <= budget else None

    def surely_opaque(self, name: str, budget: int, seen: frozenset[str] = frozenset(),
                      ) -> bool:
        """For a class defined once in this file: whether ``ModeDependence`` surely finds it
        neither a torch module nor plain, so that it tells nothing of it (``_imported`` is
        None): no base may be a module, and one base surely is not plain. Such a base is a
        name from torch that is no module (``torch.utils.data.Dataset``), one no import binds
        (``dict``, ``Exception``), a lower-case name, or such a class of this file or (at most
        ``budget`` files away) of another project file: ``Planetoid`` -> ``InMemoryDataset``
        -> ``Dataset`` -> torch's ``Dataset``."""
        defined = [bases for defined, bases, _ in self._class_bases if defined == name]
        if (len(defined) != 1 or name in seen or self.star_modules
                or self._may_be_module_class(name)):
            return False
        for base in defined[0]:
            if base is None or base in PLAIN_BASES:
                continue  # (None: a module base may be, which _may_be_module_class rules out)
            head = base.partition(".")[0]
            if head not in self.aliases:
                if base not in self.class_names:
                    return True  # no import binds it: is_plain finds no class behind it
                if self.surely_opaque(base, budget, seen | {name}):
                    return True
                continue
            resolved = self.resolve(base)  # (no star import here)
            if len(resolved) != 1:
                continue
            qualified = next(iter(resolved))
            if qualified.startswith("torch.") or not class_like(qualified):
                return True  # imported_class tells nothing of it
            if budget < 1 or self.path is None:
                continue
            found = _defined_class(follow_import(self.path, qualified))
            if found is not None and found[1].surely_opaque(found[0], budget - 1):
                return True
        return False

    def _may_be_module_class(self, name: str, depth: int = 0,
                             seen: frozenset[str] = frozenset()) -> bool:
        """Whether a class this file defines may be a torch module (as ``ClassIndex`` and
        ``ModeDependence.is_module`` decide): some base is, or may be, one. A class of plain
        bases (``object``, a dataclass of the stdlib, a plain class of the project) builds no
        model: the mode analysis gives its instances no mode."""
        if name in seen or depth > _MAX_CLASS_DEPTH:
            return True
        inner = seen | {name}
        found = False
        for defined, bases, _ in self._class_bases:
            if defined != name:
                continue
            found = True
            for base in bases:
                if base is None or self._base_may_be_module(base, depth, inner):
                    return True
        return not found

    def _base_may_be_module(self, base: str, depth: int, seen: frozenset[str]) -> bool:
        head = base.partition(".")[0]
        if base in self.class_names and head not in self.aliases:
            return self._may_be_module_class(base, depth, seen)
        resolved = self.resolve(base)
        if not resolved:
            # a builtin (`dict`, `Exception`) or a plain base; else a star import's name
            return not (base in PLAIN_BASES or (
                "." not in base and base in _BUILTIN_NAMES and not self.star_modules))
        for qualified in resolved:
            if is_module_base(qualified):
                return True
            top = qualified.partition(".")[0]
            if top == "torch" or top in sys.stdlib_module_names:
                continue
            definition = self._project_definition(qualified)
            if definition is not None:
                defined, other, units = definition
                if other is not None and units is None and other._may_be_module_class(
                        defined, depth + 1):
                    return True
                continue
            if self._project_name(qualified):
                return True  # a project module not followed here
            entry = library.table_class(qualified)
            if entry is None and not library.in_table(qualified):
                return True  # an installed package dropcheck reads at run time
            if entry is not None and entry.code.startswith("M"):
                return True
        return False

    def _closure(self, units: Iterable[int]) -> set[int]:
        """``units`` and every unit of this file they may call, transitively."""
        found = set(units)
        stack = list(found)
        calls = self._calls_between
        while stack:
            for target in calls[stack.pop()]:
                if target not in found:
                    found.add(target)
                    stack.append(target)
        return found

    def _project_source(self, qualified: str) -> bool:
        """Whether calling an imported name may give a model a training-mode fact: a
        module class of another project file (or a name not followed), or a helper there
        that builds one, loads one or calls ``train()`` (``_helper_sources`` of its file)."""
        found = self._project_definition(qualified)
        if found is None:
            return self._project_name(qualified)
        name, other, units = found
        if other is None:
            return False  # the module defines no such name: nothing is read there
        if units is None:
            return other._may_be_module_class(name)
        return bool(other._closure(units) & other._helper_sources)

    def _project_non_module(self, qualified: str) -> bool:
        """A class of another project file that surely is no torch module (as
        ``ModeDependence.project_non_module`` finds it): it builds no model."""
        found = _defined_class(self._project_definition(qualified))
        return found is not None and not found[1]._may_be_module_class(found[0])

    def _project_nonfunction(self, qualified: str) -> bool:
        """``_project_source`` inside a helper of another file: a module class of a further
        project file; its functions stay unknown there."""
        found = self._project_definition(qualified)
        if found is None:
            return self._project_name(qualified)
        name, other, units = found
        return other is not None and units is None and other._may_be_module_class(name)

    def _project_loads(self, qualified: str) -> bool:
        """Whether a helper of another project file may load weights into a model it
        returns or is given (its units call a loader); other names: their file's bytes."""
        helper = self._project_helper(qualified)
        if helper is None:
            return self._project_file_loads(qualified)
        other, units = helper
        return bool(units & other._own_loaded)

    def _project_evaluates(self, qualified: str) -> bool:
        """Whether a helper of another project file may run a model it is given for
        evaluation (under no_grad, or over an evaluation loader); other names: maybe."""
        helper = self._project_helper(qualified)
        if helper is None:
            return self._project_name(qualified)
        other, units = helper
        return bool(units & (other._grad_units | other._evaluation_loops))

    @cached_property
    def _grad_units(self) -> set[int]:
        """Units under no_grad / inference_mode / set_grad_enabled."""
        grad = self.units_in_context(mode_api.NO_GRAD_CONTEXTS | mode_api.SET_GRAD_ENABLED)
        return grad | self.units_calling(mode_api.SET_GRAD_ENABLED)

    @cached_property
    def _own_loaded(self) -> set[int]:
        """Units that load weights or a model, or freeze one, themselves."""
        loaded = self.units_calling(mode_api.MODEL_LOADERS | mode_api.WEIGHT_LOADERS)
        loaded |= self.units_calling_method("load_state_dict", "load_adapter", "requires_grad_")
        for index, unit in enumerate(self.units):
            if index not in loaded and any(
                    k.arg in ("weights", "pretrained") for c in unit.calls for k in c.keywords):
                loaded.add(index)
        return loaded

    @cached_property
    def inference_sites(self) -> set[int]:
        """Units where DC001 may report a forward: under no_grad / inference_mode /
        set_grad_enabled(False) in that unit, or of a model loaded or frozen there (or
        returned loaded by a helper). Lightning's eval hooks and a module class's
        ``__init__`` are never reported."""
        grad = self._grad_units
        loaded = set(self._own_loaded)
        # a helper of another project file that may load a model it returns or is given
        loaded |= {unit for qualified, _, unit in self._resolved_calls
                   if unit not in loaded
                   and any(self._project_loads(name) for name in qualified)}
        # a helper that returns a model it (or its own helper) loaded
        returns_loaded = {i for i in loaded if self.units[i].returns}
        changed = True
        while changed:
            changed = False
            for index, unit in enumerate(self.units):
                if (index not in returns_loaded and unit.returns
                        and any(t in returns_loaded for t in self._calls_between[index])):
                    returns_loaded.add(index)
                    changed = True
        loaded |= {i for i, targets in enumerate(self._calls_between)
                   if any(t in returns_loaded for t in targets)}
        never = self._module_inits
        # a helper of another file may run the model under no_grad on the evaluation data
        # the call passes (reported at its call)
        loaded |= {unit for qualified, call, unit in self._resolved_calls
                   if unit not in loaded and any(_mentions_evaluation_data(arg) for arg in (
                       *call.args, *(k.value for k in call.keywords)))
                   and any(self._project_evaluates(name) for name in qualified)}
        # a loop over an evaluation loader (an evaluation phase even without no_grad)
        loaded |= self._evaluation_loops
        forwards = self._forward_units
        return {i for i in grad | loaded
                if self.units[i].name not in mode_api.LIGHTNING_EVAL_HOOKS and i not in never
                and i in forwards}

    @cached_property
    def _forward_units(self) -> set[int]:
        """Units with a call the mode analysis may take for a model's forward (DC001 reports
        forwards only): ``m(x)`` of a name the file binds, ``m.forward(x)``/``generate``,
        ``self.net(x)`` (not one of the class's own methods), ``a.b(x)`` for an attribute
        the file assigns, any other callee expression (``models[0](x)``), or a helper given
        evaluation data (``evaluate(model, val_loader)``, a forward at the call). A
        conversion script's ``torch.load`` / ``load_state_dict`` / ``save_pretrained`` runs
        no model. A unit that calls a helper (of this file, or of another project file) that
        may run one counts too: a helper runs a model it is given in the caller's grad
        context (``runs_keys``)."""
        if self._forwards_in_progress:
            return set(range(len(self.units)))  # a cycle of helper files: anything may
        self._forwards_in_progress = True
        try:
            project = self._project_forward_calls
        finally:
            self._forwards_in_progress = False
        found = {index for index, unit in enumerate(self.units)
                 if any(id(call) in project or self._may_forward(call, unit)
                        for call in unit.calls)}
        calls = self._calls_between
        changed = True
        while changed:
            changed = False
            for index, targets in enumerate(calls):
                if index not in found and any(t in found for t in targets):
                    found.add(index)
                    changed = True
        return found

    @cached_property
    def _project_forward_calls(self) -> set[int]:
        """Calls (by id) of a top-level function of another project file whose units may run
        a model (its file's sketch tells), or of a name that cannot be followed there."""
        found: set[int] = set()
        for qualified, call, _ in self._resolved_calls:
            for name in qualified:
                definition = self._project_definition(name)
                if definition is None:
                    runs = self._project_name(name)  # not followed: maybe
                else:
                    _, other, units = definition
                    # no such name there, or a class (built: none of its methods runs)
                    runs = other is not None and units is not None and bool(
                        other._closure(units) & other._input_runs)
                if runs:
                    found.add(id(call))
                    break
        return found

    @cached_property
    def _input_runs(self) -> set[int]:
        """Units that may run forward a model their caller hands them: as ``_forward_units``,
        but a called name must be bound in the unit (a parameter, or a local that may
        alias one) or a global of the file (a function nested in another may call its
        enclosing function's names). Helpers of further files are not counted: inside a
        helper of another file the analysis does not follow them (``FOREIGN_DEPTH``)."""
        top = {unit for units in self._top_units.values() for unit in units}
        found: set[int] = set()
        for index, unit in enumerate(self.units):
            nested = index not in top and index != 0  # a method too: its class may be nested
            for call in unit.calls:
                func = call.func
                if type(func) is ast.Name and not nested:
                    if func.id in unit.bound or func.id in self._module_stored:
                        found.add(index)
                        break
                elif self._may_forward(call, unit):
                    found.add(index)
                    break
        return found

    def _may_forward(self, call: ast.Call, unit: Unit) -> bool:
        func = call.func
        kind = type(func)
        if kind is ast.Name:
            if func.id in self._stored:  # type: ignore[attr-defined]
                return True
        elif kind is ast.Attribute:
            attr = func.attr  # type: ignore[attr-defined]
            if attr in mode_api.FORWARD_METHODS or attr == "module":
                return True
            chain = dotted(func)
            if attr not in mode_api.MODULE_METHODS and chain is not None and chain.count(
                    ".") <= 2:
                if chain in self._stored_chains:
                    return True
                if chain.count(".") == 1 and chain.startswith("self.") and not (
                        self._own_method(unit, attr)):
                    return True  # `self.net`: whatever the class (or a caller) holds there
        else:
            return True
        return any(_mentions_evaluation_data(arg) for arg in (
            *call.args, *(k.value for k in call.keywords)))

    def _own_method(self, unit: Unit, name: str) -> bool:
        """Whether ``self.<name>(...)`` in a method ``unit`` calls a method its class
        defines (the analysis applies its summary: no forward), the class's name being
        unique in the file."""
        owner = unit.owner
        return (owner is not None and name in self._methods.get(owner, ())
                and (owner, name) not in self._static_methods
                and self._class_counts[owner] == 1)

    @cached_property
    def _class_counts(self) -> dict[str, int]:
        """How many classes of each name the file defines."""
        counts: dict[str, int] = {}
        for name, _, _ in self._class_bases:
            counts[name] = counts.get(name, 0) + 1
        return counts

    @cached_property
    def _module_inits(self) -> set[int]:
        """``__init__`` units of classes that are certainly torch modules (defined once, with
        a base that resolves, through one import, to a module base)."""
        counts = self._class_counts
        sure: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, bases, _ in self._class_bases:
                if name in sure or counts[name] != 1:
                    continue
                if any(base is not None and (base in sure or self._surely_module_base(base))
                       for base in bases):
                    sure.add(name)
                    changed = True
        return {i for i, unit in enumerate(self.units)
                if unit.name == "__init__" and unit.owner in sure}

    def _surely_module_base(self, base: str) -> bool:
        head = base.partition(".")[0]
        if len(self.aliases.get(head, ())) != 1:
            return False  # not imported (a star import at most), or imported twice
        resolved = self.resolve(base)
        return len(resolved) == 1 and is_module_base(next(iter(resolved)))


_LOADING = (b"load", b"pretrained", b"weights")


def follow_import(importer: str, qualified: str) -> Definition | None:
    """What an imported name of a project module stands for there, following re-exports
    as ``project._lookup`` does (see ``Sketch._project_definition``)."""
    current, name = importer, qualified
    for _ in range(MAX_HOPS):
        rest = name.lstrip(".")
        inner, _, attr = rest.rpartition(".")
        module = name[: len(name) - len(rest)] + inner
        if not module or not attr:
            return None
        path = module_file(current, module)
        other = _file_sketch(str(path), current) if path is not None else None
        if other is None:
            return None
        units = other._top_units.get(attr)
        if units:
            return attr, other, units
        if attr in other.class_names:
            return attr, other, None
        forwarded = other.aliases.get(attr)
        if forwarded is None:
            return None if other.star_modules else (attr, None, None)
        if len(forwarded) != 1:
            return None
        current, name = str(path), next(iter(forwarded))
    return None


def helper_of(importer: str, qualified: str) -> tuple[Sketch, set[int]] | None:
    """For an imported name that ``project.lookup_function`` resolves to a top-level
    function of another project file: that file's sketch and the units the function may run
    (its own, and the same-file helpers it calls)."""
    found = follow_import(importer, qualified) if not qualified.startswith("torch.") else None
    if found is None or found[1] is None or found[2] is None:
        return None
    return found[1], found[1]._closure(found[2])


def surely_plain_class(importer: str, qualified: str, budget: int) -> str | None:
    """For an imported name that ``project.lookup_class`` resolves to a class of another
    project file that ``ModeDependence.is_plain`` would find plain, with at most ``budget``
    class lookups: where it is defined (``Name (file.py:12)``); else None. Then that file is
    not parsed by LibCST (plain processors, configs and mixins are most of the classes a
    large project imports)."""
    if qualified.startswith("torch."):
        return None
    found = _defined_class(follow_import(importer, qualified))
    if found is None or found[1].surely_plain(found[0], budget) is None:
        return None
    name, path = found[0], found[1].path
    assert path is not None
    try:
        with open(path, "rb") as handle:
            source = handle.read()
    except OSError:
        return None
    return where_class(name, Path(path), class_line(source, name))


def surely_opaque_class(importer: str, qualified: str, budget: int) -> bool:
    """For an imported name that ``project.lookup_class`` resolves to a class of another
    project file: whether ``ModeDependence._imported`` surely finds nothing to tell of it
    (see ``Sketch.surely_opaque``), told without parsing that file with LibCST."""
    if qualified.startswith("torch."):
        return False
    found = _defined_class(follow_import(importer, qualified))
    return found is not None and found[1].surely_opaque(found[0], budget)


def surely_non_module_class(importer: str, qualified: str) -> bool:
    """For an imported name that ``project.lookup_class`` resolves to a class of another
    project file: whether it surely is no torch module (``ModeDependence.is_module``)."""
    if qualified.startswith("torch."):
        return False
    found = _defined_class(follow_import(importer, qualified))
    return found is not None and not found[1]._may_be_module_class(found[0])


def project_class(importer: str, qualified: str) -> bool:
    """Whether ``project.lookup_class`` surely finds a class of another project file for
    an imported name (told on sketches; False: it may not)."""
    return not qualified.startswith("torch.") and _defined_class(
        follow_import(importer, qualified)) is not None


def _defined_class(found: Definition | None) -> tuple[str, Sketch] | None:
    """The class (its name, its file's sketch) that ``project.lookup_class`` finds for what
    ``follow_import`` found: a class of a file that ``project.parse`` reads, not imported
    there under the same name too."""
    if found is None or found[1] is None or found[2] is not None:
        return None
    name, other = found[0], found[1]
    if name in other.aliases or other.path is None:
        return None
    try:
        if os.path.getsize(other.path) > MAX_PARSED_BYTES:
            return None  # project.parse does not read it: no class is found there
    except OSError:
        return None
    return name, other


#: Sketches of files by path, with the digest of the bytes they were built from: a file the
#: run lints and other files read (its helpers, classes, star imports) is parsed once. Their
#: answers about other files are cached too, so the cache lives for one run (``forget``).
_SKETCHES: dict[str, tuple[bytes, Sketch | None]] = {}
#: Path -> (mtime, size, digest): a file unchanged on disk is not read again.
_STATS: dict[str, tuple[int, int, bytes]] = {}
_MAX_SKETCHES = 1024


def forget() -> None:
    """Drop the cached sketches: called when a run starts (files may have changed since)."""
    _SKETCHES.clear()
    _STATS.clear()
    layout.forget()


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _remember(path: str, digest: bytes, sketch: Sketch | None) -> None:
    if len(_SKETCHES) >= _MAX_SKETCHES:
        del _SKETCHES[next(iter(_SKETCHES))]  # the oldest
    _SKETCHES[path] = (digest, sketch)


def known_sketch(path: str, data: bytes) -> Sketch | None:
    """The sketch of ``data`` as the file ``path``, when this run built one already (as
    another file's import); None otherwise."""
    cached = _SKETCHES.get(path)
    return cached[1] if cached is not None and cached[0] == _digest(data) else None


def sketch_for(path: str | None, data: bytes, tree: ast.Module) -> Sketch:
    """The sketch of a file being linted (``tree`` parsed from ``data``), shared with the
    lookups of other files that import it when ``data`` is what the disk holds."""
    if path is None:
        return Sketch(tree, path)
    digest = _digest(data)
    cached = _SKETCHES.get(path)
    if cached is not None and cached[0] == digest and cached[1] is not None:
        return cached[1]
    sketch = Sketch(tree, path)
    _remember(path, digest, sketch)
    return sketch


def file_sketch(path: str, importer: str) -> Sketch | None:
    """The sketch of another file (None: CPython cannot parse it); ``importer``'s findings
    now depend on that file."""
    return _file_sketch(path, importer)


def _file_sketch(path: str, importer: str) -> Sketch | None:
    """The sketch of another project file (a helper's), from its bytes on disk: one CPython
    parse per file and run, not a LibCST one. ``importer``'s findings now depend on it."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    sketch = _sketch_on_disk(path, stat)
    digest = _STATS.get(path)
    if digest is not None:
        note_read(importer, path, digest[2].hex())
    return sketch


def _sketch_on_disk(path: str, stat: os.stat_result) -> Sketch | None:
    known = _STATS.get(path)
    data: bytes | None = None
    if known is not None and known[:2] == (stat.st_mtime_ns, stat.st_size):
        digest = known[2]
    else:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        digest = _digest(data)
        _STATS[path] = (stat.st_mtime_ns, stat.st_size, digest)
    cached = _SKETCHES.get(path)
    if cached is not None and cached[0] == digest:
        return cached[1]
    if data is None:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
    sketch: Sketch | None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sketch = Sketch(ast.parse(data), path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        sketch = None
    _remember(path, digest, sketch)
    return sketch


def _star_names(importer: str, module: str) -> dict[str, set[str]]:
    """Over-approximates ``project.star_names`` on the CPython tree: what ``from module
    import *`` may bind in ``importer`` when ``module`` is a project file (its public
    imported names, limited by a literal ``__all__``)."""
    path = module_file(importer, module)
    other = _file_sketch(str(path), importer) if path is not None else None
    if other is None:
        return {}
    exported = other.exported
    return {local: qualified for local, qualified in other.aliases.items()
            if not local.startswith("_") and (exported is None or local in exported)}


_MODE_METHODS = frozenset({"eval", "train", "from_pretrained"})
_LOSS_STEPS = frozenset({"train_step", "training_step"})
_FIT_METHODS = frozenset({"fit", "train"})


def _passes_loss_and_optimizer(call: ast.Call) -> bool:
    """Over-approximates ``mode_walker._is_step_call``: an argument (or keyword) named like a
    loss and one named like an optimizer."""
    loss = optimizer = False
    for arg in (*call.args, *call.keywords):
        value = arg.value if isinstance(arg, ast.keyword) else arg
        name = (dotted(value) or "").rsplit(".", 1)[-1].lower()
        keyword = (arg.arg or "").lower() if isinstance(arg, ast.keyword) else ""
        loss = loss or "loss" in name or keyword == "loss"
        optimizer = optimizer or name.startswith("opt") or keyword.startswith("opt")
    return loss and optimizer


def _mentions_evaluation_data(iterable: ast.expr) -> bool:
    """Over-approximates ``modes._evaluation_loader``: any name, attribute or string in the
    loop's iterable that names evaluation data."""
    for node in ast.walk(iterable):
        text = (node.id if isinstance(node, ast.Name) else node.attr
                if isinstance(node, ast.Attribute) else node.value
                if isinstance(node, ast.Constant) and isinstance(node.value, str) else None)
        if text is not None and (mode_api.EVALUATION_DATA.search(text)
                                 or mode_api.EVALUATION_SPLIT.search(text)):
            return True
    return False


def _library_module_class(qualified: str) -> bool:
    """A torch module class of a library in dropcheck's table (a model or a layer)."""
    if not class_like(qualified):
        return False
    entry = library.table_class(qualified)
    return entry is not None and entry.code.startswith("M")


def _maybe_mode_dependent_layer(qualified: str, call: ast.Call) -> bool:
    """Over-approximates ``ModeDependence.of_call`` for a torch layer: a mode-dependent layer,
    or a container whose arguments build or read something (``nn.Sequential(nn.Dropout())``,
    ``self.training``)."""
    if layer_is_mode_dependent(qualified):
        return True
    for arg in (*call.args, *(k.value for k in call.keywords)):
        for node in ast.walk(arg):
            if isinstance(node, ast.Call) or (
                    isinstance(node, ast.Attribute) and node.attr == "training"):
                return True
    return False


def _maybe_config_constructor(qualified: str, call: ast.Call) -> bool:
    """Over-approximates ``modes._config_constructor``: ``BertModel(config)``."""
    last = qualified.rsplit(".", 1)[-1]
    if not last[:1].isupper() or qualified.startswith("torch.") or "Config" in last:
        return False
    firsts = [*call.args[:1], *(k.value for k in call.keywords if k.arg == "config")]
    for arg in firsts:
        text = (dotted(arg) or "").lower()
        if "config" in text or text in ("cfg", "conf"):
            return True
    return False
