"""Where a cold run's time goes: the engine's stages, file by file, in one process (issue 14).

    .venv/bin/python bench/stage_cost.py --corpus eight --fraction 4
    .venv/bin/python bench/stage_cost.py --corpus torch --fraction 8 --rules DC001 DC007

For every n-th file of a speed corpus (bench/speed.py), in CPU time (``time.process_time``:
other processes on the machine do not count): reading, the byte pre-filter, CPython's parse,
the sketch with every rule's ``could_match``, LibCST's parse, the analysis and the rules (one
batched pass and ``finish``), and positions for what was reported. Then, per rule, the share
of the corpus' bytes that pass its tokens and its ``could_match``: a file is parsed by LibCST
when any rule's ``could_match`` holds, so the rule that passes most bytes sets the cost.
Default rules (as ``dropcheck`` runs), or ``--rules``.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dropcheck.analysis.context import FileContext
from dropcheck.analysis.parsing import parse_module
from dropcheck.analysis.sketch import sketch_for
from dropcheck.cst_pass import _positions, lint_module
from dropcheck.engine import passes_prefilter
from dropcheck.rules import select_rules
from dropcheck.rules.base import Rule
from dropcheck.suppression import UNUSED_NOQA_CODE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import CORPORA, corpus

STAGES = ("read", "tokens", "ast.parse", "sketch", "libcst parse", "analysis + rules",
          "positions")


class Clock:
    """CPU seconds per stage: ``lap(stage)`` charges the time since the last lap to it."""

    def __init__(self) -> None:
        self.costs: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.last = time.process_time()

    def lap(self, stage: str) -> None:
        now = time.process_time()
        self.costs[stage] = self.costs.get(stage, 0.0) + now - self.last
        self.last = now


def cpython_tree(data: bytes) -> ast.Module | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(data)
        except (SyntaxError, ValueError):
            return None


def run(files: Sequence[str], rules: Sequence[type[Rule]]) -> tuple[dict[str, float],
                                                                     dict[str, Any]]:
    clock = Clock()
    passed: dict[str, Counter[str]] = {"tokens": Counter(), "sketch": Counter()}
    parsed_bytes = 0
    parsed_files = 0
    for path in files:
        clock.lap("other")
        data = Path(path).read_bytes()
        size = len(data)
        clock.lap("read")
        candidates = [r for r in rules
                      if r.code != UNUSED_NOQA_CODE and passes_prefilter(data, r, path)]
        clock.lap("tokens")
        for rule in candidates:
            passed["tokens"][rule.code] += size
        if not candidates:
            continue
        tree = cpython_tree(data)
        clock.lap("ast.parse")
        if tree is None:
            continue
        sketch = sketch_for(path, data, tree)  # as the engine builds it
        chosen = [r for r in candidates if r.could_match(sketch)]
        clock.lap("sketch")
        for rule in chosen:
            passed["sketch"][rule.code] += size
        if not chosen:
            continue
        parsed_bytes += size
        parsed_files += 1
        module = parse_module(data)
        clock.lap("libcst parse")
        context = FileContext(path, module)
        reports, _ = lint_module(path, module, [r(context) for r in chosen], context)
        clock.lap("analysis + rules")
        if reports:
            _positions(module, reports)
            clock.lap("positions")
    clock.costs.pop("other", None)
    return clock.costs, {"passed": passed, "parsed_bytes": parsed_bytes,
                         "parsed_files": parsed_files}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=CORPORA, default="eight")
    parser.add_argument("--fraction", type=int, default=4, help="every n-th file")
    parser.add_argument("--rules", nargs="*", help="codes (default: the default rules)")
    args = parser.parse_args(argv)
    sys.setrecursionlimit(20_000)
    files = corpus(args.corpus)[:: args.fraction]
    rules = select_rules(args.rules) if args.rules else select_rules()
    total_bytes = sum(Path(f).stat().st_size for f in files)
    costs, info = run(files, rules)
    total = sum(costs.values())
    print(f"{len(files):,} files, {total_bytes / 1e6:.1f} MB ({args.corpus}, 1/{args.fraction});"
          f" LibCST parsed {info['parsed_files']:,} files, "
          f"{info['parsed_bytes'] / total_bytes:.0%} of the bytes\n")
    print("| stage | CPU s | share |")
    print("|---|---|---|")
    for stage in STAGES:
        print(f"| {stage} | {costs[stage]:.2f} | {costs[stage] / total:.0%} |")
    print(f"| total | {total:.2f} | |\n")
    print("| rule | bytes passing tokens | bytes passing could_match |")
    print("|---|---|---|")
    for rule in rules:
        tokens = info["passed"]["tokens"][rule.code] / total_bytes
        sketch = info["passed"]["sketch"][rule.code] / total_bytes
        print(f"| {rule.code} | {tokens:.0%} | {sketch:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
