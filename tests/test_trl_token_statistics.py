"""TRL: the per-token statistics of the sampled completions from one no-grad forward pass of the policy
(verl_ext.integrations.trl_logprobs), on a policy whose logits are set by hand over a 3-token vocabulary.

The policy's logits at position j are UNIFORM = (0, 0, 0) for odd j and SKEWED = (0, ln 2, ln 4) for even j. Worked
by hand (tests/test_self_certainty.py): SKEWED gives p = (1/7, 2/7, 4/7), H = ln 7 - (10/7) ln 2, sc = ln 3.5, and at
temperature 2 sc = ln(1 + 3 / sqrt 2) and p = (1, sqrt 2, 2) / (3 + sqrt 2); UNIFORM gives p = 1/3, H = sc = ln 3.
A prompt of 2 tokens and the completion (1, 2): token 1 is predicted at position 1 (UNIFORM), token 2 at position 2
(SKEWED).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from verl_ext.integrations.trl_logprobs import (
    ENTROPY_KEY,
    SELF_CERTAINTY_KEY,
    WithPolicyLogprobs,
    completion_token_statistics,
)

LN2, LN3, LN7 = math.log(2), math.log(3), math.log(7)
SKEWED = [0.0, LN2, 2 * LN2]
UNIFORM = [0.0, 0.0, 0.0]
PROMPT, COMPLETION = [0, 1], [1, 2]
ROOT2 = math.sqrt(2)
P_SKEWED_T2 = [1 / (3 + ROOT2), ROOT2 / (3 + ROOT2), 2 / (3 + ROOT2)]
EXPECTED = {
    1.0: {
        "logprobs": [-LN3, math.log(4 / 7)],
        "entropy": [LN3, LN7 - 10 / 7 * LN2],
        "self_certainty": [LN3, math.log(3.5)],
    },
    2.0: {
        "logprobs": [-LN3, math.log(2 / (3 + ROOT2))],
        "entropy": [LN3, -sum(q * math.log(q) for q in P_SKEWED_T2)],
        "self_certainty": [LN3, math.log(1 + 3 / ROOT2)],
    },
}


class HandSetPolicy(torch.nn.Module):
    """A causal LM stand-in: logits UNIFORM at odd positions, SKEWED at even ones; counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, input_ids, attention_mask):
        self.calls += 1
        batch, length = input_ids.shape
        rows = torch.tensor([SKEWED if j % 2 == 0 else UNIFORM for j in range(length)])
        return SimpleNamespace(logits=rows.expand(batch, length, 3).clone())


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_statistics_of_the_completion_tokens_by_hand(temperature) -> None:
    got = completion_token_statistics(
        HandSetPolicy(), [PROMPT], [COMPLETION], temperature, ("logprobs", "entropy", "self_certainty")
    )
    want = EXPECTED[temperature]
    assert got["logprobs"][0] == pytest.approx(want["logprobs"], abs=1e-6)
    assert got["self_certainty"][0] == pytest.approx(want["self_certainty"], abs=1e-6)
    assert got["entropy"][0] == pytest.approx(want["entropy"], abs=1e-6)


def test_only_the_statistics_asked_for_are_returned() -> None:
    got = completion_token_statistics(HandSetPolicy(), [PROMPT], [COMPLETION], 1.0, ("self_certainty",))
    assert list(got) == ["self_certainty"]


def test_an_unknown_statistic_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown token statistic"):
        completion_token_statistics(HandSetPolicy(), [PROMPT], [COMPLETION], 1.0, ("perplexity",))
    with pytest.raises(ValueError, match="unknown token statistic"):
        WithPolicyLogprobs(lambda **_: [0.0], tokenizer=None, statistics=("perplexity",))


class Recorder:
    """A reward that records the columns it was called with; ``token_statistics`` as a registry preset declares."""

    def __init__(self, token_statistics=None) -> None:
        if token_statistics is not None:
            self.token_statistics = token_statistics
        self.seen: dict = {}

    def __call__(self, prompts, completions, completion_ids, **kwargs):
        self.seen = kwargs
        return [0.0] * len(prompts)


def tokenizer(text):
    return {"input_ids": [PROMPT for _ in text]}


@pytest.mark.parametrize(
    ("declared", "columns"),
    [
        (None, ["completion_logprobs"]),  # a log-prob preset (self_confidence): the wrapper's default
        (("self_certainty",), [SELF_CERTAINTY_KEY]),
        (("entropy", "old_log_probs"), [ENTROPY_KEY, "completion_logprobs"]),  # veRL's name for the log-probs
    ],
)
def test_the_wrapper_fills_the_columns_the_reward_declares_from_one_forward_pass(declared, columns) -> None:
    policy, reward = HandSetPolicy(), Recorder(declared)
    WithPolicyLogprobs(reward, tokenizer).bind(policy)(
        prompts=["p", "q"], completions=["c", "d"], completion_ids=[COMPLETION, COMPLETION[:1]]
    )
    assert sorted(reward.seen) == sorted(columns)
    assert policy.calls == 1
    if SELF_CERTAINTY_KEY in reward.seen:
        assert reward.seen[SELF_CERTAINTY_KEY] == [
            pytest.approx([LN3, math.log(3.5)], abs=1e-6),
            pytest.approx([LN3], abs=1e-6),
        ]
