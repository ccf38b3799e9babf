"""Jupyter notebooks: the code cells, in order, linted as one program.

A model built in cell 2 and run in cell 5 is one flow, so the cells are concatenated (each on
its own lines) and linted once. IPython syntax that is not Python (``%magic``, ``!shell``,
``x = !cmd``, ``obj?``, ``ls /path`` and other magics without ``%``, non-Python ``%%cell``
magics) is neutralised line for line — replaced by
``pass``/``None`` or blanked — so every other line keeps its number and columns. Findings are
mapped back to ``cell`` (the cell's 1-based position in the notebook, counting markdown cells as
Jupyter front ends do) and a line relative to that cell.

Like IPython, a cell whose first line is indented loses that indentation on every line before it
runs (findings map back to the cell's own columns). Each cell must compile on its own, as it
does when IPython runs it: a cell that does not (an exercise's `x = # TODO`) is reported as one
DC000 at that cell and blanked, and the rest of the notebook is still linted.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dropcheck.findings import Finding, not_analysed

if TYPE_CHECKING:
    from dropcheck.engine import LintOptions

#: Cell magics whose body is ordinary Python (the magic line itself is neutralised).
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "pypy"})

#: IPython's default aliases and the line magics notebooks call without ``%`` (automagic):
#: ``ls /content/checkpoints/``, ``cd data``, ``pip install timm``.
AUTOMAGICS = frozenset({
    "ls", "ll", "lf", "lk", "lx", "ldir", "cat", "cp", "mv", "rm", "rmdir", "mkdir", "cd", "pwd",
    "pip", "conda", "env", "clear", "less", "more", "man", "pushd", "popd", "dhist", "bookmark",
    "who", "whos", "reset", "store", "matplotlib", "load_ext", "reload_ext", "autoreload",
    "run", "history", "sx", "system", "tb", "xmode", "pinfo", "pdoc", "pdef", "psearch",
})

#: What IPython's assignment check lets through as Python before automagic applies.
_NOT_AUTOMAGIC = re.compile(r"[=,]")

_LINE_END = re.compile(r"\r\n|\r|\n")
_ASSIGN_MAGIC = re.compile(
    r"^(?P<indent>\s*)(?P<target>[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*[%!]"
)


class NotebookError(ValueError):
    pass


@dataclass(frozen=True)
class Cell:
    number: int  # 1-based position among all cells of the notebook
    source: str


@dataclass(frozen=True)
class Program:
    source: str
    #: ``lines[i]`` is (cell number, 1-based line in that cell) of program line ``i + 1``.
    lines: tuple[tuple[int, int], ...]
    #: Columns removed from the start of each program line (a dedented cell's indentation).
    offsets: tuple[int, ...] = ()
    #: Cells that do not compile on their own (blanked in ``source``): their DC000 findings.
    broken: tuple[tuple[Cell, SyntaxError], ...] = ()


def code_cells(data: bytes) -> list[Cell] | None:
    """The code cells of a notebook file; None when it is not a Python notebook.

    Raises NotebookError for what is not a valid notebook."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise NotebookError(f"cannot decode the notebook as UTF-8 (byte {error.start})") from None
    except (ValueError, RecursionError) as error:
        raise NotebookError(f"not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise NotebookError("not a Jupyter notebook (no list of cells)")
    if not _is_python(document.get("metadata")):
        return None
    cells: list[Cell] = []
    for number, cell in enumerate(document["cells"], start=1):
        if not isinstance(cell, dict):
            raise NotebookError(f"cell {number} is not an object")
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(f"cell {number}: source is neither a string nor a list of them")
        cells.append(Cell(number, source))
    return cells


def _is_python(metadata: Any) -> bool:
    if not isinstance(metadata, dict):
        return True
    for key, field in (("language_info", "name"), ("kernelspec", "language")):
        info = metadata.get(key)
        if isinstance(info, dict) and isinstance(info.get(field), str):
            return info[field].lower() in ("python", "python3", "ipython", "ipython3")
    return True


def _scan(line: str, state: tuple[int, str | None]) -> tuple[int, str | None]:
    """Bracket depth and open triple-quote string after ``line`` (enough to know whether the
    next line starts a new logical line)."""
    depth, quote = state
    i, n = 0, len(line)
    while i < n:
        if quote is not None:
            if line.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
            i += 2 if line[i] == "\\" else 1
            continue
        c = line[i]
        if c == "#":
            break
        if c in "\"'":
            triple = line[i : i + 3]
            if triple in ('"""', "'''"):
                quote = triple
                i += 3
                continue
            end = i + 1
            while end < n and line[end] != c:
                end += 2 if line[end] == "\\" else 1
            i = end + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(depth - 1, 0)
        i += 1
    return depth, quote


def cell_source_lines(source: str) -> list[str]:
    """A cell's lines as Python counts them: split at ``\r\n``, ``\r``, ``\n`` only (not at
    form feeds or other characters ``str.splitlines`` breaks at), no empty last line."""
    lines = _LINE_END.split(source)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def neutralise(source: str) -> list[str]:
    """The cell's lines with IPython-only syntax replaced; same number of lines."""
    lines = cell_source_lines(source)
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("%%"):
        magic = first[2:].split(maxsplit=1)[0] if len(first) > 2 else ""
        if magic not in PYTHON_CELL_MAGICS:
            return [""] * len(lines)  # %%bash, %%writefile, %%html...: not Python at all
    out: list[str] = []
    state: tuple[int, str | None] = (0, None)
    continued = False  # the previous line was an escaped line ending in a backslash
    for line in lines:
        starts_logical = state == (0, None) and not continued
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if continued:
            out.append("")
            continued = stripped.endswith("\\")
            continue
        if starts_logical and stripped.startswith(("%", "!", "?")):
            out.append(f"{indent}pass")
            continued = stripped.endswith("\\")
            continue
        if starts_logical and _ASSIGN_MAGIC.match(line):
            match = _ASSIGN_MAGIC.match(line)
            assert match is not None
            out.append(f"{match['indent']}{match['target']} = None")
            continued = stripped.endswith("\\")
            continue
        if starts_logical and _is_help(stripped):
            out.append(f"{indent}pass")  # `obj?` / `obj??` help
            continue
        if starts_logical and _is_automagic(stripped):
            out.append(f"{indent}pass")
            continued = stripped.endswith("\\")
            continue
        out.append(line)
        state = _scan(line, state)
    return out


def _is_automagic(stripped: str) -> bool:
    """``ls /content/checkpoints/``: a line IPython runs as a magic without its ``%`` (its
    first word is a default alias or magic), which is not Python on its own. A line that is
    Python (``cat = 3``, ``run(model)``) is left alone, as IPython leaves a shadowed name."""
    word = stripped.split(maxsplit=1)[0] if stripped else ""
    if word not in AUTOMAGICS:
        return False
    rest = stripped[len(word):]
    if rest[:1] and not rest[:1].isspace():
        return False  # `run(model)`, `env.step(a)`
    # IPython's own exclusion: an assignment after the name is Python (`system =
    # System(model,` opens a statement that goes on below)
    if _NOT_AUTOMAGIC.match(rest.lstrip()):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(stripped)
    except SyntaxError:
        return True
    except (ValueError, RecursionError, MemoryError):
        return False
    return False


def _is_help(stripped: str) -> bool:
    if "'" in stripped or '"' in stripped:
        return False  # a `?` in a string is just text
    return stripped.split("#", 1)[0].rstrip().endswith("?")


def dedent(lines: list[str]) -> tuple[list[str], int]:
    """IPython's ``leading_indent``: the first non-blank line's indentation, removed from every
    line that starts with it; and how many columns that was."""
    first = next((line for line in lines if line.strip()), "")
    indent = first[: len(first) - len(first.lstrip(" \t"))]
    if not indent:
        return lines, 0
    return [line[len(indent):] if line.startswith(indent) else line for line in lines], len(indent)


def _cell_error(lines: list[str]) -> SyntaxError | None:
    """The error CPython raises for a cell compiled on its own (None: it compiles)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse("\n".join(lines) + "\n")
    except SyntaxError as error:
        return error
    except (ValueError, RecursionError, MemoryError):
        return None  # the engine reports what its own parse makes of it
    return None


def to_program(cells: Sequence[Cell]) -> Program:
    text: list[str] = []
    lines: list[tuple[int, int]] = []
    offsets: list[int] = []
    broken: list[tuple[Cell, SyntaxError]] = []
    for cell in cells:
        cell_lines, offset = dedent(neutralise(cell.source))
        error = _cell_error(cell_lines)
        if error is not None:
            broken.append((cell, error))
            cell_lines = [""] * len(cell_lines)
        for number, line in enumerate(cell_lines, start=1):
            text.append(line)
            lines.append((cell.number, number))
            offsets.append(0 if error is not None else offset)
    return Program("\n".join(text) + ("\n" if text else ""), tuple(lines), tuple(offsets),
                   tuple(broken))


def map_finding(finding: Finding, program: Program) -> Finding:
    """A finding on the program, moved to its cell and cell-relative lines."""
    if not program.lines:
        return replace(finding, cell=None, fix=None)
    index = min(max(finding.line, 1), len(program.lines)) - 1
    cell, line = program.lines[index]
    end_index = min(max(finding.end_line, 1), len(program.lines)) - 1
    end_cell, end_line = program.lines[end_index]
    offset = program.offsets[index] if program.offsets else 0
    column = finding.column + offset
    if end_cell != cell:  # never spans cells in practice; keep the range inside the cell
        end_line, end_column = line, column
    else:
        end_offset = program.offsets[end_index] if program.offsets else 0
        end_column = finding.end_column + end_offset
    # A fix's edits are in program coordinates, and notebooks are not fixed: drop it.
    return replace(finding, cell=cell, line=line, column=column, end_line=end_line,
                   end_column=end_column, fix=None)


def lint_notebook(path: str, data: bytes, options: LintOptions) -> list[Finding]:
    """Lint a notebook's code cells as one program; a broken notebook is one DC000."""
    from dropcheck.engine import lint_source  # the engine imports this module

    try:
        cells = code_cells(data)
    except NotebookError as error:
        return [not_analysed(path, f"not a valid notebook: {error}")]
    if not cells:
        return []
    program = to_program(cells)
    findings = [map_finding(f, program)
                for f in lint_source(path, program.source.encode("utf-8"), options)]
    for cell, problem in program.broken:
        line = min(max(problem.lineno or 1, 1), max(len(cell_source_lines(cell.source)), 1))
        finding = not_analysed(path, f"syntax error: {problem.msg}", line,
                               max(problem.offset or 1, 1))
        findings.append(replace(finding, cell=cell.number, message=finding.message.replace(
            "file not analysed", f"cell {cell.number} not analysed (the other cells are)")))
    return sorted(findings, key=lambda f: f.sort_key)


def cell_lines(path: str, cell: int, data: bytes | None = None) -> list[str] | None:
    """The source lines of one cell (for excerpts in the text output), from ``data`` when
    given (standard input) or the file; None if unreadable."""
    try:
        if data is None:
            with open(path, "rb") as handle:
                data = handle.read()
        cells = code_cells(data)
    except (OSError, NotebookError):
        return None
    for found in cells or ():
        if found.number == cell:
            return cell_source_lines(found.source)
    return None
