"""The collapse step (issue 28): synthetic curves made by hand, the release's abandoned run, `verl-ext collapse`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verl_ext.cli import main
from verl_ext.eval.collapse_step import (
    CollapseError,
    collapse_of_log,
    collapse_step,
    model_collapse_step,
)
from verl_ext.io.logs import read_metric_log

EVALS = list(range(0, 101, 10))  # held-out evaluation every 10 steps
RISING_REWARD = [(s, s / 100) for s in range(1, 101)]  # r_s = s/100 at training steps 1..100
FALLING_REWARD = [(s, 1 - s / 100) for s in range(1, 101)]


def _curve(values):
    return list(zip(EVALS, values, strict=True))


RISE_THEN_FALL = _curve([0.30, 0.40, 0.50, 0.55, 0.56, 0.50, 0.40, 0.30, 0.20, 0.15, 0.10])


def test_rise_then_fall_collapses_where_accuracy_leaves_its_peak():
    result = collapse_step(RISING_REWARD, RISE_THEN_FALL)
    # peak 0.56 at step 40; within 0.01 of it: steps 30 (0.55) and 40; the last is 40
    assert result.step == 40
    assert (result.peak_step, result.peak_accuracy, result.last_step, result.last_accuracy) == (40, 0.56, 100, 0.10)
    # after: steps 41..100, mean (0.41 + 1.00)/2 = 0.705; before: 60 steps up to 40, only 1..40 exist: 0.205
    assert result.reward_after == pytest.approx(0.705)
    assert result.reward_before == pytest.approx(0.205)


@pytest.mark.parametrize(
    ("accuracy", "reward", "settings", "words"),
    [
        (_curve([0.30 + 0.04 * i for i in range(11)]), RISING_REWARD, {}, "at its last evaluation (step 100)"),
        # a noisy plateau: peak 0.62 at step 10, last within 0.01 of it step 30 (0.61), then 0.58, 0.60, ... 0.59:
        # it ends 0.03 below the peak, under min_drop 0.05
        (
            _curve([0.60, 0.62, 0.59, 0.61, 0.58, 0.60, 0.59, 0.60, 0.58, 0.60, 0.59]),
            RISING_REWARD,
            {},
            "ends 0.030 below its peak (step 10), less than 0.05",
        ),
        # the same rise and fall, but the training reward falls too: a run that degrades, not a proxy that diverges
        (RISE_THEN_FALL, FALLING_REWARD, {}, "the training reward falls too after step 40 (mean 0.795 -> 0.295)"),
        # a dip that recovers to a new peak at the end
        (_curve([0.5, 0.6, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.45, 0.62]), RISING_REWARD, {}, "last evaluation"),
        # the fall is seen at the last evaluation only: one low point may be noise
        (
            _curve([0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.4]),
            RISING_REWARD,
            {},
            "leaves its peak at step 90 but only 1 evaluation(s) follow, fewer than 2",
        ),
        ([(0, 0.5)], RISING_REWARD, {}, "at its only evaluation (step 0)"),
        # no reward logged after the collapse candidate (training stopped at step 40, evaluations went on)
        (RISE_THEN_FALL, RISING_REWARD[:40], {}, "no training reward logged between step 40 and step 100"),
    ],
)
def test_runs_that_do_not_collapse_say_why(accuracy, reward, settings, words):
    result = collapse_step(reward, accuracy, **settings)
    assert result.step is None
    assert words in result.reason


def test_settings_move_the_step_as_defined():
    last_only = _curve([0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.4])
    assert collapse_step(RISING_REWARD, last_only, min_after=1).step == 90
    # tolerance 0: the last evaluation AT the peak (0.56, step 40); 0.1: the last within 0.1 (0.50 at step 50)
    assert collapse_step(RISING_REWARD, RISE_THEN_FALL, tolerance=0.0).step == 40
    assert collapse_step(RISING_REWARD, RISE_THEN_FALL, tolerance=0.1).step == 50
    # min_drop above the fall (0.56 -> 0.10 is 0.46): none
    assert collapse_step(RISING_REWARD, RISE_THEN_FALL, min_drop=0.5).step is None


def test_a_saturated_reward_counts_as_not_falling():
    flat = [(s, 1.0) for s in range(1, 101)]
    result = collapse_step(flat, RISE_THEN_FALL)
    assert result.step == 40 and result.reward_before == result.reward_after == 1.0


def test_accuracy_falling_from_before_training_compares_with_the_first_reward():
    # evaluations at steps 0, 10, 20 (step 0 before any update); rewards from step 1: before = r_1 = 0.01
    result = collapse_step(RISING_REWARD[:20], [(0, 0.5), (10, 0.4), (20, 0.3)])
    assert result.step == 0
    assert result.reward_before == pytest.approx(0.01)
    assert result.reward_after == pytest.approx((0.01 + 0.20) / 2)


@pytest.mark.parametrize(
    ("reward", "accuracy", "settings", "words"),
    [
        (RISING_REWARD, [], {}, "held-out accuracy: no points"),
        ([], RISE_THEN_FALL, {}, "training reward: no points"),
        (RISING_REWARD, [(10, 0.5), (10, 0.4)], {}, "held-out accuracy: steps must increase, got step 10 after"),
        ([(1, 0.1), (2, float("nan"))], RISE_THEN_FALL, {}, "training reward: the value at step 2 is nan"),
        (RISING_REWARD, RISE_THEN_FALL, {"tolerance": -0.1}, "tolerance must be a finite number >= 0"),
        (RISING_REWARD, RISE_THEN_FALL, {"min_drop": 0.0}, "min_drop must be a finite number > 0"),
        (RISING_REWARD, RISE_THEN_FALL, {"min_after": 0}, "min_after must be >= 1"),
    ],
)
def test_malformed_series_and_settings_are_refused(reward, accuracy, settings, words):
    with pytest.raises(CollapseError, match=words):
        collapse_step(reward, accuracy, **settings)


def test_model_collapse_step_is_the_first_step_under_the_threshold():
    series = [(0, 0.4), (5, 0.2), (10, 0.009), (15, 0.3), (20, 0.0)]
    assert model_collapse_step(series) == 10  # 0.009 < 0.01; the later recovery does not undo it
    assert model_collapse_step(series, threshold=0.25) == 5
    assert model_collapse_step([(0, 0.005)]) == 0  # step 0 is a step, not "none"
    assert model_collapse_step([(0, 0.5), (1, 0.01)]) is None  # 0.01 is not under 1%
    with pytest.raises(CollapseError, match=r"threshold must lie in \(0, 1\]"):
        model_collapse_step(series, threshold=0.0)


# --- the release's logs ---------------------------------------------------------------------------

PREFIX = "grpo-{}-7b_math-bs_128-3k-zs_qwen-r_{}.json"
ABANDONED = ("deepscaler_17k", "a_g_f_l")  # correctness + linear length, abandoned at step 55
PAPER_RUNS = [(d, r) for d in ("deepscaler_17k", "math") for r in ("a_g_f", "f_a", "f_l_v3_token5_a-v3")]


def _release_log(release_dir: Path, data: str, reward: str) -> Path:
    return release_dir / "logs" / PREFIX.format(data, reward)


# critic/score/mean of the abandoned run, steps 16-35 and 36-55, as logged (3 decimals)
SCORE_16_TO_35 = [0.754, 0.755, 0.766, 0.72, 0.802, 0.791, 0.752, 0.743, 0.786, 0.783]
SCORE_16_TO_35 += [0.787, 0.823, 0.784, 0.791, 0.77, 0.748, 0.757, 0.857, 0.783, 0.809]
SCORE_36_TO_55 = [0.835, 0.845, 0.788, 0.8, 0.775, 0.821, 0.815, 0.802, 0.828, 0.826]
SCORE_36_TO_55 += [0.858, 0.844, 0.865, 0.833, 0.833, 0.859, 0.898, 0.827, 0.885, 0.914]


def test_the_abandoned_run_collapses_at_step_35_on_math500(release_dir):
    # MATH500 (val/test_score/MATH500): 0.508 0.558 0.614 0.660 0.660 0.694 0.700 0.698 0.684 0.630 0.584 0.506
    # at steps 0, 5, ..., 55: peak 0.700 at step 30, 0.698 at step 35 is within 0.01 of it, 0.684 at 40 is not;
    # after 35: four evaluations, ending 0.194 below the peak; critic/score/mean over the 20 steps after 35 averages
    # more than over the 20 steps up to 35 (the release's values, to 3 decimals, below): collapse step 35
    run = collapse_of_log(read_metric_log(_release_log(release_dir, *ABANDONED)), benchmarks=["MATH500"])
    assert run.result.step == 35
    assert (run.result.peak_step, run.result.peak_accuracy) == (30, pytest.approx(0.700))
    assert (run.result.last_step, run.result.last_accuracy) == (55, pytest.approx(0.506))
    assert run.accuracy_metrics == ("val/test_score/MATH500",) and run.reward_metric == "critic/score/mean"
    assert run.result.reward_before == pytest.approx(sum(SCORE_16_TO_35) / 20, abs=1e-3)  # 0.778
    assert run.result.reward_after == pytest.approx(sum(SCORE_36_TO_55) / 20, abs=1e-3)  # 0.838


@pytest.mark.parametrize(("data", "reward"), PAPER_RUNS)
def test_the_papers_runs_do_not_collapse_on_math500(release_dir, data, reward):
    run = collapse_of_log(read_metric_log(_release_log(release_dir, data, reward)), benchmarks=["MATH500"])
    assert run.result.step is None, run.result.reason


def test_collapse_cli_prints_the_step_or_none_with_the_series(release_dir, capsys):
    logs = [str(_release_log(release_dir, *ABANDONED)), str(_release_log(release_dir, "math", "f_a"))]
    assert main(["collapse", *logs, "--benchmarks", "MATH500"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| run | collapse step |")
    abandoned, fmt = lines[2].split(" | "), lines[3].split(" | ")
    assert abandoned[0] == "| correctness + linear length (DeepScaleR-17k; abandoned at step 55)"
    assert abandoned[1] == "35" and fmt[1] == "none"
    assert abandoned[-2:] == ["val/test_score/MATH500", "critic/score/mean |"]


def test_collapse_cli_defaults_to_the_shared_benchmarks_and_writes_json(release_dir, tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main(["collapse", str(_release_log(release_dir, *ABANDONED)), "--json", "-o", str(out)]) == 0
    assert capsys.readouterr().err == f"wrote {out}\n"
    row = json.loads(out.read_text())["rows"][0]
    # the mean over AIME2024, AMC2023 and MATH500 peaks at step 40 (0.474) and falls to 0.268
    assert row["collapse_step"] == 40
    assert row["accuracy_metrics"] == [f"val/test_score/{b}" for b in ("AIME2024", "AMC2023", "MATH500")]
    assert row["accuracy"][0] == [0, pytest.approx((0.167 + 0.422 + 0.508) / 3, abs=1e-3)]
    assert row["model_collapse_step"] is None and row["reward_accuracy_logged"] is False


def _file_logger(path: Path, records: list[tuple[int, dict]]) -> Path:
    path.write_text("".join(json.dumps({"step": s, "data": d}) + "\n" for s, d in records), encoding="utf-8")
    return path


def test_collapse_cli_on_a_verl_file_logger_log(tmp_path, capsys):
    # veRL 0.9 names: val-core/<bench>/acc/mean@N for validation, critic/score/mean for the training reward
    records = [(s, {"critic/score/mean": s / 10, "collapse/reward_accuracy": 0.5 - s / 20}) for s in range(1, 11)]
    records += [(s, {"val-core/toy/acc/mean@4": a}) for s, a in [(0, 0.5), (4, 0.7), (6, 0.5), (8, 0.4), (10, 0.3)]]
    log = _file_logger(tmp_path / "run.jsonl", records)
    assert main(["collapse", str(log)]) == 0
    out = capsys.readouterr().out
    # peak 0.7 at step 4: collapse step 4; reward accuracy 0.5 - s/20 first under 0.01 at step 10 (0.0)
    assert "| MCS (URLVR) |" in out.splitlines()[0]
    assert "| run | 4 | 10 | 0.700 (4) | 0.300 (10) |" in out
    assert main(["collapse", str(log), "--accuracy-metric", "val-core/toy/acc/mean@4", "--max-step", "6"]) == 0
    assert "| run | none | none | 0.700 (4) | 0.500 (6) |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--reward-metric", "reward/mean"], "no training reward logged (looked for reward/mean)"),
        (["--benchmarks", "MATH500"], "no held-out accuracy logged for MATH500 (benchmarks found: toy)"),
        (["--accuracy-metric", "val/x"], "no values of 'val/x'"),
        (["--accuracy-metric", "val/x", "--benchmarks", "toy"], "give an accuracy metric or benchmarks, not both"),
    ],
)
def test_collapse_cli_names_what_is_missing(tmp_path, capsys, args, words):
    log = _file_logger(tmp_path / "run.jsonl", [(0, {"val-core/toy/acc/mean@1": 0.5}), (1, {"critic/score/mean": 1})])
    assert main(["collapse", str(log), *args]) == 2
    assert words in capsys.readouterr().err
