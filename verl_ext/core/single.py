"""Score one response or one prompt's group from Python: ``score_batch`` on a batch of that one response or group,
raising what scoring raised (where a trainer adapter would record the failure and go on)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from verl_ext.core.batch import Batch, BatchResult, GroupFailed, SampleResult, ScoringSettings, score_batch
from verl_ext.rewards.correctness import DEFAULT_TIMEOUT_S
from verl_ext.rewards.group import EMPO_MIN_SHARE
from verl_ext.rewards.length import DEFAULT_PEAK
from verl_ext.rewards.token_stats import Ragged


def score_response(
    preset: str,
    response: str,
    *,
    response_tokens: int | None = None,
    max_response_tokens: int | None = None,
    ground_truth: str | None = None,
    peak: float = DEFAULT_PEAK,
    correctness_timeout_s: float = DEFAULT_TIMEOUT_S,
    rng: random.Random | None = None,
    monitor_correctness: bool = True,
    token_stats: Mapping[str, Sequence[float]] | None = None,
    tail_fraction: float = 1.0,
) -> SampleResult:
    """Score ``response`` with a sample- or token-level preset (a group-level one needs ``score_group``).

    ``token_stats``: the response tokens' per-token statistics by name (``token_stats.STATISTICS``: ``logprobs``,
    ``entropy``, ``self_certainty``), for the token-level presets. ValueError for an unknown or group-level preset and
    for an input that lacks what the preset needs (token counts, a ground truth, a statistic); what measuring raised
    (e.g. the correctness reward's checker failing)."""
    settings = ScoringSettings(
        preset,
        max_response_tokens=max_response_tokens,
        peak=peak,
        correctness_timeout_s=correctness_timeout_s,
        monitor_correctness=monitor_correctness,
        tail_fraction=tail_fraction,
    )
    if settings.preset.is_group:
        raise ValueError(f"reward {preset!r} is group-level: score the responses of each prompt together (score_group)")
    batch = Batch(
        responses=[response],
        response_tokens=[response_tokens],
        ground_truths=[ground_truth],
        token_stats={name: Ragged.from_rows([values]) for name, values in (token_stats or {}).items()},
        rngs=None if rng is None else [rng],
    )
    (result,) = score_batch(batch, settings).samples
    if result.exception is not None:
        raise result.exception
    return result


def score_group(
    preset: str,
    responses: Sequence[str],
    *,
    response_tokens: Sequence[int | None] | None = None,
    max_response_tokens: int | None = None,
    ground_truths: Sequence[str | None] | None = None,
    token_stats: Mapping[str, Sequence[Sequence[float]]] | None = None,
    peak: float = DEFAULT_PEAK,
    correctness_timeout_s: float = DEFAULT_TIMEOUT_S,
    rng: random.Random | None = None,
    monitor_correctness: bool = True,
    rewarded: int | None = None,
    min_share: float = EMPO_MIN_SHARE,
    tail_fraction: float = 1.0,
) -> BatchResult:
    """Score the n ``responses`` of one prompt with any preset (group-level presets vote over them).

    ``token_stats``: per statistic, one sequence per response. ``rewarded``: score only the first ``rewarded``
    responses, all vote (group-level presets). Raises what ``score_response`` raises, for the first response that
    fails."""
    settings = ScoringSettings(
        preset,
        max_response_tokens=max_response_tokens,
        peak=peak,
        correctness_timeout_s=correctness_timeout_s,
        monitor_correctness=monitor_correctness,
        min_share=min_share,
        tail_fraction=tail_fraction,
        rewarded=rewarded,
    )
    batch = Batch(
        responses=list(responses),
        group_ids=[0] * len(responses),
        response_tokens=response_tokens,
        ground_truths=ground_truths,
        token_stats={name: Ragged.from_rows(rows) for name, rows in (token_stats or {}).items()},
        rngs=None if rng is None else [rng] * len(responses),
    )
    result = score_batch(batch, settings)
    raised = [sample.exception for sample in result.samples if sample.exception is not None]
    if raised:  # the cause itself, not the "its group could not be scored" of the samples it took along
        raise next((e for e in raised if not isinstance(e, GroupFailed)), raised[0])
    return result
