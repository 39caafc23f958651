"""The one batch-first scoring core: a batch of responses and frozen settings in, one typed result per sample out.

Every front end is an adapter around ``score_batch``: veRL's reward-loop managers (a batch of one response), veRL's
post-rollout stage (each step's rollouts, their signals decoded from ``reward_extra_info`` and their per-token
statistics), TRL's reward functions (each generation batch) and ``verl-ext score`` (each chunk or prompt group of
the input files). The core owns what they must agree on:

1. the batch's invariants, checked once: every per-sample input aligned; what the preset needs present (token
   counts, ground truths, per-token statistics, group ids); for a group preset, groups of at least 2 samples and,
   when ``settings.group_size`` is set, exactly that many (whole groups: never half a group's vote);
2. measuring each response's text signals (``verl_ext.rewards.signals.measure``), with every failure captured in
   its sample's ``error`` (the adapter decides: a training adapter scores 0 and counts it, ``verl-ext score``
   stops naming the record);
3. grouping by group id (first-seen order, members in batch order) and clustering each group's answers
   (``equivalence.cluster_groups``, all groups in one call);
4. the dispatch by level: sample formulas per response, token formulas on the tail means of the per-token
   statistics (``token_stats``), group rules per group (a group with a failed member fails as a whole).
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from verl_ext.collapse import batch_monitors, signals_monitors
from verl_ext.diagnostics import PREFIX as DIAGNOSTICS
from verl_ext.eval import proxy
from verl_ext.rewards import equivalence
from verl_ext.rewards.correctness import DEFAULT_TIMEOUT_S
from verl_ext.rewards.equivalence import AnswerClusters
from verl_ext.rewards.group import EMPO_MIN_SHARE
from verl_ext.rewards.length import DEFAULT_PEAK, validate_length_args
from verl_ext.rewards.registry import RewardPreset, get_preset
from verl_ext.rewards.signals import GroupSignals, Signals, measure
from verl_ext.rewards.token_stats import REDUCTIONS, STATISTICS, Ragged, reduce, why_invalid


class BatchError(ValueError):
    """The batch cannot be scored as asked (misaligned inputs, a need unmet, a group that is not whole).

    ``sample``: the index of the first offending sample, when one is to blame."""

    def __init__(self, message: str, sample: int | None = None) -> None:
        super().__init__(message)
        self.sample = sample


@dataclass(frozen=True)
class ScoringSettings:
    """How to score: the preset and its options (validated on construction; ValueError naming the setting).

    ``max_response_tokens``: the length curve's budget (length presets need it); ``monitor_correctness``: check
    ground truths, where given, for monitoring (presets other than ``correctness`` never use them);
    ``rewarded``: a group preset scores only each group's first ``rewarded`` samples, all vote (TTRL's 64/32);
    ``group_size``: every group must hold exactly this many samples; ``monitor_groups``: cluster each group's answers
    for the collapse monitors even when the preset does not vote (the equivalence checker's cost; a group-level
    preset always clusters)."""

    reward: str
    max_response_tokens: int | None = None
    peak: float = DEFAULT_PEAK
    correctness_timeout_s: float = DEFAULT_TIMEOUT_S
    monitor_correctness: bool = True
    min_share: float = EMPO_MIN_SHARE
    tail_fraction: float = 1.0
    rewarded: int | None = None
    group_size: int | None = None
    monitor_groups: bool = True

    def __post_init__(self) -> None:
        preset = get_preset(self.reward)
        if self.max_response_tokens is not None and (
            isinstance(self.max_response_tokens, bool)
            or not isinstance(self.max_response_tokens, int)
            or self.max_response_tokens < 1
        ):
            raise ValueError(f"max_response_tokens must be a whole number >= 1, got {self.max_response_tokens!r}")
        validate_length_args(0, self.max_response_tokens or 1, self.peak)
        if not self.correctness_timeout_s > 0:
            raise ValueError(f"correctness_timeout_s must be > 0 seconds, got {self.correctness_timeout_s}")
        if not 0.0 <= self.min_share <= 1.0:
            raise ValueError(f"min_share must lie in [0, 1], got {self.min_share}")
        if not 0.0 < self.tail_fraction <= 1.0:
            raise ValueError(f"tail_fraction must lie in (0, 1], got {self.tail_fraction}")
        if self.rewarded is not None:
            if not preset.is_group:
                raise ValueError(
                    f"rewarded (vote on n, score a subset) applies to group-level rewards, not {self.reward!r}"
                )
            if self.rewarded < 1:
                raise ValueError(f"rewarded must be >= 1, got {self.rewarded}")
        if self.group_size is not None and (isinstance(self.group_size, bool) or self.group_size < 1):
            raise ValueError(f"group_size must be a positive whole number, got {self.group_size!r}")

    @property
    def preset(self) -> RewardPreset:
        return get_preset(self.reward)


@dataclass(frozen=True)
class Batch:
    """The samples to score, each per-sample field aligned with the others (one entry per sample).

    Exactly one of ``responses`` (decoded texts, measured here) and ``signals`` (measured earlier, e.g. by veRL's
    reward loop and decoded from ``reward_extra_info``; None for a sample whose measuring failed then).
    ``group_ids``: the prompt of each sample (any hashable; samples with equal ids form a group).
    ``token_stats``: per-token statistics by name (``token_stats.STATISTICS``).
    ``rngs``: the generator of each sample's draw for the ``random`` control (one shared generator repeated gives
    draws in sample order); without it the control draws from an unseeded generator."""

    responses: Sequence[str] | None = None
    signals: Sequence[Signals | None] | None = None
    group_ids: Sequence[Hashable] | None = None
    response_tokens: Sequence[int | None] | None = None
    ground_truths: Sequence[str | None] | None = None
    token_stats: Mapping[str, Ragged] = field(default_factory=dict)
    rngs: Sequence[random.Random] | None = None

    def __len__(self) -> int:
        texts = self.responses if self.responses is not None else self.signals
        return 0 if texts is None else len(texts)


@dataclass(frozen=True)
class SampleResult:
    """One sample's outcome. ``score`` is None when it failed (``error`` says why) or only voted (``rewarded``);
    ``exception``: what was raised, for an adapter that re-raises it. Group presets only: ``cluster``, its answer's
    cluster in its group (None without an answer), ``cluster_share``, that cluster's share of the group, and
    ``answer_fallback``, whether the group was clustered by string equality (the checker could not run)."""

    score: float | None
    signals: Signals | None
    error: str | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    cluster: int | None = None
    cluster_share: float | None = None
    answer_fallback: bool | None = None


@dataclass(frozen=True)
class GroupResult:
    """The members (batch indices, in batch order) of one group and its answer clusters (None when nothing needed
    them: ``ScoringSettings.monitor_groups`` off and a preset that does not vote)."""

    members: tuple[int, ...]
    clusters: AnswerClusters | None


@dataclass(frozen=True)
class BatchResult:
    """The results of ``score_batch``: one per sample (batch order) and, for a grouped batch, its groups."""

    preset: RewardPreset
    samples: list[SampleResult]
    groups: list[GroupResult]

    @property
    def scores(self) -> list[float | None]:
        return [sample.score for sample in self.samples]

    @property
    def failed(self) -> int:
        """Samples whose scoring failed."""
        return sum(sample.error is not None for sample in self.samples)

    def training_rewards(self) -> list[float]:
        """The reward each sample trains on (``with_failed_at_group_mean`` of the scores): a sample whose scoring
        failed (counted in ``failed``) gets the mean score of its group's scored members. A sample that only voted
        (``rewarded``) trains on nothing and gets 0."""
        failed = [sample.error is not None for sample in self.samples]
        return with_failed_at_group_mean(self.scores, failed, [group.members for group in self.groups])

    def monitors(self, rewards: Sequence[float | None] | None = None) -> dict[str, float]:
        """``monitoring_metrics`` of this batch's groups, with ``rewards`` (default: the scores)."""
        signals = [sample.signals for sample in self.samples]
        return monitoring_metrics(self.groups, signals, self.scores if rewards is None else rewards)


def with_failed_at_group_mean(
    rewards: Sequence[float | None], failed: Sequence[bool], groups: Sequence[Sequence[int]]
) -> list[float]:
    """Training rewards: ``rewards[i]`` (0 for None, a sample that trains on nothing), except that a ``failed``
    sample gets the mean reward of its group's members that neither failed nor are None (0 when there are none, or
    when it is in no group). GRPO then gives it a zero advantage and it pulls no one's advantage its way, where a
    fixed 0 could be the best reward of its group (0 tops self_confidence's range and is above format_length's
    -1)."""
    trained = [0.0 if reward is None or bad else reward for reward, bad in zip(rewards, failed, strict=True)]
    for members in groups:
        scored = [rewards[i] for i in members if not failed[i] and rewards[i] is not None]
        neutral = math.fsum(scored) / len(scored) if scored else 0.0
        for i in members:
            if failed[i]:
                trained[i] = neutral
    return trained


def monitoring_metrics(
    groups: Sequence[GroupResult], signals: Sequence[Signals | None], rewards: Sequence[float | None]
) -> dict[str, float]:
    """Monitoring of a grouped batch (never a reward): ``collapse_monitors``, ``proxy_diagnostics`` and
    ``checker_diagnostics``."""
    return {
        **collapse_monitors(groups, signals, rewards),
        **proxy_diagnostics(groups, signals, rewards),
        **checker_diagnostics(groups),
    }


def checker_diagnostics(groups: Sequence[GroupResult]) -> dict[str, float]:
    """What the equivalence checker could not do over the batch's groups (``diagnostics/*``; none without groups):
    ``answer_fallback_rate``, the share of samples in groups clustered by string equality (the checker could not
    start); ``answer_check_timeouts`` and ``answer_check_errors``, comparisons stopped by their bound or failed (each
    such answer kept its own cluster); ``answer_check_screened``, answers the format check's static bounds refused
    (their own cluster, never compared)."""
    groups = [group for group in groups if group.clusters is not None]
    if not groups:
        return {}
    samples = sum(len(group.members) for group in groups)
    clusters = [group.clusters for group in groups]
    return {
        DIAGNOSTICS + "answer_fallback_rate": sum(len(g.members) for g in groups if g.clusters.fallback) / samples,
        DIAGNOSTICS + "answer_check_timeouts": float(sum(c.timeouts for c in clusters)),
        DIAGNOSTICS + "answer_check_errors": float(sum(c.check_errors for c in clusters)),
        DIAGNOSTICS + "answer_check_screened": float(sum(c.screened for c in clusters)),
    }


def proxy_diagnostics(
    groups: Sequence[GroupResult], signals: Sequence[Signals | None], rewards: Sequence[float | None]
) -> dict[str, float]:
    """URLVR's diagnostics of the training reward against hidden correctness (``verl_ext.eval.proxy``, ``proxy/*``:
    point-biserial correlation, pseudo-label accuracy per group) over the measured, rewarded samples of the groups;
    none when no sample carries a correctness verdict (no ground truth). A check that failed or timed out is no
    verdict (its C = 0 is a rule, not a finding): counted in ``proxy/unverified``."""
    members = [i for group in groups for i in group.members if rewards[i] is not None and signals[i] is not None]
    if not any(signals[i].correct is not None for i in members):  # type: ignore[union-attr]
        return {}
    group_of = {i: number for number, group in enumerate(groups) for i in group.members}
    correct = [None if _unverified(signals[i]) else signals[i].correct for i in members]  # type: ignore[arg-type,union-attr]
    return proxy.batch_diagnostics([rewards[i] for i in members], correct, [group_of[i] for i in members])


def _unverified(signals: Signals) -> bool:
    return bool(signals.monitor_error or signals.correct_error or signals.correct_timed_out)


def collapse_monitors(
    groups: Sequence[GroupResult], signals: Sequence[Signals | None], rewards: Sequence[float | None]
) -> dict[str, float]:
    """The collapse monitors (``verl_ext.collapse``, ``collapse/*``) averaged over the groups whose every member was
    measured and rewarded (others are left out: a monitor never guesses)."""
    per_group = []
    for group in groups:
        if group.clusters is None:
            continue
        members = [signals[i] for i in group.members]
        values = [rewards[i] for i in group.members]
        if any(s is None for s in members) or any(v is None for v in values):
            continue
        per_group.append(signals_monitors(group.clusters, members, values))  # type: ignore[arg-type]
    return batch_monitors(per_group)


_UNSEEDED = random.Random()
_DRAW_SEED = (
    "verl-ext score:{seed}:{key}"  # the seed string of verl-ext score's first release: its draws stay as they were
)


def random_draws(seed: int, *key: object) -> random.Random:
    """The generator of the ``random`` control for the sample identified by ``key`` (a record's position, a rollout's
    step, uid and session, ...): the same draw for the same seed and sample, whatever process, thread or order
    scores it, and independent draws for different samples."""
    return random.Random(_DRAW_SEED.format(seed=seed, key=":".join(map(str, key))))


def score_batch(batch: Batch, settings: ScoringSettings) -> BatchResult:
    """Score every sample of ``batch`` under ``settings`` (see the module doc). BatchError when the batch cannot be
    scored as asked; a failure on one sample's content is captured in its result instead."""
    preset = settings.preset
    _check(batch, settings, preset)
    signals, errors = _measured(batch, settings, preset)
    if batch.token_stats:
        signals, errors = _with_token_reductions(
            batch, settings.tail_fraction, signals, errors, preset.token_statistics
        )
    groups = _grouped(batch, settings, preset, signals)
    if preset.is_group:
        samples = _group_scores(preset, settings, signals, errors, groups)
    else:
        samples = [_sample_score(preset, batch, i, s, e) for i, (s, e) in enumerate(zip(signals, errors))]
    return BatchResult(preset, samples, groups)


def monitored_batch(batch: Batch, tail_fraction: float = 1.0) -> tuple[list[Signals | None], list[GroupResult]]:
    """For monitoring a batch of recorded ``signals`` scored elsewhere (no preset): each sample's signals with its
    token reductions (None where invalid) and, when the batch has group ids, its groups and their clusters."""
    if batch.signals is None:
        raise BatchError("monitoring reads a batch of recorded signals")
    signals = list(batch.signals)
    if batch.token_stats:
        signals, _ = _with_token_reductions(batch, tail_fraction, signals, [None] * len(signals), required=())
    groups = [] if batch.group_ids is None else cluster_groups_of(batch.group_ids, [s and s.pred for s in signals])
    return signals, groups


def reward_loop_batch(batch: Batch, settings: ScoringSettings) -> list[SampleResult]:
    """What a per-sample reward loop (veRL's) computes: for a sample-level preset, the scores (``score_batch``); for
    a group- or token-level one, which needs the whole group or the policy's per-token statistics, only the signals
    (``measure_batch``: score None), which the post-rollout stage scores."""
    if settings.preset.is_text:
        return score_batch(batch, settings).samples
    return measure_batch(batch, settings)


def measure_batch(batch: Batch, settings: ScoringSettings) -> list[SampleResult]:
    """Only the text signals of each response (no score): what veRL's reward loop records for a preset that its
    post-rollout stage scores. Captures failures as ``score_batch`` does."""
    _check(batch, settings, settings.preset, for_scoring=False)
    signals, errors = _measured(batch, settings, settings.preset)
    return [_result(None, s, e) for s, e in zip(signals, errors)]


def _result(score: float | None, signals: Signals | None, error: BaseException | None, **cluster) -> SampleResult:
    message = None if error is None else f"{type(error).__name__}: {error}"
    return SampleResult(score, signals, message, error, **cluster)


# --- checks -----------------------------------------------------------------------------------------------------


def _check(batch: Batch, settings: ScoringSettings, preset: RewardPreset, for_scoring: bool = True) -> None:
    if (batch.responses is None) == (batch.signals is None):
        raise BatchError("a batch holds either the responses or their measured signals, not both or neither")
    n = len(batch)
    if n == 0:
        raise BatchError("a batch needs at least one response")
    aligned = {
        "group ids": batch.group_ids,
        "token counts": batch.response_tokens,
        "ground truths": batch.ground_truths,
        "generators": batch.rngs,
    }
    for name, values in {**aligned, **batch.token_stats}.items():
        if values is not None and len(values) != n:
            raise BatchError(f"{len(values)} {name} for {n} responses")
    name = preset.name
    if preset.needs_length and batch.responses is not None:
        missing = _first(batch.response_tokens, lambda t: t is None, n)
        if missing is not None or settings.max_response_tokens is None:
            raise BatchError(f"reward {name!r} needs response_tokens and max_response_tokens", missing)
    if preset.needs_ground_truth and batch.responses is not None:
        missing = _first(batch.ground_truths, lambda t: t is None or not str(t).strip(), n)
        if missing is not None:
            raise BatchError(f"reward {name!r} needs a ground truth", missing)
    if not for_scoring:
        return
    for statistic in preset.token_statistics:
        if statistic not in batch.token_stats:
            raise BatchError(f"reward {name!r} needs the response tokens' {statistic} ({STATISTICS[statistic][0]})")
    if preset.is_group and batch.group_ids is None:
        raise BatchError(f"reward {name!r} is group-level: it needs each sample's group (the prompt it answers)")


def _first(values: Sequence | None, bad, n: int) -> int | None:
    if values is None:
        return 0
    return next((i for i in range(n) if bad(values[i])), None)


# --- measuring --------------------------------------------------------------------------------------------------


class MeasuredEarlierFailed(RuntimeError):
    """A sample given as signals whose measuring had failed where it was measured (veRL's reward loop)."""

    def __init__(self) -> None:
        super().__init__("measuring this sample failed where it was recorded (veRL's reward loop: see its log)")


def _measured(
    batch: Batch, settings: ScoringSettings, preset: RewardPreset
) -> tuple[list[Signals | None], list[BaseException | None]]:
    if batch.signals is not None:
        return list(batch.signals), [None if s is not None else MeasuredEarlierFailed() for s in batch.signals]
    assert batch.responses is not None
    keep_truth = settings.monitor_correctness or preset.needs_ground_truth
    signals: list[Signals | None] = []
    errors: list[BaseException | None] = []
    for i, response in enumerate(batch.responses):
        try:
            signals.append(
                measure(
                    response,
                    response_tokens=None if batch.response_tokens is None else batch.response_tokens[i],
                    max_response_tokens=settings.max_response_tokens,
                    ground_truth=batch.ground_truths[i] if keep_truth and batch.ground_truths is not None else None,
                    peak=settings.peak,
                    correctness_timeout_s=settings.correctness_timeout_s,
                    monitoring=not preset.needs_ground_truth,
                )
            )
            errors.append(None)
        except Exception as exc:
            signals.append(None)
            errors.append(exc)
    return signals, errors


class InvalidTokenStatistics(ValueError):
    """A response's per-token statistics cannot be reduced (no token, or a value the statistic does not allow)."""


def _with_token_reductions(
    batch: Batch,
    tail_fraction: float,
    signals: list[Signals | None],
    errors: list[BaseException | None],
    required: tuple[str, ...],
) -> tuple[list[Signals | None], list[BaseException | None]]:
    """The signals with the per-response reductions (``token_stats.REDUCTIONS``) of every statistic the batch
    carries. A sample whose ``required`` statistics (a token-level preset's) cannot be reduced fails; any other
    reduction that cannot be made is None (a monitor then leaves it out)."""
    reduced: dict[str, list[float | None]] = {
        name: reduce(batch.token_stats[statistic], statistic, how, tail_fraction)
        for name, (statistic, how) in REDUCTIONS.items()
        if statistic in batch.token_stats
    }
    out_signals: list[Signals | None] = []
    out_errors: list[BaseException | None] = []
    for i, (s, error) in enumerate(zip(signals, errors)):
        values = {name: column[i] for name, column in reduced.items()}
        missing = sorted({REDUCTIONS[name][0] for name, value in values.items() if value is None} & set(required))
        if s is not None and error is None and missing:
            error = InvalidTokenStatistics("; ".join(why_invalid(batch.token_stats[m], m, i) for m in missing))
        out_signals.append(None if s is None else replace(s, **values))
        out_errors.append(error)
    return out_signals, out_errors


# --- grouping and scoring ---------------------------------------------------------------------------------------


def group_members(group_ids: Sequence[Hashable]) -> list[tuple[int, ...]]:
    """Batch indices of each group: groups in order of first appearance, members in batch order."""
    groups: dict[Hashable, list[int]] = {}
    for index, group_id in enumerate(group_ids):
        groups.setdefault(group_id, []).append(index)
    return [tuple(members) for members in groups.values()]


def cluster_groups_of(
    group_ids: Sequence[Hashable], answers: Sequence[str | None], groups: list[tuple[int, ...]] | None = None
) -> list[GroupResult]:
    """The groups of ``group_ids`` (``group_members``, unless given) with their answers' clusters (one checker call
    for all)."""
    groups = group_members(group_ids) if groups is None else groups
    clusters = equivalence.cluster_groups([[answers[i] for i in members] for members in groups])
    return [GroupResult(members, c) for members, c in zip(groups, clusters)]


def _grouped(
    batch: Batch, settings: ScoringSettings, preset: RewardPreset, signals: list[Signals | None]
) -> list[GroupResult]:
    if batch.group_ids is None:
        return []
    groups = group_members(batch.group_ids)
    for members in groups:
        size = len(members)
        if preset.is_group and size < 2:
            raise BatchError(
                f"reward {preset.name!r} is group-level and group {batch.group_ids[members[0]]!r} has one sample: "
                "a vote needs several samples of each prompt",
                members[0],
            )
        if settings.group_size is not None and size != settings.group_size:
            raise BatchError(
                f"group {batch.group_ids[members[0]]!r} has {size} samples where every group must have "
                f"{settings.group_size} (a whole group: never a vote over part of one)",
                members[0],
            )
        if settings.rewarded is not None and settings.rewarded > size:
            raise BatchError(f"rewarded = {settings.rewarded} exceeds a group of {size} samples", members[0])
    if not (preset.is_group or settings.monitor_groups):
        return [GroupResult(members, None) for members in groups]
    return cluster_groups_of(batch.group_ids, [None if s is None else s.pred for s in signals], groups)


def _sample_score(
    preset: RewardPreset, batch: Batch, index: int, s: Signals | None, error: BaseException | None
) -> SampleResult:
    if s is None or error is not None:
        return _result(None, s, error)
    assert preset.combine is not None
    try:
        if preset.uses_rng:
            rng = _UNSEEDED if batch.rngs is None else batch.rngs[index]
            score = preset.combine(s, rng)  # type: ignore[call-arg]
        else:
            score = preset.combine(s)  # type: ignore[call-arg]
    except Exception as exc:
        return _result(None, s, exc)
    return _result(float(score), s, None)


class GroupFailed(RuntimeError):
    """A group's rule could not be applied because one of its samples failed."""


def _group_scores(
    preset: RewardPreset,
    settings: ScoringSettings,
    signals: list[Signals | None],
    errors: list[BaseException | None],
    groups: list[GroupResult],
) -> list[SampleResult]:
    assert preset.group_rule is not None
    results: list[SampleResult | None] = [None] * len(signals)
    for group in groups:
        members, clusters = group.members, group.clusters
        assert clusters is not None  # a group-level preset always clusters
        failed = next((i for i in members if errors[i] is not None), None)
        scores: list[float] = []
        group_error: BaseException | None = None
        if failed is not None:
            group_error = GroupFailed(
                f"its group could not be scored: its sample {members.index(failed)} failed: "
                f"{type(errors[failed]).__name__}: {errors[failed]}"
            )
            group_error.__cause__ = errors[failed]
        else:
            try:
                member_signals = tuple(signals[i] for i in members)
                rule_input = GroupSignals(member_signals, clusters, settings.rewarded, settings.min_share)  # type: ignore[arg-type]
                scores = [float(v) for v in preset.group_rule(rule_input)]
            except Exception as exc:
                group_error = exc
        for position, i in enumerate(members):
            label = clusters.labels[position]
            results[i] = _result(
                None if group_error is not None or position >= len(scores) else scores[position],
                signals[i],
                errors[i] or group_error,
                cluster=label,
                cluster_share=0.0 if label is None else clusters.sizes[label] / clusters.n,
                answer_fallback=clusters.fallback,
            )
    return results  # type: ignore[return-value]
