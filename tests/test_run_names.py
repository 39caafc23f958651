"""Run names read as train set + reward (verl_ext/eval/run_names.py), and `verl-ext table` naming its rows so.

Expected readings come from the release's README (its run-name scheme and reward codes) and from
recipe/format_length/run_grpo.sh (EXPERIMENT = grpo-$TRAIN_SET-<model dir name>-$REWARD)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verl_ext.cli import main
from verl_ext.eval.run_names import readable_name, recognise

RELEASE = "grpo-{}-7b_math-bs_128-3k-zs_qwen-r_{}"

NAMES = [
    # (run name, reward, train set, label)
    (RELEASE.format("deepscaler_17k", "a_g_f"), "correctness", "DeepScaleR-17k", "correctness (DeepScaleR-17k)"),
    (RELEASE.format("deepscaler_17k", "f_a"), "format", "DeepScaleR-17k", "format (DeepScaleR-17k)"),
    (
        RELEASE.format("deepscaler_17k", "f_l_v3_token5_a-v3"),
        "format + length",
        "DeepScaleR-17k",
        "format + length (DeepScaleR-17k)",
    ),
    (
        RELEASE.format("deepscaler_17k", "a_g_f_l"),
        "correctness + linear length",
        "DeepScaleR-17k",
        "correctness + linear length (DeepScaleR-17k; abandoned at step 55)",
    ),
    (RELEASE.format("math", "a_g_f"), "correctness", "MATH", "correctness (MATH)"),
    (RELEASE.format("math", "f_a"), "format", "MATH", "format (MATH)"),
    (RELEASE.format("math", "f_l_v3_token5_a-v3"), "format + length", "MATH", "format + length (MATH)"),
    # the recipe: paper scale, the other train set, the scale=cpu model (its content hash dropped)
    (
        "grpo-deepscaler_17k-qwen2.5-math-7b-format_length",
        "format + length",
        "DeepScaleR-17k",
        "format + length (DeepScaleR-17k, qwen2.5-math-7b)",
    ),
    ("grpo-math_train-qwen2.5-math-7b-correctness", "correctness", "MATH", "correctness (MATH, qwen2.5-math-7b)"),
    (
        "grpo-deepscaler_17k-tiny-qwen2-559b68cf733cdc28-random",
        "random",
        "DeepScaleR-17k",
        "random (DeepScaleR-17k, tiny-qwen2)",
    ),
    # "length" is its own reward, not the tail of "format_length"
    ("grpo-math_train-qwen2.5-math-7b-length", "length", "MATH", "length (MATH, qwen2.5-math-7b)"),
]


@pytest.mark.parametrize(("name", "reward", "train_set", "label"), NAMES, ids=[n[0] for n in NAMES])
def test_release_and_recipe_names_read_as_train_set_and_reward(name, reward, train_set, label):
    run = recognise(name)
    assert run is not None
    assert (run.reward, run.train_set, run.label) == (reward, train_set, label)
    assert readable_name(name) == label


@pytest.mark.parametrize(
    "name",
    [
        "my-run",
        "format_length-seed0",  # the demo's log
        "grpo-deepscaler_17k-qwen2.5-math-7b",  # no reward part
        "grpo-deepscaler_17k-qwen2.5-math-7b-not_a_preset",
        RELEASE.format("deepscaler_17k", "xyz"),  # not one of the release's codes
    ],
)
def test_other_names_are_left_as_they_are(name):
    assert recognise(name) is None
    assert readable_name(name) == name


def test_the_two_math_train_sets_are_one_train_set():
    # the release calls the MATH training set "math", the recipe "math_train" (its parquet file)
    assert recognise(RELEASE.format("math", "f_a")).train_set == recognise("grpo-math_train-m-format").train_set


def _log(path: Path, accuracy: float) -> Path:
    path.write_text(
        json.dumps({"step": 5, "data": {"val-core/AIME2024/acc/mean@1": accuracy}}) + "\n", encoding="utf-8"
    )
    return path


def test_table_names_runs_by_train_set_and_reward_and_name_still_wins(tmp_path, capsys):
    logs = [
        str(_log(tmp_path / f"{RELEASE.format('math', 'a_g_f_l')}.jsonl", 0.2)),
        str(_log(tmp_path / "mine.jsonl", 0.3)),
    ]
    assert main(["table", *logs]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == [
        "| correctness + linear length (MATH; abandoned at step 55)",
        "| mine",
    ]
    assert main(["table", *logs, "--name", RELEASE.format("math", "f_a"), "--name", "baseline", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [row["run"] for row in payload["rows"]] == [RELEASE.format("math", "f_a"), "baseline"]  # as given
