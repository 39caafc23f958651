"""THE reward registry: every preset's name, level, formula and what it reads, in one list.

Adding a reward is one function plus its ``@sample_reward`` / ``@group_reward`` / ``@token_reward`` line here;
every front end (veRL's reward loop and its post-rollout stage, TRL, ``verl-ext score``) scores through the one
batch-first core (``verl_ext.core.score_batch``), which reads the preset from here.

Signals (measured by ``verl_ext.rewards.signals``): F = format (``format.py``), L = length (``length.py``),
C = correctness (``correctness.py``), the group's clusters of equivalent answers (``equivalence.py``) and the
per-token reductions of the policy's statistics (``token_stats.py``; definitions and sources: ``token.py``):
LP = mean log-probability of the sampled tokens, SC = mean self-certainty logsumexp(z_t) - mean(z_t), H = mean
entropy of the next-token distributions (each over the response's last ``tail_fraction``), and the summed
log-probability of the whole response.

    level sample (one response's text and token count):
    correctness    C                                       needs a ground truth
    format         0.5 * F
    format_length  0.5 * F + L   when F = 1,   min(0, L) otherwise
    length         L
    random         Bernoulli(0.5): 1 or 0, from a seedable generator (a control)
    level group (the n responses of one prompt):
    majority                         1 if the answer is in the group's largest cluster, else 0 (TTRL)
    semantic_frequency               the answer's cluster share of the group, 0 under 0.25 (EMPO)
    format_gated_majority            F * majority
    format_gated_semantic_frequency  F * semantic_frequency
    level token (the policy's per-token statistics of the response):
    self_confidence                  LP (URLVR's trajectory_level_entropy; EM-RL's sequence reward)
    self_certainty                   SC (Intuitor)
    token_entropy                    -H (RENT, EM-RL; RENT's best: tail_fraction 1/3)
    probability                      exp(sum of the tokens' log-probabilities) (URLVR)
    format_gated_<x>                 F * x in its non-negative form (``token.gateable``): exp(LP), SC, exp(-H), p
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from verl_ext.names import unknown_name_message
from verl_ext.rewards.group import format_gated, majority_rewards, semantic_frequency_rewards
from verl_ext.rewards.signals import GroupSignals, Signals
from verl_ext.rewards.token import gateable


class Level(str, Enum):
    """What a preset's formula reads: one response (sample), a prompt's group (group), the policy's per-token
    statistics of one response (token)."""

    SAMPLE = "sample"
    GROUP = "group"
    TOKEN = "token"


SAMPLE, GROUP, TOKEN = Level.SAMPLE, Level.GROUP, Level.TOKEN

SampleFormula = Callable[[Signals], float]
RandomFormula = Callable[[Signals, random.Random], float]
GroupFormula = Callable[[GroupSignals], list[float]]


@dataclass(frozen=True)
class RewardPreset:
    """A named reward: its level, its formula and what its input must carry.

    ``level`` sample or token: ``combine(signals) -> score`` per response (``combine(signals, rng)`` when
    ``uses_rng``); group: ``group_rule(group) -> scores`` over a prompt's responses. ``token_statistics``: the
    per-token statistics a token-level preset reads (``verl_ext.rewards.token_stats`` names them). ``score_range``:
    the lowest and highest score one sample can get (what a batch mean must lie in; infinite where unbounded)."""

    name: str
    formula: str
    level: Level
    combine: SampleFormula | RandomFormula | None = None
    group_rule: GroupFormula | None = None
    needs_length: bool = False
    needs_ground_truth: bool = False
    token_statistics: tuple[str, ...] = ()
    uses_rng: bool = False
    source: str = ""
    score_range: tuple[float, float] = (0.0, 1.0)

    @property
    def is_group(self) -> bool:
        return self.level is GROUP

    @property
    def is_token(self) -> bool:
        return self.level is TOKEN

    @property
    def is_text(self) -> bool:
        """Scored from one response's text alone: what a per-sample reward loop can score by itself."""
        return self.level is SAMPLE

    @property
    def needs_logprobs(self) -> bool:
        return "logprobs" in self.token_statistics


PRESETS: dict[str, RewardPreset] = {}


def _add(preset: RewardPreset) -> None:
    if preset.name in PRESETS:
        raise ValueError(f"reward preset {preset.name!r} is already registered")
    PRESETS[preset.name] = preset


def sample_reward(
    name: str,
    formula: str,
    *,
    needs_length: bool = False,
    needs_ground_truth: bool = False,
    uses_rng: bool = False,
    source: str = "",
    score_range: tuple[float, float] = (0.0, 1.0),
):
    """Register ``combine(signals) -> score`` (``combine(signals, rng)`` with ``uses_rng``) under ``name``."""

    def decorator(combine):
        _add(
            RewardPreset(
                name,
                formula,
                SAMPLE,
                combine,
                None,
                needs_length,
                needs_ground_truth,
                (),
                uses_rng,
                source,
                score_range,
            )
        )
        return combine

    return decorator


def group_reward(name: str, formula: str, *, source: str = ""):
    """Register the group rule ``rule(group_signals) -> scores`` under ``name``."""

    def decorator(rule: GroupFormula) -> GroupFormula:
        _add(RewardPreset(name, formula, GROUP, None, rule, source=source))
        return rule

    return decorator


def token_reward(
    name: str,
    formula: str,
    *,
    statistics: tuple[str, ...],
    source: str = "",
    score_range: tuple[float, float] = (0.0, 1.0),
):
    """Register ``combine(signals) -> score`` of a token-level preset reading the per-token ``statistics``."""

    def decorator(combine: SampleFormula) -> SampleFormula:
        preset = RewardPreset(name, formula, TOKEN, combine, token_statistics=statistics, source=source)
        _add(replace(preset, score_range=score_range))
        return combine

    return decorator


# --- the presets ------------------------------------------------------------------------------------------------

PAPER = "Surrogate Signals from Format and Length (2025)"


@sample_reward("correctness", "C", needs_ground_truth=True, source="ground truth (math-verify)")
def _correctness(s: Signals) -> float:
    return float(s.correct or 0.0)


@sample_reward("format", "0.5 * F", source=PAPER, score_range=(0.0, 0.5))
def _format(s: Signals) -> float:
    return 0.5 * s.format


@sample_reward(
    "format_length",
    "0.5 * F + L if F = 1 else min(0, L)",
    needs_length=True,
    source=PAPER,
    score_range=(-1.0, 1.5),  # L in [-1, 1]: formatted -0.5 to 1.5, else -1 to 0
)
def _format_length(s: Signals) -> float:
    assert s.length_reward is not None
    return 0.5 * s.format + s.length_reward if s.format == 1.0 else min(0.0, s.length_reward)


@sample_reward("length", "L", needs_length=True, source=PAPER, score_range=(-1.0, 1.0))
def _length(s: Signals) -> float:
    assert s.length_reward is not None
    return s.length_reward


@sample_reward("random", "Bernoulli(0.5)", uses_rng=True, source="a control")
def _random(s: Signals, rng: random.Random) -> float:
    return float(rng.random() < 0.5)


@group_reward(
    "majority",
    "1 if the answer is in the group's largest equivalence cluster (ties: first seen) else 0",
    source="TTRL (Zuo et al., 2025)",
)
def _majority(g: GroupSignals) -> list[float]:
    return majority_rewards(g.clusters, g.rewarded)


@group_reward(
    "semantic_frequency",
    "|cluster of the answer| / n; 0 for the group if the largest share < 0.25",
    source="EMPO (Zhang et al., 2025)",
)
def _semantic_frequency(g: GroupSignals) -> list[float]:
    return semantic_frequency_rewards(g.clusters, g.min_share, g.rewarded)


@group_reward("format_gated_majority", "F * majority", source="TTRL, gated by the paper's format check")
def _format_gated_majority(g: GroupSignals) -> list[float]:
    return format_gated(majority_rewards(g.clusters, g.rewarded), g.formats)


@group_reward(
    "format_gated_semantic_frequency", "F * semantic_frequency", source="EMPO, gated by the paper's format check"
)
def _format_gated_semantic_frequency(g: GroupSignals) -> list[float]:
    return format_gated(semantic_frequency_rewards(g.clusters, g.min_share, g.rewarded), g.formats)


@token_reward(
    "self_confidence",
    "mean log p(sampled token)",
    statistics=("logprobs",),
    source="URLVR's trajectory_level_entropy (How Far Can Unsupervised RLVR Scale, 2026)",
    score_range=(-math.inf, 0.0),
)
def _self_confidence(s: Signals) -> float:
    assert s.mean_logprob is not None
    return s.mean_logprob


@token_reward(
    "format_gated_self_confidence",
    "F * exp(mean log p(sampled token))",
    statistics=("logprobs",),
    source="self_confidence, gated by the paper's format check",
)
def _format_gated_self_confidence(s: Signals) -> float:
    assert s.mean_logprob is not None
    return format_gated([gateable("self_confidence", s.mean_logprob)], [s.format])[0]


@token_reward(
    "self_certainty",
    "mean over response tokens of logsumexp(z_t) - mean(z_t) = KL(U || p_t) + ln V",
    statistics=("self_certainty",),
    source="Intuitor (Zhao et al., 2025)",
    score_range=(0.0, math.inf),  # >= ln V in practice
)
def _self_certainty(s: Signals) -> float:
    assert s.mean_self_certainty is not None
    return s.mean_self_certainty


@token_reward(
    "format_gated_self_certainty",
    "F * self_certainty",
    statistics=("self_certainty",),
    source="Intuitor, gated by the paper's format check",
    score_range=(0.0, math.inf),
)
def _format_gated_self_certainty(s: Signals) -> float:
    assert s.mean_self_certainty is not None
    return format_gated([gateable("self_certainty", s.mean_self_certainty)], [s.format])[0]


@token_reward(
    "token_entropy",
    "-(mean over response tokens of the next-token entropy H_t)",
    statistics=("entropy",),
    source="RENT (Prabhudesai et al., 2025); EM-RL (Agarwal et al., 2025)",
    score_range=(-math.inf, 0.0),
)
def _token_entropy(s: Signals) -> float:
    assert s.mean_entropy is not None
    return -s.mean_entropy


@token_reward(
    "format_gated_token_entropy",
    "F * exp(-mean H_t)",
    statistics=("entropy",),
    source="RENT, gated by the paper's format check",
)
def _format_gated_token_entropy(s: Signals) -> float:
    assert s.mean_entropy is not None
    return format_gated([gateable("token_entropy", -s.mean_entropy)], [s.format])[0]


@token_reward(
    "probability",
    "exp(sum over response tokens of log p(sampled token))",
    statistics=("logprobs",),
    source="URLVR (How Far Can Unsupervised RLVR Scale, 2026)",
)
def _probability(s: Signals) -> float:
    assert s.sum_logprob is not None
    return math.exp(s.sum_logprob)


@token_reward(
    "format_gated_probability",
    "F * probability",
    statistics=("logprobs",),
    source="URLVR's probability, gated by the paper's format check",
)
def _format_gated_probability(s: Signals) -> float:
    assert s.sum_logprob is not None
    return format_gated([gateable("probability", math.exp(s.sum_logprob))], [s.format])[0]


# --- lookups ----------------------------------------------------------------------------------------------------


def preset_names(level: Level | str | None = None) -> list[str]:
    """Preset names, sorted; ``level`` keeps those of that level only."""
    if level is not None:
        level = Level(level)
    return sorted(name for name, preset in PRESETS.items() if level is None or preset.level is level)


def text_preset_names() -> list[str]:
    """Presets a per-sample reward loop can score from a response's text alone (the sample level)."""
    return preset_names(SAMPLE)


class UnknownReward(ValueError):
    """A preset name the registry does not hold; the message names the closest ones."""


def get_preset(name: str) -> RewardPreset:
    """The preset called ``name``; UnknownReward (a ValueError) naming the closest and all known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownReward(unknown_name_message("reward", str(name), preset_names())) from None
