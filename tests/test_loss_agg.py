"""The release's policy loss (veRL 0.2, dynamic batch size) reproduced in veRL 0.9.1: the gradient that
veRL 0.9.1's own actor loss (``verl.workers.utils.losses.ppo_loss``, which its engine-based V1 actor calls once per
micro-batch before ``loss.backward()``) yields with ``policy_loss.loss_mode=verl02_micro_token_mean``, on a
synthetic mini-batch split into uneven micro-batches, against the release's formula computed here on its own:

    loss = sum over micro-batches m of  (masked_mean(max(-A r, -A clip(r, 0.8, 1.2)))_m
                                          - entropy_coeff * masked_mean(entropy)_m
                                          + kl_loss_coef * masked_mean(low_var_kl)_m) * len(m) / ppo_mini_batch_size

(``ppo_mini_batch_size`` per rank; FSDP averages the ranks' gradients).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from hydra import compose, initialize_config_module
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.utils.config import omega_conf_to_dataclass
from verl.workers.utils.losses import ppo_loss

from verl_ext.verl.loss_agg import RELEASE_POLICY_LOSS

PROMPT_LEN = 2
CLIP = 0.2
# Six responses of uneven length, split into uneven micro-batches (as a token budget would split them).
RESPONSE_LENS = [5, 1, 7, 2, 3, 8]
MICRO_BATCHES = [[0, 1], [2], [3, 4, 5]]


ENTROPY_COEFF = 0.001
KL_COEF = 0.001


def actor_config(loss_mode: str, with_entropy_and_kl: bool = False):
    """veRL 0.9.1's ActorConfig as its worker builds it, with this policy loss; entropy and KL terms as the
    recipe's (coefficients 0.001, low_var_kl) or off."""
    overrides = [
        f"actor_rollout_ref.actor.policy_loss.loss_mode={loss_mode}",
        f"actor_rollout_ref.actor.clip_ratio={CLIP}",
        f"actor_rollout_ref.actor.entropy_coeff={ENTROPY_COEFF if with_entropy_and_kl else 0}",
        f"actor_rollout_ref.actor.use_kl_loss={str(with_entropy_and_kl).lower()}",
        f"actor_rollout_ref.actor.kl_loss_coef={KL_COEF}",
        "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
        "actor_rollout_ref.actor.loss_agg_mode=token-mean",
        "actor_rollout_ref.actor.use_dynamic_bsz=true",
    ]
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        cfg = compose("ppo_trainer", overrides=overrides)
    return omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)


@dataclass
class Sequence:
    advantage: float
    old_log_probs: torch.Tensor  # (response_len,)
    log_probs: torch.Tensor  # (response_len,) current policy, the point at which the gradient is taken
    ref_log_probs: torch.Tensor  # (response_len,) reference policy
    entropy: torch.Tensor  # (response_len,) the model's per-token entropy, also differentiated


def sequences(seed: int, ratio_spread: float) -> list[Sequence]:
    generator = torch.Generator().manual_seed(seed)

    def uniform(length: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(length, generator=generator, dtype=torch.float64)

    out = []
    for length in RESPONSE_LENS:
        old = uniform(length, -3.0, 0.0)
        current = old + uniform(length, -ratio_spread, ratio_spread)
        advantage = float(torch.randn(1, generator=generator, dtype=torch.float64))
        out.append(Sequence(advantage, old, current, current + uniform(length, -0.5, 0.5), uniform(length, 0.1, 2.0)))
    return out


def nested(rows: list[torch.Tensor]) -> torch.Tensor:
    return torch.nested.as_nested_tensor(rows, layout=torch.jagged)


def gradient_through_verl(
    seqs: list[Sequence], loss_mode: str, ranks: list[list[list[int]]], with_entropy_and_kl: bool = False
) -> list[torch.Tensor]:
    """d loss / d (log_prob, entropy) of every response token, as veRL 0.9.1's FSDP actor accumulates it: ppo_loss
    per micro-batch of each rank, backward, gradients averaged over the ranks. ``ranks`` = micro-batches per rank."""
    config = actor_config(loss_mode, with_entropy_and_kl)
    leaves = [s.log_probs.clone().requires_grad_(True) for s in seqs]
    entropies = [s.entropy.clone().requires_grad_(True) for s in seqs]
    dp_size, global_batch_size = len(ranks), len(seqs)
    for micro_batches in ranks:
        rank_tokens = sum(RESPONSE_LENS[i] for micro in micro_batches for i in micro)
        # veRL's engine all-reduces the token count over ranks (forward_backward_batch).
        batch_num_tokens = sum(RESPONSE_LENS)
        assert rank_tokens <= batch_num_tokens
        for micro in micro_batches:
            # The model output: one log-prob per token of prompt + response, flat; position p + j - 1 predicts
            # response token j (veRL's no_padding_2_padding shifts by one).
            def flat(per_sequence: list[torch.Tensor], batch: list[int]) -> torch.Tensor:
                pad = [torch.zeros(PROMPT_LEN - 1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)]
                return torch.cat([t for i in batch for t in (pad[0], per_sequence[i], pad[1])])

            data = TensorDict(
                {
                    "prompts": nested([torch.ones(PROMPT_LEN, dtype=torch.long) for _ in micro]),
                    "responses": nested([torch.ones(RESPONSE_LENS[i], dtype=torch.long) for i in micro]),
                    "response_mask": nested([torch.ones(RESPONSE_LENS[i], dtype=torch.float64) for i in micro]),
                    "old_log_probs": nested([seqs[i].old_log_probs for i in micro]),
                    "advantages": nested(
                        [torch.full((RESPONSE_LENS[i],), seqs[i].advantage, dtype=torch.float64) for i in micro]
                    ),
                    "ref_log_prob": nested([seqs[i].ref_log_probs for i in micro]),
                },
                batch_size=len(micro),
            )
            tu.assign_non_tensor(
                data, dp_size=dp_size, batch_num_tokens=batch_num_tokens, global_batch_size=global_batch_size
            )
            output = {"log_probs": flat(leaves, micro)}
            if with_entropy_and_kl:
                output["entropy"] = flat(entropies, micro)
            loss, _ = ppo_loss(config, output, data)
            loss.backward()
    grads = [leaf.grad / dp_size for leaf in leaves]
    return grads + [e.grad / dp_size for e in entropies] if with_entropy_and_kl else grads


def low_var_kl(log_prob: torch.Tensor, ref_log_prob: torch.Tensor) -> torch.Tensor:
    """veRL 0.2's low_var_kl (k3 estimator, clamped to [-10, 10])."""
    kl = ref_log_prob - log_prob
    return torch.clamp(torch.exp(kl) - kl - 1, min=-10, max=10)


def gradient_of_release_formula(
    seqs: list[Sequence], ranks: list[list[list[int]]], with_entropy_and_kl: bool = False
) -> list[torch.Tensor]:
    """The release's dp_actor.py, written out: per rank, sum over its micro-batches of the micro-batch's token mean
    of max(-A r, -A clip(r)) (- entropy_coeff * entropy + kl_coef * low_var_kl) times len(micro) / (its share of
    the mini-batch); FSDP averages the ranks."""
    leaves = [s.log_probs.clone().requires_grad_(True) for s in seqs]
    entropies = [s.entropy.clone().requires_grad_(True) for s in seqs]
    per_rank_minibatch = len(seqs) / len(ranks)
    total = 0.0
    for micro_batches in ranks:
        rank_loss = 0.0
        for micro in micro_batches:
            token_losses = []
            for i in micro:
                ratio = torch.exp(leaves[i] - seqs[i].old_log_probs)
                a = seqs[i].advantage
                token_losses.append(torch.max(-a * ratio, -a * torch.clamp(ratio, 1 - CLIP, 1 + CLIP)))
            micro_loss = torch.cat(token_losses).mean()
            if with_entropy_and_kl:
                micro_loss = micro_loss - ENTROPY_COEFF * torch.cat([entropies[i] for i in micro]).mean()
                kl = torch.cat([low_var_kl(leaves[i], seqs[i].ref_log_probs) for i in micro])
                micro_loss = micro_loss + KL_COEF * kl.mean()
            rank_loss = rank_loss + micro_loss * (len(micro) / per_rank_minibatch)
        total = total + rank_loss
    (total / len(ranks)).backward()
    grads = [leaf.grad for leaf in leaves]
    return grads + [e.grad for e in entropies] if with_entropy_and_kl else grads


ONE_RANK = [MICRO_BATCHES]
TWO_RANKS = [[[0, 1], [2]], [[3], [4, 5]]]


def test_at_ratio_one_each_token_weighs_its_micro_batch_share_over_its_tokens() -> None:
    """Hand-derived: at r = 1 (inside the clip) d/d log_prob of max(-A r, -A clip r) is -A, so a token of
    micro-batch m gets -A * n_m / (B * T_m): micro-batch [0, 1] has 2 sequences and 6 tokens, [2] 1 and 7,
    [3, 4, 5] 3 and 13; B = 6."""
    seqs = sequences(seed=0, ratio_spread=0.0)
    grads = gradient_through_verl(seqs, RELEASE_POLICY_LOSS, ONE_RANK)
    weight = {0: 2 / (6 * 6), 1: 2 / (6 * 6), 2: 1 / (6 * 7), 3: 3 / (6 * 13), 4: 3 / (6 * 13), 5: 3 / (6 * 13)}
    for i, grad in enumerate(grads):
        expected = torch.full((RESPONSE_LENS[i],), -seqs[i].advantage * weight[i], dtype=torch.float64)
        torch.testing.assert_close(grad, expected)


def test_verl_091s_default_weighs_every_token_of_the_mini_batch_alike() -> None:
    """The contrast that makes the test above discriminating: loss_mode=vanilla with token-mean gives -A / T
    (T = 26 tokens in the mini-batch) to every token, whatever its micro-batch."""
    seqs = sequences(seed=0, ratio_spread=0.0)
    grads = gradient_through_verl(seqs, "vanilla", ONE_RANK)
    for i, grad in enumerate(grads):
        torch.testing.assert_close(grad, torch.full((RESPONSE_LENS[i],), -seqs[i].advantage / 26, dtype=torch.float64))


@pytest.mark.parametrize("terms", [False, True], ids=["policy loss", "with entropy and KL"])
@pytest.mark.parametrize("ranks", [ONE_RANK, TWO_RANKS], ids=["1 rank", "2 ranks"])
@pytest.mark.parametrize("seed", [1, 2])
def test_gradient_equals_the_release_formula_with_clipping(seed: int, ranks: list, terms: bool) -> None:
    """Ratios in exp(+-0.5): many tokens clipped on either side, advantages of both signs; with the recipe's
    entropy and KL terms, the gradients with respect to the entropies too."""
    seqs = sequences(seed=seed, ratio_spread=0.5)
    ratios = torch.cat([torch.exp(s.log_probs - s.old_log_probs) for s in seqs])
    assert (ratios > 1 + CLIP).any() and (ratios < 1 - CLIP).any()
    ours = gradient_through_verl(seqs, RELEASE_POLICY_LOSS, ranks, terms)
    release = gradient_of_release_formula(seqs, ranks, terms)
    for mine, theirs in zip(ours, release, strict=True):
        torch.testing.assert_close(mine, theirs)
    # and it is not veRL 0.9.1's default
    vanilla = gradient_through_verl(seqs, "vanilla", ranks, terms)
    assert not all(torch.allclose(v, r) for v, r in zip(vanilla, release, strict=True))


def test_the_entropy_terms_gradient_is_weighted_per_micro_batch_too() -> None:
    """Hand-derived: d loss / d entropy of a token of micro-batch m = -entropy_coeff * n_m / (B * T_m)."""
    seqs = sequences(seed=0, ratio_spread=0.0)
    grads = gradient_through_verl(seqs, RELEASE_POLICY_LOSS, ONE_RANK, with_entropy_and_kl=True)[len(seqs) :]
    weight = {0: 2 / (6 * 6), 1: 2 / (6 * 6), 2: 1 / (6 * 7), 3: 3 / (6 * 13), 4: 3 / (6 * 13), 5: 3 / (6 * 13)}
    for i, grad in enumerate(grads):
        torch.testing.assert_close(
            grad, torch.full((RESPONSE_LENS[i],), -ENTROPY_COEFF * weight[i], dtype=torch.float64)
        )


def test_without_veRLs_global_batch_info_the_loss_refuses_instead_of_guessing() -> None:
    from verl.trainer.ppo.core_algos import get_policy_loss_fn

    config = actor_config(RELEASE_POLICY_LOSS)
    mask = torch.ones(2, 3)
    with pytest.raises(ValueError, match="global_batch_size and dp_size"):
        get_policy_loss_fn(RELEASE_POLICY_LOSS)(mask * 0, mask * 0, mask, mask, config=config)
    config.global_batch_info.update(global_batch_size=2, dp_size=1)
    with pytest.raises(ValueError, match="needs loss_agg_mode=token-mean"):
        get_policy_loss_fn(RELEASE_POLICY_LOSS)(mask * 0, mask * 0, mask, mask, "seq-mean-token-mean", config=config)


def test_the_plugin_registers_the_loss_when_verl_is_imported() -> None:
    """A fresh interpreter: `import verl` alone (entry point verl.plugins) makes the loss selectable."""
    import subprocess
    import sys

    code = (
        "import verl\nfrom verl.trainer.ppo.core_algos import POLICY_LOSS_REGISTRY\n"
        f"print({RELEASE_POLICY_LOSS!r} in POLICY_LOSS_REGISTRY)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.strip().splitlines()[-1] == "True"
