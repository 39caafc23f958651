"""`verl-ext table`: the paper's table from the release's logs, and veRL 0.9 file-logger logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verl_ext.cli import main
from verl_ext.eval.table import TableError, accuracy_metrics, best_step, build_table
from verl_ext.io import read_metric_log

BENCHMARKS = ["AIME2024", "MATH500", "AMC2023"]
PREFIX = "grpo-{}-7b_math-bs_128-3k-zs_qwen-r_{}"

# The paper's table: best 3-benchmark average within 100 steps (run, step, AIME2024, MATH500, AMC2023).
PAPER_TABLE = [
    (("deepscaler_17k", "a_g_f"), 85, 0.267, 0.746, 0.578),
    (("deepscaler_17k", "f_a"), 100, 0.267, 0.726, 0.554),
    (("deepscaler_17k", "f_l_v3_token5_a-v3"), 95, 0.333, 0.768, 0.602),
    (("math", "a_g_f"), 85, 0.267, 0.730, 0.566),
    (("math", "f_a"), 30, 0.267, 0.728, 0.530),
    (("math", "f_l_v3_token5_a-v3"), 100, 0.400, 0.730, 0.542),
]


def _log_path(release_dir: Path, data: str, reward: str) -> Path:
    return release_dir / "logs" / f"{PREFIX.format(data, reward)}.json"


@pytest.mark.parametrize("run, step, aime, math500, amc", PAPER_TABLE, ids=["-".join(r[0]) for r in PAPER_TABLE])
def test_release_logs_reproduce_the_papers_table(release_dir, run, step, aime, math500, amc):
    row = best_step(read_metric_log(_log_path(release_dir, *run)), BENCHMARKS, max_step=100)
    assert row.step == step
    assert [round(row.accuracies[b], 3) for b in BENCHMARKS] == [aime, math500, amc]


def test_tied_averages_go_to_the_earliest_step(release_dir):
    # math, format only: steps 30 (0.267, 0.728, 0.530) and 40 (0.233, 0.726, 0.566) both average 0.5083...
    log = read_metric_log(_log_path(release_dir, "math", "f_a"))
    averages = {s: sum(log.steps[s][f"val/test_score/{b}"] for b in BENCHMARKS) / 3 for s in (30, 40)}
    assert averages[30] == pytest.approx(averages[40], abs=1e-12)
    assert best_step(log, BENCHMARKS, max_step=100).step == 30


def test_max_step_limits_the_search(release_dir):
    log = read_metric_log(_log_path(release_dir, "deepscaler_17k", "f_l_v3_token5_a-v3"))
    assert best_step(log, BENCHMARKS, max_step=60).step <= 60


def test_table_cli_prints_the_papers_table(release_dir, capsys):
    logs = [str(_log_path(release_dir, *run)) for run, *_ in PAPER_TABLE]
    assert main(["table", *logs, "--benchmarks", *BENCHMARKS, "--max-step", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| run | step | AIME2024 | MATH500 | AMC2023 | average |"
    # runs named by train set and reward (the release's README: a_g_f = correctness,
    # f_l_v3_token5_a-v3 = format + length)
    assert lines[2] == "| correctness (DeepScaleR-17k) | 85 | 0.267 | 0.746 | 0.578 | 0.530 |"
    assert lines[7] == "| format + length (MATH) | 100 | 0.400 | 0.730 | 0.542 | 0.557 |"


def test_table_cli_json_and_names(release_dir, capsys):
    logs = [str(_log_path(release_dir, "math", r)) for r in ("a_g_f", "f_a")]
    assert main(["table", *logs, "--json", "--name", "correctness", "--name", "format"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["benchmarks"] == ["AIME2024", "AMC2023", "MATH500"]  # default: shared benchmarks, sorted
    assert [(r["run"], r["step"]) for r in payload["rows"]] == [("correctness", 85), ("format", 30)]
    assert payload["rows"][0]["metrics"]["AIME2024"] == "val/test_score/AIME2024"


@pytest.mark.parametrize("output", ["--json", "--csv"])
def test_table_rows_keep_their_log_and_run_code_beside_the_readable_name(release_dir, capsys, output):
    # a script joins a row back to its file and to the release's run (the README of the release names runs by these
    # codes); the readable name alone (correctness (MATH)) no longer says which file it came from
    runs = [("math", "a_g_f"), ("deepscaler_17k", "f_l_v3_token5_a-v3")]
    logs = [str(_log_path(release_dir, *run)) for run in runs]
    assert main(["table", *logs, output]) == 0
    text = capsys.readouterr().out
    if output == "--json":
        rows = json.loads(text)["rows"]
    else:
        import csv
        import io

        rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["run"], r["run_code"], r["log"]) for r in rows] == [
        ("correctness (MATH)", "grpo-math-7b_math-bs_128-3k-zs_qwen-r_a_g_f", logs[0]),
        (
            "format + length (DeepScaleR-17k)",
            "grpo-deepscaler_17k-7b_math-bs_128-3k-zs_qwen-r_f_l_v3_token5_a-v3",
            logs[1],
        ),
    ]


def test_a_row_named_with_name_keeps_its_run_code(release_dir, capsys):
    log = str(_log_path(release_dir, "math", "f_a"))
    assert main(["table", log, "--json", "--name", "mine"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert (row["run"], row["run_code"], row["log"]) == ("mine", "grpo-math-7b_math-bs_128-3k-zs_qwen-r_f_a", log)


def test_table_cli_rejects_a_name_count_that_differs_from_the_logs(release_dir, capsys):
    log = str(_log_path(release_dir, "math", "f_a"))
    assert main(["table", log, log, "--name", "only-one"]) == 2
    assert "--name given 1 times for 2 logs" in capsys.readouterr().err


# --- veRL 0.9 file-logger metric names -----------------------------------------------------------


def _file_logger(path: Path, entries: list[tuple[int, dict]]) -> Path:
    path.write_text("".join(json.dumps({"step": s, "data": d}) + "\n" for s, d in entries), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "names, chosen, why",
    [
        (
            ["val-core/AIME2024/acc/mean@1", "val-aux/AIME2024/reward/mean@1"],
            "val-core/AIME2024/acc/mean@1",
            "the reward function's acc is the accuracy",
        ),
        (
            ["val-core/AIME2024/reward/mean@1", "val-aux/AIME2024/correct/mean@1"],
            "val-aux/AIME2024/correct/mean@1",
            "with verl-ext's managers `reward` is the label-free score; `correct` is the ground-truth check",
        ),
        (["val-core/AIME2024/reward/mean@1"], "val-core/AIME2024/reward/mean@1", "only the reward is logged"),
        (["val-core/AIME2024/score/mean@1"], "val-core/AIME2024/score/mean@1", "score as a last resort"),
        (["val/test_score/AIME2024"], "val/test_score/AIME2024", "older veRL (the paper's logs)"),
        (
            ["val-aux/AIME2024/acc/mean@4", "val-core/AIME2024/acc/mean@16", "val-aux/AIME2024/acc/best@16/mean"],
            "val-core/AIME2024/acc/mean@16",
            "the largest sample count; best@/maj@ are not accuracies",
        ),
    ],
)
def test_accuracy_metric_preference(tmp_path, names, chosen, why):
    log = read_metric_log(_file_logger(tmp_path / "run.jsonl", [(5, {name: 0.5 for name in names})]))
    assert accuracy_metrics(log) == {"AIME2024": chosen}, why


def test_file_logger_log_gives_a_table_row(tmp_path):
    entries = [
        (0, {"val-core/A/acc/mean@1": 0.1, "val-core/B/acc/mean@1": 0.3}),
        (1, {"response_length/mean": 800.0}),
        (5, {"val-core/A/acc/mean@1": 0.4, "val-core/B/acc/mean@1": 0.2}),  # average 0.30
        (10, {"val-core/A/acc/mean@1": 0.2, "val-core/B/acc/mean@1": 0.6}),  # average 0.40: best
        (15, {"val-core/A/acc/mean@1": 0.9}),  # B not logged: not a candidate
    ]
    benchmarks, rows = build_table([read_metric_log(_file_logger(tmp_path / "run.jsonl", entries))])
    assert benchmarks == ["A", "B"]
    assert (rows[0].run, rows[0].step, rows[0].accuracies) == ("run", 10, {"A": 0.2, "B": 0.6})


@pytest.mark.parametrize(
    "entries, benchmarks, max_step, words",
    [
        ([(5, {"val-core/A/acc/mean@1": 0.1})], ["A", "C"], None, ["no accuracy logged for C", "benchmarks found: A"]),
        (
            [(5, {"val-core/A/acc/mean@1": 0.1}), (10, {"val-core/B/acc/mean@1": 0.1})],
            ["A", "B"],
            None,
            ["no validation step logged all of A, B"],
        ),
        ([(50, {"val-core/A/acc/mean@1": 0.1})], ["A"], 10, ["no validation step at steps <= 10"]),
        ([(5, {"response_length/mean": 1.0})], None, None, ["share no validation benchmark"]),
    ],
)
def test_logs_that_cannot_give_a_table_say_why(tmp_path, entries, benchmarks, max_step, words):
    log = read_metric_log(_file_logger(tmp_path / "run.jsonl", entries))
    with pytest.raises(TableError) as caught:
        build_table([log], benchmarks, max_step)
    for word in words:
        assert word in str(caught.value)
