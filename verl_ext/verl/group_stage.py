"""The post-rollout reward stage for veRL 0.9.1's V1 trainer, run right after the old-log-prob pass by verl-ext's
trainer mode (``trainer.v1.trainer_mode=verl_ext_sync``: :class:`verl_ext.verl.trainer.RewardStageTrainer`): an
adapter around the scoring core for the rewards a per-sample reward loop cannot compute.

veRL's reward loop scores one sample at a time (``RewardManagerBase.run_single``) and chunks a batch across reward
workers without regard to ``uid``, so a reward manager never sees the other samples of its prompt, nor the policy's
per-token statistics. The V1 trainer's ``_step_once`` (``verl/trainer/ppo/v1/trainer_base.py``) samples whole groups
(``ReplayBuffer._materialize_batch`` takes every key ``{uid}_{session_id}_{index}`` of each selected uid), computes
the old log-probs (writing ``old_log_probs`` and ``entropy``, and, in verl-ext's trainer, ``self_certainty``, to
TransferQueue), then ``_compute_advantage``, which reads ``rm_scores``. Between the two, the stage:

1. reads the rollouts' ``extra_fields`` (the per-sample managers' ``reward_extra_info``, decoded by
   ``verl_ext.core.extra_info.signals_from_extra_info``: a rollout without them fails the step, naming its key),
   ``rm_scores``, and the per-token statistics the preset needs (``verl_ext.verl.token_stats.token_statistics``:
   ``logprobs`` from the rollout's ``rollout_log_probs``, with ``actor_rollout_ref.rollout.calculate_log_probs``;
   ``entropy`` and ``self_certainty`` from the old-log-prob pass), at the tokens the policy generated;
2. builds one batch of one sample per session (its final output: a multi-output agent loop copies the final
   output's reward to the others, so a session votes once), in group order (by prompt uid, sessions in order: the
   order of the majority vote's first-seen tie-break) and, for a group- or token-level preset, scores it with the core
   (``verl_ext.core.score_batch``) and writes each session's reward back to every output of it as ``rm_scores`` (the
   score on each response's last token, zeros elsewhere: what the agent loop and ``_compute_reward_colocate`` write)
   with ``tq.kv_batch_put``; sample-level presets keep the reward loop's scores, except that a sample whose scoring
   failed there (``reward_error``) is written its group's mean instead of the loop's 0;
3. returns the collapse monitors (``verl_ext.collapse``) of every reward as ``collapse/*`` metrics and, when the
   data carries ground truths, URLVR's diagnostics of the training reward against them (``verl_ext.eval.proxy``:
   point-biserial correlation, pseudo-label accuracy) as ``proxy/*``.

A failure to read or write TransferQueue raises (the actor must never train on the reward loop's placeholder). A
sample whose scoring failed, in the reward loop or in the core, trains on its group's mean reward
(``verl_ext.core.batch.with_failed_at_group_mean``: a zero advantage) and is counted (the reward loop's
``diagnostics/reward_error_rate``, the core's ``diagnostics/group_reward_error_rate``); what the equivalence checker
could not do is counted in ``diagnostics/answer_fallback_rate``, ``answer_check_timeouts``, ``answer_check_errors``
and ``answer_check_screened`` (``verl_ext.core.batch.checker_diagnostics``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from verl_ext.core import Batch, BatchResult, ScoringSettings, score_batch
from verl_ext.core.batch import group_members, monitored_batch, monitoring_metrics, with_failed_at_group_mean
from verl_ext.core.extra_info import MissingSignals, signals_from_extra_info
from verl_ext.diagnostics import PREFIX as DIAGNOSTICS_PREFIX
from verl_ext.rewards.group import EMPO_MIN_SHARE
from verl_ext.rewards.registry import RewardPreset, get_preset
from verl_ext.rewards.signals import Signals
from verl_ext.rewards.token_stats import Ragged
from verl_ext.verl.rollout_key import prompt_uid, session_and_index
from verl_ext.verl.token_stats import ENTROPY, ROLLOUT_LOG_PROBS, SELF_CERTAINTY, token_statistics

logger = logging.getLogger(__name__)

EXTRA_FIELDS = "extra_fields"
RM_SCORES = "rm_scores"


def group_order(keys: Sequence[str]) -> list[int]:
    """Positions in ``keys`` in group order: prompts in order of first appearance, members by (session, index)."""
    groups: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(prompt_uid(key), []).append(position)
    return [i for members in groups.values() for i in sorted(members, key=lambda i: session_and_index(keys[i]))]


def sessions(keys: Sequence[str]) -> list[list[int]]:
    """The positions of each session's outputs (``{uid}_{session}_{index}``), sessions in group order (as
    ``group_order``), outputs by index: a multi-output agent loop puts several outputs of one session, and copies the
    final one's reward and ``reward_extra_info`` to the others (``AgentLoopWorkerTQ._agent_loop_postprocess``)."""
    by_session: dict[tuple[str, int], list[int]] = {}
    for position in group_order(keys):
        by_session.setdefault((prompt_uid(keys[position]), session_and_index(keys[position])[0]), []).append(position)
    return list(by_session.values())


@dataclass(frozen=True)
class StageOptions:
    """``trainer.v1.sampler.sampler_kwargs`` read by the stage: the preset and its group options."""

    reward: str | None = None
    min_share: float = EMPO_MIN_SHARE
    tail_fraction: float = 1.0
    rollout_log_probs: bool = False
    group_size: int | None = None

    @property
    def preset(self) -> RewardPreset | None:
        return get_preset(self.reward) if self.reward else None

    @property
    def rewrites_rewards(self) -> bool:
        """Whether the stage (not the per-sample reward loop) computes the training reward: a preset that is not a
        sample-level one (group-level or token-level)."""
        return self.preset is not None and not self.preset.is_text

    def settings(self) -> ScoringSettings:
        assert self.reward is not None
        return ScoringSettings(
            self.reward, min_share=self.min_share, tail_fraction=self.tail_fraction, group_size=self.group_size
        )

    @classmethod
    def from_kwargs(cls, kwargs: Any) -> StageOptions:
        """The options in ``trainer.v1.sampler.sampler_kwargs``; ValueError naming the one that is wrong (what the run
        must set beside them is ``verl_ext.verl.stage_checks``' to refuse, before anything starts)."""
        kwargs = dict(kwargs or {})
        group_size = kwargs.get("group_size")
        options = cls(
            reward=kwargs.get("reward") or None,
            min_share=float(kwargs.get("min_share", EMPO_MIN_SHARE)),
            tail_fraction=float(kwargs.get("tail_fraction", 1.0)),
            rollout_log_probs=bool(kwargs.get("rollout_log_probs", False)),
            group_size=None if group_size is None else int(group_size),
        )
        if options.reward is not None:
            try:
                options.settings()
            except ValueError as error:
                raise ValueError(f"trainer.v1.sampler.sampler_kwargs: {error}") from None
        return options


@dataclass(frozen=True)
class StageOutcome:
    """Per real rollout (in batch order): the training reward (rewritten or the reward loop's); the metrics."""

    rewards: list[float]
    rewritten: bool
    metrics: dict[str, float]


def _offsets(values: Any) -> torch.Tensor:
    """The row offsets of a jagged field (n + 1 of them), without copying its values."""
    if isinstance(values, torch.Tensor) and values.is_nested and values.layout == torch.jagged:
        return values.offsets().cpu()
    rows = values.unbind() if isinstance(values, torch.Tensor) else values
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64)
    return torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])


def last_token_scores(template: Any, rewards: Sequence[float]) -> torch.Tensor:
    """A jagged ``rm_scores`` shaped like ``template`` (one row per rollout): ``rewards[i]`` on row i's last token,
    0 elsewhere (what veRL's agent loop writes)."""
    offsets = _offsets(template)
    if len(rewards) != len(offsets) - 1:
        raise ValueError(f"{len(rewards)} rewards for {len(offsets) - 1} rollouts")
    if bool((offsets.diff() < 1).any()):
        raise ValueError("a rollout without response tokens has no last token to score")
    values = torch.zeros(int(offsets[-1]), dtype=torch.float32)
    values[offsets[1:] - 1] = torch.tensor(list(rewards), dtype=torch.float32)
    return torch.nested.nested_tensor_from_jagged(values, offsets)


KVGet = Callable[..., Any]
KVPut = Callable[..., Any]


def run_group_stage(
    keys: Sequence[str],
    partition_id: str,
    options: StageOptions,
    kv_batch_get: KVGet,
    kv_batch_put: KVPut,
) -> StageOutcome:
    """The stage on the real (non-padding) rollout ``keys`` of one sampled training batch (see the module doc).

    ``kv_batch_get(keys=, partition_id=, select_fields=)`` / ``kv_batch_put(keys=, partition_id=, fields=)``:
    TransferQueue's. Raises when TransferQueue cannot be read or written, and when a rollout lacks its recorded
    signals while the stage must write the rewards (MissingSignals, naming the rollout; monitoring leaves it out)."""
    started = time.perf_counter()
    if not keys:
        return StageOutcome([], False, {})
    rewrite = options.rewrites_rewards
    data = kv_batch_get(keys=list(keys), partition_id=partition_id, select_fields=[EXTRA_FIELDS, RM_SCORES])
    # Depending on the TransferQueue backend an element is the dict itself or a NonTensorData around it.
    extra_fields = [getattr(f, "data", f) for f in data[EXTRA_FIELDS]]
    if len(extra_fields) != len(keys):
        raise RuntimeError(f"TransferQueue returned {len(extra_fields)} rollouts for {len(keys)} keys")
    outputs = sessions(keys)
    order = [session[-1] for session in outputs]  # each session's final output stands for it
    recorded = [_recorded_signals(extra_fields[i], keys[i], required=rewrite) for i in order]
    signals = [sample for sample, _ in recorded]
    uids = [prompt_uid(keys[i]) for i in order]
    metrics: dict[str, float] = {}
    if rewrite:
        token_stats = _token_stats(keys, partition_id, options, kv_batch_get, order)
        result = score_batch(Batch(signals=signals, group_ids=uids, token_stats=token_stats), options.settings())
        signals = [sample.signals for sample in result.samples]
        _log_failures(result, [keys[i] for i in order])
        rewards = [0.0] * len(keys)
        trained = result.training_rewards()  # a failed sample: its group's mean
        _write_session_rewards(trained, rewards, outputs, data[RM_SCORES], keys, partition_id, kv_batch_put)
        metrics[DIAGNOSTICS_PREFIX + "group_reward_error_rate"] = result.failed / len(order)
        groups = result.groups
        monitor_rewards: list[float | None] = [None if s.error else s.score for s in result.samples]
    else:
        rewards = Ragged.from_tensor(data[RM_SCORES]).row_sums()  # the reward loop's scores stand...
        failed = [error is not None for _, error in recorded]
        monitor_rewards = [None if bad else rewards[i] for i, bad in zip(order, failed)]
        if any(failed):  # ...except a failed sample's 0, which could top its group (format_length's range is [-1, 1.5])
            trained = with_failed_at_group_mean([rewards[i] for i in order], failed, group_members(uids))
            _write_session_rewards(trained, rewards, outputs, data[RM_SCORES], keys, partition_id, kv_batch_put)
            rewrite = True
        # after the write: a monitor-only statistic that cannot be read must not keep the failed samples' 0
        token_stats = _token_stats(keys, partition_id, options, kv_batch_get, order)
        batch = Batch(signals=signals, group_ids=uids, token_stats=token_stats)
        signals, groups = monitored_batch(batch, options.tail_fraction)
    metrics.update(monitoring_metrics(groups, signals, monitor_rewards))
    metrics[DIAGNOSTICS_PREFIX + "group_stage_s"] = time.perf_counter() - started
    return StageOutcome(rewards, rewrite, metrics)


def _write_session_rewards(
    session_rewards: Sequence[float],
    rewards: list[float],
    outputs: list[list[int]],
    rm_scores: Any,
    keys: Sequence[str],
    partition_id: str,
    kv_batch_put: KVPut,
) -> None:
    """Each session's reward on every output of it (``outputs``: each session's positions in ``keys``), set in
    ``rewards`` (per key) and put to TransferQueue as ``rm_scores`` (on each response's last token)."""
    for session, reward in zip(outputs, session_rewards, strict=True):
        for position in session:
            rewards[position] = reward
    put = {RM_SCORES: last_token_scores(rm_scores, rewards)}
    kv_batch_put(keys=list(keys), partition_id=partition_id, fields=_tensordict(put))


STATISTIC_FIELDS = {"logprobs": ROLLOUT_LOG_PROBS, "entropy": ENTROPY, "self_certainty": SELF_CERTAINTY}
"""Per-token statistic of the core (``token_stats.STATISTICS``) -> the TransferQueue field the stage reads it from."""


def _token_stats(
    keys: Sequence[str], partition_id: str, options: StageOptions, kv_batch_get: KVGet, order: list[int]
) -> dict[str, Ragged]:
    """The per-token statistics the preset needs, plus the rollout's log-probs when recorded (a monitor), at the
    generated tokens of the sessions' final outputs (``order``)."""
    wanted = set(options.preset.token_statistics if options.preset is not None else ())
    if options.rollout_log_probs:
        wanted.add("logprobs")
    if not wanted:
        return {}
    chosen = [keys[i] for i in order]
    names = sorted(wanted)
    rows = token_statistics(chosen, partition_id, kv_batch_get, [STATISTIC_FIELDS[name] for name in names])
    return {name: Ragged.from_tensor(rows[STATISTIC_FIELDS[name]]) for name in names}


def _log_failures(result: BatchResult, keys: list[str]) -> None:
    failed = [(key, sample) for key, sample in zip(keys, result.samples) if sample.error is not None]
    if failed:
        key, sample = failed[0]
        logger.error(
            "verl-ext %s reward failed on %d rollout(s), each trains on its group's mean; first: %s: %s",
            result.preset.name,
            len(failed),
            key,
            sample.error,
            exc_info=sample.exception,
        )


def _recorded_signals(fields: Any, key: str, required: bool) -> tuple[Signals | None, str | None]:
    """The signals the reward loop recorded for one rollout and its scoring error there (signals None when it
    failed). When none were recorded: MissingSignals if the stage must write the reward (``required``), else
    (None, None) (the monitors leave it out)."""
    info = fields.get("reward_extra_info") if isinstance(fields, dict) else None
    try:
        return signals_from_extra_info(info, f"rollout {key} (uid {prompt_uid(key)})")
    except MissingSignals:
        if required:
            raise
        return None, None


def _tensordict(fields: dict[str, torch.Tensor]) -> Any:
    """veRL's ``tensordict_utils.get_tensordict`` (what ``_compute_reward_colocate`` writes back with)."""
    from verl.utils import tensordict_utils as tu

    return tu.get_tensordict(fields)
