"""The figures of a smoke run (run_smoke.sh: scale=smoke, 2 steps, validation at steps 0 and 2) and what to
expect of them.

    python -m verl_ext.verl.smoke_report --log LOG.jsonl --checkpoints DIR [--reward NAME] [--exit-status N]
                                         [--seconds S]

``FAIL`` lines are what makes a node unfit for the 7B run: the launch failed, a training step or a
validation pass is missing from the log, or no checkpoint was written; exit 1 then. The figures are printed
beside the range a healthy 0.5B smoke run should show (reasoned, not measured on a GPU here): a figure out
of range is a ``check`` line to look at, not a failure. The score's range is the run's reward's own
(``SCORE_RANGES``: each preset's score_range in verl_ext/rewards/registry.py). Each validation figure
is printed beside the number of that benchmark's problems in the run's validation draw (veRL's random
``data.val_max_samples`` rows of the concatenated validation files), read from the run's composed config
(Hydra's ``.hydra/config.yaml`` under the checkpoint folder): a score over 3 problems moves in steps of 1/3.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from verl_ext.rewards.registry import PRESETS

STEPS = (1, 2)
VALIDATION_STEPS = (0, 2)
CHECKPOINT = "global_step_2"
BENCHMARKS = ("AIME2024", "AMC2023", "MATH500")
TIME_LIMIT_S = 15 * 60
DEFAULT_REWARD = "format_length"
# preset -> (lowest, highest) value of one sample's training reward and its formula, from the registry (each
# preset's score_range; tests/test_smoke_report.py checks each against the extremes its formula reaches).
# A batch mean lies in the same range.
SCORE_RANGES: dict[str, tuple[float, float, str]] = {
    name: (*preset.score_range, preset.formula) for name, preset in PRESETS.items()
}
# metric -> (low, high, what a healthy smoke run shows); critic/score/mean's comes from the reward.
TRAINING_FIGURES = {
    "critic/score/mean": (math.nan, math.nan, "the reward"),
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


def training_figures(reward: str) -> dict[str, tuple[float, float, str]]:
    """TRAINING_FIGURES with critic/score/mean's range that of ``reward`` (unbounded when it is not known)."""
    low, high, formula = SCORE_RANGES.get(reward, (-math.inf, math.inf, "a reward without a known range"))
    return {**TRAINING_FIGURES, "critic/score/mean": (low, high, f"the reward: {reward} = {formula}")}


def draw_counts(sources: Sequence[str], max_samples: int | None, shuffle: bool, seed: int | None) -> Counter:
    """Problems per benchmark in veRL 0.9.1's validation draw (RLHFDataset: ``max_samples`` rows of the
    concatenated files, ``numpy.random.default_rng(seed).choice(total, max_samples, replace=False)`` when
    shuffling, else the first ones), before it drops prompts longer than data.max_prompt_length.

    ``sources``: the data_source of every row of the concatenated validation files, in order."""
    import numpy as np

    total = len(sources)
    if max_samples is None or max_samples <= 0 or max_samples >= total:
        return Counter(sources)
    if shuffle:
        rng = np.random.default_rng(*(() if seed is None else (seed,)))
        indices = rng.choice(total, size=max_samples, replace=False)
    else:
        indices = np.arange(max_samples)
    return Counter(sources[int(i)] for i in indices)


def run_config(checkpoints: Path) -> Path | None:
    """The composed config Hydra saved for the run (hydra.run.dir: <checkpoints>/hydra/<date>_<time>), latest."""
    found = sorted(checkpoints.glob("hydra/*/.hydra/config.yaml"))
    return found[-1] if found else None


def validation_draw(config_path: Path) -> Counter:
    """draw_counts for the run whose composed config is ``config_path`` (its data.val_files, val_max_samples,
    shuffle and seed; each file's data_source column)."""
    import pyarrow.parquet as pq
    import yaml

    data = (yaml.safe_load(config_path.read_text()) or {}).get("data", {})
    files = data.get("val_files") or []
    files = [files] if isinstance(files, str) else files
    sources: list[str] = []
    for file in files:
        sources += [str(s) for s in pq.read_table(file, columns=["data_source"]).column("data_source").to_pylist()]
    return draw_counts(sources, data.get("val_max_samples"), bool(data.get("shuffle", False)), data.get("seed"))


def _count_note(count: int | None) -> str:
    if count is None:
        return "problems in the draw unknown (no composed config under the checkpoints)"
    if count == 0:
        return "0 problems in the draw: no figure"
    return f"{count} problem(s) in the draw: one problem moves it by {1 / count:.3g}"


def report(
    log_path: Path,
    checkpoints: Path,
    exit_status: int = 0,
    seconds: float | None = None,
    reward: str = DEFAULT_REWARD,
) -> tuple[str, int]:
    """The report's text and its exit status (1 if any FAIL)."""
    from verl_ext.io.errors import InputError
    from verl_ext.io.logs import read_metric_log

    fails: list[str] = []
    checks: list[str] = []
    lines = [f"smoke run: log {log_path}, checkpoints {checkpoints}, reward {reward}"]
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
    for metric, (low, high, meaning) in training_figures(reward).items():
        values = [steps.get(step, {}).get(metric) for step in STEPS]
        lines.append(f"{metric:<28}" + "".join(f"{_fmt(v):>12}" for v in values) + f"   [{low:g}, {high:g}] {meaning}")
        for step, value in zip(STEPS, values, strict=True):
            if value is None and "critic/score/mean" in steps.get(step, {}):
                checks.append(f"{metric} not logged at step {step} (absent, or NaN: the log reader drops NaN)")
            elif value is not None and not (math.isfinite(value) and low <= value <= high):
                checks.append(f"{metric} = {value:.4g} at step {step}, outside [{low:g}, {high:g}]")
    for step in STEPS:
        if "critic/score/mean" not in steps.get(step, {}):
            fails.append(f"training step {step} is not in the log (no critic/score/mean)")

    draw: Counter | None = None
    config = run_config(checkpoints)
    if config is not None:
        try:
            draw = validation_draw(config)
        except Exception as error:  # a figure's context, never a failure of the node
            checks.append(f"the validation draw could not be counted from {config}: {type(error).__name__}: {error}")
    lines.append("")
    lines.append(
        f"{'validation (greedy)':<28}"
        + "".join(f"{'step ' + str(s):>12}" for s in VALIDATION_STEPS)
        + "   accuracy in [0, 1], over"
    )
    benchmarks = sorted(draw) if draw else list(BENCHMARKS)
    for bench in benchmarks:
        metric = f"val-core/{bench}/acc/mean@1"
        values = [steps.get(step, {}).get(metric) for step in VALIDATION_STEPS]
        note = _count_note(None if draw is None else draw.get(bench, 0))
        lines.append(f"{metric:<28}" + "".join(f"{_fmt(v):>12}" for v in values) + f"   {note}")
    if draw:
        lines.append(
            f"{'':<28}{'':>{12 * len(VALIDATION_STEPS)}}   {sum(draw.values())} problems drawn in all "
            "(before prompts over data.max_prompt_length are dropped): a node check, not a benchmark score"
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
    parser.add_argument("--reward", default=DEFAULT_REWARD, help="the run's REWARD (its score's range)")
    parser.add_argument("--exit-status", type=int, default=0)
    parser.add_argument("--seconds", type=float)
    args = parser.parse_args(argv)
    text, status = report(args.log, args.checkpoints, args.exit_status, args.seconds, args.reward)
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
