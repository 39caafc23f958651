"""THE reward registry: preset name -> how the signals combine into one score.

Every front end (veRL managers, TRL reward functions, ``verl-ext score``) scores through
``score_response`` (one response) or ``score_group`` (the n responses of one prompt); adding a reward
is one function plus one ``register`` (or ``register_group``) line here.

Signals (see the modules): F = format (``format.py``), L = length (``length.py``),
C = correctness (``correctness.py``), LP = mean log-probability of the response's tokens and
clusters of equivalent answers in a group (``group.py``, ``equivalence.py``).

    level sample:
    correctness    C
    format         0.5 * F
    format_length  0.5 * F + L   when F = 1,   min(0, L) otherwise
    length         L
    random         Bernoulli(0.5): 1 or 0, from a seedable generator (a control)
    self_confidence                LP (needs the rollout's token log-probabilities)
    format_gated_self_confidence   F * exp(LP)
    level group (needs the whole group):
    majority                       1 if the answer is in the group's largest cluster, else 0 (TTRL)
    semantic_frequency             the answer's cluster share of the group, 0 under 0.25 (EMPO)
    format_gated_majority          F * majority
    format_gated_semantic_frequency  F * semantic_frequency
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from verl_ext.rewards.answer import extract_answer, printable
from verl_ext.rewards.correctness import DEFAULT_TIMEOUT_S, CorrectnessCheck, check_answer_correct
from verl_ext.rewards.equivalence import AnswerClusters, cluster_answers
from verl_ext.rewards.format import check_answer_format
from verl_ext.rewards.group import (
    EMPO_MIN_SHARE,
    format_gated,
    majority_rewards,
    self_confidence,
    semantic_frequency_rewards,
)
from verl_ext.rewards.length import DEFAULT_PEAK, is_truncated, length_reward, validate_length_args


@dataclass(frozen=True, slots=True)
class Signals:
    """Everything measured about one response; ``None`` where the input did not allow it."""

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
    rng: random.Random | None = field(default=None, compare=False, repr=False)
    mean_logprob: float | None = None


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


SAMPLE, GROUP = "sample", "group"


@dataclass(frozen=True)
class RewardPreset:
    """A named reward: which signals it needs and how it combines them.

    ``level`` "sample": ``combine(signals) -> score`` per response; "group": ``group_rule(group) ->
    scores`` over the n responses of one prompt (``combine`` is None)."""

    name: str
    formula: str
    needs_length: bool
    needs_ground_truth: bool
    combine: Callable[[Signals], float] | None
    level: str = SAMPLE
    needs_logprobs: bool = False
    group_rule: Callable[[GroupSignals], list[float]] | None = None

    @property
    def is_group(self) -> bool:
        return self.level == GROUP

    @property
    def is_text(self) -> bool:
        """Scored from one response's text alone (a per-sample reward loop can run it); False for group-level and
        log-probability presets, which are scored over a prompt's group or from the rollout's log-probs."""
        return not (self.is_group or self.needs_logprobs)


PRESETS: dict[str, RewardPreset] = {}


def _add(preset: RewardPreset) -> None:
    if preset.name in PRESETS:
        raise ValueError(f"reward preset {preset.name!r} is already registered")
    PRESETS[preset.name] = preset


def register(
    name: str, formula: str, needs_length: bool = False, needs_ground_truth: bool = False, needs_logprobs: bool = False
):
    """Decorator adding the sample-level ``combine(signals) -> score`` to the registry under ``name``."""

    def decorator(combine: Callable[[Signals], float]) -> Callable[[Signals], float]:
        _add(RewardPreset(name, formula, needs_length, needs_ground_truth, combine, SAMPLE, needs_logprobs))
        return combine

    return decorator


def register_group(name: str, formula: str):
    """Decorator adding the group-level ``rule(group_signals) -> scores`` to the registry under ``name``."""

    def decorator(rule: Callable[[GroupSignals], list[float]]) -> Callable[[GroupSignals], list[float]]:
        _add(RewardPreset(name, formula, False, False, None, GROUP, False, rule))
        return rule

    return decorator


@register("correctness", "C", needs_ground_truth=True)
def _correctness(s: Signals) -> float:
    return float(s.correct or 0.0)


@register("format", "0.5 * F")
def _format(s: Signals) -> float:
    return 0.5 * s.format


@register("format_length", "0.5 * F + L if F = 1 else min(0, L)", needs_length=True)
def _format_length(s: Signals) -> float:
    assert s.length_reward is not None
    return 0.5 * s.format + s.length_reward if s.format == 1.0 else min(0.0, s.length_reward)


@register("length", "L", needs_length=True)
def _length(s: Signals) -> float:
    assert s.length_reward is not None
    return s.length_reward


@register("random", "Bernoulli(0.5)")
def _random(s: Signals) -> float:
    return float((s.rng or random).random() < 0.5)


@register("self_confidence", "mean log p(sampled token)", needs_logprobs=True)
def _self_confidence(s: Signals) -> float:
    assert s.mean_logprob is not None
    return s.mean_logprob


@register("format_gated_self_confidence", "F * exp(mean log p(sampled token))", needs_logprobs=True)
def _format_gated_self_confidence(s: Signals) -> float:
    assert s.mean_logprob is not None
    return format_gated([math.exp(s.mean_logprob)], [s.format])[0]


@register_group("majority", "1 if the answer is in the group's largest equivalence cluster (ties: first seen) else 0")
def _majority(g: GroupSignals) -> list[float]:
    return majority_rewards(g.clusters, g.rewarded)


@register_group("semantic_frequency", "|cluster of the answer| / n; 0 for the group if the largest share < 0.25")
def _semantic_frequency(g: GroupSignals) -> list[float]:
    return semantic_frequency_rewards(g.clusters, g.min_share, g.rewarded)


@register_group("format_gated_majority", "F * majority")
def _format_gated_majority(g: GroupSignals) -> list[float]:
    return format_gated(majority_rewards(g.clusters, g.rewarded), g.formats)


@register_group("format_gated_semantic_frequency", "F * semantic_frequency")
def _format_gated_semantic_frequency(g: GroupSignals) -> list[float]:
    return format_gated(semantic_frequency_rewards(g.clusters, g.min_share, g.rewarded), g.formats)


def preset_names(level: str | None = None) -> list[str]:
    """Preset names, sorted; ``level`` "sample" or "group" keeps those of that level only."""
    if level not in (None, SAMPLE, GROUP):
        raise ValueError(f"level must be {SAMPLE!r} or {GROUP!r}, got {level!r}")
    return sorted(name for name, preset in PRESETS.items() if level is None or preset.level == level)


def text_preset_names() -> list[str]:
    """Sample-level presets scored from a response's text alone: what a per-sample reward loop (veRL's
    managers) can run. Group-level and log-probability presets need more than one decoded sample."""
    return sorted(name for name, p in PRESETS.items() if p.is_text)


def get_preset(name: str) -> RewardPreset:
    """The preset called ``name``; ValueError listing the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown reward {name!r}; choose one of: {', '.join(preset_names())}") from None


def measure(
    response: str,
    *,
    response_tokens: int | None = None,
    max_response_tokens: int | None = None,
    ground_truth: str | None = None,
    peak: float = DEFAULT_PEAK,
    correctness_timeout_s: float = DEFAULT_TIMEOUT_S,
    rng: random.Random | None = None,
    monitoring: bool = False,
    response_logprobs: Sequence[float] | None = None,
    tail_fraction: float = 1.0,
) -> Signals:
    """All signals of one response. Length needs both token counts; correctness needs a ground truth;
    the mean log-probability needs the response tokens' log-probabilities (of its last ``tail_fraction``).

    ``monitoring``: the correctness check only monitors (the reward does not use it). A failure of the
    check itself (its child process cannot start, say) is then recorded in ``monitor_error`` with
    C = 0 instead of raising, so it cannot change the reward; otherwise it raises."""
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
        rng=rng,
        mean_logprob=None if response_logprobs is None else self_confidence(response_logprobs, tail_fraction),
    )


@dataclass(frozen=True, slots=True)
class ScoredResponse:
    """The score of one response under one preset, with the signals behind it."""

    score: float
    signals: Signals

    def extra_info(self) -> dict[str, Any]:
        """Flat per-sample fields for logs (veRL's ``reward_extra_info``, scored JSONL rows).

        ``timed_out`` counts a format check or correctness check stopped by its bound.
        ``correct`` (and ``acc``, the same value under the name veRL's validation metrics read for
        ``val-core/<data_source>/acc/...``) and ``monitor_error`` appear only when a ground truth was
        given (monitoring: presets other than ``correctness`` never use it). ``monitor_error`` = 1 marks a
        monitoring check that failed to run (``correct`` is then 0 and means "unknown", not "wrong").
        """
        s = self.signals
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
    response_logprobs: Sequence[float] | None = None,
    tail_fraction: float = 1.0,
) -> ScoredResponse:
    """Score ``response`` with the named sample-level preset.

    Raises ValueError for an unknown or group-level preset (``score_group`` scores those), for a
    length-based preset without token counts, for ``correctness`` without a ground truth, for a
    log-probability preset without ``response_logprobs``, and for invalid length arguments.
    With ``monitor_correctness=False`` a ground truth is ignored unless the preset needs it.
    """
    spec = get_preset(preset)
    if spec.is_group:
        raise ValueError(
            f"reward {preset!r} is group-level: score the n responses of each prompt together (score_group)"
        )
    signals = _measure_for(
        spec,
        response,
        response_tokens,
        max_response_tokens,
        ground_truth,
        peak,
        correctness_timeout_s,
        rng,
        monitor_correctness,
        response_logprobs,
        tail_fraction,
    )
    assert spec.combine is not None
    return ScoredResponse(score=spec.combine(signals), signals=signals)


def _measure_for(
    spec: RewardPreset,
    response: str,
    response_tokens: int | None,
    max_response_tokens: int | None,
    ground_truth: str | None,
    peak: float,
    correctness_timeout_s: float,
    rng: random.Random | None,
    monitor_correctness: bool,
    response_logprobs: Sequence[float] | None,
    tail_fraction: float,
) -> Signals:
    """``measure`` after checking that the input has what ``spec`` needs (ValueError otherwise)."""
    name = spec.name
    if spec.needs_length and (response_tokens is None or max_response_tokens is None):
        raise ValueError(f"reward {name!r} needs response_tokens and max_response_tokens")
    if spec.needs_ground_truth and (ground_truth is None or not str(ground_truth).strip()):
        raise ValueError(f"reward {name!r} needs a ground truth")
    if spec.needs_logprobs and response_logprobs is None:
        raise ValueError(f"reward {name!r} needs the log-probabilities of the response's sampled tokens")
    if not (monitor_correctness or spec.needs_ground_truth):
        ground_truth = None
    return measure(
        response,
        response_tokens=response_tokens,
        max_response_tokens=max_response_tokens,
        ground_truth=ground_truth,
        peak=peak,
        correctness_timeout_s=correctness_timeout_s,
        rng=rng,
        monitoring=not spec.needs_ground_truth,
        response_logprobs=response_logprobs if spec.needs_logprobs else None,
        tail_fraction=tail_fraction,
    )


@dataclass(frozen=True)
class ScoredGroup:
    """The scores of one group (the first ``len(scores)`` samples), every sample's signals and, for a
    group-level preset, the answer clusters (None for a sample-level one)."""

    scores: list[float]
    samples: list[ScoredResponse]
    clusters: AnswerClusters | None

    def extra_info(self) -> list[dict[str, Any]]:
        """Per-sample fields of ``ScoredResponse.extra_info`` plus, for group-level presets, ``cluster``
        (the sample's cluster, -1 without an answer), ``cluster_share`` (its share of the group, 0
        without an answer) and ``answer_fallback`` (1.0 when the group's clusters are string
        equality because the equivalence checker could not start)."""
        infos = [scored.extra_info() for scored in self.samples]
        if self.clusters is not None:
            c = self.clusters
            for info, label in zip(infos, c.labels):
                info["cluster"] = -1 if label is None else label
                info["cluster_share"] = 0.0 if label is None else c.sizes[label] / c.n
                info["answer_fallback"] = float(c.fallback)
        for info, scored in zip(infos, self.samples):
            if scored.signals.mean_logprob is not None:
                info["mean_logprob"] = scored.signals.mean_logprob
        return infos


def score_group(
    preset: str,
    responses: Sequence[str],
    *,
    response_tokens: Sequence[int | None] | None = None,
    max_response_tokens: int | None = None,
    ground_truths: Sequence[str | None] | None = None,
    response_logprobs: Sequence[Sequence[float] | None] | None = None,
    peak: float = DEFAULT_PEAK,
    correctness_timeout_s: float = DEFAULT_TIMEOUT_S,
    rng: random.Random | None = None,
    monitor_correctness: bool = True,
    rewarded: int | None = None,
    min_share: float = EMPO_MIN_SHARE,
    tail_fraction: float = 1.0,
    distinct_clusterer=None,
) -> ScoredGroup:
    """Score the n ``responses`` of one prompt with the named preset (any level).

    Per-sample inputs are sequences aligned with ``responses``. Group-level presets cluster the
    extracted answers (``equivalence.cluster_answers``) and apply their rule; sample-level presets
    score each response as ``score_response`` does. ``rewarded``: the first ``rewarded`` samples are
    scored, all n vote (group-level only). Raises what ``score_response`` raises, per sample."""
    spec = get_preset(preset)
    n = len(responses)
    if n == 0:
        raise ValueError("a group needs at least one response")
    if rewarded is not None and not spec.is_group:
        raise ValueError(f"rewarded (vote on n, score a subset) applies to group-level rewards, not {preset!r}")

    def aligned(values, name):
        if values is None:
            return [None] * n
        if len(values) != n:
            raise ValueError(f"{len(values)} {name} for {n} responses")
        return list(values)

    tokens, truths, logprobs = (
        aligned(response_tokens, "token counts"),
        aligned(ground_truths, "ground truths"),
        aligned(response_logprobs, "log-probability lists"),
    )
    samples = []
    for i, response in enumerate(responses):
        signals = _measure_for(
            spec,
            response,
            tokens[i],
            max_response_tokens,
            truths[i],
            peak,
            correctness_timeout_s,
            rng,
            monitor_correctness,
            logprobs[i],
            tail_fraction,
        )
        samples.append(signals)
    if not spec.is_group:
        assert spec.combine is not None
        scored = [ScoredResponse(spec.combine(s), s) for s in samples]
        return ScoredGroup([r.score for r in scored], scored, None)
    clusters = cluster_answers([s.pred for s in samples], distinct_clusterer=distinct_clusterer)
    assert spec.group_rule is not None
    scores = spec.group_rule(GroupSignals(tuple(samples), clusters, rewarded, min_share))
    padded = scores + [float("nan")] * (n - len(scores))  # samples that only voted carry no score
    return ScoredGroup(scores, [ScoredResponse(score, s) for score, s in zip(padded, samples)], clusters)
