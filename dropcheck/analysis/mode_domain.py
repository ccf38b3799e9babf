"""The abstract domain of the mode analysis (analysis/modes.py): modes and the facts that
set them, model objects, the per-statement state and its join, and what one walk of a flow
unit records (forwards, steps, mode changes, exports) and summarises (a helper, seen from its
callers). Pure data and small functions over it; the interpreter is mode_walker.py."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import libcst as cst

from dropcheck.analysis import mode_api as api
from dropcheck.analysis.constants import string_key
from dropcheck.analysis.imports import dotted_name
from dropcheck.analysis.mode_dependence import (
    INDEPENDENT,
    UNKNOWN_DEPENDENCE,
    Dependence,
)

_MAX_UNROLL_DEPTH = 3
_K = TypeVar("_K")
_V = TypeVar("_V")
_MAX_SUMMARY_DEPTH = 8

class Mode(enum.Enum):
    TRAIN = "train"
    EVAL = "eval"
    UNKNOWN = "unknown"  # set by something we cannot see (counts as handled)
    ENTRY = "entry"  # a helper's argument: whatever the caller had


class Origin(enum.Enum):
    BUILT = "built"  # constructor, from_config, Model(config), factory
    LOADED = "loaded"  # torch.load
    PRETRAINED = "pretrained"  # from_pretrained: eval mode
    PARAMETER = "parameter"  # a function parameter or a global seen from a function
    COPY = "copy"  # copy.deepcopy of another model


@dataclass(eq=False)
class TrainCall:
    """An explicit ``m.train()``: what ran in train mode after it, and whether it trained."""

    node: cst.Call
    objects: frozenset[ModelObject]
    trained: bool = False
    forwards: list[Forward] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Fact:
    mode: Mode
    #: The node that set the mode: constructor/loader call, ``.eval()``/``.train()`` call, or
    #: the call of a helper that did it.
    source: cst.CSTNode | None
    #: Statement order of ``source`` in its flow unit (for "later in the loop body").
    order: int = -1
    #: The helper through which the mode was set, if any.
    via: str | None = None
    #: For facts set by an explicit ``.train()``.
    train_call: TrainCall | None = None
    #: Unit and parameter index the fact comes from (caller-supplied facts).
    caller: cst.CSTNode | None = None


@dataclass(eq=False)
class ModelObject:
    site: cst.CSTNode
    origin: Origin
    #: The key it stands for in a helper (parameter name), or "" for an allocation site (whose
    #: code, ``Net(cfg)``, is what messages show).
    description: str
    #: What in it depends on the mode (dropout, batch statistics); unknown counts as both.
    dependence: Dependence = UNKNOWN_DEPENDENCE
    #: Index of the parameter (or global/self key) this object stands for in a helper.
    parameter: str | None = None
    #: Where its class is defined, when another file or a library says what it contains
    #: (``Net (models.py:6)``), for messages.
    defined: str | None = None
    #: The file and name of its class, when it is a class of the project (its methods'
    #: summaries say what a call of one does to the mode).
    cls: tuple[str, str] | None = None

    @property
    def mode_dependent(self) -> bool:
        return self.dependence.any


@dataclass(eq=False)
class LoopFrame:
    node: cst.CSTNode
    grad_forwards: set[ModelObject] = field(default_factory=set)
    steps: list[Step] = field(default_factory=list)
    trained: set[ModelObject] = field(default_factory=set)
    #: How many ``if`` statements of the loop body are being walked (a forward under one
    #: runs only in some iterations: ``if step % 500 == 0:`` evaluation).
    conditional: int = 0


@dataclass(eq=False)
class Forward:
    call: cst.Call
    #: The expression of the model that is called (``model``, ``self.net``, ``ddp.module``).
    model: cst.BaseExpression
    objects: frozenset[ModelObject]
    facts: frozenset[Fact]
    #: The ``with``/decorated function/``set_grad_enabled(False)`` call that disables grad.
    inference: cst.CSTNode | None
    #: The statement that contains the call (where an autofix would insert ``model.eval()``).
    statement: cst.BaseStatement
    collected: bool
    repeated: bool
    frame: LoopFrame | None
    pass_index: int
    loaded: bool
    frozen: bool
    #: Statement order in its flow unit.
    order: int = -1
    #: For a forward that a helper of another file runs (the call is the helper's): which
    #: helper, and where (``evaluate() (utils.py:14)``).
    via: str | None = None
    #: Under an ``if`` inside its innermost loop (periodic, not every iteration).
    conditional: bool = False
    #: The ``for`` loop over an evaluation loader (``test_loader``, ``val_data``) it runs in,
    #: if any: without a training step in the flow, such a loop is an evaluation phase even
    #: without no_grad (pre-0.4 accuracy helpers).
    eval_loop: cst.For | None = None
    #: For a forward that a helper runs with grad as its caller left it, the caller being
    #: under no_grad (the call is the helper's): the helper (`` `predict()` ``, or ``via``).
    runner: str | None = None


@dataclass(eq=False)
class Step:
    node: cst.CSTNode
    statement: cst.BaseStatement
    order: int
    #: Objects trained by this step, with their facts at that moment.
    trained: dict[ModelObject, frozenset[Fact]]
    loops: tuple[cst.CSTNode, ...]


@dataclass(eq=False)
class ModeChange:
    call: cst.CSTNode
    model: cst.BaseExpression | None
    objects: frozenset[ModelObject]
    mode: Mode
    statement: cst.BaseStatement
    loops: tuple[cst.CSTNode, ...]
    via: str | None = None


@dataclass(eq=False)
class Export:
    call: cst.Call
    callee: str
    model: cst.BaseExpression
    objects: frozenset[ModelObject]
    facts: frozenset[Fact]
    statement: cst.BaseStatement


@dataclass
class FlowResult:
    """Everything one analysis of a flow unit saw."""

    unit: cst.Module | cst.FunctionDef
    forwards: list[Forward] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    changes: list[ModeChange] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    train_calls: dict[int, TrainCall] = field(default_factory=dict)
    #: A training step anywhere in the unit (directly or through a same-file helper, or an
    #: unknown ``fit``/``train`` call).
    has_training: bool = False
    #: Training the unit does where no step is recorded (``trainer.fit(model)``): where it
    #: trains is not known.
    untracked_training: bool = False
    #: Statement orders of those calls.
    untracked_orders: list[int] = field(default_factory=list)
    #: Statement order of each eval/train source node.
    orders: dict[int, int] = field(default_factory=dict)
    #: Loop nodes lexically containing each statement order.
    loop_of: dict[int, tuple[cst.CSTNode, ...]] = field(default_factory=dict)
    #: The state at the end of the unit (all exits joined).
    end_state: State | None = None
    #: Test code (a test file, a test function or a method of a test class): models run in
    #: the mode the test wants, neither inference nor training (analysis/test_code.py).
    test_code: bool = False

    def train_call_records(self) -> Iterator[TrainCall]:
        return iter(self.train_calls.values())


@dataclass(eq=False)
class CallSite:
    """A call of a same-file helper, with the mode of the models it passes."""

    facts: frozenset[Fact]
    call: cst.Call
    objects: frozenset[ModelObject]
    frame: LoopFrame | None
    #: Names the call's result is assigned to (``acc = test(model)`` -> ``acc``).
    targets: frozenset[str] = frozenset()

    def in_training_iteration(self) -> bool:
        """Whether the models are trained in the same loop iteration as the call (the helper
        computes targets/pseudo-labels from the model being trained: not inference)."""
        frame = self.frame
        return frame is not None and any(
            step.loops and step.loops[-1] is frame.node and self.objects & step.trained.keys()
            for step in frame.steps)


@dataclass
class Summary:
    """What a same-file helper does, seen from its callers."""

    #: Per parameter/global key: facts at exit (ENTRY = unchanged).
    effects: dict[str, frozenset[Fact]]
    #: Objects returned: parameter keys or fresh objects (with their exit facts).
    returns_keys: frozenset[str]
    returns_new: tuple[tuple[ModelObject, frozenset[Fact], bool], ...]
    trains: bool
    #: Keys whose object was trained (forward with grad + step) while still in ENTRY mode.
    trains_entry: frozenset[str]
    #: Whether the function is a generator (context manager): effects are unknown inside.
    generator: bool
    #: Keys whose object the helper ran forward in an inference context (for messages).
    param_order: tuple[str, ...]
    #: When every ``return`` is a tuple of the same length (``return model, loss_fn, opt``):
    #: per position, the parameter keys and the indexes into ``returns_new`` it may hold.
    positions: tuple[tuple[frozenset[str], frozenset[int]], ...] = ()
    #: Keys whose object the helper runs forward in an inference context (no_grad) in the
    #: mode its caller gave it (callers in other files report it at the call).
    inference_keys: frozenset[str] = frozenset()
    #: Keys whose object the helper runs forward in the mode its caller gave it, with grad as
    #: its caller left it (no no_grad of its own): a caller under no_grad runs it for
    #: inference (reported at that call).
    runs_keys: frozenset[str] = frozenset()


#: How many summaries of other files' helpers are being computed (modes.py: one file deep).
FOREIGN_DEPTH = [0]

_UNKNOWN_SUMMARY = Summary({}, frozenset(), (), False, frozenset(), False, ())
#: Literal arguments of one call, by parameter name (sorted): a summary's specialisation.
Constants = tuple[tuple[str, object], ...]


# -- state -----------------------------------------------------------------------------------
@dataclass
class State:
    names: dict[str, frozenset[ModelObject]] = field(default_factory=dict)
    modes: dict[ModelObject, frozenset[Fact]] = field(default_factory=dict)
    loaded: frozenset[ModelObject] = frozenset()
    frozen: frozenset[ModelObject] = frozenset()
    #: ``torch.set_grad_enabled(False)`` called as a statement.
    grad_off: cst.CSTNode | None = None
    #: Loop variables over ``m.modules()``/``m.parameters()``: name -> (owner objects, kind).
    parts: dict[str, tuple[frozenset[ModelObject], str]] = field(default_factory=dict)

    def copy(self) -> State:
        return State(dict(self.names), dict(self.modes), self.loaded, self.frozen, self.grad_off,
                     dict(self.parts))

    def facts(self, objects: Iterable[ModelObject]) -> frozenset[Fact]:
        result: set[Fact] = set()
        for obj in objects:
            result |= self.modes.get(obj, frozenset())
        return frozenset(result)

    def set_mode(self, objects: Iterable[ModelObject], facts: frozenset[Fact]) -> None:
        for obj in objects:
            self.modes[obj] = facts


def join(states: Sequence[State | None]) -> State | None:
    live = [s for s in states if s is not None]
    if not live:
        return None
    if len(live) == 1:
        return live[0].copy()
    result = live[0].copy()
    for other in live[1:]:
        _union_into(result.names, other.names)
        _union_into(result.modes, other.modes)
        result.loaded |= other.loaded
        result.frozen |= other.frozen
        if result.grad_off is not other.grad_off:
            result.grad_off = None
        for name, part in other.parts.items():
            result.parts.setdefault(name, part)
    return result


def _union_into(target: dict[_K, frozenset[_V]], other: dict[_K, frozenset[_V]]) -> None:
    """``target[k] |= other[k]`` for every key; branches mostly share their bindings, so the
    unions that change nothing are skipped."""
    for key, values in other.items():
        current = target.get(key)
        if current is None:
            target[key] = values
        elif current is not values and not values <= current:
            target[key] = current | values


def _assign(target: State, source: State | None) -> None:
    """Replace ``target``'s contents in place (expressions update the caller's state)."""
    if source is not None:
        target.__dict__.update(source.__dict__)


def must_train(facts: frozenset[Fact]) -> bool:
    return bool(facts) and all(f.mode is Mode.TRAIN for f in facts)


def expression_key(expr: cst.BaseExpression) -> str | None:
    """``model`` or ``self.model`` (a plain dotted name) as a binding key."""
    name = dotted_name(expr)
    if name is None or name.count(".") > 2:
        return None
    return name


# -- helpers for the rules' messages -----------------------------------------------------------
def names_evaluation_data(expr: cst.BaseExpression) -> bool:
    """``val_loader``, ``self.test_set``, ``loaders["valid"]``: evaluation data by name."""
    if isinstance(expr, cst.Subscript):
        key = string_key(expr)
        return key is not None and bool(api.EVALUATION_SPLIT.search(key))
    name = dotted_name(expr)
    return name is not None and bool(api.EVALUATION_DATA.search(name.rsplit(".", 1)[-1]))


def _evaluation_loader(loop: cst.For) -> bool:
    """``for x, y in test_loader`` / ``in enumerate(val_data)`` / ``in loaders['valid']``."""
    iterable = loop.iter
    if isinstance(iterable, cst.Call) and dotted_name(iterable.func) in (
            "enumerate", "tqdm", "tqdm.tqdm", "iter") and iterable.args:
        iterable = iterable.args[0].value
    return names_evaluation_data(iterable)


def evaluation_forward(forward: Forward, result: FlowResult) -> bool:
    """A forward for evaluation: under no_grad, or (pre-0.4 style) in a loop over an
    evaluation loader in which nothing trains: a flow that never trains, or the test loop
    of an epoch loop whose training steps all run outside it (in the training loop)."""
    if forward.inference is not None:
        return True
    loop = forward.eval_loop
    if loop is None:
        return False
    return not result.has_training or (not result.untracked_training and not any(
        any(node is loop for node in step.loops) for step in result.steps))


def describe_source(module: cst.Module, facts: Iterable[Fact]) -> str:
    """Why the model is in train mode: "built by `Net(cfg)`", "set by `model.train()`"; of
    several sources (`Encoder()`, or the checkpoint a `try` loads), the earliest statement's,
    so that every process words it alike (a set of facts has no fixed order)."""
    sourced = sorted(((fact.order, " ".join(module.code_for_node(fact.source).split()), fact)
                      for fact in facts if fact.source is not None),
                     key=lambda item: (item[0], item[1], item[2].mode.value))
    for _, text, fact in sourced:
        source = fact.source
        if len(text) > 50:
            text = text[:47] + "..."
        if fact.via is not None:
            return f"set by the helper call `{text}`"
        if fact.train_call is not None:
            return f"set by `{text}`"
        if fact.caller is not None:
            return f"passed in training mode by a caller (`{text}`)"
        if fact.mode is Mode.UNKNOWN:
            return f"after `{text}`, which dropcheck cannot see into"
        if fact.mode is Mode.EVAL and not text.endswith((".eval()", ".train(False)")):
            if "load" in text.split("(", 1)[0]:
                return f"loaded by `{text}`: the scripts beside it save it in eval mode"
            return (f"built by `{text}`, whose constructor leaves its dropout and BatchNorm "
                    "in eval mode")
        if isinstance(source, cst.Call) and "load" in text.split("(", 1)[0]:
            return f"loaded by `{text}`, which keeps the mode it was saved in"
        return f"built by `{text}`, which starts in training mode"
    return "in training mode"


def held(objects: Iterable[ModelObject]) -> tuple[Dependence, str | None]:
    """What the mode-dependent ones of ``objects`` are known to hold, joined, and where the
    first one's class is defined: what a message says training mode does to them."""
    dependence = INDEPENDENT
    defined: str | None = None
    for obj in sorted(objects, key=lambda o: o.description):
        if obj.mode_dependent:
            dependence |= obj.dependence
            defined = defined or obj.defined
    return dependence, defined


def code_of(module: cst.Module, node: cst.CSTNode, limit: int = 40) -> str:
    text = " ".join(module.code_for_node(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def innermost_loop(loops: tuple[cst.CSTNode, ...]) -> cst.CSTNode | None:
    return loops[-1] if loops else None
