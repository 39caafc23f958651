"""The format check's verdicts on the carried release outputs are those of a reference taken before the expression
check (``verl_ext/rewards/expression``) was split into modules (tests/reference/format_verdicts.json, written by
``python tests/test_format_reference.py --write`` from the code of acb36c5).

Three digests, each with counts that say where a change landed:
- ``answers``: (reward, budget_exceeded) of ``check_answer_format`` on the last boxed answer of every response of
  release_data/outputs/**/*.json.gz (1,517 responses, files in path order, records in file order);
- ``ground_truths``: the same for each record's ground truth read as an answer (intervals, matrices, radicals);
- ``pipeline``: for every distinct normalised text of both, and for ``PROBES`` (one or more texts per bound and
  whitelist rule of the package's docstrings, which no release answer reaches), each step of the eval-free parse
  on its own (the code ``to_code`` makes, ``vet``'s and ``check_cost``'s exception and message, ``numeric_size``,
  ``evaluates``, ``magnitude``, the type ``build`` gives): most answers take the format check's fast paths, which
  skip these.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.expression import (
    NotMath,
    TooCostly,
    build,
    check_cost,
    check_magnitude,
    evaluates,
    magnitude,
    numeric_size,
    to_code,
    vet,
)
from verl_ext.rewards.format import _SINGLE_EQUALS, check_answer_format, normalize_answer

REPO = Path(__file__).resolve().parents[1]
REFERENCE_PATH = REPO / "tests" / "reference" / "format_verdicts.json"

PROBES = (
    "9**9**9",  # the digits bound
    "10**10**7",
    "1e999999999",
    "(2x)**10**100",
    "sqrt(10**1000)",  # roots and functions of large numbers
    "+".join(["sqrt(2)"] * 17),  # too many irrational nodes
    "sqrt(2) + sqrt(3) < sqrt(5 + 2*sqrt(6))",  # an order comparison of two irrational numbers
    "max(sqrt(2), sqrt(3))",
    "(1, 2) * 99999999",  # Python's repetition
    "(1, 2) * 6000",
    "-" * 70 + "x",  # nesting
    "floor(exp(10**15))",  # the magnitude bound
    "sin(10**200)",
    "exp(10**400)",
    "floor(exp(230) sin(1))",
    "2**0.5 + 1.5**0.5",
    "open('x','w')",  # the whitelist
    "().__class__",
    "exec('1')",
    "x.real",
    "x[0]",
    "lambda: 1",
    "[i for i in x]",
    "{1: 2}",
    "1 if x else 2",
    "Float('abc')",
    "cos(pi/120)",  # the builder
    "1/tan(pi/240)",
    "1 < 2 < 3",
    "x < y < z",
    "(1, 2) + (3,)",
)


def release_records() -> list[dict]:
    files = sorted((REPO / "release_data" / "outputs").glob("**/*.json.gz"))
    assert len(files) == 19, files
    return [record for path in files for record in json.loads(gzip.decompress(path.read_bytes()))]


def _digest(rows: list) -> str:
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def verdicts(answers: list[str | None]) -> dict:
    """Digest and counts of the format check's (reward, budget_exceeded) on each answer, in order."""
    rows = []
    for answer in answers:
        check = check_answer_format(answer)
        rows.append([check.reward, check.budget_exceeded])
    return {
        "sha256": _digest(rows),
        "count": len(rows),
        "no_answer": sum(answer is None for answer in answers),
        "well_formed": sum(reward == 1.0 for reward, _ in rows),
        "budget_exceeded": sum(budget for _, budget in rows),
    }


def _failure(exc: Exception) -> str:
    """Our exceptions with their message; others (Python's parser, sympy) by type only."""
    if isinstance(exc, (NotMath, TooCostly)):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


def pipeline_outcome(text: str) -> tuple[list, str]:
    """Each step of the eval-free parse of one normalised text, and the step it stopped at."""
    try:
        code = to_code(text)
    except Exception as exc:
        return [text, "to_code", _failure(exc)], "to_code failed"
    row: list = [text, code]
    try:
        tree = vet(code)
    except Exception as exc:
        return [*row, "vet", _failure(exc)], f"vet: {type(exc).__name__}"
    try:
        row.append(list(numeric_size(tree)))
    except Exception as exc:
        row.append(_failure(exc))
    try:
        check_cost(tree)
    except Exception as exc:
        return [*row, "check_cost", _failure(exc)], f"check_cost: {type(exc).__name__}"
    evaluating = evaluates(tree)
    row.append(evaluating)
    if evaluating:
        try:
            row.append(list(magnitude(tree)))
            check_magnitude(tree)
        except Exception as exc:
            return [*row, "magnitude", _failure(exc)], f"magnitude: {type(exc).__name__}"
    try:
        built = build(tree)
    except Exception as exc:
        return [*row, "build", type(exc).__name__], f"build: {type(exc).__name__}"
    return [*row, "built", type(built).__name__], "built"


def pipeline(texts: list[str]) -> dict:
    """Digest of every step's outcome on each distinct text (sorted), and how many stopped at each step."""
    rows, stops = [], Counter()
    for text in sorted(set(texts)):
        row, stop = pipeline_outcome(text)
        rows.append(row)
        stops[stop] += 1
    return {"sha256": _digest(rows), "texts": len(rows), "stops": dict(sorted(stops.items()))}


def measure() -> dict:
    records = release_records()
    answers = [extract_answer(record["response"]) for record in records]
    ground_truths = [record["ground_truth"] for record in records]
    texts = [_SINGLE_EQUALS.sub("==", normalize_answer(a)) for a in answers + ground_truths if a]
    return {
        "answers": verdicts(answers),
        "ground_truths": verdicts(ground_truths),
        "pipeline": pipeline(texts + list(PROBES)),
    }


def test_format_verdicts_on_the_release_outputs_match_the_reference():
    reference = json.loads(REFERENCE_PATH.read_text(encoding="utf-8"))
    measured = measure()
    assert measured == {key: reference[key] for key in ("answers", "ground_truths", "pipeline")}


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python tests/test_format_reference.py --write  (records today's verdicts)")
    REFERENCE_PATH.write_text(json.dumps(measure(), indent=1) + "\n", encoding="utf-8")
