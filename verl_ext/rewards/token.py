"""Token-level label-free rewards: the score of a response is a function of the policy's own next-token
distributions p_t over its T response tokens (t = 1..T). This module states their formulas and sources, the tail
rule, the non-negative forms they are format-gated in, and a plain-math reference of the per-token statistics
(what an engine's vectorised version is tested against). The batch reductions are ``token_stats.py``'s, the presets
``registry.py``'s; no veRL or TRL here.

Per-token statistics (what the engine must provide, for response tokens only, padding masked out):

    log-prob         log p_t(y_t) of the sampled token y_t
    entropy          H_t = -sum_v p_t(v) ln p_t(v)                       (veRL's per-token ``entropy``)
    self-certainty   c_t = logsumexp(z_t) - mean_v(z_t) = KL(U || p_t) + ln V

with z_t the logits row (V = its width, every row of the LM head, padding rows included), divided by the
sampling temperature before any of the three, as veRL's actor does for log-probs and entropy
(``_scale_logits_by_temperature`` in ``verl/workers/engine/fsdp/transformer_impl.py``, veRL 0.9.1).
``token_statistics`` is the plain-math reference of entropy and self-certainty for one logits row.

Rewards (natural logs; "tail" = the last m = ``tail_length(T, f)`` tokens, f = ``tail_fraction`` in (0, 1]):

    self_certainty   (1/m) sum_tail c_t                  Intuitor; >= ln V > 0
    token_entropy    -(1/m) sum_tail H_t                 RENT, EM-RL (token); <= 0
    probability      exp(sum_{t=1..T} log p_t(y_t))      URLVR; the response's probability, in [0, 1]
    self_confidence  (1/m) sum_tail log p_t(y_t)         URLVR's trajectory_level_entropy

Format gating (``group.format_gated``, F * r) needs r >= 0, so that an unformatted response (0) ranks below
every formatted one; ``gateable`` gives the form each is gated in: self_certainty and probability as they are
(both >= 0), token_entropy as exp(-mean H) in (0, 1] (the inverse geometric-mean perplexity), self_confidence
as exp(mean log p) (as ``format_gated_self_confidence`` already is).

Sources (facts checked in the authors' code; none of it copied):
- Intuitor (Zhao et al., 2025, "Learning to Reason without External Rewards", arXiv:2505.19590;
  sunblaze-ucb/Intuitor at 3f0cdd7). veRL fork: ``verl-intuitor/verl/utils/torch_functional.py``
  ``self_certainty_from_logits`` = logsumexp(logits) - logits.mean(-1) per token, called in
  ``verl-intuitor/verl/workers/actor/dp_actor.py`` ``_forward_micro_batch`` on the logits AFTER
  ``logits.div_(temperature)`` (rollout temperature, ``fsdp_workers.compute_log_prob``); no ln V is subtracted
  (a constant per model, removed by the group normalisation of GRPO). The reward is the masked mean over
  response tokens (``ray_trainer.compute_advantage``, ``AdvantageEstimator.INTUITOR``). Their TRL variant
  (``open-r1-intuitor/src/open_r1/intuitor_trainer.py`` ``_get_per_token_self_certainty``) says the same
  ("we add constant logV") but applies it to logits NOT divided by the temperature.
- RENT (Prabhudesai et al., 2025, "Maximizing Confidence Alone Improves Reasoning", arXiv:2505.22660;
  satrams/rent-rl at 5d4d38a): ``verl/trainer/ppo/ray_trainer.py`` rewards -mean(entropy) over all valid
  response tokens (with ``trainer.base_format``, a response without an extracted answer gets
  -``entropy_base`` = -7.0 instead). The paper and its page (rent-rl.github.io) report that the entropy of
  the tokens near the end of the response, the last third, correlates best with accuracy; the released code
  does not implement a tail, so ceil(f * T) is this project's rule.
- EM-RL (Agarwal et al., 2025, "The Unreasonable Effectiveness of Entropy Minimization in LLM Reasoning",
  arXiv:2505.15134; chotkrin/EM_PT at 8428ba9): ``EM-RL/verl/verl/workers/reward_manager/emrl_token_manager.py`` rewards
  -mean(entropy) over valid response tokens; ``emrl_sequence_manager.py`` the mean of ``old_log_probs``.
- URLVR (He et al., 2026, "How Far Can Unsupervised RLVR Scale LLM Training?", ICLR 2026, arXiv:2603.08660;
  PRIME-RL/TTRL at c46b671) ``verl/verl/trainer/ppo/ttrl_utils.py`` ``compute_certainty_reward``, with
  ``masked_mean(v, m) = sum(v m) / (sum(m) + 1e-8)`` and ``masked_sum = sum(v m)`` over ``response_mask``:
  ``self_certainty`` masked_mean(self_certaintys) (Intuitor's statistic, temperature-scaled logits, no ln V);
  ``token_level_entropy`` masked_mean(-entropys); ``trajectory_level_entropy`` masked_mean(old_log_probs);
  ``probability`` exp(masked_sum(old_log_probs)). Each is written at the last response token.
  ``trajectory_level_entropy`` is ``self_confidence``'s formula: its negative is the Monte-Carlo estimate of
  the per-token entropy. Here the log-probs are the rollout's (vLLM's ``processed_logprobs``: temperature,
  top-p/top-k applied), there the actor's recomputed ``old_log_probs`` (temperature only): equal up to
  numerics when top_p = 1 and top_k = -1.

Numerics: ``probability`` underflows to 0.0 once the summed log-prob is below about -745 (a few hundred
tokens), as in URLVR; entropies may be slightly negative from round-off in low precision and are taken as
they are (only non-finite ones are refused).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

RENT_TAIL_FRACTION = 1.0 / 3.0
"""The last third of the response: the fraction RENT's paper reports works best."""

TAIL_ROUNDING = 1e-9
"""f * T is lowered by this before ceil, so that float round-off does not add a token: 0.55 * 100 is
55.00000000000001 in floats, and 55 tokens, not 56, are its last 55%."""


def tail_length(tokens: int, tail_fraction: float) -> int:
    """m = ceil(f * T), at least 1: how many of the last tokens a tail fraction f of T tokens covers."""
    if not 0.0 < tail_fraction <= 1.0:
        raise ValueError(f"tail_fraction must lie in (0, 1], got {tail_fraction}")
    if tokens < 1:
        raise ValueError(f"a response needs at least one token, got {tokens}")
    return max(1, math.ceil(tail_fraction * tokens - TAIL_ROUNDING))


def _floats(values: Iterable[Any], what: str) -> list[float]:
    """The values as floats; refused: a string, an empty sequence, a non-finite value (named by position)."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what}: expected a sequence of numbers, got {type(values).__name__}")
    out = []
    for i, value in enumerate(values):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{what}: token {i} is {number} (every per-token value must be finite)")
        out.append(number)
    if not out:
        raise ValueError(f"{what}: no response tokens (a token-level reward needs at least one)")
    return out


def _identity(value: float) -> float:
    return value


GATE_TRANSFORMS: dict[str, Callable[[float], float]] = {
    "self_certainty": _identity,  # >= ln V > 0 already
    "probability": _identity,  # in [0, 1] already
    "token_entropy": math.exp,  # -mean H <= 0 -> exp(-mean H) in (0, 1]
    "self_confidence": math.exp,  # mean log p <= 0 -> exp(mean log p) in (0, 1]
}
"""The non-negative form in which each token-level reward is format-gated (F * form)."""


def gateable(reward: str, value: float) -> float:
    """The form of ``reward``'s value that ``group.format_gated`` multiplies by the format verdict (>= 0)."""
    if reward not in GATE_TRANSFORMS:
        raise ValueError(f"no gating form for {reward!r}; known: {', '.join(sorted(GATE_TRANSFORMS))}")
    return GATE_TRANSFORMS[reward](value)


class TokenStatistics(NamedTuple):
    """Entropy and self-certainty of one next-token distribution (nats)."""

    entropy: float
    self_certainty: float


def token_statistics(logits: Sequence[float] | Iterable[Any], temperature: float = 1.0) -> TokenStatistics:
    """The reference for the engine's vectorised statistics, from one logits row z (V >= 1 values).

    With z' = z / temperature, L = logsumexp(z') and p = softmax(z'):
        entropy        H = L - sum_v p_v z'_v          (= -sum_v p_v ln p_v; veRL's ``entropy_from_logits``)
        self-certainty c = L - (1/V) sum_v z'_v         (= KL(U || p) + ln V; Intuitor's, temperature-scaled)
    """
    if not (temperature > 0.0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    z = [v / temperature for v in _floats(logits, "logits")]
    top = max(z)
    total = math.fsum(math.exp(v - top) for v in z)
    lse = top + math.log(total)
    expected_logit = math.fsum(math.exp(v - top) / total * v for v in z)
    return TokenStatistics(entropy=lse - expected_logit, self_certainty=lse - math.fsum(z) / len(z))


def token_logprob(logits: Sequence[float] | Iterable[Any], token: int, temperature: float = 1.0) -> float:
    """log p(token) = z'_token - logsumexp(z'), z' = z / temperature: the log-prob veRL's actor records."""
    if not (temperature > 0.0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    z = [v / temperature for v in _floats(logits, "logits")]
    if not 0 <= token < len(z):
        raise ValueError(f"token {token} is outside the vocabulary of {len(z)} logits")
    top = max(z)
    return z[token] - (top + math.log(math.fsum(math.exp(v - top) for v in z)))
