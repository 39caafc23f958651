"""Pure reward functions: text (and token statistics) in, numbers out. No veRL or TRL import here.

Public API::

    extract_answer(response) -> str | None
    format_reward(response) -> float                      # F in {0, 1}
    length_reward(response_tokens, max_response_tokens, peak=0.5) -> float
    format_length_reward(response, response_tokens, max_response_tokens, peak=0.5) -> float
    correctness_reward(response, ground_truth) -> float   # C in {0, 1}, via math-verify
    PRESETS, get_preset, preset_names                     # the registry (registry.py)
    score_response(preset, response, ...)                 # one response (verl_ext.core: the batch-first core)
    score_group(preset, responses, ...)                   # the n responses of one prompt
"""

from __future__ import annotations

from typing import Any

from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.correctness import correctness_reward
from verl_ext.rewards.format import format_reward
from verl_ext.rewards.length import DEFAULT_PEAK, length_reward
from verl_ext.rewards.registry import PRESETS, RewardPreset, get_preset, preset_names, text_preset_names
from verl_ext.rewards.signals import Signals


def format_length_reward(
    response: str, response_tokens: int, max_response_tokens: int, peak: float = DEFAULT_PEAK
) -> float:
    """0.5 * F + L when the format is right (F = 1), min(0, L) otherwise."""
    from verl_ext.core import score_response

    return score_response(
        "format_length", response, response_tokens=response_tokens, max_response_tokens=max_response_tokens, peak=peak
    ).score


def __getattr__(name: str) -> Any:
    # The scoring core imports this package's modules: its entry points are re-exported lazily, without a cycle.
    if name in ("score_response", "score_group"):
        from verl_ext import core

        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_PEAK",
    "PRESETS",
    "RewardPreset",
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
