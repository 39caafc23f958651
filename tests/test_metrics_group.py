"""maj@k by answer equivalence (issue 20): `2`, `2.0` and `\\frac{4}{2}` are one answer, with its bootstrap CI."""

from __future__ import annotations

import json

import pytest

from verl_ext.cli import main
from verl_ext.eval.metrics import group_metrics, majority_correct
from verl_ext.io.scored import ScoredRow

FRAC = "\\frac{4}{2}"


def _row(problem: str, correct: float, pred: str) -> ScoredRow:
    return ScoredRow(
        path="s.jsonl",
        where="line 1",
        source=None,
        data_source="d",
        step=None,
        problem=problem,
        pred=pred,
        format=1.0,
        score=0.0,
        correct=correct,
        response_tokens=None,
        truncated=None,
        timed_out=0.0,
    )


@pytest.mark.parametrize(
    ("preds", "correct", "expected", "why"),
    [
        (["3", "2", "3", "2.0", FRAC], [0, 1, 0, 1, 1], 1.0, "2 has three equivalent votes, 3 has two"),
        (["\\frac{1}{2}", "0.5", "1", "", ""], [1, 1, 0, 0, 0], 1.0, "a fraction and its decimal vote together"),
        (["2", FRAC, "3", "3"], [1, 1, 0, 0], 0.5, "a 2-2 tie after clustering counts the mean"),
    ],
)
def test_majority_vote_clusters_equivalent_answers(preds, correct, expected, why):
    assert majority_correct(preds, correct) == pytest.approx(expected), why


def test_maj_at_k_by_equivalence_with_its_interval():
    rows = (
        [_row("p1", 0.0, "3")] * 2
        + [_row("p1", 1.0, "2"), _row("p1", 1.0, "2.0"), _row("p1", 1.0, FRAC)]
        + [_row("p2", 0.0, "5")] * 3
        + [_row("p2", 1.0, "1"), _row("p2", 1.0, "1")]
    )
    out, warnings = group_metrics(rows, n_boot=200)
    assert out["maj@k"] == pytest.approx(0.5)  # p1 right (by strings it would be wrong), p2 wrong
    low, high = out["maj@k_ci"]
    assert low == 0.0 and high == 1.0  # two problems, one right: resamples range over {0, 0.5, 1}
    assert warnings == []


def test_metrics_warns_when_the_checker_cannot_start(tmp_path, capsys, broken_isolated_child):
    records = [
        {"prompt": "p", "pred": pred, "correct": ok, "format": 1.0, "score": 0.0}
        for pred, ok in [("3", 0.0), ("3", 0.0), ("2", 1.0), ("2.0", 1.0), (FRAC, 1.0)]
    ]
    path = tmp_path / "scored.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert main(["metrics", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    # as normalised text, "2" and "2.0" are one answer (2 votes), 4/2 another: a 2-2 tie with "3"
    assert json.loads(captured.out)["rows"][0]["maj@k"] == pytest.approx(0.5)
    assert "could not start for 1 problem(s)" in captured.err
