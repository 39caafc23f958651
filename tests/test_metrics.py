"""Evaluation metrics: the unbiased pass@k, majority vote, bootstrap CIs, grouping of scored rows,
`verl-ext metrics`."""

from __future__ import annotations

import json
import math
from math import comb
from pathlib import Path

import pytest

from verl_ext.cli import main
from verl_ext.eval.metrics import bootstrap_ci, compute_metrics, group_metrics, majority_correct, pass_at_k
from verl_ext.io import InputError, read_scored
from verl_ext.io.scored import ScoredRow


def _row(problem: str, correct: float | None, pred: str = "", **kw) -> ScoredRow:
    values = dict(
        path="s.jsonl",
        where="line 1",
        source="in.jsonl",
        data_source="D",
        step=None,
        problem=problem,
        pred=pred,
        format=1.0,
        score=correct or 0.0,
        correct=correct,
        response_tokens=100,
        truncated=0.0,
        timed_out=0.0,
    )
    values.update(kw)
    return ScoredRow(**values)


# --- pass@k --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, c, k",
    [(16, 0, 1), (16, 16, 16), (16, 1, 1), (16, 1, 16), (16, 3, 4), (10, 5, 3), (100, 7, 10), (5, 4, 2)],
)
def test_pass_at_k_equals_the_combinatorial_formula(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


@pytest.mark.parametrize(
    "n, c, k, expected, why",
    [
        (8, 3, 1, 3 / 8, "pass@1 is the fraction correct"),
        (8, 0, 8, 0.0, "no correct sample: never passes"),
        (8, 1, 8, 1.0, "k = n: any correct sample passes"),
        (8, 6, 3, 1.0, "fewer than k wrong samples: every draw of k holds a correct one"),
    ],
)
def test_pass_at_k_edge_cases(n, c, k, expected, why):
    assert pass_at_k(n, c, k) == pytest.approx(expected), why


@pytest.mark.parametrize("n, c, k", [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_pass_at_k_rejects_impossible_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


# --- majority vote -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "preds, correct, expected, why",
    [
        (["2", "2", "3"], [1, 1, 0], 1.0, "the majority answer is right"),
        (["3", "3", "2"], [0, 0, 1], 0.0, "the majority answer is wrong"),
        (["2", "3"], [1, 0], 0.5, "a tie counts the mean over the tied answers"),
        (["", "", "2"], [0, 0, 1], 1.0, "samples without an answer do not vote"),
        (["", ""], [0, 0], 0.0, "no answer at all is wrong"),
        (["x + 1", "x+1", "2"], [1, 1, 0], 1.0, "whitespace does not split votes"),
    ],
)
def test_majority_vote(preds, correct, expected, why):
    assert majority_correct(preds, correct) == pytest.approx(expected), why


# --- bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_ci_of_constant_values_is_a_point():
    assert bootstrap_ci([0.5] * 20) == (0.5, 0.5)


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    values = [1.0] * 12 + [0.0] * 18
    low, high = bootstrap_ci(values, seed=3)
    assert low < 0.4 < high
    assert (low, high) == bootstrap_ci(values, seed=3)
    assert 0.2 < low and high < 0.6


def test_bootstrap_ci_narrows_with_more_problems():
    small = bootstrap_ci([1.0, 0.0] * 15)
    large = bootstrap_ci([1.0, 0.0] * 250)
    assert large[1] - large[0] < small[1] - small[0]


@pytest.mark.parametrize(
    "kwargs", [{"values": []}, {"values": [1.0], "confidence": 1.0}, {"values": [1.0], "n_boot": 0}]
)
def test_bootstrap_ci_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        bootstrap_ci(**kwargs)


# --- one group -----------------------------------------------------------------------------------


def test_single_sample_group_reports_accuracy_only():
    rows = [_row("p1", 1.0, "1"), _row("p2", 0.0, "5"), _row("p3", 1.0, "7"), _row("p4", 0.0, "")]
    out, warnings = group_metrics(rows, n_boot=200)
    assert (out["problems"], out["samples"], out["k"]) == (4, 4, 1)
    assert out["accuracy"] == pytest.approx(0.5)
    assert out["accuracy_ci"][0] <= 0.5 <= out["accuracy_ci"][1]
    assert out["pass@k"] is None and out["maj@k"] is None
    assert warnings == []


def test_k_sample_group_reports_mean_pass_and_majority():
    rows = (
        [_row("p1", 1.0, "4")] * 3
        + [_row("p1", 0.0, "5")]  # 3/4 right, majority right
        + [_row("p2", 0.0, "9")] * 3
        + [_row("p2", 1.0, "2")]  # 1/4 right, majority wrong
        + [_row("p3", 0.0, "1"), _row("p3", 0.0, "2"), _row("p3", 0.0, "3"), _row("p3", 0.0, "")]
    )
    out, _ = group_metrics(rows, ks=[1, 2], n_boot=200)
    assert out["k"] == 4
    assert out["accuracy"] == pytest.approx((0.75 + 0.25 + 0) / 3)
    assert out["pass@k"] == pytest.approx(2 / 3)
    assert out["maj@k"] == pytest.approx(1 / 3)
    assert out["pass@1"] == pytest.approx(out["accuracy"])
    assert out["pass@2"] == pytest.approx((pass_at_k(4, 3, 2) + pass_at_k(4, 1, 2)) / 3)


def test_group_lengths_format_and_truncation():
    rows = [
        _row("p1", 1.0, format=1.0, response_tokens=100, truncated=0.0),
        _row("p2", 0.0, format=0.0, response_tokens=3072, truncated=1.0, timed_out=1.0),
        _row("p3", 0.0, format=1.0, response_tokens=200, truncated=0.0),
    ]
    out, _ = group_metrics(rows, n_boot=50)
    assert out["format_rate"] == pytest.approx(2 / 3)
    assert out["mean_tokens"] == pytest.approx((100 + 3072 + 200) / 3)
    assert out["median_tokens"] == 200
    assert out["truncation_rate"] == pytest.approx(1 / 3)
    assert out["timeouts"] == 1


def test_group_without_ground_truth_has_no_accuracy():
    out, _ = group_metrics([_row("p1", None), _row("p2", None)], n_boot=50)
    assert "accuracy" not in out and out["format_rate"] == 1.0


def test_group_mixing_rows_with_and_without_correct_is_an_error():
    with pytest.raises(InputError, match="no 'correct' field while other records"):
        group_metrics([_row("p1", 1.0), _row("p2", None, where="line 2")], n_boot=50)


def test_unequal_samples_per_problem_warn_and_use_the_smallest_k():
    rows = [_row("p1", 1.0)] * 4 + [_row("p2", 0.0)] * 2
    out, warnings = group_metrics(rows, ks=[3], n_boot=50)
    assert out["k"] == 2
    assert any("between 2 and 4 samples" in w for w in warnings)
    assert any("pass@3 skipped" in w for w in warnings)


def test_unknown_token_counts_are_reported_as_missing():
    out, _ = group_metrics([_row("p1", 1.0, response_tokens=None, truncated=None)], n_boot=10)
    assert out["mean_tokens"] is None and out["truncation_rate"] is None


# --- grouping ------------------------------------------------------------------------------------


def test_groups_by_data_source_and_step():
    rows = [
        _row(f"p{i}", float(i % 2), data_source=ds, step=step)
        for ds in ("B", "A")
        for step in (10, 5)
        for i in range(4)
    ]
    report = compute_metrics({"s.jsonl": rows}, n_boot=20)
    assert report.group_keys == ["data_source", "step"]
    assert [(r["data_source"], r["step"]) for r in report.rows] == [("A", 5), ("A", 10), ("B", 5), ("B", 10)]


def test_rows_of_several_inputs_are_never_pooled_as_samples():
    # the same problems answered by two runs (files) must not count as 2 samples per problem
    rows = [_row(f"p{i}", 1.0, source="runA/res.json") for i in range(3)] + [
        _row(f"p{i}", 0.0, source="runB/res.json") for i in range(3)
    ]
    report = compute_metrics({"s.jsonl": rows}, n_boot=20)
    assert report.group_keys == ["source", "data_source"]
    assert [(r["source"], r["k"], r["accuracy"]) for r in report.rows] == [
        ("runA/res.json", 1, 1.0),
        ("runB/res.json", 1, 0.0),
    ]


def test_several_scored_files_are_named_by_stem():
    report = compute_metrics({"out/a.jsonl": [_row("p", 1.0)], "out/b.jsonl": [_row("p", 0.0)]}, n_boot=20)
    assert report.group_keys == ["run", "data_source"]
    assert [r["run"] for r in report.rows] == ["a", "b"]


# --- reading scored files and the CLI ------------------------------------------------------------


def _scored_file(path: Path, k: int = 4) -> Path:
    records = []
    for p in range(6):
        for s in range(k):
            ok = float((p + s) % 3 == 0)
            records.append(
                {
                    "prompt": f"problem {p}",
                    "data_source": "AIME2024",
                    "step": 100,
                    "pred": str(p if ok else s),
                    "format": 1.0,
                    "score": ok,
                    "correct": ok,
                    "response_tokens": 500 + s,
                    "truncated": 0.0,
                    "timed_out": 0.0,
                    "source": "gen.parquet",
                }
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_read_scored_identifies_problems_by_prompt(tmp_path):
    rows = read_scored(_scored_file(tmp_path / "s.jsonl"))
    assert len(rows) == 24 and len({r.problem for r in rows}) == 6
    assert rows[0].step == 100 and rows[0].data_source == "AIME2024"


def test_read_scored_rejects_unscored_records(tmp_path):
    path = tmp_path / "raw.jsonl"
    path.write_text('{"response": "x", "ground_truth": "1"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 1.*run `verl-ext score` first"):
        read_scored(path)


@pytest.mark.parametrize(
    "flag, check",
    [
        ([], lambda out: "| data_source | step | problems | k | accuracy / mean@k [95% CI] | pass@k | maj@k |" in out),
        (["--json"], lambda out: json.loads(out)["rows"][0]["k"] == 4),
        (
            ["--csv"],
            lambda out: out.splitlines()[0].startswith("data_source,step,problems,samples,k,accuracy,accuracy_ci_low"),
        ),
        (["--k", "1", "2"], lambda out: "pass@1" in out and "pass@2" in out),
    ],
)
def test_metrics_cli_renders_markdown_json_and_csv(tmp_path, capsys, flag, check):
    assert main(["metrics", str(_scored_file(tmp_path / "s.jsonl")), "--bootstrap", "100", *flag]) == 0
    assert check(capsys.readouterr().out)


def test_metrics_cli_writes_to_a_file(tmp_path, capsys):
    out = tmp_path / "m.md"
    assert main(["metrics", str(_scored_file(tmp_path / "s.jsonl")), "--bootstrap", "50", "-o", str(out)]) == 0
    assert out.read_text().startswith("| data_source |") and capsys.readouterr().out == ""


def test_metrics_cli_bad_input_exits_2_naming_the_line(tmp_path, capsys):
    path = tmp_path / "s.jsonl"
    path.write_text(
        '{"pred": "1", "format": 1, "score": 1}\n{"pred": "1", "format": "yes", "score": 1}\n', encoding="utf-8"
    )
    assert main(["metrics", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: line 2: field 'format' must be a number" in err


def _as_json_list(jsonl: Path, path: Path) -> Path:
    path.write_text(
        json.dumps([json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]), encoding="utf-8"
    )
    return path


def _as_parquet(jsonl: Path, path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.Table.from_pylist([json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]), path
    )
    return path


@pytest.mark.parametrize("convert, name", [(_as_json_list, "s.json"), (_as_parquet, "s.parquet")])
def test_metrics_reads_scored_records_in_the_file_formats_score_reads(tmp_path, capsys, convert, name):
    path = convert(_scored_file(tmp_path / "s.jsonl"), tmp_path / name)
    assert main(["metrics", str(path), "--json", "--bootstrap", "20"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    # 6 problems x 4 samples, sample s of problem p correct when (p + s) % 3 == 0: 2+1+1+2+1+1 = 8 of 24
    assert (row["problems"], row["k"]) == (6, 4)
    assert row["accuracy"] == pytest.approx(8 / 24)


def test_metrics_on_a_release_output_file_says_to_score_it_first(release_dir, capsys):
    release = (
        release_dir / "outputs" / "grpo-deepscaler_17k-7b_math-bs_128-3k-zs_qwen-r_f_a" / "100" / "res_AMC2023.json"
    )
    assert main(["metrics", str(release)]) == 2
    err = capsys.readouterr().err
    assert f"{release}: item 1: generations (flat layout), not a scored record" in err
    assert "run `verl-ext score` first" in err and "not valid JSON" not in err


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--bootstrap", "0"], "--bootstrap must be >= 1"),
        (["--confidence", "1.5"], "--confidence must lie strictly between 0 and 1"),
        (["--k", "0"], "--k values must be >= 1"),
    ],
)
def test_bad_metrics_options_name_their_flag(tmp_path, capsys, flags, words):
    assert main(["metrics", str(_scored_file(tmp_path / "s.jsonl")), *flags]) == 2
    assert f"verl-ext metrics: error: {words}" in capsys.readouterr().err


def test_the_scored_rewards_correlation_with_correctness_and_its_pseudo_label_accuracy():
    # problem p: scores 1, 0 with correctness 1, 0; problem q: scores 1, 0 with correctness 1, 1. The correct
    # samples' mean score is 2/3, the wrong one's 0, the scores' population sd 1/2 and sqrt(n1 n0) / n = sqrt(3) / 4:
    # r_pb = (2/3) / (1/2) * sqrt(3) / 4 = 1 / sqrt(3); each problem's top-scored sample (its first) is correct
    rows = [
        _row("p", 1.0, "1", score=1.0),
        _row("p", 0.0, "2", score=0.0),
        _row("q", 1.0, "3", score=1.0),
        _row("q", 1.0, "3", score=0.0),
    ]
    out, _ = group_metrics(rows, n_boot=10)
    assert out["point_biserial"] == pytest.approx(1 / math.sqrt(3))
    assert out["pseudo_label_accuracy"] == 1.0
    constant, _ = group_metrics([_row("p", 1.0, "1"), _row("p", 1.0, "1")], n_boot=10)
    assert constant["point_biserial"] is None  # correctness constant: undefined, never a 0
