"""How well a label-free training reward tracks hidden correctness over one training batch (monitoring only:
these never change a reward). Pure functions; the reward is whatever the policy trained on (any preset).

    point_biserial          r_pb = (M1 - M0) / s * sqrt(n1 n0 / n^2): Pearson's r between the 0/1 correctness
                            and the reward over the batch's n samples (M1, M0: mean reward of the n1 correct and
                            n0 wrong samples; s: the population standard deviation of all n rewards).
                            Undefined (None) when n1 = 0 or n0 = 0 (correctness constant) or s = 0 (reward
                            constant).
    pseudo_label_accuracy   per prompt (group), the correctness of the response with the highest reward (ties:
                            the first in the batch's order), averaged over prompts: how often the proxy would
                            pick a right answer.

``batch_diagnostics`` gives both as metrics named ``proxy/*``, for a batch whose correctness verdicts may be
missing (``None``: the check failed or timed out): such samples are left out of the correlation, a prompt whose
highest-reward response has none is left out of the accuracy, and ``proxy/unverified`` counts the samples
without a verdict. An undefined correlation is not logged as a number: ``proxy/point_biserial`` is absent from
that step's metrics and ``proxy/point_biserial_defined`` is 0 (1 when it is logged), so a constant batch never
reads as "uncorrelated".

Source: URLVR (He et al., 2026, "How Far Can Unsupervised RLVR Scale LLM Training?", ICLR 2026,
arXiv:2603.08660; PRIME-RL/TTRL at c46b671, ``verl/verl/trainer/ppo/ttrl_utils.py`` ``compute_certainty_metrics``,
logged as ``train/certainty/point_biserial_correlation`` and ``train/certainty/pseudo_label_acc``):
``scipy.stats.pointbiserialr(score, pseudo_score)`` over the batch, with ground-truth ``score`` and proxy
``pseudo_score``; and ``argmax`` of the proxy per prompt (numpy's: the first maximum), the chosen responses'
``score`` summed and divided by the number of prompts. Deviations, on purpose: URLVR logs 0.0 when correctness is
constant and scipy's NaN when the reward is constant, here both are undefined and not logged; URLVR forms the
prompts by reshaping the batch into rows of n (which assumes the batch is still in rollout order, not true after
veRL's ``balance_batch``), here by the samples' group ids.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

PREFIX = "proxy/"


def _check_rewards(rewards: Sequence[float]) -> list[float]:
    values = [float(r) for r in rewards]
    bad = next(((i, v) for i, v in enumerate(values) if not math.isfinite(v)), None)
    if bad is not None:
        raise ValueError(f"reward of sample {bad[0]} is {bad[1]} (rewards must be finite)")
    return values


def _check_correct(correct: Sequence[float | None], n: int) -> list[float | None]:
    if len(correct) != n:
        raise ValueError(f"{len(correct)} correctness verdicts for {n} rewards")
    bad = next(((i, c) for i, c in enumerate(correct) if c is not None and c not in (0.0, 1.0)), None)
    if bad is not None:
        raise ValueError(f"correctness of sample {bad[0]} is {bad[1]!r} (a verdict is 0, 1 or None: unverified)")
    return [None if c is None else float(c) for c in correct]


def point_biserial(rewards: Sequence[float], correct: Sequence[float]) -> float | None:
    """Point-biserial correlation of the rewards with the 0/1 correctness; None where undefined (see module)."""
    values = _check_rewards(rewards)
    verdicts = _check_correct(correct, len(values))
    if any(c is None for c in verdicts):
        raise ValueError("point_biserial needs a verdict for every sample; batch_diagnostics leaves out the rest")
    n = len(values)
    right = [r for r, c in zip(values, verdicts, strict=True) if c == 1.0]
    wrong = [r for r, c in zip(values, verdicts, strict=True) if c == 0.0]
    if not right or not wrong:
        return None
    mean = math.fsum(values) / n
    spread = math.sqrt(math.fsum((r - mean) ** 2 for r in values) / n)
    if spread == 0.0:
        return None
    gap = math.fsum(right) / len(right) - math.fsum(wrong) / len(wrong)
    return gap / spread * math.sqrt(len(right) * len(wrong)) / n


def _groups(group_ids: Sequence[Hashable], n: int) -> dict[Hashable, list[int]]:
    if len(group_ids) != n:
        raise ValueError(f"{len(group_ids)} group ids for {n} rewards")
    members: dict[Hashable, list[int]] = {}
    for i, gid in enumerate(group_ids):
        members.setdefault(gid, []).append(i)
    return members


def top_responses(rewards: Sequence[float], group_ids: Sequence[Hashable]) -> list[int]:
    """Index of each group's highest-reward response (ties: the first in order), groups in first-seen order."""
    values = _check_rewards(rewards)
    return [max(members, key=lambda i: (values[i], -i)) for members in _groups(group_ids, len(values)).values()]


def pseudo_label_accuracy(
    rewards: Sequence[float], correct: Sequence[float | None], group_ids: Sequence[Hashable]
) -> float | None:
    """Mean over groups of the correctness of the group's highest-reward response; groups whose chosen response
    has no verdict are left out; None when no group is left."""
    verdicts = _check_correct(correct, len(rewards))
    chosen = [verdicts[i] for i in top_responses(rewards, group_ids)]
    known = [c for c in chosen if c is not None]
    return math.fsum(known) / len(known) if known else None


def batch_diagnostics(
    rewards: Sequence[float], correct: Sequence[float | None], group_ids: Sequence[Hashable]
) -> dict[str, float]:
    """The batch's ``proxy/*`` metrics (see the module for what is left out and how that is logged)."""
    values = _check_rewards(rewards)
    verdicts = _check_correct(correct, len(values))
    known = [i for i, c in enumerate(verdicts) if c is not None]
    correlation = point_biserial([values[i] for i in known], [verdicts[i] for i in known]) if known else None
    out = {
        PREFIX + "point_biserial_defined": float(correlation is not None),
        PREFIX + "unverified": float(len(values) - len(known)),
    }
    if correlation is not None:
        out[PREFIX + "point_biserial"] = correlation
    accuracy = pseudo_label_accuracy(values, verdicts, group_ids)
    if accuracy is not None:
        out[PREFIX + "pseudo_label_accuracy"] = accuracy
    return out
