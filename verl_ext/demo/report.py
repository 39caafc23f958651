"""Stage 5 of the demo: the report. Whatever the engine, a run ends with ``curves.png`` (``verl-ext plot``'s
figure of the metric log, ``metrics_log.py``), ``summary.json`` (``DemoResult``) and the closing lines: start
vs end of the headline metrics and a few held-out completions before and after (all of them are in
``samples.jsonl``, written by the held-out evaluation). The opening lines are here too."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from verl_ext.demo.config import DEFAULT_ENGINE, DemoConfig, DemoResult
from verl_ext.demo.evaluate import distinct_answers
from verl_ext.demo.students import get_student
from verl_ext.demo.warmup import WarmupResult

END_WINDOW = 5
HEADLINE = (
    "critic/score/mean",
    "diagnostics/format_rate",
    "response_length/mean",
    "diagnostics/accuracy",
    "diagnostics/length_reward_mean",
    "collapse/majority_ratio",
    "collapse/distinct_answers",
)
PLOT_FILE = "curves.png"
SUMMARY_FILE = "summary.json"
SAMPLES_FILE = "samples.jsonl"
SAMPLED_FILE = "sampled.jsonl"


def opening_line(config: DemoConfig) -> str:
    """What runs: engine (when not the default), reward, student, steps, seed, threads, output folder."""
    engine = "" if config.engine == DEFAULT_ENGINE else f" (engine {config.engine})"
    student = get_student(config.student)
    return (
        f"verl-ext demo{engine}: reward {config.reward}, {config.student} student ({student.description}), "
        f"{config.steps} GRPO steps, seed {config.seed}, {config.threads} thread(s) -> {config.out_dir()}"
    )


def student_lines(source: str, parameters: int, warmup: WarmupResult, cached: bool) -> list[str]:
    """The model and, when there was one, its warm-up (run now or reused from the cache)."""
    lines = [f"model {source} ({parameters:,} parameters)"]
    if warmup.steps:
        origin = f"reused from the cache (it took {warmup.seconds:.0f} s)" if cached else f"in {warmup.seconds:.0f} s"
        lines.append(f"warm-up: {warmup.steps} steps {origin}, loss {warmup.first_loss:.2f} -> {warmup.last_loss:.2f}")
    return lines


def plot_title(config: DemoConfig, engine_label: str) -> str:
    """The figure's title; with a sampled evaluation it says the accuracy panel is mean@k (``verl-ext plot`` draws the
    largest k a log holds)."""
    engine = "" if config.engine == DEFAULT_ENGINE else f" ({engine_label})"
    sampled = f" (held-out accuracy: mean@{config.eval_samples}, sampled)" if config.eval_samples else ""
    return f"verl-ext demo{engine}: {config.reward}, {config.student} student, seed {config.seed}{sampled}"


def window_means(history: dict[int, dict[str, float]], steps: list[int]) -> dict[str, float]:
    """Mean of each headline metric over ``steps`` (the steps that logged it)."""
    means = {}
    for key in HEADLINE:
        values = [history[s][key] for s in steps if key in history.get(s, {})]
        if values:
            means[key] = sum(values) / len(values)
    return means


def held_out_metrics(history: dict[int, dict[str, float]], step: int) -> dict[str, float]:
    return {k: v for k, v in history.get(step, {}).items() if k.startswith("val-")}


def write_report(
    config: DemoConfig,
    history: dict[int, dict[str, float]],
    samples: dict[int, list[dict[str, Any]]],
    *,
    title: str,
    started: float,
    grpo_seconds: float,
    warmup: WarmupResult,
    cached: bool,
    parameters: int,
    held_out_problems: int,
    say: Callable[[str], None],
) -> DemoResult:
    """``curves.png``, ``summary.json`` and the closing lines of a run that began at ``started``
    (``time.perf_counter``)."""
    out = config.out_dir()
    plot = plot_log(config.log_path(), out / PLOT_FILE, title)
    window = min(END_WINDOW, config.steps)
    steps = sorted(s for s in history if s > 0)
    result = DemoResult(
        log=str(config.log_path()),
        plot=None if plot is None else str(plot),
        seconds=time.perf_counter() - started,
        warmup_seconds=0.0 if cached else warmup.seconds,
        warmup_cached=cached,
        grpo_seconds=grpo_seconds,
        parameters=parameters,
        window=window,
        start=window_means(history, steps[:1]),
        end=window_means(history, steps[-window:]),
        held_out_start=held_out_metrics(history, 0),
        held_out_end=held_out_metrics(history, steps[-1] if steps else 0),
        held_out_problems=held_out_problems,
        held_out_by_step=[
            {"step": step, **held_out_metrics(history, step)}
            for step in sorted(history)
            if held_out_metrics(history, step)
        ],
        distinct_answers=[distinct_answers(samples[min(samples)]), distinct_answers(samples[max(samples)])],
        config=asdict(config),
    )
    (out / SUMMARY_FILE).write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    say(summary_text(result))
    if samples:
        say(examples_text(samples[min(samples)], samples[max(samples)], min(samples), max(samples)))
    return result


def examples_text(
    before: list[dict[str, Any]], after: list[dict[str, Any]], first: int, last: int, count: int = 3
) -> str:
    """A few held-out problems with their greedy completions at steps ``first`` and ``last``: what the scores reward."""
    lines = [f"held-out completions (greedy; all in {SAMPLES_FILE}), step {first} -> step {last}:"]
    for index in range(0, len(before), max(1, len(before) // count))[:count]:
        lines.append(f"  {before[index]['problem']}  (answer {before[index]['answer']})")
        for step, row in ((first, before[index]), (last, after[index])):
            text = row["completion"].replace("\n", " ")
            text = text if len(text) <= 90 else text[:87] + "..."
            score = "" if row["score"] is None else f"  score {row['score']:.2f}"  # None: a group or log-prob reward
            lines.append(f'    step {step:>3}: "{text}"{score}')  # as generated: no repr escapes
    return "\n".join(lines)


def plot_log(log: Path, output: Path, title: str) -> Path | None:
    """``verl-ext plot``'s figure of the run; None (with a note) when it cannot be drawn."""
    try:
        from verl_ext.eval.plot import plot_runs
        from verl_ext.io.logs import read_metric_log

        return plot_runs([read_metric_log(log)], output, title=title)
    except Exception as exc:  # the log is the result; a missing figure must not fail the run
        print(f"note: no plot ({type(exc).__name__}: {exc})")
        return None


HELD_OUT_LABELS = {
    ("format", "mean", False): "held-out format",
    ("latent_acc", "mean", False): "held-out latent acc",
    ("acc", "mean", False): "held-out boxed acc",
    ("acc", "mean", True): "held-out mean@{k}",
    ("acc", "maj", True): "held-out maj@{k}",
    ("distinct_answers", "mean", True): "distinct answers@{k}",
}
"""The held-out metrics of the closing lines: (variable, statistic, sampled) -> label (``{k}``: samples per problem);
greedy metrics are ``<statistic>@1``, sampled ones ``<statistic>@k`` (``maj@k/mean``) with k >= 2."""
_HELD_OUT = re.compile(r"^val-(?:core|aux)/[^/]+/(?P<variable>[^/]+)/(?P<statistic>mean|maj)@(?P<k>\d+)(?:/mean)?$")


def held_out_lines(metrics: dict[str, float]) -> list[tuple[str, str]]:
    """``(metric name, label)`` of the closing lines' held-out metrics found in ``metrics`` (veRL-named, as
    ``evaluate.summarize`` and ``summarize_sampled`` write them), in ``HELD_OUT_LABELS``' order."""
    found: dict[tuple[str, str, bool], list[tuple[str, str]]] = {}
    for key in sorted(metrics):
        match = _HELD_OUT.match(key)
        if match:
            kind = (match["variable"], match["statistic"], match["k"] != "1")
            if kind in HELD_OUT_LABELS:
                found.setdefault(kind, []).append((key, HELD_OUT_LABELS[kind].format(k=match["k"])))
    return [line for kind in HELD_OUT_LABELS for line in found.get(kind, [])]


def summary_text(result: DemoResult) -> str:
    """The closing lines: start vs end of the headline metrics, held-out accuracy, where things are."""
    labels = {
        "critic/score/mean": "mean reward",
        "diagnostics/format_rate": "format rate",
        "response_length/mean": "mean length (tokens)",
        "diagnostics/accuracy": "accuracy (monitoring)",
        "collapse/majority_ratio": "majority ratio",
        "collapse/distinct_answers": "distinct answers/group",
    }
    lines = [
        f"done in {result.seconds:.0f} s (warm-up {result.warmup_seconds:.0f} s, GRPO {result.grpo_seconds:.0f} s); "
        f"step 1 (before any update) vs mean of the last {result.window} step(s):"
    ]
    for key, label in labels.items():
        if key in result.start and key in result.end:
            lines.append(f"  {label:<22} {result.start[key]:7.3f} -> {result.end[key]:7.3f}")
    for key, label in held_out_lines(result.held_out_start):
        if key in result.held_out_end:
            lines.append(f"  {label:<22} {result.held_out_start[key]:7.3f} -> {result.held_out_end[key]:7.3f}")
    if result.distinct_answers:
        first, last = result.distinct_answers
        lines.append(
            f"  {'distinct boxed answers':<22} {first:7d} -> {last:7d}   "
            f"(of {result.held_out_problems} held-out problems)"
        )
    lines.append(f"log: {result.log}" + (f"\nplot: {result.plot}" if result.plot else ""))
    return "\n".join(lines)
