"""Per-token statistics of the policy for a batch of responses, and their per-response reductions.

A statistic is one number per response token (``STATISTICS``: the sampled token's log-probability, the entropy
and the self-certainty of the next-token distribution; their definitions and sources: ``token.py``). A batch's
values travel as ``Ragged``: every response's tokens concatenated, with offsets, so that a step of 8192 responses of
3072 tokens reduces in a few vectorised passes (prefix sums, numpy) instead of Python loops. One implementation
serves every front end: veRL's jagged TransferQueue tensors, TRL's and ``verl-ext score``'s lists of numbers.

    tail mean  (1/m) * sum of the last m = ``token.tail_length(T, tail_fraction)`` of a response's T values
    sum        the sum of all T values
(None for a response without a value or with an invalid one anywhere.) ``REDUCTIONS`` names the per-response
values the token-level presets read (``Signals`` fields).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from verl_ext.rewards.token import TAIL_ROUNDING


def _finite_non_positive(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values <= 0)


def _finite_non_negative(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values >= 0)


STATISTICS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "logprobs": ("log p_t(y_t) of the sampled token: finite and <= 0", _finite_non_positive),
    "entropy": ("H_t of the next-token distribution: finite", np.isfinite),
    "self_certainty": ("logsumexp(z_t) - mean(z_t) of the logits: finite and >= 0", _finite_non_negative),
}
"""name -> (what it is, which values are valid)."""

REDUCTIONS: dict[str, tuple[str, str]] = {
    "mean_logprob": ("logprobs", "tail mean"),
    "sum_logprob": ("logprobs", "sum"),
    "mean_entropy": ("entropy", "tail mean"),
    "mean_self_certainty": ("self_certainty", "tail mean"),
}
"""``Signals`` field -> (statistic, reduction)."""


def _prefix(values: np.ndarray) -> np.ndarray:
    """Prefix sums with a leading 0: the sum over elements [a, b) is ``p[b] - p[a]``."""
    return np.concatenate([np.zeros(1, dtype=values.dtype), np.cumsum(values)])


@dataclass(frozen=True)
class Ragged:
    """Rows of different lengths, concatenated: row i is ``values[offsets[i]:offsets[i + 1]]`` (float64, int64)."""

    values: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[float]]) -> Ragged:
        """From one iterable of numbers per response (TRL's columns, ``verl-ext score``'s records)."""
        rows = [[float(v) for v in row] for row in rows]
        lengths = np.array([len(row) for row in rows], dtype=np.int64)
        flat = np.array([v for row in rows for v in row], dtype=np.float64)
        return cls(flat, _offsets(lengths))

    @classmethod
    def from_tensor(cls, values: Any) -> Ragged:
        """From a torch jagged nested tensor (what TransferQueue returns for ragged fields), a nested tensor, or a
        list of 1-D tensors or arrays: one row per response."""
        if getattr(values, "is_nested", False):
            if str(getattr(values, "layout", "")) == "torch.jagged":
                return cls(_array(values.values()), values.offsets().cpu().numpy().astype(np.int64))
            values = list(values.unbind())
        rows = [_array(row).reshape(-1) for row in values]
        lengths = np.array([row.shape[0] for row in rows], dtype=np.int64)
        return cls(np.concatenate(rows) if rows else np.zeros(0), _offsets(lengths))

    def masked(self, mask: Ragged) -> Ragged:
        """The values where ``mask`` (same shape) is non-zero: e.g. the response tokens of padded rows."""
        if not np.array_equal(self.offsets, mask.offsets):
            raise ValueError("a statistic and its mask differ in shape")
        kept = mask.values != 0
        counts = _prefix(kept.astype(np.int64))
        return Ragged(self.values[kept], counts[self.offsets])

    def take(self, rows: Sequence[int]) -> Ragged:
        """The rows at positions ``rows``, in that order."""
        pieces = [self.values[self.offsets[i] : self.offsets[i + 1]] for i in rows]
        lengths = np.array([len(piece) for piece in pieces], dtype=np.int64)
        return Ragged(np.concatenate(pieces) if pieces else np.zeros(0), _offsets(lengths))

    def row_sums(self) -> list[float]:
        sums = _prefix(self.values)
        return (sums[self.offsets[1:]] - sums[self.offsets[:-1]]).tolist()


def _array(values: Any) -> np.ndarray:
    """A float64 numpy copy of a torch tensor (any device and dtype) or an array-like."""
    if hasattr(values, "detach"):
        values = values.detach().to("cpu").double().numpy()
    return np.asarray(values, dtype=np.float64)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(lengths)])


def reduce(rows: Ragged, statistic: str, reduction: str, tail_fraction: float = 1.0) -> list[float | None]:
    """Each row's ``reduction`` ("tail mean": the mean of its last m = ceil(tail_fraction * T - 1e-9) values, at least
    one, ``token.tail_length``; "sum": the sum of all its values); None for a row without a value or with any value
    ``statistic`` does not allow (``STATISTICS``)."""
    if not 0.0 < tail_fraction <= 1.0:
        raise ValueError(f"tail_fraction must lie in (0, 1], got {tail_fraction}")
    valid = STATISTICS[statistic][1](rows.values)
    sums, bad = _prefix(np.where(valid, rows.values, 0.0)), _prefix((~valid).astype(np.int64))
    start, end = rows.offsets[:-1], rows.offsets[1:]
    counts = end - start
    if reduction == "sum":
        values = (sums[end] - sums[start]).tolist()
    elif reduction == "tail mean":
        tail = np.maximum(np.ceil(tail_fraction * counts - TAIL_ROUNDING), 1).astype(np.int64)
        tail = np.minimum(tail, np.maximum(counts, 1))
        values = ((sums[end] - sums[end - tail]) / tail).tolist()
    else:
        raise ValueError(f"unknown reduction {reduction!r}")
    invalid = ((bad[end] - bad[start]) > 0) | (counts == 0)
    return [None if broken else value for value, broken in zip(values, invalid.tolist())]


def why_invalid(rows: Ragged, statistic: str, row: int) -> str:
    """Why row ``row`` of ``statistic`` cannot be reduced: no value, or its first value the statistic does not allow."""
    values = rows.values[rows.offsets[row] : rows.offsets[row + 1]]
    if len(values) == 0:
        return f"no response token's {statistic}"
    bad = int(np.argmin(STATISTICS[statistic][1](values)))
    return f"its {statistic} at token {bad} is {values[bad]}, not {STATISTICS[statistic][0]}"


def tail_means(rows: Ragged, statistic: str, tail_fraction: float = 1.0) -> list[float | None]:
    """``reduce(rows, statistic, "tail mean", tail_fraction)``."""
    return reduce(rows, statistic, "tail mean", tail_fraction)
