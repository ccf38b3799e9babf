"""What selected rules cost on top of the parse and the batched walk, in CPU time.

    .venv/bin/python bench/rule_cost.py          # DC002, and DC005,DC010,DC011,DC012,DC016
    .venv/bin/python bench/rule_cost.py --rules DC005 DC011 --files 30

Corpus: every n-th installed ``transformers/models/*/modeling_*.py`` (files that pass most
pre-filters, so the rules really run). Each file is parsed once; then the batched pass runs
with no rule and with each rule set, ``--repeat`` times, and the minimum CPU time
(``time.process_time``, so other processes on the machine do not count) is printed.
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

import libcst as cst

from dropcheck.analysis.context import FileContext
from dropcheck.engine import lint_module
from dropcheck.rules import rule_by_code
from dropcheck.rules.base import Rule


def corpus(count: int) -> list[Path]:
    models = Path(sysconfig.get_paths()["purelib"]) / "transformers" / "models"
    files = sorted(models.glob("*/modeling_*.py"))
    step = max(1, len(files) // count)
    return files[::step][:count]


def walk(modules: Sequence[tuple[str, cst.Module]], rules: Sequence[type[Rule]]) -> float:
    start = time.process_time()
    for path, module in modules:
        context = FileContext(path, module)
        lint_module(path, module, [rule(context) for rule in rules], context)
    return time.process_time() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rules", nargs="*", help="one rule set (codes); default: two sets")
    args = parser.parse_args(argv)
    sys.setrecursionlimit(20_000)
    paths = corpus(args.files)
    if not paths:
        raise SystemExit("transformers is not installed")
    start = time.process_time()
    modules = [(str(p), cst.parse_module(p.read_bytes())) for p in paths]
    parse = time.process_time() - start
    size = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} files, {size / 1e6:.1f} MB; parse {parse:.2f} s CPU")
    sets = [args.rules] if args.rules else [["DC002"], ["DC005", "DC010", "DC011", "DC012",
                                                        "DC016"]]
    base = min(walk(modules, []) for _ in range(args.repeat))
    print(f"walk, no rule: {base:.2f} s")
    for codes in sets:
        rules = [rule_by_code(code) for code in codes]
        if any(rule is None for rule in rules):
            raise SystemExit(f"unknown rule in {codes}")
        cost = min(walk(modules, [r for r in rules if r is not None])
                   for _ in range(args.repeat))
        print(f"walk + {','.join(codes)}: {cost:.2f} s (+{cost - base:.2f} s, "
              f"{(cost - base) / (parse + base):.0%} of parse + walk)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
