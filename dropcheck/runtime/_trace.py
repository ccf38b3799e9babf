"""Watch one forward pass: which module runs, which torch function it calls, which draws random
numbers, and where each tensor came from.

Forward hooks on every module keep a stack of the modules being run; a ``TorchFunctionMode``
sees every torch function with its real arguments (``F.dropout(x, p, training)``) and attributes
it to the module on top of the stack. torch's leaf layers and dropout modules are recorded as one
event each (their internals are their own business); torch functions called by other modules
(containers, custom leaf modules) are events too.
"""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.hooks import RemovableHandle

from dropcheck.runtime._common import (
    RngState,
    canonical_class,
    canonical_function,
    cuda_devices,
    first_tensor,
    is_allowed,
    is_dropout_module,
    leaves,
    seed_rng,
)


@dataclass
class Event:
    """A layer's run (see :func:`is_layer`), or a torch function called outside any layer."""

    name: str  # canonical class or function name
    path: str  # the module's path, or the calling module's path for a function
    module: nn.Module  # the module, or the module that called the function
    is_module: bool
    input: torch.Tensor | None
    source: Event | None  # the event that produced ``input``, if any
    params: dict[str, Any] = field(default_factory=dict)  # bound arguments of a function
    output: Any = None


@dataclass
class RandomCall:
    """A torch function that advanced a random number generator, and who called it."""

    function: str
    path: str
    module: nn.Module
    params: dict[str, Any]


@dataclass
class _Frame:
    path: str
    module: nn.Module
    leaf: bool
    rng_before: RngState | None = None
    explained: bool = False  # a random draw inside was attributed to a call or a child
    held: RngState | None = None  # allowed module: the state to restore after its forward
    pending: tuple[torch.Tensor | None, Event | None] = (None, None)


#: Functions whose arguments we bind by name (builtins have no Python signature).
_POSITIONAL: dict[str, tuple[str, ...]] = {
    "torch.dropout": ("input", "p", "train"),
    "torch.feature_dropout": ("input", "p", "train"),
    "torch.alpha_dropout": ("input", "p", "train"),
    "torch.feature_alpha_dropout": ("input", "p", "train"),
    "torch.nn.functional.scaled_dot_product_attention": (
        "query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale"),
    "torch.batch_norm": ("input", "weight", "bias", "running_mean", "running_var", "training"),
}

#: The functions whose arguments a check reads.
BOUND_FUNCTIONS: frozenset[str] = frozenset(
    {f"torch.nn.functional.{n}" for n in (
        "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
        "feature_alpha_dropout", "batch_norm", "conv1d", "conv2d", "conv3d")}
    | set(_POSITIONAL)
)


def bind(name: str, func: Callable[..., Any], args: Sequence[Any],
         kwargs: Mapping[str, Any]) -> dict[str, Any]:
    if name in _POSITIONAL:
        bound = dict(zip(_POSITIONAL[name], args, strict=False))
        bound.update(kwargs)
        return bound
    try:
        signature = inspect.signature(func)
        ba = signature.bind(*args, **kwargs)
    except (TypeError, ValueError):
        return dict(kwargs)
    ba.apply_defaults()
    return dict(ba.arguments)


def is_layer(module: nn.Module) -> bool:
    """A module recorded as one event: torch's own leaf layers, and dropout modules. Other
    modules, custom leaf modules included, are followed through the torch calls they make."""
    if next(module.children(), None) is not None:
        return False
    return type(module).__module__.startswith("torch.nn.modules") or is_dropout_module(module)


class Tracer(TorchFunctionMode):
    """Use as ``with Tracer(model, ...) as t: model(x)``; hooks are removed on exit.

    - ``watch_random``: record every torch call that advances an RNG (:attr:`random_calls`) and
      every module whose forward advanced one without such a call (:attr:`opaque_random`).
    - ``record_events``: the data-flow events of the forward (:attr:`events`).
    - ``hold``: modules (classes/path prefixes) whose random draws are held fixed: they draw
      from a seed that depends only on their path and call count, and the RNG continues after
      them as if they had drawn nothing.
    """

    def __init__(self, model: nn.Module, *, watch_random: bool = False,
                 record_events: bool = False, hold: Sequence[type | str] = (),
                 args: Sequence[Any] = ()) -> None:
        super().__init__()
        self.model = model
        self.watch_random = watch_random
        self.record_events = record_events
        self.hold = tuple(hold)
        self.devices = cuda_devices(model, args)
        self.stack: list[_Frame] = []
        self.random_calls: list[RandomCall] = []
        self.opaque_random: list[tuple[str, nn.Module]] = []
        self.events: list[Event] = []
        # id(tensor) -> (tensor, event that produced it); the tensor is kept so ids stay unique.
        self._producers: dict[int, tuple[torch.Tensor, Event]] = {}
        self._handles: list[RemovableHandle] = []
        self._held_calls: dict[str, int] = {}
        self._holding = 0

    # -- hooks ---------------------------------------------------------------------------

    def __enter__(self) -> Tracer:
        for path, module in self.model.named_modules():
            leaf = is_layer(module)
            self._handles.append(module.register_forward_pre_hook(
                self._pre_hook(path, module, leaf), with_kwargs=True))
            self._handles.append(module.register_forward_hook(
                self._post_hook(), with_kwargs=True, always_call=True))
        if self.watch_random or self.record_events:
            super().__enter__()
            self._mode_on = True
        else:
            self._mode_on = False
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._mode_on:
                super().__exit__(*exc)
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            self._producers.clear()

    def _pre_hook(self, path: str, module: nn.Module, leaf: bool) -> Callable[..., None]:
        def hook(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            frame = _Frame(path, module, leaf)
            if self.hold and self._holding == 0 and is_allowed(path, module, self.hold):
                frame.held = RngState(self.devices)
                count = self._held_calls.get(path, 0)
                self._held_calls[path] = count + 1
                seed_rng(zlib.crc32(f"{path}#{count}".encode()), self.devices)
            if frame.held is not None or self._holding:
                self._holding += 1
            if self.watch_random:
                frame.rng_before = RngState(self.devices)
            if self.record_events and leaf and not self._inside_leaf():
                tensor = first_tensor(args, kwargs)
                frame.pending = (tensor, self._source(tensor))
            self.stack.append(frame)
        return hook

    def _post_hook(self) -> Callable[..., Any]:
        def hook(module: nn.Module, _args: tuple[Any, ...], _kwargs: dict[str, Any],
                 output: Any) -> Any:
            if not self.stack or self.stack[-1].module is not module:
                return None  # a forward that raised before its pre-hook ran; nothing to pop
            frame = self.stack.pop()
            held = self._holding > 0  # this module is allowed, or runs inside an allowed one
            if held:
                self._holding -= 1
            if frame.held is not None:
                frame.held.restore()
                return None
            if self.watch_random and frame.rng_before is not None and not held:
                advanced = not frame.rng_before.same_as(RngState(self.devices))
                if advanced:
                    if not frame.explained:
                        self.opaque_random.append((frame.path, frame.module))
                    if self.stack:
                        self.stack[-1].explained = True
            if self.record_events and frame.leaf and not self._inside_leaf():
                tensor, source = frame.pending
                event = Event(canonical_class(module), frame.path, module, True, tensor, source,
                              output=output)
                return self._record(event, output)
            return None
        return hook

    # -- torch functions -----------------------------------------------------------------

    def __torch_function__(self, func: Callable[..., Any], types: Any,
                           args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
                           ) -> Any:
        kwargs = kwargs or {}
        frame = self.stack[-1] if self.stack else None
        before = RngState(self.devices) if self.watch_random and not self._holding else None
        result = func(*args, **kwargs)
        if before is not None and not before.same_as(RngState(self.devices)):
            name = canonical_function(func)
            path, module = (frame.path, frame.module) if frame else ("", self.model)
            self.random_calls.append(RandomCall(name, path, module, bind(name, func, args,
                                                                         kwargs)))
            if frame is not None:
                frame.explained = True
        if self.record_events and not self._inside_leaf():
            return self._record_call(func, args, kwargs, result, frame)
        return result

    def _record_call(self, func: Callable[..., Any], args: Sequence[Any],
                     kwargs: Mapping[str, Any], result: Any, frame: _Frame | None) -> Any:
        if not any(isinstance(t, torch.Tensor) for t in leaves(result)):
            return result
        name = canonical_function(func)
        tensor = first_tensor(args, kwargs)
        params = bind(name, func, args, kwargs) if name in BOUND_FUNCTIONS else {}
        path, module = (frame.path, frame.module) if frame else ("", self.model)
        event = Event(name, path, module, False, tensor, self._source(tensor), params, result)
        return self._record(event, result)

    # -- data flow -----------------------------------------------------------------------

    def _inside_leaf(self) -> bool:
        """Inside a layer: its own torch calls are its business (nn.ReLU calls F.relu)."""
        return any(frame.leaf for frame in self.stack)

    def _source(self, tensor: torch.Tensor | None) -> Event | None:
        if tensor is None:
            return None
        entry = self._producers.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else None

    def _record(self, event: Event, output: Any) -> Any:
        """Remember which event produced each output tensor; returns the output to use.

        A layer that returns its input object (dropout in eval mode, in-place activations)
        gets a view of it instead, so later users of the *input* are not taken for users of
        the layer's output (``h`` in ``self.drop(h)`` and ``self.bn(h)`` side by side).
        """
        if isinstance(output, torch.Tensor) and output is event.input:
            output = output.view_as(output)
            event.output = output
        self.events.append(event)
        for value in leaves(output):
            if isinstance(value, torch.Tensor):
                self._producers[id(value)] = (value, event)
        return output
