"""Every way the answer-equivalence checker can fail is counted, and costs only the failing answer its cluster
(issue 27, item 4).

Each test makes the checker child fail one way on one answer ("boom-..."): its target
(``equivalence.CHECKER``, patched) is tests/checker_faults/faulty_checker.py's, which runs the real
``cluster_keys_in_process`` with a parse that fails on that key (an exception, memory past the child's limit, the
child killed or exiting, CPU spent in Python or inside one C operation, a message outside the protocol), or which
answers garbage, or dies on every call. The other answers must still cluster as math-verify clusters them:
1/2 = 0.5 and x + 1 = 1 + x (math-verify's documented rules), 3 alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from verl_ext.rewards import equivalence

FAULTS = Path(__file__).resolve().parent / "checker_faults"
CLUSTERED = (0, 1, 0, 2, 2, 1, 3)  # the failing answer keeps its own cluster where it first appears
ALONE = (0, 1, 2, 3, 4, 1, 5)  # every distinct answer in its own cluster (key equality)


def group(boom: str) -> list[str]:
    return ["\\frac{1}{2}", boom, "0.5", "x + 1", "1 + x", boom, "3"]


@pytest.fixture(scope="module")
def faulty_pool():
    """Checker children that can import the faulty target: one pool of them for this module's tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join([str(FAULTS), os.environ.get("PYTHONPATH", "")]))
        patch.setattr(equivalence, "_callers", {})
        patch.setattr(equivalence, "CHECKER", "faulty_checker:target")
        yield
        for caller in equivalence._callers.values():
            caller.close()


def faulty(answers: list[str]) -> equivalence.AnswerClusters:
    return equivalence.cluster_answers(answers)


@pytest.mark.parametrize(
    ("boom", "calls"),
    [
        ("boom-raises", 1),  # an exception in the child: the step fails, the child goes on
        ("boom-memory", 1),  # MemoryError under the child's memory limit: the same
        ("boom-killed", 2),  # SIGKILL mid-call: a fresh child goes on from the next answer
        ("boom-exits", 2),  # the child exits mid-call: the same
        ("boom-off-protocol", 2),  # a message outside the protocol: the child is ended, a fresh one goes on
    ],
)
def test_a_failing_check_is_counted_and_costs_only_its_answer_its_cluster(faulty_pool, boom, calls):
    clusters = faulty(group(boom))
    assert clusters.labels == CLUSTERED
    assert (clusters.check_errors, clusters.timeouts, clusters.fallback) == (1, 0, False)
    assert clusters.checker_calls == calls


@pytest.mark.parametrize(
    ("boom", "calls"),
    [
        ("boom-spins", 1),  # Python code past the step's CPU time: StepTimeout, the child goes on
        ("boom-stuck-in-c", 2),  # one C operation: the kernel ends the child, a fresh one goes on
    ],
)
def test_a_check_past_its_cpu_time_is_a_counted_timeout(faulty_pool, boom, calls):
    clusters = faulty(group(boom))
    assert clusters.labels == CLUSTERED
    assert (clusters.timeouts, clusters.check_errors, clusters.fallback) == (1, 0, False)
    assert clusters.checker_calls == calls


@pytest.mark.parametrize("boom", ["boom-garbage", "boom-garbage-progress"])
def test_a_reply_that_is_not_clusters_is_counted_and_leaves_every_answer_alone(faulty_pool, boom):
    clusters = faulty(group(boom))
    assert clusters.labels == ALONE
    assert (clusters.check_errors, clusters.timeouts, clusters.fallback, clusters.checker_calls) == (1, 0, False, 1)


def test_a_child_that_dies_on_every_call_costs_a_bounded_number_of_calls(faulty_pool, monkeypatch):
    monkeypatch.setattr(equivalence, "MAX_FAILED_CALLS", 1)  # (each failed call costs a fresh child)
    clusters = faulty(group("boom-every-call"))
    assert clusters.labels == ALONE  # the first two answers failed, the others left unchecked
    assert clusters.checker_calls == clusters.check_errors == 2
    assert not clusters.fallback


def test_the_group_budget_leaves_the_answers_after_it_alone_with_one_timeout(faulty_pool, monkeypatch):
    # a budget of 1 s and comparisons of 0.6 s each: 1/2 opens cluster 0, "slow" is compared with it (0.6 s)
    # and opens cluster 1, 0.5 joins cluster 0 (1.2 s); "x + 1", "1 + x" and 3 find the budget spent
    monkeypatch.setattr(equivalence, "GROUP_BASE_S", 1.0)
    monkeypatch.setattr(equivalence, "KEY_COST_S", 0.0)
    monkeypatch.setattr(equivalence, "PAIR_COST_S", 0.0)
    clusters = faulty(group("slow"))
    assert clusters.labels == (0, 1, 0, 2, 3, 1, 4)
    assert (clusters.timeouts, clusters.check_errors) == (1, 0)
