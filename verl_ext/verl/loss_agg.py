"""The paper's policy loss as veRL 0.2 computed it, registered in veRL 0.9.1's policy-loss registry.

Select with ``actor_rollout_ref.actor.policy_loss.loss_mode=verl02_micro_token_mean`` (the recipe does);
``...loss_mode=vanilla`` is veRL 0.9.1's default.

veRL 0.2's ``dp_actor.py`` (the release's actor, ``use_dynamic_bsz=True``) takes, per micro-batch ``m`` of a
rank's share of the mini-batch, the token mean of the clipped surrogate and scales it by the micro-batch's
share of the rank's sequences::

    loss_m = masked_mean(max(-A * r, -A * clip(r, 1 - eps, 1 + eps))) * n_m / (B / dp)

with ``B`` the mini-batch's sequences (ppo_mini_batch_size x rollout.n) and ``dp`` the data-parallel ranks, whose
gradients FSDP averages. A token of micro-batch ``m`` so weighs ``n_m / (B * T_m)`` (``T_m`` its micro-batch's
response tokens); veRL 0.9.1's ``token-mean`` weighs every token of the mini-batch ``1 / T``. No dual clip
(veRL 0.2 had none; 0.9.1's vanilla loss bounds negative-advantage ratios by ``clip_ratio_c``) and no clamp of
the log-ratio.

The release weighted its entropy and KL terms the same way (they were part of ``policy_loss`` before the
scaling). veRL 0.9.1's ``ppo_loss`` (``verl.workers.utils.losses``) adds them after calling the policy loss, with
``agg_loss(..., loss_agg_mode, **config.global_batch_info)``, whose ``token-mean`` is
``sum / batch_num_tokens * dp_size``. So this loss sets ``config.global_batch_info["batch_num_tokens"]`` of the
current micro-batch to ``T_m * B / n_m``: both terms then get the release's weight ``n_m * dp / (B * T_m)``
too. ``ppo_loss`` sets ``global_batch_info`` afresh for every micro-batch; tests/test_loss_agg.py checks the
three terms' gradients through veRL 0.9.1's own ``ppo_loss`` (verl-ext pins veRL < 0.10).
"""

from __future__ import annotations

from typing import Any

import torch
from verl.trainer.ppo.core_algos import register_policy_loss
from verl.utils.torch_functional import masked_mean

RELEASE_POLICY_LOSS = "verl02_micro_token_mean"


def release_micro_batch_weight(micro_batch_sequences: int, global_batch_size: int, dp_size: int) -> float:
    """n_m / (B / dp): the micro-batch's share of its rank's mini-batch sequences (veRL 0.2, dynamic batch size)."""
    if global_batch_size <= 0 or dp_size <= 0:
        raise ValueError(f"global_batch_size and dp_size must be positive, got {global_batch_size}, {dp_size}")
    return micro_batch_sequences * dp_size / global_batch_size


def clipped_surrogate(
    old_log_prob: torch.Tensor, log_prob: torch.Tensor, advantages: torch.Tensor, clip_low: float, clip_high: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token ``max(-A r, -A clip(r, 1-clip_low, 1+clip_high))``, the clipped mask and ``old - new`` log-ratio."""
    log_ratio = log_prob - old_log_prob
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    return torch.maximum(unclipped, clipped), torch.gt(clipped, unclipped), -log_ratio


@register_policy_loss(RELEASE_POLICY_LOSS)  # type: ignore[arg-type]
def compute_policy_loss_verl02(
    old_log_prob: torch.Tensor,
    log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    loss_agg_mode: str = "token-mean",
    config: Any = None,
    rollout_is_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """veRL 0.2's clipped policy loss of one micro-batch, weighted as its dynamic-batch actor weighs it.

    ``loss_agg_mode`` must be ``token-mean`` (the entropy and KL terms' aggregation, rescaled here: see the
    module); ``config.global_batch_info`` must carry ``global_batch_size`` and ``dp_size``, as veRL 0.9.1's
    engine-based actor (``ppo_loss``) sets them.
    """
    if config is None:
        raise ValueError(f"policy loss '{RELEASE_POLICY_LOSS}' needs the actor config")
    if loss_agg_mode != "token-mean":
        raise ValueError(f"policy loss '{RELEASE_POLICY_LOSS}' needs loss_agg_mode=token-mean, got {loss_agg_mode!r}")
    if rollout_is_weights is not None:
        raise ValueError(f"policy loss '{RELEASE_POLICY_LOSS}' reproduces veRL 0.2, which had no rollout correction")
    info = config.global_batch_info
    global_batch_size, dp_size = info.get("global_batch_size"), info.get("dp_size")
    if global_batch_size is None or dp_size is None:
        raise ValueError(
            f"policy loss '{RELEASE_POLICY_LOSS}' needs global_batch_size and dp_size in config.global_batch_info "
            "(set by veRL 0.9.1's engine-based actor, trainer.use_v1=true)"
        )
    clip = config.clip_ratio
    clip_low = config.clip_ratio_low if config.clip_ratio_low is not None else clip
    clip_high = config.clip_ratio_high if config.clip_ratio_high is not None else clip
    per_token, was_clipped, neg_log_ratio = clipped_surrogate(old_log_prob, log_prob, advantages, clip_low, clip_high)
    mask = response_mask.to(per_token.dtype)
    sequences = response_mask.shape[0]
    weight = release_micro_batch_weight(sequences, int(global_batch_size), int(dp_size))
    pg_loss = masked_mean(per_token, mask) * weight
    # The entropy and KL terms that ppo_loss aggregates next (token-mean): the same per-micro-batch weight.
    tokens = max(float(mask.sum()), 1.0)
    info["batch_num_tokens"] = tokens * int(global_batch_size) / sequences
    metrics = {
        "actor/pg_clipfrac": masked_mean(was_clipped.float(), mask).detach().item(),
        "actor/ppo_kl": masked_mean(neg_log_ratio, mask).detach().item(),
    }
    return pg_loss, metrics
