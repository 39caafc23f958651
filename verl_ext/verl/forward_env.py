"""The launcher's environment, forwarded to veRL's TaskRunner and every Ray worker.

Shell exports reach only the processes run_grpo.sh starts; actors of a Ray cluster started beforehand see
only the run's Ray runtime env. Forwarded, when set in the launcher's environment: ``ALWAYS_FORWARDED``,
every ``NCCL_*`` variable, and the names in ``FORWARD_ENV`` (space-separated).

Secrets (``is_secret``) never go into a Hydra override: veRL 0.9.1's ``main_ppo`` prints its ``ray_init``
kwargs and the TaskRunner pretty-prints the whole resolved config, and Hydra saves the overrides to disk.
On one node they reach Ray through ``RAY_RUNTIME_ENV_HOOK`` (``hook`` below), which ``ray.init`` calls on
its runtime env after veRL's print; as a Ray job (NNODES > 1) they travel in the job's runtime env, which
the launcher writes to a mode-600 file rather than to the command line.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

ALWAYS_FORWARDED = ("WANDB_API_KEY", "HF_TOKEN", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE")
NCCL_PREFIX = "NCCL_"
# Names, space-separated, the hook adds to ray.init's runtime env (from the driver's environment).
NAMES_VARIABLE = "VERL_EXT_FORWARD_ENV"
# A RAY_RUNTIME_ENV_HOOK the user had set before the launcher's: called first by ours.
CHAINED_HOOK_VARIABLE = "VERL_EXT_CHAINED_RUNTIME_ENV_HOOK"
HOOK = "verl_ext.verl.forward_env.hook"
MASK = "***"
_SECRET_WORDS = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ForwardEnvError(ValueError):
    pass


def is_secret(name: str) -> bool:
    """A name that holds a credential: contains KEY, TOKEN, SECRET, PASSWORD, PASSWD or CREDENTIAL."""
    return bool(_SECRET_WORDS.search(name))


def forwarded_names(environ: Mapping[str, str], forward_env: str = "") -> list[str]:
    """The names to forward, in order, each once: ALWAYS_FORWARDED and NCCL_* that are set, then FORWARD_ENV's.

    A FORWARD_ENV word that is not a variable name, or names a variable that is not set, is an error."""
    names = [name for name in ALWAYS_FORWARDED if name in environ]
    names += sorted(name for name in environ if name.startswith(NCCL_PREFIX))
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


def hook(runtime_env: dict[str, Any] | None) -> dict[str, Any]:
    """``RAY_RUNTIME_ENV_HOOK`` for ray.init in veRL's driver: adds each variable named in
    ``VERL_EXT_FORWARD_ENV`` that is set here to the runtime env's env_vars (a value already there wins)."""
    chained = os.environ.get(CHAINED_HOOK_VARIABLE)
    if chained:
        from ray._common.utils import load_class

        runtime_env = load_class(chained)(runtime_env)
    runtime_env = dict(runtime_env or {})
    env_vars = dict(runtime_env.get("env_vars") or {})
    for name in os.environ.get(NAMES_VARIABLE, "").split():
        if name in os.environ and name not in env_vars:
            env_vars[name] = os.environ[name]
    if env_vars:
        runtime_env["env_vars"] = env_vars
    return runtime_env


def _main(argv: list[str]) -> int:
    """For run_grpo.sh.

    ``names``: one line per forwarded name, ``secret NAME`` or ``plain NAME`` (FORWARD_ENV from the environment).
    ``job-env REPO_ROOT [--mask] NAME=VALUE...``: the job's runtime env as JSON."""
    try:
        if argv[:1] == ["names"]:
            names = forwarded_names(os.environ, os.environ.get("FORWARD_ENV", ""))
            print("\n".join(f"{'secret' if is_secret(name) else 'plain'} {name}" for name in names))
            return 0
        if argv[:1] == ["job-env"] and len(argv) >= 2:
            mask = "--mask" in argv[2:]
            pairs = dict(pair.split("=", 1) for pair in argv[2:] if pair != "--mask")
            print(json.dumps(job_runtime_env(argv[1], masked(pairs) if mask else pairs)))
            return 0
    except ForwardEnvError as error:
        print(f"run_grpo.sh: error: {error}", file=sys.stderr)
        return 2
    print(
        "usage: python -m verl_ext.verl.forward_env names | job-env REPO_ROOT [--mask] NAME=VALUE...", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
