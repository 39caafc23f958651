"""Collapse monitors of label-free training: is the policy converging on one answer per prompt, right or not?

Pure functions of one group (the n samples of a prompt) and its answer clusters
(``verl_ext.rewards.equivalence.cluster_answers``); ``batch_monitors`` averages them over the groups of a
step. Label-free runs rise, then collapse (TTRL's, SRT's and EMPO's reports): a majority ratio that
climbs to 1 with a label accuracy that does not follow is the signature.

Label-free (any run):
    majority_ratio       |largest cluster| / n (samples without an answer count in n; TTRL's definition)
    distinct_answers     number of clusters (answered samples only)
    answer_entropy       -sum_c p_c ln p_c, p_c = |c| / answered samples (nats; 0 for one cluster or none)
    mean_logprob         mean over samples of the sample's mean token log-probability
    response_length      mean response tokens
With hidden ground truth (monitoring only, never fed to a reward):
    label_accuracy       1 if the majority cluster's answer is correct (its first member's verdict; ties
                         and no answer as in ``majority_rewards``: the first-seen cluster; none -> 0)
    reward_accuracy      share of samples where the reward pays (r > 0) exactly when the sample is
                         correct (TTRL's reward accuracy for 0/1 rewards)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from verl_ext.rewards.equivalence import AnswerClusters

if TYPE_CHECKING:
    from verl_ext.rewards.signals import Signals

PREFIX = "collapse/"


def majority_ratio(clusters: AnswerClusters) -> float:
    largest = clusters.largest()
    return 0.0 if largest is None else clusters.sizes[largest] / clusters.n


def distinct_answers(clusters: AnswerClusters) -> int:
    return len(clusters.sizes)


def answer_entropy(clusters: AnswerClusters) -> float:
    answered = sum(clusters.sizes)
    if answered == 0:
        return 0.0
    return -math.fsum(size / answered * math.log(size / answered) for size in clusters.sizes if size)


def mean_of(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no values to average")
    return math.fsum(values) / len(values)


def label_accuracy(clusters: AnswerClusters, correct: Sequence[float]) -> float:
    """1.0 if the majority cluster's first member is correct, else 0.0 (0.0 without any answer)."""
    _check_aligned(clusters, correct)
    largest = clusters.largest()
    if largest is None:
        return 0.0
    first = clusters.labels.index(largest)
    return float(correct[first] == 1.0)


def reward_accuracy(rewards: Sequence[float], correct: Sequence[float]) -> float:
    """Share of samples with (reward > 0) == (correct == 1); ``rewards`` may cover the first samples only."""
    if not rewards or len(rewards) > len(correct):
        raise ValueError(f"{len(rewards)} rewards for {len(correct)} correctness verdicts")
    return sum((r > 0) == (c == 1.0) for r, c in zip(rewards, correct)) / len(rewards)


def _check_aligned(clusters: AnswerClusters, values: Sequence[float]) -> None:
    if len(values) != clusters.n:
        raise ValueError(f"{len(values)} values for a group of {clusters.n} samples")


def group_monitors(
    clusters: AnswerClusters,
    *,
    rewards: Sequence[float] | None = None,
    correct: Sequence[float] | None = None,
    mean_logprobs: Sequence[float] | None = None,
    response_tokens: Sequence[int] | None = None,
) -> dict[str, float]:
    """The monitors of one group (names without ``PREFIX``); those whose input is missing are left out."""
    out = {
        "majority_ratio": majority_ratio(clusters),
        "distinct_answers": float(distinct_answers(clusters)),
        "answer_entropy": answer_entropy(clusters),
    }
    if mean_logprobs is not None:
        _check_aligned(clusters, mean_logprobs)
        out["mean_logprob"] = mean_of(mean_logprobs)
    if response_tokens is not None:
        _check_aligned(clusters, response_tokens)
        out["response_length"] = mean_of([float(t) for t in response_tokens])
    if correct is not None:
        out["label_accuracy"] = label_accuracy(clusters, correct)
        if rewards is not None:
            out["reward_accuracy"] = reward_accuracy(rewards, correct)
    return out


def signals_monitors(
    clusters: AnswerClusters, signals: Sequence[Signals], rewards: Sequence[float]
) -> dict[str, float]:
    """``group_monitors`` of one group from its samples' ``Signals`` (``verl_ext.rewards.signals``): mean log-prob
    and response length when every sample has one; label and reward accuracy when every sample has a
    correctness verdict and none of the monitoring checks failed."""
    correct = [s.correct for s in signals]
    logprobs = [s.mean_logprob for s in signals]
    tokens = [s.response_tokens for s in signals]
    known = all(c is not None for c in correct) and not any(s.monitor_error for s in signals)
    return group_monitors(
        clusters,
        rewards=rewards,
        correct=correct if known else None,  # type: ignore[arg-type]
        mean_logprobs=logprobs if all(v is not None for v in logprobs) else None,  # type: ignore[arg-type]
        response_tokens=tokens if all(t is not None for t in tokens) else None,  # type: ignore[arg-type]
    )


def batch_monitors(groups: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean over groups of each monitor, named ``collapse/<monitor>``; a monitor only some groups have is
    averaged over those."""
    names = dict.fromkeys(name for group in groups for name in group)
    return {PREFIX + name: mean_of([g[name] for g in groups if name in g]) for name in names}
