"""Answer clusters of one group: which samples gave equivalent answers (for the group-level rewards).

Cost: the checker sees the group's DISTINCT normalised answers, never all pairs of samples. Steps:

1. ``answer_key``: a conservative normalisation that never changes meaning (whitespace runs collapsed,
   ``\\dfrac``/``\\tfrac`` -> ``\\frac``, ``\\left``/``\\right`` dropped, a trailing period dropped, a plain
   integral literal written as its integer: ``2.0`` -> ``2``). Samples with the same key share a cluster.
2. Distinct keys are clustered greedily in order of first appearance: each key joins the first cluster
   whose representative (its first key) math-verify finds equivalent (``verify(representative, key)``),
   else it opens a new cluster. Two integer keys are never equivalent (they would share a key), so a
   group whose keys are all integers needs no checker at all.
3. The checker runs in an ``IsolatedCaller`` child (the same bounded path as the correctness reward):
   one call clusters a whole group under ``group_timeout_s`` CPU seconds. If that call times out or
   fails (a pathological answer), the group is redone one check at a time, each under ``pair_timeout_s``:
   first every non-integer key against ``PROBE`` (a key failing that is pathological: it keeps its own
   cluster and is compared no further), then the greedy pairs. One pathological answer thus costs one
   group bound plus one check bound (and a fresh child, ~1-2 s); timed-out checks are counted.
4. If the checker cannot run at all (its child fails to start, ``WorkerStartError``), the group falls
   back to key equality (step 1 only) and ``fallback`` is set: a group is never silently zeroed.

Samples without an answer (``None`` or blank) belong to no cluster (label ``None``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from verl_ext.rewards.correctness import _as_boxed, _as_integer
from verl_ext.rewards.isolation import IsolatedCaller, WorkerStartError, default_pool_size, shared_caller

GROUP_TIMEOUT_S = 2.0
"""CPU seconds for clustering one group's distinct answers in one child call."""
PAIR_TIMEOUT_S = 1.0
"""CPU seconds for one pair, when a group is redone pair by pair (the correctness check's bound)."""

PROBE = "0"
"""What each key is compared with, alone, when a group is redone check by check."""
_FRAC_VARIANT = re.compile(r"\\[dt]frac(?![a-zA-Z])")
_SIZING = re.compile(r"\\(?:left|right)(?![a-zA-Z])")


def answer_key(answer: str | None) -> str | None:
    """The normalised text of an answer (None for no answer or a blank one); equal keys mean equal answers."""
    if answer is None:
        return None
    text = " ".join(answer.split())
    text = _SIZING.sub("", text)
    text = _FRAC_VARIANT.sub(r"\\frac", text)
    text = " ".join(text.split())
    if text.endswith(".") and len(text) > 1:
        text = text[:-1].rstrip()
    if not text:
        return None
    integer = _as_integer(text)
    return text if integer is None else str(integer)


@dataclass(frozen=True)
class AnswerClusters:
    """``labels[i]``: the cluster of sample i (clusters numbered by first appearance), None = no answer.

    ``sizes[c]``: samples in cluster c. ``fallback``: the checker could not start, clusters are key
    equality. ``timeouts``: comparisons stopped by their bound (counted as "not equivalent").
    ``checker_calls``: child calls made (0 when keys alone decided)."""

    labels: tuple[int | None, ...]
    sizes: tuple[int, ...]
    fallback: bool = False
    timeouts: int = 0
    checker_calls: int = 0

    @property
    def n(self) -> int:
        return len(self.labels)

    def largest(self) -> int | None:
        """The largest cluster; ties go to the one whose first member comes first; None without answers."""
        if not self.sizes:
            return None
        top = max(self.sizes)
        return self.sizes.index(top)


# --- the checker (runs in an isolated child) -----------------------------------------------------


def cluster_keys_in_process(keys: list[str]) -> list[int]:
    """Greedy clusters of distinct ``keys`` by math-verify (unbounded: call it only in an isolated child)."""
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    parsed = [parse(_as_boxed(key), parsing_timeout=None) for key in keys]
    representatives: list[int] = []  # key index of each cluster's first key
    labels: list[int] = []

    def same(rep: int, i: int) -> bool:
        return bool(parsed[rep]) and bool(parsed[i]) and bool(verify(parsed[rep], parsed[i], timeout_seconds=None))

    for i in range(len(keys)):
        labels.append(_join(i, keys, representatives, lambda rep, i=i: same(rep, i)))
    return labels


def equivalent_in_process(representative: str, key: str) -> bool:
    """math-verify's verdict on one pair (unbounded: call it only in an isolated child)."""
    return cluster_keys_in_process([representative, key])[1] == 0


def _join(i: int, keys: Sequence[str], representatives: list[int], same) -> int:
    """The cluster key i joins (a new one when no representative is ``same``); updates ``representatives``."""
    for cluster, rep in enumerate(representatives):
        if _as_integer(keys[rep]) is not None and _as_integer(keys[i]) is not None:
            continue  # distinct integer keys are distinct integers
        if same(rep):
            return cluster
    representatives.append(i)
    return len(representatives) - 1


_callers: dict = {}  # isolation.shared_caller's pools of this module
_WARM_UP_KEYS = [
    "2",
    "\\frac{4}{2}",
    "\\sqrt{2}",
    "2^{1/2}",
    "\\pi",
    "x + 1",
    "1 + x",
    "(1, 2)",
    "\\frac{\\sqrt{3}}{2}",
    "0.5",
]
"""Clustered once when a checker child starts (outside any call's bound): sympy's first use of roots,
constants, symbols and tuples costs up to ~0.4 s, paid there instead of by the first real group."""
_WARM_UP = {"cluster_keys_in_process": (_WARM_UP_KEYS,), "equivalent_in_process": ("2", "\\frac{4}{2}")}


def _caller(function: str, timeout_s: float) -> IsolatedCaller:
    """This process's pool of checker children for (function, bound)."""
    return shared_caller(_callers, f"{__name__}:{function}", timeout_s, warm_up_args=_WARM_UP[function])


@dataclass
class _Tally:
    timeouts: int = 0
    calls: int = 0


def _cluster_pairwise(keys: list[str], timeout_s: float, tally: _Tally) -> list[int]:
    """Greedy clusters, one bounded child call per check. Each non-integer key is first compared with
    ``PROBE`` (a comparison with itself may short-cut on identical parses; one with a number forces
    evaluation): a key whose probe times out or fails is pathological and compared no further."""
    caller = _caller("equivalent_in_process", timeout_s)
    given_up: set[int] = set()

    def check(a: str, b: str) -> str:
        tally.calls += 1
        result = caller.call(a, b)
        tally.timeouts += result.status == "timeout"
        return "yes" if result.status == "ok" and result.value else "no" if result.status == "ok" else result.status

    for i, key in enumerate(keys):
        if _as_integer(key) is None and check(key, PROBE) in ("timeout", "error"):
            given_up.add(i)
    representatives: list[int] = []

    def same(rep: int, i: int) -> bool:
        return rep not in given_up and i not in given_up and check(keys[rep], keys[i]) == "yes"

    return [_join(i, keys, representatives, lambda rep, i=i: same(rep, i)) for i in range(len(keys))]


def cluster_distinct(
    keys: list[str], group_timeout_s: float = GROUP_TIMEOUT_S, pair_timeout_s: float = PAIR_TIMEOUT_S
) -> tuple[list[int], int, int]:
    """Cluster labels of distinct ``keys``, timed-out comparisons, child calls. Raises WorkerStartError."""
    if sum(_as_integer(key) is None for key in keys) == 0 or len(keys) < 2:
        return list(range(len(keys))), 0, 0  # distinct integers (or a single key): nothing to check
    result = _caller("cluster_keys_in_process", group_timeout_s).call(keys)
    if result.status == "ok":
        return list(result.value), 0, 1
    tally = _Tally(calls=1)
    labels = _cluster_pairwise(keys, pair_timeout_s, tally)
    return labels, tally.timeouts + (result.status == "timeout"), tally.calls


def cluster_answers(
    answers: Sequence[str | None],
    group_timeout_s: float = GROUP_TIMEOUT_S,
    pair_timeout_s: float = PAIR_TIMEOUT_S,
    distinct_clusterer=None,
) -> AnswerClusters:
    """The answer clusters of one group (see the module doc). Never raises for the answers' content."""
    keys = [answer_key(answer) for answer in answers]
    distinct = list(dict.fromkeys(key for key in keys if key is not None))
    fallback = False
    try:
        if distinct_clusterer is None:
            distinct_labels, timeouts, calls = cluster_distinct(distinct, group_timeout_s, pair_timeout_s)
        else:
            distinct_labels, timeouts, calls = distinct_clusterer(distinct)
    except WorkerStartError:
        distinct_labels, timeouts, calls, fallback = list(range(len(distinct))), 0, 0, True
    of_key = dict(zip(distinct, distinct_labels))
    labels = tuple(None if key is None else of_key[key] for key in keys)
    count = max(distinct_labels, default=-1) + 1
    sizes = [0] * count
    for label in labels:
        if label is not None:
            sizes[label] += 1
    return AnswerClusters(labels, tuple(sizes), fallback, timeouts, calls)


def cluster_groups(
    groups: Sequence[Sequence[str | None]],
    group_timeout_s: float = GROUP_TIMEOUT_S,
    pair_timeout_s: float = PAIR_TIMEOUT_S,
    threads: int | None = None,
) -> list[AnswerClusters]:
    """``cluster_answers`` of many groups (a training step), in order. Groups that need the checker are
    spread over ``threads`` threads (default: the checker pool's size, ``isolation.default_pool_size``), one child each."""
    threads = threads or default_pool_size()
    if threads <= 1 or len(groups) <= 1:
        return [cluster_answers(g, group_timeout_s, pair_timeout_s) for g in groups]
    with ThreadPoolExecutor(threads, thread_name_prefix="answer-clusters") as pool:
        return list(pool.map(lambda g: cluster_answers(g, group_timeout_s, pair_timeout_s), groups))
