"""The demo's three students: what the tiny model is, what it learns in the warm-up, and how GRPO trains it.

- ``capable`` (the default): a Qwen2 model of 1.6 M parameters warmed up on sums of three
  digits (``data/sums.jsonl``). After the warm-up it solves most held-out sums, but boxes its answer
  only rarely: most warm-up solutions end in a plain sentence (``So the result is 18.``). This is the
  paper's premise in miniature: the skill is there, the answering habit is not.
- ``consistent``: the capable student's model and sums, warmed up on solutions that all show the worked steps and
  box the answer, 30% of which slip at the last moment: the steps are right, the boxed answer is off by 1 to 9
  (either way, uniformly; ``warmup.templated_completion``). Sampled at temperature 1, its answers are right about
  half the time, yet the most frequent of 8 samples is right far more often (held-out mean@8 0.55-0.70, maj@8
  0.78-0.96, seeds 0-4): the gap the group-level and certainty signals claim to close (TTRL: majority-vote training
  lifts mean@n towards maj@n). Slips drawn near the answer only (off by 1-3) or from 40% of the solutions taught the
  tiny model a smeared answer instead (the right one at 0.3-0.4, its neighbours close behind), and the majority failed
  with it.
- ``weak``: the 0.34 M-parameter model on mixed arithmetic and algebra (``data/problems.jsonl``) that
  cannot do the sums; a surrogate reward is then maximised by form alone (the reward hack).

A ``Student`` holds every setting that decides the warmed-up model, and the GRPO defaults that
go with it; ``verl-ext demo`` options override the GRPO ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from verl_ext.demo.problems import DATA_DIR, DATA_FILE, SUMS_FILE, Problem, load_problems
from verl_ext.demo.warmup import WarmupResult, warm_up
from verl_ext.models.tiny import TinySpec


@dataclass(frozen=True)
class Student:
    """A problem set, a model shape, a warm-up recipe and matching GRPO defaults."""

    name: str
    problems_file: str
    spec: TinySpec
    warmup_steps: int
    warmup_lr: float
    warmup_batch_size: int
    boxed_share: float  # share of warm-up solutions that box the answer
    steps_share: float  # share of warm-up solutions that show the worked steps
    grpo_steps: int
    max_completion_length: int
    learning_rate: float
    eval_every: int
    kl_coef: float = 0.0  # weight of the KL term to the warmed-up model in the GRPO loss (TRL's beta)
    slip_share: float = 0.0  # share of warm-up solutions whose answer slips after right steps
    slip_spread: int = 0  # the largest offset of a slipped answer (drawn uniformly from +-1..spread)
    description: str = field(default="", compare=False)

    @property
    def problems_path(self) -> Path:
        """The student's problem set, shipped in the package's data folder."""
        return DATA_DIR / self.problems_file

    def problems(self) -> tuple[list[Problem], list[Problem]]:
        """(train, held-out) problems of the student's set."""
        return load_problems(self.problems_path, split="train"), load_problems(self.problems_path, split="test")

    def warm_up(self, model, tokenizer, train: list[Problem], *, steps: int, seed: int, progress: bool) -> WarmupResult:
        """``warmup.warm_up`` of ``model`` in place with this student's recipe (batch size, learning rate, shares)."""
        return warm_up(
            model,
            tokenizer,
            train,
            steps=steps,
            seed=seed,
            batch_size=self.warmup_batch_size,
            lr=self.warmup_lr,
            boxed_share=self.boxed_share,
            steps_share=self.steps_share,
            slip_share=self.slip_share,
            slip_spread=self.slip_spread,
            progress=progress,
        )


CAPABLE = Student(
    name="capable",
    problems_file=SUMS_FILE.name,
    spec=TinySpec(
        hidden_size=192, intermediate_size=512, num_hidden_layers=4, num_attention_heads=6, num_key_value_heads=2
    ),
    warmup_steps=400,
    warmup_lr=3e-3,
    warmup_batch_size=32,
    boxed_share=0.15,
    steps_share=0.8,
    grpo_steps=25,
    max_completion_length=64,
    learning_rate=1e-4,
    eval_every=5,
    kl_coef=0.3,
    description="solves most sums of three digits, boxes its answer rarely",
)

STUDENTS: dict[str, Student] = {
    "capable": CAPABLE,
    # the capable student's model, sums and training, warmed up on boxed, worked solutions of which 30% slip
    "consistent": replace(
        CAPABLE,
        name="consistent",
        boxed_share=1.0,
        steps_share=1.0,
        slip_share=0.3,
        slip_spread=9,
        grpo_steps=30,
        description="boxes every answer; one sample is right about half the time, the majority of 8 far more often",
    ),
    "weak": Student(
        name="weak",
        problems_file=DATA_FILE.name,
        spec=TinySpec(),
        warmup_steps=120,
        warmup_lr=3e-3,
        warmup_batch_size=32,
        boxed_share=0.25,
        steps_share=0.5,
        grpo_steps=40,
        max_completion_length=64,
        learning_rate=1e-3,
        eval_every=5,
        description="cannot do the sums: shows the reward hack",
    ),
}


def get_student(name: str) -> Student:
    """The student called ``name``; ValueError naming the known ones otherwise."""
    if name not in STUDENTS:
        raise ValueError(f"unknown student {name!r}: use one of {', '.join(STUDENTS)}")
    return STUDENTS[name]
