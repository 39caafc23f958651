"""Readable names of training runs: the train set and the reward, read from a run's name.

Two naming schemes are recognised (anything else is left as it is):

* the paper's released logs, ``grpo-<train set>-7b_math-bs_128-3k-zs_qwen-r_<reward code>``, codes
  ``a_g_f`` correctness (ground truth), ``f_a`` format only, ``f_l_v3_token5_a-v3`` format + length,
  ``a_g_f_l`` correctness + linear length (a run the authors abandoned after 55 steps);
* this project's recipe, ``grpo-<TRAIN_SET>-<model folder>-<REWARD>`` (``run_grpo.sh``'s ``EXPERIMENT``),
  REWARD a preset of the registry; a content hash ending the model folder (the ``scale=cpu`` model's
  ``tiny-qwen2-<hash>``) is dropped from the label.

Train sets ``deepscaler_17k`` -> "DeepScaleR-17k", ``math`` / ``math_train`` -> "MATH"; any other is shown as named.
``reward_key`` and ``train_set_key`` are what runs are grouped by (one hue per reward, a line style per train set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RELEASE_REWARDS = {
    "a_g_f": "correctness",
    "f_a": "format",
    "f_l_v3_token5_a-v3": "format_length",
    "a_g_f_l": "correctness_linear_length",
}
RELEASE_NOTES = {"a_g_f_l": "abandoned at step 55"}
REWARD_LABELS = {
    "correctness": "correctness",
    "format": "format",
    "format_length": "format + length",
    "correctness_linear_length": "correctness + linear length",
    "length": "length",
    "random": "random",
}
TRAIN_SETS = {"deepscaler_17k": "DeepScaleR-17k", "math": "MATH", "math_train": "MATH"}

_RELEASE = re.compile(
    r"^grpo-(?P<train>[^-]+)-7b_math-bs_128-3k-zs_qwen-r_(?P<code>" + "|".join(map(re.escape, RELEASE_REWARDS)) + r")$"
)
_RECIPE = re.compile(r"^grpo-(?P<train>[^-]+)-(?P<model>.+)-(?P<reward>[A-Za-z0-9_]+)$")
_HASH_SUFFIX = re.compile(r"-[0-9a-f]{8,}$")


@dataclass(frozen=True)
class RunName:
    """What a run's name says: reward and train set (keys and readable forms), model, a note."""

    name: str
    reward_key: str
    train_set_key: str
    model: str | None = None
    note: str | None = None

    @property
    def reward(self) -> str:
        return REWARD_LABELS.get(self.reward_key, self.reward_key.replace("_", " "))

    @property
    def train_set(self) -> str:
        """Readable train set; ``math`` and ``math_train`` are both "MATH"."""
        return TRAIN_SETS.get(self.train_set_key, self.train_set_key)

    @property
    def label(self) -> str:
        """``<reward> (<train set>[, <model>][; <note>])``, e.g. ``format + length (DeepScaleR-17k)``."""
        details = ", ".join(part for part in (self.train_set, self.model) if part)
        if self.note:
            details += f"; {self.note}"
        return f"{self.reward} ({details})"


def recognise(name: str) -> RunName | None:
    """The release's or the recipe's reading of ``name``; None when it follows neither scheme (a recipe run's
    reward must be a preset of the registry)."""
    match = _RELEASE.match(name)
    if match:
        code = match["code"]
        return RunName(name, RELEASE_REWARDS[code], match["train"], note=RELEASE_NOTES.get(code))
    match = _RECIPE.match(name)
    if match:
        from verl_ext.rewards.registry import PRESETS

        if match["reward"] in PRESETS:
            model = _HASH_SUFFIX.sub("", match["model"])
            return RunName(name, match["reward"], match["train"], model=model)
    return None


def readable_name(name: str) -> str:
    """``recognise(name).label``, or ``name`` itself when it is not recognised."""
    run = recognise(name)
    return run.label if run else name
