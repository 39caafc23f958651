"""recipe/format_length/run_grpo.sh: the command it runs (DRY_RUN=1), on one node and as a Ray job,
and the clear errors it stops with before anything starts (its pre-flight runs with $PYTHON).

Every launcher call gets PYTHON = this interpreter and decoy python/python3/ray first on PATH (conftest's
launcher_env): a bare `python3` or `ray` anywhere in the launcher fails these tests."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from verl_ext.rewards.registry import preset_names

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipe" / "format_length"
DATA_DIR = REPO / "release_data" / "datasets"
PLUGIN_ENV = "VERL_USE_EXTERNAL_MODULES=verl_ext.verl.plugin"
_LAUNCHER_ENV: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="module")
def _launcher_env(launcher_env: dict[str, str]) -> None:
    _LAUNCHER_ENV.update(launcher_env)


def launch(*args: str, script: str = "run_grpo.sh", cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    assert _LAUNCHER_ENV, "the launcher_env fixture did not run"
    environment = dict(_LAUNCHER_ENV)
    # CHECK_VERL=0: the pre-flight's veRL import (5 s) is checked by the tests that pass CHECK_VERL="1"
    environment.update({"DATA_DIR": str(DATA_DIR), "DRY_RUN": "1", "CHECK_VERL": "0", **env})
    return subprocess.run(
        ["bash", str(RECIPE / script), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def command(*args: str, **env: str) -> list[str]:
    result = launch(*args, **env)
    assert result.returncode == 0, result.stderr
    return shlex.split(result.stdout)


def job_entrypoint(words: list[str]) -> list[str]:
    """What a Ray job's shell runs: `ray job submit` joins the words with list2cmdline, /bin/sh splits them."""
    return shlex.split(subprocess.list2cmdline(words[words.index("--") + 1 :]))


def test_single_node_runs_verls_main_ppo_with_the_recipe_config_in_place() -> None:
    words = command("eval=avg16", CHECK_VERL="1")  # with the pre-flight's veRL import, as users run it
    assert words[:5] == [
        sys.executable,
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


def test_hydra_print_flags_need_no_data_or_model() -> None:
    words = command("--cfg", "job", DATA_DIR="/nonexistent", MODEL_PATH="/nonexistent/model")
    assert words[2] == "verl.trainer.main_ppo" and words[-2:] == ["--cfg", "job"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REWARD": "nope"}, f"unknown REWARD 'nope' (choose one of: {' '.join(preset_names())})"),
        ({"TRAIN_SET": "gsm8k"}, "unknown TRAIN_SET 'gsm8k' (choose one of: deepscaler_17k math_train)"),
    ],
)
def test_hydra_print_flags_still_check_reward_and_train_set(env: dict, message: str) -> None:
    result = launch("--cfg", "job", **env)
    assert (result.returncode, result.stdout) == (2, "")
    assert message in result.stderr


@pytest.mark.parametrize("script", ["run_grpo.sh", "run_smoke.sh"])
def test_scale_smoke_alone_gives_the_smoke_run_on_one_gpu(script: str) -> None:
    """The scale file gives the environment's defaults: no MODEL_PATH or GPUS_PER_NODE needed."""
    words = command("scale=smoke") if script == "run_grpo.sh" else shlex.split(launch(script=script).stdout)
    assert words[2] == "verl.trainer.main_ppo"
    assert {
        "scale=smoke",
        "trainer.n_gpus_per_node=1",
        "trainer.nnodes=1",
        "actor_rollout_ref.model.path=Qwen/Qwen2.5-0.5B",
    } <= set(words)


def test_paper_scale_defaults_to_the_7b_model_on_eight_gpus_and_the_environment_overrides_a_scale() -> None:
    assert {"trainer.n_gpus_per_node=8", "actor_rollout_ref.model.path=Qwen/Qwen2.5-Math-7B"} <= set(command())
    assert "trainer.n_gpus_per_node=2" in command("scale=smoke", GPUS_PER_NODE="2")


def test_an_unknown_scale_is_an_error_naming_the_choices() -> None:
    result = launch("scale=huge")
    assert result.returncode == 2 and "unknown scale 'huge'" in result.stderr and "paper" in result.stderr


@pytest.mark.parametrize(
    ("args", "dry_run"), [((), "1"), (("--cfg", "job"), "0")], ids=["DRY_RUN=1", "--cfg job, for real"]
)
def test_a_dry_run_or_a_printed_config_writes_nothing(tmp_path: Path, args: tuple, dry_run: str) -> None:
    """Issue 12 item 10: DRY_RUN=1 used to create $CKPT_DIR/logs; --cfg job only prints, too. Issue 31: printing the
    config on a machine without a GPU gets no "No supported accelerator detected ... Falling back to 'nvidia'" from
    veRL's platform probe (the launcher names the platform the probe ends on)."""
    (tmp_path / "cwd").mkdir()
    result = launch(
        *args, CKPT_DIR=str(tmp_path / "ckpt"), LOG_DIR=str(tmp_path / "logs"), cwd=tmp_path / "cwd", DRY_RUN=dry_run
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd"] and list((tmp_path / "cwd").iterdir()) == []
    assert "accelerator" not in result.stderr, result.stderr


def test_the_log_path_and_plugin_reach_the_trainer_through_rays_runtime_env(tmp_path: Path) -> None:
    """Shell exports do not reach veRL's TaskRunner on a running Ray cluster: ray.init's runtime env does."""
    words = command(CKPT_DIR=str(tmp_path), EXPERIMENT="exp")
    prefix = "+ray_kwargs.ray_init.runtime_env.env_vars."
    assert {w.removeprefix(prefix) for w in words if w.startswith(prefix)} == {
        f"VERL_FILE_LOGGER_PATH={tmp_path / 'logs' / 'format_length' / 'exp.jsonl'}",
        PLUGIN_ENV,
    }


def test_multi_node_submits_a_ray_job_carrying_the_checkout_and_the_plugin(tmp_path: Path) -> None:
    words = command("eval=avg16", NNODES="2", RAY_ADDRESS="http://head:8265", CKPT_DIR=str(tmp_path), EXPERIMENT="exp")
    # Ray's CLI of $PYTHON's environment, not whichever `ray` is first on PATH
    assert words[:6] == [sys.executable, "-m", "ray.scripts.scripts", "job", "submit", "--address=http://head:8265"]
    runtime_env = json.loads(words[6].removeprefix("--runtime-env-json="))
    assert runtime_env["working_dir"] == str(REPO)
    assert {".git", "data", "checkpoints"} <= set(runtime_env["excludes"])
    assert runtime_env["env_vars"]["VERL_FILE_LOGGER_PATH"] == str(tmp_path / "logs" / "format_length" / "exp.jsonl")

    entrypoint = job_entrypoint(words)
    assert entrypoint[:5] == [
        sys.executable,
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
    runtime_env = json.loads(command(NNODES="2")[6].removeprefix("--runtime-env-json="))
    assert {runtime_env["env_vars"]["VERL_USE_EXTERNAL_MODULES"]} == plugin_modules


def test_job_arguments_survive_ray_quoting_and_the_job_shell() -> None:
    tricky = "trainer.default_local_dir='${oc.env:SCRATCH}/ckpt'"
    assert job_entrypoint(command(tricky, NNODES="2"))[-1] == tricky


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"DATA_DIR": "/nonexistent/data"}, (), "missing data file(s): /nonexistent/data/deepscaler_17k.parquet"),
        (
            {"TRAIN_SET": "math_train", "DATA_DIR": "/nonexistent/data"},
            (),
            "missing data file(s): /nonexistent/data/math_train.parquet",
        ),
        ({"TRAIN_SET": "gsm8k"}, (), "unknown TRAIN_SET 'gsm8k'"),
        ({"MODEL_PATH": "/nonexistent/model"}, (), "MODEL_PATH '/nonexistent/model' is not a model directory"),
        ({"MODEL_PATH": "Org/not-cached-model", "HF_HUB_OFFLINE": "1"}, (), "nor in the Hugging Face cache"),
        (
            {"REWARD": "accuracy"},
            (),
            "unknown REWARD 'accuracy' (choose one of: correctness format format_gated_majority",
        ),
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


def test_scale_cpu_without_data_dir_reads_the_carried_release_files(tmp_path: Path) -> None:
    """A fresh clone runs scale=cpu with no DATA_DIR: every data check passes on release_data/datasets."""
    carried = REPO / "release_data" / "datasets"
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    words = command("scale=cpu", DATA_DIR="", MODEL_PATH=str(tmp_path / "model"))
    assert f"data.train_files={carried / 'deepscaler_17k.parquet'}" in words
    assert (
        f"data.val_files=[{carried / 'aime2024.parquet'},{carried / 'amc2023.parquet'},{carried / 'math500.parquet'}]"
        in words
    )


def test_other_scales_without_data_dir_read_what_prepare_writes() -> None:
    words = command("--cfg", "job", DATA_DIR="", MODEL_PATH="/nonexistent/model")
    assert f"data.train_files={REPO / 'data' / 'deepscaler_17k.parquet'}" in words


def test_a_broken_plugin_stops_the_launcher_before_anything_starts(tmp_path: Path) -> None:
    """veRL only logs a failing verl.plugins entry point at debug level (then "Unknown reward manager" deep in
    a Ray worker); the pre-flight imports veRL with VERL_USE_EXTERNAL_MODULES, so the plugin's error surfaces."""
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['verl_ext.verl.managers'] = None\n")
    result = launch(PYTHONPATH=str(tmp_path), CHECK_VERL="1")
    assert (result.returncode, result.stdout) == (2, "")
    assert "'import verl' failed" in result.stderr and "verl_ext.verl.managers" in result.stderr
    # CHECK_VERL=0 skips exactly that import: the same broken plugin then passes the pre-flight
    skipped = launch(PYTHONPATH=str(tmp_path), CHECK_VERL="0")
    assert skipped.returncode == 0, skipped.stderr
    assert "verl.trainer.main_ppo" in skipped.stdout


def test_check_verl_takes_only_0_or_1() -> None:
    result = launch(CHECK_VERL="no")
    assert (result.returncode, result.stdout) == (2, "")
    assert "CHECK_VERL must be 0 or 1, not 'no'" in result.stderr


def test_a_python_that_does_not_exist_is_named() -> None:
    result = launch(PYTHON="/nonexistent/bin/python")
    assert (result.returncode, result.stdout) == (2, "")
    assert "PYTHON='/nonexistent/bin/python' is not an interpreter" in result.stderr


@pytest.mark.parametrize("flags", [(), ("--cfg", "job")])
def test_the_pre_flight_runs_with_python_even_when_another_python_has_everything(tmp_path: Path, flags: tuple) -> None:
    """$PYTHON = this interpreter without its site-packages (-S): no verl-ext there, so the launcher must stop,
    although the interpreter that runs the test has verl-ext."""
    bare = tmp_path / "python"
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    bare.chmod(0o755)
    result = launch(*flags, PYTHON=str(bare))
    assert (result.returncode, result.stdout) == (2, "")
    assert f"run_grpo.sh: error: {sys.executable} cannot run the recipe: No module named" in result.stderr
