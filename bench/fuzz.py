"""Long fuzzing run for a release (issue 8): the same properties as tests/test_fuzz.py, with
many more examples and a fresh random seed each time.

    .venv/bin/python bench/fuzz.py                 # 2,000 examples per fuzz test
    .venv/bin/python bench/fuzz.py --examples 20000

CI runs tests/test_fuzz.py with 25 derandomized examples per test (seconds); this runs them
with ``DROPCHECK_FUZZ_EXAMPLES`` set, randomized, and prints hypothesis' statistics. Any
failure is shrunk to a minimal input by hypothesis and shown.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args(argv)
    env = {**os.environ, "DROPCHECK_FUZZ_EXAMPLES": str(args.examples)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "--hypothesis-show-statistics", str(ROOT / "tests" / "test_fuzz.py")]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
