"""Per-token statistics of the policy for token-level rewards: self-certainty from logits, and the reader of the
per-token fields veRL 0.9.1's V1 trainer keeps in TransferQueue after its old-log-prob pass.

Self-certainty (Intuitor, "Learning to Reason without External Rewards", 2025) of the next-token distribution
``p_t = softmax(z_t / T)`` over the model's vocabulary of V logits ``z_t`` at sampling temperature ``T``:

    sc_t = logsumexp(z_t / T) - mean_v(z_t / T) = KL(U || p_t) + log V        (U: uniform over the V entries)

because KL(U || p) = sum_v (1/V) log((1/V) / p_v) = -log V - mean_v(z_v / T - logsumexp(z / T)). This is exactly
what Intuitor's veRL 0.4 fork computes per token (``verl/utils/torch_functional.py: self_certainty_from_logits``,
``torch.logsumexp(logits, -1) - logits.mean(-1)``, called in ``dp_actor._forward_micro_batch`` on logits already
divided in place by the temperature); the paper's formula is KL(U || p_t) itself, which differs by the constant
log V: a group-normalised (GRPO) advantage is the same for both. V is the size of the model's output layer
(padded vocabulary entries included, as in Intuitor). sc_t >= log V, with equality for the uniform distribution.
Intuitor's TRL variant (``open_r1/intuitor_trainer.py: _get_per_token_self_certainty``) uses the logits without
the temperature; verl-ext divides by it in both front ends, as veRL does for the log-probs and the entropy.

TransferQueue fields after ``PPOTrainer._compute_old_log_prob`` (one row per rollout, one value per response
position; ``response_mask`` = 1 for the tokens the policy generated, 0 for tool/observation tokens):
``old_log_probs`` and ``entropy`` (veRL), ``self_certainty`` (verl-ext's actor engine, only when asked for:
:mod:`verl_ext.verl.actor_engine`), ``response_mask``; the rollout's own ``rollout_log_probs`` (with
``actor_rollout_ref.rollout.calculate_log_probs``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

SELF_CERTAINTY = "self_certainty"
ENTROPY = "entropy"
OLD_LOG_PROBS = "old_log_probs"
ROLLOUT_LOG_PROBS = "rollout_log_probs"
RESPONSE_MASK = "response_mask"
ADVANTAGES = "advantages"
# the non-tensor flag the trainer puts in the old-log-prob batch's extra_info; veRL hands extra_info to the engine
# as non-tensor data of every micro-batch (as it does calculate_entropy and calculate_sum_pi_squared)
SELF_CERTAINTY_FLAG = "calculate_self_certainty"

# the per-token fields a token-level reward may read, and who writes each (for the error naming a missing one)
WRITERS = {
    OLD_LOG_PROBS: "veRL's old-log-prob pass (PPOTrainer._compute_old_log_prob)",
    ENTROPY: "veRL's old-log-prob pass (PPOTrainer._compute_old_log_prob; not in rollout-correction bypass mode)",
    SELF_CERTAINTY: "verl-ext's actor engine in the old-log-prob pass of trainer.v1.trainer_mode=verl_ext_sync, "
    "when the reward preset needs it (or trainer.v1.sampler.sampler_kwargs.self_certainty=true)",
    ROLLOUT_LOG_PROBS: "the rollout, with actor_rollout_ref.rollout.calculate_log_probs=true",
    RESPONSE_MASK: "veRL's agent loop",
    ADVANTAGES: "veRL's advantage step (PPOTrainer._compute_advantage, after the reward stage)",
}

DEFAULT_CHUNK_ROWS = 512  # 512 x 152k fp32 logits = 311 MB of temporary memory per chunk


def self_certainty_from_logits(
    logits: torch.Tensor, temperature: torch.Tensor | float | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> torch.Tensor:
    """``logsumexp(z / T) - mean(z / T)`` over the last dimension of ``logits`` (see the module doc), in float32.

    ``temperature``: None or 1 (no scaling), a number, or a tensor broadcastable to ``logits.shape[:-1]`` (one
    temperature per position). Computed ``chunk_rows`` positions at a time, without gradient, so that the extra
    memory is one chunk, never a second copy of the full logits."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    positions = logits.shape[:-1]
    flat = logits.reshape(-1, logits.shape[-1])
    scale = None
    if temperature is not None and not (isinstance(temperature, (int, float)) and temperature == 1):
        scale = torch.as_tensor(temperature, dtype=torch.float32, device=logits.device).expand(positions).reshape(-1)
        if not bool((scale > 0).all()):
            raise ValueError("temperature must be > 0")
    out = torch.empty(flat.shape[0], dtype=torch.float32, device=logits.device)
    with torch.no_grad():
        for start in range(0, flat.shape[0], chunk_rows):
            z = flat[start : start + chunk_rows].float()
            if scale is not None:
                z = z / scale[start : start + chunk_rows].unsqueeze(-1)
            out[start : start + chunk_rows] = torch.logsumexp(z, dim=-1) - z.mean(dim=-1)
    return out.reshape(positions)


def _rows(values: Any) -> list[torch.Tensor]:
    """Per-rollout 1-D tensors of a jagged field (TransferQueue returns nested tensors for ragged fields)."""
    if isinstance(values, torch.Tensor) and values.is_nested:
        return list(values.unbind())
    return [torch.as_tensor(row) for row in values]


KVBatchGet = Callable[..., Any]


def token_statistics(
    keys: Sequence[str], partition_id: str, kv_batch_get: KVBatchGet, names: Sequence[str]
) -> dict[str, list[torch.Tensor]]:
    """The per-token fields ``names`` of the rollouts ``keys``, read from TransferQueue in one call: for each name,
    one float32 1-D tensor per key (in ``keys`` order) holding the values at the response tokens the policy
    generated (``response_mask`` = 1), in order. ``response_mask`` itself may be asked for: its full rows.

    ``kv_batch_get(keys=, partition_id=, select_fields=)``: TransferQueue's. Raises ValueError naming the field
    and its writer when TransferQueue lacks one, and when a row's length differs from its response mask's."""
    names = list(dict.fromkeys(names))
    unknown = [name for name in names if name not in WRITERS]
    if unknown:
        raise ValueError(f"unknown per-token field(s) {unknown}: known are {sorted(WRITERS)}")
    if not keys:
        return {name: [] for name in names}
    fields = list(dict.fromkeys([*names, RESPONSE_MASK]))
    try:
        data = kv_batch_get(keys=list(keys), partition_id=partition_id, select_fields=fields)
    except Exception as error:
        raise ValueError(
            f"TransferQueue could not return the per-token fields {fields} of {len(keys)} rollouts "
            f"({type(error).__name__}: {error}); writers: " + "; ".join(f"{n}: {WRITERS[n]}" for n in fields)
        ) from error
    present = set(data.keys()) if hasattr(data, "keys") else set()
    missing = [name for name in fields if name not in present]
    if missing:
        raise ValueError(
            "TransferQueue holds no " + ", ".join(f"{name!r} (written by {WRITERS[name]})" for name in missing)
        )
    masks = [row.bool() for row in _rows(data[RESPONSE_MASK])]
    if len(masks) != len(keys):
        raise ValueError(f"TransferQueue returned {len(masks)} response masks for {len(keys)} keys")
    out: dict[str, list[torch.Tensor]] = {}
    for name in names:
        if name == RESPONSE_MASK:
            out[name] = [mask.long() for mask in masks]
            continue
        rows = _rows(data[name])
        for key, row, mask in zip(keys, rows, masks, strict=True):
            if row.shape != mask.shape:
                raise ValueError(
                    f"{name!r} of rollout {key!r} has {tuple(row.shape)} values for a response mask of "
                    f"{tuple(mask.shape)}"
                )
        out[name] = [row.float()[mask] for row, mask in zip(rows, masks, strict=True)]
    return out
