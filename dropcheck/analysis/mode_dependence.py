"""Whether a module's output can depend on train/eval mode, and how.

A model is mode dependent when something in it behaves differently in training mode:

- **stochastic**: it may drop units (a dropout layer or functional dropout with a rate that is
  not a constant 0, an RNN/attention layer with ``dropout > 0``, a ``self.training`` branch);
- **statistics**: it may normalise with batch statistics (BatchNorm, InstanceNorm with
  ``track_running_stats=True``, functional batch norm).

A module class of the file is analysed with the constant arguments its constructor call passes
(``Block(dim, 0.0)`` builds ``nn.Dropout(dropout)`` with a rate of 0: nothing), and a same-file
factory function (``def conv_bn(...): return nn.Sequential(...)``) is analysed like a class body.
A module class imported from another file of the project is read there (analysis/project.py).
A submodule we cannot see (an unknown class, a factory from another file, a base class from
another package) counts as both, so that only a *visible* model without such layers is known to
be mode independent.
"""

from __future__ import annotations

import ast
import builtins
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import libcst as cst

from dropcheck.analysis import library
from dropcheck.analysis.calls import UNKNOWN, bind
from dropcheck.analysis.classes import ClassIndex, ClassInfo
from dropcheck.analysis.constants import ConstantEvaluator, Number, string_key
from dropcheck.analysis.imports import ImportTable, dotted_name
from dropcheck.analysis.layout import SKIP_PARTS, where_class
from dropcheck.analysis.project import (
    ProjectFile,
    lookup_class,
    lookup_library_class,
)
from dropcheck.analysis.scopes import Scope, parameter_names
from dropcheck.analysis.torch_api import (
    DROPOUT_MODULES,
    FUNCTIONAL_DROPOUT_TRAINING_DEFAULT,
    INSTANCE_NORMS,
    LAYER_SIGNATURES,
    MODULE_BASE_NAMES,
    MODULE_BASES,
    PLAIN_BASES,
    RATE_DEFAULT,
    RATE_PARAMETER,
    RUNNING_STATS_NORM_FUNCTIONS,
    RUNNING_STATS_NORMS,
    SIGNATURES,
    TRACKS_BY_DEFAULT,
    class_like,
    is_torch_layer,
    layer_is_mode_dependent,
)
from dropcheck.analysis.walk import visit_readonly


@dataclass(frozen=True)
class Dependence:
    """How a module's output may depend on the mode: what is known to be in it (dropout, batch
    statistics), and whether some of it could not be seen (which may be either)."""

    dropout: bool = False
    batch_statistics: bool = False
    unknown: bool = False
    #: What showed it, for messages (``nn.Dropout(0.3)``, ``nn.BatchNorm2d``, ``Encoder
    #: (not readable)``): at most a few, not part of equality.
    evidence: tuple[str, ...] = field(default=(), compare=False)
    #: Every mode-dependent part is in eval mode once built (a pretrained descriptor whose
    #: ``__init__`` ends with ``self.eval()``, ``VGG(...).eval()`` as a submodule): it
    #: depends on the mode only after an explicit ``train()``.
    starts_eval: bool = False

    @property
    def stochastic(self) -> bool:
        """It may drop units in training mode."""
        return self.dropout or self.unknown

    @property
    def statistics(self) -> bool:
        """It may normalise with batch statistics in training mode."""
        return self.batch_statistics or self.unknown

    @property
    def any(self) -> bool:
        return self.dropout or self.batch_statistics or self.unknown

    @property
    def known(self) -> bool:
        """Whether the analysis saw everything (or found a mode-dependent layer anyway)."""
        return not self.unknown or self.dropout or self.batch_statistics

    def __or__(self, other: Dependence) -> Dependence:
        # the first few in sorted order: the same whatever order the parts were joined in
        evidence = tuple(sorted(set(self.evidence) | set(other.evidence)))[:_MAX_EVIDENCE]
        return Dependence(self.dropout or other.dropout,
                          self.batch_statistics or other.batch_statistics,
                          self.unknown or other.unknown, evidence,
                          (self.any or other.any) and (self.starts_eval or not self.any)
                          and (other.starts_eval or not other.any))

    def evaled(self) -> Dependence:
        """The same, built in eval mode."""
        return replace(self, starts_eval=True) if self.any else self

    def shown(self, *evidence: str) -> Dependence:
        """The same, with what showed it (kept only where it says something)."""
        return replace(self, evidence=tuple(sorted(set(evidence)))[:_MAX_EVIDENCE]) if (
            self.any) else self

    def consequence(self, defined: str | None = None) -> str:
        """What training mode does to a model with this dependence, for messages;
        ``defined``: where its class is (``Net (models.py:6)``)."""
        return self._effect(defined, "dropout stays active and BatchNorm uses batch statistics",
                            "dropout stays active",
                            "BatchNorm uses batch statistics (and updates its running averages)",
                            "any dropout or BatchNorm in it stays in training mode")

    def eval_consequence(self, defined: str | None = None) -> str:
        """What eval mode does to training with this dependence (the other way round)."""
        return self._effect(defined, "dropout stays off and BatchNorm stops updating",
                            "dropout stays off", "BatchNorm stops updating its running averages",
                            "any dropout stays off and any BatchNorm stops updating")

    def _effect(self, defined: str | None, both: str, dropout: str, statistics: str,
                unknown: str) -> str:
        if self.dropout and self.batch_statistics:
            effect = both
        elif self.dropout:
            effect = dropout
        elif self.batch_statistics:
            effect = statistics
        else:
            effect = unknown
        return effect + self.where(defined)

    def where(self, defined: str | None = None) -> str:
        """`` (Net (models.py:6): nn.Dropout(0.3))``: where the class is and the layers that
        showed its dependence (or what could not be read); "" when nothing is known."""
        shown = ", ".join(e for e in self.evidence if self.known or "not readable" in e)
        if defined and shown:
            return f" ({defined}: {shown})"
        return f" ({defined or shown})" if defined or shown else ""


_MAX_EVIDENCE = 3


INDEPENDENT = Dependence()
STOCHASTIC = Dependence(dropout=True)
STATISTICS = Dependence(batch_statistics=True)
UNKNOWN_DEPENDENCE = Dependence(unknown=True)



@dataclass(frozen=True)
class Imported:
    """What another file or a library says of a class: a torch module and its dependence,
    or a plain class (no model); ``where`` names the definition the facts come from."""

    is_module: bool
    dependence: Dependence
    where: str
    source: str  # "project", "table" (the shipped library table), "installed" or "stdlib"


def _layer_text(qualified: str, call: cst.Call | None) -> str:
    """``nn.Dropout(0.3)``, ``nn.BatchNorm2d``, ``F.dropout`` for messages."""
    short = qualified.replace("torch.nn.functional.", "F.").replace("torch.nn.", "nn.")
    if call is not None and qualified in DROPOUT_MODULES and call.args and (
            call.args[0].keyword is None and isinstance(call.args[0].value, (cst.Float,
                                                                              cst.Integer))):
        return f"{short}({call.args[0].value.value})"
    return short


def _inside_packages(path: str) -> bool:
    return any(part in SKIP_PARTS for part in Path(path).parts)


#: How deep class lookups across files may nest (a base of a base of a layer...).
_MAX_DEPTH = 6
_DEPTH = [0]


def _where(parsed: ProjectFile, info: ClassInfo) -> str:
    return where_class(info.name, parsed.path, parsed.line_of_class(info.name))


def analysis_of(parsed: ProjectFile, in_library: bool) -> ModeDependence:
    """The analysis of another file: one per parsed file and process, shared by every file
    that imports from it (its memo too)."""
    other = parsed.analyses.get(in_library)
    if not isinstance(other, ModeDependence):
        other = parsed.analyses[in_library] = ModeDependence(
            parsed.classes, parsed.imports, parsed.constants, parsed.module, str(parsed.path),
            in_library=in_library)
    return other


def _super_init_call(init: cst.FunctionDef) -> cst.Call | None:
    """``super().__init__(...)`` (or ``super(Cls, self).__init__(...)``) in an ``__init__``."""
    for stmt in init.body.body if isinstance(init.body, cst.IndentedBlock) else ():
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            call = small.value if isinstance(small, cst.Expr) else None
            if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                    and call.func.attr.value == "__init__"
                    and isinstance(call.func.value, cst.Call)
                    and dotted_name(call.func.value.func) == "super"):
                return call
    return None


def _bound_rates(rates: tuple[tuple[str, int], ...], call: cst.Call,
                 ) -> dict[str, cst.BaseExpression | None]:
    """The arguments a call passes for a table class's rate parameters (None: it may pass
    one, through ``*args``/``**kwargs``, that cannot be read)."""
    passed: dict[str, cst.BaseExpression | None] = {}
    names = {name for name, _ in rates}
    position = 0
    starred = False
    for arg in call.args:
        if arg.star == "**":
            passed.update({name: None for name in names if name not in passed})
        elif arg.star == "*":
            starred = True
        elif arg.keyword is not None:
            if arg.keyword.value in names:
                passed[arg.keyword.value] = arg.value
        elif not starred:
            for name, index in rates:
                if index == position:
                    passed[name] = arg.value
            position += 1
    if starred:
        for name, index in rates:
            if index >= position:
                passed.setdefault(name, None)
    return passed


#: Constant values of a callee's parameters at one call (None: not a constant).
Env = Mapping[str, Number | None]

#: Functions called in ``__init__`` that build no submodule.
_HARMLESS_CALLEES = frozenset({
    "super", "int", "float", "bool", "str", "len", "range", "list", "tuple", "dict", "set",
    "getattr", "setattr", "hasattr", "isinstance", "min", "max", "abs", "round", "print",
    "zip", "enumerate", "sorted", "reversed", "sum", "any", "all", "map",
})
_HARMLESS_PREFIXES = ("math.", "numpy.", "warnings.", "logging.")
#: Builtins (``ValueError(...)`` in a constructor builds no submodule).
_BUILTINS = frozenset(dir(builtins))
_NN = "torch.nn."
#: Layers whose only mode dependence is their ``dropout`` argument.
_DROPOUT_ARGUMENT_LAYERS = frozenset(_NN + n for n in (
    "RNN", "LSTM", "GRU", "MultiheadAttention", "Transformer", "TransformerEncoderLayer",
    "TransformerDecoderLayer"))
_RECURRENT = frozenset(_NN + n for n in ("RNN", "LSTM", "GRU"))
_FUNCTIONAL_STATISTICS = RUNNING_STATS_NORM_FUNCTIONS | {"torch.nn.functional.instance_norm"}
_FUNCTIONAL_STOCHASTIC = frozenset(FUNCTIONAL_DROPOUT_TRAINING_DEFAULT) | {
    "torch.dropout", "torch.alpha_dropout", "torch.feature_dropout",
    "torch.feature_alpha_dropout", "torch.nn.functional.scaled_dot_product_attention",
}


class ModeDependence:
    """Memoised mode dependence of the file's module classes, factories and layer calls."""

    def __init__(self, classes: ClassIndex, imports: ImportTable,
                 constants: ConstantEvaluator, module: cst.Module,
                 path: str | None = None, in_library: bool = False) -> None:
        self.classes = classes
        self.imports = imports
        self.constants = constants
        self.module = module
        #: The file's path, to find classes imported from other files of its project (None:
        #: do not look; the analysis of such another file looks no further).
        self.path = path
        #: Whether the file is a library's (its absolute imports are read in libraries).
        self.in_library = in_library
        self.functions: dict[str, cst.FunctionDef] = {
            stmt.name.value: stmt for stmt in module.body if isinstance(stmt, cst.FunctionDef)}
        self._memo: dict[tuple[int, tuple[tuple[str, Number | None], ...]], Dependence] = {}

    # -- entry points ----------------------------------------------------------------------
    def of_class(self, info: ClassInfo, env: Env | None = None) -> Dependence:
        return self._memoised(info.node, env, lambda: self._class(info, env))

    def of_call(self, call: cst.Call, scopes: tuple[Scope, ...] | None = None) -> Dependence:
        """The mode dependence of the module ``call`` builds (a torch layer, a module class or
        a factory function of the file); ``scopes`` are where the call's arguments are read."""
        scopes = scopes or (self.module,)
        qualified = self.imports.resolve(call.func)
        if qualified is not None:
            if is_torch_layer(qualified):
                return self._torch_layer(qualified, call, scopes, {})
            imported = self.imported(qualified, call, scopes)
            return imported.dependence if imported is not None else UNKNOWN_DEPENDENCE
        name = dotted_name(call.func)
        local = self.classes.by_name.get(name) if name else None
        if local is not None and local.is_module:
            return self.of_class(local, self.call_env(local, call, scopes))
        function = self.functions.get(name) if name else None
        if function is not None:
            return self.of_factory(function, self.env(function, call, scopes))
        return UNKNOWN_DEPENDENCE

    def of_factory(self, function: cst.FunctionDef, env: Env | None = None) -> Dependence:
        """What a same-file function that builds layers (``conv_bn(...)``) may return."""
        def compute() -> Dependence:
            finder = _Finder(self, env, (self.module, function))
            visit_readonly(function.body, finder)
            return finder.found
        return self._memoised(function, env, compute)

    def init_of(self, info: ClassInfo) -> tuple[ClassInfo, cst.FunctionDef] | None:
        """The class whose ``__init__`` a constructor call of ``info`` runs: its own, or the
        first in-file base class's that defines one (``class GCN(BasicGNN)`` without one)."""
        seen: set[int] = set()
        current: ClassInfo | None = info
        while current is not None and id(current.node) not in seen:
            seen.add(id(current.node))
            init = current.methods.get("__init__")
            if init is not None:
                return current, init
            bases = [self.classes.by_name.get(dotted_name(b) or "") for b in current.bases]
            current = next((b for b in bases if b is not None and b.is_module), None)
        return None

    def call_env(self, info: ClassInfo, call: cst.Call | None, scopes: tuple[Scope, ...],
                 caller: Env | None = None, definer: ModeDependence | None = None,
                 ) -> Env | None:
        """The constants a call of class ``info`` (defined where ``definer`` analyses) binds to
        the ``__init__`` it runs; None when it cannot be told."""
        found = (definer or self).init_of(info)
        if found is None or call is None:
            return None
        return self.env(found[1], call, scopes, caller, definer)

    def imported(self, qualified: str, call: cst.Call | None = None,
                 scopes: tuple[Scope, ...] | None = None, caller: Env | None = None,
                 ) -> Imported | None:
        found = self.imported_class(qualified, call, scopes, caller)
        return found if found is not None and found.dependence.known else None

    def imported_class(self, qualified: str, call: cst.Call | None = None,
                       scopes: tuple[Scope, ...] | None = None, caller: Env | None = None,
                       ) -> Imported | None:
        """For a class imported from another file of the project (``from models import Net``)
        or from a library (the shipped table, else the installed package's source): whether it
        is a torch module, and its mode dependence there, with the constants ``call`` passes.
        None when it cannot be told: a class whose bases are unknown, or (for ``imported``;
        ``imported_class`` returns it) a module whose layers its own file does not show
        either (built by factories from elsewhere)."""
        if self.path is None or qualified.startswith("torch.") or not class_like(
                qualified) or _DEPTH[0] >= _MAX_DEPTH:
            return None
        _DEPTH[0] += 1
        try:
            return self._imported(qualified, call, scopes or (self.module,), caller)
        finally:
            _DEPTH[0] -= 1

    def _imported(self, qualified: str, call: cst.Call | None, scopes: tuple[Scope, ...],
                  caller: Env | None) -> Imported | None:
        assert self.path is not None
        source = "installed" if self.in_library else "project"
        if self.in_library:
            found = lookup_library_class(qualified, self.path)
        else:
            from dropcheck.analysis.sketch import (  # it imports this module
                surely_opaque_class,
                surely_plain_class,
            )

            budget = _MAX_DEPTH - _DEPTH[0]
            plain = surely_plain_class(self.path, qualified, budget)
            if plain is not None:
                # a plain class (a processor, a config) as is_plain would find it, told by
                # the CPython sketches of its files without parsing them with LibCST
                return Imported(False, INDEPENDENT, plain, source)
            if surely_opaque_class(self.path, qualified, budget):
                return None  # neither a module nor plain (a dataset), told there too
            found = lookup_class(self.path, qualified)
            if found is None and not qualified.startswith("."):
                if qualified.partition(".")[0] in sys.stdlib_module_names:
                    # the standard library holds no torch module: its classes build no model
                    # (`OrderedDict([...])`: the layers in the arguments are read where built)
                    return Imported(False, INDEPENDENT, qualified, "stdlib")
                entry = library.table_class(qualified)
                if entry is not None:
                    return self._from_table(entry, call, scopes, caller)
                if library.in_table(qualified):
                    return None  # a package the table covers, but not this class
                if _inside_packages(self.path):
                    return None  # a library's own file: its imports are not followed
                found = lookup_library_class(qualified)
                source = "installed"
        if found is None:
            return None
        parsed, info = found
        other = self._other(parsed, source == "installed")
        where = _where(parsed, info)
        if other.is_module(info):
            env = self.call_env(info, call, scopes, caller, other)
            dependence = other.of_class(info, env)
            return Imported(True, dependence, where, source)
        if other.is_plain(info):
            return Imported(False, INDEPENDENT, where, source)  # a predictor wrapper: no model
        return None

    def project_non_module(self, qualified: str) -> bool:
        """Whether an imported name is a class of another project file that is no torch
        module: it builds no model, whatever it is given (``FrozenDict(config)``)."""
        if self.path is None or self.in_library or qualified.startswith("torch."):
            return False
        from dropcheck.analysis.sketch import surely_non_module_class  # it imports this module

        if surely_non_module_class(self.path, qualified):
            return True  # told by the CPython sketches, without a LibCST parse
        found = lookup_class(self.path, qualified)
        if found is None:
            return False
        parsed, info = found
        return not self._other(parsed, False).is_module(info)

    def _other(self, parsed: ProjectFile, in_library: bool) -> ModeDependence:
        return analysis_of(parsed, in_library)

    def _from_table(self, entry: library.TableClass, call: cst.Call | None,
                    scopes: tuple[Scope, ...], caller: Env | None) -> Imported | None:
        code = entry.code
        if call is not None and entry.rates:
            passed = _bound_rates(entry.rates, call)
            values = [None if arg is None else self.rate(arg, caller, scopes)
                      for arg in passed.values()]
            if passed and len(passed) == len(entry.rates) and all(v == 0 for v in values):
                code = entry.zeros
            elif any(v is None or v != 0 for v in values):
                code = entry.passed  # a rate the call passes (or may pass) that is not 0
        where = f"{entry.qualified} ({entry.package} {entry.version}, dropcheck's library table)"
        if code.startswith("P"):
            return Imported(False, INDEPENDENT, where, "table")
        if not code.startswith("M"):
            return None
        dependence = Dependence("d" in code, "b" in code, "u" in code).shown(
            f"{entry.qualified.rsplit('.', 1)[-1]} ({entry.package} {entry.version})")
        return Imported(True, dependence, where, "table")

    def is_module(self, info: ClassInfo) -> bool:
        """Whether a class of this file is a torch module, also through bases that are module
        classes of other files (``class GATConv(MessagePassing)``)."""
        return info.is_module or any(
            (found := self._base_class(base)) is not None and found.is_module
            for base in info.bases)

    def is_plain(self, info: ClassInfo, seen: frozenset[int] = frozenset()) -> bool:
        """Whether a class is certainly no torch module: each base is ``object``-like, a plain
        class of this file, or a plain class of another file."""
        if id(info.node) in seen:
            return False
        for base in info.bases:
            if isinstance(base, cst.Subscript):
                base = base.value
            name = dotted_name(base)
            if name in PLAIN_BASES:
                continue
            local = self.classes.by_name.get(name) if name else None
            if local is not None and self.imports.resolve(base) is None:
                if local.is_module or not self.is_plain(local, seen | {id(info.node)}):
                    return False
                continue
            found = self._base_class(base)
            if found is None or found.is_module:
                return False
        return not info.is_module

    def _base_class(self, base: cst.BaseExpression) -> Imported | None:
        if isinstance(base, cst.Subscript):
            base = base.value
        qualified = self.imports.resolve(base)
        return self.imported_class(qualified) if qualified is not None else None

    # -- internals -------------------------------------------------------------------------
    def _memoised(self, node: cst.CSTNode, env: Env | None,
                  compute: Callable[[], Dependence]) -> Dependence:
        key = (id(node), tuple(sorted(env.items())) if env else ())
        found = self._memo.get(key)
        if found is not None:
            return found
        self._memo[key] = UNKNOWN_DEPENDENCE  # recursion guard: a cycle counts as unknown
        result = compute()
        self._memo[key] = result
        return result

    def env(self, function: cst.FunctionDef, call: cst.Call, scopes: tuple[Scope, ...],
            caller: Env | None = None, definer: ModeDependence | None = None) -> Env:
        """Constant arguments of ``call`` (or the parameters' constant defaults), by name;
        ``caller`` holds the constants of the calling function's own parameters, ``definer``
        analyses the file that defines ``function`` (where its defaults are read)."""
        definer = definer or self
        names = parameter_names(function)
        if names and names[0] in ("self", "cls"):
            names = names[1:]
        env: dict[str, Number | None] = {}
        params = {p.name.value: p for p in (*function.params.params,
                                            *function.params.kwonly_params,
                                            *function.params.posonly_params)}
        position = 0
        starred = False
        for arg in call.args:
            if arg.star:
                starred = True
                continue
            name: str | None = None
            if arg.keyword is not None:
                name = arg.keyword.value
            elif position < len(names) and not starred:
                name = names[position]
                position += 1
            if name is not None:
                env[name] = self.rate(arg.value, caller, scopes)
                # a configuration dict: its constant entries, as `cfg['drop_rate']`
                for key, value in self._entries(arg.value, caller, scopes).items():
                    env[f"{name}[{key!r}]"] = value
        for name in names:
            if name in env:
                continue
            param = params.get(name)
            if starred or param is None or param.default is None:
                env[name] = None
            else:
                env[name] = definer.constants.evaluate(param.default, (definer.module,))
        return env

    def _class(self, info: ClassInfo, env: Env | None) -> Dependence:
        found = INDEPENDENT
        init = info.methods.get("__init__")
        # what `super().__init__(...)` passes on: the base's __init__ runs with those constants
        parent = _super_init_call(init) if init is not None else None
        parent_scopes: tuple[Scope, ...] = (self.module, init) if init is not None else (
            self.module,)
        for base in info.bases:
            if isinstance(base, cst.Subscript):
                base = base.value
            qualified = self.imports.resolve(base)
            if qualified is not None:
                last = qualified.rsplit(".", 1)[-1]
                if (qualified in MODULE_BASES or last in MODULE_BASE_NAMES) and last in (
                        "Module", "LightningModule"):
                    continue
                imported = self.imported(qualified, parent, parent_scopes, env)
                if imported is not None:
                    # a base class in another file of the project or a library (a plain
                    # mixin adds no layer)
                    found |= imported.dependence
                    continue
                # PreTrainedModel, torchvision ResNet, ...
                return UNKNOWN_DEPENDENCE.shown(f"base class {last} (not readable)")
            name = dotted_name(base)
            local = self.classes.by_name.get(name) if name else None
            if local is None:
                if name in ("object", "Generic", "ABC"):
                    continue
                return UNKNOWN_DEPENDENCE
            if local.is_module:
                # the base whose __init__ a call of this class runs gets the call's constants;
                # one whose __init__ the class's own __init__ calls gets what that call passes
                base_env: Env | None = None
                base_init = self.init_of(local)
                if init is None:
                    base_env = env if base_init is not None else None
                elif parent is not None and base_init is not None:
                    base_env = self.env(base_init[1], parent, parent_scopes, env)
                found |= self.of_class(local, base_env)
        finder = _Finder(self, env if init is not None else None, (self.module, info.node),
                         _evaled_attributes(init) if init is not None else frozenset())
        visit_readonly(info.node.body, finder)
        found |= finder.found
        return found.evaled() if init is not None and _ends_in_eval(init) else found

    def rate(self, expr: cst.BaseExpression, env: Env | None,
             scopes: tuple[Scope, ...]) -> Number | None:
        """The constant value of ``expr``; a parameter of the analysed function takes the
        constant its call passes (``cfg["drop_rate"]``: the entry of the dict it passes)."""
        if (env is not None and isinstance(expr, cst.Subscript)
                and isinstance(expr.value, cst.Name) and self._is_parameter(
                    expr.value.value, env, scopes)):
            key = string_key(expr)
            return env.get(f"{expr.value.value}[{key!r}]") if key is not None else None
        if env is not None and isinstance(expr, cst.Name) and self._is_parameter(
                expr.value, env, scopes):
            return env[expr.value]
        return self.constants.evaluate(expr, scopes)

    def _is_parameter(self, name: str, env: Env, scopes: tuple[Scope, ...]) -> bool:
        if name not in env or len(scopes) < 2 or not isinstance(scopes[-1], cst.FunctionDef):
            return False
        bindings = self.constants.bindings(scopes[-1]).bindings.get(name, ())
        return len(bindings) == 1 and isinstance(bindings[0], cst.Param)

    def _entries(self, expr: cst.BaseExpression, caller: Env | None,
                 scopes: tuple[Scope, ...]) -> dict[str, Number | None]:
        """The constant entries of a configuration dict an argument passes: a dict literal,
        a module-level dict, or a parameter of the caller that received one."""
        if caller is not None and isinstance(expr, cst.Name) and self._is_parameter(
                expr.value, caller, scopes):
            prefix = f"{expr.value}["
            return {ast.literal_eval(key[len(prefix):-1]): value
                    for key, value in caller.items() if key.startswith(prefix)}
        return self.constants.dict_entries(expr, scopes) or {}

    def _torch_layer(self, qualified: str, call: cst.Call, scopes: tuple[Scope, ...],
                     env: Env | None) -> Dependence:
        if qualified in DROPOUT_MODULES or qualified in _DROPOUT_ARGUMENT_LAYERS:
            if not self._may_drop(qualified, call, scopes, env):
                return INDEPENDENT
            return STOCHASTIC.shown(_layer_text(qualified, call))
        if qualified in RUNNING_STATS_NORMS or qualified in INSTANCE_NORMS:
            params = LAYER_SIGNATURES.get(qualified) or (
                "num_features", "eps", "momentum", "affine", "track_running_stats")
            value = bind(qualified, call, params).value("track_running_stats")
            tracked: Number | None = qualified in TRACKS_BY_DEFAULT  # the default
            if value is UNKNOWN:
                tracked = None
            elif isinstance(value, cst.BaseExpression):
                tracked = self.rate(value, env, scopes)
            if tracked is not None and not tracked:
                return INDEPENDENT
            return STATISTICS.shown(_layer_text(qualified, None))
        if layer_is_mode_dependent(qualified):
            # TransformerEncoder(layer, n): the layer decides
            return UNKNOWN_DEPENDENCE.shown(f"{_layer_text(qualified, None)} (not readable)")
        # containers: mode dependent iff some element is
        finder = _Finder(self, env, scopes)
        for arg in call.args:
            visit_readonly(arg.value, finder)
        return finder.found

    def _may_drop(self, qualified: str, call: cst.Call, scopes: tuple[Scope, ...],
                  env: Env | None) -> bool:
        params = SIGNATURES.get(qualified)
        if params is None:
            return True
        bound = bind(qualified, call, params)
        value = bound.value(RATE_PARAMETER.get(qualified, "p"))
        if value is UNKNOWN:
            return True
        rate: Number | None
        if value is None:
            rate = RATE_DEFAULT.get(qualified, 0.5)
        else:
            assert isinstance(value, cst.BaseExpression)
            rate = self.rate(value, env, scopes)
        if rate is not None and rate == 0:
            return False
        if qualified in _RECURRENT:
            # dropout acts between stacked layers only: one layer never drops
            layers = bound.value("num_layers")
            if layers is None:
                return False
            if isinstance(layers, cst.BaseExpression) and self.rate(layers, env, scopes) == 1:
                return False
        return True


def _eval_call(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """What ``X.eval()`` / ``X.train(False)`` switches to eval mode (``X``), else None."""
    if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute):
        return None
    method = node.func.attr.value
    if (method == "eval" and not node.args) or (
            method == "train" and len(node.args) == 1
            and dotted_name(node.args[0].value) == "False"):
        return node.func.value
    return None


def _mode_calls(function: cst.FunctionDef) -> Iterator[tuple[int, cst.BaseExpression, bool]]:
    """The top-level statements of ``function`` that switch a mode: (index, receiver,
    whether to eval), also in a chain (``self.eval().requires_grad_(False)``)."""
    for index, stmt in enumerate(function.body.body):
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            node = small.value if isinstance(small, cst.Expr) else None
            while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
                target = _eval_call(node)
                if target is not None:
                    yield index, target, True
                elif node.func.attr.value == "train":
                    yield index, node.func.value, False
                node = node.func.value


def _ends_in_eval(init: cst.FunctionDef) -> bool:
    """``__init__`` switches the whole module to eval mode (``self.eval()`` as a statement of
    its body, not under a condition) and builds no submodule and switches nothing back after
    it: a pretrained descriptor, a frozen feature extractor."""
    last = None
    for index, target, to_eval in _mode_calls(init):
        if dotted_name(target) == "self":
            last = index if to_eval else None
    if last is None:
        return False
    later = _SelfAssignments()
    for stmt in init.body.body[last + 1:]:
        visit_readonly(stmt, later)
    return not later.found


class _SelfAssignments(cst.CSTVisitor):
    """Whether a statement assigns an attribute of ``self`` (builds a submodule, maybe)."""

    def __init__(self) -> None:
        self.found = False

    def visit_Assign(self, node: cst.Assign) -> None:
        self.found = self.found or any(
            isinstance(t.target, cst.Attribute) and dotted_name(t.target.value) == "self"
            for t in node.targets)


def _evaled_attributes(init: cst.FunctionDef) -> frozenset[str]:
    """``self.X`` submodules that ``__init__`` switches to eval mode as a statement of its
    body (``self.vgg.eval()``) and not back: they are in eval mode once built."""
    evaled: dict[str, bool] = {}
    for _, target, to_eval in _mode_calls(init):
        name = dotted_name(target)
        if name is not None and name.startswith("self.") and name.count(".") == 1:
            evaled[name[5:]] = to_eval
    return frozenset(name for name, to_eval in evaled.items() if to_eval)


class _Finder(cst.CSTVisitor):
    """Everything a class body or factory builds or calls, joined."""

    def __init__(self, owner: ModeDependence, env: Env | None,
                 scopes: tuple[Scope, ...], evaled: frozenset[str] = frozenset()) -> None:
        self.owner = owner
        self.env = env
        self.scopes = list(scopes)
        self.found = INDEPENDENT
        #: ``self.X`` attributes the class's ``__init__`` switches to eval mode
        self.evaled = evaled

    def _built_in_eval(self, value: cst.BaseExpression) -> bool:
        """What ``value`` builds, read apart and counted as built in eval mode."""
        finder = _Finder(self.owner, self.env, tuple(self.scopes))
        visit_readonly(value, finder)
        self.found |= finder.found.evaled()
        return False

    @property
    def done(self) -> bool:
        found = self.found
        return found.unknown and found.dropout and found.batch_statistics

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.scopes.append(node)
        return not self.done

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if node.attr.value == "training":
            self.found |= UNKNOWN_DEPENDENCE.shown("a `self.training` branch")
        return not self.done

    def visit_Assign(self, node: cst.Assign) -> bool:
        value = node.value
        if self.evaled and any(
                isinstance(t.target, cst.Attribute) and dotted_name(t.target.value) == "self"
                and t.target.attr.value in self.evaled for t in node.targets):
            return self._built_in_eval(value)  # `self.vgg = vgg16(...)`, then `self.vgg.eval()`
        # `self.encoder = build_encoder(cfg)`: a submodule from a factory we cannot see
        if self.done or not isinstance(value, cst.Call) or not any(
                isinstance(t.target, cst.Attribute) and dotted_name(t.target.value) == "self"
                for t in node.targets):
            return not self.done
        qualified = self.owner.imports.resolve(value.func)
        name = dotted_name(value.func)
        if qualified is not None:
            # a class of another file or library that can be read is visited as a call
            harmless = qualified.startswith(("torch.", *_HARMLESS_PREFIXES)) or (
                self.owner.imported(qualified, value, tuple(self.scopes), self.env)
                is not None)
        else:
            harmless = (name is None or name in _HARMLESS_CALLEES or name in _BUILTINS
                        or "." in name or name in self.owner.classes.by_name
                        or name in self.owner.functions)
        if not harmless:
            self.found |= UNKNOWN_DEPENDENCE.shown(
                f"`{(name or qualified or '?').rsplit('.', 1)[-1]}(...)` (not readable)")
        return not self.done

    def visit_Call(self, node: cst.Call) -> bool:
        if self.done:
            return False
        target = _eval_call(node)
        if target is not None and dotted_name(target) != "self" and not (
                dotted_name(target) or "").startswith("self."):
            return self._built_in_eval(target)  # `VGG(...).eval()`
        owner = self.owner
        scopes = tuple(self.scopes)
        qualified = owner.imports.resolve(node.func)
        if qualified is not None:
            if is_torch_layer(qualified):
                # (a container's elements are visited by _torch_layer)
                self.found |= owner._torch_layer(qualified, node, scopes, self.env)
                return False
            if qualified in _FUNCTIONAL_STATISTICS:
                self.found |= STATISTICS.shown(_layer_text(qualified, None))
                return True
            if qualified in _FUNCTIONAL_STOCHASTIC:
                if self._functional_may_drop(qualified, node):
                    self.found |= STOCHASTIC.shown(_layer_text(qualified, None))
                return True
            if qualified.startswith("torch.") or qualified.startswith(_HARMLESS_PREFIXES):
                return True
            if class_like(qualified):
                imported = owner.imported(qualified, node, scopes, self.env)
                if imported is not None:
                    self.found |= imported.dependence  # a class of another file or library
                    return True
                # a class from elsewhere: unseen layers
                self.found |= UNKNOWN_DEPENDENCE.shown(
                    f"{qualified.rsplit('.', 1)[-1]} (not readable)")
                return False
            return True
        name = dotted_name(node.func)
        if name is None:
            return True
        local = owner.classes.by_name.get(name)
        if local is not None:
            if local.is_module:
                self.found |= owner.of_class(local, owner.call_env(local, node, scopes, self.env))
            return True
        function = owner.functions.get(name)
        if function is not None:
            self.found |= owner.of_factory(function, owner.env(function, node, scopes, self.env))
            return True
        if (name in _HARMLESS_CALLEES or name in _BUILTINS or name.startswith("self.")
                or "." in name):
            # methods of self or of values (x.view(...)), builtins
            return True
        if class_like(name):
            self.found |= UNKNOWN_DEPENDENCE.shown(f"{name} (not readable)")  # unknown class
            return False
        return True

    def _functional_may_drop(self, qualified: str, call: cst.Call) -> bool:
        params = SIGNATURES.get(qualified)
        if params is None:
            return True
        value = bind(qualified, call, params).value(RATE_PARAMETER.get(qualified, "p"))
        if isinstance(value, cst.BaseExpression):
            rate = self.owner.rate(value, self.env, tuple(self.scopes))
            return rate is None or rate != 0
        return True
