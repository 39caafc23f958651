"""The CPU recipe's terminal view, as pure functions of veRL's per-step metrics (its file logger's records) and of
the lines main_ppo prints: one line per training step, one per validation, the lines meant for the user, and what
a run whose every training reward was 0 means.

veRL's metric names (veRL 0.9.1, ``verl/trainer/ppo/metric_utils.py`` and its timing): ``critic/score/mean|min|max``
the rollouts' rewards, ``response_length/mean`` their length in tokens, ``timing_s/step`` the step's seconds;
verl-ext's diagnostics add ``diagnostics/format_rate`` (the share of rollouts with a well-formed ``\\boxed{}``
answer); validation logs ``val-core/<benchmark>/<variable>/mean@<n>`` (the table's accuracy is ``acc``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

REWARD = "critic/score/mean"
REWARD_MIN = "critic/score/min"
REWARD_MAX = "critic/score/max"
FORMAT_RATE = "diagnostics/format_rate"
LENGTH = "response_length/mean"
STEP_SECONDS = "timing_s/step"
_VALIDATION_ACCURACY = re.compile(r"^val-core/(?P<bench>[^/]+)/acc/mean@(?P<n>\d+)$")
# Ray prefixes a worker's line with its actor and pid, coloured: "\x1b[36m(TaskRunnerV1 pid=22357)\x1b[0m ".
_RAY_PREFIX = re.compile(r"^(?:\x1b\[[0-9;]*m)?\([^)]*pid=\d+[^)]*\)(?:\x1b\[[0-9;]*m)?\s?")
# veRL's "Resuming from <folder>/global_step_<N>, setting global step to <N>".
_RESUMING = re.compile(r"Resuming from (?P<folder>\S+?), setting global step to (?P<step>\d+)")
# verl-ext's own messages from any process of the run (the stop rule, a CPU backend that cannot load) start so.
_OURS = "verl-ext: "


def _number(value: object, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "n/a"


def is_training_step(metrics: Mapping[str, object]) -> bool:
    """Whether a logged record holds a training step (validation-only records, such as step 0's, do not)."""
    return REWARD in metrics


def step_line(step: int, metrics: Mapping[str, object], total_steps: int | None) -> str:
    """``step 1/2: reward 0.125, format rate 0.250, length 18.4 tokens, 3.1 s`` (``n/a`` for a metric not logged)."""
    of = f"/{total_steps}" if total_steps else ""
    return (
        f"step {step}{of}: reward {_number(metrics.get(REWARD), 3)}, format rate "
        f"{_number(metrics.get(FORMAT_RATE), 3)}, length {_number(metrics.get(LENGTH), 1)} tokens, "
        f"{_number(metrics.get(STEP_SECONDS), 1)} s"
    )


def validation_accuracies(metrics: Mapping[str, object]) -> dict[str, float]:
    """``{benchmark: accuracy}`` of a record's validation (``val-core/<bench>/acc/mean@n``, the largest n)."""
    best: dict[str, tuple[int, float]] = {}
    for name, value in metrics.items():
        match = _VALIDATION_ACCURACY.match(name)
        if match and isinstance(value, (int, float)):
            n = int(match["n"])
            if match["bench"] not in best or n > best[match["bench"]][0]:
                best[match["bench"]] = (n, float(value))
    return {bench: value for bench, (_, value) in sorted(best.items())}


def validation_line(step: int, metrics: Mapping[str, object]) -> str | None:
    """``validation at step 2: accuracy AIME2024 0.000, MATH500 0.167``; None when the record validated nothing."""
    accuracies = validation_accuracies(metrics)
    if not accuracies:
        return None
    listed = ", ".join(f"{bench} {value:.3f}" for bench, value in accuracies.items())
    return f"validation at step {step}: accuracy {listed}"


def record_lines(step: int, metrics: Mapping[str, object], total_steps: int | None) -> list[str]:
    """The terminal lines of one logged record: its training step, then its validation (either may be absent)."""
    lines = [step_line(step, metrics, total_steps)] if is_training_step(metrics) else []
    validation = validation_line(step, metrics)
    return lines + ([validation] if validation else [])


def without_ray_prefix(line: str) -> str:
    return _RAY_PREFIX.sub("", line, count=1)


def message_for_the_user(line: str) -> str | None:
    """What of one line of main_ppo's output the terminal shows: veRL's resume (which step it resumes from) and
    verl-ext's own messages; None for everything else (it stays in the run's log)."""
    text = without_ray_prefix(line.rstrip("\n"))
    resuming = _RESUMING.search(text)
    if resuming:
        return f"resuming from the checkpoint of step {resuming['step']} ({resuming['folder']})"
    if text.startswith(_OURS):
        return text
    return None


def every_reward_was_zero(steps: Mapping[int, Mapping[str, object]]) -> bool:
    """Whether the run trained at least one step and every reward of every training step was 0 (min = max = 0)."""
    training = [metrics for metrics in steps.values() if is_training_step(metrics)]
    return bool(training) and all(
        metrics.get(REWARD_MIN) == 0 and metrics.get(REWARD_MAX) == 0 and metrics.get(REWARD) == 0
        for metrics in training
    )


def zero_reward_lines(steps: Mapping[int, Mapping[str, object]], reward: str) -> Sequence[str]:
    """What a run whose every training reward was 0 means (nothing for any other run)."""
    if not every_reward_was_zero(steps):
        return []
    training = [metrics for metrics in steps.values() if is_training_step(metrics)]
    never_boxed = all(metrics.get(FORMAT_RATE) == 0 for metrics in training)
    why = (
        f"no rollout wrote a \\boxed{{}} answer ({FORMAT_RATE} 0 at every step), and {reward} pays nothing without one"
        if never_boxed
        else f"{reward} paid nothing to any rollout"
    )
    return [
        f"every training reward of this run was 0 ({REWARD_MIN} = {REWARD_MAX} = 0 at each of its {len(training)} "
        f"step(s)): {why}.",
        "GRPO's advantages were therefore all 0: the policy had no reward signal to learn from. scale=cpu's tiny model "
        "is untrained and seldom boxes an answer, so a reward that needs one stays 0 here.",
        f"A run that learns through veRL's trainer: verl-ext demo --engine verl --reward {reward} "
        "(a student warmed up to box some of its answers).",
    ]
