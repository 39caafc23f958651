"""veRL managers of group-level and token-level presets: they record what the reward stage needs, and refuse a run
that would not write their rewards (issues 20, 27; every refusal of verl_ext.verl.stage_checks:
tests/test_stage_checks.py). The stop rule's parser (its effect on veRL's trainer:
tests/test_reward_stage_trainer.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("verl.trainer.ppo.v1", reason="veRL's V1 trainer needs verl[verl-core]")

from hydra import compose, initialize_config_dir

from verl_ext.stop_rule import StopRule, StopTracker
from verl_ext.verl.managers import MANAGERS
from verl_ext.verl.stage_checks import stage_problems

CONFIG_DIR = Path(__file__).resolve().parents[1] / "recipe" / "format_length" / "config"


def recipe(*overrides: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose("format_length_grpo", overrides=list(overrides))


@pytest.mark.parametrize("preset", ["majority", "semantic_frequency", "self_confidence", "format_gated_majority"])
def test_the_recipe_config_runs_the_group_stage_for_every_group_preset(preset) -> None:
    assert stage_problems(recipe(f"reward.reward_manager.name={preset}"), preset) == []


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("trainer.v1.trainer_mode=sync", "trainer.v1.trainer_mode=sync"),
        ("trainer.v1.sampler.sampler_kwargs.reward=format", "sampler_kwargs.reward='format'"),
        ("actor_rollout_ref.rollout.n=1", "rollout.n"),
        ("algorithm.filter_groups.enable=true", "filter_groups"),
        ("reward.reward_model.enable=true", "colocated reward model"),
    ],
)
def test_a_run_that_would_not_write_the_group_rewards_is_refused(override, problem, tiny_tokenizer_dir) -> None:
    from transformers import AutoTokenizer

    config = recipe("reward.reward_manager.name=majority", override)
    with pytest.raises(ValueError, match=problem):
        MANAGERS["majority"](config, AutoTokenizer.from_pretrained(tiny_tokenizer_dir))


def test_a_log_prob_preset_needs_the_rollout_log_probs() -> None:
    config = recipe("reward.reward_manager.name=self_confidence", "actor_rollout_ref.rollout.calculate_log_probs=false")
    assert any("calculate_log_probs=false" in p for p in stage_problems(config, "self_confidence"))


def test_the_recorder_puts_answer_and_format_in_reward_extra_info_with_a_zero_reward(tiny_tokenizer_dir) -> None:
    import torch
    from transformers import AutoTokenizer
    from verl import DataProto

    manager = MANAGERS["majority"](
        recipe("reward.reward_manager.name=majority", "data.max_response_length=64"),
        AutoTokenizer.from_pretrained(tiny_tokenizer_dir),
    )
    ids = manager.tokenizer.encode("so \\boxed{\\frac{4}{2}}")
    data = DataProto.from_dict(
        tensors={"responses": torch.tensor([ids]), "attention_mask": torch.ones((1, len(ids)), dtype=torch.long)},
        non_tensors={"reward_model": np.array([{"ground_truth": "2", "style": "rule"}], dtype=object)},
    )
    result = manager.loop.run_until_complete(manager.run_single(data))
    info = result["reward_extra_info"]
    assert result["reward_score"] == 0.0
    assert (info["pred"], info["format"], info["correct"], info["acc"], info["reward_error"]) == (
        "\\frac{4}{2}",
        1.0,
        1.0,
        1.0,
        0.0,
    )


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("majority_ratio>=0.95", StopRule("majority_ratio", ">=", 0.95)),
        (" distinct_answers <= 1 ", StopRule("distinct_answers", "<=", 1.0)),
    ],
)
def test_stop_rules_parse(text, rule) -> None:
    assert StopRule.parse(text) == rule


@pytest.mark.parametrize(
    ("text", "error"),
    [("label_accuracy>=0.9", "label-free"), ("majority_ratio > 0.9", "is not"), ("majority_ratio>=x", "is not")],
)
def test_a_stop_rule_on_ground_truth_or_malformed_is_refused(text, error) -> None:
    with pytest.raises(ValueError, match=error):
        StopRule.parse(text)


def test_the_rule_must_hold_on_k_consecutive_steps() -> None:
    tracker = StopTracker(StopRule("majority_ratio", ">=", 0.9, steps=2))
    ratios = {1: 0.95, 2: 0.5, 3: 0.92, 4: None, 5: 0.91, 6: 0.99}  # 4: the monitor is missing
    fired = {step: tracker.update(step, {} if r is None else {"majority_ratio": r}) for step, r in ratios.items()}
    assert [step for step, reason in fired.items() if reason] == [6]
    assert "majority_ratio >= 0.9 held for 2 consecutive step(s)" in fired[6]


def test_a_seeded_random_control_draws_per_rollout_whatever_worker_scores_it(tiny_tokenizer_dir) -> None:
    # veRL runs reward.num_workers reward workers and hands each rollout to one at random: a generator per worker
    # would give every worker the same stream and a rerun other draws; each rollout's own key gives it one draw
    from transformers import AutoTokenizer

    config = recipe("reward.reward_manager.name=random", "+reward.reward_kwargs.seed=3")
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    first_worker, second_worker = MANAGERS["random"](config, tokenizer), MANAGERS["random"](config, tokenizer)
    keys = [(1, f"uid{i}", session) for i in range(25) for session in range(4)]
    first = [first_worker._score("x", 5, None, key)[0] for key in keys]
    second = [second_worker._score("x", 5, None, key)[0] for key in reversed(keys)][::-1]
    assert first == second  # the same draw for the same rollout, in any worker and any order
    assert set(first) == {0.0, 1.0} and 30 < sum(first) < 70  # Bernoulli(1/2) over 100 rollouts: 4 sd of slack
    again = MANAGERS["random"](recipe("reward.reward_manager.name=random", "+reward.reward_kwargs.seed=4"), tokenizer)
    assert [again._score("x", 5, None, key)[0] for key in keys] != first
