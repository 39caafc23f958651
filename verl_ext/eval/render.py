"""Text renderings of result rows: Markdown tables, CSV and JSON (the CLI prints these)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

DASH = "–"


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], align_right: Sequence[bool] | None = None
) -> str:
    """A GitHub Markdown table; ``|`` in cells is escaped."""
    align_right = align_right or [False] * len(headers)

    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---:" if right else "---" for right in align_right) + "|")
    lines.extend("| " + " | ".join(cell(c) for c in row) + " |" for row in rows)
    return "\n".join(lines)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_number(digits: int) -> Callable[[Any], str]:
    def render(value: Any) -> str:
        return DASH if _missing(value) else f"{value:.{digits}f}"

    return render


def fmt_plain(value: Any) -> str:
    return DASH if _missing(value) else str(value)


def fmt_with_ci(value: Any, ci: Any, digits: int = 3) -> str:
    if _missing(value):
        return DASH
    if not ci:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def flatten_ci(row: dict[str, Any]) -> dict[str, Any]:
    """``name_ci: [low, high]`` becomes ``name_ci_low`` and ``name_ci_high`` (for CSV)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if key.endswith("_ci"):
            flat[f"{key}_low"], flat[f"{key}_high"] = value if value else (None, None)
        else:
            flat[key] = value
    return flat


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV with the union of the rows' keys as columns (in first-seen order); missing cells are empty."""
    flat = [flatten_ci(row) for row in rows]
    columns = list(dict.fromkeys(key for row in flat for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in flat:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def to_json(payload: Any) -> str:
    return json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False)
