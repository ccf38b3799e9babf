"""Whether a module's output can depend on train/eval mode.

A module class of the file is mode dependent when it builds a dropout, running-statistics norm or
recurrent/attention layer (torch_api.MODE_DEPENDENT_MODULES), uses functional dropout or batch
norm, reads ``self.training``, or builds a submodule we cannot see (an unknown class, a factory
function, a base class from another package): unknown submodules count as possibly mode
dependent, so that only a *visible* model without such layers is known to be mode independent.
"""

from __future__ import annotations

import libcst as cst

from dropcheck.analysis.classes import ClassIndex, ClassInfo
from dropcheck.analysis.imports import ImportTable, dotted_name
from dropcheck.analysis.torch_api import (
    FUNCTIONAL_DROPOUT_TRAINING_DEFAULT,
    MODE_DEPENDENT_MODULES,
    MODULE_BASE_NAMES,
    MODULE_BASES,
    RUNNING_STATS_NORM_FUNCTIONS,
)
from dropcheck.analysis.walk import visit_readonly

#: torch.nn names that are not layers (calling them builds no submodule).
_NOT_LAYERS = frozenset({"Parameter", "ParameterList", "ParameterDict", "Module"})
#: Functions called in ``__init__`` that build no submodule.
_HARMLESS_CALLEES = frozenset({
    "super", "int", "float", "bool", "str", "len", "range", "list", "tuple", "dict", "set",
    "getattr", "setattr", "hasattr", "isinstance", "min", "max", "abs", "round", "print",
    "zip", "enumerate", "sorted", "reversed", "sum", "any", "all", "map",
})
_HARMLESS_PREFIXES = ("math.", "numpy.", "warnings.", "logging.")
_MODE_FUNCTIONS = frozenset(FUNCTIONAL_DROPOUT_TRAINING_DEFAULT) | RUNNING_STATS_NORM_FUNCTIONS | {
    "torch.dropout", "torch.alpha_dropout", "torch.feature_dropout",
    "torch.feature_alpha_dropout", "torch.nn.functional.scaled_dot_product_attention",
    "torch.nn.functional.instance_norm",
}


def layer_is_mode_dependent(qualified: str) -> bool:
    """For a ``torch.nn.X`` constructor: whether X's output depends on the mode."""
    return qualified in MODE_DEPENDENT_MODULES


def is_torch_layer(qualified: str | None) -> bool:
    if qualified is None or not qualified.startswith("torch.nn."):
        return False
    last = qualified.rsplit(".", 1)[-1]
    rest = qualified[len("torch.nn."):]
    if "." in rest and not rest.startswith("modules."):
        return False  # torch.nn.parallel.X, torch.nn.utils.X ...
    return last[:1].isupper() and last not in _NOT_LAYERS


class ModeDependence:
    """Memoised "possibly mode dependent?" for the file's module classes."""

    def __init__(self, classes: ClassIndex, imports: ImportTable) -> None:
        self.classes = classes
        self.imports = imports
        self._memo: dict[int, bool] = {}

    def of_class(self, info: ClassInfo) -> bool:
        key = id(info.node)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = True  # recursion guard: a cycle counts as unknown
        result = self._compute(info)
        self._memo[key] = result
        return result

    def of_call(self, call: cst.Call) -> bool:
        """Whether the module a constructor call builds is possibly mode dependent."""
        qualified = self.imports.resolve(call.func)
        if qualified is not None and is_torch_layer(qualified):
            if layer_is_mode_dependent(qualified):
                return True
            # containers: mode dependent iff some element is
            return any(self._expr_dependent(arg.value) for arg in call.args)
        name = dotted_name(call.func)
        if name is not None and qualified is None:
            local = self.classes.by_name.get(name)
            if local is not None and local.is_module:
                return self.of_class(local)
        return True

    def _compute(self, info: ClassInfo) -> bool:
        for base in info.bases:
            if isinstance(base, cst.Subscript):
                base = base.value
            qualified = self.imports.resolve(base)
            if qualified is not None:
                last = qualified.rsplit(".", 1)[-1]
                if (qualified in MODULE_BASES or last in MODULE_BASE_NAMES) and last in (
                        "Module", "LightningModule"):
                    continue
                return True  # PreTrainedModel, torchvision ResNet, ...: unseen layers
            name = dotted_name(base)
            local = self.classes.by_name.get(name) if name else None
            if local is None:
                if name in ("object", "Generic", "ABC"):
                    continue
                return True
            if local.is_module and self.of_class(local):
                return True
        finder = _Finder(self)
        visit_readonly(info.node.body, finder)
        return finder.dependent

    def _expr_dependent(self, expr: cst.BaseExpression) -> bool:
        finder = _Finder(self)
        visit_readonly(expr, finder)
        return finder.dependent


class _Finder(cst.CSTVisitor):
    def __init__(self, owner: ModeDependence) -> None:
        self.owner = owner
        self.dependent = False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if node.attr.value == "training":
            self.dependent = True
        return not self.dependent

    def visit_Assign(self, node: cst.Assign) -> bool:
        # `self.encoder = build_encoder(cfg)`: a submodule from a factory we cannot see
        if self.dependent:
            return False
        value = node.value
        if isinstance(value, cst.Call) and any(
            isinstance(t.target, cst.Attribute) and dotted_name(t.target.value) == "self"
            for t in node.targets
        ):
            qualified = self.owner.imports.resolve(value.func)
            name = dotted_name(value.func)
            if qualified is not None:
                harmless = qualified.startswith("torch.") or qualified.startswith(
                    _HARMLESS_PREFIXES)
            else:
                harmless = name is None or name in _HARMLESS_CALLEES or "." in name or (
                    name in self.owner.classes.by_name)
            if not harmless:
                self.dependent = True
        return not self.dependent

    def visit_Call(self, node: cst.Call) -> bool:
        if self.dependent:
            return False
        imports = self.owner.imports
        qualified = imports.resolve(node.func)
        if qualified is not None:
            if is_torch_layer(qualified):
                if layer_is_mode_dependent(qualified):
                    self.dependent = True
                return not self.dependent
            if qualified in _MODE_FUNCTIONS:
                self.dependent = True
                return False
            if qualified.startswith("torch.") or qualified.startswith(_HARMLESS_PREFIXES):
                return True
            if qualified.rsplit(".", 1)[-1][:1].isupper():
                self.dependent = True  # a class from elsewhere: unseen layers
                return False
            return True
        name = dotted_name(node.func)
        if name is None:
            return True
        local = self.owner.classes.by_name.get(name)
        if local is not None:
            if local.is_module and self.owner.of_class(local):
                self.dependent = True
            return not self.dependent
        if name in _HARMLESS_CALLEES or name.startswith("self.") or "." in name:
            # methods of self or of values (x.view(...)), builtins
            return True
        if name[:1].isupper():
            self.dependent = True  # an unknown class
            return False
        return True

