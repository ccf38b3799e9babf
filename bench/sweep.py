"""Real-code sweep (issue 8): lint every ``.py`` file of the standard library and of the
installed ``torch`` and ``transformers`` with every rule (preview included) and check that
nothing crashes and that every DC000 is a true syntax error.

    .venv/bin/python bench/sweep.py                    # stdlib + torch + transformers
    .venv/bin/python bench/sweep.py --only stdlib

It runs the installed ``dropcheck`` command (``--format json --select ALL --preview
--no-cache``) once per corpus and then judges the result:

- a crash is an exit status other than 0/1/2, a Python traceback on stderr, output that is
  not one JSON array, or any DC000 that reports an internal error, a parser crash or a
  timeout;
- each other DC000 is checked against CPython: a file that this interpreter's own parser
  rejects too (``compile()``) is a true syntax error (listed with the reason); a DC000 on a
  file CPython accepts is a false DC000, and fails the sweep.

Exit status 0 when the sweep is clean, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import sysconfig
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

CRASH_WORDS = ("internal error", "parser crashed", "parser failed", "took longer",
               "out of memory", "ended without a result")


def corpora() -> dict[str, Path]:
    paths = sysconfig.get_paths()
    site = Path(paths["purelib"])
    return {"stdlib": Path(paths["stdlib"]), "torch": site / "torch",
            "transformers": site / "transformers"}


def dropcheck_command() -> list[str]:
    exe = Path(sys.executable).parent / "dropcheck"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dropcheck"]


def cpython_verdict(path: str) -> str | None:
    """None when this interpreter compiles the file, else its error in one line."""
    try:
        data = Path(path).read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(data, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        return f"{type(error).__name__}: {error.msg} (line {error.lineno})"
    except (ValueError, UnicodeError, LookupError, RecursionError, MemoryError) as error:
        return f"{type(error).__name__}: {error}"
    except OSError as error:
        return f"unreadable: {error.strerror}"
    return None


def sweep(name: str, root: Path) -> tuple[int, list[str], list[tuple[str, str, str]]]:
    """Files linted, problems (crashes, false DC000s), and the true syntax errors."""
    command = [*dropcheck_command(), "--format", "json", "--select", "ALL", "--preview",
               "--no-cache", str(root)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    problems: list[str] = []
    if result.returncode not in (0, 1, 2):
        problems.append(f"{name}: exit status {result.returncode}")
    if "Traceback" in result.stderr:
        problems.append(f"{name}: traceback on stderr:\n{result.stderr[-3000:]}")
    try:
        findings = json.loads(result.stdout)
    except json.JSONDecodeError:
        problems.append(f"{name}: stdout is not one JSON document")
        findings = []
    files = sum(1 for p in root.rglob("*.py") if "site-packages" not in p.parts[len(root.parts):])
    syntax_errors: list[tuple[str, str, str]] = []
    for finding in findings:
        if finding["code"] != "DC000":
            continue
        path, message = finding["path"], finding["message"]
        where = f"{path}:{finding['line']}"
        if any(word in message for word in CRASH_WORDS):
            problems.append(f"crash: {where}: {message}")
            continue
        verdict = cpython_verdict(path)
        if verdict is None:
            problems.append(f"false DC000 (CPython compiles it): {where}: {message}")
        else:
            syntax_errors.append((where, message, verdict))
    counts = Counter(f["code"] for f in findings)
    print(f"## {name}: {root}\n{files:,} files in {elapsed:.0f} s, exit {result.returncode}; "
          f"findings: {dict(sorted(counts.items()))}")
    return files, problems, syntax_errors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(corpora()), action="append")
    args = parser.parse_args(argv)
    total = 0
    all_problems: list[str] = []
    for name, root in corpora().items():
        if args.only and name not in args.only:
            continue
        if not root.is_dir():
            print(f"## {name}: not installed, skipped")
            continue
        files, problems, syntax_errors = sweep(name, root)
        total += files
        all_problems.extend(problems)
        print(f"DC000 that are true syntax errors (CPython rejects them too): "
              f"{len(syntax_errors)}")
        for where, message, verdict in syntax_errors:
            print(f"  {where}: {message.removeprefix('file not analysed: ')}  [CPython: "
                  f"{verdict}]")
        print()
    print(f"## total: {total:,} files; crashes and false DC000s: {len(all_problems)}")
    for problem in all_problems:
        print(f"  {problem}")
    return 1 if all_problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
