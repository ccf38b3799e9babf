"""The rule registry: every module in this package defines one rule class.

Selection and validation read rule catalog entries (catalog.py: code, name, status, options,
pre-filter tokens), so they import no rule module: those import LibCST and the analysis, and
are loaded only for a file that needs them."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

from dropcheck.findings import NOT_ANALYSED_CODE
from dropcheck.rules.catalog import CATALOG, RuleInfo, info_of

if TYPE_CHECKING:
    from dropcheck.rules.base import Rule


def _rule_modules() -> list[str]:
    """The rule modules on this package's path (listed, not imported)."""
    return [f"{__name__}.{info.name}" for info in pkgutil.iter_modules(__path__)
            if not info.name.startswith("_") and info.name not in ("base", "tokens", "catalog", "prefilter")]


def _classes(module_name: str) -> list[type[Rule]]:
    from dropcheck.rules.base import Rule

    module = importlib.import_module(module_name)
    return [value for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Rule) and value is not Rule
            and value.__module__ == module.__name__]


_Rule = TypeVar("_Rule", "type[Rule]", RuleInfo)


def _by_code(rules: Iterable[_Rule]) -> tuple[_Rule, ...]:
    """Sorted by code; a code twice is a bug."""
    found: dict[str, _Rule] = {}
    for rule in rules:
        if rule.code in found:
            raise RuntimeError(f"duplicate rule code {rule.code}")
        found[rule.code] = rule
    return tuple(found[code] for code in sorted(found))


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    """Every rule class, sorted by code."""
    classes = [rule for name in _rule_modules() for rule in _classes(name)]
    return _by_code(classes)


@lru_cache(maxsize=1)
def rule_infos() -> tuple[RuleInfo, ...]:
    """Every rule as a catalog entry, sorted by code: the catalog's, and those of rule modules
    it does not list (a rule module put on this package's path), imported to read them."""
    listed = {info.module for info in CATALOG}
    extra = [info_of(rule) for name in _rule_modules() if name not in listed
             for rule in _classes(name)]
    return _by_code([*CATALOG, *extra])


def rule_by_code(code_or_name: str) -> type[Rule] | None:
    info = rule_info(code_or_name)
    return info.load() if info is not None else None


def rule_info(code_or_name: str) -> RuleInfo | None:
    """A code's or name's catalog entry, without importing the rule."""
    key = code_or_name.strip()
    return next((info for info in rule_infos() if info.code == key.upper() or info.name == key),
                None)


class SelectionError(ValueError):
    pass


def _matches(selector: str, rule: RuleInfo) -> bool:
    return selector == "ALL" or rule.code.startswith(selector) or selector == rule.name


def _specificity(selector: str) -> int:
    return 0 if selector == "ALL" else len(selector)


def validate_selectors(selectors: Iterable[str]) -> list[str]:
    """Normalize codes/prefixes/names; unknown ones are a usage error."""
    result = []
    for raw in selectors:
        selector = raw.strip()
        if not selector:
            continue
        upper = selector.upper()
        if upper == "ALL" or upper.startswith("DC"):
            selector = upper
        if selector == NOT_ANALYSED_CODE:
            result.append(selector)
            continue
        if not any(_matches(selector, rule) for rule in rule_infos()):
            raise SelectionError(f"unknown rule selector: {raw!r}")
        result.append(selector)
    return result


def select_rules(
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    *,
    preview: bool = False,
) -> list[type[Rule]]:
    """Rules enabled by codes/prefixes, as ruff does: the longest matching selector wins.

    Preview rules are enabled by their exact code, or by any matching selector with ``preview``.
    """
    return [info.load() for info in select_infos(select, ignore, preview=preview)]


def select_infos(
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    *,
    preview: bool = False,
) -> list[RuleInfo]:
    """:func:`select_rules`'s choice as catalog entries: no rule module is imported."""
    selects = validate_selectors(select) if select is not None else ["ALL"]
    ignores = validate_selectors(ignore)
    chosen = []
    for rule in rule_infos():
        best_select = max((_specificity(s) for s in selects if _matches(s, rule)), default=-1)
        best_ignore = max((_specificity(s) for s in ignores if _matches(s, rule)), default=-1)
        if best_select < 0 or best_ignore >= best_select:
            continue
        if rule.preview and not preview and rule.code not in selects and rule.name not in selects:
            continue
        chosen.append(rule)
    return chosen
