"""Stage 1 of the demo: the configuration. ``DemoConfig`` (every option of a run), ``checked`` (validation, the
student's defaults filled in), ``check_output_folder`` (an earlier run is not overwritten by accident) and
``DemoResult`` (what a run returns and writes as ``summary.json``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from verl_ext.demo.students import get_student
from verl_ext.rewards.registry import get_preset

DEFAULT_ENGINE = "trl"


@dataclass
class DemoConfig:
    """Everything a demo run depends on. ``None``: the student's default (``students.py``); with ``model``,
    ``warmup_steps=None`` means no warm-up. ``engine`` names one of ``engines.registry.ENGINES``."""

    reward: str = "format_length"
    student: str = "capable"
    steps: int | None = None
    model: str | None = None
    out: str | None = None
    seed: int = 0
    warmup_steps: int | None = None
    num_generations: int = 8
    prompts_per_step: int = 4
    max_completion_length: int | None = None
    learning_rate: float | None = None
    kl_coef: float | None = None
    temperature: float = 1.0
    peak: float = 0.5
    eval_every: int | None = None
    eval_samples: int = 8  # sampled completions per held-out problem at each evaluation (mean@k, maj@k); 0: none
    threads: int = 1
    progress: bool = True
    use_cache: bool = True
    engine: str = DEFAULT_ENGINE

    def resolved(self) -> DemoConfig:
        """A copy with every ``None`` default filled in from the student (ValueError for an unknown student)."""
        student = get_student(self.student)
        warmup = self.warmup_steps if self.warmup_steps is not None else (0 if self.model else student.warmup_steps)
        return replace(
            self,
            steps=student.grpo_steps if self.steps is None else self.steps,
            warmup_steps=warmup,
            max_completion_length=student.max_completion_length
            if self.max_completion_length is None
            else self.max_completion_length,
            learning_rate=student.learning_rate if self.learning_rate is None else self.learning_rate,
            kl_coef=student.kl_coef if self.kl_coef is None else self.kl_coef,
            eval_every=student.eval_every if self.eval_every is None else self.eval_every,
        )

    def out_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        student = "" if self.student == "capable" else f"{self.student}-"
        return Path("verl-ext-demo") / f"{student}{self.reward}-seed{self.seed}"

    def log_path(self) -> Path:
        return self.out_dir() / f"{self.reward}-seed{self.seed}.jsonl"


def checked(config: DemoConfig) -> DemoConfig:
    """``config.resolved()`` after checking every option but the engine (``engines.registry.get_engine`` checks
    that); ValueError naming the bad one."""
    get_preset(config.reward)
    config = config.resolved()
    for name in ("steps", "num_generations", "prompts_per_step", "max_completion_length", "threads"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")
    if config.num_generations < 2:
        raise ValueError("num_generations must be >= 2 (GRPO compares completions of the same prompt)")
    if config.kl_coef < 0:
        raise ValueError(f"kl_coef must be >= 0, got {config.kl_coef}")
    if config.warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {config.warmup_steps}")
    if config.eval_samples == 1 or config.eval_samples < 0:
        raise ValueError(
            f"eval_samples must be 0 (no sampled evaluation) or >= 2 (mean@k, maj@k), got {config.eval_samples}"
        )
    return config


def check_output_folder(out: Path, force: bool) -> bool:
    """Whether ``out`` holds an earlier run that ``force`` allows to be written over (True) or is new or empty
    (False). FileExistsError (an OSError: ``verl-ext demo`` answers it in one line) for a non-empty folder
    without ``force``, NotADirectoryError for a file."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise NotADirectoryError(f"{out} is a file, not a folder: choose another --out")
    if not any(out.iterdir()):
        return False
    if not force:
        raise FileExistsError(
            f"{out} is not empty (an earlier run?): pass --force to write over it, or choose another --out"
        )
    return True


@dataclass
class DemoResult:
    """Paths written and the headline metrics (``summary.json``): ``start`` is GRPO step 1 (rollouts of
    the warmed-up model, before any update), ``end`` the mean over the last ``window`` steps;
    ``held_out_*`` the held-out evaluations before training and after the last step (greedy: ``mean@1``; with
    ``eval_samples`` k: also ``mean@k``, ``maj@k``, distinct answers and the collapse monitors of k samples),
    ``held_out_by_step`` every evaluation (``{"step": N, metric: value, ...}``, in step order), and
    ``distinct_answers`` how many different boxed answers the first and last greedy evaluations gave."""

    log: str
    plot: str | None
    seconds: float
    warmup_seconds: float  # 0 when the warmed-up model came from the cache
    warmup_cached: bool
    grpo_seconds: float
    parameters: int
    window: int
    start: dict[str, float] = field(default_factory=dict)
    end: dict[str, float] = field(default_factory=dict)
    held_out_start: dict[str, float] = field(default_factory=dict)
    held_out_end: dict[str, float] = field(default_factory=dict)
    held_out_problems: int = 0
    held_out_by_step: list[dict[str, float]] = field(default_factory=list)
    distinct_answers: list[int] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
