"""verl_ext.demo.measure: the seeds' metric logs reduced step by step, in memory and on disk alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from verl_ext.demo.measure import reduce_logs
from verl_ext.io.logs import MetricLog, read_metric_log

ACC = "val-core/DEMO/acc/mean@1"
SEEDS = [
    MetricLog("a", "a.jsonl", "file_logger", {0: {ACC: 0.0, "x": 1.0}, 5: {ACC: 0.4}, 10: {ACC: 1.0}}),
    MetricLog("b", "b.jsonl", "file_logger", {0: {ACC: 0.2}, 5: {ACC: 0.6}}),
]


@pytest.mark.parametrize(
    ("reduce", "expected"), [("mean", {0: 0.1, 5: 0.5}), ("min", {0: 0.0, 5: 0.4}), ("max", {0: 0.2, 5: 0.6})]
)
def test_reduced_log_keeps_steps_and_metrics_every_seed_logged_and_reads_back_as_returned(
    tmp_path: Path, reduce: str, expected: dict[int, float]
) -> None:
    output = tmp_path / f"{reduce}-capable-format.jsonl"
    reduced = reduce_logs(SEEDS, output, reduce)
    assert {step: data[ACC] for step, data in reduced.steps.items()} == pytest.approx(expected)
    assert all(set(data) == {ACC} for data in reduced.steps.values())  # "x": logged by one seed only
    assert reduced == read_metric_log(output)


def test_an_unknown_reduction_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reduce must be one of mean, min, max, got 'median'"):
        reduce_logs(SEEDS, tmp_path / "m.jsonl", "median")
