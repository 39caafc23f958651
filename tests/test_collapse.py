"""Collapse monitors (issue 20): hand-worked groups; the clusters are given directly (no checker involved)."""

from __future__ import annotations

import math

import pytest

from verl_ext.collapse import (
    answer_entropy,
    batch_monitors,
    distinct_answers,
    group_monitors,
    label_accuracy,
    majority_ratio,
    reward_accuracy,
)
from verl_ext.rewards.equivalence import AnswerClusters

# answers 2, 2.0, 4/2, 3, none: clusters {2: 3 samples, 3: 1 sample}, one sample without an answer
ISSUE_GROUP = AnswerClusters(labels=(0, 0, 0, 1, None), sizes=(3, 1))
COLLAPSED = AnswerClusters(labels=(0,) * 8, sizes=(8,))
NO_ANSWER = AnswerClusters(labels=(None, None), sizes=())
TIED = AnswerClusters(labels=(0, 1, 1, 0), sizes=(2, 2))


@pytest.mark.parametrize(
    ("clusters", "ratio", "distinct", "entropy"),
    [
        (ISSUE_GROUP, 3 / 5, 2, -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))),  # 0.5623 nats
        (COLLAPSED, 1.0, 1, 0.0),
        (NO_ANSWER, 0.0, 0, 0.0),
        (TIED, 0.5, 2, math.log(2)),
    ],
)
def test_label_free_monitors(clusters, ratio, distinct, entropy):
    assert majority_ratio(clusters) == pytest.approx(ratio)
    assert distinct_answers(clusters) == distinct
    assert answer_entropy(clusters) == pytest.approx(entropy)


def test_label_accuracy_is_the_verdict_on_the_majority_answer():
    assert label_accuracy(ISSUE_GROUP, [1, 1, 1, 0, 0]) == 1.0
    assert label_accuracy(ISSUE_GROUP, [0, 0, 0, 1, 0]) == 0.0  # the truth was the minority answer
    assert label_accuracy(TIED, [0, 1, 1, 0]) == 0.0  # tie: the cluster seen first (sample 0) is the label
    assert label_accuracy(NO_ANSWER, [0, 0]) == 0.0


def test_reward_accuracy_counts_rewards_that_pay_exactly_the_correct_samples():
    # majority rewards 1,1,1,0,0 when the truth is "3": samples 0-3 disagree, sample 4 (no answer: 0, wrong) agrees
    assert reward_accuracy([1, 1, 1, 0, 0], [0, 0, 0, 1, 0]) == pytest.approx(1 / 5)
    assert reward_accuracy([0.6, 0.6, 0.6, 0.2, 0.0], [1, 1, 1, 0, 0]) == pytest.approx(4 / 5)
    assert reward_accuracy([1, 0], [1, 0, 1, 1]) == 1.0  # rewarded subset: the first two samples
    with pytest.raises(ValueError):
        reward_accuracy([1, 0, 1], [1, 0])


def test_group_and_batch_monitors():
    first = group_monitors(
        ISSUE_GROUP,
        rewards=[1, 1, 1, 0, 0],
        correct=[1, 1, 1, 0, 0],
        mean_logprobs=[-0.5, -0.5, -1.0, -2.0, -1.0],
        response_tokens=[10, 20, 30, 40, 50],
    )
    assert first["mean_logprob"] == pytest.approx(-1.0) and first["response_length"] == 30.0
    assert first["label_accuracy"] == 1.0 and first["reward_accuracy"] == 1.0
    second = group_monitors(COLLAPSED)
    batch = batch_monitors([first, second])
    assert batch["collapse/majority_ratio"] == pytest.approx((0.6 + 1.0) / 2)
    assert batch["collapse/distinct_answers"] == pytest.approx(1.5)
    assert batch["collapse/label_accuracy"] == 1.0  # only the first group had a ground truth
    with pytest.raises(ValueError, match="group of 5"):
        group_monitors(ISSUE_GROUP, mean_logprobs=[-1.0])
