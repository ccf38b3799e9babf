"""`import dropcheck`, the CLI and the pytest plugin never import torch; the runtime codes are
documented like rules."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import dropcheck
from dropcheck.rules import rule_by_code
from dropcheck.runtime_codes import RUNTIME_CODES, STATIC_NAMES, runtime_code

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_SOURCES = sorted((ROOT / "dropcheck" / "runtime").glob("*.py"))


def _no_torch_after(code: str) -> None:
    script = f"{code}\nimport sys\nassert 'torch' not in sys.modules, 'torch was imported'\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_import_dropcheck_and_cli_leave_torch_out() -> None:
    _no_torch_after("import dropcheck, dropcheck.cli")


def test_no_module_outside_the_runtime_package_imports_torch() -> None:
    names = [m.name for m in pkgutil.walk_packages(dropcheck.__path__, "dropcheck.")
             if not m.name.startswith("dropcheck.runtime.") and m.name != "dropcheck.runtime"
             and m.name != "dropcheck.__main__"]
    assert "dropcheck.pytest_plugin" in names and "dropcheck.runtime_codes" in names
    _no_torch_after("\n".join(f"import {name}" for name in names))


def test_cli_rule_listing_leaves_torch_out() -> None:
    _no_torch_after(
        "from dropcheck.cli import main\n"
        "for args in (['rule', '--all'], ['rule', 'DC103']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, e.code\n")


def test_rule_command_documents_runtime_codes(run_dropcheck) -> None:  # type: ignore[no-untyped-def]
    listing = run_dropcheck("rule", "--all")
    assert listing.returncode == 0
    for entry in RUNTIME_CODES:
        assert re.search(rf"^{entry.code}\s+{entry.name}\s", listing.stdout, re.M)
    doc = run_dropcheck("rule", "DC104")
    assert doc.returncode == 0
    assert doc.stdout.startswith("# dropout-wrong-rate (DC104)")
    assert "p = 0.5" in doc.stdout  # the blind spot is documented
    by_name = run_dropcheck("rule", "not-enough-evidence")
    assert by_name.returncode == 0 and "(DC106)" in by_name.stdout


def test_runtime_code_docs_have_the_rule_sections() -> None:
    for entry in RUNTIME_CODES:
        doc = entry.documentation()
        for section in ("## What it does", "## Why is this bad?", "## Example",
                        "## Use instead", "## References"):
            assert section in doc, (entry.code, section)
        assert re.fullmatch(r"DC1\d\d", entry.code) and rule_by_code(entry.code) is None


def test_every_code_the_runtime_reports_is_documented() -> None:
    used = {code for path in RUNTIME_SOURCES
            for code in re.findall(r'"(DC\d{3})"', path.read_text())}
    assert used
    for code in used:
        if code.startswith("DC1"):
            assert runtime_code(code) is not None, code
        else:
            assert code in STATIC_NAMES, code
            static = rule_by_code(code)
            if static is not None:  # the static rule may still be in progress
                assert static.name == STATIC_NAMES[code], code
