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


# --- the sampled evaluation's tables: start -> peak -> end of mean@k and maj@k, the peak step, the collapse step -----

MEAN8, MAJ8 = "val-core/DEMO/acc/mean@8", "val-core/DEMO/acc/maj@8/mean"
DISTINCT8, REWARD = "val-aux/DEMO/distinct_answers/mean@8", "critic/score/mean"


def _sampled_log(name: str, mean: dict[int, float], rewards: dict[int, float]) -> MetricLog:
    """mean@8 at the evaluated steps; maj@8 0.8 throughout; distinct answers 4 at the start, 2 later."""
    steps: dict[int, dict[str, float]] = {}
    for step, value in mean.items():
        steps.setdefault(step, {}).update({MEAN8: value, MAJ8: 0.8, DISTINCT8: 4.0 if step == 0 else 2.0})
    for step, value in rewards.items():
        steps.setdefault(step, {})[REWARD] = value
    return MetricLog(name, f"{name}.jsonl", "file_logger", dict(sorted(steps.items())))


RISING = _sampled_log("rising", {0: 0.5, 5: 0.6, 10: 0.7}, {1: 0.2, 5: 0.4, 10: 0.6})
# peaks at step 5 (0.7), ends 0.55 (0.15 below) while the training reward keeps rising: collapsed at step 5
COLLAPSING = _sampled_log("collapsing", {0: 0.5, 5: 0.7, 10: 0.55}, {1: 0.2, 5: 0.4, 10: 0.9})
# the same held-out fall with the training reward falling too: a plain decline, not the collapse pattern
DECLINING = _sampled_log("declining", {0: 0.5, 5: 0.7, 10: 0.55}, {1: 0.6, 5: 0.4, 10: 0.1})


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (RISING, (0.5, 0.7, 10, 0.7)),
        (COLLAPSING, (0.5, 0.7, 5, 0.55)),
        (_sampled_log("tie", {0: 0.6, 5: 0.6, 10: 0.6}, {}), (0.6, 0.6, 0, 0.6)),  # a tie: the earliest step
    ],
)
def test_course_is_start_peak_at_its_earliest_step_and_end(log: MetricLog, expected: tuple) -> None:
    from verl_ext.demo.measure import course

    found = course(log, MEAN8)
    assert (found.start, found.peak, found.peak_step, found.end) == pytest.approx(expected)
    assert course(log, "val-core/DEMO/acc/mean@4") is None


@pytest.mark.parametrize(("log", "step"), [(RISING, None), (COLLAPSING, 5), (DECLINING, None)])
def test_provisional_collapse_step_needs_a_held_out_fall_while_the_reward_rises(log: MetricLog, step) -> None:
    from verl_ext.demo.measure import provisional_collapse_step

    assert provisional_collapse_step(log, MEAN8) == step


def test_sampled_table_gives_mean_and_range_over_seeds_and_counts_collapses(monkeypatch: pytest.MonkeyPatch) -> None:
    from verl_ext.demo import measure

    table = measure.sampled_table({"consistent/majority": [RISING, COLLAPSING]}, 8).splitlines()
    assert table[0] == (
        "| student/reward (seeds) | mean@8 start → peak → end | peak step | maj@8 start → peak → end "
        "| distinct answers@8 start → end | collapse step |"
    )
    # start 0.5, 0.5; peak 0.7, 0.7 (steps 10 and 5); end 0.7 and 0.55: mean 0.625
    assert table[2] == (
        "| consistent/majority (2) | 0.50 (0.50-0.50) → 0.70 (0.70-0.70) → 0.62 (0.55-0.70) | 8 (5-10) "
        "| 0.80 (0.80-0.80) → 0.80 (0.80-0.80) → 0.80 (0.80-0.80) | 4.0 (4.0-4.0) → 2.0 (2.0-2.0) | 1 of 2: step 5 |"
    )
    monkeypatch.setattr(measure, "collapse_step_of", lambda log, metric: 3)  # the swap point of the collapse column
    assert measure.sampled_table({"g": [RISING]}, 8).splitlines()[2].endswith("| 1 of 1: step 3 |")
    no_sampling = MetricLog("greedy", "greedy.jsonl", "file_logger", {0: {"val-core/DEMO/acc/mean@1": 0.5}})
    assert len(measure.sampled_table({"g": [no_sampling]}, 8).splitlines()) == 2  # header only: left out


def test_sampled_k_and_the_majority_reference_line() -> None:
    from verl_ext.demo.measure import majority_reference, sampled_k

    greedy = MetricLog("g", "g.jsonl", "file_logger", {0: {"val-core/DEMO/acc/mean@1": 0.5}})
    assert sampled_k([greedy, RISING]) == 8 and sampled_k([greedy]) is None
    label, value = majority_reference([{"held_out_start": {MAJ8: 0.8}}, {"held_out_start": {MAJ8: 0.9}}], 8)
    assert value == pytest.approx(0.85) and label == "maj@8 before GRPO (mean 0.85)"
    assert majority_reference([{"held_out_start": {}}], 8) is None
