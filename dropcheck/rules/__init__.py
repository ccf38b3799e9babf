"""The rule registry: every module in this package defines one rule class."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from functools import lru_cache

from dropcheck.findings import NOT_ANALYSED_CODE
from dropcheck.rules.base import Rule


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    """Every rule class, sorted by code."""
    found: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in ("base", "tokens"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Rule)
                and value is not Rule
                and value.__module__ == module.__name__
            ):
                if value.code in found:
                    raise RuntimeError(f"duplicate rule code {value.code}")
                found[value.code] = value
    return tuple(found[code] for code in sorted(found))


def rule_by_code(code_or_name: str) -> type[Rule] | None:
    key = code_or_name.strip()
    for rule in all_rules():
        if rule.code == key.upper() or rule.name == key:
            return rule
    return None


class SelectionError(ValueError):
    pass


def _matches(selector: str, rule: type[Rule]) -> bool:
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
        if not any(_matches(selector, rule) for rule in all_rules()):
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
    selects = validate_selectors(select) if select is not None else ["ALL"]
    ignores = validate_selectors(ignore)
    chosen = []
    for rule in all_rules():
        best_select = max((_specificity(s) for s in selects if _matches(s, rule)), default=-1)
        best_ignore = max((_specificity(s) for s in ignores if _matches(s, rule)), default=-1)
        if best_select < 0 or best_ignore >= best_select:
            continue
        if rule.preview and not preview and rule.code not in selects and rule.name not in selects:
            continue
        chosen.append(rule)
    return chosen
