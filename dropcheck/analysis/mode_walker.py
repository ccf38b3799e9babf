"""The interpreter of the mode analysis: one walk of a flow unit (a function body or the
module script) in statement order, over the domain of mode_domain.py, recording forwards,
mode changes, training steps and exports (see analysis/modes.py for the whole picture)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import libcst as cst

from dropcheck.analysis import mode_api as api
from dropcheck.analysis.classes import ClassInfo
from dropcheck.analysis.imports import dotted_name
from dropcheck.analysis.literals import (
    NOT_LITERAL,
    decide,
    literal,
    literal_arguments,
    passed_arguments,
)
from dropcheck.analysis.mode_dependence import UNKNOWN_DEPENDENCE, Dependence
from dropcheck.analysis.mode_domain import (
    _UNKNOWN_SUMMARY,
    FOREIGN_DEPTH,
    CallSite,
    Constants,
    Export,
    Fact,
    FlowResult,
    Forward,
    LoopFrame,
    Mode,
    ModeChange,
    ModelObject,
    Origin,
    State,
    Step,
    Summary,
    TrainCall,
    _assign,
    _evaluation_loader,
    evaluation_forward,
    expression_key,
    join,
    must_train,
    names_evaluation_data,
)
from dropcheck.analysis.project import parse as parse_project_file
from dropcheck.analysis.scopes import (
    Scope,
    function_bound_names,
    parameter_names,
    target_names,
)
from dropcheck.analysis.statements import block_statements, small_statements
from dropcheck.analysis.torch_api import class_like, is_torch_layer
from dropcheck.analysis.walk import child_nodes, visit_readonly

if TYPE_CHECKING:
    from dropcheck.analysis.modes import ModelModes


_MAX_UNROLL_DEPTH = 3
_K = TypeVar("_K")
_V = TypeVar("_V")
_MAX_SUMMARY_DEPTH = 8

# -- the walker --------------------------------------------------------------------------------
@dataclass
class _Ctx:
    inference: list[cst.CSTNode | None] = field(default_factory=list)
    loops: list[LoopFrame] = field(default_factory=list)
    repeated: int = 0
    pass_index: int = 0
    unroll_depth: int = 0


class Walker:
    """Abstract interpretation of one flow unit."""

    def __init__(self, owner: ModelModes, unit: cst.Module | cst.FunctionDef,
                 entry_facts: dict[str, frozenset[Fact]] | None = None,
                 constants: dict[str, object] | None = None,
                 plain: frozenset[str] = frozenset()) -> None:
        self.owner = owner
        #: Literal values of parameters for this run (a call-site specialisation).
        self.constants = constants or {}
        #: Parameters the call passes a value that is no model (a literal, a setting).
        self.plain_parameters = plain
        self.imports = owner.imports
        self.unit = unit
        self.entry_facts = entry_facts
        self.result = FlowResult(unit)
        self.ctx = _Ctx()
        self.objects: dict[tuple[int, str], ModelObject] = {}
        self.params: dict[str, ModelObject] = {}
        self.order = 0
        self._order_of: dict[int, int] = {}
        self.statement: cst.BaseStatement = cst.SimpleStatementLine(body=[cst.Pass()])
        self.exits: list[State] = []
        self.returned: list[tuple[frozenset[ModelObject], State]] = []
        #: Per return statement, the objects of each element of a returned tuple (None: the
        #: return is not a tuple display).
        self.returned_elements: list[list[frozenset[ModelObject]] | None] = []
        self._loop_exits: list[tuple[list[State], list[State]]] = []
        self._bare_call: cst.Call | None = None
        #: The call whose output the current statement discards (as ``_bare_call``, but kept
        #: while the call's arguments are evaluated: for a helper's forward at the call).
        self._discarded: cst.Call | None = None
        #: Mode of the last object passed to ``torch.save`` in this unit, if any.
        self._saved_facts: frozenset[Fact] | None = None
        #: Enclosing ``finally:`` bodies (a return runs them before leaving).
        self._finally: list[list[cst.BaseStatement]] = []
        self.is_generator = False
        self._local_names: frozenset[str] | None = None
        self.end_state: State | None = None
        #: Models run forward with grad enabled outside any loop (trained by a later step).
        self._grad_forwards_outside: set[ModelObject] = set()
        self._call_results: dict[int, frozenset[ModelObject]] = {}
        #: Parameter keys a helper this flow calls (with grad as this flow leaves it) runs
        #: forward in their entry mode: this flow's callers run them so too (``runs_keys``).
        self._entry_runs: set[str] = set()
        #: Per call of a helper that returns a tuple: the objects of each position.
        self._call_positions: dict[int, tuple[frozenset[ModelObject], ...]] = {}

    @property
    def local_names(self) -> frozenset[str]:
        """Names the function binds (computed only when a global-looking name is used)."""
        if self._local_names is None:
            if isinstance(self.unit, cst.FunctionDef):
                self._local_names = function_bound_names(self.unit)
            else:
                self._local_names = frozenset()
        return self._local_names

    @functools.cached_property
    def _enclosing_names(self) -> frozenset[str]:
        """Names bound by the functions a closure is defined in (read from the caller)."""
        names: set[str] = set()
        scope = self.owner.enclosing.get(id(self.unit)) if isinstance(
            self.unit, cst.FunctionDef) else None
        while scope is not None:
            names |= function_bound_names(scope)
            scope = self.owner.enclosing.get(id(scope))
        return frozenset(names)

    @functools.cached_property
    def _reassigned(self) -> frozenset[str]:
        """Names the function's body binds (a parameter among them has no one value)."""
        if isinstance(self.unit, cst.FunctionDef):
            return function_bound_names(self.unit, parameters=False)
        return frozenset()

    @property
    def _parameters(self) -> frozenset[str]:
        return frozenset(self.params)

    # -- entry / exit --------------------------------------------------------------------------
    def run(self) -> FlowResult:
        state = State()
        if isinstance(self.unit, cst.FunctionDef):
            plain = _plain_value_parameters(self.unit) | self.plain_parameters
            for name in parameter_names(self.unit):
                if name not in plain:
                    self._parameter(state, name)
            inference = self._decorator_inference(self.unit)
            self.ctx.inference.append(inference)
            body = block_statements(self.unit.body)
        else:
            self.ctx.inference.append(None)
            body = list(self.unit.body)
        end = self.block(body, state)
        if end is not None:
            self.exits.append(end)
        self.end_state = join(self.exits)
        self.result.end_state = self.end_state
        return self.result

    def _parameter(self, state: State, key: str) -> ModelObject:
        obj = self.params.get(key)
        if obj is None:
            obj = ModelObject(self.unit, Origin.PARAMETER, key, parameter=key)
            self.params[key] = obj
        facts = frozenset({Fact(Mode.ENTRY, None)})
        if self.entry_facts is not None and key in self.entry_facts:
            facts = self.entry_facts[key]
            known = self.owner.entry_dependence.get((id(self.unit), key))
            if known is not None:
                obj.dependence, obj.defined = known
        state.names[key] = frozenset({obj})
        state.modes.setdefault(obj, facts)
        return obj

    def summarise(self) -> Summary:
        end = self.end_state
        effects: dict[str, frozenset[Fact]] = {}
        exits = [s for s in self.exits]
        final = join(exits)
        for key, obj in self.params.items():
            facts = final.modes.get(obj, frozenset()) if final is not None else frozenset()
            effects[key] = facts or frozenset({Fact(Mode.ENTRY, None)})
        returns_keys: set[str] = set()
        returns_new: list[tuple[ModelObject, frozenset[Fact], bool]] = []
        index_of: dict[tuple[int, int], int] = {}  # (return, object) -> index in returns_new
        for number, (objs, state) in enumerate(self.returned):
            for obj in objs:
                if obj.parameter is not None:
                    returns_keys.add(obj.parameter)
                else:
                    index_of[(number, id(obj))] = len(returns_new)
                    returns_new.append((obj, state.modes.get(obj, frozenset()),
                                        obj in state.loaded))
        positions = self._positions(index_of)
        trains_entry: set[str] = set()
        for step in self.result.steps:
            for obj, facts in step.trained.items():
                if obj.parameter is not None and any(f.mode is Mode.ENTRY for f in facts):
                    trains_entry.add(obj.parameter)
        inference_keys = self._entry_forward_keys(
            lambda forward: evaluation_forward(forward, self.result))
        # forwards with grad as the caller leaves it, in the mode it gave (a loaded or frozen
        # model, or an evaluation loop, is reported here: not again at the call)
        runs_keys = self._entry_forward_keys(
            lambda forward: forward.inference is None and not (forward.loaded or forward.frozen)
            and forward.eval_loop is None) | self._entry_runs
        del end
        order = tuple(parameter_names(self.unit)) if isinstance(self.unit, cst.FunctionDef) else ()
        return Summary(effects, frozenset(returns_keys), tuple(returns_new),
                       self.result.has_training, frozenset(trains_entry), self.is_generator,
                       order, positions, frozenset(inference_keys), frozenset(runs_keys))

    def _entry_forward_keys(self, kind: Callable[[Forward], bool]) -> set[str]:
        """The parameter keys of forwards of ``kind`` that run a model in the mode its caller
        gave it (every fact ENTRY)."""
        return {obj.parameter for forward in self.result.forwards
                if kind(forward) and forward.facts
                and all(f.mode is Mode.ENTRY for f in forward.facts)
                for obj in forward.objects if obj.parameter is not None}

    def _positions(self, index_of: dict[tuple[int, int], int],
                   ) -> tuple[tuple[frozenset[str], frozenset[int]], ...]:
        elements = self.returned_elements
        if not elements or any(e is None for e in elements) or len(
                {len(e) for e in elements if e is not None}) != 1:
            return ()
        width = len(elements[0] or ())
        positions: list[tuple[frozenset[str], frozenset[int]]] = []
        for position in range(width):
            keys: set[str] = set()
            indexes: set[int] = set()
            for number, element in enumerate(elements):
                for obj in (element or [])[position]:
                    if obj.parameter is not None:
                        keys.add(obj.parameter)
                    elif (number, id(obj)) in index_of:
                        indexes.add(index_of[(number, id(obj))])
            positions.append((frozenset(keys), frozenset(indexes)))
        return tuple(positions)

    # -- helpers -------------------------------------------------------------------------------
    def _stmt_order(self, node: cst.CSTNode) -> int:
        key = id(node)
        if key not in self._order_of:
            self.order += 1
            self._order_of[key] = self.order
        return self._order_of[key]

    def _object(self, site: cst.CSTNode, origin: Origin, dependent: Dependence, suffix: str = "",
                ) -> ModelObject:
        key = (id(site), suffix)
        obj = self.objects.get(key)
        if obj is None:
            obj = ModelObject(site, origin, "", dependent)
            self.objects[key] = obj
        return obj

    def _fact(self, mode: Mode, source: cst.CSTNode | None, via: str | None = None,
              train_call: TrainCall | None = None) -> Fact:
        order = self.order
        if source is not None:
            self.result.orders[id(source)] = order
            self.result.loop_of[order] = tuple(frame.node for frame in self.ctx.loops)
        return Fact(mode, source, order, via, train_call)

    def _inference(self, state: State) -> cst.CSTNode | None:
        current = self.ctx.inference[-1] if self.ctx.inference else None
        return current if current is not None else state.grad_off

    def lookup(self, state: State, key: str) -> frozenset[ModelObject]:
        found = state.names.get(key)
        if found is not None:
            return found
        if isinstance(self.unit, cst.FunctionDef):
            head = key.split(".", 1)[0]
            if (head == "self" and "." in key and "self" in self._parameters) or (
                    key not in self.local_names and (key in self.owner.module_names
                                                     or key in self._enclosing_names)):
                # `self.attr`, a module-level global read by a helper, or a variable of the
                # function a closure is defined in: whatever the caller had (ENTRY), mapped by
                # name at each call site
                obj = self._parameter(state, key)
                if obj.cls is None and key in self.owner.module_names:
                    # a global the module builds once from a project class: its methods
                    obj.cls = self.owner.global_class(key)
                return frozenset({obj})
        return frozenset()

    # -- statements ------------------------------------------------------------------------
    def block(self, stmts: Sequence[cst.BaseStatement], state: State | None) -> State | None:
        for stmt in stmts:
            if state is None:
                return None
            state = self.stmt(stmt, state)
        return state

    def stmt(self, stmt: cst.BaseStatement, state: State) -> State | None:
        self.statement = stmt
        self._stmt_order(stmt)
        self.order = self._order_of[id(stmt)]
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                next_state = self.small(small, state)
                if next_state is None:
                    return None
                state = next_state
            return state
        if isinstance(stmt, cst.If):
            return self._if(stmt, state)
        if isinstance(stmt, (cst.For, cst.While)):
            return self._loop(stmt, state)
        if isinstance(stmt, cst.With):
            return self._with(stmt, state)
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            return self._try(stmt, state)
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            state.names.pop(stmt.name.value, None)
            return state
        if isinstance(stmt, cst.Match):
            self.value(stmt.subject, state)
            branches = [self.block(block_statements(case.body), state.copy())
                        for case in stmt.cases]
            return join([*branches, state])
        return state

    def small(self, small: cst.BaseSmallStatement, state: State) -> State | None:
        if isinstance(small, cst.Expr):
            self._bare_call = small.value if isinstance(small.value, cst.Call) else None
            self._discarded = self._bare_call
            self.value(small.value, state)
            self._bare_call = self._discarded = None
            if isinstance(small.value, (cst.Yield, cst.Await)) and isinstance(
                    small.value, cst.Yield):
                self.is_generator = True
            return state
        if isinstance(small, cst.Assign):
            if isinstance(small.value, cst.Call) and all(
                    isinstance(t.target, cst.Name) and t.target.value == "_"
                    for t in small.targets):
                self._bare_call = small.value  # `_ = model(x)`: the output is discarded
                self._discarded = small.value
            objs = self.value(small.value, state)
            self._bare_call = self._discarded = None
            for target in small.targets:
                self.bind(target.target, objs, small.value, state)
            return state
        if isinstance(small, cst.AnnAssign):
            objs = self.value(small.value, state) if small.value is not None else frozenset()
            self.bind(small.target, objs, small.value, state)
            return state
        if isinstance(small, cst.AugAssign):
            self.value(small.value, state)
            self.bind(small.target, frozenset(), None, state)
            return state
        if isinstance(small, cst.Return):
            objs = self.value(small.value, state) if small.value is not None else frozenset()
            exit_state: State | None = state
            # a return inside `try: ... finally:` runs the finally blocks first
            pending = self._finally
            self._finally = []
            try:
                for final in reversed(pending):
                    if exit_state is None:
                        break
                    exit_state = self.block(final, exit_state.copy())
            finally:
                self._finally = pending
            if exit_state is not None:
                self.returned.append((objs, exit_state.copy()))
                self.returned_elements.append(
                    [self._plain(e.value, state) for e in small.value.elements]
                    if isinstance(small.value, cst.Tuple) else None)
                self.exits.append(exit_state)
            return None
        if isinstance(small, cst.Raise):
            if small.exc is not None:
                self.value(small.exc, state)
            return None
        if isinstance(small, cst.Break):
            if self._loop_exits:
                self._loop_exits[-1][0].append(state.copy())
            return None
        if isinstance(small, cst.Continue):
            if self._loop_exits:
                self._loop_exits[-1][1].append(state.copy())
            return None
        if isinstance(small, cst.Del):
            self.bind(small.target, frozenset(), None, state)
            return state
        if isinstance(small, cst.Assert):
            self.value(small.test, state)
            # `else: assert False`: a branch that cannot run, like `raise`
            return None if _constant_bool(small.test) is False else state
        return state

    def bind(self, target: cst.BaseExpression, objs: frozenset[ModelObject],
             value: cst.BaseExpression | None, state: State) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            elements = [e.value for e in target.elements]
            values: list[cst.BaseExpression] | None = None
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elements):
                values = [e.value for e in value.elements]
            elif isinstance(value, cst.Call) and _is_prepare(value) and len(value.args) == len(
                    elements):
                values = [a.value for a in value.args]
            positions = self._call_positions.get(id(value)) if value is not None else None
            for i, element in enumerate(elements):
                if values is not None:
                    sub = self._plain(values[i], state)
                elif positions is not None and len(positions) == len(elements):
                    sub = positions[i]
                else:
                    sub = frozenset()
                self.bind(element, sub, None, state)
            return
        if isinstance(target, cst.StarredElement):
            self.bind(target.value, frozenset(), None, state)
            return
        key = expression_key(target)
        if key is None:
            return
        if objs:
            state.names[key] = objs
        else:
            state.names.pop(key, None)
            state.parts.pop(key, None)
        # rebinding `m` invalidates `m.x` keys
        for other in [k for k in state.names if k.startswith(key + ".")]:
            del state.names[other]
        if (isinstance(target, cst.Attribute) and target.attr.value == "requires_grad"
                and isinstance(value, cst.Name) and value.value == "False"):
            base = expression_key(target.value)
            part = state.parts.get(base) if base is not None else None
            if part is not None and part[1] == "parameters":
                state.frozen |= part[0]
        if isinstance(target, cst.Attribute) and target.attr.value == "training":
            owner = self._plain(target.value, state)
            state.set_mode(owner, frozenset({self._fact(Mode.UNKNOWN, target)}))

    def _plain(self, expr: cst.BaseExpression, state: State) -> frozenset[ModelObject]:
        """Objects an already evaluated expression refers to (no side effects)."""
        while isinstance(expr, cst.Attribute) and expr.attr.value == "module":
            key = expression_key(expr)
            if key is not None and key in state.names:
                return state.names[key]
            expr = expr.value
        if isinstance(expr, cst.Call):
            return self._call_results.get(id(expr), frozenset())
        key = expression_key(expr)
        return self.lookup(state, key) if key is not None else frozenset()

    def _if(self, stmt: cst.If, state: State) -> State | None:
        self.value(stmt.test, state)
        decided = decide(stmt.test, self.constants, self._reassigned) if self.constants else None
        if decided is True:
            return self.block(block_statements(stmt.body), state)
        if decided is False:
            if stmt.orelse is None:
                return state
            if isinstance(stmt.orelse, cst.If):
                return self.stmt(stmt.orelse, state)
            return self.block(block_statements(stmt.orelse.body), state)
        frame = self.ctx.loops[-1] if self.ctx.loops else None
        if frame is not None:
            frame.conditional += 1
        try:
            body = self.block(block_statements(stmt.body), state.copy())
            if stmt.orelse is None:
                other: State | None = state
            elif isinstance(stmt.orelse, cst.If):
                other = self.stmt(stmt.orelse, state.copy())
            else:
                other = self.block(block_statements(stmt.orelse.body), state.copy())
        finally:
            if frame is not None:
                frame.conditional -= 1
        return join([body, other])

    def _with(self, stmt: cst.With, state: State) -> State | None:
        inference: cst.CSTNode | bool | None = False  # False: unchanged
        for item in stmt.items:
            kind = self._grad_kind(item.item)
            if kind == "off":
                inference = stmt
            elif kind == "on":
                inference = None
            else:
                objs = self.value(item.item, state)
                if item.asname is not None:
                    self.bind(item.asname.name, objs, None, state)
        if inference is not False:
            self.ctx.inference.append(inference)  # type: ignore[arg-type]
        try:
            return self.block(block_statements(stmt.body), state)
        finally:
            if inference is not False:
                self.ctx.inference.pop()

    def _try(self, stmt: cst.Try | cst.TryStar, state: State) -> State | None:
        if stmt.finalbody is not None:
            self._finally.append(block_statements(stmt.finalbody.body))
        try:
            body = self.block(block_statements(stmt.body), state.copy())
            start = join([state, body]) or state
            branches: list[State | None] = []
            for handler in stmt.handlers:
                branches.append(self.block(block_statements(handler.body), start.copy()))
            if stmt.orelse is not None:
                branches.append(self.block(block_statements(stmt.orelse.body), body))
            else:
                branches.append(body)
        finally:
            if stmt.finalbody is not None:
                self._finally.pop()
        after = join(branches)
        if stmt.finalbody is not None:
            final_in = after if after is not None else start.copy()
            final = self.block(block_statements(stmt.finalbody.body), final_in)
            return final if after is not None else None
        return after

    def _loop(self, stmt: cst.For | cst.While, state: State) -> State | None:
        frame = LoopFrame(stmt)
        passes = 1 if self.ctx.unroll_depth >= _MAX_UNROLL_DEPTH else 2
        outer_pass = self.ctx.pass_index
        ends: list[State | None] = [state]
        breaks: list[State] = []
        current: State | None = state
        self.ctx.unroll_depth += 1
        try:
            for index in range(passes):
                if current is None:
                    break
                entry = current.copy()
                if isinstance(stmt, cst.For):
                    items = self.value(stmt.iter, entry)
                    self._bind_loop_target(stmt, entry, items if isinstance(
                        stmt.iter, (cst.Name, cst.List, cst.Tuple, cst.Attribute)) else frozenset())
                else:
                    self.value(stmt.test, entry)
                frame.grad_forwards = set()
                self.ctx.loops.append(frame)
                self.ctx.pass_index = max(outer_pass, index)
                self._loop_exits.append(([], []))
                try:
                    end = self.block(block_statements(stmt.body), entry)
                finally:
                    self.ctx.loops.pop()
                    pass_breaks, continues = self._loop_exits.pop()
                breaks.extend(pass_breaks)
                current = join([end, *continues])
                ends.append(current)
        finally:
            self.ctx.unroll_depth -= 1
            self.ctx.pass_index = outer_pass
        if isinstance(stmt, cst.While) and _is_true(stmt.test):
            ends = []
        after = join([*ends, *breaks])
        if stmt.orelse is not None and after is not None:
            after = self.block(block_statements(stmt.orelse.body), after)
        return after

    def _bind_loop_target(self, stmt: cst.For, state: State,
                          items: frozenset[ModelObject]) -> None:
        # `for m in [a, b]:` / `for m in models:` -> m may be any of them
        self.bind(stmt.target, items, None, state)
        # `for module in model.modules():` -> module.eval() handles model
        it = stmt.iter
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute):
            method = it.func.attr.value
            if method in ("modules", "children", "named_modules", "named_children",
                          "parameters", "named_parameters"):
                owners = self._plain(it.func.value, state)
                target: cst.BaseExpression = stmt.target
                if isinstance(target, cst.Tuple) and target.elements:
                    target = target.elements[-1].value
                key = expression_key(target)
                if owners and key is not None:
                    kind = "parameters" if "parameters" in method else "modules"
                    state.parts[key] = (owners, kind)

    # -- expressions -----------------------------------------------------------------------
    def value(self, expr: cst.BaseExpression | None, state: State) -> frozenset[ModelObject]:
        """Evaluate ``expr`` for its effects (in evaluation order); the models it refers to."""
        if expr is None:
            return frozenset()
        if isinstance(expr, cst.Call):
            result = self.call(expr, state)
            self._call_results[id(expr)] = result
            return result
        if isinstance(expr, cst.Name):
            return self.lookup(state, expr.value)
        if isinstance(expr, cst.Attribute):
            if expr.attr.value == "module":
                return self.value(expr.value, state)
            key = expression_key(expr)
            if key is not None:
                if key.startswith("self.") or key in state.names:
                    return self.lookup(state, key)
                return frozenset()
            self.value(expr.value, state)
            return frozenset()
        if isinstance(expr, (cst.Lambda,)):
            return frozenset()
        if isinstance(expr, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            self.ctx.repeated += 1
            try:
                self._children(expr, state)
            finally:
                self.ctx.repeated -= 1
            return frozenset()
        if isinstance(expr, cst.NamedExpr):
            objs = self.value(expr.value, state)
            self.bind(expr.target, objs, expr.value, state)
            return objs
        if isinstance(expr, cst.IfExp):
            # `m.eval() if flag else m.train()`: one branch runs, as in an `if` statement
            self.value(expr.test, state)
            body, orelse = state.copy(), state.copy()
            result = self.value(expr.body, body) | self.value(expr.orelse, orelse)
            _assign(state, join([body, orelse]))
            return result
        if isinstance(expr, cst.BooleanOperation):
            # the right operand may not run
            left = self.value(expr.left, state)
            right_state = state.copy()
            right = self.value(expr.right, right_state)
            _assign(state, join([state, right_state]))
            return left | right
        if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
            # a container of models points to them (`for m in [a, b]: m.eval()`)
            found: frozenset[ModelObject] = frozenset()
            for element in expr.elements:
                found |= self.value(element.value, state)
            return found
        if isinstance(expr, cst.Subscript):
            base = self.value(expr.value, state)
            for index in expr.slice:
                self._children(index, state)
            return base
        if isinstance(expr, (cst.Yield, cst.Await)):
            if isinstance(expr, cst.Yield):
                self.is_generator = True
            self._children(expr, state)
            return frozenset()
        self._children(expr, state)
        return frozenset()

    def _children(self, node: cst.CSTNode, state: State) -> None:
        for child in child_nodes(node):
            if isinstance(child, cst.BaseExpression):
                self.value(child, state)
            elif isinstance(child, (cst.Lambda, cst.FunctionDef)):
                continue
            elif not isinstance(child, cst.BaseSuite):
                self._children(child, state)

    def call(self, call: cst.Call, state: State) -> frozenset[ModelObject]:
        func = call.func
        bare = self._bare_call is call
        self._bare_call = None
        receiver: frozenset[ModelObject] = frozenset()
        method: str | None = None
        direct: frozenset[ModelObject] = frozenset()
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            direct = self._attribute_model(func, state)
            if not direct:
                receiver = self.value(func.value, state)
        else:
            direct = self.value(func, state)
        args = [self.value(arg.value, state) for arg in call.args]
        qualified = self.imports.resolve(func)

        if _is_step_call(call):
            # loss_scaler(loss, optimizer), fabric.backward-style callables: a training step
            self._step(call, state, {})
            return frozenset()
        # forwards: m(x), m.forward(x), m.generate(...)
        if direct:
            self._forward(call, func, direct, state, bare)
            return frozenset()
        if isinstance(func, cst.Attribute) and method is not None and (
                method.endswith("backward") or (method == "step" and _is_optimizer(func))):
            # loss.backward(), scaler.scale(loss).backward(), accelerator.backward(loss),
            # self.manual_backward(loss), optimizer.step(), scaler.step(optimizer)
            self._step(call, state, {})
            return frozenset()
        if method in api.WRAPPING_METHODS and len(args) == 1 and args[0]:
            # model = accelerator.prepare(model) / fabric.setup_module(model): the same
            # module, wrapped (also when the accelerator or fabric is a parameter)
            return args[0]
        if receiver and method is not None and isinstance(func, cst.Attribute):
            own = self.owner.resolve_function(func, self.unit)
            if own is not None:  # self.helper(...): a method of this class (or a local base)
                return self._apply_summary(call, own[0], True, list(call.args), args, state,
                                           receiver)
            return self._method(call, func, method, receiver, args, state, bare)
        if method is not None and isinstance(func, cst.Attribute):
            part = self._part_method(call, func, method, state)
            if part is not None:
                return part
        if qualified is not None:
            handled = self._known_callee(call, qualified, args, state)
            if handled is not None:
                return handled

        if method in ("fit", "train") and not receiver:
            return self._fit(call, args, state)  # trainer.fit(model) / trainer.train()
        if method == "from_pretrained":
            obj = self._object(call, Origin.PRETRAINED, UNKNOWN_DEPENDENCE)
            state.modes[obj] = frozenset({self._fact(Mode.EVAL, call)})
            return frozenset({obj})
        if method in ("from_config", "_from_config"):
            dependent = UNKNOWN_DEPENDENCE
            if isinstance(func, cst.Attribute):
                local = self._local_class(func.value)
                if local is not None:
                    dependent = self.owner.dependence.of_class(local)
            return self._built(call, dependent, state)
        resolved = self.owner.resolve_function(func, self.unit)
        if resolved is not None:
            function, is_method = resolved
            bound = [call_arg for call_arg in call.args]
            return self._apply_summary(call, function, is_method, bound, args, state, None)
        if qualified is not None:
            if not any(args) and not _config_constructor(qualified, call) and (
                    self.owner.inert_helper(qualified, state.names)):
                # a helper of another project file that can neither make, load, switch nor
                # train a model, given none: its summary would change nothing here
                return frozenset()
            foreign = self.owner.imported_function(qualified)
            if foreign is not None:
                # a helper of another project file (`from utils import evaluate`): its
                # summary, computed there
                return self._apply_summary(call, foreign[1], False, list(call.args), args,
                                           state, None, foreign[0], foreign[2])
        if qualified is None and isinstance(func, cst.Name):
            local = self.owner.classes.by_name.get(func.value)
            if local is not None and local.is_module and (
                    self.unit is self.owner.module or func.value not in self.local_names):
                wrapped = self._wrapped(call, args)
                if wrapped:
                    # a module built around an existing model (an export wrapper, a classifier
                    # around a backbone): the wrapped model's mode is what matters
                    return wrapped
                built = self._built(call, self._dependence(call), state)
                if self.owner.path is not None:
                    for obj in built:
                        obj.cls = (self.owner.path, func.value)
                return built
        if qualified is not None:
            imported = self.owner.dependence.imported(qualified, call, self._scopes)
            if imported is not None:
                # a class of another project file: a model with its layers, or a plain class
                # (a predictor that evaluates its own model) that is no model at all
                if not imported.is_module:
                    self._touch_unknown(args, call, state)
                    return frozenset()
                # a module class of an installed package the shipped table does not cover is
                # built only where the call looks like one (the pre-filter cannot read packages)
                if imported.source != "installed" or _config_constructor(qualified, call):
                    wrapped = self._wrapped(call, args)
                    if wrapped:
                        return wrapped
                    built = self._built(call, imported.dependence, state)
                    cls = (self.owner.project_class(qualified) if imported.source == "project"
                           else None)
                    for obj in built:
                        obj.defined = imported.where
                        obj.cls = cls
                    return built
        if qualified is not None and _config_constructor(qualified, call) and (
                not self.owner.dependence.project_non_module(qualified)):
            return self._built(call, UNKNOWN_DEPENDENCE, state)
        self._touch_unknown(args, call, state)
        return frozenset()

    def _attribute_model(self, func: cst.Attribute, state: State) -> frozenset[ModelObject]:
        """The model ``self.net`` / ``ddp.module`` stands for when called (a forward), rather
        than a method of what precedes the dot."""
        if func.attr.value in api.MODULE_METHODS:
            return frozenset()
        key = expression_key(func)
        if key is None:
            return frozenset()
        if key in state.names:
            return state.names[key]
        if func.attr.value == "module":
            return self.value(func.value, state)
        if (key.startswith("self.") and key.count(".") == 1
                and self.owner.resolve_function(func, self.unit) is None):
            return self.lookup(state, key)
        return frozenset()

    def _wrapped(self, call: cst.Call, args: list[frozenset[ModelObject]],
                 ) -> frozenset[ModelObject]:
        """Existing models passed to a constructor (not the layers it builds in place); not
        through ``*args``/``**kwargs``, which factories use to forward settings
        (``ResNet(block, layers, **kwargs)``)."""
        args = [objs for arg, objs in zip(call.args, args, strict=False) if not arg.star]
        found: frozenset[ModelObject] = frozenset().union(*args) if args else frozenset()
        if not found:
            return found
        inner: set[int] = set()
        stack: list[cst.CSTNode] = [arg.value for arg in call.args]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Call):
                inner.add(id(node))
            stack.extend(child_nodes(node))
        return frozenset(obj for obj in found if id(obj.site) not in inner)

    def _local_class(self, expr: cst.BaseExpression) -> ClassInfo | None:
        name = dotted_name(expr)
        if name is None or self.imports.resolve(expr) is not None:
            return None
        info = self.owner.classes.by_name.get(name)
        return info if info is not None and info.is_module else None

    @property
    def _scopes(self) -> tuple[Scope, ...]:
        """Where this unit's expressions are read (for constant arguments)."""
        return (self.owner.module,) if self.unit is self.owner.module else (
            self.owner.module, self.unit)

    def _dependence(self, call: cst.Call) -> Dependence:
        """The mode dependence of what ``call`` builds, its arguments read in this unit."""
        return self.owner.dependence.of_call(call, self._scopes)

    def _built(self, call: cst.Call, dependent: Dependence, state: State,
               ) -> frozenset[ModelObject]:
        obj = self._object(call, Origin.BUILT, dependent)
        # a module whose mode-dependent parts its constructor leaves in eval mode
        mode = Mode.EVAL if dependent.starts_eval else Mode.TRAIN
        state.modes[obj] = frozenset({self._fact(mode, call)})
        return frozenset({obj})

    def _known_callee(self, call: cst.Call, qualified: str,
                      args: list[frozenset[ModelObject]], state: State,
                      ) -> frozenset[ModelObject] | None:
        first = args[0] if args else frozenset()
        if qualified in api.WRAPPERS:
            return first
        if qualified in api.EXPORTS and first:
            self.result.exports.append(Export(call, qualified, call.args[0].value, first,
                                              state.facts(first), self.statement))
            return frozenset()
        if qualified in api.OPAQUE_PRODUCERS:
            return frozenset()
        if qualified == "copy.deepcopy" and first:
            new: set[ModelObject] = set()
            for obj in first:
                copy = self._object(call, Origin.COPY, obj.dependence, suffix=str(id(obj)))
                state.modes[copy] = state.modes.get(obj, frozenset())
                if obj in state.loaded:
                    state.loaded |= {copy}
                new.add(copy)
            return frozenset(new)
        if qualified in api.MODEL_LOADERS:
            obj = self._object(call, Origin.LOADED, UNKNOWN_DEPENDENCE)
            text = _path_text(self.owner.module, call, 0)
            self.owner.loads.append((obj, _string_argument(call, 0, "f"), text))
            # a pickled module keeps the mode it was saved in: a save/load round trip in the
            # same flow gives back the saved model's mode (what the scripts beside this one
            # save is settled after the walk, for the models it runs: ModelModes)
            saved = self._saved_facts
            state.modes[obj] = saved if saved is not None else frozenset(
                {self._fact(Mode.TRAIN, call)})
            state.loaded |= {obj}
            return frozenset({obj})
        if qualified in api.MODEL_SAVERS and call.args:
            path = _string_argument(call, 1, "f")
            if path is not None and first:
                self.owner.saves.setdefault(path, set()).update(first)
            saved_expr = call.args[0].value
            if not (isinstance(saved_expr, cst.Call) and isinstance(saved_expr.func, cst.Attribute)
                    and saved_expr.func.attr.value == "state_dict"):
                self.owner.whole_saves.append((_path_text(self.owner.module, call, 1), first,
                                               state.facts(first)))
                self._saved_facts = state.facts(first) if first else frozenset(
                    {self._fact(Mode.UNKNOWN, call)})
            return frozenset()
        if qualified in ("torch.nn.Module.eval", "torch.nn.Module.train") and first:
            mode = Mode.EVAL if qualified.endswith("eval") else self._train_arg(call, 1)
            self._change(call, call.args[0].value, first, mode, state)
            return first
        if qualified in api.SET_GRAD_ENABLED and self._bare_statement(call):
            flag = _bool_arg(call)
            state.grad_off = call if flag is False else None
            return frozenset()
        if qualified in api.WEIGHT_LOADERS and first:
            state.loaded |= first
            return frozenset()
        if is_torch_layer(qualified):
            # only containers hold existing models: nn.Linear(2, hidden) does not wrap `hidden`
            wrapped = self._wrapped(call, args) if qualified in api.CONTAINERS else frozenset()
            if wrapped:
                # nn.Sequential(backbone, head), nn.ModuleList([a, b]): the models inside
                return wrapped
            return self._built(call, self._dependence(call), state)
        if qualified in api.TRAIN_MODE_FACTORIES or qualified.startswith(
                api.TRAIN_MODE_FACTORIES_PREFIXES):
            last = qualified.rsplit(".", 1)[-1]
            if last[:1].islower() and not last.startswith("get_"):
                objs = self._built(call, UNKNOWN_DEPENDENCE, state)
                if any(a.keyword is not None and a.keyword.value in ("weights", "pretrained")
                       for a in call.args):
                    state.loaded |= objs
                return objs
        if qualified in api.MODE_NEUTRAL_FUNCTIONS or qualified.startswith("logging."):
            return frozenset()
        return None

    def _bare_statement(self, call: cst.Call) -> bool:
        stmt = self.statement
        return (isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(s, cst.Expr) and s.value is call for s in stmt.body))

    def _train_arg(self, call: cst.Call, position: int) -> Mode:
        """The mode ``m.train(...)`` sets: TRAIN, EVAL for a constant False, else UNKNOWN."""
        arg = None
        for i, a in enumerate(call.args):
            keyword = a.keyword.value if a.keyword is not None else None
            if keyword == "mode" or (keyword is None and i == position and a.star == ""):
                arg = a
        if arg is None:
            return Mode.TRAIN
        value = _constant_bool(arg.value)
        if value is None:
            return Mode.UNKNOWN
        return Mode.TRAIN if value else Mode.EVAL

    def _method(self, call: cst.Call, func: cst.Attribute, method: str,
                receiver: frozenset[ModelObject], args: list[frozenset[ModelObject]],
                state: State, bare: bool) -> frozenset[ModelObject]:
        if method in api.FORWARD_METHODS:
            self._forward(call, func.value, receiver, state, bare)
            return frozenset()
        if method == "eval":
            self._change(call, func.value, receiver, Mode.EVAL, state)
            return receiver
        if method == "fit" and any(args):
            # a trainer handed in (`trainer.fit(model)`): the receiver's own mode as before
            state.set_mode(receiver, frozenset({self._fact(Mode.UNKNOWN, call)}))
            return self._fit(call, args, state)
        if method == "train":
            self._change(call, func.value, receiver, self._train_arg(call, 0), state)
            return receiver
        if method == "requires_grad_":
            if call.args and _constant_bool(call.args[0].value) is False:
                state.frozen |= receiver
            return receiver
        if method == "load_state_dict" or method == "load_adapter":
            state.loaded |= receiver
            return frozenset()
        if method == "apply":
            if call.args and not self._apply_is_neutral(call.args[0].value):
                state.set_mode(receiver, frozenset({self._fact(Mode.UNKNOWN, call)}))
            return receiver
        if method in api.SELF_RETURNING_METHODS:
            return receiver
        if method in api.NEUTRAL_METHODS:
            return frozenset()
        if api.is_loss_method(method):
            # `model.loss(...)`, `model.compute_loss(...)`: the model computes what the next
            # step back-propagates (a forward with grad, not inference), mode unchanged
            if self._inference(state) is None:
                for loop in self.ctx.loops:
                    loop.grad_forwards |= receiver
                self._grad_forwards_outside.update(receiver)
                if method in ("train_step", "training_step"):
                    self._step(call, state, {})  # custom loops often step inside it
            return frozenset()
        # a method of a same-file class: its summary, with the receiver as `self`
        for obj in receiver:
            site = obj.site
            if isinstance(site, cst.Call):
                name = dotted_name(site.func)
                target = self.owner.class_method(name, method) if name else None
                if target is not None and len(receiver) == 1:
                    return self._apply_summary(call, target, True, list(call.args), args,
                                               state, receiver)
        # a method of a class of another project file (`model.init_hidden(1)`)
        foreign = self._foreign_method(receiver, method)
        if foreign is not None:
            return self._apply_summary(call, foreign[1], True, list(call.args), args, state,
                                       receiver, foreign[0], foreign[2], effects_only=True)
        state.set_mode(receiver, frozenset({self._fact(Mode.UNKNOWN, call)}))
        return frozenset()

    def _foreign_method(self, receiver: frozenset[ModelObject], method: str,
                        ) -> tuple[ModelModes, cst.FunctionDef, str] | None:
        """The method of one receiver whose class another project file defines: the analysis
        of that file, the def, and where it is (for messages)."""
        if len(receiver) != 1 or FOREIGN_DEPTH[0] > 0:
            return None
        obj = next(iter(receiver))
        if obj.cls is None and obj.origin is Origin.LOADED:
            self.owner.resolve_load(obj, method)  # what the scripts beside this one saved
        cls = obj.cls
        if cls is None or cls[0] == self.owner.path:
            return None
        parsed = parse_project_file(Path(cls[0]))
        if parsed is None:
            return None
        modes = parsed.context.modes
        function = modes.class_method(cls[1], method)
        if function is None:
            return None
        line = parsed.line_of(rb"def[ \t]+" + re.escape(method.encode()) + rb"\b")
        return modes, function, f"`{cls[1]}.{method}()` ({parsed.path.name}:{line or 1})"

    def _apply_is_neutral(self, fn: cst.BaseExpression) -> bool:
        """``model.apply(init_weights)``: a same-file function that never switches modes."""
        if isinstance(fn, cst.Name):
            function = self.owner.functions.get(fn.value)
            if function is not None:
                finder = _ModeCallFinder()
                visit_readonly(function, finder)
                return not finder.found
        return False

    def _part_method(self, call: cst.Call, func: cst.Attribute, method: str, state: State,
                     ) -> frozenset[ModelObject] | None:
        key = expression_key(func.value)
        part = state.parts.get(key) if key is not None else None
        if part is None:
            return None
        owners, kind = part
        if kind == "modules" and method in ("eval", "train"):
            # per-submodule mode switching (MC-dropout helpers, frozen BN): handled by hand
            state.set_mode(owners, frozenset({self._fact(Mode.UNKNOWN, call)}))
            return frozenset()
        if kind == "parameters" and method == "requires_grad_" and call.args and (
                _constant_bool(call.args[0].value) is False):
            state.frozen |= owners
        return frozenset()

    def _forward(self, call: cst.Call, model: cst.BaseExpression,
                 objects: frozenset[ModelObject], state: State, bare: bool) -> None:
        inference = self._inference(state)
        facts = state.facts(objects)
        frame = self.ctx.loops[-1] if self.ctx.loops else None
        forward = Forward(
            call=call, model=model, objects=objects, facts=facts, inference=inference,
            statement=self.statement, collected=not bare,
            repeated=bool(self.ctx.loops) or self.ctx.repeated > 0, frame=frame,
            pass_index=self.ctx.pass_index, loaded=bool(objects & state.loaded),
            frozen=bool(objects & state.frozen), order=self.order,
            conditional=frame is not None and frame.conditional > 0,
            eval_loop=next((f.node for f in reversed(self.ctx.loops)
                            if isinstance(f.node, cst.For) and _evaluation_loader(f.node)),
                           None),
        )
        self.result.forwards.append(forward)
        if must_train(facts):
            for fact in facts:
                if fact.train_call is not None:
                    fact.train_call.forwards.append(forward)
        if inference is None:
            for loop in self.ctx.loops:
                loop.grad_forwards |= objects
            self._grad_forwards_outside.update(objects)

    def _change(self, call: cst.CSTNode, model: cst.BaseExpression | None,
                objects: frozenset[ModelObject], mode: Mode, state: State,
                via: str | None = None) -> None:
        record: TrainCall | None = None
        if mode is Mode.TRAIN and via is None and isinstance(call, cst.Call):
            record = self.result.train_calls.get(id(call))
            if record is None:
                record = TrainCall(call, objects)
                self.result.train_calls[id(call)] = record
        state.set_mode(objects, frozenset({self._fact(mode, call, via, record)}))
        self.result.changes.append(ModeChange(call, model, objects, mode, self.statement,
                                              tuple(f.node for f in self.ctx.loops), via))

    def _step(self, node: cst.CSTNode, state: State,
              trained: dict[ModelObject, frozenset[Fact]]) -> None:
        self.result.has_training = True
        frame = self.ctx.loops[-1] if self.ctx.loops else None
        candidates = set(frame.grad_forwards) if frame is not None else set(
            self._grad_forwards_outside)
        all_trained = dict(trained)
        for obj in candidates:
            all_trained.setdefault(obj, state.modes.get(obj, frozenset()))
        step = Step(node, self.statement, self.order, all_trained,
                    tuple(f.node for f in self.ctx.loops))
        self.result.steps.append(step)
        for frame_ in self.ctx.loops:
            frame_.steps.append(step)
            frame_.trained |= set(all_trained)
        # an explicit train() followed by a step is ordinary training, not MC dropout (also
        # when a method call in between, `model.loss(...)`, left the mode unknown)
        for facts in state.modes.values():
            for fact in facts:
                if fact.train_call is not None:
                    fact.train_call.trained = True
        for record in self.result.train_calls.values():
            if record.objects & all_trained.keys():
                record.trained = True

    def _fit(self, call: cst.Call, args: list[frozenset[ModelObject]], state: State,
             ) -> frozenset[ModelObject]:
        """``trainer.fit(model)``, ``trainer.train()``: training happens somewhere in there."""
        self.result.has_training = self.result.untracked_training = True
        self.result.untracked_orders.append(self.order)
        passed = frozenset().union(*args)
        for record in self.result.train_calls.values():
            if record.objects & passed:
                record.trained = True  # `net.train(); trainer.fit(net)`: no MC dropout
        self._touch_unknown(args, call, state)
        return frozenset()

    def _touch_unknown(self, args: list[frozenset[ModelObject]], call: cst.Call,
                       state: State) -> None:
        """A model passed to a function we cannot see: its mode is unknown afterwards."""
        for objs in args:
            if objs:
                state.set_mode(objs, frozenset({self._fact(Mode.UNKNOWN, call)}))

    def _apply_summary(self, call: cst.Call, function: cst.FunctionDef, is_method: bool,
                       call_args: list[cst.Arg], args: list[frozenset[ModelObject]],
                       state: State, receiver: frozenset[ModelObject] | None,
                       definer: ModelModes | None = None, via: str | None = None,
                       effects_only: bool = False) -> frozenset[ModelObject]:
        """Apply what ``function`` does (a helper of this file, or of the file ``definer``
        analyses, described by ``via``) to the models the call passes; ``effects_only``: what
        it does to their modes and what it returns, not the forwards or training steps in it
        (a method of a class of another file, which the pre-filter's sketch does not follow)."""
        definer = definer or self.owner
        constants = self._literal_arguments(function, is_method, call_args, definer)
        plain = _plain_arguments(function, is_method, call_args, self._class_reference)
        if definer is self.owner:
            summary = definer.summary(function, constants, plain)
        else:
            FOREIGN_DEPTH[0] += 1  # inside it, helpers of further files stay unknown
            try:
                summary = definer.summary(function, constants, plain)
            finally:
                FOREIGN_DEPTH[0] -= 1
        if summary is _UNKNOWN_SUMMARY:
            self._touch_unknown(args, call, state)
            if receiver:
                state.set_mode(receiver, frozenset({self._fact(Mode.UNKNOWN, call)}))
            return frozenset()
        # map the callee's parameter keys to the caller's objects
        params = list(summary.param_order)
        mapping: dict[str, frozenset[ModelObject]] = {}
        offset = 0
        if is_method and params:
            if receiver is not None:
                mapping[params[0]] = receiver
            elif "self" in state.names or params[0] == "self":
                mapping[params[0]] = self.lookup(state, "self") if isinstance(
                    self.unit, cst.FunctionDef) else frozenset()
            offset = 1
        position = offset
        for arg, objs in zip(call_args, args, strict=False):
            if arg.star:
                break
            if arg.keyword is not None:
                mapping[arg.keyword.value] = objs
            elif position < len(params):
                mapping[params[position]] = objs
                position += 1
        for key in summary.effects:
            if key in mapping or ("." not in key and key in params):
                continue
            # a global (or self.attr) the helper reads: the caller's binding of the same key
            if key.startswith("self.") and not is_method:
                continue
            found = (self.lookup(state, key) if key.startswith("self.")
                     else state.names.get(key))
            if found:
                mapping[key] = found
        name = function.name.value
        if definer is not self.owner and not effects_only:
            self._foreign_inference(call, call_args, args, summary, mapping, state, via)
        if summary.runs_keys and not effects_only:
            self._helper_forwards(call, call_args, args, summary, mapping, state,
                                  f"`{name}()`" if via is None else via, via, params, is_method)
        # call sites for the callee's reporting run
        targets = frozenset(
            name for small in small_statements(self.statement) if isinstance(small, cst.Assign)
            and small.value is call for target in small.targets
            for name in target_names(target.target))
        for key, objs in mapping.items():
            if objs and definer is self.owner:
                self.owner.record_callsite(function, key, CallSite(
                    state.facts(objs), call, objs,
                    self.ctx.loops[-1] if self.ctx.loops else None, targets))
        # training inside the helper
        if summary.trains and not effects_only:
            trained = {obj: state.modes.get(obj, frozenset())
                       for key in summary.trains_entry for obj in mapping.get(key, frozenset())}
            self._step(call, state, trained)
        # mode effects
        for key, facts in summary.effects.items():
            objs = mapping.get(key, frozenset())
            if not objs:
                continue
            if summary.generator:
                state.set_mode(objs, frozenset({self._fact(Mode.UNKNOWN, call)}))
                continue
            modes = {f.mode for f in facts}
            if modes == {Mode.ENTRY}:
                continue
            new: set[Fact] = set()
            changed_to: Mode | None = None
            for fact in facts:
                if fact.mode is Mode.ENTRY:
                    new |= state.facts(objs)
                else:
                    new.add(self._fact(fact.mode, call, via=name))
                    changed_to = fact.mode if changed_to in (None, fact.mode) else Mode.UNKNOWN
            for obj in objs:
                state.modes[obj] = frozenset(new)
            if changed_to is not None:
                self.result.changes.append(ModeChange(
                    call, _passed(key, objs, params, is_method, call, call_args, args), objs,
                    changed_to, self.statement, tuple(f.node for f in self.ctx.loops), name))
        # return value
        result: set[ModelObject] = set()
        for key in summary.returns_keys:
            result |= mapping.get(key, frozenset())
        made: list[ModelObject] = []
        for index, (callee_obj, facts, loaded) in enumerate(summary.returns_new):
            obj = self._object(call, callee_obj.origin, callee_obj.dependence,
                               suffix=f"ret{index}")
            obj.description = callee_obj.description
            new_facts = frozenset(
                self._fact(f.mode, call, via=name) if f.mode is not Mode.ENTRY
                else self._fact(Mode.UNKNOWN, call) for f in facts)
            state.modes[obj] = new_facts
            if loaded:
                state.loaded |= {obj}
            result.add(obj)
            made.append(obj)
        if summary.positions:
            # `model, loss_fn, opt = get_model()`: each target gets what its position returns
            self._call_positions[id(call)] = tuple(
                frozenset().union(*(mapping.get(key, frozenset()) for key in keys),
                                  (made[i] for i in indexes))
                for keys, indexes in summary.positions)
        return frozenset(result)

    def _helper_forwards(self, call: cst.Call, call_args: list[cst.Arg],
                         args: list[frozenset[ModelObject]], summary: Summary,
                         mapping: dict[str, frozenset[ModelObject]], state: State,
                         runner: str, via: str | None, params: list[str],
                         is_method: bool) -> None:
        """A helper (``runner``; of another file: ``via``) that runs a model it is given (or
        ``self.net``, a global) forward in the mode and grad context this flow gives it:
        under no_grad here, a forward for inference at the call (``with torch.no_grad():
        predict(model, x)``); otherwise this flow's own callers decide (its summary's
        ``runs_keys``)."""
        inference = self._inference(state)
        for key in sorted(summary.runs_keys):
            objs = mapping.get(key, frozenset())
            if not objs:
                continue
            if inference is None:
                self._entry_runs.update(
                    obj.parameter for obj in objs if obj.parameter is not None
                    and all(f.mode is Mode.ENTRY for f in state.modes.get(obj, ())))
                continue
            model = _passed(key, objs, params, is_method, call, call_args, args)
            if model is not None:
                frame = self.ctx.loops[-1] if self.ctx.loops else None
                self._forward_at_call(
                    call, model, objs, state, inference, via,
                    collected=self._discarded is not call, runner=runner,
                    conditional=frame is not None and frame.conditional > 0)

    def _forward_at_call(self, call: cst.Call, model: cst.BaseExpression,
                         objs: frozenset[ModelObject], state: State, inference: cst.CSTNode,
                         via: str | None, collected: bool = True,
                         runner: str | None = None, conditional: bool = False) -> None:
        """Record a forward that a helper runs, at the call of the helper (where a missing
        ``eval()`` is fixed)."""
        frame = self.ctx.loops[-1] if self.ctx.loops else None
        self.result.forwards.append(Forward(
            call=call, model=model, objects=objs, facts=state.facts(objs), inference=inference,
            statement=self.statement, collected=collected,
            repeated=bool(self.ctx.loops) or self.ctx.repeated > 0, frame=frame,
            pass_index=self.ctx.pass_index, loaded=bool(objs & state.loaded),
            frozen=bool(objs & state.frozen), order=self.order,
            conditional=conditional, via=via, runner=runner))

    def _foreign_inference(self, call: cst.Call, call_args: list[cst.Arg],
                           args: list[frozenset[ModelObject]], summary: Summary,
                           mapping: dict[str, frozenset[ModelObject]], state: State,
                           via: str | None) -> None:
        """A helper of another file that runs a model it is given under no_grad, in the mode
        it was given, on evaluation data the call passes (``accuracy(model, val_loader)``): a
        forward at the call, here (where a missing ``eval()`` is fixed)."""
        if not any(names_evaluation_data(arg.value) for arg in call_args):
            return
        for key in sorted(summary.inference_keys):
            objs = mapping.get(key, frozenset())
            model = next((arg.value for arg, arg_objs in zip(call_args, args, strict=False)
                          if arg_objs & objs), None)
            if objs and model is not None:
                self._forward_at_call(call, model, objs, state, call, via)

    def _literal_arguments(self, function: cst.FunctionDef, is_method: bool,
                           call_args: list[cst.Arg], definer: ModelModes) -> Constants:
        """The call's literal arguments for parameters the callee's ``if`` tests."""
        tested = definer.tested_parameters(function)
        if not tested:
            return ()
        return tuple(sorted(literal_arguments(function, call_args, is_method, tested).items()))

    def _class_reference(self, expr: cst.BaseExpression) -> bool:
        """A class passed uncalled: one this file defines (and the unit does not rebind), a
        torch layer (``nn.BatchNorm2d``), or an imported capitalised name (``BasicBlock``;
        ``G``, a one-letter name, may be a model)."""
        if isinstance(expr, cst.Name) and expr.value in self.owner.classes.by_name and (
                self.unit is self.owner.module or expr.value not in self.local_names):
            return self.imports.resolve(expr) is None
        if not isinstance(expr, (cst.Name, cst.Attribute)):
            return False
        qualified = self.imports.resolve(expr)
        if qualified is None:
            return False
        last = qualified.rsplit(".", 1)[-1]
        return is_torch_layer(qualified) or (len(last) > 1 and class_like(qualified))

    def _grad_kind(self, expr: cst.BaseExpression) -> str | None:
        """"off" for no_grad/inference_mode/set_grad_enabled(False), "on" for enable_grad."""
        target = expr.func if isinstance(expr, cst.Call) else expr
        qualified = self.imports.resolve(target)
        if qualified is None:
            return None
        if qualified in api.NO_GRAD_CONTEXTS:
            if isinstance(expr, cst.Call) and "inference_mode" in qualified:
                flag = _bool_arg(expr, keyword="mode")
                if flag is False:
                    return "on"
                if expr.args and flag is None:
                    return None
            return "off"
        if qualified in api.SET_GRAD_ENABLED and isinstance(expr, cst.Call):
            flag = _bool_arg(expr, keyword="mode")
            return "off" if flag is False else "on" if flag is True else None
        if qualified in api.ENABLE_GRAD:
            return "on"
        return None

    def _decorator_inference(self, function: cst.FunctionDef) -> cst.CSTNode | None:
        for decorator in function.decorators:
            if self._grad_kind(decorator.decorator) == "off":
                return function
        return None


def _argument_names(call: cst.Call) -> frozenset[str]:
    finder = _NameFinder()
    for arg in call.args:
        visit_readonly(arg.value, finder)
    return frozenset(finder.names)


class _NameFinder(cst.CSTVisitor):
    """Names and attribute names mentioned (``own_statements_only``: not inside the nested
    blocks of a compound statement, which the statement walk visits on their own)."""

    def __init__(self, own_statements_only: bool = False) -> None:
        self.names: set[str] = set()
        self.own = own_statements_only

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.names.add(node.attr.value)

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> bool:
        return not self.own

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> bool:
        return not self.own

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return not self.own


class _ModeCallFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value in ("eval", "train", "training"):
            self.found = True


def _passed(key: str, objs: frozenset[ModelObject], params: list[str], is_method: bool,
            call: cst.Call, call_args: list[cst.Arg], args: list[frozenset[ModelObject]],
            ) -> cst.BaseExpression | None:
    """The expression by which a call hands a helper's parameter (or the ``self.model`` /
    global it reads) the models ``objs`` (for messages and fixes)."""
    if "." in key or key not in params:
        return cst.parse_expression(key)  # self.model / a global
    if is_method and key == params[0] and isinstance(call.func, cst.Attribute):
        return call.func.value
    return next((arg.value for arg, arg_objs in zip(call_args, args, strict=False)
                 if arg_objs & objs), None)


def _argument(call: cst.Call, position: int, keyword: str) -> cst.Arg | None:
    """The argument passed at ``position`` or as ``keyword``."""
    return next((arg for index, arg in enumerate(call.args)
                 if (arg.keyword is None and index == position and not arg.star)
                 or (arg.keyword is not None and arg.keyword.value == keyword)), None)


def _path_text(module: cst.Module, call: cst.Call, position: int) -> str | None:
    """The code of the path (or file) argument of ``torch.save``/``torch.load``, with no
    spaces: what a load in one script and a save in another are matched by."""
    arg = _argument(call, position, "f")
    return "".join(module.code_for_node(arg.value).split()) if arg is not None else None


def _string_argument(call: cst.Call, position: int, keyword: str) -> str | None:
    """A constant string passed at ``position`` or as ``keyword``."""
    arg = _argument(call, position, keyword)
    if arg is not None and isinstance(arg.value, cst.SimpleString):
        evaluated = arg.value.evaluated_value
        return evaluated if isinstance(evaluated, str) else None
    return None


def _is_step_call(call: cst.Call) -> bool:
    """A call handed both a loss and an optimizer (``loss_scaler(loss, optimizer, ...)``,
    ``backward_and_step(loss, opt)``): it back-propagates and steps."""
    loss = optimizer = False
    for arg in call.args:
        name = (dotted_name(arg.value) or "").rsplit(".", 1)[-1].lower()
        keyword = arg.keyword.value.lower() if arg.keyword is not None else ""
        loss = loss or "loss" in name or keyword == "loss"
        optimizer = optimizer or any(
            name.startswith(hint) or keyword.startswith(hint) for hint in ("optim", "opt"))
    return loss and optimizer


def _is_prepare(call: cst.Call) -> bool:
    """``accelerator.prepare(model, opt)`` / ``fabric.setup(model, opt)``: one wrapped object
    back per argument."""
    return isinstance(call.func, cst.Attribute) and call.func.attr.value in api.WRAPPING_METHODS


def _is_optimizer(func: cst.Attribute) -> bool:
    name = (dotted_name(func.value) or "").rsplit(".", 1)[-1].lower()
    return any(hint in name for hint in api.OPTIMIZER_NAME_HINTS)


def _is_true(expr: cst.BaseExpression) -> bool:
    return (isinstance(expr, cst.Name) and expr.value == "True") or (
        isinstance(expr, cst.Integer) and expr.value != "0")


def _constant_bool(expr: cst.BaseExpression) -> bool | None:
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value == "True"
    if isinstance(expr, cst.Integer):
        return expr.value != "0"
    return None


def _bool_arg(call: cst.Call, keyword: str = "mode") -> bool | None:
    for i, arg in enumerate(call.args):
        if (arg.keyword is None and i == 0 and not arg.star) or (
                arg.keyword is not None and arg.keyword.value == keyword):
            return _constant_bool(arg.value)
    return None


def _config_constructor(qualified: str, call: cst.Call) -> bool:
    """``BertModel(config)``: a model class from a package, built from a config object."""
    last = qualified.rsplit(".", 1)[-1]
    if not last[:1].isupper() or qualified.startswith("torch.") or "Config" in last:
        return False
    if len(call.args) < 1:
        return False
    arg = call.args[0]
    if arg.keyword is not None and arg.keyword.value != "config":
        return False
    text = (dotted_name(arg.value) or "").lower()
    return "config" in text or text in ("cfg", "conf")


#: Annotations of parameters that hold no model.
_PLAIN_ANNOTATIONS = frozenset({"int", "float", "str", "bool", "bytes", "complex", "dict",
                                "Dict", "Mapping", "Namespace", "DictConfig", "Path"})
#: The names by which scripts and libraries pass their settings (argparse's ``args``, a config
#: object): ``Net(args)`` builds a model from them rather than wrapping one.
_CONFIG_NAMES = frozenset({"args", "opt", "opts", "cfg", "config", "conf", "hparams", "hps",
                           "hp", "options", "flags", "settings", "hyperparams",
                           "hyperparameters"})
_CONFIG_SUFFIXES = ("_config", "_cfg", "_conf", "_args", "_opts", "_hparams")


def _settings_annotation(annotation: cst.BaseExpression | None) -> bool:
    """``int``, ``argparse.Namespace``, ``Config``, ``TrainArgs``, ``dict[str, Any]``,
    ``Config | None``: an annotation of a value that holds no model."""
    if isinstance(annotation, cst.BinaryOperation):  # X | None
        return _settings_annotation(annotation.left) and (
            _settings_annotation(annotation.right) or dotted_name(annotation.right) == "None")
    if isinstance(annotation, cst.Subscript):
        annotation = annotation.value
    name = dotted_name(annotation) if annotation is not None else None
    if name is None:
        return False
    last = name.rsplit(".", 1)[-1]
    return last in _PLAIN_ANNOTATIONS or last.endswith(("Config", "Args", "Arguments"))


def _plain_arguments(function: cst.FunctionDef, is_method: bool,
                     call_args: Sequence[cst.Arg],
                     is_class: Callable[[cst.BaseExpression], bool]) -> frozenset[str]:
    """Parameters a call passes a value that holds no model: a literal (``0.5``, ``"resnet"``,
    ``None``), a setting (``args.dropout``, ``cfg["p"]``, ``config.model.rate``) or a class
    (``BasicBlock``, ``nn.BatchNorm2d``). In the callee's summary they are no model, so
    ``Net(p)`` there builds a model rather than wrapping the one a parameter might hold
    (``def build(p): return Net(p)``)."""
    declared = _plain_value_parameters(function)
    passed, _ = passed_arguments(function, call_args, is_method)
    return frozenset(name for name, expr in passed.items()
                     if name not in declared and _no_model(expr, is_class))


def _no_model(expr: cst.BaseExpression, is_class: Callable[[cst.BaseExpression], bool],
              ) -> bool:
    if isinstance(expr, (cst.List, cst.Tuple)):  # `[2, 2, 2, 2]`, `(BasicBlock, 64)`
        return all(_no_model(element.value, is_class) for element in expr.elements)
    return literal(expr) is not NOT_LITERAL or _setting(expr) or is_class(expr)


def _setting(expr: cst.BaseExpression) -> bool:
    """``args.dropout``, ``cfg.MODEL.DROPOUT``, ``config["p"]``: read from settings."""
    while isinstance(expr, (cst.Attribute, cst.Subscript)):
        expr = expr.value
        if isinstance(expr, cst.Name):
            return _settings_name(expr.value)
    return False


def _settings_name(name: str) -> bool:
    """``args``, ``cfg``, ``hparams``, ``model_config``, ``_opts``: how settings are named."""
    name = name.lstrip("_").lower()
    return name in _CONFIG_NAMES or name.endswith(_CONFIG_SUFFIXES)


def _plain_value_parameters(function: cst.FunctionDef) -> frozenset[str]:
    """Parameters that hold no model: settings by annotation (``int``, ``str``, ``dict``,
    ``argparse.Namespace``, a ``Config`` or ``TrainArgs`` class) or by their conventional name
    (``args``, ``cfg``, ``config``, ``hparams``, ``model_config``), or defaulting to a number,
    string or boolean (``num_classes: int = 10``, ``p=0.5``), so that ``Net(args)`` or
    ``Net(num_classes=num_classes)`` builds a model rather than wrapping one."""
    params = function.params
    found: set[str] = set()
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        annotation = param.annotation.annotation if param.annotation is not None else None
        default = param.default
        if _settings_annotation(annotation) or _settings_name(param.name.value) or (
                isinstance(default, (cst.Integer, cst.Float, cst.SimpleString,
                                     cst.ConcatenatedString))
                or (isinstance(default, cst.Name) and default.value in ("True", "False"))
                or (isinstance(default, cst.UnaryOperation)
                    and isinstance(default.expression, (cst.Integer, cst.Float)))):
            found.add(param.name.value)
    return frozenset(found)
