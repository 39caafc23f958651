"""Running ``run_grpo.sh scale=cpu`` from Python (tests, benchmarks): its environment and Ray clean-up.

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


def ray_temp_dir(prefix: str) -> Path:
    """A fresh, short Ray temp dir directly under the system temp dir (Ray's socket paths must stay short)."""
    return Path(tempfile.gettempdir()) / f"{prefix}-{uuid.uuid4().hex[:8]}"


def launcher_env(data_dir: Path, work: Path, experiment: str, reward: str) -> dict[str, str]:
    """The environment of one launch: data in, checkpoints and logs under ``work``, this interpreter."""
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "CKPT_DIR": str(work / "checkpoints"),
        "LOG_DIR": str(work / "logs"),
        "EXPERIMENT": experiment,
        "REWARD": reward,
        "PYTHON": sys.executable,
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("VERL_PLATFORM", None)  # the launcher sets it for scale=cpu
    return env


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
