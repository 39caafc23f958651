"""Problem-text normalisation and eval/train overlap (contamination) reports."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_SPACING = re.compile(r"\\(left|right|displaystyle|[,;:! ])")
_DROP = re.compile(r"[\s$]+")


def normalise(text: str) -> str:
    """Text for matching: lower case, no whitespace, no ``$``, no ``\\left``/``\\right``/spacing
    commands, no trailing full stop. Two problems match when these are equal."""
    text = _SPACING.sub("", text.lower())
    return _DROP.sub("", text).rstrip(".")


@dataclass(frozen=True)
class Overlap:
    """Eval rows of ``eval_name`` whose problem also appears in ``train_name``: (eval row, train row) pairs."""

    eval_name: str
    train_name: str
    eval_rows: int
    pairs: tuple[tuple[int, int], ...]

    def __str__(self) -> str:
        text = f"{self.eval_name} ({self.eval_rows}) in {self.train_name}: {len(self.pairs)}"
        if self.pairs:
            shown = ", ".join(f"eval row {e} = train row {t}" for e, t in self.pairs[:5])
            text += f"  (e.g. {shown}{', ...' if len(self.pairs) > 5 else ''})"
        return text


def find_overlap(
    eval_name: str, eval_problems: Sequence[str], train_name: str, train_problems: Sequence[str]
) -> Overlap:
    """Which eval problems (by row) equal, after ``normalise``, a training problem (first such row)."""
    first_train: dict[str, int] = {}
    for row, problem in enumerate(train_problems):
        first_train.setdefault(normalise(problem), row)
    pairs = tuple(
        (row, first_train[key]) for row, key in enumerate(map(normalise, eval_problems)) if key in first_train
    )
    return Overlap(eval_name, train_name, len(eval_problems), pairs)
