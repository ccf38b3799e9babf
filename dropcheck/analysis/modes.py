"""Which names hold models, and in which mode (train/eval) they are at each statement.

A flow-sensitive abstract interpretation over one *flow unit* at a time (a function body, or the
module-level script), in statement order:

- **objects** are models, one per allocation site (``Net()``, ``torch.load(...)``, a parameter);
  names and ``self.attr`` keys point to sets of objects, and wrappers (``DDP(m)``,
  ``torch.compile(m)``, ``m.module``, ``m.to(dev)``) alias the same object;
- each object's **mode** is a set of facts (train / eval / unknown, with the node that set it),
  joined by union where paths meet (``if``), with loops unrolled twice so that a mode set late
  in a loop body reaches the next iteration's top;
- **events** are recorded on the way: forwards (with the inference context they run in),
  mode changes, training steps, exports.
- Same-file helpers are summarised (what they do to the mode of each argument and of globals,
  what they return, whether they train), so that ``evaluate(model)`` counts as the ``eval()``
  it contains.

Rules DC001/DC007/DC008/DC013 read the recorded events (:class:`FlowResult`); they never walk
the code themselves.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

import libcst as cst

from dropcheck.analysis import mode_api as api
from dropcheck.analysis.classes import ClassIndex
from dropcheck.analysis.constants import ConstantEvaluator
from dropcheck.analysis.imports import ImportTable, dotted_name
from dropcheck.analysis.mode_dependence import (
    INDEPENDENT,
    Dependence,
    ModeDependence,
)
from dropcheck.analysis.mode_domain import (
    _UNKNOWN_SUMMARY,
    FOREIGN_DEPTH,
    CallSite,
    Constants,
    Fact,
    FlowResult,
    Forward,
    Mode,
    ModelObject,
    Origin,
    Summary,
    evaluation_forward,
    must_train,
)
from dropcheck.analysis.mode_walker import (
    Walker,
    _argument_names,
    _ModeCallFinder,
    _NameFinder,
)
from dropcheck.analysis.pickled import (
    SavedBeside,
    defined_beside,
    pickled_dependence,
    saved_by_siblings,
    without_moves,
)
from dropcheck.analysis.project import lookup_class, lookup_function
from dropcheck.analysis.scopes import (
    parameter_names,
)
from dropcheck.analysis.sketch import helper_of
from dropcheck.analysis.statements import block_statements, small_statements, walk_statements
from dropcheck.analysis.test_code import is_test_function
from dropcheck.analysis.walk import visit_readonly

_MAX_SUMMARY_DEPTH = 8

#: Helpers of other files are applied one file deep: what such a helper's own helpers in
#: further files do is unknown (the pre-filter reads a helper's file, not the files beyond).
_MAX_FOREIGN_DEPTH = 1


# -- the file-level analysis -------------------------------------------------------------------
class ModelModes:
    """Model/mode facts for one file; built lazily by ``FileContext.modes``."""

    def __init__(self, module: cst.Module, imports: ImportTable, classes: ClassIndex,
                 module_names: frozenset[str] = frozenset(),
                 constants: ConstantEvaluator | None = None, test_file: bool = False,
                 path: str | None = None) -> None:
        self.path = path
        #: Names the module assigns (candidates for global models read by functions).
        self.module_names = module_names
        self.module = module
        self.imports = imports
        self.classes = classes
        self.dependence = ModeDependence(classes, imports,
                                         constants or ConstantEvaluator(module), module, path)
        self.functions: dict[str, cst.FunctionDef] = {}
        self.methods: dict[int, dict[str, cst.FunctionDef]] = {}
        self.class_of: dict[int, cst.ClassDef] = {}
        self.test_file = test_file
        #: The function a nested function is defined in, and the closures of each function.
        self.enclosing: dict[int, cst.FunctionDef] = {}
        self.nested: dict[int, dict[str, cst.FunctionDef]] = {}
        self.units: list[cst.Module | cst.FunctionDef] = [module]
        self._summaries: dict[tuple[int, Constants, frozenset[str]], Summary] = {}
        self._summary_runs: dict[int, FlowResult] = {}
        self._in_progress: set[tuple[int, Constants, frozenset[str]]] = set()
        self._tested: dict[int, frozenset[str]] = {}
        self._callsite_facts: dict[int, dict[str, list[CallSite]]] = {}
        self._collect_units(module.body, None)
        self._results: list[FlowResult] | None = None
        self._switches_modes: bool | None = None
        self._mentions_hooks: bool | None = None
        #: Whole models saved to / loaded from a constant path (``torch.save(m, 'm.pt')``).
        #: (function, parameter) -> the dependence and class location of the models a
        #: caller passes in training mode (a reporting run's parameter holds those).
        self.entry_dependence: dict[tuple[int, str], tuple[Dependence, str | None]] = {}
        self.saves: dict[str, set[ModelObject]] = {}
        #: Whole models loaded: the object, a constant path, the path argument's code.
        self.loads: list[tuple[ModelObject, str | None, str | None]] = []
        self._loads_seen = 0
        #: Every ``torch.save`` of a whole object: the path argument's code, the models saved
        #: (none: an object that is no model dropcheck knows, a vocabulary), their modes.
        self.whole_saves: list[tuple[str | None, frozenset[ModelObject], frozenset[Fact]]] = []
        self._beside: dict[str | None, SavedBeside | None] = {}
        self._global_classes: dict[str, tuple[str, str] | None] = {}

    def _collect_units(self, body: Sequence[cst.BaseStatement], owner: cst.ClassDef | None,
                       enclosing: cst.FunctionDef | None = None) -> None:
        for stmt in body:
            if isinstance(stmt, cst.FunctionDef):
                self.units.append(stmt)
                if enclosing is not None:
                    self.enclosing[id(stmt)] = enclosing
                    if owner is None:
                        self.nested.setdefault(id(enclosing), {}).setdefault(
                            stmt.name.value, stmt)
                if owner is not None:
                    self.methods.setdefault(id(owner), {}).setdefault(stmt.name.value, stmt)
                    self.class_of[id(stmt)] = owner
                elif enclosing is None:
                    self.functions.setdefault(stmt.name.value, stmt)
                self._collect_units(block_statements(stmt.body), None, stmt)
            elif isinstance(stmt, cst.ClassDef):
                self._collect_units(block_statements(stmt.body), stmt, enclosing)
            else:
                # defs under `if TYPE_CHECKING:` / try-import fallbacks keep their level
                for block in _blocks(stmt):
                    self._collect_units(block_statements(block), owner, enclosing)

    # -- results ---------------------------------------------------------------------------
    @property
    def results(self) -> list[FlowResult]:
        """One FlowResult per flow unit (module script and every function), for the rules."""
        if self._results is None:
            self._results = self._analyse()
        return self._results

    @property
    def results_outside_tests(self) -> list[FlowResult]:
        """The results of units that are not test code: what the mode rules report on."""
        return [result for result in self.results if not result.test_code]

    def _analyse(self) -> list[FlowResult]:
        module_result = Walker(self, self.module).run()
        results: list[FlowResult] = [module_result]
        functions = [u for u in self.units[1:] if isinstance(u, cst.FunctionDef)]
        for function in functions:
            self.summary_run(function)  # records the call sites of every caller
        # what loaded models are, before the call sites hand them to the reporting runs
        self._loaded_from_saves([module_result, *self._summary_runs.values()])
        for unit in functions:
            entry = self._reporting_entry(unit)
            if entry is None:
                results.append(self.summary_run(unit))
            else:
                results.append(Walker(self, unit, entry_facts=entry).run())
        for result in results:
            result.test_code = self.is_test_code(result.unit)
        self._loaded_from_saves(results)
        return results

    @functools.cached_property
    def _pickled(self) -> Dependence:
        """The mode dependence of a model the file loads whole from a pickle it does not save
        itself (analysis/pickled.py)."""
        return pickled_dependence(self.module, self.imports, self.classes, self.dependence)

    def _saved_beside(self, text: str | None) -> SavedBeside | None:
        """What the scripts beside this file save whole to the path a load here reads."""
        if text not in self._beside:
            self._beside[text] = saved_by_siblings(
                self.path, text, {t for _, _, t in self.loads}) if self.path else None
        return self._beside[text]

    def global_class(self, name: str) -> tuple[str, str] | None:
        """The project class (file, name) of a module-level global assigned once, from a
        constructor call (``model = models.RNNModel(...).to(device)``): what a helper that
        reads the global calls methods of."""
        if name in self._global_classes:
            return self._global_classes[name]
        values = [small.value for stmt in walk_statements(self.module, into_defs=False)
                  for small in small_statements(stmt) if isinstance(small, cst.Assign)
                  and any(isinstance(t.target, cst.Name) and t.target.value == name
                          for t in small.targets)]
        classes: set[tuple[str, str] | None] = set()
        for value in map(without_moves, values):
            qualified = self.imports.resolve(value.func) if isinstance(value, cst.Call) else None
            if qualified in api.MODEL_LOADERS:
                continue  # the same model back from its checkpoint (`model = torch.load(f)`)
            classes.add(self._class_of_call(value))
        found = classes.pop() if len(classes) == 1 else None
        self._global_classes[name] = found
        return found

    def project_class(self, qualified: str) -> tuple[str, str] | None:
        """The file and name of a class of another project file that ``qualified`` names."""
        if self.path is None:
            return None
        found = lookup_class(self.path, qualified)
        return (str(found[0].path), found[1].name) if found is not None else None

    def _class_of_call(self, value: cst.BaseExpression) -> tuple[str, str] | None:
        """The project class (file, name) a constructor call builds, if it is one."""
        if not isinstance(value, cst.Call) or self.path is None:
            return None
        qualified = self.imports.resolve(value.func)
        if qualified is not None:
            return self.project_class(qualified)
        local = dotted_name(value.func)
        return (self.path, local) if local is not None and local in self.classes.by_name else None

    def resolve_load(self, obj: ModelObject, method: str) -> None:
        """A method is called on a model loaded whole (``model.init_hidden(1)``): if a script
        beside this file defines such a method, learn the model's class from their saves now,
        so that the walker can apply the method's summary."""
        if self.path is None or self._pickled.known:
            return
        text = next((t for o, _, t in self.loads if o is obj), None)
        if text is None or not defined_beside(self.path, method):
            return
        found = self._saved_beside(text)
        if found is not None:
            obj.dependence, obj.defined, obj.cls = found.dependence, found.defined, found.cls

    def _loaded_from_saves(self, results: list[FlowResult]) -> None:
        """A whole model loaded from a file this file saves it to (``torch.save(net, 'net.pkl')``
        in one function, ``torch.load('net.pkl')`` in another) is the model that was saved: it
        takes the saved models' mode dependence (a tutorial's Linear-ReLU net: none)."""
        run: set[ModelObject] | None = None
        loads, self._loads_seen = self.loads[self._loads_seen:], len(self.loads)
        for obj, path, text in loads:
            # a checkpoint resumed and saved again (`model = torch.load(p)` in a try, then
            # `torch.save(model, p)` after training) holds what else was saved there: the
            # loaded model itself adds nothing but its own unknown
            saved = {o for o in self.saves.get(path, ())
                     if o is not obj} if path is not None else None
            if saved:
                dependence = INDEPENDENT
                for other in saved:
                    dependence |= other.dependence
                obj.dependence = dependence
                continue
            obj.dependence = self._pickled
            if obj.dependence.known or self.path is None:
                continue
            if run is None:  # only a model the file runs is worth reading other files for
                run = self._run_objects(results)
            if obj in run:
                found = self._saved_beside(text)
                if found is not None:
                    obj.dependence, obj.defined = found.dependence, found.defined
                    obj.cls = found.cls
                    if found.saved_eval:
                        self._loaded_in_eval(obj, results)

    def _run_objects(self, results: list[FlowResult]) -> set[ModelObject]:
        """The models the file runs: forwarded here, or handed to a same-file helper that
        forwards that parameter."""
        run = {o for result in results for forward in result.forwards for o in forward.objects}
        functions = {id(u): u for u in self.units if isinstance(u, cst.FunctionDef)}
        for key, sites in self._callsite_facts.items():
            function = functions.get(key)
            if function is None:
                continue
            forwarded = {o.parameter for forward in self.summary_run(function).forwards
                         for o in forward.objects}
            run.update(o for name, found in sites.items() if name in forwarded
                       for site in found for o in site.objects)
        return run

    def _loaded_in_eval(self, obj: ModelObject, results: list[FlowResult]) -> None:
        """``obj`` was loaded from a pickle that the scripts beside this one save in eval mode
        (``torch.save(model, f)`` after ``evaluate()`` called ``model.eval()``): the mode its
        load gave it is eval, where the walk assumed training."""
        def settled(facts: frozenset[Fact]) -> frozenset[Fact]:
            return frozenset(replace(f, mode=Mode.EVAL) if f.source is obj.site
                             and f.mode is Mode.TRAIN else f for f in facts)

        for result in results:
            for forward in result.forwards:
                if obj in forward.objects:
                    forward.facts = settled(forward.facts)
            for export in result.exports:
                if obj in export.objects:
                    export.facts = settled(export.facts)
        for sites in self._callsite_facts.values():
            for found in sites.values():
                for site in found:
                    if obj in site.objects:
                        site.facts = settled(site.facts)

    def output_unused(self, result: FlowResult, forward: Forward) -> bool:
        """Whether a forward only prepares training: nothing reads what it returns (a bare
        ``model(x)``, ``_ = model(x)``, or ``out = model(x)`` with ``out`` never mentioned again
        in the unit) and the unit trains afterwards (a step, or ``trainer.fit``) — a pass that
        initialises lazy modules.
        Forwards in loops, and files that register forward hooks (which collect outputs on the
        side), do not count."""
        if forward.frame is not None or forward.repeated or not (
                any(step.order > forward.order for step in result.steps)
                or any(order > forward.order for order in result.untracked_orders)):
            return False  # (`trainer.fit(model)` trains too, where is not known)
        unit = result.unit
        body: cst.BaseSuite | cst.Module = unit if isinstance(unit, cst.Module) else unit.body
        if self._mentions_hooks is None:
            names = _NameFinder()
            visit_readonly(self.module, names)
            self._mentions_hooks = "register_forward_hook" in names.names
        if self._mentions_hooks:
            return False
        if not forward.collected:
            return True
        statement = forward.statement
        smalls = small_statements(statement)
        if len(smalls) != 1 or not isinstance(smalls[0], cst.Assign):
            return False
        assign = smalls[0]
        if assign.value is not forward.call or len(assign.targets) != 1 or not isinstance(
                assign.targets[0].target, cst.Name):
            return False
        name = assign.targets[0].target.value
        later = _statements_after(body, statement)
        if later is None:
            return False
        for stmt in later:
            names = _NameFinder(own_statements_only=True)
            visit_readonly(stmt, names)
            if name in names.names:
                return False
        return True

    def output_shape_only(self, result: FlowResult, forward: Forward) -> bool:
        """Whether what a forward returns is read only for its shape: ``model(x).shape``,
        ``out, feat = model(x)`` then only ``out.size()``, ``len(feat)`` (a smoke test in a
        module's ``__main__`` block, a shape check in a notebook). Its values, which the
        mode would make noisy, are never used."""
        statement = forward.statement
        smalls = small_statements(statement)
        if len(smalls) != 1:
            return False
        small = smalls[0]
        if isinstance(small, cst.Assign) and small.value is forward.call:
            names: set[str] = set()
            for target in small.targets:
                elements = (target.target.elements if isinstance(target.target, cst.Tuple)
                            else [cst.Element(target.target)])
                for element in elements:
                    if not isinstance(element.value, cst.Name):
                        return False  # stored into an attribute or a container
                    names.add(element.value.value)
            unit = result.unit
            later = _statements_after(unit if isinstance(unit, cst.Module) else unit.body,
                                      statement)
            if later is None:
                return False
            uses = _ShapeUses(names)
            for stmt in later:
                visit_readonly(stmt, uses)
            return uses.shape > 0 and not uses.other
        found = _ShapeUses(set(), forward.call)
        visit_readonly(small, found)
        return found.shape > 0

    def is_test_code(self, unit: cst.Module | cst.FunctionDef) -> bool:
        if self.test_file:
            return True
        function = unit if isinstance(unit, cst.FunctionDef) else None
        while function is not None:
            if is_test_function(function, self.class_of.get(id(function))):
                return True
            function = self.enclosing.get(id(function))
        return False

    def _reporting_entry(self, function: cst.FunctionDef) -> dict[str, frozenset[Fact]] | None:
        """Entry facts of parameters that some caller in the file passes in train mode."""
        sites = self._callsite_facts.get(id(function), {})
        entry: dict[str, frozenset[Fact]] = {}
        for key, fact_sets in sites.items():
            for site in fact_sets:
                facts, call = site.facts, site.call
                # a caller passing only mode-independent modules (an nn.Linear) passes nothing
                # whose mode matters, although the parameter counts as possibly dependent
                if (must_train(facts) and any(obj.mode_dependent for obj in site.objects)
                        and (not site.in_training_iteration()
                             or self._evaluation_phase(function, site))):
                    entry[key] = frozenset(replace(f, caller=call) for f in facts)
                    # what the parameter then holds (for messages): the caller's models
                    dependence = INDEPENDENT
                    for obj in site.objects:
                        dependence |= obj.dependence
                    self.entry_dependence[(id(function), key)] = (
                        dependence, next((o.defined for o in site.objects if o.defined), None))
                    break
        for key, fact_sets in sites.items():
            # every caller in the file hands this parameter models without dropout or
            # BatchNorm (`fit(model=GPT(config))`): what the function does to its mode
            # cannot matter, whatever it is
            if key not in entry and fact_sets and all(
                    site.objects and not any(obj.mode_dependent for obj in site.objects)
                    for site in fact_sets):
                entry[key] = frozenset({Fact(Mode.ENTRY, None)})
                self.entry_dependence[(id(function), key)] = (INDEPENDENT, None)
        for key, facts in self._init_attributes(function).items():
            entry.setdefault(key, facts)
        return entry or None

    def _evaluation_phase(self, function: cst.FunctionDef, site: CallSite) -> bool:
        """Whether a no-grad helper called in a training iteration is an evaluation phase
        (``test(loader)`` after ``train(epoch)`` in the epoch loop) rather than a target
        computed for that iteration's step (pseudo-labels, teacher outputs): it trains nothing
        and either loops over data itself, or the iteration trains only in other helper
        calls that are not handed what this one returned."""
        run = self.summary_run(function)
        if run.has_training or not any(evaluation_forward(f, run) for f in run.forwards):
            return False
        if any(f.frame is not None or f.repeated for f in run.forwards):
            return True
        frame = site.frame
        if frame is None:
            return False
        steps = [step for step in frame.steps if step.loops and step.loops[-1] is frame.node]
        if not steps or not all(isinstance(step.node, cst.Call) and self.resolve_function(
                step.node.func, self.module) is not None for step in steps):
            return False
        return not any(site.targets & _argument_names(step.node) for step in steps
                       if isinstance(step.node, cst.Call))

    def _init_attributes(self, function: cst.FunctionDef) -> dict[str, frozenset[Fact]]:
        """``self.X`` models that ``__init__`` of a plain (non-Module) class leaves in training
        mode, for its other methods (``Predictor.__init__`` builds and loads, ``predict`` runs
        it under no_grad). Only when no code in the file switches any mode: otherwise another
        method or an outside caller may evaluate the attribute first."""
        owner = self.class_of.get(id(function))
        if owner is None or function.name.value == "__init__" or any(
                dotted_name(base.value) not in ("object", "ABC", "abc.ABC")
                for base in owner.bases):
            return {}  # only plain classes: a base from elsewhere may be a module
        if self._switches_modes is None:
            finder = _ModeCallFinder()
            visit_readonly(self.module, finder)
            self._switches_modes = finder.found
        init = self.methods.get(id(owner), {}).get("__init__")
        if self._switches_modes or init is None:
            return {}
        end = self.summary_run(init).end_state
        if end is None:
            return {}
        found: dict[str, frozenset[Fact]] = {}
        for key, objs in end.names.items():
            facts = end.facts(objs)
            if key.startswith("self.") and key.count(".") == 1 and must_train(facts) and all(
                    obj.origin is not Origin.PARAMETER for obj in objs) and any(
                    obj.mode_dependent for obj in objs):
                found[key] = facts
        return found

    def record_callsite(self, function: cst.FunctionDef, key: str, site: CallSite) -> None:
        self._callsite_facts.setdefault(id(function), {}).setdefault(key, []).append(site)

    def summary_run(self, function: cst.FunctionDef) -> FlowResult:
        key = id(function)
        if key not in self._summary_runs:
            self.summary(function)
        return self._summary_runs.get(key) or FlowResult(function)

    def summary(self, function: cst.FunctionDef, constants: Constants = (),
                plain: frozenset[str] = frozenset()) -> Summary:
        """What ``function`` does, seen from a caller; ``constants`` are the literal arguments
        a call passes to parameters that an ``if`` of the function tests (a factory's branches
        that those arguments rule out are not walked); ``plain``: parameters the call passes
        no model (a literal, a setting)."""
        key = id(function)
        memo = (key, constants, plain)
        found = self._summaries.get(memo)
        if found is not None:
            return found
        if memo in self._in_progress or len(self._in_progress) >= _MAX_SUMMARY_DEPTH:
            return _UNKNOWN_SUMMARY
        self._in_progress.add(memo)
        try:
            walker = Walker(self, function, constants=dict(constants), plain=plain)
            result = walker.run()
            summary = walker.summarise()
        finally:
            self._in_progress.discard(memo)
        self._summaries[memo] = summary
        if not constants and not plain:
            self._summary_runs[key] = result
        return summary

    def tested_parameters(self, function: cst.FunctionDef) -> frozenset[str]:
        """Parameters that an ``if`` statement or expression of ``function`` tests."""
        found = self._tested.get(id(function))
        if found is None:
            params = set(parameter_names(function))
            names = _NameFinder()
            for stmt in walk_statements(function.body, into_defs=False):
                if isinstance(stmt, cst.If):
                    visit_readonly(stmt.test, names)
            found = self._tested[id(function)] = frozenset(names.names & params)
        return found

    def _follows(self, qualified: str) -> bool:
        """Whether a call of an imported name is read in another project file: not inside a
        helper of another file already (helpers of further files stay unknown), not torch."""
        return self.path is not None and FOREIGN_DEPTH[0] < _MAX_FOREIGN_DEPTH and (
            not qualified.startswith("torch."))

    def imported_function(self, qualified: str,
                          ) -> tuple[ModelModes, cst.FunctionDef, str] | None:
        """A top-level function of another project file that an imported name stands for
        (``from utils import evaluate``), with the analysis of that file and where it is."""
        if not self._follows(qualified):
            return None
        assert self.path is not None
        found = lookup_function(self.path, qualified)
        if found is None:
            return None
        parsed, function = found
        name = function.name.value
        line = parsed.line_of(rb"def[ \t]+" + re.escape(name.encode()) + rb"\b")
        where = f"`{name}()` ({parsed.path.name}{f':{line}' if line else ''})"
        return parsed.context.modes, function, where

    def inert_helper(self, qualified: str, names: Mapping[str, frozenset[object]]) -> bool:
        """Whether an imported name is a top-level function of another project file that,
        called with no model, would hand back none and change no model of the caller's
        (``names``: the caller's bindings; a helper's summary also reads its own globals by
        name). Read on the CPython sketch of that file, so that the file is not parsed by
        LibCST for a helper that cannot matter (``get_logger()``, ``randn_tensor(...)``)."""
        if not self._follows(qualified):
            return False
        assert self.path is not None
        found = helper_of(self.path, qualified)
        if found is None:
            return False
        other, units = found
        if not other.inert(units):
            return False
        # the summary maps a caller's model by name only for a global of the helper's file
        # (`self.net` and other dotted keys are never mapped into a plain function)
        return not any(objs and other.reads_global(units, key) for key, objs in names.items())

    def resolve_function(self, func: cst.BaseExpression, unit: cst.Module | cst.FunctionDef,
                         ) -> tuple[cst.FunctionDef, bool] | None:
        """A same-file function or ``self.method`` called by ``func``; (def, is_method)."""
        if isinstance(func, cst.Name):
            if func.value in self.imports.aliases:
                return None
            # a closure defined in the calling function (or one around it) comes first
            scope = unit if isinstance(unit, cst.FunctionDef) else None
            while scope is not None:
                nested = self.nested.get(id(scope), {}).get(func.value)
                if nested is not None:
                    return nested, False
                scope = self.enclosing.get(id(scope))
            found = self.functions.get(func.value)
            return (found, False) if found is not None else None
        if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value == "self" and isinstance(unit, cst.FunctionDef)):
            owner = self.class_of.get(id(unit))
            seen: set[int] = set()
            while owner is not None and id(owner) not in seen:
                seen.add(id(owner))
                method = self.methods.get(id(owner), {}).get(func.attr.value)
                if method is not None:
                    return (method, True) if not _is_static(method) else None
                owner = self._local_base(owner)
        return None

    def _local_base(self, cls: cst.ClassDef) -> cst.ClassDef | None:
        """The first base class of ``cls`` defined in the file, if any."""
        for base in cls.bases:
            name = dotted_name(base.value)
            info = self.classes.by_name.get(name) if name else None
            if info is not None:
                return info.node
        return None

    def owner_class(self, function: cst.FunctionDef) -> cst.ClassDef | None:
        """The class a method is defined in (None for plain functions)."""
        return self.class_of.get(id(function))

    def class_method(self, class_name: str, method: str) -> cst.FunctionDef | None:
        info = self.classes.by_name.get(class_name)
        if info is None:
            return None
        found = self.methods.get(id(info.node), {}).get(method)
        return found if found is not None and not _is_static(found) else None


def _is_static(function: cst.FunctionDef) -> bool:
    return any(dotted_name(d.decorator) in ("staticmethod", "classmethod")
               for d in function.decorators)


def _blocks(stmt: cst.BaseStatement) -> Iterator[cst.BaseSuite]:
    from dropcheck.analysis.statements import child_blocks

    yield from child_blocks(stmt)


def _statements_after(body: cst.BaseSuite | cst.Module, statement: cst.BaseStatement,
                      ) -> list[cst.BaseStatement] | None:
    """The statements of a unit that come after ``statement`` (defs and classes left out,
    their bodies run elsewhere); None when ``statement`` is not in it."""
    later: list[cst.BaseStatement] | None = None
    for stmt in walk_statements(body, into_defs=False):
        if stmt is statement:
            later = []
        elif later is not None and not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            later.append(stmt)
    return later


#: What reads only a tensor's shape: ``out.shape``, ``out.size()``, ``len(out)``.
_SHAPE_ATTRIBUTES = frozenset({"shape", "size", "dim", "ndim", "ndimension", "numel", "dtype",
                               "device"})


class _ShapeUses(cst.CSTVisitor):
    """Counts how ``names`` (or the one expression ``node``) are read: for their shape only
    (``shape``), or otherwise (``other``). A name bound again counts as another use."""

    def __init__(self, names: set[str], node: cst.CSTNode | None = None) -> None:
        self.names = names
        self.node = node
        self.shape = 0
        self.other = 0
        self._fine: set[int] = set()

    def _watched(self, expr: cst.BaseExpression) -> bool:
        return expr is self.node or (isinstance(expr, cst.Name) and expr.value in self.names)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        base = node.value
        while isinstance(base, cst.Subscript):  # `out[0].shape`, `model(x)[1].dim()`
            base = base.value
        if self._watched(base) and node.attr.value in _SHAPE_ATTRIBUTES:
            self.shape += 1
            self._fine.add(id(base))

    def visit_Call(self, node: cst.Call) -> None:
        if (isinstance(node.func, cst.Name) and node.func.value == "len"
                and len(node.args) == 1 and self._watched(node.args[0].value)):
            self.shape += 1
            self._fine.add(id(node.args[0].value))

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.names and id(node) not in self._fine:
            self.other += 1
