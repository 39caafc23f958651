"""Pure reward functions: text (and token counts) in, numbers out. No veRL or TRL import here.

Public API::

    extract_answer(response) -> str | None
    format_reward(response) -> float                      # F in {0, 1}
    length_reward(response_tokens, max_response_tokens, peak=0.5) -> float
    format_length_reward(response, response_tokens, max_response_tokens, peak=0.5) -> float
    correctness_reward(response, ground_truth) -> float   # C in {0, 1}, via math-verify
    score_response(preset, response, ...) -> ScoredResponse   # the registry in presets.py
    score_group(preset, responses, ...) -> ScoredGroup        # the n responses of one prompt (group-level rewards)
"""

from __future__ import annotations

from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.correctness import correctness_reward
from verl_ext.rewards.format import format_reward
from verl_ext.rewards.length import DEFAULT_PEAK, length_reward
from verl_ext.rewards.presets import (
    PRESETS,
    ScoredGroup,
    ScoredResponse,
    Signals,
    get_preset,
    preset_names,
    score_group,
    score_response,
    text_preset_names,
)


def format_length_reward(
    response: str, response_tokens: int, max_response_tokens: int, peak: float = DEFAULT_PEAK
) -> float:
    """0.5 * F + L when the format is right (F = 1), min(0, L) otherwise."""
    return score_response(
        "format_length", response, response_tokens=response_tokens, max_response_tokens=max_response_tokens, peak=peak
    ).score


__all__ = [
    "DEFAULT_PEAK",
    "PRESETS",
    "ScoredGroup",
    "ScoredResponse",
    "Signals",
    "correctness_reward",
    "extract_answer",
    "format_length_reward",
    "format_reward",
    "get_preset",
    "length_reward",
    "preset_names",
    "score_group",
    "score_response",
    "text_preset_names",
]
