"""veRL rows and their Arrow schema.

Every set is written with the same schema (absent ``extra_info`` fields are null), so veRL can
concatenate any of these files in one ``data.val_files`` / ``data.train_files`` list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from data_prep.records import Record

# extra_info fields beyond index/split, with their Arrow types. Readers copy a source field in
# when its name (case-insensitive) is the key or one of the aliases.
EXTRA_FIELDS: dict[str, pa.DataType] = {
    "unique_id": pa.string(),
    "level": pa.string(),
    "subject": pa.string(),
    "difficulty": pa.float64(),
    "year": pa.int64(),
    "url": pa.string(),
    "unit": pa.string(),
    "answer_type": pa.string(),
    "answers": pa.list_(pa.string()),
}

MESSAGE = pa.struct([("content", pa.string()), ("role", pa.string())])
SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("prompt", pa.list_(MESSAGE)),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("ground_truth", pa.string()), ("style", pa.string())])),
        (
            "extra_info",
            pa.struct([("index", pa.int64()), ("split", pa.string())] + list(EXTRA_FIELDS.items())),
        ),
    ]
)


def to_row(
    record: Record, data_source: str, split: str, template: Callable[[str], list[dict[str, str]]]
) -> dict[str, Any]:
    """One veRL row for ``record``; ``extra_info`` carries every ``EXTRA_FIELDS`` key (None if absent)."""
    extra: dict[str, Any] = {"index": record.source_index, "split": split}
    extra.update({name: record.meta.get(name) for name in EXTRA_FIELDS})
    return {
        "data_source": data_source,
        "prompt": template(record.problem),
        "ability": "math",
        "reward_model": {"ground_truth": record.answer, "style": "rule"},
        "extra_info": extra,
    }


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table with ``SCHEMA`` (raises if a row does not fit it)."""
    return pa.Table.from_pylist(rows, schema=SCHEMA)
