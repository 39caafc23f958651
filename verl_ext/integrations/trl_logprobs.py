"""Token-level presets under TRL: the sampled completions' per-token statistics, computed for the reward.

TRL 1.16 passes a reward function no log-probabilities and no logits (``GRPOTrainer._calculate_rewards`` gives it the
dataset columns, ``completion_ids``, ``trainer_state``, ``log_extra`` and ``log_metric``; transformers generation
keeps no log-probs, and the vLLM sampling log-probs and ``old_per_token_logps`` stay inside the trainer; only a
``rollout_func``'s extra fields reach reward functions). ``WithPolicyLogprobs`` wraps a reward function and fills
its columns with one no-grad forward pass of the policy, from the logits ``z_t`` at the position before each
completion token c_t (given prompt + c_<t), divided by the sampling temperature ``T`` (TRL divides by it too):

    completion_logprobs         log p(c_t) = log_softmax(z_t / T)[c_t]
    completion_entropy          H(p_t) = logsumexp(z_t / T) - sum_v p_t,v z_t,v / T
    completion_self_certainty   logsumexp(z_t / T) - mean_v(z_t / T) = KL(U || p_t) + log V   (Intuitor; see
                                verl_ext.verl.token_stats: the same statistic veRL's actor computes)

for every completion token (EOS included), with ``p_t = softmax(z_t / T)`` over the model's V output logits. The
reward is called right after generation, before the step's update, so the policy is the one that sampled the
completions. Prompts are tokenized as TRL tokenizes plain-text prompts (``tokenizer(text=prompts)["input_ids"]``);
conversational prompts are not supported here. Cost: one forward pass over the batch, measured per step on the
demo's tiny model by ``benchmarks/bench_token_stats.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from verl_ext.integrations.trl import LOGPROBS_KEY, TOKEN_COLUMNS

LOGPROBS, ENTROPY, SELF_CERTAINTY = "logprobs", "entropy", "self_certainty"
ENTROPY_KEY, SELF_CERTAINTY_KEY = TOKEN_COLUMNS[ENTROPY], TOKEN_COLUMNS[SELF_CERTAINTY]
STATISTICS = (LOGPROBS, ENTROPY, SELF_CERTAINTY)
# veRL's names of the same per-token fields (a preset's ``token_statistics``), as TRL computes them here
ALIASES = {"old_log_probs": LOGPROBS, "rollout_log_probs": LOGPROBS}


def completion_token_statistics(
    model,
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    temperature: float = 1.0,
    statistics: Sequence[str] = (LOGPROBS,),
) -> dict[str, list[list[float]]]:
    """Per statistic of ``statistics`` (``logprobs``, ``entropy``, ``self_certainty``), per completion, its value at
    each completion token under ``model`` (see the module docstring), from one forward pass without gradient.

    Sequences are right-padded into one batch (the attention mask hides the padding; positions count from each
    sequence's start). ValueError for an empty completion, mismatched lengths, a temperature <= 0 or an unknown
    statistic."""
    import torch

    from verl_ext.verl.token_stats import self_certainty_from_logits

    unknown = [name for name in statistics if name not in STATISTICS]
    if unknown:
        raise ValueError(f"unknown token statistic(s) {unknown}: choose from {list(STATISTICS)}")
    if len(prompt_ids) != len(completion_ids):
        raise ValueError(f"{len(prompt_ids)} prompts for {len(completion_ids)} completions")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if any(len(ids) == 0 for ids in completion_ids) or any(len(ids) == 0 for ids in prompt_ids):
        raise ValueError("every prompt and completion needs at least one token")
    sequences = [list(p) + list(c) for p, c in zip(prompt_ids, completion_ids, strict=True)]
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
    out: dict[str, list[list[float]]] = {name: [] for name in statistics}
    for row, (prompt, completion) in enumerate(zip(prompt_ids, completion_ids, strict=True)):
        # only the positions that predict a completion token (per-position statistics): [len(c), V], not [L, V]
        scaled = logits[row, len(prompt) - 1 : len(prompt) + len(completion) - 1] / temperature
        logprobs = torch.log_softmax(scaled, dim=-1)
        if LOGPROBS in out:
            tokens = torch.tensor(list(completion), dtype=torch.long, device=logits.device)
            out[LOGPROBS].append(logprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).tolist())
        if ENTROPY in out:
            out[ENTROPY].append((-(logprobs.exp() * logprobs).sum(-1)).tolist())
        if SELF_CERTAINTY in out:
            out[SELF_CERTAINTY].append(self_certainty_from_logits(scaled).tolist())
    return out


def sampled_token_logprobs(
    model,
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    temperature: float = 1.0,
) -> list[list[float]]:
    """Per completion, the log-probability under ``model`` of each of its tokens (``completion_token_statistics``'s
    ``logprobs``)."""
    return completion_token_statistics(model, prompt_ids, completion_ids, temperature, (LOGPROBS,))[LOGPROBS]


class WithPolicyLogprobs:
    """A TRL reward function that calls ``reward`` with per-token columns of each completion under ``model`` (see the
    module doc), all from one forward pass. ``statistics``: which (``logprobs``, ``entropy``, ``self_certainty``;
    veRL's ``old_log_probs`` / ``rollout_log_probs`` mean ``logprobs``); default: the wrapped reward's own
    ``token_statistics`` when it has them, else ``logprobs``. Columns: the reward's ``logprobs_key`` /
    ``entropy_key`` / ``self_certainty_key`` when it has them, else ``completion_logprobs`` / ``completion_entropy``
    / ``completion_self_certainty``. ``model`` is the policy: bind it (``bind``) once the trainer holds it."""

    def __init__(
        self,
        reward: Callable[..., list[float]],
        tokenizer: Any,
        temperature: float = 1.0,
        statistics: Sequence[str] | None = None,
    ) -> None:
        self.reward = reward
        self.tokenizer = tokenizer
        self.temperature = temperature
        wanted = statistics if statistics is not None else getattr(reward, "token_statistics", None) or (LOGPROBS,)
        self.statistics = tuple(dict.fromkeys(ALIASES.get(name, name) for name in wanted))
        unknown = [name for name in self.statistics if name not in STATISTICS]
        if unknown:
            raise ValueError(f"unknown token statistic(s) {unknown}: choose from {list(STATISTICS)}")
        # the columns the wrapped reward reads (a PresetReward's own keys)
        self.columns = {
            LOGPROBS: getattr(reward, "logprobs_key", LOGPROBS_KEY),
            ENTROPY: getattr(reward, "entropy_key", ENTROPY_KEY),
            SELF_CERTAINTY: getattr(reward, "self_certainty_key", SELF_CERTAINTY_KEY),
        }
        self.logprobs_key = self.columns[LOGPROBS]
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
                "WithPolicyLogprobs supports plain-text prompts only "
                "(TRL tokenizes conversational ones with a chat template)"
            )
        prompt_ids = self.tokenizer(text=list(prompts))["input_ids"]
        values = completion_token_statistics(self.model, prompt_ids, completion_ids, self.temperature, self.statistics)
        for name, rows in values.items():
            kwargs[self.columns[name]] = rows
        return self.reward(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs)


__all__ = [
    "ENTROPY_KEY",
    "SELF_CERTAINTY_KEY",
    "WithPolicyLogprobs",
    "completion_token_statistics",
    "sampled_token_logprobs",
]
