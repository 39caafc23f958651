"""veRL 0.9 reward-loop managers, one per preset of ``verl_ext.rewards.presets``.

Selected with ``reward.reward_manager.name=<preset>`` (correctness, format, format_length, length, random).
Options under ``reward.reward_kwargs`` (all optional):

    peak                   length-curve peak p in (0, 1)                       default 0.5
    max_response_length    token budget of the length curve                    default data.max_response_length
    correctness_timeout_s  bound of one math-verify check                      default 1.0
    seed                   seed of the ``random`` control                      default none (OS entropy)

Each sample's response length is the number of ones in its response attention mask. Scoring is the
preset's own (``score_response``); this module only adapts veRL's DataProto in and out.
``reward_extra_info`` per sample: format, length_reward, response_tokens, truncated, pred, timed_out,
reward_error, and ``correct`` (also as ``acc``, which veRL's validation reports under ``val-core/``)
and ``monitor_error`` when the sample has a ground truth (monitoring only).
A failure inside scoring never escapes: it is logged with its traceback, the sample scores 0 and
``reward_error`` = 1 marks it. Under a label-free preset a failure of the monitoring correctness check
is not a scoring failure: the sample keeps its score and ``monitor_error`` = 1 marks it.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from verl import DataProto
from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from verl_ext.rewards.answer import printable
from verl_ext.rewards.correctness import DEFAULT_TIMEOUT_S
from verl_ext.rewards.length import DEFAULT_PEAK, validate_length_args
from verl_ext.rewards.presets import ScoredResponse, get_preset, score_response, text_preset_names

logger = logging.getLogger(__name__)


def score_sample(
    preset: str,
    response: str,
    response_tokens: int,
    max_response_tokens: int,
    ground_truth: str | None,
    peak: float = DEFAULT_PEAK,
    correctness_timeout_s: float = DEFAULT_TIMEOUT_S,
    rng: random.Random | None = None,
) -> ScoredResponse:
    """What a manager computes for one decoded sample (token counts always known in veRL)."""
    return score_response(
        preset,
        response,
        response_tokens=response_tokens,
        max_response_tokens=max_response_tokens,
        ground_truth=ground_truth,
        peak=peak,
        correctness_timeout_s=correctness_timeout_s,
        rng=rng,
    )


def _ground_truth(non_tensor: dict[str, Any]) -> str | None:
    reward_model = non_tensor.get("reward_model") or {}
    truth = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
    if truth is None or not str(truth).strip():
        return None
    return str(truth)


def _failed_sample_info(response_tokens: int, has_truth: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "format": 0.0,
        "length_reward": 0.0,
        "response_tokens": response_tokens,
        "truncated": 0.0,
        "pred": "",
        "timed_out": 0.0,
        "reward_error": 1.0,
    }
    if has_truth:
        info["correct"] = info["acc"] = 0.0
        info["monitor_error"] = 0.0
    return info


class PresetRewardManager(RewardManagerBase):
    """Scores each sample with the preset named by ``preset`` (set on each registered subclass)."""

    preset: str = ""

    def __init__(
        self,
        config,  # noqa: ANN001 - veRL's DictConfig
        tokenizer,  # noqa: ANN001 - a Hugging Face tokenizer
        compute_score=None,  # noqa: ANN001 - ignored: the preset is the score
        reward_router_address: str | None = None,
        reward_model_tokenizer=None,  # noqa: ANN001
        **_: Any,
    ) -> None:
        super().__init__(config, tokenizer, compute_score)
        options = dict(config.reward.get("reward_kwargs", None) or {})
        self.peak = float(options.get("peak", DEFAULT_PEAK))
        max_length = options.get("max_response_length") or config.data.get("max_response_length")
        if max_length is None:
            raise ValueError("set data.max_response_length or reward.reward_kwargs.max_response_length")
        self.max_response_length = int(max_length)
        validate_length_args(0, self.max_response_length, self.peak)
        self.correctness_timeout_s = float(options.get("correctness_timeout_s", DEFAULT_TIMEOUT_S))
        seed = options.get("seed")
        self.rng = random.Random(seed) if self.preset == "random" else None

    def _score(self, response: str, response_tokens: int, ground_truth: str | None) -> tuple[float, dict[str, Any]]:
        try:
            scored = score_sample(
                self.preset,
                response,
                response_tokens,
                self.max_response_length,
                ground_truth,
                self.peak,
                self.correctness_timeout_s,
                self.rng,
            )
        except Exception:
            logger.exception("verl-ext %s reward failed on a response of %d tokens", self.preset, response_tokens)
            return 0.0, _failed_sample_info(response_tokens, ground_truth is not None)
        info = scored.extra_info()
        info["reward_error"] = 0.0
        if scored.signals.monitor_error:
            logger.warning("verl-ext monitoring correctness check failed: %s", printable(scored.signals.monitor_error))
        elif scored.signals.correct_error and not scored.signals.correct_timed_out:
            logger.warning("verl-ext correctness check failed: %s", printable(scored.signals.correct_error))
        return scored.score, info

    async def run_single(self, data: DataProto) -> dict:
        item = data[-1:][0]  # multi-sequence outputs: the last sequence is the response
        response_ids = item.batch["responses"]
        response_tokens = int(item.batch["attention_mask"][-response_ids.shape[-1] :].sum())
        valid_ids = response_ids[:response_tokens]
        response = await self.loop.run_in_executor(
            None, lambda: self.tokenizer.decode(valid_ids, skip_special_tokens=True)
        )
        truth = _ground_truth(item.non_tensor_batch)
        score, info = await self.loop.run_in_executor(None, self._score, response, response_tokens, truth)
        return {"reward_score": score, "reward_extra_info": info}


def _register_all() -> dict[str, type[PresetRewardManager]]:
    """One manager per text preset; group-level and log-probability presets need the group stage."""
    classes = {}
    for name in text_preset_names():
        class_name = "".join(part.title() for part in name.split("_")) + "RewardManager"
        doc = f"Reward manager for the ``{name}`` preset: {get_preset(name).formula}."
        cls = type(class_name, (PresetRewardManager,), {"preset": name, "__doc__": doc, "__module__": __name__})
        classes[name] = register(name)(cls)
    return classes


MANAGERS = _register_all()
