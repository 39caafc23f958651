"""Multi-seed measurement of the demo: one ``verl-ext demo`` process per (reward, seed), tables and a figure.

    python -m verl_ext.demo.measure --rewards correctness format format_length random --seeds 0 1 2 3 4 \\
        --out runs/capable --jobs 2 --nice 10
    python -m verl_ext.demo.measure --runs capable/format_length weak/format_length --seeds 0 1 --out runs/both

Each run is its own process (its wall time includes imports, as a user would see it); ``--jobs``
run side by side, seed by seed (a batch cut short leaves every reward with the same seeds); a
student's warm-up is cached per seed, so later rewards of a seed reuse it (fill the cache first with
``python -m verl_ext.demo.warm_cache --seeds ...`` to keep warm-ups out of the runs' wall times). Every run's
``summary.json`` gets its wall time and the load average at its start and end. Written to
``--out``: per student and reward ``<student>-<reward>.md`` (one row per seed, held-out start ->
end, then the mean; the rollouts' collapse monitors, majority ratio and distinct answers per prompt, from
step 1 to the mean of the last steps), ``rewards.md`` (the mean row of each), ``rewards-by-step.md``
(held-out accuracy and the collapse monitors every 5 steps), ``mean-<student>-<reward>.jsonl`` (the
seeds' metric logs averaged step by step, veRL file-logger format; ``min-``/``max-`` the same with the
minimum and maximum over seeds) and ``rewards.png``: ``verl-ext plot`` of those mean logs, whose first
panel is the held-out boxed accuracy of each reward per step with a min-max band over seeds and the
student's latent accuracy before GRPO as a dotted reference line (``verl-ext plot <out>/mean-*.jsonl``
draws the same figure without band and reference). ``--table-only`` rebuilds the tables and the
figure from existing runs. Options it does not know go to ``verl-ext demo``: ``--force`` runs again over
earlier runs' folders (the demo refuses a non-empty one without it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def run_one(student: str, reward: str, seed: int, out: Path, extra: list[str], nice: int) -> dict[str, Any]:
    """Run one (reward, seed) in a fresh process; adds wall time and load averages to its summary.json."""
    command = [
        sys.executable,
        "-m",
        "verl_ext.demo",
        "--reward",
        reward,
        "--student",
        student,
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    summary.update(wall_seconds=wall, load_average=[load_start, os.getloadavg()[0]])
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(
        f"{student} {reward} seed {seed}: {wall:.0f} s (load average {load_start:.1f} -> {os.getloadavg()[0]:.1f})",
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
    from verl_ext.io.logs import MetricLog

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
    """Markdown: per group (its mean log, ``logs[group]``), the held-out boxed accuracy (latent in brackets) every ``STEP_EVERY``
    steps, then the training rollouts' majority ratio and distinct answers per prompt at step 1 and every
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


def latent_reference(summaries: list[dict[str, Any]]) -> tuple[str, float] | None:
    """The figure's reference line: the warmed-up student's held-out latent accuracy before GRPO, mean over the
    runs (every reward of a seed starts from the same warmed-up student)."""
    values = [s["held_out_start"][LATENT] for s in summaries if LATENT in s.get("held_out_start", {})]
    if not values:
        return None
    return f"latent accuracy before GRPO (mean {sum(values) / len(values):.2f})", sum(values) / len(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verl_ext.demo.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--rewards", nargs="+", default=["format_length"], metavar="REWARD")
    parser.add_argument("--student", default="capable")
    parser.add_argument(
        "--runs",
        nargs="+",
        metavar="STUDENT/REWARD",
        help="instead of --student and --rewards: several students, e.g. capable/format weak/format_length",
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
        help="where the figure goes (default <out>/rewards.png); the table of means goes next to it as .md",
    )
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="only rebuild tables and figure from the runs that finished (others are left out, with a note)",
    )
    args, extra = parser.parse_known_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    groups = args.runs or [f"{args.student}/{reward}" for reward in args.rewards]
    for group in groups:
        if group.count("/") != 1:
            parser.error(f"--runs {group}: expected STUDENT/REWARD")
    # seed by seed, so that a batch cut short leaves every group with the same seeds
    jobs = [
        (group, seed, args.out / f"{group.replace('/', '-')}-seed{seed}") for seed in args.seeds for group in groups
    ]
    if not args.table_only:
        began = time.monotonic()

        def start(student: str, reward: str, seed: int, out: Path) -> dict[str, Any] | None:
            if args.start_within is not None and time.monotonic() - began > args.start_within:
                print(
                    f"note: {student} {reward} seed {seed} not started (--start-within {args.start_within:.0f} s passed)",
                    file=sys.stderr,
                )
                return None
            return run_one(student, reward, seed, out, extra, args.nice)

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(start, *group.split("/"), seed, out) for group, seed, out in jobs]
            for future in futures:
                future.result()
    by_group: dict[str, list[dict[str, Any]]] = {}
    logs: dict[str, list[Path]] = {}
    for group, seed, out in jobs:
        if not (out / "summary.json").exists():
            print(f"note: {out} has no summary.json (not run or not finished): left out", file=sys.stderr)
            continue
        by_group.setdefault(group, []).append(json.loads((out / "summary.json").read_text(encoding="utf-8")))
        reward = group.split("/")[1]
        logs.setdefault(group, []).append(out / f"{reward}-seed{seed}.jsonl")
    for group, summaries in by_group.items():
        text = seed_table(summaries)
        (args.out / f"{group.replace('/', '-')}.md").write_text(text + "\n", encoding="utf-8")
        print(f"**{group}**\n\n{text}\n")
    figure = args.figure or args.out / "rewards.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    text = reward_table(by_group)
    figure.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    print(text)
    from verl_ext.eval.plot import plot_runs
    from verl_ext.io.logs import read_metric_log

    reduced = {}  # group -> reduce -> the seeds' logs reduced, each seed's log read once
    for group, paths in logs.items():
        seed_logs = [read_metric_log(path) for path in paths]
        reduced[group] = {
            reduce: reduce_logs(seed_logs, args.out / f"{reduce}-{group.replace('/', '-')}.jsonl", reduce)
            for reduce in REDUCERS
        }
    means = {group: by_reduce["mean"] for group, by_reduce in reduced.items()}
    bands = [(by_reduce["min"], by_reduce["max"]) for by_reduce in reduced.values()]
    steps = step_table(means)
    figure.with_name(figure.stem + "-by-step.md").write_text(steps + "\n", encoding="utf-8")
    print(steps)
    figure = plot_runs(
        list(means.values()),
        figure,
        title="verl-ext demo: held-out boxed accuracy and training curves, mean over seeds (band: min-max)",
        bands=bands,
        reference=latent_reference([s for group in by_group.values() for s in group]),
    )
    print(f"wrote {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
