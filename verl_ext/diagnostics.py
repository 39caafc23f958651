"""Training diagnostics of a label-free run: is the surrogate reward working, or being hacked?

Pure functions, no veRL import: per-sample ``reward_extra_info`` columns in, metric floats out.
The veRL glue that feeds them from each training batch is :mod:`verl_ext.verl.diagnostics_sampler`.

Input contract: a mapping from a ``reward_extra_info`` key to one value per rollout, all columns of the
same length. A value may be ``None`` (that rollout lacks the key, e.g. no ground truth); ``None`` values
are left out of every mean. Keys read (as the verl-ext reward managers write them):

- ``format`` (0/1): the format verdict, the surrogate signal the format rewards are built on.
- ``length_reward`` (float): the length-shaped reward term.
- ``truncated`` (0/1): the response hit ``max_response_length``.
- ``timed_out`` (0/1): answer parsing or grading ran out of time.
- ``reward_error`` (0/1): scoring failed; the rollout scored 0 in the reward loop (in trainer mode ``verl_ext_sync``
  the reward stage trains it on its group's mean reward instead).
- ``correct`` (0/1): the answer matches the ground truth; only where the data carries one.
- ``monitor_error`` (0/1): the monitoring correctness check failed to run; that rollout's ``correct``
  is unknown and left out of every metric that reads ``correct``.

Output contract: metric name -> float, names under ``diagnostics/``. A metric is omitted (never NaN)
when no rollout carries what it needs, so a run without ground truths simply has no accuracy metrics.

- ``diagnostics/format_rate``: mean of ``format``.
- ``diagnostics/length_reward_mean``: mean of ``length_reward``.
- ``diagnostics/truncation_rate``: mean of ``truncated``.
- ``diagnostics/timeout_rate``: mean of ``timed_out``.
- ``diagnostics/reward_error_rate``: mean of ``reward_error``.
- ``diagnostics/monitor_error_rate``: mean of ``monitor_error``.
- ``diagnostics/accuracy``: mean of ``correct`` (accuracy of the training rollouts).
- ``diagnostics/surrogate_correct_agreement``: over rollouts with both ``format`` and ``correct``, the
  fraction where the two verdicts are equal, i.e. P(format == correct). 1.0 means the surrogate
  rewards exactly the correct rollouts; it falls both when well-formatted rollouts are wrong
  (format 1, correct 0: the reward pays for wrong answers) and when correct ones fail the format check.
- ``diagnostics/accuracy_given_format``: P(correct = 1 | format = 1), the precision of the surrogate.
  A rising format rate with a falling value here is the signature of reward hacking.
- ``diagnostics/format_given_correct``: P(format = 1 | correct = 1), the recall of the surrogate: how
  often a correct rollout is also paid by the format reward.

Ground truths are used for monitoring only: these metrics are logged, never fed back into the reward.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PREFIX = "diagnostics/"
REWARD_EXTRA_INFO = "reward_extra_info"

# Metric name (without PREFIX) -> reward_extra_info key whose mean it is.
_MEAN_METRICS: dict[str, str] = {
    "format_rate": "format",
    "length_reward_mean": "length_reward",
    "truncation_rate": "truncated",
    "timeout_rate": "timed_out",
    "reward_error_rate": "reward_error",
    "monitor_error_rate": "monitor_error",
    "accuracy": "correct",
}


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None for a missing one (None, NaN, or a non-number such as a string)."""
    if value is None or isinstance(value, str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _mean(values: Iterable[float]) -> float | None:
    """Arithmetic mean, or None for no values."""
    values = list(values)
    return sum(values) / len(values) if values else None


def _column(info: Mapping[str, Sequence[Any]], key: str) -> list[float | None]:
    """The numeric column ``key`` (all None when the key is absent)."""
    return [_number(v) for v in info.get(key, ())]


def _pairs(info: Mapping[str, Sequence[Any]], first: str, second: str) -> list[tuple[float, float]]:
    """Rows where both columns have a value, as (first, second) pairs."""
    if first not in info or second not in info:
        return []
    left, right = _column(info, first), _column(info, second)
    if len(left) != len(right):
        raise ValueError(f"columns {first!r} ({len(left)}) and {second!r} ({len(right)}) differ in length")
    return [(a, b) for a, b in zip(left, right) if a is not None and b is not None]


def _without_failed_monitoring(info: Mapping[str, Sequence[Any]]) -> Mapping[str, Sequence[Any]]:
    """``info`` with ``correct`` set to None where ``monitor_error`` is 1 (the check did not run)."""
    if "monitor_error" not in info or "correct" not in info:
        return info
    failed = [_number(v) == 1.0 for v in info["monitor_error"]]
    if not any(failed):
        return info
    return {**info, "correct": [None if bad else v for v, bad in zip(info["correct"], failed)]}


def compute_diagnostics(reward_extra_info: Mapping[str, Sequence[Any]]) -> dict[str, float]:
    """Diagnostics of one batch of rollouts (see the module docstring for names and definitions).

    Args:
        reward_extra_info: key -> per-rollout values; None marks a missing value.

    Returns:
        ``diagnostics/<name>`` -> float, only for metrics some rollout has the data for.

    Raises:
        ValueError: ``format`` and ``correct`` columns of different lengths.
    """
    reward_extra_info = _without_failed_monitoring(reward_extra_info)
    metrics: dict[str, float] = {}
    for name, key in _MEAN_METRICS.items():
        mean = _mean(v for v in _column(reward_extra_info, key) if v is not None)
        if mean is not None:
            metrics[PREFIX + name] = mean

    graded = _pairs(reward_extra_info, "format", "correct")
    agreement = _mean(float(fmt == ok) for fmt, ok in graded)
    if agreement is not None:
        metrics[PREFIX + "surrogate_correct_agreement"] = agreement
    precision = _mean(ok for fmt, ok in graded if fmt == 1.0)
    if precision is not None:
        metrics[PREFIX + "accuracy_given_format"] = precision
    recall = _mean(fmt for fmt, ok in graded if ok == 1.0)
    if recall is not None:
        metrics[PREFIX + "format_given_correct"] = recall
    return metrics


def _reward_extra_info(fields: Any) -> Mapping[str, Any]:
    """``fields["reward_extra_info"]`` when both are mappings, else an empty mapping."""
    info = fields.get(REWARD_EXTRA_INFO) if isinstance(fields, Mapping) else None
    return info if isinstance(info, Mapping) else {}


def columns_from_extra_fields(extra_fields: Iterable[Mapping[str, Any] | None]) -> dict[str, list[Any]]:
    """Per-rollout ``extra_fields`` dicts (as veRL's agent loop stores them) -> reward_extra_info columns.

    veRL 0.9's agent loop keeps each rollout's reward manager output under
    ``extra_fields["reward_extra_info"]``. Every key seen in any rollout becomes a column with one value
    per rollout, None where a rollout lacks the key or has no ``reward_extra_info`` at all.
    """
    infos = [_reward_extra_info(fields) for fields in extra_fields]
    keys: dict[str, None] = {}
    for info in infos:
        keys.update(dict.fromkeys(info))
    return {key: [info.get(key) for info in infos] for key in keys}
