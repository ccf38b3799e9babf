"""The ecosystem check's inputs are well formed: at least 20 pinned projects, and one valid
label per finding key (the check itself needs the fetched snapshots: bench/ecosystem.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _rows(name: str) -> list[list[str]]:
    return [line.split() for line in (BENCH / name).read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_at_least_twenty_projects_pinned_to_full_commits() -> None:
    rows = _rows("ecosystem-projects.txt")
    held_out = _rows("ecosystem-heldout.txt")
    assert len(rows) >= 20 and len(held_out) >= 10
    names = [row[0] for row in rows + held_out]
    assert len(set(names)) == len(names), "a project is pinned twice (or is not held out)"
    for name, commit, *kind in rows + held_out:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", name), name
        assert re.fullmatch(r"[0-9a-f]{40}", commit), (name, commit)
        assert kind, f"{name}: say what kind of project it is"


def test_labels_are_unique_and_valid() -> None:
    labels = json.loads((BENCH / "ecosystem-labels.json").read_text())["labels"]
    keys = [(e["project"], e["path"], e.get("cell"), e["line"], e["code"]) for e in labels]
    assert len(keys) == len(set(keys))
    for entry in labels:
        assert entry["label"] in ("true", "false", "deliberate"), entry
        assert entry["note"].strip(), entry
        assert re.fullmatch(r"DC\d{3}", entry["code"]), entry
        if entry["label"] != "false":
            assert "class" not in entry, entry
