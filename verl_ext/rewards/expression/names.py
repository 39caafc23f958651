"""The function names the format check knows, each family once; every other module composes from these.

Inert functions are number-theoretic and combinatorial: parsed as undefined sympy Functions (their value on a
large integer takes unbounded time in C), so their syntax is checked and nothing is computed. The elementary
functions are called as sympy's own objects, within the static bounds of ``cost.py`` and ``magnitude_bound.py``.
"""

from __future__ import annotations

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

ROOTS = ("sqrt", "cbrt", "root")
EXPONENTIAL = ("exp", "log", "ln")
CIRCULAR = ("sin", "cos", "tan", "cot", "sec", "csc")
INVERSE_CIRCULAR = ("asin", "acos", "atan", "acot", "asec", "acsc")
HYPERBOLIC = ("sinh", "cosh", "tanh", "coth", "sech", "csch")
INVERSE_HYPERBOLIC = ("asinh", "acosh", "atanh", "acoth", "asech", "acsch")
COMPLEX_PARTS = ("re", "im", "arg", "sign", "conjugate")
INTEGER_PARTS = ("floor", "ceiling", "frac")
EXTREMA = ("max", "min")

PERIODIC = CIRCULAR + HYPERBOLIC  # periodic along the real or the imaginary axis
INVERSE = INVERSE_CIRCULAR + INVERSE_HYPERBOLIC

# Every function vetted code may call besides the inert ones and the constructors (``whitelist.py``).
ELEMENTARY_FUNCTIONS = (
    ROOTS
    + EXPONENTIAL
    + CIRCULAR
    + INVERSE_CIRCULAR
    + ("atan2",)
    + HYPERBOLIC
    + INVERSE_HYPERBOLIC
    + COMPLEX_PARTS
    + INTEGER_PARTS
    + ("abs",)
    + EXTREMA
)

# The functions ``magnitude_bound._certainly_real`` takes as real-valued.
REAL_FUNCTIONS = frozenset(
    ("exp", "atan", "acot", "asinh", *INTEGER_PARTS, "abs", "re", "im", "arg", "sign", *EXTREMA, "atan2") + PERIODIC
)
