"""What is measured about one response, before any preset combines it: ``Signals`` and ``measure``.

F = format (``format.py``), L = length (``length.py``), C = correctness (``correctness.py``: a bounded math-verify
check against a ground truth, a monitor unless the preset is ``correctness``), and the per-token reductions of the
policy's statistics (``token_stats.py``: filled in by the scoring core, not here). No veRL or TRL import.
"""

from __future__ import annotations

from dataclasses import dataclass

from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.correctness import DEFAULT_TIMEOUT_S, CorrectnessCheck, check_answer_correct
from verl_ext.rewards.equivalence import AnswerClusters
from verl_ext.rewards.format import check_answer_format
from verl_ext.rewards.group import EMPO_MIN_SHARE
from verl_ext.rewards.length import DEFAULT_PEAK, is_truncated, length_reward, validate_length_args


@dataclass(frozen=True, slots=True)
class Signals:
    """Everything measured about one response; ``None`` where the input did not allow it.

    ``correct``: C (None without a ground truth); ``monitor_error``: the monitoring correctness check could not run
    (``correct`` is then 0 and means "unknown"). The per-token reductions (``token_stats.REDUCTIONS``, where the
    batch carries the statistic): ``mean_logprob`` LP, the mean sampled-token log-probability of the response's
    tail; ``sum_logprob``, the log-probability of the whole response; ``mean_entropy`` and ``mean_self_certainty``,
    the tail means of the next-token distributions' entropy and self-certainty."""

    pred: str | None
    format: float
    format_budget_exceeded: bool
    length_reward: float | None
    response_tokens: int | None
    truncated: bool | None
    correct: float | None
    correct_timed_out: bool = False
    correct_error: str | None = None
    monitor_error: str | None = None
    mean_logprob: float | None = None
    sum_logprob: float | None = None
    mean_entropy: float | None = None
    mean_self_certainty: float | None = None


@dataclass(frozen=True)
class GroupSignals:
    """What a group rule sees: every sample's signals and the group's answer clusters.

    ``rewarded``: score only the first ``rewarded`` samples (all vote); ``min_share``: EMPO's threshold."""

    samples: tuple[Signals, ...]
    clusters: AnswerClusters
    rewarded: int | None = None
    min_share: float = EMPO_MIN_SHARE

    @property
    def formats(self) -> list[float]:
        return [s.format for s in self.samples]


def measure(
    response: str,
    *,
    response_tokens: int | None = None,
    max_response_tokens: int | None = None,
    ground_truth: str | None = None,
    peak: float = DEFAULT_PEAK,
    correctness_timeout_s: float = DEFAULT_TIMEOUT_S,
    monitoring: bool = False,
) -> Signals:
    """The text signals of one response. Length needs both token counts; correctness needs a ground truth.

    ``monitoring``: the correctness check only monitors (the reward does not use it). A failure of the check itself
    (its child process cannot start, say) is then recorded in ``monitor_error`` with C = 0 instead of raising, so it
    cannot change the reward; otherwise it raises."""
    pred = extract_answer(response)
    fmt = check_answer_format(pred)
    length = truncated = None
    if response_tokens is not None and max_response_tokens is not None:
        length = length_reward(response_tokens, max_response_tokens, peak)
        truncated = is_truncated(response_tokens, max_response_tokens)
    else:
        validate_length_args(0, max_response_tokens or 1, peak)
    check: CorrectnessCheck | None = None
    monitor_error = None
    if ground_truth is not None and str(ground_truth).strip():
        try:
            check = check_answer_correct(pred, str(ground_truth), correctness_timeout_s)
        except Exception as exc:
            if not monitoring:
                raise
            monitor_error = f"{type(exc).__name__}: {exc}"
            check = CorrectnessCheck(correct=False, error=monitor_error)
    return Signals(
        pred=pred,
        format=fmt.reward,
        format_budget_exceeded=fmt.budget_exceeded,
        length_reward=length,
        response_tokens=response_tokens,
        truncated=truncated,
        correct=None if check is None else check.reward,
        correct_timed_out=bool(check and check.timed_out),
        correct_error=None if check is None else check.error,
        monitor_error=monitor_error,
    )
