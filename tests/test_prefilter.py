"""The pre-filter never changes findings (issue 7).

Both stages must be necessary conditions for any of a rule's findings: its ``requires`` tokens
on the bytes, and its ``could_match`` on the sketch of CPython's tree (analysis/sketch.py).
Checked on every rule example, every fixture, programs written to reach findings through the
paths the sketch over-approximates (aliases, star imports, constants, helpers, callers, class
attributes), and a sample of real code (installed torch and transformers sources), each linted
with all rules (preview included) with and without the pre-filter.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from dropcheck.analysis.sketch import Sketch
from dropcheck.engine import LintOptions, lint_path, lint_source, passes_prefilter
from dropcheck.rules import all_rules, rule_by_code
from dropcheck.rules.base import Rule
from dropcheck.testing import expected_findings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures").rglob("*.py"))
WITH = LintOptions(rules=list(all_rules()))
WITHOUT = replace(WITH, prefilter=False)


def package_sample(package: str, count: int, pattern: str = "*.py") -> list[Path]:
    """Every n-th installed source of ``package``: files that pass the filter and files that
    do not."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return []
    files = sorted(Path(spec.origin).parent.rglob(pattern))
    step = max(1, len(files) // count)
    return files[::step][:count]


def torch_sample(count: int = 80) -> list[Path]:
    return package_sample("torch", count)


EXAMPLES = [(rule, i, source) for rule in all_rules()
            for i, source in enumerate([*rule.VALID, *rule.INVALID])]


@pytest.mark.parametrize(("rule", "index", "source"), EXAMPLES,
                         ids=[f"{r.code}-{i}" for r, i, _ in EXAMPLES])
def test_examples_same_findings_with_and_without_prefilter(
    rule: type[Rule], index: int, source: str
) -> None:
    data = source.encode("utf-8")
    assert lint_source("<example>.py", data, WITH) == lint_source("<example>.py", data, WITHOUT)


#: The mode rules skip test files in ``could_match`` (they report on non-test code only).
MODE_RULES = ("DC001", "DC007", "DC008", "DC013")
IN_TESTS = [(rule.code, i, source) for rule in all_rules() if rule.code in MODE_RULES
            for i, source in enumerate(rule.INVALID)]


@pytest.mark.parametrize("name", ["tests/test_train.py", "pkg/tests/helpers.py", "conftest.py",
                                  "train_test.py"])
@pytest.mark.parametrize(("code", "index", "source"), IN_TESTS,
                         ids=[f"{c}-{i}" for c, i, _ in IN_TESTS])
def test_mode_rule_examples_in_test_files(code: str, index: int, source: str, name: str) -> None:
    data = source.encode("utf-8")
    found = lint_source(name, data, WITHOUT)
    assert lint_source(name, data, WITH) == found
    assert not [f for f in found if f.code in MODE_RULES]


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_every_invalid_example_passes_its_rules_own_filter(rule: type[Rule]) -> None:
    for source in rule.INVALID:
        if any(code == rule.code for _, code in expected_findings(source)):
            assert passes_prefilter(source.encode("utf-8"), rule), source


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT / "fixtures")))
def test_fixtures_same_findings_with_and_without_prefilter(path: Path) -> None:
    assert lint_path(str(path), WITH) == lint_path(str(path), WITHOUT)


def test_real_code_same_findings_with_and_without_prefilter() -> None:
    sample = torch_sample()
    assert len(sample) >= 40, "torch sources are part of the test extras"
    skipped = 0
    for path in sample:
        data = path.read_bytes()
        if not any(passes_prefilter(data, rule) for rule in WITH.rules):
            skipped += 1
        assert lint_source(str(path), data, WITH) == lint_source(str(path), data, WITHOUT), path
    # The sample exercises both sides of the filter.
    assert 0 < skipped < len(sample)


_NET = (
    "import torch\n"
    "import torch.nn as nn\n"
    "class Net(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.fc = nn.Linear(4, 4)\n"
    "        self.drop = nn.Dropout(0.1)\n"
    "    def forward(self, x):\n"
    "        return self.drop(self.fc(x))\n"
)
SKETCH_CASES = {
    "rate-class-constant": (
        "import torch.nn as nn\n"
        "class M(nn.Module):\n"
        "    RATE = 0.9\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.d = nn.Dropout(self.RATE)  # expect: DC002\n"
    ),
    "rate-aliased-import-and-arithmetic": (
        "from torch.nn import Dropout as D\nKEEP = 0.2\nP = 1 - KEEP\n"
        "layer = D(P)  # expect: DC002\n"
    ),
    "rate-star-import": "from torch.nn import *\nlayer = Dropout(p=0.9)  # expect: DC002\n",
    "rate-functional-positional": (
        "import torch.nn.functional as F\ny = F.dropout(x, 1.5)  # expect: DC006\n"
    ),
    "rate-rnn-keyword": (
        "import torch.nn as nn\nDROP = 0.3\nrnn = nn.GRU(8, 16, dropout=DROP)  # expect: DC010\n"
    ),
    "functional-aliased": (
        "from torch import nn\nfrom torch.nn.functional import dropout as drop\n"
        "class M(nn.Module):\n    def forward(self, x):\n        return drop(x)  # expect: DC005\n"
    ),
    "sdpa-positional-rate": (
        "import torch\nfrom torch.nn.functional import scaled_dot_product_attention as sdpa\n"
        "class A(torch.nn.Module):\n    def forward(self, q, k, v):\n"
        "        return sdpa(q, k, v, None, 0.1)  # expect: DC011\n"
    ),
    "conv-aliased": (
        "from torch.nn import Conv2d as C, Dropout as D, ReLU, Sequential\n"
        "m = Sequential(C(3, 8, 3), ReLU(), D(0.2))  # expect: DC003\n"
    ),
    "eval-missing-in-helper-built-model": _NET + (
        "def build():\n    return Net()\n"
        "model = build()\n"
        "with torch.no_grad():\n    out = model(torch.randn(2, 4))  # expect: DC001\n"
    ),
    "eval-missing-caller-passes-model": _NET + (
        "def predict(m, x):\n    with torch.no_grad():\n        return m(x)  # expect: DC001\n"
        "predict(Net(), torch.randn(2, 4))\n"
    ),
    "eval-missing-plain-class-attribute": _NET + (
        "class Predictor:\n"
        "    def __init__(self, path):\n"
        "        self.model = Net()\n"
        "        self.model.load_state_dict(torch.load(path))\n"
        "    def predict(self, x):\n"
        "        with torch.no_grad():\n"
        "            return self.model(x)  # expect: DC001\n"
    ),
    "eval-missing-aliased-decorator": _NET + (
        "from torch import inference_mode as im\n"
        "model = Net()\n"
        "@im\n"
        "def run(x):\n"
        "    return model(x)\n"
        "with im():\n    y = model(torch.randn(2, 4))  # expect: DC001\n"
    ),
    "eval-missing-config-constructor": (
        "import torch\nfrom transformers import BertConfig, BertForSequenceClassification\n"
        "config = BertConfig()\nmodel = BertForSequenceClassification(config)\n"
        "with torch.no_grad():\n    logits = model(**batch).logits  # expect: DC001\n"
    ),
    "eval-missing-loaded": (
        "import torch\nmodel = torch.load('model.pt')\n"
        "with torch.no_grad():\n    y = model(x)  # expect: DC001\n"
    ),
    "export-in-helper": _NET + (
        "def export(m, path):\n"
        "    torch.onnx.export(m, (torch.randn(1, 4),), path, dynamo=True)  # expect: DC013\n"
        "export(Net(), 'm.onnx')\n"
    ),
    "mc-dropout-train": _NET + (
        # (with BatchNorm: train() on a dropout-only model switches nothing else)
        "model = nn.Sequential(Net(), nn.BatchNorm1d(4))\n"
        "model.load_state_dict(torch.load('w.pt'))\nmodel.train()  # expect: DC007\n"
        "with torch.no_grad():\n    samples = [model(x) for _ in range(10)]\n"
    ),
    "eval-in-helper-in-loop": _NET + (
        "def validate(m):\n    m.eval()\n    with torch.no_grad():\n        return m(vx)\n"
        "model = Net()\nopt = torch.optim.SGD(model.parameters(), 0.1)\n"
        "for x, y in loader:\n    loss = (model(x) - y).pow(2).mean()\n"
        "    loss.backward()\n    opt.step()\n    validate(model)  # expect: DC008\n"
    ),
    "eval-missing-global-read-by-helper": _NET + (
        "model = Net()\n"
        "def infer(x):\n    with torch.no_grad():\n        return model(x)  # expect: DC001\n"
        "infer(torch.randn(2, 4))\n"
    ),
    "method-of-helper-class": _NET + (
        "class Runner:\n    def run(self, m, x):\n"
        "        with torch.no_grad():\n            return m(x)\n"
        "Runner().run(Net(), torch.randn(2, 4))\n"
    ),
    "conv-inside-local-block-class": (
        "import torch.nn as nn\n"
        "class ConvBlock(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 8, 3)\n"
        "        self.act = nn.ReLU()\n"
        "    def forward(self, x):\n"
        "        return self.act(self.conv(x))\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.block = ConvBlock()\n"
        "        self.drop = nn.Dropout(0.2)\n"
        "    def forward(self, x):\n"
        "        return self.drop(self.block(x))  # expect: DC003\n"
    ),
    "dropout-set-in-base-class": (
        "import torch.nn as nn\n"
        "class Base(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.drop = nn.Dropout(0.3)\n"
        "        self.bn = nn.BatchNorm1d(8)\n"
        "class Net(Base):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv1d(4, 8, 3)\n"
        "    def forward(self, x):\n"
        "        x = self.drop(self.conv(x))  # expect: DC003, DC004\n"
        "        return self.bn(x)\n"
    ),
    "layer-bound-at-module-level": (
        "import torch.nn as nn\n"
        "CONV = nn.Conv2d(3, 8, 3)\n"
        "def build():\n"
        "    return nn.Sequential(CONV, nn.ReLU(), nn.Dropout(0.5))  # expect: DC003\n"
    ),
    "eval-missing-helper-returns-loaded-model": _NET + (
        "def load(path):\n"
        "    model = Net()\n"
        "    model.load_state_dict(torch.load(path))\n"
        "    return model\n"
        "def restore(path):\n"
        "    return load(path)\n"
        "model = restore('w.pt')\n"
        "preds = model(torch.randn(2, 4))  # expect: DC001\n"
    ),
    "eval-missing-helper-under-callers-no-grad": _NET + (
        "def embed(m, x):\n    return m(x)\n"
        "def embed_all(m, xs):\n    return [embed(m, x) for x in xs]\n"
        "model = Net()\n"
        "with torch.no_grad():\n    ys = embed_all(model, xs)  # expect: DC001\n"
    ),
    # every callee shape the mode analysis may take for a model's forward
    "forward-of-an-assigned-attribute": _NET + (
        "class Args:\n    pass\n"
        "args = Args()\nargs.model = Net()\n"
        "args.model.load_state_dict(torch.load('w.pt'))\n"
        "with torch.no_grad():\n    y = args.model(x)  # expect: DC001\n"
    ),
    "forward-of-a-subscript": _NET + (
        "models = [Net()]\nwith torch.no_grad():\n    y = models[0](x)  # expect: DC001\n"
    ),
    "forward-of-a-wrapped-module": _NET + (
        "def run(ddp, x):\n    with torch.no_grad():\n"
        "        return ddp.module(x)  # expect: DC001\n"
        "run(Net(), x)\n"
    ),
    "forward-of-a-call-result": _NET + (
        "def get():\n    return Net()\n"
        "with torch.no_grad():\n    y = get()(x)  # expect: DC001\n"
    ),
    "forward-of-a-loop-target": _NET + (
        "with torch.no_grad():\n    for m in [Net(), Net()]:\n        y = m(x)  # expect: DC001\n"
    ),
    "forward-of-a-walrus-target": _NET + (
        "with torch.no_grad():\n    y = (m := Net())(x)  # expect: DC001\n"
    ),
    "forward-of-self": _NET + (
        "class Predictor(Net):\n    def predict(self, x):\n"
        "        with torch.no_grad():\n            return self(x)  # expect: DC001\n"
        "Predictor().predict(x)\n"
    ),
    "forward-of-an-attribute-named-like-a-static-method": _NET + (
        "class Runner:\n    def __init__(self):\n        self.net = Net()\n"
        "    def run(self, x):\n        with torch.no_grad():\n"
        "            return self.net(x)  # expect: DC001\n"
        "class Other:\n    @staticmethod\n    def net(x):\n        return x\n"
    ),
}


@pytest.mark.parametrize("name", sorted(SKETCH_CASES))
def test_sketch_keeps_findings_reached_through_every_path(name: str) -> None:
    source = SKETCH_CASES[name]
    data = source.encode("utf-8")
    without = lint_source("<case>.py", data, WITHOUT)
    # the case really reaches its finding (else it would prove nothing)
    assert expected_findings(source) <= {(f.line, f.code) for f in without}
    assert lint_source("<case>.py", data, WITH) == without


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT / "fixtures")))
def test_every_fixture_finding_passes_its_rules_sketch(path: Path) -> None:
    data = path.read_bytes()
    sketch = Sketch(ast.parse(data), str(path))  # as the engine builds it
    for finding in lint_path(str(path), WITHOUT):
        rule = rule_by_code(finding.code)
        if rule is not None:
            assert rule.could_match(sketch), finding


def test_sketch_and_could_match_never_raise_on_real_code() -> None:
    # the engine falls back to running every rule if they do: a bug there would only cost
    # time, silently, so it is checked here without that guard
    paths = [*FIXTURES, *torch_sample(), *package_sample("transformers", 12, "modeling_*.py")]
    for path in paths:
        sketch = Sketch(ast.parse(path.read_bytes()))
        for rule in all_rules():
            assert isinstance(rule.could_match(sketch), bool), (rule.code, path)


def test_transformers_models_same_findings_with_and_without_prefilter() -> None:
    # model files exercise the sketch most: dropout rates, layer order, no_grad helpers
    sample = package_sample("transformers", 12, "modeling_*.py")
    assert len(sample) >= 10, "transformers is part of the test extras"
    for path in sample:
        data = path.read_bytes()
        assert lint_source(str(path), data, WITH) == lint_source(str(path), data, WITHOUT), path


def test_prefilter_needs_every_group() -> None:
    class Needs(Rule):
        code = "DC998"
        name = "needs-both"
        message = "test"
        requires = ((b"ropout",), (b"Conv", b"conv"))

    assert passes_prefilter(b"nn.Dropout(); nn.Conv2d()", Needs)
    assert passes_prefilter(b"F.dropout(F.conv1d(x))", Needs)
    assert not passes_prefilter(b"nn.Dropout()", Needs)
    assert not passes_prefilter(b"nn.Conv2d()", Needs)


def test_engine_finds_the_same_visitor_methods_as_libcst() -> None:
    # The engine caches the visit_*/leave_* lookup per rule class instead of LibCST's
    # per-instance inspect.getmembers; it must find exactly the same methods.
    import libcst as cst

    from dropcheck.analysis.context import FileContext
    from dropcheck.engine import _visitors

    context = FileContext("x.py", cst.parse_module("x = 1\n"))
    for rule in all_rules():
        instance = rule(context)
        assert dict(_visitors(instance)) == instance.get_visitors(), rule.code


#: A project whose scripts call classes and helpers of other files: the sketch reads those
#: files' CPython trees to tell a helper that builds, loads or evaluates a model from one that
#: does not, and a module class from a plain one (issue 14).
_PROJECT = {
    "pyproject.toml": "[project]\nname = 'demo'\n",
    "base.py": "import torch.nn as nn\nclass Base(nn.Module):\n    pass\n",
    "models.py": _NET + (
        "from base import Base\n"
        "class Derived(Base):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.drop = nn.Dropout(0.2)\n"
        "    def forward(self, x):\n"
        "        return self.drop(x)\n"
        "class Plain:\n"
        "    def __call__(self, x):\n"
        "        return x\n"
        "class Output(dict):\n"
        "    pass\n"
    ),
    "utils.py": (
        "import logging\nimport torch\nfrom models import Net\n"
        "def get_logger():\n    return logging.getLogger(__name__)\n"
        "def _new():\n    return Net()\n"
        "def build():\n    return _new()\n"
        "def restore(path):\n"
        "    model = Net()\n"
        "    model.load_state_dict(torch.load(path))\n"
        "    return model\n"
        "def evaluate(model, loader):\n"
        "    with torch.no_grad():\n"
        "        return [model(x) for x in loader]\n"
        "def score(logits, labels):\n    return (logits.argmax(1) == labels).float().mean()\n"
    ),
    "pkg/__init__.py": "from .helpers import make\n",
    "pkg/helpers.py": "from models import Net\ndef make():\n    return Net()\n",
    "predict_plain.py": (
        "import torch\nfrom models import Plain, Output\nfrom utils import get_logger, score\n"
        "log = get_logger()\n"
        "@torch.no_grad()\n"
        "def predict(x, labels, val_data, new_config):\n"
        "    settings = Output(new_config)\n"  # a plain class given a config builds no model
        "    out = Output(y=Plain()(x))\n"
        "    log.info(score(out['y'], labels))\n"
        "    return score(val_data, labels)\n"
    ),
    "predict_build.py": (
        "import torch\nfrom utils import build\n"
        "model = build()\n"
        "with torch.no_grad():\n"
        "    y = model(torch.randn(2, 4))  # expect: DC001\n"
    ),
    "predict_derived.py": (
        "import torch\nfrom models import Derived\n"
        "model = Derived()\n"
        "with torch.no_grad():\n"
        "    y = model(torch.randn(2, 4))  # expect: DC001\n"
    ),
    "predict_restored.py": (
        "import torch\nfrom utils import restore\n"
        "model = restore('w.pt')\n"
        "y = model(torch.randn(2, 4))  # expect: DC001\n"
    ),
    "predict_reexport.py": (
        "import torch\nfrom pkg import make\n"
        "model = make()\n"
        "with torch.no_grad():\n"
        "    y = model(torch.randn(2, 4))  # expect: DC001\n"
    ),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in _PROJECT.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize("name", sorted(n for n in _PROJECT if n.startswith("predict")))
def test_sketch_reads_helpers_and_classes_of_other_project_files(project: Path,
                                                                 name: str) -> None:
    path = project / name
    source = path.read_text()
    without = lint_path(str(path), WITHOUT)
    assert {(f.line, f.code) for f in without if f.code == "DC001"} == {
        (line, code) for line, code in expected_findings(source) if code == "DC001"}
    assert lint_path(str(path), WITH) == without
    sketch = Sketch(ast.parse(source), str(path))
    # sharp as well as sound: a plain class, a logger and a metric build no model
    assert rule_by_code("DC001").could_match(sketch) == bool(  # type: ignore[union-attr]
        expected_findings(source))


def test_cross_file_rules_pass_the_byte_stage_only_for_project_imports(project: Path) -> None:
    from dropcheck.analysis.layout import imports_project_module

    importer = str(project / "predict_restored.py")
    # the helper's file, a package, a relative import, an import after `try:`
    for source in (b"from utils import restore\n", b"import pkg.helpers as h\n",
                   b"from . import models\n", b"try: import models\nexcept ImportError: pass\n",
                   b"import os, utils\n"):
        assert imports_project_module(importer, source), source
    for source in (b"import os\nimport torch.nn as nn\n", b"from collections import deque\n",
                   b"x = 'no imports at all'\n"):
        assert not imports_project_module(importer, source), source
    # a cross-file rule asks for a module whose file holds its tokens (a helper that loads)
    loads = (b"load",)
    assert imports_project_module(importer, b"from utils import restore\n", loads)
    assert imports_project_module(importer, b"from pkg import make\n", loads)  # a package
    assert not imports_project_module(importer, b"from models import Plain\n", loads)
    missing_eval = rule_by_code("DC001")
    assert missing_eval is not None and missing_eval.cross_file
    data = (project / "predict_restored.py").read_bytes()
    assert not all(any(t in data for t in group) for group in missing_eval.requires)
    assert passes_prefilter(data, missing_eval, importer)
    assert not passes_prefilter(data, missing_eval)  # no path: no project to look in


def test_a_scheduler_step_is_no_training_step(project: Path) -> None:
    # DC008 needs a training step as the mode analysis records one: an optimizer's step,
    # not a noise or learning-rate scheduler's
    source = (
        "import torch\nfrom utils import build\n"
        "model = build()\nmodel.eval()\n"
        "for t in scheduler.timesteps:\n"
        "    latents = scheduler.step(model(latents), t, latents)\n"
    )
    path = project / "sample.py"
    path.write_text(source)
    rule = rule_by_code("DC008")
    assert rule is not None
    assert not rule.could_match(Sketch(ast.parse(source), str(path)))
    stepped = source.replace("scheduler.step(", "optimizer.step(")
    assert rule.could_match(Sketch(ast.parse(stepped), str(path)))
    assert lint_path(str(path), WITH) == lint_path(str(path), WITHOUT)


def test_a_file_sketched_as_an_import_is_not_parsed_again(project: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    """A file the run read as another file's import (its sketch) is not parsed by CPython
    again when it is linted itself; its findings are those of a fresh lint."""
    import dropcheck.analysis.sketch as sketch
    import dropcheck.engine as engine

    helper = str(project / "utils.py")
    sketch.forget()
    fresh = lint_path(helper, WITH)
    sketch.forget()
    lint_path(str(project / "predict_restored.py"), WITH)  # reads utils.py's sketch
    parsed: list[bytes] = []
    real = engine._cpython_parse
    monkeypatch.setattr(engine, "_cpython_parse", lambda data: parsed.append(data) or real(data))
    assert lint_path(helper, WITH) == fresh
    assert not parsed
    (project / "utils.py").write_text("import torch\n")  # other bytes: parsed as usual
    lint_path(helper, WITH)
    assert parsed


def test_a_unit_that_runs_no_model_is_no_inference_site() -> None:
    # a conversion script loads weights into a model and saves it: no forward, so DC001
    # (which reports forwards only) cannot match, and the file is not parsed for it
    source = (
        "import torch\nfrom diffusers import UNet2DModel\n"
        "def rename(key):\n    return key.replace('old', 'new')\n"
        "def convert(path, out):\n"
        "    checkpoint = torch.load(path)\n"
        "    state = {rename(k): v for k, v in checkpoint.items()}\n"
        "    model = UNet2DModel(**CONFIG)\n"
        "    model.load_state_dict(state)\n"
        "    model.save_pretrained(out)\n"
        "    return model\n"
        "with torch.no_grad():\n    convert('a.ckpt', 'out')\n"
    )
    rule = rule_by_code("DC001")
    assert rule is not None
    assert not rule.could_match(Sketch(ast.parse(source)))
    # the same script checking its output runs the model: a possible report
    checked = source.replace("    return model\n", "    print(model(torch.randn(1, 3, 32, 32)))\n"
                             "    return model\n")
    assert rule.could_match(Sketch(ast.parse(checked)))
    for text in (source, checked):
        data = text.encode()
        assert lint_source("<case>.py", data, WITH) == lint_source("<case>.py", data, WITHOUT)


_BLOCKS = {
    "pyproject.toml": "[project]\nname = 'blocks'\n",
    "blocks.py": (
        "import torch.nn as nn\nfrom deep import Deep\n"
        "class ConvBlock(nn.Module):\n"
        "    def __init__(self, c):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(c, c, 3, padding=1)\n"
        "    def forward(self, x):\n"
        "        return self.conv(x)\n"
        "class ProjBlock(nn.Module):\n"
        "    def __init__(self, c):\n"
        "        super().__init__()\n"
        "        self.proj = nn.Linear(c, c)\n"
        "    def forward(self, x):\n"
        "        return self.proj(x).relu()\n"
        "class Wrapped(nn.Module):\n"  # a block of a third file: followed there
        "    def __init__(self, c):\n"
        "        super().__init__()\n"
        "        self.inner = Deep(c)\n"
        "    def forward(self, x):\n"
        "        return self.inner(x)\n"
    ),
    "deep.py": (
        "import torch.nn as nn\n"
        "class Deep(nn.Module):\n"
        "    def __init__(self, c):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(c, c, 1)\n"
        "    def forward(self, x):\n"
        "        return self.conv(x)\n"
    ),
    "net.py": (
        "import torch.nn as nn\nfrom blocks import BLOCK\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.block = BLOCK(8)\n"
        "        self.drop = nn.Dropout(0.2)\n"
        "    def forward(self, x):\n"
        "        return self.drop(self.block(x))\n"
    ),
}


@pytest.mark.parametrize(("block", "maybe", "reported"), [
    ("ConvBlock", True, True), ("Wrapped", True, False), ("ProjBlock", False, False),
    ("Missing", False, False)])
def test_block_classes_of_other_files_are_read_on_their_sketches(
        tmp_path: Path, block: str, maybe: bool, reported: bool) -> None:
    # DC003 and DC014 follow a block class of another project file into its forward; the
    # pre-filter reads that file's sketch (and a third file's, for a block it builds), so a
    # model of Linear blocks, or of a name that file does not define, is not parsed for them
    for name, text in _BLOCKS.items():
        (tmp_path / name).write_text(text.replace("BLOCK", block))
    path = tmp_path / "net.py"
    without = lint_path(str(path), WITHOUT)
    assert [(f.line, f.code) for f in without if f.code == "DC003"] == (
        [(9, "DC003")] if reported else [])
    assert lint_path(str(path), WITH) == without
    sketch = Sketch(ast.parse(path.read_text()), str(path))
    rule = rule_by_code("DC003")
    assert rule is not None
    assert rule.could_match(sketch) == maybe


_HELPERS = {
    "pyproject.toml": "[project]\nname = 'helpers'\n",
    "utils.py": (
        "def predict(model, x):\n    return model(x)\n"  # in the caller's mode and grad context
        "def count(model):\n    return sum(p.numel() for p in model.parameters())\n"
    ),
    "main.py": _NET + (
        "from utils import count, predict\n"
        "model = Net()\n"
        "model.load_state_dict(torch.load('w.pt'))\n"
        "print(count(model))\n"
        "with torch.no_grad():\n"
        "    y = HELPER(model, torch.randn(2, 4))\n"
    ),
}


@pytest.mark.parametrize(("helper", "reported"), [("predict", True), ("count", False)])
def test_a_helper_of_another_file_runs_a_model_under_the_callers_no_grad(
        tmp_path: Path, helper: str, reported: bool) -> None:
    for name, text in _HELPERS.items():
        (tmp_path / name).write_text(text.replace("HELPER", helper))
    path = tmp_path / "main.py"
    without = lint_path(str(path), WITHOUT)
    found = [f for f in without if f.code == "DC001"]
    assert [f.line for f in found] == ([15] if reported else [])
    if reported:
        assert "through `predict()` (utils.py:1) inside a no-grad block" in found[0].message
    assert lint_path(str(path), WITH) == without
    # a helper that runs no model (its file's sketch tells) makes no inference site
    rule = rule_by_code("DC001")
    assert rule is not None
    assert rule.could_match(Sketch(ast.parse(path.read_text()), str(path))) == reported
