"""The launcher's environment, forwarded to veRL's TaskRunner and every Ray worker; secrets by name only.

Shell exports reach only the processes run_grpo.sh starts; actors of a Ray cluster started beforehand see
only the run's Ray runtime env. Forwarded, when set in the launcher's environment: every variable whose name
starts with one of ``FORWARDED_PREFIXES`` (``HF_``, ``WANDB_``, ``NCCL_``: HF_TOKEN, HF_HOME, HF_ENDPOINT,
HF_HUB_ENABLE_HF_TRANSFER, WANDB_API_KEY, WANDB_BASE_URL, WANDB_ENTITY, WANDB_MODE, NCCL_SOCKET_IFNAME, ...),
``FORWARDED_NAMES``, and the names in ``FORWARD_ENV`` (space-separated).

A secret (``is_secret``) never goes on a command line, into a Hydra override (veRL 0.9.1's ``main_ppo`` prints
its ``ray_init`` kwargs, the TaskRunner pretty-prints the whole config, Hydra saves the overrides to disk),
or into anything the launcher prints: this module is given names and reads the values from its own
environment. Where a secret goes:

- One node, ``ray.init`` starting a fresh Ray instance (no ``RAY_ADDRESS``, no ``ray start`` on this node):
  nowhere. The raylet that ``ray.init`` starts inherits the driver's environment and every worker inherits
  the raylet's, so the secret reaches them without a runtime env. Ray 2.x would otherwise log it: its
  runtime-env agent logs each runtime env it creates, env_vars included, at INFO ("Creating runtime env:
  ...", ``ray/_private/runtime_env/agent/runtime_env_agent.py``) in ``session_*/logs/runtime_env_agent.log``,
  and the raylet starts each worker through ``setup_worker.py --serialized-runtime-env-context=...``, the
  env_vars in its command line.
- One node, ``ray.init`` attaching to a running cluster: its workers do not inherit the driver's
  environment, so ``hook`` (``RAY_RUNTIME_ENV_HOOK``, which ``ray.init`` calls on its runtime env after veRL's
  print) adds the secrets to the runtime env and says so on stderr, with what Ray then does with them.
- A Ray job (NNODES > 1): the job's runtime env (``job-env``), which the launcher writes to a mode-600 file
  rather than the command line; Ray treats it as above.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

FORWARDED_PREFIXES = ("HF_", "WANDB_", "NCCL_")
# huggingface_hub still reads the pre-HF_TOKEN name (utils/_auth.py: HF_TOKEN or HUGGING_FACE_HUB_TOKEN).
FORWARDED_NAMES = ("HUGGING_FACE_HUB_TOKEN",)
# Names, space-separated, the hook adds to ray.init's runtime env (from the driver's environment).
NAMES_VARIABLE = "VERL_EXT_FORWARD_ENV"
# ray.init's address and _temp_dir when the run's overrides set them (run_grpo.sh exports them): what decides
# whether ray.init attaches to a running cluster, which the hook cannot see among its arguments.
RAY_INIT_ADDRESS_VARIABLE = "VERL_EXT_RAY_INIT_ADDRESS"
RAY_INIT_TEMP_DIR_VARIABLE = "VERL_EXT_RAY_INIT_TEMP_DIR"
# A RAY_RUNTIME_ENV_HOOK the user had set before the launcher's: called first by ours.
CHAINED_HOOK_VARIABLE = "VERL_EXT_CHAINED_RUNTIME_ENV_HOOK"
HOOK = "verl_ext.verl.forward_env.hook"
MASK = "***"
_SECRET_WORDS = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What Ray does with a secret in a runtime env, and how to keep it out (said when the hook puts one there).
RAY_EXPOSURE = (
    "Ray's runtime-env agent logs runtime envs with their values at INFO in that cluster's "
    "session_*/logs/runtime_env_agent.log (RAY_LOGGER_LEVEL=warning in the environment of `ray start` stops it), "
    "and each worker starts with them in its command line (setup_worker.py --serialized-runtime-env-context). "
    "To keep them out: export them where `ray start` runs and leave them unset here, or `ray stop` so that the "
    "run starts a Ray instance of its own, which inherits them"
)


class ForwardEnvError(ValueError):
    pass


def is_secret(name: str) -> bool:
    """A name that holds a credential: contains KEY, TOKEN, SECRET, PASSWORD, PASSWD or CREDENTIAL."""
    return bool(_SECRET_WORDS.search(name))


def forwarded_names(environ: Mapping[str, str], forward_env: str = "") -> list[str]:
    """The names to forward, each once: the set ones with a forwarded prefix (sorted), FORWARDED_NAMES that
    are set, then FORWARD_ENV's words in their order.

    A FORWARD_ENV word that is not a variable name, or names a variable that is not set, is an error."""
    names = sorted(name for name in environ if name.startswith(FORWARDED_PREFIXES))
    names += [name for name in FORWARDED_NAMES if name in environ]
    for word in forward_env.split():
        if not _NAME.match(word):
            raise ForwardEnvError(f"FORWARD_ENV: '{word}' is not a variable name")
        if word not in environ:
            raise ForwardEnvError(f"FORWARD_ENV names {word}, which is not set in the launcher's environment")
        names.append(word)
    return list(dict.fromkeys(names))


def masked(env_vars: Mapping[str, str]) -> dict[str, str]:
    """``env_vars`` with every secret's value replaced by ``MASK`` (for anything printed)."""
    return {name: MASK if is_secret(name) else value for name, value in env_vars.items()}


def values_of(names: Iterable[str], environ: Mapping[str, str]) -> dict[str, str]:
    """Each name's value in ``environ``; a name that is not set there is an error."""
    missing = [name for name in names if name not in environ]
    if missing:
        raise ForwardEnvError(f"not set in the environment: {' '.join(missing)}")
    return {name: environ[name] for name in names}


def job_runtime_env(repo_root: str, env_vars: Mapping[str, str]) -> dict[str, Any]:
    """The Ray job's runtime env: this checkout as working_dir on every node, and ``env_vars``.

    ``RAY_OVERRIDE_JOB_RUNTIME_ENV=1``: inside a job, ray.init refuses a runtime env that names an
    environment variable the job's already has (ray._private.worker), and veRL's main_ppo passes some of
    the forwarded ones again (NCCL_ALGO, NCCL_DETERMINISTIC, ... when set) and the recipe's own."""
    return {
        "working_dir": repo_root,
        "excludes": [".git", "data", "checkpoints", "outputs", "wandb", "*.parquet", "*.egg-info"],
        "env_vars": {**env_vars, "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1"},
    }


def ray_init_attaches_to(environ: Mapping[str, str]) -> str | None:
    """The address of the running Ray cluster that ``ray.init`` would attach to, or None when it would start
    a fresh instance: Ray's own resolution (``services.canonicalize_bootstrap_address``: RAY_ADDRESS, else the
    address the last ``ray start`` on this node wrote to ``<temp dir>/ray_current_cluster``), given the
    address and temp dir the run's overrides pass to ray.init (``RAY_INIT_*_VARIABLE``)."""
    from ray._private import services

    address = environ.get(RAY_INIT_ADDRESS_VARIABLE) or None
    temp_dir = environ.get(RAY_INIT_TEMP_DIR_VARIABLE) or None
    return services.canonicalize_bootstrap_address(address, temp_dir)


def hook(runtime_env: dict[str, Any] | None) -> dict[str, Any]:
    """``RAY_RUNTIME_ENV_HOOK`` for ray.init in veRL's driver: adds each variable named in
    ``VERL_EXT_FORWARD_ENV`` that is set here to the runtime env's env_vars (a value already there wins),
    except secrets when ray.init starts a fresh Ray instance (they reach its workers by inheritance)."""
    chained = os.environ.get(CHAINED_HOOK_VARIABLE)
    if chained:
        from ray._common.utils import load_class

        runtime_env = load_class(chained)(runtime_env)
    runtime_env = dict(runtime_env or {})
    env_vars = dict(runtime_env.get("env_vars") or {})
    names = [name for name in os.environ.get(NAMES_VARIABLE, "").split() if name in os.environ]
    names = [name for name in names if name not in env_vars]
    secrets = [name for name in names if is_secret(name)]
    address = ray_init_attaches_to(os.environ) if secrets else None
    for name in names:
        if address is not None or not is_secret(name):
            env_vars[name] = os.environ[name]
    if secrets and address is not None:
        print(
            f"verl-ext: ray.init attaches to the running Ray cluster at {address}, whose workers do not inherit this "
            f"process's environment: {' '.join(secrets)} go in the run's Ray runtime env. {RAY_EXPOSURE}.",
            file=sys.stderr,
        )
    if env_vars:
        runtime_env["env_vars"] = env_vars
    return runtime_env


def _main(argv: list[str]) -> int:
    """For run_grpo.sh; values are read from this process's environment, never from the command line.

    ``names``: one line per forwarded name, ``secret NAME`` or ``plain NAME`` (FORWARD_ENV from the environment).
    ``job-env REPO_ROOT [--mask] NAME...``: the job's runtime env as JSON, the named variables' values in it
    (``--mask``: secrets as ``MASK``)."""
    try:
        if argv[:1] == ["names"]:
            names = forwarded_names(os.environ, os.environ.get("FORWARD_ENV", ""))
            print("\n".join(f"{'secret' if is_secret(name) else 'plain'} {name}" for name in names))
            return 0
        if argv[:1] == ["job-env"] and len(argv) >= 2:
            mask = "--mask" in argv[2:]
            names = [word for word in argv[2:] if word != "--mask"]
            # never echo a word's value part: it may be a secret
            bad = [word.split("=", 1)[0] + ("=..." if "=" in word else "") for word in names if not _NAME.match(word)]
            if bad:
                raise ForwardEnvError(
                    f"job-env takes variable names (values come from the environment): {' '.join(bad)}"
                )
            env_vars = values_of(names, os.environ)
            print(json.dumps(job_runtime_env(argv[1], masked(env_vars) if mask else env_vars)))
            return 0
    except ForwardEnvError as error:
        print(f"run_grpo.sh: error: {error}", file=sys.stderr)
        return 2
    print("usage: python -m verl_ext.verl.forward_env names | job-env REPO_ROOT [--mask] NAME...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
