"""Argument binding: which expression a call passes for a named parameter, by keyword or
position, per the callee's signature in :mod:`dropcheck.analysis.torch_api`."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst


class _Unknown:
    """A parameter that a ``*args``/``**kwargs`` may or may not fill."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class BoundCall:
    """A call to a known callee with its arguments bound to parameter names."""

    qualified_name: str
    node: cst.Call
    arguments: dict[str, cst.Arg] = field(default_factory=dict)
    unknown: frozenset[str] = frozenset()
    has_star_kwargs: bool = False

    def argument(self, name: str) -> cst.Arg | _Unknown | None:
        """The argument passed for ``name``; None if omitted, UNKNOWN if it cannot be told."""
        if name in self.arguments:
            return self.arguments[name]
        if name in self.unknown or self.has_star_kwargs:
            return UNKNOWN
        return None

    def value(self, name: str) -> cst.BaseExpression | _Unknown | None:
        arg = self.argument(name)
        return arg.value if isinstance(arg, cst.Arg) else arg


def bind(qualified_name: str, call: cst.Call, params: tuple[str, ...]) -> BoundCall:
    arguments: dict[str, cst.Arg] = {}
    unknown: set[str] = set()
    has_star_kwargs = False
    position = 0
    star_seen = False
    for arg in call.args:
        if arg.star == "**":
            has_star_kwargs = True
        elif arg.star == "*":
            # every parameter from here on may come from the unpacked sequence
            star_seen = True
            unknown.update(params[position:])
        elif arg.keyword is not None:
            arguments[arg.keyword.value] = arg
            unknown.discard(arg.keyword.value)
        elif not star_seen:
            if position < len(params):
                arguments[params[position]] = arg
            position += 1
    return BoundCall(
        qualified_name, call, arguments, frozenset(unknown), has_star_kwargs=has_star_kwargs
    )
