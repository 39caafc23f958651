"""veRL 0.9 reward-loop managers, one per preset of the registry (``verl_ext.rewards.registry``).

Selected with ``reward.reward_manager.name=<preset>``, any preset of the registry.
Options under ``reward.reward_kwargs`` (all optional):

    peak                   length-curve peak p in (0, 1)                       default 0.5
    max_response_length    token budget of the length curve                    default data.max_response_length
    correctness_timeout_s  bound of one math-verify check                      default 1.0
    seed                   seed of the ``random`` control                      default none (OS entropy)

Each sample's response length is the number of ones in its response attention mask. Scoring is the core's
(``verl_ext.core.score_batch`` on a batch of one sample); this module only adapts veRL's DataProto in and out.
``reward_extra_info`` per sample: the core's serialisation (``verl_ext.core.extra_info.reward_extra_info``: format,
length_reward, response_tokens, truncated, pred, timed_out, reward_error, and ``correct`` (also as ``acc``, which
veRL's validation reports under ``val-core/``) and ``monitor_error`` when the sample has a ground truth).
Group-level and token-level presets (majority, semantic_frequency, self_confidence, self_certainty, token_entropy,
probability, format_gated_*): the reward loop sees one sample at a time and no per-token statistics, so their
manager (:class:`GroupStageRecorder`) only records the sample's signals (``measure_batch``) with a placeholder reward
of 0; the reward stage of trainer mode ``verl_ext_sync`` (``verl_ext.verl.group_stage``, right after the
old-log-prob pass) decodes them, computes the training reward over each prompt's whole group or from the policy's
per-token statistics, writes it before advantages are computed, and fails the step for a rollout whose signals were
not recorded. The manager refuses to start when the run would not honour that (``verl_ext.verl.stage_checks``:
another trainer mode, DAPO's group filter, ``rollout.n < 2`` for a group preset, a colocated reward model, missing
per-token statistics, ...), naming the setting. Validation keeps the 0 as its reward and the ground-truth ``acc`` as
its accuracy.
A failure inside scoring never escapes: it is logged with its traceback, the sample scores 0 and ``reward_error`` =
1 marks it; in trainer mode ``verl_ext_sync`` the reward stage then trains it on its group's mean reward instead (a
zero advantage: a fixed 0 could top its group). Under a label-free preset a failure of the monitoring correctness
check is not a scoring failure: the sample keeps its score and ``monitor_error`` = 1 marks it.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from verl import DataProto
from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from verl_ext.core import Batch, SampleResult, ScoringSettings, random_draws, reward_loop_batch
from verl_ext.core.extra_info import reward_extra_info
from verl_ext.rewards.answer import printable
from verl_ext.rewards.correctness import DEFAULT_TIMEOUT_S
from verl_ext.rewards.length import DEFAULT_PEAK
from verl_ext.rewards.registry import get_preset, preset_names, text_preset_names
from verl_ext.verl.stage_checks import stage_problems

logger = logging.getLogger(__name__)


def _ground_truth(non_tensor: dict[str, Any]) -> str | None:
    reward_model = non_tensor.get("reward_model") or {}
    truth = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
    if truth is None or not str(truth).strip():
        return None
    return str(truth)


class PresetRewardManager(RewardManagerBase):
    """Scores each sample with the preset named by ``preset`` (set on each registered subclass)."""

    preset: str = ""

    def __init__(
        self,
        config,
        tokenizer,
        compute_score=None,
        reward_router_address: str | None = None,
        reward_model_tokenizer=None,
        **_: Any,
    ) -> None:
        super().__init__(config, tokenizer, compute_score)
        options = dict(config.reward.get("reward_kwargs", None) or {})
        self.peak = float(options.get("peak", DEFAULT_PEAK))
        max_length = options.get("max_response_length") or config.data.get("max_response_length")
        if max_length is None:
            raise ValueError("set data.max_response_length or reward.reward_kwargs.max_response_length")
        self.max_response_length = int(max_length)
        self.correctness_timeout_s = float(options.get("correctness_timeout_s", DEFAULT_TIMEOUT_S))
        self.settings = ScoringSettings(
            self.preset,
            max_response_tokens=self.max_response_length,
            peak=self.peak,
            correctness_timeout_s=self.correctness_timeout_s,
        )
        self.seed = options.get("seed")

    def _draws(self, sample_key: tuple) -> random.Random | None:
        """The ``random`` control's generator for this sample: keyed by the seed and the sample (step, uid, session),
        so that every reward worker and thread draws the same for it; unseeded without ``reward_kwargs.seed``."""
        if not self.settings.preset.uses_rng or self.seed is None:
            return None
        return random_draws(self.seed, *sample_key)

    def _score(
        self, response: str, response_tokens: int, ground_truth: str | None, sample_key: tuple = ()
    ) -> tuple[float, dict[str, Any]]:
        """The sample's training score (0 for a stage preset: a placeholder the stage replaces) and its
        ``reward_extra_info``; a failure is logged and recorded, never raised."""
        rng = self._draws(sample_key or (response,))
        batch = Batch(
            responses=[response],
            response_tokens=[response_tokens],
            ground_truths=[ground_truth],
            rngs=None if rng is None else [rng],
        )
        try:
            (result,) = reward_loop_batch(batch, self.settings)
        except Exception as exc:
            result = SampleResult(None, None, f"{type(exc).__name__}: {exc}", exc)
        if result.error is not None:
            logger.error(
                "verl-ext %s reward failed on a response of %d tokens: %s",
                self.preset,
                response_tokens,
                result.error,
                exc_info=result.exception,
            )
        signals = result.signals
        if signals is not None and signals.monitor_error:
            logger.warning("verl-ext monitoring correctness check failed: %s", printable(signals.monitor_error))
        elif signals is not None and signals.correct_error and not signals.correct_timed_out:
            logger.warning("verl-ext correctness check failed: %s", printable(signals.correct_error))
        info = reward_extra_info(result, response_tokens, checked_truth=ground_truth is not None)
        return (result.score if result.score is not None else 0.0), info

    async def run_single(self, data: DataProto) -> dict:
        item = data[-1:][0]  # multi-sequence outputs: the last sequence is the response
        response_ids = item.batch["responses"]
        response_tokens = int(item.batch["attention_mask"][-response_ids.shape[-1] :].sum())
        valid_ids = response_ids[:response_tokens]
        response = await self.loop.run_in_executor(
            None, lambda: self.tokenizer.decode(valid_ids, skip_special_tokens=True)
        )
        truth = _ground_truth(item.non_tensor_batch)
        key = tuple(item.non_tensor_batch[k] for k in SAMPLE_KEYS if k in item.non_tensor_batch)
        score, info = await self.loop.run_in_executor(None, self._score, response, response_tokens, truth, key)
        return {"reward_score": score, "reward_extra_info": info}


SAMPLE_KEYS = ("global_steps", "uid", "session_id")
"""What identifies a rollout in the non-tensor data veRL 0.9.1's agent loop hands the reward loop (its kwargs)."""


class GroupStageRecorder(PresetRewardManager):
    """Records each sample's signals for the post-rollout stage; its reward (0) is replaced there in training."""

    def __init__(
        self,
        config,
        tokenizer,
        compute_score=None,
        reward_router_address=None,
        reward_model_tokenizer=None,
        **kwargs: Any,
    ) -> None:
        problems = stage_problems(config, self.preset)
        if problems:
            raise ValueError(
                f"reward {self.preset!r} is computed by verl-ext's reward stage (trainer mode verl_ext_sync, after the "
                f"old-log-prob pass), which this run would not run as asked: " + "; ".join(problems)
            )
        super().__init__(config, tokenizer, compute_score, reward_router_address, reward_model_tokenizer, **kwargs)


def _register_all() -> dict[str, type[PresetRewardManager]]:
    """One manager per preset: text presets score here, the others record for the group stage."""
    classes = {}
    text = set(text_preset_names())
    for name in preset_names():
        class_name = "".join(part.title() for part in name.split("_")) + "RewardManager"
        base = PresetRewardManager if name in text else GroupStageRecorder
        doc = f"Reward manager for the ``{name}`` preset: {get_preset(name).formula}."
        cls = type(class_name, (base,), {"preset": name, "__doc__": doc, "__module__": __name__})
        classes[name] = register(name)(cls)
    return classes


MANAGERS = _register_all()
