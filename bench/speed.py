"""Speed benchmark: dropcheck against ruff and TorchFix on real PyTorch code (issue 7).

    .venv/bin/python bench/speed.py                       # 3 rounds, 1/4, 1/2 and all
    .venv/bin/python bench/speed.py --rounds 5 --fractions 1
    .venv/bin/python bench/speed.py --torchfix-rounds 0   # skip TorchFix (it is slow)

Corpus: every ``.py`` file of the installed ``torch`` and ``transformers`` packages, in sorted
order; a fraction takes every n-th file, so 1/4 and 1/2 have the same mix as the whole. All
tools get the same explicit file list and run as separate processes, one after the other in
interleaved rounds (tool A, B, C, then A, B, C again...), so that a slow spell of the machine
hits every tool alike. Measured per run: wall time (files/s) and the peak resident memory of
the largest process of the run (``wait4``'s ``ru_maxrss``: for a process pool that is the
largest worker or the parent, not their sum). Reported: medians, and ratios to the others.

Tools:
- dropcheck cold: ``dropcheck --no-cache`` (default rules: what users run), from a frozen
  copy of the package (see ``snapshot``);
- dropcheck warm: the same with a cache primed by one run before the rounds (unchanged tree);
- ruff ALL / ruff F: ``ruff check --isolated --no-cache --select ALL|F``;
- ruff ALL warm: ``ruff check --isolated --select ALL`` with its cache primed;
- TorchFix: ``torchfix`` from its own virtualenv (``/work/torchfix-venv``), default rules.
Outputs go to /dev/null (every tool pays for formatting its own findings).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
TORCHFIX = Path(os.environ.get("TORCHFIX", "/work/torchfix-venv/bin/torchfix"))


def corpus() -> list[str]:
    site = Path(sysconfig.get_paths()["purelib"])
    files: list[str] = []
    for package in ("torch", "transformers"):
        root = site / package
        files.extend(sorted(str(p) for p in root.rglob("*.py") if p.is_file()))
    return files


@dataclass
class Tool:
    name: str
    command: list[str]
    rounds: int
    prime: bool = False  # run once before timing (warm caches)


@dataclass
class Result:
    walls: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    status: set[int] = field(default_factory=set)


def measure(command: Sequence[str], files: Sequence[str], cwd: str) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB) of the largest process, and the exit status."""
    start = time.perf_counter()
    process = subprocess.Popen([*command, *files], cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss, process.returncode


def snapshot(work: str) -> list[str]:
    """A frozen copy of the dropcheck package, run with ``python -m dropcheck``: the code
    measured cannot change during the run (the cache key includes a fingerprint of the
    package's files, so edits in a working tree would also turn warm runs cold)."""
    import dropcheck

    target = Path(work) / "snapshot"
    shutil.copytree(Path(dropcheck.__file__).parent, target / "dropcheck",
                    ignore=shutil.ignore_patterns("__pycache__"))
    runner = target / "run_dropcheck.py"
    runner.write_text(f"import sys\nsys.path.insert(0, {str(target)!r})\n"
                      "from dropcheck.cli import main\nmain()\n")
    return [sys.executable, str(runner)]


def tools(work: str, torchfix_rounds: int, rounds: int) -> list[Tool]:
    dropcheck = snapshot(work)
    ruff = str(BIN / "ruff")
    found = [
        Tool("dropcheck cold", [*dropcheck, "--no-cache"], rounds),
        Tool("dropcheck warm", [*dropcheck, "--cache-dir", f"{work}/dropcheck-cache"], rounds,
             prime=True),
        Tool("ruff ALL", [ruff, "check", "--isolated", "--no-cache", "--select", "ALL",
                          "--exit-zero"], rounds),
        Tool("ruff F", [ruff, "check", "--isolated", "--no-cache", "--select", "F",
                        "--exit-zero"], rounds),
        Tool("ruff ALL warm", [ruff, "check", "--isolated", "--cache-dir", f"{work}/ruff-cache",
                               "--select", "ALL", "--exit-zero"], rounds, prime=True),
    ]
    if torchfix_rounds > 0 and TORCHFIX.exists():
        found.append(Tool("TorchFix", [str(TORCHFIX)], torchfix_rounds))
    return found


def run_fraction(files: Sequence[str], label: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="dropcheck-bench-") as work:
        chosen = tools(work, args.torchfix_rounds, args.rounds)
        for tool in chosen:
            if tool.prime:
                measure(tool.command, files, work)
        results = {tool.name: Result() for tool in chosen}
        for round_number in range(max(t.rounds for t in chosen)):
            for tool in chosen:
                if round_number >= tool.rounds:
                    continue
                wall, rss, status = measure(tool.command, files, work)
                result = results[tool.name]
                result.walls.append(wall)
                result.rss_kb.append(rss)
                result.status.add(status)
                print(f"  [{label}] round {round_number + 1} {tool.name}: {wall:.2f} s",
                      file=sys.stderr, flush=True)
        report(files, label, results)
        shutil.rmtree(work, ignore_errors=True)


def report(files: Sequence[str], label: str, results: dict[str, Result]) -> None:
    size = sum(os.path.getsize(f) for f in files)
    medians = {name: statistics.median(r.walls) for name, r in results.items() if r.walls}
    print(f"\n### {label}: {len(files):,} files, {size / 1e6:.1f} MB\n")
    print("| tool | rounds | median wall (s) | files/s | peak RSS (MB) | exit |")
    print("|---|---|---|---|---|---|")
    for name, result in results.items():
        if not result.walls:
            continue
        median = medians[name]
        print(f"| {name} | {len(result.walls)} | {median:.2f} | {len(files) / median:,.0f} | "
              f"{max(result.rss_kb) / 1024:,.0f} | {','.join(map(str, sorted(result.status)))} |")
    print()
    pairs = [("dropcheck cold", "TorchFix", "TorchFix / dropcheck cold (target >= 10)"),
             ("dropcheck cold", "ruff ALL", "dropcheck cold / ruff ALL (target <= 2)"),
             ("dropcheck cold", "ruff F", "dropcheck cold / ruff F"),
             ("dropcheck warm", "ruff ALL warm", "dropcheck warm / ruff ALL warm (target <= 1)")]
    for ours, theirs, text in pairs:
        if ours in medians and theirs in medians:
            if text.startswith("TorchFix"):
                value = medians[theirs] / medians[ours]
            else:
                value = medians[ours] / medians[theirs]
            print(f"- {text}: **{value:.2f}**")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torchfix-rounds", type=int, default=1,
                        help="TorchFix rounds per fraction (0 skips it; ~7 files/s)")
    parser.add_argument("--fractions", default="4,2,1",
                        help="which parts of the corpus: 4 = every 4th file (default 4,2,1)")
    args = parser.parse_args(argv)
    files = corpus()
    if not files:
        print("no corpus: torch and transformers must be installed", file=sys.stderr)
        return 1
    print(f"# dropcheck speed benchmark ({os.cpu_count()} cores, {time.strftime('%Y-%m-%d')})")
    for part in (int(x) for x in args.fractions.split(",")):
        label = "whole corpus" if part == 1 else f"1/{part} of the corpus"
        run_fraction(files[::part], label, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
