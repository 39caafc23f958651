"""verl_ext.diagnostics: reward_extra_info columns -> diagnostics/* metrics (pure, no veRL)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from verl_ext.diagnostics import columns_from_extra_fields, compute_diagnostics

P = "diagnostics/"

# A GRPO-like batch of 8 rollouts: 6 well formatted (4 of them correct), 2 truncated without an answer.
BATCH = {
    "format": [1, 1, 1, 1, 1, 1, 0, 0],
    "correct": [1, 1, 1, 1, 0, 0, 0, 0],
    "length_reward": [0.5, 1.0, 0.0, 0.5, 1.0, 0.0, 0.0, 0.0],
    "truncated": [0, 0, 0, 0, 0, 0, 1, 1],
    "timed_out": [0, 0, 0, 0, 0, 0, 0, 1],
    "reward_error": [0, 0, 0, 0, 0, 0, 0, 0],
    "response_tokens": [100, 200, 300, 400, 500, 600, 3072, 3072],
    "pred": ["1", "1", "1", "1", "2", "3", "", ""],
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("format_rate", 6 / 8),
        ("length_reward_mean", 3.0 / 8),
        ("truncation_rate", 2 / 8),
        ("timeout_rate", 1 / 8),
        ("reward_error_rate", 0.0),
        ("accuracy", 4 / 8),
        # format == correct on rollouts 0-3 (1, 1) and 6-7 (0, 0): 6 of 8.
        ("surrogate_correct_agreement", 6 / 8),
        # P(correct | format): 4 of the 6 formatted rollouts.
        ("accuracy_given_format", 4 / 6),
        # P(format | correct): all 4 correct rollouts are formatted.
        ("format_given_correct", 1.0),
    ],
)
def test_each_metric_has_its_documented_value(name: str, expected: float) -> None:
    assert compute_diagnostics(BATCH)[P + name] == pytest.approx(expected)


def test_metrics_are_exactly_the_documented_set_of_floats() -> None:
    metrics = compute_diagnostics(BATCH)
    assert set(metrics) == {
        P + name
        for name in (
            "format_rate",
            "length_reward_mean",
            "truncation_rate",
            "timeout_rate",
            "reward_error_rate",
            "accuracy",
            "surrogate_correct_agreement",
            "accuracy_given_format",
            "format_given_correct",
        )
    }
    assert all(type(value) is float for value in metrics.values())


def test_without_ground_truth_there_are_no_accuracy_metrics() -> None:
    unlabeled = {key: values for key, values in BATCH.items() if key != "correct"}
    metrics = compute_diagnostics(unlabeled)
    assert metrics[P + "format_rate"] == pytest.approx(6 / 8)
    assert not {P + "accuracy", P + "surrogate_correct_agreement", P + "accuracy_given_format"} & set(metrics)
    assert P + "format_given_correct" not in metrics


def test_partial_ground_truth_grades_only_the_labelled_rollouts() -> None:
    metrics = compute_diagnostics({"format": [1, 1, 0, 1], "correct": [1, None, 0, None]})
    assert metrics[P + "accuracy"] == pytest.approx(1 / 2)
    assert metrics[P + "surrogate_correct_agreement"] == pytest.approx(1.0)
    assert metrics[P + "format_rate"] == pytest.approx(3 / 4)


@pytest.mark.parametrize(
    ("batch", "absent"),
    [
        ({}, "format_rate"),
        ({"format": [None, None]}, "format_rate"),
        ({"format": [float("nan")]}, "format_rate"),
        # no formatted rollout: precision undefined
        ({"format": [0, 0], "correct": [0, 1]}, "accuracy_given_format"),
        # no correct rollout: recall undefined
        ({"format": [1, 0], "correct": [0, 0]}, "format_given_correct"),
        # correctness without any format verdict: no agreement
        ({"correct": [1, 0]}, "surrogate_correct_agreement"),
    ],
)
def test_a_metric_without_data_is_omitted_not_nan(batch: dict, absent: str) -> None:
    metrics = compute_diagnostics(batch)
    assert P + absent not in metrics
    assert all(math.isfinite(value) for value in metrics.values())


def test_numpy_and_bool_values_count_like_numbers() -> None:
    metrics = compute_diagnostics(
        {
            "format": np.array([True, False]),
            "correct": [np.int64(1), np.int64(0)],
            "length_reward": [np.float32(0.5), 1],
        }
    )
    assert metrics[P + "format_rate"] == pytest.approx(0.5)
    assert metrics[P + "surrogate_correct_agreement"] == pytest.approx(1.0)
    assert metrics[P + "length_reward_mean"] == pytest.approx(0.75)


def test_format_and_correct_columns_of_different_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        compute_diagnostics({"format": [1, 1], "correct": [1]})


def test_extra_fields_become_columns_with_none_for_missing_keys() -> None:
    extra_fields = [
        {"reward_extra_info": {"format": 1, "correct": 1}, "min_global_steps": 3},
        {"reward_extra_info": {"format": 0}},
        {"min_global_steps": 3},
        None,
    ]
    assert columns_from_extra_fields(extra_fields) == {
        "format": [1, 0, None, None],
        "correct": [1, None, None, None],
    }


def test_no_rollouts_give_no_columns_and_no_metrics() -> None:
    assert columns_from_extra_fields([]) == {}
    assert compute_diagnostics(columns_from_extra_fields([])) == {}
