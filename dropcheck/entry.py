"""The console script's entry point. Everything, imports included, runs under the handler
that turns Ctrl-C into "dropcheck: interrupted" and exit status 130: importing LibCST and the
rules takes a good part of a second on a busy machine, and an interrupt then used to end in
a traceback. This module imports nothing else at import time for the same reason."""

from __future__ import annotations

import sys
from collections.abc import Sequence

EXIT_INTERRUPTED = 130


def interrupted() -> None:
    sys.stderr.write("dropcheck: interrupted\n")
    sys.exit(EXIT_INTERRUPTED)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        from dropcheck.cli import main as run

        run(argv)
    except KeyboardInterrupt:
        interrupted()
