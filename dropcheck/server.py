"""``dropcheck server``: a language server (LSP over standard input and output) on pygls.

Imported only when that command runs: pygls and lsprotocol are the optional
``dropcheck[server]`` extra, and the linter's start-up never pays for them. Everything dropcheck
knows comes from the same places as the CLI's: ``editor.py`` lints a buffer as its file, with
that file's ``[tool.dropcheck]`` settings, and computes the code actions' edits; this module
only speaks the protocol: when to lint, and LSP's shapes for what comes back.

- Diagnostics on open and save at once, on change after :data:`DEBOUNCE` seconds without
  typing, and for every open buffer again when the configuration may have changed (a saved or
  watched ``pyproject.toml``, ``workspace/didChangeConfiguration``). Linting runs in one worker
  thread, so requests are answered meanwhile; a result for text that changed since is dropped.
- Notebook documents: the code cells are linted as one notebook (``notebook.py``), and each
  cell gets its own diagnostics.
- Code actions: a finding's fix (safe: the preferred quick fix; unsafe: labelled), ``# noqa``
  for its line, and ``source.fixAll.dropcheck`` (every safe fix, as ``--fix``).
- Hover on a finding: the rule's documentation, as ``dropcheck rule CODE`` prints it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from dropcheck import __version__
from dropcheck.config import ConfigError
from dropcheck.editor import (
    PYTHON_SUFFIXES,
    Linted,
    Projects,
    finding_range,
    fix_all,
    fix_edits,
    from_units,
    message,
    noqa_edit,
    notebook_bytes,
    path_of,
    to_bytes,
    to_units,
)
from dropcheck.engine import LintOptions
from dropcheck.findings import NOT_ANALYSED_CODE, Edit, Finding
from dropcheck.fix.source import LineIndex
from dropcheck.output.rules_info import rule_documentation
from dropcheck.suppression import UNUSED_NOQA_CODE

#: Seconds a changed buffer waits for more typing before it is linted.
DEBOUNCE = 0.3
FIX_ALL = "source.fixAll.dropcheck"
SOURCE = "dropcheck"
#: Files whose change may change any buffer's settings.
CONFIG_FILES = ("pyproject.toml", ".gitignore")


@dataclass
class Result:
    """What was last linted for one document that gets diagnostics (a file, or a notebook
    cell), and what it was linted as."""

    text: str
    findings: list[Finding]
    #: The buffer or notebook that was linted, and its state then (its version and text).
    owner: str
    key: object
    urls: dict[str, str] = field(default_factory=dict)
    path: str | None = None
    #: None for notebooks (they are not fixed) and files their settings exclude.
    options: LintOptions | None = None


Job = Callable[[], tuple[dict[str, Result], str | None]]


class DropcheckServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            SOURCE, __version__,
            # Whole texts: the engine reads all of it anyway, and no incremental edit can be
            # applied differently here than in the editor.
            text_document_sync_kind=lsp.TextDocumentSyncKind.Full,
            notebook_document_sync=lsp.NotebookDocumentSyncOptions(
                notebook_selector=[lsp.NotebookDocumentFilterWithCells(
                    notebook="*", cells=[lsp.NotebookCellLanguage(language="python")])],
                save=True),
        )
        self.projects = Projects()
        #: Open Python buffers and notebooks, by URI.
        self.documents: set[str] = set()
        self.notebooks: set[str] = set()
        #: The latest result per document with diagnostics (a buffer or a cell).
        self.results: dict[str, Result] = {}
        #: The cells each notebook last published diagnostics for.
        self.published: dict[str, list[str]] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}
        # One thread: lints run one at a time (the engine's per-file state), off the loop.
        self.linter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dropcheck-lint")
        self.shut_down = False
        self.shown_errors: set[str] = set()

    # -- what a document is --------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        """The position encoding agreed at initialisation: "utf-16" (the default), "utf-8" or
        "utf-32" (an enum member's value: its str() is its name)."""
        chosen = self.workspace.position_encoding or lsp.PositionEncodingKind.Utf16
        return str(getattr(chosen, "value", chosen))

    def is_python(self, uri: str, language: str | None) -> bool:
        path = path_of(uri)
        if path is not None and os.path.basename(path) in CONFIG_FILES:
            return False
        return language == "python" or (path or uri).endswith(PYTHON_SUFFIXES)

    def _path(self, uri: str, suffix: str) -> str:
        """The file a buffer is linted as: its own, or for a buffer never saved (``untitled:``)
        one in the workspace, so that the workspace's settings apply."""
        path = path_of(uri)
        if path is not None:
            return path
        root = self.projects.roots[-1] if self.projects.roots else os.getcwd()
        return os.path.join(root, f"untitled{suffix}")

    def owner_of(self, uri: str) -> str | None:
        if uri in self.documents:
            return uri
        notebook = self.workspace.get_notebook_document(cell_uri=uri)
        if notebook is not None and notebook.uri in self.notebooks:
            return notebook.uri
        return None

    def state(self, owner: str) -> object:
        """What a lint's result depends on, to tell a stale result (None once it is
        closed)."""
        if owner in self.notebooks:
            notebook = self.workspace.get_notebook_document(notebook_uri=owner)
            if notebook is None:
                return None
            return notebook.version, tuple(self._cell_text(cell.document)
                                           for cell in notebook.cells)
        if owner not in self.documents:
            return None  # (pygls would read a closed document from disk)
        document = self.workspace.get_text_document(owner)
        return document.version, document.source

    def _cell_text(self, uri: str) -> str:
        return self.workspace.get_text_document(uri).source

    # -- linting -------------------------------------------------------------------------------

    def job(self, owner: str) -> Job | None:
        """Read what to lint now (on the loop); the returned function lints it (in the worker
        thread) and gives the results per document and a configuration error, if any."""
        key = self.state(owner)
        projects = self.projects
        if owner in self.documents:
            text = self.workspace.get_text_document(owner).source
            path = self._path(owner, ".py")

            def lint_buffer() -> tuple[dict[str, Result], str | None]:
                linted, error = _lint(projects, path, to_bytes(text))
                return {owner: Result(text, linted.findings, owner, key, linted.urls, path,
                                      linted.options)}, error

            return lint_buffer
        notebook = self.workspace.get_notebook_document(notebook_uri=owner)
        if owner not in self.notebooks or notebook is None:
            return None
        cells: list[tuple[str, bool, str]] = []
        for cell in notebook.cells:
            document = self.workspace.get_text_document(cell.document)
            code = (cell.kind == lsp.NotebookCellKind.Code
                    and (document.language_id or "python") == "python")
            cells.append((cell.document, code, document.source))
        metadata = notebook.metadata if isinstance(notebook.metadata, dict) else None
        path = self._path(owner, ".ipynb")

        def lint_notebook() -> tuple[dict[str, Result], str | None]:
            data = notebook_bytes([(code, text) for _, code, text in cells], metadata)
            linted, error = _lint(projects, path, data)
            found: dict[str, list[Finding]] = {uri: [] for uri, _, _ in cells}
            for finding in linted.findings:
                # A finding without a cell (a notebook that is not valid at all) goes first.
                number = finding.cell if finding.cell is not None else 1
                if cells and 1 <= number <= len(cells):
                    found[cells[number - 1][0]].append(finding)
            return {uri: Result(text, found[uri], owner, key, linted.urls, path)
                    for uri, _, text in cells}, error

        return lint_notebook

    async def lint(self, owner: str) -> dict[str, Result]:
        """Lint one buffer or notebook and publish its diagnostics, unless it changed
        meanwhile (a newer lint is on its way then)."""
        run = self.job(owner)
        if run is None:
            return {}
        key = self.state(owner)
        results, error = await asyncio.get_running_loop().run_in_executor(self.linter, run)
        if error is not None and error not in self.shown_errors:
            self.shown_errors.add(error)  # once: not at every keystroke
            self.window_show_message(lsp.ShowMessageParams(
                type=lsp.MessageType.Error, message=f"dropcheck: {error}"))
        if self.state(owner) != key:
            return results
        self.results.update(results)
        for uri, result in results.items():
            self.publish(uri, result)
        if owner in self.notebooks:
            for gone in set(self.published.get(owner, ())) - set(results):
                self.results.pop(gone, None)
                self.publish(gone, None)
            self.published[owner] = list(results)
        return results

    def schedule(self, owner: str, delay: float = 0.0) -> None:
        """Lint ``owner`` after ``delay`` seconds, instead of any lint still waiting."""
        waiting = self.pending.pop(owner, None)
        if waiting is not None:
            waiting.cancel()

        async def later() -> None:
            if delay:
                await asyncio.sleep(delay)
            try:
                await self.lint(owner)
            except Exception:  # a bug must cost this lint, not the server
                self.window_log_message(lsp.LogMessageParams(
                    type=lsp.MessageType.Error,
                    message=f"dropcheck: linting {owner} failed:\n{traceback.format_exc()}"))

        task = asyncio.ensure_future(later())
        self.pending[owner] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self.pending.get(owner) is finished:
                del self.pending[owner]

        task.add_done_callback(done)

    def relint_all(self) -> None:
        self.shown_errors.clear()
        for owner in [*self.documents, *self.notebooks]:
            self.schedule(owner)

    def forget(self, owner: str) -> None:
        waiting = self.pending.pop(owner, None)
        if waiting is not None:
            waiting.cancel()
        for uri in self.published.pop(owner, [owner]):
            self.results.pop(uri, None)
            self.publish(uri, None)

    async def current(self, uri: str) -> Result | None:
        """The findings of ``uri`` for its text now (linted again if it changed)."""
        owner = self.owner_of(uri)
        if owner is None:
            return None
        result = self.results.get(uri)
        for _ in range(3):  # typing may go on while it is linted; a few tries, then give up
            if result is not None and result.key == self.state(owner):
                return result
            result = (await self.lint(owner)).get(uri)
        return None

    # -- LSP shapes ----------------------------------------------------------------------------

    def publish(self, uri: str, result: Result | None) -> None:
        diagnostics = [] if result is None else [
            self.diagnostic(LineIndex(result.text), finding, result.urls)
            for finding in result.findings]
        version = None
        if uri in self.documents:
            version = self.workspace.get_text_document(uri).version
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))

    def range(self, lines: LineIndex, row: int, column: int, end_row: int, end_column: int
              ) -> lsp.Range:
        def position(row: int, column: int) -> lsp.Position:
            line = lines.line(row) if 1 <= row <= len(lines) else ""
            return lsp.Position(line=row - 1,
                                character=to_units(line, column - 1, self.encoding))

        return lsp.Range(start=position(row, column), end=position(end_row, end_column))

    def point(self, lines: LineIndex, position: lsp.Position) -> tuple[int, int]:
        """A client's position as a (row, column) of the text, 1-based, clamped into it."""
        row = min(max(position.line + 1, 1), len(lines))
        return row, from_units(lines.line(row), position.character, self.encoding) + 1

    def diagnostic(self, lines: LineIndex, finding: Finding, urls: dict[str, str]
                   ) -> lsp.Diagnostic:
        url = urls.get(finding.code)
        return lsp.Diagnostic(
            range=self.range(lines, *finding_range(lines, finding)),
            message=message(finding),
            severity=lsp.DiagnosticSeverity.Error if finding.code == NOT_ANALYSED_CODE
            else lsp.DiagnosticSeverity.Warning,
            code=finding.code,
            code_description=lsp.CodeDescription(href=url) if url else None,
            source=SOURCE,
            tags=[lsp.DiagnosticTag.Unnecessary] if finding.code == UNUSED_NOQA_CODE else None,
        )

    def edit(self, uri: str, lines: LineIndex, edits: Sequence[Edit]) -> lsp.WorkspaceEdit:
        return lsp.WorkspaceEdit(changes={uri: [
            lsp.TextEdit(range=self.range(lines, e.row, e.column, e.end_row, e.end_column),
                         new_text=e.content) for e in edits]})

    async def code_actions(self, params: lsp.CodeActionParams) -> list[lsp.CodeAction] | None:
        uri = params.text_document.uri
        result = await self.current(uri)
        if result is None:
            return None
        lines = LineIndex(result.text)
        start = self.point(lines, params.range.start)
        end = self.point(lines, params.range.end)
        only = params.context.only
        actions: list[lsp.CodeAction] = []
        if _wanted(only, lsp.CodeActionKind.QuickFix):
            for finding in result.findings:
                where = finding_range(lines, finding)
                if (where[2], where[3]) < start or end < (where[0], where[1]):
                    continue
                actions.extend(self._quick_fixes(uri, lines, result, finding))
        fixable = any(f.fix is not None and f.fix.applicability == "safe"
                      for f in result.findings)
        if (_wanted(only, FIX_ALL) and fixable and result.options is not None
                and result.path is not None):
            change = await asyncio.get_running_loop().run_in_executor(
                self.linter, fix_all, result.path, result.text, result.options)
            if change is not None and self.state(result.owner) == result.key:
                actions.append(lsp.CodeAction(
                    title="dropcheck: fix all safe fixes", kind=FIX_ALL,
                    edit=self.edit(uri, lines, [change])))
        return actions

    def _quick_fixes(self, uri: str, lines: LineIndex, result: Result, finding: Finding
                     ) -> list[lsp.CodeAction]:
        found: list[lsp.CodeAction] = []
        diagnostic = self.diagnostic(lines, finding, result.urls)
        edits = fix_edits(result.text, finding)
        if edits is not None and finding.fix is not None:
            safe = finding.fix.applicability == "safe"
            title = f"{finding.code}: {finding.fix.message}" + ("" if safe else " (unsafe fix)")
            found.append(lsp.CodeAction(
                title=title, kind=lsp.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                is_preferred=safe, edit=self.edit(uri, lines, edits)))
        noqa = noqa_edit(result.text, finding)
        if noqa is not None:
            found.append(lsp.CodeAction(
                title=f"{finding.code}: add `# noqa: {finding.code}` to this line",
                kind=lsp.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                edit=self.edit(uri, lines, [noqa])))
        return found

    async def hover(self, params: lsp.HoverParams) -> lsp.Hover | None:
        result = await self.current(params.text_document.uri)
        if result is None:
            return None
        lines = LineIndex(result.text)
        point = self.point(lines, params.position)
        for finding in result.findings:
            where = finding_range(lines, finding)
            if (where[0], where[1]) <= point <= (where[2], where[3]):
                text = rule_documentation(finding.code)
                if text is not None:
                    return lsp.Hover(
                        contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
                        range=self.range(lines, *where))
        return None


def _lint(projects: Projects, path: str, data: bytes) -> tuple[Linted, str | None]:
    try:
        return projects.lint(path, data), None
    except ConfigError as error:
        return Linted([]), str(error)


def _wanted(only: Sequence[str] | None, kind: str) -> bool:
    """Whether a request for the kinds ``only`` (None: any) covers ``kind`` (hierarchical:
    ``source.fixAll`` covers ``source.fixAll.dropcheck``)."""
    return only is None or any(kind == str(k) or kind.startswith(f"{k}.") for k in only)


def _roots(params: lsp.InitializeParams) -> list[str]:
    uris = [folder.uri for folder in params.workspace_folders or ()]
    if not uris and params.root_uri:
        uris = [params.root_uri]
    roots = [path for uri in uris if (path := path_of(uri)) is not None]
    if not roots and params.root_path:
        roots = [params.root_path]
    return roots


def create_server() -> DropcheckServer:
    server = DropcheckServer()

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: DropcheckServer, params: lsp.InitializeParams) -> None:
        ls.projects = Projects(_roots(params))

    @server.feature(lsp.INITIALIZED)
    async def initialized(ls: DropcheckServer, params: lsp.InitializedParams) -> None:
        watched = ls.client_capabilities.workspace
        if (watched is not None and watched.did_change_watched_files is not None
                and watched.did_change_watched_files.dynamic_registration):
            # Settings come from these files; a client that watches them tells the server.
            await ls.client_register_capability_async(lsp.RegistrationParams(registrations=[
                lsp.Registration(
                    id="dropcheck-config", method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                    register_options=lsp.DidChangeWatchedFilesRegistrationOptions(watchers=[
                        lsp.FileSystemWatcher(glob_pattern=f"**/{name}")
                        for name in CONFIG_FILES]))]))

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: DropcheckServer, params: lsp.DidOpenTextDocumentParams) -> None:
        document = params.text_document
        if ls.is_python(document.uri, document.language_id):
            ls.documents.add(document.uri)
            ls.schedule(document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DropcheckServer, params: lsp.DidChangeTextDocumentParams) -> None:
        if params.text_document.uri in ls.documents:
            ls.schedule(params.text_document.uri, DEBOUNCE)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: DropcheckServer, params: lsp.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        path = path_of(uri)
        if path is not None and os.path.basename(path) in CONFIG_FILES:
            ls.relint_all()
        elif uri in ls.documents:
            ls.schedule(uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DropcheckServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri in ls.documents:
            ls.documents.discard(uri)
            ls.forget(uri)

    @server.feature(lsp.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_open(ls: DropcheckServer, params: lsp.DidOpenNotebookDocumentParams) -> None:
        ls.notebooks.add(params.notebook_document.uri)
        ls.schedule(params.notebook_document.uri)

    @server.feature(lsp.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_change(ls: DropcheckServer, params: lsp.DidChangeNotebookDocumentParams
                        ) -> None:
        if params.notebook_document.uri in ls.notebooks:
            ls.schedule(params.notebook_document.uri, DEBOUNCE)

    @server.feature(lsp.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_save(ls: DropcheckServer, params: lsp.DidSaveNotebookDocumentParams) -> None:
        if params.notebook_document.uri in ls.notebooks:
            ls.schedule(params.notebook_document.uri)

    @server.feature(lsp.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_close(ls: DropcheckServer, params: lsp.DidCloseNotebookDocumentParams
                       ) -> None:
        uri = params.notebook_document.uri
        if uri in ls.notebooks:
            ls.notebooks.discard(uri)
            ls.forget(uri)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def configuration(ls: DropcheckServer, params: lsp.DidChangeConfigurationParams) -> None:
        ls.relint_all()  # the settings live in pyproject.toml: read them again

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched(ls: DropcheckServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        ls.relint_all()

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def folders(ls: DropcheckServer, params: lsp.DidChangeWorkspaceFoldersParams) -> None:
        ls.projects = Projects([path for folder in ls.workspace.folders.values()
                                if (path := path_of(folder.uri)) is not None])
        ls.relint_all()

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionOptions(
        code_action_kinds=[lsp.CodeActionKind.QuickFix, FIX_ALL]))
    async def code_action(ls: DropcheckServer, params: lsp.CodeActionParams
                          ) -> list[lsp.CodeAction] | None:
        return await ls.code_actions(params)

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    async def hover(ls: DropcheckServer, params: lsp.HoverParams) -> lsp.Hover | None:
        return await ls.hover(params)

    @server.feature(lsp.SHUTDOWN)
    def shutdown(ls: DropcheckServer, params: None) -> None:
        ls.shut_down = True
        for waiting in ls.pending.values():
            waiting.cancel()

    return server


def serve() -> int:
    """Run the server on standard input and output until the client says exit; the exit
    status is 0 after a shutdown request, else 1 (as the protocol asks)."""
    server = create_server()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must not corrupt the protocol stream
    server.start_io(stdin, stdout)
    server.linter.shutdown(wait=False, cancel_futures=True)
    return 0 if server.shut_down else 1
