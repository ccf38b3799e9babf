"""The pytest plugin: `dropcheck` fixture, `dropcheck` marker defaults, --strict-markers."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

MODELS = """
import pytest
import torch
from torch import nn


class Sampler(nn.Module):
    def forward(self, x):
        return x + torch.randn_like(x)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.sampler = Sampler()

    def forward(self, x):
        return self.sampler(self.lin(x))
"""


def test_fixture_marker_defaults_and_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MODELS + """

@pytest.mark.dropcheck(allow=("sampler",))
def test_allowed_by_marker(dropcheck):
    dropcheck.assert_eval_deterministic(Model(), torch.randn(2, 4))


def test_not_allowed(dropcheck):
    dropcheck.assert_eval_deterministic(Model(), torch.randn(2, 4))


@pytest.mark.dropcheck(alpha=1e-3, seed=1)
def test_alpha_from_marker_and_explicit_override(dropcheck):
    model = nn.Sequential(nn.Dropout(0.1))
    x = torch.randn(100)  # 100 trials: enough at alpha=1e-3, not at 1e-9
    assert dropcheck.check_dropout_scaling(model, x) == []
    [lacking] = dropcheck.check_dropout_scaling(model, x, alpha=1e-9)
    assert lacking.code == "DC106"


def test_every_api_function(dropcheck):
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    with dropcheck.mc_dropout(model):
        assert model[1].training and not model[0].training
    mean, std = dropcheck.mc_predict(model, torch.randn(3, 4), n=5)
    assert mean.shape == std.shape == (3, 4)
    assert dropcheck.check_eval_determinism(model, torch.randn(3, 4)) == []
    assert dropcheck.check_layer_order(model, torch.randn(3, 4)) == []
    assert [f.code for f in dropcheck.audit(model, torch.randn(3, 4))] == ["DC106"]
    assert issubclass(dropcheck.DropcheckError, AssertionError)
    with pytest.raises(dropcheck.DropcheckError):
        dropcheck.assert_dropout_scaling(model, torch.randn(3, 4))
""")
    result = pytester.runpytest("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    # The failure reads like an assertion failure naming the module path.
    result.stdout.fnmatch_lines([
        "*test_not_allowed*",
        "*DropcheckError: eval-mode outputs differ between runs seeded 0 and 1*",
        "*sampler (Sampler): drew random numbers with torch.randn_like while in eval mode*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.dropcheck(seed=0, alpha=1e-9, allow=()*"])


def test_unknown_marker_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest

@pytest.mark.dropcheck(sed=1)
def test_typo(dropcheck):
    pass
""")
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*unknown option(s) in @pytest.mark.dropcheck: sed*"])


def test_loading_the_plugin_does_not_import_torch(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import sys

def test_fixture_without_checks(dropcheck):
    assert dropcheck.defaults == {}
    assert "torch" not in sys.modules
""")
    # A fresh interpreter: the plugin comes from the pytest11 entry point of the install.
    result = pytester.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
