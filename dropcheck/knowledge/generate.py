"""Regenerate ``libraries.json``: what dropcheck's analysis finds in the classes of the
libraries PyTorch users use most, for environments where they are not installed.

    python -m dropcheck.knowledge FOLDER...            # write dropcheck/knowledge/libraries.json
    python -m dropcheck.knowledge --check FOLDER...    # exit 1 if the shipped table differs

Each FOLDER holds top-level packages (a ``site-packages``, or wheels unpacked side by side:
``pip download --no-deps --only-binary=:all: -d W timm ...`` then ``unzip`` each into W/x);
the first folder that has a package wins. Nothing is imported: each package's files are parsed
and its public classes analysed by the same code that reads a project's classes
(``ModeDependence`` in analysis/mode_dependence.py), with library imports resolved inside the
given folders only.

Per class: ``P`` (a plain class: no torch module) or ``M`` + ``d`` (may drop units), ``b``
(may use batch statistics), ``u`` (something could not be seen), for the constructor's
defaults; the same when every rate parameter is 0; the same when a rate parameter is passed a
value that is not 0; and the rate parameters with their positions. Classes the analysis cannot
classify are kept as ``?`` so that a short name never resolves to the wrong class.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import libcst as cst

from dropcheck.analysis import library, project
from dropcheck.analysis.classes import ClassInfo
from dropcheck.analysis.mode_dependence import Dependence, Env, ModeDependence, analysis_of
from dropcheck.analysis.scopes import parameter_names

#: The packages the table covers (import names).
LIBRARIES = (
    "torchvision", "timm", "transformers", "diffusers", "torch_geometric", "torchaudio",
    "detectron2", "lightning", "pytorch_lightning", "sentence_transformers", "ultralytics",
    "opacus",
)
_SKIPPED_FOLDERS = frozenset({"tests", "test", "testing", "benchmarks", "examples"})
_EMPTY_CALL = cst.Call(func=cst.Name("_"))
_VERSION = re.compile(r"""^__version__\s*(?::\s*str\s*)?=\s*["']([^"']+)["']""", re.MULTILINE)


def _code(dependence: Dependence) -> str:
    return "M" + "d" * dependence.dropout + "b" * dependence.batch_statistics + (
        "u" * dependence.unknown)


def _rate_parameter(name: str) -> bool:
    return name == "p" or "drop" in name.lower()


def _positions(function: cst.FunctionDef) -> dict[str, int]:
    """Positional index (after ``self``) of each parameter; keyword-only ones get -1."""
    params = function.params
    positional = [p.name.value for p in (*params.posonly_params, *params.params)]
    if positional and positional[0] in ("self", "cls"):
        positional = positional[1:]
    found = {name: index for index, name in enumerate(positional)}
    for param in params.kwonly_params:
        found[param.name.value] = -1
    return found


def classify(analysis: ModeDependence, info: ClassInfo) -> list[object]:
    """The table entry of one class (see the module docstring)."""
    if analysis.is_plain(info):
        return ["P", "P", "P", []]
    if not analysis.is_module(info):
        return ["?", "?", "?", []]
    found = analysis.init_of(info)
    env: Env | None = None
    rates: list[list[object]] = []
    if found is not None:
        _, init = found
        env = analysis.env(init, _EMPTY_CALL, (analysis.module,))
        positions = _positions(init)
        rates = [[name, positions.get(name, -1)] for name in parameter_names(init)
                 if name in env and _rate_parameter(name)]
    default = _code(analysis.of_class(info, env))
    if env is None or not rates:
        return [default, default, default, []]
    zeros = dict(env)
    passed = dict(env)
    for name, _ in rates:
        zeros[str(name)] = 0
        passed[str(name)] = None
    zero_code = _code(analysis.of_class(info, zeros))
    passed_code = _code(analysis.of_class(info, passed))
    if zero_code == default == passed_code:
        rates = []  # the parameters do not decide anything the analysis can see
    return [default, zero_code, passed_code, rates]


def _version(folder: Path, package: str) -> str:
    for info in sorted(folder.glob(f"{package}-*.dist-info")):
        return info.name[len(package) + 1: -len(".dist-info")]
    for name in ("__init__.py", "version.py", "__version__.py", "_version.py"):
        path = folder / package / name
        if path.is_file():
            match = _VERSION.search(path.read_text(encoding="utf-8", errors="replace"))
            if match:
                return match.group(1)
    return "unknown"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py")
                  if not _SKIPPED_FOLDERS.intersection(p.relative_to(root).parts[:-1]))


def package_entries(package: str, root: Path) -> dict[str, list[object]]:
    """The table entries of every public class defined in one package."""
    entries: dict[str, list[object]] = {}
    for path in _files(root):
        entries.update(file_entries(package, root, path))
    return entries


def file_entries(package: str, root: Path, path: Path) -> dict[str, list[object]]:
    """The table entries of the public top-level classes of one file of a package."""
    parsed = project.parse(path)
    if parsed is None:
        return {}
    module = ".".join((package, *path.relative_to(root).with_suffix("").parts))
    module = module.removesuffix(".__init__")
    analysis = analysis_of(parsed, in_library=True)
    entries: dict[str, list[object]] = {}
    for stmt in parsed.module.body:
        if isinstance(stmt, cst.ClassDef) and not stmt.name.value.startswith("_"):
            info = parsed.classes.get(stmt)
            if info is not None:
                entries[f"{module}.{info.name}"] = classify(analysis, info)
    return entries


def build(folders: Sequence[Path], packages: Sequence[str] = LIBRARIES) -> dict[str, object]:
    found: dict[str, Path] = {}
    for package in packages:
        for folder in folders:
            if (folder / package / "__init__.py").is_file():
                found[package] = folder
                break
    library.use_folders({name: folder / name for name, folder in found.items()})
    try:
        versions: dict[str, str] = {}
        classes: dict[str, list[object]] = {}
        for package, folder in sorted(found.items()):
            versions[package] = _version(folder, package)
            print(f"{package} {versions[package]} ...", file=sys.stderr, flush=True)
            classes.update(package_entries(package, folder / package))
    finally:
        library.use_folders(None)
    return {
        "generated_by": "python -m dropcheck.knowledge",
        "knowledge": library.knowledge_fingerprint(),
        "torch": _installed_version("torch"),
        "packages": versions,
        "classes": dict(sorted(classes.items())),
    }


def _installed_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def dump(table: dict[str, object]) -> str:
    # one class per line: reviewable diffs, and small enough to ship
    lines = ["{"]
    for key in ("generated_by", "knowledge", "torch"):
        lines.append(f'"{key}": {json.dumps(table[key])},')
    lines.append(f'"packages": {json.dumps(table["packages"], sort_keys=True)},')
    lines.append('"classes": {')
    classes = table["classes"]
    assert isinstance(classes, dict)
    # an entry whose rate parameters change nothing is its code alone
    items = [f"{json.dumps(k)}: {json.dumps(v[0] if not v[3] else v, separators=(',', ':'))}"
             for k, v in classes.items()]
    lines.append(",\n".join(items))
    lines.append("}}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dropcheck.knowledge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--output", type=Path, default=library.TABLE_PATH)
    args = parser.parse_args(argv)
    text = dump(build(args.folders))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m dropcheck.knowledge", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0
