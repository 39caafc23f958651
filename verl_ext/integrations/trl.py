"""TRL adapter: the reward presets as ``GRPOTrainer`` reward functions.

    from trl import GRPOConfig, GRPOTrainer
    from verl_ext.integrations.trl import reward_func

    config = GRPOConfig(max_completion_length=512, ...)
    trainer = GRPOTrainer(model, reward_funcs=reward_func("format_length", config), args=config, ...)

Scoring is ``verl_ext.rewards.presets.score_response``, the very function the veRL managers call
(``verl_ext.verl.managers``); this module only adapts TRL's call convention to it:

- response text: the decoded completion (for conversational data, the content of its last message);
- response tokens: ``len(completion_ids[i])``: the generated ids up to and including EOS, as
  TRL passes them (veRL counts the ones of the response attention mask: the same tokens);
- token budget: the trainer's ``max_completion_length`` (give the config, or the number);
- ground truth: the dataset column ``ground_truth`` (or a veRL-style ``reward_model`` column of
  ``{"ground_truth": ...}`` dicts); used by ``correctness`` and, for every preset, as monitoring.

Group-level presets (majority, semantic_frequency, ...): TRL 1.16 calls a reward function once with
the whole batch (``GRPOTrainer._calculate_rewards``), whose ``RepeatSampler(mini_repeat_count=
num_generations)`` puts each prompt's ``num_generations`` completions next to each other (the trainer
itself reshapes the rewards with ``view(-1, num_generations)``). The adapter scores each run of
``num_generations`` consecutive completions as one group (``score_group``) and checks that every run
shares one prompt: a batch whose groups are split (several processes, an odd slice) is an error,
never a silently wrong vote. ``num_generations`` comes from the config (or give it); for evaluation
batches ``num_generations_eval`` is tried when ``num_generations`` does not fit.
Log-probability presets (self_confidence) need the completions' token log-probabilities, which TRL
does not pass to reward functions (TRL 1.16: its transformers generation keeps none, and the vLLM
sampling log-probs and ``old_per_token_logps`` stay inside the trainer; only a ``rollout_func``'s extra
fields reach them): give them as the column ``completion_logprobs``, or wrap the function in
``verl_ext.integrations.trl_logprobs.WithPolicyLogprobs``, which computes them with one forward pass of
the policy; else the call fails with that message.

Per-batch diagnostics go through TRL's own metrics (the ``log_metric`` hook), next to TRL's
``rewards/<preset>/mean``: the same ``diagnostics/*`` as veRL runs log (``verl_ext.diagnostics``:
format_rate, length_reward_mean, truncation_rate, timeout_rate and, when ground truths are present,
accuracy and the surrogate/correctness agreement metrics), plus ``diagnostics/reward_error_rate``, and
the collapse monitors ``collapse/*`` (``verl_ext.collapse``: majority ratio, distinct answers, answer
entropy, response length, mean log-prob for log-probability presets; label and reward accuracy with
ground truths) for every preset whose batch splits into runs of ``num_generations`` completions of one
prompt (sample-level presets: monitoring only, nothing is logged for a batch that does not split).
A response whose scoring fails scores 0 and counts as a reward error (logged with its traceback),
as in the veRL managers.
This module does not import TRL.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

from verl_ext.collapse import batch_monitors, signals_monitors
from verl_ext.diagnostics import PREFIX as METRIC_PREFIX
from verl_ext.diagnostics import compute_diagnostics
from verl_ext.rewards.correctness import DEFAULT_TIMEOUT_S
from verl_ext.rewards.equivalence import cluster_groups
from verl_ext.rewards.group import EMPO_MIN_SHARE
from verl_ext.rewards.length import DEFAULT_PEAK, validate_length_args
from verl_ext.rewards.presets import ScoredGroup, ScoredResponse, get_preset, score_group, score_response

logger = logging.getLogger(__name__)

GROUND_TRUTH_KEY = "ground_truth"
LOGPROBS_KEY = "completion_logprobs"


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


def _group_sizes(config: Any, num_generations: int | None) -> list[int]:
    """Candidate group sizes: ``num_generations`` if given, else the config's train then eval sizes."""
    sizes = (
        [num_generations]
        if num_generations is not None
        else [getattr(config, "num_generations", None), getattr(config, "num_generations_eval", None)]
    )
    found = [size for size in dict.fromkeys(sizes) if size is not None]
    for size in found:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"num_generations must be a positive int, got {size!r}")
    return found


def split_groups(prompts: Sequence[Any], sizes: Sequence[int]) -> int:
    """The group size (one of ``sizes``, first that fits) that cuts ``prompts`` into runs of one prompt each."""
    for size in sizes:
        if len(prompts) % size == 0 and all(
            all(p == prompts[start] for p in prompts[start : start + size]) for start in range(0, len(prompts), size)
        ):
            return size
    raise ValueError(
        f"a group-level reward needs groups of num_generations consecutive completions of one prompt (TRL's "
        f"RepeatSampler order); {len(prompts)} completions do not split into runs of one prompt of size "
        f"{' or '.join(map(str, sizes)) or '(unknown: give num_generations)'}"
    )


def _max_tokens(max_completion_length: Any) -> int:
    value = getattr(max_completion_length, "max_completion_length", max_completion_length)
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"max_completion_length must be an int (or a config holding one), got {value!r}")
    return value


class PresetReward:
    """A TRL reward function for one preset; TRL logs it under ``rewards/<preset>/mean``.

    ``__call__(prompts, completions, completion_ids=None, **kwargs) -> list[float]``: one score per
    completion, exactly ``score_response(preset, text, response_tokens=len(ids),
    max_response_tokens=max_completion_length, ground_truth=..., peak=...)``.score.
    Length-based presets need ``completion_ids``; ``correctness`` needs a ground truth per row.
    """

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
        self.spec = get_preset(preset)
        self.preset = preset
        self.__name__ = preset  # TRL's name for the function (metrics, completion tables)
        self.max_completion_length = _max_tokens(max_completion_length)
        validate_length_args(0, self.max_completion_length, peak)
        self.peak = peak
        self.correctness_timeout_s = correctness_timeout_s
        self.monitor_correctness = monitor_correctness
        self.ground_truth_key = ground_truth_key
        self.rng = random.Random(seed) if preset == "random" else None
        self.log_metrics = log_metrics
        self.group_sizes = _group_sizes(max_completion_length, num_generations)
        if self.spec.is_group and not self.group_sizes:
            raise ValueError(f"reward {preset!r} is group-level: give the GRPOConfig (or num_generations=)")
        self.min_share = min_share
        self.tail_fraction = tail_fraction
        self.logprobs_key = logprobs_key

    def score(self, completion: Any, completion_ids: Sequence[int] | None, ground_truth: str | None) -> ScoredResponse:
        """The ``ScoredResponse`` of one completion (raises what ``score_response`` raises)."""
        return score_response(
            self.preset,
            completion_text(completion),
            response_tokens=None if completion_ids is None else len(completion_ids),
            max_response_tokens=self.max_completion_length,
            ground_truth=ground_truth,
            peak=self.peak,
            correctness_timeout_s=self.correctness_timeout_s,
            rng=self.rng,
            monitor_correctness=self.monitor_correctness,
        )

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        if completion_ids is None and self.spec.needs_length:
            raise ValueError(f"reward {self.preset!r} needs completion_ids (TRL passes them)")
        if completion_ids is not None and len(completion_ids) != len(completions):
            raise ValueError(f"{len(completion_ids)} completion_ids for {len(completions)} completions")
        truths = ground_truths(kwargs, len(completions), self.ground_truth_key)
        if self.spec.needs_ground_truth and any(t is None for t in truths):
            raise ValueError(f"reward {self.preset!r} needs a {self.ground_truth_key!r} column without empty values")
        if not self.spec.is_text:
            scores, infos, monitors, responses = self._score_groups(
                prompts, completions, completion_ids, truths, kwargs
            )
            if not self.spec.is_group and self._logging(kwargs):
                monitors = self._sample_level_monitors(prompts, responses)
            self._log(infos, kwargs, monitors)
            return scores
        scores, infos, responses = [], [], []
        for i, completion in enumerate(completions):
            ids = None if completion_ids is None else completion_ids[i]
            try:
                scored = self.score(completion, ids, truths[i])
            except Exception:
                logger.exception("verl-ext %s reward failed on completion %d", self.preset, i)
                scores.append(0.0)
                infos.append({"reward_error": 1.0})
                responses.append(None)
                continue
            scores.append(scored.score)
            infos.append({**scored.extra_info(), "reward_error": 0.0})
            responses.append(scored)
        self._log(infos, kwargs, self._sample_level_monitors(prompts, responses) if self._logging(kwargs) else None)
        return scores

    def _logging(self, kwargs: dict[str, Any]) -> bool:
        return self.log_metrics and callable(kwargs.get("log_metric"))

    def _sample_level_monitors(
        self, prompts: Sequence[Any], responses: list[ScoredResponse | None]
    ) -> list[dict[str, float]]:
        """The collapse monitors of a sample-level preset's batch, group by group (runs of ``num_generations``
        consecutive completions of one prompt, as the group-level path cuts them): clusters of the extracted
        answers (``cluster_groups``, all groups at once) with the scores as rewards. Monitoring only: none when the batch does not
        split into such runs (then nothing is logged), and a group holding a failed completion is left out."""
        if not self.group_sizes:
            return []
        try:
            size = split_groups(prompts, self.group_sizes)
        except ValueError:
            return []
        complete = [
            [scored for scored in members if scored is not None]
            for members in (responses[start : start + size] for start in range(0, len(responses), size))
            if all(scored is not None for scored in members)
        ]
        clusterings = cluster_groups([[scored.signals.pred for scored in members] for members in complete])
        return [
            _monitors(ScoredGroup([s.score for s in members], members, clusters))
            for members, clusters in zip(complete, clusterings)
        ]

    def _log(
        self, infos: list[dict[str, Any]], kwargs: dict[str, Any], monitors: list[dict[str, float]] | None = None
    ) -> None:
        if not self._logging(kwargs):
            return
        metrics = batch_diagnostics(infos)
        if monitors:
            metrics.update(batch_monitors(monitors))
        for name, value in metrics.items():
            kwargs["log_metric"](name, value)

    def _score_groups(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None,
        truths: list[str | None],
        kwargs: dict[str, Any],
    ) -> tuple[list[float], list[dict[str, Any]], list[dict[str, float]], list[ScoredResponse | None]]:
        """Scores, extra info, collapse monitors (``verl_ext.collapse``; group-level presets) and each completion's
        ``ScoredResponse`` (None where its group failed) of a batch scored group by group."""
        logprobs = kwargs.get(self.logprobs_key)
        if self.spec.needs_logprobs and logprobs is None:
            raise ValueError(
                f"reward {self.preset!r} needs each completion's token log-probabilities: TRL does not pass them to "
                f"reward functions; provide them as the column {self.logprobs_key!r} (e.g. a rollout_func's extra fields)"
            )
        if logprobs is not None and len(logprobs) != len(completions):
            raise ValueError(
                f"column {self.logprobs_key!r} has {len(logprobs)} values for {len(completions)} completions"
            )
        size = split_groups(prompts, self.group_sizes) if self.spec.is_group else 1
        scores: list[float] = []
        infos: list[dict[str, Any]] = []
        monitors: list[dict[str, float]] = []
        responses: list[ScoredResponse | None] = []
        for start in range(0, len(completions), size):
            members = range(start, start + size)
            try:
                group = score_group(
                    self.preset,
                    [completion_text(completions[i]) for i in members],
                    response_tokens=None if completion_ids is None else [len(completion_ids[i]) for i in members],
                    max_response_tokens=self.max_completion_length,
                    ground_truths=[truths[i] for i in members],
                    response_logprobs=None if logprobs is None else [logprobs[i] for i in members],
                    peak=self.peak,
                    correctness_timeout_s=self.correctness_timeout_s,
                    rng=self.rng,
                    monitor_correctness=self.monitor_correctness,
                    min_share=self.min_share,
                    tail_fraction=self.tail_fraction,
                )
            except Exception:
                logger.exception("verl-ext %s reward failed on completions %d-%d", self.preset, start, start + size - 1)
                scores.extend([0.0] * size)
                infos.extend({"reward_error": 1.0} for _ in members)
                responses.extend([None] * size)
                continue
            scores.extend(group.scores)
            responses.extend(group.samples)
            infos.extend({**info, "reward_error": 0.0} for info in group.extra_info())
            if group.clusters is not None:
                monitors.append(_monitors(group))
        return scores, infos, monitors, responses


def _monitors(group: ScoredGroup) -> dict[str, float]:
    """The collapse monitors of one scored group."""
    assert group.clusters is not None
    return signals_monitors(group.clusters, [scored.signals for scored in group.samples], group.scores)


def batch_diagnostics(infos: list[dict[str, Any]]) -> dict[str, float]:
    """``diagnostics/*`` of a batch of ``extra_info()`` dicts: the veRL runs' metrics
    (``verl_ext.diagnostics.compute_diagnostics``) plus ``reward_error_rate`` and, for group-level presets,
    ``answer_fallback_rate`` (samples whose group was clustered by string equality: the checker could not start)."""
    keys: dict[str, None] = {}
    for info in infos:
        keys.update(dict.fromkeys(info))
    columns = {key: [info.get(key) for info in infos] for key in keys if key != "pred"}
    metrics = compute_diagnostics(columns)
    for key, name in (("reward_error", "reward_error_rate"), ("answer_fallback", "answer_fallback_rate")):
        values = [float(v) for v in columns.get(key, []) if v is not None]
        if values:
            metrics[METRIC_PREFIX + name] = sum(values) / len(values)
    return metrics


def reward_func(preset: str, max_completion_length: Any, **options: Any) -> PresetReward:
    """The TRL reward function of ``preset``; ``max_completion_length``: a GRPOConfig or an int.

    ``options``: peak, correctness_timeout_s, monitor_correctness, ground_truth_key, seed, log_metrics,
    num_generations, min_share, tail_fraction, logprobs_key.
    """
    return PresetReward(preset, max_completion_length, **options)


__all__ = ["PresetReward", "batch_diagnostics", "completion_text", "ground_truths", "reward_func", "split_groups"]
