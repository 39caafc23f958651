"""THE reward registry: preset name -> how the signals combine into one score.

Every front end (veRL managers, TRL reward functions, ``verl-ext score``) scores through
``score_response``; adding a reward is one function plus one ``register`` line here.

Signals (see the modules): F = format (``format.py``), L = length (``length.py``),
C = correctness (``correctness.py``).

    correctness    C
    format         0.5 * F
    format_length  0.5 * F + L   when F = 1,   min(0, L) otherwise
    length         L
    random         Bernoulli(0.5): 1 or 0, from a seedable generator (a control)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from verl_ext.rewards.answer import extract_answer, printable
from verl_ext.rewards.correctness import DEFAULT_TIMEOUT_S, CorrectnessCheck, check_answer_correct
from verl_ext.rewards.format import check_answer_format
from verl_ext.rewards.length import DEFAULT_PEAK, is_truncated, length_reward, validate_length_args


@dataclass(frozen=True, slots=True)
class Signals:
    """Everything measured about one response; ``None`` where the input did not allow it."""

    pred: str | None
    format: float
    format_budget_exceeded: bool
    length_reward: float | None
    response_tokens: int | None
    truncated: bool | None
    correct: float | None
    correct_timed_out: bool = False
    correct_error: str | None = None
    monitor_error: str | None = None
    rng: random.Random | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RewardPreset:
    """A named reward: which signals it needs and how it combines them."""

    name: str
    formula: str
    needs_length: bool
    needs_ground_truth: bool
    combine: Callable[[Signals], float]


PRESETS: dict[str, RewardPreset] = {}


def register(name: str, formula: str, needs_length: bool = False, needs_ground_truth: bool = False):
    """Decorator adding ``combine(signals) -> score`` to the registry under ``name``."""

    def decorator(combine: Callable[[Signals], float]) -> Callable[[Signals], float]:
        if name in PRESETS:
            raise ValueError(f"reward preset {name!r} is already registered")
        PRESETS[name] = RewardPreset(name, formula, needs_length, needs_ground_truth, combine)
        return combine

    return decorator


@register("correctness", "C", needs_ground_truth=True)
def _correctness(s: Signals) -> float:
    return float(s.correct or 0.0)


@register("format", "0.5 * F")
def _format(s: Signals) -> float:
    return 0.5 * s.format


@register("format_length", "0.5 * F + L if F = 1 else min(0, L)", needs_length=True)
def _format_length(s: Signals) -> float:
    assert s.length_reward is not None
    return 0.5 * s.format + s.length_reward if s.format == 1.0 else min(0.0, s.length_reward)


@register("length", "L", needs_length=True)
def _length(s: Signals) -> float:
    assert s.length_reward is not None
    return s.length_reward


@register("random", "Bernoulli(0.5)")
def _random(s: Signals) -> float:
    return float((s.rng or random).random() < 0.5)


def preset_names() -> list[str]:
    return sorted(PRESETS)


def get_preset(name: str) -> RewardPreset:
    """The preset called ``name``; ValueError listing the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown reward {name!r}; choose one of: {', '.join(preset_names())}") from None


def measure(
    response: str,
    *,
    response_tokens: int | None = None,
    max_response_tokens: int | None = None,
    ground_truth: str | None = None,
    peak: float = DEFAULT_PEAK,
    correctness_timeout_s: float = DEFAULT_TIMEOUT_S,
    rng: random.Random | None = None,
    monitoring: bool = False,
) -> Signals:
    """All signals of one response. Length needs both token counts; correctness needs a ground truth.

    ``monitoring``: the correctness check only monitors (the reward does not use it). A failure of the
    check itself (its child process cannot start, say) is then recorded in ``monitor_error`` with
    C = 0 instead of raising, so it cannot change the reward; otherwise it raises."""
    pred = extract_answer(response)
    fmt = check_answer_format(pred)
    length = truncated = None
    if response_tokens is not None and max_response_tokens is not None:
        length = length_reward(response_tokens, max_response_tokens, peak)
        truncated = is_truncated(response_tokens, max_response_tokens)
    else:
        validate_length_args(0, max_response_tokens or 1, peak)
    check: CorrectnessCheck | None = None
    monitor_error = None
    if ground_truth is not None and str(ground_truth).strip():
        try:
            check = check_answer_correct(pred, str(ground_truth), correctness_timeout_s)
        except Exception as exc:
            if not monitoring:
                raise
            monitor_error = f"{type(exc).__name__}: {exc}"
            check = CorrectnessCheck(correct=False, error=monitor_error)
    return Signals(
        pred=pred,
        format=fmt.reward,
        format_budget_exceeded=fmt.budget_exceeded,
        length_reward=length,
        response_tokens=response_tokens,
        truncated=truncated,
        correct=None if check is None else check.reward,
        correct_timed_out=bool(check and check.timed_out),
        correct_error=None if check is None else check.error,
        monitor_error=monitor_error,
        rng=rng,
    )


@dataclass(frozen=True, slots=True)
class ScoredResponse:
    """The score of one response under one preset, with the signals behind it."""

    score: float
    signals: Signals

    def extra_info(self) -> dict[str, Any]:
        """Flat per-sample fields for logs (veRL's ``reward_extra_info``, scored JSONL rows).

        ``timed_out`` counts a format check or correctness check stopped by its bound.
        ``correct`` (and ``acc``, the same value under the name veRL's validation metrics read for
        ``val-core/<data_source>/acc/...``) and ``monitor_error`` appear only when a ground truth was
        given (monitoring: presets other than ``correctness`` never use it). ``monitor_error`` = 1 marks a
        monitoring check that failed to run (``correct`` is then 0 and means "unknown", not "wrong").
        """
        s = self.signals
        info: dict[str, Any] = {
            "format": s.format,
            "length_reward": s.length_reward,
            "response_tokens": s.response_tokens,
            "truncated": None if s.truncated is None else float(s.truncated),
            "pred": printable(s.pred),
            "timed_out": float(s.format_budget_exceeded or s.correct_timed_out),
        }
        if s.correct is not None:
            info["correct"] = s.correct
            info["acc"] = s.correct
            info["monitor_error"] = float(s.monitor_error is not None)
        return info


def score_response(
    preset: str,
    response: str,
    *,
    response_tokens: int | None = None,
    max_response_tokens: int | None = None,
    ground_truth: str | None = None,
    peak: float = DEFAULT_PEAK,
    correctness_timeout_s: float = DEFAULT_TIMEOUT_S,
    rng: random.Random | None = None,
    monitor_correctness: bool = True,
) -> ScoredResponse:
    """Score ``response`` with the named preset.

    Raises ValueError for an unknown preset, for a length-based preset without token counts,
    for ``correctness`` without a ground truth, and for invalid length arguments.
    With ``monitor_correctness=False`` a ground truth is ignored unless the preset needs it.
    """
    spec = get_preset(preset)
    if spec.needs_length and (response_tokens is None or max_response_tokens is None):
        raise ValueError(f"reward {preset!r} needs response_tokens and max_response_tokens")
    if spec.needs_ground_truth and (ground_truth is None or not str(ground_truth).strip()):
        raise ValueError(f"reward {preset!r} needs a ground truth")
    if not (monitor_correctness or spec.needs_ground_truth):
        ground_truth = None
    signals = measure(
        response,
        response_tokens=response_tokens,
        max_response_tokens=max_response_tokens,
        ground_truth=ground_truth,
        peak=peak,
        correctness_timeout_s=correctness_timeout_s,
        rng=rng,
        monitoring=not spec.needs_ground_truth,
    )
    return ScoredResponse(score=spec.combine(signals), signals=signals)
