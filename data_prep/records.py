"""The in-memory shape every reader produces, and the error every check raises.

A ``Record`` is one problem of one set, independent of prompt template and file format:
readers build them, selections pick them, ``rows.to_row`` turns them into veRL rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class DataError(Exception):
    """A source is not what it should be; the message names file, row and field."""


class NoSourceError(DataError):
    """A set has no local source and none was given."""


@dataclass(frozen=True)
class Record:
    """One problem.

    ``row`` is the 0-based position in the source file (for messages); ``source_index`` is the
    index the output's ``extra_info.index`` takes (the row itself for raw files, the
    ``extra_info.index`` a processed file carries). ``meta`` holds ``rows.EXTRA_FIELDS`` values only.
    """

    problem: str
    answer: str
    row: int
    source_index: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Issue:
    """One bad row: where it is and what is wrong with it."""

    origin: str
    row: int | None  # 0-based row of the source file; None when the issue is about a missing row
    field: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}: " if self.row is not None else ""
        return f"{self.origin}: {where}field '{self.field}': {self.message}"


@dataclass(frozen=True)
class Rejected:
    """A source row that could not become a ``Record``; ``problem`` is its text when that was readable."""

    row: int
    source_index: int | None
    problem: str | None
    issues: tuple[Issue, ...]


def raise_issues(issues: list[Issue], what: str, limit: int = 20) -> None:
    """Raise one ``DataError`` listing ``issues`` (the first ``limit`` of them); no-op when empty."""
    if not issues:
        return
    lines = [str(i) for i in issues[:limit]]
    if len(issues) > limit:
        lines.append(f"... and {len(issues) - limit} more")
    hint = "(pass --drop-invalid to drop these rows and go on)"
    raise DataError(f"{what}: {len(issues)} issue(s) {hint}\n  " + "\n  ".join(lines))
