"""Answer clusters of one group: which samples gave equivalent answers (for the group-level rewards).

Cost: the checker sees the group's DISTINCT normalised answers, never all pairs of samples. Steps:

1. ``answer_key``: a conservative normalisation that never changes meaning (whitespace runs collapsed,
   ``\\dfrac``/``\\tfrac`` -> ``\\frac``, ``\\left``/``\\right`` dropped, a trailing period dropped, a plain
   integral literal written as its integer: ``2.0`` -> ``2``). Samples with the same key share a cluster.
2. Distinct keys are clustered greedily in order of first appearance: each key joins the first cluster
   whose representative (its first key) math-verify finds equivalent (``verify(representative, key)``),
   else it opens a new cluster. Two integer keys are never equivalent (they would share a key), so a
   group whose keys are all integers needs no checker at all.
3. The checker runs in an ``IsolatedCaller`` child (the same bounded path as the correctness reward), one call
   per group, where each distinct key costs one parse and each comparison reuses the parses:
   - screen: a key the format check's static bounds refuse (``format.exceeds_static_bounds``: towers such as
     ``9^{9^{9^{9}}}``), or whose parse they refuse as sympy prints it (``format.cost_bounds_exceeded``:
     ``\\lfloor e^{10^{15}} \\rfloor`` is ``floor(exp(10**15))``), keeps its own cluster and is compared with
     nothing (counted in ``screened``); sub-millisecond where math-verify would need minutes;
   - parse: math-verify's ``parse``, once per key; a parse that is a number (no free symbols, no percentage,
     no relation, set, tuple or matrix) also gets its value to ``FINGERPRINT_DIGITS`` digits (``fingerprint``,
     a step of its own: a value past its bound only leaves the key's comparisons to math-verify);
   - compare: ``verify(representative, key)``, except for two parses that ``certainly_unequal`` says no
     ``verify`` could accept: values more than ``DISTINCT_ABS`` apart (plus ``DISTINCT_REL`` of their size).
     math-verify's numeric comparison rounds to 6 decimals and its symbolic one asks ``simplify(a - b)`` to be
     zero, so two numbers that far apart are never equivalent for it, and no sympy work is needed to say so;
   - bounds: each parse (with its screen and value) and each comparison runs under ``STEP_TIMEOUT_S`` CPU
     seconds (``isolation.cpu_step``); a key whose step times out or fails keeps its own cluster and is
     compared no further (counted in ``timeouts`` or ``check_errors``). The group's CPU budget is proportional
     to its work (``group_budget_s``: a base, a share per key and per pair of keys); when it is spent the keys
     left keep their own clusters (one timeout).
   The child reports each key's cluster as soon as it is decided (``isolation.report_progress``). When it
   fails on a key (the kernel ends it past a step's hard bound, it is killed or dies, or it answers an error),
   that key keeps its own cluster (a timeout or a check error) and a fresh call goes on from the next key;
   after ``MAX_FAILED_CALLS`` failed calls (or a reply outside the protocol, a check error) the group's keys
   left keep their own clusters. A group thus costs at most its budget plus a few step bounds, never the
   number of its answers times a timeout.
4. If the checker cannot run at all (its child fails to start, ``WorkerStartError``), the keys not yet
   clustered keep their own clusters (key equality, step 1 only) and ``fallback`` is set: a group is never
   silently zeroed.

The clusters are those of the greedy rule whenever no step of the group times out or fails and no key is
screened: every failure is counted, and only a key that timed out, failed or was screened (or one left when
the budget ran out) differs from the greedy rule, by keeping its own cluster.

Samples without an answer (``None`` or blank) belong to no cluster (label ``None``).
"""

from __future__ import annotations

import cmath
import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from verl_ext.rewards.correctness import _as_boxed, _as_integer
from verl_ext.rewards.isolation import (
    IsolatedCaller,
    StepTimeout,
    WorkerStartError,
    cpu_step,
    default_pool_size,
    report_progress,
    shared_caller,
)

STEP_TIMEOUT_S = 1.0
"""CPU seconds for one step in the checker child: parsing one key (with its screen and value), or one comparison
(the correctness check's bound)."""
GROUP_BASE_S = 1.0
KEY_COST_S = 0.05
PAIR_COST_S = 0.025
"""``group_budget_s``: a parse costs math-verify about 4 ms and a comparison that needs sympy about 20 ms of CPU
(``benchmarks/bench_group.py``); the shares leave room for several times that."""
MAX_FAILED_CALLS = 3
"""Calls of one group that may fail (their child killed or dead, or an error answered) before the keys left
keep their own clusters: each costs a step bound and a fresh child."""
CALL_MARGIN_S = 1.0
"""CPU seconds a call gets beyond its budget and one step's hard bound (pickling, the last step's overrun)."""

FINGERPRINT_DIGITS = 20
DISTINCT_ABS = 1e-5
"""Ten times the widest gap math-verify's 6-decimal rounding can close."""
DISTINCT_REL = 1e-12
"""Far above the error of a value computed to ``FINGERPRINT_DIGITS`` digits and held as a double."""

CHECKER = f"{__name__}:cluster_keys_in_process"
"""The function ("module:function") the checker child runs; read at each call (a test may name another)."""

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

    ``sizes[c]``: samples in cluster c. ``fallback``: the checker could not start, the clusters not yet decided
    are key equality. ``timeouts``: checks stopped by their CPU bound (a parse or comparison, a child ended by
    the kernel, the group's budget spent): each counted once, its key kept in its own cluster.
    ``check_errors``: checks that failed otherwise (an exception or MemoryError in the child, a child killed or
    dead mid-call, a reply outside the protocol), same treatment. ``screened``: distinct answers kept out of the
    comparison by the format check's static bounds (own clusters). ``checker_calls``: child calls made (0 when
    keys alone decided)."""

    labels: tuple[int | None, ...]
    sizes: tuple[int, ...]
    fallback: bool = False
    timeouts: int = 0
    checker_calls: int = 0
    check_errors: int = 0
    screened: int = 0

    @property
    def n(self) -> int:
        return len(self.labels)

    def largest(self) -> int | None:
        """The largest cluster; ties go to the one whose first member comes first; None without answers."""
        if not self.sizes:
            return None
        top = max(self.sizes)
        return self.sizes.index(top)


# --- the checker's steps (in the isolated child) ----------------------------------------------------------------

CHECKED, SCREENED, TIMEOUT, ERROR, BUDGET = "checked", "screened", "timeout", "error", "budget"
"""How a key's cluster was decided: by the greedy rule, or (each a cluster of its own) screened, a step timed
out, a step failed, the group's budget spent."""
EVENTS = (CHECKED, SCREENED, TIMEOUT, ERROR, BUDGET)


@dataclass(frozen=True)
class ParsedKey:
    """math-verify's parse of a key (sympy objects and strings) and, once ``with_values`` has run, each item's value
    (``fingerprint``; None for none, or not computed)."""

    items: tuple[Any, ...]
    values: tuple[complex | None, ...] = ()

    def __post_init__(self) -> None:
        if not self.values:
            object.__setattr__(self, "values", (None,) * len(self.items))


def _math_verify():
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns that its timeouts are off: we bound it
    return parse, verify


def parse_key(key: str) -> ParsedKey | None:
    """math-verify's parse of ``key`` (values not yet computed: ``with_values``); None when the format check's
    static bounds refuse the key or its parse (``screened``). MemoryError and RecursionError are raised (the check
    failed); any other exception is math-verify's own "no parse" (an empty parse, as ``parse`` returns for it)."""
    from verl_ext.rewards.format import cost_bounds_exceeded, exceeds_static_bounds

    if _as_integer(key) is None and exceeds_static_bounds(key):
        return None
    parse, _ = _math_verify()
    try:
        items = parse(_as_boxed(key), parsing_timeout=None, raise_on_error=True)
    except (MemoryError, RecursionError):
        raise
    except Exception:
        items = []
    if any(not isinstance(item, str) and _printed_cost_exceeded(item, cost_bounds_exceeded) for item in items):
        return None
    return ParsedKey(tuple(items))


def with_values(parsed: ParsedKey) -> ParsedKey:
    """``parsed`` with each item's value (``fingerprint``)."""
    return ParsedKey(parsed.items, tuple(fingerprint(item) for item in parsed.items))


def _printed_cost_exceeded(item: Any, cost_bounds_exceeded: Callable[[str], bool]) -> bool:
    try:
        printed = str(item)
    except ValueError:  # an integer past Python's digit limit for printing: far beyond every bound
        return True
    return cost_bounds_exceeded(printed)


def fingerprint(item: Any) -> complex | None:
    """The value of a number-valued sympy expression to ``FINGERPRINT_DIGITS`` digits; None for anything else (a
    string, free symbols, a percentage, a relation, set, tuple or matrix, no finite value, a value sympy cannot
    certify to that many digits)."""
    from sympy import Expr, UnevaluatedExpr
    from sympy.matrices.expressions import MatrixExpr

    if not isinstance(item, Expr) or isinstance(item, MatrixExpr) or item.free_symbols or item.has(UnevaluatedExpr):
        return None  # UnevaluatedExpr marks a percentage, which math-verify compares by its number (9% = 9)
    try:
        value = complex(item.evalf(FINGERPRINT_DIGITS, strict=True))
    except (MemoryError, RecursionError):
        raise
    except Exception:  # no number (an undefined function), or sympy cannot certify the digits
        return None
    return value if cmath.isfinite(value) else None


def certainly_unequal(a: ParsedKey, b: ParsedKey) -> bool:
    """Whether ``verify(a.items, b.items)`` is False whatever sympy would do: every pair of items it tries is a
    sympy object and a string (never equal for it), two different strings, or two values that differ by more
    than ``DISTINCT_ABS + DISTINCT_REL * max(|x|, |y|)``."""
    for (x, vx), (y, vy) in product(zip(a.items, a.values, strict=True), zip(b.items, b.values, strict=True)):
        if isinstance(x, str) != isinstance(y, str):
            continue
        if isinstance(x, str):
            if x.strip() and x.strip() == y.strip():
                return False
            continue
        if vx is None or vy is None or abs(vx - vy) <= DISTINCT_ABS + DISTINCT_REL * max(abs(vx), abs(vy)):
            return False
    return True


def equivalent(representative: ParsedKey, key: ParsedKey) -> bool:
    """math-verify's verdict ``verify(representative, key)`` on two parses (a key without a parse equals nothing).
    An exception of math-verify's is its False, as ``verify`` itself makes it; MemoryError and RecursionError are
    raised (the check failed)."""
    if not representative.items or not key.items or certainly_unequal(representative, key):
        return False
    _, verify = _math_verify()
    for gold, target in product(representative.items, key.items):  # verify's own loop, one pair at a time
        try:
            if verify(gold, target, timeout_seconds=None, raise_on_error=True):
                return True
        except (MemoryError, RecursionError):
            raise
        except Exception:
            continue
    return False


@dataclass
class _Greedy:
    """The greedy clusters of a group's first keys: each cluster's first key, and which clusters take no more."""

    keys: Sequence[str]
    representatives: list[int] = field(default_factory=list)
    closed: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, keys: Sequence[str], labels: Sequence[int], closed_keys: Sequence[int]) -> _Greedy:
        state = cls(keys)
        for i, label in enumerate(labels):
            if label == len(state.representatives):
                state.representatives.append(i)
                if i in closed_keys:
                    state.closed.add(label)
        return state

    def candidates(self, i: int) -> list[tuple[int, int]]:
        """(cluster, representative) pairs key i is compared with, in cluster order (two integers never)."""
        integer = _as_integer(self.keys[i]) is not None
        return [
            (cluster, rep)
            for cluster, rep in enumerate(self.representatives)
            if cluster not in self.closed and not (integer and _as_integer(self.keys[rep]) is not None)
        ]

    def open_cluster(self, i: int, closed: bool) -> int:
        self.representatives.append(i)
        if closed:
            self.closed.add(len(self.representatives) - 1)
        return len(self.representatives) - 1


def cluster_keys_in_process(
    keys: list[str],
    labels: list[int],
    closed_keys: list[int],
    budget_s: float,
    step_s: float = STEP_TIMEOUT_S,
    parse: Callable[[str], ParsedKey | None] = parse_key,
    same: Callable[[ParsedKey, ParsedKey], bool] = equivalent,
    valued: Callable[[ParsedKey], ParsedKey] = with_values,
) -> list[tuple[str, int, float]]:
    """Go on with the greedy clusters of the distinct ``keys`` from key ``len(labels)`` on, the first keys being
    decided (``labels``; the clusters of ``closed_keys`` take no more keys). Each key's (event, cluster, CPU
    seconds of this call so far) is reported as soon as it is decided (``isolation.report_progress``) and all
    are returned. Run it in an isolated child: its steps are bounded there only (``isolation.cpu_step``). A key's
    parse is one step and its values another: values past their bound only leave the key to math-verify."""
    started = time.process_time()
    state = _Greedy.of(keys, labels, closed_keys)
    parsed: dict[int, ParsedKey | None] = {}

    def parsed_key(i: int) -> ParsedKey | None:
        if i not in parsed:
            with cpu_step(step_s):
                parsed[i] = parse(keys[i])
            if parsed[i] is not None:
                try:
                    with cpu_step(step_s):
                        parsed[i] = valued(parsed[i])
                except StepTimeout:
                    pass  # no values: each comparison of this key is math-verify's
        return parsed[i]

    def place(i: int) -> tuple[str, int]:
        if _as_integer(keys[i]) is None and parsed_key(i) is None:
            return SCREENED, state.open_cluster(i, closed=True)
        for cluster, rep in state.candidates(i):
            if time.process_time() - started > budget_s:
                return BUDGET, state.open_cluster(i, closed=True)
            representative, candidate = parsed_key(rep), parsed_key(i)  # parsed already, but for integer keys
            if representative is None or candidate is None:
                continue  # (only if a parse differed between calls: screened keys open closed clusters)
            with cpu_step(step_s):
                if same(representative, candidate):
                    return CHECKED, cluster
        return CHECKED, state.open_cluster(i, closed=False)

    decided = []
    for i in range(len(labels), len(keys)):
        if time.process_time() - started > budget_s:
            event, label = BUDGET, state.open_cluster(i, closed=True)
        else:
            try:
                event, label = place(i)
            except StepTimeout:
                event, label = TIMEOUT, state.open_cluster(i, closed=True)
            except Exception:  # MemoryError included: the check failed, the child goes on
                event, label = ERROR, state.open_cluster(i, closed=True)
        item = (event, label, time.process_time() - started)
        report_progress(item)
        decided.append(item)
    return decided


# --- the parent's side ------------------------------------------------------------------------------------------


def group_budget_s(keys: int) -> float:
    """CPU seconds for clustering ``keys`` distinct keys: ``GROUP_BASE_S + KEY_COST_S K + PAIR_COST_S K (K - 1) / 2``
    (one parse per key, at most one comparison per pair)."""
    return GROUP_BASE_S + KEY_COST_S * keys + PAIR_COST_S * keys * (keys - 1) / 2


@dataclass(frozen=True)
class KeyClusters:
    """Cluster labels of a group's distinct keys and what deciding them took (see ``AnswerClusters``)."""

    labels: list[int]
    timeouts: int = 0
    check_errors: int = 0
    screened: int = 0
    calls: int = 0
    fallback: bool = False


class _Malformed(Exception):
    """A checker reply outside the protocol."""


@dataclass
class _Decisions:
    """The keys of a group decided so far, with the counts; accepts only what the greedy rule allows."""

    keys: list[str]
    labels: list[int] = field(default_factory=list)
    closed_keys: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    clusters: int = 0
    closed_clusters: set[int] = field(default_factory=set)
    cpu_s: float = 0.0

    def done(self) -> bool:
        return len(self.labels) == len(self.keys)

    def accept(self, items: Any) -> None:
        """Take a call's (event, cluster, CPU seconds) items for the next keys. Raises _Malformed."""
        if not isinstance(items, (list, tuple)):
            raise _Malformed(f"items of type {type(items).__name__}")
        call_cpu = 0.0
        for item in items:
            if self.done():
                raise _Malformed("more items than keys")
            if not (isinstance(item, (list, tuple)) and len(item) == 3):
                raise _Malformed(f"item {item!r}")
            event, label, cpu = item
            if event not in EVENTS or type(label) is not int or not isinstance(cpu, (int, float)):
                raise _Malformed(f"item {item!r}")
            joins = label < self.clusters and event == CHECKED and label not in self.closed_clusters
            if not (joins or label == self.clusters):
                raise _Malformed(f"key {len(self.labels)} given cluster {label} of {self.clusters}")
            self.add(event, label)
            call_cpu = max(call_cpu, float(cpu))
        self.cpu_s += call_cpu

    def add(self, event: str, label: int | None = None) -> None:
        """The next key's decision; ``label`` None: a cluster of its own."""
        label = self.clusters if label is None else label
        if label == self.clusters:
            self.clusters += 1
            if event != CHECKED:
                self.closed_clusters.add(label)
                self.closed_keys.append(len(self.labels))
        self.labels.append(label)
        self.events.append(event)

    def close_rest(self, event: str) -> None:
        while not self.done():
            self.add(event)


FAILED_CALL_EVENTS = {"timeout": TIMEOUT, "error": ERROR}
UNCHECKED = "unchecked"
"""A key left in its own cluster after the group's failures (counted as those failures, not again)."""


def cluster_distinct(keys: list[str], step_timeout_s: float = STEP_TIMEOUT_S, checker: str = CHECKER) -> KeyClusters:
    """Cluster labels of distinct ``keys`` and what deciding them took (the module doc's step 3)."""
    if sum(_as_integer(key) is None for key in keys) == 0 or len(keys) < 2:
        return KeyClusters(list(range(len(keys))))  # distinct integers (or a single key): nothing to check
    caller = _caller(checker)
    budget = group_budget_s(len(keys))
    decisions = _Decisions(keys)
    calls = failed_calls = malformed = 0
    late = {TIMEOUT: 0, ERROR: 0}
    fallback = False
    while not decisions.done():
        if failed_calls > MAX_FAILED_CALLS:
            decisions.close_rest(UNCHECKED)
            break
        left = max(budget - decisions.cpu_s, 0.0)
        args = (keys, decisions.labels, decisions.closed_keys, left, step_timeout_s)
        try:
            result = caller.call(*args, timeout_s=left + step_timeout_s + CALL_MARGIN_S)
        except WorkerStartError:
            fallback = True
            decisions.close_rest(UNCHECKED)
            break
        calls += 1
        try:
            decisions.accept(result.progress)
            if result.status == "ok" and (not decisions.done() or list(result.progress) != result.value):
                raise _Malformed("a reply that is not the items reported")
        except _Malformed:
            malformed += 1
            decisions.close_rest(UNCHECKED)
            break
        if result.status != "ok":  # the call failed on the next key, which keeps its own cluster
            failed_calls += 1
            if decisions.done():  # (after its last key: the clusters are whole, the failure still counts)
                late[FAILED_CALL_EVENTS[result.status]] += 1
            else:
                decisions.add(FAILED_CALL_EVENTS[result.status])
            decisions.cpu_s += step_timeout_s  # what the failed step may have used, beyond the items' figure
    events = decisions.events
    return KeyClusters(
        decisions.labels,
        timeouts=events.count(TIMEOUT) + (BUDGET in events) + late[TIMEOUT],
        check_errors=events.count(ERROR) + late[ERROR] + malformed,
        screened=events.count(SCREENED),
        calls=calls,
        fallback=fallback,
    )


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
    "9^{9^{9^{9}}}",
    "\\lfloor e^{10^{15}} \\rfloor",
]
"""Clustered once when a checker child starts (outside any call's bound): sympy's first use of roots,
constants, symbols and tuples, and the format check's screen, cost up to ~0.5 s, paid there instead of by the
first real group."""


_WARM_UP_BUDGET_S = 60.0  # (no bound is armed at warm-up: this only keeps the budget check from cutting it short)


def _caller(checker: str = CHECKER) -> IsolatedCaller:
    """This process's pool of checker children running ``checker`` (each call brings its own CPU bound)."""
    warm_up = (_WARM_UP_KEYS, [], [], _WARM_UP_BUDGET_S)
    return shared_caller(_callers, checker, STEP_TIMEOUT_S, warm_up_args=warm_up)


def cluster_answers(answers: Sequence[str | None], step_timeout_s: float = STEP_TIMEOUT_S) -> AnswerClusters:
    """The answer clusters of one group (see the module doc). Never raises for the answers' content."""
    keys = [answer_key(answer) for answer in answers]
    distinct = list(dict.fromkeys(key for key in keys if key is not None))
    decided = cluster_distinct(distinct, step_timeout_s, CHECKER)
    of_key = dict(zip(distinct, decided.labels, strict=True))
    labels = tuple(None if key is None else of_key[key] for key in keys)
    count = max(decided.labels, default=-1) + 1
    sizes = [0] * count
    for label in labels:
        if label is not None:
            sizes[label] += 1
    return AnswerClusters(
        labels,
        tuple(sizes),
        fallback=decided.fallback,
        timeouts=decided.timeouts,
        checker_calls=decided.calls,
        check_errors=decided.check_errors,
        screened=decided.screened,
    )


def cluster_groups(
    groups: Sequence[Sequence[str | None]], step_timeout_s: float = STEP_TIMEOUT_S, threads: int | None = None
) -> list[AnswerClusters]:
    """``cluster_answers`` of many groups (a training step), in order. Groups that need the checker are
    spread over ``threads`` threads (default: the checker pool's size, ``isolation.default_pool_size``), one
    child each."""
    threads = threads or default_pool_size()
    if threads <= 1 or len(groups) <= 1:
        return [cluster_answers(g, step_timeout_s) for g in groups]
    with ThreadPoolExecutor(threads, thread_name_prefix="answer-clusters") as pool:
        return list(pool.map(lambda g: cluster_answers(g, step_timeout_s), groups))
