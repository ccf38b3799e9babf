"""Recall on real bug-fix commits (issue 13): for every commit that fixed a model-mode bug in a
public project, does dropcheck report the bug on the version before the fix, and is it quiet
on the fixed version?

    .venv/bin/python bench/fixcommits.py                          # table per rule
    .venv/bin/python bench/fixcommits.py --json run.json          # also per-pin results
    .venv/bin/python bench/fixcommits.py --dropcheck ../old-tree  # another checkout's dropcheck
    .venv/bin/python bench/fixcommits.py --only minGPT -v         # some pins, with findings

Pins: ``bench/fix-commits.txt`` (owner/name, fix commit, path, rule, function, note). Each
project's ``*.py`` and ``*.ipynb`` files at the fix's parent and at the fix are materialised
with ``bench/ecosystem.py``'s helper from the ``fetch`` snapshot into ``--work`` (default
``~/.cache/dropcheck-fixcommits/<owner+name>@<sha12>``). dropcheck then runs as pre-commit
runs it: only the changed file is passed, with the rest of the project beside it for the
project-wide analysis, from the materialised root.

A bug is *found* when the run on the parent reports the pin's rule inside the pin's function
(the line range of that def or class in the parent file, by ``ast``; ``<module>`` means lines
outside every def). It is *still reported* (a false alarm kept) when the run on the fixed
version reports the rule inside the same function of the fixed file.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ecosystem import MIRROR, Project, materialise, run_json

HERE = Path(__file__).resolve().parent
PINS = HERE / "fix-commits.txt"
WORK = Path(os.environ.get("DROPCHECK_FIXCOMMITS",
                           Path.home() / ".cache" / "dropcheck-fixcommits"))
MODULE = "<module>"


@dataclass(frozen=True)
class Pin:
    project: str  # owner/name
    fix: str  # the fixing commit; the buggy version is its first parent
    path: str
    rule: str
    function: str
    note: str


@dataclass
class Result:
    pin: Pin
    parent: str
    found: bool = False
    still_reported: bool = False
    before: list[dict[str, object]] = field(default_factory=list)  # the pin's rule, anywhere
    after: list[dict[str, object]] = field(default_factory=list)
    error: str | None = None


def read_pins(path: Path = PINS) -> list[Pin]:
    pins = []
    for line in path.read_text().splitlines():
        text, _, note = line.partition("#")
        if not text.strip():
            continue
        project, fix, file, rule, function = text.split()
        pins.append(Pin(project, fix, file, rule, function, note.strip()))
    return pins


def git_dir(mirror: Path, project: str) -> Path:
    """The snapshot's git directory, as ``ecosystem.materialise`` finds it."""
    repo = mirror / project.replace("/", "+") / "repo"
    return repo / ".git" if (repo / ".git").is_dir() else repo


def parent_of(mirror: Path, pin: Pin) -> str:
    result = subprocess.run(["git", f"--git-dir={git_dir(mirror, pin.project)}", "rev-parse",
                             f"{pin.fix}^"], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{pin.project}: no snapshot with {pin.fix}; bring it with "
                         f"`fetch github:{pin.project}` (or pass --mirror)")
    return result.stdout.strip()


def spans(source: str, function: str) -> list[tuple[int, int]]:
    """Line ranges (inclusive) of the defs or classes named ``function`` (a name, or a dotted
    Class.method suffix of the qualified name); for ``<module>``, the ranges outside every def."""
    tree = ast.parse(source)
    found: list[tuple[int, int]] = []
    defs: list[tuple[int, int]] = []

    def visit(node: ast.AST, qualified: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{qualified}.{child.name}" if qualified else child.name
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                end = child.end_lineno or child.lineno
                if not isinstance(child, ast.ClassDef):
                    defs.append((start, end))
                if name == function or name.endswith("." + function):
                    found.append((start, end))
                visit(child, name)
            else:
                visit(child, qualified)

    visit(tree, "")
    if function != MODULE:
        return found
    inside = {line for start, end in defs for line in range(start, end + 1)}
    last = len(source.splitlines())
    outside = [line for line in range(1, last + 1) if line not in inside]
    ranges: list[tuple[int, int]] = []
    for line in outside:
        if ranges and ranges[-1][1] == line - 1:
            ranges[-1] = (ranges[-1][0], line)
        else:
            ranges.append((line, line))
    return ranges


def lint(root: Path, path: str, rule: str, checkout: Path) -> list[dict[str, object]]:
    """The pin's rule (and DC000) as ``checkout``'s dropcheck reports it on ``path`` in the
    project at ``root``. PYTHONPATH picks the checkout: the venv's editable install may point
    at another tree, and the project root, not the checkout, is the working directory."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(checkout.resolve()), *filter(None, [env.get("PYTHONPATH")])])
    findings = run_json([sys.executable, "-m", "dropcheck", path], root, env)
    return [f for f in findings if f.get("code") in (rule, "DC000")]


def inside(findings: list[dict[str, object]], rule: str, ranges: list[tuple[int, int]]) -> bool:
    return any(f["code"] == rule and isinstance(f["line"], int)
               and any(start <= f["line"] <= end for start, end in ranges) for f in findings)


def check(pin: Pin, mirror: Path, work: Path, checkout: Path) -> Result:
    result = Result(pin, parent_of(mirror, pin))
    for commit, which in ((result.parent, "before"), (pin.fix, "after")):
        root = materialise(Project(pin.project, commit, "fix commit"), mirror, work)
        file = root / pin.path
        if not file.exists():
            result.error = f"{pin.path} missing at {commit[:12]}"
            return result
        try:
            ranges = spans(file.read_text(encoding="utf-8", errors="replace"), pin.function)
        except SyntaxError as error:
            result.error = f"{pin.path} at {commit[:12]} does not parse: {error.msg}"
            return result
        if not ranges:
            result.error = f"no def {pin.function} in {pin.path} at {commit[:12]}"
            return result
        findings = lint(root, pin.path, pin.rule, checkout)
        setattr(result, which, findings)
        if which == "before":
            result.found = inside(findings, pin.rule, ranges)
        else:
            result.still_reported = inside(findings, pin.rule, ranges)
    return result


def print_table(results: list[Result]) -> None:
    rules = sorted({r.pin.rule for r in results})
    rows = [(rule, [r for r in results if r.pin.rule == rule]) for rule in rules]
    rows.append(("all", results))
    print(f"{'rule':<6}{'fixes':>8}{'found':>8}{'recall':>8}{'still reported after':>22}")
    for rule, group in rows:
        found = sum(r.found for r in group)
        still = sum(r.still_reported for r in group)
        recall = f"{found / len(group):.2f}" if group else "-"
        print(f"{rule:<6}{len(group):>8}{found:>8}{recall:>8}{still:>22}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pins", type=Path, default=PINS)
    parser.add_argument("--only", help="pins whose project name contains this")
    parser.add_argument("--mirror", type=Path, default=MIRROR)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--dropcheck", type=Path, metavar="CHECKOUT", default=HERE.parent,
                        help="run this checkout's dropcheck (PYTHONPATH=CHECKOUT; default: "
                             "the checkout this script is in)")
    parser.add_argument("--json", type=Path, help="write per-pin results here")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each pin's verdict and its rule's findings")
    args = parser.parse_args(argv)

    pins = [p for p in read_pins(args.pins)
            if not args.only or args.only.lower() in p.project.lower()]
    results = []
    for pin in pins:
        result = check(pin, args.mirror, args.work, args.dropcheck)
        results.append(result)
        verdict = "error" if result.error else "found" if result.found else "missed"
        if result.still_reported:
            verdict += ", STILL REPORTED AFTER THE FIX"
        print(f"# {pin.project} {pin.fix[:12]} {pin.path} {pin.rule} {pin.function}: {verdict}"
              + (f" ({result.error})" if result.error else ""), file=sys.stderr)
        if args.verbose:
            for which, findings in (("before", result.before), ("after", result.after)):
                for f in findings:
                    print(f"    {which}: {f['path']}:{f['line']}: {f['code']} {f['message']}",
                          file=sys.stderr)
    print_table(results)
    missed = [r for r in results if not r.found]
    if missed:
        print(f"\nnot found ({len(missed)}):")
        for r in missed:
            print(f"  {r.pin.project} {r.pin.fix[:12]} {r.pin.path} {r.pin.rule} "
                  f"{r.pin.function}" + (f" [{r.error}]" if r.error else ""))
    kept = [r for r in results if r.still_reported]
    print(f"\nfalse alarms kept on fixed versions: {len(kept)}")
    for r in kept:
        print(f"  {r.pin.project} {r.pin.fix[:12]} {r.pin.path} {r.pin.rule} {r.pin.function}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
