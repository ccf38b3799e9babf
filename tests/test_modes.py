"""The model-mode analysis (dropcheck/analysis/modes.py), asked directly: which forwards run in
which mode, what helpers do, how loops carry modes. The rules' own cases are their VALID/INVALID
examples and fixtures/modes/."""

from __future__ import annotations

import textwrap

import libcst as cst

from dropcheck.analysis.context import FileContext
from dropcheck.analysis.mode_domain import FlowResult, Mode, must_train


def _results(source: str) -> dict[str, FlowResult]:
    context = FileContext("x.py", cst.parse_module(textwrap.dedent(source)))
    found: dict[str, FlowResult] = {}
    for result in context.modes.results:
        unit = result.unit
        found[unit.name.value if isinstance(unit, cst.FunctionDef) else "<module>"] = result
    return found


def _modes(result: FlowResult) -> list[set[Mode]]:
    return [{fact.mode for fact in forward.facts} for forward in result.forwards]


HEADER = """
import torch
import torch.nn as nn
"""


def test_wrappers_alias_the_wrapped_model() -> None:
    result = _results(HEADER + """
model = nn.Dropout()
ddp = torch.nn.parallel.DistributedDataParallel(model)
ddp.module.eval()
model(x)
compiled = torch.compile(nn.Dropout())
compiled.to("cpu").cuda().eval()
compiled(x)
""")["<module>"]
    assert _modes(result) == [{Mode.EVAL}, {Mode.EVAL}]


def test_helper_effects_and_returned_models() -> None:
    results = _results(HEADER + """
def to_eval(m):
    m.eval()

def restore(m):
    was = m.training
    m.eval()
    m.train(was)

def build():
    net = nn.Dropout()
    return net

def main():
    a = nn.Dropout()
    to_eval(a)
    a(x)
    b = nn.Dropout()
    restore(b)
    b(x)
    c = build()
    c(x)
""")
    assert _modes(results["main"]) == [{Mode.EVAL}, {Mode.UNKNOWN}, {Mode.TRAIN}]


def test_loop_carries_a_late_eval_to_the_next_iteration() -> None:
    result = _results(HEADER + """
model = nn.Dropout()
opt = torch.optim.SGD(model.parameters(), 0.1)
for epoch in range(3):
    model(x).sum().backward()
    opt.step()
    model.eval()
""")["<module>"]
    # first iteration trains in train mode, the next ones in eval mode
    assert {Mode.TRAIN} in _modes(result) and {Mode.EVAL} in _modes(result)
    assert any(Mode.EVAL in {f.mode for f in facts}
               for step in result.steps for facts in step.trained.values())


def test_branches_join_and_unknown_calls_make_the_mode_unknown() -> None:
    result = _results(HEADER + """
from mylib import prepare
model = nn.Dropout()
if flag:
    model.eval()
model(x)
other = nn.Dropout()
prepare(other)
other(x)
""")["<module>"]
    first, second = result.forwards
    assert not must_train(first.facts) and {f.mode for f in first.facts} == {Mode.TRAIN, Mode.EVAL}
    assert {f.mode for f in second.facts} == {Mode.UNKNOWN}


def test_inference_contexts() -> None:
    result = _results(HEADER + """
model = nn.Dropout()
with torch.no_grad():
    model(x)
    with torch.enable_grad():
        model(x)
with torch.inference_mode(False):
    model(x)
with torch.set_grad_enabled(False):
    model(x)
""")["<module>"]
    assert [f.inference is not None for f in result.forwards] == [True, False, False, True]


def test_parameters_take_the_callers_mode_only_when_a_caller_passes_train_mode() -> None:
    results = _results(HEADER + """
@torch.no_grad()
def evaluate(model, batch):
    return model(batch)

@torch.no_grad()
def never_called_badly(model, batch):
    return model(batch)

def main():
    net = nn.Dropout()
    evaluate(net, x)
    ok = nn.Dropout()
    ok.eval()
    never_called_badly(ok, x)
""")
    assert must_train(results["evaluate"].forwards[0].facts)
    assert not must_train(results["never_called_badly"].forwards[0].facts)


def test_mode_dependence_of_classes() -> None:
    source = HEADER + """
from mylib import Block

class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.scale = 2 ** 0.5

class WithDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 2), nn.Dropout())

class WithUnknown(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block(2)

class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = WithDropout()

for cls in (Plain(), WithDropout(), WithUnknown(), Nested()):
    pass
a = Plain(); b = WithDropout(); c = WithUnknown(); d = Nested()
a(x); b(x); c(x); d(x)
"""
    result = _results(source)["<module>"]
    dependent = [next(iter(f.objects)).mode_dependent for f in result.forwards]
    assert dependent == [False, True, True, True]


def test_export_message_says_what_the_graph_keeps() -> None:
    """DC013 names what the model holds (a BatchNorm-only net bakes no dropout in)."""
    from dropcheck.engine import LintOptions, lint_source
    from dropcheck.rules import select_rules

    source = (b"import torch\nimport torch.nn as nn\n"
              b"net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))\n"
              b"torch.onnx.export(net, torch.randn(1, 3, 8, 8), 'net.onnx')\n")
    found = [f for f in lint_source("export.py", source, LintOptions(
        rules=select_rules(["DC013"]))) if f.code == "DC013"]
    assert len(found) == 1
    assert "BatchNorm uses batch statistics (nn.BatchNorm2d)" in found[0].message
    assert "dropout" not in found[0].message


def test_standard_library_classes_build_no_model() -> None:
    """A class of the standard library holds no torch module: a model that keeps an
    `OrderedDict` is known, and the layers given to one are read where they are built."""
    result = _results(HEADER + """
from collections import OrderedDict

class Registry(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.hooks = OrderedDict()

class Named(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("drop", nn.Dropout())]))

a = Registry(); b = Named()
a(x); b(x)
""")["<module>"]
    objects = [next(iter(f.objects)) for f in result.forwards]
    assert [o.mode_dependent for o in objects] == [False, True]
    assert objects[0].dependence.known and objects[1].dependence.dropout
