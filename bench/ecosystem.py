"""Ecosystem check: run dropcheck (all rules, preview included) on real installed PyTorch code
and print per-rule counts and every finding, so that each one can be read and judged.

    .venv/bin/python bench/ecosystem.py                 # torch + transformers modeling files
    .venv/bin/python bench/ecosystem.py --only torch    # one corpus
    .venv/bin/python bench/ecosystem.py --counts        # counts only

Corpora: the installed Python sources of ``torch`` (every ``.py``) and ``transformers``'s
``models/*/modeling_*.py``. It runs the installed ``dropcheck`` command (what users run) with
``--format json --select ALL --preview`` and no cache, so a rule change shows at once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def corpora() -> dict[str, list[str]]:
    """Name -> the paths given to dropcheck (folders are walked by dropcheck itself)."""
    site = site_packages()
    found: dict[str, list[str]] = {}
    torch_dir = site / "torch"
    if torch_dir.is_dir():
        found["torch"] = [str(torch_dir)]
    models = site / "transformers" / "models"
    if models.is_dir():
        found["transformers"] = sorted(str(p) for p in models.glob("*/modeling_*.py"))
    return found


def dropcheck_command() -> list[str]:
    exe = Path(sys.executable).parent / "dropcheck"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dropcheck"]


def run(paths: Sequence[str], extra: Sequence[str]) -> tuple[list[dict[str, object]], float, int]:
    command = [*dropcheck_command(), "--format", "json", "--select", "ALL", "--preview",
               *extra, *paths]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1, 2):
        sys.stderr.write(result.stderr)
        raise SystemExit(f"dropcheck failed with exit status {result.returncode}")
    try:
        findings = json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(result.stdout[-2000:] + result.stderr[-2000:])
        raise SystemExit("dropcheck did not print one JSON document") from None
    return findings, elapsed, result.returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["torch", "transformers"], help="one corpus only")
    parser.add_argument("--counts", action="store_true", help="print counts, not findings")
    args, extra = parser.parse_known_args(argv)
    site = str(site_packages()) + os.sep
    total: Counter[str] = Counter()
    for name, paths in corpora().items():
        if args.only and name != args.only:
            continue
        if not extra:
            extra = ["--no-cache"] if _supports_no_cache() else []
        findings, elapsed, status = run(paths, extra)
        counts = Counter(str(f["code"]) for f in findings)
        total.update(counts)
        print(f"## {name}: {len(findings)} findings in "
              f"{len({f['path'] for f in findings})} files ({elapsed:.1f} s, exit {status})")
        for code, count in sorted(counts.items()):
            print(f"   {code}: {count}")
        if not args.counts:
            for f in findings:
                path = str(f["path"]).removeprefix(site)
                print(f"{path}:{f['line']}:{f['column']}: {f['code']} [{f['name']}] "
                      f"{f['message']}")
        print()
    print("## total: " + (", ".join(f"{c} {n}" for c, n in sorted(total.items())) or "none"))
    return 0


def _supports_no_cache() -> bool:
    result = subprocess.run([*dropcheck_command(), "--help"], capture_output=True, text=True)
    return "--no-cache" in result.stdout


if __name__ == "__main__":
    raise SystemExit(main())
