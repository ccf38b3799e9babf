"""Autofix: before/after fixture pairs, safety checks, byte preservation, the CLI contract."""

from __future__ import annotations

import inspect
import os
import stat
from collections.abc import Callable
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from dropcheck.engine import LintOptions, lint_source
from dropcheck.findings import Edit, Finding, Fix
from dropcheck.fix import apply as apply_module
from dropcheck.fix import write as write_module
from dropcheck.fix.apply import Span, check_changed_lines
from dropcheck.fix.changes import FixBuilder, InsertAfter, NodeFix, Replace
from dropcheck.fix.helpers import insert_at_top_of_body
from dropcheck.fix.run import FileFix, fix_source
from dropcheck.fix.source import FixError, LineIndex, decode
from dropcheck.fix.write import write_atomic
from dropcheck.rules import all_rules
from dropcheck.testing import EXPECT, actual_findings

FIXES = Path(__file__).resolve().parent.parent / "fixtures" / "fixes"
PAIRS = sorted(FIXES.glob("*.py"))


def fix(data: bytes, unsafe: bool = True, path: str = "example.py") -> FileFix:
    return fix_source(path, data, LintOptions(rules=list(all_rules())), unsafe=unsafe)


def fixed_bytes(data: bytes, unsafe: bool = True) -> bytes:
    result = fix(data, unsafe)
    assert result.skipped == []
    return result.fixed if result.fixed is not None else data


# -- before/after fixtures --------------------------------------------------------------------

def test_there_are_fix_fixtures() -> None:
    assert PAIRS
    for before in PAIRS:
        assert before.with_name(before.name + ".fixed").exists(), f"{before.name} lacks .fixed"


@pytest.mark.parametrize("before", PAIRS, ids=lambda p: p.name)
def test_fixture_pair(before: Path) -> None:
    """Fixing `X.py` (unsafe fixes included) gives `X.py.fixed` exactly; fixing that again
    changes nothing; what remains is exactly the lines marked `(no fix)`."""
    data = before.read_bytes()
    expected = before.with_name(before.name + ".fixed").read_bytes()
    result = fix(data)
    assert result.skipped == []
    assert result.applied, "a fix fixture must fix something"
    assert (result.fixed or data).decode() == expected.decode()
    again = fix(expected)
    assert again.fixed is None, "--fix is not idempotent"
    no_fix = {
        (number, code.strip())
        for number, line in enumerate(expected.decode().splitlines(), start=1)
        if "(no fix)" in line
        for match in EXPECT.finditer(line)
        for code in match.group("codes").split(",")
    }
    assert actual_findings(again.remaining) == no_fix


def _fixing_rules() -> list[type]:
    return [rule for rule in all_rules()
            if "dropcheck.fix" in inspect.getsource(inspect.getmodule(rule))]  # type: ignore[arg-type]


@pytest.mark.parametrize("rule", _fixing_rules(), ids=lambda r: r.code)
def test_fixing_rule_has_docs_and_fixture(rule: type) -> None:
    assert "## Fix safety" in rule.documentation()  # type: ignore[attr-defined]
    fixed_codes = {f.code for before in PAIRS for f in fix(before.read_bytes()).applied}
    assert rule.code in fixed_codes, f"no fixture in fixtures/fixes exercises {rule.code}'s fix"  # type: ignore[attr-defined]


def test_unsafe_fixes_need_the_option() -> None:
    data = b"import torch.nn as nn\nd = nn.Dropout(True)\n"
    assert fix(data, unsafe=False).fixed is None
    assert fixed_bytes(data) == b"import torch.nn as nn\nd = nn.Dropout(inplace=True)\n"


# -- bytes outside the edit are preserved -----------------------------------------------------

SOURCE = "import torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self):\n" \
         "        self.d = nn.Dropout(True)\n"
WANT = SOURCE.replace("Dropout(True)", "Dropout(inplace=True)")


@pytest.mark.parametrize("eol", ["\r\n", "\r", "\n"])
def test_line_endings_preserved(eol: str) -> None:
    data = SOURCE.replace("\n", eol).encode()
    assert fixed_bytes(data) == WANT.replace("\n", eol).encode()


def test_mixed_line_endings_and_form_feeds_preserved() -> None:
    data = (b"import torch.nn as nn\r\n\x0c\n# comment\r\x0cx = 1\n"
            b"class M(nn.Module):\r\n    def __init__(self):\n"
            b"        self.d = nn.Dropout(True)\r\n\x0c")
    want = data.replace(b"Dropout(True)", b"Dropout(inplace=True)")
    assert fixed_bytes(data) == want


def test_bom_preserved() -> None:
    data = b"\xef\xbb\xbf" + SOURCE.encode()
    assert fixed_bytes(data) == b"\xef\xbb\xbf" + WANT.encode()


def test_latin1_cookie_preserved() -> None:
    source = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + SOURCE + "s = '\xe9\xe8'\n"
    data = source.encode("latin-1")
    result = fixed_bytes(data)
    assert result == data.replace(b"Dropout(True)", b"Dropout(inplace=True)")
    assert b"\xe9\xe8" in result


def test_no_trailing_newline_preserved() -> None:
    data = SOURCE.rstrip("\n").encode()
    assert fixed_bytes(data) == WANT.rstrip("\n").encode()


def test_tabs_and_wide_characters_keep_columns() -> None:
    data = ("import torch.nn as nn\nclass M(nn.Module):\n\tdef __init__(self):\n"
            "\t\tself.d = (nn.Dropout(True), '\U0001F600', nn.Dropout(True))\n").encode()
    want = data.replace(b"Dropout(True)", b"Dropout(inplace=True)")
    assert fixed_bytes(data) == want


# -- never touched, never half-written --------------------------------------------------------

def test_file_with_dc000_is_never_fixed() -> None:
    data = b"import torch.nn as nn\nd = nn.Dropout(True)\ndef broken(:\n"
    result = fix(data)
    assert result.fixed is None
    assert [f.code for f in result.remaining] == ["DC000"]


def test_changed_lines_check_rejects_changes_outside_the_edit() -> None:
    before = b"a = 1\nb = 2\nc = 3\n"
    edit = Span(6, 11, "b = 9", 2, 2)
    check_changed_lines(before, b"a = 1\nb = 9\nc = 3\n", [edit])
    with pytest.raises(FixError):
        check_changed_lines(before, b"a = 1\nb = 9\nc = 4\n", [edit])
    with pytest.raises(FixError):  # a line ending changed outside the edit
        check_changed_lines(before, b"a = 1\r\nb = 9\nc = 3\n", [edit])
    with pytest.raises(FixError):  # a line inserted elsewhere
        check_changed_lines(before, b"a = 1\nb = 9\nc = 3\nd = 4\n", [edit])


def test_a_failing_fix_is_skipped_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fix whose result does not parse is never applied; the others still are."""
    real = apply_module.apply

    def broken(text: str, edits: list[Span]) -> str:
        out = real(text, edits)
        return out.replace("inplace=True)  # second", "inplace=True  # second")

    monkeypatch.setattr("dropcheck.fix.run.apply", broken)
    data = (b"import torch.nn as nn\na = nn.Dropout(True)\n"
            b"b = nn.Dropout(True)  # second\n")
    result = fix(data)
    assert [f.line for f, _ in result.skipped] == [3]
    assert "does not parse" in result.skipped[0][1] or "cannot be analysed" in result.skipped[0][1]
    assert result.fixed == (b"import torch.nn as nn\na = nn.Dropout(inplace=True)\n"
                            b"b = nn.Dropout(True)  # second\n")
    assert [f.line for f in result.applied] == [2]


def _finding_with(edits: tuple[Edit, ...], line: int) -> Finding:
    return Finding("DC006", "invalid-dropout-rate", "x.py", line, 1, line, 2, "m",
                   fix=Fix("safe", "f", edits))


def test_overlapping_fixes_wait_for_the_next_pass() -> None:
    lines = LineIndex("abcdef\n")
    first = _finding_with((Edit(1, 1, 1, 4, "X"),), 1)
    second = _finding_with((Edit(1, 3, 1, 6, "Y"),), 1)
    third = _finding_with((Edit(1, 6, 1, 7, "Z"),), 1)
    chosen = apply_module.select([second, first, third], lines)
    assert [f for f, _ in chosen] == [first, third]


def test_identical_edits_from_two_fixes_are_applied_once() -> None:
    lines = LineIndex("ab\n")
    shared = Edit(1, 1, 1, 1, "import x\n")
    one = _finding_with((shared, Edit(1, 1, 1, 2, "A")), 1)
    two = _finding_with((shared, Edit(1, 2, 1, 3, "B")), 1)
    chosen = apply_module.select([one, two], lines)
    assert len(chosen) == 2
    spans = [s for _, own in chosen for s in own]
    assert apply_module.apply("ab\n", spans) == "import x\nAB\n"


def test_atomic_write_keeps_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(b"old\n")
    path.chmod(0o751)
    write_atomic(str(path), b"old\n", b"new\n")
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert os.listdir(tmp_path) == ["model.py"]


def test_atomic_write_interrupted_leaves_the_old_file(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(b"old\n")

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(write_module.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(str(path), b"old\n", b"new\n")
    assert path.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["model.py"]


def test_atomic_write_refuses_a_file_changed_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(b"changed\n")
    with pytest.raises(FixError):
        write_atomic(str(path), b"old\n", b"new\n")
    assert path.read_bytes() == b"changed\n"


def test_atomic_write_follows_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real.py"
    real.write_bytes(b"old\n")
    link = tmp_path / "link.py"
    link.symlink_to(real)
    write_atomic(str(link), b"old\n", b"new\n")
    assert link.is_symlink()
    assert real.read_bytes() == b"new\n"


def test_decode_refuses_what_does_not_round_trip() -> None:
    with pytest.raises(FixError):
        decode(b"x = '\xff'\n")  # not UTF-8, no cookie
    assert decode(b"\xef\xbb\xbfx = 1\n").bom


# -- statement insertions keep the file's indentation and line endings ----------------------

PREDICT = ("import torch\nimport torch.nn as nn\n\ndef predict(x):\n"
           "\tmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\n"
           "\tmodel.load_state_dict(torch.load('w.pt'))\n"
           "\twith torch.no_grad():\n\t\treturn model(x)\n")


@pytest.mark.parametrize("eol", ["\r\n", "\r", "\n"])
def test_inserted_statement_uses_the_file_indentation_and_line_ending(eol: str) -> None:
    data = PREDICT.replace("\n", eol).encode()
    want = PREDICT.replace("\twith", "\tmodel.eval()\n\twith").replace("\n", eol).encode()
    assert fixed_bytes(data) == want


def test_inserted_statement_after_a_form_feed_line() -> None:
    data = PREDICT.replace("\twith", "\x0c\twith").encode()
    want = PREDICT.replace("\twith", "\x0c\tmodel.eval()\n\twith").encode()
    assert fixed_bytes(data) == want


def _build(source: bytes, change: Callable[[cst.Module], NodeFix]) -> Fix:
    module = cst.parse_module(source)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return FixBuilder(module, source, positions).build(change(module))


def test_insert_after_the_last_line_without_newline() -> None:
    source = b"import torch\r\nx = 1"
    fix = _build(source, lambda m: NodeFix("safe", "m", (InsertAfter(m.body[-1], ("y = 2",)),)))
    spans = apply_module.spans(LineIndex(source.decode()), fix.edits)
    assert apply_module.apply(source.decode(), spans) == "import torch\r\nx = 1\r\ny = 2"


def test_insert_after_a_compound_statement_with_a_comment() -> None:
    source = b"if a:\n    b = 1  # note\nc = 3\n"
    fix = _build(source, lambda m: NodeFix("safe", "m", (InsertAfter(m.body[0], ("d = 4",)),)))
    spans = apply_module.spans(LineIndex(source.decode()), fix.edits)
    assert apply_module.apply(source.decode(), spans) == "if a:\n    b = 1  # note\nd = 4\nc = 3\n"


def test_no_insertion_into_a_one_line_body() -> None:
    source = b"for x in y: f(x)\n"
    module = cst.parse_module(source)
    assert insert_at_top_of_body(module.body[0], "g()") is None


def test_replacement_that_changes_code_outside_the_node_is_refused() -> None:
    """Positions exclude a node's parentheses; a replacement that drops them would change
    text outside the reported range: refused rather than guessed."""
    source = b"x = (a)\n"

    def value(module: cst.Module) -> cst.Name:
        return module.body[0].body[0].value  # type: ignore[attr-defined, no-any-return]

    with pytest.raises(FixError):
        _build(source, lambda m: NodeFix("safe", "m", (Replace(value(m), cst.Name("b")),)))
    fix = _build(source, lambda m: NodeFix(
        "safe", "m", (Replace(value(m), value(m).with_changes(value="b")),)))
    assert fix.edits == (Edit(1, 6, 1, 7, "b"),)


# -- every example and fixture in the repository ---------------------------------------------

FIXTURE_FILES = sorted((FIXES.parent).rglob("*.py"))
EXAMPLES = [(rule.code, i, source) for rule in all_rules()
            for i, source in enumerate([*rule.INVALID, *rule.VALID])]


def _check_fix_is_sound(data: bytes) -> None:
    result = fix(data)
    assert result.skipped == [], result.skipped
    if result.fixed is None:
        return
    again = fix(result.fixed)
    assert again.fixed is None, "a second --fix changed the file"
    before = {f.code for f in lint_source("example.py", data, LintOptions(rules=list(all_rules())))}
    new_codes = {f.code for f in again.remaining} - before
    assert not new_codes, f"fixing introduced {new_codes}"


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: str(p.relative_to(FIXES.parent)))
def test_fixing_any_fixture_is_sound(path: Path) -> None:
    """Fixing any fixture (unsafe fixes included) passes every check, settles in one run and
    introduces no finding of a code that was not there."""
    _check_fix_is_sound(path.read_bytes())


@pytest.mark.parametrize(("code", "index", "source"), EXAMPLES,
                         ids=[f"{c}-{i}" for c, i, _ in EXAMPLES])
def test_fixing_any_rule_example_is_sound(code: str, index: int, source: str) -> None:
    _check_fix_is_sound(source.encode())


def test_fixes_that_never_settle_leave_the_file_unchanged(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Passes are bounded: a fix that always produces another fix is reported, not written."""
    from dropcheck.fix import run as run_module

    def endless(path: str, data: bytes, options: LintOptions) -> list[Finding]:
        return [Finding("DC006", "invalid-dropout-rate", path, 1, 1, 1, 2, "m",
                        fix=Fix("safe", "f", (Edit(1, 1, 1, 1, "x = 1\n"),)))]

    monkeypatch.setattr(run_module, "lint_source", endless)
    result = fix(b"y = 2\n")
    assert result.fixed is None and result.applied == []
    assert "did not settle after 10 passes" in result.skipped[0][1]


def test_fix_serializes_like_ruff_and_round_trips() -> None:
    fixed = fix(b"import torch.nn as nn\nd = nn.Dropout(True)\ne = nn.Dropout(2)\n", unsafe=False)
    with_fix, without = fixed.remaining
    data = with_fix.to_dict()
    assert data["fix"] == {
        "applicability": "unsafe",
        "message": "Pass `inplace=True` instead of the rate `True`",
        "edits": [{"content": "inplace=", "location": {"row": 2, "column": 16},
                   "end_location": {"row": 2, "column": 16}}],
    }
    assert without.to_dict()["fix"] is None
    assert Fix.from_dict(data["fix"]) == with_fix.fix
    assert with_fix.fix is not None and with_fix.fix.applies(unsafe_fixes=True)
    assert not with_fix.fix.applies(unsafe_fixes=False)


def test_import_goes_above_a_decorated_definition() -> None:
    data = (b'"""doc"""\nfrom __future__ import annotations\n\n\n@some.decorator\n'
            b"def sample(model, x):\n    model.train()\n    with torch.no_grad():\n"
            b"        return [model(x) for _ in range(8)]\n")
    want = (b'"""doc"""\nfrom __future__ import annotations\n'
            b"from torch.nn.modules.dropout import _DropoutNd\n\n\n@some.decorator\n"
            b"def sample(model, x):\n    model.eval()\n    for submodule in model.modules():\n"
            b"        if isinstance(submodule, _DropoutNd):\n            submodule.train()\n"
            b"    with torch.no_grad():\n        return [model(x) for _ in range(8)]\n")
    assert fixed_bytes(data) == want
