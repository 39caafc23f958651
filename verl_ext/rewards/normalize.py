"""PRM800K-style normalisation of an extracted answer to plain math text (the paper's release's rules, in order).

``\\text{}``, ``$``, ``%``, units, thousands separators, LaTeX to plain text via pylatexenc (``latex_text.py``
gives its output for common constructs faster), braces dropped, lower case; the format check (``format.py``)
parses what ``normalize_answer`` returns.
"""

from __future__ import annotations

import re
from functools import lru_cache

from verl_ext.rewards.latex_text import latex_to_text

_ENCLOSING_TEXT = re.compile(r"^\\text\{(?P<text>.+?)\}$")
_UNIT_WORDS = (
    "degree",
    "cm",
    "centimeter",
    "meter",
    "mile",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
    "foot",
    "feet",
    "inch",
    "yard",
)
_UNITS = tuple(re.compile(unit + r"(es)?(s)? *(\^[0-9]+)?") for unit in _UNIT_WORDS)
_ANY_UNIT = re.compile("|".join(_UNIT_WORDS))  # no unit word: the removal loop changes nothing
_DEGREE = re.compile(r"\^ *\\circ")
_THIN_SPACE_COMMA = re.compile(r",\\! *")
_MINUS_SPACES = re.compile(r"- *")
_MIXED_NUMBER = re.compile(r"([0-9]) +([0-9])")
_THOUSANDS_COMMA = re.compile(r"(\d)(,)(\d\d\d)($|\D)")
_LATEX_SYMBOLS = (("√", "sqrt"), ("π", "pi"), ("∞", "inf"), ("∪", "U"), ("·", "*"), ("×", "*"))
_SCALE_WORDS = (("million", "*10^6"), ("billion", "*10^9"), ("trillion", "*10^12"))


_FLOAT_START = frozenset("0123456789+-.iInN")  # float() accepts nothing else first (after whitespace)


def _float_or_none(text: str) -> float | None:
    stripped = text.strip()
    if not stripped or stripped[0] not in _FLOAT_START:
        return None  # what float() would say, without raising and catching an exception
    try:
        return float(text)
    except ValueError:
        return None


def _is_integral(value: float) -> bool:
    try:
        return abs(value - int(round(value))) <= 1e-7
    except (OverflowError, ValueError):
        return False


def _strip_thousands_commas(text: str) -> str:
    if "," not in text:
        return text
    while True:
        stripped = _THOUSANDS_COMMA.sub(r"\1\3\4", text)
        if stripped == text:
            return stripped
        text = stripped


@lru_cache(maxsize=1)
def latex_converter():
    """pylatexenc's LaTeX-to-text converter (built once: its import and tables take a while)."""
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text()


def _latex_to_plain(text: str) -> str:
    text = text.replace("\\tfrac", "\\frac").replace("\\dfrac", "\\frac").replace("\\frac", " \\frac")
    fast = latex_to_text(text)  # pylatexenc's output for common constructs, in microseconds
    text = fast if fast is not None else latex_converter().latex_to_text(text)
    for symbol, name in _LATEX_SYMBOLS:
        text = text.replace(symbol, name)
    return text.strip()


def normalize_answer(answer: str) -> str:
    """PRM800K-style normalisation of an answer to plain math text (the release's rules, in order)."""
    enclosed = _ENCLOSING_TEXT.search(answer)
    if enclosed is not None:
        answer = enclosed.group("text")
    answer = answer.replace("\\%", "%").replace("\\$", "$").replace("$", "").replace("%", "")
    answer = answer.replace(" or ", " , ").replace(" and ", " , ")
    for word, power in _SCALE_WORDS:
        answer = answer.replace(word, power)
    if _ANY_UNIT.search(answer):
        for unit in _UNITS:
            answer = unit.sub("", answer)
    answer = _DEGREE.sub("", answer)
    if answer and answer[0] == "{" and answer[-1] == "}":
        answer = answer[1:-1]
    answer = _THIN_SPACE_COMMA.sub("", answer)
    number = _float_or_none(answer)
    if number is not None and _is_integral(number):
        answer = str(int(round(number)))
    if "\\" in answer:
        try:
            answer = _latex_to_plain(answer)
        except Exception:  # pylatexenc gives up on some malformed LaTeX: keep the text as it is
            pass
    answer = _MINUS_SPACES.sub("-", answer)
    answer = _MIXED_NUMBER.sub(r"\1+\2", answer)
    answer = answer.replace(" ", "").replace("{", "").replace("}", "").lower()
    number = _float_or_none(_strip_thousands_commas(answer))
    if number is not None and _is_integral(number):
        answer = str(int(float(answer.replace(",", ""))))
    return answer
