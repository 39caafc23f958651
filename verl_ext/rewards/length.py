"""Length reward: a shaped bonus on the response's share of the token budget.

With x = min(tokens, max_tokens) / max_tokens and peak p in (0, 1):

    L(x) = 1 - (1 - x / p) ** 2              for x <= p   (rises from L(0) = 0 to L(p) = 1)
    L(x) = 1 - 2 * ((x - p) / (1 - p)) ** 2  for x >  p   (falls to L(1) = -1: a truncated response)
"""

from __future__ import annotations

import math
from numbers import Real

DEFAULT_PEAK = 0.5


def validate_length_args(response_tokens: float, max_response_tokens: float, peak: float) -> None:
    """Raise ValueError naming the bad argument (negative tokens, max <= 0, peak outside (0, 1))."""
    if type(response_tokens) is int and type(max_response_tokens) is int and type(peak) is float:
        if response_tokens >= 0 and max_response_tokens > 0 and 0.0 < peak < 1.0:
            return  # the common case, without the abstract-number checks below
    for name, value in (
        ("response_tokens", response_tokens),
        ("max_response_tokens", max_response_tokens),
        ("peak", peak),
    ):
        if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value):
            raise ValueError(f"{name} must be a number, got {value!r}")
    if response_tokens < 0:
        raise ValueError(f"response_tokens must be >= 0, got {response_tokens}")
    if max_response_tokens <= 0:
        raise ValueError(f"max_response_tokens must be > 0, got {max_response_tokens}")
    if not 0.0 < peak < 1.0:
        raise ValueError(f"peak must lie strictly between 0 and 1, got {peak}")


def length_reward(response_tokens: float, max_response_tokens: float, peak: float = DEFAULT_PEAK) -> float:
    """L(x) above; tokens beyond the maximum count as x = 1."""
    validate_length_args(response_tokens, max_response_tokens, peak)
    x = min(float(response_tokens), float(max_response_tokens)) / float(max_response_tokens)
    if x <= peak:
        return 1.0 - (1.0 - x / peak) ** 2
    return 1.0 - 2.0 * ((x - peak) / (1.0 - peak)) ** 2


def is_truncated(response_tokens: float, max_response_tokens: float) -> bool:
    """A response that used the whole token budget was cut off by the generator."""
    return response_tokens >= max_response_tokens
