"""`verl-ext score` with group-level rewards: the samples of one prompt are scored together; files that
cannot be grouped are refused with the file and record named. Expected values are worked by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from verl_ext.cli import main


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# two prompts, interleaved in the file: groups come from the prompt field, not from the order
RECORDS = [
    {"prompt": "p", "response": "\\boxed{2}", "ground_truth": "2"},
    {"prompt": "q", "response": "\\boxed{7}", "ground_truth": "1"},
    {"prompt": "p", "response": "\\boxed{2.0}", "ground_truth": "2"},
    {"prompt": "q", "response": "\\boxed{1}", "ground_truth": "1"},
    {"prompt": "p", "response": "\\boxed{\\frac{4}{2}}", "ground_truth": "2"},
    {"prompt": "p", "response": "\\boxed{3}", "ground_truth": "2"},
    {"prompt": "p", "response": "no answer", "ground_truth": "2"},
    {"prompt": "q", "response": "\\boxed{1}", "ground_truth": "1"},
]


@pytest.mark.parametrize(
    ("reward", "expected"),
    [
        ("majority", [1, 0, 1, 1, 1, 0, 0, 1]),
        ("semantic_frequency", [0.6, 1 / 3, 0.6, 2 / 3, 0.6, 0.2, 0.0, 2 / 3]),
    ],
)
def test_score_applies_the_group_rule_per_prompt(tmp_path, capsys, reward, expected):
    out = tmp_path / "scored.jsonl"
    assert (
        main(["score", str(_jsonl(tmp_path / "in.jsonl", RECORDS)), "-o", str(out), "--reward", reward, "--quiet"]) == 0
    )
    rows = _rows(out)
    assert [r["response"] for r in rows] == [r["response"] for r in RECORDS]  # input order kept
    assert [r["score"] for r in rows] == pytest.approx(expected)
    assert [r["correct"] for r in rows] == [1, 0, 1, 1, 1, 0, 0, 1]  # monitoring only
    assert {r["answer_fallback"] for r in rows} == {0.0}


def test_a_file_with_one_sample_per_prompt_is_refused(tmp_path, capsys):
    records = [{"prompt": f"p{i}", "response": "\\boxed{1}", "ground_truth": "1"} for i in range(3)]
    path = _jsonl(tmp_path / "single.jsonl", records)
    assert main(["score", str(path), "-o", str(tmp_path / "o.jsonl"), "--reward", "majority", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "one sample per prompt (3 prompts)" in err and "'majority'" in err


def test_a_record_without_a_prompt_field_is_refused(tmp_path, capsys):
    records = [{"prompt": "p", "response": "\\boxed{1}"}, {"response": "\\boxed{1}"}]
    path = _jsonl(tmp_path / "noprompt.jsonl", records)
    assert main(["score", str(path), "-o", str(tmp_path / "o.jsonl"), "--reward", "semantic_frequency", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: line 2: no prompt field (uid, prompt, input, problem)" in err


def test_self_confidence_reads_the_records_log_probabilities(tmp_path, capsys):
    records = [
        {"prompt": "p", "response": "\\boxed{1}", "response_logprobs": [math.log(0.5), math.log(0.25)]},
        {"prompt": "p", "response": "\\boxed{1}", "response_logprobs": [-0.1, -0.3]},
    ]
    out = tmp_path / "o.jsonl"
    assert (
        main(
            [
                "score",
                str(_jsonl(tmp_path / "lp.jsonl", records)),
                "-o",
                str(out),
                "--reward",
                "self_confidence",
                "--quiet",
            ]
        )
        == 0
    )
    assert [r["score"] for r in _rows(out)] == pytest.approx([-1.5 * math.log(2), -0.2])
    records[1]["response_logprobs"] = "none"
    assert (
        main(
            [
                "score",
                str(_jsonl(tmp_path / "bad.jsonl", records)),
                "-o",
                str(out),
                "--reward",
                "self_confidence",
                "--quiet",
            ]
        )
        == 2
    )
    assert "line 2: field 'response_logprobs' must be a non-empty list" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("reward", "field", "values", "options", "expected"),
    [
        # -(mean entropy) of the last ceil(0.3 * 3) = 1 token (RENT keeps the last third)
        (
            "token_entropy",
            "response_entropies",
            [[0.9, 0.6, 0.3], [0.3, 0.3, 0.0]],
            ["--tail-fraction", "0.3"],
            [-0.3, 0.0],
        ),
        # the same from veRL's rollout dump's name for the statistic, all tokens
        ("token_entropy", "entropy", [[0.9, 0.6, 0.3], [0.3, 0.3, 0.0]], [], [-0.6, -0.2]),
        ("self_certainty", "self_certainty", [[6.0, 7.0], [5.0]], [], [6.5, 5.0]),
        ("self_confidence", "rollout_log_probs", [[-0.5, -1.5], [-0.2]], [], [-1.0, -0.2]),
        # exp(sum of log p): 1/2 * 1/4 and 1
        ("probability", "response_logprobs", [[math.log(0.5), math.log(0.25)], [0.0]], [], [0.125, 1.0]),
    ],
)
def test_token_level_rewards_read_each_records_statistics(tmp_path, reward, field, values, options, expected):
    records = [{"prompt": "p", "response": "\\boxed{1}", field: row} for row in values]
    out = tmp_path / "o.jsonl"
    inputs = str(_jsonl(tmp_path / "in.jsonl", records))
    assert main(["score", inputs, "-o", str(out), "--reward", reward, "--quiet", *options]) == 0
    assert [r["score"] for r in _rows(out)] == pytest.approx(expected)


def test_a_token_level_reward_names_the_missing_field(tmp_path, capsys):
    records = [{"prompt": "p", "response": "\\boxed{1}"}] * 2
    inputs = str(_jsonl(tmp_path / "in.jsonl", records))
    assert main(["score", inputs, "-o", str(tmp_path / "o.jsonl"), "--reward", "token_entropy", "--quiet"]) == 2
    assert "'response_entropies'" in capsys.readouterr().err


def test_log_prob_rewards_never_read_the_actors_old_log_probs(tmp_path, capsys):
    """A dump's old_log_probs are the actor's recomputation, not the log-probs the rollout sampled with (what
    self_confidence and probability train on): read, they would score other numbers than training did."""
    records = [{"prompt": "p", "response": "\\boxed{1}", "old_log_probs": [-0.5, -1.5]}] * 2
    inputs = str(_jsonl(tmp_path / "in.jsonl", records))
    assert main(["score", inputs, "-o", str(tmp_path / "o.jsonl"), "--reward", "self_confidence", "--quiet"]) == 2
    assert "'response_logprobs'" in capsys.readouterr().err


def test_a_verl_dump_is_grouped_by_the_prompt_uid_of_its_rollout_keys(tmp_path):
    """veRL 0.9.1 dumps generations (``trainer.rollout_data_dir``, validation) with ``uid`` = the rollout's key
    ``{prompt uid}_{session}_{index}``: the file is written here by veRL's own writer, with RECORDS' two prompts."""
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    prompt_uids = {"p": "0f1e2d3c-aaaa-4bbb-8ccc-000000000001", "q": "0f1e2d3c-aaaa-4bbb-8ccc-000000000002"}
    sessions: dict[str, int] = {}
    keys = []
    for record in RECORDS:
        session = sessions[record["prompt"]] = sessions.get(record["prompt"], -1) + 1
        keys.append(f"{prompt_uids[record['prompt']]}_{session}_0")
    PPOTrainer._write_generations(
        [f"user: {r['prompt']}" for r in RECORDS],
        [r["response"] for r in RECORDS],
        [r["ground_truth"] for r in RECORDS],
        [0.0] * len(RECORDS),
        {"uid": keys},
        str(tmp_path / "rollouts"),
        3,
    )
    out = tmp_path / "scored.jsonl"
    assert (
        main(["score", str(tmp_path / "rollouts" / "3.jsonl"), "-o", str(out), "--reward", "majority", "--quiet"]) == 0
    )
    assert [r["score"] for r in _rows(out)] == [1, 0, 1, 1, 1, 0, 0, 1]  # as for the same groups by prompt above
