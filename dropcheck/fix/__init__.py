"""Autofix: fixes as rules express them (:mod:`dropcheck.fix.changes`), helpers that build
them (:mod:`dropcheck.fix.helpers`), and applying them to files safely
(:mod:`dropcheck.fix.apply`, :mod:`dropcheck.fix.run`)."""

from dropcheck.fix.changes import InsertAfter, InsertBefore, NodeFix, Replace

__all__ = ["InsertAfter", "InsertBefore", "NodeFix", "Replace"]
