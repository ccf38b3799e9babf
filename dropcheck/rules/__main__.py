"""``python -m dropcheck.rules``: regenerate the rule catalog (dropcheck/rules/catalog.py) from
the rule classes; ``--check`` exits 1 when it is stale instead."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dropcheck.rules import all_rules, catalog


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dropcheck.rules", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the catalog is stale")
    args = parser.parse_args(argv)
    path = Path(catalog.__file__)
    text = path.read_text(encoding="utf-8")
    want = catalog.regenerated(text, all_rules())
    if want == text:
        return 0
    if args.check:
        sys.stderr.write(f"stale: {path} (run `python -m dropcheck.rules`)\n")
        return 1
    path.write_text(want, encoding="utf-8")
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
