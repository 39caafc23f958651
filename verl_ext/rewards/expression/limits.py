"""The static bounds of the format check, and the exception for an answer beyond them.

Each bound keeps building an answer within milliseconds; an answer beyond one is not built (``TooCostly``,
reported as ``budget_exceeded``).
"""

from __future__ import annotations

MAX_RESULT_DIGITS = 100_000  # exact integers up to this size take milliseconds to build
MAX_FLOAT_EXPONENT = 1_000  # |N| in "1eN": mpmath builds 10**N exactly (1e100000 takes 0.5 s)
MAX_DIGITS_WITH_IRRATIONALS = 300  # roots/functions factor their arguments: sqrt of 1000 digits takes 0.2 s
MAX_IRRATIONAL_NODES = 16  # each costs about a millisecond (more when sympy's cache is cold)
MAX_TREE_DEPTH = 64  # real answers reach 23; sympy flattens long chains in quadratic time
MAX_SEQUENCE_LENGTH = 10_000  # (1, 2) * 99999999 is Python's tuple repetition: 7 s and 1.6 GB

# sympy evaluates numerically (mpmath) to decide integer parts (floor, ceiling, frac, //, %), orderings,
# Max/Min, signs and absolute values, at a precision that grows with the magnitude of every number inside
# (the integer part of exp(10^15) has 4e14 digits; sin(exp(10^15)) needs exp(10^15) to 4e14 digits).
# On an answer that can make sympy evaluate, every subexpression must stay within 10^(+-MAX_MAGNITUDE),
# inside the 110 digits sympy's evalf works to by default (DEFAULT_MAXPREC): floor(exp(230) sin(1)) or
# sign(sin(10^10)) take 1-5 ms; past it they take 15 ms to minutes (floor(exp(690) sin(1)): 97 s).
# Anything beyond is refused before building.
MAX_MAGNITUDE = 100.0


class TooCostly(Exception):
    """Building the expression could exceed the static cost bounds (reported as ``budget_exceeded``)."""
