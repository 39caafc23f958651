"""Model text to a sympy object without ever evaluating the text as code.

The format verdict is "does sympy's parser accept the answer?" (``format.py``). sympy's ``parse_expr``
translates the text to Python source and ``eval``s it, which runs whatever the text spells
(``open('x','w')``, ``exec(...)``, ``().__class__...``). Here the same translation is used, but never
evaluated:

1. ``to_code`` (``translate.py``): sympy's own tokenizer and transformations (auto symbols, numbers, implicit
   multiplication and application, factorial notation) turn the text into source code. This step
   only rewrites tokens; the code is the one ``parse_expr`` would run.
2. ``vet`` (``whitelist.py``): the code is parsed with Python's ``ast`` and accepted only if every node is on a
   whitelist: numbers, the constructors the parser emits (``Integer``, ``Float``, ``Rational``,
   ``Number``, ``Symbol``, ``Function``, with literal arguments of the expected shape only),
   elementary functions and constants, arithmetic, comparisons, tuples and lists. No attribute
   access, subscripts, keywords, strings outside those constructors, lambdas, comprehensions or other
   names. Anything else raises ``NotMath`` (the answer is not a math expression: F = 0).
3. ``check_cost`` (``cost.py``): a static bound on the vetted tree, before anything is built (``TooCostly``):
   ``numeric_size`` bounds the decimal digits of every exact number the tree can make (a power
   multiplies the base's digits by the exponent's value, so ``9**9**9``, ``10**10**7``, ``1e999999999``
   and ``(2x)**10**100`` are caught whatever their syntax); irrational work (roots, elementary
   functions, order comparisons) is allowed only on small numbers and a few times per answer, and
   an order comparison (or max/min) of two irrational numbers is refused (sympy may try to prove
   an identity such as ``sqrt(2) + sqrt(3) = sqrt(5 + 2 sqrt(6))``); a tuple or list times an integer
   (Python's repetition) may not exceed ``MAX_SEQUENCE_LENGTH`` elements.
   ``check_magnitude`` (``magnitude_bound.py``, only for trees that ``evaluates``: calls of elementary functions, order
   comparisons, ``//``, ``%``, powers with a non-integer exponent): an upper bound of log10 |value| and
   of log10 1/|value| for every subexpression (exp, powers, products, quotients, functions of large
   arguments, near-zeros of sums and periodic functions) must stay within ``MAX_MAGNITUDE``, since
   sympy decides integer parts, orders and signs at a precision that grows with it. Such trees are
   then built in an isolated child under a CPU-time bound (``format.py``), which covers what the
   bound misses.
4. ``build`` (``builder.py``): the vetted tree is interpreted node by node with Python's own operator semantics
   (``operator.add``, calls of the whitelisted objects, chained comparisons that short-circuit as in
   Python), so the object, and any exception, is what ``eval`` of the same code gives. One exception:
   trigonometric functions of ``p pi / q`` with ``q > 12`` are built unevaluated (sympy would expand
   ``cos(pi/120)`` into nested radicals; the value is the same finite number, so the verdict is kept).

The function names are in ``names.py`` (each family once), the bounds and ``TooCostly`` in ``limits.py``.
"""

from __future__ import annotations

from verl_ext.rewards.expression.builder import build
from verl_ext.rewards.expression.cost import check_cost, numeric_size
from verl_ext.rewards.expression.limits import (
    MAX_DIGITS_WITH_IRRATIONALS,
    MAX_FLOAT_EXPONENT,
    MAX_IRRATIONAL_NODES,
    MAX_MAGNITUDE,
    MAX_RESULT_DIGITS,
    MAX_SEQUENCE_LENGTH,
    MAX_TREE_DEPTH,
    TooCostly,
)
from verl_ext.rewards.expression.magnitude_bound import PERIODIC_FACTOR, check_magnitude, evaluates, magnitude
from verl_ext.rewards.expression.names import ELEMENTARY_FUNCTIONS, INERT_FUNCTIONS
from verl_ext.rewards.expression.translate import inert_namespace, parser_namespace, to_code
from verl_ext.rewards.expression.whitelist import NotMath, vet, whitelisted_names

__all__ = [
    "ELEMENTARY_FUNCTIONS",
    "INERT_FUNCTIONS",
    "MAX_DIGITS_WITH_IRRATIONALS",
    "MAX_FLOAT_EXPONENT",
    "MAX_IRRATIONAL_NODES",
    "MAX_MAGNITUDE",
    "MAX_RESULT_DIGITS",
    "MAX_SEQUENCE_LENGTH",
    "MAX_TREE_DEPTH",
    "PERIODIC_FACTOR",
    "NotMath",
    "TooCostly",
    "build",
    "check_cost",
    "check_magnitude",
    "evaluates",
    "inert_namespace",
    "magnitude",
    "numeric_size",
    "parser_namespace",
    "to_code",
    "vet",
    "whitelisted_names",
]
