"""Whether code is a test: a test file (``test_*.py``, ``*_test.py``, ``conftest.py``, or a file
under a ``tests``/``test`` folder), or a method of a ``Test*`` class or ``unittest.TestCase``
subclass.

Tests run models on purpose in whichever mode they test (shape checks under ``no_grad`` in
training mode, two models compared in the same mode, a training step on random data), so the
mode rules do not treat them as inference or training flows."""

from __future__ import annotations

import libcst as cst

from dropcheck.analysis.imports import dotted_name


def is_test_class(node: cst.ClassDef) -> bool:
    if node.name.value.startswith("Test"):
        return True
    return any((dotted_name(base.value) or "").endswith("TestCase") for base in node.bases)


def is_test_function(function: cst.FunctionDef, owner: cst.ClassDef | None) -> bool:
    """A method of a test class. (A ``test()`` function in a training script is its
    evaluation phase, not a test: outside test files, names alone decide nothing.)"""
    return owner is not None and is_test_class(owner)
