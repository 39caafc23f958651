"""Bounded cost for whole syntax families, not listed strings (issues 10 and 19).

Random expressions compose every whitelisted function and operator (``expression.ELEMENTARY_FUNCTIONS``,
the inert number-theory functions, arithmetic, ``//``, ``%``, orderings, factorials, tuples), nested up to
depth 4, on arguments from 0 and 10^-300 to 10^(10^10), in every spelling the normaliser accepts: LaTeX
macros, ``\\operatorname``, ``\\lfloor``/``\\lceil``, plain names, ``^`` and ``**``, ``1eN``, ``\\times 10^{N}``,
implicit multiplication. Towers and huge numbers in every syntax, and the families the release never
returns on, are checked as well.

The checks run in a child interpreter (``python tests/test_format_fuzz.py``), so that a regression that
hangs cannot hang the suite: the test gives it ``SUBPROCESS_TIMEOUT_S`` and reports the answer it was on.
There, each format check must return (never raise) within ``CPU_BOUND_S`` of the calling thread's CPU
time and ``WALL_BOUND_S`` of wall time (the bounded path's child has ``format.BOUNDED_CPU_S`` of CPU,
plus a child's start-up: the first bounded answer's, or a replacement's after a kill). Both are far above
the 50 ms target (which ``benchmarks/bench_rewards.py`` reports), so that a loaded CI box cannot make them
flaky, and far below what an unbounded check takes (the release never returns on many). Examples are
derandomized.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verl_ext.rewards import format as format_module
from verl_ext.rewards.expression import ELEMENTARY_FUNCTIONS, INERT_FUNCTIONS
from verl_ext.rewards.format import check_format

CPU_BOUND_S = 1.0
WALL_BOUND_S = 30.0
SUBPROCESS_TIMEOUT_S = 600
COMPOSED_EXAMPLES, TOWER_EXAMPLES = 250, 200

SMALL = st.integers(min_value=0, max_value=99).map(str)
HUGE = st.integers(min_value=6, max_value=400).map(lambda n: "9" * n)
EXPONENT = st.sampled_from(["99", "999", "9999", "99999", "999999", "999999999", "10^{100}", "9^{9}"])
LEAF = st.one_of(
    SMALL,
    HUGE,
    st.sampled_from(["x", "2x", "\\pi", "e", "i", "0.5", "\\infty"]),
    st.builds(lambda m, n: f"{m}e{n}", SMALL, EXPONENT.filter(str.isdigit)),
    st.builds(lambda m, n: f"{m}E+{n}", SMALL, EXPONENT.filter(str.isdigit)),
    st.builds(lambda m, n: f"{m}.5e-{n}", SMALL, EXPONENT.filter(str.isdigit)),
    st.builds(lambda m, n: f"{m} \\times 10^{{{n}}}", SMALL, EXPONENT),
)

TWO_PLACE = [
    "{a}^{b}",
    "{a}^{{{b}}}",
    "{a}**{b}",
    "({a})^({b})",
    "\\left({a}\\right)^{{{b}}}",
    "{{{a}}}^{{{b}}}",
    "{a}+{b}",
    "{a}-{b}",
    "{a}{b}",
    "({a})({b})",
    "{a} \\cdot {b}",
    "\\frac{{{a}}}{{{b}}}",
    "{a}/{b}",
    "{a} = {b}",
    "{a} < {b}",
    "({a}, {b})",
    "\\binom{{{a}}}{{{b}}}",
    "binomial({a}, {b})",
    "\\log_{{{a}}}({b})",
    "\\sqrt[{a}]{{{b}}}",
    "\\max({a}, {b})",
    "\\prod_{{i={a}}}^{{{b}}} i",
    "\\sum_{{i={a}}}^{{{b}}} i^{{{a}}}",
    "({a}, {b}) \\cdot {b}",
    "[{a}] \\times {b}",
    "{a}({a}, {b})",
]
ONE_PLACE = [
    "{a}!",
    "{a}!!",
    "({a})!",
    "factorial({a})",
    "\\sqrt{{{a}}}",
    "e^{{{a}}}",
    "\\exp({a})",
    "\\sin({a})",
    "\\cos\\left(\\frac{{\\pi}}{{{a}}}\\right)",
    "\\tan {a}",
    "\\ln({a})",
    "-{a}",
    "|{a}|",
    "\\left|{a}\\right|",
    "{a}^\\circ",
    "{a}\\%",
    "\\$ {a}",
    "\\text{{{a}}}",
    "\\{{ {a} \\}}",
    "[{a}]",
    "{a} \\text{{ million}}",
]


def _combiner(two_place: list[str], one_place: list[str]):
    """Fill the templates' {a}, {b} with smaller expressions."""

    def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        two = st.builds(lambda t, a, b: t.format(a=a, b=b), st.sampled_from(two_place), children, children)
        one = st.builds(lambda t, a: t.format(a=a), st.sampled_from(one_place), children)
        return st.one_of(two, one)

    return combine


EXPRESSIONS = st.recursive(LEAF, _combiner(TWO_PLACE, ONE_PLACE), max_leaves=10)

# --- every whitelisted function and operator, composed (issue 19) ----------------------------------

MAGNITUDES = st.sampled_from(
    [
        "0",
        "1",
        "2",
        "-7",
        "0.5",
        "x",
        "y",
        "\\pi",
        "e",
        "i",
        "\\infty",
        "1e-300",
        "1e-5",
        "3.14159",
        "10^{15}",
        "10**15",
        "1e15",
        "2 \\times 10^{15}",
        "1e300",
        "10^{300}",
        "9^{9}",
        "2^{0.5}",
        "10^{12}",
        "10^{10^{10}}",
        "1e999",
        "9" * 40,
        "9" * 400,
        "e^{10^{15}}",
        "\\exp(10^{15})",
        "\\exp(690)",
        "\\exp(-700)",
    ]
)
_LATEX_MACROS = {  # the functions LaTeX spells with a macro of its own
    "sqrt": "\\sqrt{{{a}}}",
    "exp": "\\exp({a})",
    "log": "\\log({a})",
    "ln": "\\ln {a}",
    "sin": "\\sin {a}",
    "cos": "\\cos({a})",
    "tan": "\\tan\\left({a}\\right)",
    "cot": "\\cot({a})",
    "sec": "\\sec({a})",
    "csc": "\\csc({a})",
    "asin": "\\arcsin({a})",
    "acos": "\\arccos({a})",
    "atan": "\\arctan({a})",
    "sinh": "\\sinh({a})",
    "cosh": "\\cosh({a})",
    "tanh": "\\tanh({a})",
    "coth": "\\coth({a})",
    "arg": "\\arg({a})",
    "re": "\\Re({a})",
    "im": "\\Im({a})",
    "abs": "\\left|{a}\\right|",
    "floor": "\\lfloor {a} \\rfloor",
    "ceiling": "\\lceil {a} \\rceil",
    "max": "\\max({a}, {b})",
    "min": "\\min({a}, {b})",
    "root": "\\sqrt[{b}]{{{a}}}",
}
_TWO_ARGUMENTS = ("atan2", "root", "max", "min", "log", "binomial", "gcd", "lcm", "multinomial", "ff", "rf", "stirling")
FUNCTION_TEMPLATES = sorted(
    {f"{name}({{a}}, {{b}})" if name in _TWO_ARGUMENTS else f"{name}({{a}})" for name in ELEMENTARY_FUNCTIONS}
    | {f"\\operatorname{{{{{name}}}}}({{a}})" for name in ELEMENTARY_FUNCTIONS}
    | {f"{name}({{a}})" for name in INERT_FUNCTIONS}
    | {"log({a}, {b})", "\\log_{{{b}}} {a}"}
    | set(_LATEX_MACROS.values())
)
OPERATOR_TEMPLATES = [
    "{a}+{b}",
    "{a}-{b}",
    "{a}*{b}",
    "{a} \\cdot {b}",
    "{a} \\times {b}",
    "{a}/{b}",
    "\\frac{{{a}}}{{{b}}}",
    "{a}^{b}",
    "{a}^{{{b}}}",
    "{a}**{b}",
    "({a})**({b})",
    "{a}//{b}",
    "{a} % {b}",
    "{a} \\bmod {b}",
    "{a}({b})",
    "({a})({b})",
    "{a} {b}",
    "{a} < {b}",
    "{a} \\le {b}",
    "{a} > {b}",
    "{a} >= {b}",
    "{a} = {b}",
    "{a} != {b}",
    "{a} < {b} < {a}",
    "({a}, {b})",
    "[{a}, {b}]",
    "{a}!",
    "-{a}",
    "|{a}|",
    "({a})!",
    "{a}\\%",
]


def _composed(depth: int) -> st.SearchStrategy[str]:
    """An expression nested ``depth`` levels deep (or less) of functions and operators around MAGNITUDES."""
    if depth == 0:
        return MAGNITUDES
    inner = _composed(depth - 1)
    template = st.sampled_from(FUNCTION_TEMPLATES + OPERATOR_TEMPLATES)
    return st.one_of(MAGNITUDES, st.builds(lambda t, a, b: t.format(a=a, b=b), template, inner, inner))


COMPOSED = _composed(4)
# Each function and operator once on a tiny and once on a huge argument, whatever the random draw covers.
EVERY_TEMPLATE_ONCE = [
    template.format(a=a, b=b)
    for template in FUNCTION_TEMPLATES + OPERATOR_TEMPLATES
    for a, b in (("0.5", "x"), ("\\exp(10^{15})", "2"))
]

# Families the release never returns on (or takes seconds for), one spelling per syntax.
UNBOUNDED_IN_THE_RELEASE = [
    "9^{9^{9^{9}}}",
    "9**9**9",
    "9^9^9",
    "10**10**10",
    "2**2**2**2**2**2",
    "10^{10^{7}}",
    "7**7**7",
    "1e1000000",
    "1e999999999",
    "1E+999999999",
    "2.5e-999999999",
    "1.5 \\times 10^{99999999}",
    "(2x)^{10^{100}}",
    "x^{10^{10^{10}}}",
    "e^{e^{e^{100}}}",
    "\\sqrt{10^{10^{6}}+1}",
    "\\sqrt{10^{1000}+1}",
    "\\sqrt[3]{10^{5000}+1}",
    "(10^{100})!",
    "\\binom{10^{100}}{10^{99}}",
    "\\prod_{i=1}^{10^{9}} i",
    "9" * 999,
    "\\left(\\left(9^{9}\\right)^{9}\\right)^{9^{9}}",
    "{9^{9}}^{9^{9}}",
    "99999^{99999}",
    "(1, 2) \\cdot 99999999",
    "[1] \\times 9999999",
    "((1, 2) \\cdot 999) \\cdot 999 \\cdot 999",
    "99999999(1, 2)",
    # issue 19: an integer part, rounding, modulo or ordering of a huge transcendental value
    "floor(exp(10^{15}))",
    "frac(exp(10^{12}))",
    "\\lfloor e^{10^{15}} \\rfloor",
    "round(exp(10^15))",
    "exp(10^15) % 7",
    "exp(10^15) > 3",
    "\\operatorname{floor}(\\exp(10^{15}))",
    "ceiling(\\pi^{10^{12}})",
    "\\max(\\exp(10^{15}), 3)",
    "\\exp(10^{15}) // 7",
    "sign(\\sin(\\exp(10^{15})))",
    "abs(\\sin(\\exp(10^{15})))",
]


def _check(answer: str) -> dict:
    """One format check from an empty answer cache: its verdict and its cost to the calling thread."""
    format_module._check_answer.cache_clear()
    wall, cpu = time.perf_counter(), time.thread_time()
    check = check_format(f"the answer is \\boxed{{{answer}}}")
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    return {"answer": answer, "cpu": cpu, "wall": wall, "F": check.reward, "budget": check.budget_exceeded}


_SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _fuzz_child() -> None:
    """Child mode: one JSON line per answer, written before ("start") and after the check (flushed)."""
    format_module.warm_up()  # one-off imports and tables are start-up cost, not a response's
    bounded_calls = []
    real_builds = format_module._builds_in_child

    def counting(text: str) -> bool:
        bounded_calls.append(text)
        return real_builds(text)

    format_module._builds_in_child = counting

    def run(answer: str) -> None:
        print(json.dumps({"start": answer}), flush=True)
        print(json.dumps(_check(answer)), flush=True)

    for answer in UNBOUNDED_IN_THE_RELEASE + EVERY_TEMPLATE_ONCE:
        run(answer)
    for strategy, examples in ((EXPRESSIONS, TOWER_EXAMPLES), (COMPOSED, COMPOSED_EXAMPLES)):
        given(strategy)(settings(max_examples=examples, **_SETTINGS)(lambda answer: run(answer)))()
    print(json.dumps({"bounded_calls": len(bounded_calls)}), flush=True)


@pytest.fixture(scope="module")
def fuzz_rows() -> tuple[list[dict], int]:
    try:
        done = subprocess.run(
            [sys.executable, __file__],
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        lines = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        last = [json.loads(line) for line in lines.splitlines() if line.startswith("{")][-1:]
        pytest.fail(f"the fuzz child did not finish within {SUBPROCESS_TIMEOUT_S} s; last line: {last}")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    bounded = rows.pop()["bounded_calls"]
    return [row for row in rows if "start" not in row], bounded


def test_every_composed_answer_is_checked_within_the_bounds(fuzz_rows):
    rows, _ = fuzz_rows
    assert len(rows) >= len(UNBOUNDED_IN_THE_RELEASE) + COMPOSED_EXAMPLES // 2
    slow = [row for row in rows if row["cpu"] >= CPU_BOUND_S or row["wall"] >= WALL_BOUND_S]
    assert slow == []


def test_the_fuzz_reaches_every_whitelisted_function_and_both_paths(fuzz_rows):
    rows, bounded = fuzz_rows
    answers = " ".join(row["answer"] for row in rows)
    assert [name for name in ELEMENTARY_FUNCTIONS if name not in answers] == []
    assert bounded >= 20  # answers built in the isolated child
    assert sum(row["budget"] for row in rows) >= 20 and sum(row["F"] for row in rows) >= 20


# --- the verdict is sympy's: random small expressions against parse_expr itself --------------------
# parse_expr evals its input: safe here only because these texts are made of math fragments (no quotes,
# no names outside sympy's math functions) and small numbers (it would never return on the ones above).

SMALL_LEAF = st.one_of(
    st.integers(min_value=0, max_value=12).map(str),
    st.sampled_from(["x", "y", "2x", "\\pi", "e", "i", "0.5", "1.5e3", "\\infty", "ab", "n!"]),
)
SMALL_TWO_PLACE = [
    "{a}^{b}",
    "{a}^{{{b}}}",
    "{a}**{b}",
    "({a})^({b})",
    "{a}+{b}",
    "{a}-{b}",
    "{a}{b}",
    "({a})({b})",
    "{a} \\cdot {b}",
    "\\frac{{{a}}}{{{b}}}",
    "{a}/{b}",
    "{a} = {b}",
    "{a} < {b}",
    "{a} > {b} > 1",
    "({a}, {b})",
    "[{a}, {b}]",
    "[{a}, {b})",
    "\\binom{{{a}}}{{{b}}}",
    "\\log_{{{a}}}({b})",
    "\\max({a}, {b})",
    "\\sqrt[{a}]{{{b}}}",
    "{a} \\text{{ and }} {b}",
    "{a}, {b}",
]
SMALL_ONE_PLACE = [
    "{a}!",
    "\\sqrt{{{a}}}",
    "e^{{{a}}}",
    "\\exp({a})",
    "\\sin({a})",
    "\\cos\\left(\\frac{{\\pi}}{{{a}}}\\right)",
    "\\tan {a}",
    "\\ln({a})",
    "-{a}",
    "|{a}|",
    "{a}^\\circ",
    "{a}\\%",
    "\\text{{{a}}}",
    "{a}(",
    "{a}^",
    "\\tan\\left(\\frac{{{a}\\pi}}{{24}}\\right)",
    "\\cos(\\frac{{\\pi}}{{15}}) {a}",
]


SMALL_EXPRESSIONS = st.recursive(SMALL_LEAF, _combiner(SMALL_TWO_PLACE, SMALL_ONE_PLACE), max_leaves=5)


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(SMALL_EXPRESSIONS)
def test_verdict_equals_parse_exprs_on_random_small_expressions(parse_expr_accepts, answer):
    from verl_ext.rewards.format import _SINGLE_EQUALS, normalize_answer

    format_module._check_answer.cache_clear()
    check = check_format(f"\\boxed{{{answer}}}")
    if check.budget_exceeded:
        return  # refused by a static bound: reported, not a verdict
    text = _SINGLE_EQUALS.sub("==", normalize_answer(answer))
    assert check.well_formed == parse_expr_accepts(text), (answer, text)


if __name__ == "__main__":
    _fuzz_child()
