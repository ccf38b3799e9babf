"""FileContext: everything the rules may ask about one parsed file, computed lazily, once."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import libcst as cst

from dropcheck.analysis.attributes import InstanceAttributes
from dropcheck.analysis.calls import BoundCall, bind
from dropcheck.analysis.classes import ClassIndex
from dropcheck.analysis.constants import ConstantEvaluator, Number
from dropcheck.analysis.imports import ImportTable
from dropcheck.analysis.layers import LayerIndex
from dropcheck.analysis.layout import is_test_file
from dropcheck.analysis.modes import ModelModes
from dropcheck.analysis.rates import DropoutRate, dropout_rate
from dropcheck.analysis.scopes import Scope, ScopeBindings
from dropcheck.analysis.statements import small_statements, walk_statements
from dropcheck.analysis.torch_api import RATE_PARAMETER, SIGNATURES
from dropcheck.analysis.training import (
    TRAINING_ONLY_METHODS,
    ModeGuards,
    ValueOrigins,
    mentions_mode_flag,
)


class FileContext:
    """Shared facts about one file. Rules ask; nothing here is computed until first asked."""

    def __init__(self, path: str, module: cst.Module) -> None:
        self.path = path
        self.module = module
        #: Enclosing module/class/function nodes of the node being visited, outermost first.
        #: Maintained by the engine during the batched pass.
        self.scopes: list[Scope] = [module]
        self._calls: dict[int, BoundCall | None] = {}
        self._mode_guards: dict[int, ModeGuards] = {}

    # -- names -------------------------------------------------------------------------------
    @cached_property
    def imports(self) -> ImportTable:
        imports: list[cst.Import | cst.ImportFrom] = []
        for stmt in walk_statements(self.module):
            for small in small_statements(stmt):
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    imports.append(small)
        return ImportTable(imports, set(self.module_bindings.bindings), self.path)

    @cached_property
    def imports_torch(self) -> bool:
        return self.imports.imports_module("torch")

    def qualified_name(self, expr: cst.BaseExpression) -> str | None:
        """Canonical name of a dotted expression (``nn.Dropout`` -> ``torch.nn.Dropout``)."""
        return self.imports.resolve(expr)

    def callee(self, call: cst.Call) -> str | None:
        return self.imports.resolve(call.func)

    def call(self, call: cst.Call) -> BoundCall | None:
        """The call bound to its callee's signature, if the callee is a torch API we know."""
        key = id(call)
        if key not in self._calls:
            name = self.imports.resolve(call.func)
            params = SIGNATURES.get(name) if name else None
            self._calls[key] = bind(name, call, params) if name and params is not None else None
        return self._calls[key]

    # -- values ------------------------------------------------------------------------------
    @cached_property
    def constants(self) -> ConstantEvaluator:
        return ConstantEvaluator(self.module)

    @cached_property
    def module_bindings(self) -> ScopeBindings:
        return ScopeBindings(self.module)

    def constant(
        self, expr: cst.BaseExpression, scopes: Sequence[Scope] | None = None
    ) -> Number | None:
        """The constant value of ``expr`` (in the current scopes unless given), else None."""
        return self.constants.evaluate(expr, self.scopes if scopes is None else scopes)

    def dropout_rate(self, call: cst.Call) -> DropoutRate | None:
        """The rate passed to a dropout-taking torch API (``p``/``dropout``/``dropout_p``)."""
        bound = self.call(call)
        if bound is None:
            return None
        parameter = RATE_PARAMETER.get(bound.qualified_name)
        if parameter is None:
            return None
        expr = bound.value(parameter)
        if isinstance(expr, cst.BaseExpression):
            return dropout_rate(bound, self.constant(expr), explicit=True)
        return dropout_rate(bound, None, explicit=expr is not None)

    # -- classes -----------------------------------------------------------------------------
    @cached_property
    def classes(self) -> ClassIndex:
        return ClassIndex(self.module, self.imports)

    # -- layer order -------------------------------------------------------------------------
    @cached_property
    def layers(self) -> LayerIndex:
        """The order in which each Sequential's and each forward()'s layers run."""
        return LayerIndex(self.module, self.imports, self.classes, self.constants, self.path)

    @property
    def enclosing_class(self) -> cst.ClassDef | None:
        for scope in reversed(self.scopes):
            if isinstance(scope, cst.ClassDef):
                return scope
        return None

    @property
    def enclosing_function(self) -> cst.FunctionDef | None:
        scope = self.scopes[-1]
        return scope if isinstance(scope, cst.FunctionDef) else None

    # -- models and their train/eval mode -------------------------------------------------------
    @cached_property
    def modes(self) -> ModelModes:
        """Which names hold models and in which mode, per flow unit (see analysis/modes.py)."""
        assigned = frozenset(
            name for name, stmts in self.module_bindings.bindings.items()
            if _variable(stmts))
        return ModelModes(self.module, self.imports, self.classes, assigned, self.constants,
                          test_file=is_test_file(self.path), path=self.path)

    def in_module_method(self) -> bool:
        """Whether the visited node is inside a method of an ``nn.Module`` subclass."""
        cls = self.enclosing_class
        return cls is not None and self.classes.is_module(cls)

    # -- train/eval mode (analysis/training.py) ----------------------------------------------
    @cached_property
    def instance_attributes(self) -> InstanceAttributes:
        """``self.X`` assignments per class (and its in-file bases)."""
        return InstanceAttributes(self.classes)

    @cached_property
    def value_origins(self) -> ValueOrigins:
        return ValueOrigins(self.constants, self.instance_attributes)

    @staticmethod
    def mentions_mode_flag(expr: cst.CSTNode) -> bool:
        """Whether ``expr`` mentions ``self.training`` (any ``x.training``) or a mode flag
        (``training``, ``is_training``, ``deterministic``, ...)."""
        return mentions_mode_flag(expr)

    def mode_guarded(self, call: cst.Call) -> bool:
        """Whether the visited ``call`` runs in one mode only: under ``if self.training:``,
        ``... if self.training else ...``, ``self.training and ...``, or after
        ``if not self.training: return ...`` in the enclosing function."""
        outermost = next((s for s in self.scopes if isinstance(s, cst.FunctionDef)), None)
        if outermost is None:
            return False
        guards = self._mode_guards.get(id(outermost))
        if guards is None:
            guards = self._mode_guards[id(outermost)] = ModeGuards(outermost)
        return guards.guarded(call)

    def mode_or_caller_dependent(self, expr: cst.BaseExpression) -> bool:
        """Whether the value of ``expr`` (in the current scopes) can follow the mode or is
        chosen by the caller: it mentions a mode flag, reads a parameter of the enclosing
        function (or a local computed from one), or a ``self.X`` that is not fixed in
        ``__init__``. See :class:`dropcheck.analysis.training.ValueOrigins`."""
        return self.value_origins.mode_or_caller_dependent(
            expr, self.scopes, self.enclosing_class)

    def in_training_only_method(self) -> bool:
        """Whether the visited node is in a method that only runs in training mode (Lightning's
        ``training_step``)."""
        method: cst.FunctionDef | None = None
        for outer, inner in zip(self.scopes, self.scopes[1:], strict=False):
            if isinstance(outer, cst.ClassDef) and isinstance(inner, cst.FunctionDef):
                method = inner  # the innermost class's method
        return method is not None and method.name.value in TRAINING_ONLY_METHODS


def _variable(stmts: Sequence[cst.CSTNode]) -> bool:
    """Whether a module-level name, bound by ``stmts`` in source order, is a variable that
    helpers read: only assignments, possibly after an import of the same name that they
    shadow (``import model`` then ``model = model.RNNModel(...)``)."""
    imports = 0
    while imports < len(stmts) and isinstance(stmts[imports], cst.ImportAlias):
        imports += 1
    rest = stmts[imports:]
    return bool(rest) and all(isinstance(s, (cst.Assign, cst.AnnAssign)) for s in rest)
