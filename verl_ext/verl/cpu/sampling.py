"""Next-token sampling with vLLM's sampling parameters, and the log-probabilities veRL's actor computes.

Contract of :func:`sample_next`: given logits ``[B, V]`` and one :class:`SamplingParams` for the batch,

* ``temperature == 0`` (or ``greedy``): argmax; log-prob under ``log_softmax(logits)``.
* otherwise ``scaled = logits / temperature``; top-k keeps the k largest (``top_k <= 0``: all), top-p keeps
  the smallest set of most probable tokens whose probability reaches ``top_p`` (always at least one); the
  token is drawn from the renormalised kept set. Its log-prob is under ``log_softmax(scaled)`` over the
  whole vocabulary: what veRL's actor computes for the same token (logits divided by the rollout
  temperature, no truncation), so rollout and actor log-probs are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class SamplingParams:
    """The subset of vLLM's sampling parameters veRL's agent loop sends."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int = 16
    ignore_eos: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    @classmethod
    def from_request(cls, params: dict[str, Any], max_tokens: int) -> SamplingParams:
        """From veRL's request dict; rejects values the sampler cannot honour (a clear error, not a guess)."""
        repetition_penalty = float(params.get("repetition_penalty", 1.0) or 1.0)
        if repetition_penalty != 1.0:
            raise ValueError(f"the CPU rollout supports repetition_penalty=1.0 only, got {repetition_penalty}")
        temperature = float(params.get("temperature", 1.0))
        top_p = float(params.get("top_p", 1.0))
        top_k = int(params.get("top_k", -1) if params.get("top_k") is not None else -1)
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        return cls(
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            max_tokens=int(max_tokens),
            ignore_eos=bool(params.get("ignore_eos", False)),
        )


def filter_top_k_top_p(scaled: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """``scaled`` with the tokens outside top-k / top-p set to ``-inf`` (at least one token kept per row)."""
    filtered = scaled
    vocab = scaled.shape[-1]
    if 0 < top_k < vocab:
        kth = torch.topk(filtered, top_k, dim=-1).values[..., -1:]
        filtered = filtered.masked_fill(filtered < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(filtered, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = torch.cumsum(probs, dim=-1) - probs
        drop_sorted = mass_before >= top_p  # the first token always has mass_before 0: kept
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        filtered = filtered.masked_fill(drop, float("-inf"))
    return filtered


def sample_next(
    logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(token ids ``[B]``, their log-probs ``[B]``) for one decoding step; see the module contract."""
    logits = logits.float()
    if params.greedy:
        tokens = torch.argmax(logits, dim=-1)
        log_probs = torch.log_softmax(logits, dim=-1)
    else:
        scaled = logits / params.temperature
        log_probs = torch.log_softmax(scaled, dim=-1)
        kept = filter_top_k_top_p(scaled, params.top_k, params.top_p)
        tokens = torch.multinomial(torch.softmax(kept, dim=-1), 1, generator=generator).squeeze(-1)
    return tokens, log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
