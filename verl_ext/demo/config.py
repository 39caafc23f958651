"""Stage 1 of the demo: the configuration. ``DemoConfig`` (every option of a run), ``checked`` (validation, the
student's defaults filled in), ``check_output_folder`` (the same command's earlier output is replaced, anything else
is not overwritten by accident) and ``DemoResult`` (what a run returns and writes as ``summary.json``)."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field, replace
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


# The output folder's record of the command that wrote it: written first, its outputs' names added at the end.
RUN_RECORD = ".verl-ext-demo.json"
# Settings that change no number a run writes (a folder given as a relative or an absolute path is the same folder).
NOT_SETTINGS = ("out", "progress", "use_cache")
NEW, SAME_COMMAND, FORCED = "new", "same command", "forced"


def run_settings(config: DemoConfig) -> dict[str, Any]:
    """What makes two runs the same command: every field of the resolved config but ``NOT_SETTINGS``."""
    return {name: value for name, value in asdict(config).items() if name not in NOT_SETTINGS}


def check_output_folder(
    out: Path, force: bool, config: DemoConfig | None = None, outputs: frozenset[str] = frozenset()
) -> str:
    """What to do with the folder ``out`` before a run of ``config`` (resolved): ``NEW`` (missing or empty),
    ``SAME_COMMAND`` (it holds only the output of an earlier run with the same settings, ``RUN_RECORD`` says so: replace
    it, ``clear_earlier_run``), ``FORCED`` (anything else, with ``force``: write over it). Without ``force``, anything
    else is refused with FileExistsError (an OSError: ``verl-ext demo`` answers it in one line) naming what is there;
    a file is refused with NotADirectoryError. An earlier run's entries are those its record lists (written at its
    end) or, for a run that did not finish, the names in ``outputs`` (what a run writes, ``pipeline.output_names``)."""
    if not out.exists():
        return NEW
    if not out.is_dir():
        raise NotADirectoryError(f"{out} is a file, not a folder: choose another --out")
    entries = sorted(entry.name for entry in out.iterdir())
    if not entries:
        return NEW
    if config is None:
        why_not = "not an earlier run of verl-ext demo"
    else:
        why_not = _why_not_this_commands(out, entries, config, outputs)
    if why_not is None:
        return SAME_COMMAND
    if force:
        return FORCED
    raise FileExistsError(f"{out} is not empty ({why_not}): pass --force to write over it, or choose another --out")


def _why_not_this_commands(out: Path, entries: list[str], config: DemoConfig, outputs: frozenset[str]) -> str | None:
    """None when ``out`` holds an earlier run of ``config``'s settings and nothing else; else what differs."""
    try:
        record = json.loads((out / RUN_RECORD).read_text(encoding="utf-8"))
        earlier, recorded_outputs = record["settings"], set(record.get("outputs", ()))
    except (OSError, ValueError, KeyError, TypeError):
        return f"it holds {_some(entries)}, not an earlier run of verl-ext demo"
    settings = json.loads(json.dumps(run_settings(config)))  # as JSON reads it back (tuples as lists)
    changed = [name for name in settings if earlier.get(name) != settings[name]]
    if changed:
        differences = ", ".join(f"{name} {earlier.get(name)!r} there, {settings[name]!r} now" for name in changed[:3])
        return f"an earlier run with other settings: {differences}"
    foreign = [name for name in entries if name not in {RUN_RECORD} | recorded_outputs | outputs]
    if foreign:
        return f"besides an earlier run of this command it holds {_some(foreign)}"
    return None


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def clear_earlier_run(out: Path) -> None:
    """Remove what an earlier run of the same command left in ``out`` (``check_output_folder`` said SAME_COMMAND: every
    entry is that run's)."""
    for entry in out.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def write_run_record(out: Path, config: DemoConfig, outputs: list[str] | None = None) -> None:
    """``RUN_RECORD`` in ``out``: the settings of this run, and (at its end) the names of what it wrote."""
    record: dict[str, Any] = {"command": "verl-ext demo", "settings": run_settings(config)}
    if outputs is not None:
        record["outputs"] = sorted(name for name in outputs if name != RUN_RECORD)
    (out / RUN_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


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
