"""Step 3: a static bound on the digits of a vetted tree, before anything is built (``TooCostly``).

``numeric_size`` bounds the decimal digits of every exact number the tree can make (a power multiplies the base's
digits by the exponent's value, so ``9**9**9``, ``10**10**7``, ``1e999999999`` and ``(2x)**10**100`` are caught
whatever their syntax); irrational work (roots, elementary functions, order comparisons) is allowed only on small
numbers and a few times per answer, and an order comparison (or max/min) of two irrational numbers is refused
(sympy may try to prove an identity such as ``sqrt(2) + sqrt(3) = sqrt(5 + 2 sqrt(6))``); a tuple or list times
an integer (Python's repetition) may not exceed ``MAX_SEQUENCE_LENGTH`` elements. The bounds are in ``limits.py``.
"""

from __future__ import annotations

import ast
import math

from verl_ext.rewards.expression.limits import (
    MAX_DIGITS_WITH_IRRATIONALS,
    MAX_FLOAT_EXPONENT,
    MAX_IRRATIONAL_NODES,
    MAX_RESULT_DIGITS,
    MAX_SEQUENCE_LENGTH,
    TooCostly,
)
from verl_ext.rewards.expression.names import ELEMENTARY_FUNCTIONS
from verl_ext.rewards.expression.whitelist import FLOAT_LITERAL, ORDERINGS, NotMath

LOG10_2 = math.log10(2)


def _integer_digits(value: int) -> float:
    """An upper bound of log10 |value| from the bit length (no big-number arithmetic); 0 for -1, 0, 1."""
    return abs(value).bit_length() * LOG10_2 if abs(value) > 1 else 0.0


def _float_digits(literal: str) -> float:
    """log10 bound of |value| of a float literal; TooCostly past MAX_FLOAT_EXPONENT (its cost is in the exponent)."""
    match = FLOAT_LITERAL.fullmatch(literal)
    assert match is not None  # vetted
    exponent = int(match.group("exponent") or 0)
    if abs(exponent) > MAX_FLOAT_EXPONENT:
        raise TooCostly(f"a number with exponent {exponent} (bound {MAX_FLOAT_EXPONENT})")
    whole_digits = len(match.group("mantissa").split(".")[0].replace("_", "").lstrip("0"))
    return float(max(whole_digits + exponent, 0))


def is_integer_literal(node: ast.AST) -> bool:
    """``Integer(n)`` under any number of unary signs."""
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
                return self._power(left, right, irrational=not is_integer_literal(node.right))
            return left + right + (LOG10_2 if isinstance(node.op, (ast.Add, ast.Sub)) else 0.0)
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
        for op, left, right in zip(node.ops, counts, counts[1:], strict=False):
            if isinstance(op, ORDERINGS) and left + right >= 2:
                raise TooCostly("an order comparison of two irrational numbers")
        self.irrational_nodes += sum(isinstance(op, ORDERINGS) for op in node.ops)
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
    """Raise TooCostly unless building ``tree`` stays within the static bounds of ``limits.py``."""
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
