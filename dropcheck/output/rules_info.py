"""What the output formats say about a rule: its documentation URL and help text.

Each code's page is ``docs/rules/CODE.md`` (generated from the rule docstrings by
``python -m dropcheck.docs``). The base URL is ``docs-url`` from the configuration when set
(a mirror, a docs site), else the repository address in ``pyproject.toml``'s
``[project.urls]`` (read from the installed package's metadata) + ``/blob/main/docs/rules``."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from dropcheck.findings import NOT_ANALYSED_CODE, NOT_ANALYSED_NAME
from dropcheck.rules import rule_by_code, rule_info

if TYPE_CHECKING:
    from dropcheck.rules.base import Rule

#: The fallback when the package metadata cannot be read (a source tree not installed); the
#: same address as ``[project.urls]`` (tests/test_docs.py checks that they agree).
REPOSITORY = "https://github.com/dropcheck/dropcheck"

#: What DC000 (not a rule module) means; its page and the SARIF descriptor say this.
NOT_ANALYSED_DOC = ("A file that could not be read or parsed (syntax error, undecodable bytes, "
                    "unreadable, not a regular file, larger than `--max-file-size`, analysed "
                    "longer than `--file-timeout`). Always reported, whatever `--select` and "
                    "`--ignore` say, and exit status 2: the file was not checked.")

_base: str | None = None


@cache
def repository() -> str:
    """The project's repository address, as ``[project.urls]`` gives it."""
    try:
        from importlib.metadata import PackageNotFoundError, metadata

        urls = metadata("dropcheck").get_all("Project-URL") or []
    except (ImportError, PackageNotFoundError):
        return REPOSITORY
    found = dict(entry.partition(", ")[::2] for entry in urls)
    for key in ("Repository", "Source", "Homepage"):
        if found.get(key, "").startswith("https://"):
            return found[key].rstrip("/")
    return REPOSITORY


def default_docs_url() -> str:
    return f"{repository()}/blob/main/docs/rules"


def use_docs_url(base: str | None) -> None:
    """Set the base URL of the rule pages (``docs-url``); None: the default."""
    global _base
    _base = base.rstrip("/") if base else None
    rule_url.cache_clear()


@cache
def rule_for(code: str) -> type[Rule] | None:
    return rule_by_code(code)


@cache
def rule_url(code: str) -> str | None:
    """The code's page under the docs base URL; None for a code dropcheck does not know."""
    if code != NOT_ANALYSED_CODE and rule_info(code) is None:
        from dropcheck.runtime_codes import runtime_code

        if runtime_code(code) is None:
            return None
    return f"{_base or default_docs_url()}/{code}.md"


def rule_documentation(code_or_name: str) -> str | None:
    """What ``dropcheck rule CODE`` prints and the language server's hover shows: a title and
    the documentation of a static rule, DC000 or a runtime code; None for one it does not
    know."""
    from dropcheck.runtime_codes import runtime_code

    if code_or_name.upper() == NOT_ANALYSED_CODE or code_or_name == NOT_ANALYSED_NAME:
        return (f"# {NOT_ANALYSED_NAME} ({NOT_ANALYSED_CODE})\n\n"
                f"## What it does\n{NOT_ANALYSED_DOC}")
    found = rule_by_code(code_or_name) or runtime_code(code_or_name)
    if found is None:
        return None
    title = f"# {found.name} ({found.code})" + (" — preview" if found.preview else "")
    return f"{title}\n\n{found.documentation()}"
