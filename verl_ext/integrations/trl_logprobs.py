"""Log-probability presets under TRL: the sampled completions' token log-probabilities, computed for the reward.

TRL 1.16 passes a reward function no log-probabilities (``GRPOTrainer._calculate_rewards`` gives it the
dataset columns, ``completion_ids``, ``trainer_state``, ``log_extra`` and ``log_metric``; transformers
generation keeps no log-probs, and the vLLM sampling log-probs and ``old_per_token_logps`` stay inside the
trainer; only a ``rollout_func``'s extra fields reach reward functions). ``WithPolicyLogprobs`` wraps a
reward function and fills its ``completion_logprobs`` column with one no-grad forward pass of the policy:

    log p(c_t) = log_softmax(logits_t / T)[c_t]     for every completion token c_t (EOS included),

with ``logits_t`` the policy's logits at the position before c_t given prompt + c_<t and ``T`` the sampling
temperature (TRL divides by it too). The reward is called right after generation, before the step's update,
so the policy is the one that sampled the completions. Prompts are tokenized as TRL tokenizes plain-text
prompts (``tokenizer(text=prompts)["input_ids"]``); conversational prompts are not supported here.
Cost: one forward pass over the batch (the tiny demo model: milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from verl_ext.integrations.trl import LOGPROBS_KEY


def sampled_token_logprobs(
    model,
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    temperature: float = 1.0,
) -> list[list[float]]:
    """Per completion, the log-probability under ``model`` of each of its tokens (see the module docstring).

    Sequences are right-padded into one batch (the attention mask hides the padding; positions count from each
    sequence's start). ValueError for an empty completion, mismatched lengths or a temperature <= 0."""
    import torch

    if len(prompt_ids) != len(completion_ids):
        raise ValueError(f"{len(prompt_ids)} prompts for {len(completion_ids)} completions")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if any(len(ids) == 0 for ids in completion_ids) or any(len(ids) == 0 for ids in prompt_ids):
        raise ValueError("every prompt and completion needs at least one token")
    sequences = [list(p) + list(c) for p, c in zip(prompt_ids, completion_ids)]
    width = max(len(seq) for seq in sequences)
    input_ids = torch.zeros((len(sequences), width), dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits.float()
    finally:
        model.train(was_training)
    out = []
    for row, (prompt, completion) in enumerate(zip(prompt_ids, completion_ids)):
        # only the positions that predict a completion token (log-softmax is per position): [len(c), V], not [L, V]
        predicting = logits[row, len(prompt) - 1 : len(prompt) + len(completion) - 1]
        tokens = torch.tensor(list(completion), dtype=torch.long, device=logits.device)
        logprobs = torch.log_softmax(predicting / temperature, dim=-1)
        out.append(logprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).tolist())
    return out


class WithPolicyLogprobs:
    """A TRL reward function that calls ``reward`` with the column ``completion_logprobs`` (``sampled_token_logprobs``
    of each completion under ``model``). ``model`` is the policy: bind it (``bind``) once the trainer holds it."""

    def __init__(self, reward: Callable[..., list[float]], tokenizer: Any, temperature: float = 1.0) -> None:
        self.reward = reward
        self.tokenizer = tokenizer
        self.temperature = temperature
        # the column the wrapped reward reads (a PresetReward's own logprobs_key)
        self.logprobs_key = getattr(reward, "logprobs_key", LOGPROBS_KEY)
        self.model = None
        self.__name__ = getattr(reward, "__name__", "reward")  # TRL's name for the function

    def bind(self, model: Any) -> WithPolicyLogprobs:
        self.model = model
        return self

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        if self.model is None:
            raise ValueError("WithPolicyLogprobs: bind the policy model first (wrapper.bind(trainer.model))")
        if completion_ids is None:
            raise ValueError("WithPolicyLogprobs needs completion_ids (TRL passes them)")
        if not all(isinstance(p, str) for p in prompts):
            raise ValueError(
                "WithPolicyLogprobs supports plain-text prompts only (TRL tokenizes conversational ones with a chat template)"
            )
        prompt_ids = self.tokenizer(text=list(prompts))["input_ids"]
        kwargs[self.logprobs_key] = sampled_token_logprobs(self.model, prompt_ids, completion_ids, self.temperature)
        return self.reward(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs)


__all__ = ["WithPolicyLogprobs", "sampled_token_logprobs"]
