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


# The collapse step (verl_ext.eval.collapse_step's definition: tolerance 0.01, min_drop 0.05, min_after 2), worked by
# hand. LONG_FALL: peak 0.70 at step 5; the last evaluation within 0.01 of it is step 5 (0.60 and 0.55 follow: two
# evaluations), it ends 0.15 below; the reward's mean after step 5 (steps 10, 15: 0.75) is above its mean over as
# many steps up to 5 (steps 1, 5: 0.30): collapse step 5.
LONG_FALL = _sampled_log("long-fall", {0: 0.5, 5: 0.7, 10: 0.6, 15: 0.55}, {1: 0.2, 5: 0.4, 10: 0.6, 15: 0.9})
# Holds within 0.01 of its peak (0.695 at step 10) before it falls: it leaves the peak at step 10, not at the peak's
# step; two evaluations follow (0.60, 0.55), reward after (0.7, 0.9: 0.8) >= before (0.4, 0.6: 0.5): step 10.
PLATEAU_FALL = _sampled_log(
    "plateau", {0: 0.5, 5: 0.7, 10: 0.695, 15: 0.6, 20: 0.55}, {1: 0.2, 5: 0.4, 10: 0.6, 15: 0.7, 20: 0.9}
)
# The same fall while the training reward falls too (after 0.15 < before 0.50): a decline, not the collapse pattern.
DECLINING_LONG = _sampled_log("declining", {0: 0.5, 5: 0.7, 10: 0.6, 15: 0.55}, {1: 0.6, 5: 0.4, 10: 0.2, 15: 0.1})


@pytest.mark.parametrize(
    ("log", "step"),
    [
        (RISING, None),  # peaks at its last evaluation
        (COLLAPSING, None),  # one evaluation after the peak: fewer than min_after 2
        (DECLINING, None),
        (LONG_FALL, 5),
        (PLATEAU_FALL, 10),
        (DECLINING_LONG, None),
        (_sampled_log("dip", {0: 0.5, 5: 0.7, 10: 0.67, 15: 0.66}, {1: 0.2, 5: 0.4, 10: 0.6, 15: 0.9}), None),  # 0.04
    ],
)
def test_collapse_step_is_the_projects_definition_on_reward_and_held_out_mean(log: MetricLog, step) -> None:
    from verl_ext.demo.measure import collapse_step_of

    assert collapse_step_of(log, MEAN8) == step


def test_collapse_step_of_a_log_without_the_training_reward_names_the_log() -> None:
    from verl_ext.demo.measure import collapse_step_of
    from verl_ext.eval.collapse_step import CollapseError

    no_reward = _sampled_log("no-reward", {0: 0.5, 5: 0.7, 10: 0.6, 15: 0.55}, {})
    with pytest.raises(CollapseError, match=r"no-reward\.jsonl: training reward: no points"):
        collapse_step_of(no_reward, MEAN8)


def test_sampled_table_gives_mean_and_range_over_seeds_and_counts_collapses() -> None:
    from verl_ext.demo import measure

    table = measure.sampled_table({"consistent/majority": [RISING, LONG_FALL]}, 8).splitlines()
    assert table[0] == (
        "| student/reward (seeds) | mean@8 start → peak → end | peak step | maj@8 start → peak → end "
        "| distinct answers@8 start → end | collapse step |"
    )
    # start 0.5, 0.5; peak 0.7, 0.7 (steps 10 and 5); end 0.7 and 0.55: mean 0.625; LONG_FALL collapses at step 5
    assert table[2] == (
        "| consistent/majority (2) | 0.50 (0.50-0.50) → 0.70 (0.70-0.70) → 0.62 (0.55-0.70) | 8 (5-10) "
        "| 0.80 (0.80-0.80) → 0.80 (0.80-0.80) → 0.80 (0.80-0.80) | 4.0 (4.0-4.0) → 2.0 (2.0-2.0) | 1 of 2: step 5 |"
    )
    assert measure.sampled_table({"g": [PLATEAU_FALL]}, 8).splitlines()[2].endswith("| 1 of 1: step 10 |")
    assert measure.sampled_table({"g": [RISING]}, 8).splitlines()[2].endswith("| none of 1 |")
    no_sampling = MetricLog("greedy", "greedy.jsonl", "file_logger", {0: {"val-core/DEMO/acc/mean@1": 0.5}})
    assert len(measure.sampled_table({"g": [no_sampling]}, 8).splitlines()) == 2  # header only: left out


def test_sampled_k_and_the_majority_reference_line() -> None:
    from verl_ext.demo.measure import majority_reference, sampled_k

    greedy = MetricLog("g", "g.jsonl", "file_logger", {0: {"val-core/DEMO/acc/mean@1": 0.5}})
    assert sampled_k([greedy, RISING]) == 8 and sampled_k([greedy]) is None
    label, value = majority_reference([{"held_out_start": {MAJ8: 0.8}}, {"held_out_start": {MAJ8: 0.9}}], 8)
    assert value == pytest.approx(0.85) and label == "maj@8 before GRPO (mean 0.85)"
    assert majority_reference([{"held_out_start": {}}], 8) is None


# --- groups, engines and the options passed through to every demo run ---------------------------------------------


@pytest.mark.parametrize(
    ("argv", "labels", "folders"),
    [
        (
            ["--student", "consistent", "--rewards", "majority", "format"],
            ["consistent/majority", "consistent/format"],
            ["consistent-majority-seed0", "consistent-format-seed0"],
        ),
        (
            ["--student", "consistent", "--rewards", "majority", "--engine", "verl"],
            ["consistent/majority@verl"],
            ["consistent-majority-verl-seed0"],
        ),
        (
            ["--runs", "consistent/majority", "consistent/majority@verl"],
            ["consistent/majority", "consistent/majority@verl"],
            ["consistent-majority-seed0", "consistent-majority-verl-seed0"],
        ),
        (["--runs", "capable/format", "--engine", "verl"], ["capable/format@verl"], ["capable-format-verl-seed0"]),
    ],
)
def test_groups_carry_their_engine_in_label_and_folder_trl_runs_keep_their_names(argv, labels, folders) -> None:
    from verl_ext.demo.measure import parse_args

    _, groups, extra = parse_args(argv)
    assert [group.label for group in groups] == labels
    assert [group.folder(0) for group in groups] == folders
    assert extra == []


def test_demo_options_pass_through_to_every_run_after_the_per_run_ones(tmp_path: Path) -> None:
    import sys

    from verl_ext.demo.measure import demo_command, parse_args

    _, groups, extra = parse_args(
        [
            "--student",
            "consistent",
            "--rewards",
            "self_certainty",
            "--engine",
            "verl",
            "--steps",
            "50",
            "--eval-every",
            "5",
            "--seeds",
            "3",
            "--kl-coef=0.3",
        ]
    )
    assert extra == ["--steps", "50", "--eval-every", "5", "--kl-coef=0.3"]  # --steps: not taken for --seeds
    command = demo_command(groups[0], 3, tmp_path / "run", extra)
    assert command == [
        sys.executable,
        "-m",
        "verl_ext.demo",
        "--reward",
        "self_certainty",
        "--student",
        "consistent",
        "--seed",
        "3",
        "--engine",
        "verl",
        "--out",
        str(tmp_path / "run"),
        "--quiet",
        "--steps",
        "50",
        "--eval-every",
        "5",
        "--kl-coef=0.3",
    ]
    assert demo_command(groups[0], 3, tmp_path, extra, nice=10)[:3] == ["nice", "-n", "10"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seed", "3"], "--seed: measure sets it for each run"),
        (["--reward", "majority"], "--reward: measure sets it for each run"),
        (["--steps", "5", "--quiet"], "--quiet: measure sets it for each run"),
        (["--runs", "consistent-majority"], "expected STUDENT/REWARD or STUDENT/REWARD@ENGINE"),
        (["--runs", "consistent/majority@jax"], "unknown engine 'jax': use one of trl, verl"),
        (["--engine", "jax"], "unknown engine 'jax'"),
        (["--jobs", "0"], "--jobs must be >= 1"),
    ],
)
def test_bad_measure_options_are_refused_by_name(argv, message, capsys) -> None:
    from verl_ext.demo.measure import parse_args

    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err


def test_sampled_figure_draws_a_png_of_every_group_into_a_new_folder(tmp_path: Path) -> None:
    from verl_ext.demo.measure import sampled_figure

    means = {"consistent/majority": LONG_FALL, "consistent/majority@verl": PLATEAU_FALL}
    bands = {"consistent/majority": (LONG_FALL, LONG_FALL), "consistent/majority@verl": (RISING, PLATEAU_FALL)}
    written = sampled_figure(means, bands, 8, tmp_path / "new" / "rewards-sampled.png", ("maj@8 before GRPO", 0.8))
    assert written == tmp_path / "new" / "rewards-sampled.png"
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
