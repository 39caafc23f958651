"""What verl-ext cannot honour on veRL 0.9.1 is refused at start-up, each with the setting named (issue 27 items 2,
3 and 6, issue 28): by ``stage_problems`` (pure, on the recipe's composed config), by verl-ext's trainer at
construction, and by its sampler when veRL builds it. Token-level presets are not in the registry yet: a fake
registry entry with ``token_statistics`` stands in for them (what the lead's registry will declare)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

pytest.importorskip("verl.trainer.ppo.v1", reason="veRL's V1 trainer needs verl[verl-core]")

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from verl.trainer.ppo.v1.trainer_base import PPOTrainer

from verl_ext.rewards import registry as presets
from verl_ext.verl import stage_checks
from verl_ext.verl.stage_checks import needs_entropy, needs_self_certainty, stage_problems
from verl_ext.verl.trainer import RewardStageTrainer

CONFIG_DIR = Path(__file__).resolve().parents[1] / "recipe" / "format_length" / "config"


# token-level presets as the registry will declare them: (is_text, is_group, needs_logprobs, token_statistics)
@functools.cache
def composed(scale: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose("format_length_grpo", overrides=[f"scale={scale}"])


def recipe(reward: str = "format_length", *overrides: str, scale: str = "paper"):
    """The recipe composed by Hydra at ``scale`` (once per scale), then ``reward.reward_manager.name=reward`` and
    ``overrides`` (``[+]key=value``, value read as YAML) set on a copy as Hydra sets them."""
    config = copy.deepcopy(composed(scale))
    for override in (f"reward.reward_manager.name={reward}", *overrides):
        key, _, value = override.lstrip("+").partition("=")
        OmegaConf.update(config, key, yaml.safe_load(value), force_add=True)
    return config


@pytest.mark.parametrize("scale", ["paper", "smoke", "cpu"])
@pytest.mark.parametrize("reward", presets.preset_names())
def test_the_recipe_runs_every_registered_preset_at_every_scale(reward, scale) -> None:
    assert stage_problems(recipe(reward, scale=scale), reward) == []


@pytest.mark.parametrize("scale", ["paper", "smoke", "cpu"])
@pytest.mark.parametrize("reward", presets.preset_names("token"))
def test_the_recipe_runs_token_level_presets_at_every_scale(reward, scale) -> None:
    assert stage_problems(recipe(reward, scale=scale), reward) == []


def test_what_each_preset_needs_comes_from_the_registry() -> None:
    for name in presets.preset_names():
        reads = presets.get_preset(name).token_statistics
        assert needs_self_certainty(name) == ("self_certainty" in reads)
        assert needs_entropy(name) == ("entropy" in reads)
    assert needs_self_certainty("format_gated_self_certainty") and not needs_entropy("self_certainty")
    assert needs_entropy("token_entropy") and not needs_self_certainty("token_entropy")


# (reward, overrides, the setting the problem must name)
REFUSALS = [
    ("format_length", ["trainer.v1.trainer_mode=separate_async"], "trainer.v1.trainer_mode=separate_async"),
    ("format_length", ["trainer.v1.trainer_mode=colocate_async"], "trainer.v1.trainer_mode=colocate_async"),
    ("majority", ["trainer.v1.trainer_mode=sync"], "trainer.v1.trainer_mode=sync"),
    ("self_certainty", ["trainer.v1.trainer_mode=sync"], "trainer.v1.trainer_mode=sync"),
    ("format_length", ["trainer.v1.trainer_mode=sync", "+trainer.v1.sampler.sampler_kwargs.self_certainty=true"],
     "trainer.v1.trainer_mode=sync"),
    ("majority", ["algorithm.filter_groups.enable=true", "algorithm.filter_groups.metric=acc"],
     "algorithm.filter_groups.enable=true"),
    ("format_length", ["algorithm.filter_groups.enable=true", "algorithm.filter_groups.metric=acc"],
     "algorithm.filter_groups.enable=true"),
    ("majority", ["actor_rollout_ref.rollout.n=1"], "actor_rollout_ref.rollout.n=1"),
    ("semantic_frequency", ["actor_rollout_ref.rollout.n=1"], "actor_rollout_ref.rollout.n=1"),
    ("self_certainty", ["algorithm.rollout_correction.bypass_mode=true"], "bypass_mode=true"),
    ("token_entropy", ["algorithm.rollout_correction.bypass_mode=true"], "bypass_mode=true"),
    ("self_certainty", ["+actor_rollout_ref.model.use_fused_kernels=true"], "use_fused_kernels=true"),
    ("self_certainty", ["actor_rollout_ref.actor.strategy=megatron"], "actor_rollout_ref.actor.strategy=megatron"),
    ("format_length", ["+trainer.v1.sampler.sampler_kwargs.self_certainty=true",
                       "+actor_rollout_ref.model.use_fused_kernels=true"], "use_fused_kernels=true"),
    ("majority", ["reward.reward_model.enable=true"], "reward.reward_model.enable=true"),
    ("self_confidence", ["actor_rollout_ref.rollout.calculate_log_probs=false"], "calculate_log_probs=false"),
    ("majority", ["trainer.v1.sampler.sampler_kwargs.reward=format"], "sampler_kwargs.reward='format'"),
    ("majority", ["actor_rollout_ref.rollout.calculate_log_probs=false",
                  "trainer.v1.sampler.sampler_kwargs.rollout_log_probs=true"], "sampler_kwargs.rollout_log_probs=true"),
]  # fmt: skip


@pytest.mark.parametrize(("reward", "overrides", "setting"), REFUSALS)
def test_each_setting_that_cannot_be_honoured_is_named(reward, overrides, setting) -> None:
    problems = stage_problems(recipe(reward, *overrides), reward)
    assert any(setting in problem for problem in problems), problems


@pytest.mark.parametrize(("reward", "overrides", "setting"), REFUSALS)
def test_verl_ext_trainer_refuses_them_before_building_anything(reward, overrides, setting) -> None:
    config = recipe(reward, *overrides)
    with pytest.raises(ValueError, match="verl-ext cannot run this configuration") as refused:
        RewardStageTrainer(config)  # raises before veRL's PPOTrainer.__init__ (no Ray, no TransferQueue)
    assert setting in str(refused.value)


def test_entropy_presets_run_with_fused_kernels_and_megatron() -> None:
    """veRL computes entropy in every engine's old-log-prob pass (fused kernels return it, Megatron's vocab-parallel
    entropy): only self-certainty needs verl-ext's FSDP engine."""
    for override in ("+actor_rollout_ref.model.use_fused_kernels=true", "actor_rollout_ref.actor.strategy=megatron"):
        assert stage_problems(recipe("token_entropy", override), "token_entropy") == []


def build_replay_buffer(config, trainer_mode: str, trainer=None):
    """The replay buffer as veRL's PPOTrainer builds it (``_build_replay_buffer``), for ``trainer_mode``."""
    owner = trainer or SimpleNamespace()
    owner.config, owner.trainer_mode = config, trainer_mode
    owner._add_prompts_to_generate = getattr(owner, "_add_prompts_to_generate", lambda n: n)
    return PPOTrainer._build_replay_buffer(owner)


@pytest.mark.parametrize("mode", ["separate_async", "colocate_async"])
def test_verl_ext_sampler_refuses_the_async_trainer_modes(mode) -> None:
    config = recipe("format_length", f"trainer.v1.trainer_mode={mode}")
    with pytest.raises(ValueError, match=f"trainer.v1.trainer_mode={mode}: verl-ext's DiagnosticsReplayBuffer"):
        build_replay_buffer(config, mode)


@pytest.mark.parametrize(
    ("reward", "override", "named"),
    [
        ("majority", None, "reward='majority'"),
        ("format_length", "+trainer.v1.sampler.sampler_kwargs.stop_when='majority_ratio>=0.5'", "stop_when="),
        ("format_length", "+trainer.v1.sampler.sampler_kwargs.self_certainty=true", "self_certainty=True"),
        ("format_length", "+trainer.v1.sampler.sampler_kwargs.dump_token_statistics=true", "dump_token_statistics="),
    ],
)
def test_verl_ext_sampler_under_another_trainer_refuses_what_only_the_stage_trainer_honours(
    reward, override, named
) -> None:
    config = recipe(reward, *([override] if override else []), "trainer.v1.trainer_mode=sync")
    with pytest.raises(ValueError, match="honoured by verl-ext's trainer mode only") as refused:
        build_replay_buffer(config, "sync")
    assert named in str(refused.value)


def test_verl_ext_sampler_accepts_them_from_the_stage_trainer() -> None:
    class StageTrainer:  # the marker verl-ext's trainer carries, and a bound refill_fn
        runs_reward_stage = True

        def _add_prompts_to_generate(self, n: int) -> int:
            return n

    config = recipe("majority", "+trainer.v1.sampler.sampler_kwargs.stop_when='majority_ratio>=0.5'")
    assert type(build_replay_buffer(config, "sync", StageTrainer())).__name__ == "DiagnosticsReplayBuffer"


def test_the_recipe_selects_verl_ext_trainer_mode_at_every_scale() -> None:
    for scale in ("paper", "smoke", "cpu"):
        assert recipe(scale=scale).trainer.v1.trainer_mode == stage_checks.TRAINER_MODE == "verl_ext_sync"
