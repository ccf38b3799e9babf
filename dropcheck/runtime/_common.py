"""What every runtime check shares: mode and RNG restoration, output trees, module facts."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from dropcheck.runtime_codes import RuntimeFinding, code_name

#: What ``allow=`` accepts: module classes (isinstance) or module path prefixes.
Allow = Iterable[type | str]


class DropcheckError(AssertionError):
    """A runtime check failed. An ``AssertionError``, so pytest shows it as a failed assert."""

    def __init__(self, message: str, findings: Sequence[RuntimeFinding] = ()) -> None:
        super().__init__(message)
        self.findings: list[RuntimeFinding] = list(findings)


def finding(code: str, path: str, module: nn.Module | str, message: str) -> RuntimeFinding:
    cls = module if isinstance(module, str) else type(module).__name__
    return RuntimeFinding(code=code, name=code_name(code), path=path, module_class=cls,
                          message=message)


def dedupe(findings: Iterable[RuntimeFinding]) -> list[RuntimeFinding]:
    """One finding per (code, path, message), in first-seen order (modules called in loops)."""
    seen: dict[tuple[str, str, str], RuntimeFinding] = {}
    for f in findings:
        seen.setdefault((f.code, f.path, f.message), f)
    return list(seen.values())


def raise_if(findings: Sequence[RuntimeFinding], headline: str) -> None:
    if findings:
        lines = "\n".join(f"  {f}" for f in findings)
        raise DropcheckError(f"{headline}\n{lines}", findings)


# --------------------------------------------------------------------------- modes and RNG


@contextlib.contextmanager
def preserved_modes(model: nn.Module) -> Iterator[None]:
    """Restore every module's ``training`` flag on exit (set directly: no user ``train()``)."""
    saved = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        for module, flag in saved:
            module.training = flag


def set_eval(model: nn.Module) -> None:
    """Every module in eval mode, without calling a possibly overridden ``train()``."""
    for module in model.modules():
        module.training = False


def cuda_devices(model: nn.Module, args: Iterable[Any] = ()) -> list[int]:
    found: set[int] = set()
    tensors = [*model.parameters(), *model.buffers(), *(t for t in leaves(args) if
                                                         isinstance(t, torch.Tensor))]
    for t in tensors:
        if t.device.type == "cuda":
            found.add(t.device.index or 0)
    return sorted(found)


@contextlib.contextmanager
def forked_rng(model: nn.Module, args: Iterable[Any] = ()) -> Iterator[None]:
    """The caller's CPU (and used CUDA devices') RNG state is restored on exit."""
    with torch.random.fork_rng(devices=cuda_devices(model, args)):
        yield


def seed_rng(seed: int, devices: Sequence[int] = ()) -> None:
    """Seed the CPU generator and the given CUDA devices' generators.

    Not ``torch.manual_seed``: with CUDA uninitialized it queues a lazy CUDA seeding that
    records a traceback on every call, which costs more than a small model's forward pass.
    """
    torch.default_generator.manual_seed(seed)
    for device in devices:
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)


class RngState:
    """Capture/restore of the CPU and given CUDA generators (for holding allowed modules fixed)."""

    def __init__(self, devices: Sequence[int]) -> None:
        self.devices = list(devices)
        self.cpu = torch.get_rng_state()
        self.cuda = [torch.cuda.get_rng_state(d) for d in self.devices]

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        for device, state in zip(self.devices, self.cuda, strict=True):
            torch.cuda.set_rng_state(state, device)

    def same_as(self, other: RngState) -> bool:
        return torch.equal(self.cpu, other.cpu) and all(
            torch.equal(a, b) for a, b in zip(self.cuda, other.cuda, strict=True))


# --------------------------------------------------------------------------- output trees


_PRIMITIVES = (bool, int, float, complex, str, bytes, type(None))


def flatten(value: Any, prefix: str = "output", depth: int = 0) -> list[tuple[str, Any]]:
    """Leaves of a nested output with readable paths: tensors and primitives inside tuples,
    lists, dicts (HF ``ModelOutput`` is an ordered dict of its non-None fields), dataclasses,
    and the attributes of other objects (a KV cache); arrays become tensors. Objects with
    nothing comparable inside (no ``__dict__``) are left out rather than compared by identity.
    """
    if isinstance(value, torch.Tensor):
        return [(prefix, value)]
    if isinstance(value, _PRIMITIVES):
        return [(prefix, value)]
    if depth > 6:
        return []
    if isinstance(value, Mapping):
        return [leaf for key, item in value.items()
                for leaf in flatten(item, f"{prefix}[{key!r}]", depth + 1)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [leaf for field in dataclasses.fields(value)
                for leaf in flatten(getattr(value, field.name), f"{prefix}.{field.name}",
                                    depth + 1)]
    if isinstance(value, (tuple, list)):
        return [leaf for i, item in enumerate(value)
                for leaf in flatten(item, f"{prefix}[{i}]", depth + 1)]
    if hasattr(value, "__array__"):
        try:
            return [(prefix, torch.as_tensor(value.__array__()))]
        except (TypeError, ValueError, RuntimeError):
            return []
    if isinstance(value, (nn.Module, type)) or callable(value) or not hasattr(value, "__dict__"):
        return []
    return [leaf for key, item in sorted(vars(value).items()) if not key.startswith("__")
            for leaf in flatten(item, f"{prefix}.{key}", depth + 1)]


def leaves(value: Any) -> list[Any]:
    return [leaf for _, leaf in flatten(value)]


def difference(a: Any, b: Any, rtol: float, atol: float) -> str | None:
    """How two output leaves differ, or None. Exact by default, NaN equal to NaN."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"shape/dtype {tuple(a.shape)}/{a.dtype} vs {tuple(b.shape)}/{b.dtype}"
        a, b = a.detach(), b.detach()
        if a.is_complex():
            a, b = torch.view_as_real(a), torch.view_as_real(b)
        if a.is_floating_point():
            if rtol == 0.0 and atol == 0.0:
                same = (a == b) | (torch.isnan(a) & torch.isnan(b))
            else:
                same = torch.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
        else:
            same = a == b
        bad = int((~same).sum())
        if bad == 0:
            return None
        where = ~same
        diff = (a[where].double() - b[where].double()).abs()
        finite = diff[torch.isfinite(diff)]
        size = f"max abs diff {float(finite.max()):.3g}" if finite.numel() else "non-finite"
        return f"{bad} of {a.numel()} elements differ, {size}"
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return None
    try:
        equal = bool(a == b)
    except Exception:  # objects whose == is not a truth value: compare identity
        equal = a is b
    return None if equal else f"{a!r} vs {b!r}"


# --------------------------------------------------------------------------- module facts


def is_dropout_module(module: nn.Module) -> bool:
    """torch's dropout layers, and custom ones: subclasses, or classes named like a dropout."""
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return True
    return "dropout" in type(module).__name__.lower() and not any(
        True for _ in module.parameters())


#: Attribute names custom dropout classes keep their rate in.
RATE_ATTRIBUTES = ("p", "drop_prob", "dropout_prob", "dropout_p", "drop_rate", "dropout_rate",
                   "rate", "prob", "dropout")


def dropout_rate(module: nn.Module) -> float | None:
    for name in RATE_ATTRIBUTES:
        value = getattr(module, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def is_allowed(path: str, module: nn.Module, allow: Sequence[type | str]) -> bool:
    for entry in allow:
        if isinstance(entry, type):
            if isinstance(module, entry):
                return True
        elif entry == "" or path == entry or path.startswith(entry + "."):
            return True
    return False


def canonical_class(module: nn.Module | type) -> str:
    """``torch.nn.Dropout`` for torch's layers (the names in ``analysis.torch_api``)."""
    cls = module if isinstance(module, type) else type(module)
    if cls.__module__.startswith("torch.nn.modules"):
        return f"torch.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def canonical_function(func: Callable[..., Any]) -> str:
    """``torch.nn.functional.dropout``, ``torch.randn_like``, ``Tensor.bernoulli_``."""
    name = getattr(func, "__name__", repr(func))
    owner = getattr(func, "__objclass__", None)
    if owner is not None or getattr(func, "__self__", None) is torch.Tensor:
        return f"Tensor.{name}"
    module = getattr(func, "__module__", None) or "torch"
    # torch._C._nn holds the C++ parts of torch.nn.functional (scaled_dot_product_attention).
    if module.startswith("torch.nn.functional") or module == "torch._C._nn":
        return f"torch.nn.functional.{name}"
    if module.startswith("torch._C") or module == "torch" or module.startswith("torch."):
        return f"torch.{name}"
    return f"{module}.{name}"


def short_function(canonical: str) -> str:
    return canonical.replace("torch.nn.functional.", "F.")


def first_tensor(args: Sequence[Any], kwargs: Mapping[str, Any]) -> torch.Tensor | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value
    return None


def shape_text(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def number(value: float) -> str:
    return f"{value:.4g}"
