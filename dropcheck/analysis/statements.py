"""Cheap walks over statements only (no expressions), for facts like imports and classes."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst


def child_blocks(stmt: cst.CSTNode) -> Iterator[cst.BaseSuite]:
    """The statement blocks directly inside a compound statement."""
    body = getattr(stmt, "body", None)
    if isinstance(body, cst.BaseSuite):
        yield body
    if isinstance(stmt, cst.If) and stmt.orelse is not None:
        if isinstance(stmt.orelse, cst.If):
            yield cst.IndentedBlock(body=[stmt.orelse])
        else:
            yield stmt.orelse.body
    elif isinstance(stmt, (cst.For, cst.While)) and stmt.orelse is not None:
        yield stmt.orelse.body
    elif isinstance(stmt, (cst.Try, cst.TryStar)):
        for handler in stmt.handlers:
            yield handler.body
        if stmt.orelse is not None:
            yield stmt.orelse.body
        if stmt.finalbody is not None:
            yield stmt.finalbody.body
    elif isinstance(stmt, cst.Match):
        for case in stmt.cases:
            yield case.body


def block_statements(block: cst.BaseSuite | cst.Module) -> list[cst.BaseStatement]:
    if isinstance(block, cst.Module):
        return list(block.body)
    if isinstance(block, cst.IndentedBlock):
        return list(block.body)
    # SimpleStatementSuite: `if x: a; b`
    assert isinstance(block, cst.SimpleStatementSuite)
    return [cst.SimpleStatementLine(body=block.body)]


def walk_statements(
    block: cst.BaseSuite | cst.Module, *, into_defs: bool = True
) -> Iterator[cst.BaseStatement]:
    """Every statement in ``block``, depth first, in source order."""
    for stmt in block_statements(block):
        yield stmt
        if not into_defs and isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            continue
        for child in child_blocks(stmt):
            yield from walk_statements(child, into_defs=into_defs)


def small_statements(stmt: cst.BaseStatement) -> list[cst.BaseSmallStatement]:
    if isinstance(stmt, cst.SimpleStatementLine):
        return list(stmt.body)
    return []
