"""The one serialisation of a sample's signals and score to flat per-sample fields, and back.

Both directions live here: veRL's reward loop writes these fields as each rollout's ``reward_extra_info`` and the
post-rollout stage reads them back (``signals_from_extra_info``); TRL logs them as diagnostics; ``verl-ext score``
writes them into each scored record. Fields (in this order):

    format           F (0/1)
    length_reward    L (None without token counts)
    response_tokens  the response's token count
    truncated        1.0 when the response reached the token budget (None without token counts)
    pred             the extracted answer ("" = none)
    timed_out        1.0 when the format check or the correctness check was stopped by its bound
    correct, acc     C (``acc``: the same value under the name veRL's validation metrics read), with a ground truth
    monitor_error    1.0 when the monitoring correctness check could not run (``correct`` then means "unknown")
    cluster          group presets: the answer's cluster in its group (-1 without an answer)
    cluster_share    group presets: that cluster's share of the group (0 without an answer)
    answer_fallback  group presets: 1.0 when the group was clustered by string equality (checker could not run)
    mean_logprob     token presets: LP
then ``reward_error`` (training: 1.0 when scoring this sample failed) or ``correct_error`` and ``score`` (offline).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from verl_ext.core.batch import SampleResult
from verl_ext.rewards.answer import printable
from verl_ext.rewards.signals import Signals

REWARD_ERROR = "reward_error"
REQUIRED = ("format", "response_tokens", "pred", REWARD_ERROR)
"""What the post-rollout stage needs of every training sample's ``reward_extra_info`` (the reward loop writes these
and the other fields for every sample, failed ones included: veRL takes a batch's keys from its first sample)."""


class MissingSignals(ValueError):
    """A sample's recorded fields lack what the post-rollout stage needs: its reward must not be guessed."""


def signal_fields(signals: Signals) -> dict[str, Any]:
    """The per-sample fields of ``signals`` (no cluster, no score)."""
    s = signals
    info: dict[str, Any] = {
        "format": s.format,
        "length_reward": s.length_reward,
        "response_tokens": s.response_tokens,
        "truncated": None if s.truncated is None else float(s.truncated),
        "pred": printable(s.pred),
        "timed_out": float(s.format_budget_exceeded or s.correct_timed_out),
    }
    if s.correct is not None:
        info["correct"] = s.correct
        info["acc"] = s.correct
        info["monitor_error"] = float(s.monitor_error is not None)
    return info


def result_fields(result: SampleResult) -> dict[str, Any]:
    """``signal_fields`` of a scored sample plus its cluster fields (group presets) and LP (token presets)."""
    assert result.signals is not None
    info = signal_fields(result.signals)
    if result.answer_fallback is not None:
        info["cluster"] = -1 if result.cluster is None else result.cluster
        info["cluster_share"] = result.cluster_share or 0.0
        info["answer_fallback"] = float(result.answer_fallback)
    if result.signals.mean_logprob is not None:
        info["mean_logprob"] = result.signals.mean_logprob
    return info


def reward_extra_info(result: SampleResult, response_tokens: int | None = None, checked_truth: bool = False) -> dict:
    """A training sample's ``reward_extra_info``: ``result_fields`` and ``reward_error`` (1 when its scoring failed).
    A sample whose measuring failed has no signals: every ``REQUIRED`` field then, with neutral values, and, when a
    ground truth was to be checked (``checked_truth``), ``correct``/``acc`` 0 with ``monitor_error`` 1 (unknown)."""
    error = float(result.error is not None)
    if result.signals is not None:
        return {**result_fields(result), REWARD_ERROR: error}
    info: dict[str, Any] = {
        "format": 0.0,
        "length_reward": 0.0,
        "response_tokens": response_tokens,
        "truncated": 0.0,
        "pred": "",
        "timed_out": 0.0,
    }
    if checked_truth:
        info.update(correct=0.0, acc=0.0, monitor_error=1.0)
    info[REWARD_ERROR] = 1.0
    return info


def scored_fields(result: SampleResult) -> dict[str, Any]:
    """A ``verl-ext score`` record's added fields: ``result_fields``, ``correct_error`` (with a ground truth) and
    ``score``."""
    info = result_fields(result)
    assert result.signals is not None
    if "correct" in info:
        info["correct_error"] = result.signals.correct_error
    info["score"] = float("nan") if result.score is None else result.score
    return info


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, (str, bytes)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def signals_from_extra_info(info: Any, where: str) -> tuple[Signals | None, str | None]:
    """The ``Signals`` recorded in one sample's ``reward_extra_info`` (the inverse of ``reward_extra_info`` for what
    the fields carry: the format and correctness timeouts come back as one, the checker's error text does not), or
    (None, why) for a sample whose scoring failed when it was recorded. MissingSignals naming ``where`` when the
    fields are absent: a rollout not recorded by verl-ext's reward loop must never be read as "no answer"."""
    missing = [key for key in REQUIRED if not isinstance(info, Mapping) or key not in info]
    if missing:
        raise MissingSignals(
            f"{where}: its reward_extra_info lacks {', '.join(missing)}: the rollout was not scored by verl-ext's "
            "reward loop (a reward model, or an agent loop that sets reward_score itself?), so its group reward "
            "cannot be computed"
        )
    if _number(info[REWARD_ERROR]) == 1.0:
        return None, "scoring this sample failed in the reward loop (see its log)"
    tokens = _number(info["response_tokens"])
    truncated = _number(info.get("truncated"))
    monitor_failed = _number(info.get("monitor_error")) == 1.0
    timed_out = _number(info.get("timed_out")) == 1.0
    correct = _number(info.get("correct"))
    signals = Signals(
        pred=str(info["pred"] or "") or None,
        format=_number(info["format"]) or 0.0,
        format_budget_exceeded=timed_out,
        length_reward=_number(info.get("length_reward")),
        response_tokens=None if tokens is None else int(tokens),
        truncated=None if truncated is None else truncated == 1.0,
        correct=correct,
        correct_timed_out=timed_out and correct is not None,  # one flag for both bounds: the verdict may be a rule
        monitor_error="the monitoring correctness check could not run" if monitor_failed else None,
    )
    return signals, None
