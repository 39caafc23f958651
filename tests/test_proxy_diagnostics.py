"""Proxy-reward diagnostics (issue 28, URLVR's): point-biserial correlation and pseudo-label accuracy on batches
worked by hand, against scipy's documented value, and the undefined cases."""

from __future__ import annotations

import math
import random

import pytest

from verl_ext.eval.proxy import batch_diagnostics, point_biserial, pseudo_label_accuracy, top_responses


@pytest.mark.parametrize(
    ("rewards", "correct", "expected"),
    [
        # M1 = 1.5, M0 = 0.5; mean 1, population variance (1 + 0 + 0 + 1)/4 = 1/2, s = 1/sqrt(2);
        # sqrt(n1 n0)/n = 2/4: r = (1.5 - 0.5) * sqrt(2) * 1/2 = 1/sqrt(2)
        ((2.0, 1.0, 1.0, 0.0), (1, 1, 0, 0), 1 / math.sqrt(2)),
        # the same with the labels swapped: the sign flips
        ((2.0, 1.0, 1.0, 0.0), (0, 0, 1, 1), -1 / math.sqrt(2)),
        # scipy.stats.pointbiserialr's docstring example: a = [0,0,0,1,1,1,1], b = arange(7) -> 0.8660254037844386
        # (by hand: M1 = 4.5, M0 = 1, s = 2, sqrt(12)/7: r = 3.5/2 * sqrt(12)/7 = sqrt(3)/2)
        (tuple(range(7)), (0, 0, 0, 1, 1, 1, 1), 0.8660254037844386),
        # a reward that pays exactly the correct samples correlates perfectly
        ((1.0, 0.0, 1.0, 0.0, 0.0), (1, 0, 1, 0, 0), 1.0),
    ],
)
def test_point_biserial_of_hand_worked_batches(rewards, correct, expected):
    assert point_biserial(rewards, correct) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("rewards", "correct", "why"),
    [
        ((0.3, 0.7, 0.1), (1, 1, 1), "every sample correct"),
        ((0.3, 0.7, 0.1), (0, 0, 0), "every sample wrong"),
        ((0.5, 0.5, 0.5), (1, 0, 1), "the reward is constant"),
        ((0.5,), (1,), "a single sample"),
    ],
)
def test_point_biserial_is_undefined_not_zero(rewards, correct, why):
    assert point_biserial(rewards, correct) is None, why
    metrics = batch_diagnostics(rewards, correct, list(range(len(rewards))))
    assert "proxy/point_biserial" not in metrics, why
    assert metrics["proxy/point_biserial_defined"] == 0.0


def test_point_biserial_matches_scipy_and_numpy_on_random_batches():
    """Independent sources: scipy.stats.pointbiserialr (what URLVR calls) and numpy's Pearson correlation."""
    np = pytest.importorskip("numpy")
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(0)
    for _ in range(20):
        n = rng.randint(4, 40)
        correct = [rng.randint(0, 1) for _ in range(n)]
        correct[0], correct[1] = 0, 1  # both classes present
        rewards = [rng.gauss(0.5 * c, 1.0) for c in correct]
        ours = point_biserial(rewards, correct)
        assert ours == pytest.approx(stats.pointbiserialr(correct, rewards)[0], abs=1e-10)
        assert ours == pytest.approx(np.corrcoef(correct, rewards)[0, 1], abs=1e-10)


# Two prompts, their samples interleaved (as after veRL's balance_batch):
#   prompt "a": samples 0, 2, 4 with rewards 0.2, 0.9, 0.9 and correctness 0, 0, 1:
#               the highest reward is tied between samples 2 and 4; the first, 2, is wrong -> 0
#   prompt "b": samples 1, 3, 5 with rewards 0.5, 0.1, 0.4 and correctness 1, 0, 0: sample 1, right -> 1
# pseudo-label accuracy = (0 + 1) / 2 = 0.5
INTERLEAVED = {
    "rewards": (0.2, 0.5, 0.9, 0.1, 0.9, 0.4),
    "correct": (0, 1, 0, 0, 1, 0),
    "group_ids": ("a", "b", "a", "b", "a", "b"),
}


def test_pseudo_label_accuracy_by_group_id_with_first_seen_ties():
    assert top_responses(INTERLEAVED["rewards"], INTERLEAVED["group_ids"]) == [2, 1]
    assert pseudo_label_accuracy(**INTERLEAVED) == 0.5


def test_groups_come_from_ids_not_from_the_batch_order():
    # by id: a = samples 0 (0.9, right), 2 (0.2): picks 0 -> 1; b = samples 1 (0.95), 3 (0.8), both wrong -> 0: 1/2.
    # Rows of 2 in batch order (URLVR's reshape) would pair (0, 1) -> sample 1, wrong, and (2, 3) -> 3, wrong: 0.
    rewards, correct, groups = (0.9, 0.95, 0.2, 0.8), (1, 0, 0, 0), ("a", "b", "a", "b")
    assert top_responses(rewards, groups) == [0, 1]
    assert pseudo_label_accuracy(rewards, correct, groups) == 0.5


@pytest.mark.parametrize(
    ("rewards", "correct", "groups", "expected"),
    [
        ((0.9, 0.1, 0.2, 0.8), (1, 0, 0, 1), ("p", "p", "q", "q"), 1.0),  # the proxy picks the right one in both
        ((0.1, 0.9, 0.8, 0.2), (1, 0, 0, 1), ("p", "p", "q", "q"), 0.0),  # ...the wrong one in both
        ((0.5, 0.5, 0.5), (0, 1, 1), ("p", "p", "p"), 0.0),  # all tied: the first response
        ((-2.0, -1.0), (0, 1), (7, 7), 1.0),  # negative rewards (token_entropy): the highest is -1.0
    ],
)
def test_pseudo_label_accuracy_of_hand_worked_batches(rewards, correct, groups, expected):
    assert pseudo_label_accuracy(rewards, correct, groups) == expected


def test_unverified_samples_are_left_out_and_counted():
    rewards = (2.0, 1.0, 1.0, 0.0, 5.0, 0.3)
    correct = (1, 1, 0, 0, None, 1)
    groups = ("a", "a", "b", "b", "c", "c")
    metrics = batch_diagnostics(rewards, correct, groups)
    # correlation over the 5 verified samples (2, 1, 1, 0, 0.3) vs (1, 1, 0, 0, 1):
    # M1 = (2 + 1 + 0.3)/3 = 1.1, M0 = 0.5; mean 0.86; population variance:
    # (1.14^2 + 0.14^2 + 0.14^2 + 0.86^2 + 0.56^2)/5 = (1.2996 + 0.0196 + 0.0196 + 0.7396 + 0.3136)/5 = 0.4784
    # r = 0.6 / sqrt(0.4784) * sqrt(3 * 2) / 5 = 0.6 * 2.449490 / (5 * 0.691665) = 0.424987
    assert metrics["proxy/point_biserial"] == pytest.approx(0.6 / math.sqrt(0.4784) * math.sqrt(6) / 5, abs=1e-12)
    assert metrics["proxy/point_biserial_defined"] == 1.0
    assert metrics["proxy/unverified"] == 1.0
    # tops: a -> sample 0 (2.0, right), b -> sample 2 (1.0 > 0.0, wrong),
    # c -> sample 4 (5.0, unverified: the group is left out): (1 + 0) / 2
    assert metrics["proxy/pseudo_label_accuracy"] == 0.5


def test_no_verified_pick_leaves_the_accuracy_out():
    metrics = batch_diagnostics((1.0, 0.0), (None, 1), ("a", "a"))
    assert "proxy/pseudo_label_accuracy" not in metrics
    assert metrics == {"proxy/point_biserial_defined": 0.0, "proxy/unverified": 1.0}


@pytest.mark.parametrize(
    ("rewards", "correct", "groups", "words"),
    [
        ((0.1, math.nan), (1, 0), ("a", "a"), "reward of sample 1 is nan"),
        ((0.1, 0.2), (1, 0.5), ("a", "a"), "correctness of sample 1 is 0.5"),
        ((0.1, 0.2), (1,), ("a", "a"), "1 correctness verdicts for 2 rewards"),
        ((0.1, 0.2), (1, 0), ("a",), "1 group ids for 2 rewards"),
    ],
)
def test_bad_batches_are_refused_with_the_sample_named(rewards, correct, groups, words):
    with pytest.raises(ValueError, match=words):
        batch_diagnostics(rewards, correct, groups)
