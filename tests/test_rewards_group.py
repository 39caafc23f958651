"""Group-level label-free rewards (issue 20): majority (TTRL), semantic frequency (EMPO), self-confidence,
format gating, and the answer clusters behind them. Expected values are worked by hand from the rules
stated in the papers' code (see verl_ext/rewards/group.py), never taken from the code under test."""

from __future__ import annotations

import math

import pytest

from verl_ext.core import score_response
from verl_ext.rewards import equivalence
from verl_ext.rewards.equivalence import AnswerClusters, answer_key, cluster_answers
from verl_ext.rewards.group import format_gated, majority_rewards, semantic_frequency_rewards

FRAC = "\\frac{4}{2}"


# --- the hand-worked group: 2, 2.0, 4/2 are one answer (math-verify), 3 another, one sample has none


def test_equivalent_answers_share_a_cluster_and_a_missing_answer_none():
    clusters = cluster_answers(["2", "2.0", FRAC, "3", None])
    assert clusters.labels == (0, 0, 0, 1, None)
    assert clusters.sizes == (3, 1)
    assert not clusters.fallback and clusters.timeouts == 0


def test_majority_rewards_the_equivalent_majority_and_not_the_missing_answer():
    assert majority_rewards(cluster_answers(["2", "2.0", FRAC, "3", None])) == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_semantic_frequency_is_the_share_of_all_five_samples():
    assert semantic_frequency_rewards(cluster_answers(["2", "2.0", FRAC, "3", None])) == [0.6, 0.6, 0.6, 0.2, 0.0]


def test_string_voting_would_have_picked_a_different_majority():
    # by strings "3" appears twice and "2", "2.0", 4/2 once each; by equivalence 2 has three votes
    assert majority_rewards(cluster_answers(["3", "2", "3", "2.0", FRAC])) == [0.0, 1.0, 0.0, 1.0, 1.0]


def test_the_checker_sees_distinct_answers_once():
    # eight samples, two distinct non-integer answers: one child call for the group, not 28 pairs
    clusters = cluster_answers(["\\frac{1}{2}"] * 4 + ["0.5"] * 4)
    assert clusters.sizes == (8,) and clusters.checker_calls == 1


def test_distinct_integers_need_no_checker():
    clusters = cluster_answers(["12", "12.0", "7", "+7", "-3"])
    assert clusters.labels == (0, 0, 1, 1, 2) and clusters.checker_calls == 0


# --- ties, empty groups, vote on n and reward a subset ------------------------------------------


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (["3", "2", "2", "3"], [1.0, 0.0, 0.0, 1.0]),  # 2-2 tie: the cluster seen first ("3") wins
        (["2", "3", "3", "2"], [1.0, 0.0, 0.0, 1.0]),
        ([None, "7", "5"], [0.0, 1.0, 0.0]),  # 1-1 tie; the missing answer does not take part
        ([None, None, None], [0.0, 0.0, 0.0]),  # no answer at all: nobody wins
        (["", " ", "4"], [0.0, 0.0, 1.0]),  # blank boxes are no answers
    ],
)
def test_majority_ties_and_missing_answers(answers, expected):
    assert majority_rewards(cluster_answers(answers)) == expected


def test_majority_votes_on_all_samples_and_rewards_the_first_ones():
    # votes: "1" x4, "2" x3; only the first three samples are trained on (TTRL: 64 votes, 32 trained)
    answers = ["2", "1", "2", "2", "1", "1", "1"]
    assert majority_rewards(cluster_answers(answers), rewarded=3) == [0.0, 1.0, 0.0]
    assert semantic_frequency_rewards(cluster_answers(answers), rewarded=3) == [3 / 7, 4 / 7, 3 / 7]
    with pytest.raises(ValueError, match="rewarded"):
        majority_rewards(cluster_answers(answers), rewarded=8)


def test_semantic_frequency_zeroes_a_group_under_the_empo_threshold():
    # five distinct answers: the largest share is 1/5 < 0.25 -> every sample 0
    assert semantic_frequency_rewards(cluster_answers(["1", "2", "3", "4", "5"])) == [0.0] * 5
    # four distinct answers of four: the largest share is exactly 0.25, which EMPO keeps (>= 0.25)
    assert semantic_frequency_rewards(cluster_answers(["1", "2", "3", "4"])) == [0.25] * 4
    assert semantic_frequency_rewards(cluster_answers(["1", "2", "3", "4", "5"]), min_share=0.0) == [0.2] * 5
    assert semantic_frequency_rewards(cluster_answers([None, None])) == [0.0, 0.0]


# --- the checker cannot start: string equality of normalised answers, counted, never zeroed ----


def test_a_checker_that_cannot_start_falls_back_to_normalised_strings(broken_isolated_child):
    clusters = cluster_answers(["2", FRAC, "2.0", "3", None])
    assert clusters.fallback
    # "2" and "2.0" share a normalised key; 4/2 is only equivalent by math, so it stands alone
    assert clusters.labels == (0, 1, 0, 2, None)
    assert majority_rewards(clusters) == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert semantic_frequency_rewards(clusters) == [0.4, 0.2, 0.4, 0.2, 0.0]


# --- a pathological answer costs a bounded time and only its own cluster ------------------------


def test_a_pathological_answer_keeps_its_own_cluster_and_the_rest_still_cluster():
    # 9^(9^(9^9)): the format check's static bound refuses it, so it is never parsed nor compared
    clusters = cluster_answers(["9^{9^{9^{9}}}", "\\frac{1}{2}", "0.5", "3"])
    assert clusters.labels == (0, 1, 1, 2)
    assert (clusters.screened, clusters.timeouts, clusters.check_errors, clusters.fallback) == (1, 0, 0, False)


# --- normalisation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "key"),
    [
        ("2.0", "2"),
        ("+2", "2"),
        (" 2 ", "2"),
        ("2.", "2"),
        ("\\dfrac{1}{2}", "\\frac{1}{2}"),
        ("\\tfrac12", "\\frac12"),
        ("\\left( 1, 2 \\right)", "( 1, 2 )"),
        ("\\leftarrow", "\\leftarrow"),  # a longer command is left alone
        ("x  +\n1", "x + 1"),
        ("", None),
        (None, None),
    ],
)
def test_answer_key(answer, key):
    assert answer_key(answer) == key


# --- self-confidence: mean token log-probability ---------------------------------------------------


def self_confidence(logprobs, tail_fraction=1.0):
    return score_response("self_confidence", "x", token_stats={"logprobs": logprobs}, tail_fraction=tail_fraction).score


def test_self_confidence_is_the_mean_token_log_probability():
    # tokens sampled with probabilities 1/2 and 1/4: (ln 1/2 + ln 1/4) / 2 = -1.5 ln 2
    assert self_confidence([math.log(0.5), math.log(0.25)]) == pytest.approx(-1.5 * math.log(2))
    assert self_confidence([0.0, 0.0]) == 0.0  # a certain response


@pytest.mark.parametrize(
    ("tail", "expected"),
    [(1.0, -0.25), (0.5, -0.35), (0.6, -0.3), (0.01, -0.4)],  # last ceil(tail * 4) tokens
)
def test_self_confidence_over_the_last_part_of_the_response(tail, expected):
    assert self_confidence([-0.1, -0.2, -0.3, -0.4], tail_fraction=tail) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("logprobs", "tail"), [([], 1.0), ([-1.0, float("-inf")], 1.0), ([0.5], 1.0), ([-1.0], 0.0), ([-1.0], 1.5)]
)
def test_self_confidence_rejects_bad_input(logprobs, tail):
    with pytest.raises(ValueError):
        self_confidence(logprobs, tail_fraction=tail)


# --- format gating ---------------------------------------------------------------------------------


def test_format_gating_multiplies_by_the_verdict():
    assert format_gated([1.0, 1.0, 0.6, 0.0], [1.0, 0.0, 1.0, 1.0]) == [1.0, 0.0, 0.6, 0.0]
    with pytest.raises(ValueError, match=">= 0"):
        format_gated([-0.5], [1.0])  # a log-probability: an unformatted 0 would outrank it
    with pytest.raises(ValueError, match="0 or 1"):
        format_gated([1.0], [0.5])


def test_clusters_report_their_largest():
    assert AnswerClusters(labels=(None, 1, 0, 1, 0), sizes=(2, 2)).largest() == 0
    assert AnswerClusters(labels=(None,), sizes=()).largest() is None


def test_a_step_of_groups_is_clustered_in_order_across_threads():
    groups = [["2", FRAC, "3"], ["\\frac{1}{2}", "0.5", None], ["7", "7"], [None]]
    got = equivalence.cluster_groups(groups, threads=2)
    assert [c.labels for c in got] == [(0, 0, 1), (0, 0, None), (0, 0), (None,)]
