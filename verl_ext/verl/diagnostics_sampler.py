"""Per-step training diagnostics for veRL 0.9's V1 trainer, through its custom-sampler hook.

veRL 0.9.1 turns validation ``reward_extra_info`` into ``val-aux/...`` metrics, but not the training
batch's: the reward managers' per-rollout verdicts (format, length reward, truncation, correctness)
reach TransferQueue with each rollout and are dropped. This module logs them without a trainer
subclass or a custom entry point, through the one hook veRL offers on every training step:

    trainer.v1.sampler.custom_sampler.path=pkg://verl_ext.verl.diagnostics_sampler
    trainer.v1.sampler.custom_sampler.name=DiagnosticsReplayBuffer

``PPOTrainer._step_once`` calls ``replay_buffer.sample(...)`` once per step and merges the metrics it
returns into the step's metrics, which go to every logger of ``trainer.logger`` (console, wandb, file)
beside veRL's own. :class:`DiagnosticsReplayBuffer` is veRL's sync ``ReplayBuffer`` unchanged, except
that for the ``train`` partition it reads the sampled rollouts' ``extra_fields`` back from
TransferQueue and adds :func:`verl_ext.diagnostics.compute_diagnostics` of them.

Poll interval: the sync ``ReplayBuffer`` sleeps ``poll_interval`` seconds (veRL's default 2.0) between looks at
TransferQueue while a step's rollouts are still running, so a step that finishes generating just after a look
waits up to that long. veRL builds a custom sampler without that argument but passes it
``trainer.v1.sampler.sampler_kwargs``: ``sampler_kwargs.poll_interval`` sets it here (the CPU scale uses 0.05 s,
where the 2 s wait was most of a training step).

Group-level rewards and collapse monitors: ``sampler_kwargs.reward`` names the run's reward preset (the
recipe sets it to ``${reward.reward_manager.name}``) and ``sampler_kwargs.rollout_log_probs`` whether the
rollout records token log-probs (``${actor_rollout_ref.rollout.calculate_log_probs}``). On every training
sample the group stage (:mod:`verl_ext.verl.group_stage`) logs the collapse monitors ``collapse/*``; for a
group-level or log-probability preset it also computes the training rewards over each prompt's whole group
and writes them to TransferQueue as ``rm_scores`` before ``_compute_advantage`` reads them. Options:
``min_share`` (semantic_frequency's threshold, default EMPO's 0.25) and ``tail_fraction`` (self_confidence
over the last part of the response, default 1). Validation samples are left as the reward loop scored them.

Stop rule (opt-in): ``sampler_kwargs.stop_when`` (e.g. ``"majority_ratio >= 0.95"``, see
:mod:`verl_ext.stop_rule`) and ``sampler_kwargs.stop_steps`` (K, default 1). When the rule has held for K
consecutive training samples, the reason is logged (a warning, and ``collapse/stop = 1`` in that step's
metrics) and training ends after the current step: veRL 0.9.1's ``fit`` loop runs while
``global_steps <= total_training_steps``, so the sampler sets the trainer's ``total_training_steps`` to
the current step. The trainer is the owner of ``refill_fn`` (veRL passes its bound method
``_add_prompts_to_generate`` to every sampler). ``fit`` then returns normally (exit status 0); veRL's
last-step checkpoint and validation do not run (it decided ``is_last_step`` before the step began), the
periodic ones (``save_freq``, ``test_freq``) stand. The streak is not kept across a resume.

Scope: the sync trainer (``trainer.v1.trainer_mode=sync``) with rule-based rewards, whose scores are
computed in the agent loop before sampling; a colocated reward model (``reward.reward_model.enable`` without
``enable_resource_pool``) scores after ``sample`` and would overwrite the group rewards, so the group-level
managers refuse it (``verl_ext.verl.managers``). veRL builds a custom sampler without the DAPO
group-filtering arguments, so ``algorithm.filter_groups`` is not available with it (the recipe does
not use it). Monitoring never stops training: a failed read is logged as a warning and the step goes
on without diagnostics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import transfer_queue as tq
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

from verl_ext.collapse import PREFIX as COLLAPSE_PREFIX
from verl_ext.diagnostics import columns_from_extra_fields, compute_diagnostics
from verl_ext.stop_rule import StopRule, StopTracker
from verl_ext.verl.group_stage import EXTRA_FIELDS, StageOptions, run_group_stage

logger = logging.getLogger(__name__)

TRAIN_PARTITION = "train"

# tq.kv_batch_get's signature: (keys, partition_id, select_fields) -> TensorDict-like mapping.
KVBatchGet = Callable[..., Any]


def real_keys(batch: KVBatchMeta) -> list[str]:
    """The keys of the real (non-padding) rollouts of ``batch``, in batch order."""
    return [key for key, tag in zip(batch.keys, batch.tags, strict=True) if not (tag or {}).get("is_padding")]


def fetch_extra_fields(batch: KVBatchMeta, kv_batch_get: KVBatchGet | None = None) -> list[Any]:
    """The ``extra_fields`` of each real (non-padding) rollout of ``batch``, in batch order.

    Args:
        batch: the sampled batch: TransferQueue keys and their tags.
        kv_batch_get: TransferQueue's ``kv_batch_get`` (injectable for tests); default ``tq.kv_batch_get``.
    """
    keys = real_keys(batch)
    if not keys:
        return []
    get = kv_batch_get or tq.kv_batch_get
    data = get(keys=keys, partition_id=batch.partition_id, select_fields=[EXTRA_FIELDS])
    # Depending on the TransferQueue backend an element is the dict itself or a NonTensorData around it.
    return [getattr(fields, "data", fields) for fields in data[EXTRA_FIELDS]]


def training_diagnostics(
    batch: KVBatchMeta, kv_batch_get: KVBatchGet | None = None, extra_fields: list[Any] | None = None
) -> dict[str, float]:
    """Diagnostics of one sampled training batch; {} when it cannot be read (logged as a warning).
    ``extra_fields``: the real rollouts' ``extra_fields`` when already read (by the group stage), else fetched."""
    try:
        if extra_fields is None:
            extra_fields = fetch_extra_fields(batch, kv_batch_get)
        return compute_diagnostics(columns_from_extra_fields(extra_fields))
    except Exception as error:  # monitoring must never stop a training run
        logger.warning("verl-ext diagnostics skipped for this step: %s: %s", type(error).__name__, error)
        return {}


class DiagnosticsReplayBuffer(ReplayBuffer):
    """veRL's sync ``ReplayBuffer`` whose training samples also return ``diagnostics/*`` and ``collapse/*``
    metrics, and get their group-level rewards written (see the module doc).

    Contract: the sampled batch (its keys and tags) and every metric of ``ReplayBuffer.sample`` are returned
    unchanged; for the ``train`` partition the group stage runs and its and the diagnostics' metrics are added
    (validation samples are untouched: veRL already reports their ``reward_extra_info`` as
    ``val-aux/<data_source>/<key>/...``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sampler_kwargs = dict(self.sampler_kwargs or {})
        poll_interval = sampler_kwargs.get("poll_interval")
        if poll_interval is not None:
            if not float(poll_interval) > 0:
                raise ValueError(
                    f"trainer.v1.sampler.sampler_kwargs.poll_interval must be > 0 seconds, got {poll_interval}"
                )
            self.poll_interval = float(poll_interval)
        self.stage_options = StageOptions.from_kwargs(sampler_kwargs)
        self.stop_tracker = None
        if sampler_kwargs.get("stop_when"):
            self.stop_tracker = StopTracker(
                StopRule.parse(sampler_kwargs["stop_when"], int(sampler_kwargs.get("stop_steps", 1)))
            )
            if self._trainer() is None:
                raise ValueError(
                    "the collapse stop rule needs veRL's trainer (the owner of refill_fn); this sampler got none"
                )

    def _trainer(self) -> Any:
        """veRL's trainer: the owner of ``refill_fn`` (its bound ``_add_prompts_to_generate``), or None."""
        return getattr(self.refill_fn, "__self__", None)

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[KVBatchMeta, dict]:
        batch, metrics = super().sample(global_steps=global_steps, partition_id=partition_id, batch_size=batch_size)
        if partition_id == TRAIN_PARTITION:
            stage_metrics, extra_fields = self._group_stage(batch)
            metrics = {**metrics, **stage_metrics, **training_diagnostics(batch, extra_fields=extra_fields)}
            if self.stop_tracker is not None:
                metrics.update(self._apply_stop_rule(global_steps, metrics))
        return batch, metrics

    def _group_stage(self, batch: KVBatchMeta) -> tuple[dict[str, float], list[Any] | None]:
        """The stage's metrics and the ``extra_fields`` it read (None when it failed). It raises when it must write
        the rewards; monitoring alone never stops a run."""
        try:
            outcome = run_group_stage(
                real_keys(batch), batch.partition_id, self.stage_options, tq.kv_batch_get, tq.kv_batch_put
            )
            return outcome.metrics, outcome.extra_fields
        except Exception as error:
            if self.stage_options.rewrites_rewards:
                raise RuntimeError(
                    f"verl-ext group stage could not write the {self.stage_options.reward!r} training rewards: {error}"
                ) from error
            logger.warning("verl-ext collapse monitors skipped for this step: %s: %s", type(error).__name__, error)
            return {}, None

    def _apply_stop_rule(self, global_steps: int, metrics: dict) -> dict[str, float]:
        assert self.stop_tracker is not None
        monitors = {
            name[len(COLLAPSE_PREFIX) :]: value for name, value in metrics.items() if name.startswith(COLLAPSE_PREFIX)
        }
        reason = self.stop_tracker.update(global_steps, monitors)
        if reason is None:
            return {COLLAPSE_PREFIX + "stop": 0.0}
        trainer = self._trainer()  # fit() has set total_training_steps by now (after this sampler was built)
        trainer.total_training_steps = min(trainer.total_training_steps, global_steps)
        message = f"verl-ext: {reason}: training ends after step {global_steps}"
        logger.warning(message)
        print(message, flush=True)
        return {COLLAPSE_PREFIX + "stop": 1.0}
