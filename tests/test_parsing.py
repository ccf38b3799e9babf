"""dropcheck's LibCST parse skips LibCST's re-validation of the parser's own nodes
(analysis/parsing.py): the same trees, and nodes built afterwards (the autofixes') are still
validated, also when threads parse at once (the editor server)."""

from __future__ import annotations

import threading
from pathlib import Path

import libcst as cst
import pytest

from dropcheck.analysis.parsing import parse_module

ROOT = Path(__file__).resolve().parent.parent


def test_same_trees_as_libcst() -> None:
    for path in sorted((ROOT / "dropcheck").rglob("*.py"))[:40]:
        data = path.read_bytes()
        ours, theirs = parse_module(data), cst.parse_module(data)
        assert ours.deep_equals(theirs), path
        assert ours.bytes == data


def test_nodes_built_after_a_parse_are_validated() -> None:
    parse_module("x = 1\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")
    with pytest.raises(cst.ParserSyntaxError):
        parse_module("def f(:\n")
    with pytest.raises(cst.CSTValidationError):  # also after a parse that raised
        cst.Name("not a name")


def test_threads_leave_validation_on() -> None:
    data = (ROOT / "dropcheck" / "analysis" / "sketch.py").read_bytes()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                parse_module(data)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")
