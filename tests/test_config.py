"""[tool.dropcheck] configuration, excludes, .gitignore and --force-exclude, through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dropcheck.config import Config, ConfigError, Overrides, Resolver, matches, parse_config
from dropcheck.engine import LintOptions
from dropcheck.gitignore import compile_line
from tests.conftest import Run, write

BAD = "import torch.nn as nn\n\nlayer = nn.Dropout(0.8)\n"
RATE_07 = "import torch.nn as nn\n\nlayer = nn.Dropout(0.7)\n"
BOTH = "import torch.nn as nn\nnn.Dropout(0.8)\nnn.Dropout(True)\n"




def codes(result: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    assert "Traceback" not in result.stderr, result.stderr
    return sorted((item["path"], item["code"]) for item in json.loads(result.stdout))


def pyproject(root: Path, body: str) -> Path:
    return write(root / "pyproject.toml", f"[project]\nname = 'x'\n\n[tool.dropcheck]\n{body}")


# -- selection -------------------------------------------------------------------------------


def test_select_and_ignore_from_config_and_cli_wins(tmp_path: Path, run_dropcheck: Run) -> None:
    pyproject(tmp_path, 'ignore = ["DC006"]\n')
    write(tmp_path / "src" / "m.py", BOTH)
    result = run_dropcheck("--format", "json", "src", cwd=tmp_path)
    assert [c for _, c in codes(result)] == ["DC002"]
    # --select on the command line replaces the configured selection.
    result = run_dropcheck("--format", "json", "--select", "DC006", "src", cwd=tmp_path)
    assert [c for _, c in codes(result)] == ["DC006"]


def test_config_select_and_extend_select(tmp_path: Path, run_dropcheck: Run) -> None:
    pyproject(tmp_path, 'select = ["DC002"]\nextend-select = ["DC006"]\n')
    write(tmp_path / "m.py", BOTH)
    assert [c for _, c in codes(run_dropcheck("--format", "json", ".", cwd=tmp_path))] == [
        "DC002", "DC006"]
    pyproject(tmp_path, 'select = ["DC002"]\n')
    assert [c for _, c in codes(run_dropcheck("--format", "json", ".", cwd=tmp_path))] == [
        "DC002"]
    result = run_dropcheck("--format", "json", "--extend-select", "DC006", ".", cwd=tmp_path)
    assert [c for _, c in codes(result)] == ["DC002", "DC006"]
    result = run_dropcheck("--format", "json", "--ignore", "DC002", ".", cwd=tmp_path)
    assert codes(result) == []


def test_per_file_ignores(tmp_path: Path, run_dropcheck: Run) -> None:
    pyproject(tmp_path, '[tool.dropcheck.per-file-ignores]\n"tests/*" = ["DC002"]\n'
                        '"legacy_*.py" = ["DC0"]\n')
    write(tmp_path / "tests" / "t.py", BOTH)
    write(tmp_path / "src" / "legacy_model.py", BOTH)
    write(tmp_path / "src" / "model.py", BOTH)
    result = run_dropcheck("--format", "json", ".", cwd=tmp_path)
    assert codes(result) == [
        (os.path.join(".", "src", "model.py"), "DC002"),
        (os.path.join(".", "src", "model.py"), "DC006"),
        (os.path.join(".", "tests", "t.py"), "DC006"),
    ]


def test_rule_option_really_reaches_the_rule(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "m.py", RATE_07)
    assert [c for _, c in codes(run_dropcheck("--format", "json", ".", cwd=tmp_path))] == [
        "DC002"]
    pyproject(tmp_path, "\n[tool.dropcheck.DC002]\nmax-rate = 0.75\n")
    assert codes(run_dropcheck("--format", "json", ".", cwd=tmp_path)) == []
    # By rule name too, and an integer where the default is a float.
    pyproject(tmp_path, "\n[tool.dropcheck.high-dropout-rate]\nmax-rate = 0\n")
    write(tmp_path / "low.py", "import torch.nn as nn\nnn.Dropout(0.1)\n")
    assert len(codes(run_dropcheck("--format", "json", ".", cwd=tmp_path))) == 2


def test_nearest_config_wins_per_file(tmp_path: Path, run_dropcheck: Run) -> None:
    pyproject(tmp_path, 'ignore = ["DC002"]\n')
    write(tmp_path / "a" / "m.py", BOTH)
    # A pyproject.toml without [tool.dropcheck] is passed over, as ruff does.
    write(tmp_path / "b" / "pyproject.toml", "[project]\nname = 'b'\n")
    write(tmp_path / "b" / "m.py", BOTH)
    pyproject(tmp_path / "c", 'ignore = ["DC006"]\n')
    write(tmp_path / "c" / "m.py", BOTH)
    result = run_dropcheck("--format", "json", "a", "b", "c", cwd=tmp_path)
    assert codes(result) == [
        (os.path.join("a", "m.py"), "DC006"),
        (os.path.join("b", "m.py"), "DC006"),
        (os.path.join("c", "m.py"), "DC002"),
    ]


def test_preview_from_config(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "m.py", "import torch.nn as nn\nnn.Dropout(0.1)  # noqa: DC002\n")
    assert codes(run_dropcheck("--format", "json", ".", cwd=tmp_path)) == []
    pyproject(tmp_path, "preview = true\n")
    assert [c for _, c in codes(run_dropcheck("--format", "json", ".", cwd=tmp_path))] == [
        "DC017"]


# -- invalid configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('selec = ["DC002"]\n', "unknown key 'selec'"),
        ('select = ["DC999"]\n', "DC999"),
        ('select = "DC002"\n', "select: expected a list of strings"),
        ("preview = 1\n", "preview: expected true or false"),
        ('[tool.dropcheck.per-file-ignores]\n"x.py" = ["XYZ1"]\n', "XYZ1"),
        ("[tool.dropcheck.DC002]\nmax-rate = 'high'\n", "DC002.max-rate: expected float"),
        ("[tool.dropcheck.DC002]\nmax_rate = 0.3\n", "unknown option 'max_rate'"),
        ("[tool.dropcheck.DC999]\nx = 1\n", "unknown rule in option table [DC999]"),
        ("select = [\n", "invalid TOML"),
    ],
)
def test_invalid_config_is_one_line_error_exit_2(
    tmp_path: Path, run_dropcheck: Run, body: str, expected: str
) -> None:
    config = pyproject(tmp_path, body)
    write(tmp_path / "m.py", BAD)
    result = run_dropcheck("m.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dropcheck: error: ") and str(config) in lines[0]
    assert expected in lines[0]
    assert result.stdout == ""


def test_show_settings(tmp_path: Path, run_dropcheck: Run) -> None:
    config = pyproject(tmp_path, 'ignore = ["DC006"]\nextend-exclude = ["gen"]\n'
                                 "[tool.dropcheck.DC002]\nmax-rate = 0.3\n")
    target = write(tmp_path / "src" / "m.py", BAD)
    result = run_dropcheck("--show-settings", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"config file: {config}" in out
    assert "DC002 high-dropout-rate max-rate=0.3" in out
    assert "DC006" not in out.split("enabled rules")[1]
    assert 'extend-exclude: ["gen"]' in out
    # The command line is part of the effective settings.
    result = run_dropcheck("--show-settings", str(target), "--select", "DC006", cwd=tmp_path)
    assert "DC006 invalid-dropout-rate" in result.stdout
    assert "DC002" not in result.stdout.split("enabled rules")[1]


# -- excludes, .gitignore, --force-exclude ---------------------------------------------------


def test_exclude_and_extend_exclude(tmp_path: Path, run_dropcheck: Run) -> None:
    pyproject(tmp_path, 'extend-exclude = ["generated", "scripts/*.py"]\n')
    write(tmp_path / "generated" / "m.py", BAD)
    write(tmp_path / "scripts" / "run.py", BAD)
    write(tmp_path / "scripts" / "sub" / "keep.py", BAD)
    write(tmp_path / "build" / "m.py", BAD)  # the default exclude still applies
    write(tmp_path / "src" / "m.py", BAD)
    result = run_dropcheck("--format", "json", ".", cwd=tmp_path)
    assert [p for p, _ in codes(result)] == [
        os.path.join(".", "scripts", "sub", "keep.py"), os.path.join(".", "src", "m.py")]
    # `exclude` replaces the defaults: build/ is linted then.
    pyproject(tmp_path, 'exclude = ["generated"]\n')
    paths = [p for p, _ in codes(run_dropcheck("--format", "json", ".", cwd=tmp_path))]
    assert os.path.join(".", "build", "m.py") in paths
    assert os.path.join(".", "generated", "m.py") not in paths


def test_project_templates_are_not_walked(tmp_path: Path, run_dropcheck: Run) -> None:
    # A cookiecutter template is Jinja, not Python yet: walking it reported only DC000.
    template = "{% if cookiecutter.dropout %}import torch{% endif %}\n{{cookiecutter.body}}\n"
    write(tmp_path / "templates" / "{{cookiecutter.name}}" / "model.py", template)
    write(tmp_path / "templates" / "run_{{cookiecutter.task}}.py", template)
    write(tmp_path / "src" / "m.py", BAD)
    result = run_dropcheck("--format", "json", ".", cwd=tmp_path)
    assert [p for p, _ in codes(result)] == [os.path.join(".", "src", "m.py")]
    # Named explicitly, a template is still read (and cannot be parsed).
    named = os.path.join("templates", "run_{{cookiecutter.task}}.py")
    assert codes(run_dropcheck("--format", "json", named, cwd=tmp_path)) == [(named, "DC000")]


def test_cli_extend_exclude(tmp_path: Path, run_dropcheck: Run) -> None:
    write(tmp_path / "a" / "m.py", BAD)
    write(tmp_path / "b" / "m.py", BAD)
    result = run_dropcheck("--format", "json", "--extend-exclude", "a", ".", cwd=tmp_path)
    assert [p for p, _ in codes(result)] == [os.path.join(".", "b", "m.py")]


def _git_init(root: Path) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    subprocess.run([git, "init", "-q", str(root)], check=True, capture_output=True)


def test_gitignore_respected_when_walking(tmp_path: Path, run_dropcheck: Run) -> None:
    _git_init(tmp_path)
    write(tmp_path / ".gitignore", "data/\n*_gen.py\n!keep_gen.py\n/rootonly.py\n")
    write(tmp_path / "sub" / ".gitignore", "local.py\n")
    for name in ("data/m.py", "x_gen.py", "keep_gen.py", "rootonly.py", "sub/rootonly.py",
                 "sub/local.py", "local.py", "src/m.py"):
        write(tmp_path / name, BAD)
    result = run_dropcheck("--format", "json", ".", cwd=tmp_path)
    assert [p for p, _ in codes(result)] == [
        os.path.join(".", "keep_gen.py"), os.path.join(".", "local.py"),
        os.path.join(".", "src", "m.py"), os.path.join(".", "sub", "rootonly.py"),
    ]
    # Explicit paths are linted anyway, unless --force-exclude.
    result = run_dropcheck("--format", "json", "x_gen.py", "data/m.py", cwd=tmp_path)
    assert len(codes(result)) == 2
    result = run_dropcheck("--format", "json", "--force-exclude", "x_gen.py", "data/m.py",
                           "src/m.py", cwd=tmp_path)
    assert [p for p, _ in codes(result)] == ["src/m.py"]
    # respect-gitignore = false turns it off.
    pyproject(tmp_path, "respect-gitignore = false\n")
    assert len(codes(run_dropcheck("--format", "json", ".", cwd=tmp_path))) == 8


def test_force_exclude_with_config_exclude(tmp_path: Path, run_dropcheck: Run) -> None:
    pyproject(tmp_path, 'extend-exclude = ["migrations"]\n')
    target = write(tmp_path / "app" / "migrations" / "m.py", BAD)
    assert len(codes(run_dropcheck("--format", "json", str(target), cwd=tmp_path))) == 1
    result = run_dropcheck("--format", "json", "--force-exclude", str(target), cwd=tmp_path)
    assert result.returncode == 0 and codes(result) == []
    pyproject(tmp_path, 'extend-exclude = ["migrations"]\nforce-exclude = true\n')
    assert codes(run_dropcheck("--format", "json", str(target), cwd=tmp_path)) == []


def test_notebooks_are_walked_by_default(tmp_path: Path, run_dropcheck: Run) -> None:
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": ["import torch.nn as nn\n", "d = nn.Dropout(0.9)\n"]}
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(tmp_path / "nb" / "a.ipynb", json.dumps(notebook))
    write(tmp_path / "nb" / ".ipynb_checkpoints" / "a-checkpoint.ipynb", json.dumps(notebook))
    result = run_dropcheck("--format", "json", "nb", cwd=tmp_path)
    assert codes(result) == [(os.path.join("nb", "a.ipynb"), "DC002")]


# -- units -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("tests", "tests", True),
        ("tests", "src/tests", True),
        ("tests", "src/mytests", False),
        ("tests", "tests/a.py", False),  # folder walks prune the folder itself
        ("*_pb2.py", "pkg/x_pb2.py", True),
        ("src/gen", "src/gen/a/b.py", True),
        ("src/gen", "other/src/gen/a.py", False),
        ("src/**/*.py", "src/a/b/c.py", True),
        ("scripts/*.py", "scripts/sub/c.py", False),
        ("./scripts/*.py", "scripts/c.py", True),
    ],
)
def test_pattern_matching(tmp_path: Path, pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, str(tmp_path / path), str(tmp_path)) is expected


@pytest.mark.parametrize(
    ("line", "path", "is_dir", "expected"),
    [
        ("*.py", "a/b.py", False, True),
        ("/b.py", "a/b.py", False, False),
        ("/b.py", "b.py", False, True),
        ("build/", "build", True, True),
        ("build/", "build", False, False),
        ("a/**/z.py", "a/z.py", False, True),
        ("a/**/z.py", "a/b/c/z.py", False, True),
        ("**/logs", "x/y/logs", True, True),
        ("logs/**", "logs/x/y.py", False, True),
        ("[ab].py", "b.py", False, True),
        ("[!ab].py", "b.py", False, False),
        ("\\#x.py", "#x.py", False, True),
        ("# comment", "comment", False, None),
    ],
)
def test_gitignore_patterns(line: str, path: str, is_dir: bool, expected: bool | None) -> None:
    pattern = compile_line(line)
    if expected is None:
        assert pattern is None
        return
    assert pattern is not None
    matched = bool(pattern.regex.match(path)) and (is_dir or not pattern.dir_only)
    assert matched is expected


def test_file_settings_are_hashable_and_serialisable(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.dropcheck]\n[tool.dropcheck.DC002]\nmax-rate = 0.6\n")
    target = write(tmp_path / "m.py", BAD)
    resolver = Resolver(Overrides(), cwd=str(tmp_path))
    settings = resolver.settings_for(str(target))
    assert hash(settings) == hash(resolver.settings_for(str(target)))
    assert json.loads(settings.key())[1] == [["DC002", [["max-rate", 0.6]]]]
    options = settings.lint_options(LintOptions(rules=[]))
    assert options.rule_settings["DC002"] == {"max-rate": 0.6}
    assert "DC002" in {rule.code for rule in options.rules}


def test_parse_config_rejects_wrong_types() -> None:
    with pytest.raises(ConfigError, match="exclude: expected a list of strings"):
        parse_config({"exclude": [1]}, "p.toml")
    assert isinstance(parse_config({}, "p.toml"), Config)


def test_walking_a_folder_inside_an_excluded_one(tmp_path: Path, run_dropcheck: Run) -> None:
    """Linting installed code (`dropcheck .venv/lib/.../site-packages/torch`) works: only what
    is below the given folder is matched against excludes and .gitignore."""
    _git_init(tmp_path)
    write(tmp_path / ".gitignore", "vendor/\n")
    write(tmp_path / "vendor" / "site-packages" / "pkg" / "m.py", BAD)
    write(tmp_path / "vendor" / "site-packages" / "pkg" / "build" / "m.py", BAD)
    result = run_dropcheck("--format", "json", "vendor/site-packages/pkg", cwd=tmp_path)
    assert [p for p, _ in codes(result)] == [os.path.join("vendor/site-packages/pkg", "m.py")]
    forced = run_dropcheck("--format", "json", "--force-exclude", "vendor/site-packages/pkg",
                           cwd=tmp_path)
    assert codes(forced) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[tool]\ndropcheck = 3\n", "[tool.dropcheck] must be a table"),
        (b"[tool.dropcheck]\nselect = ['\xff']\n", "invalid TOML"),
    ],
)
def test_odd_pyproject_files(tmp_path: Path, run_dropcheck: Run, content: str | bytes,
                             expected: str) -> None:
    target = tmp_path / "pyproject.toml"
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content)
    write(tmp_path / "m.py", BAD)
    result = run_dropcheck("m.py", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr


def test_pyproject_that_is_a_folder_is_passed_over(tmp_path: Path, run_dropcheck: Run) -> None:
    (tmp_path / "pyproject.toml").mkdir()
    write(tmp_path / "m.py", BAD)
    result = run_dropcheck("--format", "json", "m.py", cwd=tmp_path)
    assert result.returncode == 1 and [c for _, c in codes(result)] == ["DC002"]
