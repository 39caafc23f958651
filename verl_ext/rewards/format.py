"""Format reward: is the extracted answer a well-formed mathematical expression?

F = 1 when the last ``\\boxed{}`` holds a non-empty answer that, after PRM800K-style normalisation
(``normalize_answer``: ``\\text{}``, ``$``, ``%``, units, thousands separators, LaTeX to plain text
via pylatexenc, braces dropped, lower case), parses as a sympy expression with implicit multiplication,
``=`` read as an equation. It is a syntax check: the verdict is the one sympy's parser gives.

Unlike the paper's release, the check is bounded, whatever the model writes:
- answers longer than ``MAX_ANSWER_CHARS`` or nested deeper than ``MAX_NESTING`` are not parsed;
- the expression is first parsed without evaluation and rejected when evaluating it would build a
  number of more than ``MAX_RESULT_DIGITS`` digits (``9^{9^{9^{9}}}``: the release never returns);
- number-theoretic and combinatorial functions (``1000000!``, ``binomial(10^7, 5 10^6)``) are parsed
  as inert function symbols: their value is never computed (the release computes it);
- each parse runs under a deterministic budget of ``PARSE_CALLS`` Python calls, with a CPU-time
  safety net (``deadline.py``); real answers parse in 200-3,000 calls, about a millisecond.
An answer rejected by these bounds scores F = 0 and is reported as ``budget_exceeded``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.deadline import DeadlineExceeded, call_with_deadline
from verl_ext.rewards.simple_syntax import is_simple_expression

MAX_ANSWER_CHARS = 1_000
MAX_NESTING = 32
MAX_RESULT_DIGITS = 100_000
PARSE_CALLS = 6_000  # real answers parse in 200-3,000 Python calls
PARSE_SECONDS = 0.5  # CPU-time safety net behind the call budget

# --- normalisation -------------------------------------------------------------------------------

_ENCLOSING_TEXT = re.compile(r"^\\text\{(?P<text>.+?)\}$")
_UNITS = tuple(
    re.compile(unit + r"(es)?(s)? *(\^[0-9]+)?")
    for unit in (
        "degree", "cm", "centimeter", "meter", "mile", "second", "minute", "hour",
        "day", "week", "month", "year", "foot", "feet", "inch", "yard",
    )
)
_DEGREE = re.compile(r"\^ *\\circ")
_THIN_SPACE_COMMA = re.compile(r",\\! *")
_MINUS_SPACES = re.compile(r"- *")
_MIXED_NUMBER = re.compile(r"([0-9]) +([0-9])")
_THOUSANDS_COMMA = re.compile(r"(\d)(,)(\d\d\d)($|\D)")
_LATEX_SYMBOLS = (("√", "sqrt"), ("π", "pi"), ("∞", "inf"), ("∪", "U"), ("·", "*"), ("×", "*"))
_SCALE_WORDS = (("million", "*10^6"), ("billion", "*10^9"), ("trillion", "*10^12"))


def _float_or_none(text: str) -> float | None:
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
    while True:
        stripped = _THOUSANDS_COMMA.sub(r"\1\3\4", text)
        if stripped == text:
            return stripped
        text = stripped


@lru_cache(maxsize=1)
def _latex_converter():  # noqa: ANN202 - a pylatexenc LatexNodes2Text (stateless between calls)
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text()


def _latex_to_plain(text: str) -> str:
    text = text.replace("\\tfrac", "\\frac").replace("\\dfrac", "\\frac").replace("\\frac", " \\frac")
    text = _latex_converter().latex_to_text(text)
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


# --- bounded sympy parse -------------------------------------------------------------------------

_SINGLE_EQUALS = re.compile(r"(?<!=)=(?!=)")
_PLAIN_NUMBER = re.compile(r"-?[0-9]{1,50}(\.[0-9]{1,50})?")


class BudgetExceeded(Exception):
    """The answer is too large, too deep, or too slow to check within the reward's bounds."""


def _nesting_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _log10_magnitude(expr) -> float | None:  # noqa: ANN001 - a sympy expression
    """log10 of |value| for an unevaluated exact numeric expression, None when it is not one."""
    from sympy import Add, Integer, Mul, Pow, Rational

    if isinstance(expr, (Integer, Rational)):
        biggest = max(abs(int(expr.p)), abs(int(expr.q)), 1)
        return biggest.bit_length() * math.log10(2)
    if isinstance(expr, Pow):
        base, exponent = _log10_magnitude(expr.base), _log10_magnitude(expr.exp)
        if base is None or exponent is None:
            return None
        if exponent > 300:
            return math.inf if base > 0 else 0.0
        return base * 10**exponent
    if isinstance(expr, (Add, Mul)):
        parts = [_log10_magnitude(arg) for arg in expr.args]
        if any(part is None for part in parts):
            return None
        return sum(parts) + (1.0 if isinstance(expr, Add) else 0.0)
    return None


def _explodes(expr) -> bool:  # noqa: ANN001 - a sympy expression
    """True when evaluating ``expr`` would build a number of more than MAX_RESULT_DIGITS digits."""
    from sympy import Basic, Pow

    stack = [expr]
    while stack:
        node = stack.pop()
        if not isinstance(node, Basic):
            continue
        if isinstance(node, Pow):
            magnitude = _log10_magnitude(node)
            if magnitude is not None and magnitude > MAX_RESULT_DIGITS:
                return True
        stack.extend(node.args)
    return False


# Functions whose value on a large integer takes unbounded time in C (big-integer arithmetic that no
# Python-level budget can interrupt). They parse as inert symbols: the syntax is checked, nothing computed.
_INERT_FUNCTIONS = (
    "factorial", "factorial2", "subfactorial", "binomial", "multinomial", "fibonacci", "lucas", "tribonacci",
    "bell", "bernoulli", "catalan", "euler", "genocchi", "harmonic", "partition", "npartitions", "prime",
    "primepi", "nextprime", "prevprime", "primorial", "isprime", "factorint", "primefactors", "divisors",
    "divisor_count", "divisor_sigma", "totient", "reduced_totient", "mobius", "ff", "rf", "gamma",
    "loggamma", "motzkin", "stirling", "nt", "fac", "gcd", "lcm", "perfect_power", "sqrt_mod", "n_order",
)


@lru_cache(maxsize=1)
def _inert_namespace() -> dict:
    from sympy import Function

    return {name: Function(name) for name in _INERT_FUNCTIONS}


def _parse(text: str, evaluate: bool):  # noqa: ANN202 - a sympy expression
    from sympy.parsing import sympy_parser

    transformations = sympy_parser.standard_transformations + (sympy_parser.implicit_multiplication_application,)
    return sympy_parser.parse_expr(
        text.replace("^", "**"),
        local_dict=dict(_inert_namespace()),
        transformations=transformations,
        evaluate=evaluate,
    )


_WARM_UP_ANSWERS = ("\\frac{1}{2}", "-\\sqrt{2}x^2+\\pi", "(1, 2)", "y = 2x + 3", "6 + 9i", "\\infty", "E", "2^{10}", "1/0", "[2, 7)")
_warm = False


def warm_up() -> None:
    """Run the whole pipeline once without deadlines, so that sympy's and pylatexenc's lazy imports
    happen outside any time budget (an interrupted import would break sympy for the process)."""
    global _warm
    if _warm:
        return
    import warnings

    import sympy
    from pylatexenc.latex2text import LatexNodes2Text  # noqa: F401
    from sympy.parsing import sympy_parser  # noqa: F401

    # sympy warns about non-Expr arguments (tuples in products) on some model answers: noise here.
    warnings.filterwarnings("ignore", category=sympy.utilities.exceptions.SymPyDeprecationWarning)
    for answer in _WARM_UP_ANSWERS:
        text = _SINGLE_EQUALS.sub("==", normalize_answer(answer))
        for evaluate in (False, True):
            try:
                _parse(text, evaluate=evaluate)
            except Exception:
                pass
    _warm = True


def _bounded_parse(text: str, evaluate: bool):  # noqa: ANN202 - a sympy expression
    """``_parse`` under the call budget; BudgetExceeded when the budget runs out."""
    try:
        return call_with_deadline(lambda: _parse(text, evaluate=evaluate), PARSE_SECONDS, PARSE_CALLS)
    except DeadlineExceeded as exc:
        raise BudgetExceeded(f"parse exceeded {PARSE_CALLS} calls or {PARSE_SECONDS} s") from exc


def parses_as_math(normalized: str) -> bool:
    """Whether sympy parses the normalised answer (``=`` as an equation). Raises BudgetExceeded."""
    warm_up()
    text = _SINGLE_EQUALS.sub("==", normalized)
    if _PLAIN_NUMBER.fullmatch(text) or is_simple_expression(text):
        return True  # sympy accepts every such text (tests/test_simple_syntax.py): skip its parse
    if "^" in text:  # only powers can build numbers too large to evaluate in bounded time
        try:
            shape = _bounded_parse(text, evaluate=False)
        except BudgetExceeded:
            raise
        except Exception:
            shape = None
        if shape is not None and _explodes(shape):
            raise BudgetExceeded(f"evaluating the answer builds a number of more than {MAX_RESULT_DIGITS} digits")
    try:
        _bounded_parse(text, evaluate=True)
    except BudgetExceeded:
        raise
    except Exception:  # the verdict: sympy's parser rejects the expression
        return False
    return True


# --- the reward ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormatCheck:
    """Outcome of the format check: the answer found, its verdict, and whether a bound stopped it."""

    answer: str | None
    well_formed: bool
    budget_exceeded: bool = False

    @property
    def reward(self) -> float:
        return 1.0 if self.well_formed else 0.0


@lru_cache(maxsize=65_536)
def _check_answer(answer: str) -> tuple[bool, bool]:
    if len(answer) > MAX_ANSWER_CHARS or _nesting_depth(answer) > MAX_NESTING:
        return False, True
    try:
        return parses_as_math(normalize_answer(answer)), False
    except (BudgetExceeded, RecursionError):
        return False, True


def check_answer_format(answer: str | None) -> FormatCheck:
    """Format verdict for an already extracted answer (None or "" is never well formed)."""
    if not answer:
        return FormatCheck(answer=answer, well_formed=False)
    well_formed, budget_exceeded = _check_answer(answer)
    return FormatCheck(answer=answer, well_formed=well_formed, budget_exceeded=budget_exceeded)


def check_format(response: str) -> FormatCheck:
    """Extract the last boxed answer of ``response`` and check its format."""
    return check_answer_format(extract_answer(response))


def format_reward(response: str) -> float:
    """F in {0, 1}: 1 when the response ends with a non-empty, well-formed boxed answer."""
    return check_format(response).reward
