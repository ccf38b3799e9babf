"""Whole-corpus check that the pre-filter never changes findings (issue 7).

    .venv/bin/python bench/prefilter_check.py                 # torch + transformers, all files
    .venv/bin/python bench/prefilter_check.py --fraction 8    # every 8th file
    .venv/bin/python bench/prefilter_check.py --preview       # preview rules too
    .venv/bin/python bench/prefilter_check.py --corpus eight  # the eight pinned projects

Lints a speed benchmark corpus (installed torch and transformers sources, or the eight pinned
projects: see bench/speed.py) twice through the real CLI, with and without the pre-filter (byte
tokens and the CPython-tree sketch), with every core, and compares the JSON findings one by one.
Prints both wall times, the findings per rule, and every difference; exits 1 if there is any.
tests/test_prefilter.py runs the same comparison on fixtures, rule examples and a sample of
real code; this is the large-scale version.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import CORPORA, corpus


def run(files: list[str], extra: list[str]) -> tuple[float, list[dict[str, object]]]:
    with tempfile.TemporaryDirectory(prefix="dropcheck-prefilter-") as work:
        listing = Path(work) / "files"
        listing.write_text("\n".join(files))
        output = Path(work) / "out.json"
        start = time.perf_counter()
        # xargs would split the list into several runs; one run sees every file
        subprocess.run([sys.executable, "-m", "dropcheck", "--no-cache", "--exit-zero",
                        "--format", "json", "--output-file", str(output), *extra, *files],
                       check=False, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        return wall, json.loads(output.read_text() or "[]")


def key(finding: dict[str, object]) -> tuple[object, ...]:
    return tuple(finding.get(k) for k in ("path", "line", "column", "code", "message"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=int, default=1, help="take every n-th file")
    parser.add_argument("--preview", action="store_true", help="run preview rules too")
    parser.add_argument("--corpus", choices=CORPORA, default="torch")
    args = parser.parse_args()
    files = corpus(args.corpus)[:: args.fraction]
    extra = ["--preview", "--select", "DC"] if args.preview else []
    with_wall, with_findings = run(files, extra)
    without_wall, without_findings = run(files, [*extra, "--no-prefilter"])
    print(f"{len(files):,} files; with pre-filter {with_wall:.1f} s, "
          f"without {without_wall:.1f} s")
    counts = collections.Counter(str(f["code"]) for f in without_findings)
    print("findings without the pre-filter:", dict(sorted(counts.items())) or "none")
    with_keys = {key(f) for f in with_findings}
    without_keys = {key(f) for f in without_findings}
    lost = sorted(without_keys - with_keys, key=str)
    extra_found = sorted(with_keys - without_keys, key=str)
    for item in lost:
        print("LOST by the pre-filter:", item)
    for item in extra_found:
        print("ONLY with the pre-filter:", item)
    if lost or extra_found:
        return 1
    print("identical findings:", len(without_keys))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
