"""``verl-ext demo``: GRPO with a surrogate reward on a tiny model, on CPU, through TRL.

The README's main job on any machine. Steps:

1. load the student's problem set (``students.py``: ``capable``, the default, on ``data/sums.jsonl``;
   ``weak`` on ``data/problems.jsonl``; train and test splits);
2. build (or load from the cache) the tiny Qwen2 model and its tokenizer, or load ``--model PATH``;
3. warm up with supervised steps on templated solutions, a minority of which box the answer
   (``warmup.py``): the model now sometimes writes ``\\boxed{...}``. The warmed-up tiny model is
   cached under a key that covers everything it depends on (``warm_cache.py``);
4. GRPO (TRL's ``GRPOTrainer``, no vLLM, CPU) rewarded by the chosen preset through
   ``verl_ext.integrations.trl``: the same scoring as the veRL managers (``--engine verl``: veRL's own
   trainer on the CPU backend instead, ``verl_engine.py``);
5. evaluate greedily on the test problems before training, every ``--eval-every`` steps and at
   the end (boxed accuracy, the paper's metric, and latent accuracy, ``evaluate.py``); write ``<out>/<reward>-seed<seed>.jsonl`` (veRL file-logger format), ``curves.png``
   (``verl_ext.eval.plot``), ``samples.jsonl`` (every held-out completion, scored) and ``summary.json``.

No network: the Hugging Face libraries are put offline before they are imported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

END_WINDOW = 5
ENGINES = ("trl", "verl")  # GRPO through TRL's GRPOTrainer (this module) or veRL's main_ppo (verl_engine.py)


@dataclass
class DemoConfig:
    """Everything a demo run depends on. ``None``: the student's default (``students.py``); with ``model``,
    ``warmup_steps=None`` means no warm-up."""

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
    threads: int = 1
    progress: bool = True
    use_cache: bool = True
    engine: str = "trl"

    def resolved(self) -> "DemoConfig":
        """A copy with every ``None`` default filled in from the student (ValueError for an unknown student)."""
        from dataclasses import replace

        from verl_ext.demo.students import get_student

        student = get_student(self.student)
        warmup = self.warmup_steps if self.warmup_steps is not None else (0 if self.model else student.warmup_steps)
        return replace(
            self,
            steps=student.grpo_steps if self.steps is None else self.steps,
            warmup_steps=warmup,
            max_completion_length=student.max_completion_length if self.max_completion_length is None else self.max_completion_length,
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


@dataclass
class DemoResult:
    """Paths written and the headline metrics (``summary.json``): ``start`` is GRPO step 1 (rollouts of
    the warmed-up model, before any update), ``end`` the mean over the last ``window`` steps;
    ``held_out_*`` the greedy evaluations before training and after the last step, and
    ``distinct_answers`` how many different boxed answers those two evaluations gave."""

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
    distinct_answers: list[int] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


HEADLINE = ("critic/score/mean", "diagnostics/format_rate", "response_length/mean", "diagnostics/accuracy", "diagnostics/length_reward_mean")


def _offline() -> None:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[name] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("WANDB_DISABLED", "true")
    os.environ.setdefault("WANDB_MODE", "disabled")


def _quiet_libraries() -> None:
    import logging
    import warnings

    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    for name in ("trl", "accelerate", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(trl|transformers|accelerate)\b")
    warnings.filterwarnings("ignore", category=FutureWarning)


def _load(source: str | Path):  # noqa: ANN202 - (model, tokenizer)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{source}: the tokenizer has no EOS token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype="float32")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def load_student(config: DemoConfig, problems_file: Path, train: list, test: list):  # noqa: ANN201
    """``(model, tokenizer, source, warm-up result, cached)``: the warmed-up tiny student (from the cache when its
    key matches, ``warm_cache.py``), or ``config.model`` from a local path (never downloaded), warmed up in place
    when ``warmup_steps`` > 0."""
    from verl_ext.demo.students import get_student
    from verl_ext.demo.tiny import tiny_model_dir
    from verl_ext.demo.warm_cache import warmed_model_dir
    from verl_ext.demo.warmup import tokenizer_corpus

    student = get_student(config.student)
    if config.model:
        path = Path(config.model)
        if not path.exists():
            raise ValueError(f"--model {config.model}: no such local directory (the demo never downloads)")
        model, tokenizer = _load(path)
        warm = student.warm_up(model, tokenizer, train, steps=config.warmup_steps, seed=config.seed, progress=config.progress)
        return model, tokenizer, str(path), warm, False
    base = tiny_model_dir(tokenizer_corpus(train + test), student.spec)
    root = None if config.use_cache else Path(tempfile.mkdtemp(prefix="verl-ext-warm-"))
    try:
        warmed = warmed_model_dir(student, base, problems_file, train, seed=config.seed, warmup_steps=config.warmup_steps,
                                  threads=config.threads, progress=config.progress, root=root)
        model, tokenizer = _load(warmed.path)
    finally:
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
    return model, tokenizer, str(base), warmed.warmup, warmed.cached


def _window_means(history: dict[int, dict[str, float]], steps: list[int]) -> dict[str, float]:
    means = {}
    for key in HEADLINE:
        values = [history[s][key] for s in steps if key in history.get(s, {})]
        if values:
            means[key] = sum(values) / len(values)
    return means


def _held_out(history: dict[int, dict[str, float]], step: int) -> dict[str, float]:
    return {k: v for k, v in history.get(step, {}).items() if k.startswith("val-")}


def checked(config: DemoConfig) -> DemoConfig:
    """``config.resolved()`` after checking every option; ValueError naming the bad one."""
    from verl_ext.rewards.presets import get_preset

    if config.engine not in ENGINES:
        raise ValueError(f"unknown engine {config.engine!r}: use one of {', '.join(ENGINES)}")
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
    return config


def run(config: DemoConfig) -> DemoResult:
    """Run the demo end to end; see the module docstring. Raises ValueError on bad options."""
    if config.engine == "verl":
        from verl_ext.demo.verl_engine import run_verl

        return run_verl(config)
    config = checked(config)
    started = time.perf_counter()
    _offline()

    import random

    import torch

    torch.set_num_threads(config.threads)
    _quiet_libraries()
    from datasets import Dataset
    from transformers import PrinterCallback, ProgressCallback
    from trl import GRPOConfig, GRPOTrainer

    from verl_ext.demo.metrics_log import MetricLogWriter, make_callback
    from verl_ext.demo.students import get_student
    from verl_ext.demo.tiny import count_parameters
    from verl_ext.demo.warmup import prompt_text
    from verl_ext.integrations.trl import reward_func

    random.seed(config.seed)
    student = get_student(config.student)
    problems_file = student.problems_path
    train, test = student.problems()
    out = config.out_dir()
    out.mkdir(parents=True, exist_ok=True)
    say = print if config.progress else (lambda *a, **k: None)
    say(f"verl-ext demo: reward {config.reward}, {config.student} student ({student.description}), {config.steps} GRPO steps, "
        f"seed {config.seed}, {config.threads} thread(s) -> {out}")
    model, tokenizer, source, warm, cached = load_student(config, problems_file, train, test)
    say(f"model {source} ({count_parameters(model):,} parameters)")
    if warm.steps:
        origin = f"reused from the cache (it took {warm.seconds:.0f} s)" if cached else f"in {warm.seconds:.0f} s"
        say(f"warm-up: {warm.steps} steps {origin}, loss {warm.first_loss:.2f} -> {warm.last_loss:.2f}")

    held_out, samples = held_out_recorder(config, tokenizer, test)
    writer = MetricLogWriter(config.log_path())
    writer.write(0, held_out(model, 0))

    batch = config.prompts_per_step * config.num_generations
    args = GRPOConfig(
        output_dir=str(out / "trainer"),
        max_steps=config.steps,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        temperature=config.temperature,
        learning_rate=config.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        beta=config.kl_coef,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,  # TRL defaults to bf16 autocast, emulated (slow) on most CPUs: the tiny model trains in float32
        seed=config.seed,
        data_seed=config.seed,
        disable_tqdm=True,
        log_completions=False,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )
    dataset = Dataset.from_list([{"prompt": prompt_text(p), "ground_truth": p.answer} for p in train])
    callback = make_callback(writer, config.steps, held_out, config.eval_every, config.progress)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_func(config.reward, args, peak=config.peak, seed=config.seed),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[callback],
    )
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    grpo_started = time.perf_counter()
    trainer.train()
    grpo_seconds = time.perf_counter() - grpo_started
    try:
        (out / "trainer").rmdir()  # TRL's output folder: empty, as nothing is checkpointed
    except OSError:
        pass

    return finish(config, writer.history, samples, f"verl-ext demo: {config.reward}, seed {config.seed}", started=started,
                  grpo_seconds=grpo_seconds, warm=warm, cached=cached, parameters=count_parameters(model), held_out_problems=len(test))


def held_out_recorder(config: DemoConfig, tokenizer, test: list):  # noqa: ANN001, ANN201 - (evaluate, samples)
    """``(held_out, samples)``: ``held_out(model, step)`` scores the greedy completions of ``test`` (appended to
    ``<out>/samples.jsonl``, emptied here; kept in ``samples[step]``) and returns their veRL-named metrics."""
    from verl_ext.demo.evaluate import score_samples, summarize

    samples_path = config.out_dir() / "samples.jsonl"
    samples_path.write_text("", encoding="utf-8")
    samples: dict[int, list[dict[str, Any]]] = {}

    def held_out(current_model, step: int) -> dict[str, float]:  # noqa: ANN001
        rows = score_samples(current_model, tokenizer, test, config.reward, config.max_completion_length, config.peak)
        samples[step] = rows
        with open(samples_path, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"step": step, **row}, ensure_ascii=False) + "\n" for row in rows)
        return summarize(rows)

    return held_out, samples


def finish(config: DemoConfig, history: dict[int, dict[str, float]], samples: dict[int, list[dict[str, Any]]], title: str, *,
           started: float, grpo_seconds: float, warm, cached: bool, parameters: int, held_out_problems: int) -> DemoResult:  # noqa: ANN001
    """The end of a run, whatever the engine: ``curves.png``, ``summary.json`` and the closing lines."""
    from verl_ext.demo.evaluate import distinct_answers

    out = config.out_dir()
    say = print if config.progress else (lambda *a, **k: None)
    plot = _plot(config.log_path(), out / "curves.png", title)
    window = min(END_WINDOW, config.steps)
    steps = sorted(s for s in history if s > 0)
    result = DemoResult(
        log=str(config.log_path()),
        plot=None if plot is None else str(plot),
        seconds=time.perf_counter() - started,
        warmup_seconds=0.0 if cached else warm.seconds,
        warmup_cached=cached,
        grpo_seconds=grpo_seconds,
        parameters=parameters,
        window=window,
        start=_window_means(history, steps[:1]),
        end=_window_means(history, steps[-window:]),
        held_out_start=_held_out(history, 0),
        held_out_end=_held_out(history, steps[-1] if steps else 0),
        held_out_problems=held_out_problems,
        distinct_answers=[distinct_answers(samples[min(samples)]), distinct_answers(samples[max(samples)])],
        config=asdict(config),
    )
    (out / "summary.json").write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    say(summary_text(result))
    if samples:
        say(examples_text(samples[min(samples)], samples[max(samples)], min(samples), max(samples)))
    return result


def examples_text(before: list[dict[str, Any]], after: list[dict[str, Any]], first: int, last: int, count: int = 3) -> str:
    """A few held-out problems with their greedy completions at steps ``first`` and ``last``: what the scores reward."""
    lines = [f"held-out completions (greedy; all in samples.jsonl), step {first} -> step {last}:"]
    for index in range(0, len(before), max(1, len(before) // count))[:count]:
        lines.append(f"  {before[index]['problem']}  (answer {before[index]['answer']})")
        for step, row in ((first, before[index]), (last, after[index])):
            text = row["completion"].replace("\n", " ")
            text = text if len(text) <= 90 else text[:87] + "..."
            lines.append(f'    step {step:>3}: "{text}"  score {row["score"]:.2f}')  # as generated: no repr escapes
    return "\n".join(lines)


def _plot(log: Path, output: Path, title: str) -> Path | None:
    """``verl-ext plot``'s figure of the run; None (with a note) when it cannot be drawn."""
    try:
        from verl_ext.eval.plot import plot_runs
        from verl_ext.io.logs import read_metric_log

        return plot_runs([read_metric_log(log)], output, title=title)
    except Exception as exc:  # the log is the result; a missing figure must not fail the run
        print(f"note: no plot ({type(exc).__name__}: {exc})")
        return None


def summary_text(result: DemoResult) -> str:
    """The closing lines: start vs end of the headline metrics, held-out accuracy, where things are."""
    labels = {
        "critic/score/mean": "mean reward",
        "diagnostics/format_rate": "format rate",
        "response_length/mean": "mean length (tokens)",
        "diagnostics/accuracy": "accuracy (monitoring)",
    }
    lines = [f"done in {result.seconds:.0f} s (warm-up {result.warmup_seconds:.0f} s, GRPO {result.grpo_seconds:.0f} s); "
             f"step 1 (before any update) vs mean of the last {result.window} step(s):"]
    for key, label in labels.items():
        if key in result.start and key in result.end:
            lines.append(f"  {label:<22} {result.start[key]:7.3f} -> {result.end[key]:7.3f}")
    held_out = {"format": "held-out format", "acc": "held-out boxed acc", "latent_acc": "held-out latent acc"}
    for key in sorted(result.held_out_start):
        variable = key.split("/")[2] if key.count("/") >= 3 else ""
        if variable in held_out and key in result.held_out_end:
            lines.append(f"  {held_out[variable]:<22} {result.held_out_start[key]:7.3f} -> {result.held_out_end[key]:7.3f}")
    if result.distinct_answers:
        first, last = result.distinct_answers
        lines.append(f"  {'distinct boxed answers':<22} {first:7d} -> {last:7d}   (of {result.held_out_problems} held-out problems)")
    lines.append(f"log: {result.log}" + (f"\nplot: {result.plot}" if result.plot else ""))
    return "\n".join(lines)


# --- command line --------------------------------------------------------------------------------


def add_demo_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``demo`` (arguments and handler ``run_demo``) on a ``verl-ext`` subparsers object."""
    from verl_ext.demo.students import STUDENTS
    from verl_ext.rewards.presets import preset_names

    d = DemoConfig()
    capable = STUDENTS[d.student]

    def per_student(attribute: str) -> str:
        return ", ".join(f"{name} {getattr(student, attribute)}" for name, student in STUDENTS.items())

    parser = subparsers.add_parser(
        "demo",
        help="the main job on any machine: GRPO with a surrogate reward on a tiny model, on CPU (TRL)",
        description="Warm up a tiny locally built Qwen2 model on templated solutions of shipped arithmetic problems "
        "(most of them end in a plain sentence, a few box the answer), then train it with GRPO (TRL) rewarded by a "
        "verl-ext preset. Prints per-step reward, format rate, length and (monitoring) accuracy, and the held-out "
        "boxed and latent accuracy; writes a veRL-format metric log, curves.png, samples.jsonl and summary.json.",
    )
    parser.add_argument("--reward", default=d.reward, choices=preset_names(), help=f"reward preset (default {d.reward})")
    parser.add_argument("--student", default=d.student, choices=sorted(STUDENTS),
                        help=f"capable: {STUDENTS['capable'].description} (default); weak: {STUDENTS['weak'].description}")
    parser.add_argument("--steps", type=int, metavar="N", help=f"GRPO steps (default: {per_student('grpo_steps')})")
    parser.add_argument("--model", metavar="PATH", help="a local Hugging Face causal LM instead of the tiny model")
    parser.add_argument("--out", metavar="DIR", help="output folder (default verl-ext-demo/<reward>-seed<seed>)")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed of warm-up and GRPO (default {d.seed})")
    parser.add_argument("--warmup-steps", type=int, metavar="N",
                        help=f"supervised warm-up steps (default: {per_student('warmup_steps')}; 0 with --model)")
    parser.add_argument("--no-cache", action="store_true",
                        help="warm up afresh even when a warmed-up model with the same cache key is stored")
    parser.add_argument("--num-generations", type=int, default=d.num_generations, metavar="G", help=f"completions per prompt (default {d.num_generations})")
    parser.add_argument("--prompts-per-step", type=int, default=d.prompts_per_step, metavar="P", help=f"prompts per GRPO step (default {d.prompts_per_step})")
    parser.add_argument("--max-completion-length", type=int, metavar="TOKENS",
                        help=f"token budget of generation and of the length reward (default {capable.max_completion_length})")
    parser.add_argument("--lr", type=float, help=f"GRPO learning rate (default: {per_student('learning_rate')})")
    parser.add_argument("--kl-coef", type=float, metavar="BETA",
                        help=f"weight of the KL term to the warmed-up model (TRL's beta; veRL's kl_loss_coef) (default: {per_student('kl_coef')})")
    parser.add_argument("--eval-every", type=int, metavar="N", help=f"held-out evaluation every N steps (default {capable.eval_every})")
    parser.add_argument("--threads", type=int, default=d.threads, help=f"torch threads (default {d.threads}: fastest on a shared machine)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-step lines")
    parser.add_argument("--engine", default=d.engine, choices=ENGINES,
                        help=f"GRPO through TRL's GRPOTrainer or veRL 0.9.1's own trainer (main_ppo on verl-ext's CPU backend, "
                        f"Ray start-up included: minutes; needs a source checkout) (default {d.engine})")
    parser.set_defaults(handler=run_demo)


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    return DemoConfig(
        reward=args.reward, student=args.student, steps=args.steps, model=args.model, out=args.out, seed=args.seed,
        warmup_steps=args.warmup_steps, num_generations=args.num_generations, prompts_per_step=args.prompts_per_step,
        max_completion_length=args.max_completion_length, learning_rate=args.lr, kl_coef=args.kl_coef, eval_every=args.eval_every,
        threads=args.threads, progress=not args.quiet, use_cache=not args.no_cache, engine=args.engine,
    )


def run_demo(args: argparse.Namespace) -> int:
    """Handler of ``verl-ext demo``: 0 on success (bad options raise ValueError: the CLI answers 2)."""
    run(config_from_args(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m verl_ext.demo``: the same command without the ``verl-ext`` entry point."""
    import sys

    parser = argparse.ArgumentParser(prog="python -m verl_ext.demo")
    add_demo_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["demo", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.handler(args)
    except (ValueError, OSError) as exc:  # OSError: also a failed veRL trainer (--engine verl), as in verl_ext.cli
        print(f"verl-ext demo: error: {exc}", file=sys.stderr)
        return 2
