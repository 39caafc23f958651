"""Our rewards against the paper's own reward code, on the real Qwen2.5-Math-7B outputs of the release (carried in
release_data/outputs).

``reference_labels.jsonl`` holds, for each released output, what the release's unmodified reward
functions decided. Format decisions and format-length scores must match on at least 99.5% of them;
today they match exactly, and any change that breaks one is a regression to look at.
"""

from __future__ import annotations

import pytest

from verl_ext.rewards import extract_answer, score_response

MAX_RESPONSE = 3072


@pytest.fixture(scope="module")
def labelled(labelled_outputs):
    return labelled_outputs


def test_extracted_answers_match_the_release(labelled):
    mismatches = [
        (label, item)
        for label, item in labelled
        if (extract_answer(item["response"]) or "") != label["official_answer"]
    ]
    assert not mismatches


def test_format_decisions_match_the_release(labelled):
    decisions = [
        (score_response("format", item["response"]).signals.format, label["format"]) for label, item in labelled
    ]
    agreement = sum(ours == theirs for ours, theirs in decisions) / len(decisions)
    assert len(decisions) == 1517
    assert agreement >= 0.995
    assert agreement == 1.0, "a format decision changed on real data: find the class and pin it"


def test_format_rate_rises_with_training_as_in_the_paper(labelled):
    def rate(step: int) -> float:
        rows = [label["format"] for label, _ in labelled if label["step"] == step and label["bench"] != "MATH500"]
        return sum(rows) / len(rows)

    assert 0.7 < rate(0) < 0.85 and rate(100) > 0.9


def test_format_length_scores_match_the_release(labelled):
    compared = 0
    for label, item in labelled:
        if label["length_reward"] is None:
            continue
        scored = score_response(
            "format_length",
            item["response"],
            response_tokens=int(item["response_token_len"]),
            max_response_tokens=MAX_RESPONSE,
        )
        assert scored.signals.length_reward == pytest.approx(label["length_reward"], abs=1e-9)
        assert scored.score == pytest.approx(label["format_length"], abs=1e-9)
        compared += 1
    assert compared == 770
