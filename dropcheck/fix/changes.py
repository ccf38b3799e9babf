"""Fixes as rules express them: LibCST node replacements and statement insertions. The engine
turns them into text edits (:class:`dropcheck.findings.Fix`) once positions are known, and only
for files where something was reported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import CodeRange

from dropcheck.findings import Applicability, Edit, Fix
from dropcheck.fix.source import NEWLINE, FixError, LineIndex, PositionMap, decode

#: What a new statement may be given as: a node, or code that parses as one statement.
NewStatement = cst.BaseStatement | str


@dataclass(frozen=True, eq=False)
class Replace:
    """Replace ``node`` by ``new`` (a node of the same kind, or code)."""

    node: cst.CSTNode
    new: cst.CSTNode | str


@dataclass(frozen=True, eq=False)
class InsertBefore:
    """Insert statements on their own lines before ``anchor``, at its indentation."""

    anchor: cst.BaseStatement
    statements: tuple[NewStatement, ...]


@dataclass(frozen=True, eq=False)
class InsertAfter:
    """Insert statements on their own lines after ``anchor``, at its indentation."""

    anchor: cst.BaseStatement
    statements: tuple[NewStatement, ...]


Change = Replace | InsertBefore | InsertAfter


@dataclass(frozen=True, eq=False)
class NodeFix:
    """A fix as a rule builds it; see :meth:`dropcheck.rules.base.Rule.report`."""

    applicability: Applicability
    message: str
    changes: tuple[Change, ...]


class FixBuilder:
    """Turns :class:`NodeFix` es into text edits for one parsed file."""

    def __init__(self, module: cst.Module, data: bytes,
                 positions: Mapping[cst.CSTNode, CodeRange]) -> None:
        self.module = module
        self.positions = positions
        self.text = decode(data).text
        self.lines = LineIndex(self.text)
        self.map = PositionMap(module.code, self.text)

    def build(self, fix: NodeFix) -> Fix:
        edits = tuple(self._edit(change) for change in fix.changes)
        if not edits:
            raise FixError("a fix without edits")
        return Fix(fix.applicability, fix.message, edits)

    # -- one change -> one edit ----------------------------------------------------------------
    def _edit(self, change: Change) -> Edit:
        if isinstance(change, Replace):
            return self._replace(change)
        if isinstance(change, InsertBefore):
            return self._insert_before(change)
        return self._insert_after(change)

    def _range(self, node: cst.CSTNode) -> tuple[tuple[int, int], tuple[int, int]]:
        where = self.positions.get(node)
        if where is None:
            raise FixError(f"no position for {type(node).__name__}")
        return (self.map.to_text(where.start.line, where.start.column),
                self.map.to_text(where.end.line, where.end.column))

    def _replace(self, change: Replace) -> Edit:
        (row, col), (end_row, end_col) = self._range(change.node)
        start = self.lines.offset(row, col)
        end = self.lines.offset(end_row, end_col)
        old = self.text[start:end]
        if isinstance(change.new, str):
            new = change.new
        else:
            # Render both nodes the same way, so that whitespace the nodes own compares equal,
            # then keep only what differs: edits stay small and rarely overlap.
            old_full = self.module.code_for_node(change.node)
            new_full = self.module.code_for_node(change.new)
            inner = old_full.find(old) if old else -1
            if inner < 0 or old_full.count(old) != 1:
                # A multi-line node inside an indented block renders without the block's
                # indentation on its own: render the whole module instead.
                return self._replace_in_module(change.node, change.new, start, end, row)
            prefix = inner
            suffix = len(old_full) - inner - len(old)
            if (new_full[:prefix] != old_full[:prefix]
                    or new_full[len(new_full) - suffix:] != old_full[len(old_full) - suffix:]):
                raise FixError("the replacement changes code outside the node")
            new = new_full[prefix:len(new_full) - suffix]
        common = _common_prefix(old, new)
        tail = _common_prefix(old[common:][::-1], new[common:][::-1])
        changed_old = old[common:len(old) - tail]
        changed_new = new[common:len(new) - tail]
        if changed_old == changed_new:
            raise FixError("the replacement changes nothing")
        a = self.lines.position(start + common)
        b = self.lines.position(start + common + len(changed_old))
        return Edit(a[0], a[1], b[0], b[1], self._newlines(changed_new, row))

    def _replace_in_module(self, node: cst.CSTNode, new_node: cst.CSTNode, start: int,
                           end: int, row: int) -> Edit:
        """Replace ``node`` by rendering the whole module with and without it (exact in any
        indentation context; costs a code generation, so only a fallback)."""
        code = self.module.code
        replaced = self.module.deep_replace(node, new_node)
        if not isinstance(replaced, cst.Module):
            raise FixError("the replacement did not give a module")
        new_code = replaced.code
        head = _common_prefix(code, new_code)
        limit = min(len(code), len(new_code)) - head
        tail = min(_common_prefix(code[::-1], new_code[::-1]), limit)
        where = self.positions[node]
        lines = self.map.code
        first = lines.offset(where.start.line, where.start.column + 1)
        last = lines.offset(where.end.line, where.end.column + 1)
        if head < first or len(code) - tail > last:
            raise FixError("the replacement changes code outside the node")
        a = self.map.to_text(*_zero_based(lines.position(head)))
        b = self.map.to_text(*_zero_based(lines.position(len(code) - tail)))
        text_start = self.lines.offset(*a)
        text_end = self.lines.offset(*b)
        if not start <= text_start <= text_end <= end or (
                self.text[text_start:text_end] != code[head:len(code) - tail]):
            raise FixError("cannot map the replacement onto the file")
        content = new_code[head:len(new_code) - tail]
        return Edit(a[0], a[1], b[0], b[1], self._newlines(content, row))

    def _start(self, statement: cst.BaseStatement) -> tuple[int, int]:
        """Where a statement starts: a decorated definition starts at its first decorator."""
        decorators = getattr(statement, "decorators", ())
        return self._range(decorators[0] if decorators else statement)[0]

    def _insert_before(self, change: InsertBefore) -> Edit:
        row, col = self._start(change.anchor)
        indent = self._indent(row, col)
        eol = self._eol(row)
        body = self._statements(change.statements, indent, eol)
        # The anchor's line keeps its own leading whitespace; the new lines come first on it.
        return Edit(row, col, row, col, body + eol + indent)

    def _insert_after(self, change: InsertAfter) -> Edit:
        _, (end_row, end_col) = self._range(change.anchor)
        row, col = self._start(change.anchor)
        indent = self._indent(row, col)
        rest = self.lines.line(end_row)[end_col - 1:]
        if rest.strip() and not rest.strip().startswith("#"):
            raise FixError("code follows the statement on its last line")
        eol = self._eol(end_row)
        body = self._statements(change.statements, indent, eol)
        if end_row < len(self.lines) and self.lines.eol(end_row):
            return Edit(end_row + 1, 1, end_row + 1, 1, indent + body + eol)
        # The statement ends the file without a line break.
        end = len(self.lines.line(end_row)) + 1
        return Edit(end_row, end, end_row, end, eol + indent + body)

    # -- helpers -------------------------------------------------------------------------------
    def _indent(self, row: int, col: int) -> str:
        prefix = self.lines.line(row)[: col - 1]
        if prefix.strip(" \t\x0c"):
            raise FixError("the statement does not start its line")
        return prefix.replace("\x0c", "")

    def _eol(self, row: int) -> str:
        """The line break to use near ``row``: its own, else the file's first one."""
        eol = self.lines.eol(row)
        if eol:
            return eol
        first = self.lines.eol(1)
        return first or self.module.default_newline

    def _statements(self, statements: tuple[NewStatement, ...], indent: str, eol: str) -> str:
        lines: list[str] = []
        for statement in statements:
            node = cst.parse_statement(statement) if isinstance(statement, str) else statement
            if getattr(node, "leading_lines", ()):
                node = node.with_changes(leading_lines=())
            code = self.module.code_for_node(node)
            lines.extend(NEWLINE.split(code.rstrip("\r\n")))
        if not lines:
            raise FixError("nothing to insert")
        return (eol + indent).join(lines)

    def _newlines(self, content: str, row: int) -> str:
        if "\n" not in content and "\r" not in content:
            return content
        eol = self._eol(row)
        return NEWLINE.sub(eol, content)


def _zero_based(position: tuple[int, int]) -> tuple[int, int]:
    """A LineIndex (row, 1-based column) as LibCST's (line, 0-based column)."""
    return position[0], position[1] - 1


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i

