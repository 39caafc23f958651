"""Step 1: the Python source sympy's parser makes of a text, never evaluated.

sympy's own tokenizer and transformations (auto symbols, numbers, implicit multiplication and application,
factorial notation) rewrite the tokens; the code is the one ``parse_expr`` would ``eval``.
"""

from __future__ import annotations

import builtins
from functools import lru_cache
from typing import Any

from verl_ext.rewards.expression.names import INERT_FUNCTIONS


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
