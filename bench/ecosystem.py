"""Ecosystem check: every rule (``--select ALL --preview``) on public PyTorch projects at pinned
commits and on the installed torch and transformers sources, compared with labels that a person
gave every finding (true, false or deliberate), as ruff's ecosystem check guards ruff.

    .venv/bin/python bench/ecosystem.py                  # run all, print the table and the diff
    .venv/bin/python bench/ecosystem.py --only nanoGPT   # projects whose name contains this
    .venv/bin/python bench/ecosystem.py --findings       # also every finding with its label
    .venv/bin/python bench/ecosystem.py --json run.json  # write the run (for labelling)
    .venv/bin/python bench/ecosystem.py --markdown       # the table as the README shows it

Projects: ``bench/ecosystem-projects.txt`` (owner/name, commit, kind). Only pins live in this
repository. Each project's ``*.py`` and ``*.ipynb`` files at its commit are materialised from
a snapshot that the ``fetch`` tool brought (``/work/.mirror/owner+name/repo``, or ``--mirror``)
into ``--work`` (default ``~/.cache/dropcheck-ecosystem``); no project configuration is copied,
so no project's own settings apply. Corpora ``torch`` and ``transformers`` are the installed
packages (every ``.py`` of torch; transformers' ``models/*/modeling_*.py``).

Labels: ``bench/ecosystem-labels.json``, one entry per finding, keyed by project, path, line,
code and a notebook finding's cell (the sources are pinned, so the key is stable). Per rule the
check prints findings, true, false, deliberate, unlabelled and precision = true / (true +
false); then what the run added (findings without a label) and removed (labelled findings no
longer reported). Labels of removed findings stay in the file: a false alarm that comes back
shows as labelled false again.
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECTS = HERE / "ecosystem-projects.txt"
LABELS = HERE / "ecosystem-labels.json"
MIRROR = Path(os.environ.get("DROPCHECK_MIRROR", "/work/.mirror"))
WORK = Path(os.environ.get("DROPCHECK_ECOSYSTEM", Path.home() / ".cache" / "dropcheck-ecosystem"))
VERDICTS = ("true", "false", "deliberate")
SUFFIXES = (".py", ".ipynb")


@dataclass(frozen=True)
class Project:
    name: str  # owner/name, or "torch" / "transformers" for the installed packages
    commit: str
    kind: str

    @property
    def short(self) -> str:
        return self.name.rsplit("/", 1)[-1]


def read_projects(path: Path = PROJECTS) -> list[Project]:
    projects = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, commit, *kind = line.split()
        projects.append(Project(name, commit, " ".join(kind)))
    return projects


def materialise(project: Project, mirror: Path, work: Path) -> Path:
    """The project's Python files and notebooks at its commit, in a folder of their own."""
    target = work / f"{project.name.replace('/', '+')}@{project.commit[:12]}"
    done = target / ".materialised"
    if done.exists():
        return target
    git_dir = mirror / project.name.replace("/", "+") / "repo"
    if (git_dir / ".git").is_dir():
        git_dir = git_dir / ".git"  # some snapshots come as a work tree
    if not git_dir.is_dir():
        raise SystemExit(f"{project.name}: no snapshot at {git_dir}; bring it with "
                         f"`fetch github:{project.name}` (or pass --mirror)")
    git = ["git", f"--git-dir={git_dir}"]
    listing = subprocess.run([*git, "ls-tree", "-r", "-z", project.commit], check=True,
                             capture_output=True).stdout.decode()
    # Blobs by object id; `cat-file --batch` reads them all in one process. Snapshots may lack
    # large non-Python blobs, so only the wanted ones are asked for.
    wanted: list[tuple[str, str]] = []
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        mode, kind, oid = meta.split()
        if kind == "blob" and mode != "120000" and path.endswith(SUFFIXES):
            wanted.append((oid, path))
    batch = subprocess.run([*git, "cat-file", "--batch"], check=True, capture_output=True,
                           input="".join(f"{oid}\n" for oid, _ in wanted).encode()).stdout
    offset = 0
    for _oid, path in wanted:
        header_end = batch.index(b"\n", offset)
        header = batch[offset:header_end].split()
        if header[-1] == b"missing":
            offset = header_end + 1
            continue
        size = int(header[2])
        body = batch[header_end + 1: header_end + 1 + size]
        offset = header_end + 1 + size + 1
        out = target / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(body)
    target.mkdir(parents=True, exist_ok=True)
    done.write_text(project.commit + "\n")
    return target


def installed_corpora() -> list[tuple[Project, Path, list[str]]]:
    """(project, root, paths relative to root) for installed torch and transformers."""
    from importlib import metadata

    site = Path(sysconfig.get_paths()["purelib"])
    found = []
    if (site / "torch").is_dir():
        found.append((Project("torch", metadata.version("torch"), "library: PyTorch itself"),
                      site / "torch", ["."]))
    models = site / "transformers" / "models"
    if models.is_dir():
        paths = sorted(str(p.relative_to(site / "transformers"))
                       for p in models.glob("*/modeling_*.py"))
        found.append((Project("transformers", metadata.version("transformers"),
                              "library: modeling files"), site / "transformers", paths))
    return found


def dropcheck_command() -> list[str]:
    exe = Path(sys.executable).parent / "dropcheck"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dropcheck"]


def lint(root: Path, paths: Sequence[str]) -> tuple[list[dict[str, object]], float]:
    start = time.perf_counter()
    findings = run_json([*dropcheck_command(), *paths], root)
    return findings, time.perf_counter() - start


def run_json(command: Sequence[str], root: Path, env: dict[str, str] | None = None,
             ) -> list[dict[str, object]]:
    """The findings of a dropcheck ``command`` (every rule, preview too, no cache, JSON),
    run from ``root``; exits on a crash or output that is not one JSON document."""
    command = [*command, "--format", "json", "--select", "ALL", "--preview", "--no-cache"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    if result.returncode not in (0, 1, 2):
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"dropcheck failed on {root} with exit status {result.returncode}")
    try:
        findings: list[dict[str, object]] = json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(result.stdout[-2000:] + result.stderr[-2000:])
        raise SystemExit("dropcheck did not print one JSON document") from None
    return findings


def key(project: str, path: str, line: object, code: object, cell: object = None) -> str:
    """A finding's identity: the sources are pinned, so its place names it (a notebook's
    lines count from the top of their cell)."""
    where = f"{path}:cell {cell}" if cell is not None else path
    return f"{project}:{where}:{line}:{code}"


def load_labels(path: Path = LABELS) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    entries = json.loads(path.read_text())["labels"]
    return {key(e["project"], e["path"], e["line"], e["code"], e.get("cell")): e
            for e in entries}


def row(findings: Iterable[dict[str, object]]) -> dict[str, object]:
    counts = Counter(str(f.get("label") or "unlabelled") for f in findings)
    true, false = counts["true"], counts["false"]
    precision = true / (true + false) if true + false else None
    return {"findings": sum(counts.values()), **{v: counts[v] for v in VERDICTS},
            "unlabelled": counts["unlabelled"], "precision": precision}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--only", help="projects whose name contains this")
    parser.add_argument("--projects", type=Path, default=PROJECTS,
                        help="the list of pinned projects (default: ecosystem-projects.txt; "
                        "ecosystem-heldout.txt: projects first run after the fixes)")
    parser.add_argument("--mirror", type=Path, default=MIRROR)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--findings", action="store_true", help="print every finding")
    parser.add_argument("--json", type=Path, help="write every finding with its label here")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    parser.add_argument("--no-installed", action="store_true",
                        help="skip the installed torch and transformers corpora")
    args = parser.parse_args(argv)

    labels = load_labels()
    corpora: list[tuple[Project, Path, list[str]]] = []
    for project in read_projects(args.projects):
        if args.only and args.only.lower() not in project.name.lower():
            continue
        corpora.append((project, materialise(project, args.mirror, args.work), ["."]))
    if not args.no_installed:
        corpora += [c for c in installed_corpora()
                    if not args.only or args.only.lower() in c[0].name.lower()]

    run: list[dict[str, object]] = []
    per_project: dict[str, Counter[str]] = {}
    for project, root, paths in corpora:
        findings, elapsed = lint(root, paths)
        files = sum(1 for p in root.rglob("*") if p.suffix in SUFFIXES) if paths == ["."] \
            else len(paths)
        print(f"# {project.name} @ {project.commit[:12]}: {len(findings)} findings, "
              f"{files} files, {elapsed:.1f} s", file=sys.stderr)
        per_project[project.name] = Counter(str(f["code"]) for f in findings)
        for f in findings:
            path = os.path.normpath(str(f["path"]))
            label = labels.get(key(project.name, path, f["line"], f["code"], f.get("cell")), {})
            run.append({"project": project.name, "path": path, "line": f["line"],
                        "column": f["column"], "code": f["code"], "cell": f.get("cell"),
                        "message": f["message"], "label": label.get("label"),
                        "note": label.get("note")})

    by_rule: dict[str, list[dict[str, object]]] = {}
    for f in run:
        by_rule.setdefault(str(f["code"]), []).append(f)
    print_table(by_rule, run, markdown=args.markdown)
    print(f"\n{len(corpora)} corpora; findings per project: " + ", ".join(
        f"{name.rsplit('/', 1)[-1]} {sum(c.values())}" for name, c in per_project.items()))

    seen = {key(str(f["project"]), str(f["path"]), f["line"], f["code"], f["cell"]) for f in run}
    checked = {p.name for p, _, _ in corpora}
    added = [f for f in run if not f["label"]]
    removed = [e for k, e in labels.items() if k not in seen and e["project"] in checked]
    print(f"\nadded (no label): {len(added)}; removed (labelled, no longer reported): "
          f"{len(removed)}")
    for f in added:
        print(f"  + {f['project']}:{f['path']}:{f['line']}: {f['code']} {f['message']}")
    for e in sorted(removed, key=lambda e: (e["project"], e["path"], e["line"])):
        print(f"  - [{e['label']}] {e['project']}:{e['path']}:{e['line']}: {e['code']}")
    if args.findings:
        print()
        for f in run:
            print(f"[{f['label'] or '?'}] {f['project']}:{f['path']}:{f['line']}:{f['column']}:"
                  f" {f['code']} {f['message']}" + (f"  -- {f['note']}" if f["note"] else ""))
    if args.json:
        args.json.write_text(json.dumps(run, indent=1) + "\n")
    return 0


def print_table(by_rule: dict[str, list[dict[str, object]]], run: list[dict[str, object]],
                markdown: bool) -> None:
    columns = ["findings", *VERDICTS, "unlabelled", "precision"]
    rows = [(code, row(by_rule[code])) for code in sorted(by_rule)] + [("all", row(run))]

    def cell(value: object) -> str:
        if value is None:
            return "-"
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    if markdown:
        print("| rule | " + " | ".join(columns) + " |")
        print("|---|" + "---|" * len(columns))
        for code, r in rows:
            print(f"| {code} | " + " | ".join(cell(r[c]) for c in columns) + " |")
        return
    print(f"{'rule':<6}" + "".join(f"{c:>12}" for c in columns))
    for code, r in rows:
        print(f"{code:<6}" + "".join(f"{cell(r[c]):>12}" for c in columns))


if __name__ == "__main__":
    raise SystemExit(main())
