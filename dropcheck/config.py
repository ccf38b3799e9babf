"""Configuration: ``[tool.dropcheck]`` in the nearest ``pyproject.toml``, the command line wins.

For every linted path the nearest ``pyproject.toml`` *that has a* ``[tool.dropcheck]`` table is
found by searching upward from the path's folder (as ruff does; a ``pyproject.toml`` without the
table is passed over). Its settings are layered under the command line's, then the file's
``per-file-ignores`` are applied. The result, :class:`FileSettings`, is a plain frozen, hashable
value (rule codes plus rule options) that can key a cache.

Invalid configuration raises :class:`ConfigError` with a one-line message naming the file.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from dropcheck.gitignore import GitIgnore
from dropcheck.rules import (
    SelectionError,
    rule_info,
    rule_infos,
    select_infos,
    validate_selectors,
)

if TYPE_CHECKING:
    from dropcheck.engine import LintOptions

#: Folders never worth walking, whatever ``exclude`` says.
ALWAYS_EXCLUDED = frozenset({".git", ".hg", ".svn"})

#: The default of ``exclude`` (``extend-exclude`` adds to it; ``exclude`` replaces it).
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".bzr", ".direnv", ".eggs", ".git", ".hg", ".ipynb_checkpoints", ".mypy_cache", ".nox",
    ".pytest_cache", ".ruff_cache", ".dropcheck_cache", ".svn", ".tox", ".venv", "venv",
    "__pycache__", "__pypackages__", "_build", "build", "dist", "node_modules", "site-packages",
    "*.egg-info",
    # Project templates (cookiecutter, copier): `{{cookiecutter.name}}/model.py` is Jinja text
    # that becomes Python only when rendered, so parsing it reports only syntax errors.
    "*{{*}}*",
)

#: Top-level keys of ``[tool.dropcheck]`` and their TOML types; rule option tables (keyed by
#: rule code or name, e.g. ``[tool.dropcheck.DC002]``) are checked against each rule's options.
KEYS: dict[str, str] = {
    "select": "list of strings",
    "ignore": "list of strings",
    "extend-select": "list of strings",
    "exclude": "list of strings",
    "extend-exclude": "list of strings",
    "per-file-ignores": "table of lists of strings",
    "preview": "boolean",
    "force-exclude": "boolean",
    "respect-gitignore": "boolean",
    "docs-url": "string",
}


#: Paths with these endings are files to lint (a folder named so is reported as DC000).
_LINTED_SUFFIXES = (".py", ".pyi", ".ipynb")


class ConfigError(ValueError):
    """An invalid configuration; ``str()`` is one line naming the file and the key."""


#: A rule's options as a sorted tuple of (name, value) pairs: hashable.
OptionItems = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Config:
    """One ``[tool.dropcheck]`` table, validated. Paths in patterns are relative to ``root``."""

    path: str | None = None
    root: str = "."
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    preview: bool = False
    force_exclude: bool = False
    respect_gitignore: bool = True
    #: Base URL of the rule pages (``CODE.md`` under it) in JSON, SARIF and the language
    #: server; None: the repository's ``docs/rules`` (see ``output/rules_info.py``).
    docs_url: str | None = None
    rule_options: tuple[tuple[str, OptionItems], ...] = ()


@dataclass(frozen=True)
class Overrides:
    """What the command line says; None/empty means "not given", so the file's value stands."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    extend_exclude: tuple[str, ...] = ()
    preview: bool = False
    force_exclude: bool = False


@dataclass(frozen=True)
class FileSettings:
    """The effective settings for one file: what the engine needs, nothing else.

    Frozen and made of tuples, strings, numbers and booleans only, so it is hashable and
    :meth:`key` serialises it deterministically (for a result cache).
    """

    rules: tuple[str, ...]
    rule_settings: tuple[tuple[str, OptionItems], ...] = ()
    config_path: str | None = field(default=None, compare=False)

    def key(self) -> str:
        return json.dumps([self.rules, self.rule_settings], sort_keys=True, default=str)

    def lint_options(self, base: LintOptions) -> LintOptions:
        # Catalog entries: the engine imports a rule's module only for files that need it.
        return replace(
            base,
            rules=[info for info in rule_infos() if info.code in self.rules],
            rule_settings={code: dict(items) for code, items in self.rule_settings},
        )


# -- loading -----------------------------------------------------------------------------------


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: [tool.dropcheck] {message}")


def _strings(path: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, f"{key}: expected a list of strings, got {_describe(value)}")
    return tuple(value)


def _boolean(path: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"{key}: expected true or false, got {_describe(value)}")
    return value


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)
    return f"{kind} ({json.dumps(value, default=str)[:40]})"


def _selectors(path: str, key: str, value: Any) -> tuple[str, ...]:
    raw = _strings(path, key, value)
    try:
        return tuple(validate_selectors(raw))
    except SelectionError as error:
        raise _fail(path, f"{key}: {error}") from None


def _option_value(path: str, where: str, default: Any, value: Any) -> Any:
    """Check a rule option against the type of its default; return it in hashable form."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, list)
        value = tuple(value) if ok else value
    else:
        ok = True
    if not ok:
        expected = type(default).__name__.replace("str", "string").replace("tuple", "list")
        raise _fail(path, f"{where}: expected {expected}, got {_describe(value)}")
    return value


def parse_config(data: Mapping[str, Any], path: str) -> Config:
    """Validate a ``[tool.dropcheck]`` table (already parsed TOML)."""
    values: dict[str, Any] = {}
    options: dict[str, OptionItems] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key not in KEYS:
            rule = rule_info(key)
            if rule is None:
                raise _fail(path, f"unknown rule in option table [{key}] "
                                  f"(see `dropcheck rule --all`)")
            items: dict[str, Any] = {}
            for name, option in value.items():
                if name not in rule.options:
                    known = ", ".join(sorted(rule.options)) or "none"
                    raise _fail(path, f"{rule.code}: unknown option {name!r} "
                                      f"(options of {rule.code}: {known})")
                items[name] = _option_value(path, f"{rule.code}.{name}", rule.options[name],
                                            option)
            if rule.code in options:
                raise _fail(path, f"options of {rule.code} given twice")
            options[rule.code] = tuple(sorted(items.items()))
            continue
        if key not in KEYS:
            close = ", ".join(sorted(KEYS))
            raise _fail(path, f"unknown key {key!r} (known keys: {close}, and rule option "
                              f"tables such as [tool.dropcheck.DC002])")
        if key in ("select", "ignore", "extend-select"):
            values[key.replace("-", "_")] = _selectors(path, key, value)
        elif key in ("exclude", "extend-exclude"):
            values[key.replace("-", "_")] = _strings(path, key, value)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise _fail(path, f"per-file-ignores: expected a table, got {_describe(value)}")
            values["per_file_ignores"] = tuple(
                (pattern, _selectors(path, f"per-file-ignores.{pattern!r}", codes))
                for pattern, codes in value.items()
            )
        elif key == "docs-url":
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise _fail(path, f"docs-url: expected an http(s) URL, got {_describe(value)}")
            values["docs_url"] = value
        else:
            values[key.replace("-", "_")] = _boolean(path, key, value)
    return Config(path=path, root=os.path.dirname(os.path.abspath(path)),
                  rule_options=tuple(sorted(options.items())), **values)


@lru_cache(maxsize=1024)
def load_pyproject(path: str) -> Config | None:
    """The config of one ``pyproject.toml``; None when it has no ``[tool.dropcheck]``."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    if b"dropcheck" not in raw:
        return None  # cheap: most pyproject.toml files on the way up are not ours
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        message = " ".join(str(error).split())
        raise ConfigError(f"{path}: invalid TOML: {message}") from None
    table = document.get("tool", {}).get("dropcheck")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.dropcheck] must be a table")
    return parse_config(table, path)


@lru_cache(maxsize=4096)
def find_config(folder: str) -> Config | None:
    """The nearest ``[tool.dropcheck]`` at or above ``folder`` (absolute)."""
    candidate = os.path.join(folder, "pyproject.toml")
    if os.path.isfile(candidate):
        found = load_pyproject(candidate)
        if found is not None:
            return found
    parent = os.path.dirname(folder)
    return None if parent == folder else find_config(parent)


# -- patterns ----------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Anchored glob with ``**`` (any folders), ``*``/``?`` within one path component."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    # A pattern naming a folder also matches everything inside it.
    return re.compile("^" + "".join(out) + "(?:/.*)?$", re.DOTALL)


def matches(pattern: str, path: str, root: str) -> bool:
    """Whether ``path`` matches a ruff-style pattern relative to ``root``.

    A pattern without ``/`` matches the file or folder name (``tests``, ``*_pb2.py``); one
    with ``/`` matches the path relative to ``root`` (``src/gen/**``, ``scripts/*.py``), and a
    folder pattern covers everything inside it. Folder walks test every folder on the way
    down, so a name pattern excludes that folder wherever it is below the walked one; the
    folders above a path given explicitly are not consulted (unless ``--force-exclude``).
    """
    absolute = os.path.abspath(path)
    pattern = pattern.replace(os.sep, "/")
    if "/" not in pattern.rstrip("/"):
        return fnmatch.fnmatchcase(os.path.basename(absolute), pattern.rstrip("/"))
    rel = os.path.relpath(absolute, root)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return False
    rel = rel.replace(os.sep, "/")
    return bool(_glob_regex(pattern.removeprefix("./").lstrip("/")).match(rel))


# -- resolution --------------------------------------------------------------------------------


def _codes(rules: Iterable[Any]) -> set[str]:
    return {rule.code for rule in rules}


class Resolver:
    """Effective settings per file: the nearest config layered under the command line."""

    def __init__(self, overrides: Overrides | None = None, cwd: str | None = None) -> None:
        self.overrides = overrides or Overrides()
        self.cwd = os.path.abspath(cwd or os.getcwd())
        self.gitignore = GitIgnore()
        self.default = Config(root=self.cwd)
        self._enabled: dict[Config, tuple[str, ...]] = {}
        self._exclusions: dict[Config, tuple[re.Pattern[str] | None, tuple[str, ...]]] = {}
        self._settings: dict[tuple[Config, tuple[int, ...]], FileSettings] = {}

    def config_for(self, path: str) -> Config:
        """The config governing ``path`` (a file or folder); raises ConfigError."""
        absolute = os.path.abspath(path)
        if not absolute.endswith(_LINTED_SUFFIXES) and os.path.isdir(absolute):
            return find_config(absolute) or self.default
        return find_config(os.path.dirname(absolute)) or self.default

    def enabled(self, config: Config) -> tuple[str, ...]:
        """Rule codes enabled by a config and the command line, before per-file ignores."""
        if config not in self._enabled:
            cli = self.overrides
            preview = cli.preview or config.preview
            if cli.select is not None:
                chosen = _codes(select_infos([*cli.select, *cli.extend_select], cli.ignore,
                                             preview=preview))
            else:
                base = [*(config.select if config.select is not None else ("ALL",)),
                        *config.extend_select]
                chosen = _codes(select_infos(base, config.ignore, preview=preview))
                if cli.extend_select:
                    chosen |= _codes(select_infos(cli.extend_select, cli.ignore,
                                                  preview=preview))
                if cli.ignore:
                    everything = _codes(rule_infos())
                    kept = _codes(select_infos(["ALL"], cli.ignore, preview=True))
                    chosen -= everything - kept
            self._enabled[config] = tuple(sorted(chosen))
        return self._enabled[config]

    def settings_for(self, path: str) -> FileSettings:
        config = self.config_for(path)
        ignored = tuple(i for i, (pattern, _) in enumerate(config.per_file_ignores)
                        if matches(pattern, path, config.root))
        key = (config, ignored)
        if key not in self._settings:
            rules = set(self.enabled(config))
            for index in ignored:
                selectors = config.per_file_ignores[index][1]
                rules -= _codes(select_infos(selectors, (), preview=True))
            self._settings[key] = FileSettings(rules=tuple(sorted(rules)),
                                               rule_settings=config.rule_options,
                                               config_path=config.path)
        return self._settings[key]

    def force_exclude(self, path: str) -> bool:
        return self.overrides.force_exclude or self.config_for(path).force_exclude

    def _exclusion(self, config: Config) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
        """A config's exclude patterns, compiled once: one regex for all the name patterns,
        and the path patterns (they need the path relative to the project root)."""
        if config not in self._exclusions:
            patterns = (*config.exclude, *config.extend_exclude, *self.overrides.extend_exclude)
            names = [p.replace(os.sep, "/").rstrip("/") for p in patterns
                     if "/" not in p.replace(os.sep, "/").rstrip("/")]
            regex = re.compile("|".join(fnmatch.translate(n) for n in names)) if names else None
            paths = tuple(p for p in patterns if "/" in p.replace(os.sep, "/").rstrip("/"))
            self._exclusions[config] = (regex, paths)
        return self._exclusions[config]

    def is_excluded(self, path: str, is_dir: bool) -> bool:
        """Whether a walk skips ``path`` (exclude patterns, then ``.gitignore``). Called for
        every folder and file of a walk, so everything it needs is cached per folder."""
        name = os.path.basename(path)
        if name in ALWAYS_EXCLUDED:
            return True
        folder = os.path.dirname(os.path.abspath(path))
        config = find_config(folder) or self.default
        names, paths = self._exclusion(config)
        if names is not None and names.match(name):
            return True
        if paths and any(matches(pattern, path, config.root) for pattern in paths):
            return True
        return config.respect_gitignore and self.gitignore.ignored(path, is_dir)

    def describe(self, path: str) -> str:
        """``--show-settings``: the effective configuration for one file, human-readable."""
        config = self.config_for(path)
        settings = self.settings_for(path)
        excluded = self.is_excluded(path, os.path.isdir(path)) or any(
            self.is_excluded(parent, True) for parent in _parents(path, config.root)
        )
        by_code = {info.code: info for info in rule_infos()}
        options = dict(settings.rule_settings)
        lines = [
            f"Settings for: {path}",
            f"config file: {config.path or '(none found; defaults and command line)'}",
            f"project root: {config.root}",
            f"preview: {str(self.overrides.preview or config.preview).lower()}",
            f"excluded from folder walks: {'yes' if excluded else 'no'}",
            f"force-exclude: {str(self.force_exclude(path)).lower()}",
            f"respect-gitignore: {str(config.respect_gitignore).lower()}",
            f"exclude: {_list(config.exclude)}",
            f"extend-exclude: {_list((*config.extend_exclude, *self.overrides.extend_exclude))}",
            f"per-file-ignores: {_pfi(config.per_file_ignores)}",
            f"enabled rules ({len(settings.rules)}):",
        ]
        for code in settings.rules:
            rule = by_code[code]
            merged = {**rule.options, **dict(options.get(code, ()))}
            extra = "".join(f" {k}={json.dumps(v)}" for k, v in sorted(merged.items()))
            tag = " (preview)" if rule.preview else ""
            lines.append(f"  {code} {rule.name}{tag}{extra}")
        return "\n".join(lines) + "\n"


def _parents(path: str, root: str) -> list[str]:
    """Folders between ``root`` and ``path`` (exclusive), for the exclusion of explicit paths."""
    absolute = os.path.abspath(path)
    found: list[str] = []
    folder = os.path.dirname(absolute)
    while folder.startswith(root.rstrip(os.sep) + os.sep):
        found.append(folder)
        folder = os.path.dirname(folder)
    return found


def explicitly_excluded(resolver: Resolver, path: str) -> bool:
    """``--force-exclude``: a path given on the command line that excludes or .gitignore cover
    (itself or a folder above it, up to its project root)."""
    root = resolver.config_for(path).root
    if resolver.is_excluded(path, os.path.isdir(path)):
        return True
    return any(resolver.is_excluded(parent, True) for parent in _parents(path, root))


def _list(items: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _pfi(items: Sequence[tuple[str, Sequence[str]]]) -> str:
    return "{" + ", ".join(f"{json.dumps(p)} = {_list(c)}" for p, c in items) + "}"
