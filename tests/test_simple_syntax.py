"""The fast recogniser may only say "yes" where sympy's parser (the format verdict) says yes.

The oracle is sympy's own ``parse_expr`` (which evals): acceptable here because its inputs are the
release's fixed answers and a token soup of digits, letters and operators, never live model output."""

from __future__ import annotations

import json
import random

import pytest

from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.expression import inert_namespace
from verl_ext.rewards.format import _SINGLE_EQUALS, normalize_answer, warm_up
from verl_ext.rewards.simple_syntax import is_simple_expression


def _sympy_accepts(text: str) -> bool:
    from sympy.parsing import sympy_parser

    transformations = sympy_parser.standard_transformations + (sympy_parser.implicit_multiplication_application,)
    try:
        sympy_parser.parse_expr(text.replace("^", "**"), dict(inert_namespace()), transformations)
    except Exception:
        return False
    return True


@pytest.mark.parametrize(
    "text,simple",
    [
        ("11/2", True), ("3sqrt(5)", True), ("-pi/6", True), ("1-12i", True), ("(a+5)(b+2)", True),
        ("y==2x+3", True), ("14(sqrt(2)-1)", True), (".5", True), ("--5", True),
        ("x(2)", False), ("pi(2)", False), ("xy", False), ("2^3", False), ("sqrt()", False),
        ("(", False), ("1+", False), ("(1,2)", False), ("[2,inf)", False), ("5!", False), ("", False),
    ],
)
def test_recognises_the_simple_grammar_only(text, simple):
    assert is_simple_expression(text) is simple


def test_every_simple_real_answer_is_accepted_by_sympy(shared_data):
    warm_up()
    texts = set()
    for path in (shared_data / "outputs").glob("*/*/res*_*.json"):
        for item in json.loads(path.read_text(encoding="utf-8")):
            answer = extract_answer(item["response"])
            if answer:
                texts.add(_SINGLE_EQUALS.sub("==", normalize_answer(answer)))
    simple = [text for text in texts if is_simple_expression(text)]
    assert len(simple) > 100
    assert [text for text in simple if not _sympy_accepts(text)] == []


def _random_text(rng: random.Random) -> str:
    pieces = ["1", "23", "4.5", ".5", "x", "y", "e", "i", "pi", "sqrt(", "(", ")", "+", "-", "*", "/", "==", "k", "0"]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 9)))


def test_random_token_soup_never_gets_a_yes_that_sympy_denies():
    warm_up()
    rng = random.Random(1234)
    texts = {_random_text(rng) for _ in range(4000)}
    simple = [text for text in texts if is_simple_expression(text)]
    assert len(simple) > 200
    assert [text for text in simple if not _sympy_accepts(text)] == []


@pytest.mark.parametrize("letter", "abcdefghijklmnopqrstuvwxyz")
def test_every_single_letter_is_a_plain_symbol_for_sympy(letter):
    for text in (letter, f"2{letter}", f"{letter}+1", f"(1){letter}"):
        assert is_simple_expression(text) and _sympy_accepts(text)
