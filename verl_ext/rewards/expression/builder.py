"""Step 4: a vetted tree interpreted node by node, as ``eval`` of the same code would build it.

Python's own operator semantics (``operator.add``, calls of the whitelisted objects, chained comparisons that
short-circuit as in Python), so the object, and any exception, is what ``eval`` gives. One exception:
trigonometric functions of ``p pi / q`` with ``q > 12`` are built unevaluated (sympy would expand ``cos(pi/120)``
into nested radicals; the value is the same finite number, so the verdict is kept).
"""

from __future__ import annotations

import ast
from typing import Any

from verl_ext.rewards.expression.names import CIRCULAR, HYPERBOLIC
from verl_ext.rewards.expression.whitelist import BINARY, COMPARE, UNARY, NotMath, whitelisted_names


def _expands_into_radicals(name: str, args: list[Any]) -> bool:
    """Whether ``name(*args)`` is a circular function of ``p pi / q`` (hyperbolic: of ``p I pi / q``) with q > 12.

    Evaluated at a rational multiple of pi with denominator 15, 20, ..., 120 (240 for tan), these expand
    into nested radicals that later arithmetic handles slowly (1/tan(pi/240) takes 0.3-0.7 s). At such an
    argument (denominator > 12) the value is a finite non-zero real number whether evaluated or not, so
    building the call unevaluated keeps every later verdict."""
    from sympy import Expr, I, Rational, pi

    if len(args) != 1 or not isinstance(args[0], Expr) or name not in CIRCULAR + HYPERBOLIC:
        return False
    coefficient = args[0].as_coefficient(pi if name in CIRCULAR else I * pi)
    return isinstance(coefficient, Rational) and coefficient.q > 12


def _compare(node: ast.Compare, names: dict[str, Any]) -> Any:
    """Python's chained comparison: ``a < b < c`` is ``(a < b) and (b < c)``, c unevaluated if the first fails."""
    left = _build(node.left, names)
    last = len(node.ops) - 1
    for position, (op, comparator) in enumerate(zip(node.ops, node.comparators, strict=False)):
        right = _build(comparator, names)
        result = COMPARE[type(op)](left, right)
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
        return BINARY[type(node.op)](left, _build(node.right, names))
    if isinstance(node, ast.UnaryOp):
        return UNARY[type(node.op)](_build(node.operand, names))
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
