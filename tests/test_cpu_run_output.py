"""What `run_grpo.sh scale=cpu` tells its user, checked without a real launch: no wall of warnings about veRL engines
a CPU run never uses, a start line that names the CPU and the metrics log, the log and the commands that read it
at the end, and Hydra's run folder inside the run's own checkpoint folder (not outputs/<date>/ in the checkout).

Launcher calls get PYTHON = this interpreter (or a stand-in that fakes only main_ppo) and decoy python/ray first
on PATH (conftest's launcher_env)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from verl_ext.cli import main
from verl_ext.verl.cpu.quiet import EXPLANATION, silence_absent_engines, silence_known_warnings

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipe" / "format_length"
DATA_DIR = REPO / "release_data" / "datasets"
# A model folder named like the scale=cpu model's (tiny-qwen2-<hash>): its config.json is all the launcher checks.
MODEL_DIR_NAME = "tiny-qwen2-0123456789abcdef"
EXPERIMENT = f"grpo-deepscaler_17k-{MODEL_DIR_NAME}-format_length"

# What a main_ppo stand-in does: write a two-step metrics log where veRL's file logger would, exit with $FAKE_STATUS.
FAKE_PYTHON = """#!{python}
import json, os, sys
if sys.argv[1:3] == ["-m", "verl.trainer.main_ppo"]:
    with open(os.environ["VERL_FILE_LOGGER_PATH"], "w") as log:
        for step in (1, 2):
            data = {{"critic/score/mean": 0.1 * step, "response_length/mean": 20.0 + step,
                     "val-core/AIME2024/acc/mean@1": 0.1 * step}}
            log.write(json.dumps({{"step": step, "data": data}}) + "\\n")
    sys.exit(int(os.environ.get("FAKE_STATUS", "0")))
os.execv({python!r}, [{python!r}, *sys.argv[1:]])
"""


@pytest.fixture()
def cpu_launch(launcher_env: dict[str, str], tmp_path: Path):
    """Run the launcher with scale=cpu on a stand-in model folder; returns (result, ckpt_dir)."""
    model = tmp_path / "models" / MODEL_DIR_NAME
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}", encoding="utf-8")

    def launch(python: str = sys.executable, **env: str) -> subprocess.CompletedProcess:
        environment = dict(launcher_env)
        environment.update(
            {
                "DATA_DIR": str(DATA_DIR),
                "MODEL_PATH": str(model),
                "CKPT_DIR": str(tmp_path / "ckpt"),
                "PYTHON": python,
                "CHECK_VERL": "0",
                **env,
            }
        )  # tests/test_recipe_launcher.py checks the veRL import
        return subprocess.run(
            ["bash", str(RECIPE / "run_grpo.sh"), "scale=cpu"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=tmp_path,
        )

    return launch


def _fake_python(tmp_path: Path) -> str:
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    return str(fake)


# --- veRL's warnings about absent engines -------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("torchtitan engine is not available: ModuleNotFoundError(\"No module named 'torchtitan'\")", False),
        ("megatron engine is not available: ModuleNotFoundError(\"No module named 'megatron'\")", False),
        # installed but broken: still said
        ("megatron engine is not available: ImportError('libcudart.so.12: cannot open shared object file')", True),
        ("Disabled critic as algorithm.adv_estimator != gae.", True),
    ],
)
def test_the_cpu_filter_silences_only_engines_that_are_not_installed(message: str, shown: bool):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_absent_engines()
        warnings.warn(message, UserWarning, stacklevel=1)
    assert bool(caught) is shown


# What veRL 0.9.1, torchdata and Ray print in a CPU run (from a run's output); each about its library's own choice.
@pytest.mark.parametrize(
    ("message", "category", "silenced"),
    [
        (
            "Disabled critic as algorithm.adv_estimator != gae. If it is not intended, please set critic.enable=True",
            UserWarning,
            True,
        ),
        (
            "Warning: Function 'verl.utils.import_utils.load_extern_type' is deprecated. Please use 'load_module("
            "file_path); getattr(module, type_name)' instead.",
            FutureWarning,
            True,
        ),
        ("'set_vital' is deprecated, please do not call", UserWarning, True),
        (
            "torchtitan engine is not available: ModuleNotFoundError(\"No module named 'torchtitan'\")",
            UserWarning,
            True,
        ),
        # anything else still shows: another deprecation of veRL's, the same text as another category
        ("Warning: Function 'verl.utils.other' is deprecated.", FutureWarning, False),
        ("'set_vital' is deprecated, please do not call", DeprecationWarning, False),
        ("Disabled actor", UserWarning, False),
    ],
)
def test_the_cpu_backend_silences_exactly_the_warnings_about_its_libraries_own_choices(
    message: str, category: type[Warning], silenced: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_WARN_BLOCKING_GET_INSIDE_ASYNC", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_warnings()
        warnings.warn(message, category, stacklevel=1)
    assert (not caught) is silenced
    # Ray's blocking-get notice is a logger line, switched off by Ray's own variable, read at each ray.get
    assert os.environ["RAY_WARN_BLOCKING_GET_INSIDE_ASYNC"] == "0"


def test_the_note_names_every_silenced_warning() -> None:
    for named in (
        "optional training engines",
        "Disabled critic",
        "load_extern_type",
        "set_vital",
        "ray.get",
        "token-authentication",
    ):
        assert named in EXPLANATION, named


def test_a_cpu_backend_process_imports_verls_engines_without_a_warning_about_absent_ones():
    # What every process of a CPU run does (the driver, the pre-flight, each Ray worker: VERL_PLATFORM=cpu reaches
    # the workers through the scale's ray_init runtime env): import veRL, whose plugin loads the CPU backend.
    env = {**os.environ, "VERL_PLATFORM": "cpu", "VERL_USE_EXTERNAL_MODULES": "verl_ext.verl.plugin"}
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import verl, verl.workers.engine"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "engine is not available" not in done.stderr, done.stderr


# --- what the launcher prints ----------------------------------------------------------------------------


def test_a_run_names_the_cpu_and_its_metrics_log_first_and_the_commands_that_read_it_last(
    cpu_launch, tmp_path: Path, capsys
):
    done = cpu_launch(python=_fake_python(tmp_path))
    assert done.returncode == 0, done.stderr
    log = tmp_path / "ckpt" / "logs" / "format_length" / f"{EXPERIMENT}.jsonl"
    lines = [line for line in done.stderr.splitlines() if line.startswith("run_grpo.sh:")]
    assert f"{EXPERIMENT} on this node's CPU" in lines[0] and "GPU" not in lines[0].replace("no GPU", ""), lines
    assert "optional training engines" in lines[1] and "silenced in every process" in lines[1], lines
    assert lines[2] == f"run_grpo.sh: metrics log: {log}", lines
    tail = [line.removeprefix("run_grpo.sh:").strip() for line in done.stderr.splitlines()[-3:]]
    assert tail[0] == f"metrics log: {log}"
    table = shlex.split(tail[1].removeprefix("read it with:"))
    plot = shlex.split(tail[2])
    assert table == ["verl-ext", "table", str(log)]
    assert plot[:3] == ["verl-ext", "plot", str(log)] and plot[3] == "-o"
    # the printed commands work, and name the run by train set and reward (the model's hash dropped)
    assert main(table[1:]) == 0
    assert "| format + length (DeepScaleR-17k, tiny-qwen2) | 2 |" in capsys.readouterr().out
    assert main(plot[1:]) == 0 and Path(plot[4]).is_file()
    assert not (tmp_path / "outputs").exists()


def test_a_failed_run_still_says_where_its_metrics_are_and_keeps_its_status(cpu_launch, tmp_path: Path):
    done = cpu_launch(python=_fake_python(tmp_path), FAKE_STATUS="3")
    assert done.returncode == 3
    assert "run_grpo.sh: main_ppo exited with status 3" in done.stderr
    assert "run_grpo.sh: metrics log: " in done.stderr.splitlines()[-3]


# --- Hydra's run folder ---------------------------------------------------------------------------------


def test_hydras_run_folder_is_inside_the_runs_checkpoint_folder(tmp_path: Path):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    run_dir = tmp_path / "ckpt" / EXPERIMENT  # what run_grpo.sh passes as trainer.default_local_dir
    with initialize_config_dir(config_dir=str(RECIPE / "config"), version_base=None):
        cfg = compose(
            "format_length_grpo",
            overrides=["scale=cpu", f"trainer.default_local_dir={run_dir}"],
            return_hydra_config=True,
        )
    hydra_dir = Path(OmegaConf.select(cfg, "hydra.run.dir"))
    assert hydra_dir.parent == run_dir / "hydra"
    assert json.dumps(str(hydra_dir)).count("outputs") == 0


# --- TransferQueue's thread warning --------------------------------------------------------------------------


def test_transfer_queue_in_a_cpu_run_asks_for_no_more_torch_threads_than_a_one_core_machine_has(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # TransferQueue limits torch's threads to TQ_NUM_THREADS (read from each Ray worker's environment, default 8)
    # for every put/get, warning "target_num_threads N should not exceed total physical CPU cores" when N is more.
    import logging

    import torch
    from hydra import compose, initialize_config_dir
    from transfer_queue.utils import common

    with initialize_config_dir(config_dir=str(RECIPE / "config"), version_base=None):
        cfg = compose("format_length_grpo", overrides=["scale=cpu"])
    threads = int(cfg.ray_kwargs.ray_init.runtime_env.env_vars.TQ_NUM_THREADS)
    monkeypatch.setattr(common.psutil, "cpu_count", lambda logical=True: 1)  # one physical core
    before = torch.get_num_threads()
    try:
        for target, warned in (
            (8, True),
            (threads, False),
        ):  # TransferQueue's default warns there; the scale's must not
            caplog.clear()
            with caplog.at_level(logging.WARNING), common.limit_pytorch_auto_parallel_threads(target):
                pass
            assert ("should not exceed total physical CPU cores" in caplog.text) is warned, (target, caplog.text)
    finally:
        torch.set_num_threads(before)
