"""Step 2: the code ``to_code`` makes, parsed with Python's ``ast`` and accepted only if every node is on a whitelist.

Allowed: numbers, the constructors the parser emits (``Integer``, ``Float``, ``Rational``, ``Number``, ``Symbol``,
``Function``, with literal arguments of the expected shape only), elementary and inert functions (``names.py``),
constants, arithmetic, comparisons, tuples and lists. No attribute access, subscripts, keywords, strings outside
those constructors, lambdas, comprehensions or other names: anything else raises ``NotMath``.
"""

from __future__ import annotations

import ast
import operator
import re
from functools import lru_cache
from typing import Any

from verl_ext.rewards.expression.limits import MAX_TREE_DEPTH, TooCostly
from verl_ext.rewards.expression.names import ELEMENTARY_FUNCTIONS
from verl_ext.rewards.expression.translate import inert_namespace, parser_namespace


class NotMath(Exception):
    """The code uses a construct outside the whitelist: not a math expression (F = 0)."""


# Constructors sympy's transformations emit, with the literal arguments they take.
FLOAT_LITERAL = re.compile(r"(?P<mantissa>[0-9_]*\.?[0-9_]*)(?:[eE](?P<exponent>[-+]?[0-9_]+))?")
_DIGITS = re.compile(r"[0-9]+")
CONSTRUCTOR_ARGUMENTS = {
    "Integer": (int,),
    "Rational": (int, int),
    "Float": (str,),
    "Number": (str,),
    "Symbol": (str,),
    "Function": (str,),
}
_CONSTANTS = ("I", "pi", "oo", "zoo", "nan", "true", "false")

# Operators, each with the function that applies it as Python's ``eval`` would (``builder.py``).
BINARY = {
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
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert}
COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
ORDERINGS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_CONTAINERS = (ast.Expression, ast.Tuple, ast.List, ast.Load)


@lru_cache(maxsize=1)
def whitelisted_names() -> dict[str, Any]:
    """Every name vetted code may use, bound to the object ``eval`` would find (locals first)."""
    names = parser_namespace()
    allowed = {name: names[name] for name in (*CONSTRUCTOR_ARGUMENTS, *_CONSTANTS, *ELEMENTARY_FUNCTIONS)}
    allowed.update(inert_namespace())
    return allowed


def _check_constructor(node: ast.Call, name: str) -> None:
    shapes = CONSTRUCTOR_ARGUMENTS[name]
    if len(node.args) != len(shapes) or any(
        not isinstance(arg, ast.Constant) or type(arg.value) is not shape
        for arg, shape in zip(node.args, shapes, strict=False)
    ):
        raise NotMath(f"{name} with arguments other than the parser's literals")
    value = node.args[0].value
    if name == "Float" and not FLOAT_LITERAL.fullmatch(value):
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
    if func.id in CONSTRUCTOR_ARGUMENTS:
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
            if isinstance(node.func, ast.Name) and node.func.id in CONSTRUCTOR_ARGUMENTS:
                constructor_literals.update(id(arg) for arg in node.args)
        elif isinstance(node, ast.Name):
            if node.id not in names:
                raise NotMath(f"name {node.id!r} is not whitelisted")
        elif isinstance(node, ast.Constant):
            if id(node) not in constructor_literals and node.value is not Ellipsis:
                raise NotMath(f"a literal {type(node.value).__name__} outside the parser's constructors")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in BINARY:
                raise NotMath(f"operator {type(node.op).__name__}")
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in UNARY:
                raise NotMath(f"operator {type(node.op).__name__}")
        elif isinstance(node, ast.Compare):
            if any(type(op) not in COMPARE for op in node.ops):
                raise NotMath("comparison other than == != < <= > >=")
        elif not isinstance(node, _CONTAINERS):
            raise NotMath(f"{type(node).__name__} is not allowed")
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.operator, ast.unaryop, ast.cmpop, ast.expr_context)):
                stack.append((child, depth + 1))
    return tree
