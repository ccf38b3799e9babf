"""Fuzzing (issue 8): random valid programs (hypothesmith) and byte/line mutations of realistic
dropout code never crash the engine.

"Crash" means: an exception out of the engine, a DC000 that reports an internal error (a rule
that raised), a parser crash or a timeout, or a DC000 reason spread over several lines.

The CI run is bounded (a few dozen examples per test, seconds). A longer run for a release:
``DROPCHECK_FUZZ_EXAMPLES=2000 .venv/bin/python bench/fuzz.py`` (see README).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dropcheck.engine import LintOptions, lint_source
from dropcheck.rules import all_rules

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("DROPCHECK_FUZZ_EXAMPLES", "25"))
OPTIONS = LintOptions(rules=list(all_rules()))
NO_PREFILTER = LintOptions(rules=list(all_rules()), prefilter=False)
CRASH_WORDS = ("internal error", "parser crashed", "parser failed", "took longer",
               "ended without a result")

FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 25,
                suppress_health_check=list(HealthCheck), database=None)


def seeds() -> list[bytes]:
    """Realistic dropout code: every fixture and every rule example."""
    found = [p.read_bytes() for p in sorted((ROOT / "fixtures").rglob("*.py"))]
    for rule in all_rules():
        found.extend(source.encode("utf-8") for source in [*rule.VALID, *rule.INVALID])
    return found


SEEDS = seeds()


def check(data: bytes, options: LintOptions = OPTIONS) -> None:
    findings = lint_source("fuzzed.py", data, options)
    for finding in findings:
        assert finding.line >= 1 and finding.column >= 1, finding
        if finding.code == "DC000":
            assert "\n" not in finding.message, finding.message
            assert not any(word in finding.message for word in CRASH_WORDS), finding.message


@FUZZ
@given(source=hypothesmith.from_grammar())
def test_random_valid_programs(source: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(source.encode("utf-8"), NO_PREFILTER)


@settings(FUZZ, max_examples=max(5, EXAMPLES // 5))  # from_node is slow to generate
@given(source=hypothesmith.from_node())
def test_random_programs_from_syntax_trees(source: str) -> None:
    check(source.encode("utf-8"), NO_PREFILTER)


def mutate(data: bytes, operations: list[tuple[str, int, int, bytes]]) -> bytes:
    lines = data.splitlines(keepends=True) or [b""]
    for kind, a, b, noise in operations:
        i, j = a % len(lines), b % len(lines)
        if kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(j, lines[i])
        elif kind == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "indent":
            lines[i] = b"    " + lines[i]
        elif kind == "dedent":
            lines[i] = lines[i].lstrip(b" \t")
        elif kind == "insert":
            line = lines[i]
            at = b % (len(line) + 1)
            lines[i] = line[:at] + noise + line[at:]
        elif kind == "truncate":
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: b % (len(lines[-1]) + 1)]
        elif kind == "flip" and lines[i]:
            line = bytearray(lines[i])
            line[b % len(line)] ^= 1 << (a % 8)
            lines[i] = bytes(line)
    return b"".join(lines)


OPERATION = st.tuples(
    st.sampled_from(["delete", "duplicate", "swap", "indent", "dedent", "insert", "truncate",
                     "flip"]),
    st.integers(0, 10_000), st.integers(0, 10_000),
    st.one_of(st.binary(max_size=8),
              st.sampled_from([b"(", b")", b"[", b":", b"\\", b"'", b'"""', b"\t", b"\r",
                               b"\x00", b"\xff", b"\xef\xbb\xbf", b"lambda", b" if ", b"*",
                               b"nn.Dropout(", b"0.9", b"@torch.no_grad()", b".eval()"])),
)


@FUZZ
@given(seed=st.sampled_from(range(len(SEEDS))),
       operations=st.lists(OPERATION, min_size=1, max_size=6))
def test_mutated_dropout_code(seed: int, operations: list[tuple[str, int, int, bytes]]) -> None:
    check(mutate(SEEDS[seed], operations))


@pytest.mark.parametrize("index", range(0, len(SEEDS), max(1, len(SEEDS) // 20)))
def test_every_prefix_of_a_seed_is_safe(index: int) -> None:
    # A file cut at any line: what an editor's save-on-type hands to pre-commit.
    data = SEEDS[index]
    lines = data.splitlines(keepends=True)
    for end in range(0, len(lines), max(1, len(lines) // 12)):
        check(b"".join(lines[:end]))
