"""Project-wide analysis (issue 13): classes and helpers from other files of the project and
from libraries, as the CLI sees them — also when only some files are named (pre-commit), and
with a cache that follows the files a result depends on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dropcheck.analysis import library
from dropcheck.engine import LintOptions, lint_path
from dropcheck.rules import all_rules
from dropcheck.runner import RunOptions, RunStats, lint_paths

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = ROOT / "fixtures" / "projects"
OPTIONS = LintOptions(rules=list(all_rules()))


def _dropcheck(*args: str, cwd: Path, env: dict[str, str] | None = None,
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dropcheck", "--select", "ALL", "--preview",
         "--format", "concise", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def _lines(output: str) -> list[str]:
    return sorted(line for line in output.splitlines() if ": DC" in line)


@pytest.mark.parametrize("name", ["classifier", "src_layout", "pickled_lm"])
def test_one_file_alone_gets_the_findings_of_the_whole_project(name: str, tmp_path: Path,
                                                               ) -> None:
    """pre-commit passes only the changed files: a file's findings must not depend on which
    other files were named."""
    project = tmp_path / name
    shutil.copytree(PROJECTS / name, project)
    whole = _lines(_dropcheck("--no-cache", ".", cwd=project).stdout)
    assert whole, "the fixture project should have findings"
    for script in sorted({line.split(":", 1)[0] for line in whole}):
        alone = _lines(_dropcheck("--no-cache", script, cwd=project).stdout)
        assert alone == [line for line in whole if line.startswith(script + ":")]


def _copy_classifier(tmp_path: Path) -> Path:
    project = tmp_path / "classifier"
    shutil.copytree(PROJECTS / "classifier", project)
    return project


def _run(project: Path, cache: Path) -> tuple[set[tuple[str, int, str]], RunStats]:
    stats = RunStats()
    findings = lint_paths([str(project)], OPTIONS,
                          RunOptions(cache_dir=str(cache), jobs=1), stats)
    return {(Path(f.path).name, f.line, f.code) for f in findings}, stats


def test_cache_follows_the_files_a_result_depends_on(tmp_path: Path) -> None:
    project = _copy_classifier(tmp_path)
    cache = tmp_path / "cache"
    first, stats = _run(project, cache)
    assert ("predict.py", 12, "DC001") in first and ("train.py", 14, "DC001") in first
    assert stats.linted == stats.files

    again, stats = _run(project, cache)
    assert again == first and stats.linted == 0, "an unchanged tree is served from the cache"

    # Net loses its dropout and BatchNorm: what depends on models.py is linted again, and
    # its findings go; files that do not depend on it stay cached
    models = project / "models.py"
    text = models.read_text()
    models.write_text(text.replace("nn.BatchNorm2d(32)", "nn.Identity()")
                      .replace("nn.Dropout(dropout)", "nn.Identity()"))
    edited, stats = _run(project, cache)
    assert ("predict.py", 12, "DC001") not in edited
    assert ("train.py", 14, "DC001") not in edited
    # models.py itself and the files importing it; engine.py imports nothing of the project
    assert 0 < stats.linted < stats.files
    assert stats.cached >= 1

    models.write_text(text)  # back again: the findings come back
    restored, _ = _run(project, cache)
    assert restored == first


def test_a_model_loaded_whole_is_what_the_script_beside_it_saved(tmp_path: Path) -> None:
    """``torch.load(f)`` in a script that names no model class: the scripts in its folder that
    save whole models say what it is (pickled_lm: an RNNModel with dropout; pickled_text: a
    model without dropout and a vocabulary, neither reported), and the cache follows them."""
    project = tmp_path / "pickled_lm"
    shutil.copytree(PROJECTS / "pickled_lm", project)
    found = _dropcheck("--no-cache", "generate.py", cwd=project).stdout
    assert "dropout stays active (RNNModel (model.py:6): nn.Dropout" in found, found
    text = _dropcheck("--no-cache", ".", cwd=PROJECTS / "pickled_text").stdout
    assert _lines(text) == [], text

    cache = tmp_path / "cache"
    first, _ = _run(project, cache)
    assert ("generate.py", 20, "DC001") in first
    # main.py now saves a model without dropout: generate.py is linted again and is silent
    main = project / "main.py"
    main.write_text(main.read_text().replace("net = models.RNNModel(10000, 200, 200, "
                                             "dropout=0.5)", "net = torch.nn.Linear(4, 4)"))
    edited, stats = _run(project, cache)
    assert ("generate.py", 20, "DC001") not in edited and stats.linted >= 1


#: A prediction script whose model comes from a helper of another file. The helper first
#: returns no model; then it loads one. Whether the script can have a finding is decided by
#: the helper's file alone: by its bytes (no loading token at all), or by its CPython sketch
#: (the file loads weights elsewhere, not in the helper), before any LibCST parse.
_HELPER_VERSIONS = {
    "bytes": ("def restore(path):\n    return None\n",
              "import torch\nfrom models import Net\n"
              "def restore(path):\n    model = Net()\n"
              "    model.load_state_dict(torch.load(path))\n    return model\n"),
    "sketch": ("import torch\nfrom models import Net\n"
               "def restore(path):\n    return None\n"
               "def weights(path):\n    return torch.load(path)\n",
               "import torch\nfrom models import Net\n"
               "def restore(path):\n    model = Net()\n"
               "    model.load_state_dict(weights(path))\n    return model\n"
               "def weights(path):\n    return torch.load(path)\n"),
}


@pytest.mark.parametrize("decided_by", sorted(_HELPER_VERSIONS))
def test_cache_follows_files_the_pre_filter_read(tmp_path: Path, decided_by: str) -> None:
    """A file the pre-filter skipped because of another file's contents is linted again when
    that file changes (its cached "no findings" depended on it)."""
    inert, loading = _HELPER_VERSIONS[decided_by]
    project = tmp_path / "app"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (project / "models.py").write_text(textwrap.dedent("""\
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)
                self.drop = nn.Dropout(0.3)

            def forward(self, x):
                return self.drop(self.fc(x))
        """))
    helper = project / "utils.py"
    helper.write_text(inert)
    (project / "predict.py").write_text(
        "import torch\nfrom utils import restore\n"
        "model = restore('w.pt')\n"
        "print(model(torch.randn(2, 4)))\n")
    cache = tmp_path / "cache"
    first, _ = _run(project, cache)
    assert ("predict.py", 4, "DC001") not in first
    helper.write_text(loading)
    edited, stats = _run(project, cache)
    assert ("predict.py", 4, "DC001") in edited
    # the same as a run without a cache
    fresh, _ = _run(project, tmp_path / "fresh")
    assert edited == fresh and stats.cached >= 1  # models.py stayed cached


def test_a_long_lived_process_sees_an_edit_two_files_away(tmp_path: Path) -> None:
    """The editor lints one buffer at a time in one process: what was concluded about
    models.py from base.py must not outlive an edit of base.py (models.py unchanged)."""
    from dropcheck.editor import Projects

    project = tmp_path / "app"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    base = project / "base.py"
    noisy = textwrap.dedent("""\
        import torch.nn as nn

        class Base(nn.Module):
            def __init__(self):
                super().__init__()
                self.drop = nn.Dropout(0.3)
        """)
    base.write_text(noisy)
    (project / "models.py").write_text(textwrap.dedent("""\
        import torch.nn as nn
        from base import Base

        class Net(Base):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)
        """))
    script = project / "predict.py"
    source = ("import torch\nfrom models import Net\n"
              "model = Net()\nmodel.load_state_dict(torch.load('w.pt'))\n"
              "print(model(torch.randn(2, 4)))\n")
    script.write_text(source)
    projects = Projects([str(project)])

    def codes() -> set[tuple[int, str]]:
        return {(f.line, f.code) for f in projects.lint(str(script), source.encode()).findings}

    assert (5, "DC001") in codes()
    base.write_text(noisy.replace("nn.Dropout(0.3)", "nn.Identity()"))
    assert (5, "DC001") not in codes()
    base.write_text(noisy)
    assert (5, "DC001") in codes()


def test_classes_of_an_installed_package_are_read_from_its_source(tmp_path: Path) -> None:
    """A package that the shipped table does not cover, installed in the environment: its
    classes are read from its files (never imported)."""
    site = tmp_path / "site"
    package = site / "blocklib"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from .blocks import NoisyBlock, PlainBlock\n"
                                         "raise ImportError('never imported')\n")
    (package / "blocks.py").write_text(textwrap.dedent("""\
        import torch.nn as nn

        class PlainBlock(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.norm = nn.LayerNorm(dim)

        class NoisyBlock(nn.Module):
            def __init__(self, dim, p=0.2):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.drop = nn.Dropout(p)
        """))
    project = tmp_path / "app"
    project.mkdir()
    (project / "setup.cfg").write_text("[metadata]\nname = app\n")
    (project / "predict.py").write_text(textwrap.dedent("""\
        import torch
        import torch.nn as nn
        from blocklib import NoisyBlock, PlainBlock

        class Plain(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = PlainBlock(16)

        class Noisy(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = NoisyBlock(16)

        plain, noisy = Plain(), Noisy()
        plain.load_state_dict(torch.load("plain.pt"))
        noisy.load_state_dict(torch.load("noisy.pt"))
        with torch.no_grad():
            a = plain(torch.randn(2, 16))
            b = noisy(torch.randn(2, 16))
        """))
    env = {**os.environ, "PYTHONPATH": str(site)}
    installed = _lines(_dropcheck("--no-cache", "predict.py", cwd=project, env=env).stdout)
    assert [line.split(": ")[0] for line in installed] == ["predict.py:20:9"]
    assert "NoisyBlock" not in installed[0] or "nn.Dropout" in installed[0]
    # without the package the block classes are unknown: both models are reported
    missing = _lines(_dropcheck("--no-cache", "predict.py", cwd=project).stdout)
    assert [line.split(": ")[0] for line in missing] == ["predict.py:19:9", "predict.py:20:9"]


def test_the_table_answers_for_libraries_that_are_not_installed() -> None:
    predictor = library.table_class("detectron2.engine.DefaultPredictor")
    assert predictor is not None and predictor.code == "P"  # a plain wrapper: no model
    assert predictor.qualified == "detectron2.engine.defaults.DefaultPredictor"
    vgg = library.table_class("torchvision.models.VGG")
    assert vgg is not None and "d" in vgg.code and "d" not in vgg.zeros
    assert ("dropout", 3) in vgg.rates
    assert library.table_class("torchvision.models.NoSuchModel") is None
    assert library.table_class("not_a_library.Net") is None


def test_explain_model_says_what_is_known_at_a_line() -> None:
    project = PROJECTS / "classifier"
    shown = subprocess.run(
        [sys.executable, "-m", "dropcheck", "--explain-model", "train.py:14"],
        cwd=project, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "in `accuracy()` (engine.py:" in shown.stdout
    assert "class: Net (models.py:6)" in shown.stdout
    assert "dropout, batch statistics (nn.BatchNorm2d, nn.Dropout)" in shown.stdout
    assert "mode here: train (set by the helper call `train_one_epoch(" in shown.stdout
    assert "findings: DC001" in shown.stdout
    probe = subprocess.run(
        [sys.executable, "-m", "dropcheck", "--explain-model", "predict.py:18"],
        cwd=project, capture_output=True, text=True, timeout=120)
    assert "depends on the mode through: nothing mode dependent" in probe.stdout
    assert "findings: none" in probe.stdout
    bad = subprocess.run([sys.executable, "-m", "dropcheck", "--explain-model", "train.py"],
                         cwd=project, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "PATH:LINE" in bad.stderr


def test_verbose_runs_share_the_cache(tmp_path: Path) -> None:
    project = _copy_classifier(tmp_path)
    cache = str(tmp_path / "cache")
    _dropcheck("--cache-dir", cache, ".", cwd=project)
    verbose = _dropcheck("--cache-dir", cache, "--verbose", ".", cwd=project)
    assert " 0 linted" in verbose.stderr, verbose.stderr


#: Helpers and classes of other files that the analysis reads on their CPython sketches
#: instead of parsing them with LibCST (issue 14), and the cases where it must not.
_SHORTCUTS = {
    "pyproject.toml": "[project]\nname = 'demo'\n",
    "config.py": "class BaseConfig:\n    pass\nclass Config(BaseConfig):\n    pass\n",
    "outputs.py": "from collections import OrderedDict\nclass Output(OrderedDict):\n    pass\n",
    # a global of the helper's file that only another function reads: the caller's `model`
    # is not mapped into `get_logger`
    "logs.py": ("import logging\nmodel = None\n"
                "def get_logger(name):\n    return logging.getLogger(name)\n"
                "def describe():\n    return repr(model)\n"),
    # neither modules nor plain: torch's Dataset two files away, a builtin base
    "data.py": "from torch.utils.data import Dataset\nclass Base(Dataset):\n    pass\n",
    "sets.py": ("from data import Base\nclass Digits(Base):\n    pass\n"
                "class Record(dict):\n    pass\n"),
    "state.py": (
        "model = None\n"
        "def freeze():\n    model.eval()\n"  # a global of its own file, by name
    ),
    "layers.py": (
        "import torch.nn as nn\nfrom config import Config\nfrom outputs import Output\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.config = Config()\n"  # plain: harmless
        "        self.out = Output()\n"  # not plain (a stdlib base): unknown\n
        "        self.drop = nn.Dropout(0.2)\n"
        "    def forward(self, x):\n"
        "        return self.drop(x)\n"
        "class Small(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.config = Config()\n"
        "        self.fc = nn.Linear(2, 2)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    ),
    "predict.py": (
        "import torch\nfrom layers import Net, Small\nfrom logs import get_logger\n"
        "from state import freeze\nfrom sets import Digits, Record\n"
        "log = get_logger(__name__)\n"
        "data, record = Digits(), Record(x=1)\n"
        "model = Small()\n"
        "model.load_state_dict(torch.load('w.pt'))\n"
        "with torch.no_grad():\n"
        "    y = model(torch.randn(1, 2))\n"  # no dropout, no BatchNorm: never reported
        "net = Net()\n"
        "net.load_state_dict(torch.load('n.pt'))\n"
        "freeze()\n"  # reads its own global `model`: mapped to this file's `model`, not `net`
        "with torch.no_grad():\n"
        "    z = net(torch.randn(1, 2))\n"
        "late = get_logger('late')\n"  # once `model` is bound here
    ),
}


def test_helpers_and_plain_classes_read_on_sketches_change_no_finding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dropcheck.analysis.modes as modes
    import dropcheck.analysis.project as project
    import dropcheck.analysis.sketch as sketch

    for name, text in _SHORTCUTS.items():
        (tmp_path / name).write_text(text)
    paths = [str(tmp_path / "predict.py"), str(tmp_path / "layers.py")]

    def run() -> tuple[list[tuple[str, int, str, str]], set[str]]:
        project._FILES.clear()
        sketch.forget()
        found = [f for path in paths for f in lint_path(path, OPTIONS)]
        parsed = {path.name for path, (_, module) in project._FILES.items() if module}
        return sorted((Path(f.path).name, f.line, f.code, f.message) for f in found), parsed

    with_shortcuts, parsed = run()
    # the logger helper, the plain config class and the datasets were read on sketches only
    assert not {"logs.py", "config.py", "sets.py", "data.py"} & parsed
    assert "outputs.py" in parsed  # OrderedDict: is_plain must look, the sketch cannot tell
    monkeypatch.setattr(modes.ModelModes, "inert_helper", lambda self, q, names: False)
    monkeypatch.setattr(project, "_surely_not", lambda importer, q, function: False)
    monkeypatch.setattr(sketch, "surely_plain_class", lambda importer, q, budget: None)
    monkeypatch.setattr(sketch, "surely_opaque_class", lambda importer, q, budget: False)
    monkeypatch.setattr(sketch, "surely_non_module_class", lambda importer, q: False)
    without, parsed = run()
    assert {"logs.py", "config.py", "sets.py", "data.py"} <= parsed
    assert with_shortcuts == without
    # Net (dropout) loaded and run under no_grad; Small has no mode-dependent layer
    assert [(name, line, code) for name, line, code, _ in without] == [
        ("predict.py", 16, "DC001")]
