"""TRL adapter: the reward presets as ``GRPOTrainer`` reward functions.

    from trl import GRPOConfig, GRPOTrainer
    from verl_ext.integrations.trl import reward_func

    config = GRPOConfig(max_completion_length=512, ...)
    trainer = GRPOTrainer(model, reward_funcs=reward_func("format_length", config), args=config, ...)

Scoring is the core's (``verl_ext.core.score_batch``), as for the veRL managers and ``verl-ext score``; this module
only adapts TRL's call convention to a batch:

- response text: the decoded completion (for conversational data, the content of its last message);
- response tokens: ``len(completion_ids[i])``: the generated ids up to and including EOS, as
  TRL passes them (veRL counts the ones of the response attention mask: the same tokens);
- token budget: the trainer's ``max_completion_length`` (give the config, or the number);
- ground truth: the dataset column ``ground_truth`` (or a veRL-style ``reward_model`` column of
  ``{"ground_truth": ...}`` dicts); used by ``correctness`` and, for every preset, as monitoring.

Groups (group-level presets: majority, semantic_frequency, ...): TRL 1.16 calls a reward function once per process
with that process's generation batch (``GRPOTrainer._calculate_rewards``), whose ``RepeatSampler(mini_repeat_count=
num_generations)`` puts each prompt's completions next to each other; the trainer gathers the rewards of every
process and reshapes them with ``view(-1, num_generations)``. The adapter scores each run of ``num_generations``
consecutive completions as one group and checks that every run shares one prompt: a batch whose groups are split is
an error, never a vote over part of a group. Evaluation batches (the trainer's model in eval mode) use
``num_generations_eval`` (TRL's default: ``num_generations``), training batches ``num_generations`` only. On several
processes a group is whole in each process's batch only when ``per_device_train_batch_size`` is a multiple of
``num_generations`` (accelerate gives each process consecutive slices of that size): refused at construction
otherwise, naming the settings.
Token-level presets need per-token statistics of the completions, which TRL does not pass to reward functions
(TRL 1.16: its transformers generation keeps none, and the vLLM sampling log-probs and ``old_per_token_logps`` stay
inside the trainer; only a ``rollout_func``'s extra fields reach them): give them as columns (``TOKEN_COLUMNS``:
``completion_logprobs`` for self_confidence and probability, ``completion_entropy`` for token_entropy,
``completion_self_certainty`` for self_certainty; one list per completion), or wrap the function in
``verl_ext.integrations.trl_logprobs.WithPolicyLogprobs``, which computes them with one forward pass of the policy;
else the call fails naming the column.

Per-batch diagnostics go through TRL's own metrics (the ``log_metric`` hook), next to TRL's
``rewards/<preset>/mean``: the same ``diagnostics/*`` as veRL runs log (``verl_ext.diagnostics``:
format_rate, length_reward_mean, truncation_rate, timeout_rate and, when ground truths are present,
accuracy and the surrogate/correctness agreement metrics), plus ``diagnostics/reward_error_rate``, and
the collapse monitors ``collapse/*`` (``verl_ext.collapse``) of every batch that splits into groups (sample-level
presets: monitoring only, nothing is logged for a batch that does not split).
A response whose scoring fails trains on the mean score of its group's scored completions (a zero advantage;
0 without a group: ``BatchResult.training_rewards``) and counts as a reward error (logged with its traceback).
This module does not import TRL.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from verl_ext.core import Batch, BatchResult, ScoringSettings, random_draws, score_batch
from verl_ext.core.extra_info import reward_extra_info
from verl_ext.diagnostics import compute_diagnostics
from verl_ext.rewards.correctness import DEFAULT_TIMEOUT_S
from verl_ext.rewards.group import EMPO_MIN_SHARE
from verl_ext.rewards.length import DEFAULT_PEAK
from verl_ext.rewards.token_stats import Ragged

logger = logging.getLogger(__name__)

GROUND_TRUTH_KEY = "ground_truth"
LOGPROBS_KEY = "completion_logprobs"
TOKEN_COLUMNS = {
    "logprobs": LOGPROBS_KEY,
    "entropy": "completion_entropy",
    "self_certainty": "completion_self_certainty",
}
"""Per-token statistic (``token_stats.STATISTICS``) -> the column a token-level preset reads it from."""


def completion_text(completion: Any) -> str:
    """Text of one TRL completion: a string, or a conversation whose last message is the reply."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, list):  # content blocks: keep the text ones
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return str(content or "")
    raise TypeError(f"cannot read a completion of type {type(completion).__name__}")


def ground_truths(kwargs: dict[str, Any], count: int, key: str = GROUND_TRUTH_KEY) -> list[str | None]:
    """One ground truth (or None) per completion, from the dataset column ``key`` or ``reward_model``."""
    if key in kwargs and kwargs[key] is not None:
        values = list(kwargs[key])
    elif kwargs.get("reward_model") is not None:
        values = [row.get("ground_truth") if isinstance(row, dict) else None for row in kwargs["reward_model"]]
    else:
        return [None] * count
    if len(values) != count:
        raise ValueError(f"column {key!r} has {len(values)} values for {count} completions")
    return [None if v is None or not str(v).strip() else str(v) for v in values]


def _positive_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def split_groups(prompts: Sequence[Any], size: int) -> int:
    """``size``, after checking that it cuts ``prompts`` into runs of one prompt each (ValueError otherwise)."""
    if len(prompts) % size == 0 and all(
        all(p == prompts[start] for p in prompts[start : start + size]) for start in range(0, len(prompts), size)
    ):
        return size
    raise ValueError(
        f"a group-level reward needs groups of num_generations consecutive completions of one prompt (TRL's "
        f"RepeatSampler order); {len(prompts)} completions do not split into runs of one prompt of size {size}"
    )


def check_whole_groups_per_process(config: Any, num_generations: int) -> None:
    """ValueError when TRL would hand a process part of a group: on several processes, a process's generation batch
    is made of consecutive slices of ``per_device_train_batch_size`` completions of each global batch."""
    world = getattr(config, "world_size", 1)
    per_device = getattr(config, "per_device_train_batch_size", None)
    if isinstance(world, int) and world > 1 and isinstance(per_device, int) and per_device % num_generations:
        raise ValueError(
            f"per_device_train_batch_size={per_device} is not a multiple of num_generations={num_generations} on "
            f"{world} processes: TRL would split each prompt's group across processes and a group-level reward "
            f"would vote over part of it; set per_device_train_batch_size to a multiple of {num_generations}"
        )


def _max_tokens(max_completion_length: Any) -> int:
    value = getattr(max_completion_length, "max_completion_length", max_completion_length)
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"max_completion_length must be an int (or a config holding one), got {value!r}")
    return value


def _evaluating(kwargs: dict[str, Any]) -> bool:
    """Whether TRL is scoring an evaluation batch: its ``log_metric`` is the trainer's bound method, and the trainer
    generates evaluation batches with its model in eval mode."""
    trainer = getattr(kwargs.get("log_metric"), "__self__", None)
    model = getattr(trainer, "model", None)
    return model is not None and not getattr(model, "training", True)


class PresetReward:
    """A TRL reward function for one preset; TRL logs it under ``rewards/<preset>/mean``.

    ``__call__(prompts, completions, completion_ids=None, **kwargs) -> list[float]``: one score per completion,
    the core's score of the batch. Length-based presets need ``completion_ids``; ``correctness`` needs a ground
    truth per row; group-level presets need ``num_generations`` (from the config, or given)."""

    def __init__(
        self,
        preset: str,
        max_completion_length: Any,
        *,
        peak: float = DEFAULT_PEAK,
        correctness_timeout_s: float = DEFAULT_TIMEOUT_S,
        monitor_correctness: bool = True,
        ground_truth_key: str = GROUND_TRUTH_KEY,
        seed: int | None = None,
        log_metrics: bool = True,
        num_generations: int | None = None,
        min_share: float = EMPO_MIN_SHARE,
        tail_fraction: float = 1.0,
        logprobs_key: str = LOGPROBS_KEY,
    ) -> None:
        self.settings = ScoringSettings(
            preset,
            max_response_tokens=_max_tokens(max_completion_length),
            peak=peak,
            correctness_timeout_s=correctness_timeout_s,
            monitor_correctness=monitor_correctness,
            min_share=min_share,
            tail_fraction=tail_fraction,
            monitor_groups=log_metrics,
        )
        self.spec = self.settings.preset
        self.preset = preset
        self.__name__ = preset  # TRL's name for the function (metrics, completion tables)
        config = max_completion_length
        self.num_generations = _positive_int(
            num_generations if num_generations is not None else getattr(config, "num_generations", None),
            "num_generations",
        )
        self.num_generations_eval = _positive_int(getattr(config, "num_generations_eval", None), "num_generations_eval")
        if self.spec.is_group:
            if self.num_generations is None:
                raise ValueError(f"reward {preset!r} is group-level: give the GRPOConfig (or num_generations=)")
            check_whole_groups_per_process(config, self.num_generations)
        self.ground_truth_key = ground_truth_key
        self.token_statistics = self.spec.token_statistics  # what trl_logprobs.WithPolicyLogprobs computes for it
        self.entropy_key, self.self_certainty_key = TOKEN_COLUMNS["entropy"], TOKEN_COLUMNS["self_certainty"]
        self.seed = seed
        self._calls = 0
        self.log_metrics = log_metrics
        self.logprobs_key = logprobs_key

    def group_size(self, kwargs: dict[str, Any]) -> int | None:
        """The group size of this call: ``num_generations_eval`` (or ``num_generations``) for an evaluation batch,
        ``num_generations`` for a training one."""
        if _evaluating(kwargs) and self.num_generations_eval is not None:
            return self.num_generations_eval
        return self.num_generations

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        count = len(completions)
        if completion_ids is None and self.spec.needs_length:
            raise ValueError(f"reward {self.preset!r} needs completion_ids (TRL passes them)")
        if completion_ids is not None and len(completion_ids) != count:
            raise ValueError(f"{len(completion_ids)} completion_ids for {count} completions")
        truths = ground_truths(kwargs, count, self.ground_truth_key)
        if self.spec.needs_ground_truth and any(t is None for t in truths):
            raise ValueError(f"reward {self.preset!r} needs a {self.ground_truth_key!r} column without empty values")
        tokens = None if completion_ids is None else [len(ids) for ids in completion_ids]
        batch = Batch(
            responses=[completion_text(c) for c in completions],
            group_ids=self._group_ids(prompts, kwargs),
            response_tokens=tokens,
            ground_truths=truths,
            token_stats=self._token_stats(kwargs, count),
            rngs=self._draws(completions, kwargs),
        )
        settings = replace(self.settings, group_size=self.group_size(kwargs)) if self.spec.is_group else self.settings
        result = score_batch(batch, settings)
        for i, sample in enumerate(result.samples):
            if sample.error is not None:
                logger.error(
                    "verl-ext %s reward failed on completion %d: %s",
                    self.preset,
                    i,
                    sample.error,
                    exc_info=sample.exception,
                )
        scores = result.training_rewards()
        self._log(result, scores, tokens, truths, kwargs)
        return scores

    def _draws(self, completions: Sequence[Any], kwargs: dict[str, Any]) -> list[random.Random] | None:
        """The ``random`` control's generators: one per completion, keyed by the seed, the trainer's step, the
        completion's place and text, so that every process draws independently and a rerun draws the same;
        unseeded (None) without ``seed``."""
        self._calls += 1
        if not self.spec.uses_rng or self.seed is None:
            return None
        step = getattr(kwargs.get("trainer_state"), "global_step", None)
        step = f"call{self._calls}" if step is None else step
        return [random_draws(self.seed, step, i, completion_text(c)) for i, c in enumerate(completions)]

    def _group_ids(self, prompts: Sequence[Any], kwargs: dict[str, Any]) -> list[int] | None:
        """Each completion's group (its run of ``group_size`` consecutive completions of one prompt). Group-level
        presets: ValueError when the batch does not split so; other presets: None (no groups, no collapse monitors)."""
        size = self.group_size(kwargs)
        if size is None:
            return None
        try:
            split_groups(prompts, size)
        except ValueError:
            if self.spec.is_group:
                raise
            return None
        return [i // size for i in range(len(prompts))]

    def _token_stats(self, kwargs: dict[str, Any], count: int) -> dict[str, Ragged]:
        """Every per-token statistic whose column the call carries (the preset's are required)."""
        columns = {**TOKEN_COLUMNS, "logprobs": self.logprobs_key}
        stats = {}
        for statistic, column in columns.items():
            values = kwargs.get(column)
            if values is None:
                if statistic in self.spec.token_statistics:
                    raise ValueError(
                        f"reward {self.preset!r} needs each completion's per-token {statistic}: TRL does not pass "
                        f"them to reward functions; provide them as the column {column!r} (e.g. a rollout_func's "
                        "extra fields), or wrap the reward in trl_logprobs.WithPolicyLogprobs"
                    )
                continue
            if len(values) != count:
                raise ValueError(f"column {column!r} has {len(values)} values for {count} completions")
            stats[statistic] = Ragged.from_rows(values)
        return stats

    def _checks(self, truth: str | None) -> bool:
        """Whether a sample's ground truth was to be checked (monitoring or the correctness preset)."""
        return truth is not None and (self.settings.monitor_correctness or self.spec.needs_ground_truth)

    def _log(
        self,
        result: BatchResult,
        scores: list[float],
        tokens: list[int] | None,
        truths: list[str | None],
        kwargs: dict[str, Any],
    ) -> None:
        log_metric = kwargs.get("log_metric")
        if not (self.log_metrics and callable(log_metric)):
            return
        infos = [
            reward_extra_info(sample, None if tokens is None else tokens[i], checked_truth=self._checks(truths[i]))
            for i, sample in enumerate(result.samples)
        ]
        metrics = batch_diagnostics(infos)
        rewards = [None if sample.error is not None else score for sample, score in zip(result.samples, scores)]
        metrics.update(result.monitors(rewards))
        for name, value in metrics.items():
            log_metric(name, value)


def batch_diagnostics(infos: list[dict[str, Any]]) -> dict[str, float]:
    """``diagnostics/*`` of a batch of ``reward_extra_info`` dicts: the veRL runs' metrics
    (``verl_ext.diagnostics.compute_diagnostics``, ``reward_error_rate`` included)."""
    keys: dict[str, None] = {}
    for info in infos:
        keys.update(dict.fromkeys(info))
    return compute_diagnostics({key: [info.get(key) for info in infos] for key in keys if key != "pred"})


def reward_func(preset: str, max_completion_length: Any, **options: Any) -> PresetReward:
    """The TRL reward function of ``preset``; ``max_completion_length``: a GRPOConfig or an int.

    ``options``: peak, correctness_timeout_s, monitor_correctness, ground_truth_key, seed, log_metrics,
    num_generations, min_share, tail_fraction, logprobs_key.
    """
    return PresetReward(preset, max_completion_length, **options)


__all__ = [
    "PresetReward",
    "batch_diagnostics",
    "check_whole_groups_per_process",
    "completion_text",
    "ground_truths",
    "reward_func",
    "split_groups",
]
