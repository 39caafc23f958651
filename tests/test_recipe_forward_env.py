"""run_grpo.sh forwards the user's environment (HF_*, WANDB_*, NCCL_* and FORWARD_ENV's names) to veRL's
TaskRunner and every Ray worker, on one node and as a Ray job, and never puts a secret's value on a command line,
in veRL's config (which veRL prints) or in anything it prints: secrets are passed by name. On one node a fresh Ray
instance inherits them (no runtime env, which Ray logs); a Ray cluster that ray.init attaches to gets them in the
runtime env, through Ray's RAY_RUNTIME_ENV_HOOK.

Nothing is launched: $PYTHON is a recorder that runs the real interpreter for the launcher's checks and,
instead of ``main_ppo`` or ``ray job submit``, writes down its arguments and environment; it also writes down the
arguments of every $PYTHON call. The runtime env that Ray would give the actors is then composed as veRL 0.9.1's
main_ppo and Ray 2.x compose it, with their own functions: veRL's ``get_ppo_ray_runtime_env`` merged with the
``ray_kwargs.ray_init.runtime_env`` overrides, Ray's ``RAY_RUNTIME_ENV_HOOK`` step of ray.init, and, inside a job,
Ray's merge of the job's runtime env with ray.init's."""

from __future__ import annotations

import json
import os
import re
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
    "HF_ENDPOINT": "https://hf-mirror.example",
    "HF_HUB_ENABLE_HF_TRANSFER": "1",
    "WANDB_BASE_URL": "https://wandb.example",
    "WANDB_ENTITY": "lab",
    "WANDB_MODE": "offline",
    "NCCL_SOCKET_IFNAME": "eth0",
    "NCCL_IB_HCA": "mlx5_0,mlx5_1",
    "NCCL_ALGO": "Ring",  # also forwarded by veRL's main_ppo itself: must not clash inside a job
    "MY_SETTING": "on at startup",  # a space: fine in a runtime env, refused on a job's command line
}
USER_ENV = {**SECRETS, **PLAIN, "FORWARD_ENV": "MY_SETTING MY_API_KEY", "NOT_FORWARDED": "x"}

RECORDER = """#!/usr/bin/env bash
# Runs the real interpreter, except for main_ppo and `ray job submit`: their arguments and environment go to $RECORD.
# Every call's arguments go to $RECORD.argv, one line each.
printf '%s\\n' "$*" >> "$RECORD.argv"
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
    """The launcher's environment (none of its settings or forwarded variables from the test machine) without the
    pre-flight's veRL import (5 s each; tests/test_recipe_launcher.py checks it)."""
    return launcher_env | {"CHECK_VERL": "0"}


def record_launch(
    tmp_path: Path, launcher_env: dict[str, str], recorder: Path, *overrides: str, **env: str
) -> dict[str, Any]:
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
        ["bash", str(LAUNCHER), *overrides], env=environment, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    recorded = json.loads(record.read_text())
    recorded["output"] = result.stdout + result.stderr
    recorded["calls"] = Path(f"{record}.argv").read_text()
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


def hooked_env_vars(argv: list[str], driver_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict:
    """The env_vars of ray.init's runtime env in main_ppo, after Ray's hook step (the driver outside `uv run`)."""
    from ray._private.worker import _maybe_modify_runtime_env

    runtime_env = verl_ray_init_runtime_env(argv, driver_env, monkeypatch)
    monkeypatch.setattr("ray._private.ray_constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV", False)
    return _maybe_modify_runtime_env(runtime_env, False)["env_vars"]


def test_one_node_a_fresh_ray_instance_inherits_the_secrets_and_gets_the_rest_in_its_runtime_env(
    tmp_path: Path, launcher_env: dict[str, str], recorder: Path, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    """ray.init starts its own Ray instance (its temp dir has no `ray start` address): the raylet it starts, and so
    every worker, inherits the driver's environment, where the secrets are; the runtime env (which Ray logs) has
    none of them."""
    temp_dir = f"+ray_kwargs.ray_init._temp_dir={tmp_path / 'ray'}"
    recorded = record_launch(tmp_path, launcher_env, recorder, temp_dir, **USER_ENV)
    argv, driver_env = recorded["argv"], recorded["env"]
    assert argv[:2] == ["-m", "verl.trainer.main_ppo"]
    env_vars = hooked_env_vars(argv, driver_env, monkeypatch)

    assert {name: env_vars.get(name) for name in PLAIN} == PLAIN
    assert not set(SECRETS) & set(env_vars), "a secret in the runtime env of a fresh Ray instance"
    assert {name: driver_env.get(name) for name in SECRETS} == SECRETS, "inherited from the driver's environment"
    assert "NOT_FORWARDED" not in env_vars
    assert env_vars["VERL_USE_EXTERNAL_MODULES"] == "verl_ext.verl.plugin"
    # no secret in any command line ($PYTHON's calls), override (veRL prints them, Hydra saves them), or output
    assert not [secret for secret in SECRETS.values() if secret in recorded["calls"]]
    assert not [secret for secret in SECRETS.values() if secret in recorded["output"]]
    assert set(ray_init_overrides(argv)) >= set(PLAIN)
    assert "verl-ext: ray.init attaches" not in capfd.readouterr().err


def test_one_node_a_ray_cluster_that_ray_init_attaches_to_gets_the_secrets_in_its_runtime_env_and_says_so(
    tmp_path: Path, launcher_env: dict[str, str], recorder: Path, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    recorded = record_launch(tmp_path, launcher_env, recorder, RAY_ADDRESS="10.1.2.3:6379", **USER_ENV)
    env_vars = hooked_env_vars(recorded["argv"], recorded["env"], monkeypatch)
    assert {name: env_vars.get(name) for name in {**SECRETS, **PLAIN}} == {**SECRETS, **PLAIN}
    said = capfd.readouterr().err
    assert "ray.init attaches to the running Ray cluster at 10.1.2.3:6379" in said and "RAY_LOGGER_LEVEL" in said
    assert not [secret for secret in SECRETS.values() if secret in said + recorded["calls"] + recorded["output"]]


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ("+ray_kwargs.ray_init.address=10.1.2.3:6379", "VERL_EXT_RAY_INIT_ADDRESS"),
        ("++ray_kwargs.ray_init._temp_dir='/tmp/rx'", "VERL_EXT_RAY_INIT_TEMP_DIR"),
    ],
)
def test_ray_inits_address_and_temp_dir_from_the_overrides_reach_the_hook(
    tmp_path: Path, launcher_env: dict[str, str], recorder: Path, override: str, variable: str
) -> None:
    recorded = record_launch(tmp_path, launcher_env, recorder, override, **USER_ENV)
    assert recorded["env"][variable] == override.split("=", 1)[1].strip("'")


def test_a_ray_job_carries_every_forwarded_variable_and_rays_merge_with_main_ppos_ray_init_succeeds(
    tmp_path: Path, launcher_env: dict[str, str], recorder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray._private.worker import _maybe_modify_runtime_env
    from ray.runtime_env.runtime_env import _merge_runtime_env

    recorded = record_launch(tmp_path, launcher_env, recorder, NNODES="2", **USER_ENV)
    argv = recorded["argv"]
    assert argv[:4] == ["-m", "ray.scripts.scripts", "job", "submit"]
    assert not [secret for secret in SECRETS.values() if secret in recorded["calls"]], "a secret on a command line"
    assert "forward_env job-env" in recorded["calls"], "the job's env is written from names"
    assert not [secret for secret in SECRETS.values() if secret in recorded["output"]]
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


@pytest.mark.parametrize("nnodes", ["1", "2"])
def test_a_dry_run_shows_no_secret_in_its_output_or_the_process_list(
    tmp_path: Path, launcher_env: dict[str, str], nnodes: str
) -> None:
    """A dry run with dummy secrets, every command line on the machine sampled meanwhile; a job's runtime env is
    printed with the secrets masked."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    environment = {
        **clean_env(launcher_env),
        **USER_ENV,
        "DATA_DIR": str(DATA_DIR),
        "NNODES": nnodes,
        "DRY_RUN": "1",
        "CKPT_DIR": str(tmp_path),
        "MODEL_PATH": str(tmp_path / "model"),
    }
    with CommandLines() as lines:
        result = subprocess.run(
            ["bash", str(LAUNCHER)], env=environment, capture_output=True, text=True, timeout=300, check=False
        )
    assert result.returncode == 0, result.stderr
    assert [line for line in lines.seen if "forward_env names" in line], "the sampler saw the launcher's calls"
    assert not [line for line in lines.seen if any(secret in line for secret in SECRETS.values())]
    assert not [secret for secret in SECRETS.values() if secret in result.stdout + result.stderr]
    if nnodes == "2":
        words = shlex.split(result.stdout)
        runtime_env = next(w for w in words if w.startswith("--runtime-env-json=")).split("=", 1)[1]
        env_vars = json.loads(runtime_env)["env_vars"]
        assert {name: env_vars[name] for name in SECRETS} == dict.fromkeys(SECRETS, forward_env.MASK)
        assert {name: env_vars[name] for name in PLAIN} == PLAIN


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


def test_forwarded_names_are_the_prefixed_ones_then_the_named_then_forward_env_each_once() -> None:
    environ = {
        "HF_HOME": "/h",
        "HF_ENDPOINT": "https://m",
        "NCCL_B": "1",
        "NCCL_A": "2",
        "WANDB_API_KEY": "k",
        "WANDB_ENTITY": "e",
        "HUGGING_FACE_HUB_TOKEN": "t",
        "OTHER": "o",
        "X": "x",
        "MY_HF_THING": "not a prefix match",
    }
    assert forward_env.forwarded_names(environ, "X HF_HOME") == [
        "HF_ENDPOINT",
        "HF_HOME",
        "NCCL_A",
        "NCCL_B",
        "WANDB_API_KEY",
        "WANDB_ENTITY",
        "HUGGING_FACE_HUB_TOKEN",
        "X",
    ]
    assert forward_env.forwarded_names({}, "") == []


def test_job_env_reads_values_from_the_environment_and_refuses_values_on_its_command_line() -> None:
    env = {**os.environ, "WANDB_API_KEY": "wandb-secret-1", "HF_HOME": "/h"}
    run = [sys.executable, "-m", "verl_ext.verl.forward_env", "job-env", "/repo"]
    masked = subprocess.run([*run, "--mask", "WANDB_API_KEY", "HF_HOME"], env=env, capture_output=True, text=True)
    assert json.loads(masked.stdout)["env_vars"] == {
        "WANDB_API_KEY": forward_env.MASK,
        "HF_HOME": "/h",
        "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1",
    }
    plain = subprocess.run([*run, "WANDB_API_KEY"], env=env, capture_output=True, text=True)
    assert json.loads(plain.stdout)["env_vars"]["WANDB_API_KEY"] == "wandb-secret-1"
    # a value of its own: the dry-run test samples every command line on the machine for its secrets meanwhile
    refused = subprocess.run([*run, "WANDB_API_KEY=refused-value-9"], env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "WANDB_API_KEY=..." in refused.stderr
    assert "refused-value-9" not in refused.stdout + refused.stderr


def test_the_hook_leaves_secrets_out_for_a_fresh_instance_and_adds_them_for_a_running_cluster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(forward_env.NAMES_VARIABLE, "HF_TOKEN HF_HOME")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_2")
    monkeypatch.setenv("HF_HOME", "/h")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv(forward_env.CHAINED_HOOK_VARIABLE, raising=False)
    monkeypatch.setenv(forward_env.RAY_INIT_TEMP_DIR_VARIABLE, str(tmp_path))  # no `ray start` address there
    assert forward_env.hook({}) == {"env_vars": {"HF_HOME": "/h"}}
    (tmp_path / "ray_current_cluster").write_text("127.0.0.1:6379")  # what `ray start` writes
    assert forward_env.hook({}) == {"env_vars": {"HF_TOKEN": "hf_secret_2", "HF_HOME": "/h"}}


def test_the_hook_adds_the_named_variables_keeps_explicit_values_and_calls_a_chained_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(forward_env.NAMES_VARIABLE, "A B UNSET")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # attaching: secrets too (none here)
    monkeypatch.setenv("A", "from-shell")
    monkeypatch.setenv("B", "b")
    monkeypatch.delenv("UNSET", raising=False)
    monkeypatch.setitem(sys.modules, "users_own_hooks", types.SimpleNamespace(hook=user_hook))
    monkeypatch.setenv(forward_env.CHAINED_HOOK_VARIABLE, "users_own_hooks.hook")
    result = forward_env.hook({"env_vars": {"A": "explicit"}, "working_dir": None})
    assert result == {"env_vars": {"A": "explicit", "B": "b", "USER": "hook"}, "working_dir": None}


def user_hook(runtime_env: dict) -> dict:
    return {**runtime_env, "env_vars": {**runtime_env["env_vars"], "USER": "hook"}}


# ---------------------------------------------------------------- real Ray instances
WORKER_ENV_DRIVER = """
import json, os, sys, ray
ray.init(**json.loads(sys.argv[1]))
NAMES = json.loads(sys.argv[2])  # the worker's own sys.argv is not the driver's

@ray.remote
def worker_env():
    return {name: os.environ.get(name) for name in NAMES}

print("WORKER_ENV", json.dumps(ray.get(worker_env.remote())))
ray.shutdown()
"""
DUMMY_SECRET = {"WANDB_API_KEY": "dummy-wandb-secret-4711"}
DUMMY_PLAIN = {"HF_ENDPOINT": "https://hf-mirror.example.org"}
RAY_BASE_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


class CommandLines:
    """Every command line seen on this machine while it runs (psutil, every 20 ms): the process list; and the
    environment of the processes whose command line holds ``environ_of``."""

    def __init__(self, environ_of: str | None = None) -> None:
        import threading

        self.seen: set[str] = set()
        self.environ_of = environ_of
        self.environs: list[dict[str, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        while not self.stop.is_set():
            for process in psutil.process_iter(["cmdline"]):
                line = " ".join(process.info["cmdline"] or [])
                self.seen.add(line)
                if self.environ_of and self.environ_of in line:
                    try:
                        self.environs.append(process.environ())
                    except psutil.Error:
                        pass
            self.stop.wait(0.02)

    def __enter__(self) -> CommandLines:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def files_holding(folder: Path, value: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and value.encode() in p.read_bytes()]


def run_driver(tmp_path: Path, init_kwargs: dict, names: list[str], **env: str) -> tuple[dict, str]:
    """(the Ray worker's values of ``names``, the driver's stderr) for a driver that calls ray.init(**init_kwargs)."""
    driver = tmp_path / "driver.py"
    driver.write_text(WORKER_ENV_DRIVER)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "WANDB_", "HF_"))}
    result = subprocess.run(
        [sys.executable, str(driver), json.dumps(init_kwargs), json.dumps(names)],
        env={**environment, **RAY_BASE_ENV, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    line = next((out for out in result.stdout.splitlines() if out.startswith("WORKER_ENV ")), None)
    assert line, result.stderr[-3000:]
    return json.loads(line.removeprefix("WORKER_ENV ")), result.stderr


def test_a_fresh_ray_instance_gives_its_workers_the_secret_by_inheritance_and_logs_and_shows_none(
    tmp_path: Path,
) -> None:
    """What main_ppo does on one node (ray.init of a Ray instance of its own, run_grpo.sh's hook and variables):
    the worker has the secret and the plain variable; the secret is in no command line seen meanwhile and in no
    file of the Ray session, where Ray's runtime-env agent did log the plain variable's value."""
    import tempfile

    from verl_ext.verl.cpu.launcher import kill_ray_under

    temp_dir = Path(tempfile.mkdtemp(prefix="rayfx", dir="/tmp"))  # Ray's socket paths must stay short
    names = [*DUMMY_SECRET, *DUMMY_PLAIN]
    try:
        with CommandLines() as lines:
            worker, said = run_driver(
                tmp_path,
                {"_temp_dir": str(temp_dir), "num_cpus": 1, "include_dashboard": False},
                names,
                **DUMMY_SECRET,
                **DUMMY_PLAIN,
                RAY_RUNTIME_ENV_HOOK=forward_env.HOOK,
                VERL_EXT_FORWARD_ENV=" ".join(names),
                VERL_EXT_RAY_INIT_TEMP_DIR=str(temp_dir),  # as run_grpo.sh exports it from the override
            )
        assert worker == {**DUMMY_SECRET, **DUMMY_PLAIN}
        secret = DUMMY_SECRET["WANDB_API_KEY"]
        assert [line for line in lines.seen if "ray" in line], "the sampler saw Ray's processes"
        assert not [line for line in lines.seen if secret in line]
        assert secret not in said and files_holding(temp_dir, secret) == []
        logged = files_holding(temp_dir, DUMMY_PLAIN["HF_ENDPOINT"])
        assert any(path.endswith("runtime_env_agent.log") for path in logged), logged
    finally:
        kill_ray_under(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_on_a_ray_cluster_started_beforehand_the_hook_gives_the_workers_the_drivers_variables(tmp_path: Path) -> None:
    """The documented flow: `ray start` in another shell (with RAY_LOGGER_LEVEL=warning, the documented setting),
    then the launcher, whose ray.init attaches through RAY_ADDRESS. Without the hook the worker sees nothing of the
    driver's environment; with run_grpo.sh's RAY_RUNTIME_ENV_HOOK it sees the named variables, the driver says
    where the secrets went, and the cluster's runtime-env agent does not log them."""
    import socket
    import tempfile
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp_dir = tempfile.mkdtemp(prefix="rayfw", dir="/tmp")  # Ray's socket paths must stay short
    base = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        **RAY_BASE_ENV,
        "RAY_LOGGER_LEVEL": "warning",
    }
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
        user = {"WANDB_API_KEY": "wandb-secret-1", "MY_SETTING": "on"}
        attach = {"RAY_ADDRESS": f"127.0.0.1:{port}"}
        assert run_driver(tmp_path, {}, list(user), **user, **attach)[0] == {"WANDB_API_KEY": None, "MY_SETTING": None}
        hooked, said = run_driver(
            tmp_path,
            {},
            list(user),
            **user,
            **attach,
            RAY_RUNTIME_ENV_HOOK=forward_env.HOOK,
            VERL_EXT_FORWARD_ENV="WANDB_API_KEY MY_SETTING",
        )
        assert hooked == user
        # Ray canonicalises 127.0.0.1 to this node's address
        assert re.search(
            rf"ray.init attaches to the running Ray cluster at [0-9.]+:{port}, .*: WANDB_API_KEY go in", said
        )
        assert "wandb-secret-1" not in said
        agent_logs = list(Path(temp_dir).glob("session_*/logs/runtime_env_agent.log"))
        assert agent_logs and not [p for p in agent_logs if b"wandb-secret-1" in p.read_bytes()]
    finally:
        head.terminate()  # `ray start --block` stops the processes it started
        head.wait(timeout=120)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.e2e
def test_a_real_cpu_launch_keeps_the_secrets_out_of_the_process_list_our_logs_and_rays_logs(
    tmp_path: Path, launcher_env: dict[str, str]
) -> None:
    """run_grpo.sh scale=cpu with dummy secrets, as far as veRL's TaskRunner (a Ray actor), which then fails on a
    model folder without a tokenizer: main_ppo, ray.init of a fresh Ray instance, the hook, the actor all real.
    The TaskRunner has the secrets (inherited); no command line seen meanwhile, nothing the launcher printed, no
    file under CKPT_DIR (metrics log, Hydra's record, main_ppo.log) and no file of the Ray session holds them."""
    from verl_ext.verl.cpu.launcher import kill_ray_under, ray_temp_dir

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    ray_dir = ray_temp_dir("vxs")
    secrets = {"WANDB_API_KEY": "dummy-wandb-secret-4711", "HF_TOKEN": "hf_dummy_secret_4712"}
    environment = {
        **clean_env(launcher_env),
        **secrets,
        "WANDB_MODE": "offline",
        "DATA_DIR": str(DATA_DIR),
        "MODEL_PATH": str(model),
        "CKPT_DIR": str(tmp_path / "ckpt"),
        "EXPERIMENT": "secrets",
        "HF_HUB_OFFLINE": "1",
    }
    try:
        with CommandLines(environ_of="TaskRunner") as lines:
            result = subprocess.run(
                ["bash", str(LAUNCHER), "scale=cpu", f"+ray_kwargs.ray_init._temp_dir={ray_dir}"],
                env=environment,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        output = result.stdout + result.stderr
        assert result.returncode != 0 and "TaskRunner" in output, output[-3000:]
        assert lines.environs, "the sampler saw veRL's TaskRunner actor"
        assert {name: lines.environs[-1].get(name) for name in secrets} == secrets, "inherited"
        for secret in secrets.values():
            assert not [line for line in lines.seen if secret in line]
            assert secret not in output
            assert files_holding(tmp_path / "ckpt", secret) == []
            assert files_holding(ray_dir, secret) == []
        assert files_holding(tmp_path / "ckpt", "WANDB_MODE"), "Hydra's record of the run is under CKPT_DIR"
    finally:
        kill_ray_under(ray_dir)
        shutil.rmtree(ray_dir, ignore_errors=True)
