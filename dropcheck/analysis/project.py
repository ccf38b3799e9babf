"""Classes from other files of the same project: where an import leads, and what is there.

A script's model usually lives in another file (``from models import Net``,
``from .modules import Block``, ``from mypkg.engine import Predictor``). The mode rules ask
this module what such a class is: a torch module (and which of its layers depend on the mode),
or a plain class (a predictor wrapper, a config), which is no model at all.

Where an import leads is decided without importing anything, as Python would find the module
for a script run from its own folder or a package run from the project root: a relative import
from the importing file's package; an absolute one (``a.b``) from the importing file's folder or
any folder above it (also their ``src/``), up to the project root (the nearest folder with a
``pyproject.toml``, ``setup.py``, ``setup.cfg`` or ``.git``). Installed packages are never
searched here. Files are parsed once per process; each lint records the files it consulted
(:func:`consulted`), so that a result that depends on other files is never served stale from
the result cache.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst

from dropcheck.analysis import library
from dropcheck.analysis.classes import ClassIndex, ClassInfo
from dropcheck.analysis.constants import ConstantEvaluator
from dropcheck.analysis.imports import ImportTable
from dropcheck.analysis.layout import (
    MAX_HOPS,
    MAX_PARSED_BYTES,
    class_line,
    file_in,
    module_file,
    note_read,
)
from dropcheck.analysis.parsing import parse_module
from dropcheck.analysis.statements import walk_statements
from dropcheck.cache import content_hash

if TYPE_CHECKING:
    from dropcheck.analysis.context import FileContext

_MAX_STARS = 8  # star imports of a package __init__ searched for a re-exported name


@dataclass
class ProjectFile:
    """One parsed file of the project, with the analyses a class lookup needs."""

    path: Path
    module: cst.Module
    source: bytes = b""
    #: The mode-dependence analysis of the file, as a project file (False) or a library's
    #: (True), shared by every importer (mode_dependence.py fills it).
    analyses: dict[bool, object] = field(default_factory=dict)

    def line_of_class(self, name: str) -> int | None:
        """The line a class is defined on (for messages that say where a fact comes from)."""
        return class_line(self.source, name)

    def line_of(self, pattern: bytes) -> int | None:
        """The first line that starts (after indentation) with ``pattern``."""
        found = re.search(rb"^[ \t]*" + pattern, self.source, re.MULTILINE)
        return self.source.count(b"\n", 0, found.start()) + 1 if found else None

    @cached_property
    def imports(self) -> ImportTable:
        nodes: list[cst.Import | cst.ImportFrom] = []
        local: set[str] = set()
        for stmt in walk_statements(self.module):
            if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                local.add(stmt.name.value)
            if isinstance(stmt, cst.SimpleStatementLine):
                nodes.extend(s for s in stmt.body if isinstance(s, (cst.Import, cst.ImportFrom)))
        return ImportTable(nodes, local, str(self.path))

    @cached_property
    def classes(self) -> ClassIndex:
        return ClassIndex(self.module, self.imports)

    @cached_property
    def constants(self) -> ConstantEvaluator:
        return ConstantEvaluator(self.module)

    @cached_property
    def context(self) -> FileContext:
        """The file's full analysis (helpers of other files are summarised there)."""
        from dropcheck.analysis.context import FileContext  # the context imports this module

        return FileContext(str(self.path), self.module)

    @cached_property
    def exported(self) -> frozenset[str] | None:
        """The names of a literal ``__all__`` list or tuple, if the file defines one."""
        for stmt in self.module.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if (isinstance(small, cst.Assign) and len(small.targets) == 1
                        and isinstance(small.targets[0].target, cst.Name)
                        and small.targets[0].target.value == "__all__"
                        and isinstance(small.value, (cst.List, cst.Tuple))):
                    return frozenset(
                        e.value.evaluated_value for e in small.value.elements
                        if isinstance(e.value, cst.SimpleString)
                        and isinstance(e.value.evaluated_value, str))
        return None

    @cached_property
    def functions(self) -> dict[str, cst.FunctionDef]:
        """The file's top-level functions, by name."""
        return {stmt.name.value: stmt for stmt in self.module.body
                if isinstance(stmt, cst.FunctionDef)}


#: Parsed files by path, with the hash of the bytes parsed (None: not parsable).
_FILES: dict[Path, tuple[str, ProjectFile | None]] = {}
#: Files consulted by the current lint, with the hash of the bytes that were read.
_CONSULTED: dict[str, str] = {}


def consulted() -> dict[str, str]:
    """The files the current lint read besides its own (path -> content hash), then forgets
    them: the runner calls it once per linted file."""
    found = dict(_CONSULTED)
    _CONSULTED.clear()
    return found


def forget_answers() -> None:
    """A run starts: other files may have changed, so what was concluded about a parsed file
    from the files it imports is dropped (its parse stays: checked against its bytes)."""
    _CONSULTED.clear()  # else a file read by the last lint would not be read again
    for _, parsed in _FILES.values():
        if parsed is not None:
            parsed.analyses.clear()
            parsed.__dict__.pop("context", None)


def consult_digest(path: Path, digest: str) -> None:
    """Record that the current lint read ``path`` (``digest``: its bytes' hash) without
    parsing it: what it concluded from them holds only while they stay the same."""
    _CONSULTED[str(path)] = digest
    note_read(None, str(path), digest)


def parse(path: Path) -> ProjectFile | None:
    """The parsed file; re-parsed when its bytes changed since (a long-lived process). Within
    one lint a file is read once."""
    seen = _CONSULTED.get(str(path))
    if seen is not None:
        cached = _FILES.get(path)
        if cached is not None and cached[0] == seen:
            return cached[1]
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest = content_hash(data)
    _CONSULTED[str(path)] = digest
    note_read(None, str(path), digest)
    cached = _FILES.get(path)
    if cached is not None and cached[0] == digest:
        return cached[1]
    parsed: ProjectFile | None = None
    if len(data) <= MAX_PARSED_BYTES:
        try:
            parsed = ProjectFile(path, parse_module(data), data)
        except (cst.ParserSyntaxError, RecursionError, MemoryError, ValueError):
            parsed = None
    _FILES[path] = (digest, parsed)
    return parsed


def _surely_not(importer: str, qualified: str, function: bool) -> bool:
    """Whether the CPython sketches of the files on the way tell that :func:`_lookup` would
    find no such class (``function``: top-level function) for an imported name: then no file
    is parsed by LibCST for it (most imported names of a large project are the other kind:
    ``get_logger()``, an output dataclass)."""
    from dropcheck.analysis.sketch import follow_import  # the sketch imports this module

    found = follow_import(importer, qualified)
    if found is None:
        return False  # cannot be told there
    name, other, units = found
    if other is None:
        return True  # the module defines no such name
    if name in other.aliases or other.star_modules:
        return False  # the same name imported too: as _lookup would go on
    return units is None if function else name not in other.class_names


def lookup_class(importer: str, qualified: str) -> tuple[ProjectFile, ClassInfo] | None:
    """The class an imported name (``models.Net``, ``.modules.Block``) stands for, when it is
    defined in a file of the project."""
    if _surely_not(importer, qualified, function=False):
        return None
    found = _lookup(importer, qualified, lambda current, module: module_file(current, module))
    return (found[0], found[0].classes.by_name[found[1]]) if found is not None else None


def star_names(importer: str, module: str) -> dict[str, str]:
    """What ``from module import *`` binds in ``importer`` when ``module`` is a file of the
    project (a helper module that re-exports torch: ``import torch.nn as nn`` there makes
    ``nn`` here torch's): its public imported names, by local name, with their qualified
    names (``__all__``, where the module defines one, limits them)."""
    path = module_file(importer, module)
    if path is None:
        return {}
    parsed = parse(path)
    note_read(importer, str(path))
    if parsed is None:
        return {}
    names = {local: qualified for local, qualified in parsed.imports.aliases.items()
             if not local.startswith("_")}
    exported = parsed.exported
    if exported is not None:
        names = {local: q for local, q in names.items() if local in exported}
    return names


def lookup_function(importer: str, qualified: str) -> tuple[ProjectFile, cst.FunctionDef] | None:
    """The top-level function an imported name (``utils.evaluate``) stands for, when it is
    defined in a file of the project."""
    if _surely_not(importer, qualified, function=True):
        return None
    found = _lookup(importer, qualified, lambda current, module: module_file(current, module),
                    functions=True)
    if found is None:
        return None
    parsed, name = found
    return parsed, parsed.functions[name]


def lookup_library_class(qualified: str, importer: str | None = None,
                         ) -> tuple[ProjectFile, ClassInfo] | None:
    """The class an absolute name (``torch_geometric.nn.GATConv``), or a name imported in a
    library's own file (``importer``), stands for in a library's source
    (analysis/library.py finds the package's folder)."""
    found = _lookup(importer or "", qualified, _library_module_file)
    return (found[0], found[0].classes.by_name[found[1]]) if found is not None else None


def _library_module_file(importer: str, module: str) -> Path | None:
    if module.startswith("."):
        if not importer:
            return None
        level = len(module) - len(module.lstrip("."))
        base = Path(importer).parent
        for _ in range(level - 1):
            base = base.parent
        rest = module.lstrip(".")
        return file_in(base, rest.split(".") if rest else [])
    top, _, rest = module.partition(".")
    folder = library.package_folder(top)
    if folder is None:
        return None
    return file_in(folder, rest.split(".") if rest else [])


def _hop(importer: str, path: Path, attr: str, functions: bool,
         ) -> tuple[str | None, list[str]] | None:
    """For a file that surely does not define ``attr`` (told by its CPython sketch): where
    its imports forward the name (the alias, and the star-imported modules), as its LibCST
    parse would tell; no LibCST parse of a package ``__init__`` that only re-exports. None:
    the file may define it, or the sketch cannot mirror the parse (then it is parsed)."""
    from dropcheck.analysis.sketch import file_sketch  # the sketch imports this module

    try:
        if path.stat().st_size > MAX_PARSED_BYTES:
            return None  # not parsed either: nothing is found there
    except OSError:
        return None
    sketch = file_sketch(str(path), importer)
    if sketch is None:
        return None
    # every class at any depth, and the top-level functions: as ClassIndex and `functions`
    if attr in (sketch.top_functions if functions else sketch.class_names):
        return None
    aliases = sketch.aliases.get(attr, set())
    if len(aliases) > 1:
        return None  # imported twice: the parse's table keeps the last one
    return next(iter(aliases), None), sketch.star_modules


def _lookup(importer: str, qualified: str, locate: Callable[[str, str], Path | None],
            functions: bool = False, hops: int = MAX_HOPS) -> tuple[ProjectFile, str] | None:
    """The parsed file that defines the class (or top-level function) an imported name stands
    for, and its name there; ``hops``: how many re-exports may still be followed."""
    if hops <= 0:
        return None
    current, name = importer, qualified
    while True:
        rest = name.lstrip(".")
        dots = name[: len(name) - len(rest)]
        inner, _, attr = rest.rpartition(".")
        module = dots + inner  # `from . import Net` -> ".Net": module ".", name "Net"
        if not module or not attr:
            return None
        path = locate(current, module)
        if path is None:
            return None
        hop = _hop(current, path, attr, functions)
        if hop is not None:
            forwarded, stars = hop
        else:
            parsed = parse(path)
            note_read(current, str(path))
            if parsed is None:
                return None
            if attr in (parsed.functions if functions else parsed.classes.by_name):
                return parsed, attr
            forwarded, stars = parsed.imports.aliases.get(attr), parsed.imports.star_modules
        # a re-export: `from .defaults import DefaultPredictor` in a package's __init__
        if forwarded is None:
            # or through a star import there (`from .conv import *` in torch_geometric.nn)
            for star in stars[:_MAX_STARS]:
                if star.lstrip(".").split(".", 1)[0] in ("torch", "typing"):
                    continue
                sep = "" if star.endswith(".") else "."
                found = _lookup(str(path), f"{star}{sep}{attr}", locate, functions, hops - 1)
                if found is not None:
                    return found
            return None
        current, name = str(path), forwarded
        hops -= 1
        if hops <= 0:
            return None
