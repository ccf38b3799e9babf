"""pytest plugin (entry point ``pytest11``): the ``dropcheck`` fixture and marker.

    @pytest.mark.dropcheck(seed=3, alpha=1e-6, allow=("sampler",))
    def test_model(dropcheck):
        dropcheck.assert_eval_deterministic(model, x)
        dropcheck.assert_dropout_scaling(model, x)
        with dropcheck.mc_dropout(model):
            ...

The fixture's methods are ``dropcheck.runtime``'s functions under the same names, with their
defaults (``seed``, ``alpha``, ``allow``, ``n_runs``, ``rtol``, ``atol``, ``n``) taken from the
closest ``dropcheck`` marker; arguments passed to the method win. Loading the plugin never
imports torch: ``dropcheck.runtime`` is imported by the first check a test runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import pytest

#: Which marker options each API function takes.
_OPTIONS: dict[str, frozenset[str]] = {
    "assert_eval_deterministic": frozenset({"n_runs", "seed", "allow", "rtol", "atol"}),
    "check_eval_determinism": frozenset({"n_runs", "seed", "allow", "rtol", "atol"}),
    "assert_dropout_scaling": frozenset({"alpha", "seed"}),
    "check_dropout_scaling": frozenset({"alpha", "seed"}),
    "check_layer_order": frozenset(),
    "audit": frozenset({"seed", "alpha", "allow", "n_runs"}),
    "mc_dropout": frozenset(),
    "mc_predict": frozenset({"n", "seed"}),
}
MARKER_OPTIONS: frozenset[str] = frozenset().union(*_OPTIONS.values())

_MARKER_HELP = (
    "dropcheck(seed=0, alpha=1e-9, allow=(), n_runs=2, rtol=0.0, atol=0.0, n=50): defaults "
    "for the dropcheck fixture's runtime checks"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)


class DropcheckFixture:
    """The ``dropcheck`` fixture: ``dropcheck.runtime``'s API with the marker's defaults."""

    def __init__(self, defaults: Mapping[str, Any]) -> None:
        unknown = set(defaults) - MARKER_OPTIONS
        if unknown:
            raise pytest.UsageError(
                f"unknown option(s) in @pytest.mark.dropcheck: {', '.join(sorted(unknown))}; "
                f"valid: {', '.join(sorted(MARKER_OPTIONS))}")
        self.defaults = dict(defaults)

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        __tracebackhide__ = True
        runtime = importlib.import_module("dropcheck.runtime")
        function: Callable[..., Any] = getattr(runtime, name)
        options = {k: v for k, v in self.defaults.items() if k in _OPTIONS[name]}
        return function(*args, **{**options, **kwargs})

    def assert_eval_deterministic(self, model: Any, *args: Any, **kwargs: Any) -> None:
        __tracebackhide__ = True
        self._call("assert_eval_deterministic", (model, *args), kwargs)

    def check_eval_determinism(self, model: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return list(self._call("check_eval_determinism", (model, *args), kwargs))

    def assert_dropout_scaling(self, model: Any, *args: Any, **kwargs: Any) -> None:
        __tracebackhide__ = True
        self._call("assert_dropout_scaling", (model, *args), kwargs)

    def check_dropout_scaling(self, model: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return list(self._call("check_dropout_scaling", (model, *args), kwargs))

    def check_layer_order(self, model: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return list(self._call("check_layer_order", (model, *args), kwargs))

    def audit(self, model: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return list(self._call("audit", (model, *args), kwargs))

    def mc_dropout(self, model: Any) -> Any:
        return self._call("mc_dropout", (model,), {})

    def mc_predict(self, model: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        result: tuple[Any, Any] = self._call("mc_predict", (model, *args), kwargs)
        return result

    @property
    def DropcheckError(self) -> type[AssertionError]:
        error: type[AssertionError] = importlib.import_module("dropcheck.runtime").DropcheckError
        return error


@pytest.fixture
def dropcheck(request: pytest.FixtureRequest) -> DropcheckFixture:
    """``dropcheck.runtime``'s checks, with defaults from ``@pytest.mark.dropcheck(...)``."""
    marker = request.node.get_closest_marker("dropcheck")
    if marker is not None and marker.args:
        raise pytest.UsageError("@pytest.mark.dropcheck takes keyword options only, e.g. "
                                "@pytest.mark.dropcheck(seed=1, alpha=1e-6)")
    return DropcheckFixture(marker.kwargs if marker is not None else {})
