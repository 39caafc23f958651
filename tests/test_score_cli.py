"""`verl-ext score`: offline scoring of the release's outputs and of veRL dumps, through the preset registry.

The release's stored `score` is its own correctness verdict. Ours (math-verify) agrees on >= 98 % of the
1,517 released outputs (release_data/outputs); every disagreement is a MATH500 answer equivalent to its ground truth
that the release's stored verdict, computed without LaTeX parsing (see the data README), marked wrong.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verl_ext.cli import main
from verl_ext.core import score_response
from verl_ext.core.extra_info import result_fields

RUN_FL = "grpo-deepscaler_17k-7b_math-bs_128-3k-zs_qwen-r_f_l_v3_token5_a-v3"
MATH500_FILE = f"outputs/{RUN_FL}/100/res_all_MATH500.json"
AIME_FILE = f"outputs/{RUN_FL}/100/res_all_AIME2024.json"
AMC_FILE = f"outputs/{RUN_FL}/100/res_AMC2023.json"

# (item index in res_all_MATH500.json, extracted answer, ground truth, why our "correct" is right)
KNOWN_DISAGREEMENTS = [
    (
        99,
        "\\begin{pmatrix} -\\frac{1}{3} \\\\ \\frac{2}{3} \\\\ \\frac{5}{3} \\end{pmatrix}",
        "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}",
        "pmatrix entries \\frac{a}{b} equal a/b",
    ),
    (166, "\\frac{270}{7}", "\\frac{270}7\\text{ degrees}", "a unit word in the ground truth is not part of the value"),
    (232, "998.5", "\\frac{1997}{2}", "a decimal equals the fraction"),
    (274, "2\\pi + 18", "18+2\\pi", "addition commutes"),
    (
        408,
        "\\begin{pmatrix} \\frac{1}{5} \\\\ -\\frac{18}{5} \\end{pmatrix}",
        "\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}",
        "pmatrix entries \\frac{a}{b} equal a/b",
    ),
    (
        420,
        "\\begin{pmatrix} \\frac{16}{49} \\\\ \\frac{48}{49} \\\\ \\frac{24}{49} \\end{pmatrix}",
        "\\begin{pmatrix} 16/49 \\\\ 48/49 \\\\ 24/49 \\end{pmatrix}",
        "pmatrix entries \\frac{a}{b} equal a/b",
    ),
]


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "verl_ext.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def all_scored(release_dir, tmp_path_factory) -> tuple[list[Path], list[dict]]:
    """Every released output scored with --reward correctness, default processes (the full agreement check)."""
    inputs = sorted((release_dir / "outputs").glob("*/*/*.json"))
    out = tmp_path_factory.mktemp("scored") / "all.jsonl"
    done = _cli("score", *map(str, inputs), "-o", str(out), "--reward", "correctness", "--quiet")
    assert done.returncode == 0, done.stderr
    return inputs, _rows(out)


def test_correctness_agrees_with_the_release_verdicts_on_at_least_98_percent(all_scored):
    inputs, rows = all_scored
    assert len(rows) == 1517
    agree = sum(float(r["stored_score"]) == r["score"] for r in rows)
    assert agree / len(rows) >= 0.98
    differ = [
        (Path(r["source"]).name, r["pred"], r["ground_truth"], float(r["stored_score"]), r["score"])
        for r in rows
        if float(r["stored_score"]) != r["score"]
    ]
    assert differ == [("res_all_MATH500.json", pred, truth, 0.0, 1.0) for _, pred, truth, _ in KNOWN_DISAGREEMENTS]
    assert not any(r["timed_out"] for r in rows)


def test_scored_rows_keep_every_input_field_in_input_order(all_scored, release_dir):
    inputs, rows = all_scored
    originals = [record for path in inputs for record in json.loads(path.read_text(encoding="utf-8"))]
    for original, row in zip(originals, rows, strict=True):
        kept = {("stored_score" if k == "score" else k): v for k, v in original.items()}
        assert {k: row[k] for k in kept} == kept
    library_fields = set(result_fields(score_response("correctness", "\\boxed{1}", ground_truth="1")))
    assert {"pred", "format", "length_reward", "response_tokens", "truncated", "timed_out", "correct"} <= library_fields
    assert set(rows[0]) == set(originals[0]) | library_fields | {
        "stored_score",
        "correct_error",
        "score",
        "reward_preset",
        "source",
    }


@pytest.mark.parametrize("index, pred, truth, why", KNOWN_DISAGREEMENTS, ids=[d[3] for d in KNOWN_DISAGREEMENTS])
def test_each_disagreement_class_is_an_equivalent_answer(release_dir, index, pred, truth, why):
    item = json.loads((release_dir / MATH500_FILE).read_text(encoding="utf-8"))[index]
    assert (item["ground_truth"], item["score"]) == (truth, 0.0)  # the release's stored verdict: wrong
    scored = score_response(
        "correctness", item["response"], ground_truth=item["ground_truth"], correctness_timeout_s=10
    )
    assert result_fields(scored)["pred"] == pred
    assert scored.score == 1.0, why


def test_process_pool_and_in_process_scoring_give_the_same_rows(all_scored, release_dir, tmp_path):
    _, rows = all_scored
    subset = json.loads((release_dir / MATH500_FILE).read_text(encoding="utf-8"))[90:130]
    path = tmp_path / "subset.json"
    path.write_text(json.dumps(subset), encoding="utf-8")
    out = tmp_path / "pooled.jsonl"
    done = _cli("score", str(path), "-o", str(out), "--reward", "correctness", "--workers", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "2 process(es)" in done.stderr
    in_process = [r for r in rows if r["source"].endswith(MATH500_FILE)][90:130]
    keys = ("pred", "format", "length_reward", "truncated", "correct", "score")
    assert [{k: r[k] for k in keys} for r in _rows(out)] == [{k: r[k] for k in keys} for r in in_process]


@pytest.mark.parametrize(
    "workers, items, cores, expected, why",
    [
        (None, 1517, 2, 1, "too small to repay a pool's start-up"),
        (None, 2000, 2, 2, "1000 responses per process"),
        (None, 100_000, 16, 16, "every core"),
        (None, 100_000, 2, 2, "every core"),
        (3, 100, 2, 3, "an explicit count is honoured"),
        (4, 20, 2, 2, "but never more processes than chunks of 16"),
    ],
)
def test_process_count(monkeypatch, workers, items, cores, expected, why):
    from verl_ext import scoring

    monkeypatch.setattr(scoring.os, "cpu_count", lambda: cores)
    assert scoring.ScoreOptions("correctness", workers=workers).worker_count(items) == expected, why


# --- length-based rewards and token counts -------------------------------------------------------


def test_format_length_uses_the_release_token_counts(release_dir, tmp_path):
    out = tmp_path / "fl.jsonl"
    assert main(["score", str(release_dir / AIME_FILE), "-o", str(out), "--reward", "format_length", "--quiet"]) == 0
    rows = _rows(out)
    labels = [json.loads(line) for line in (release_dir / "outputs/reference_labels.jsonl").read_text().splitlines()]
    reference = {r["idx"]: r for r in labels if r["run"] == RUN_FL and r["step"] == 100 and r["bench"] == "AIME2024"}
    for index, row in enumerate(rows):
        assert row["response_tokens"] == int(row["response_token_len"])
        assert row["length_reward"] == pytest.approx(reference[index]["length_reward"])
        assert row["truncated"] == float(row["response_tokens"] >= 3072)


def test_length_reward_without_token_counts_asks_for_a_tokenizer(release_dir, tmp_path, capsys):
    out = tmp_path / "fl.jsonl"
    assert main(["score", str(release_dir / AMC_FILE), "-o", str(out), "--reward", "length", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{release_dir / AMC_FILE}: item 1: no token count" in err
    assert "83 of 83 records lack one" in err and "--tokenizer PATH" in err
    assert not out.exists()


def test_tokenizer_counts_missing_token_counts(tiny_tokenizer_dir, tmp_path):
    from transformers import AutoTokenizer

    records = [
        {"response": "x = 2, so \\boxed{2}", "ground_truth": "2"},
        {"response": "\\boxed{7}", "ground_truth": "2", "response_length": 5},
    ]
    out = tmp_path / "s.jsonl"
    args = [
        "score",
        str(_jsonl(tmp_path / "g.jsonl", records)),
        "-o",
        str(out),
        "--reward",
        "format_length",
        "--tokenizer",
        str(tiny_tokenizer_dir),
        "--max-response-length",
        "40",
        "--quiet",
    ]
    assert main(args) == 0
    rows = _rows(out)
    expected = len(
        AutoTokenizer.from_pretrained(tiny_tokenizer_dir)(records[0]["response"], add_special_tokens=False)["input_ids"]
    )
    assert [r["response_tokens"] for r in rows] == [expected, 5]  # a count in the record wins
    assert rows[0]["correct"] == 1.0 and rows[1]["correct"] == 0.0


def test_unloadable_tokenizer_is_a_clear_error(tmp_path, capsys):
    path = _jsonl(tmp_path / "g.jsonl", [{"response": "\\boxed{1}"}])
    assert (
        main(
            [
                "score",
                str(path),
                "-o",
                str(tmp_path / "o.jsonl"),
                "--reward",
                "length",
                "--tokenizer",
                str(tmp_path / "none"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "cannot load tokenizer" in capsys.readouterr().err


# --- veRL dumps, generation lists, options -------------------------------------------------------


def test_verl_validation_dump_keeps_its_fields_and_scores(tmp_path):
    records = [
        {
            "input": "user: 1+1",
            "output": "\\boxed{2}",
            "gts": "2",
            "score": 0.5,
            "step": 20,
            "reward": 0.5,
            "acc": 0.0,
            "response_tokens": 40,
        },
        {
            "input": "user: 3+3",
            "output": "\\boxed{x^}",
            "gts": "6",
            "score": 0.0,
            "step": 20,
            "reward": 0.0,
            "acc": 1.0,
            "response_tokens": 3072,
        },
    ]
    out = tmp_path / "s.jsonl"
    assert (
        main(
            [
                "score",
                str(_jsonl(tmp_path / "20.jsonl", records)),
                "-o",
                str(out),
                "--reward",
                "format_length",
                "--quiet",
            ]
        )
        == 0
    )
    rows = _rows(out)
    assert [r["step"] for r in rows] == [20, 20] and [r["input"] for r in rows] == ["user: 1+1", "user: 3+3"]
    assert [r["stored_score"] for r in rows] == [0.5, 0.0] and [r["reward"] for r in rows] == [0.5, 0.0]
    assert [r["stored_acc"] for r in rows] == [0.0, 1.0]  # the dump's own verdicts are kept, never overwritten
    assert [r["format"] for r in rows] == [1.0, 0.0]
    assert [r["correct"] for r in rows] == [1.0, 0.0]
    assert rows[1]["truncated"] == 1.0 and rows[1]["score"] == pytest.approx(-1.0)  # bad format, truncated: min(0, L)


def test_generation_lists_score_and_give_k_sample_metrics(tmp_path, capsys):
    records = [
        {
            "prompt": [{"role": "user", "content": "p1"}],
            "data_source": "AIME2024",
            "reward_model": {"ground_truth": "12"},
            "responses": ["\\boxed{12}", "\\boxed{12}", "\\boxed{13}", "none"],
            "response_token_lens": [10, 11, 12, 3072],
        },
        {
            "prompt": [{"role": "user", "content": "p2"}],
            "data_source": "AIME2024",
            "reward_model": {"ground_truth": "5"},
            "responses": ["\\boxed{4}", "\\boxed{4}", "\\boxed{5}", "\\boxed{4}"],
            "response_token_lens": [10, 10, 10, 10],
        },
    ]
    gen = tmp_path / "aime2024.parquet"
    pq.write_table(pa.Table.from_pylist(records), gen)
    out = tmp_path / "s.jsonl"
    assert main(["score", str(gen), "-o", str(out), "--reward", "correctness", "--quiet"]) == 0
    assert [r["correct"] for r in _rows(out)] == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert main(["metrics", str(out), "--json", "--bootstrap", "50"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert (row["problems"], row["k"]) == (2, 4)
    assert row["accuracy"] == pytest.approx((0.5 + 0.25) / 2)
    assert row["pass@k"] == 1.0 and row["maj@k"] == pytest.approx(0.5)
    assert row["truncation_rate"] == pytest.approx(1 / 8)


def test_data_source_option_fills_records_without_one(tmp_path):
    records = [{"response": "\\boxed{1}", "data_source": "KEEP"}, {"response": "\\boxed{2}"}]
    out = tmp_path / "s.jsonl"
    assert (
        main(
            [
                "score",
                str(_jsonl(tmp_path / "g.jsonl", records)),
                "-o",
                str(out),
                "--reward",
                "format",
                "--data-source",
                "MATH500",
                "--quiet",
            ]
        )
        == 0
    )
    assert [r["data_source"] for r in _rows(out)] == ["KEEP", "MATH500"]


def test_pathological_answer_times_out_and_the_run_goes_on(tmp_path, capsys):
    records = [
        {"response": "so \\boxed{9^{9^{9^{9}}}}", "ground_truth": "\\frac{1}{2}"},
        {"response": "so \\boxed{\\frac{2}{4}}", "ground_truth": "\\frac{1}{2}"},
    ]
    out = tmp_path / "s.jsonl"
    assert (
        main(
            [
                "score",
                str(_jsonl(tmp_path / "g.jsonl", records)),
                "-o",
                str(out),
                "--reward",
                "correctness",
                "--timeout",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    first, second = _rows(out)
    assert (first["score"], first["timed_out"]) == (0.0, 1.0)
    assert "1.0 s" in first["correct_error"]  # names the bound (wording belongs to verl_ext.rewards)
    assert (second["score"], second["timed_out"], second["correct_error"]) == (1.0, 0.0, None)
    assert "1 check(s) stopped by their time bound" in capsys.readouterr().err


@pytest.mark.parametrize(
    "records, extra, words",
    [
        (
            [{"response": "\\boxed{1}", "ground_truth": "1"}, {"response": "\\boxed{1}"}],
            [],
            ["g.jsonl: line 2", "no ground truth", "1 of 2"],
        ),
        ([{"response": "\\boxed{1}"}], ["--peak", "1.5"], ["peak must lie strictly between 0 and 1"]),
        ([{"response": "\\boxed{1}"}], ["--workers", "0"], ["workers must be >= 1"]),
        ([{"response": "\\boxed{1}"}], ["--max-response-length", "0"], ["max_response_tokens must be > 0"]),
        ([{"response": "\\boxed{1}"}], ["--timeout", "0"], ["timeout must be > 0"]),
    ],
)
def test_bad_scoring_requests_exit_2_with_the_reason(tmp_path, capsys, records, extra, words):
    out = tmp_path / "s.jsonl"
    assert (
        main(
            [
                "score",
                str(_jsonl(tmp_path / "g.jsonl", records)),
                "-o",
                str(out),
                "--reward",
                "correctness",
                "--quiet",
                *extra,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert not out.exists()


def test_progress_bar_reaches_every_record(tmp_path, capsys):
    # 17 records = one full chunk of 16 and one of 1: the bar must count the last chunk too
    records = [{"response": f"\\boxed{{{i}}}"} for i in range(17)]
    out = tmp_path / "s.jsonl"
    assert main(["score", str(_jsonl(tmp_path / "g.jsonl", records)), "-o", str(out), "--reward", "format"]) == 0
    err = capsys.readouterr().err
    assert "100%" in err and "17/17" in err
    assert err.rstrip().endswith(f"wrote {out}")


def test_unknown_reward_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["score", "x.jsonl", "-o", "o.jsonl", "--reward", "oracle"])
    assert caught.value.code == 2
    assert "unknown choice 'oracle'" in capsys.readouterr().err


def test_version_prints_the_package_version(capsys):
    from verl_ext import __version__

    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0 and __version__ in capsys.readouterr().out
