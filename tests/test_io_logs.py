"""Metric-log readers: veRL 0.9's file logger JSONL and the release's flat JSON lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verl_ext.io import InputError, read_metric_log

CORRECTNESS_LOG = "logs/grpo-deepscaler_17k-7b_math-bs_128-3k-zs_qwen-r_a_g_f.json"


def _file_logger(path: Path, entries: list[tuple[int, dict]]) -> Path:
    # the exact shape of verl.utils.tracking.FileLogger.log: {"step": step, "data": data}
    path.write_text("".join(json.dumps({"step": s, "data": d}) + "\n" for s, d in entries), encoding="utf-8")
    return path


def test_release_flat_list_reads_every_step(shared_data):
    log = read_metric_log(shared_data / CORRECTNESS_LOG)
    assert log.layout == "flat_list"
    assert log.name == "grpo-deepscaler_17k-7b_math-bs_128-3k-zs_qwen-r_a_g_f"
    assert list(log.steps) == list(range(101))
    assert log.steps[85]["val/test_score/AIME2024"] == pytest.approx(0.267)
    assert "val/test_score/AIME2024" not in log.steps[86]  # validation every 5 steps: null elsewhere
    assert len(log.series("val/test_score/MATH500")) == 21


def test_file_logger_merges_lines_of_one_step(tmp_path):
    path = _file_logger(
        tmp_path / "run.jsonl",
        [
            (0, {"val-core/AIME2024/acc/mean@1": 0.1}),
            (1, {"response_length/mean": 900.0, "training/epoch": 0}),
            (1, {"val-core/AIME2024/acc/mean@1": 0.2, "response_length/mean": 910.0}),
        ],
    )
    log = read_metric_log(path, name="mine")
    assert log.layout == "file_logger" and log.name == "mine"
    assert log.steps == {
        0: {"val-core/AIME2024/acc/mean@1": 0.1},
        1: {"response_length/mean": 910.0, "training/epoch": 0.0, "val-core/AIME2024/acc/mean@1": 0.2},
    }


def test_non_numeric_values_are_not_metrics(tmp_path):
    path = _file_logger(tmp_path / "run.jsonl", [(3, {"a": 1, "b": "text", "c": True, "d": None, "e": [1, 2], "f": float("nan")})])
    assert read_metric_log(path).steps == {3: {"a": 1.0}}


def test_steps_come_out_in_order(tmp_path):
    path = _file_logger(tmp_path / "run.jsonl", [(10, {"a": 1}), (2, {"a": 2}), (5, {"a": 3})])
    assert list(read_metric_log(path).steps) == [2, 5, 10]


@pytest.mark.parametrize(
    "content, words",
    [
        ('{"step": 1, "data": {"a": 1}}\n{"step": 2, "da', ["line 2", "truncated"]),
        ('{"data": {"a": 1}}\n', ["line 1", "missing field 'step'"]),
        ('{"step": "one", "data": {}}\n', ["line 1", "'step' must be a whole number"]),
        ('{"step": 1.5, "data": {}}\n', ["line 1", "'step' must be a whole number"]),
        ('{"step": 1, "data": [1]}\n', ["line 1", "'data' must be an object"]),
        ('{"step": 1, "data": {"a": 1}}\n{"step": 2, "a": 1}\n', ["line 2", "mixes file_logger records with flat_list"]),
        ("", ["empty file"]),
        ('[{"step": 0, "a": 1}, {"a": 2}]', ["item 2", "missing field 'step'"]),
    ],
)
def test_bad_logs_fail_with_file_and_place(tmp_path, content, words):
    path = tmp_path / "run.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_metric_log(path)
    assert str(path) in str(caught.value)
    for word in words:
        assert word in str(caught.value)
