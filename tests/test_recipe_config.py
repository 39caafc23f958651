"""recipe/format_length: every REWARD x TRAIN_SET run composes through veRL 0.9's real Hydra config and sets
no key that veRL ignores; and it is the paper's run, key by key (the fidelity test below): the release's own
launcher overrides on its veRL 0.2 defaults (carried in release_data/release/), mapped to veRL 0.9.1 keys
by recipe/format_length/fidelity.yaml, whose deviation table lists every difference (and docs/fidelity.md shows it).

The launcher tells which command and overrides it runs (DRY_RUN=1, with $PYTHON = this interpreter and decoy
python/ray first on PATH); those are composed here in one process with Hydra's compose API, and one real
`run_grpo.sh --cfg job` subprocess checks that this composition is the one the launcher prints.
"""

from __future__ import annotations

import json
import re
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
DATA_DIR = REPO / "release_data" / "datasets"

REWARDS = ["correctness", "format", "format_length", "length", "random"]
TRAIN_SETS = ["deepscaler_17k", "math_train"]
BENCHMARKS = {"aime2024": "AIME2024", "amc2023": "AMC2023", "math500": "MATH500"}

AVG_AT_K = {
    "arr.rollout.val_kwargs.n": 16,
    "arr.rollout.val_kwargs.temperature": 0.6,
    "arr.rollout.val_kwargs.top_p": 0.95,
}

# Keys veRL 0.9.1's main_ppo never reads (it does not run migrate_legacy_reward_impl): must stay null.
LEGACY_TOP_LEVEL = ("reward_model", "custom_reward_function", "sandbox_fusion")
# Keys the recipe may add to veRL's schema: read by verl-ext's reward managers (config.reward.reward_kwargs).
# and keyword arguments of ray.init, which veRL's run_ppo passes it as they are (ray_kwargs.ray_init).
ALLOWED_NEW_KEYS = ("reward.reward_kwargs", "ray_kwargs.ray_init.")


def select(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key.replace("arr.", "actor_rollout_ref.", 1), throw_on_missing=True)


# The conftest fixture launcher_env (PYTHON = this interpreter, decoy python/ray first on PATH), set per module.
_LAUNCHER_ENV: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="module")
def _launcher_env(launcher_env: dict[str, str]) -> None:
    _LAUNCHER_ENV.update(launcher_env)


def run_launcher(*args: str, **env: str) -> subprocess.CompletedProcess:
    assert _LAUNCHER_ENV, "the launcher_env fixture did not run"
    # CHECK_VERL=0: no pre-flight veRL import (5 s each; tests/test_recipe_launcher.py checks it)
    environment = {**_LAUNCHER_ENV, "DATA_DIR": str(DATA_DIR), "CHECK_VERL": "0", **env}
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


@cache  # the launcher's answer for one environment: each test of a run reads it, one dry run per worker
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


def _dict_field(target: str, name: str) -> bool:
    """Whether the dataclass ``target`` (a node's _target_) has a field ``name`` typed as a free-form dict."""
    import dataclasses
    import importlib

    module, _, cls = target.rpartition(".")
    fields = {f.name: f for f in dataclasses.fields(getattr(importlib.import_module(module), cls))}
    return name in fields and "dict" in str(fields[name].type).lower()


def has_key(container: dict, dotted: str) -> bool:
    """Whether veRL's schema defines ``dotted``: a key of the composed config, or below a free-form dict
    (an empty mapping such as override_config, or a dict-typed field of the node's config dataclass)."""
    node: Any = container
    for part in dotted.split("."):
        if isinstance(node, dict) and not node:
            return True
        if isinstance(node, dict) and part not in node and "_target_" in node:
            return _dict_field(node["_target_"], part)
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
        "ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH",
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
    set_keys = [
        key for key, value in flat_config(cfg).items() if key.split(".")[0] in LEGACY_TOP_LEVEL and value is not None
    ]
    assert set_keys == [], f"veRL 0.9.1's main_ppo ignores these, yet they are set: {set_keys}"


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.rglob("*.yaml")), ids=lambda p: p.relative_to(CONFIG_DIR).as_posix())
def test_every_recipe_key_exists_in_verls_own_schema(path: Path) -> None:
    """A misspelt key in a recipe file would be merged silently: each must be one veRL defines."""
    stock = OmegaConf.to_container(stock_config(), resolve=False)
    unknown = [key for key in recipe_keys(path) if not key.startswith(ALLOWED_NEW_KEYS) and not has_key(stock, key)]
    assert unknown == []
    legacy = [key for key in recipe_keys(path) if key.split(".")[0] in LEGACY_TOP_LEVEL]
    assert legacy == []


@pytest.mark.parametrize(
    ("key", "defined"),
    [
        ("actor_rollout_ref.actor.ppo_mini_batch_size", True),
        ("actor_rollout_ref.actor.ppo_mini_batchsize", False),  # a typo
        ("actor_rollout_ref.model.override_config.attn_implementation", True),  # free-form {}
        ("actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype", True),  # dict field of FSDPEngineConfig
        ("actor_rollout_ref.actor.fsdp_config.mixed_precison.param_dtype", False),  # a typo
        ("actor_rollout_ref.actor.fsdp_config.param_offload.extra", False),  # below a leaf
    ],
)
def test_the_schema_check_tells_a_typo_from_a_free_form_key(key: str, defined: bool) -> None:
    assert has_key(OmegaConf.to_container(stock_config(), resolve=False), key) is defined


def test_validation_runs_on_aime_amc_and_math500_by_data_source() -> None:
    cfg = launcher_config()
    assert list(cfg.data.val_files) == [str(DATA_DIR / f"{name}.parquet") for name in BENCHMARKS]
    for path, data_source in zip(cfg.data.val_files, BENCHMARKS.values(), strict=True):
        assert set(pd.read_parquet(path, columns=["data_source"])["data_source"]) == {data_source}


def test_avg_at_k_is_one_switch() -> None:
    cfg = launcher_config("eval=avg16")
    assert {key: select(cfg, key) for key in AVG_AT_K} == AVG_AT_K
    greedy, sampled = flat_config(launcher_config()), flat_config(cfg)
    differing = {key for key in greedy.keys() | sampled.keys() if greedy.get(key) != sampled.get(key)}
    assert differing == {key.replace("arr.", "actor_rollout_ref.", 1) for key in AVG_AT_K}


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

    # No environment: scale=smoke alone gives the smoke run (the scale file's model, one node, one GPU).
    cfg = launcher_config("scale=smoke")
    assert (cfg.trainer.nnodes, cfg.trainer.n_gpus_per_node) == (1, 1)
    assert cfg.actor_rollout_ref.rollout.tensor_model_parallel_size == 1
    assert cfg.trainer.total_training_steps == 2
    assert cfg.data.max_response_length <= 1024
    assert cfg.actor_rollout_ref.model.path == "Qwen/Qwen2.5-0.5B"
    assert cfg.trainer.experiment_name == "grpo-deepscaler_17k-qwen2.5-0.5b-format_length"
    paper = launcher_config()
    for key in (
        "algorithm.adv_estimator",
        "arr.actor.use_kl_loss",
        "arr.actor.policy_loss.loss_mode",
        "trainer.v1.sampler.custom_sampler.path",
        "data.seed",
    ):
        assert select(cfg, key) == select(paper, key)
    validate_config(cfg, use_reference_policy=True, use_critic=False)


def test_launcher_cfg_job_prints_the_same_config_through_verl_main_ppo() -> None:
    """The real path: run_grpo.sh --cfg job -> python -m verl.trainer.main_ppo -> Hydra prints the job config."""
    env = {"REWARD": "format", "TRAIN_SET": "math_train"}
    result = run_launcher("--cfg", "job", "eval=avg16", **env)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = OmegaConf.create(result.stdout)
    expected = launcher_config("eval=avg16", **env)
    assert OmegaConf.to_container(printed) == OmegaConf.to_container(expected)


# ---------------------------------------------------------------- fidelity to the release's own run
RELEASE = REPO / "release_data" / "release"
FIDELITY = RECIPE / "fidelity.yaml"
FIDELITY_PAGE = REPO / "docs" / "fidelity.md"  # shows the deviation table
TABLE_BEGIN, TABLE_END = "<!-- deviation-table:begin (rendered from fidelity.yaml) -->", "<!-- deviation-table:end -->"
RELEASE_LAUNCHER = "run_grpo_math_7b.sh"
CKPT = "/ckpt"  # CKPT_DIR of the composed runs: the recipe's default_local_dir is {CKPT_DIR}/{EXPERIMENT}


def fidelity() -> dict:
    return yaml.safe_load(FIDELITY.read_text())


def shell_assignments(text: str) -> list[tuple[str, str, bool]]:
    """(name, value, commented out) of every `[#] [export] NAME=VALUE` line; command substitutions left out."""
    found = []
    for line in text.splitlines():
        match = re.match(r"^\s*(#)?\s*(?:export\s+)?([A-Za-z_]\w*)=(.*)$", line)
        if match and "$(" not in match.group(3) and "`" not in match.group(3):
            words = shlex.split(match.group(3), comments=True)
            found.append((match.group(2), words[0] if words else "", bool(match.group(1))))
    return found


def release_variables(train_set: str) -> dict[str, str]:
    """The shell variables of the release's launcher as its wrapper run_train.sh sets them; train_data is the
    wrapper's line (active or commented out) for this training set."""
    wrapper = (RELEASE / "run_train.sh").read_text()
    launcher = (RELEASE / RELEASE_LAUNCHER).read_text()
    call = next(line for line in wrapper.splitlines() if RELEASE_LAUNCHER in line and not line.lstrip().startswith("#"))
    positional = shlex.split(call)[shlex.split(call).index(f"./scripts/train/{RELEASE_LAUNCHER}") + 1 :]
    variables = {str(i): value for i, value in enumerate(positional, start=1)}
    for name, value, commented in shell_assignments(wrapper) + shell_assignments(launcher):
        if not commented:
            variables[name] = value
    train_files = [value for name, value, _ in shell_assignments(wrapper) if name == "train_data"]
    matching = [value for value in train_files if Path(value).stem == train_set]
    assert len(matching) == 1, f"run_train.sh has no train_data line for {train_set}: {train_files}"
    variables["train_data"] = matching[0]
    return variables


def expand(word: str, variables: dict[str, str]) -> str:
    def substitute(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"release launcher uses ${name}, which neither release script sets"
        return expand(variables[name], variables)

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", substitute, word)


def release_overrides(train_set: str) -> list[tuple[str, Any]]:
    """(key, value) of every Hydra override the release's launcher passes to main_ppo, parsed by Hydra."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    text = (RELEASE / RELEASE_LAUNCHER).read_text().replace("\\\n", " ")
    command = next(line for line in text.splitlines() if "ray job submit" in line and "verl.trainer.main_ppo" in line)
    words = shlex.split(command.split("verl.trainer.main_ppo", 1)[1].split("2>&1", 1)[0])
    variables = release_variables(train_set)
    parsed = OverridesParser.create().parse_overrides([expand(word, variables) for word in words])
    return [(override.key_or_group, override.value()) for override in parsed]


def release_config(train_set: str) -> dict[str, Any]:
    """The release's run, flattened: its veRL 0.2 defaults, its launcher's overrides, then its code's defaults."""
    cfg = OmegaConf.load(RELEASE / "ppo_trainer.yaml")
    for key, value in release_overrides(train_set):
        OmegaConf.update(cfg, key, value, force_add=True)
    del cfg["hydra"]  # ${now:...}: Hydra's resolver; not compared
    flat = flat_items(OmegaConf.to_container(cfg, resolve=True))
    for key, spec in fidelity()["release_code"].items():
        assert key not in flat, f"release_code sets {key}, which the release's config already sets"
        flat[key] = spec["value"]
    return flat


def same(release: Any, recipe: Any) -> bool:
    if isinstance(release, bool) or isinstance(recipe, bool):
        return type(release) is type(recipe) and release == recipe
    return release == recipe


def basenames(value: Any) -> Any:
    return [Path(v).name for v in value] if isinstance(value, list) else Path(value).name


def fill(value: Any, placeholders: dict[str, str]) -> Any:
    return value.format(**placeholders) if isinstance(value, str) and "{" in value else value


def fidelity_differences(reward: str, train_set: str, *overrides: str) -> list[str]:
    """Every difference between the release's run and the composed recipe that the deviation table does not
    list with exactly these values, and every table row that is no longer a difference."""
    table = fidelity()
    release = release_config(train_set)
    cfg = launcher_config(*overrides, REWARD=reward, TRAIN_SET=train_set, CKPT_DIR=CKPT)
    recipe = flat_items(OmegaConf.to_container(cfg, resolve=True))
    placeholders = {
        "REWARD": reward,
        "TRAIN_SET": train_set,
        "EXPERIMENT": cfg.trainer.experiment_name,
        "CKPT_DIR": CKPT,
    }
    listed_release = {key: value for row in table["deviations"] for key, value in row["release"].items()}
    listed_recipe = {
        key: fill(value, placeholders) for row in table["deviations"] for key, value in row["recipe"].items()
    }
    problems, used = [], set()
    compared = [key for key in release if key in table["mapping"] or not key.startswith(tuple(table["not_compared"]))]
    for key in compared:
        if key not in table["mapping"]:
            problems.append(f"release key {key}={release[key]!r} has no entry in fidelity.yaml's mapping")
            continue
        target = table["mapping"][key]
        theirs = release[key]
        ours = recipe.get(target, "<absent in veRL 0.9.1's config>") if target else None
        if target and key in table.get("compare_basename", []):
            theirs, ours = basenames(theirs), basenames(ours)
        if target and same(theirs, ours):
            continue
        used.add(key)
        if key not in listed_release or not same(listed_release[key], release[key]):
            problems.append(f"unlisted difference: release {key}={release[key]!r} vs recipe {target}={ours!r}")
        elif target:
            used.add(target)
            if target not in listed_recipe or not same(listed_recipe[target], ours):
                problems.append(
                    f"deviation row for {key} says recipe {target}={listed_recipe.get(target)!r}, "
                    f"the recipe has {ours!r}"
                )
    stale_mapping = sorted(set(table["mapping"]) - set(compared))
    problems += [f"mapping entry {key} is not a key of the release's run" for key in stale_mapping]
    stale_rows = sorted((listed_release.keys() | listed_recipe.keys()) - used)
    problems += [f"deviation row key {key} is not (or no longer) a difference" for key in stale_rows]
    return problems


@pytest.mark.parametrize(("reward", "train_set"), COMBINATIONS)
def test_every_run_is_the_releases_run_but_for_the_listed_deviations(reward: str, train_set: str) -> None:
    assert fidelity_differences(reward, train_set) == []


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        (
            "actor_rollout_ref.actor.optim.lr=2e-6",
            "unlisted difference: release actor_rollout_ref.actor.optim.lr=1e-06 vs recipe "
            "actor_rollout_ref.actor.optim.lr=2e-06",
        ),
        ("data.seed=42", "unlisted difference: release data.seed=1 vs recipe data.seed=42"),
        (
            "actor_rollout_ref.actor.policy_loss.loss_mode=vanilla",
            "unlisted difference: release actor_rollout_ref.actor.policy_loss='verl02_micro_token_mean' vs recipe "
            "actor_rollout_ref.actor.policy_loss.loss_mode='vanilla'",
        ),
        (
            "trainer.total_training_steps=90",
            "deviation row for trainer.total_training_steps says recipe trainer.total_training_steps=100, "
            "the recipe has 90",
        ),
        (
            "actor_rollout_ref.rollout.enforce_eager=true",
            "deviation row key actor_rollout_ref.rollout.enforce_eager is not (or no longer) a difference",
        ),
    ],
)
def test_the_fidelity_check_names_an_unlisted_or_stale_difference(override: str, problem: str) -> None:
    """Guard of the guard: one changed hyperparameter and the comparison must name it."""
    assert problem in fidelity_differences("format_length", "deepscaler_17k", override)


def test_release_launcher_is_parsed_completely() -> None:
    """Every override line of the release's launcher reaches the comparison (nothing dropped by the parser)."""
    text = (RELEASE / RELEASE_LAUNCHER).read_text()
    block = text.split("verl.trainer.main_ppo", 1)[1].split("2>&1", 1)[0]
    lines = [line.strip().rstrip("\\").strip() for line in block.splitlines() if "=" in line]
    overrides = dict(release_overrides("math_train"))
    assert len(overrides) == len(lines) == 43
    assert overrides["trainer.total_training_steps"] == 105 and overrides["trainer.test_freq"] == 5
    assert overrides["actor_rollout_ref.rollout.gpu_memory_utilization"] == 0.7
    assert overrides["data.train_files"].endswith("/math_train.parquet")
    assert overrides["trainer.logger"] == ["console", "wandb"]


def test_every_key_the_recipe_sets_is_compared_or_listed_as_recipe_only() -> None:
    table = fidelity()
    targets = set(table["mapping"].values())
    recipe_only = table["recipe_only"]
    files = [
        CONFIG_DIR / "format_length_grpo.yaml",
        CONFIG_DIR / "eval" / "greedy.yaml",
        CONFIG_DIR / "scale" / "paper.yaml",
    ]
    keys = {key for path in files for key in recipe_keys(path)}
    unaccounted = sorted(k for k in keys if k not in targets and not k.startswith(tuple(recipe_only)))
    assert unaccounted == []
    assert sorted(p for p in recipe_only if not any(k.startswith(p) for k in keys)) == [], "stale recipe_only entries"


def render_deviation_table(table: dict) -> str:
    """The deviation table of docs/fidelity.md: one row per deviation (keys = values), then the recipe-only settings."""

    def cell(values: dict) -> str:
        return "<br>".join(f"`{key}={json.dumps(value)}`" for key, value in values.items()) or "(none)"

    rows = ["| release (veRL 0.2) | recipe (veRL 0.9.1) | why |", "| --- | --- | --- |"]
    rows += [f"| {cell(row['release'])} | {cell(row['recipe'])} | {row['why']} |" for row in table["deviations"]]
    rows += [f"| {row['release']} | {row['recipe']} | {row['why']} |" for row in table["semantics"]]
    rows += [f"| (not set) | `{key}` | {why} |" for key, why in table["recipe_only"].items()]
    return "\n".join(rows)


def test_fidelity_page_shows_the_deviation_table_of_fidelity_yaml() -> None:
    text = FIDELITY_PAGE.read_text()
    assert TABLE_BEGIN in text and TABLE_END in text
    shown = text.split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0].strip()
    assert shown == render_deviation_table(fidelity()), "re-render: python tests/test_recipe_config.py"


@pytest.mark.parametrize("train_set", TRAIN_SETS)
def test_train_sampler_gives_the_releases_prompt_order_in_the_first_epoch(train_set: str) -> None:
    """veRL 0.9.1's sampler with the recipe's data config yields the permutation of the release's sampler,
    torch.utils.data.RandomSampler with torch.Generator().manual_seed(1), over the training set's rows. From
    the second epoch on they differ (a deviation-table row): torch's sampler draws an extra, empty permutation
    at the end of each epoch, torchdata's does not."""
    import torch
    from torch.utils.data import RandomSampler
    from verl.trainer.ppo.utils import create_rl_sampler

    rows = range(len(pd.read_parquet(DATA_DIR / f"{train_set}.parquet", columns=["data_source"])))
    assert len(rows) == {"deepscaler_17k": 17000, "math_train": 7470}[train_set]
    release = RandomSampler(rows, generator=torch.Generator().manual_seed(1))
    recipe = create_rl_sampler(launcher_config(TRAIN_SET=train_set).data, rows)
    assert list(recipe) == list(release)
    assert list(recipe) != list(release)  # epoch 2
    row = [r for r in fidelity()["semantics"] if r["release"].startswith("train order after the first epoch")]
    assert len(row) == 1 and "from step 59" in row[0]["why"] and 7470 // 128 == 58 and 17000 // 128 == 132


if __name__ == "__main__":
    print(render_deviation_table(fidelity()))
