"""What a model loaded whole from a pickle (``model = torch.load(path)``) may be.

A pickle names its class, not its layers, and dropcheck never reads the file. But unpickling a
module needs its class importable, so the program that loads it names the candidates:

- the classes of the models it trains itself (their parameters go to a ``torch.optim``
  optimizer): a program that trains and later loads a whole model loads what it trained (a
  style-transfer script's ``TransformerNet``, not the frozen VGG that scores it);
- otherwise, every torch module class it defines or imports from the project or a library the
  table covers (``from model import Net``, which a prediction script imports for exactly
  this reason), the classes it lists in ``torch.serialization.safe_globals`` among them.
  Names imported from elsewhere are taken to be no model class (``ToTensor``, ``Image``).

When every candidate is known and none depends on the mode, the loaded model does not either:
the mode rules stay silent on it. Any unknown candidate, or none, leaves it unknown.

A prediction script often names no candidate at all (``model = torch.load(args.checkpoint)``,
the class found by the unpickler). Then the scripts beside it that save whole objects say
what it loads (``torch.save(model, f)`` in ``main.py`` beside ``generate.py``): the saves
whose path argument reads the same as the load's (``f``, ``args.dictionary``), else every
save of a model whose path no other load of the file reads. Only for a loaded model the file
runs, so that the scripts beside a file are analysed only where it matters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from dropcheck.analysis import library
from dropcheck.analysis.classes import ClassIndex
from dropcheck.analysis.imports import ImportTable, dotted_name
from dropcheck.analysis.mode_dependence import (
    INDEPENDENT,
    UNKNOWN_DEPENDENCE,
    Dependence,
    ModeDependence,
)
from dropcheck.analysis.mode_domain import Mode
from dropcheck.analysis.project import consult_digest, lookup_class, parse
from dropcheck.analysis.walk import visit_readonly
from dropcheck.cache import content_hash

_SAFE_GLOBALS = frozenset({"torch.serialization.safe_globals",
                           "torch.serialization.add_safe_globals"})


class _Collector(cst.CSTVisitor):
    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports
        self.built: dict[str, list[cst.Call]] = {}  # name -> constructor calls assigned to it
        self.optimised: set[str] = set()  # names whose .parameters() an optimizer takes
        self.listed: list[cst.BaseExpression] = []  # classes in safe_globals([...])

    def visit_Assign(self, node: cst.Assign) -> None:
        call = _constructor(node.value)
        if call is None:
            return
        for target in node.targets:
            name = dotted_name(target.target)
            if name is not None:
                self.built.setdefault(name, []).append(call)

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.imports.resolve(node.func) or ""
        if qualified in _SAFE_GLOBALS and node.args:
            value = node.args[0].value
            if isinstance(value, (cst.List, cst.Tuple)):
                self.listed.extend(e.value for e in value.elements)
            return
        last = qualified.rsplit(".", 1)[-1]
        if qualified.startswith("torch.optim.") and last[:1].isupper():
            for arg in node.args:
                visit_readonly(arg.value, _Parameters(self.optimised))


class _Parameters(cst.CSTVisitor):
    def __init__(self, found: set[str]) -> None:
        self.found = found

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in (
                "parameters", "named_parameters"):
            name = dotted_name(func.value)
            if name is not None:
                self.found.add(name)


def without_moves(value: cst.BaseExpression) -> cst.BaseExpression:
    """``Net(...)`` for ``Net(...).to(device).half()``: the module that device and dtype moves
    return (the same one)."""
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and (
            value.func.attr.value in ("to", "cuda", "cpu", "double", "float", "half")):
        value = value.func.value
    return value


def _constructor(value: cst.BaseExpression) -> cst.Call | None:
    """``Net(...)``, also behind ``.to(device)``/``.cuda()`` chains."""
    value = without_moves(value)
    if isinstance(value, cst.Call):
        name = dotted_name(value.func)
        if name is not None and name.rsplit(".", 1)[-1][:1].isupper():
            return value
    return None


def pickled_dependence(module: cst.Module, imports: ImportTable, classes: ClassIndex,
                       dependence: ModeDependence) -> Dependence:
    """The mode dependence of a model the file loads whole (see the module docstring)."""
    collector = _Collector(imports)
    visit_readonly(module, collector)
    trained = [call for name in sorted(collector.optimised)
               for call in collector.built.get(name, ())]
    if trained:
        found = INDEPENDENT
        for call in trained:
            found |= dependence.of_call(call)
        return found
    candidates: list[Dependence] = []
    for info in classes.module_classes():
        candidates.append(dependence.of_class(info))
    for local, qualified in imports.aliases.items():
        if not local[:1].isupper():
            continue
        imported = dependence.imported(qualified)
        if imported is not None:
            if imported.is_module:
                candidates.append(imported.dependence)
        elif _readable_class(dependence, qualified):
            return UNKNOWN_DEPENDENCE  # a class of the project or a known library, unknown
    for expr in collector.listed:
        name = dotted_name(expr)
        if name is None or (name not in imports.aliases and name not in classes.by_name):
            return UNKNOWN_DEPENDENCE  # a listed class that cannot be read
    if not candidates:
        return UNKNOWN_DEPENDENCE
    found = INDEPENDENT
    for candidate in candidates:
        found |= candidate
    return found


def _readable_class(dependence: ModeDependence, qualified: str) -> bool:
    """Whether an imported name is a class dropcheck can look up (in the project or the
    library table) — then an unknown one may be what was pickled. A name from elsewhere is
    taken to be no model class (``ToTensor``, ``Image``)."""
    if library.table_class(qualified) is not None:
        return True
    if dependence.path is None:
        return False
    from dropcheck.analysis.sketch import project_class  # it imports the analysis

    return project_class(dependence.path, qualified) or lookup_class(
        dependence.path, qualified) is not None


#: While the scripts beside a file are read for their saves, their own loads look no further.
_READING_SIBLINGS = [False]


@dataclass(frozen=True)
class SavedBeside:
    """What the scripts beside a file save whole to the path one of its loads reads."""

    dependence: Dependence
    #: Where the class is (for messages), and the class (file, name) when all saves agree.
    defined: str | None
    cls: tuple[str, str] | None
    #: Every such model is saved in eval mode (after an evaluation that called eval()).
    saved_eval: bool


@dataclass(frozen=True)
class _Script:
    """A script in a loading file's folder, as read once per run."""

    path: Path
    digest: str
    #: The names its ``def`` statements define, and whether it may save a whole object.
    defines: frozenset[bytes]
    saves: bool


#: Per run: folder -> its scripts.
_FOLDERS: dict[Path, list[_Script]] = {}
_DEF = re.compile(rb"\bdef[ \t]+(\w+)[ \t]*\(")


def forget() -> None:
    """A run starts: the scripts may have changed since the last one."""
    _FOLDERS.clear()


def _beside(here: Path) -> list[_Script]:
    """The other scripts in the folder of ``here``, each recorded as read by the current lint
    (what they define or save decides some of its findings)."""
    scripts = _FOLDERS.get(here.parent)
    if scripts is None:
        scripts = _FOLDERS[here.parent] = []
        for sibling in sorted(here.parent.glob("*.py")):
            try:
                data = sibling.read_bytes()
            except OSError:
                continue
            scripts.append(_Script(sibling, content_hash(data),
                                   frozenset(_DEF.findall(data)), b"save(" in data))
    others = [script for script in scripts if script.path != here]
    for script in others:
        consult_digest(script.path, script.digest)
    return others


def defined_beside(path: str, method: str) -> bool:
    """Whether a script in the folder of ``path`` defines a function named ``method``: only
    then is it worth reading the scripts beside it for the class of a model it loads whole
    (``model.init_hidden(1)`` on what ``torch.load`` gave; not ``ckpt.keys()``)."""
    name = method.encode()
    return any(name in script.defines for script in _beside(Path(path).resolve()))


def saved_by_siblings(path: str, text: str | None, loaded_here: set[str | None],
                      ) -> SavedBeside | None:
    """What a whole model that the file at ``path`` loads with the path argument ``text``
    is, from the saves of the scripts in its folder (see the module docstring); None where
    they do not say."""
    if _READING_SIBLINGS[0]:
        return None
    saves: list[tuple[str | None, frozenset[object], frozenset[object]]] = []
    _READING_SIBLINGS[0] = True
    try:
        for script in _beside(Path(path).resolve()):
            parsed = parse(script.path) if script.saves else None
            if parsed is not None:
                modes = parsed.context.modes
                modes.results  # noqa: B018 -- the analysis collects the file's saves
                saves.extend(modes.whole_saves)
    finally:
        _READING_SIBLINGS[0] = False
    matched = [(objs, facts) for saved_to, objs, facts in saves
               if text is not None and saved_to == text]
    if not matched:
        matched = [(objs, facts) for saved_to, objs, facts in saves
                   if saved_to not in loaded_here and objs]
        if not matched:
            return None
    # what was saved: models, or objects dropcheck does not know as one (a vocabulary), which
    # no mode can matter to
    found = [obj for objs, _ in matched for obj in objs]
    saved_eval = bool(found) and all(
        facts and all(fact.mode is Mode.EVAL for fact in facts)  # type: ignore[attr-defined]
        for objs, facts in matched if objs)
    dependence = INDEPENDENT
    defined: str | None = None
    for obj in found:
        dependence |= obj.dependence  # type: ignore[attr-defined]
        defined = defined or obj.defined  # type: ignore[attr-defined]
    classes = {obj.cls for obj in found}  # type: ignore[attr-defined]
    return SavedBeside(dependence, defined, classes.pop() if len(classes) == 1 else None,
                       saved_eval)
