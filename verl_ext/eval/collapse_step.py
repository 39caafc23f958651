"""The collapse step of a run (``verl-ext collapse``): the step after which the training reward keeps rising
while held-out accuracy falls. Pure functions of per-step series ``[(step, value), ...]``, steps increasing.

Definition (this project's). Let a_i be the held-out accuracy at the evaluation steps v_0 < ... < v_K, P = max a_i
its peak, and r_s the training reward at the training steps s.
    c = the last v_i with a_i >= P - tolerance: where held-out accuracy leaves its peak for good (every later
        evaluation is below P - tolerance). c is the collapse step when both
    (1) held-out accuracy falls: at least ``min_after`` evaluations follow c, and the run ends at least
        ``min_drop`` below the peak: a_K <= P - min_drop;
    (2) the training reward keeps rising: the mean of r_s over the steps c < s <= v_K is at least its mean over
        as many steps up to c (s <= c; when c precedes every training step, the first logged reward). "Rising"
        is read as "does not fall on average", so a reward already saturated at its maximum counts.
Otherwise the run has no collapse step (``step`` is None, and ``reason`` says which condition failed).
Defaults: tolerance 0.01 (MATH500's 500 problems: 5 problems), min_drop 0.05, min_after 2 (one low evaluation
may be noise: on the release's format + length run, DeepScaleR-17k, the mean over AIME2024, AMC2023 and MATH500
is 0.568 at step 95 and 0.512 at step 100, its last evaluation, with MATH500 alone at 0.768 -> 0.782). No
smoothing window: the tolerance absorbs evaluation noise at the peak, min_after and min_drop a passing dip, the
reward means the reward's step-to-step noise.
On the release's abandoned run (correctness + linear length, DeepScaleR-17k) MATH500 peaks at 0.700 (step 30),
is 0.698 at step 35 and falls to 0.506 by step 55 while ``critic/score/mean`` rises: collapse step 35.

URLVR's Model Collapse Step (He et al., 2026, "How Far Can Unsupervised RLVR Scale LLM Training?", ICLR 2026,
arXiv:2603.08660) is a different measure: a trainability indicator of a base model, "tracking reward accuracy
collapses during intrinsic URLVR" (PRIME-RL/TTRL README at 53e1e0c; the released code at c46b671 does not compute
it): the first training step at which the reward accuracy (the share of samples whose label-free reward agrees
with the ground-truth reward, TTRL's ``reward_accuracy``, here ``collapse/reward_accuracy``) drops below 1%, as a
secondary summary of the paper states (the paper's text was not available to check the threshold).
``model_collapse_step`` computes that, with the threshold a setting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from verl_ext.eval.table import accuracy_metrics, common_benchmarks, run_label
from verl_ext.io.logs import MetricLog

DEFAULT_TOLERANCE = 0.01
DEFAULT_MIN_DROP = 0.05
DEFAULT_MIN_AFTER = 2
REWARD_METRICS = ("critic/score/mean", "critic/rewards/mean")
"""The training reward, in order of preference: veRL's mean sequence score of the batch (before any KL penalty)."""
REWARD_ACCURACY_METRIC = "collapse/reward_accuracy"
URLVR_THRESHOLD = 0.01

Series = Sequence[tuple[int, float]]


class CollapseError(ValueError):
    """A log or series cannot give a collapse step: a metric is missing, or a series is malformed."""


def _check_series(series: Series, what: str) -> list[tuple[int, float]]:
    points = [(int(step), float(value)) for step, value in series]
    if not points:
        raise CollapseError(f"{what}: no points")
    for (s0, _), (s1, _) in zip(points, points[1:], strict=False):
        if s1 <= s0:
            raise CollapseError(f"{what}: steps must increase, got step {s1} after step {s0}")
    bad = next(((s, v) for s, v in points if not math.isfinite(v)), None)
    if bad is not None:
        raise CollapseError(f"{what}: the value at step {bad[0]} is {bad[1]}")
    return points


@dataclass(frozen=True)
class CollapseStep:
    """The collapse step (None: none) and what it was decided from."""

    step: int | None
    peak_step: int
    peak_accuracy: float
    last_step: int
    last_accuracy: float
    reward_before: float | None
    reward_after: float | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _mean(points: list[tuple[int, float]]) -> float:
    return math.fsum(v for _, v in points) / len(points)


def collapse_step(
    reward: Series,
    accuracy: Series,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    min_drop: float = DEFAULT_MIN_DROP,
    min_after: int = DEFAULT_MIN_AFTER,
) -> CollapseStep:
    """The collapse step of a run from its training reward and held-out accuracy series (module docstring)."""
    if not (tolerance >= 0.0 and math.isfinite(tolerance)):
        raise CollapseError(f"tolerance must be a finite number >= 0, got {tolerance}")
    if not (min_drop > 0.0 and math.isfinite(min_drop)):
        raise CollapseError(f"min_drop must be a finite number > 0, got {min_drop}")
    if min_after < 1:
        raise CollapseError(f"min_after must be >= 1 (evaluations after the collapse step), got {min_after}")
    acc = _check_series(accuracy, "held-out accuracy")
    rew = _check_series(reward, "training reward")
    peak = max(v for _, v in acc)
    peak_step = next(s for s, v in acc if v == peak)
    c = [s for s, v in acc if v >= peak - tolerance][-1]
    last_step, last = acc[-1]

    def verdict(step: int | None, reason: str, before: float | None = None, after: float | None = None) -> CollapseStep:
        return CollapseStep(step, peak_step, peak, last_step, last, before, after, reason)

    if c == last_step:
        where = "its only evaluation" if len(acc) == 1 else "its last evaluation"
        return verdict(None, f"held-out accuracy is within {tolerance:g} of its peak at {where} (step {last_step})")
    following = sum(1 for s, _ in acc if s > c)
    if following < min_after:
        return verdict(
            None,
            f"held-out accuracy leaves its peak at step {c} but only {following} evaluation(s) follow, "
            f"fewer than {min_after}",
        )
    drop = peak - last
    if drop < min_drop:
        return verdict(
            None, f"held-out accuracy ends {drop:.3f} below its peak (step {peak_step}), less than {min_drop:g}"
        )
    after = [(s, v) for s, v in rew if c < s <= last_step]
    if not after:
        return verdict(None, f"no training reward logged between step {c} and step {last_step}")
    before = [(s, v) for s, v in rew if s <= c][-len(after) :] or rew[:1]
    mean_before, mean_after = _mean(before), _mean(after)
    if mean_after < mean_before:
        return verdict(
            None,
            f"the training reward falls too after step {c} (mean {mean_before:.3f} -> {mean_after:.3f})",
            mean_before,
            mean_after,
        )
    return verdict(
        c,
        f"held-out accuracy falls from {peak:.3f} (step {peak_step}) to {last:.3f} (step {last_step}) while the "
        f"training reward's mean goes {mean_before:.3f} -> {mean_after:.3f}",
        mean_before,
        mean_after,
    )


def model_collapse_step(reward_accuracy: Series, threshold: float = URLVR_THRESHOLD) -> int | None:
    """URLVR's Model Collapse Step: the first step whose reward accuracy is below ``threshold``; None if none is."""
    if not (0.0 < threshold <= 1.0):
        raise CollapseError(f"threshold must lie in (0, 1], got {threshold}")
    points = _check_series(reward_accuracy, "reward accuracy")
    return next((s for s, v in points if v < threshold), None)


# --- from a metric log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunCollapse:
    """One run's collapse step with the series it was decided from."""

    run: str
    path: str
    accuracy_metrics: tuple[str, ...]
    reward_metric: str
    accuracy: list[tuple[int, float]]
    reward: list[tuple[int, float]]
    result: CollapseStep
    model_collapse_step: int | None = None
    reward_accuracy_logged: bool = False

    @property
    def accuracy_label(self) -> str:
        names = self.accuracy_metrics
        return names[0] if len(names) == 1 else f"mean of {', '.join(names)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "path": self.path,
            "collapse_step": self.result.step,
            **{k: v for k, v in self.result.as_dict().items() if k != "step"},
            "accuracy_metrics": list(self.accuracy_metrics),
            "reward_metric": self.reward_metric,
            "accuracy": [list(p) for p in self.accuracy],
            "reward": [list(p) for p in self.reward],
            "model_collapse_step": self.model_collapse_step,
            "reward_accuracy_logged": self.reward_accuracy_logged,
        }


def _until(points: list[tuple[int, float]], max_step: int | None) -> list[tuple[int, float]]:
    return [(s, v) for s, v in points if max_step is None or s <= max_step]


def held_out_accuracy(
    log: MetricLog,
    benchmarks: Sequence[str] | None = None,
    accuracy_metric: str | None = None,
    max_step: int | None = None,
) -> tuple[tuple[str, ...], list[tuple[int, float]]]:
    """(metrics, series): ``accuracy_metric`` as logged, else the mean over ``benchmarks`` (default: all the log
    validated on) of each benchmark's accuracy metric (``verl_ext.eval.table``'s choice) at the steps that logged
    all of them."""
    if accuracy_metric is not None:
        series = _until(log.series(accuracy_metric), max_step)
        if not series:
            raise CollapseError(f"{log.path}: no values of {accuracy_metric!r}" + _at_most(max_step))
        return (accuracy_metric,), series
    available = accuracy_metrics(log)
    chosen = list(benchmarks) if benchmarks else sorted(available)
    missing = [b for b in chosen if b not in available]
    if not chosen or missing:
        found = ", ".join(sorted(available)) or "none"
        raise CollapseError(
            f"{log.path}: no held-out accuracy logged for {', '.join(missing) or 'any benchmark'} "
            f"(benchmarks found: {found})"
        )
    names = tuple(available[b] for b in chosen)
    series = [
        (step, math.fsum(values[n] for n in names) / len(names))
        for step, values in log.steps.items()
        if all(n in values for n in names) and (max_step is None or step <= max_step)
    ]
    if not series:
        raise CollapseError(f"{log.path}: no step logged all of {', '.join(names)}" + _at_most(max_step))
    return names, series


def _at_most(max_step: int | None) -> str:
    return "" if max_step is None else f" at steps <= {max_step}"


def training_reward(
    log: MetricLog, reward_metric: str | None = None, max_step: int | None = None
) -> tuple[str, list[tuple[int, float]]]:
    """(metric, series) of the training reward: ``reward_metric``, else the first of ``REWARD_METRICS`` logged."""
    names = [reward_metric] if reward_metric else list(REWARD_METRICS)
    for name in names:
        series = _until(log.series(name), max_step)
        if series:
            return name, series
    raise CollapseError(f"{log.path}: no training reward logged (looked for {', '.join(names)})" + _at_most(max_step))


def collapse_of_log(
    log: MetricLog,
    *,
    benchmarks: Sequence[str] | None = None,
    accuracy_metric: str | None = None,
    reward_metric: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    min_drop: float = DEFAULT_MIN_DROP,
    min_after: int = DEFAULT_MIN_AFTER,
    max_step: int | None = None,
    mcs_threshold: float = URLVR_THRESHOLD,
) -> RunCollapse:
    """The collapse step of one run's log, and URLVR's Model Collapse Step where it logged the reward accuracy."""
    names, accuracy = held_out_accuracy(log, benchmarks, accuracy_metric, max_step)
    reward_name, reward = training_reward(log, reward_metric, max_step)
    result = collapse_step(reward, accuracy, tolerance=tolerance, min_drop=min_drop, min_after=min_after)
    reward_accuracy = _until(log.series(REWARD_ACCURACY_METRIC), max_step)
    mcs = model_collapse_step(reward_accuracy, mcs_threshold) if reward_accuracy else None
    return RunCollapse(
        run_label(log), log.path, names, reward_name, accuracy, reward, result, mcs, bool(reward_accuracy)
    )


def collapse_rows(
    logs: Sequence[MetricLog],
    *,
    benchmarks: Sequence[str] | None = None,
    accuracy_metric: str | None = None,
    **settings: Any,
) -> list[RunCollapse]:
    """``collapse_of_log`` of each log; without ``benchmarks`` or ``accuracy_metric``, the benchmarks every log
    validated on (as ``verl-ext table``)."""
    if not logs:
        raise CollapseError("no logs")
    if accuracy_metric is not None and benchmarks:
        raise CollapseError("give an accuracy metric or benchmarks, not both")
    if accuracy_metric is None and not benchmarks:
        benchmarks = common_benchmarks(logs)
        if not benchmarks:
            raise CollapseError(
                "the logs share no validation benchmark: name them (--benchmarks) or the metric (--accuracy-metric)"
            )
    return [collapse_of_log(log, benchmarks=benchmarks, accuracy_metric=accuracy_metric, **settings) for log in logs]


def to_markdown(rows: Sequence[RunCollapse], digits: int = 3) -> str:
    """One line per run: the collapse step or "none", the peak and last held-out accuracy, the reward means,
    why, and the series used (plus URLVR's Model Collapse Step when any run logged the reward accuracy)."""
    from verl_ext.eval.render import markdown_table

    with_mcs = any(row.reward_accuracy_logged for row in rows)
    headers = [
        "run",
        "collapse step",
        "peak (step)",
        "last (step)",
        "reward before -> after",
        "why",
        "held-out",
        "training reward",
    ]
    if with_mcs:
        headers.insert(2, "MCS (URLVR)")
    cells = []
    for row in rows:
        r = row.result
        means = "-" if r.reward_before is None else f"{r.reward_before:.{digits}f} -> {r.reward_after:.{digits}f}"
        line = [
            row.run,
            "none" if r.step is None else str(r.step),
            f"{r.peak_accuracy:.{digits}f} ({r.peak_step})",
            f"{r.last_accuracy:.{digits}f} ({r.last_step})",
            means,
            r.reason,
            row.accuracy_label,
            row.reward_metric,
        ]
        if with_mcs:
            mcs = "none" if row.model_collapse_step is None else str(row.model_collapse_step)
            mcs = mcs if row.reward_accuracy_logged else "n/a"
            line.insert(2, mcs)
        cells.append(line)
    right = [False, True, *([True] if with_mcs else []), True, True, True, False, False, False]
    return markdown_table(headers, cells, right)
