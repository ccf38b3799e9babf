"""Fix sweep: compute every fix (unsafe included) on real installed PyTorch code, in memory,
and check each fixed file: all checks pass, a second run changes nothing, no new finding code
appears. Nothing is written.

    .venv/bin/python bench/fix_sweep.py                 # torch + transformers modeling files
    .venv/bin/python bench/fix_sweep.py --only torch
    .venv/bin/python bench/fix_sweep.py --show-diffs    # print every diff, to read them

Only files with a finding that carries a fix are fixed (the others are linted once).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ecosystem import corpora
from dropcheck.discovery import iter_files
from dropcheck.engine import LintOptions, lint_source, read_source
from dropcheck.fix.run import fix_source
from dropcheck.rules import all_rules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["torch", "transformers"])
    parser.add_argument("--show-diffs", action="store_true")
    args = parser.parse_args()
    options = LintOptions(rules=list(all_rules()))
    problems = 0
    for name, paths in corpora().items():
        if args.only and name != args.only:
            continue
        start = time.perf_counter()
        files = offered = fixed_files = 0
        applied: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        for path in iter_files(paths):
            files += 1
            try:
                data = read_source(path)
            except OSError:
                continue
            findings = lint_source(path, data, options)
            if not any(f.fix is not None for f in findings):
                continue
            offered += sum(f.fix is not None for f in findings)
            result = fix_source(path, data, options, unsafe=True)
            applied.update(f.code for f in result.applied)
            for finding, reason in result.skipped:
                skipped[f"{finding.code}: {reason}"] += 1
                print(f"SKIPPED {path}:{finding.line}: {finding.code}: {reason}")
                problems += 1
            if result.fixed is None:
                continue
            fixed_files += 1
            if args.show_diffs:
                print(result.diff())
            again = fix_source(path, result.fixed, options, unsafe=True)
            if again.fixed is not None:
                print(f"NOT IDEMPOTENT {path}")
                problems += 1
            before = {f.code for f in findings}
            new = {f.code for f in lint_source(path, result.fixed, options)} - before
            if new:
                print(f"NEW CODES {path}: {sorted(new)}")
                problems += 1
        seconds = time.perf_counter() - start
        print(f"{name}: {files} files, {offered} fixes offered, {sum(applied.values())} applied "
              f"in {fixed_files} files ({dict(sorted(applied.items()))}), "
              f"{sum(skipped.values())} skipped, {seconds:.1f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
