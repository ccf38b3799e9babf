"""Speed benchmark: dropcheck against ruff and TorchFix on real PyTorch code (issues 7, 14).

    .venv/bin/python bench/speed.py                       # 3 rounds, 1/4, 1/2 and all
    .venv/bin/python bench/speed.py --rounds 5 --fractions 1
    .venv/bin/python bench/speed.py --torchfix-rounds 0   # skip TorchFix (it is slow)
    .venv/bin/python bench/speed.py --corpus eight --fractions 2 --startup
    .venv/bin/python bench/speed.py --startup-only        # one-file rows only
    .venv/bin/python bench/speed.py --baseline ../main    # also another checkout's dropcheck

Corpora (``--corpus``): ``torch``, every ``.py`` file of the installed ``torch`` and
``transformers`` packages; ``eight``, eight public PyTorch projects at the commits pinned in
``bench/speed-corpus.txt`` (only pins live here: each project's ``*.py`` files are materialised
from the snapshot the ``fetch`` tool brought, ``/work/.mirror/owner+name/repo``, into
``~/.cache/dropcheck-ecosystem/owner+name@commit12/`` as bench/ecosystem.py does; no project
configuration is copied). Files in sorted order; a fraction takes every n-th file, so 1/4 and
1/2 have the same mix as the whole. All tools get the same explicit file list and run as
separate processes, one after the other in interleaved rounds (tool A, B, C, then A, B, C
again...), so that a slow spell of the machine hits every tool alike. Measured per run: wall
time (files/s) and the peak resident memory of the largest process of the run (``wait4``'s
``ru_maxrss``: for a process pool that is the largest worker or the parent, not their sum).
Reported: medians, and ratios to the others.

One file (``--startup``), as pre-commit or an editor runs it: ``--version``, a file in which no
rule's pre-filter tokens occur ("unmatched"), and a file that needs the full analysis (a
LibCST parse for at least one rule), each the median-sized such file of the corpus, against
``ruff check --select ALL`` on the same file. Targets: 0.15 s, 0.15 s and 0.5 s.

Tools:
- dropcheck cold: ``dropcheck --no-cache`` (default rules: what users run), from a frozen
  copy of the package (see ``snapshot``);
- dropcheck warm: the same with a cache primed by one run before the rounds (unchanged tree);
- ruff ALL / ruff F: ``ruff check --isolated --no-cache --select ALL|F``;
- ruff ALL warm: ``ruff check --isolated --select ALL`` with its cache primed;
- TorchFix: ``torchfix`` from its own virtualenv (``/work/torchfix-venv``), default rules;
- baseline cold (``--baseline DIR``): the dropcheck package of another checkout, likewise.
Outputs go to /dev/null (every tool pays for formatting its own findings). The frozen copies
are byte-compiled first, as an installed package is (otherwise, with PYTHONDONTWRITEBYTECODE
set, every process would compile dropcheck's modules again).
"""

from __future__ import annotations

import argparse
import compileall
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
HERE = Path(__file__).resolve().parent
TORCHFIX = Path(os.environ.get("TORCHFIX", "/work/torchfix-venv/bin/torchfix"))
PINS = HERE / "speed-corpus.txt"
CORPORA = ("torch", "eight")


def corpus(name: str = "torch") -> list[str]:
    """The corpus' files, sorted (see the module's docstring)."""
    if name == "eight":
        return eight_projects()
    site = Path(sysconfig.get_paths()["purelib"])
    files: list[str] = []
    for package in ("torch", "transformers"):
        root = site / package
        files.extend(sorted(str(p) for p in root.rglob("*.py") if p.is_file()))
    return files


def eight_projects() -> list[str]:
    """The pinned projects' ``*.py`` files, materialised on first use. Each project's count
    must match its pin (a snapshot missing blobs would measure a different corpus)."""
    from ecosystem import MIRROR, WORK, Project, materialise

    files: list[str] = []
    for line in PINS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, commit, count = line.split()
        root = materialise(Project(name, commit, "speed corpus"), MIRROR, WORK)
        if (root / ".materialised").read_text().strip() != commit:
            raise SystemExit(f"{root}: materialised at another commit than {commit}")
        found = [str(p) for p in root.rglob("*.py") if p.is_file() and not p.is_symlink()]
        if len(found) != int(count):
            raise SystemExit(f"{name}: {len(found)} .py files at {root}, the pin says {count}")
        files.extend(found)
    return sorted(files)


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


def snapshot(work: str, package: Path | None = None, name: str = "snapshot") -> list[str]:
    """A frozen, byte-compiled copy of the dropcheck package (this one, or ``package``), run
    through its console entry point: the code measured cannot change during the run (the
    cache key includes a fingerprint of the package's files, so edits in a working tree would
    also turn warm runs cold)."""
    if package is None:
        import dropcheck

        package = Path(dropcheck.__file__).parent
    target = Path(work) / name
    if not target.exists():
        shutil.copytree(package, target / "dropcheck",
                        ignore=shutil.ignore_patterns("__pycache__"))
        compileall.compile_dir(str(target / "dropcheck"), quiet=1)
    runner = target / "run_dropcheck.py"
    # entry.main when the package has it (the console script's handler), else cli.main
    runner.write_text(f"import sys\nsys.path.insert(0, {str(target)!r})\n"
                      "try:\n    from dropcheck.entry import main\n"
                      "except ImportError:\n    from dropcheck.cli import main\nmain()\n")
    return [sys.executable, str(runner)]


def baseline_package(checkout: str | None) -> Path | None:
    if checkout is None:
        return None
    package = Path(checkout) / "dropcheck"
    if not (package / "__init__.py").is_file():
        raise SystemExit(f"--baseline {checkout}: no dropcheck package there")
    return package


def tools(work: str, torchfix_rounds: int, rounds: int, baseline: Path | None = None
          ) -> list[Tool]:
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
    if baseline is not None:
        found.insert(1, Tool("baseline cold", [*snapshot(work, baseline, "baseline"),
                                               "--no-cache"], rounds))
    if torchfix_rounds > 0 and TORCHFIX.exists():
        found.append(Tool("TorchFix", [str(TORCHFIX)], torchfix_rounds))
    return found


def run_rounds(chosen: Sequence[Tool], files: Sequence[str], label: str, work: str
               ) -> dict[str, Result]:
    """Every tool once per round, in the same order each round; primed tools run once first."""
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
            print(f"  [{label}] round {round_number + 1} {tool.name}: {wall:.3f} s",
                  file=sys.stderr, flush=True)
    return results


def run_fraction(files: Sequence[str], label: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="dropcheck-bench-") as work:
        chosen = tools(work, args.torchfix_rounds, args.rounds,
                       baseline_package(args.baseline))
        report(files, label, run_rounds(chosen, files, label, work))
        shutil.rmtree(work, ignore_errors=True)


def startup_files(files: Sequence[str]) -> tuple[str, str]:
    """(unmatched, full): among a sample of the corpus, the median-sized file in which no
    default rule's tokens occur, and the median-sized one that a rule asks LibCST to parse."""
    from dropcheck import engine
    from dropcheck.rules import select_infos

    options = engine.LintOptions(rules=select_infos())
    unmatched: list[tuple[int, str]] = []
    full: list[tuple[int, str]] = []
    for path in files[:: max(1, len(files) // 400)]:
        data = Path(path).read_bytes()
        candidates = engine._candidates(data, options, path)
        if not candidates:
            unmatched.append((len(data), path))
            continue
        rejected, rules = engine._parse_and_select(data, candidates, True, path)
        if rejected is None and rules:
            full.append((len(data), path))
    if not unmatched or not full:
        raise SystemExit("the corpus sample has no unmatched file or no file to analyse")
    return sorted(unmatched)[len(unmatched) // 2][1], sorted(full)[len(full) // 2][1]


def run_startup(files: Sequence[str], label: str, args: argparse.Namespace) -> None:
    # Chosen in a child process: this one must stay small, for the peak RSS of a process it
    # starts counts the pages of this one until the exec (Linux keeps ru_maxrss over exec).
    chosen = subprocess.run(
        [sys.executable, "-c", "import sys; from speed import corpus, startup_files; "
         f"print(*startup_files(corpus({args.corpus!r})), sep='\\n')"],
        cwd=HERE, check=True, capture_output=True, text=True).stdout.split("\n")
    unmatched, full = chosen[0], chosen[1]
    rounds = max(args.rounds, 5)
    ruff = [str(BIN / "ruff"), "check", "--isolated", "--no-cache", "--select", "ALL",
            "--exit-zero"]
    with tempfile.TemporaryDirectory(prefix="dropcheck-bench-") as work:
        dropcheck = snapshot(work)
        rows = [("--version", [*dropcheck, "--version"], [str(BIN / "ruff"), "--version"]),
                ("unmatched", [*dropcheck, "--no-cache", unmatched], [*ruff, unmatched]),
                ("full", [*dropcheck, "--no-cache", full], [*ruff, full])]
        baseline = baseline_package(args.baseline)
        old = snapshot(work, baseline, "baseline") if baseline is not None else None
        tools_run: list[Tool] = []
        for what, ours, theirs in rows:
            tools_run.append(Tool(f"dropcheck {what}", ours, rounds))
            if old is not None:
                tools_run.append(Tool(f"baseline {what}", [*old, *ours[len(dropcheck):]],
                                      rounds))
            tools_run.append(Tool(f"ruff {what}", theirs, rounds))
        results = run_rounds(tools_run, [], f"{label}, one file", work)
    print(f"\n### One file ({label}): unmatched {_describe(unmatched)}, full {_describe(full)}"
          f"\n")
    print("| run | dropcheck (s) | peak RSS (MB) | ruff ALL (s) | dropcheck / ruff | target |")
    print("|---|---|---|---|---|---|")
    targets = {"--version": 0.15, "unmatched": 0.15, "full": 0.5}
    for what, _, _ in rows:
        for tool in ("dropcheck", "baseline"):
            mine = results.get(f"{tool} {what}")
            if mine is None:
                continue
            ruff_wall = statistics.median(results[f"ruff {what}"].walls)
            median = statistics.median(mine.walls)
            name = what if tool == "dropcheck" else f"{what} (baseline)"
            print(f"| {name} | {median:.3f} | {max(mine.rss_kb) / 1024:,.0f} | "
                  f"{ruff_wall:.3f} | {median / ruff_wall:.0f}x | ≤ {targets[what]} s |")


def _describe(path: str) -> str:
    parts = Path(path).parts
    at = next((i for i, part in enumerate(parts) if "@" in part or part == "site-packages"),
              len(parts) - 2)
    return f"`{'/'.join(parts[at + 1:])}` ({os.path.getsize(path) / 1000:.1f} kB)"


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
             ("baseline cold", "ruff ALL", "baseline cold / ruff ALL"),
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
    parser.add_argument("--corpus", choices=CORPORA, default="torch",
                        help="torch + transformers (installed), or the eight pinned projects")
    parser.add_argument("--startup", action="store_true",
                        help="also the one-file rows (--version, unmatched, full analysis)")
    parser.add_argument("--startup-only", action="store_true", help="only the one-file rows")
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="also run the dropcheck package of this checkout (before/after)")
    args = parser.parse_args(argv)
    files = corpus(args.corpus)
    if not files:
        print("no corpus: torch and transformers must be installed", file=sys.stderr)
        return 1
    name = {"torch": "torch + transformers", "eight": "eight projects"}[args.corpus]
    print(f"# dropcheck speed benchmark: {name} ({os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')})")
    if args.startup or args.startup_only:
        run_startup(files, name, args)
    if args.startup_only:
        return 0
    for part in (int(x) for x in args.fractions.split(",")):
        label = f"{name}, whole" if part == 1 else f"{name}, 1/{part}"
        run_fraction(files[::part], label, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
