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


def test_release_flat_list_reads_every_step(release_dir):
    log = read_metric_log(release_dir / CORRECTNESS_LOG)
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
    path = _file_logger(
        tmp_path / "run.jsonl", [(3, {"a": 1, "b": "text", "c": True, "d": None, "e": [1, 2], "f": float("nan")})]
    )
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
        (
            '{"step": 1, "data": {"a": 1}}\n{"step": 2, "a": 1}\n',
            ["line 2", "mixes file_logger records with flat_list"],
        ),
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


def test_a_resumed_runs_parts_are_read_first_and_its_later_values_win_metric_by_metric(tmp_path):
    # part1: steps 1-10 of the crashed run; part2: 5-7 of a second crash; the live file: 6-12
    _file_logger(tmp_path / "run.jsonl.part1", [(s, {"a": 100.0 + s, "only_first": 1.0}) for s in range(1, 11)])
    _file_logger(tmp_path / "run.jsonl.part2", [(s, {"a": 200.0 + s}) for s in range(5, 8)])
    _file_logger(tmp_path / "run.jsonl", [(s, {"a": 300.0 + s}) for s in range(6, 13)])
    log = read_metric_log(tmp_path / "run.jsonl")
    assert list(log.steps) == list(range(1, 13))
    assert {s: v["a"] for s, v in log.steps.items()} == {
        1: 101.0,
        2: 102.0,
        3: 103.0,
        4: 104.0,
        5: 205.0,
        6: 306.0,
        7: 307.0,
        8: 308.0,
        9: 309.0,
        10: 310.0,
        11: 311.0,
        12: 312.0,
    }
    # a metric only the earlier run logged for a step is kept (as veRL's resumed run re-logs only validation
    # at the checkpoint's step, whose training metrics the crashed run logged)
    assert all(log.steps[s]["only_first"] == 1.0 for s in range(1, 11)) and "only_first" not in log.steps[11]
    assert log.parts == [str(tmp_path / "run.jsonl.part1"), str(tmp_path / "run.jsonl.part2")]
    assert log.name == "run"


def test_parts_are_ordered_by_number_and_other_names_are_not_parts(tmp_path):
    _file_logger(tmp_path / "run.jsonl.part10", [(1, {"a": 10.0})])
    _file_logger(tmp_path / "run.jsonl.part2", [(1, {"a": 2.0})])
    for stray in ("run.jsonl.part0", "run.jsonl.partx", "run.jsonl.part3.bak", "other.jsonl.part1"):
        _file_logger(tmp_path / stray, [(1, {"a": -1.0})])
    _file_logger(tmp_path / "run.jsonl", [(2, {"a": 0.0})])
    log = read_metric_log(tmp_path / "run.jsonl")
    assert log.steps == {1: {"a": 10.0}, 2: {"a": 0.0}}
    assert [Path(p).name for p in log.parts] == ["run.jsonl.part2", "run.jsonl.part10"]


@pytest.mark.parametrize("live", ["missing", "empty"])
def test_a_resume_that_logged_nothing_yet_reads_its_parts(tmp_path, live):
    _file_logger(tmp_path / "run.jsonl.part1", [(1, {"a": 1.0})])
    if live == "empty":
        (tmp_path / "run.jsonl").write_text("")
    assert read_metric_log(tmp_path / "run.jsonl").steps == {1: {"a": 1.0}}


def test_a_part_of_another_layout_is_an_error_naming_it(tmp_path):
    (tmp_path / "run.jsonl.part1").write_text('[{"step": 1, "a": 1}]', encoding="utf-8")
    _file_logger(tmp_path / "run.jsonl", [(2, {"a": 2.0})])
    with pytest.raises(InputError) as caught:
        read_metric_log(tmp_path / "run.jsonl")
    assert str(tmp_path / "run.jsonl") in str(caught.value) and "earlier parts are flat_list" in str(caught.value)


def test_a_run_name_with_glob_characters_finds_its_own_parts(tmp_path):
    _file_logger(tmp_path / "run[1].jsonl.part1", [(1, {"a": 1.0})])
    _file_logger(tmp_path / "run1.jsonl.part1", [(1, {"a": -1.0})])  # what an unescaped [1] would match
    _file_logger(tmp_path / "run[1].jsonl", [(2, {"a": 2.0})])
    assert read_metric_log(tmp_path / "run[1].jsonl").steps == {1: {"a": 1.0}, 2: {"a": 2.0}}
