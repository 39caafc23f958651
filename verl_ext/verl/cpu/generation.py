"""Batched token-in/token-out generation with a Hugging Face causal LM on the CPU.

:func:`generate_batch` decodes several prompts at once (left padding, one KV cache) with one
:class:`~verl_ext.verl.cpu.sampling.SamplingParams`; each row stops at its first EOS token (kept in the
output, as vLLM does) or after ``max_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from verl_ext.verl.cpu.sampling import SamplingParams, sample_next


@dataclass
class Generated:
    """One completion: token ids, the log-prob of each, and why it stopped (``stop`` or ``length``)."""

    token_ids: list[int]
    log_probs: list[float]
    finish_reason: str


def left_pad(prompts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids ``[B, L]``, attention mask ``[B, L]``), prompts right-aligned."""
    width = max(len(prompt) for prompt in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        if prompt:
            ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
    return ids, mask


@torch.no_grad()
def generate_batch(
    model: torch.nn.Module,
    prompts: list[list[int]],
    params: SamplingParams,
    eos_ids: set[int],
    pad_id: int,
    generator: torch.Generator | None = None,
) -> list[Generated]:
    """Generate one completion per prompt (see the module contract)."""
    if any(not prompt for prompt in prompts):
        raise ValueError("every prompt needs at least one token")
    input_ids, mask = left_pad(prompts, pad_id)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    outputs = [Generated([], [], "length") for _ in prompts]
    active = torch.ones(len(prompts), dtype=torch.bool)
    past = None
    step_ids, step_positions = input_ids, positions
    for _ in range(params.max_tokens):
        result = model(
            input_ids=step_ids, attention_mask=mask, position_ids=step_positions, past_key_values=past, use_cache=True
        )
        past = result.past_key_values
        tokens, log_probs = sample_next(result.logits[:, -1, :], params, generator)
        for row in torch.nonzero(active).flatten().tolist():
            token = int(tokens[row])
            outputs[row].token_ids.append(token)
            outputs[row].log_probs.append(float(log_probs[row]))
            if token in eos_ids and not params.ignore_eos:
                outputs[row].finish_reason = "stop"
                active[row] = False
        if not bool(active.any()):
            break
        step_ids = torch.where(active, tokens, torch.full_like(tokens, pad_id)).unsqueeze(-1)
        mask = torch.cat([mask, torch.ones((len(prompts), 1), dtype=mask.dtype)], dim=-1)
        step_positions = step_positions[:, -1:] + 1
    return outputs
