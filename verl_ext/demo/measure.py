"""Multi-seed measurement of the demo: one ``verl-ext demo`` process per seed, then a Markdown table.

    python -m verl_ext.demo.measure --seeds 0 1 2 3 4 --reward format_length --out runs/measure

Each seed runs in its own process (its wall time includes imports, as a user would see it) with
the default options, one after the other. The table lists, per seed, step 1 (the warmed-up model
before any update) against the mean of the last steps for the mean reward, format rate, mean length
and monitoring accuracy, the held-out greedy accuracy and format rate before and after, how many
different boxed answers the held-out completions give after training, and the wall time; then the
mean over seeds. ``--table-only`` rebuilds the table from existing summaries.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

COLUMNS = (
    ("critic/score/mean", "reward"),
    ("diagnostics/format_rate", "format rate"),
    ("response_length/mean", "length"),
    ("diagnostics/accuracy", "accuracy"),
)
HELD_OUT = (("val-aux/DEMO/format/mean@1", "held-out format"), ("val-core/DEMO/acc/mean@1", "held-out acc"))


def run_seed(reward: str, seed: int, out: Path, extra: list[str]) -> float:
    """Run one seed in a fresh process; its wall time in seconds (raises on failure)."""
    command = [sys.executable, "-m", "verl_ext.demo", "--reward", reward, "--seed", str(seed), "--out", str(out), "--quiet", *extra]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def table(summaries: list[dict[str, Any]]) -> str:
    """Markdown: one row per seed (start -> end), then the mean over seeds."""
    head = ["seed"] + [name for _, name in COLUMNS] + [name for _, name in HELD_OUT] + ["distinct answers at end", "wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    sums: dict[str, list[float]] = {}

    def cell(key: str, start: float | None, end: float | None) -> str:
        if start is None or end is None:
            return "-"
        sums.setdefault(key + ":s", []).append(start)
        sums.setdefault(key + ":e", []).append(end)
        digits = 1 if "length" in key else 2
        return f"{start:.{digits}f} → {end:.{digits}f}"

    for s in summaries:
        row = [str(s["config"]["seed"])]
        row += [cell(k, s["start"].get(k), s["end"].get(k)) for k, _ in COLUMNS]
        row += [cell(k, s["held_out_start"].get(k), s["held_out_end"].get(k)) for k, _ in HELD_OUT]
        distinct = s.get("distinct_answers") or []
        row.append(str(distinct[1]) if len(distinct) == 2 else "-")
        wall = s.get("wall_seconds", s["seconds"])
        sums.setdefault("wall", []).append(wall)
        row.append(f"{wall:.0f}")
        lines.append("| " + " | ".join(row) + " |")
    if len(summaries) > 1:
        row = ["mean"]
        for key, _ in (*COLUMNS, *HELD_OUT):
            starts, ends = sums.get(key + ":s"), sums.get(key + ":e")
            if starts and ends:
                digits = 1 if "length" in key else 2
                row.append(f"{sum(starts) / len(starts):.{digits}f} → {sum(ends) / len(ends):.{digits}f}")
            else:
                row.append("-")
        row.append("")
        row.append(f"{sum(sums['wall']) / len(sums['wall']):.0f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verl_ext.demo.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--reward", default="format_length")
    parser.add_argument("--out", type=Path, default=Path("verl-ext-demo/measure"))
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table from existing summaries")
    args, extra = parser.parse_known_args(argv)
    summaries = []
    for seed in args.seeds:
        out = args.out / f"{args.reward}-seed{seed}"
        if not args.table_only:
            wall = run_seed(args.reward, seed, out, extra)
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
            summary["wall_seconds"] = wall
            (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            print(f"seed {seed}: {wall:.0f} s", file=sys.stderr, flush=True)
        summaries.append(json.loads((out / "summary.json").read_text(encoding="utf-8")))
    text = table(summaries)
    (args.out / f"{args.reward}.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
