"""recipe/format_length/run_grpo.sh: the command it runs (DRY_RUN=1), on one node and as a Ray job,
and the clear errors it stops with before anything starts."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from importlib.metadata import entry_points
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipe" / "format_length"
DATA_DIR = REPO.parent / "shared" / "data" / "rl-without-gt" / "datasets"
ENV_NAMES = ("REWARD", "TRAIN_SET", "MODEL_PATH", "DATA_DIR", "CKPT_DIR", "LOG_DIR", "NNODES", "GPUS_PER_NODE",
             "EXPERIMENT", "RAY_ADDRESS", "DRY_RUN", "HF_HUB_OFFLINE", "VERL_FILE_LOGGER_ROOT")


def launch(*args: str, script: str = "run_grpo.sh", **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    environment.update({"DATA_DIR": str(DATA_DIR), "DRY_RUN": "1", **env})
    return subprocess.run(
        ["bash", str(RECIPE / script), *args], env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def command(*args: str, **env: str) -> list[str]:
    result = launch(*args, **env)
    assert result.returncode == 0, result.stderr
    return shlex.split(result.stdout)


def job_entrypoint(words: list[str]) -> list[str]:
    """What a Ray job's shell runs: `ray job submit` joins the words with list2cmdline, /bin/sh splits them."""
    return shlex.split(subprocess.list2cmdline(words[words.index("--") + 1 :]))


def test_single_node_runs_verls_main_ppo_with_the_recipe_config_in_place() -> None:
    words = command("eval=avg16")
    assert words[:5] == [
        "python3",
        "-m",
        "verl.trainer.main_ppo",
        f"--config-dir={RECIPE / 'config'}",
        "--config-name=format_length_grpo",
    ]
    assert "reward.reward_manager.name=format_length" in words
    assert f"data.train_files={DATA_DIR / 'deepscaler_17k.parquet'}" in words
    assert words[-1] == "eval=avg16"


def test_overrides_are_passed_before_hydra_flags_whatever_their_order() -> None:
    words = command("--cfg", "job", "trainer.logger=[console]", "eval=avg16")
    assert words[-4:] == ["trainer.logger=[console]", "eval=avg16", "--cfg", "job"]


def test_hydra_print_flags_need_no_data_model_or_checks() -> None:
    words = command("--cfg", "job", DATA_DIR="/nonexistent", MODEL_PATH="/nonexistent/model", REWARD="nope")
    assert words[2] == "verl.trainer.main_ppo" and words[-2:] == ["--cfg", "job"]


def test_smoke_script_is_the_same_launcher_at_smoke_scale_on_one_gpu() -> None:
    result = launch(script="run_smoke.sh")
    assert result.returncode == 0, result.stderr
    words = shlex.split(result.stdout)
    assert words[2] == "verl.trainer.main_ppo"
    assert {"scale=smoke", "trainer.n_gpus_per_node=1", "trainer.nnodes=1", "actor_rollout_ref.model.path=Qwen/Qwen2.5-0.5B"} <= set(words)


def test_multi_node_submits_a_ray_job_carrying_the_checkout_and_the_plugin(tmp_path: Path) -> None:
    words = command("eval=avg16", NNODES="2", RAY_ADDRESS="http://head:8265", CKPT_DIR=str(tmp_path))
    assert words[:4] == ["ray", "job", "submit", "--address=http://head:8265"]
    runtime_env = json.loads(words[4].removeprefix("--runtime-env-json="))
    assert runtime_env["working_dir"] == str(REPO)
    assert {".git", "data", "checkpoints"} <= set(runtime_env["excludes"])
    assert runtime_env["env_vars"]["VERL_FILE_LOGGER_ROOT"] == str(tmp_path / "logs")

    entrypoint = job_entrypoint(words)
    assert entrypoint[:5] == [
        "python3",
        "-m",
        "verl.trainer.main_ppo",
        "--config-dir=recipe/format_length/config",
        "--config-name=format_length_grpo",
    ]
    # The config dir is relative to the job's working directory, a copy of this checkout.
    assert (REPO / "recipe" / "format_length" / "config" / "format_length_grpo.yaml").is_file()
    assert {"trainer.nnodes=2", "trainer.n_gpus_per_node=8", "eval=avg16"} <= set(entrypoint)
    assert f"data.train_files={DATA_DIR / 'deepscaler_17k.parquet'}" in entrypoint


def test_the_job_imports_the_module_of_verl_exts_plugin_entry_point() -> None:
    plugin_modules = {ep.value.split(":")[0] for ep in entry_points(group="verl.plugins") if ep.name == "verl_ext"}
    if not plugin_modules:
        pytest.skip("verl-ext is not installed (pip install -e .): no entry point to compare with")
    runtime_env = json.loads(command(NNODES="2")[4].removeprefix("--runtime-env-json="))
    assert {runtime_env["env_vars"]["VERL_USE_EXTERNAL_MODULES"]} == plugin_modules


def test_job_arguments_survive_ray_quoting_and_the_job_shell() -> None:
    tricky = "trainer.default_local_dir='${oc.env:SCRATCH}/ckpt'"
    assert job_entrypoint(command(tricky, NNODES="2"))[-1] == tricky


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"DATA_DIR": "/nonexistent/data"}, (), "missing data file(s): /nonexistent/data/deepscaler_17k.parquet"),
        ({"TRAIN_SET": "gsm8k"}, (), f"missing data file(s): {DATA_DIR / 'gsm8k.parquet'}"),
        ({"MODEL_PATH": "/nonexistent/model"}, (), "MODEL_PATH '/nonexistent/model' is not a model directory"),
        ({"MODEL_PATH": "Org/not-cached-model", "HF_HUB_OFFLINE": "1"}, (), "nor in the Hugging Face cache"),
        ({"REWARD": "accuracy"}, (), "unknown REWARD 'accuracy' (choose one of: correctness format format_length"),
        ({"NNODES": "two"}, (), "NNODES must be a positive integer"),
        ({"GPUS_PER_NODE": "0"}, (), "GPUS_PER_NODE must be a positive integer"),
        ({"NNODES": "2"}, ("trainer.experiment_name='a b'",), "no argument may contain whitespace"),
    ],
)
def test_bad_inputs_stop_with_a_clear_error_before_anything_starts(env: dict, args: tuple, message: str) -> None:
    result = launch(*args, **env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr


def test_a_hub_model_not_in_the_cache_is_downloaded_with_a_warning() -> None:
    result = launch(MODEL_PATH="Org/not-cached-model", HF_HUB_OFFLINE="0", HF_HOME="/nonexistent/hf")
    assert result.returncode == 0
    assert "downloads it from the Hugging Face Hub" in result.stderr
    assert "actor_rollout_ref.model.path=Org/not-cached-model" in shlex.split(result.stdout)


def test_a_local_model_directory_is_passed_as_an_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    words = command(MODEL_PATH=str(tmp_path / "model"))
    assert f"actor_rollout_ref.model.path={tmp_path / 'model'}" in words
    assert "trainer.experiment_name=grpo-deepscaler_17k-model-format_length" in words
