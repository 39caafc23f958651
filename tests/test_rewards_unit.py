"""Table-driven unit tests of the pure rewards: extraction, format, length curve, presets, bounds."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from verl_ext.core.extra_info import result_fields
from verl_ext.rewards import (
    correctness_reward,
    extract_answer,
    format_length_reward,
    format_reward,
    length_reward,
    preset_names,
    score_response,
    text_preset_names,
)
from verl_ext.rewards.correctness import check_answer_correct
from verl_ext.rewards.format import check_format

EXTRACTION_CASES = [
    ("plain box", "so \\boxed{42}.", "42"),
    ("last box wins", "\\boxed{1} then \\boxed{2}", "2"),
    ("nested braces", "\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("empty box is an empty answer", "\\boxed{}", ""),
    ("unclosed box", "\\boxed{5", None),
    ("box without brace", "\\boxed 5", None),
    ("fbox is not an answer box", "\\fbox{5}", None),
    ("no box", "the answer is 5", None),
    ("only after the last think end", "<think>\\boxed{1}</think> so \\boxed{2}", "2"),
    ("a box inside thinking only", "<think>\\boxed{1}</think> done", None),
    ("last box unclosed hides earlier one", "\\boxed{1} and \\boxed{2", None),
]


@pytest.mark.parametrize("case,response,expected", EXTRACTION_CASES, ids=[c[0] for c in EXTRACTION_CASES])
def test_extract_answer_takes_the_last_balanced_box(case, response, expected):
    assert extract_answer(response) == expected


FORMAT_CASES = [
    ("integer", "\\boxed{204}", 1.0),
    ("fraction", "\\boxed{\\frac{11}{2}}", 1.0),
    ("equation", "\\boxed{y = 2x + 3}", 1.0),
    ("implicit multiplication", "\\boxed{3\\sqrt{13}}", 1.0),
    ("tuple", "\\boxed{(3, \\frac{\\pi}{2})}", 1.0),
    ("text answer", "\\boxed{\\text{East}}", 1.0),
    ("division by zero is syntax, not evaluation", "\\boxed{\\frac{1}{0}}", 1.0),
    ("interval is not a sympy expression", "\\boxed{[2, \\infty)}", 0.0),
    ("matrix is not a sympy expression", "\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}", 0.0),
    ("union of intervals", "\\boxed{(0, 9) \\cup (9, 36)}", 0.0),
    ("empty box", "\\boxed{}", 0.0),
    ("no box", "42", 0.0),
    ("unclosed box", "\\boxed{5", 0.0),
    ("box without brace", "\\boxed 5", 0.0),
    ("fbox", "\\fbox{5}", 0.0),
    ("two boxes, last one well formed", "\\boxed{(} and \\boxed{2}", 1.0),
    ("two boxes, last one malformed", "\\boxed{2} and \\boxed{[2, 3)}", 0.0),
    ("lone surrogate", "\\boxed{\ud800}", 0.0),
]


@pytest.mark.parametrize("case,response,expected", FORMAT_CASES, ids=[c[0] for c in FORMAT_CASES])
def test_format_reward(case, response, expected):
    assert format_reward(response) == expected


# Each must return quickly with F = 0 and the bound reported (the release never returns on the first ones).
BOUNDED_CASES = [
    ("power tower", "\\boxed{9^{9^{9^{9}}}}"),
    ("googolplex", "\\boxed{10^{10^{100}}}"),
    ("two tower", "\\boxed{2^{2^{2^{2^{2^{2}}}}}}"),
    ("braces nested 5000 deep", "\\boxed{" + "{" * 5000 + "5" + "}" * 5000 + "}"),
    ("200 kB answer", "\\boxed{" + "1+" * 100_000 + "1}"),
    ("a 1000-character sum deeper than the tree bound", "\\boxed{" + "1+" * 499 + "1}"),
    ("exponent notation", "\\boxed{1e999999999}"),
    ("a ** tower", "\\boxed{9**9**9}"),
    ("a power of a product with a number", "\\boxed{(2x)^{10^{100}}}"),
    ("the root of a 1000-digit number", "\\boxed{\\sqrt{10^{1000}+1}}"),
    ("a tuple repeated 10^8 times", "\\boxed{(1, 2) \\cdot 99999999}"),
    ("an order comparison that asks sympy for an identity", "\\boxed{\\sqrt{2}+\\sqrt{3} < \\sqrt{5+2\\sqrt{6}}}"),
]


@pytest.mark.parametrize("case,response", BOUNDED_CASES, ids=[c[0] for c in BOUNDED_CASES])
def test_adversarial_answers_score_zero_and_report_the_bound(case, response):
    check = check_format(response)
    assert check.well_formed is False
    assert check.budget_exceeded is True
    scored = score_response("format_length", response, response_tokens=100, max_response_tokens=3072)
    assert result_fields(scored)["timed_out"] == 1.0


@pytest.mark.parametrize(
    "answer",
    ["1000000!", "factorial(1000000)", "binomial(10^7, 5 \\cdot 10^6)", "fibonacci(10^6)", "\\binom{10}{5}", "5!"],
)
def test_number_theoretic_functions_are_checked_for_syntax_not_computed(answer):
    check = check_format(f"\\boxed{{{answer}}}")  # the release computes 1000000! before saying yes
    assert check.well_formed is True and check.budget_exceeded is False


def test_repeated_checks_give_the_same_verdict():
    response = "\\boxed{" + "+".join(["x"] * 300) + "}"
    from verl_ext.rewards import format as format_module

    verdicts = set()
    for _ in range(3):
        format_module._check_answer.cache_clear()
        verdicts.add(check_format(response))
    assert len(verdicts) == 1


def test_one_megabyte_response_is_scored_from_its_last_box():
    response = "blah " * 200_000 + "\\boxed{7}"
    assert len(response) > 1_000_000
    assert format_reward(response) == 1.0


def test_adversarial_correctness_check_times_out_instead_of_hanging():
    check = check_answer_correct("9^{9^{9^{9}}}", "5", timeout_s=1.0)
    assert check.correct is False
    assert check.timed_out is True


def test_format_check_works_in_a_worker_thread():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(format_reward, ["\\boxed{\\frac{3}{4}}", "\\boxed{x^2}", "\\boxed{[1,2)}"] * 10))
    assert results == [1.0, 1.0, 0.0] * 10


def test_correctness_works_in_a_worker_thread():
    from concurrent.futures import ThreadPoolExecutor

    pairs = [("\\boxed{\\frac{11}{2}}", "5.5"), ("\\boxed{18+2\\pi}", "2\\pi + 18"), ("\\boxed{3}", "4")]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda p: correctness_reward(*p), pairs))
    assert results == [1.0, 1.0, 0.0]


LENGTH_POINTS = [
    (0, 3072, 0.5, 0.0),
    (768, 3072, 0.5, 0.75),
    (1536, 3072, 0.5, 1.0),
    (2304, 3072, 0.5, 0.5),
    (3072, 3072, 0.5, -1.0),
    (9999, 3072, 0.5, -1.0),  # beyond the maximum counts as x = 1
    (250, 1000, 0.25, 1.0),
    (1000, 1000, 0.25, -1.0),
]


@pytest.mark.parametrize("tokens,maximum,peak,expected", LENGTH_POINTS)
def test_length_curve_key_points(tokens, maximum, peak, expected):
    assert length_reward(tokens, maximum, peak) == pytest.approx(expected)


@pytest.mark.parametrize(
    "tokens,maximum,peak,message",
    [
        (-1, 3072, 0.5, "response_tokens"),
        (10, 0, 0.5, "max_response_tokens"),
        (10, -5, 0.5, "max_response_tokens"),
        (10, 3072, 0.0, "peak"),
        (10, 3072, 1.0, "peak"),
        (10, 3072, 1.5, "peak"),
        ("10", 3072, 0.5, "response_tokens"),
    ],
)
def test_length_reward_rejects_invalid_arguments(tokens, maximum, peak, message):
    with pytest.raises(ValueError, match=message):
        length_reward(tokens, maximum, peak)


PRESET_CASES = [
    # preset, response, tokens, ground truth, expected score
    ("format", "\\boxed{5}", 1536, None, 0.5),
    ("format", "no answer", 1536, None, 0.0),
    ("format_length", "\\boxed{5}", 1536, None, 1.5),
    ("format_length", "\\boxed{5}", 3072, None, -0.5),
    ("format_length", "no answer", 1536, None, 0.0),  # min(0, L) with L = 1
    ("format_length", "no answer", 3072, None, -1.0),  # min(0, L) with L = -1
    ("length", "no answer", 768, None, 0.75),
    ("correctness", "\\boxed{5}", 10, "5", 1.0),
    ("correctness", "\\boxed{6}", 10, "5", 0.0),
]


@pytest.mark.parametrize("preset,response,tokens,truth,expected", PRESET_CASES)
def test_each_preset_combines_the_signals_as_documented(preset, response, tokens, truth, expected):
    scored = score_response(preset, response, response_tokens=tokens, max_response_tokens=3072, ground_truth=truth)
    assert scored.score == pytest.approx(expected)


def test_format_length_function_matches_its_preset():
    assert format_length_reward("\\boxed{5}", 1536, 3072) == 1.5


def test_random_preset_is_bernoulli_half_and_seedable():
    draws = [score_response("random", "x", rng=random.Random(0)).score for _ in range(1)]
    rng_a, rng_b = random.Random(7), random.Random(7)
    seq_a = [score_response("random", "x", rng=rng_a).score for _ in range(200)]
    seq_b = [score_response("random", "x", rng=rng_b).score for _ in range(200)]
    assert seq_a == seq_b
    assert set(seq_a) == {0.0, 1.0} and 70 < sum(seq_a) < 130
    assert draws[0] in (0.0, 1.0)


def test_surrogate_presets_never_use_the_ground_truth():
    with_truth = score_response(
        "format_length", "\\boxed{6}", response_tokens=10, max_response_tokens=100, ground_truth="5"
    )
    without = score_response("format_length", "\\boxed{6}", response_tokens=10, max_response_tokens=100)
    assert with_truth.score == without.score
    assert result_fields(with_truth)["correct"] == 0.0 and "correct" not in result_fields(without)


@pytest.mark.parametrize(
    "preset,kwargs,message",
    [
        ("nope", {}, "unknown reward"),
        ("length", {}, "needs response_tokens"),
        ("correctness", {}, "needs a ground truth"),
    ],
)
def test_misuse_raises_clear_errors(preset, kwargs, message):
    with pytest.raises(ValueError, match=message):
        score_response(preset, "\\boxed{1}", **kwargs)


def test_registry_lists_every_preset_by_level():
    assert preset_names("sample") == ["correctness", "format", "format_length", "length", "random"]
    assert preset_names("group") == [
        "format_gated_majority",
        "format_gated_semantic_frequency",
        "majority",
        "semantic_frequency",
    ]
    assert preset_names("token") == [
        "format_gated_probability",
        "format_gated_self_certainty",
        "format_gated_self_confidence",
        "format_gated_token_entropy",
        "probability",
        "self_certainty",
        "self_confidence",
        "token_entropy",
    ]
    assert preset_names() == sorted(preset_names("sample") + preset_names("group") + preset_names("token"))
    assert text_preset_names() == ["correctness", "format", "format_length", "length", "random"]


def test_rewards_import_without_verl():
    code = "import sys, verl_ext.rewards; assert 'verl' not in sys.modules and 'trl' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_verl_import_registers_every_manager_through_the_entry_point():
    code = (
        "import verl\n"
        "from verl.experimental.reward_loop.reward_manager.registry import get_reward_manager_cls as g\n"
        "print(','.join(g(n).preset for n in ['correctness','format','format_length','length','random']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "correctness,format,format_length,length,random"


@pytest.mark.parametrize(
    "answer,well_formed",
    [
        ("2^{10}", True),
        ("x^{100} + 1", True),
        ("10^{10000}", True),
        ("\\sqrt{2}^{3}", True),
        ("\\cos\\left(\\frac{\\pi}{15}\\right) < 1", True),
        ("1 < 2 < 3", True),  # chained: bool(1 < 2) is fine
        ("x < y < z", False),  # chained: Python asks bool(x < y), which sympy refuses
        ("\\frac{1}{2} > x > 0", False),
        ("\\sqrt{-1} < 1", False),  # sympy: invalid comparison of a non-real number
        ("(1, 2)^{2}", False),
        ("(1,2)(3,4)", False),
        ("\\sin", True),  # the function object itself: no error
        ("(1, 2) \\cdot 3", True),
        ("3(1, 2)", True),  # Python's tuple repetition, within the bound
    ],
)
def test_the_builder_keeps_pythons_and_sympys_semantics(answer, well_formed):
    # expected: what sympy's parse_expr (eval) gives for the normalised text (run once by hand)
    check = check_format(f"\\boxed{{{answer}}}")
    assert (check.well_formed, check.budget_exceeded) == (well_formed, False)
