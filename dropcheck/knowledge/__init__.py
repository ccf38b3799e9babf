"""Facts about libraries, shipped with dropcheck (``libraries.json``), and the command that
regenerates them: ``python -m dropcheck.knowledge`` (see ``generate.py``)."""
