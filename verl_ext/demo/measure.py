"""Multi-seed measurement of the demo: one ``verl-ext demo`` process per (reward, seed), tables and a figure.

    python -m verl_ext.demo.measure --rewards correctness format format_length random --seeds 0 1 2 3 4 \\
        --out runs/capable --jobs 2 --nice 10
    python -m verl_ext.demo.measure --student weak --rewards format_length --seeds 0 1 2 3 4 --out runs/weak

Each run is its own process (its wall time includes imports, as a user would see it); ``--jobs``
run side by side, reward by reward, so that the first runs of different seeds warm up their
students at the same time and later rewards reuse them from the cache. Every run's
``summary.json`` gets its wall time and the load average at its start and end. Written to
``--out``: per reward ``<reward>.md`` (one row per seed, start -> end, then the mean),
``rewards.md`` (the mean row of every reward), ``mean-<reward>.jsonl`` (the seeds' metric logs
averaged step by step, veRL file-logger format) and ``rewards.png``: ``verl-ext plot`` of those
mean logs, i.e. the held-out boxed accuracy of each reward per step (the same figure as
``verl-ext plot <out>/mean-*.jsonl -o rewards.png``). ``--table-only`` rebuilds the tables and the
figure from existing runs. Options it does not know go to ``verl-ext demo``.
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
from typing import Any

ACC = "val-core/DEMO/acc/mean@1"
LATENT = "val-aux/DEMO/latent_acc/mean@1"
FORMAT = "val-aux/DEMO/format/mean@1"
LENGTH = "val-aux/DEMO/response_length/mean@1"
COLUMNS = ((FORMAT, "format rate"), (ACC, "boxed acc"), (LATENT, "latent acc"), (LENGTH, "mean length"))
REWARD_KEY = "critic/score/mean"


def run_one(reward: str, seed: int, out: Path, student: str, extra: list[str], nice: int) -> dict[str, Any]:
    """Run one (reward, seed) in a fresh process; adds wall time and load averages to its summary.json."""
    command = [sys.executable, "-m", "verl_ext.demo", "--reward", reward, "--student", student, "--seed", str(seed),
               "--out", str(out), "--quiet", *extra]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    summary.update(wall_seconds=wall, load_average=[load_start, os.getloadavg()[0]])
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"{reward} seed {seed}: {wall:.0f} s (load average {load_start:.1f} -> {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
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
    return cells


def _pair(key: str, start: float, end: float, runs: int) -> str:
    digits = (0 if runs == 1 else 1) if key == "distinct" else 1 if key == LENGTH else 2
    return f"{start:.{digits}f} → {end:.{digits}f}"


HEAD = ["format rate", "boxed acc", "latent acc", "mean length (tokens)", "distinct boxed answers", "wall s", "load avg"]


def _row(label: str, summaries: list[dict[str, Any]]) -> list[str]:
    """One table row: means over ``summaries`` of start -> end per column, wall time and load average."""
    row = [label]
    cells = [_cells(s) for s in summaries]
    for key in [k for k, _ in COLUMNS] + ["distinct"]:
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


def reward_table(by_reward: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown: per reward, the mean over its seeds."""
    return _markdown("reward (seeds)", [_row(f"{reward} ({len(s)})", s) for reward, s in by_reward.items()])


def mean_log(logs: list[Path], output: Path) -> Path:
    """The metric logs averaged step by step (steps and metrics present in every log), veRL file-logger JSONL."""
    from verl_ext.io.logs import read_metric_log

    read = [read_metric_log(path) for path in logs]
    steps = sorted(set.intersection(*(set(log.steps) for log in read)))
    with open(output, "w", encoding="utf-8") as handle:
        for step in steps:
            names = set.intersection(*(set(log.steps[step]) for log in read))
            data = {name: sum(log.steps[step][name] for log in read) / len(read) for name in sorted(names)}
            handle.write(json.dumps({"step": step, "data": data}) + "\n")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verl_ext.demo.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--rewards", nargs="+", default=["format_length"], metavar="REWARD")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--student", default="capable")
    parser.add_argument("--out", type=Path, default=Path("verl-ext-demo/measure"))
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (default 1)")
    parser.add_argument("--nice", type=int, default=0, help="run each demo under nice -n N (default 0: not)")
    parser.add_argument("--table-only", action="store_true", help="only rebuild tables and figure from existing runs")
    args, extra = parser.parse_known_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    jobs = [(reward, seed, args.out / f"{reward}-seed{seed}") for reward in args.rewards for seed in args.seeds]
    if not args.table_only:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for future in [pool.submit(run_one, reward, seed, out, args.student, extra, args.nice) for reward, seed, out in jobs]:
                future.result()
    by_reward: dict[str, list[dict[str, Any]]] = {}
    for reward, _, out in jobs:
        by_reward.setdefault(reward, []).append(json.loads((out / "summary.json").read_text(encoding="utf-8")))
    for reward, summaries in by_reward.items():
        text = seed_table(summaries)
        (args.out / f"{reward}.md").write_text(text + "\n", encoding="utf-8")
        print(f"**{reward}** ({args.student} student)\n\n{text}\n")
    text = reward_table(by_reward)
    (args.out / "rewards.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    from verl_ext.eval.plot import plot_runs
    from verl_ext.io.logs import read_metric_log

    logs: dict[str, list[Path]] = {}
    for reward, seed, out in jobs:
        logs.setdefault(reward, []).append(out / f"{reward}-seed{seed}.jsonl")
    means = [mean_log(paths, args.out / f"mean-{reward}.jsonl") for reward, paths in logs.items()]
    figure = plot_runs([read_metric_log(path) for path in means], args.out / "rewards.png",
                       title=f"verl-ext demo, {args.student} student: mean of seeds {' '.join(map(str, args.seeds))}")
    print(f"wrote {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
