"""Issue 15, part 2: `dropcheck server`, driven end to end by a real LSP client (pygls's) over
the real server process's standard input and output.

Nothing here waits a fixed time: each step waits (with a generous limit) for the notification
it expects, identified by the document version it answers or by the change that causes it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

# Part of the test extras (as the `server` extra's packages): missing, the suite fails here.
from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from tests.conftest import _dropcheck_command, write

#: Seconds any one expected message may take on a busy machine (never a sleep).
TIMEOUT = 90.0

#: DC006 (unsafe fix) on line 8; DC005 (safe fix) on lines 11 and 12.
SOURCE = """\
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(True)

    def forward(self, x):
        x = F.dropout(x, 0.1)
        return F.dropout(x, 0.2)
"""

T = TypeVar("T")


def run(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(asyncio.wait_for(body(), 6 * TIMEOUT))


def uri_of(path: Path | bytes) -> str:
    raw = bytes(path) if isinstance(path, bytes) else os.fsencode(path)
    return "file://" + quote(raw)


class Session(LanguageClient):
    """pygls's client, with what the server sent kept for the test to wait on."""

    def __init__(self) -> None:
        super().__init__("dropcheck-tests", "1")
        self.published: dict[str, list[Any]] = {}
        self.messages: list[str] = []
        self.registrations: list[Any] = []
        self.changed = asyncio.Condition()
        self.returncode: int | None = None
        self.stderr = b""
        self.capabilities: Any = None

        @self.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        async def diagnostics(params: Any) -> None:
            async with self.changed:
                self.published.setdefault(params.uri, []).append(params)
                self.changed.notify_all()

        @self.feature(lsp.WINDOW_SHOW_MESSAGE)
        def show(params: Any) -> None:
            self.messages.append(params.message)

        @self.feature(lsp.WINDOW_LOG_MESSAGE)
        def log(params: Any) -> None:
            self.messages.append(params.message)

        @self.feature(lsp.CLIENT_REGISTER_CAPABILITY)
        def register(params: Any) -> None:
            self.registrations.extend(params.registrations)

    async def server_exit(self, server: asyncio.subprocess.Process) -> None:
        self.returncode = server.returncode
        if server.stderr is not None:
            self.stderr = await server.stderr.read()
        async with self.changed:
            self.changed.notify_all()

    async def begin(self, root: Path, *, notebooks: bool = False, watch: bool = False,
                    utf8: bool = False) -> Any:
        await self.start_io(*_dropcheck_command(), "server", cwd=root)
        capabilities = lsp.ClientCapabilities(
            general=lsp.GeneralClientCapabilities(
                position_encodings=[lsp.PositionEncodingKind.Utf8]) if utf8 else None,
            workspace=lsp.WorkspaceClientCapabilities(
                did_change_watched_files=lsp.DidChangeWatchedFilesClientCapabilities(
                    dynamic_registration=True)) if watch else None,
            notebook_document=lsp.NotebookDocumentClientCapabilities(
                synchronization=lsp.NotebookDocumentSyncClientCapabilities())
            if notebooks else None)
        result = await asyncio.wait_for(self.initialize_async(lsp.InitializeParams(
            capabilities=capabilities, process_id=os.getpid(),
            workspace_folders=[lsp.WorkspaceFolder(uri=uri_of(root), name="root")])), TIMEOUT)
        self.initialized(lsp.InitializedParams())
        self.capabilities = result.capabilities
        return result

    async def wait_for(self, uri: str, what: str, test: Callable[[Any], bool],
                       after: int = 0) -> Any:
        """The first diagnostics for ``uri`` after the first ``after`` that pass ``test``."""
        def found() -> Any:
            return next((p for p in self.published.get(uri, [])[after:] if test(p)), None)

        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(
                    lambda: found() is not None or self.returncode is not None), TIMEOUT)
            except TimeoutError:
                pytest.fail(f"no diagnostics for {uri} ({what}) in {TIMEOUT} s; got "
                            f"{self.published.get(uri)}; messages {self.messages}")
        assert found() is not None, f"the server exited ({self.returncode}): {self.stderr!r}"
        return found()

    async def for_version(self, uri: str, version: int) -> Any:
        return await self.wait_for(uri, f"version {version}", lambda p: p.version == version)

    def count(self, uri: str) -> int:
        return len(self.published.get(uri, []))

    async def end(self, *, shutdown: bool = True) -> int:
        """Shut down (unless told not to) and exit; the server process's exit status."""
        if shutdown:
            await asyncio.wait_for(self.shutdown_async(None), TIMEOUT)
        self.exit(None)
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: self.returncode is not None),
                                   TIMEOUT)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        # After a failed test only: pygls's client keeps the process private.
        process = self._server
        if process is not None and process.returncode is None:
            process.kill()


async def session(root: Path, body: Callable[[Session], Coroutine[Any, Any, T]],
                  **options: bool) -> T:
    client = Session()
    try:
        await client.begin(root, **options)
        return await body(client)
    finally:
        client.kill()
        await client.stop()


def codes(params: Any) -> list[tuple[str, int]]:
    return sorted((d.code, d.range.start.line + 1) for d in params.diagnostics)


def apply_edits(text: str, edits: Sequence[Any]) -> str:
    """A client applying TextEdits (UTF-16 positions, the protocol's default)."""
    lines = [*text.splitlines(keepends=True), ""]

    def offset(position: Any) -> int:
        line = lines[position.line]
        units = 0
        for index, char in enumerate(line):
            if units >= position.character:
                return sum(map(len, lines[:position.line])) + index
            units += len(char.encode("utf-16-le")) // 2
        return sum(map(len, lines[:position.line])) + len(line.rstrip("\r\n"))

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character),
                       reverse=True):
        text = text[:offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
    return text


def changes(action: Any, uri: str) -> list[Any]:
    assert action.edit is not None and set(action.edit.changes) == {uri}
    return list(action.edit.changes[uri])


def at(line: int, character: int) -> Any:
    """An empty range (a cursor) at a 1-based line and 0-based character."""
    return lsp.Range(start=lsp.Position(line=line - 1, character=character),
                     end=lsp.Position(line=line - 1, character=character))


def open_file(client: Session, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        text_document=lsp.TextDocumentItem(uri=uri, language_id="python", version=version,
                                           text=text)))


def change(client: Session, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)]))


async def actions(client: Session, uri: str, where: Any, only: list[str] | None = None
                  ) -> list[Any]:
    found = await asyncio.wait_for(client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), range=where,
        context=lsp.CodeActionContext(diagnostics=[], only=only))), TIMEOUT)
    return list(found or [])


def cli_json(root: Path, name: str) -> list[dict[str, Any]]:
    result = subprocess.run([*_dropcheck_command(), "--no-cache", "--format", "json", name],
                            cwd=root, capture_output=True, timeout=120)
    return list(json.loads(result.stdout))


def test_diagnostics_fixes_noqa_hover_and_a_syntax_error_mid_typing(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml",
          '[tool.dropcheck]\ndocs-url = "https://docs.example.org/dropcheck/rules"\n')
    path = write(tmp_path / "model.py", SOURCE)
    uri = uri_of(path)
    documentation = subprocess.run([*_dropcheck_command(), "rule", "DC006"], capture_output=True,
                                   text=True, timeout=120).stdout
    urls = {f["code"]: f["url"] for f in cli_json(tmp_path, "model.py")}

    async def body(client: Session) -> int:
        open_file(client, uri, SOURCE)
        first = await client.for_version(uri, 1)
        assert codes(first) == [("DC005", 11), ("DC005", 12), ("DC006", 8)]
        for diagnostic in first.diagnostics:
            assert diagnostic.source == "dropcheck"
            assert diagnostic.severity == lsp.DiagnosticSeverity.Warning
            # The page the JSON output links, under the project's docs-url.
            assert diagnostic.code_description.href == urls[diagnostic.code] == (
                f"https://docs.example.org/dropcheck/rules/{diagnostic.code}.md")
        dc005 = next(d for d in first.diagnostics if d.range.start.line == 10)
        assert (dc005.range.start.character, dc005.range.end.character) == (12, 29)

        # The safe fix is the preferred quick fix; applying it removes that finding only.
        found = await actions(client, uri, at(11, 16))
        fix = next(a for a in found if a.is_preferred)
        assert fix.kind == lsp.CodeActionKind.QuickFix and fix.title.startswith("DC005: ")
        assert [d.code for d in fix.diagnostics] == ["DC005"]
        assert any(a.title == "DC005: add `# noqa: DC005` to this line" for a in found)
        text = apply_edits(SOURCE, changes(fix, uri))
        assert "x = F.dropout(x, 0.1, training=self.training)\n" in text
        change(client, uri, text, 2)
        assert codes(await client.for_version(uri, 2)) == [("DC005", 12), ("DC006", 8)]

        # Fix all (as editors ask on save: only source.fixAll): every safe fix.
        [fix_all] = await actions(client, uri, at(1, 0), only=["source.fixAll"])
        assert fix_all.kind == "source.fixAll.dropcheck"
        text = apply_edits(text, changes(fix_all, uri))
        assert "return F.dropout(x, 0.2, training=self.training)\n" in text
        change(client, uri, text, 3)
        assert codes(await client.for_version(uri, 3)) == [("DC006", 8)]

        # Hover on the finding: the rule's documentation, as `dropcheck rule DC006` prints.
        hover = await asyncio.wait_for(client.text_document_hover_async(lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line=7, character=24))), TIMEOUT)
        assert hover.contents.kind == lsp.MarkupKind.Markdown
        assert hover.contents.value == documentation.rstrip("\n")
        assert hover.contents.value.startswith("# invalid-dropout-rate (DC006)\n")
        assert await asyncio.wait_for(client.text_document_hover_async(lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line=0, character=3))), TIMEOUT) is None

        # The unsafe fix is offered, labelled and not preferred; the noqa action silences it.
        found = await actions(client, uri, at(8, 20), only=[lsp.CodeActionKind.QuickFix])
        unsafe = next(a for a in found if a.title.endswith("(unsafe fix)"))
        assert not unsafe.is_preferred and unsafe.title.startswith("DC006: ")
        assert await actions(client, uri, at(8, 20), only=["source.fixAll"]) == []
        noqa = next(a for a in found if "noqa" in a.title)
        text = apply_edits(text, changes(noqa, uri))
        assert "self.drop = nn.Dropout(True)  # noqa: DC006\n" in text
        change(client, uri, text, 4)
        assert codes(await client.for_version(uri, 4)) == []

        # Typing half a line: a syntax error (DC000, an Error), then fine again; quick edits
        # in a row are linted once the typing stops, for the newest text.
        broken = text.replace("    def forward(self, x):", "    def forward(self, x:")
        change(client, uri, broken.replace("x:", "x"), 5)
        change(client, uri, broken, 6)
        error = await client.for_version(uri, 6)
        assert [(d.code, d.severity) for d in error.diagnostics] == [
            ("DC000", lsp.DiagnosticSeverity.Error)]
        assert "syntax error" in error.diagnostics[0].message
        change(client, uri, text, 7)
        assert codes(await client.for_version(uri, 7)) == []
        return await client.end()

    assert run(lambda: session(tmp_path, body)) == 0


def test_settings_resolve_per_file_and_follow_configuration_changes(tmp_path: Path) -> None:
    source = "import torch.nn as nn\nlayer = nn.Dropout(p=1.5)\n"
    write(tmp_path / "pyproject.toml", "[tool.dropcheck]\nselect = ['DC006']\n")
    nested = write(tmp_path / "pkg" / "pyproject.toml",
                   "[tool.dropcheck]\nselect = ['DC006']\nignore = ['DC006']\n")
    top = uri_of(write(tmp_path / "top.py", source))
    inner = uri_of(write(tmp_path / "pkg" / "inner.py", source))
    skipped = uri_of(write(tmp_path / "build" / "gen.py", source))  # excluded by default

    async def body(client: Session) -> int:
        for uri in (top, inner, skipped):
            open_file(client, uri, source)
        assert codes(await client.for_version(top, 1)) == [("DC006", 2)]
        assert codes(await client.for_version(inner, 1)) == []  # its own pyproject.toml ignores it
        assert codes(await client.for_version(skipped, 1)) == []
        # The client watches files: the server asked it (at `initialized`, before any lint)
        # to report changes to the files settings come from.
        assert any(r.method == lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES
                   and "**/pyproject.toml" in [w["globPattern"]  # LSPAny: plain JSON
                                               for w in r.register_options["watchers"]]
                   for r in client.registrations)

        # The nested project stops ignoring DC006: a watched-file event re-lints everything.
        seen = client.count(inner)
        write(nested, "[tool.dropcheck]\nselect = ['DC006']\n")
        client.workspace_did_change_watched_files(lsp.DidChangeWatchedFilesParams(changes=[
            lsp.FileEvent(uri=uri_of(nested), type=lsp.FileChangeType.Changed)]))
        found = await client.wait_for(inner, "DC006 after the config change",
                                      lambda p: bool(p.diagnostics), after=seen)
        assert codes(found) == [("DC006", 2)]

        # The top project ignores it; didChangeConfiguration reads the settings again too.
        seen = client.count(top)
        write(tmp_path / "pyproject.toml", "[tool.dropcheck]\nignore = ['DC006']\n")
        client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
            settings=None))
        await client.wait_for(top, "no DC006", lambda p: not p.diagnostics, after=seen)

        # An invalid configuration is said once, and linting goes on when it is repaired.
        seen = client.count(top)
        write(tmp_path / "pyproject.toml", "[tool.dropcheck]\nselect = ['DC9']\n")
        client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
            settings=None))
        await client.wait_for(top, "cleared", lambda p: True, after=seen)
        assert any("[tool.dropcheck] select" in m for m in client.messages), client.messages
        # Repaired in the editor: saving pyproject.toml re-lints too (no watcher needed).
        seen = client.count(top)
        config = write(tmp_path / "pyproject.toml", "[tool.dropcheck]\nselect = ['DC006']\n")
        client.text_document_did_save(lsp.DidSaveTextDocumentParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri_of(config))))
        found = await client.wait_for(top, "DC006 again", lambda p: bool(p.diagnostics),
                                      after=seen)
        assert codes(found) == [("DC006", 2)]
        return await client.end()

    assert run(lambda: session(tmp_path, body, watch=True)) == 0


def test_notebook_documents_get_diagnostics_per_cell(tmp_path: Path) -> None:
    notebook = uri_of(tmp_path / "explore.ipynb")
    cells = [f"vscode-notebook-cell://{tmp_path}/explore.ipynb#cell{i}" for i in range(4)]
    texts = ["%matplotlib inline\nimport torch.nn as nn\nimport torch.nn.functional as F\n",
             "# Notes\nNot *Python*.\n",
             "class Block(nn.Module):\n    def forward(self, x):\n"
             "        return F.dropout(x, 0.1)\n",
             'note = "é😀"; layer = nn.Dropout(p=1.5)\n']
    kinds = [lsp.NotebookCellKind.Code, lsp.NotebookCellKind.Markup, lsp.NotebookCellKind.Code,
             lsp.NotebookCellKind.Code]

    async def body(client: Session) -> int:
        client.notebook_document_did_open(lsp.DidOpenNotebookDocumentParams(
            notebook_document=lsp.NotebookDocument(
                uri=notebook, notebook_type="jupyter-notebook", version=1,
                cells=[lsp.NotebookCell(kind=k, document=c)
                       for k, c in zip(kinds, cells, strict=True)]),
            cell_text_documents=[
                lsp.TextDocumentItem(
                    uri=c, language_id="markdown" if k == lsp.NotebookCellKind.Markup
                    else "python", version=1, text=t)
                for c, k, t in zip(cells, kinds, texts, strict=True)]))
        third = await client.wait_for(cells[2], "DC005", lambda p: True)
        assert codes(third) == [("DC005", 3)]  # the cell's own line
        assert (third.diagnostics[0].range.start.character, third.diagnostics[0].range.end.
                character) == (15, 32)
        fourth = await client.wait_for(cells[3], "DC006", lambda p: True)
        assert codes(fourth) == [("DC006", 1)]
        # Columns in UTF-16 code units, the protocol's default: the emoji counts two.
        assert fourth.diagnostics[0].range.start.character == len('note = "é😀"; layer = ') + 1
        assert codes(await client.wait_for(cells[0], "clean", lambda p: True)) == []

        # Hover and the noqa action work on a cell; the edit changes that cell's text.
        hover = await asyncio.wait_for(client.text_document_hover_async(lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=cells[2]),
            position=lsp.Position(line=2, character=20))), TIMEOUT)
        assert hover.contents.value.startswith("# functional-dropout-always-on (DC005)")
        found = await actions(client, cells[2], at(3, 20))
        [noqa] = [a for a in found if "noqa" in a.title]  # notebooks are never fixed
        fixed = apply_edits(texts[2], changes(noqa, cells[2]))
        assert fixed.endswith("return F.dropout(x, 0.1)  # noqa: DC005\n")

        # A change of one cell's text: diagnostics again, per cell.
        seen = (client.count(cells[2]), client.count(cells[3]))
        client.notebook_document_did_change(lsp.DidChangeNotebookDocumentParams(
            notebook_document=lsp.VersionedNotebookDocumentIdentifier(uri=notebook, version=2),
            change=lsp.NotebookDocumentChangeEvent(cells=lsp.NotebookDocumentCellChanges(
                text_content=[lsp.NotebookDocumentCellContentChanges(
                    document=lsp.VersionedTextDocumentIdentifier(uri=cells[2], version=2),
                    changes=[lsp.TextDocumentContentChangeWholeDocument(text=fixed)])]))))
        await client.wait_for(cells[2], "silenced", lambda p: not p.diagnostics, after=seen[0])
        assert codes(await client.wait_for(cells[3], "still there", lambda p: True,
                                           after=seen[1])) == [("DC006", 1)]

        # A cell that does not compile is a DC000 there; the other cells are still linted.
        seen = (client.count(cells[2]), client.count(cells[3]))
        client.notebook_document_did_change(lsp.DidChangeNotebookDocumentParams(
            notebook_document=lsp.VersionedNotebookDocumentIdentifier(uri=notebook, version=3),
            change=lsp.NotebookDocumentChangeEvent(cells=lsp.NotebookDocumentCellChanges(
                text_content=[lsp.NotebookDocumentCellContentChanges(
                    document=lsp.VersionedTextDocumentIdentifier(uri=cells[2], version=3),
                    changes=[lsp.TextDocumentContentChangeWholeDocument(
                        text=fixed + "x = (\n")])]))))
        broken = await client.wait_for(cells[2], "DC000", lambda p: bool(p.diagnostics),
                                       after=seen[0])
        assert [(d.code, d.severity) for d in broken.diagnostics] == [
            ("DC000", lsp.DiagnosticSeverity.Error)]
        await client.wait_for(cells[3], "DC006", lambda p: bool(p.diagnostics), after=seen[1])

        # Closing the notebook clears its cells' diagnostics.
        before_close = client.count(cells[3])
        client.notebook_document_did_close(lsp.DidCloseNotebookDocumentParams(
            notebook_document=lsp.NotebookDocumentIdentifier(uri=notebook),
            cell_text_documents=[lsp.TextDocumentIdentifier(uri=c) for c in cells]))
        await client.wait_for(cells[3], "cleared", lambda p: not p.diagnostics, after=before_close)
        return await client.end()

    assert run(lambda: session(tmp_path, body, notebooks=True)) == 0


@pytest.mark.skipif(sys.platform != "linux", reason="file names must be any bytes (Linux)")
def test_a_file_name_that_is_not_utf8_and_exit_without_shutdown(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/\xff\xfe-model.py"
    line = '        self.name = "é😀"; self.drop = nn.Dropout(True)'
    source = SOURCE.replace("        self.drop = nn.Dropout(True)", line)
    with open(raw, "wb") as handle:
        handle.write(source.encode())
    uri = uri_of(raw)
    start = len(line[:line.index("nn.Dropout")].encode("utf-8"))

    async def body(client: Session) -> int:
        assert client.capabilities.position_encoding == lsp.PositionEncodingKind.Utf8
        open_file(client, uri, source)
        found = await client.for_version(uri, 1)
        assert codes(found) == [("DC005", 11), ("DC005", 12), ("DC006", 8)]
        dc006 = next(d for d in found.diagnostics if d.code == "DC006")
        # Columns in the client's units, UTF-8 bytes here (the emoji is 4 bytes, 2 in UTF-16).
        assert (dc006.range.start.character, dc006.range.end.character) == (start, start + 16)
        hover = await asyncio.wait_for(client.text_document_hover_async(lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line=7, character=start + 2))), TIMEOUT)
        assert hover.contents.value.startswith("# invalid-dropout-rate (DC006)")
        found = await actions(client, uri, at(11, 16))
        assert any(a.is_preferred for a in found)
        client.text_document_did_close(lsp.DidCloseTextDocumentParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri)))
        assert codes(await client.wait_for(uri, "cleared", lambda p: True, after=1)) == []
        return await client.end(shutdown=False)  # exit without shutdown: status 1

    assert run(lambda: session(tmp_path, body, utf8=True)) == 1


def test_the_cli_never_imports_pygls_and_says_what_to_install_without_it(
        tmp_path: Path) -> None:
    imports = subprocess.run(
        [sys.executable, "-c", "import sys, dropcheck.cli, dropcheck.entry; "
         "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol')))"],
        capture_output=True, text=True, timeout=120)
    assert imports.stdout == "[]\n", imports.stderr
    # Without the extra: a one-line error and exit status 2, no traceback.
    missing = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['pygls'] = None; "
         "from dropcheck.cli import main; main(['server'])"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr == ("dropcheck: error: the language server needs pygls: "
                              "pip install 'dropcheck[server]'\n")
