"""Transitional re-exports while the front ends move to ``verl_ext.rewards.registry`` and ``verl_ext.core``."""

from verl_ext.core import score_group, score_response
from verl_ext.rewards.registry import (
    GROUP,
    PRESETS,
    SAMPLE,
    TOKEN,
    RewardPreset,
    get_preset,
    preset_names,
    text_preset_names,
)
from verl_ext.rewards.signals import GroupSignals, Signals, measure

__all__ = [
    "GROUP",
    "PRESETS",
    "SAMPLE",
    "TOKEN",
    "GroupSignals",
    "RewardPreset",
    "Signals",
    "get_preset",
    "measure",
    "preset_names",
    "score_group",
    "score_response",
    "text_preset_names",
]
