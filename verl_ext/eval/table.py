"""The paper's table (``verl-ext table``): per run, the validation step with the best average accuracy.

Which logged metric is a benchmark's accuracy, in this order of preference:

1. ``val-core|val-aux/<bench>/acc/mean@N``      veRL 0.9, when the reward function reports ``acc``
2. ``val-core|val-aux/<bench>/correct/mean@N``  veRL 0.9 with verl-ext's reward managers: the ground-truth
                                                check they log for monitoring (their ``reward`` is the
                                                label-free score, not an accuracy)
3. ``val/test_score/<bench>``                   older veRL (the paper's logs): the validation reward
4. ``val-core|val-aux/<bench>/reward/mean@N``, then ``.../score/mean@N``   veRL 0.9's reward value

With several N (samples per problem) the largest is used. The choice is made once per run and
benchmark, so every step of a run is read from the same metric.
Selection: among steps <= ``max_step`` that logged every benchmark, the highest mean over the
benchmarks (equal weights); ties (within 1e-9) go to the earliest step.
Rows are named by ``run_label``: a name given to the reader as it is, a file stem made readable
(train set and reward, ``verl_ext.eval.run_names``). Each row also keeps what joins it back to its source
(``--json`` and ``--csv`` print both): ``log``, the log file read, and ``run_code``, the name the run was logged
under (the file stem: the release's run code such as ``grpo-deepscaler_17k-7b_math-bs_128-3k-zs_qwen-r_a_g_f``, or
the recipe's ``EXPERIMENT``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verl_ext.eval.run_names import readable_name
from verl_ext.io.logs import MetricLog

ACCURACY_VARIABLES = ("acc", "correct", "test_score", "reward", "score")
TIE_TOLERANCE = 1e-9
_VAL_METRIC = re.compile(r"^val-(?:core|aux)/(?P<bench>.+)/(?P<var>[^/]+)/mean@(?P<n>\d+)$")
_OLD_VAL_METRIC = re.compile(r"^val/test_score/(?P<bench>.+)$")


class TableError(ValueError):
    """A log cannot give the table: a benchmark is missing, or no step logged them all."""


def validation_metrics(log: MetricLog, variable: str) -> dict[str, str]:
    """``{benchmark: metric name}`` of one validation variable (``acc``, ``format``, ...), largest N."""
    best: dict[str, tuple[int, str]] = {}
    for name in log.names():
        match = _VAL_METRIC.match(name)
        if match and match["var"] == variable:
            n = int(match["n"])
            if match["bench"] not in best or n > best[match["bench"]][0]:
                best[match["bench"]] = (n, name)
        elif variable == "test_score":
            old = _OLD_VAL_METRIC.match(name)
            if old:
                best[old["bench"]] = (1, name)
    return {bench: name for bench, (_, name) in best.items()}


def accuracy_metrics(log: MetricLog) -> dict[str, str]:
    """``{benchmark: metric name}``: the accuracy metric of each benchmark the log validated on."""
    chosen: dict[str, str] = {}
    for variable in ACCURACY_VARIABLES:
        for bench, name in validation_metrics(log, variable).items():
            chosen.setdefault(bench, name)
    return chosen


def run_code(log: MetricLog) -> str:
    """The name the run was logged under: its log's file stem (the release's run code, the recipe's EXPERIMENT)."""
    return Path(log.path).stem


def run_label(log: MetricLog) -> str:
    """The name a run is shown by: a name the reader was given (``--name``) as it is; the file stem (the
    reader's default) as ``run_names.readable_name`` makes it (``correctness (DeepScaleR-17k)``)."""
    return readable_name(log.name) if log.name == Path(log.path).stem else log.name


@dataclass(frozen=True)
class TableRow:
    """One run's best step. ``run`` is the readable name, ``run_code`` and ``log`` what it was read from."""

    run: str
    step: int
    accuracies: dict[str, float]
    average: float
    metrics: dict[str, str]
    run_code: str = ""
    log: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "run_code": self.run_code,
            "log": self.log,
            "step": self.step,
            "accuracies": self.accuracies,
            "average": self.average,
            "metrics": self.metrics,
        }


def common_benchmarks(logs: Sequence[MetricLog]) -> list[str]:
    """Benchmarks every log validated on, sorted by name."""
    sets = [set(accuracy_metrics(log)) for log in logs]
    return sorted(set.intersection(*sets)) if sets else []


def best_step(log: MetricLog, benchmarks: Sequence[str], max_step: int | None = None) -> TableRow:
    """The step with the best mean accuracy over ``benchmarks`` (earliest on ties)."""
    available = accuracy_metrics(log)
    missing = [b for b in benchmarks if b not in available]
    if missing:
        found = ", ".join(sorted(available)) or "none"
        raise TableError(f"{log.path}: no accuracy logged for {', '.join(missing)} (benchmarks found: {found})")
    metrics = {b: available[b] for b in benchmarks}
    best: TableRow | None = None
    for step, values in log.steps.items():
        if max_step is not None and step > max_step:
            continue
        if not all(metrics[b] in values for b in benchmarks):
            continue
        accuracies = {b: values[metrics[b]] for b in benchmarks}
        average = sum(accuracies.values()) / len(accuracies)
        if best is None or average > best.average + TIE_TOLERANCE:
            best = TableRow(run_label(log), step, accuracies, average, metrics, run_code(log), log.path)
    if best is None:
        limit = f" at steps <= {max_step}" if max_step is not None else ""
        raise TableError(f"{log.path}: no validation step{limit} logged all of {', '.join(benchmarks)}")
    return best


def build_table(
    logs: Sequence[MetricLog], benchmarks: Sequence[str] | None = None, max_step: int | None = None
) -> tuple[list[str], list[TableRow]]:
    """The benchmarks used and one row per log, in the order given."""
    if not logs:
        raise TableError("no logs")
    benchmarks = list(benchmarks) if benchmarks else common_benchmarks(logs)
    if not benchmarks:
        raise TableError("the logs share no validation benchmark; name them with --benchmarks")
    return benchmarks, [best_step(log, benchmarks, max_step) for log in logs]


def to_markdown(benchmarks: Sequence[str], rows: Sequence[TableRow], digits: int = 3) -> str:
    from verl_ext.eval.render import markdown_table

    headers = ["run", "step", *benchmarks, "average"]
    cells = [
        [row.run, str(row.step), *(f"{row.accuracies[b]:.{digits}f}" for b in benchmarks), f"{row.average:.{digits}f}"]
        for row in rows
    ]
    return markdown_table(headers, cells, [False, True, *([True] * len(benchmarks)), True])
