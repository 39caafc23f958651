"""Step 3b: a static bound on the magnitude of every value in a tree sympy may evaluate (``TooCostly``).

Only for trees that ``evaluates``: calls of elementary functions, order comparisons, ``//``, ``%``, powers with a
non-integer exponent. An upper bound of log10 |value| and of log10 1/|value| for every subexpression (exp, powers,
products, quotients, functions of large arguments, near-zeros of sums and periodic functions) must stay within
``MAX_MAGNITUDE`` (``limits.py``), since sympy decides integer parts, orders and signs at a precision that grows
with it. Such trees are then built in an isolated child under a CPU-time bound (``format.py``), which covers what
the bound misses.
"""

from __future__ import annotations

import ast
import math

from verl_ext.rewards.expression.cost import LOG10_2, is_integer_literal
from verl_ext.rewards.expression.limits import MAX_MAGNITUDE, TooCostly
from verl_ext.rewards.expression.names import CIRCULAR, ELEMENTARY_FUNCTIONS, INVERSE, PERIODIC, REAL_FUNCTIONS
from verl_ext.rewards.expression.whitelist import ORDERINGS, NotMath

_LOG10_E = math.log10(math.e)
_ARG_TERM = math.pi * _LOG10_E  # |a^b| <= |a|^Re(b) * e^(pi |Im b|): pi log10(e) per unit of |b|
_EVALUATING_OPS = (ast.FloorDiv, ast.Mod)
PERIODIC_FACTOR = 8.0


def _integer_exponent(node: ast.AST) -> int | None:
    """The value of an integer literal exponent (``Integer(3)``, ``-Integer(2)``), else None."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if is_integer_literal(node):
        return sign * node.args[0].value  # type: ignore[attr-defined]
    return None


def evaluates(tree: ast.AST) -> bool:
    """Whether building ``tree`` can make sympy evaluate something: a call of an elementary function, an
    order comparison, ``//`` or ``%``, or a power whose exponent is not an integer literal. Trees without
    any are numbers, fractions, symbols and their sums, products and integer powers (``check_cost``
    bounds their digits)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ELEMENTARY_FUNCTIONS:
            return True
        if isinstance(node, ast.Compare) and any(isinstance(op, ORDERINGS) for op in node.ops):
            return True
        if isinstance(node, ast.BinOp) and (
            isinstance(node.op, _EVALUATING_OPS)
            or isinstance(node.op, ast.Pow)
            and _integer_exponent(node.right) is None
        ):
            return True
    return False


def _power_of_ten(exponent: float) -> float:
    return math.inf if exponent > 300 else 10.0**exponent


class _Magnitude:
    """Bottom-up bound ``(up, down)`` of every subexpression's value v: 10^-down <= |v| <= 10^up when
    v != 0 (both >= 0). pi is pi; symbols, undefined and inert functions, infinities and truth values count as 1.

    Products, quotients, integer powers, exp, roots and logarithms are bounded exactly; a power with any
    other exponent b uses |a^b| <= 10^(|b| (max(up, down) of a + pi log10 e)). How small a sum, a
    logarithm or a periodic function can get (cancellation) has no general bound: ``down`` then grows by
    the operands' whole magnitude (and the digits of any float, whose rounding cancels to that), which
    covers exact numbers (|p/q - r/s| >= 1/(qs)) and near-identities of numbers with as many digits;
    a periodic function takes ``PERIODIC_FACTOR`` times that (|sin n| >= n^-7.2 for integers n, from pi's
    irrationality measure). The CPU bound of the bounded path covers the rest."""

    def __init__(self, float_digits: float) -> None:
        self.largest = 0.0
        self.float_digits = float_digits

    def of(self, node: ast.AST) -> tuple[float, float]:
        up, down = self._of(node)
        self.largest = max(self.largest, up, down)
        if self.largest > MAX_MAGNITUDE:
            raise TooCostly(f"a value beyond 10^(+-{MAX_MAGNITUDE:.0f}) in an answer sympy would evaluate")
        return up, down

    def _of(self, node: ast.AST) -> tuple[float, float]:
        if isinstance(node, ast.Expression):
            return self.of(node.body)
        if isinstance(node, ast.Name) and node.id == "pi":
            return math.log10(math.pi), 0.0
        if isinstance(node, (ast.Name, ast.Constant, ast.Compare)):
            if isinstance(node, ast.Compare):
                for operand in (node.left, *node.comparators):
                    self.of(operand)
            return 0.0, 0.0
        if isinstance(node, ast.UnaryOp):
            operand = self.of(node.operand)
            return operand if isinstance(node.op, (ast.USub, ast.UAdd)) else (0.0, 0.0)
        if isinstance(node, (ast.Tuple, ast.List)):
            parts = [self.of(element) for element in node.elts]
            return max((p[0] for p in parts), default=0.0), max((p[1] for p in parts), default=0.0)
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise NotMath(f"{type(node).__name__} is not allowed")  # unreachable after vet

    def _cancelled(self, *parts: tuple[float, float]) -> float:
        return sum(up + down for up, down in parts) + 1.0 + self.float_digits

    def _binary(self, node: ast.BinOp) -> tuple[float, float]:
        (a_up, a_down), (b_up, b_down) = self.of(node.left), self.of(node.right)
        op = node.op
        if isinstance(op, (ast.Add, ast.Sub)):
            return max(a_up, b_up) + LOG10_2, self._cancelled((a_up, a_down), (b_up, b_down))
        if isinstance(op, ast.Mult):  # also a sequence repeated an integer number of times (elements kept)
            return a_up + b_up, a_down + b_down
        if isinstance(op, ast.Div):
            return a_up + b_down, a_down + b_up
        if isinstance(op, ast.FloorDiv):
            return a_up + b_down, 0.0
        if isinstance(op, ast.Mod):
            return b_up, self._cancelled((a_up, a_down), (b_up, b_down))
        if isinstance(op, ast.Pow):
            exponent = _integer_exponent(node.right)
            if exponent is not None:
                return (exponent * a_up, exponent * a_down) if exponent >= 0 else (-exponent * a_down, -exponent * a_up)
            bound = _power_of_ten(b_up) * (max(a_up, a_down) + _ARG_TERM)
            return bound, bound
        return 0.0, 0.0  # | and & of truth values or sets

    def _call(self, node: ast.Call) -> tuple[float, float]:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in ("Integer", "Rational"):
            return _log10(node.args[0].value), (_log10(node.args[1].value) if name == "Rational" else 0.0)
        if name == "Number":  # a digit string (vetted)
            return _log10(int(node.args[0].value)), 0.0
        if name == "Float":
            return _float_magnitude(node.args[0].value)
        parts = [self.of(arg) for arg in node.args]
        if name not in ELEMENTARY_FUNCTIONS or not parts:
            if name is None:
                self.of(node.func)
            return 0.0, 0.0  # Symbol, Function, inert and undefined functions: unevaluated symbols
        (up, down), spread = parts[0], max(max(p) for p in parts)
        cancelled = self._cancelled(*parts)
        if name == "exp":
            bound = _power_of_ten(up) * _LOG10_E
            return bound, bound
        if name in ("sqrt", "cbrt"):
            root = 2.0 if name == "sqrt" else 3.0
            return up / root, down / root
        if name == "root":  # root(a, n) = a^(1/n), principal or k-th branch
            bound = _power_of_ten(parts[1][1] if len(parts) > 1 else 0.0) * (max(up, down) + _ARG_TERM)
            return bound, bound
        if name in ("log", "ln"):  # |log a| <= ln(10) max(up, down) + pi; log(a, b) = log(a) / log(b)
            log_up = math.log10(math.log(10) * spread + math.pi)
            return log_up + (cancelled if len(parts) > 1 else 0.0), cancelled + (log_up if len(parts) > 1 else 0.0)
        # |sin z|, |cosh z|, ... <= e^|z| (|sin x| <= 1 on reals); near a zero of it or its denominator
        if name in PERIODIC:
            near_zero = PERIODIC_FACTOR * cancelled
            if name in CIRCULAR and all(_certainly_real(arg) for arg in node.args):
                return (0.0 if name in ("sin", "cos") else near_zero), near_zero
            return _power_of_ten(up) * _LOG10_E + near_zero, near_zero
        if name in INVERSE:  # |asin z|, |atanh z|, ... <= ln(2 |z|) + pi away from their singular points
            return math.log10(math.log(10) * (spread + cancelled) + 4.0), cancelled
        if name in ("atan2", "arg"):
            return math.log10(math.pi), cancelled
        if name in ("floor", "ceiling"):
            return up + LOG10_2, 0.0
        if name == "frac":
            return 0.0, cancelled
        if name in ("abs", "conjugate"):
            return up, down
        if name in ("re", "im"):
            return up, cancelled
        if name == "sign":
            return 0.0, 0.0
        if name in ("max", "min"):
            return max(p[0] for p in parts), max(p[1] for p in parts)
        raise AssertionError(f"no magnitude rule for {name}")  # every ELEMENTARY_FUNCTIONS name has one


def _log10(value: int) -> float:
    """log10 |value| (0 for 0), rounded up a little: an upper bound."""
    return math.log10(abs(value)) * (1 + 1e-12) if value else 0.0


_REAL_CONSTRUCTORS = ("Integer", "Rational", "Float", "Number")


def _certainly_real(node: ast.AST) -> bool:
    """A real number for sure: numbers and pi under + - * /, integer powers and real-valued functions."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            name = inner.func.id if isinstance(inner.func, ast.Name) else None
            if name not in REAL_FUNCTIONS and name not in _REAL_CONSTRUCTORS:
                return False
        elif isinstance(inner, ast.Name):
            if inner.id not in REAL_FUNCTIONS and inner.id not in _REAL_CONSTRUCTORS and inner.id != "pi":
                return False
        elif isinstance(inner, ast.BinOp):
            if not isinstance(inner.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
                return False
            if isinstance(inner.op, ast.Pow) and _integer_exponent(inner.right) is None:
                return False
        elif isinstance(inner, ast.UnaryOp):
            if not isinstance(inner.op, (ast.USub, ast.UAdd)):
                return False
        elif not isinstance(inner, (ast.Constant, ast.Load, ast.operator, ast.unaryop)):
            return False
    return True


def _float_magnitude(literal: str) -> tuple[float, float]:
    """(up, down) of a float literal: 10^adjusted <= |v| < 10^(adjusted + 1)."""
    from decimal import Decimal

    value = Decimal(literal.replace("_", ""))
    if not value:
        return 0.0, 0.0
    adjusted = value.adjusted()
    return max(adjusted + 1.0, 0.0), max(-float(adjusted), 0.0)


def check_magnitude(tree: ast.Expression) -> None:
    """Raise TooCostly when a subexpression's value may leave 10^(+-MAX_MAGNITUDE) (see ``_Magnitude``)."""
    try:
        magnitude(tree)
    except ArithmeticError as exc:  # a bound too large for a float: far beyond MAX_MAGNITUDE
        raise TooCostly(f"a value beyond 10^(+-{MAX_MAGNITUDE:.0f}) ({type(exc).__name__})") from exc


def magnitude(tree: ast.Expression) -> tuple[float, float]:
    """``(up, down)`` of the whole tree: 10^-down <= |value| <= 10^up (TooCostly past MAX_MAGNITUDE)."""
    return _Magnitude(_float_digits_in(tree)).of(tree)


def _float_digits_in(tree: ast.AST) -> float:
    """0 without floats; else their largest number of significant digits + 2 (at least 17, a double's)."""
    digits = [
        len(node.args[0].value.split("e")[0].split("E")[0].replace(".", "").replace("_", "").lstrip("0"))
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Float"
    ]
    return max(17.0, max(digits) + 2.0) if digits else 0.0
