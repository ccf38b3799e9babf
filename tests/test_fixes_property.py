"""Property tests for --fix: random combinations of fixable snippets, embedded in random valid
code (hypothesmith), always give output that parses, is stable under a second --fix, and
changes nothing outside the snippets."""

from __future__ import annotations

import ast
import os
import warnings
from functools import cache

import hypothesmith
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dropcheck.engine import LintOptions
from dropcheck.fix.run import fix_source
from dropcheck.rules import all_rules

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"

#: Fixable snippets: module-level code, each ending with a newline; `{i}` makes names unique.
SNIPPETS = [
    # DC006: Dropout(True) -> Dropout(inplace=True)
    "drop{i} = nn.Dropout(True)\n",
    # DC003: element-wise dropout after a conv -> channel dropout
    "block{i} = nn.Sequential(\n    nn.Conv2d(3, 8, 3),\n    nn.ReLU(),\n    nn.Dropout(0.2),\n)\n",
    # DC001: eval before the inference block
    "def predict{i}(x):\n"
    "    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\n"
    "    model.load_state_dict(torch.load('w{i}.pt'))\n"
    "    with torch.no_grad():\n"
    "        return model(x)\n",
    # DC007: MC dropout through train()
    "def sample{i}(model, x):\n"
    "    model.train()\n"
    "    with torch.no_grad():\n"
    "        return torch.stack([model(x) for _ in range(8)])\n",
    # DC008: eval in the training loop, never restored
    "def fit{i}(loader, val):\n"
    "    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\n"
    "    opt = torch.optim.SGD(model.parameters(), 0.1)\n"
    "    for x, y in loader:\n"
    "        loss = (model(x) - y).pow(2).mean()\n"
    "        loss.backward()\n"
    "        opt.step()\n"
    "        model.eval()\n"
    "        print(model(val))\n",
    # DC005 (safe) and DC012 (unsafe): training=self.training
    "class Net{i}(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.fc = nn.Linear(4, 4)\n"
    "    def forward(self, x):\n"
    "        x = F.alpha_dropout(self.fc(x), 0.1)\n"
    "        return F.dropout(\n"
    "            x,\n"
    "            0.1,\n"
    "        )\n",
]

OPTIONS = LintOptions(rules=list(all_rules()))
#: A bounded run in CI; set DROPCHECK_FIX_EXAMPLES=1000 for a longer one before a release.
EXAMPLES = int(os.environ.get("DROPCHECK_FIX_EXAMPLES", "25"))


def _fixed(source: str) -> str:
    result = fix_source("example.py", source.encode(), OPTIONS, unsafe=True)
    assert result.skipped == [], result.skipped
    return (result.fixed or source.encode()).decode()


@cache
def fixed_snippet(index: int, i: int, eol: str) -> str:
    """A snippet as fixing it alone (after the header) makes it."""
    snippet = SNIPPETS[index].format(i=i).replace("\n", eol)
    header = HEADER.replace("\n", eol)
    fixed = _fixed(header + snippet)
    assert fixed.startswith(header)
    return fixed[len(header):]


def _compiles(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


random_code = hypothesmith.from_grammar().map(lambda code: code if code.endswith("\n")
                                              else code + "\n").filter(_compiles)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
@given(
    parts=st.lists(st.tuples(st.sampled_from(range(len(SNIPPETS))), random_code),
                   min_size=1, max_size=4),
    eol=st.sampled_from(["\n", "\r\n"]),
)
def test_fixing_random_programs_is_safe_and_idempotent(
    parts: list[tuple[int, str]], eol: str
) -> None:
    chunks: list[tuple[str, int | None, int]] = [(HEADER.replace("\n", eol), None, 0)]
    for i, (index, code) in enumerate(parts):
        chunks.append((code.replace("\r\n", "\n").replace("\n", eol), None, 0))
        chunks.append((SNIPPETS[index].format(i=i).replace("\n", eol), index, i))
    source = "".join(text for text, _, _ in chunks)
    result = fix_source("example.py", source.encode(), OPTIONS, unsafe=True)
    assert result.skipped == [], result.skipped
    output = (result.fixed or source.encode()).decode()
    if result.fixed is not None:
        assert _compiles(output) or not _compiles(source)
    # Second run: nothing more to fix.
    again = fix_source("example.py", output.encode(), OPTIONS, unsafe=True)
    assert again.fixed is None, "a second --fix changed the file"
    # Only the snippets changed: random code and header verbatim, in order; each snippet is
    # either untouched (random code shadowed a name) or exactly its fix.
    position = 0
    for text, index, i in chunks:
        if index is None:
            assert output.startswith(text, position), "code outside the snippets changed"
            position += len(text)
            continue
        for candidate in (fixed_snippet(index, i, eol), text):
            if output.startswith(candidate, position):
                position += len(candidate)
                break
        else:
            raise AssertionError(f"snippet {index} changed unexpectedly:\n{output[position:]}")
    assert position == len(output)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    indices=st.lists(st.sampled_from(range(len(SNIPPETS))), min_size=1, max_size=6),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
def test_fixing_snippet_combinations(indices: list[int], eol: str, bom: bool) -> None:
    """Many fixes in one file (some adjacent): each snippet gets exactly its own fix, with the
    file's line endings and BOM, and a second run changes nothing."""
    header = HEADER.replace("\n", eol)
    body = [SNIPPETS[index].format(i=i).replace("\n", eol) for i, index in enumerate(indices)]
    prefix = b"\xef\xbb\xbf" if bom else b""
    data = prefix + (header + "".join(body)).encode()
    result = fix_source("example.py", data, OPTIONS, unsafe=True)
    assert result.skipped == []
    want = prefix + (header + "".join(fixed_snippet(index, i, eol)
                                       for i, index in enumerate(indices))).encode()
    assert result.fixed == want
    assert fix_source("example.py", want, OPTIONS, unsafe=True).fixed is None
