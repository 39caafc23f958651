"""The group-level reward stage for veRL 0.9.1's V1 trainer, run right after the old-log-prob pass by verl-ext's
trainer mode (``trainer.v1.trainer_mode=verl_ext_sync``: :class:`verl_ext.verl.trainer.RewardStageTrainer`).

veRL's reward loop scores one sample at a time (``RewardManagerBase.run_single``) and chunks a batch across
reward workers without regard to ``uid``, so a reward manager never sees the other samples of its prompt.
The V1 trainer's ``_step_once`` (``verl/trainer/ppo/v1/trainer_base.py``) calls ``replay_buffer.sample`` first
and ``_compute_advantage`` later, which reads ``rm_scores`` from TransferQueue. ``sample`` returns whole groups
(``ReplayBuffer._materialize_batch`` takes every key ``{uid}_{session_id}_{index}`` of each selected uid), so a
stage there sees each prompt's whole group. It:

1. reads the sampled rollouts' ``extra_fields`` (the per-sample managers' ``reward_extra_info``: extracted
   answer ``pred``, format verdict, token count, hidden-truth ``correct``), ``rm_scores``, and, when the rollout
   records them (``actor_rollout_ref.rollout.calculate_log_probs``), ``rollout_log_probs`` and ``response_mask``;
2. groups the rollouts by prompt uid (members ordered by session then index: the order of the majority
   vote's first-seen tie-break) and clusters each group's answers (``equivalence.cluster_groups``);
3. for a group-level preset (majority, semantic_frequency, format_gated_*) applies its rule, for a
   log-probability preset (self_confidence, format_gated_self_confidence) its per-sample formula on the
   response tokens' rollout log-probs, and writes the rewards back as ``rm_scores`` (the score on each
   response's last token, zeros elsewhere: what the agent loop and ``_compute_reward_colocate`` write) with
   ``tq.kv_batch_put``; sample-level text presets keep the reward loop's scores;
4. returns the collapse monitors (``verl_ext.collapse``) of every reward as ``collapse/*`` metrics.

A failure to read or write TransferQueue raises (the actor must never train on the reward loop's
placeholder). A group whose rule fails scores 0 and counts in ``diagnostics/group_reward_error_rate``;
a group whose answers fell back to string equality counts in ``diagnostics/answer_fallback_rate``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from verl_ext.collapse import batch_monitors, signals_monitors
from verl_ext.diagnostics import PREFIX as DIAGNOSTICS_PREFIX
from verl_ext.rewards.equivalence import AnswerClusters, cluster_groups
from verl_ext.rewards.group import EMPO_MIN_SHARE
from verl_ext.rewards.presets import GroupSignals, RewardPreset, Signals, get_preset

logger = logging.getLogger(__name__)

EXTRA_FIELDS = "extra_fields"
RM_SCORES = "rm_scores"
ROLLOUT_LOG_PROBS = "rollout_log_probs"
RESPONSE_MASK = "response_mask"


def prompt_uid(key: str) -> str:
    """The prompt uid of a rollout key ``{uid}_{session_id}_{index}`` (veRL's own ``key.split("_")[0]``)."""
    return key.split("_")[0]


def _member_order(key: str) -> tuple[int, int]:
    parts = key.rsplit("_", 2)
    try:
        return int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        raise ValueError(f"rollout key {key!r} is not '{{uid}}_{{session_id}}_{{index}}'") from None


def prompt_groups(keys: Sequence[str]) -> list[list[int]]:
    """Positions in ``keys`` grouped by prompt uid; groups in order of first appearance, members by (session, index)."""
    groups: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(prompt_uid(key), []).append(position)
    return [sorted(members, key=lambda i: _member_order(keys[i])) for members in groups.values()]


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def sample_signals(info: dict[str, Any], mean_logprob: float | None = None) -> Signals:
    """The ``Signals`` a rule needs, rebuilt from a manager's ``reward_extra_info`` (``pred`` "" = no answer)."""
    monitor_failed = _number(info.get("monitor_error")) == 1.0
    tokens = _number(info.get("response_tokens"))
    return Signals(
        pred=str(info.get("pred") or "") or None,
        format=_number(info.get("format")) or 0.0,
        format_budget_exceeded=False,
        length_reward=_number(info.get("length_reward")),
        response_tokens=None if tokens is None else int(tokens),
        truncated=None,
        correct=None if monitor_failed else _number(info.get("correct")),
        mean_logprob=mean_logprob,
    )


@dataclass(frozen=True)
class StageOptions:
    """``trainer.v1.sampler.sampler_kwargs`` read by the stage: the preset and its group options."""

    reward: str | None = None
    min_share: float = EMPO_MIN_SHARE
    tail_fraction: float = 1.0
    rollout_log_probs: bool = False

    @property
    def preset(self) -> RewardPreset | None:
        return get_preset(self.reward) if self.reward else None

    @property
    def rewrites_rewards(self) -> bool:
        """Whether the stage (not the per-sample reward loop) computes the training reward: a preset that is not
        a text preset (group-level or log-probability)."""
        return self.preset is not None and not self.preset.is_text

    @classmethod
    def from_kwargs(cls, kwargs: Any) -> StageOptions:
        kwargs = dict(kwargs or {})
        options = cls(
            reward=kwargs.get("reward") or None,
            min_share=float(kwargs.get("min_share", EMPO_MIN_SHARE)),
            tail_fraction=float(kwargs.get("tail_fraction", 1.0)),
            rollout_log_probs=bool(kwargs.get("rollout_log_probs", False)),
        )
        if options.reward is not None:
            preset = get_preset(options.reward)  # ValueError for an unknown name
            if preset.needs_logprobs and not options.rollout_log_probs:
                raise ValueError(
                    f"reward {options.reward!r} needs the rollout's token log-probabilities: set "
                    f"actor_rollout_ref.rollout.calculate_log_probs=true"
                )
        if not 0.0 <= options.min_share <= 1.0:
            raise ValueError(f"sampler_kwargs.min_share must lie in [0, 1], got {options.min_share}")
        if not 0.0 < options.tail_fraction <= 1.0:
            raise ValueError(f"sampler_kwargs.tail_fraction must lie in (0, 1], got {options.tail_fraction}")
        return options


@dataclass(frozen=True)
class StageOutcome:
    """Per real rollout (in batch order): the training reward (rewritten or the reward loop's); the metrics; the
    ``extra_fields`` read from TransferQueue (so that the sampler's diagnostics need not read them again)."""

    rewards: list[float]
    rewritten: bool
    metrics: dict[str, float]
    extra_fields: list[Any]


def _rows(values: Any) -> list[torch.Tensor]:
    """Per-rollout 1-D tensors of a jagged field (TransferQueue returns nested tensors for ragged fields)."""
    if isinstance(values, torch.Tensor) and values.is_nested:
        return list(values.unbind())
    return [torch.as_tensor(row) for row in values]


def _flat(values: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A jagged field as (all rows' values concatenated, offsets of the rows: n + 1 of them)."""
    if isinstance(values, torch.Tensor) and values.is_nested and values.layout == torch.jagged:
        return values.values(), values.offsets()
    rows = _rows(values)
    lengths = torch.tensor([row.shape[-1] for row in rows], dtype=torch.int64)
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])
    return (torch.cat(rows) if rows else torch.zeros(0)), offsets


def _prefix(values: torch.Tensor) -> torch.Tensor:
    """Prefix sums with a leading 0: the sum over elements [a, b) is ``p[b] - p[a]``."""
    return torch.cat([torch.zeros(1, dtype=values.dtype), values.cumsum(0)])


def row_sums(values: Any) -> list[float]:
    """The sum of each row of a jagged field (veRL's score of a rollout: ``rm_scores.sum(dim=1)``)."""
    flat, offsets = _flat(values)
    sums = _prefix(flat.double())
    return (sums[offsets[1:]] - sums[offsets[:-1]]).tolist()


def mean_logprobs(logprobs: Any, masks: Any, tail_fraction: float = 1.0) -> list[float | None]:
    """``group.self_confidence`` of each rollout's response tokens (``mask`` = 1), vectorised over the step (8192
    rows of 3072 tokens, with prefix sums): the mean of the last m = ceil(tail_fraction * T) of its T token
    log-probs; None for a rollout without a token or with an invalid log-prob (not finite, or > 0)."""
    values, offsets = _flat(logprobs)
    mask_values, mask_offsets = _flat(masks)
    if not torch.equal(offsets, mask_offsets):
        raise ValueError("rollout_log_probs and response_mask differ in shape")
    kept = mask_values.bool()
    valid = torch.isfinite(values) & (values <= 0)
    kept_before = _prefix(kept.long())  # kept tokens among elements [0, j)
    sums_before = _prefix(torch.where(kept & valid, values.double(), 0.0))
    bad_before = _prefix((kept & ~valid).long())
    start, end = offsets[:-1], offsets[1:]
    counts = kept_before[end] - kept_before[start]
    tail = torch.ceil(tail_fraction * counts.double()).long()
    # the tail starts at the first element j with (kept tokens before j) = (kept before the row) + T - m
    first = torch.searchsorted(kept_before, kept_before[start] + counts - tail)
    means = ((sums_before[end] - sums_before[first]) / tail.clamp(min=1)).tolist()
    invalid = ((bad_before[end] - bad_before[start]) > 0) | (counts == 0)
    return [None if bad else mean for mean, bad in zip(means, invalid.tolist())]


def score_groups(
    preset: RewardPreset,
    signals: list[Signals],
    groups: list[list[int]],
    clusters: list[AnswerClusters],
    min_share: float = EMPO_MIN_SHARE,
) -> tuple[list[float], list[bool]]:
    """Training rewards of every rollout under a stage preset, and which ones failed (scored 0).

    Group presets: the rule on each group (members in group order); log-prob presets: ``combine`` per sample."""
    rewards = [0.0] * len(signals)
    failed = [False] * len(signals)
    # a group rule scores a group together; a log-prob formula scores each rollout alone
    units = list(zip(groups, clusters)) if preset.is_group else [([i], None) for members in groups for i in members]
    for members, group_clusters in units:
        try:
            if preset.is_group:
                assert preset.group_rule is not None and group_clusters is not None
                scores = preset.group_rule(
                    GroupSignals(tuple(signals[i] for i in members), group_clusters, None, min_share)
                )
            else:
                assert preset.combine is not None
                if signals[members[0]].mean_logprob is None:
                    raise ValueError("no valid response log-probabilities (no token, or one not finite or > 0)")
                scores = [preset.combine(signals[members[0]])]
        except Exception:
            logger.exception("verl-ext %s reward failed on %d rollout(s): scored 0", preset.name, len(members))
            for i in members:
                failed[i] = True
            continue
        for i, score in zip(members, scores):
            rewards[i] = float(score)
    return rewards, failed


def last_token_scores(template: Any, rewards: Sequence[float]) -> torch.Tensor:
    """A jagged ``rm_scores`` shaped like ``template`` (one row per rollout): ``rewards[i]`` on row i's last token,
    0 elsewhere (what veRL's agent loop writes)."""
    flat, offsets = _flat(template)
    if len(rewards) != len(offsets) - 1:
        raise ValueError(f"{len(rewards)} rewards for {len(offsets) - 1} rollouts")
    if bool((offsets.diff() < 1).any()):
        raise ValueError("a rollout without response tokens has no last token to score")
    values = torch.zeros(flat.shape[0], dtype=torch.float32)
    values[offsets[1:] - 1] = torch.tensor(list(rewards), dtype=torch.float32)
    return torch.nested.nested_tensor_from_jagged(values, offsets)


def _monitors(
    signals: list[Signals], rewards: list[float], groups: list[list[int]], clusters: list[AnswerClusters]
) -> dict[str, float]:
    return batch_monitors(
        [
            signals_monitors(group_clusters, [signals[i] for i in members], [rewards[i] for i in members])
            for members, group_clusters in zip(groups, clusters)
        ]
    )


KVGet = Callable[..., Any]
KVPut = Callable[..., Any]
Clusterer = Callable[[list[list[str | None]]], list[AnswerClusters]]


def run_group_stage(
    keys: Sequence[str],
    partition_id: str,
    options: StageOptions,
    kv_batch_get: KVGet,
    kv_batch_put: KVPut,
    clusterer: Clusterer = cluster_groups,
) -> StageOutcome:
    """The stage on the real (non-padding) rollout ``keys`` of one sampled training batch (see the module doc).

    ``kv_batch_get(keys=, partition_id=, select_fields=)`` / ``kv_batch_put(keys=, partition_id=, fields=)``:
    TransferQueue's (injectable for tests). Raises when TransferQueue cannot be read or written."""
    started = time.perf_counter()
    if not keys:
        return StageOutcome([], False, {}, [])
    preset = options.preset
    rewrite = options.rewrites_rewards
    fields = [EXTRA_FIELDS, RM_SCORES] + ([ROLLOUT_LOG_PROBS, RESPONSE_MASK] if options.rollout_log_probs else [])
    data = kv_batch_get(keys=list(keys), partition_id=partition_id, select_fields=fields)
    # Depending on the TransferQueue backend an element is the dict itself or a NonTensorData around it.
    extra_fields = [getattr(f, "data", f) for f in data[EXTRA_FIELDS]]
    infos = [_reward_extra_info(fields) for fields in extra_fields]
    if len(infos) != len(keys):
        raise RuntimeError(f"TransferQueue returned {len(infos)} rollouts for {len(keys)} keys")
    logprobs: list[float | None] = [None] * len(keys)
    if options.rollout_log_probs:
        logprobs = mean_logprobs(data[ROLLOUT_LOG_PROBS], data[RESPONSE_MASK], options.tail_fraction)
    signals = [sample_signals(info, lp) for info, lp in zip(infos, logprobs)]
    groups = prompt_groups(keys)
    clusters = clusterer([[signals[i].pred for i in members] for members in groups])
    metrics: dict[str, float] = {}
    if rewrite:
        assert preset is not None
        rewards, failed = score_groups(preset, signals, groups, clusters, options.min_share)
        kv_batch_put(
            keys=list(keys),
            partition_id=partition_id,
            fields=_tensordict({RM_SCORES: last_token_scores(data[RM_SCORES], rewards)}),
        )
        metrics[DIAGNOSTICS_PREFIX + "group_reward_error_rate"] = sum(failed) / len(failed)
    else:
        rewards = row_sums(data[RM_SCORES])  # the reward loop's scores stand
    fell_back = [float(c.fallback) for members, c in zip(groups, clusters) for _ in members]
    metrics[DIAGNOSTICS_PREFIX + "answer_fallback_rate"] = sum(fell_back) / len(fell_back)
    metrics[DIAGNOSTICS_PREFIX + "answer_check_timeouts"] = float(sum(c.timeouts for c in clusters))
    metrics.update(_monitors(signals, rewards, groups, clusters))
    metrics[DIAGNOSTICS_PREFIX + "group_stage_s"] = time.perf_counter() - started
    return StageOutcome(rewards, rewrite, metrics, extra_fields)


def _reward_extra_info(fields: Any) -> dict[str, Any]:
    info = fields.get("reward_extra_info") if isinstance(fields, dict) else None
    return dict(info) if isinstance(info, dict) else {}


def _tensordict(fields: dict[str, torch.Tensor]) -> Any:
    """veRL's ``tensordict_utils.get_tensordict`` (what ``_compute_reward_colocate`` writes back with)."""
    from verl.utils import tensordict_utils as tu

    return tu.get_tensordict(fields)
