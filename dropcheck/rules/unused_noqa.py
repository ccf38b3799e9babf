from __future__ import annotations

from dropcheck.rules.base import Rule
from dropcheck.suppression import UNUSED_NOQA_CODE, UNUSED_NOQA_NAME


class UnusedNoqa(Rule):
    """
    ## What it does
    Flags a `# noqa: DC…` (or file-level `# dropcheck: noqa: DC…`) directive naming a dropcheck
    code that suppresses nothing: the rule ran on the file and reported nothing there, or the
    code does not exist (a typo such as `DC02`, or `DC000`, which cannot be suppressed).

    ## Why is this bad?
    A stale suppression hides the next real finding on that statement: someone changes
    `nn.Dropout(0.1)` back to `nn.Dropout(0.9)` and the old `# noqa: DC002` keeps CI green.
    A misspelled code suppresses nothing and misleads the reader.

    Codes of other tools (`E501`, `F401`) and blanket `# noqa` comments are never reported:
    they may belong to flake8 or ruff. Codes of rules that did not run on the file (not selected,
    or ignored for it by `per-file-ignores`) are not reported either.

    This rule is computed by the central suppression step, after every other rule has reported,
    so it sees exactly which directives were used.

    ## Example
    ```python
    drop = nn.Dropout(0.1)  # noqa: DC002
    ```

    ## Use instead
    ```python
    drop = nn.Dropout(0.1)
    ```

    ## Fix safety
    Safe: the fix removes the unused codes from the directive, or the whole directive (and the
    spaces before it) when no code is left; other tools' codes and the rest of the comment stay.
    No fix is offered when the comment continues after the codes
    (`# noqa: DC002 -- reviewed`): what to keep of that text is the author's call.

    ## References
    - [ruff: RUF100 unused-noqa](https://docs.astral.sh/ruff/rules/unused-noqa/)
    - [flake8: selecting and ignoring violations](https://flake8.pycqa.org/en/latest/user/violations.html)
    """

    code = UNUSED_NOQA_CODE
    name = UNUSED_NOQA_NAME
    message = "Unused `noqa` directive"
    preview = True
    requires = ((b"noqa", b"NOQA", b"Noqa"),)

    VALID = [
        "import torch.nn as nn\nnn.Dropout(0.1)  # noqa: E501\n",
        "import torch.nn as nn\nnn.Dropout(0.1)  # noqa\n",
        "import torch.nn as nn\nnn.Dropout(0.1)  # noqa: DC017\n",
        "x = 1  # a comment that mentions noqa in passing\n",
    ]
    INVALID = [
        "import torch.nn as nn\nnn.Dropout(0.1)  # noqa: DC999  # expect: DC017\n",
        "import torch.nn as nn\nnn.Dropout(0.1)  # noqa: DC000  # expect: DC017\n",
        "# dropcheck: noqa: DC02  # expect: DC017\nimport torch.nn as nn\n",
    ]
    # The main case (a known code whose rule ran and found nothing) needs that other rule
    # enabled too; tests/test_suppression.py covers it with every rule on.
