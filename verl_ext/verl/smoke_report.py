"""The figures of a smoke run (run_smoke.sh: scale=smoke, 2 steps, validation at steps 0 and 2) and what to
expect of them.

    python -m verl_ext.verl.smoke_report --log LOG.jsonl --checkpoints DIR [--exit-status N] [--seconds S]

``FAIL`` lines are what makes a node unfit for the 7B run: the launch failed, a training step or a
validation pass is missing from the log, or no checkpoint was written; exit 1 then. The figures are printed
beside the range a healthy 0.5B smoke run should show (reasoned, not measured on a GPU here): a figure out
of range is a ``check`` line to look at, not a failure.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

STEPS = (1, 2)
VALIDATION_STEPS = (0, 2)
CHECKPOINT = "global_step_2"
BENCHMARKS = ("AIME2024", "AMC2023", "MATH500")
TIME_LIMIT_S = 15 * 60
# metric -> (low, high, what a healthy smoke run shows)
TRAINING_FIGURES = {
    "critic/score/mean": (0.0, 1.5, "the reward: format_length in [0, 1.5], format in [0, 1], correctness in [0, 1]"),
    "diagnostics/format_rate": (0.05, 1.0, "Qwen2.5-0.5B boxes some answers from the start"),
    "response_length/mean": (20.0, 512.0, "tokens; capped at 512 in the smoke run"),
    "response_length/clip_ratio": (0.0, 0.9, "share cut at 512 tokens"),
    "actor/kl_loss": (0.0, 0.05, "~0: two steps at lr 1e-6 barely move the policy from the reference"),
    "actor/entropy": (0.0, 5.0, "finite and positive"),
    "actor/grad_norm": (0.0, 1000.0, "finite"),
    "timing_s/step": (0.0, 300.0, "seconds per training step on one GPU"),
}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def report(log_path: Path, checkpoints: Path, exit_status: int = 0, seconds: float | None = None) -> tuple[str, int]:
    """The report's text and its exit status (1 if any FAIL)."""
    from verl_ext.io.errors import InputError
    from verl_ext.io.logs import read_metric_log

    fails: list[str] = []
    checks: list[str] = []
    lines = [f"smoke run: log {log_path}, checkpoints {checkpoints}"]
    if exit_status != 0:
        fails.append(f"the launch exited with status {exit_status} (its error is above)")
    if seconds is not None:
        lines.append(f"wall time: {seconds:.0f} s (expect under {TIME_LIMIT_S // 60} minutes on one GPU)")
        if seconds > TIME_LIMIT_S:
            checks.append(f"wall time {seconds:.0f} s is over {TIME_LIMIT_S} s")
    try:
        steps = read_metric_log(log_path).steps if log_path.exists() else {}
    except InputError as error:
        steps = {}
        fails.append(f"the log does not read: {error}")
    if not log_path.exists():
        fails.append(f"no metrics log at {log_path}")

    lines.append("")
    lines.append(f"{'training metric':<28}" + "".join(f"{'step ' + str(s):>12}" for s in STEPS) + "   expected")
    for metric, (low, high, meaning) in TRAINING_FIGURES.items():
        values = [steps.get(step, {}).get(metric) for step in STEPS]
        lines.append(f"{metric:<28}" + "".join(f"{_fmt(v):>12}" for v in values) + f"   [{low:g}, {high:g}] {meaning}")
        for step, value in zip(STEPS, values):
            if value is None and "critic/score/mean" in steps.get(step, {}):
                checks.append(f"{metric} not logged at step {step} (absent, or NaN: the log reader drops NaN)")
            elif value is not None and not (math.isfinite(value) and low <= value <= high):
                checks.append(f"{metric} = {value:.4g} at step {step}, outside [{low:g}, {high:g}]")
    for step in STEPS:
        if "critic/score/mean" not in steps.get(step, {}):
            fails.append(f"training step {step} is not in the log (no critic/score/mean)")

    lines.append("")
    lines.append(
        f"{'validation (greedy)':<28}" + "".join(f"{'step ' + str(s):>12}" for s in VALIDATION_STEPS) + "   expected"
    )
    for bench in BENCHMARKS:
        metric = f"val-core/{bench}/acc/mean@1"
        values = [steps.get(step, {}).get(metric) for step in VALIDATION_STEPS]
        lines.append(
            f"{metric:<28}"
            + "".join(f"{_fmt(v):>12}" for v in values)
            + "   in [0, 1]; 64 problems in all, so a benchmark may have few"
        )
    for step in VALIDATION_STEPS:
        if not any(name.startswith("val-core/") for name in steps.get(step, {})):
            fails.append(f"no validation at step {step} (no val-core/* metric)")

    if not (checkpoints / CHECKPOINT).is_dir():
        fails.append(f"no checkpoint {checkpoints / CHECKPOINT}")
    else:
        lines.append(f"\ncheckpoint: {checkpoints / CHECKPOINT}")

    lines.append("")
    lines += [f"check  {line}" for line in checks]
    lines += [f"FAIL   {line}" for line in fails]
    lines.append(
        "smoke run: "
        + ("FAILED" if fails else "passed")
        + f" ({len(fails)} failure(s), {len(checks)} figure(s) to look at)"
    )
    return "\n".join(lines), 1 if fails else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--checkpoints", type=Path, required=True)
    parser.add_argument("--exit-status", type=int, default=0)
    parser.add_argument("--seconds", type=float)
    args = parser.parse_args(argv)
    text, status = report(args.log, args.checkpoints, args.exit_status, args.seconds)
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
