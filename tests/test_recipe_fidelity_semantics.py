"""The code-path rows of fidelity.yaml's `semantics` that this issue added, each checked against its two
sources: veRL 0.9.1's installed code and the release's files (its logs, its outputs and their labels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
FIDELITY = yaml.safe_load((REPO / "recipe" / "format_length" / "fidelity.yaml").read_text())


def semantics_row(start: str) -> dict:
    (row,) = [r for r in FIDELITY["semantics"] if r["release"].startswith(start)]
    return row


def release_low_var_kl(logprob: torch.Tensor, ref_logprob: torch.Tensor) -> torch.Tensor:
    """The release's (veRL 0.2) estimate as its row states it: exp(r) - r - 1, r = ref - logp, clamped to [-10, 10]."""
    r = ref_logprob - logprob
    return torch.clamp(torch.exp(r) - r - 1, min=-10, max=10)


def test_verls_plus_minus_20_clamp_of_the_log_ratio_changes_no_value_or_gradient() -> None:
    from verl.trainer.ppo.core_algos import kl_penalty

    assert "[-20, 20]" in semantics_row("KL loss low_var_kl")["recipe"]
    ratio = torch.linspace(-40, 40, 8001, dtype=torch.float64)
    ours = torch.zeros_like(ratio, requires_grad=True)
    theirs = torch.zeros_like(ratio, requires_grad=True)
    verl_value = kl_penalty(ours, ratio, "low_var_kl")
    release_value = release_low_var_kl(theirs, ratio)
    torch.testing.assert_close(verl_value, release_value)
    verl_value.sum().backward()
    release_value.sum().backward()
    torch.testing.assert_close(ours.grad, theirs.grad)
    # the ranges where the clamps act differ: verl's log-ratio clamp acts beyond |r| = 20, where both are at +10
    assert bool((release_value.detach()[ratio.abs() > 20] == 10).all())


def test_verl_balances_ranks_by_24576_L_plus_L_squared() -> None:
    from verl.utils.seqlen_balancing import calculate_workload

    assert "24576*L + L^2" in semantics_row("ranks' share of the batch")["recipe"]
    lengths = torch.tensor([1, 1024, 4096])
    assert calculate_workload(lengths).tolist() == [24577, 24576 * 1024 + 1024**2, 24576 * 4096 + 4096**2]


def test_the_releases_format_verdicts_hold_with_the_special_token_it_decoded(labelled_outputs) -> None:
    """The release's reward read tokenizer.decode(ids) with special tokens: a trailing <|endoftext|>."""
    from verl_ext.rewards import format_reward

    assert "skip_special_tokens=True" in semantics_row("reward input: tokenizer.decode")["recipe"]
    sample = labelled_outputs[::15]
    assert len(sample) > 100
    verdicts = [
        (format_reward(output["response"] + "<|endoftext|>"), float(label["format"])) for label, output in sample
    ]
    assert [ours for ours, _ in verdicts] == [theirs for _, theirs in verdicts]


# critic/score/max of each published run: the reward's maximum without the 0.5 <think> bonus.
RUN_MAXIMA = {"r_f_a": 0.5, "r_a_g_f": 1.0, "r_f_l_v3_token5_a-v3": 1.5}


@pytest.mark.parametrize("train_set", ["deepscaler_17k", "math"])
@pytest.mark.parametrize("reward", sorted(RUN_MAXIMA))
def test_the_think_bonus_never_fired_in_the_published_runs(release_dir: Path, train_set: str, reward: str) -> None:
    assert "critic/score/max is 0.5 in both format-only runs" in semantics_row("reward + 0.5 when")["why"]
    path = release_dir / "logs" / f"grpo-{train_set}-7b_math-bs_128-3k-zs_qwen-r_{reward.removeprefix('r_')}.json"
    rows = json.loads(path.read_text())
    maxima = [row["critic/score/max"] for row in rows if "critic/score/max" in row]
    assert len(maxima) == 100 and max(maxima) <= RUN_MAXIMA[reward]


def test_the_reference_model_is_held_in_bf16_as_the_release_did() -> None:
    assert FIDELITY["release_code"]["actor_rollout_ref.ref.fsdp_config.model_dtype"]["value"] == "bf16"
    config = yaml.safe_load((REPO / "recipe" / "format_length" / "config" / "format_length_grpo.yaml").read_text())
    assert config["actor_rollout_ref"]["ref"]["fsdp_config"]["model_dtype"] == "bf16"
