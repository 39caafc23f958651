"""`run_grpo.sh scale=cpu`'s terminal: a progress view built from veRL's metrics log (verl_ext/verl/cpu/progress.py),
main_ppo's whole output in the run's log, a private temporary folder that goes away with the launch
(verl_ext/verl/cpu/supervise.py and the launcher), a finished run asked to run again (recipe/format_length/run_state.py)
and a run whose every reward was 0. Checked with a stand-in for main_ppo; the real launches are the e2e tests'
(tests/test_cpu_trainer_e2e.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from verl_ext.verl.cpu import progress

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipe" / "format_length"
DATA_DIR = REPO / "release_data" / "datasets"
MODEL_DIR_NAME = "tiny-qwen2-0123456789abcdef"
EXPERIMENT = f"grpo-deepscaler_17k-{MODEL_DIR_NAME}-format_length"

# A stand-in for main_ppo: what veRL and Ray do that the launcher answers for. It prints a config dump and Ray-prefixed
# lines (one of them veRL's resume), writes veRL's checkpoint lock and a Ray session folder where they would go (the
# temporary folder) and the metrics log where the file logger would, records its environment, exits $FAKE_STATUS.
FAKE_PYTHON = """#!{python}
import json, os, sys, tempfile
if sys.argv[1:3] == ["-m", "verl.trainer.main_ppo"]:
    temp = tempfile.gettempdir()
    open(os.path.join(temp, "ckpt_0123abcd.lock"), "w").close()
    os.makedirs(os.path.join(temp, "ray", "session_2026_1", "logs"), exist_ok=True)
    open(os.path.join(temp, "ray", "session_2026_1", "logs", "raylet.out"), "w").write("raylet's log")
    json.dump({{k: os.environ.get(k) for k in ("TMPDIR", "RAY_TMPDIR", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}},
              open(os.environ["FAKE_ENV_OUT"], "w"))
    print("{{'actor_rollout_ref': {{'actor': 'the config dump'}}}}")
    print("\\x1b[36m(TaskRunnerV1 pid=7)\\x1b[0m INFO:2026:Resuming from /c/global_step_2, setting global step to 2")
    print("\\x1b[36m(TaskRunnerV1 pid=7)\\x1b[0m verl-ext: a message of ours for the user", flush=True)
    reward = float(os.environ.get("FAKE_REWARD", "0.5"))
    with open(os.environ["VERL_FILE_LOGGER_PATH"], "w") as log:
        log.write(json.dumps({{"step": 0, "data": {{"val-core/AIME2024/acc/mean@1": 0.25}}}}) + "\\n")
        for step in (1, 2):
            data = {{"critic/score/mean": reward, "critic/score/min": reward, "critic/score/max": reward,
                     "diagnostics/format_rate": 0.0, "response_length/mean": 20.0 + step, "timing_s/step": 1.5}}
            print("step:%d - critic/score/mean:%s" % (step, reward))
            log.write(json.dumps({{"step": step, "data": data}}) + "\\n")
    sys.exit(int(os.environ.get("FAKE_STATUS", "0")))
os.execv({python!r}, [{python!r}, *sys.argv[1:]])
"""


@pytest.fixture()
def fake_python(tmp_path: Path) -> Path:
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    return fake


@pytest.fixture()
def cpu_launch(launcher_env: dict[str, str], tmp_path: Path, fake_python: Path):
    """Run the launcher (scale=cpu, main_ppo faked) in a temporary folder of its own; returns the result, with the
    paths the checks read as attributes."""
    model = tmp_path / "models" / MODEL_DIR_NAME
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}", encoding="utf-8")
    temp = tmp_path / "t"
    temp.mkdir()

    def launch(*overrides: str, **env: str) -> subprocess.CompletedProcess:
        environment = dict(launcher_env)
        environment.update(
            {
                "DATA_DIR": str(DATA_DIR),
                "MODEL_PATH": str(model),
                "CKPT_DIR": str(tmp_path / "ckpt"),
                "PYTHON": str(fake_python),
                "CHECK_VERL": "0",
                "TMPDIR": str(temp),
                "FAKE_ENV_OUT": str(tmp_path / "env.json"),
                **env,
            }
        )
        done = subprocess.run(
            ["bash", str(RECIPE / "run_grpo.sh"), "scale=cpu", *overrides],
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=tmp_path,
        )
        done.temp = temp
        done.logs = tmp_path / "ckpt" / "logs" / "format_length"
        done.checkpoints = tmp_path / "ckpt" / EXPERIMENT
        done.child_env = json.loads((tmp_path / "env.json").read_text()) if (tmp_path / "env.json").is_file() else {}
        return done

    return launch


# --- the progress view, pure -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metrics", "total", "line"),
    [
        (
            {
                "critic/score/mean": -0.875,
                "diagnostics/format_rate": 0.25,
                "response_length/mean": 22.46,
                "timing_s/step": 3.14,
            },
            2,
            "step 1/2: reward -0.875, format rate 0.250, length 22.5 tokens, 3.1 s",
        ),
        ({"critic/score/mean": 1}, None, "step 1: reward 1.000, format rate n/a, length n/a tokens, n/a s"),
    ],
)
def test_a_training_step_is_one_line(metrics: dict, total: int | None, line: str) -> None:
    assert progress.step_line(1, metrics, total) == line


def test_a_record_gives_its_step_then_its_validation_and_a_validation_alone_gives_one_line() -> None:
    record = {
        "critic/score/mean": 0.5,
        "val-core/MATH500/acc/mean@1": 0.5,
        "val-core/AIME2024/acc/mean@1": 0.0,
        "val-core/AIME2024/acc/mean@4": 0.25,  # the largest n is the accuracy (as `verl-ext table` reads it)
        "val-aux/AIME2024/format/mean@1": 1.0,
    }
    lines = progress.record_lines(2, record, 2)
    assert lines[0].startswith("step 2/2: reward 0.500")
    assert lines[1] == "validation at step 2: accuracy AIME2024 0.250, MATH500 0.500"
    assert progress.record_lines(0, {"val-core/AIME2024/acc/mean@1": 0.0}, 2) == [
        "validation at step 0: accuracy AIME2024 0.000"
    ]
    assert progress.record_lines(3, {"timing_s/testing": 1.0}, 2) == []


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            "\x1b[36m(TaskRunnerV1 pid=22357)\x1b[0m INFO:2026-12-04 22:36:43,357:Resuming from "
            "/ck/global_step_2, setting global step to 2\n",
            "resuming from the checkpoint of step 2 (/ck/global_step_2)",
        ),
        (
            "\x1b[36m(TaskRunnerV1 pid=1)\x1b[0m verl-ext: collapse stop rule: x held: training ends after step 3\n",
            "verl-ext: collapse stop rule: x held: training ends after step 3",
        ),
        (  # the driver's own line, without Ray's prefix
            "verl-ext: the CPU backend (VERL_PLATFORM=cpu) cannot load: boom\n",
            "verl-ext: the CPU backend (VERL_PLATFORM=cpu) cannot load: boom",
        ),
        ("\x1b[36m(TaskRunnerV1 pid=1)\x1b[0m {'actor_rollout_ref': {...}}\n", None),
        ("\x1b[36m(TaskRunnerV1 pid=1)\x1b[0m step:1 - critic/score/mean:0.5\n", None),
    ],
)
def test_only_the_resume_and_verl_exts_own_messages_reach_the_terminal(line: str, shown: str | None) -> None:
    assert progress.message_for_the_user(line) == shown


@pytest.mark.parametrize(
    ("steps", "all_zero"),
    [
        ({1: {"critic/score/mean": 0.0, "critic/score/min": 0.0, "critic/score/max": 0.0}}, True),
        (
            {
                0: {"val-core/A/acc/mean@1": 0.5},
                1: {"critic/score/mean": 0, "critic/score/min": 0, "critic/score/max": 0},
            },
            True,
        ),
        ({1: {"critic/score/mean": 0.0, "critic/score/min": -1.0, "critic/score/max": 1.0}}, False),  # mean 0, not all
        (
            {
                1: {"critic/score/mean": 0.0, "critic/score/min": 0.0, "critic/score/max": 0.0},
                2: {"critic/score/mean": 0.1, "critic/score/min": 0.0, "critic/score/max": 0.5},
            },
            False,
        ),
        ({0: {"val-core/A/acc/mean@1": 0.0}}, False),  # no training step: nothing to say
        ({}, False),
    ],
)
def test_a_run_is_all_zero_only_when_every_reward_of_every_training_step_was_0(steps: dict, all_zero: bool) -> None:
    assert progress.every_reward_was_zero(steps) is all_zero
    assert bool(progress.zero_reward_lines(steps, "semantic_frequency")) is all_zero


def test_the_all_zero_note_says_why_and_where_a_run_that_learns_is() -> None:
    steps = {
        s: {"critic/score/mean": 0.0, "critic/score/min": 0.0, "critic/score/max": 0.0, "diagnostics/format_rate": 0.0}
        for s in (1, 2)
    }
    text = " ".join(progress.zero_reward_lines(steps, "semantic_frequency"))
    assert "every training reward of this run was 0" in text and "each of its 2 step(s)" in text
    assert "no rollout wrote a \\boxed{} answer" in text
    assert "advantages were therefore all 0" in text
    assert "verl-ext demo --engine verl --reward semantic_frequency" in text


# --- the launcher with a stand-in main_ppo ---------------------------------------------------------------------


def test_a_launch_shows_the_progress_view_and_leaves_nothing_in_its_temporary_folder(cpu_launch) -> None:
    done = cpu_launch()
    assert done.returncode == 0, done.stderr
    run_log = done.logs / f"{EXPERIMENT}.log"
    assert done.stdout.splitlines() == [
        "resuming from the checkpoint of step 2 (/c/global_step_2)",
        "verl-ext: a message of ours for the user",
        "validation at step 0: accuracy AIME2024 0.250",
        "step 1/2: reward 0.500, format rate 0.000, length 21.0 tokens, 1.5 s",
        "step 2/2: reward 0.500, format rate 0.000, length 22.0 tokens, 1.5 s",
    ]
    said = [line.removeprefix("run_grpo.sh: ") for line in done.stderr.splitlines()]
    first = said.index(f"main_ppo's whole output (veRL's config, its metric dictionaries, Ray's messages): {run_log}")
    assert said.index(f"main_ppo's whole output: {run_log}") > first  # at the start and at the end
    assert "the config dump" not in done.stdout + done.stderr and "step:1 -" not in done.stdout + done.stderr
    output = run_log.read_text()
    assert "the config dump" in output and "step:1 - critic/score/mean:0.5" in output
    assert "every training reward" not in done.stderr  # a run with rewards says nothing of the kind
    # torch's, Ray's and veRL's temporary files went with the launch; Ray got a token of the launch's own
    assert list(done.temp.iterdir()) == []
    child_temp = done.child_env["TMPDIR"]
    assert Path(child_temp).parent == done.temp and done.child_env["RAY_TMPDIR"] == child_temp
    assert done.child_env["RAY_AUTH_MODE"] == "token" and len(done.child_env["RAY_AUTH_TOKEN"]) == 64


def test_a_failed_launch_keeps_its_status_rays_logs_and_shows_the_end_of_the_output(cpu_launch) -> None:
    done = cpu_launch(FAKE_STATUS="3")
    assert done.returncode == 3
    kept = done.logs / f"{EXPERIMENT}.ray-logs" / "session_2026_1" / "raylet.out"
    assert kept.read_text() == "raylet's log"
    assert f"Ray's own logs of this failed run: {kept.parent.parent}" in done.stderr
    assert "the end of main_ppo's output" in done.stderr and "step:2 - critic/score/mean:0.5" in done.stderr
    assert list(done.temp.iterdir()) == []


def test_verbose_shows_main_ppos_output_and_a_users_ray_auth_mode_is_kept(cpu_launch) -> None:
    done = cpu_launch(VERBOSE="1", RAY_AUTH_MODE="disabled")
    assert done.returncode == 0, done.stderr
    assert "the config dump" in done.stdout and "step:2 - critic/score/mean:0.5" in done.stdout
    assert not (done.logs / f"{EXPERIMENT}.log").exists()
    assert done.child_env["RAY_AUTH_MODE"] == "disabled" and done.child_env["RAY_AUTH_TOKEN"] is None


def test_a_run_whose_every_reward_was_0_says_so_at_its_end(cpu_launch) -> None:
    done = cpu_launch(FAKE_REWARD="0", REWARD="semantic_frequency")
    assert done.returncode == 0, done.stderr
    assert "every training reward of this run was 0" in done.stderr
    assert "verl-ext demo --engine verl --reward semantic_frequency" in done.stderr


# --- a finished run asked to run again -----------------------------------------------------------------------


def _finished_checkpoint(folder: Path, step: int) -> None:
    (folder / f"global_step_{step}").mkdir(parents=True)
    (folder / "latest_checkpointed_iteration.txt").write_text(str(step))


def test_a_finished_run_asked_to_run_again_says_so_in_one_line_and_exits_0(cpu_launch, tmp_path: Path) -> None:
    checkpoints = tmp_path / "ckpt" / EXPERIMENT
    _finished_checkpoint(checkpoints, 2)  # what veRL leaves after scale=cpu's 2 steps
    metrics = tmp_path / "ckpt" / "logs" / "format_length" / f"{EXPERIMENT}.jsonl"
    metrics.parent.mkdir(parents=True)
    metrics.write_text('{"step": 2, "data": {"critic/score/mean": 0.5}}\n')
    again = cpu_launch()
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    (line,) = [line for line in again.stderr.splitlines() if "has finished" in line]
    assert again.stderr.splitlines()[-1] == line
    assert f"run_grpo.sh: {EXPERIMENT} has finished: its checkpoint of step 2 (trainer.total_training_steps=2)" in line
    assert "trainer.total_training_steps=3" in line and f"rm -r {checkpoints}" in line
    assert not metrics.with_name(metrics.name + ".part1").exists() and again.child_env == {}  # nothing ran
    assert list(again.temp.iterdir()) == []
    trains_on = cpu_launch("trainer.total_training_steps=3")  # one more step: veRL resumes, the launcher runs it
    assert trains_on.returncode == 0 and "has finished" not in trains_on.stderr
    assert "step 2/3" in trains_on.stdout


@pytest.fixture(scope="module")
def run_state():
    spec = importlib.util.spec_from_file_location("recipe_run_state", RECIPE / "run_state.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("tracker", "overrides", "finished"),
    [
        (None, [], False),  # no checkpoint: from scratch
        (1, [], False),  # step 1 of scale=cpu's 2
        (2, [], True),
        (3, [], True),
        (2, ["trainer.total_training_steps=3"], False),
        (3, ["trainer.total_training_steps=2", "++trainer.total_training_steps=3"], True),  # the last override wins
        (2, ["trainer.resume_mode=disable"], False),  # veRL starts from scratch
        (2, ["trainer.total_training_steps=null"], False),  # left to the data: not known here
        ("missing folder", [], False),  # the tracker names a step whose folder is gone: veRL starts from scratch
    ],
)
def test_a_run_has_finished_when_veRL_would_resume_at_its_last_step(
    run_state, tmp_path: Path, capsys, tracker, overrides: list[str], finished: bool
) -> None:
    checkpoints = tmp_path / "ckpt" / "run"
    if tracker == "missing folder":
        checkpoints.mkdir(parents=True)
        (checkpoints / "latest_checkpointed_iteration.txt").write_text("2")
    elif tracker is not None:
        _finished_checkpoint(checkpoints, tracker)
    argv = ["--config-dir", str(RECIPE / "config"), "--scale", "cpu", "--checkpoints", str(checkpoints)]
    argv += ["--experiment", "run", "--log", str(tmp_path / "logs" / "run.jsonl"), *overrides]
    status = run_state.main(argv)
    assert status == (run_state.FINISHED if finished else 0)
    captured = capsys.readouterr()
    assert bool(captured.err) is finished


def test_a_resume_path_counts_as_the_checkpoint_veRL_resumes_from(run_state, tmp_path: Path, capsys) -> None:
    argv = ["--config-dir", str(RECIPE / "config"), "--scale", "cpu", "--checkpoints", str(tmp_path / "none")]
    argv += ["--experiment", "run", "--log", str(tmp_path / "run.jsonl")]
    resume = ["trainer.resume_mode=resume_path", f"trainer.resume_from_path={tmp_path / 'x' / 'global_step_2'}"]
    assert run_state.main([*argv, *resume]) == run_state.FINISHED
    assert run_state.main([*argv, *resume, "trainer.total_training_steps=5"]) == 0
    assert capsys.readouterr().out.split() == ["2", "5"]  # the total steps, for the progress view


def test_the_printed_total_is_the_scales_or_the_last_override(run_state, tmp_path: Path, capsys) -> None:
    base = ["--config-dir", str(RECIPE / "config"), "--checkpoints", str(tmp_path / "c"), "--experiment", "e"]
    base += ["--log", str(tmp_path / "e.jsonl")]
    run_state.main([*base, "--scale", "cpu"])
    run_state.main([*base, "--scale", "paper"])
    run_state.main([*base, "--scale", "cpu", "+trainer.total_training_steps=7"])
    assert capsys.readouterr().out.split() == ["2", "100", "7"]  # scale/cpu.yaml, format_length_grpo.yaml, override


def test_the_supervisor_needs_a_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "verl_ext.verl.cpu.supervise", "--metrics", "m", "--output", "o", "--"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ},
    )
    assert done.returncode == 2 and "no command" in done.stderr
