"""Readers for per-step training metrics (what ``verl-ext table`` and ``plot`` take).

``file_logger``
    veRL's ``trainer.logger=[file]`` JSONL (``verl.utils.tracking.FileLogger``): one
    ``{"step": N, "data": {"metric/name": value, ...}}`` per line. Several lines may share a step
    (veRL logs validation and training metrics separately); they are merged, a later value winning.
``flat_list``
    A JSON list of flat per-step dicts with a ``step`` key, as in the paper's release
    (``val/test_score/AIME2024``, ``response_length/mean``, ...). JSONL of flat dicts is read too.

Only numeric values are kept (booleans and strings are not metrics); ``None``/NaN mean "not logged".

Resumed runs: veRL's file logger opens its file with mode "wb", so recipe/format_length/run_grpo.sh moves an
earlier log ``run.jsonl`` aside as ``run.jsonl.part1``, ``run.jsonl.part2``, ... before a rerun. Reading
``run.jsonl`` reads its parts first, in order, then the file itself, merging them step by step and metric
by metric: a metric logged again for a step by a later part replaces the earlier value (the resumed run's
values win), and a metric only the earlier run logged for that step is kept. This matters at the resume
step itself: veRL's resumed run validates first and logs that validation at the checkpoint's step, whose
training metrics only the earlier run logged.
"""

from __future__ import annotations

import glob
import math
import re
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
    # Earlier logs of the same run (``<path>.part<N>``) read before ``path``, oldest first.
    parts: list[str] = field(default_factory=list)

    def series(self, metric: str) -> list[tuple[int, float]]:
        """``(step, value)`` for every step that logged ``metric``."""
        return [(step, values[metric]) for step, values in self.steps.items() if metric in values]

    def names(self) -> set[str]:
        found: set[str] = set()
        for values in self.steps.values():
            found.update(values)
        return found


def _step(value: Any, path: str, where: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
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


def earlier_parts(path: str | Path) -> list[Path]:
    """``<path>.part<N>`` files beside ``path``, by N (the order run_grpo.sh made them in)."""
    path = Path(path)
    pattern = re.compile(re.escape(path.name) + r"\.part([1-9][0-9]*)")
    found = [
        (int(m.group(1)), p)
        for p in path.parent.glob(glob.escape(path.name) + ".part*")
        if (m := pattern.fullmatch(p.name))
    ]
    return [p for _, p in sorted(found)]


def _read_one(path: Path) -> tuple[str, dict[int, dict[str, float]]]:
    """(layout, steps) of one file; several lines of a step merged, a later value winning."""
    layout, steps = "", {}
    for where, record in iter_json_records(path):
        if "step" not in record:
            raise InputError(path, f"missing field 'step' (keys: {', '.join(sorted(record))[:200]})", where)
        step = _step(record["step"], str(path), where)
        if "data" in record and isinstance(record["data"], dict):
            record_layout, data = "file_logger", record["data"]
        elif "data" in record:
            raise InputError(path, f"field 'data' must be an object, got {type(record['data']).__name__}", where)
        else:
            record_layout, data = "flat_list", {k: v for k, v in record.items() if k != "step"}
        if layout and record_layout != layout:
            raise InputError(path, f"mixes {layout} records with {record_layout} records", where)
        layout = record_layout
        steps.setdefault(step, {}).update(_numeric(data))
    return layout, steps


def read_metric_log(path: str | Path, name: str | None = None) -> MetricLog:
    """The metrics of one run: ``path`` with its earlier parts (see above); run name = ``name`` or the file stem.

    After a resume the live file may be missing or still empty: its parts alone are then the run's log.
    """
    path = Path(path)
    parts = earlier_parts(path)
    sources = [*parts, path]
    if parts and (not path.exists() or (path.is_file() and path.stat().st_size == 0)):
        sources = parts
    log = MetricLog(name=name or path.stem, path=str(path), layout="", parts=[str(p) for p in parts])
    for source in sources:
        layout, steps = _read_one(check_readable(source))
        if log.layout and layout != log.layout:
            raise InputError(source, f"is a {layout} log, its earlier parts are {log.layout} logs")
        log.layout = layout
        for step, values in steps.items():
            log.steps.setdefault(step, {}).update(values)  # a later part's value of a metric wins
    log.steps = dict(sorted(log.steps.items()))
    return log
