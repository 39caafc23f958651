"""Field layouts: recognise how a source names its fields and turn each row into a ``Record``.

Three layouts cover every supported source (field names are matched case-insensitively):

- ``verl``: an already processed file (``prompt`` messages + ``reward_model``), e.g. the shared
  ``datasets/*.parquet``; the problem is recovered by inverting the prompt template and the ground
  truth is kept verbatim (so a round trip is exact).
- ``problem_answer``: ``problem``/``question`` + ``answer``/``final_answer`` (AIME, AMC, MATH-500,
  Minerva, OlympiadBench, DeepScaleR); a list answer gives several acceptable answers.
- ``problem_solution``: ``problem`` + ``solution`` and no answer (MATH train); the ground truth is the
  last ``\\boxed{}`` of the solution.

A bad row becomes a ``Rejected`` with its ``Issue``s (file, row, field); a file in no layout
raises ``DataError``.
"""

from __future__ import annotations

import numbers
from typing import Any

from data_prep.answers import last_boxed, to_answers
from data_prep.records import DataError, Issue, Record, Rejected
from data_prep.rows import EXTRA_FIELDS
from data_prep.sources import Source
from data_prep.templates import problem_from_messages

PROBLEM_KEYS = ("problem", "question")
ANSWER_KEYS = ("answer", "final_answer")
META_ALIASES: dict[str, tuple[str, ...]] = {
    "unique_id": ("unique_id", "id", "idx"),
    "level": ("level",),
    "subject": ("subject", "type", "subfield"),
    "difficulty": ("difficulty",),
    "year": ("year",),
    "url": ("url",),
    "unit": ("unit",),
    "answer_type": ("answer_type",),
}
LAYOUTS_HELP = (
    "problem|question + answer|final_answer; problem + solution (MATH, answer = last \\boxed{}); "
    "prompt + reward_model (a processed veRL file)"
)


def _lower_keys(row: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): k for k in row}


def _first(keys: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((keys[n] for n in names if n in keys), None)


def detect_layout(row: dict[str, Any], origin: str) -> str:
    """Name of the layout of ``row`` (the first row decides for the whole file)."""
    keys = _lower_keys(row)
    if "prompt" in keys and "reward_model" in keys:
        return "verl"
    if _first(keys, PROBLEM_KEYS):
        if _first(keys, ANSWER_KEYS):
            return "problem_answer"
        if "solution" in keys:
            return "problem_solution"
    raise DataError(f"{origin}: unknown field layout: fields {sorted(row)}; expected one of: {LAYOUTS_HELP}")


def _coerce(name: str, value: Any) -> Any:
    """Value for ``extra_info[name]`` of the Arrow type ``EXTRA_FIELDS`` gives; raises ValueError."""
    if value is None:
        return None
    kind = str(EXTRA_FIELDS[name])
    if kind == "double":
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    if kind == "int64":
        if isinstance(value, bool) or (isinstance(value, numbers.Number) and not float(value).is_integer()):
            raise ValueError(value)
        return int(value)
    if kind == "string":
        return str(value)
    return [str(v) for v in value]


def _meta(row: dict[str, Any], keys: dict[str, str], origin: str, i: int) -> tuple[dict[str, Any], list[Issue]]:
    meta: dict[str, Any] = {}
    issues: list[Issue] = []
    for name, aliases in META_ALIASES.items():
        key = _first(keys, aliases)
        if key is None:
            continue
        try:
            meta[name] = _coerce(name, row[key])
        except (TypeError, ValueError):
            issues.append(Issue(origin, i, key, f"cannot read {row[key]!r} as {EXTRA_FIELDS[name]}"))
    if "unique_id" not in meta and {"aime_number", "problem_number"} <= keys.keys():
        number = row[keys["aime_number"]]  # AIME I / II
        part = "I" * number if isinstance(number, int) and 0 < number < 3 else str(number)
        meta["unique_id"] = f"{row.get(keys.get('year', ''), '')}-{part}-{row[keys['problem_number']]}"
    return meta, issues


def _text(row: dict[str, Any], key: str | None, name: str, origin: str, i: int) -> tuple[str | None, Issue | None]:
    if key is None or key not in row:
        return None, Issue(origin, i, name, "missing")
    value = row[key]
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, Issue(origin, i, key, "empty")
    if not isinstance(value, str):
        return None, Issue(origin, i, key, f"not text: {value!r}")
    return value, None


def _problem(row: dict[str, Any], keys: dict[str, str], origin: str, i: int) -> tuple[str | None, Issue | None]:
    problem, issue = _text(row, _first(keys, PROBLEM_KEYS), "problem", origin, i)
    context = row.get(keys["context"]) if "context" in keys else None
    if problem is not None and isinstance(context, str) and context.strip() and context.strip() != "None":
        problem = context.strip() + "\n\n" + problem
    return problem, issue


def _read_plain(row: dict[str, Any], layout: str, origin: str, i: int) -> Record | Rejected:
    keys = _lower_keys(row)
    problem, issue = _problem(row, keys, origin, i)
    issues = [issue] if issue else []
    if layout == "problem_answer":
        key = _first(keys, ANSWER_KEYS) or "answer"
        answers = to_answers(row.get(key))
        if answers is None:
            issues.append(Issue(origin, i, key, f"missing or empty answer: {row.get(key)!r}"))
    else:
        solution, sol_issue = _text(row, keys.get("solution"), "solution", origin, i)
        boxed = last_boxed(solution) if solution else None
        answers = to_answers(boxed) if boxed is not None else None
        if sol_issue:
            issues.append(sol_issue)
        elif answers is None:
            issues.append(Issue(origin, i, keys["solution"], "no non-empty \\boxed{} answer in the solution"))
    meta, meta_issues = _meta(row, keys, origin, i)
    issues += meta_issues
    if issues or problem is None or answers is None:
        return Rejected(row=i, source_index=i, problem=problem, issues=tuple(issues))
    if len(answers) > 1:
        meta["answers"] = answers
    return Record(problem=problem, answer=answers[0], row=i, source_index=i, meta=meta)


def _read_verl(row: dict[str, Any], origin: str, i: int) -> Record | Rejected:
    issues = []
    problem = problem_from_messages(row.get("prompt") or [])
    if problem is None or not problem.strip():
        issues.append(Issue(origin, i, "prompt", "not a known template (qwen_boxed or plain_boxed) or empty problem"))
    reward = row.get("reward_model") or {}
    answer = reward.get("ground_truth") if isinstance(reward, dict) else None
    if not isinstance(answer, str) or not answer.strip():
        issues.append(Issue(origin, i, "reward_model.ground_truth", f"missing or empty: {answer!r}"))
    extra = row.get("extra_info") or {}
    index = extra.get("index", i) if isinstance(extra, dict) else i
    if not isinstance(index, numbers.Integral) or isinstance(index, bool):
        issues.append(Issue(origin, i, "extra_info.index", f"not an integer: {index!r}"))
        index = None
    meta: dict[str, Any] = {}
    for name in EXTRA_FIELDS:
        value = extra.get(name) if isinstance(extra, dict) else None
        try:
            meta[name] = _coerce(name, value)
        except (TypeError, ValueError):
            issues.append(Issue(origin, i, f"extra_info.{name}", f"cannot read {value!r} as {EXTRA_FIELDS[name]}"))
    if issues or problem is None or not isinstance(answer, str):
        return Rejected(row=i, source_index=index, problem=problem or None, issues=tuple(issues))
    return Record(problem=problem, answer=answer, row=i, source_index=int(index), meta=meta)


def read_records(source: Source) -> tuple[str, list[Record], list[Rejected]]:
    """(layout, good records in source order, the rows that could not be read and why)."""
    if not source.rows:
        raise DataError(f"{source.origin}: no rows")
    layout = detect_layout(source.rows[0], source.origin)
    records: list[Record] = []
    rejected: list[Rejected] = []
    for i, row in enumerate(source.rows):
        result = _read_verl(row, source.origin, i) if layout == "verl" else _read_plain(row, layout, source.origin, i)
        (records if isinstance(result, Record) else rejected).append(result)  # type: ignore[arg-type]
    return layout, records, rejected
