"""Multi-seed measurement of the demo: one ``verl-ext demo`` process per (reward, seed), tables and a figure.

    python -m verl_ext.demo.measure --rewards correctness format format_length random --seeds 0 1 2 3 4 \\
        --out runs/capable --jobs 2 --nice 10
    python -m verl_ext.demo.measure --runs capable/format_length weak/format_length --seeds 0 1 --out runs/both
    python -m verl_ext.demo.measure --student consistent --rewards majority correctness format random \\
        --seeds 0 1 2 3 4 --out runs/consistent --jobs 2 --steps 50          # mean@8 against maj@8, the collapse step
    python -m verl_ext.demo.measure --student consistent --rewards majority --engine verl \\
        --seeds 0 1 2 3 4 --out runs/consistent --steps 50                  # the same through veRL's trainer
    python -m verl_ext.demo.measure --runs consistent/majority consistent/majority@verl --out runs/consistent \\
        --table-only                                                        # both engines in one table

Each run is its own process (its wall time includes imports, as a user would see it); ``--jobs``
run side by side, seed by seed (a batch cut short leaves every reward with the same seeds); a
student's warm-up is cached per seed, so later rewards of a seed reuse it (fill the cache first with
``--before-grpo`` or ``python -m verl_ext.demo.warm_cache --seeds ...`` to keep warm-ups out of the runs' wall
times). Every run's ``summary.json`` gets its wall time and the load average at its start and end. A group is a
student, a reward and an engine (``--engine``, TRL by default; ``--runs STUDENT/REWARD@ENGINE``): another engine
than TRL labels its rows ``STUDENT/REWARD@ENGINE`` and its folders ``STUDENT-REWARD-ENGINE-seedN``, so both
engines' runs share one ``--out`` and one table. Written to
``--out``: per group ``<student>-<reward>.md`` (one row per seed, held-out start ->
end, then the mean; the rollouts' collapse monitors, majority ratio and distinct answers per prompt, from
step 1 to the mean of the last steps; then, when the runs sampled their held-out evaluation, one row per seed of
the sampled table below), ``rewards.md`` (the mean row of each), ``rewards-sampled.md`` (when the runs sampled
k completions per held-out problem, ``--eval-samples``, 8 by default: per reward, start -> peak -> end of mean@k and
of maj@k as mean (min-max) over seeds, the step of the mean@k peak, distinct answers per problem start -> end and
each run's collapse step, ``collapse_step_of``: ``verl_ext.eval.collapse_step`` of its training reward and its
mean@k), ``rewards-by-step.md``
(held-out accuracy and the collapse monitors every 5 steps; mean@k and maj@k too when sampled),
``mean-<student>-<reward>.jsonl`` (the
seeds' metric logs averaged step by step, veRL file-logger format; ``min-``/``max-`` the same with the
minimum and maximum over seeds), ``rewards.png``: ``verl-ext plot`` of those mean logs, whose first
panel is the held-out accuracy of each reward per step (mean@k when sampled, else the greedy boxed accuracy) with a
min-max band over seeds and a dotted reference line: maj@k before GRPO (``--reference maj``, the default, when
sampled), else the student's greedy latent accuracy before GRPO (``verl-ext plot <out>/mean-*.jsonl``
draws the same figure without band and reference), and when sampled ``rewards-sampled.png``: a panel per group,
mean@k with its band, maj@k, and maj@k before GRPO (``sampled_figure``). ``--table-only`` rebuilds the tables and
the figures from existing runs. Options it does not know go to every ``verl-ext demo`` run (``--steps 50
--eval-every 5``; those it sets per run, ``PER_RUN_OPTIONS``, are refused): ``--force`` runs again over
earlier runs' folders (the demo refuses a non-empty one without it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verl_ext.io.logs import MetricLog

ACC = "val-core/DEMO/acc/mean@1"
LATENT = "val-aux/DEMO/latent_acc/mean@1"
FORMAT = "val-aux/DEMO/format/mean@1"
LENGTH = "val-aux/DEMO/response_length/mean@1"
COLUMNS = ((FORMAT, "format rate"), (ACC, "boxed acc"), (LATENT, "latent acc"), (LENGTH, "mean length"))
REWARD_KEY = "critic/score/mean"
MAJORITY = "collapse/majority_ratio"
DISTINCT = "collapse/distinct_answers"
ROLLOUT_COLUMNS = (MAJORITY, DISTINCT)  # training rollouts: step 1 -> mean of the last steps (summary start/end)
STEP_EVERY = 5  # the by-step tables: every 5th step (and 0 / 1)
# How reduce_logs combines the seeds' values of a metric at a step: the mean log, and the figure's band.
REDUCERS = {"mean": lambda values: sum(values) / len(values), "min": min, "max": max}


DEFAULT_ENGINE = "trl"  # verl-ext demo's default engine: its groups are labelled without one
PER_RUN_OPTIONS = ("--reward", "--student", "--seed", "--out", "--engine", "--quiet")  # measure sets these per run


@dataclass(frozen=True)
class Group:
    """One measured configuration, run once per seed: a student, a reward preset and the GRPO engine."""

    student: str
    reward: str
    engine: str = DEFAULT_ENGINE

    @property
    def label(self) -> str:
        """``STUDENT/REWARD``, with ``@ENGINE`` for an engine other than the default (``consistent/majority@verl``)."""
        base = f"{self.student}/{self.reward}"
        return base if self.engine == DEFAULT_ENGINE else f"{base}@{self.engine}"

    def folder(self, seed: int) -> str:
        """The run folder of ``seed`` under ``--out``: ``consistent-majority-seed0``,
        ``consistent-majority-verl-seed0``."""
        engine = "" if self.engine == DEFAULT_ENGINE else f"-{self.engine}"
        return f"{self.student}-{self.reward}{engine}-seed{seed}"


def parse_group(text: str, engine: str = DEFAULT_ENGINE) -> Group:
    """``STUDENT/REWARD`` (run on ``engine``) or ``STUDENT/REWARD@ENGINE``; ValueError naming what is wrong."""
    from verl_ext.demo.engines.registry import ENGINES

    base, _, named = text.partition("@")
    engine = named or engine
    if base.count("/") != 1 or not all(base.split("/")):
        raise ValueError(f"{text!r}: expected STUDENT/REWARD or STUDENT/REWARD@ENGINE")
    if engine not in ENGINES:
        raise ValueError(f"{text!r}: unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    student, reward = base.split("/")
    return Group(student, reward, engine)


def demo_command(group: Group, seed: int, out: Path, extra: list[str], nice: int = 0) -> list[str]:
    """The ``verl-ext demo`` process of one (group, seed): its reward, student, seed, engine and folder, quiet, then
    ``extra`` (the demo options measure passes through: ``--steps 50 --eval-every 5``, say); under ``nice -n``."""
    command = [sys.executable, "-m", "verl_ext.demo", "--reward", group.reward, "--student", group.student]
    command += ["--seed", str(seed), "--engine", group.engine, "--out", str(out), "--quiet", *extra]
    return ["nice", "-n", str(nice), *command] if nice else command


def run_one(group: Group, seed: int, out: Path, extra: list[str], nice: int) -> dict[str, Any]:
    """Run one (group, seed) in a fresh process; adds wall time and load averages to its summary.json."""
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(demo_command(group, seed, out, extra, nice), check=True)
    wall = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    summary.update(wall_seconds=wall, load_average=[load_start, os.getloadavg()[0]])
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(
        f"{group.label} seed {seed}: {wall:.0f} s (load average {load_start:.1f} -> {os.getloadavg()[0]:.1f})",
        file=sys.stderr,
        flush=True,
    )
    return summary


def _cells(summary: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Start and end of each column of one run (held-out, greedy)."""
    cells = {}
    for key, _ in COLUMNS:
        start, end = summary["held_out_start"].get(key), summary["held_out_end"].get(key)
        if start is not None and end is not None:
            cells[key] = (start, end)
    distinct = summary.get("distinct_answers") or []
    if len(distinct) == 2:
        cells["distinct"] = (float(distinct[0]), float(distinct[1]))
    for key in ROLLOUT_COLUMNS:
        start, end = summary.get("start", {}).get(key), summary.get("end", {}).get(key)
        if start is not None and end is not None:
            cells[key] = (start, end)
    return cells


def _pair(key: str, start: float, end: float, runs: int) -> str:
    digits = (0 if runs == 1 else 1) if key == "distinct" else 1 if key in (LENGTH, DISTINCT) else 2
    return f"{start:.{digits}f} → {end:.{digits}f}"


HEAD = [
    "format rate",
    "boxed acc",
    "latent acc",
    "mean length (tokens)",
    "distinct boxed answers",
    "majority ratio (rollouts)",
    "distinct answers / prompt (rollouts)",
    "wall s",
    "load avg",
]


def _row(label: str, summaries: list[dict[str, Any]]) -> list[str]:
    """One table row: means over ``summaries`` of start -> end per column, wall time and load average."""
    row = [label]
    cells = [_cells(s) for s in summaries]
    for key in [k for k, _ in COLUMNS] + ["distinct", *ROLLOUT_COLUMNS]:
        pairs = [c[key] for c in cells if key in c]
        if not pairs:
            row.append("-")
            continue
        row.append(_pair(key, sum(p[0] for p in pairs) / len(pairs), sum(p[1] for p in pairs) / len(pairs), len(pairs)))
    walls = [s.get("wall_seconds", s["seconds"]) for s in summaries]
    row.append(f"{sum(walls) / len(walls):.0f}")
    loads = [sum(s["load_average"]) / 2 for s in summaries if "load_average" in s]
    row.append(f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-")
    return row


def _markdown(first: str, rows: list[list[str]]) -> str:
    head = [first, *HEAD]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def seed_table(summaries: list[dict[str, Any]]) -> str:
    """Markdown: one row per seed (held-out start -> end), then the mean over seeds."""
    rows = [_row(str(s["config"]["seed"]), [s]) for s in summaries]
    if len(summaries) > 1:
        rows.append(_row(f"mean of {len(summaries)}", summaries))
    return _markdown("seed", rows)


def reward_table(by_group: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown: per student/reward, the mean over its seeds."""
    return _markdown("student/reward (seeds)", [_row(f"{group} ({len(s)})", s) for group, s in by_group.items()])


def reduce_logs(logs: list[MetricLog], output: Path, reduce: str = "mean") -> MetricLog:
    """The metric logs reduced step by step (steps and metrics present in every log: their ``reduce``, one of
    ``REDUCERS``), written to ``output`` as veRL file-logger JSONL; returned as reading ``output`` gives it."""
    if reduce not in REDUCERS:
        raise ValueError(f"reduce must be one of {', '.join(REDUCERS)}, got {reduce!r}")
    steps: dict[int, dict[str, float]] = {}
    for step in sorted(set.intersection(*(set(log.steps) for log in logs))):
        names = set.intersection(*(set(log.steps[step]) for log in logs))
        steps[step] = {name: REDUCERS[reduce]([log.steps[step][name] for log in logs]) for name in sorted(names)}
    with open(output, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"step": step, "data": data}) + "\n" for step, data in steps.items())
    return MetricLog(name=output.stem, path=str(output), layout="file_logger", steps=steps)


def mean_log(logs: list[Path], output: Path, reduce: str = "mean") -> Path:
    """:func:`reduce_logs` of the metric log files ``logs``; returns ``output``."""
    from verl_ext.io.logs import read_metric_log

    reduce_logs([read_metric_log(path) for path in logs], output, reduce)
    return output


def step_table(logs: dict[str, MetricLog]) -> str:
    """Markdown: per group (its mean log, ``logs[group]``), the held-out boxed accuracy (latent in brackets) every
    ``STEP_EVERY`` steps, then the training rollouts' majority ratio and distinct answers per prompt at step 1 and every
    ``STEP_EVERY`` steps (a majority ratio climbing to 1 with distinct answers falling to 1: collapse)."""
    evaluated = sorted({s for log in logs.values() for s, v in log.steps.items() if ACC in v})
    evaluated = [s for s in evaluated if s % STEP_EVERY == 0 or s == max(evaluated)]
    trained = sorted({s for log in logs.values() for s, v in log.steps.items() if MAJORITY in v})
    trained = [s for s in trained if s == 1 or s % STEP_EVERY == 0 or s == max(trained)]

    def cell(log, step: int, *keys: str) -> str:
        values = log.steps.get(step, {})
        if keys[0] not in values:
            return "-"
        return " ".join(
            f"{values[k]:.2f}" if i == 0 else f"({values[k]:.2f})" for i, k in enumerate(keys) if k in values
        )

    lines = [
        "**held-out boxed accuracy (latent) by step**",
        "",
        "| group | " + " | ".join(f"step {s}" for s in evaluated) + " |",
        "|---|" + "---|" * len(evaluated),
    ]
    lines += [
        f"| {group} | " + " | ".join(cell(log, s, ACC, LATENT) for s in evaluated) + " |" for group, log in logs.items()
    ]
    lines += [
        "",
        "**training rollouts: majority ratio (distinct answers per prompt) by step**",
        "",
        "| group | " + " | ".join(f"step {s}" for s in trained) + " |",
        "|---|" + "---|" * len(trained),
    ]
    lines += [
        f"| {group} | " + " | ".join(cell(log, s, MAJORITY, DISTINCT) for s in trained) + " |"
        for group, log in logs.items()
    ]
    return "\n".join(lines)


# --- the sampled evaluation (mean@k, maj@k): how far a signal moves mean@k towards maj@k, at what cost -------------

_SAMPLED_ACC = re.compile(r"^val-core/DEMO/acc/mean@(\d+)$")


def sampled_k(logs: list[MetricLog]) -> int | None:
    """The samples per problem of the logs' sampled evaluation (the largest k >= 2 of ``val-core/DEMO/acc/mean@k``
    any of them logged); None when none did (``--eval-samples 0``)."""
    found = [int(m[1]) for log in logs for name in log.names() if (m := _SAMPLED_ACC.match(name)) and int(m[1]) >= 2]
    return max(found, default=None)


def sampled_names(k: int) -> dict[str, str]:
    """The sampled evaluation's metric names (``evaluate.summarize_sampled``): mean@k, maj@k, distinct answers."""
    return {
        "mean": f"val-core/DEMO/acc/mean@{k}",
        "maj": f"val-core/DEMO/acc/maj@{k}/mean",
        "distinct": f"val-aux/DEMO/distinct_answers/mean@{k}",
    }


@dataclass(frozen=True)
class Course:
    """One held-out metric of one run over its evaluations: first (before GRPO), highest (the earliest step
    reaching it) and last value."""

    start: float
    peak: float
    peak_step: int
    end: float


def course(log: MetricLog, metric: str) -> Course | None:
    """``metric``'s course over the steps ``log`` evaluated it at; None when it never did."""
    points = log.series(metric)
    if not points:
        return None
    peak_step, peak = max(points, key=lambda point: (point[1], -point[0]))
    return Course(points[0][1], peak, peak_step, points[-1][1])


def collapse_step_of(log: MetricLog, metric: str) -> int | None:
    """The collapse step of one run, as the tables report it: ``verl_ext.eval.collapse_step.collapse_step`` (the
    project's definition, its default tolerance 0.01, min_drop 0.05 and min_after 2) of the run's training reward
    (``critic/score/mean`` per step) and its held-out ``metric`` (per evaluation); None when it has none.
    CollapseError naming the log when it lacks either series."""
    from verl_ext.eval.collapse_step import CollapseError, collapse_step

    try:
        return collapse_step(log.series(REWARD_KEY), log.series(metric)).step
    except CollapseError as error:
        raise CollapseError(f"{log.path}: {error} ({REWARD_KEY} and {metric})") from error


def _spread(values: list[float], digits: int) -> str:
    """``mean (min-max)`` of ``values``; the bare value for one."""
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _course_cell(courses: list[Course]) -> str:
    return " → ".join(_spread([getattr(c, part) for c in courses], 2) for part in ("start", "peak", "end"))


def _collapse_cell(steps: list[int | None]) -> str:
    found = [step for step in steps if step is not None]
    if not found:
        return f"none of {len(steps)}"
    return f"{len(found)} of {len(steps)}: step {', '.join(str(step) for step in found)}"


SAMPLED_HEAD = [
    "mean@{k} start → peak → end",
    "peak step",
    "maj@{k} start → peak → end",
    "distinct answers@{k} start → end",
    "collapse step",
]


def sampled_row(label: str, logs: list[MetricLog], k: int) -> list[str] | None:
    """One row of ``sampled_table``: over ``logs`` (one per seed), mean (min-max) of the start, peak and end of
    mean@k and of maj@k, the step of the mean@k peak, distinct answers per problem start -> end and the collapse
    steps (``collapse_step_of`` on mean@k). None when a log lacks the sampled evaluation."""
    names = sampled_names(k)
    means = [course(log, names["mean"]) for log in logs]
    majorities = [course(log, names["maj"]) for log in logs]
    distinct = [course(log, names["distinct"]) for log in logs]
    if any(c is None for c in (*means, *majorities, *distinct)):
        return None
    return [
        label,
        _course_cell(means),  # type: ignore[arg-type]
        _spread([float(c.peak_step) for c in means], 0),  # type: ignore[union-attr]
        _course_cell(majorities),  # type: ignore[arg-type]
        f"{_spread([c.start for c in distinct], 1)} → {_spread([c.end for c in distinct], 1)}",  # type: ignore[union-attr]
        _collapse_cell([collapse_step_of(log, names["mean"]) for log in logs]),
    ]


def sampled_table(logs: dict[str, list[MetricLog]], k: int, first: str = "student/reward (seeds)") -> str:
    """Markdown: per group (its seeds' metric logs), the held-out sampled evaluation's course (``sampled_row``),
    labelled with its number of seeds unless the first column is ``seed``; groups without it are left out."""
    counted = first != "seed"
    rows = [
        row
        for group, seed_logs in logs.items()
        if (row := sampled_row(f"{group} ({len(seed_logs)})" if counted else group, seed_logs, k))
    ]
    head = [first, *(column.format(k=k) for column in SAMPLED_HEAD)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def sampled_step_table(logs: dict[str, MetricLog], k: int) -> str:
    """Markdown: per group (its mean log), held-out mean@k (maj@k in brackets) at step 0 and every ``STEP_EVERY``."""
    names = sampled_names(k)
    evaluated = sorted({s for log in logs.values() for s, v in log.steps.items() if names["mean"] in v})
    evaluated = [s for s in evaluated if s % STEP_EVERY == 0 or s == max(evaluated)]

    def cell(log: MetricLog, step: int) -> str:
        values = log.steps.get(step, {})
        if names["mean"] not in values:
            return "-"
        majority = f" ({values[names['maj']]:.2f})" if names["maj"] in values else ""
        return f"{values[names['mean']]:.2f}{majority}"

    lines = [
        f"**held-out mean@{k} (maj@{k}) by step**",
        "",
        "| group | " + " | ".join(f"step {s}" for s in evaluated) + " |",
        "|---|" + "---|" * len(evaluated),
    ]
    lines += [f"| {group} | " + " | ".join(cell(log, s) for s in evaluated) + " |" for group, log in logs.items()]
    return "\n".join(lines)


def majority_reference(summaries: list[dict[str, Any]], k: int) -> tuple[str, float] | None:
    """The figure's reference line for the sampled evaluation: held-out maj@k before GRPO, mean over the runs."""
    name = sampled_names(k)["maj"]
    values = [s["held_out_start"][name] for s in summaries if name in s.get("held_out_start", {})]
    if not values:
        return None
    return f"maj@{k} before GRPO (mean {sum(values) / len(values):.2f})", sum(values) / len(values)


def before_grpo(student: str, seeds: list[int], samples: int = 8, temperature: float = 1.0) -> str:
    """Markdown: per seed, the warmed-up student's held-out evaluation before any GRPO step, as ``verl-ext demo``'s
    step 0 gives it (the warm cache's model, built when missing; greedy, then ``samples`` sampled completions per
    problem at ``temperature`` drawn from the seed): greedy boxed accuracy, mean@k, maj@k, distinct answers; then
    the mean over seeds."""
    from verl_ext.demo.config import DemoConfig, checked
    from verl_ext.demo.evaluate import score_sampled, score_samples, summarize, summarize_sampled
    from verl_ext.demo.pipeline import prepare_process
    from verl_ext.demo.student import load_student

    names, head = sampled_names(samples), ["seed", "greedy boxed acc", f"mean@{samples}", f"maj@{samples}"]
    head.append(f"distinct answers@{samples}")
    rows = []
    for seed in seeds:
        config = checked(DemoConfig(student=student, seed=seed, temperature=temperature, progress=False))
        prepare_process(config)
        loaded = load_student(config)
        greedy = summarize(
            score_samples(loaded.model, loaded.tokenizer, loaded.test, "format", config.max_completion_length)
        )
        sampled = summarize_sampled(
            score_sampled(
                loaded.model, loaded.tokenizer, loaded.test, samples, config.max_completion_length, temperature, seed
            )
        )
        rows.append([greedy["val-core/DEMO/acc/mean@1"], sampled[names["mean"]], sampled[names["maj"]]])
        rows[-1].append(sampled[names["distinct"]])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += [
        f"| {seed} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for seed, row in zip(seeds, rows, strict=True)
    ]
    if len(rows) > 1:
        means = [sum(column) / len(column) for column in zip(*rows, strict=True)]
        lines.append(f"| mean of {len(rows)} | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    return "\n".join(lines)


def sampled_figure(
    means: dict[str, MetricLog],
    bands: dict[str, tuple[MetricLog, MetricLog]],
    k: int,
    output: Path,
    reference: tuple[str, float] | None = None,
    columns: int = 4,
) -> Path:
    """One panel per group (its seeds' mean log ``means[group]``, the min and max logs ``bands[group]``): held-out
    mean@k per evaluation step, solid, with its min-max band over seeds; maj@k dashed; ``reference`` (maj@k before
    GRPO) dotted black. Every panel has the same fixed accuracy axis, up to 1, from 0.5 or lower when a band goes
    lower, so that the panels compare at a glance. Written to ``output`` (png); returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from verl_ext.io.output import prepare_output_path

    names = sampled_names(k)
    lows = [v for low, _ in bands.values() for _, v in low.series(names["mean"])]
    bottom = min(0.5, *(int(v * 10) / 10 for v in lows)) if lows else 0.0
    rows = -(-len(means) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.6 * columns, 2.8 * rows + 0.6), sharex=True, sharey=True, squeeze=False
    )
    for index, (label, log) in enumerate(means.items()):
        ax = axes[index // columns][index % columns]
        points = log.series(names["mean"])
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, color="tab:blue", marker="o", markersize=3, linewidth=1.6, label=f"mean@{k}")
        low, high = bands[label]
        top = dict(high.series(names["mean"]))
        shaded = [(step, value, top[step]) for step, value in low.series(names["mean"]) if step in top]
        if shaded:
            steps, bottoms, tops = zip(*shaded)
            ax.fill_between(steps, bottoms, tops, color="tab:blue", alpha=0.18, linewidth=0, label="min-max over seeds")
        majority = log.series(names["maj"])
        if majority:
            steps, values = zip(*majority)
            ax.plot(steps, values, color="tab:orange", linestyle="--", linewidth=1.3, label=f"maj@{k}")
        if reference is not None:
            ax.axhline(reference[1], color="black", linestyle=":", linewidth=1.2, label=reference[0])
        ax.set_title(label, fontsize=10)
        ax.set_ylim(bottom, 1.0)
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if index % columns == 0:
            ax.set_ylabel("held-out accuracy")
        if index // columns == rows - 1 or index + columns >= len(means):
            ax.set_xlabel("GRPO step")
            ax.tick_params(labelbottom=True)
    for index in range(len(means), rows * columns):
        axes[index // columns][index % columns].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=9)
    fig.suptitle(f"held-out mean@{k} per reward: mean over seeds, band min-max; maj@{k} dashed", fontsize=12)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    try:
        output = prepare_output_path(output, example_name="rewards-sampled.png")
        fig.savefig(output, format="png", dpi=110)
    finally:
        plt.close(fig)
    return output


def latent_reference(summaries: list[dict[str, Any]]) -> tuple[str, float] | None:
    """The figure's reference line: the warmed-up student's held-out latent accuracy before GRPO, mean over the
    runs (every reward of a seed starts from the same warmed-up student)."""
    values = [s["held_out_start"][LATENT] for s in summaries if LATENT in s.get("held_out_start", {})]
    if not values:
        return None
    return f"latent accuracy before GRPO (mean {sum(values) / len(values):.2f})", sum(values) / len(values)


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev off: a demo option passed through (--steps, --seed) must not be read as one of measure's (--seeds)
    parser = argparse.ArgumentParser(
        prog="python -m verl_ext.demo.measure",
        description=__doc__.splitlines()[0],
        epilog="Other options go to every verl-ext demo run as given, e.g. --steps 50 --eval-every 5 --kl-coef 0.3.",
        allow_abbrev=False,
    )
    parser.add_argument("--rewards", nargs="+", default=["format_length"], metavar="REWARD")
    parser.add_argument("--student", default="capable")
    parser.add_argument(
        "--engine",
        default=DEFAULT_ENGINE,
        help=f"the GRPO engine of the --student/--rewards runs and of --runs that name none (verl-ext demo --engine; "
        f"default {DEFAULT_ENGINE}); another engine's runs are labelled STUDENT/REWARD@ENGINE, their folders "
        "STUDENT-REWARD-ENGINE-seedN",
    )
    parser.add_argument(
        "--runs",
        nargs="+",
        metavar="STUDENT/REWARD[@ENGINE]",
        help="instead of --student and --rewards: several students or engines, e.g. capable/format weak/format_length "
        "consistent/majority@verl",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=Path("verl-ext-demo/measure"))
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (default 1)")
    parser.add_argument("--nice", type=int, default=0, help="run each demo under nice -n N (default 0: not)")
    parser.add_argument(
        "--start-within",
        type=float,
        metavar="SECONDS",
        help="start no run later than SECONDS after the batch began (the rest are left out, with a note)",
    )
    parser.add_argument(
        "--figure",
        type=Path,
        metavar="FILE.png",
        help="where the figure goes (default <out>/rewards.png); the table of means goes next to it as .md, and with "
        "a sampled evaluation the per-reward mean@k figure as <stem>-sampled.png",
    )
    parser.add_argument(
        "--reference",
        choices=("maj", "latent"),
        default="maj",
        help="the figure's reference line: held-out maj@k before GRPO (default; the latent accuracy when the runs "
        "logged no sampled evaluation) or the greedy latent accuracy before GRPO",
    )
    parser.add_argument(
        "--before-grpo",
        action="store_true",
        help="only evaluate each seed's warmed-up student before GRPO (greedy, mean@8, maj@8; built when not cached), "
        "print the table and write it to <out>/<student>-before-grpo.md",
    )
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="only rebuild tables and figure from the runs that finished (others are left out, with a note)",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[Group], list[str]]:
    """(measure's options, the groups to run, the options passed through to every ``verl-ext demo`` run). Exits with
    a usage error naming the setting for a bad group, ``--jobs`` < 1, or a passed-through option measure sets per run
    (``PER_RUN_OPTIONS``)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    for option in extra:
        if option.split("=", 1)[0] in PER_RUN_OPTIONS:
            parser.error(
                f"{option}: measure sets it for each run (use --rewards, --student, --seeds, --out, --engine or --runs)"
            )
    try:
        groups = [parse_group(text, args.engine) for text in args.runs or []] or [
            parse_group(f"{args.student}/{reward}", args.engine) for reward in args.rewards
        ]
    except ValueError as error:
        parser.error(f"--runs/--rewards/--engine: {error}")
    return args, groups, extra


def main(argv: list[str] | None = None) -> int:
    args, groups, extra = parse_args(argv)
    if args.before_grpo:
        text = before_grpo(args.student, args.seeds)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.student}-before-grpo.md").write_text(text + "\n", encoding="utf-8")
        print(text)
        return 0
    # seed by seed, so that a batch cut short leaves every group with the same seeds
    jobs = [(group, seed, args.out / group.folder(seed)) for seed in args.seeds for group in groups]
    if not args.table_only:
        began = time.monotonic()

        def start(group: Group, seed: int, out: Path) -> dict[str, Any] | None:
            if args.start_within is not None and time.monotonic() - began > args.start_within:
                print(
                    f"note: {group.label} seed {seed} not started (--start-within {args.start_within:.0f} s passed)",
                    file=sys.stderr,
                )
                return None
            return run_one(group, seed, out, extra, args.nice)

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(start, group, seed, out) for group, seed, out in jobs]
            for future in futures:
                future.result()
    from verl_ext.io.logs import read_metric_log

    by_group: dict[str, list[dict[str, Any]]] = {}
    logs: dict[str, list[MetricLog]] = {}  # group label -> its seeds' metric logs, each read once
    for group, seed, out in jobs:
        if not (out / "summary.json").exists():
            print(f"note: {out} has no summary.json (not run or not finished): left out", file=sys.stderr)
            continue
        by_group.setdefault(group.label, []).append(json.loads((out / "summary.json").read_text(encoding="utf-8")))
        logs.setdefault(group.label, []).append(read_metric_log(out / f"{group.reward}-seed{seed}.jsonl"))
    k = sampled_k([log for seed_logs in logs.values() for log in seed_logs])
    for label, summaries in by_group.items():
        text = seed_table(summaries)
        if k:
            seeds = {str(s["config"]["seed"]): [log] for s, log in zip(summaries, logs[label], strict=True)}
            text += "\n\n" + sampled_table(seeds, k, first="seed")
        (args.out / f"{label.replace('/', '-').replace('@', '-')}.md").write_text(text + "\n", encoding="utf-8")
        print(f"**{label}**\n\n{text}\n")
    figure = args.figure or args.out / "rewards.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    text = reward_table(by_group)
    figure.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    print(text)
    if k:
        text = sampled_table(logs, k)
        figure.with_name(figure.stem + "-sampled.md").write_text(text + "\n", encoding="utf-8")
        print(f"\n{text}")
    from verl_ext.eval.plot import plot_runs

    reduced = {  # group label -> reduce -> the seeds' logs reduced
        label: {
            reduce: reduce_logs(
                seed_logs, args.out / f"{reduce}-{label.replace('/', '-').replace('@', '-')}.jsonl", reduce
            )
            for reduce in REDUCERS
        }
        for label, seed_logs in logs.items()
    }
    means = {label: by_reduce["mean"] for label, by_reduce in reduced.items()}
    bands = {label: (by_reduce["min"], by_reduce["max"]) for label, by_reduce in reduced.items()}
    steps = step_table(means) + (f"\n\n{sampled_step_table(means, k)}" if k else "")
    figure.with_name(figure.stem + "-by-step.md").write_text(steps + "\n", encoding="utf-8")
    print(steps)
    summaries = [s for group in by_group.values() for s in group]
    reference = majority_reference(summaries, k) if k and args.reference == "maj" else latent_reference(summaries)
    accuracy = f"held-out mean@{k} (sampled; latent dashed)" if k else "held-out boxed accuracy"
    written = plot_runs(
        list(means.values()),
        figure,
        title=f"verl-ext demo: {accuracy} and training curves, mean over seeds (band: min-max)",
        bands=list(bands.values()),
        reference=reference,
    )
    print(f"wrote {written}")
    if k:
        written = sampled_figure(
            means, bands, k, figure.with_name(figure.stem + "-sampled.png"), majority_reference(summaries, k)
        )
        print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
