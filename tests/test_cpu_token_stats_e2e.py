"""veRL 0.9.1's own trainer on the CPU (``REWARD=token_entropy run_grpo.sh scale=cpu``, trainer mode ``verl_ext_sync``)
with the actor's per-token self-certainty switched on too: the statistics arrive in TransferQueue for every response
token of every rollout, equal to the statistics recomputed here from the model's own logits, and the rewards the
actor trained on are minus each response's mean entropy, with GRPO's advantages.

Reads conftest's session-shared ``cpu_token_stats_run``: one launch, 1 step (2 prompts x 4 samples x at most 24
tokens), no validation, no checkpoint; veRL's rollout dump (``trainer.rollout_data_dir``) carries, per rollout, the
token ids and the per-token fields the trainer read back from TransferQueue after the step
(``sampler_kwargs.dump_token_statistics``). Step 1's old-log-prob pass runs on the model's initial weights, so the
reference is the cached tiny model itself: its logits at the positions before each response token, divided by the
rollout temperature.
"""

from __future__ import annotations

import json
import math

import pytest

from verl_ext.io.logs import read_metric_log

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run(cpu_token_stats_run):
    assert cpu_token_stats_run.launch.returncode == 0, cpu_token_stats_run.launch.output[-6000:]
    return cpu_token_stats_run


@pytest.fixture(scope="module")
def rows(run) -> list[dict]:
    return [json.loads(line) for line in (run.rollouts / "1.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def step(run) -> dict:
    return read_metric_log(run.log).steps[1]


def recipe_temperature() -> float:
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    config_dir = Path(__file__).resolve().parents[1] / "recipe" / "format_length" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return float(compose("format_length_grpo", overrides=["scale=cpu"]).actor_rollout_ref.rollout.temperature)


def test_every_rollout_has_self_certainty_for_every_response_token(rows, step) -> None:
    assert len(rows) == 2 * 4  # data.train_batch_size x rollout.n of scale=cpu
    for row in rows:
        tokens = len(row["response_ids"])
        assert tokens >= 1
        for name in ("self_certainty", "entropy", "old_log_probs", "rollout_log_probs", "advantages"):
            assert len(row[name]) == tokens, (row["uid"], name)
        assert all(math.isfinite(value) for value in row["self_certainty"])
    # veRL's own count of response tokens (response_mask) agrees with the rows
    assert sum(len(row["response_ids"]) for row in rows) / len(rows) == pytest.approx(step["response_length/mean"])


def test_the_statistics_equal_the_models_logits_recomputed(run, rows) -> None:
    """sc = logsumexp(z / T) - mean(z / T), H and log p(token) from the tiny model's logits, independently of the
    engine; the alignment (the position before each response token) is veRL's and must hold too."""
    import torch
    from transformers import AutoModelForCausalLM

    from verl_ext.verl.cpu.tiny_model import recipe_model_dir  # the launch's model, in the session's model cache

    model = AutoModelForCausalLM.from_pretrained(recipe_model_dir(), torch_dtype=torch.float32)
    model.eval()
    temperature = recipe_temperature()
    vocabulary = model.config.vocab_size
    for row in rows:
        prompt, response = row["prompt_ids"], row["response_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + response])).logits[0].double()
        z = logits[len(prompt) - 1 : len(prompt) + len(response) - 1] / temperature
        log_p = torch.log_softmax(z, dim=-1)
        expected = {
            "self_certainty": (torch.logsumexp(z, -1) - z.mean(-1)).tolist(),
            "entropy": (-(log_p.exp() * log_p).sum(-1)).tolist(),
            "old_log_probs": log_p.gather(-1, torch.tensor(response).unsqueeze(-1)).squeeze(-1).tolist(),
        }
        for name, values in expected.items():
            assert row[name] == pytest.approx(values, abs=2e-4), (row["uid"], name)
        # KL(U || p) >= 0: self-certainty is at least log V, entropy at most log V
        assert min(row["self_certainty"]) >= math.log(vocabulary) - 1e-4
        assert max(row["entropy"]) <= math.log(vocabulary) + 1e-4


def test_actor_metrics_are_the_token_means(rows, step) -> None:
    tokens = [value for row in rows for value in row["self_certainty"]]
    entropies = [value for row in rows for value in row["entropy"]]
    assert step["actor/self_certainty"] == pytest.approx(sum(tokens) / len(tokens), rel=1e-5)
    assert step["actor/entropy"] == pytest.approx(sum(entropies) / len(entropies), rel=1e-5)  # still entropy
    assert "timing_s/reward_stage" in step and "collapse/response_length" in step


# --- the rewards the actor trained on (issue 28: REWARD=token_entropy through run_grpo.sh) --------------------------


def test_the_actor_trained_on_minus_each_responses_mean_entropy(run, rollout_groups, trained_rewards) -> None:
    trained_rewards(
        rollout_groups(run.rollouts / "1.jsonl"), lambda row: -math.fsum(row["entropy"]) / len(row["entropy"])
    )
