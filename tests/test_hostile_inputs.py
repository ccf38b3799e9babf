"""Hostile inputs, each through a real subprocess of the installed `dropcheck` (issue 8).

For every input: the exit status the contract gives, a one-line DC000 reason (never a
traceback) for what cannot be analysed, the other file of the same run still reported, no
file's bytes or mode changed, nothing written outside the cache folder, and a time bound.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Run, _dropcheck_command, write

BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.8)\n"
#: Seconds any single run below may take (generous: CI machines are shared and slow).
TIME_BOUND = 90.0

Snapshot = dict[str, tuple[str, int, bytes | None]]


def snapshot(root: Path) -> Snapshot:
    """Every entry under root (not following links): kind, mode and, for files, bytes."""
    found: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            data = None
            if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IRUSR:
                with open(path, "rb") as handle:
                    data = handle.read()
            kind = ("link" if stat.S_ISLNK(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode)
                    else "file" if stat.S_ISREG(st.st_mode) else "other")
            found[os.path.relpath(path, root)] = (kind, stat.S_IMODE(st.st_mode), data)
    return found


def assert_untouched(before: Snapshot, after: Snapshot, cache: str = ".dropcheck_cache") -> None:
    for path, entry in before.items():
        assert after.get(path) == entry, f"{path} changed"
    added = [p for p in after if p not in before and p.split(os.sep)[0] != cache]
    assert not added, f"written outside the cache folder: {added}"


def lint(run_dropcheck: Run, root: Path, *names: str, extra: tuple[str, ...] = ()
         ) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]], float]:
    before = snapshot(root)
    start = time.monotonic()
    result = run_dropcheck("--format", "json", *extra, *names, cwd=root, timeout=TIME_BOUND)
    elapsed = time.monotonic() - start
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    data = json.loads(result.stdout)
    assert_untouched(before, snapshot(root))
    assert elapsed < TIME_BOUND
    return result, data, elapsed




def nested_blocks(depth: int) -> str:
    lines = ["import torch.nn as nn"]
    lines += [" " * i + "if x:" for i in range(depth)]
    lines.append(" " * depth + "nn.Dropout(0.9)")
    return "\n".join(lines) + "\n"


# name -> content, and the line of the DC000 (None: the file must be analysed without one).
UNANALYSABLE: dict[str, tuple[str | bytes, int]] = {
    "syntax_error.py": ("import torch\n\ndef f(:\n    pass\n", 3),
    "python2.py": ("import torch\nprint 'training'\nexec 'x = 1'\n", 2),
    "nul_bytes.py": (b"import torch.nn as nn\x00\nnn.Dropout(0.9)\n", 1),
    "invalid_utf8.py": (b"import torch.nn as nn\nname = '\xff\xfe\xc3('\n", 1),
    "bad_cookie.py": (b"# -*- coding: no-such-codec -*-\nimport torch\n", 1),
    "tabs_mixed.py": (b"import torch.nn as nn\nif x:\n\tif y:\n        nn.Dropout(0.9)\n", 4),
    "nested_1000.py": ("import torch.nn as nn\nx = " + "(" * 1000 + "1" + ")" * 1000
                       + "\nnn.Dropout(0.9)\n", 2),
    # LibCST's native parser segfaults (or needs many GB) far above CPython's limit of 200.
    "nested_10000.py": ("import torch.nn as nn\nx = " + "[" * 10000 + "1" + "]" * 10000
                        + "\nnn.Dropout(0.9)\n", 2),
    "blocks_100.py": (nested_blocks(100), 102),
}


@pytest.mark.parametrize("name", sorted(UNANALYSABLE))
@pytest.mark.parametrize("jobs", ["1", "0"])
def test_unanalysable_input_is_one_line_dc000(
    tmp_path: Path, run_dropcheck: Run, name: str, jobs: str
) -> None:
    content, line = UNANALYSABLE[name]
    write(tmp_path / name, content)
    write(tmp_path / "z_bad.py", BAD)
    result, data, _ = lint(run_dropcheck, tmp_path, name, "z_bad.py",
                           extra=("--no-cache", "--jobs", jobs))
    assert result.returncode == 2, result.stdout + result.stderr
    assert {(d["path"], d["code"]) for d in data} == {(name, "DC000"), ("z_bad.py", "DC002")}
    dc000 = next(d for d in data if d["code"] == "DC000")
    assert dc000["line"] == line
    assert "\n" not in dc000["message"] and dc000["message"].startswith("file not analysed: ")


NESTED_DEEP_VALID = nested_blocks(98)

# name -> content and the lines where DC002 must be found: valid files, analysed normally.
ANALYSABLE: dict[str, tuple[str | bytes, list[int]]] = {
    "latin1_cookie.py": ("# -*- coding: latin-1 -*-\n# café crème\nimport torch.nn as nn\n"
                         "d = nn.Dropout(0.9)  # é\n".encode("latin-1"), [4]),
    "utf8_bom.py": (b"\xef\xbb\xbfimport torch.nn as nn\nd = nn.Dropout(0.9)\n", [2]),
    "crlf.py": (b"import torch.nn as nn\r\n\r\nd = nn.Dropout(0.9)\r\n", [3]),
    "lone_cr.py": (b"import torch.nn as nn\r\rd = nn.Dropout(0.9)\r", [3]),
    "form_feed.py": (b"import torch.nn as nn\n\x0c\ndef f():\n    return nn.Dropout(0.9)\n",
                     [4]),
    "tabs_consistent.py": (b"import torch.nn as nn\nif x:\n\td = nn.Dropout(0.9)\n"
                           b"if y:\n    e = nn.Dropout(0.9)\n", [3, 5]),
    "blocks_98.py": (NESTED_DEEP_VALID, [100]),
    "nested_150.py": ("import torch.nn as nn\nx = " + "(" * 150 + "1" + ")" * 150
                      + "\nd = nn.Dropout(0.9)\n", [3]),
    "long_unary.py": ("import torch.nn as nn\nx = " + "-" * 3000 + "1\nd = nn.Dropout(0.9)\n",
                      [3]),
    "empty.py": (b"", []),
    "comments_only.py": ("# just a comment\n# nn.Dropout(0.9)\n", []),
    "newest_syntax.py": (
        "import torch.nn as nn\n"
        "type Rate = float\n"
        "def keep[T](x: T) -> T:\n"
        "    return x\n"
        "match command:\n"
        "    case [action, obj]:\n"
        "        pass\n"
        "try:\n"
        "    pass\n"
        "except* ValueError:\n"
        "    pass\n"
        "if (n := 10) > 5:\n"
        "    pass\n"
        "async def g():\n"
        "    return [i async for i in aiter()]\n"
        "name = 'x'\n"
        "s = f\"{f\"{name}\"}\"\n"
        "t = f\"{'\\n'.join([])}\"\n"
        "d = nn.Dropout(0.9)\n", [19]),
}


@pytest.mark.parametrize("name", sorted(ANALYSABLE))
def test_odd_but_valid_input_is_analysed(tmp_path: Path, run_dropcheck: Run, name: str) -> None:
    content, lines = ANALYSABLE[name]
    write(tmp_path / name, content)
    write(tmp_path / "z_bad.py", BAD)
    result, data, _ = lint(run_dropcheck, tmp_path, name, "z_bad.py", extra=("--no-cache",))
    assert result.returncode == 1, result.stdout + result.stderr
    assert sorted(d["line"] for d in data if d["path"] == name) == lines
    assert all(d["code"] == "DC002" for d in data)
    assert [d["line"] for d in data if d["path"] == "z_bad.py"] == [3]


def test_file_over_the_size_cap(tmp_path: Path, run_dropcheck: Run) -> None:
    body = ("x = [" + ", ".join(["1.0"] * 20) + "]\n") * 200_000  # ~20 MB of valid Python
    write(tmp_path / "huge.py", "import torch.nn as nn\nd = nn.Dropout(0.9)\n" + body)
    write(tmp_path / "z_bad.py", BAD)
    result, data, elapsed = lint(run_dropcheck, tmp_path, "huge.py", "z_bad.py",
                                 extra=("--no-cache",))
    assert result.returncode == 2
    assert {(d["path"], d["code"]) for d in data} == {("huge.py", "DC000"), ("z_bad.py", "DC002")}
    message = next(d["message"] for d in data if d["path"] == "huge.py")
    assert "limit" in message and "\n" not in message
    assert elapsed < 30


def test_size_cap_is_configurable(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "a.py", BAD + "# padding\n" * 200)
    result, data, _ = lint(run_dropcheck, tmp_path, "a.py",
                           extra=("--no-cache", "--max-file-size", "1KB"))
    assert result.returncode == 2 and [d["code"] for d in data] == ["DC000"]
    assert "1,000-byte limit" in data[0]["message"]
    result, data, _ = lint(run_dropcheck, tmp_path, "a.py",
                           extra=("--no-cache", "--max-file-size", "1MB"))
    assert result.returncode == 1 and [d["code"] for d in data] == ["DC002"]
    bad = run_dropcheck("--max-file-size", "lots", "a.py", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_directory_named_like_a_source_file(tmp_path: Path, run_dropcheck: Run) -> None:
    (tmp_path / "x.py").mkdir()
    write(tmp_path / "z_bad.py", BAD)
    result, data, _ = lint(run_dropcheck, tmp_path, "x.py", "z_bad.py", extra=("--no-cache",))
    assert result.returncode == 2
    assert {(d["path"], d["code"]) for d in data} == {("x.py", "DC000"), ("z_bad.py", "DC002")}


def test_symlink_loop_and_dangling_symlink(tmp_path: Path, run_dropcheck: Run) -> None:
    os.symlink("loop.py", tmp_path / "loop.py")
    os.symlink("missing_target.py", tmp_path / "dangling.py")
    write(tmp_path / "z_bad.py", BAD)
    # Given explicitly and found by walking the folder: both ways reported, never a hang.
    for paths in (("loop.py", "dangling.py", "z_bad.py"), (".",)):
        result, data, _ = lint(run_dropcheck, tmp_path, *paths, extra=("--no-cache",))
        assert result.returncode == 2
        codes = {(os.path.basename(d["path"]), d["code"]) for d in data}
        assert codes == {("loop.py", "DC000"), ("dangling.py", "DC000"), ("z_bad.py", "DC002")}
        assert all("\n" not in d["message"] for d in data)


def test_named_pipe_and_device_never_hang(tmp_path: Path, run_dropcheck: Run) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    os.mkfifo(tmp_path / "pipe.py")
    write(tmp_path / "z_bad.py", BAD)
    for paths in (("pipe.py", os.devnull, "z_bad.py"), (".",)):
        result, data, elapsed = lint(run_dropcheck, tmp_path, *paths, extra=("--no-cache",))
        assert result.returncode == 2
        not_analysed = {os.path.basename(d["path"]) for d in data if d["code"] == "DC000"}
        assert "pipe.py" in not_analysed
        assert any(d["code"] == "DC002" for d in data)
        assert elapsed < 30


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root reads any file whatever its mode, and this interpreter lives under /root,
        # which an unprivileged user cannot execute: there is nobody to run the test as.
        pytest.skip("running as root: permission bits do not stop root from reading")
    secret = write(tmp_path / "secret.py", BAD)
    secret.chmod(0)
    write(tmp_path / "z_bad.py", BAD)
    try:
        result = subprocess.run([*_dropcheck_command(), "--format", "json", "--no-cache",
                                 "secret.py", "z_bad.py"], cwd=tmp_path, capture_output=True,
                                text=True, timeout=TIME_BOUND)
    finally:
        secret.chmod(0o644)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert {(d["path"], d["code"]) for d in data} == {("secret.py", "DC000"),
                                                      ("z_bad.py", "DC002")}
    assert "Permission denied" in next(d["message"] for d in data if d["path"] == "secret.py")


NOTEBOOKS: dict[str, str] = {
    "broken_json.ipynb": '{"cells": [ {"cell_type": "code", "source": ',
    "not_a_notebook.ipynb": '["just", "a", "list"]',
    "binary.ipynb": "\x00\x01\x02garbage",
}


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_broken_notebook_is_dc000(tmp_path: Path, run_dropcheck: Run, name: str) -> None:
    write(tmp_path / name, NOTEBOOKS[name])
    write(tmp_path / "z_bad.py", BAD)
    result, data, _ = lint(run_dropcheck, tmp_path, name, "z_bad.py", extra=("--no-cache",))
    assert result.returncode == 2
    assert {(d["path"], d["code"]) for d in data} == {(name, "DC000"), ("z_bad.py", "DC002")}
    assert "\n" not in next(d["message"] for d in data if d["path"] == name)


def test_notebook_with_odd_cells(tmp_path: Path, run_dropcheck: Run) -> None:
    notebook = {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# title with nn.Dropout(0.9)"},
            {"cell_type": "raw", "metadata": {}, "source": ["raw nn.Dropout(0.9)"]},
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
             "source": "%matplotlib inline\n!pip install torch\nimport torch.nn as nn"},
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
             "source": []},
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
             "source": ["layer = nn.Dropout(0.9)\n", "model?\n"]},
        ],
    }
    write(tmp_path / "odd.ipynb", json.dumps(notebook))
    write(tmp_path / "z_bad.py", BAD)
    result, data, _ = lint(run_dropcheck, tmp_path, "odd.ipynb", "z_bad.py",
                           extra=("--no-cache",))
    assert result.returncode == 1, result.stdout + result.stderr
    assert {(d["path"], d["code"]) for d in data} == {("odd.ipynb", "DC002"),
                                                      ("z_bad.py", "DC002")}


BROKEN_RULE = '''
from dropcheck.rules.base import Rule


class BrokenOnPurpose(Rule):
    """
    ## What it does
    Crashes, to test that a rule's bug is contained.
    """

    code = "DC999"
    name = "broken-on-purpose"
    message = "never reported"
    requires = ((b"ropout",),)

    def visit_Call(self, node):
        raise ZeroDivisionError("deliberate bug in a test rule")
'''

# Runs the real CLI in a subprocess with one extra rule module on the registry's path.
LAUNCHER = '''
import sys
import dropcheck.rules
dropcheck.rules.__path__.append(sys.argv.pop(1))
from dropcheck.cli import main
main()
'''


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_crashing_rule_is_contained(tmp_path: Path, jobs: str) -> None:
    plugins = tmp_path / "plugins"
    write(plugins / "broken_on_purpose.py", BROKEN_RULE)
    write(tmp_path / "a.py", BAD)
    write(tmp_path / "b.py", BAD.replace("0.8", "0.9"))
    command = [sys.executable, "-c", LAUNCHER, str(plugins), "--format", "json", "--no-cache",
               "--jobs", jobs, "a.py", "b.py"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                            timeout=TIME_BOUND)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    # The other rules still ran on both files; the crash is one DC000 per file naming the rule.
    assert sorted((d["path"], d["code"]) for d in data) == [
        ("a.py", "DC000"), ("a.py", "DC002"), ("b.py", "DC000"), ("b.py", "DC002")]
    for d in data:
        if d["code"] == "DC000":
            assert "DC999" in d["message"] and "ZeroDivisionError" in d["message"]
            assert "--verbose" in d["message"] and "\n" not in d["message"]
    verbose = subprocess.run([*command, "--verbose"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=TIME_BOUND)
    assert verbose.returncode == 2
    assert "Traceback" in verbose.stderr and "deliberate bug in a test rule" in verbose.stderr
    assert "visit_Call" in verbose.stderr


def test_read_only_checkout_warns_and_still_lints(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "a.py", BAD)
    blocker = write(tmp_path / "not_a_folder", "a file where the cache folder would go\n")
    before = snapshot(tmp_path)
    result = run_dropcheck("--format", "json", "--cache-dir", str(blocker / "cache"), "a.py",
                           cwd=tmp_path, timeout=TIME_BOUND)
    assert result.returncode == 1, result.stderr
    assert [d["code"] for d in json.loads(result.stdout)] == ["DC002"]
    assert "warning" in result.stderr and "cache" in result.stderr
    assert "Traceback" not in result.stderr
    assert_untouched(before, snapshot(tmp_path))
    if os.geteuid() != 0:  # root writes into read-only folders anyway
        tmp_path.chmod(0o555)
        try:
            result = run_dropcheck("--format", "json", "a.py", cwd=tmp_path, timeout=TIME_BOUND)
        finally:
            tmp_path.chmod(0o755)
        assert result.returncode == 1 and "warning" in result.stderr


def _many_files(root: Path) -> None:
    # Enough real work that the run is still going when interrupted.
    model = (Path(__file__).resolve().parent.parent / "fixtures")
    sources = sorted(model.rglob("*.py"))
    assert sources
    for i in range(400):
        source = sources[i % len(sources)]
        write(root / "src" / f"m{i:04}.py", source.read_bytes() + f"\n# {i}\n".encode())


def _interrupt_when(command: list[str], root: Path, ready: str) -> tuple[int, str, int]:
    """Start ``command`` in its own process group, read its stderr until a line containing
    ``ready`` (a signal that the stage to interrupt has begun: no sleeping), send the group
    SIGINT as a terminal's Ctrl-C does, and return the exit status and all of stderr."""
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if ready in line:
            break
    else:
        pytest.fail(f"never saw {ready!r}: {''.join(seen)[-2000:]}")
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=TIME_BOUND)
    return process.returncode, "".join(seen) + err, process.pid


def _assert_interrupted(root: Path, before: Snapshot, status: int, err: str) -> None:
    assert status == 130, err[-3000:]
    assert "Traceback" not in err and "dropcheck: interrupted" in err, err[-3000:]
    after = snapshot(root)
    assert_untouched(before, after)
    leftovers = [p for p in after if p.endswith(".tmp")]
    assert not leftovers


@pytest.mark.parametrize("jobs", ["0", "1"])
def test_ctrl_c_exits_130_and_leaves_no_partial_files(tmp_path: Path, jobs: str) -> None:
    # Interrupted as the pool starts (the forks; --verbose says when the linting starts).
    _many_files(tmp_path)
    before = snapshot(tmp_path)
    command = [*_dropcheck_command(), "--select", "ALL", "--preview", "--verbose", "--jobs",
               jobs, "src"]
    status, err, group = _interrupt_when(command, tmp_path, "dropcheck: linting")
    _assert_interrupted(tmp_path, before, status, err)
    # communicate() saw end-of-file on pipes every worker inherited, so each has exited (at
    # most a zombie not yet reaped): none may still be running.
    assert not _running_in_group(group)


def _running_in_group(group: int) -> list[int]:
    """Processes of process group ``group`` that are not zombies (Linux's /proc; elsewhere
    nothing to check)."""
    running = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == group and fields[0] not in ("Z", "X"):
            running.append(int(entry.parent.name))
    return running


def test_ctrl_c_while_importing_exits_130(tmp_path: Path) -> None:
    # Interrupted during start-up, while dropcheck's own imports run (LibCST, the rules): a
    # busy machine spends most of a second there. `-X importtime` reports each import as it
    # completes: the first LibCST one is the signal. (An interrupt before Python runs any of
    # dropcheck's code, in the interpreter's own start-up, is Python's to handle.)
    _many_files(tmp_path)
    before = snapshot(tmp_path)
    tool = _dropcheck_command()
    command = ([sys.executable, "-X", "importtime", *tool] if len(tool) == 1
               else [*tool[:1], "-X", "importtime", *tool[1:]])
    status, err, _ = _interrupt_when([*command, "src"], tmp_path, "libcst")
    _assert_interrupted(tmp_path, before, status, err)


def test_no_hang_on_stdin_or_terminal(tmp_path: Path) -> None:
    # dropcheck never reads standard input: an open, silent stdin must not block it.
    write(tmp_path / "a.py", BAD)
    process = subprocess.Popen([*_dropcheck_command(), "--no-cache", "a.py"], cwd=tmp_path,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    timer = threading.Timer(TIME_BOUND, process.kill)
    timer.start()
    try:
        process.communicate()
    finally:
        timer.cancel()
    assert process.returncode == 1
