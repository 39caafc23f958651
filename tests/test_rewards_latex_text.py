"""The fast LaTeX converter gives pylatexenc's own output wherever it answers (pylatexenc is the oracle)."""

from __future__ import annotations

import json
import random

import pytest
from pylatexenc.latex2text import LatexNodes2Text

from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.latex_text import latex_to_text


def _pylatexenc(text: str) -> str | None:
    try:
        return LatexNodes2Text().latex_to_text(text)
    except Exception:
        return None


def _prepared(answer: str) -> str:  # as format._latex_to_plain hands answers over
    return answer.replace("\\tfrac", "\\frac").replace("\\dfrac", "\\frac").replace("\\frac", " \\frac")


@pytest.mark.parametrize(
    "latex,expected",
    [
        (" \\frac{1}{2}", " 1/2"),
        ("-\\sqrt{2}x^2+\\pi", "-√(2)x^2+π"),
        ("\\pi r^2", "πr^2"),
        ("2 \\times 3", "2 ×3"),
        ("\\left( 3, 4 \\right)", "( 3, 4 )"),
        ("20^\\circ", "20^∘"),
        ("\\text{ and }", " and "),
        ("{1}", "1"),
        ("\\frac{a+b}{c d}", "a+b/c d"),
        ("(3,  \\frac{\\pi}{2})", "(3,  π/2)"),
    ],
)
def test_common_constructs_read_as_pylatexenc_writes_them(latex, expected):
    assert latex_to_text(latex) == expected == _pylatexenc(latex)


@pytest.mark.parametrize(
    "latex", ["\\frac12", "\\frac {1}{2}", "\\sqrt[3]{2}", "x--1", "16''", "\\alpha", "\\%", "\\\\", "{1"]
)
def test_anything_else_is_left_to_pylatexenc(latex):
    assert latex_to_text(latex) is None


def test_real_answers_and_ground_truths_convert_as_pylatexenc_does(release_dir):
    answers = set()
    for path in (release_dir / "outputs").glob("*/*/res*_*.json"):
        for item in json.loads(path.read_text(encoding="utf-8")):
            answers.add(extract_answer(item["response"]) or "")
            answers.add(str(item.get("ground_truth", "")))
    converted = {a: latex_to_text(_prepared(a)) for a in answers if "\\" in a}
    handled = {a: text for a, text in converted.items() if text is not None}
    assert len(handled) > 100
    assert [a for a, text in handled.items() if text != _pylatexenc(_prepared(a))] == []


PIECES = [
    "\\frac{",
    "}{",
    "}",
    "{",
    "\\sqrt{",
    "\\pi",
    "\\pi ",
    "\\infty",
    "\\cdot",
    " \\times ",
    "\\circ",
    "\\text{",
    "\\left(",
    "\\right)",
    "\\left[",
    "\\right|",
    "x",
    "12",
    " ",
    "  ",
    "-",
    "+",
    "^",
    "_",
    ",",
    "(",
    ")",
    "=",
    "/",
    ".",
    "'",
    "\\cos",
    "\\log_",
    "\\max",
    "\\cup ",
    "\\{",
    "\\}",
    "\\,",
    "\\;",
    "\\!",
    "\\ ",
    "\\sin^2 ",
    "\\exp{",
]


def test_random_latex_soup_converts_as_pylatexenc_does():
    rng = random.Random(2026)
    texts = {"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12))) for _ in range(6000)}
    handled = {t: latex_to_text(t) for t in texts}
    handled = {t: out for t, out in handled.items() if out is not None}
    assert len(handled) > 1000
    assert [t for t, out in handled.items() if out != _pylatexenc(t)] == []
