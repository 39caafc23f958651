"""run_grpo.sh forwards the user's environment (wandb and Hugging Face credentials and caches, NCCL_*,
FORWARD_ENV's names) to veRL's TaskRunner and every Ray worker, on one node and as a Ray job, and never
puts a secret on a command line or in veRL's config (which veRL prints).

Nothing is launched: $PYTHON is a recorder that runs the real interpreter for the launcher's checks and,
instead of ``main_ppo`` or ``ray job submit``, writes down its arguments and environment. The runtime env
that Ray would give the actors is then composed as veRL 0.9.1's main_ppo and Ray 2.x compose it, with their
own functions: veRL's ``get_ppo_ray_runtime_env`` merged with the ``ray_kwargs.ray_init.runtime_env``
overrides, Ray's ``RAY_RUNTIME_ENV_HOOK`` step of ray.init, and, inside a job, Ray's merge of the job's
runtime env with ray.init's."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from verl_ext.verl import forward_env

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = REPO / "recipe" / "format_length" / "run_grpo.sh"
DATA_DIR = REPO / "release_data" / "datasets"
RAY_INIT_ENV_PREFIX = "+ray_kwargs.ray_init.runtime_env.env_vars."

SECRETS = {"WANDB_API_KEY": "wandb-secret-1", "HF_TOKEN": "hf_secret_2", "MY_API_KEY": "user-secret-3"}
PLAIN = {
    "HF_HOME": "/shared/hf",
    "HF_HUB_CACHE": "/shared/hf/hub",
    "HF_HUB_OFFLINE": "1",
    "NCCL_SOCKET_IFNAME": "eth0",
    "NCCL_IB_HCA": "mlx5_0,mlx5_1",
    "NCCL_ALGO": "Ring",  # also forwarded by veRL's main_ppo itself: must not clash inside a job
    "MY_SETTING": "on at startup",  # a space: fine in a runtime env, refused on a job's command line
}
USER_ENV = {**SECRETS, **PLAIN, "FORWARD_ENV": "MY_SETTING MY_API_KEY", "NOT_FORWARDED": "x"}

RECORDER = """#!/usr/bin/env bash
# Runs the real interpreter, except for main_ppo and `ray job submit`: their arguments and environment go to $RECORD.
case "$1 $2" in
    "-m verl.trainer.main_ppo" | "-m ray.scripts.scripts")
        exec "{python}" - "$@" <<'PY'
import json, os, re, stat, sys
argv = sys.argv[1:]
files = {{}}
for word in argv:
    if word.startswith("--runtime-env="):
        path = word.split("=", 1)[1]
        files[path] = {{"text": open(path).read(), "mode": stat.S_IMODE(os.stat(path).st_mode)}}
json.dump({{"argv": argv, "env": dict(os.environ), "files": files}}, open(os.environ["RECORD"], "w"))
PY
        ;;
esac
exec "{python}" "$@"
"""


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recorder") / "python"
    path.write_text(RECORDER.format(python=sys.executable))
    path.chmod(0o755)
    return path


def clean_env(launcher_env: dict[str, str]) -> dict[str, str]:
    """The test machine's environment without anything the launcher reads or forwards."""
    dropped = {
        "FORWARD_ENV",
        "RAY_RUNTIME_ENV_HOOK",
        "RAY_JOB_CONFIG_JSON_ENV_VAR",
        "NNODES",
        "DRY_RUN",
        "EXPERIMENT",
        "MODEL_PATH",
        "DATA_DIR",
        "CKPT_DIR",
        "LOG_DIR",
        *forward_env.ALWAYS_FORWARDED,
    }
    kept = {k: v for k, v in launcher_env.items() if k not in dropped and not k.startswith(forward_env.NCCL_PREFIX)}
    return kept | {"CHECK_VERL": "0"}  # no pre-flight veRL import (5 s each; tests/test_recipe_launcher.py checks it)


def record_launch(tmp_path: Path, launcher_env: dict[str, str], recorder: Path, **env: str) -> dict[str, Any]:
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    record = tmp_path / "record.json"
    environment = {
        **clean_env(launcher_env),
        "PYTHON": str(recorder),
        "RECORD": str(record),
        "DATA_DIR": str(DATA_DIR),
        "MODEL_PATH": str(model),
        "CKPT_DIR": str(tmp_path / "ckpt"),
        "EXPERIMENT": "exp",
        **env,
    }
    result = subprocess.run(
        ["bash", str(LAUNCHER)], env=environment, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    recorded = json.loads(record.read_text())
    recorded["output"] = result.stdout + result.stderr
    return recorded


def ray_init_overrides(argv: list[str]) -> dict[str, str]:
    """The ray_init env_vars the Hydra overrides set, values as Hydra parses them."""
    words = [w for w in argv if w.startswith(RAY_INIT_ENV_PREFIX)]
    return {
        o.key_or_group.removeprefix(RAY_INIT_ENV_PREFIX[1:]): o.value()
        for o in OverridesParser.create().parse_overrides(words)
    }


def verl_ray_init_runtime_env(argv: list[str], driver_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict:
    """ray.init's runtime_env as veRL 0.9.1's run_ppo builds it in a driver whose environment is driver_env."""
    from verl.trainer.constants_ppo import get_ppo_ray_runtime_env

    monkeypatch.setattr(os, "environ", dict(driver_env))
    overrides = OmegaConf.create({"env_vars": ray_init_overrides(argv)})
    return OmegaConf.to_container(OmegaConf.merge(get_ppo_ray_runtime_env(None), overrides))


def test_one_node_every_forwarded_variable_reaches_the_actors_and_no_secret_is_in_the_command(
    tmp_path: Path, launcher_env: dict[str, str], recorder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray._private.worker import _maybe_modify_runtime_env

    recorded = record_launch(tmp_path, launcher_env, recorder, **USER_ENV)
    argv, driver_env = recorded["argv"], recorded["env"]
    assert argv[:2] == ["-m", "verl.trainer.main_ppo"]
    runtime_env = verl_ray_init_runtime_env(argv, driver_env, monkeypatch)
    # what ray.init does next with it (Ray's hook step; the driver runs outside `uv run`)
    monkeypatch.setattr("ray._private.ray_constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV", False)
    env_vars = _maybe_modify_runtime_env(runtime_env, False)["env_vars"]

    assert {name: env_vars.get(name) for name in {**SECRETS, **PLAIN}} == {**SECRETS, **PLAIN}
    assert "NOT_FORWARDED" not in env_vars
    assert env_vars["VERL_USE_EXTERNAL_MODULES"] == "verl_ext.verl.plugin"
    # the overrides (veRL prints them, Hydra saves them) and everything the launcher said hold no secret
    assert not [w for w in argv if any(secret in w for secret in SECRETS.values())]
    assert not [secret for secret in SECRETS.values() if secret in recorded["output"]]
    assert set(ray_init_overrides(argv)) >= set(PLAIN)


def test_a_ray_job_carries_every_forwarded_variable_and_rays_merge_with_main_ppos_ray_init_succeeds(
    tmp_path: Path, launcher_env: dict[str, str], recorder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray._private.worker import _maybe_modify_runtime_env
    from ray.runtime_env.runtime_env import _merge_runtime_env

    recorded = record_launch(tmp_path, launcher_env, recorder, NNODES="2", **USER_ENV)
    argv = recorded["argv"]
    assert argv[:4] == ["-m", "ray.scripts.scripts", "job", "submit"]
    assert not [w for w in argv if any(secret in w for secret in SECRETS.values())], "a secret on the command line"
    assert (tmp_path / "ckpt" / "logs" / "format_length").is_dir(), "the job goes through the launcher's run (log kept)"
    assert not [w for w in argv if w.startswith(RAY_INIT_ENV_PREFIX + "MY_SETTING")], "forwarded in the job's env only"
    ((path, file),) = recorded["files"].items()
    assert file["mode"] == 0o600 and not Path(path).exists(), "the runtime env file is private and removed afterwards"
    job_env = json.loads(file["text"])
    assert job_env["working_dir"] == str(REPO)
    assert {name: job_env["env_vars"].get(name) for name in {**SECRETS, **PLAIN}} == {**SECRETS, **PLAIN}

    # The job's driver: the job's env_vars in its environment, main_ppo's ray.init merges its own runtime env in.
    entrypoint = shlex.split(subprocess.list2cmdline(argv[argv.index("--") + 1 :]))
    driver_env = {**clean_env(launcher_env), **job_env["env_vars"]}
    driver_runtime_env = verl_ray_init_runtime_env(entrypoint, driver_env, monkeypatch)
    override = driver_env.get("RAY_OVERRIDE_JOB_RUNTIME_ENV") == "1"
    merged = _merge_runtime_env(job_env, driver_runtime_env, override=override)
    assert merged is not None, "ray.init would raise: the job's and main_ppo's runtime envs name the same variables"
    monkeypatch.setattr("ray._private.ray_constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV", False)
    env_vars = _maybe_modify_runtime_env(merged, False)["env_vars"]
    assert {name: env_vars.get(name) for name in {**SECRETS, **PLAIN}} == {**SECRETS, **PLAIN}
    # Why the override is needed: without it Ray refuses the merge (the recipe's variables and NCCL_ALGO twice).
    assert _merge_runtime_env(job_env, driver_runtime_env, override=False) is None


def test_a_dry_run_job_shows_the_runtime_env_with_secrets_masked(tmp_path: Path, launcher_env: dict[str, str]) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    environment = {
        **clean_env(launcher_env),
        **USER_ENV,
        "DATA_DIR": str(DATA_DIR),
        "NNODES": "2",
        "DRY_RUN": "1",
        "CKPT_DIR": str(tmp_path),
        "MODEL_PATH": str(tmp_path / "model"),
    }
    result = subprocess.run(
        ["bash", str(LAUNCHER)], env=environment, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    words = shlex.split(result.stdout)
    env_vars = json.loads(next(w for w in words if w.startswith("--runtime-env-json=")).split("=", 1)[1])["env_vars"]
    assert {name: env_vars[name] for name in SECRETS} == dict.fromkeys(SECRETS, forward_env.MASK)
    assert {name: env_vars[name] for name in PLAIN} == PLAIN
    assert not [secret for secret in SECRETS.values() if secret in result.stdout + result.stderr]


@pytest.mark.parametrize(
    ("forward", "message"),
    [
        ("MISSING_VAR", "FORWARD_ENV names MISSING_VAR, which is not set"),
        ("A-B", "FORWARD_ENV: 'A-B' is not a variable name"),
    ],
)
def test_a_bad_forward_env_stops_the_launcher(launcher_env: dict[str, str], forward: str, message: str) -> None:
    environment = {**clean_env(launcher_env), "FORWARD_ENV": forward, "DATA_DIR": str(DATA_DIR), "DRY_RUN": "1"}
    result = subprocess.run(
        ["bash", str(LAUNCHER)], env=environment, capture_output=True, text=True, timeout=300, check=False
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert message in result.stderr


# ---------------------------------------------------------------- the module's own rules
@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("WANDB_API_KEY", True),
        ("HF_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("DB_PASSWORD", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("HF_HOME", False),
        ("NCCL_SOCKET_IFNAME", False),
        ("HF_HUB_OFFLINE", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert forward_env.is_secret(name) is secret


def test_forwarded_names_are_the_set_ones_then_nccl_then_forward_env_each_once() -> None:
    environ = {"HF_HOME": "/h", "NCCL_B": "1", "NCCL_A": "2", "WANDB_API_KEY": "k", "OTHER": "o", "X": "x"}
    assert forward_env.forwarded_names(environ, "X HF_HOME") == ["WANDB_API_KEY", "HF_HOME", "NCCL_A", "NCCL_B", "X"]
    assert forward_env.forwarded_names({}, "") == []


def test_the_hook_adds_the_named_variables_keeps_explicit_values_and_calls_a_chained_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(forward_env.NAMES_VARIABLE, "A B UNSET")
    monkeypatch.setenv("A", "from-shell")
    monkeypatch.setenv("B", "b")
    monkeypatch.delenv("UNSET", raising=False)
    monkeypatch.setitem(sys.modules, "users_own_hooks", types.SimpleNamespace(hook=user_hook))
    monkeypatch.setenv(forward_env.CHAINED_HOOK_VARIABLE, "users_own_hooks.hook")
    result = forward_env.hook({"env_vars": {"A": "explicit"}, "working_dir": None})
    assert result == {"env_vars": {"A": "explicit", "B": "b", "USER": "hook"}, "working_dir": None}


def user_hook(runtime_env: dict) -> dict:
    return {**runtime_env, "env_vars": {**runtime_env["env_vars"], "USER": "hook"}}


# ---------------------------------------------------------------- a real Ray cluster started beforehand
WORKER_ENV_DRIVER = """
import json, os, sys, ray
ray.init(address=sys.argv[1])

@ray.remote
def worker_env():
    return {name: os.environ.get(name) for name in ("WANDB_API_KEY", "MY_SETTING")}

print("WORKER_ENV", json.dumps(ray.get(worker_env.remote())))
"""


def test_on_a_ray_cluster_started_beforehand_the_hook_gives_the_workers_the_drivers_variables(tmp_path: Path) -> None:
    """The documented flow: `ray start` in another shell, then the launcher. Without the hook the worker sees
    nothing of the driver's environment; with run_grpo.sh's RAY_RUNTIME_ENV_HOOK it sees the named variables."""
    import socket
    import tempfile
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp_dir = tempfile.mkdtemp(prefix="rayfw", dir="/tmp")  # Ray's socket paths must stay short
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "RAY_AUTH_MODE": "disabled"}
    log = tmp_path / "head.log"
    with log.open("w") as out:
        head = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ray.scripts.scripts",
                "start",
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                "--num-cpus=1",
                "--include-dashboard=false",
                f"--temp-dir={temp_dir}",
                "--block",
            ],
            env=base,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text() and time.monotonic() < deadline:
            assert head.poll() is None, log.read_text()
            time.sleep(1)
        driver = tmp_path / "driver.py"
        driver.write_text(WORKER_ENV_DRIVER)

        def worker_env(**env: str) -> dict:
            result = subprocess.run(
                [sys.executable, str(driver), f"127.0.0.1:{port}"],
                env={**os.environ, **base, **env},
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            line = next((l for l in result.stdout.splitlines() if l.startswith("WORKER_ENV ")), None)
            assert line, result.stderr[-2000:]
            return json.loads(line.removeprefix("WORKER_ENV "))

        user = {"WANDB_API_KEY": "wandb-secret-1", "MY_SETTING": "on"}
        assert worker_env(**user) == {"WANDB_API_KEY": None, "MY_SETTING": None}
        hooked = worker_env(
            **user, RAY_RUNTIME_ENV_HOOK=forward_env.HOOK, VERL_EXT_FORWARD_ENV="WANDB_API_KEY MY_SETTING"
        )
        assert hooked == user
    finally:
        head.terminate()  # `ray start --block` stops the processes it started
        head.wait(timeout=120)
        shutil.rmtree(temp_dir, ignore_errors=True)
