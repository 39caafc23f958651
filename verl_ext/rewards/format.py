"""Format reward: is the extracted answer a well-formed mathematical expression?

F = 1 when the last ``\\boxed{}`` holds a non-empty answer that, after PRM800K-style normalisation
(``normalize.py``: ``\\text{}``, ``$``, ``%``, units, thousands separators, LaTeX to plain text
via pylatexenc, braces dropped, lower case), parses as a sympy expression with implicit multiplication,
``=`` read as an equation. It is a syntax check: the verdict is the one sympy's parser gives.

The text is never evaluated as code: sympy's parser translates it to source, which is vetted against a
whitelist and interpreted node by node (``expression/``); the verdict is the one ``parse_expr``'s
``eval`` would give. Unlike the paper's release, the check is bounded, whatever the model writes:
1. static checks made before anything is built (the same verdict in every process, under any load and
   sympy cache state):
   - answers longer than ``MAX_ANSWER_CHARS`` or nested deeper than ``MAX_NESTING`` are not parsed;
   - powers, towers and exponent notation whose numbers could exceed ``expression.MAX_RESULT_DIGITS``
     digits, floats with exponents beyond ``MAX_FLOAT_EXPONENT``, roots and functions of numbers of more
     than ``MAX_DIGITS_WITH_IRRATIONALS`` digits (or more than ``MAX_IRRATIONAL_NODES`` of them) are rejected;
   - number-theoretic and combinatorial functions (``1000000!``, ``binomial(10^7, 5 10^6)``) are parsed
     as inert function symbols: their value is never computed (the release computes it);
   - an answer sympy may evaluate numerically (a function call, an order comparison, ``//``, ``%``, a
     power with a non-integer exponent: ``expression.evaluates``) must keep every subexpression within
     10^(+-``expression.MAX_MAGNITUDE``) (``expression.check_magnitude``): ``floor(exp(10^15))`` is refused;
2. the backstop, by construction: such an answer is built in an isolated child process (``isolation.py``)
   under ``BOUNDED_CPU_S`` of CPU time, which the kernel enforces (a CPU timer whose signal ends the
   child, even inside one C-level operation, in whichever thread the check was called from). Plain
   numbers, fractions, sums, products and integer powers are built in this process (0.3% of the
   release's distinct responses take the child).
An answer rejected by a bound or overrunning the backstop scores F = 0 and is reported as
``budget_exceeded``; an answer using a construct outside the whitelist (attributes, strings, unknown
functions, ...) scores F = 0. A bounded-path child that cannot start raises ``WorkerStartError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.expression import (
    NotMath,
    TooCostly,
    build,
    check_cost,
    check_magnitude,
    evaluates,
    inert_namespace,
    parser_namespace,
    to_code,
    vet,
)
from verl_ext.rewards.isolation import IsolatedCaller, shared_caller
from verl_ext.rewards.normalize import latex_converter, normalize_answer
from verl_ext.rewards.simple_syntax import is_plain_word, is_simple_expression

BOUNDED_CPU_S = 0.5  # CPU time of the isolated child per answer it builds (real answers: under 30 ms)
MAX_ANSWER_CHARS = 500  # real answers: at most 77 characters in the release's outputs; the cost grows with length
MAX_NESTING = 32

# --- bounded, eval-free parse --------------------------------------------------------------------

_SINGLE_EQUALS = re.compile(r"(?<!=)=(?!=)")
_PLAIN_NUMBER = re.compile(r"-?[0-9]{1,50}(\.[0-9]{1,50})?")
_PLAIN_FRACTION = re.compile(r"-?[0-9]{1,50}/[0-9]{1,50}")  # in the simple grammar too, checked faster


class BudgetExceeded(Exception):
    """The answer is too large or too deep to check within the reward's static bounds."""


def _nesting_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


_WARM_UP_ANSWERS = (
    "\\frac{1}{2}",
    "-\\sqrt{2}x^2+\\pi",
    "(1, 2)",
    "y = 2x + 3",
    "6 + 9i",
    "\\infty",
    "E",
    "2^{10}",
    "1/0",
    "[2, 7)",
    "-\\frac{\\cos \\left( \\frac{\\pi}{15} \\right)}{8}",
    "\\sin 30^\\circ < 1",
    "\\max(1, 2)",
    "1.5e3",
    "5!",
    "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
    "\\alpha + \\sqrt[3]{2}",
    "(0, 9) \\cup (9, 36)",
    "\\left[\\frac{\\pi^2}{8}, 1\\right]",
    "x^{2} - 2^{x}",
    "\\frac{1}{k(k^2 + 1)}",
    "11^{\\text{th}}",
)
_warm = False


def warm_up() -> None:
    """Run the whole pipeline once, so that sympy's and pylatexenc's lazy imports and first-use tables
    are paid at start-up rather than by the first answers (verdicts do not depend on it). The bounded
    path's child is not started here: few answers need it (0.3% of the release's distinct responses),
    so the first that does starts it (its start-up is wall time outside that answer's CPU bound)."""
    global _warm
    if _warm:
        return
    import warnings

    import sympy

    # sympy warns about non-Expr arguments (tuples in products) on some model answers: noise here.
    warnings.filterwarnings("ignore", category=sympy.utilities.exceptions.SymPyDeprecationWarning)
    latex_converter().latex_to_text("\\alpha")  # pylatexenc's lazy imports (the fast path skips it below)
    for answer in _WARM_UP_ANSWERS:  # fixed answers, all built here (the child warms up the same way)
        try:
            _sympy_accepts(_SINGLE_EQUALS.sub("==", normalize_answer(answer)), isolate=False)
        except Exception:
            pass
    _warm = True


def _sympy_accepts(text: str, isolate: bool = True) -> bool:
    """sympy's parser's verdict on ``text``, reached without eval (``expression/``). Raises BudgetExceeded.

    A tree that can make sympy evaluate something (``expression.evaluates``) must pass the magnitude
    bound and is then built in the isolated child (``isolate``), under BOUNDED_CPU_S of CPU time."""
    try:
        tree = vet(to_code(text))
    except TooCostly as exc:
        raise BudgetExceeded(str(exc)) from exc
    except NotMath:
        return False
    except (RecursionError, MemoryError) as exc:
        raise BudgetExceeded(f"{type(exc).__name__} while parsing") from exc
    except Exception:  # the tokenizer, a transformation or Python's parser rejects the text
        return False
    try:
        check_cost(tree)
        bounded = isolate and evaluates(tree)
        if bounded:
            check_magnitude(tree)
    except TooCostly as exc:
        raise BudgetExceeded(str(exc)) from exc
    if bounded:
        return _builds_in_child(text)
    try:
        build(tree)
    except (RecursionError, MemoryError) as exc:
        raise BudgetExceeded(f"{type(exc).__name__} while building") from exc
    except Exception:  # the verdict: building the expression fails, as parse_expr's eval would
        return False
    return True


# --- the bounded path: an isolated child under a kernel-enforced CPU-time bound ------------------

_BUDGET = "budget"


def build_in_this_process(text: str) -> str:
    """The child's side of the bounded path: "yes", "no" or "budget" for a normalised ``text``."""
    warm_up()
    try:
        return "yes" if _sympy_accepts(text, isolate=False) else "no"
    except BudgetExceeded:
        return _BUDGET


_callers: dict = {}  # isolation.shared_caller's pools of this module


def bounded_caller() -> IsolatedCaller:
    """This process's pool of children for the bounded path (started on first use)."""
    return shared_caller(_callers, f"{__name__}:build_in_this_process", BOUNDED_CPU_S, warm_up_args=("x",))


def _builds_in_child(text: str) -> bool:
    """Build ``text`` in the child; an overrun (or a child the answer killed) is BudgetExceeded.
    A child that cannot start raises WorkerStartError: the check cannot run safely."""
    result = bounded_caller().call(text)
    if result.status == "ok" and result.value != _BUDGET:
        return result.value == "yes"
    raise BudgetExceeded(f"bounded build: {result.status} {result.message}".strip())


def parses_as_math(normalized: str) -> bool:
    """Whether sympy parses the normalised answer (``=`` read as ``==``). Raises BudgetExceeded."""
    warm_up()
    text = _SINGLE_EQUALS.sub("==", normalized)
    if (
        _PLAIN_NUMBER.fullmatch(text)
        or _PLAIN_FRACTION.fullmatch(text)
        or is_simple_expression(text)
        or is_plain_word(text, _reserved_names())
    ):
        return True  # sympy accepts every such text (tests/test_simple_syntax.py): skip its parse
    if certainly_malformed(text):
        return False  # Python's parser rejects every such text: skip sympy's translation
    return _sympy_accepts(text)


_CLOSING = {")": "(", "]": "["}


def certainly_malformed(text: str) -> bool:
    """A ``;`` or unbalanced/mismatched brackets (``[2,inf)``, matrices): no Python expression, so
    sympy's translated code cannot parse either (its transformations only add balanced brackets)."""
    if ";" in text:
        return True
    stack: list[str] = []
    for char in text:
        if char in "([":
            stack.append(char)
        elif char in _CLOSING:
            if not stack or stack.pop() != _CLOSING[char]:
                return True
    return bool(stack)


@lru_cache(maxsize=1)
def _reserved_names() -> frozenset[str]:
    return frozenset(parser_namespace()) | frozenset(inert_namespace())


# --- the static bounds alone, for other checks ----------------------------------------------------


def exceeds_static_bounds(answer: str) -> bool:
    """Whether a static bound of this check refuses ``answer`` (the length, nesting and cost bounds of step 1 of
    the module doc): ``budget_exceeded`` decided without building anything or starting the bounded child, well
    under a millisecond. Other checks use it to keep answers that no checker can afford out of their work."""
    if len(answer) > MAX_ANSWER_CHARS or _nesting_depth(answer) > MAX_NESTING:
        return True
    if _PLAIN_NUMBER.fullmatch(answer):
        return False
    return cost_bounds_exceeded(_SINGLE_EQUALS.sub("==", normalize_answer(answer)))


def cost_bounds_exceeded(text: str) -> bool:
    """Whether ``expression.check_cost`` (and ``check_magnitude`` for a tree that ``evaluates``) refuses the plain
    math ``text`` (sympy's syntax, as sympy prints a parsed answer: ``floor(exp(10**15))``). Builds nothing; a text
    that is not math (``NotMath``, a syntax error) is not refused."""
    try:
        tree = vet(to_code(text))
        check_cost(tree)
        if evaluates(tree):
            check_magnitude(tree)
    except (TooCostly, RecursionError, MemoryError):
        return True
    except Exception:  # not math: nothing for a bound to refuse
        return False
    return False


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


# A pmatrix/bmatrix with a row break: pylatexenc writes its rows joined by ";", which no normalisation
# step removes and no Python expression contains (``certainly_malformed``).
_MULTI_ROW_MATRIX = re.compile(r"\\begin\{([pb])matrix\}(?:(?!\\end\{\1matrix\}).)*?\\\\", re.DOTALL)


def _verdict(answer: str) -> tuple[bool, bool]:
    """(well formed, budget exceeded) of a non-empty answer."""
    if _PLAIN_NUMBER.fullmatch(answer):
        return True, False  # normalised to a decimal number, which sympy always accepts (as the simple path)
    if len(answer) > MAX_ANSWER_CHARS or _nesting_depth(answer) > MAX_NESTING:
        return False, True
    if _MULTI_ROW_MATRIX.search(answer):
        return False, False
    try:
        return parses_as_math(normalize_answer(answer)), False
    except (BudgetExceeded, RecursionError):
        return False, True


@lru_cache(maxsize=65_536)
def _check_answer(answer: str) -> FormatCheck:
    """The answer cache: a FormatCheck is immutable, so one object serves every repeat of an answer."""
    well_formed, budget_exceeded = _verdict(answer)
    return FormatCheck(answer=answer, well_formed=well_formed, budget_exceeded=budget_exceeded)


def check_answer_format(answer: str | None) -> FormatCheck:
    """Format verdict for an already extracted answer (None or "" is never well formed)."""
    if not answer:
        return FormatCheck(answer=answer, well_formed=False)
    return _check_answer(answer)


def check_format(response: str) -> FormatCheck:
    """Extract the last boxed answer of ``response`` and check its format."""
    return check_answer_format(extract_answer(response))


def format_reward(response: str) -> float:
    """F in {0, 1}: 1 when the response ends with a non-empty, well-formed boxed answer."""
    return check_format(response).reward
