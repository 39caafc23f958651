"""Running ``run_grpo.sh scale=cpu`` from Python (tests, benchmarks, the demo's veRL engine): its environment,
where its outputs go, and Ray clean-up.

Each launch gets its own Ray temp dir (``+ray_kwargs.ray_init._temp_dir=...``): every process of that
Ray instance carries the path in its command line, so :func:`kill_ray_under` ends exactly those (never
another user's Ray instance) should a launch time out or crash before Ray shut itself down.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[3]
LAUNCHER = REPO / "recipe" / "format_length" / "run_grpo.sh"
PROJECT = "format_length"  # run_grpo.sh's PROJECT (the config's trainer.project_name): the log's folder under LOG_DIR


def ray_temp_dir(prefix: str) -> Path:
    """A fresh, short Ray temp dir directly under the system temp dir (Ray's socket paths must stay short)."""
    return Path(tempfile.gettempdir()) / f"{prefix}-{uuid.uuid4().hex[:8]}"


def launcher_env(
    data_dir: Path | None, work: Path, experiment: str, reward: str, *, verbose: bool = True
) -> dict[str, str]:
    """The environment of one launch: data in (None: the recipe's default), checkpoints and logs under ``work``
    (``checkpoint_dir``, ``metrics_log`` and ``run_log`` say where), this interpreter. ``verbose``: main_ppo's whole
    output on the launcher's stdout, for a caller that keeps it (the demo's veRL engine); else the progress view a
    user sees, main_ppo's output in ``run_log``."""
    env = {
        **os.environ,
        "CKPT_DIR": str(work / "checkpoints"),
        "LOG_DIR": str(work / "logs"),
        "EXPERIMENT": experiment,
        "REWARD": reward,
        "PYTHON": sys.executable,
        "HF_HUB_OFFLINE": "1",
        "VERBOSE": "1" if verbose else "0",
    }
    env.pop("VERL_PLATFORM", None)  # the launcher sets it for scale=cpu
    if data_dir is None:
        env.pop("DATA_DIR", None)
    else:
        env["DATA_DIR"] = str(data_dir)
    return env


def checkpoint_dir(work: Path, experiment: str) -> Path:
    """Where a launch with ``launcher_env(..., work, experiment, ...)`` writes checkpoints ($CKPT_DIR/$EXPERIMENT)."""
    return work / "checkpoints" / experiment


def metrics_log(work: Path, experiment: str) -> Path:
    """veRL's file-logger log of that launch ($LOG_DIR/$PROJECT/$EXPERIMENT.jsonl)."""
    return work / "logs" / PROJECT / f"{experiment}.jsonl"


def run_log(work: Path, experiment: str) -> Path:
    """main_ppo's whole output of that launch's progress view ($LOG_DIR/$PROJECT/$EXPERIMENT.log, appended to)."""
    return work / "logs" / PROJECT / f"{experiment}.log"


def kill_ray_under(temp_dir: Path) -> int:
    """Kill the processes whose command line names ``temp_dir``; returns how many were signalled."""
    marker = str(temp_dir)
    killed = 0
    for process in psutil.process_iter(["pid", "cmdline"]):
        if process.info["pid"] == os.getpid() or marker not in " ".join(process.info["cmdline"] or []):
            continue
        try:
            process.kill()
            killed += 1
        except psutil.Error:
            pass
    return killed
