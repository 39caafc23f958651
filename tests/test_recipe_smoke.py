"""run_smoke.sh's flags (no launch: --dry-run prints run_grpo.sh's command) and the smoke report's verdicts on
hand-written logs in veRL's file-logger format ({"step": N, "data": {...}} per line)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from verl_ext.verl.smoke_report import report

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "recipe" / "format_length" / "run_smoke.sh"
DATA_DIR = REPO / "release_data" / "datasets"


def smoke(launcher_env: dict[str, str], *args: str, **env: str) -> subprocess.CompletedProcess:
    # CHECK_VERL=0: no pre-flight veRL import (5 s each; tests/test_recipe_launcher.py checks it)
    environment = launcher_env | {"CHECK_VERL": "0"}
    return subprocess.run(
        ["bash", str(SMOKE), *args],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def model(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    return tmp_path / "model"


@pytest.mark.parametrize("form", ["--flag value", "--flag=value"])
def test_flags_give_the_model_data_reward_and_checkpoints_of_a_one_gpu_smoke_run(
    launcher_env: dict[str, str], tmp_path: Path, model: Path, form: str
) -> None:
    flags = {"--model": str(model), "--data": str(DATA_DIR), "--reward": "format", "--ckpt": str(tmp_path / "ck")}
    args = [
        part
        for flag, value in flags.items()
        for part in ([flag, value] if form == "--flag value" else [f"{flag}={value}"])
    ]
    result = smoke(launcher_env, *args, "--dry-run", "trainer.save_freq=1")
    assert result.returncode == 0, result.stderr
    words = shlex.split(result.stdout)
    assert {
        "scale=smoke",
        "trainer.n_gpus_per_node=1",
        f"actor_rollout_ref.model.path={model}",
        f"data.train_files={DATA_DIR / 'deepscaler_17k.parquet'}",
        "reward.reward_manager.name=format",
        "trainer.save_freq=1",
    } <= set(words)
    (experiment,) = [w.split("=", 1)[1] for w in words if w.startswith("trainer.experiment_name=")]
    assert experiment.startswith("smoke-format-"), "a fresh run name per smoke run (no resume of an earlier one)"
    assert f"trainer.default_local_dir={tmp_path / 'ck' / experiment}" in words


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model"], "--model needs a value"),
        (["--data", "--dry-run"], "--data needs a value"),
        (["--model="], "--model needs a value"),
        (["--gpus", "2"], "unknown option --gpus"),
        (["smoke"], "unexpected argument 'smoke'"),
    ],
)
def test_bad_arguments_stop_before_anything_runs(launcher_env: dict[str, str], args: list[str], message: str) -> None:
    result = smoke(launcher_env, *args)
    assert (result.returncode, result.stdout) == (2, "")
    assert message in result.stderr


def test_help_names_every_flag(launcher_env: dict[str, str]) -> None:
    result = smoke(launcher_env, "--help")
    assert result.returncode == 0
    assert all(flag in result.stdout for flag in ("--model", "--data", "--reward", "--ckpt", "--dry-run"))


# A stand-in for $PYTHON in a whole smoke run: records every call (argv, one JSON line in $RECORD); fakes the
# doctor (exit 0), the pre-flight's veRL import (exit 0) and main_ppo (a smoke run's log where veRL's file logger
# writes, and its checkpoint folder); runs everything else (pre-flight, forward_env, smoke_report) for real.
STAND_IN = """#!{python}
import json, os, sys
from pathlib import Path
argv = sys.argv[1:]
with open(os.environ["RECORD"], "a") as record:
    record.write(json.dumps(argv) + "\\n")
if argv[:3] == ["-m", "verl_ext.cli", "doctor"] or (argv[0].endswith("preflight.py") and "--import-verl" in argv):
    sys.exit(0)
if argv[:2] == ["-m", "verl.trainer.main_ppo"]:
    val = {{"val-core/MATH500/acc/mean@1": 0.25}}
    # format_length of a base model that rambles to the cap: negative, and in the reward's range
    train = {{"critic/score/mean": -0.4, "response_length/mean": 300.0}}
    with open(os.environ["VERL_FILE_LOGGER_PATH"], "w") as log:
        for step, data in ((0, val), (1, train), (2, {{**train, **val}})):
            log.write(json.dumps({{"step": step, "data": data}}) + "\\n")
    (ckpt,) = [a.split("=", 1)[1] for a in argv if a.startswith("trainer.default_local_dir=")]
    Path(ckpt, "global_step_2").mkdir(parents=True)
    # Hydra's record of the composed config (hydra.run.dir): the launcher's val_files, the smoke scale's draw
    (val_files,) = [a.split("=", 1)[1] for a in argv if a.startswith("data.val_files=")]
    hydra = Path(ckpt, "hydra", "2026-01-01_00-00-00", ".hydra")
    hydra.mkdir(parents=True)
    files = "".join(f"  - {{f}}\\n" for f in val_files.strip("[]").split(","))
    hydra.joinpath("config.yaml").write_text(
        "data:\\n  val_files:\\n" + files + "  val_max_samples: 64\\n  shuffle: true\\n  seed: 1\\n"
    )
    sys.exit(0)
os.execv({python!r}, [{python!r}, *argv])
"""


def test_a_smoke_run_doctors_once_and_reports_the_log_and_checkpoint_run_grpo_wrote_under_a_tilde_ckpt(
    launcher_env: dict[str, str], tmp_path: Path, model: Path
) -> None:
    stand_in = tmp_path / "python"
    stand_in.write_text(STAND_IN.format(python=sys.executable))
    stand_in.chmod(0o755)
    record = tmp_path / "calls.jsonl"
    home = tmp_path / "home"
    home.mkdir()
    # --ckpt=~/ck: no shell expands a ~ after "=", so the scripts must
    result = smoke(
        launcher_env,
        "--model",
        str(model),
        "--data",
        str(DATA_DIR),
        "--ckpt=~/ck",
        PYTHON=str(stand_in),
        RECORD=str(record),
        HOME=str(home),
        CHECK_VERL="1",
    )
    assert result.returncode == 0, result.stderr
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    doctor = [c for c in calls if c[:3] == ["-m", "verl_ext.cli", "doctor"]]
    preflight_doctor = [
        c for c in calls if c[0].endswith("preflight.py") and "--import-verl" in c and "--no-doctor" not in c
    ]
    assert doctor == [["-m", "verl_ext.cli", "doctor", "scale=smoke"]] and not preflight_doctor, calls
    (experiment,) = [a.split("=", 1)[1] for c in calls for a in c if a.startswith("trainer.experiment_name=")]
    log = home / "ck" / "logs" / "format_length" / f"{experiment}.jsonl"
    assert log.is_file()
    assert f"smoke run: log {log}, checkpoints {home / 'ck' / experiment}, reward format_length" in result.stdout
    assert "smoke run: passed (0 failure(s)" in result.stdout, result.stdout
    assert "check  critic/score/mean" not in result.stdout, "a negative format_length score is in range"
    math500 = next(line for line in result.stdout.splitlines() if line.startswith("val-core/MATH500/acc/mean@1"))
    assert math500.endswith("problem(s) in the draw: one problem moves it by 0.0192"), math500  # 52 of 64 drawn


def write_log(path: Path, steps: dict[int, dict[str, float]]) -> Path:
    path.write_text("".join(json.dumps({"step": step, "data": data}) + "\n" for step, data in steps.items()))
    return path


VAL = {"val-core/MATH500/acc/mean@1": 0.25, "val-core/AIME2024/acc/mean@1": 0.0}
TRAIN = {
    "critic/score/mean": 0.8,
    "diagnostics/format_rate": 0.6,
    "response_length/mean": 300.0,
    "response_length/clip_ratio": 0.05,
    "actor/kl_loss": 0.0004,
    "actor/entropy": 0.9,
    "actor/grad_norm": 0.4,
    "timing_s/step": 40.0,
}


def test_a_complete_smoke_run_passes_and_shows_its_figures(tmp_path: Path) -> None:
    (tmp_path / "ck" / "global_step_2").mkdir(parents=True)
    log = write_log(tmp_path / "s.jsonl", {0: VAL, 1: TRAIN, 2: {**TRAIN, **VAL, "val-core/MATH500/acc/mean@1": 0.3}})
    text, status = report(log, tmp_path / "ck", 0, 400)
    assert status == 0 and "smoke run: passed (0 failure(s), 0 figure(s) to look at)" in text
    assert "val-core/MATH500/acc/mean@1" in text and "0.25" in text and "0.3" in text


def test_a_missing_step_validation_or_checkpoint_fails_by_name(tmp_path: Path) -> None:
    log = write_log(tmp_path / "s.jsonl", {0: VAL, 1: TRAIN})
    text, status = report(log, tmp_path / "ck", 0)
    assert status == 1
    assert "FAIL   training step 2 is not in the log" in text
    assert "FAIL   no validation at step 2" in text
    assert f"FAIL   no checkpoint {tmp_path / 'ck' / 'global_step_2'}" in text


def test_a_failed_launch_and_an_odd_figure_are_reported(tmp_path: Path) -> None:
    (tmp_path / "ck" / "global_step_2").mkdir(parents=True)
    odd = {**TRAIN, "actor/kl_loss": float("nan"), "response_length/mean": 700.0}
    log = write_log(tmp_path / "s.jsonl", {0: VAL, 1: odd, 2: {**TRAIN, **VAL}})
    text, status = report(log, tmp_path / "ck", 3, 1000)
    assert status == 1 and "FAIL   the launch exited with status 3" in text
    assert (
        "check  actor/kl_loss not logged at step 1 (absent, or NaN" in text
        and "check  wall time 1000 s is over 900 s" in text
    )
    assert "check  response_length/mean = 700 at step 1, outside [20, 512]" in text
