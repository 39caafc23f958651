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

Rewards, collapse monitors and the stop rule are not the sampler's: the reward stage (group-level and token-level
rewards, ``collapse/*``) runs after the old-log-prob pass, where the policy's per-token statistics exist, in
verl-ext's trainer mode (``trainer.v1.trainer_mode=verl_ext_sync``, :mod:`verl_ext.verl.trainer`), which also
applies the opt-in stop rule. The sampler refuses the ``sampler_kwargs`` only that trainer honours (a group- or
token-level ``reward``, ``stop_when``, ``self_certainty``, ``dump_token_statistics``) when another trainer built it.

Scope: veRL builds this sampler as its sync ``ReplayBuffer`` in every V1 trainer mode, so it refuses the async modes
(``separate_async`` calls ``get_sampleable_count`` / ``wait_for_sampleable``, which only ``ReplayBufferAsync`` has;
``colocate_async`` would silently lose its staleness eviction). veRL builds a custom sampler without the DAPO
group-filter arguments, so ``algorithm.filter_groups`` is refused at start-up (:mod:`verl_ext.verl.stage_checks`).
Monitoring never stops training: a failed read is logged as a warning and the step goes on without diagnostics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import transfer_queue as tq
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

from verl_ext.diagnostics import columns_from_extra_fields, compute_diagnostics
from verl_ext.verl.group_stage import EXTRA_FIELDS
from verl_ext.verl.stage_checks import TRAINER_MODE, stage_needs

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


def training_diagnostics(batch: KVBatchMeta, kv_batch_get: KVBatchGet | None = None) -> dict[str, float]:
    """Diagnostics of one sampled training batch; {} when it cannot be read (logged as a warning)."""
    try:
        return compute_diagnostics(columns_from_extra_fields(fetch_extra_fields(batch, kv_batch_get)))
    except Exception as error:  # monitoring must never stop a training run
        logger.warning("verl-ext diagnostics skipped for this step: %s: %s", type(error).__name__, error)
        return {}


# sampler_kwargs that only verl-ext's trainer mode honours (besides a group- or token-level reward)
TRAINER_OPTIONS = ("stop_when", "self_certainty", "dump_token_statistics")


class DiagnosticsReplayBuffer(ReplayBuffer):
    """veRL's sync ``ReplayBuffer`` whose training samples also return ``diagnostics/*`` metrics (see the module doc).

    Contract: the sampled batch (its keys and tags) and every metric of ``ReplayBuffer.sample`` are returned
    unchanged; for the ``train`` partition the diagnostics' metrics are added (validation samples are untouched:
    veRL already reports their ``reward_extra_info`` as ``val-aux/<data_source>/<key>/...``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.trainer_mode != "sync":
            raise ValueError(
                f"trainer.v1.trainer_mode={self.trainer_mode}: verl-ext's DiagnosticsReplayBuffer extends veRL's sync "
                "ReplayBuffer (separate_async needs ReplayBufferAsync's get_sampleable_count / wait_for_sampleable, "
                f"colocate_async its staleness eviction): use trainer.v1.trainer_mode={TRAINER_MODE} (or sync), or "
                "drop trainer.v1.sampler.custom_sampler"
            )
        sampler_kwargs = dict(self.sampler_kwargs or {})
        poll_interval = sampler_kwargs.get("poll_interval")
        if poll_interval is not None:
            if not float(poll_interval) > 0:
                raise ValueError(
                    f"trainer.v1.sampler.sampler_kwargs.poll_interval must be > 0 seconds, got {poll_interval}"
                )
            self.poll_interval = float(poll_interval)
        if not getattr(self._trainer(), "runs_reward_stage", False):
            stage_only = [f"{name}={sampler_kwargs[name]!r}" for name in TRAINER_OPTIONS if sampler_kwargs.get(name)]
            if stage_needs(sampler_kwargs.get("reward") or None).rewrites:
                stage_only.insert(0, f"reward={sampler_kwargs['reward']!r} (written by the reward stage)")
            if stage_only:
                raise ValueError(
                    "trainer.v1.sampler.sampler_kwargs " + ", ".join(stage_only) + ": honoured by verl-ext's "
                    f"trainer mode only, and this sampler was built by another trainer: set "
                    f"trainer.v1.trainer_mode={TRAINER_MODE}"
                )

    def _trainer(self) -> Any:
        """veRL's trainer: the owner of ``refill_fn`` (its bound ``_add_prompts_to_generate``), or None."""
        return getattr(self.refill_fn, "__self__", None)

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[KVBatchMeta, dict]:
        batch, metrics = super().sample(global_steps=global_steps, partition_id=partition_id, batch_size=batch_size)
        if partition_id == TRAIN_PARTITION:
            metrics = {**metrics, **training_diagnostics(batch)}
        return batch, metrics
