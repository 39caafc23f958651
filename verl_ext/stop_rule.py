"""An opt-in stop rule for label-free training: stop when a collapse signal has held for K steps in a row.

A rule is ``<monitor> >= <threshold>`` or ``<monitor> <= <threshold>`` over one of the label-free collapse
monitors of ``verl_ext.collapse`` (step means, without the ``collapse/`` prefix), and ``steps`` = K >= 1:

    majority_ratio >= 0.95     (the groups agree on one answer: TTRL's and SRT's collapse)
    distinct_answers <= 1      (one answer cluster per prompt left)
    answer_entropy <= 0.05

Label-based monitors (label_accuracy, reward_accuracy) are refused: the rule must work without ground truth.
A step whose metrics lack the monitor breaks the run of consecutive steps. Pure: no veRL import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LABEL_FREE_MONITORS = ("majority_ratio", "distinct_answers", "answer_entropy", "mean_logprob", "response_length")
_RULE = re.compile(r"^\s*([a-z_]+)\s*(>=|<=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class StopRule:
    """``monitor`` ``op`` ``threshold`` holding for ``steps`` consecutive training steps."""

    monitor: str
    op: str
    threshold: float
    steps: int = 1

    def __post_init__(self) -> None:
        if self.monitor not in LABEL_FREE_MONITORS:
            raise ValueError(
                f"stop rule monitor must be a label-free collapse monitor ({', '.join(LABEL_FREE_MONITORS)}),"
                f" got {self.monitor!r}"
            )
        if self.op not in (">=", "<="):
            raise ValueError(f"stop rule comparison must be >= or <=, got {self.op!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"stop rule steps must be an integer >= 1, got {self.steps!r}")

    @classmethod
    def parse(cls, text: str, steps: int = 1) -> StopRule:
        """``"majority_ratio >= 0.95"`` -> StopRule; ValueError naming the expected form otherwise."""
        match = _RULE.match(str(text))
        if match is None:
            raise ValueError(f"stop rule {text!r} is not '<monitor> >= <number>' or '<monitor> <= <number>'")
        return cls(match.group(1), match.group(2), float(match.group(3)), int(steps))

    def holds(self, value: float) -> bool:
        return value >= self.threshold if self.op == ">=" else value <= self.threshold

    def __str__(self) -> str:
        return f"{self.monitor} {self.op} {self.threshold:g}"


class StopTracker:
    """Counts consecutive steps on which ``rule`` holds; ``update`` returns the reason once it has held K steps."""

    def __init__(self, rule: StopRule) -> None:
        self.rule = rule
        self.streak = 0

    def update(self, step: int, monitors: dict[str, float]) -> str | None:
        """Feed one step's monitors (names without prefix); the stop reason when the rule fires, else None."""
        value = monitors.get(self.rule.monitor)
        self.streak = self.streak + 1 if value is not None and self.rule.holds(value) else 0
        if self.streak < self.rule.steps:
            return None
        return (
            f"collapse stop rule: {self.rule} held for {self.streak} consecutive step(s) "
            f"(step {step}: {self.rule.monitor} = {value:g})"
        )
