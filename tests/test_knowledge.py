"""The shipped library table (dropcheck/knowledge/libraries.json) is current: for dropcheck's
knowledge of the installed torch, and for every library installed here at the version the
table was generated from (its entries regenerated from the installed source)."""

from __future__ import annotations

import inspect
import json
from importlib import metadata
from pathlib import Path

import pytest

from dropcheck.analysis import library, project
from dropcheck.analysis import torch_api as api
from dropcheck.knowledge import generate

TABLE = json.loads(library.TABLE_PATH.read_text(encoding="utf-8"))
STALE = "stale: regenerate with `python -m dropcheck.knowledge` (see its docstring)"


def _torch_class(qualified: str) -> type:
    torch = pytest.importorskip("torch")
    return getattr(torch.nn, qualified.rsplit(".", 1)[-1])


def test_torch_layer_knowledge_matches_the_installed_torch() -> None:
    """What the table's facts were derived with: dropout layers and their default rates,
    norms with and without running statistics, as the installed torch defines them."""
    for qualified in sorted(api.DROPOUT_MODULES):
        parameters = inspect.signature(_torch_class(qualified)).parameters
        name = api.RATE_PARAMETER.get(qualified, "p")
        assert name in parameters, qualified
        assert parameters[name].default == api.RATE_DEFAULT.get(qualified, 0.5), qualified
    for qualified in sorted(api.RUNNING_STATS_NORMS | api.INSTANCE_NORMS):
        parameters = inspect.signature(_torch_class(qualified)).parameters
        tracked = parameters["track_running_stats"].default
        assert tracked is (qualified in api.TRACKS_BY_DEFAULT), qualified
        order = api.LAYER_SIGNATURES.get(qualified)
        if order is not None:  # positional arguments bind as torch binds them
            assert tuple(parameters)[: len(order)] == order, qualified
    for name in ("RNN", "LSTM", "GRU"):
        layer = _torch_class(name)(4, 4)
        assert layer.dropout == 0, name  # the default dropcheck assumes


def test_table_was_generated_with_this_knowledge_and_torch() -> None:
    assert TABLE["knowledge"] == library.knowledge_fingerprint(), STALE
    assert TABLE["torch"] == metadata.version("torch").split("+")[0] or (
        TABLE["torch"] == metadata.version("torch")), STALE


def _installed_at_table_version() -> list[str]:
    found = []
    for package, version in sorted(TABLE["packages"].items()):
        try:
            installed = metadata.version(package.replace("_", "-"))
        except metadata.PackageNotFoundError:
            continue
        if installed == version and library.installed_folder(package) is not None:
            found.append(package)
    return found


def _sample_files(package: str, root: Path, count: int) -> list[Path]:
    """Files whose classes the table describes and whose imports stay inside the package
    and torch (so that their entries do not depend on other libraries)."""
    others = set(TABLE["packages"]) - {package}
    described = {name.rsplit(".", 1)[0] for name in TABLE["classes"]
                 if name.startswith(package + ".")}
    chosen: list[Path] = []
    for path in generate._files(root):
        if path.stat().st_size > 40_000:
            continue  # a sample, not the whole package: keep the test quick
        module = ".".join((package, *path.relative_to(root).with_suffix("").parts))
        if module.removesuffix(".__init__") not in described:
            continue
        parsed = project.parse(path)
        if parsed is None or any(q.split(".", 1)[0] in others
                                 for q in parsed.imports.aliases.values()):
            continue
        chosen.append(path)
    step = max(1, len(chosen) // count)
    return chosen[::step][:count]


def test_table_entries_match_the_installed_libraries() -> None:
    packages = _installed_at_table_version()
    if not packages:
        pytest.skip("no library of the table is installed here at the table's version")
    folders = {p: f for p in TABLE["packages"]
               if (f := library.installed_folder(p)) is not None}
    library.use_folders(folders)
    try:
        for package in packages:
            root = folders[package]
            checked = 0
            for path in _sample_files(package, root, 12):
                for name, entry in generate.file_entries(package, root, path).items():
                    shipped = TABLE["classes"].get(name)
                    expected = entry[0] if not entry[3] else entry
                    assert shipped == expected, f"{name}: {STALE}"
                    checked += 1
            assert checked >= 5, package
    finally:
        library.use_folders(None)


def test_table_lookups_resolve_public_names() -> None:
    # a re-exported name resolves through the class's unique short name in its package
    assert library.table_class("torch_geometric.nn.GATConv") is not None
    predictor = library.table_class("detectron2.engine.DefaultPredictor")
    assert predictor is not None and predictor.code == "P"
    assert set(TABLE["packages"]) >= {
        "torchvision", "timm", "transformers", "diffusers", "torch_geometric", "torchaudio",
        "detectron2", "lightning", "sentence_transformers", "ultralytics"}


def test_table_packages_read_from_the_header_line() -> None:
    # the pre-filter asks for the packages without loading the classes
    assert library.table_packages() == frozenset(TABLE["packages"])
