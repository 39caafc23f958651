"""The one interface of every GRPO engine: train this student on these problems with this reward and these
settings, calling back for held-out evaluation, recording each step's metrics; return the seconds it took."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from verl_ext.demo.config import DemoConfig
from verl_ext.demo.problems import Problem


@dataclass(frozen=True)
class TrainingJob:
    """What an engine is given. ``config`` is checked (``config.checked``): its reward preset and peak, steps,
    prompts per step x completions, token budget, temperature, learning rate, KL coefficient, seed and
    ``eval_every``. ``evaluate(model, step)`` is the held-out evaluation (veRL-named metrics), due every
    ``eval_every`` steps and at the last; ``record(step, metrics)`` adds a step's line to the metric log
    (step 0 is recorded before training). ``held_out`` is never trained on (an engine may need to name it,
    as veRL's config wants a validation file). ``say`` prints progress (a no-op with ``--quiet``)."""

    config: DemoConfig
    model: Any
    tokenizer: Any
    train: list[Problem]
    held_out: list[Problem]
    evaluate: Callable[[Any, int], dict[str, float]]
    record: Callable[[int, dict[str, float]], None]
    say: Callable[[str], None]


class Engine(Protocol):
    """A GRPO engine: ``name`` (``--engine``), ``label`` (in titles), ``summary`` (one line of ``--engine``'s help)."""

    name: str
    label: str
    summary: str

    def check(self, config: DemoConfig) -> None:
        """ValueError, before anything starts, when this engine cannot run ``config`` here."""

    def train(self, job: TrainingJob) -> float:
        """Run GRPO on ``job``; the seconds it took."""


def due_for_evaluation(step: int, steps: int, eval_every: int) -> bool:
    """Whether the held-out evaluation is due after ``step`` of ``steps``: every ``eval_every`` (0: never) and at the
    last."""
    return step == steps or (eval_every > 0 and step % eval_every == 0)
