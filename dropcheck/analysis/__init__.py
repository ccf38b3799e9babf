"""The shared analysis layer: facts about one file, computed once and asked by every rule.

Rules never re-derive these facts; when a rule needs to know more, the analysis learns it here.
"""

from dropcheck.analysis.context import FileContext

__all__ = ["FileContext"]
