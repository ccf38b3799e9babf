"""``dropcheck --explain-model PATH:LINE``: what the mode analysis knows about the models run,
switched or trained on one line — the way to see why a finding was (or was not) reported.

For each model on the line: where it comes from (built, loaded, a parameter), its class and
where that is defined, what in it depends on the mode (and what showed it, or what could not
be read), its mode at that point and why, the inference context, and the findings of the mode
rules on that line.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from dropcheck.analysis.context import FileContext
from dropcheck.analysis.mode_domain import Fact, Forward, ModelObject, describe_source
from dropcheck.analysis.project import module_file
from dropcheck.encoding import detect_encoding
from dropcheck.engine import LintOptions, lint_path
from dropcheck.rules import all_rules

_MODE_RULES = ("DC001", "DC007", "DC008", "DC013")


def explain(path: str, line: int) -> str:
    with open(path, "rb") as handle:
        data = handle.read()
    source = data.decode(detect_encoding(data), errors="replace")
    wrapper = MetadataWrapper(cst.parse_module(source), unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    module = wrapper.module
    context = FileContext(path, module)
    modes = context.modes

    def on_line(node: cst.CSTNode) -> bool:
        position = positions.get(node)
        return position is not None and position.start.line <= line <= position.end.line

    def where(node: cst.CSTNode) -> str:
        position = positions.get(node)
        return f"line {position.start.line}" if position is not None else "?"

    out: list[str] = [f"{path}:{line}"]
    unresolved = [m for m in context.imports.star_modules
                  if not m.startswith("torch") and module_file(path, m) is None]
    if unresolved:
        out.append(f"  star imports not followed: {', '.join(unresolved)} (names they bind "
                   "are not known to be torch's)")
    shown = 0
    for result in modes.results:
        unit = result.unit
        unit_name = unit.name.value if isinstance(unit, cst.FunctionDef) else "<module>"
        # loops are walked until their facts settle: the last pass is what holds
        forwards = list({id(f.call): f for f in result.forwards if on_line(f.call)}.values())
        changes = list({id(c.call): c for c in result.changes if on_line(c.call)}.values())
        steps = list({id(s.node): s for s in result.steps if on_line(s.node)}.values())
        if not (forwards or changes or steps):
            continue
        shown += 1
        flow = f"  in {unit_name}()" if unit_name != "<module>" else "  at module level"
        out.append(f"{flow} ({'test code, not reported' if result.test_code else 'flow'}"
                   f"{', trains' if result.has_training else ', no training step'})")
        for forward in forwards:
            out.extend(_forward(module, forward, where))
        for change in changes:
            model = module.code_for_node(change.model) if change.model is not None else "?"
            via = f" through `{change.via}()`" if change.via else ""
            out.append(f"    mode set to {change.mode.value}{via} for `{model}`")
        for step in steps:
            trained = ", ".join(sorted(_name(module, o) for o in step.trained))
            out.append("    training step" + (f"; trains {trained}" if trained else ""))
    if not shown:
        out.append("  no model forward, mode switch or training step on this line")
    findings = [f for f in lint_path(path, LintOptions(rules=list(all_rules())))
                if f.line == line and f.code in _MODE_RULES]
    out.append("  findings: " + (", ".join(f.code for f in findings) if findings else "none"))
    return "\n".join(out) + "\n"


def _forward(module: cst.Module, forward: Forward, where: object) -> list[str]:
    model = " ".join(module.code_for_node(forward.model).split())
    lines = [f"    forward of `{model}`" + (f" in {forward.via}" if forward.via else "")]
    if forward.via is not None or forward.inference is not None:
        context = "grad disabled (no_grad / inference_mode / set_grad_enabled(False))"
    elif forward.loaded or forward.frozen:
        context = "weights loaded or frozen (a predict-style flow if nothing trains)"
    else:
        context = "grad enabled (training-style)"
    lines.append(f"      context: {context}")
    for obj in sorted(forward.objects, key=lambda o: o.description):
        lines.extend(_object(module, obj))
    lines.append(f"      mode here: {_mode(module, forward.facts)}")
    return lines


def _object(module: cst.Module, obj: ModelObject) -> list[str]:
    dependence = obj.dependence
    parts = [name for name, on in (("dropout", dependence.dropout),
                                   ("batch statistics", dependence.batch_statistics),
                                   ("unknown parts", dependence.unknown)) if on]
    what = ", ".join(parts) if parts else "nothing mode dependent"
    evidence = f" ({', '.join(dependence.evidence)})" if dependence.evidence else ""
    lines = [f"      model: {_name(module, obj)} [{obj.origin.value}]"]
    if obj.defined:
        lines.append(f"      class: {obj.defined}")
    lines.append(f"      depends on the mode through: {what}{evidence}"
                 + ("" if dependence.known else " — not known"))
    return lines


def _name(module: cst.Module, obj: ModelObject) -> str:
    if obj.description:
        return obj.description
    text = " ".join(module.code_for_node(obj.site).split())
    return f"`{text[:60]}`"


def _mode(module: cst.Module, facts: Iterable[Fact]) -> str:
    modes = sorted({fact.mode.value for fact in facts})
    if not modes:
        return "not known"
    return f"{' or '.join(modes)} ({describe_source(module, facts)})"
