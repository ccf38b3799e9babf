"""The order in which a model's layers run, as data-flow steps.

Sources, per file:

- every ``nn.Sequential(...)`` call (positional layers, ``OrderedDict([...])``, and ``*layers``
  where ``layers`` is a list built in the same function with ``append``/``extend``/``+=``);
  layers named by a variable or by ``self.attr`` are resolved to their single assignment, and a
  nested Sequential is expanded in place;
- every ``forward()`` of an ``nn.Module`` subclass, followed as data flow: nested calls
  (``self.drop(F.relu(self.conv(x)))``), consecutive assignments (``x = self.conv(x)``), torch
  functions (``F.dropout``, ``torch.flatten``) and tensor methods (``x.view(n, -1)``), with each
  ``self.attr`` resolved to what ``__init__`` assigned (a Sequential expands to its layers).

Each step knows its role (:data:`torch_api.LAYER_ROLES`), the constant arguments rules need
(convolution dimensionality, adaptive-pool output size, ``track_running_stats``, ``inplace``,
the rank a reshape produces) and the node a finding about it is reported at: the element inside
``nn.Sequential(...)``, or the call in ``forward()``, never the ``__init__`` line.

Precision first: whatever cannot be followed (branches merged by ``+``, ``torch.cat``, unknown
calls, loops over ``ModuleList``, attributes assigned more than once) becomes a step of role
``unknown``, which every rule treats as a wall. An instance of a module class of the same file
is a ``local`` step: a wall too, except that :func:`walk_back` continues from the single value
its ``forward()`` returns (``nn.Sequential(ConvBNReLU(3, 32), nn.Dropout())``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import libcst as cst

from dropcheck.analysis import torch_api as api
from dropcheck.analysis.calls import BoundCall, bind
from dropcheck.analysis.classes import ClassIndex, ClassInfo
from dropcheck.analysis.constants import ConstantEvaluator
from dropcheck.analysis.imports import ImportTable
from dropcheck.analysis.layout import MAX_FILES_DEEP
from dropcheck.analysis.literals import decide, literal_arguments
from dropcheck.analysis.project import lookup_class
from dropcheck.analysis.rates import source
from dropcheck.analysis.scopes import (
    Scope,
    function_bound_names,
    parameter_names,
    target_names,
)
from dropcheck.analysis.statements import (
    block_statements,
    child_blocks,
    small_statements,
    walk_statements,
)
from dropcheck.analysis.walk import child_nodes

#: How deep names/attributes are followed (``self.a = self.b``, nested Sequentials).
_MAX_DEPTH = 8
_SEQUENTIAL = "torch.nn.Sequential"
_ORDERED_DICTS = frozenset({"collections.OrderedDict", "typing.OrderedDict"})
_TENSOR = "torch.Tensor."
#: Module methods that return the module itself (``nn.Linear(4, 2).to(device)``).
_MODULE_PASSTHROUGH = frozenset({"to", "cuda", "cpu", "float", "double", "half", "bfloat16",
                                 "train", "requires_grad_", "to_empty"})
#: Roles whose call returns a tuple whose first element is the output.
_TUPLE_OUTPUT = frozenset({api.ROLE_RECURRENT, api.ROLE_ATTENTION})


@dataclass(eq=False)
class LayerStep:
    """One layer (or functional op) applied to the output of the steps in ``inputs``."""

    role: str
    #: Canonical torch name (``torch.nn.Conv2d``, ``torch.Tensor.view``), a local class name,
    #: or None when unknown.
    name: str | None
    #: Where findings about this step are reported.
    node: cst.CSTNode
    #: The call carrying the layer's arguments: the constructor for modules, else the call.
    call: cst.Call | None = None
    #: The steps whose output this step consumes (empty: a forward input or unknown).
    inputs: tuple[LayerStep, ...] = ()
    #: Spatial dimensionality of a conv/pool/channel dropout.
    dims: int | None = None
    #: Rank of the output of a reshape, when it can be told.
    rank: int | None = None
    #: A convolution's constant kernel size (1 for ``kernel_size=1`` or ``(1, 1)``).
    kernel: int | None = None
    #: A dropout's constant rate (the default when omitted); None when not constant.
    rate: float | None = None
    #: For a module class of this file: the step that produces what its ``forward()`` returns,
    #: when it returns one value (walks back through the block's own layers from there).
    inner: LayerStep | None = None
    #: Whether the op writes its input in place (constant ``inplace=True``, ``relu_``).
    inplace: bool = False
    #: The attribute or variable the layer was reached through (``self.fc`` -> ``fc``).
    attribute: str | None = None
    #: How the user spelled the layer (``nn.Conv2d``, ``F.relu``, ``.view()``).
    label: str = "?"

    @property
    def previous(self) -> LayerStep | None:
        """The single step this one consumes, or None (an input, or several merged)."""
        return self.inputs[0] if len(self.inputs) == 1 else None


@dataclass(eq=False)
class LayerFlow:
    """The steps of one ``nn.Sequential(...)`` or one ``forward()``."""

    kind: str  # "sequential" or "forward"
    node: cst.CSTNode  # the Sequential call or the forward FunctionDef
    owner: cst.ClassDef | None
    #: The name the Sequential is assigned to (``self.head = ...`` -> ``head``).
    target: str | None
    steps: list[LayerStep] = field(default_factory=list)
    #: Steps whose output is the flow's result (the last layer; what forward returns).
    outputs: list[LayerStep] = field(default_factory=list)


#: Files whose layer flows are being built for an importer (a cycle of imports between
#: block classes ends there), and how many may nest.
_BUILDING: set[str] = set()


class LayerIndex:
    """All layer flows of one file, with the successors of every step."""

    def __init__(
        self,
        module: cst.Module,
        imports: ImportTable,
        classes: ClassIndex,
        constants: ConstantEvaluator,
        path: str | None = None,
    ) -> None:
        #: The file's path: block classes imported from other project files are read there.
        self.path = path
        self._imports = imports
        self._classes = classes
        self._constants = constants
        self._attributes: dict[int, dict[str, _Binding | None]] = {}
        self._forwards: dict[int, LayerFlow | None] = {}
        self._module = module
        self._functions: dict[str, cst.FunctionDef] | None = None
        self.flows: list[LayerFlow] = []
        self._successors: dict[int, list[LayerStep]] = {}
        self._build(module)
        for flow in self.flows:
            for step in flow.steps:
                for source_step in step.inputs:
                    self._successors.setdefault(id(source_step), []).append(step)

    # -- public ------------------------------------------------------------------------------
    def steps(self) -> Iterator[tuple[LayerFlow, LayerStep]]:
        for flow in self.flows:
            for step in flow.steps:
                yield flow, step

    def successors(self, step: LayerStep) -> list[LayerStep]:
        return self._successors.get(id(step), [])

    def function(self, name: str) -> cst.FunctionDef | None:
        """The module-level function ``name`` of the file (a layer builder), if any."""
        if self._functions is None:
            self._functions = {}
            for stmt in self._module.body:
                if isinstance(stmt, cst.FunctionDef):
                    self._functions.setdefault(stmt.name.value, stmt)
        return self._functions.get(name)

    # -- building ----------------------------------------------------------------------------
    def _build(self, module: cst.Module) -> None:
        for call, scopes, target in _sequential_calls(module, self._imports):
            self._sequential_flow(call, scopes, target)
        for info in self._classes.by_node.values():
            # ClassIndex knows nn.Module subclasses; an nn.Sequential subclass is one too
            sequential = self._is_sequential_subclass(info)
            if not (info.is_module or sequential):
                continue
            forward = info.methods.get("forward")
            if forward is not None:
                self.forward_flow(info)
            elif sequential:
                self._sequential_subclass_flow(info, module)

    def _sequential_flow(
        self, call: cst.Call, scopes: tuple[Scope, ...], target: str | None
    ) -> None:
        owner = next((s for s in reversed(scopes) if isinstance(s, cst.ClassDef)), None)
        resolver = _Resolver(self, scopes, self._class_info(owner))
        templates = resolver.sequential(call, 0)
        if templates is None:
            return
        flow = LayerFlow("sequential", call, owner, target)
        last = _chain(flow, templates, None, None)
        if last is not None:
            flow.outputs.append(last)
        self.flows.append(flow)

    def _sequential_subclass_flow(self, info: ClassInfo, module: cst.Module) -> None:
        init = info.methods.get("__init__")
        if init is None:
            return
        resolver = _Resolver(self, (module, info.node, init), info)
        top_level = {
            id(small.value) for stmt in block_statements(init.body) for small in _smalls(stmt)
            if isinstance(small, cst.Expr)
        }
        registrations = [node for node in _walk(init.body)
                         if isinstance(node, cst.Call) and self._registers(node.func)]
        if any(id(call) not in top_level for call in registrations):
            return  # layers registered in a loop or a branch: the order cannot be told
        templates: list[LayerStep] = []
        for call in registrations:
            if isinstance(call.func, cst.Attribute) and call.func.attr.value == "__init__":
                super_init = _is_super_init(call.func)
                found = resolver.elements(call.args if super_init else call.args[1:], 0)
            else:
                arg = call.args[-1] if call.args else None
                found = resolver.layer(arg.value, arg.value, 0) if arg else None
            if found is None:
                return
            templates.extend(found)
        if not templates:
            return
        flow = LayerFlow("sequential", info.node, info.node, None)
        last = _chain(flow, templates, None, None)
        if last is not None:
            flow.outputs.append(last)
        self.flows.append(flow)

    def _registers(self, func: cst.BaseExpression) -> bool:
        """``super().__init__(...)``, ``nn.Sequential.__init__(self, ...)``, ``self.add_module``,
        ``self.append``: calls that add layers to a Sequential subclass, in order."""
        if _is_super_init(func) or self._imports.resolve(func) == _SEQUENTIAL + ".__init__":
            return True
        return (isinstance(func, cst.Attribute) and _is_self(func.value)
                and func.attr.value in ("add_module", "register_module", "append"))

    def forward_flow(self, info: ClassInfo) -> LayerFlow | None:
        """The flow of a module class's own ``forward()``, built once (None while it is being
        built, for classes that use themselves)."""
        key = id(info.node)
        if key in self._forwards:
            return self._forwards[key]
        forward = info.methods.get("forward")
        if forward is None or not (info.is_module or self._is_sequential_subclass(info)):
            self._forwards[key] = None
            return None
        self._forwards[key] = None
        flow = LayerFlow("forward", forward, info.node, None)
        resolver = _Resolver(self, (self._module, info.node, forward), info)
        _ForwardEvaluator(self, flow, resolver).run(forward)
        self.flows.append(flow)
        self._forwards[key] = flow
        return flow

    def imported_block(self, name: str, call: cst.Call, node: cst.CSTNode,
                       attribute: str | None) -> LayerStep | None:
        """A module class of another project file (``from .blocks import ConvBlock``): a step
        whose output is what that class's ``forward()`` returns, read in its own file."""
        if (self.path is None or name.startswith("torch.")
                or not api.class_like(name)):
            return None
        found = lookup_class(self.path, name)
        if found is None:
            return None
        parsed, info = found
        if not info.is_module:
            return None
        key = str(parsed.path)
        inner: LayerStep | None = None
        if key not in _BUILDING and len(_BUILDING) < MAX_FILES_DEEP:
            _BUILDING.add(key)
            try:
                other = parsed.context.layers
                other_info = other._classes.by_name.get(info.name)
                inner = other.local_output(other_info) if other_info is not None else None
            finally:
                _BUILDING.discard(key)
        return LayerStep(api.ROLE_LOCAL, info.name, node, call, label=info.name,
                         attribute=attribute, inner=inner)

    def local_output(self, info: ClassInfo) -> LayerStep | None:
        """The step producing a local module's single returned value, if any."""
        flow = self.forward_flow(info)
        if flow is None or len(flow.outputs) != 1:
            return None
        return flow.outputs[0]

    # -- classes -----------------------------------------------------------------------------
    def _class_info(self, node: cst.ClassDef | None) -> ClassInfo | None:
        return self._classes.get(node) if node is not None else None

    def _is_sequential_subclass(self, info: ClassInfo) -> bool:
        return any(self._imports.resolve(base) == _SEQUENTIAL for base in info.bases)

    def attribute(self, info: ClassInfo, name: str, depth: int = 0) -> _Binding | None:
        """What ``self.<name>`` holds: its single assignment in the class (or a local base)."""
        table = self._attributes.get(id(info.node))
        if table is None:
            table = self._attributes[id(info.node)] = _attribute_table(info)
        if name in table:
            return table[name]
        if depth < _MAX_DEPTH:
            for base in info.bases:
                local = self._classes.by_name.get(source(base))
                if local is not None and local.is_module and local is not info:
                    return self.attribute(local, name, depth + 1)
        return None

    # -- classification ----------------------------------------------------------------------
    def classify(
        self, name: str | None, call: cst.Call | None, node: cst.CSTNode, scopes: Sequence[Scope],
        *, method: bool = False, label: str | None = None,
    ) -> LayerStep:
        """A step template for a torch layer/function ``name`` called as ``call``."""
        role = api.ROLE_UNKNOWN
        if name is not None:
            role = api.LAYER_ROLES.get(name) or (
                api.TENSOR_METHOD_ROLES.get(name[len(_TENSOR):], role)
                if name.startswith(_TENSOR) else role
            )
        text = label or (source(call.func) if call is not None else "?")
        step = LayerStep(role, name, node, call, label=text)
        if name is None or role == api.ROLE_UNKNOWN:
            return step
        bound = self._bind(name, call, method)
        if role == api.ROLE_CONV:
            step.dims = api.CONV_MODULES.get(name) or api.CONV_FUNCTIONS.get(name)
            kernel = bound.value("kernel_size") if bound else None
            if isinstance(kernel, cst.BaseExpression):
                step.kernel = self._uniform_int(kernel, scopes)
        elif role == api.ROLE_POOL:
            step.dims = api.POOLING.get(name) or api.POOLING_FUNCTIONS.get(name)
        elif role == api.ROLE_CHANNEL_DROPOUT:
            step.dims = (api.CHANNEL_DROPOUT_MODULES.get(name)
                         or api.CHANNEL_DROPOUT_FUNCTIONS.get(name))
        elif role == api.ROLE_ADAPTIVE_POOL:
            size = bound.value("output_size") if bound else None
            if isinstance(size, cst.BaseExpression) and self._all_ones(size, scopes):
                step.role = api.ROLE_GLOBAL_POOL
            else:
                step.role = api.ROLE_POOL if self._constant_size(size, scopes) else api.ROLE_UNKNOWN
                step.dims = api.POOLING.get(name) or api.POOLING_FUNCTIONS.get(name)
        elif name in api.INSTANCE_NORMS:
            track = bound.value("track_running_stats") if bound else None
            if track is None and name in api.TRACKS_BY_DEFAULT:
                step.role = api.ROLE_RUNNING_NORM  # LazyInstanceNorm tracks by default
            elif track is not None and not isinstance(track, cst.BaseExpression):
                step.role = api.ROLE_UNKNOWN  # **kwargs may set it
            elif isinstance(track, cst.BaseExpression):
                value = self._constants.evaluate(track, scopes)
                step.role = (api.ROLE_RUNNING_NORM if value is True or value == 1
                             else api.ROLE_NORM if value is not None and not value
                             else api.ROLE_UNKNOWN)
        elif role == api.ROLE_RESHAPE:
            step.rank = self._reshape_rank(name, call, bound, scopes, method)
        step.inplace = self._inplace(name, call, bound, scopes)
        if role in (api.ROLE_DROPOUT, api.ROLE_CHANNEL_DROPOUT):
            step.rate = self._rate(name, call, scopes)
        return step

    def _rate(
        self, name: str, call: cst.Call | None, scopes: Sequence[Scope]
    ) -> float | None:
        params = api.SIGNATURES.get(name)
        parameter = api.RATE_PARAMETER.get(name)
        if call is None or params is None or parameter is None:
            return None
        value = bind(name, call, params).value(parameter)
        if value is None:
            return api.RATE_DEFAULT.get(name)
        if not isinstance(value, cst.BaseExpression):
            return None
        rate = self._constants.evaluate(value, scopes)
        return float(rate) if rate is not None else None

    def _bind(self, name: str, call: cst.Call | None, method: bool) -> BoundCall | None:
        if call is None:
            return None
        params = api.LAYER_SIGNATURES.get(name) or api.SIGNATURES.get(name)
        if params is None:
            return None
        return bind(name, call, params)

    def _inplace(
        self, name: str, call: cst.Call | None, bound: BoundCall | None, scopes: Sequence[Scope]
    ) -> bool:
        if name in api.INPLACE_DROPOUT_FUNCTIONS or name.endswith("_"):
            return True
        if name in api.INPLACE_IGNORED or call is None:
            return False
        if bound is None:
            params = api.SIGNATURES.get(name)
            bound = bind(name, call, params) if params else None
        value = bound.value("inplace") if bound else None
        if not isinstance(value, cst.BaseExpression):
            return False
        return self._constants.evaluate(value, scopes) is True

    def _uniform_int(self, expr: cst.BaseExpression, scopes: Sequence[Scope]) -> int | None:
        """``3`` for ``3`` or ``(3, 3)``; None when not constant or not uniform."""
        if isinstance(expr, (cst.Tuple, cst.List)):
            values = {self._uniform_int(e.value, scopes) for e in expr.elements}
            return values.pop() if len(values) == 1 else None
        value = self._constants.evaluate(expr, scopes)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _all_ones(self, expr: cst.BaseExpression, scopes: Sequence[Scope]) -> bool:
        if isinstance(expr, (cst.Tuple, cst.List)):
            return bool(expr.elements) and all(
                self._all_ones(e.value, scopes) for e in expr.elements
            )
        return self._constants.evaluate(expr, scopes) == 1

    def _constant_size(self, expr: object, scopes: Sequence[Scope]) -> bool:
        if isinstance(expr, (cst.Tuple, cst.List)):
            return all((isinstance(e.value, cst.Name) and e.value.value == "None")
                       or self._constants.evaluate(e.value, scopes) is not None
                       for e in expr.elements)
        return isinstance(expr, cst.BaseExpression) and self._constants.evaluate(
            expr, scopes) is not None

    def _reshape_rank(
        self, name: str, call: cst.Call | None, bound: BoundCall | None,
        scopes: Sequence[Scope], method: bool,
    ) -> int | None:
        if call is None:
            return None
        short = name.rsplit(".", 1)[-1]
        if short in ("Flatten", "flatten"):
            start = bound.value("start_dim") if bound else None
            end = bound.value("end_dim") if bound else None
            if end is not None:
                return None
            if start is None:
                return 2 if name.endswith("nn.Flatten") else 1
            if not isinstance(start, cst.BaseExpression):
                return None
            value = self._constants.evaluate(start, scopes)
            return value + 1 if isinstance(value, int) and value >= 0 else None
        if short in ("view", "reshape") or name == "torch.reshape":
            args = [a for a in call.args if a.keyword is None]
            if name == "torch.reshape":
                args = args[1:]
            if any(a.star for a in call.args):
                return None
            if len(args) == 1 and isinstance(args[0].value, (cst.Tuple, cst.List)):
                elements = args[0].value.elements
                return None if any(isinstance(e, cst.StarredElement) for e in elements) \
                    else len(elements)
            if len(args) == 1:
                # view(-1) is rank 1; anything else may be a shape variable or view(dtype)
                value = self._constants.evaluate(args[0].value, scopes)
                return 1 if isinstance(value, int) and not isinstance(value, bool) else None
            return len(args) or None
        return None


@dataclass(frozen=True)
class _Binding:
    value: cst.BaseExpression
    scope: cst.FunctionDef


def _attribute_table(info: ClassInfo) -> dict[str, _Binding | None]:
    """``self.X`` bindings of a class: the value if assigned exactly once, else None."""
    table: dict[str, _Binding | None] = {}

    def record(name: str, value: cst.BaseExpression | None, scope: cst.FunctionDef) -> None:
        if name in table or value is None:
            table[name] = None
        else:
            table[name] = _Binding(value, scope)

    for method in info.methods.values():
        # assignments and add_module() calls are statements: a statement walk is enough
        nodes: list[cst.CSTNode] = []
        for stmt in walk_statements(method.body, into_defs=False):
            for small in small_statements(stmt):
                nodes.append(small.value if isinstance(small, cst.Expr) else small)
        for node in nodes:
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    for attr in _self_attributes(target.target):
                        single = len(node.targets) == 1 and target.target is attr
                        record(attr.attr.value, node.value if single else None, method)
            elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
                for attr in _self_attributes(node.target):
                    value = node.value if isinstance(node, cst.AnnAssign) else None
                    record(attr.attr.value, value if node.target is attr else None, method)
            elif isinstance(node, cst.Call):
                func = node.func
                if (isinstance(func, cst.Attribute) and _is_self(func.value)
                        and func.attr.value in ("add_module", "register_module")
                        and len(node.args) == 2
                        and isinstance(node.args[0].value, cst.SimpleString)):
                    key = node.args[0].value.evaluated_value
                    if isinstance(key, str):
                        record(key, node.args[1].value, method)
                elif (isinstance(func, cst.Name) and func.value == "setattr" and node.args
                      and _is_self(node.args[0].value)):
                    key_node = node.args[1].value if len(node.args) > 1 else None
                    if isinstance(key_node, cst.SimpleString) and isinstance(
                            key_node.evaluated_value, str):
                        record(key_node.evaluated_value, None, method)
    return table


def _self_attributes(target: cst.BaseExpression) -> Iterator[cst.Attribute]:
    if isinstance(target, cst.Attribute) and _is_self(target.value):
        yield target
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _self_attributes(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _self_attributes(target.value)


#: Nodes with nothing inside that a search for calls needs to enter.
_LEAVES = frozenset({cst.Name, cst.SimpleString, cst.Integer, cst.Float, cst.Imaginary,
                     cst.Pass, cst.Break, cst.Continue, cst.Ellipsis, cst.FormattedStringText})


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node under ``node``, not entering nested functions, classes or lambdas."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for child in reversed(child_nodes(current)):
            if not isinstance(child, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                stack.append(child)


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self"


def _is_super_init(func: cst.BaseExpression) -> bool:
    return (isinstance(func, cst.Attribute) and func.attr.value == "__init__"
            and isinstance(func.value, cst.Call) and isinstance(func.value.func, cst.Name)
            and func.value.func.value == "super")


def _smalls(stmt: cst.BaseStatement) -> Sequence[cst.BaseSmallStatement]:
    return stmt.body if isinstance(stmt, cst.SimpleStatementLine) else ()


def _chain(
    flow: LayerFlow, templates: Sequence[LayerStep], first: LayerStep | None,
    applied: cst.Call | None,
) -> LayerStep | None:
    """Instantiate ``templates`` one after the other, the first consuming ``first``."""
    previous = first
    for template in templates:
        node = applied if applied is not None and len(templates) == 1 else template.node
        step = replace(template, inputs=(previous,) if previous is not None else (), node=node)
        flow.steps.append(step)
        previous = step
    return previous


#: Node types that are never a scope, an assignment, a return or a call (walked through fast).
_PLAIN = frozenset({
    cst.Name, cst.Attribute, cst.Arg, cst.SimpleString, cst.Integer, cst.Float,
    cst.BinaryOperation, cst.Comparison, cst.ComparisonTarget, cst.BooleanOperation,
    cst.UnaryOperation, cst.Subscript, cst.SubscriptElement, cst.Index, cst.Slice,
    cst.Element, cst.Tuple, cst.List, cst.Dict, cst.DictElement, cst.Expr,
    cst.SimpleStatementLine, cst.IndentedBlock, cst.If, cst.Else, cst.For, cst.While,
    cst.With, cst.WithItem, cst.Param, cst.Parameters, cst.Annotation, cst.Decorator,
    cst.FormattedString, cst.FormattedStringText, cst.FormattedStringExpression,
    cst.ConcatenatedString, cst.IfExp, cst.Pass, cst.Raise, cst.AssignTarget,
    cst.ImportFrom, cst.Import, cst.ImportAlias, cst.Try, cst.ExceptHandler, cst.Finally,
})


def _sequential_calls(
    module: cst.Module, imports: ImportTable
) -> list[tuple[cst.Call, tuple[Scope, ...], str | None]]:
    """Every ``nn.Sequential(...)`` call with its enclosing scopes and the name it is assigned
    to (``self.head = nn.Sequential(...)`` -> ``head``; ``return nn.Sequential(...)`` -> the
    function's name)."""
    found: list[tuple[cst.Call, tuple[Scope, ...], str | None]] = []
    targets: dict[int, str | None] = {}
    stack: list[tuple[cst.CSTNode, tuple[Scope, ...]]] = [(module, (module,))]
    while stack:
        node, scopes = stack.pop()
        kind = type(node)
        if kind in _PLAIN:
            stack.extend((child, scopes) for child in reversed(child_nodes(node))
                         if type(child) not in _LEAVES)
            continue
        if isinstance(node, (cst.ClassDef, cst.FunctionDef)):
            scopes = (*scopes, node)
        elif isinstance(node, cst.Assign):
            if len(node.targets) == 1 and isinstance(node.value, cst.Call):
                targets[id(node.value)] = _target_name(node.targets[0].target)
        elif isinstance(node, cst.AnnAssign):
            if isinstance(node.value, cst.Call):
                targets[id(node.value)] = _target_name(node.target)
        elif isinstance(node, cst.Return):
            function = scopes[-1]
            if isinstance(node.value, cst.Call) and isinstance(function, cst.FunctionDef):
                targets[id(node.value)] = function.name.value
        elif isinstance(node, cst.Call) and imports.resolve(node.func) == _SEQUENTIAL:
            found.append((node, scopes, targets.get(id(node))))
        stack.extend((child, scopes) for child in reversed(child_nodes(node))
                     if type(child) not in _LEAVES)
    return found


def _target_name(target: cst.BaseExpression | None) -> str | None:
    if isinstance(target, cst.Name):
        return target.value
    if isinstance(target, cst.Attribute):
        return target.attr.value
    return None


class _Resolver:
    """Turns layer expressions into step templates, in one scope (a function of a class)."""

    def __init__(
        self, index: LayerIndex, scopes: tuple[Scope, ...], info: ClassInfo | None
    ) -> None:
        self.index = index
        self.scopes = scopes
        self.info = info

    def _in(self, scope: cst.FunctionDef) -> _Resolver:
        module = self.scopes[0]
        scopes = (module, self.info.node, scope) if self.info else (module, scope)
        return _Resolver(self.index, scopes, self.info)

    def layer(
        self, expr: cst.BaseExpression, node: cst.CSTNode, depth: int,
        attribute: str | None = None,
    ) -> list[LayerStep] | None:
        """The steps a module expression runs when called; None if it is not a module."""
        if depth > _MAX_DEPTH:
            return [_unknown(node)]
        if isinstance(expr, cst.Call):
            func = expr.func
            if (isinstance(func, cst.Attribute) and func.attr.value in _MODULE_PASSTHROUGH
                    and isinstance(func.value, cst.Call)):
                # nn.Linear(5, 1).to(device): the same module
                return self.layer(func.value, node, depth + 1, attribute)
            name = self.index._imports.resolve(func)
            if name == _SEQUENTIAL:
                found = self.sequential(expr, depth + 1)
                return found if found is not None else [_unknown(node)]
            if name is not None:
                foreign = self.index.imported_block(name, expr, node, attribute)
                if foreign is not None:
                    return [foreign]
                step = self.index.classify(name, expr, node, self.scopes)
                step.attribute = attribute
                return [step]
            local = self._local_class(expr.func)
            if local is not None:
                return [LayerStep(api.ROLE_LOCAL, local.name, node, expr, label=local.name,
                                  attribute=attribute, inner=self.index.local_output(local))]
            return [_unknown(node, expr, attribute)]
        if isinstance(expr, cst.IfExp):
            # `nn.Dropout(p) if p > 0 else nn.Identity()`: the layer, when there is one
            body = self.layer(expr.body, node, depth + 1, attribute)
            orelse = self.layer(expr.orelse, node, depth + 1, attribute)
            if body is not None and _is_nothing(orelse):
                return body
            if orelse is not None and _is_nothing(body):
                return orelse
            return [_unknown(node)]
        if isinstance(expr, cst.Name):
            if expr.value == "None":
                return None
            value, scope = self._name_value(expr.value)
            if value is None:
                return [_unknown(node)]
            resolver = self._in(scope) if isinstance(scope, cst.FunctionDef) else self
            return resolver.layer(value, node, depth + 1, attribute or expr.value)
        if isinstance(expr, cst.Attribute) and _is_self(expr.value) and self.info is not None:
            binding = self.index.attribute(self.info, expr.attr.value)
            if binding is None:
                return [_unknown(node)]
            return self._in(binding.scope).layer(
                binding.value, node, depth + 1, attribute or expr.attr.value)
        return [_unknown(node)]

    def _name_value(self, name: str) -> tuple[cst.BaseExpression | None, Scope | None]:
        for scope in reversed(self.scopes):
            if isinstance(scope, cst.ClassDef):
                continue
            bindings = self.index._constants.bindings(scope)
            if bindings.binds(name):
                return bindings.single_assignment(name), scope
        return None, None

    def _local_class(self, func: cst.BaseExpression) -> ClassInfo | None:
        if isinstance(func, cst.Name):
            info = self.index._classes.by_name.get(func.value)
            if info is not None and info.is_module:
                return info
        return None

    def sequential(self, call: cst.Call, depth: int) -> list[LayerStep] | None:
        """The layers of ``nn.Sequential(...)`` in order; None if it cannot be told."""
        args = list(call.args)
        if len(args) == 1 and not args[0].star and isinstance(args[0].value, cst.Call):
            inner = args[0].value
            if self.index._imports.resolve(inner.func) in _ORDERED_DICTS:
                return self._ordered_dict(inner, depth)
        return self.elements(args, depth)

    def elements(self, args: Iterable[cst.Arg], depth: int) -> list[LayerStep] | None:
        result: list[LayerStep] = []
        for arg in args:
            if arg.keyword is not None or arg.star == "**":
                return None
            if arg.star == "*":
                found = self._star_list(arg.value)
                if found is None:
                    result.append(_unknown(arg.value))
                    continue
                items, resolver = found
                for item in items:
                    result.extend(resolver.layer(item, item, depth + 1) or [_unknown(item)])
                continue
            result.extend(self.layer(arg.value, arg.value, depth + 1) or [_unknown(arg.value)])
        return result

    def _ordered_dict(self, call: cst.Call, depth: int) -> list[LayerStep] | None:
        items: list[cst.BaseExpression] = []
        if not call.args:
            return []
        if len(call.args) == 1 and not call.args[0].keyword and not call.args[0].star:
            value = call.args[0].value
            if isinstance(value, (cst.List, cst.Tuple)):
                for element in value.elements:
                    pair = element.value
                    if (isinstance(element, cst.StarredElement)
                            or not isinstance(pair, (cst.Tuple, cst.List))
                            or len(pair.elements) != 2):
                        return None
                    items.append(pair.elements[1].value)
            elif isinstance(value, cst.Dict):
                for dict_element in value.elements:
                    if not isinstance(dict_element, cst.DictElement):
                        return None
                    items.append(dict_element.value)
            else:
                return None
        elif all(arg.keyword is not None for arg in call.args):
            items = [arg.value for arg in call.args]
        else:
            return None
        result: list[LayerStep] = []
        for item in items:
            result.extend(self.layer(item, item, depth + 1) or [_unknown(item)])
        return result

    def _star_list(self, expr: cst.BaseExpression,
                   ) -> tuple[list[cst.BaseExpression], _Resolver] | None:
        """The items of a list built in straight-line code of the current function, or returned
        by a same-file builder (``*block(c_in, c_out, bn=False)``), with the resolver of the
        scope they are written in."""
        if isinstance(expr, (cst.List, cst.Tuple)):
            if any(isinstance(e, cst.StarredElement) for e in expr.elements):
                return None
            return [e.value for e in expr.elements], self
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name):
            return self._builder_list(expr)
        function = self.scopes[-1]
        if not isinstance(expr, cst.Name) or not isinstance(function, cst.FunctionDef):
            return None
        items = _built_list(function, expr.value, expr)
        return (items, self) if items is not None else None

    def _builder_list(self, call: cst.Call,
                      ) -> tuple[list[cst.BaseExpression], _Resolver] | None:
        """The list a module-level builder function returns (``layers = [...]``, grown by
        appends, some under ``if`` tests that the call's literal arguments or the parameters'
        defaults decide), for this call."""
        assert isinstance(call.func, cst.Name)
        function = self.index.function(call.func.value)
        if function is None:
            return None
        body = block_statements(function.body)
        last = body[-1] if body else None
        smalls = last.body if isinstance(last, cst.SimpleStatementLine) else ()
        if len(smalls) != 1 or not isinstance(smalls[0], cst.Return) or not isinstance(
                smalls[0].value, cst.Name):
            return None
        returned = smalls[0].value
        constants = literal_arguments(function, call.args, False,
                                      frozenset(parameter_names(function)))
        items = _built_list(function, returned.value, returned, constants)
        if items is None:
            return None
        return items, _Resolver(self.index, (self.scopes[0], function), None)


def _is_nothing(steps: list[LayerStep] | None) -> bool:
    return steps is None or (len(steps) == 1 and steps[0].role == api.ROLE_IDENTITY) or steps == []


def _unknown(
    node: cst.CSTNode, call: cst.Call | None = None, attribute: str | None = None
) -> LayerStep:
    return LayerStep(api.ROLE_UNKNOWN, None, node, call, attribute=attribute)


def _built_list(
    function: cst.FunctionDef, name: str, use: cst.Name,
    constants: dict[str, object] | None = None,
) -> list[cst.BaseExpression] | None:
    """Items of ``name = [...]`` grown by ``append``/``extend``/``+=`` in the function body's
    top-level statements before the statement that contains ``use``; None when the list is
    touched in any other way (a loop, a branch, passed to a call) before that. With
    ``constants`` (parameters' literal values at one call), an ``if`` they decide counts as
    the branch it takes."""
    items: list[cst.BaseExpression] | None = None
    for stmt in block_statements(function.body):
        contains_use = any(node is use for node in _walk(stmt))
        if isinstance(stmt, cst.If) and constants and items is not None and not contains_use:
            taken = _taken_branch(stmt, constants, function)
            if taken is not None:
                for inner in taken:
                    if not (isinstance(inner, cst.SimpleStatementLine) and len(inner.body) == 1
                            and _grow(inner.body[0], name, items)) and _mentions(inner, name):
                        return None
                continue
        handled = False
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
            small = stmt.body[0]
            if (isinstance(small, (cst.Assign, cst.AnnAssign)) and _assigns(small, name)
                    and small.value is not None):
                if items is not None or not isinstance(small.value, (cst.List, cst.Tuple)):
                    return None
                items = _literal_items(small.value)
                handled = items is not None
            elif items is not None:
                handled = _grow(small, name, items)
        if contains_use:
            # the Sequential inside a compound statement that also touches the list: not
            # straight-line any more
            if not isinstance(stmt, cst.SimpleStatementLine) and any(
                isinstance(n, cst.Name) and n.value == name and n is not use for n in _walk(stmt)
            ):
                return None
            return items
        if not handled and _mentions(stmt, name):
            return None
    return None


def _taken_branch(stmt: cst.If, constants: dict[str, object],
                  function: cst.FunctionDef) -> Sequence[cst.BaseStatement] | None:
    """The statements an ``if`` runs given the parameters' literal values; None when its test
    cannot be decided."""
    taken = decide(stmt.test, constants, function_bound_names(function, parameters=False))
    if taken is True:
        return block_statements(stmt.body)
    if taken is False:
        if stmt.orelse is None:
            return []
        if isinstance(stmt.orelse, cst.Else):
            return block_statements(stmt.orelse.body)
    return None


def _assigns(node: cst.Assign | cst.AnnAssign, name: str) -> bool:
    targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
    return any(isinstance(t, cst.Name) and t.value == name for t in targets)


def _literal_items(node: cst.BaseExpression) -> list[cst.BaseExpression] | None:
    if not isinstance(node, (cst.List, cst.Tuple)):
        return None
    if any(isinstance(e, cst.StarredElement) for e in node.elements):
        return None
    return [e.value for e in node.elements]


def _grow(small: cst.BaseSmallStatement, name: str, items: list[cst.BaseExpression]) -> bool:
    if isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.AddAssign):
        if isinstance(small.target, cst.Name) and small.target.value == name:
            added = _literal_items(small.value)
            if added is None or _mentions(small.value, name):
                return False
            items.extend(added)
            return True
        return False
    if not isinstance(small, cst.Expr) or not isinstance(small.value, cst.Call):
        return False
    call = small.value
    func = call.func
    if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
            and func.value.value == name and len(call.args) == 1 and not call.args[0].star):
        return False
    if _mentions(call.args[0].value, name):
        return False
    if func.attr.value == "append":
        items.append(call.args[0].value)
        return True
    if func.attr.value == "extend":
        added = _literal_items(call.args[0].value)
        if added is None:
            return False
        items.extend(added)
        return True
    return False


def _mentions(node: cst.CSTNode, name: str) -> bool:
    return any(isinstance(n, cst.Name) and n.value == name for n in _walk(node))


class _ForwardEvaluator:
    """Follows tensors through ``forward()`` in statement order (straight-line data flow)."""

    def __init__(self, index: LayerIndex, flow: LayerFlow, resolver: _Resolver) -> None:
        self.index = index
        self.flow = flow
        self.resolver = resolver
        self.env: dict[str, LayerStep | None] = {}

    def run(self, function: cst.FunctionDef) -> None:
        self.block(function.body)

    # -- statements --------------------------------------------------------------------------
    def block(self, block: cst.BaseSuite) -> None:
        for stmt in block_statements(block):
            self.statement(stmt)

    def statement(self, stmt: cst.BaseStatement) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.small(small)
            return
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            self.env.pop(stmt.name.value, None)
            return
        if isinstance(stmt, cst.With):
            for item in stmt.items:
                self.expr(item.item)
                if item.asname is not None:
                    self.assign(item.asname.name, None)
            self.block(stmt.body)
            return
        # Branches and loops: analyse each block on its own; afterwards, every name a block
        # rebound is unknown (the paths merge).
        if isinstance(stmt, cst.If):
            self.expr(stmt.test)
        elif isinstance(stmt, (cst.For, cst.While)):
            self.expr(stmt.iter if isinstance(stmt, cst.For) else stmt.test)
            for name in _bound_names(stmt):
                self.env[name] = None
        saved = dict(self.env)
        changed: set[str] = set()
        bound = _bound_names(stmt)
        for i, block in enumerate(child_blocks(stmt)):
            self.env = dict(saved)
            if i > 0 and isinstance(stmt, (cst.Try, cst.TryStar)):
                # handlers, else and finally run after some of the try body: its names are
                # unknown there
                self.env.update(dict.fromkeys(bound))
            self.block(block)
            changed.update(n for n in set(self.env) | set(saved)
                           if self.env.get(n) is not saved.get(n))
        self.env = saved
        for name in changed | bound:
            self.env[name] = None

    def small(self, small: cst.BaseSmallStatement) -> None:
        if isinstance(small, cst.Assign):
            value = self.expr(small.value)
            for target in small.targets:
                self.assign(target.target, value)
        elif isinstance(small, cst.AnnAssign):
            self.assign(small.target, self.expr(small.value) if small.value else None)
        elif isinstance(small, cst.AugAssign):
            left = self.expr(small.target)
            right = self.expr(small.value)
            self.assign(small.target, self.merge(small, [left, right]))
        elif isinstance(small, cst.Expr):
            self.expr(small.value)
        elif isinstance(small, cst.Return) and small.value is not None:
            value = self.expr(small.value)
            if value is not None:
                self.flow.outputs.append(value)

    def assign(self, target: cst.BaseExpression, value: LayerStep | None) -> None:
        if isinstance(target, cst.Name):
            self.env[target.value] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            # `out, state = self.lstm(x)`: the first element is the layer's output
            first = value if value is not None and value.role in _TUPLE_OUTPUT else None
            for i, element in enumerate(target.elements):
                self.assign(element.value, first if i == 0 else None)
        elif isinstance(target, cst.StarredElement):
            self.assign(target.value, None)

    # -- expressions -------------------------------------------------------------------------
    def expr(self, node: cst.BaseExpression | None) -> LayerStep | None:
        if node is None:
            return None
        if isinstance(node, cst.Name):
            return self.env.get(node.value)
        if isinstance(node, cst.Call):
            return self.call(node)
        if isinstance(node, cst.BinaryOperation):
            return self.merge(node, [self.expr(node.left), self.expr(node.right)])
        if isinstance(node, cst.Subscript):
            value = self.expr(node.value)
            for element in node.slice:
                if isinstance(element.slice, cst.Index):
                    self.expr(element.slice.value)
            if (value is not None and value.role in _TUPLE_OUTPUT and len(node.slice) == 1
                    and isinstance(node.slice[0].slice, cst.Index)
                    and isinstance(node.slice[0].slice.value, cst.Integer)
                    and node.slice[0].slice.value.value == "0"):
                return value
            return self.merge(node, [value])
        if isinstance(node, (cst.Tuple, cst.List)):
            for item in node.elements:
                self.expr(item.value)
            return None
        if isinstance(node, cst.IfExp):
            self.expr(node.test)
            return self.merge(node, [self.expr(node.body), self.expr(node.orelse)])
        if isinstance(node, cst.UnaryOperation):
            return self.merge(node, [self.expr(node.expression)])
        if isinstance(node, cst.NamedExpr):
            value = self.expr(node.value)
            self.assign(node.target, value)
            return value
        if isinstance(node, cst.Attribute):
            self.expr(node.value)
        return None

    def merge(self, node: cst.CSTNode, values: Iterable[LayerStep | None]) -> LayerStep | None:
        """An op we do not follow: its output is unknown; a wall for every rule."""
        inputs = tuple(v for v in values if v is not None)
        if not inputs:
            return None
        step = LayerStep(api.ROLE_UNKNOWN, None, node, None, inputs=inputs)
        self.flow.steps.append(step)
        return step

    def _args(self, call: cst.Call, skip_first: bool) -> tuple[LayerStep | None, list[LayerStep]]:
        """The value of the input argument, and of every other argument that is tracked."""
        first: LayerStep | None = None
        others: list[LayerStep] = []
        positional_seen = False
        for arg in call.args:
            value = self._collect(arg.value)
            is_input = (not positional_seen and arg.keyword is None and not arg.star) or (
                arg.keyword is not None and arg.keyword.value == "input")
            if arg.keyword is None and not arg.star:
                positional_seen = True
            if is_input and not skip_first and len(value) <= 1:
                first = value[0] if value else None
                skip_first = True
            else:
                others.extend(value)
        return first, others

    def _collect(self, node: cst.BaseExpression) -> list[LayerStep]:
        if isinstance(node, (cst.Tuple, cst.List)):
            return [v for e in node.elements for v in self._collect(e.value)]
        value = self.expr(node)
        return [value] if value is not None else []

    def call(self, call: cst.Call) -> LayerStep | None:
        func = call.func
        scopes = self.resolver.scopes
        # self.layer(x): a submodule assigned in __init__
        if isinstance(func, cst.Attribute) and _is_self(func.value):
            templates = self.resolver.layer(func, call, 0)
            first, others = self._args(call, skip_first=False)
            if templates is None or all(t.role == api.ROLE_UNKNOWN for t in templates):
                return self.merge(call, [first, *others])
            if others:  # extra tensors (attention key/value, masks) also flow in
                self.merge(call, others)
            return _chain(self.flow, templates, first, call)
        name = self.index._imports.resolve(func)
        if name is not None and name in api.LAYER_ROLES:
            first, others = self._args(call, skip_first=False)
            step = self.index.classify(name, call, call, scopes)
            if others:
                self.merge(call, others)
            return _chain(self.flow, [step], first, call)
        # nn.ReLU()(x): a module constructed and applied at once
        if isinstance(func, cst.Call):
            templates = self.resolver.layer(func, call, 0)
            first, others = self._args(call, skip_first=False)
            if templates is None or all(t.role == api.ROLE_UNKNOWN for t in templates):
                return self.merge(call, [first, *others])
            return _chain(self.flow, templates, first, call)
        # x.view(n, -1): a tensor method (torch.cat(...) and other imported names are not)
        if isinstance(func, cst.Attribute) and name is None:
            owner = self.expr(func.value)
            _, others = self._args(call, skip_first=True)
            role = api.TENSOR_METHOD_ROLES.get(func.attr.value)
            if role is None or (owner is None and not isinstance(func.value, cst.Name)):
                # an unknown method, or a method on something that is not a tensor we follow
                # (`self.cls_token.expand(...)`, `torch.zeros(...).to(x)`)
                return self.merge(call, [owner, *others])
            method = _TENSOR + func.attr.value
            step = self.index.classify(method, call, call, scopes, method=True,
                                       label=f".{func.attr.value}()")
            if others:
                self.merge(call, others)
            return _chain(self.flow, [step], owner, call)
        first, others = self._args(call, skip_first=False)
        return self.merge(call, [first, *others])


def _bound_names(stmt: cst.CSTNode) -> set[str]:
    """Names a compound statement (re)binds anywhere inside it, loop targets included."""
    names: set[str] = set()

    def add(target: cst.BaseExpression) -> None:
        names.update(target_names(target))

    for node in _walk(stmt):
        if isinstance(node, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign, cst.For,
                             cst.NamedExpr)):
            add(node.target)
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            add(node.asname.name)
    return names


# -- walks the rules share --------------------------------------------------------------------
def walk_back(step: LayerStep, through: frozenset[str]) -> tuple[LayerStep | None, list[LayerStep]]:
    """Follow ``step``'s input backwards over steps whose role is in ``through``.

    Returns the first step that is not (None when the chain ends or merges) and the steps
    passed over, nearest first.
    """
    passed: list[LayerStep] = []
    current = step.previous
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.role == api.ROLE_LOCAL and current.inner is not None:
            # a module class of this file: continue from what its forward() returns
            passed.append(current)
            current = current.inner
            continue
        if current.role not in through:
            return current, passed
        passed.append(current)
        current = current.previous
    return None, passed


def walk_forward(
    index: LayerIndex, step: LayerStep, through: frozenset[str]
) -> Iterator[tuple[LayerStep, list[LayerStep]]]:
    """Every step reached from ``step``'s output over steps whose role is in ``through``:
    yields each first step that is not, with the steps passed over on the way."""
    stack: list[tuple[LayerStep, list[LayerStep]]] = [(s, []) for s in index.successors(step)]
    seen: set[int] = set()
    while stack:
        current, passed = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.role in through and len(current.inputs) == 1:
            stack.extend((s, [*passed, current]) for s in index.successors(current))
        else:
            yield current, passed


def through_text(passed: Sequence[LayerStep]) -> str:
    """`` (through nn.BatchNorm2d, F.relu)`` for steps a walk passed over, given in data order."""
    if not passed:
        return ""
    labels = [f"the output of {step.label}" if step.role == api.ROLE_LOCAL else step.label
              for step in passed]
    return " (through " + ", ".join(labels) + ")"

