"""recipe/format_length: every REWARD x TRAIN_SET run composes through veRL 0.9's real Hydra config
with the paper's hyperparameters, and sets no key that veRL ignores.

The launcher tells which command and overrides it runs (DRY_RUN=1); those are composed here in one
process with Hydra's compose API (a subprocess per combination costs ~15 s of imports), and one real
`run_grpo.sh --cfg job` subprocess checks that this composition is the one the launcher prints.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir, initialize_config_module
from omegaconf import DictConfig, OmegaConf

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipe" / "format_length"
LAUNCHER = RECIPE / "run_grpo.sh"
CONFIG_DIR = RECIPE / "config"
DATA_DIR = REPO.parent / "shared" / "data" / "rl-without-gt" / "datasets"

REWARDS = ["correctness", "format", "format_length", "length", "random"]
TRAIN_SETS = ["deepscaler_17k", "math_train"]
BENCHMARKS = {"aime2024": "AIME2024", "amc2023": "AMC2023", "math500": "MATH500"}

# The paper's hyperparameters: config key -> value (actor_rollout_ref abbreviated as arr).
PAPER = {
    "algorithm.adv_estimator": "grpo",
    "algorithm.use_kl_in_reward": False,
    "data.train_batch_size": 128,
    "data.max_prompt_length": 1024,
    "data.max_response_length": 3072,
    "arr.actor.ppo_mini_batch_size": 128,
    "arr.actor.ppo_epochs": 1,
    "arr.actor.strategy": "fsdp",
    "arr.ref.strategy": "fsdp",
    "arr.actor.optim.lr": 1e-6,
    "arr.actor.optim.lr_scheduler_type": "constant",
    "arr.actor.optim.lr_warmup_steps": 0,
    "arr.actor.optim.lr_warmup_steps_ratio": 0.0,
    "arr.actor.optim.clip_grad": 1.0,
    "arr.actor.grad_clip": 1.0,
    "arr.actor.use_kl_loss": True,
    "arr.actor.kl_loss_coef": 0.001,
    "arr.actor.kl_loss_type": "low_var_kl",
    "arr.actor.entropy_coeff": 0.001,
    "arr.actor.clip_ratio": 0.2,
    "arr.actor.clip_ratio_low": 0.2,
    "arr.actor.clip_ratio_high": 0.2,
    "arr.rollout.name": "vllm",
    "arr.rollout.tensor_model_parallel_size": 2,
    "arr.rollout.n": 8,
    "arr.rollout.temperature": 0.6,
    "arr.rollout.top_p": 1.0,
    "arr.rollout.do_sample": True,
    "arr.rollout.prompt_length": 1024,
    "arr.rollout.response_length": 3072,
    "arr.rollout.val_kwargs.do_sample": False,
    "arr.rollout.val_kwargs.n": 1,
    "arr.rollout.val_kwargs.temperature": 0,
    "arr.model.path": "Qwen/Qwen2.5-Math-7B",
    "trainer.total_training_steps": 100,
    "trainer.val_before_train": True,
    "trainer.test_freq": 5,
    "trainer.nnodes": 1,
    "trainer.n_gpus_per_node": 8,
    "trainer.use_v1": True,
    "trainer.v1.trainer_mode": "sync",
    "trainer.v1.sampler.custom_sampler.path": "pkg://verl_ext.verl.diagnostics_sampler",
    "trainer.v1.sampler.custom_sampler.name": "DiagnosticsReplayBuffer",
    "reward.reward_manager.source": "register",
    "reward.reward_kwargs.peak": 0.5,
    "reward.reward_kwargs.max_response_length": 3072,
}

AVG_AT_K = {
    "arr.rollout.val_kwargs.do_sample": True,
    "arr.rollout.val_kwargs.n": 16,
    "arr.rollout.val_kwargs.temperature": 0.6,
    "arr.rollout.val_kwargs.top_p": 0.95,
}

# Keys veRL 0.9.1's main_ppo never reads (it does not run migrate_legacy_reward_impl): must stay null.
LEGACY_TOP_LEVEL = ("reward_model", "custom_reward_function", "sandbox_fusion")
# Keys the recipe may add to veRL's schema: read by verl-ext's reward managers (config.reward.reward_kwargs).
ALLOWED_NEW_KEYS = ("reward.reward_kwargs",)


def select(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key.replace("arr.", "actor_rollout_ref.", 1), throw_on_missing=True)


def run_launcher(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DATA_DIR": str(DATA_DIR), **env}
    for name in ("REWARD", "TRAIN_SET", "MODEL_PATH", "NNODES", "GPUS_PER_NODE", "EXPERIMENT", "CKPT_DIR", "LOG_DIR"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        ["bash", str(LAUNCHER), *args], env=environment, capture_output=True, text=True, timeout=300, check=False
    )


def dry_run(*args: str, **env: str) -> list[str]:
    """The command the launcher would exec, word by word."""
    result = run_launcher(*args, DRY_RUN="1", **env)
    assert result.returncode == 0, result.stderr
    return shlex.split(result.stdout)


def hydra_call(words: list[str]) -> tuple[str, str, list[str]]:
    """(config dir, config name, overrides) of a `python -m verl.trainer.main_ppo ...` command."""
    assert words[1:3] == ["-m", "verl.trainer.main_ppo"], words
    options = dict(word.split("=", 1) for word in words[3:5])
    overrides = [word for word in words[5:] if not word.startswith("--cfg") and word != "job"]
    return options["--config-dir"], options["--config-name"], overrides


@cache
def compose_config(config_dir: str, config_name: str, overrides: tuple[str, ...]) -> DictConfig:
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(config_name, overrides=list(overrides))


def launcher_config(*args: str, **env: str) -> DictConfig:
    """The config `run_grpo.sh --cfg job` composes for this environment, composed in this process."""
    config_dir, config_name, overrides = hydra_call(dry_run("--cfg", "job", *args, **env))
    return compose_config(config_dir, config_name, tuple(overrides))


@cache
def stock_config() -> DictConfig:
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose("ppo_trainer")


def flat_items(node: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a nested dict as {dotted key: value}; an empty dict is a leaf."""
    if not isinstance(node, dict) or not node:
        return {prefix.rstrip("."): node}
    return {key: value for name, child in node.items() for key, value in flat_items(child, f"{prefix}{name}.").items()}


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """A config's leaves, interpolations and ??? left as written."""
    return flat_items(OmegaConf.to_container(cfg, resolve=False))


def has_key(container: dict, dotted: str) -> bool:
    node: Any = container
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def recipe_keys(path: Path) -> list[str]:
    """Dotted keys a recipe YAML file sets (its @package prefix included, hydra/defaults left out)."""
    text = path.read_text()
    package = ""
    if text.startswith("# @package "):
        package = text.splitlines()[0].removeprefix("# @package ").strip()
        package = "" if package == "_global_" else package + "."
    content = {k: v for k, v in (yaml.safe_load(text) or {}).items() if k not in ("hydra", "defaults")}
    return [package + key for key in flat_items(content)] if content else []


COMBINATIONS = [(reward, train_set) for reward in REWARDS for train_set in TRAIN_SETS]


@pytest.mark.parametrize(("reward", "train_set"), COMBINATIONS)
def test_every_run_has_the_papers_hyperparameters(reward: str, train_set: str) -> None:
    cfg = launcher_config(REWARD=reward, TRAIN_SET=train_set)
    actual = {key: select(cfg, key) for key in PAPER}
    assert actual == PAPER
    assert cfg.trainer.save_freq > 0


@pytest.mark.parametrize(("reward", "train_set"), COMBINATIONS)
def test_reward_and_train_set_are_each_one_override(reward: str, train_set: str) -> None:
    cfg = launcher_config(REWARD=reward, TRAIN_SET=train_set)
    assert cfg.reward.reward_manager.name == reward
    assert cfg.data.train_files == str(DATA_DIR / f"{train_set}.parquet")
    assert reward in cfg.trainer.experiment_name and train_set in cfg.trainer.experiment_name
    assert cfg.trainer.default_local_dir.endswith(cfg.trainer.experiment_name)
    run, defaults = flat_config(cfg), flat_config(launcher_config())
    differing = {key for key in run.keys() | defaults.keys() if run.get(key) != defaults.get(key)}
    assert differing <= {
        "reward.reward_manager.name",
        "data.train_files",
        "trainer.experiment_name",
        "trainer.default_local_dir",
    }


@pytest.mark.parametrize(("reward", "train_set"), COMBINATIONS)
def test_verl_validates_every_run_as_grpo_with_reference_and_no_critic(reward: str, train_set: str) -> None:
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    cfg = launcher_config(REWARD=reward, TRAIN_SET=train_set)
    assert need_reference_policy(cfg) and not need_critic(cfg)
    validate_config(cfg, use_reference_policy=True, use_critic=False)


@pytest.mark.parametrize(("reward", "train_set"), COMBINATIONS)
def test_no_run_sets_a_legacy_key_that_main_ppo_ignores(reward: str, train_set: str) -> None:
    cfg = launcher_config(REWARD=reward, TRAIN_SET=train_set)
    set_keys = [key for key, value in flat_config(cfg).items() if key.split(".")[0] in LEGACY_TOP_LEVEL and value is not None]
    assert set_keys == [], f"veRL 0.9.1's main_ppo ignores these, yet they are set: {set_keys}"


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.rglob("*.yaml")), ids=lambda p: p.relative_to(CONFIG_DIR).as_posix())
def test_every_recipe_key_exists_in_verls_own_schema(path: Path) -> None:
    """A misspelt key in a recipe file would be merged silently: each must be one veRL defines."""
    stock = OmegaConf.to_container(stock_config(), resolve=False)
    unknown = [key for key in recipe_keys(path) if not key.startswith(ALLOWED_NEW_KEYS) and not has_key(stock, key)]
    assert unknown == []
    legacy = [key for key in recipe_keys(path) if key.split(".")[0] in LEGACY_TOP_LEVEL]
    assert legacy == []


def test_validation_runs_on_aime_amc_and_math500_by_data_source() -> None:
    cfg = launcher_config()
    assert list(cfg.data.val_files) == [str(DATA_DIR / f"{name}.parquet") for name in BENCHMARKS]
    for path, data_source in zip(cfg.data.val_files, BENCHMARKS.values(), strict=True):
        assert set(pd.read_parquet(path, columns=["data_source"])["data_source"]) == {data_source}


def test_avg_at_k_is_one_switch() -> None:
    cfg = launcher_config("eval=avg16")
    assert {key: select(cfg, key) for key in AVG_AT_K} == AVG_AT_K
    assert {key: select(cfg, key) for key in PAPER if key not in AVG_AT_K and "val_kwargs" not in key} == {
        key: value for key, value in PAPER.items() if key not in AVG_AT_K and "val_kwargs" not in key
    }


def test_environment_sets_model_nodes_gpus_experiment_and_checkpoints(tmp_path: Path) -> None:
    cfg = launcher_config(
        MODEL_PATH=str(tmp_path / "model"), NNODES="2", GPUS_PER_NODE="4", EXPERIMENT="exp1", CKPT_DIR=str(tmp_path)
    )
    assert cfg.actor_rollout_ref.model.path == str(tmp_path / "model")
    assert (cfg.trainer.nnodes, cfg.trainer.n_gpus_per_node) == (2, 4)
    assert cfg.trainer.experiment_name == "exp1"
    assert cfg.trainer.default_local_dir == str(tmp_path / "exp1")


def test_smoke_recipe_is_one_gpu_two_short_steps_of_the_same_recipe() -> None:
    from verl.utils.config import validate_config

    cfg = launcher_config("scale=smoke", MODEL_PATH="Qwen/Qwen2.5-0.5B", GPUS_PER_NODE="1")
    assert (cfg.trainer.n_gpus_per_node, cfg.actor_rollout_ref.rollout.tensor_model_parallel_size) == (1, 1)
    assert cfg.trainer.total_training_steps == 2
    assert cfg.data.max_response_length <= 1024
    assert cfg.actor_rollout_ref.model.path == "Qwen/Qwen2.5-0.5B"
    for key in ("algorithm.adv_estimator", "arr.actor.use_kl_loss", "trainer.v1.sampler.custom_sampler.path"):
        assert select(cfg, key) == PAPER[key]
    validate_config(cfg, use_reference_policy=True, use_critic=False)


def test_launcher_cfg_job_prints_the_same_config_through_verl_main_ppo() -> None:
    """The real path: run_grpo.sh --cfg job -> python -m verl.trainer.main_ppo -> Hydra prints the job config."""
    env = {"REWARD": "format", "TRAIN_SET": "math_train"}
    result = run_launcher("--cfg", "job", "eval=avg16", **env)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = OmegaConf.create(result.stdout)
    expected = launcher_config("eval=avg16", **env)
    assert OmegaConf.to_container(printed) == OmegaConf.to_container(expected)
