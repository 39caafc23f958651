"""Group-level label-free rewards: the score of a sample depends on the other samples of its prompt.

A group is the n samples of one prompt. Answers are the extracted boxed answers (``None``: no answer);
clusters of equivalent answers come from ``equivalence.cluster_answers`` (math-verify on distinct
normalised answers, bounded, with a counted fallback to string equality). No veRL or TRL import here.

    majority            1 if the sample's answer is in the group's largest cluster, else 0 (TTRL)
    semantic_frequency  |cluster(sample)| / n, or 0 for the whole group when the largest cluster's
                        share is under ``min_share`` (EMPO)
    format_gated_<x>    F * x, with F in {0, 1} the format verdict (any reward >= 0: the token-level
                        self_confidence is gated as F * exp(mean log-prob), see ``format_gated``)

Sources (facts, checked in the authors' code):
- TTRL (Zuo et al., 2025, arXiv:2504.16084; PRIME-RL/TTRL at 3e2cc93,
  ``verl/verl/utils/reward_score/ttrl/ttt_metrics.py`` lines 19-27): the label is
  ``Counter(answers).most_common(1)`` over the extracted answers (string equality; on a tie the answer
  seen first wins), the majority ratio is its count over all n samples, and each sample's reward is its
  answer's equivalence with the label. ``verl/verl/workers/reward_manager/ttrl.py`` lines 157-160: the
  vote uses ``n_votes_per_prompt`` samples and only the first ``n_samples_per_prompt`` are rewarded
  (``examples/ttrl/aime.sh``: 64 votes, 32 trained).
- EMPO (Zhang et al., 2025, arXiv:2504.05812; QingyangZhang/EMPO at c5eccd4,
  ``verl-empo/verl/utils/reward_score/empo/compute_metrics.py``): greedy clusters against each
  cluster's first member (lines 85-127; every empty answer is a cluster of its own), the reward is the
  cluster's share of all n samples (line 213), and ``entropy_thresholding`` (lines 66-83) zeroes a group
  whose largest share is under 0.25: our default ``min_share``. (That call is commented out at line
  212 of that commit; their TRL math reward instead zeroes only a group whose answers are all distinct,
  ``trl/src/open_r1/rewards.py`` line 203, and their free-form reward uses 0.2, line 342.)

Deviations, on purpose: equivalence is math-verify's on every answer (TTRL votes on strings; here
``2``, ``2.0`` and ``\\frac{4}{2}`` are one answer); samples without an answer never vote and score 0;
the tie-break is TTRL's effective one, stated: the tied cluster whose first member comes first.
"""

from __future__ import annotations

from collections.abc import Sequence

from verl_ext.rewards.equivalence import AnswerClusters

EMPO_MIN_SHARE = 0.25
"""EMPO's threshold on the largest cluster's share (``entropy_thresholding`` in its veRL fork)."""


def majority_rewards(clusters: AnswerClusters, rewarded: int | None = None) -> list[float]:
    """1.0 for samples in the largest cluster (ties: the cluster seen first), else 0.0.

    Every sample votes; ``rewarded``: score only the first ``rewarded`` samples (TTRL votes on 64 and
    trains on 32). Samples without an answer score 0; a group without any answer scores all 0."""
    count = _rewarded_count(clusters, rewarded)
    winner = clusters.largest()
    return [float(winner is not None and label == winner) for label in clusters.labels[:count]]


def semantic_frequency_rewards(
    clusters: AnswerClusters, min_share: float = EMPO_MIN_SHARE, rewarded: int | None = None
) -> list[float]:
    """The share of the group (all n samples) in the sample's cluster; 0 without an answer.

    A group whose largest cluster holds under ``min_share`` of its samples scores 0 throughout."""
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"min_share must lie in [0, 1], got {min_share}")
    count = _rewarded_count(clusters, rewarded)
    if not clusters.sizes or max(clusters.sizes) / clusters.n < min_share:
        return [0.0] * count
    return [0.0 if label is None else clusters.sizes[label] / clusters.n for label in clusters.labels[:count]]


def _rewarded_count(clusters: AnswerClusters, rewarded: int | None) -> int:
    if rewarded is None:
        return clusters.n
    if not 1 <= rewarded <= clusters.n:
        raise ValueError(f"rewarded must lie in [1, {clusters.n}] (the group's samples), got {rewarded}")
    return rewarded


def format_gated(rewards: Sequence[float], formats: Sequence[float]) -> list[float]:
    """F * r per sample, F in {0, 1}. The rewards must be >= 0: a 0 must be the worst a response can get,
    or an unformatted response would outrank formatted ones (so self-confidence is gated as a probability,
    ``exp(mean log-prob)``, not as a log-probability)."""
    if len(rewards) > len(formats):
        raise ValueError(f"{len(rewards)} rewards for {len(formats)} format verdicts")
    for r in rewards:
        if r < 0:
            raise ValueError(f"a gated reward must be >= 0, got {r}")
    for f in formats:
        if f not in (0.0, 1.0):
            raise ValueError(f"format verdicts must be 0 or 1, got {f}")
    return [f * r for r, f in zip(rewards, formats)]
