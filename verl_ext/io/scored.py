"""The scored-rows layout: what ``verl-ext score`` writes (JSONL) and ``verl-ext metrics`` reads.

``read_scored`` takes the file formats ``score`` takes (JSONL, a JSON list of objects, parquet), but
only scored records: a file of generations gets an error saying to run ``verl-ext score`` first.

Each row is the input record plus the fields below (``SCORED_FIELDS``; the reward library's
``extra_info`` may add more). An input field with the name of an added field is kept under
``stored_<name>`` (a veRL dump's own ``score`` and ``acc``, the release's ``score`` verdict, ...).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verl_ext.io.errors import InputError
from verl_ext.io.generations import LAYOUTS, iter_records
from verl_ext.verl.rollout_key import is_rollout_key, prompt_uid

SCORED_FIELDS = (
    "pred",  # the extracted answer: content of the last \boxed{} ("" when none)
    "format",  # F in {0, 1}
    "length_reward",  # L, null without a token count
    "response_tokens",  # token count used (null when unknown)
    "truncated",  # 1.0 when the response used the whole budget, null when unknown
    "timed_out",  # 1.0 when a format or correctness check was stopped by its bound
    "correct",  # C in {0, 1}, only when the record has a ground truth
    "acc",  # the same as correct, under the name veRL's validation metrics read
    "correct_error",  # why a correctness check failed (timeout, unparseable ground truth), else null
    "monitor_error",  # 1.0 when the correctness check could not run under a label-free reward (C then unknown)
    "score",  # the reward of --reward
    "reward_preset",  # the name of --reward
    "source",  # the input file the record came from
)
STORED_PREFIX = "stored_"
PROBLEM_KEYS = ("uid", "prompt", "input", "problem")
"""Fields identifying a problem (the k samples of one problem share it), in this order of preference."""


@dataclass(frozen=True)
class ScoredRow:
    """What the metrics need of one scored response."""

    path: str
    where: str
    source: str | None
    data_source: str
    step: int | None
    problem: str
    pred: str
    format: float
    score: float
    correct: float | None
    response_tokens: int | None
    truncated: float | None
    timed_out: float


def _number(record: dict[str, Any], key: str, path: str, where: str, required: bool) -> float | None:
    value = record.get(key)
    if value is None:
        if required:
            raise InputError(path, f"missing field {key!r}", where)
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InputError(path, f"field {key!r} must be a number, got {value!r:.60}", where)
    return float(value)


VERL_DUMP_FIELDS = ("input", "output", "gts", "score", "step")
"""What every record of veRL 0.9.1's generation dumps has (``trainer.rollout_data_dir``, ``validation_data_dir``;
``_write_generations``), beside a ``uid`` that is the rollout's key (``verl_ext.verl.rollout_key``)."""


def problem_identity(record: dict[str, Any]) -> str | None:
    """The record's problem as text: its first non-empty field of ``PROBLEM_KEYS`` (JSON for a non-string, keys
    sorted), or None when it has none. In a veRL dump's record (``VERL_DUMP_FIELDS``) the ``uid`` names one rollout
    of a prompt: the prompt's uid, the key's part before its first ``_`` as veRL splits it, is the problem."""
    for key in PROBLEM_KEYS:
        value = record.get(key)
        if value is not None and value != "":
            if key == "uid" and isinstance(value, str) and all(field in record for field in VERL_DUMP_FIELDS):
                value = prompt_uid(value) if is_rollout_key(value) else value
            return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return None


def _problem_key(record: dict[str, Any], where: str) -> str:
    identity = problem_identity(record)
    return f"<{where}>" if identity is None else identity  # no problem identity: the record is a problem of its own


def _step(value: Any, path: str, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(path, f"field 'step' must be a whole number, got {value!r}", where) from None
    if not number.is_integer():
        raise InputError(path, f"field 'step' must be a whole number, got {value!r}", where)
    return int(number)


def _not_scored(record: dict[str, Any]) -> str:
    layout = next((layout for layout, (matches, _) in LAYOUTS.items() if matches(record)), None)
    what = f"generations ({layout} layout), not a scored record" if layout else "not a scored record"
    return (
        f"{what} (no 'score', 'format' and 'pred'): run `verl-ext score` first "
        "(verl-ext score FILE -o scored.jsonl --reward NAME) and pass its output"
    )


def read_scored(path: str | Path) -> list[ScoredRow]:
    """Rows of a ``verl-ext score`` output (JSONL, JSON list or parquet); InputError for a file that is not one."""
    name = str(path)
    rows = []
    for where, record in iter_records(path, any_suffix=True):
        if "score" not in record or "format" not in record or "pred" not in record:
            raise InputError(name, _not_scored(record), where)
        tokens = _number(record, "response_tokens", name, where, required=False)
        rows.append(
            ScoredRow(
                path=name,
                where=where,
                source=record.get("source"),
                data_source=str(record.get("data_source") or "unknown"),
                step=_step(record.get("step"), name, where),
                problem=_problem_key(record, where),
                pred=str(record.get("pred") or ""),
                format=_number(record, "format", name, where, required=True),
                score=_number(record, "score", name, where, required=True),
                correct=_number(record, "correct", name, where, required=False),
                response_tokens=None if tokens is None else int(tokens),
                truncated=_number(record, "truncated", name, where, required=False),
                timed_out=_number(record, "timed_out", name, where, required=False) or 0.0,
            )
        )
    return rows
