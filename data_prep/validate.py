"""Set-level checks on readable records: duplicates and row counts. Each returns ``Issue``s."""

from __future__ import annotations

from collections import Counter

from data_prep.overlap import normalise
from data_prep.records import Issue, Record


def duplicate_index_issues(records: list[Record], origin: str) -> list[Issue]:
    """One issue per row whose ``source_index`` an earlier row already has (a row given twice)."""
    seen: dict[int, int] = {}
    issues = []
    for r in records:
        if r.source_index in seen:
            issues.append(
                Issue(
                    origin,
                    r.row,
                    "extra_info.index",
                    f"duplicate row: index {r.source_index} is also row {seen[r.source_index]}",
                )
            )
        else:
            seen[r.source_index] = r.row
    return issues


def duplicate_problem_issues(records: list[Record], origin: str) -> list[Issue]:
    """One issue per row whose normalised problem text an earlier row already has."""
    seen: dict[str, int] = {}
    issues = []
    for r in records:
        key = normalise(r.problem)
        if key in seen:
            issues.append(Issue(origin, r.row, "problem", f"duplicate problem: same text as row {seen[key]}"))
        else:
            seen[key] = r.row
    return issues


def repeated_text_count(records: list[Record]) -> int:
    """How many records share their exact (problem, answer) with an earlier record."""
    counts = Counter((r.problem, r.answer) for r in records)
    return sum(n - 1 for n in counts.values())


def count_issue(rows: int, expected: int, origin: str, what: str) -> Issue | None:
    """An issue when ``rows`` differs from the fixed size ``expected``."""
    if rows == expected:
        return None
    return Issue(origin, None, "rows", f"{what} has {rows} rows; expected {expected}")
