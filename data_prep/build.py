"""One set from one source: read, select, check, and turn into veRL rows. No file is written here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from data_prep.layouts import read_records
from data_prep.records import DataError, Issue, Record, raise_issues
from data_prep.rows import to_row
from data_prep.selection import load_fingerprints, load_indices, sampler_note, select_by_fingerprint, select_by_index
from data_prep.sets import SetSpec
from data_prep.sources import Source
from data_prep.templates import DEFAULT_TEMPLATE, TEMPLATES
from data_prep.validate import count_issue, duplicate_index_issues, duplicate_problem_issues, repeated_text_count


@dataclass(frozen=True)
class Built:
    """The rows to write, the source's layout, the issues of every dropped row (``--drop-invalid``),
    count warnings (``--drop-invalid``), and notes."""

    rows: list[dict[str, Any]]
    layout: str
    dropped: list[Issue]
    warnings: list[str]
    notes: list[str]


def _without(records: list[Record], issues: list[Issue]) -> list[Record]:
    bad = {i.row for i in issues}
    return [r for r in records if r.row not in bad]


def build(spec: SetSpec, source: Source, template: str = DEFAULT_TEMPLATE, drop_invalid: bool = False) -> Built:
    """Rows of ``spec`` from ``source``.

    Raises ``DataError`` listing every bad row (file, row, field) and any wrong row count, unless
    ``drop_invalid``: then bad rows are left out and reported in ``Built.dropped``, counts in ``warnings``.
    """
    if template not in TEMPLATES:
        raise DataError(f"unknown template '{template}' (known: {', '.join(TEMPLATES)})")
    layout, records, rejected = read_records(source)
    origin = source.origin
    issues = duplicate_index_issues(records, origin)
    records = _without(records, issues)
    notes: list[str] = []
    counts: list[Issue | None] = []
    if spec.selection is not None:
        if layout != "verl" and spec.raw_rows is not None:
            counts.append(count_issue(len(source.rows), spec.raw_rows, origin, "the raw source"))
        if spec.selection == "index":
            wanted = load_indices()
            chosen = select_by_index(records, rejected, wanted, origin)
            if layout != "verl":
                chosen.notes.append(sampler_note([r.source_index for r in records], wanted))
        else:
            chosen = select_by_fingerprint(records, rejected, load_fingerprints(), origin)
        records, notes = chosen.records, list(chosen.notes)
        issues += chosen.issues
        repeats = repeated_text_count(records)
        if repeats:
            notes.append(f"{repeats} row(s) repeat another row's problem and answer, as in the paper's set (kept)")
    else:
        issues += [i for r in rejected for i in r.issues]
        duplicates = duplicate_problem_issues(records, origin)
        issues += duplicates
        records = _without(records, duplicates)
    counts.append(count_issue(len(records), spec.size, origin, f"{spec.name} output"))
    count_issues = [c for c in counts if c is not None]
    if not drop_invalid:
        raise_issues(count_issues + issues, f"{spec.name} from {origin}")
    rows = [to_row(r, spec.data_source, spec.split, TEMPLATES[template]) for r in records]
    return Built(rows, layout, issues, [str(c) for c in count_issues], notes)
