"""A group's answer clusters cost what its distinct answers need (issue 27, item 5): one parse per distinct answer,
no sympy work for two numbers math-verify could never call equal, answers the format check's static bounds refuse
kept out of the comparison, and a group bound that grows with its pairs. Speed itself is measured by
benchmarks/bench_group.py, not here; these tests check what the figures rest on."""

from __future__ import annotations

import json

import pytest
from math_verify import verify

from data_prep.carried import release_folder
from verl_ext.rewards import equivalence
from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.equivalence import (
    answer_key,
    certainly_unequal,
    cluster_answers,
    equivalent,
    parse_key,
    with_values,
)

# (representative, key, certainly unequal by the values, worked by hand)
PAIRS = [
    ("\\sqrt{2}", "1.414214", False),  # 4.4e-7 apart: math-verify's 6-decimal rounding may call them equal
    ("\\sqrt{2}", "1.4142", True),  # 1.4e-5 apart
    ("\\frac{1}{3}", "0.333333", False),  # 3.3e-7 apart
    ("\\frac{1}{3}", "0.33333", False),  # 3.3e-6 apart: within ten times the rounding's reach
    ("1\\sqrt{2} + \\frac{\\pi}{3}", "2\\sqrt{3} + \\frac{\\pi}{4}", True),  # 2.46 and 4.25
    ("3", "\\frac{10}{3}", True),
    ("3", "\\frac{9}{3}", False),  # equal values
    ("\\frac{\\sqrt{3}}{2}", "\\cos\\frac{\\pi}{6}", False),
    ("10^{20}", "10^{20} + 1", False),  # 1 apart, below 10^-12 of their size: left to math-verify
    ("x + 1", "1 + x", False),  # free symbols: no value
    ("(1, 2)", "(1, 3)", False),  # tuples: no value
    ("x = 2", "3", False),  # a relation: no value
    ("\\infty", "10^{100}", False),  # no finite value
]


@pytest.mark.parametrize(("representative", "key", "unequal"), PAIRS)
def test_the_verdict_is_math_verifys_and_a_certainly_unequal_pair_is_one_it_rejects(representative, key, unequal):
    a, b = with_values(parse_key(representative)), with_values(parse_key(key))
    math_verify_says = any(verify(x, y, timeout_seconds=None) for x in a.items for y in b.items)
    assert certainly_unequal(a, b) == unequal
    assert equivalent(a, b) == math_verify_says
    assert not (unequal and math_verify_says)


PATHOLOGICAL = [
    "9^{9^{9^{9}}}",  # a tower: the format check's digit bound
    "10^{10^{10}}",
    "\\operatorname{floor}(\\exp(10^{15}))",  # its magnitude bound
    "\\sin(10^{99})",  # a periodic function of a huge argument
    "1" * 600,  # past its length bound
    "\\lfloor e^{10^{15}} \\rfloor",  # math-verify parses it as floor(exp(10**15)): the same magnitude bound
    "\\left\\lfloor \\frac{3^{3^{20}}}{7} \\right\\rfloor",
]


def test_answers_no_checker_can_afford_are_screened_into_their_own_clusters_in_one_call():
    answers = PATHOLOGICAL + ["\\frac{1}{2}", "0.5", "x + 1", "1 + x"] + PATHOLOGICAL
    clusters = cluster_answers(answers)
    screened = tuple(range(len(PATHOLOGICAL)))
    assert clusters.labels == screened + (7, 7, 8, 8) + screened
    assert (clusters.screened, clusters.timeouts, clusters.check_errors) == (len(PATHOLOGICAL), 0, 0)
    assert clusters.checker_calls == 1


def test_the_releases_answers_are_never_screened():
    keys = set()
    with release_folder(None) as folder:
        for path in sorted((folder / "outputs").glob("*/*/res*_*.json")):
            for item in json.loads(path.read_text(encoding="utf-8")):
                keys |= {answer_key(extract_answer(item["response"])), answer_key(str(item["ground_truth"]))}
    keys.discard(None)
    assert len(keys) > 500
    assert [key for key in sorted(keys) if parse_key(key) is None] == []


def test_a_group_of_many_distinct_symbolic_answers_is_one_call_without_timeouts():
    # 24 distinct values i sqrt(i + 1) + pi / (i + 2), increasing in i: 24 clusters, 276 pairs
    distinct = [f"{i}\\sqrt{{{i + 1}}} + \\frac{{\\pi}}{{{i + 2}}}" for i in range(1, 25)]
    clusters = cluster_answers(distinct + distinct[::-1])
    assert clusters.labels == tuple(range(24)) + tuple(range(23, -1, -1))
    assert (clusters.checker_calls, clusters.timeouts, clusters.check_errors, clusters.screened) == (1, 0, 0, 0)


@pytest.mark.parametrize(("keys", "budget"), [(2, 1.125), (8, 2.1), (64, 1.0 + 3.2 + 50.4)])
def test_the_group_budget_grows_with_keys_and_pairs(keys, budget):
    # 1 s, plus 0.05 s a key, plus 0.025 s a pair: K = 8 has 28 pairs, K = 64 has 2016
    assert equivalence.group_budget_s(keys) == pytest.approx(budget)
