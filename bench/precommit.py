"""Pre-commit on a big project: one changed file, a warm cache (issue 13).

    .venv/bin/python bench/precommit.py [PROJECT] [--file REL] [--dependency REL] [--rounds 5]

PROJECT (default: the ecosystem check's pytorch_geometric copy, 1,300+ files) is copied to a
temporary folder and linted once whole to warm the cache. Then, interleaved, each ``--rounds``:

- **unchanged**: ``dropcheck FILE`` as pre-commit runs it, on the unchanged file (a cache hit);
- **changed**: the same after appending a comment to FILE (re-linted, with the project files
  it depends on read again);
- **alone, cold**: ``dropcheck --no-cache FILE`` (the whole analysis of that file).

and, once, after editing ``--dependency`` (a file FILE imports from), how many files of the
whole project a warm run lints again (only the files that depend on it should be). Reported:
medians, and the ratio changed / unchanged (the target: under 2).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "dropcheck"
DEFAULT = sorted(Path.home().joinpath(".cache", "dropcheck-ecosystem").glob(
    "pyg-team+pytorch_geometric@*"))


def _run(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([str(BIN), *args], cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", nargs="?", type=Path,
                        default=DEFAULT[0] if DEFAULT else None)
    parser.add_argument("--file", default="examples/gat.py")
    parser.add_argument("--dependency", default="torch_geometric/nn/conv/gat_conv.py")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.project is None:
        parser.error("no project: run bench/ecosystem.py once, or name one")
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(args.project, project, symlinks=True)
        files = sum(1 for _ in project.rglob("*.py"))
        cache = ["--cache-dir", str(Path(tmp) / "cache")]
        warm_whole = _run([*cache, "."], project)
        target = project / args.file
        original = target.read_text(encoding="utf-8")
        unchanged, changed, cold = [], [], []
        for index in range(args.rounds):
            unchanged.append(_run([*cache, args.file], project))
            target.write_text(original + f"\n# edit {index}\n", encoding="utf-8")
            changed.append(_run([*cache, args.file], project))
            cold.append(_run(["--no-cache", args.file], project))
        target.write_text(original, encoding="utf-8")
        _run([*cache, "."], project)
        dependency = project / args.dependency
        dependency.write_text(dependency.read_text(encoding="utf-8") + "\n# edit\n",
                              encoding="utf-8")
        verbose = subprocess.run([str(BIN), *cache, "--verbose", "--format", "json", "."],
                                 cwd=project, capture_output=True, text=True, check=False)
        relinted = next((line for line in verbose.stderr.splitlines() if "linted" in line),
                        "?")
    result = {
        "project": str(args.project), "files": files, "file": args.file,
        "warm_whole_s": round(warm_whole, 2),
        "unchanged_s": round(statistics.median(unchanged), 3),
        "changed_s": round(statistics.median(changed), 3),
        "alone_cold_s": round(statistics.median(cold), 3),
        "changed_over_unchanged": round(statistics.median(changed)
                                        / statistics.median(unchanged), 2),
        "after_editing_dependency": relinted,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
