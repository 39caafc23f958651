"""The fast recogniser may only say "yes" where sympy's parser (the format verdict) says yes.

The oracle is sympy's own ``parse_expr`` (which evals): acceptable here because its inputs are the
release's fixed answers and a token soup of digits, letters and operators, never live model output."""

from __future__ import annotations

import json
import random

import pytest

from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.format import (
    _SINGLE_EQUALS,
    BudgetExceeded,
    _reserved_names,
    _sympy_accepts,
    certainly_malformed,
    normalize_answer,
    warm_up,
)
from verl_ext.rewards.simple_syntax import is_plain_word, is_simple_expression


@pytest.mark.parametrize(
    "text,simple",
    [
        ("11/2", True),
        ("3sqrt(5)", True),
        ("-pi/6", True),
        ("1-12i", True),
        ("(a+5)(b+2)", True),
        ("y==2x+3", True),
        ("14(sqrt(2)-1)", True),
        (".5", True),
        ("--5", True),
        ("x^5-x^4+x-1", True),
        ("6r^2-4r", True),
        ("x^2y", True),
        ("(3,pi/2)", True),
        ("-2,1", True),
        ("x(2)", False),
        ("pi(2)", False),
        ("xy", False),
        ("2^3", False),
        ("sqrt()", False),
        ("x^2^3", False),
        ("x^999", False),
        ("x^y(2)", False),
        ("(1,2)(3,4)", False),
        ("1,", False),
        ("(", False),
        ("1+", False),
        ("[2,inf)", False),
        ("5!", False),
        ("", False),
    ],
)
def test_recognises_the_simple_grammar_only(text, simple):
    assert is_simple_expression(text) is simple


def test_every_simple_real_answer_is_accepted_by_sympy(release_dir, parse_expr_accepts):
    warm_up()
    texts = set()
    for path in (release_dir / "outputs").glob("*/*/res*_*.json"):
        for item in json.loads(path.read_text(encoding="utf-8")):
            answer = extract_answer(item["response"])
            if answer:
                texts.add(_SINGLE_EQUALS.sub("==", normalize_answer(answer)))
    simple = [text for text in texts if is_simple_expression(text) or is_plain_word(text, _reserved_names())]
    assert len(simple) > 100
    assert [text for text in simple if not parse_expr_accepts(text)] == []
    assert [text for text in simple if not _full_check_accepts(text)] == []


def _full_check_accepts(text: str) -> bool:
    """The eval-free check the shortcut skips: it must say yes too, within its bounds."""
    try:
        return _sympy_accepts(text)
    except BudgetExceeded:
        return False


def _random_text(rng: random.Random) -> str:
    pieces = [
        "1",
        "23",
        "4.5",
        ".5",
        "x",
        "y",
        "e",
        "i",
        "pi",
        "sqrt(",
        "(",
        ")",
        "+",
        "-",
        "*",
        "/",
        "==",
        "k",
        "0",
        "^",
        "^2",
        "^x",
        "^99",
        "^100",
        ",",
        "x^3",
        "sqrt(2)",
        "ab",
        "es",
    ]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 9)))


def test_random_token_soup_never_gets_a_yes_that_sympy_denies(parse_expr_accepts):
    warm_up()
    rng = random.Random(1234)
    texts = {_random_text(rng) for _ in range(6000)}
    simple = [text for text in texts if is_simple_expression(text) or is_plain_word(text, _reserved_names())]
    assert len(simple) > 200
    assert [text for text in simple if not parse_expr_accepts(text)] == []
    assert [text for text in simple if not _full_check_accepts(text)] == []


@pytest.mark.parametrize(
    "word,plain",
    [
        ("east", True),
        ("carla", True),
        ("pi", False),
        ("beta", False),
        ("factor", False),
        ("x", False),
        ("alpha", False),
    ],
)
def test_a_plain_word_is_neither_a_sympy_name_nor_a_greek_letter(word, plain):
    assert is_plain_word(word, _reserved_names()) is plain


@pytest.mark.parametrize("letter", "abcdefghijklmnopqrstuvwxyz")
def test_every_single_letter_is_a_plain_symbol_for_sympy(letter, parse_expr_accepts):
    for text in (letter, f"2{letter}", f"{letter}+1", f"(1){letter}", f"{letter}^2"):
        assert is_simple_expression(text) and parse_expr_accepts(text)


def test_texts_called_certainly_malformed_are_rejected_by_sympy_and_the_full_check(parse_expr_accepts):
    warm_up()
    rng = random.Random(99)
    pieces = ["1", "x", "(", ")", "[", "]", ",", ";", "-", "inf", "+", "0.", "2", "sqrt(", "^2"]
    texts = {"".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(4000)}
    texts |= {"[2,inf)", "(-inf,0]", "[-1+0;0-1]", "[1/5;-18/5]", "(3/5,8/3]", "0.[3)", "0.2[1]"}
    malformed = [text for text in texts if certainly_malformed(text)]
    assert len(malformed) > 500
    assert [text for text in malformed if parse_expr_accepts(text)] == []
    assert [text for text in malformed if _full_check_accepts(text)] == []


def test_multi_row_matrices_are_rejected_as_the_full_normalisation_and_check_would(release_dir):
    from verl_ext.rewards.format import _MULTI_ROW_MATRIX, parses_as_math

    answers = {
        "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
        "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}",
        "x \\begin{pmatrix} a \\\\ \\end{pmatrix} + 1",
        "\\begin{pmatrix} \\frac{1}{5} \\\\ -\\frac{18}{5} \\end{pmatrix}",
    }
    for path in (release_dir / "outputs").glob("*/*/res*_*.json"):
        for item in json.loads(path.read_text(encoding="utf-8")):
            for text in (extract_answer(item["response"]) or "", str(item.get("ground_truth", ""))):
                if "matrix" in text:
                    answers.add(text)
    matrices = [a for a in answers if _MULTI_ROW_MATRIX.search(a)]
    assert len(matrices) > 10
    assert [a for a in matrices if parses_as_math(normalize_answer(a))] == []
    assert not _MULTI_ROW_MATRIX.search("\\begin{pmatrix} 5 \\end{pmatrix}")  # one row: "[5]", a list
