"""Stage 6 of the demo: ``run``, the orchestrator. It calls the stages in order and holds no logic of its own:

configuration (``config.py``) -> student (``student.py``) -> held-out evaluation before training
(``evaluate.py``) -> GRPO through the chosen engine (``engines/``), which calls the evaluation back ->
report (``metrics_log.py``, ``report.py``).

No network: the Hugging Face libraries are put offline before they are imported.
"""

from __future__ import annotations

import random
import time

from verl_ext.demo.config import (
    FORCED,
    SAME_COMMAND,
    DemoConfig,
    DemoResult,
    check_output_folder,
    checked,
    clear_earlier_run,
    write_run_record,
)
from verl_ext.demo.engines.base import TrainingJob
from verl_ext.demo.engines.registry import get_engine
from verl_ext.demo.evaluate import HeldOutEvaluation
from verl_ext.demo.metrics_log import MetricLogWriter
from verl_ext.demo.report import SAMPLED_FILE, SAMPLES_FILE, opening_line, plot_title, student_lines, write_report
from verl_ext.demo.student import go_offline, load_student
from verl_ext.models.tiny import count_parameters


def run(config: DemoConfig, *, force: bool = False) -> DemoResult:
    """Run the demo end to end. Before anything starts: ValueError for a bad option, FileExistsError when the
    output folder holds anything but an earlier run of the same settings (that one is replaced) and ``force`` is not
    given. ChildProcessError when veRL's trainer fails."""
    engine = get_engine(config.engine)
    config = checked(config)
    engine.check(config)
    out = config.out_dir()
    folder = check_output_folder(out, force, config, output_names(config))
    started = time.perf_counter()
    prepare_process(config)
    say = print if config.progress else silent

    if folder == SAME_COMMAND:
        clear_earlier_run(out)
        say(f"replacing the earlier output of this command in {out}")
    elif folder == FORCED:
        say(f"--force: writing over what is in {out}")
    out.mkdir(parents=True, exist_ok=True)
    write_run_record(out, config)
    say(opening_line(config))
    student = load_student(config)
    parameters = count_parameters(student.model)
    for line in student_lines(student.source, parameters, student.warmup, student.cached):
        say(line)

    evaluation = HeldOutEvaluation(
        student.tokenizer,
        student.test,
        config.reward,
        config.max_completion_length,
        config.peak,
        out / SAMPLES_FILE,
        sampled=config.eval_samples,
        temperature=config.temperature,
        seed=config.seed,
        sampled_path=out / SAMPLED_FILE,
    )
    log = MetricLogWriter(config.log_path())
    log.write(0, evaluation(student.model, 0))
    job = TrainingJob(
        config=config,
        model=student.model,
        tokenizer=student.tokenizer,
        train=student.train,
        held_out=student.test,
        evaluate=evaluation,
        record=log.write,
        say=say,
    )
    grpo_seconds = engine.train(job)

    result = write_report(
        config,
        log.history,
        evaluation.samples,
        title=plot_title(config, engine.label),
        started=started,
        grpo_seconds=grpo_seconds,
        warmup=student.warmup,
        cached=student.cached,
        parameters=parameters,
        held_out_problems=len(student.test),
        say=say,
    )
    write_run_record(out, config, outputs=[entry.name for entry in out.iterdir()])
    return result


def output_names(config: DemoConfig) -> frozenset[str]:
    """What a run writes in its folder besides its record: the metric log, the report's files, the engines' work
    folders (TRL's trainer folder, removed at the end of a run that finishes; the veRL engine's)."""
    from verl_ext.demo.engines.trl import TRAINER_DIR
    from verl_ext.demo.engines.verl import WORK_DIR
    from verl_ext.demo.report import PLOT_FILE, SUMMARY_FILE

    return frozenset(
        {config.log_path().name, PLOT_FILE, SAMPLES_FILE, SAMPLED_FILE, SUMMARY_FILE, TRAINER_DIR, WORK_DIR}
    )


def prepare_process(config: DemoConfig) -> None:
    """Offline, ``config.threads`` torch threads, the libraries' info output and warnings off, Python's RNG seeded."""
    go_offline()
    import torch

    torch.set_num_threads(config.threads)
    quiet_libraries()
    random.seed(config.seed)


def quiet_libraries() -> None:
    """transformers, TRL, accelerate and datasets: errors only, no progress bars, no UserWarning or FutureWarning."""
    import logging
    import warnings

    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    for name in ("trl", "accelerate", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(trl|transformers|accelerate)\b")
    warnings.filterwarnings("ignore", category=FutureWarning)


def silent(*_args: object, **_kwargs: object) -> None:
    """``say`` with ``--quiet``."""
