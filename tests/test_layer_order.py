"""The layer-order analysis (dropcheck/analysis/layers.py): what each flow's steps are, in which
order, with which facts, and where the chain must break."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dropcheck.analysis import torch_api as api
from dropcheck.analysis.context import FileContext
from dropcheck.analysis.layers import LayerFlow, LayerStep, walk_back, walk_forward

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def flows(source: str) -> list[LayerFlow]:
    module = cst.parse_module(HEADER + textwrap.dedent(source))
    return FileContext("<test>.py", module).layers.flows


def roles(flow: LayerFlow) -> list[str]:
    return [step.role for step in flow.steps]


def chain_to(step: LayerStep) -> list[str]:
    """Roles from the start of ``step``'s single-input chain to ``step``."""
    result = [step.role]
    while step.previous is not None:
        step = step.previous
        result.append(step.role)
    return result[::-1]


def forward(found: list[LayerFlow]) -> LayerFlow:
    return next(f for f in found if f.kind == "forward")


def test_sequential_positional_with_dims_and_output() -> None:
    (flow,) = flows("m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Dropout(0.1))\n")
    assert roles(flow) == [api.ROLE_CONV, api.ROLE_ACTIVATION, api.ROLE_DROPOUT]
    assert flow.steps[0].dims == 2 and flow.steps[0].kernel == 3
    assert flow.outputs == [flow.steps[-1]] and flow.target == "m"
    assert chain_to(flow.steps[-1]) == roles(flow)


def test_ordered_dict_and_star_list() -> None:
    found = flows(
        """
        from collections import OrderedDict
        a = nn.Sequential(OrderedDict([("c", nn.Conv1d(1, 1, 3)), ("d", nn.Dropout())]))
        def build():
            layers = [nn.Linear(4, 4)]
            layers.append(nn.BatchNorm1d(4))
            layers.extend([nn.ReLU(), nn.Dropout()])
            layers += [nn.Linear(4, 2)]
            return nn.Sequential(*layers)
        """
    )
    assert roles(found[0]) == [api.ROLE_CONV, api.ROLE_DROPOUT]
    assert roles(found[1]) == [api.ROLE_LINEAR, api.ROLE_RUNNING_NORM, api.ROLE_ACTIVATION,
                               api.ROLE_DROPOUT, api.ROLE_LINEAR]
    assert found[1].target == "build"


def test_list_built_in_a_loop_is_unknown() -> None:
    (flow,) = flows(
        """
        def build(cfg):
            layers = []
            for v in cfg:
                layers.append(nn.Conv2d(v, v, 3))
            layers.append(nn.Dropout())
            return nn.Sequential(*layers)
        """
    )
    assert roles(flow) == [api.ROLE_UNKNOWN]


def test_forward_order_not_attribute_order_and_report_nodes() -> None:
    found = flows(
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.drop = nn.Dropout(0.5)
                self.fc = nn.Linear(8, 8)
                self.conv = nn.Conv2d(3, 8, 3)
            def forward(self, x):
                x = self.conv(x)
                x = F.relu(x)
                x = self.drop(x)
                return self.fc(x.mean((2, 3)))
        """
    )
    flow = forward(found)
    assert roles(flow) == [api.ROLE_CONV, api.ROLE_ACTIVATION, api.ROLE_DROPOUT,
                           api.ROLE_GLOBAL_POOL, api.ROLE_LINEAR]
    drop = flow.steps[2]
    # reported at the forward call, not at the __init__ line
    assert isinstance(drop.node, cst.Call) and isinstance(drop.node.func, cst.Attribute)
    assert drop.node.func.attr.value == "drop" and drop.attribute == "drop"
    assert flow.outputs == [flow.steps[-1]]


def test_nested_calls_and_sequential_attribute_expand() -> None:
    found = flows(
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
                self.drop = nn.Dropout(0.1)
            def forward(self, x):
                return self.drop(F.relu(self.body(x)))
        """
    )
    flow = forward(found)
    assert chain_to(flow.steps[-1]) == [api.ROLE_CONV, api.ROLE_RUNNING_NORM,
                                        api.ROLE_ACTIVATION, api.ROLE_DROPOUT]


def test_residual_addition_breaks_the_chain() -> None:
    flow = forward(flows(
        """
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(8, 8, 3)
                self.drop = nn.Dropout(0.1)
            def forward(self, x):
                y = self.conv(x) + x
                return self.drop(y)
        """
    ))
    drop = flow.steps[-1]
    assert drop.role == api.ROLE_DROPOUT
    source, passed = walk_back(drop, frozenset({api.ROLE_ACTIVATION}))
    assert source is not None and source.role == api.ROLE_UNKNOWN and passed == []


def test_branches_make_rebound_names_unknown() -> None:
    flow = forward(flows(
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.drop = nn.Dropout(0.1)
            def forward(self, x):
                x = self.conv(x)
                if self.training:
                    x = F.relu(x)
                return self.drop(x)
        """
    ))
    assert flow.steps[-1].role == api.ROLE_DROPOUT
    assert flow.steps[-1].previous is None


@pytest.mark.parametrize(("expr", "role", "rank"), [
    ("nn.Flatten()", api.ROLE_RESHAPE, 2),
    ("nn.Flatten(2)", api.ROLE_RESHAPE, 3),
    ("nn.AdaptiveAvgPool2d(1)", api.ROLE_GLOBAL_POOL, None),
    ("nn.AdaptiveAvgPool2d((1, 1))", api.ROLE_GLOBAL_POOL, None),
    ("nn.AdaptiveAvgPool2d((7, 7))", api.ROLE_POOL, None),
    ("nn.AdaptiveAvgPool2d(size)", api.ROLE_UNKNOWN, None),
    ("nn.InstanceNorm2d(8, track_running_stats=True)", api.ROLE_RUNNING_NORM, None),
    ("nn.InstanceNorm2d(8)", api.ROLE_NORM, None),
    ("nn.InstanceNorm2d(8, **kw)", api.ROLE_UNKNOWN, None),
    ("nn.Linear(4, 4).to('cuda')", api.ROLE_LINEAR, None),
    ("nn.Dropout(0.1) if p else nn.Identity()", api.ROLE_DROPOUT, None),
    ("nn.Dropout(0.1) if p else nn.Dropout2d(0.1)", api.ROLE_UNKNOWN, None),
    ("MyBlock()", api.ROLE_UNKNOWN, None),
])
def test_layer_facts(expr: str, role: str, rank: int | None) -> None:
    (flow,) = flows(f"m = nn.Sequential({expr})\n")
    assert flow.steps[0].role == role and flow.steps[0].rank == rank


def test_tensor_method_ranks_and_inplace() -> None:
    flow = forward(flows(
        """
        class Net(nn.Module):
            def forward(self, x):
                a = x.view(x.size(0), -1)
                b = torch.flatten(x, 1)
                c = x.flatten(2).transpose(1, 2)
                d = F.dropout(F.relu(x), 0.1, self.training, inplace=True)
                return a, b, c, d
        """
    ))
    by_label = {step.label: step for step in flow.steps}
    assert by_label[".view()"].rank == 2
    assert by_label["torch.flatten"].rank == 2
    assert by_label[".flatten()"].rank == 3
    assert by_label[".transpose()"].role == api.ROLE_TRANSPOSE
    assert by_label["F.dropout"].inplace and by_label["F.dropout"].previous is by_label["F.relu"]


def test_recurrent_tuple_output_and_successors() -> None:
    found = flows(
        """
        class Tagger(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(4, 4)
                self.drop = nn.Dropout(0.1)
                self.bn = nn.BatchNorm1d(4)
            def forward(self, x):
                out, _ = self.lstm(x)
                out = self.drop(out)
                return self.bn(F.relu(out)), self.lstm(x)[0]
        """
    )
    flow = forward(found)
    drop = next(s for s in flow.steps if s.role == api.ROLE_DROPOUT)
    assert drop.previous is not None and drop.previous.role == api.ROLE_RECURRENT
    assert flow.outputs == []  # a tuple is returned: no single output step


def test_walk_forward_passes_only_the_given_roles() -> None:
    source = "m = nn.Sequential(nn.Dropout(0.1), nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 4))\n"
    index = FileContext("<t>.py", cst.parse_module(HEADER + source)).layers
    first = index.flows[0].steps[0]
    reached = list(walk_forward(index, first, frozenset({api.ROLE_ACTIVATION})))
    assert [(target.role, [p.role for p in passed]) for target, passed in reached] == [
        (api.ROLE_RUNNING_NORM, [api.ROLE_ACTIVATION])
    ]


def test_sequential_subclass_and_keras_lookalike() -> None:
    found = flows(
        """
        from keras.models import Sequential
        from keras.layers import Conv2D, Dropout
        k = Sequential([Conv2D(8, 3), Dropout(0.5)])
        class Block(nn.Sequential):
            def __init__(self):
                super().__init__(nn.Conv2d(3, 8, 3), nn.Dropout(0.1))
        """
    )
    assert len(found) == 1
    assert roles(found[0]) == [api.ROLE_CONV, api.ROLE_DROPOUT]


@pytest.mark.parametrize(("expr", "rate"), [
    ("nn.Dropout()", 0.5),
    ("nn.Dropout(0.0)", 0.0),
    ("nn.Dropout(p=RATE)", 0.25),
    ("nn.Dropout2d(rate)", None),
])
def test_dropout_rate(expr: str, rate: float | None) -> None:
    (flow,) = flows(f"RATE = 0.25\nm = nn.Sequential({expr})\n")
    assert flow.steps[0].rate == rate


def test_try_finally_does_not_see_the_value_before_the_try_body() -> None:
    flow = forward(flows(
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.fc = nn.Linear(8, 8)
                self.drop = nn.Dropout(0.1)
            def forward(self, x):
                x = self.conv(x)
                try:
                    x = self.fc(x)
                finally:
                    x = self.drop(x)
                return x
        """
    ))
    drop = next(s for s in flow.steps if s.role == api.ROLE_DROPOUT)
    assert drop.previous is None
