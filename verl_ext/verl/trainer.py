"""verl-ext's trainer mode for veRL 0.9.1's V1 trainer: the sync trainer plus one place for every post-rollout
reward stage, right after the old-log-prob pass and before advantages.

    trainer.v1.trainer_mode=verl_ext_sync

``PPOTrainer._step_once`` (``verl/trainer/ppo/v1/trainer_base.py``) runs, per step: ``replay_buffer.sample`` ->
[``_compute_reward_colocate``] -> ``_balance_batch`` -> ``_compute_old_log_prob`` (the actor's forward: writes
``old_log_probs`` and ``entropy`` per response token to TransferQueue) -> [ref, values] -> ``_compute_advantage``
(reads ``rm_scores``) -> update. :class:`RewardStageTrainer` is veRL's ``PPOTrainerSync`` whose
``_compute_old_log_prob`` also

1. asks the actor for per-token self-certainty when the run needs it (the batch's ``extra_info`` flag
   ``calculate_self_certainty``, read by :class:`verl_ext.verl.actor_engine.SelfCertaintyFSDPEngine`), cuts it to
   the response as veRL cuts ``entropy`` (``response_from_nested``) and writes it back as ``self_certainty``, and
   logs ``actor/self_certainty`` (its token mean; ``actor/entropy`` stays veRL's entropy);
2. runs the reward stage (:func:`verl_ext.verl.group_stage.run_group_stage`) on the real rollouts: it sees each
   prompt's whole group (``sample`` returns whole groups) and every per-token field (``old_log_probs``,
   ``entropy``, ``self_certainty``, ``response_mask``: :func:`verl_ext.verl.token_stats.token_statistics`), writes
   the training rewards of group-level and token-level presets as ``rm_scores``, which ``_compute_advantage`` reads
   next, and returns the collapse monitors (``collapse/*``); its time is ``timing_s/reward_stage`` (inside
   ``timing_s/old_log_prob``);
3. applies the opt-in stop rule (``sampler_kwargs.stop_when``, ``stop_steps``: :mod:`verl_ext.stop_rule`) to the
   monitors: when it has held for K consecutive steps, training ends after the current step (veRL's ``fit`` loop
   runs while ``global_steps <= total_training_steps``; this sets ``total_training_steps`` to the current step; the
   last-step checkpoint and validation do not run, the periodic ones stand; the streak is not kept across a resume).

Options come from ``trainer.v1.sampler.sampler_kwargs`` (veRL passes them through untouched; the recipe sets them):
``reward`` (the preset; ``${reward.reward_manager.name}``), ``rollout_log_probs``, ``min_share``, ``tail_fraction``
(:class:`verl_ext.verl.group_stage.StageOptions`), ``stop_when`` / ``stop_steps``, ``self_certainty`` (compute it
although the preset does not need it: monitoring), ``dump_token_statistics`` (add the per-token statistics and the
advantages of each rollout to veRL's rollout dump, ``trainer.rollout_data_dir``: lists over the response tokens the
policy generated, keys ``old_log_probs``, ``entropy``, [``self_certainty``], ``advantages``; and the token ids,
``prompt_ids`` and ``response_ids``).

Everything else is veRL's sync trainer: veRL's base class compares ``self.trainer_mode`` with ``"sync"`` to choose
the replay buffer, its config block (``trainer.v1.sync``), the dataloader refill, prompt persistence and
TransferQueue checkpointing, so this trainer reports ``"sync"`` there (the name it was selected by is
``selected_mode``). At construction it checks the veRL internals it relies on (:data:`TRAINER_HOOKS`, with an error
naming the supported veRL version) and refuses what it cannot honour
(:func:`verl_ext.verl.stage_checks.stage_problems`).
"""

from __future__ import annotations

import logging
from typing import Any

import transfer_queue as tq
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.utils import tensordict_utils as tu
from verl.utils.debug import marked_timer
from verl.workers.utils.padding import response_from_nested

from verl_ext.collapse import PREFIX as COLLAPSE_PREFIX
from verl_ext.stop_rule import StopRule, StopTracker
from verl_ext.verl.compat import Hook, check_hooks
from verl_ext.verl.diagnostics_sampler import real_keys
from verl_ext.verl.group_stage import StageOptions, run_group_stage
from verl_ext.verl.stage_checks import TRAINER_MODE, sampler_kwargs, stage_problems, wants_self_certainty
from verl_ext.verl.token_stats import (
    ADVANTAGES,
    ENTROPY,
    OLD_LOG_PROBS,
    RESPONSE_MASK,
    ROLLOUT_LOG_PROBS,
    SELF_CERTAINTY,
    SELF_CERTAINTY_FLAG,
    token_statistics,
)

logger = logging.getLogger(__name__)

_BASE = "verl.trainer.ppo.v1.trainer_base.PPOTrainer"
_ENGINE = "verl.workers.engine.fsdp.transformer_impl"
TRAINER_HOOKS: tuple[Hook, ...] = (
    ("verl.trainer.ppo.v1.trainer_base", "register_trainer", callable, "registers trainer mode verl_ext_sync"),
    ("verl.trainer.ppo.v1.trainer_sync", "PPOTrainerSync", callable, "the base class"),
    (_BASE, "_step_once", callable, "sample -> old log-prob -> advantage: the order the stage relies on"),
    (_BASE, "_compute_old_log_prob", callable, "the stage runs right after it"),
    (_BASE, "_compute_advantage", callable, "reads the rm_scores the stage writes"),
    (_BASE, "_log_rollout_data", callable, "the rollout dump the token statistics are added to"),
    (_BASE, "_dump_generations", callable, "the rollout dump the token statistics are added to"),
    ("verl.workers.utils.padding", "response_from_nested", callable, "cuts self_certainty to the response"),
    ("verl.utils.tensordict_utils", "get_tensordict", callable, "writes self_certainty back"),
    ("verl.utils.tensordict_utils", "get_non_tensor_data", callable, "the engine reads calculate_self_certainty"),
    (f"{_ENGINE}.FSDPEngineWithLMHead", "prepare_model_outputs", callable, "extended with self_certainty"),
    (f"{_ENGINE}.FSDPEngine", "_gather_and_unpad_packed", callable, "unpads packed self_certainty"),
    ("verl.workers.engine.base.EngineRegistry", "_engines", lambda v: isinstance(v, dict), "engine registrations"),
)


@register_trainer(TRAINER_MODE)
class RewardStageTrainer(PPOTrainerSync):
    """veRL's sync trainer with verl-ext's reward stage after the old-log-prob pass (see the module doc)."""

    runs_reward_stage = True  # what verl-ext's sampler checks to know its trainer

    def __init__(self, config: Any) -> None:
        check_hooks(TRAINER_HOOKS, f"verl-ext's trainer mode {TRAINER_MODE!r}")
        kwargs = dict(sampler_kwargs(config))
        reward = kwargs.get("reward") or None
        problems = stage_problems(config, reward)
        if problems:
            raise ValueError(f"verl-ext cannot run this configuration ({TRAINER_MODE}): " + "; ".join(problems))
        self.stage_options = StageOptions.from_kwargs(kwargs)
        self.self_certainty = wants_self_certainty(config, reward)
        self.dump_token_statistics = bool(kwargs.get("dump_token_statistics", False))
        self.stop_tracker = None
        if kwargs.get("stop_when"):
            self.stop_tracker = StopTracker(StopRule.parse(kwargs["stop_when"], int(kwargs.get("stop_steps", 1))))
        self._dumping: KVBatchMeta | None = None
        super().__init__(config)

    # veRL's PPOTrainer compares trainer_mode with "sync" (replay buffer, trainer.v1.<mode> block, dataloader refill,
    # prompt persistence, TransferQueue checkpoints): in all of them this trainer is the sync trainer.
    @property
    def trainer_mode(self) -> str:
        return "sync"

    @trainer_mode.setter
    def trainer_mode(self, value: str) -> None:
        self.selected_mode = value

    def _compute_old_log_prob(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        keys, tags, partition_id = list(batch.keys), list(batch.tags), batch.partition_id
        if self.self_certainty:
            batch.extra_info[SELF_CERTAINTY_FLAG] = True
        try:
            output = super()._compute_old_log_prob(batch, metrics)
        finally:
            batch.extra_info.pop(SELF_CERTAINTY_FLAG, None)  # never for the reference pass or the update
        output.extra_info.pop(SELF_CERTAINTY_FLAG, None)
        timing = getattr(self, "timing_raw", None)
        timing = {} if timing is None else timing
        if self.self_certainty:
            with marked_timer("self_certainty_write", timing):
                metrics.update(write_response_self_certainty(keys, partition_id, tq.kv_batch_get, tq.kv_batch_put))
        with marked_timer("reward_stage", timing):
            metrics.update(self._reward_stage(KVBatchMeta(partition_id=partition_id, keys=keys, tags=tags)))
        if self.stop_tracker is not None:
            metrics.update(self._apply_stop_rule(metrics))
        return output

    def _reward_stage(self, batch: KVBatchMeta) -> dict[str, float]:
        """The stage's metrics. It raises when it must write the rewards; monitoring alone never stops a run."""
        try:
            outcome = run_group_stage(
                real_keys(batch), batch.partition_id, self.stage_options, tq.kv_batch_get, tq.kv_batch_put
            )
            return outcome.metrics
        except Exception as error:
            if self.stage_options.rewrites_rewards:
                raise RuntimeError(
                    f"verl-ext reward stage could not write the {self.stage_options.reward!r} training rewards: {error}"
                ) from error
            logger.warning("verl-ext collapse monitors skipped for this step: %s: %s", type(error).__name__, error)
            return {}

    def _apply_stop_rule(self, metrics: dict) -> dict[str, float]:
        assert self.stop_tracker is not None
        monitors = {
            name[len(COLLAPSE_PREFIX) :]: value for name, value in metrics.items() if name.startswith(COLLAPSE_PREFIX)
        }
        reason = self.stop_tracker.update(self.global_steps, monitors)
        if reason is None:
            return {COLLAPSE_PREFIX + "stop": 0.0}
        self.total_training_steps = min(self.total_training_steps, self.global_steps)
        message = f"verl-ext: {reason}: training ends after step {self.global_steps}"
        logger.warning(message)
        print(message, flush=True)
        return {COLLAPSE_PREFIX + "stop": 1.0}

    # ------------------------------------------------ per-token statistics in veRL's rollout dump (opt-in)

    def _log_rollout_data(self, batch: KVBatchMeta, timing_raw: dict, rollout_data_dir: str):
        self._dumping = batch if self.dump_token_statistics else None
        try:
            return super()._log_rollout_data(batch, timing_raw, rollout_data_dir)
        finally:
            self._dumping = None

    def _dump_generations(self, inputs, outputs, gts, scores, reward_extra_infos_dict, dump_path):
        if self._dumping is not None and "uid" in reward_extra_infos_dict:
            names = [OLD_LOG_PROBS, ENTROPY, *([SELF_CERTAINTY] if self.self_certainty else []), ADVANTAGES]
            if self.stage_options.rollout_log_probs:  # what log-prob rewards train on (not the actor's old_log_probs)
                names.append(ROLLOUT_LOG_PROBS)
            keys = list(reward_extra_infos_dict["uid"])
            reward_extra_infos_dict = {
                **reward_extra_infos_dict,
                **dump_columns(self._dumping, keys, names, tq.kv_batch_get),
                **dump_token_ids(self._dumping, keys, tq.kv_batch_get),
            }
        return super()._dump_generations(inputs, outputs, gts, scores, reward_extra_infos_dict, dump_path)


def write_response_self_certainty(keys: list[str], partition_id: str, kv_batch_get: Any, kv_batch_put: Any) -> dict:
    """Cut the actor's ``self_certainty`` (prompt + response positions) to the response, as veRL cuts ``entropy``,
    write it back, and return ``actor/self_certainty``: its mean over the response tokens (``response_mask`` = 1).
    RuntimeError when the actor returned none (veRL's registry chose another engine class)."""
    missing = (
        "the actor returned no self_certainty: veRL's EngineRegistry chose an engine other than verl-ext's "
        "SelfCertaintyFSDPEngine for this device (registered for ('cuda', 'nvidia'), ('cuda', 'amd') and the CPU "
        "backend's 'cpu'; see verl_ext.verl.actor_engine)"
    )
    try:
        data = kv_batch_get(keys=keys, partition_id=partition_id, select_fields=[SELF_CERTAINTY, RESPONSE_MASK])
    except Exception as error:
        raise RuntimeError(f"{missing} ({type(error).__name__}: {error})") from error
    if SELF_CERTAINTY not in data.keys():
        raise RuntimeError(missing)
    values = response_from_nested(data[SELF_CERTAINTY], data[RESPONSE_MASK])
    kv_batch_put(keys=keys, partition_id=partition_id, fields=tu.get_tensordict({SELF_CERTAINTY: values}))
    mask = data[RESPONSE_MASK].values().bool()
    kept = values.values()[mask]
    return {"actor/self_certainty": float(kept.double().mean()) if kept.numel() else float("nan")}


def dump_token_ids(batch: KVBatchMeta, keys: list[str], kv_batch_get: Any) -> dict[str, list]:
    """Per key of ``keys``, its ``prompt_ids`` and ``response_ids`` (lists of token ids; None for padding rollouts):
    with the statistics, what a check needs to recompute them from the model."""
    padding = {key for key, tag in zip(batch.keys, batch.tags, strict=True) if (tag or {}).get("is_padding")}
    real = [key for key in keys if key not in padding]
    if not real:
        return {"prompt_ids": [None] * len(keys), "response_ids": [None] * len(keys)}
    data = kv_batch_get(keys=real, partition_id=batch.partition_id, select_fields=["prompts", "responses"])
    by_key = {
        name: dict(zip(real, (row.tolist() for row in data[field].unbind()), strict=True))
        for name, field in (("prompt_ids", "prompts"), ("response_ids", "responses"))
    }
    return {name: [by_key[name].get(key) for key in keys] for name in by_key}


def dump_columns(batch: KVBatchMeta, keys: list[str], names: list[str], kv_batch_get: Any) -> dict[str, list]:
    """Per key of ``keys`` (a dump's order), each of ``names`` over the response tokens the policy generated, as a
    list of floats; None for padding rollouts."""
    padding = {key for key, tag in zip(batch.keys, batch.tags, strict=True) if (tag or {}).get("is_padding")}
    real = [key for key in keys if key not in padding]
    rows = token_statistics(real, batch.partition_id, kv_batch_get, names)
    by_key = {name: dict(zip(real, (row.tolist() for row in rows[name]), strict=True)) for name in names}
    return {name: [by_key[name].get(key) for key in keys] for name in names}


__all__ = ["TRAINER_HOOKS", "TRAINER_MODE", "RewardStageTrainer"]
