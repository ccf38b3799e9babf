"""The train/eval-mode facts of the analysis layer (analysis/training.py, attributes.py)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dropcheck.analysis.context import FileContext
from dropcheck.analysis.scopes import Scope
from dropcheck.analysis.training import ModeGuards, mentions_mode_flag


def _expr(code: str) -> cst.BaseExpression:
    return cst.parse_expression(code)


@pytest.mark.parametrize("code", [
    "self.training", "not self.training", "module.training", "training", "is_training",
    "p if self.training else 0.0", "self.p * (not deterministic)", "cfg.train_mode",
])
def test_mode_flags(code: str) -> None:
    assert mentions_mode_flag(_expr(code))


@pytest.mark.parametrize("code", ["self.p", "0.1", "self.config.dropout", "p", "self.trainer"])
def test_not_mode_flags(code: str) -> None:
    assert not mentions_mode_flag(_expr(code))


def _calls_by_marker(function: cst.FunctionDef) -> dict[str, cst.Call]:
    """Calls named ``mark_X(...)`` in the function, by X."""
    found: dict[str, cst.Call] = {}

    class _Find(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Name) and node.func.value.startswith("mark_"):
                found[node.func.value[5:]] = node

    function.visit(_Find())
    return found


def test_mode_guards() -> None:
    module = cst.parse_module(textwrap.dedent("""
        def forward(self, x, training):
            mark_a(x)
            if self.training:
                mark_b(x)
            else:
                mark_c(x)
            y = mark_d(x) if not training else x
            z = self.training and mark_e(x)
            while cond:
                mark_f(x)
            if not self.training:
                return x
            mark_g(x)
    """))
    function = module.body[0]
    assert isinstance(function, cst.FunctionDef)
    calls = _calls_by_marker(function)
    guards = ModeGuards(function)
    guarded = {name for name, call in calls.items() if guards.guarded(call)}
    assert guarded == {"b", "c", "d", "e", "g"}


def test_early_exit_guards_only_the_rest_of_its_block() -> None:
    module = cst.parse_module(textwrap.dedent("""
        def forward(self, x):
            for layer in self.layers:
                if not self.training:
                    continue
                mark_a(x)
            mark_b(x)
    """))
    function = module.body[0]
    assert isinstance(function, cst.FunctionDef)
    calls = _calls_by_marker(function)
    guards = ModeGuards(function)
    assert guards.guarded(calls["a"]) and not guards.guarded(calls["b"])


SOURCE = textwrap.dedent("""
    import torch.nn as nn
    RATE = 0.1

    class Base(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.p = p
            self.q = p
            self.cfg_rate = RATE

        def set_q(self, q):
            self.q = q

        @property
        def rate(self):
            return self.p if self.training else 0.0

    class Attention(Base):
        declared: float

        def __init__(self, p):
            super().__init__(p)
            self.declared = p

        def forward(self, x, dropout, *, scale=1.0):
            local = self.p * 2
            twice = self.p
            twice = 0.0
            from_param = dropout / 2
            return x
""")


@pytest.fixture
def attention() -> tuple[FileContext, list[Scope]]:
    module = cst.parse_module(SOURCE)
    context = FileContext("<test>", module)
    cls = module.body[3]
    assert isinstance(cls, cst.ClassDef)
    forward = cls.body.body[2]
    assert isinstance(forward, cst.FunctionDef)
    return context, [module, cls, forward]


@pytest.mark.parametrize(("code", "dependent"), [
    ("self.p", False),  # fixed in __init__ (the base class's)
    ("self.cfg_rate", False),
    ("RATE", False),
    ("local", False),  # computed from a fixed attribute
    ("self.q", True),  # reassigned by set_q
    ("self.rate", True),  # a property: computed on access
    ("dropout", True),  # a parameter: the caller chooses
    ("from_param", True),
    ("scale * 0.1", True),
    ("twice", True),  # assigned twice: cannot tell
    ("self.p if self.training else 0.0", True),
    ("self.unknown", False),  # not assigned in this file: taken as fixed
    ("self.declared", False),  # a class-level annotation is not an assignment
])
def test_value_origins(
    attention: tuple[FileContext, list[Scope]], code: str, dependent: bool
) -> None:
    context, scopes = attention
    context.scopes = scopes
    assert context.mode_or_caller_dependent(_expr(code)) is dependent
