"""A crashed and resumed run keeps every metric, and its log lands where the launcher says even when the
trainer's actors see only Ray's runtime env (a Ray cluster already up).

The launcher runs for real (not DRY_RUN) with $PYTHON = a wrapper that runs this interpreter, except that
`-m verl.trainer.main_ppo` runs a stand-in: it composes the launcher's Hydra call, passes it to veRL 0.9.1's own
``run_ppo`` with ``ray.init`` captured, and runs the TaskRunner's part that matters here in an environment made
of the runtime env's variables only (the shell's are dropped, as on a cluster started before the launcher):
veRL's own FileLogger writing the steps it is told, then exiting with the status it is told ("crash").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from verl_ext.eval.plot import build_panels
from verl_ext.eval.table import build_table
from verl_ext.io.logs import read_metric_log

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = REPO / "recipe" / "format_length" / "run_grpo.sh"
DATA_DIR = REPO / "release_data" / "datasets"

STAND_IN = r'''
import os, sys
from unittest import mock

import ray
from hydra import compose, initialize_config_dir
from verl.trainer import main_ppo
from verl.utils.tracking import FileLogger

options = dict(arg.split("=", 1) for arg in sys.argv[1:3])
with initialize_config_dir(config_dir=options["--config-dir"], version_base=None):
    config = compose(options["--config-name"], overrides=sys.argv[3:])
captured = {}


class TaskRunner:
    """What veRL's TaskRunner actor sees: the runtime env's variables, none of the launcher shell's."""

    @classmethod
    def remote(cls):
        return cls()

    class run:
        @staticmethod
        def remote(config):
            for name in ("VERL_FILE_LOGGER_PATH", "VERL_FILE_LOGGER_ROOT", "VERL_USE_EXTERNAL_MODULES"):
                os.environ.pop(name, None)
            os.environ.update(captured["runtime_env"].get("env_vars", {}))
            os.chdir(os.environ["STAND_IN_CWD"])  # where a root-less logger would write: not the launcher's LOG_DIR
            logger = FileLogger(config.trainer.project_name, config.trainer.experiment_name)
            first, last = map(int, os.environ["STAND_IN_STEPS"].split("-"))
            run = os.environ["STAND_IN_RUN"]
            for step in range(first, last + 1):
                logger.log({"response_length/mean": 100.0 * step + int(run), "run": run}, step)
                if step % 5 == 0:
                    accuracy = float(os.environ.get(f"STAND_IN_ACC_{step}", 0.1))
                    logger.log({"val-core/AIME2024/acc/mean@1": accuracy}, step)
            logger.finish()


def init(**kwargs):
    captured.update(kwargs)


with mock.patch.object(ray, "is_initialized", return_value=False), mock.patch.object(ray, "init", init), \
        mock.patch.object(ray, "get", lambda x: x):
    main_ppo.run_ppo(config, task_runner_class=TaskRunner)
sys.exit(int(os.environ.get("STAND_IN_EXIT", "0")))
'''


@pytest.fixture(scope="module")
def stand_in_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stand_in")
    (folder / "main_ppo_stand_in.py").write_text(STAND_IN)
    wrapper = folder / "python"
    wrapper.write_text(
        "#!/bin/bash\n"
        'if [[ "$1" == "-m" && "$2" == "verl.trainer.main_ppo" ]]; then\n'
        f'    exec {sys.executable} {folder / "main_ppo_stand_in.py"} "${{@:3}}"\n'
        "fi\n"
        f'exec {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def launch(env: dict[str, str], **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(LAUNCHER)], env={**env, **extra}, capture_output=True, text=True, timeout=600, check=False
    )


def test_log_steps_1_to_10_crash_resume_at_5_log_5_to_15_and_table_and_plot_see_1_to_15_once(
    tmp_path: Path, launcher_env: dict[str, str], stand_in_python: Path
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    cwd = tmp_path / "actor_cwd"
    cwd.mkdir()
    env = {
        **launcher_env,
        "PYTHON": str(stand_in_python),
        "DATA_DIR": str(DATA_DIR),
        "MODEL_PATH": str(model),
        "CKPT_DIR": str(tmp_path / "ckpt"),
        "EXPERIMENT": "run",
        "STAND_IN_CWD": str(cwd),
        "CHECK_VERL": "0",  # the pre-flight's veRL import: checked by tests/test_recipe_launcher.py
    }
    for name in ("DRY_RUN", "LOG_DIR", "VERL_FILE_LOGGER_PATH", "VERL_FILE_LOGGER_ROOT", "REWARD", "TRAIN_SET"):
        env.pop(name, None)

    # the first run logs steps 1-10 (best AIME at step 5, which the resumed run never logs better) and crashes
    first = launch(env, STAND_IN_STEPS="1-10", STAND_IN_RUN="1", STAND_IN_EXIT="1", STAND_IN_ACC_5="0.9")
    assert first.returncode == 1, first.stderr[-3000:]
    log = tmp_path / "ckpt" / "logs" / "format_length" / "run.jsonl"
    assert log.is_file(), f"the log is not where the launcher says: {sorted(p for p in tmp_path.rglob('*.jsonl'))}"
    assert list(cwd.rglob("*.jsonl")) == []

    # the rerun resumes at step 5: the launcher keeps the first log, veRL's logger starts a new one ("wb")
    second = launch(env, STAND_IN_STEPS="5-15", STAND_IN_RUN="2", STAND_IN_ACC_5="0.2")
    assert second.returncode == 0, second.stderr[-3000:]
    part = log.with_name("run.jsonl.part1")
    assert part.is_file() and f"kept the earlier log as {part}" in second.stderr
    first_steps = [json.loads(line)["step"] for line in part.read_text().splitlines()]
    second_steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert (min(first_steps), max(first_steps)) == (1, 10) and (min(second_steps), max(second_steps)) == (5, 15)

    metrics = read_metric_log(log)
    assert list(metrics.steps) == list(range(1, 16))
    # steps 5-10 carry the resumed run's values: its length and its (worse) step-5 accuracy
    assert [metrics.steps[s]["response_length/mean"] for s in (4, 5, 10, 11)] == [401.0, 502.0, 1002.0, 1102.0]
    assert metrics.steps[5]["val-core/AIME2024/acc/mean@1"] == 0.2

    # verl-ext plot: every series has steps 1-15 once each; table: the best step over the union
    (length_panel,) = [p for p in build_panels([metrics]) if "response length" in p.title]
    assert [step for step, _ in length_panel.series[0]] == list(range(1, 16))
    (aime_panel,) = [p for p in build_panels([metrics]) if p.title.startswith("AIME2024")]
    assert [step for step, _ in aime_panel.series[0]] == [5, 10, 15]
    _, rows = build_table([metrics])
    # step 5 of the resumed run (0.2), not of the crashed one (0.9): later steps win
    assert rows[0].step == 5 and rows[0].accuracies["AIME2024"] == pytest.approx(0.2)


def test_without_the_launcher_the_truncated_log_would_have_lost_steps_1_to_4(tmp_path: Path) -> None:
    """The failure the launcher prevents, shown with veRL's own logger: a second FileLogger on the same path
    starts from nothing (mode "wb")."""
    from verl.utils.tracking import FileLogger

    path = tmp_path / "run.jsonl"
    os.environ["VERL_FILE_LOGGER_PATH"] = str(path)
    try:
        for steps in (range(1, 11), range(5, 16)):
            logger = FileLogger("p", "e")
            for step in steps:
                logger.log({"a": float(step)}, step)
            logger.finish()
    finally:
        del os.environ["VERL_FILE_LOGGER_PATH"]
    assert list(read_metric_log(path).steps) == list(range(5, 16))
