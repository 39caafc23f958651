"""Readers for per-step training metrics (what ``verl-ext table`` and ``plot`` take).

``file_logger``
    veRL's ``trainer.logger=[file]`` JSONL (``verl.utils.tracking.FileLogger``): one
    ``{"step": N, "data": {"metric/name": value, ...}}`` per line. Several lines may share a step
    (veRL logs validation and training metrics separately); they are merged, a later value winning.
``flat_list``
    A JSON list of flat per-step dicts with a ``step`` key, as in the paper's release
    (``val/test_score/AIME2024``, ``response_length/mean``, ...). JSONL of flat dicts is read too.

Only numeric values are kept (booleans and strings are not metrics); ``None``/NaN mean "not logged".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verl_ext.io.errors import InputError
from verl_ext.io.jsonl import check_readable, iter_json_records


@dataclass
class MetricLog:
    """Metrics of one run: ``steps[step][name] = value``, steps in increasing order."""

    name: str
    path: str
    layout: str
    steps: dict[int, dict[str, float]] = field(default_factory=dict)

    def series(self, metric: str) -> list[tuple[int, float]]:
        """``(step, value)`` for every step that logged ``metric``."""
        return [(step, values[metric]) for step, values in self.steps.items() if metric in values]

    def names(self) -> set[str]:
        found: set[str] = set()
        for values in self.steps.values():
            found.update(values)
        return found


def _step(value: Any, path: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
        raise InputError(path, f"'step' must be a whole number, got {value!r}", where)
    return int(value)


def _numeric(data: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and math.isnan(value):
            continue
        out[key] = float(value)
    return out


def read_metric_log(path: str | Path, name: str | None = None) -> MetricLog:
    """The metrics of one log file; run name = ``name`` or the file stem."""
    path = check_readable(path)
    log = MetricLog(name=name or path.stem, path=str(path), layout="")
    for where, record in iter_json_records(path):
        if "step" not in record:
            raise InputError(path, f"missing field 'step' (keys: {', '.join(sorted(record))[:200]})", where)
        step = _step(record["step"], str(path), where)
        if "data" in record and isinstance(record["data"], dict):
            layout, data = "file_logger", record["data"]
        elif "data" in record:
            raise InputError(path, f"field 'data' must be an object, got {type(record['data']).__name__}", where)
        else:
            layout, data = "flat_list", {k: v for k, v in record.items() if k != "step"}
        if log.layout and layout != log.layout:
            raise InputError(path, f"mixes {log.layout} records with {layout} records", where)
        log.layout = layout
        log.steps.setdefault(step, {}).update(_numeric(data))
    log.steps = dict(sorted(log.steps.items()))
    return log
