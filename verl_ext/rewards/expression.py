"""Model text to a sympy object without ever evaluating the text as code.

The format verdict is "does sympy's parser accept the answer?" (``format.py``). sympy's ``parse_expr``
translates the text to Python source and ``eval``s it, which runs whatever the text spells
(``open('x','w')``, ``exec(...)``, ``().__class__...``). Here the same translation is used, but never
evaluated:

1. ``to_code``: sympy's own tokenizer and transformations (auto symbols, numbers, implicit
   multiplication and application, factorial notation) turn the text into source code. This step
   only rewrites tokens; the code is the one ``parse_expr`` would run.
2. ``vet``: the code is parsed with Python's ``ast`` and accepted only if every node is on a
   whitelist: numbers, the constructors the parser emits (``Integer``, ``Float``, ``Rational``,
   ``Number``, ``Symbol``, ``Function``, with literal arguments of the expected shape only),
   elementary functions and constants, arithmetic, comparisons, tuples and lists. No attribute
   access, subscripts, keywords, strings outside those constructors, lambdas, comprehensions or other
   names. Anything else raises ``NotMath`` (the answer is not a math expression: F = 0).
3. ``check_cost``: a static bound on the vetted tree, before anything is built (``TooCostly``):
   ``numeric_size`` bounds the decimal digits of every exact number the tree can make (a power
   multiplies the base's digits by the exponent's value, so ``9**9**9``, ``10**10**7``, ``1e999999999``
   and ``(2x)**10**100`` are caught whatever their syntax); irrational work (roots, elementary
   functions, order comparisons) is allowed only on small numbers and a few times per answer, and
   an order comparison (or max/min) of two irrational numbers is refused (sympy may try to prove
   an identity such as ``sqrt(2) + sqrt(3) = sqrt(5 + 2 sqrt(6))``); a tuple or list times an integer
   (Python's repetition) may not exceed ``MAX_SEQUENCE_LENGTH`` elements.
   ``check_magnitude`` (only for trees that ``evaluates``: calls of elementary functions, order
   comparisons, ``//``, ``%``, powers with a non-integer exponent): an upper bound of log10 |value| and
   of log10 1/|value| for every subexpression (exp, powers, products, quotients, functions of large
   arguments, near-zeros of sums and periodic functions) must stay within ``MAX_MAGNITUDE``, since
   sympy decides integer parts, orders and signs at a precision that grows with it. Such trees are
   then built in an isolated child under a CPU-time bound (``format.py``), which covers what the
   bound misses.
4. ``build``: the vetted tree is interpreted node by node with Python's own operator semantics
   (``operator.add``, calls of the whitelisted objects, chained comparisons that short-circuit as in
   Python), so the object, and any exception, is what ``eval`` of the same code gives. One exception:
   trigonometric functions of ``p pi / q`` with ``q > 12`` are built unevaluated (sympy would expand
   ``cos(pi/120)`` into nested radicals; the value is the same finite number, so the verdict is kept).
"""

from __future__ import annotations

import ast
import builtins
import math
import operator
import re
from functools import lru_cache
from typing import Any

MAX_RESULT_DIGITS = 100_000  # exact integers up to this size take milliseconds to build
MAX_FLOAT_EXPONENT = 1_000  # |N| in "1eN": mpmath builds 10**N exactly (1e100000 takes 0.5 s)
MAX_DIGITS_WITH_IRRATIONALS = 300  # roots/functions factor their arguments: sqrt of 1000 digits takes 0.2 s
MAX_IRRATIONAL_NODES = 16  # each costs about a millisecond (more when sympy's cache is cold)
MAX_TREE_DEPTH = 64  # real answers reach 23; sympy flattens long chains in quadratic time
MAX_SEQUENCE_LENGTH = 10_000  # (1, 2) * 99999999 is Python's tuple repetition: 7 s and 1.6 GB


class NotMath(Exception):
    """The code uses a construct outside the whitelist: not a math expression (F = 0)."""


class TooCostly(Exception):
    """Building the expression could exceed the static cost bounds (reported as ``budget_exceeded``)."""


# --- step 1: sympy's translation, without eval ----------------------------------------------------

# Number-theoretic and combinatorial functions: parsed as inert function symbols (their value on a
# large integer takes unbounded time in C). The syntax is checked; nothing is computed.
INERT_FUNCTIONS = (
    "factorial",
    "factorial2",
    "subfactorial",
    "binomial",
    "multinomial",
    "fibonacci",
    "lucas",
    "tribonacci",
    "bell",
    "bernoulli",
    "catalan",
    "euler",
    "genocchi",
    "harmonic",
    "partition",
    "npartitions",
    "prime",
    "primepi",
    "nextprime",
    "prevprime",
    "primorial",
    "isprime",
    "factorint",
    "primefactors",
    "divisors",
    "divisor_count",
    "divisor_sigma",
    "totient",
    "reduced_totient",
    "mobius",
    "ff",
    "rf",
    "gamma",
    "loggamma",
    "motzkin",
    "stirling",
    "nt",
    "fac",
    "gcd",
    "lcm",
    "perfect_power",
    "sqrt_mod",
    "n_order",
)


@lru_cache(maxsize=1)
def inert_namespace() -> dict[str, Any]:
    """The parser's local names: each inert function as an undefined sympy Function."""
    from sympy import Function

    return {name: Function(name) for name in INERT_FUNCTIONS}


@lru_cache(maxsize=1)
def parser_namespace() -> dict[str, Any]:
    """The global names ``parse_expr`` gives its transformations: sympy's public names, the built-in
    functions, ``max``/``min`` as Max/Min. Only used to decide which words are names (as sympy does)."""
    import sympy

    names = {name: getattr(sympy, name) for name in sympy.__all__}
    names.update((n, obj) for n, obj in vars(builtins).items() if isinstance(obj, type(builtins.len)))
    names["max"], names["min"] = sympy.Max, sympy.Min
    return names


@lru_cache(maxsize=1)
def _transformations() -> tuple:
    from sympy.parsing import sympy_parser

    return sympy_parser.standard_transformations + (sympy_parser.implicit_multiplication_application,)


def to_code(text: str) -> str:
    """The Python source sympy's parser makes of ``text`` (``^`` read as a power). Not evaluated."""
    from sympy.parsing.sympy_parser import stringify_expr

    return stringify_expr(text.replace("^", "**"), dict(inert_namespace()), parser_namespace(), _transformations())


# --- step 2: the whitelist ------------------------------------------------------------------------

# Constructors sympy's transformations emit, with the literal arguments they take.
_FLOAT_LITERAL = re.compile(r"(?P<mantissa>[0-9_]*\.?[0-9_]*)(?:[eE](?P<exponent>[-+]?[0-9_]+))?")
_DIGITS = re.compile(r"[0-9]+")
_CONSTRUCTOR_ARGUMENTS = {
    "Integer": (int,),
    "Rational": (int, int),
    "Float": (str,),
    "Number": (str,),
    "Symbol": (str,),
    "Function": (str,),
}
_CONSTANTS = ("I", "pi", "oo", "zoo", "nan", "true", "false")
ELEMENTARY_FUNCTIONS = (
    "sqrt",
    "cbrt",
    "root",
    "exp",
    "log",
    "ln",
    "sin",
    "cos",
    "tan",
    "cot",
    "sec",
    "csc",
    "asin",
    "acos",
    "atan",
    "acot",
    "asec",
    "acsc",
    "atan2",
    "sinh",
    "cosh",
    "tanh",
    "coth",
    "sech",
    "csch",
    "asinh",
    "acosh",
    "atanh",
    "acoth",
    "asech",
    "acsch",
    "re",
    "im",
    "arg",
    "sign",
    "conjugate",
    "floor",
    "ceiling",
    "frac",
    "abs",
    "max",
    "min",
)
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
    ast.FloorDiv: operator.floordiv,
    ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ORDERINGS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_CONTAINERS = (ast.Expression, ast.Tuple, ast.List, ast.Load)


@lru_cache(maxsize=1)
def whitelisted_names() -> dict[str, Any]:
    """Every name vetted code may use, bound to the object ``eval`` would find (locals first)."""
    names = parser_namespace()
    allowed = {name: names[name] for name in (*_CONSTRUCTOR_ARGUMENTS, *_CONSTANTS, *ELEMENTARY_FUNCTIONS)}
    allowed.update(inert_namespace())
    return allowed


def _check_constructor(node: ast.Call, name: str) -> None:
    shapes = _CONSTRUCTOR_ARGUMENTS[name]
    if len(node.args) != len(shapes) or any(
        not isinstance(arg, ast.Constant) or type(arg.value) is not shape for arg, shape in zip(node.args, shapes)
    ):
        raise NotMath(f"{name} with arguments other than the parser's literals")
    value = node.args[0].value
    if name == "Float" and not _FLOAT_LITERAL.fullmatch(value):
        raise NotMath(f"Float of a non-numeric string {value!r}")
    if name == "Number" and not _DIGITS.fullmatch(value):
        raise NotMath(f"Number of a non-digit string {value!r}")


def _check_call(node: ast.Call, names: dict[str, Any]) -> None:
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise NotMath("keyword or starred arguments")
    func = node.func
    if isinstance(func, ast.Call) and isinstance(func.func, ast.Name) and func.func.id == "Function":
        return  # an undefined function applied, e.g. Function('k')(x): checked as a constructor call itself
    if not isinstance(func, ast.Name) or func.id not in names:
        raise NotMath("a call of something other than a whitelisted function")
    if func.id in _CONSTRUCTOR_ARGUMENTS:
        _check_constructor(node, func.id)


def vet(code: str) -> ast.Expression:
    """Parse ``code`` and check it against the whitelist. Raises SyntaxError (sympy's parser would
    fail too), NotMath (a construct outside the whitelist) or TooCostly (a tree deeper than
    MAX_TREE_DEPTH)."""
    tree = ast.parse(code.strip(), mode="eval")
    names = whitelisted_names()
    constructor_literals: set[int] = set()
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise TooCostly(f"expression nested deeper than {MAX_TREE_DEPTH}")
        if isinstance(node, ast.Call):
            _check_call(node, names)
            if isinstance(node.func, ast.Name) and node.func.id in _CONSTRUCTOR_ARGUMENTS:
                constructor_literals.update(id(arg) for arg in node.args)
        elif isinstance(node, ast.Name):
            if node.id not in names:
                raise NotMath(f"name {node.id!r} is not whitelisted")
        elif isinstance(node, ast.Constant):
            if id(node) not in constructor_literals and node.value is not Ellipsis:
                raise NotMath(f"a literal {type(node.value).__name__} outside the parser's constructors")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise NotMath(f"operator {type(node.op).__name__}")
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise NotMath(f"operator {type(node.op).__name__}")
        elif isinstance(node, ast.Compare):
            if any(type(op) not in _COMPARE for op in node.ops):
                raise NotMath("comparison other than == != < <= > >=")
        elif not isinstance(node, _CONTAINERS):
            raise NotMath(f"{type(node).__name__} is not allowed")
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.operator, ast.unaryop, ast.cmpop, ast.expr_context)):
                stack.append((child, depth + 1))
    return tree


# --- step 3: static cost bound --------------------------------------------------------------------

_LOG10_2 = math.log10(2)


def _integer_digits(value: int) -> float:
    """An upper bound of log10 |value| from the bit length (no big-number arithmetic); 0 for -1, 0, 1."""
    return abs(value).bit_length() * _LOG10_2 if abs(value) > 1 else 0.0


def _float_digits(literal: str) -> float:
    """log10 bound of |value| of a float literal; TooCostly past MAX_FLOAT_EXPONENT (its cost is in the exponent)."""
    match = _FLOAT_LITERAL.fullmatch(literal)
    assert match is not None  # vetted
    exponent = int(match.group("exponent") or 0)
    if abs(exponent) > MAX_FLOAT_EXPONENT:
        raise TooCostly(f"a number with exponent {exponent} (bound {MAX_FLOAT_EXPONENT})")
    whole_digits = len(match.group("mantissa").split(".")[0].replace("_", "").lstrip("0"))
    return float(max(whole_digits + exponent, 0))


def _is_integer_literal(node: ast.AST) -> bool:
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Integer"


class _Cost:
    """Bottom-up bound: ``digits(node)`` >= log10 of the height (max |numerator|, |denominator|) of every
    exact number the subtree can produce, summed over the subtree; irrational work is counted."""

    def __init__(self) -> None:
        self.irrational_nodes = 0

    def digits(self, node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return self.digits(node.body)
        if isinstance(node, ast.Constant):
            return _integer_digits(node.value) if type(node.value) is int else 0.0
        if isinstance(node, ast.Name):
            return 0.0
        if isinstance(node, ast.UnaryOp):
            return self.digits(node.operand)
        if isinstance(node, ast.BinOp):
            left, right = self.digits(node.left), self.digits(node.right)
            if isinstance(node.op, ast.Pow):
                return self._power(left, right, irrational=not _is_integer_literal(node.right))
            return left + right + (_LOG10_2 if isinstance(node.op, (ast.Add, ast.Sub)) else 0.0)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, (ast.Tuple, ast.List)):
            return sum(self.digits(e) for e in node.elts)
        raise NotMath(f"{type(node).__name__} is not allowed")  # unreachable after vet

    def _counted(self, nodes: list[ast.AST]) -> tuple[float, list[int]]:
        """Digits of ``nodes`` together, and the irrational nodes inside each."""
        digits, counts = 0.0, []
        for node in nodes:
            before = self.irrational_nodes
            digits += self.digits(node)
            counts.append(self.irrational_nodes - before)
        return digits, counts

    def _compare(self, node: ast.Compare) -> float:
        # Deciding "a < b" between two irrational numbers can make sympy prove an identity
        # (sqrt(2) + sqrt(3) < sqrt(5 + 2 sqrt(6)) takes 60-160 ms): allowed with at most one of them.
        digits, counts = self._counted([node.left, *node.comparators])
        for op, left, right in zip(node.ops, counts, counts[1:]):
            if isinstance(op, _ORDERINGS) and left + right >= 2:
                raise TooCostly("an order comparison of two irrational numbers")
        self.irrational_nodes += sum(isinstance(op, _ORDERINGS) for op in node.ops)
        return digits

    def _power(self, base: float, exponent: float, irrational: bool) -> float:
        self.irrational_nodes += irrational
        if base == 0.0:
            return exponent  # 0, 1, -1, symbols: no number grows
        if exponent > math.log10(MAX_RESULT_DIGITS) + 1:
            raise TooCostly(f"a power of more than {MAX_RESULT_DIGITS} digits")
        return base * 10.0**exponent + exponent

    def _call(self, node: ast.Call) -> float:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name == "Float":
            return _float_digits(node.args[0].value)
        if name == "Number":
            return float(len(node.args[0].value))
        if name in ("Integer", "Rational"):
            return sum(_integer_digits(arg.value) for arg in node.args)
        if name in ("Symbol", "Function"):
            return 0.0
        digits, counts = self._counted(list(node.args))
        if name in ("max", "min") and sum(counts) >= 2:
            raise TooCostly(f"{name} of irrational numbers (it orders them)")
        self.irrational_nodes += name in ELEMENTARY_FUNCTIONS
        return digits + (self.digits(node.func) if name is None else 0.0)


def _sequence_length(node: ast.AST, memo: dict[int, int | None]) -> int | None:
    """Upper bound on the length of the tuple or list ``node`` can evaluate to; None if it is no sequence.
    A sequence times an integer repeats it (Python's semantics, which sympy's Integer follows)."""
    key = id(node)
    if key in memo:
        return memo[key]
    length: int | None = None
    if isinstance(node, (ast.Tuple, ast.List)):
        length = len(node.elts)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        left, right = _sequence_length(node.left, memo), _sequence_length(node.right, memo)
        if isinstance(node.op, ast.Add) and (left is not None or right is not None):
            length = (left or 0) + (right or 0)
        elif isinstance(node.op, ast.Mult) and (left is None) != (right is None):
            times = _Cost().digits(node.right if left is not None else node.left)
            if times > math.log10(MAX_SEQUENCE_LENGTH):
                raise TooCostly(f"a tuple or list repeated more than {MAX_SEQUENCE_LENGTH} times")
            length = (left or right or 0) * math.ceil(10.0**times)
    if length is not None and length > MAX_SEQUENCE_LENGTH:
        raise TooCostly(f"a tuple or list of more than {MAX_SEQUENCE_LENGTH} elements")
    memo[key] = length
    return length


def numeric_size(tree: ast.Expression) -> tuple[float, int]:
    """(digits bound, irrational node count) of a vetted tree; TooCostly when a power overflows."""
    cost = _Cost()
    digits = cost.digits(tree)
    return digits, cost.irrational_nodes


def check_cost(tree: ast.Expression) -> None:
    """Raise TooCostly unless building ``tree`` stays within the static bounds above."""
    memo: dict[int, int | None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            _sequence_length(node, memo)
    digits, irrational_nodes = numeric_size(tree)
    if digits > MAX_RESULT_DIGITS:
        raise TooCostly(f"numbers of more than {MAX_RESULT_DIGITS} digits")
    if irrational_nodes > MAX_IRRATIONAL_NODES:
        raise TooCostly(f"more than {MAX_IRRATIONAL_NODES} roots, functions or order comparisons")
    if irrational_nodes and digits > MAX_DIGITS_WITH_IRRATIONALS:
        raise TooCostly(f"roots or functions of numbers of more than {MAX_DIGITS_WITH_IRRATIONALS} digits")


# --- step 3b: magnitude bound (answers sympy may evaluate) -----------------------------------------

# sympy evaluates numerically (mpmath) to decide integer parts (floor, ceiling, frac, //, %), orderings,
# Max/Min, signs and absolute values, at a precision that grows with the magnitude of every number inside
# (the integer part of exp(10^15) has 4e14 digits; sin(exp(10^15)) needs exp(10^15) to 4e14 digits).
# On an answer that can make sympy evaluate, every subexpression must stay within 10^(+-MAX_MAGNITUDE),
# inside the 110 digits sympy's evalf works to by default (DEFAULT_MAXPREC): floor(exp(230) sin(1)) or
# sign(sin(10^10)) take 1-5 ms; past it they take 15 ms to minutes (floor(exp(690) sin(1)): 97 s).
# Anything beyond is refused before building.
MAX_MAGNITUDE = 100.0
_LOG10_E = math.log10(math.e)
_ARG_TERM = math.pi * _LOG10_E  # |a^b| <= |a|^Re(b) * e^(pi |Im b|): pi log10(e) per unit of |b|
_CIRCULAR_FUNCTIONS = ("sin", "cos", "tan", "cot", "sec", "csc")
_PERIODIC = _CIRCULAR_FUNCTIONS + ("sinh", "cosh", "tanh", "coth", "sech", "csch")
_INVERSE = (
    "asin",
    "acos",
    "atan",
    "acot",
    "asec",
    "acsc",
    "asinh",
    "acosh",
    "atanh",
    "acoth",
    "asech",
    "acsch",
)
_EVALUATING_OPS = (ast.FloorDiv, ast.Mod)
PERIODIC_FACTOR = 8.0


def _integer_exponent(node: ast.AST) -> int | None:
    """The value of an integer literal exponent (``Integer(3)``, ``-Integer(2)``), else None."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if _is_integer_literal(node):
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
        if isinstance(node, ast.Compare) and any(isinstance(op, _ORDERINGS) for op in node.ops):
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
            return max(a_up, b_up) + _LOG10_2, self._cancelled((a_up, a_down), (b_up, b_down))
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
        if (
            name in _PERIODIC
        ):  # |sin z|, |cosh z|, ... <= e^|z| (|sin x| <= 1 on reals); near a zero of it or its denominator
            near_zero = PERIODIC_FACTOR * cancelled
            if name in _CIRCULAR_FUNCTIONS and all(_certainly_real(arg) for arg in node.args):
                return (0.0 if name in ("sin", "cos") else near_zero), near_zero
            return _power_of_ten(up) * _LOG10_E + near_zero, near_zero
        if name in _INVERSE:  # |asin z|, |atanh z|, ... <= ln(2 |z|) + pi away from their singular points
            return math.log10(math.log(10) * (spread + cancelled) + 4.0), cancelled
        if name in ("atan2", "arg"):
            return math.log10(math.pi), cancelled
        if name in ("floor", "ceiling"):
            return up + _LOG10_2, 0.0
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


_REAL_FUNCTIONS = frozenset(
    (
        "exp",
        "atan",
        "acot",
        "asinh",
        "floor",
        "ceiling",
        "frac",
        "abs",
        "re",
        "im",
        "arg",
        "sign",
        "max",
        "min",
        "atan2",
    )
    + _PERIODIC
)
_REAL_CONSTRUCTORS = ("Integer", "Rational", "Float", "Number")


def _certainly_real(node: ast.AST) -> bool:
    """A real number for sure: numbers and pi under + - * /, integer powers and real-valued functions."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            name = inner.func.id if isinstance(inner.func, ast.Name) else None
            if name not in _REAL_FUNCTIONS and name not in _REAL_CONSTRUCTORS:
                return False
        elif isinstance(inner, ast.Name):
            if inner.id not in _REAL_FUNCTIONS and inner.id not in _REAL_CONSTRUCTORS and inner.id != "pi":
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


# --- step 4: build --------------------------------------------------------------------------------


# Evaluated at a rational multiple of pi with denominator 15, 20, ..., 120 (240 for tan), these expand
# into nested radicals that later arithmetic handles slowly (1/tan(pi/240) takes 0.3-0.7 s). At such an
# argument (denominator > 12) the value is a finite non-zero real number whether evaluated or not, so
# building the call unevaluated keeps every later verdict.
_CIRCULAR = ("sin", "cos", "tan", "cot", "sec", "csc")
_HYPERBOLIC = ("sinh", "cosh", "tanh", "coth", "sech", "csch")


def _expands_into_radicals(name: str, args: list[Any]) -> bool:
    from sympy import Expr, I, Rational, pi

    if len(args) != 1 or not isinstance(args[0], Expr) or name not in _CIRCULAR + _HYPERBOLIC:
        return False
    coefficient = args[0].as_coefficient(pi if name in _CIRCULAR else I * pi)
    return isinstance(coefficient, Rational) and coefficient.q > 12


def _compare(node: ast.Compare, names: dict[str, Any]) -> Any:
    """Python's chained comparison: ``a < b < c`` is ``(a < b) and (b < c)``, c unevaluated if the first fails."""
    left = _build(node.left, names)
    last = len(node.ops) - 1
    for position, (op, comparator) in enumerate(zip(node.ops, node.comparators)):
        right = _build(comparator, names)
        result = _COMPARE[type(op)](left, right)
        if position == last or not result:  # ``not`` asks for a truth value, as ``and`` does
            return result
        left = right
    raise AssertionError("a comparison without operators")  # unreachable: ast.Compare has >= 1


def _build(node: ast.AST, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return names[node.id]
    if isinstance(node, ast.BinOp):
        left = _build(node.left, names)
        return _BINARY[type(node.op)](left, _build(node.right, names))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_build(node.operand, names))
    if isinstance(node, ast.Call):
        function = _build(node.func, names)
        args = [_build(arg, names) for arg in node.args]
        if isinstance(node.func, ast.Name) and _expands_into_radicals(node.func.id, args):
            return function(*args, evaluate=False)
        return function(*args)
    if isinstance(node, ast.Compare):
        return _compare(node, names)
    if isinstance(node, ast.Tuple):
        return tuple(_build(e, names) for e in node.elts)
    if isinstance(node, ast.List):
        return [_build(e, names) for e in node.elts]
    raise NotMath(f"{type(node).__name__} is not allowed")  # unreachable after vet


def build(tree: ast.Expression) -> Any:
    """The object ``eval`` of the vetted code would give; raises what that ``eval`` would raise."""
    return _build(tree.body, whitelisted_names())
