"""``verl-ext demo --engine verl``: the demo's GRPO phase through veRL's own trainer on the CPU.

The session fixture ``demo_verl_run`` (conftest) runs one 2-step demo through the recipe's launcher,
``run_grpo.sh scale=cpu REWARD=majority`` (veRL's ``main_ppo``: Ray, FSDP2, the CPU backend; about 2 minutes on 2
shared cores), with the capable student of seed 12 (7 of its 32 samples boxed an answer), held-out evaluation after
each step. The other tests are fast: option errors are raised before anything starts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from verl_ext.io.logs import read_metric_log

HELD_OUT = "val-core/DEMO/acc/mean@1"


# --- option errors: fast, before any warm-up or launch ---------------------------------------------


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"engine": "deepspeed"}, "engine"),
        ({"num_generations": 1}, "num_generations"),
        ({"steps": 0}, "steps"),
        ({"reward": "no_such_reward"}, "no_such_reward"),
        ({"kl_coef": -0.1}, "kl_coef"),
    ],
)
def test_bad_options_are_rejected_before_any_launch(changes: dict, named: str, tmp_path: Path) -> None:
    from verl_ext.demo.config import DemoConfig
    from verl_ext.demo.pipeline import run

    config = DemoConfig(**{"engine": "verl", "out": str(tmp_path / "out"), **changes})
    with pytest.raises(ValueError, match=named):
        run(config)
    assert not (tmp_path / "out").exists()  # nothing started


def test_cli_rejects_an_unknown_engine_naming_the_choices() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "verl_ext.cli", "demo", "--engine", "deepspeed"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "--engine" in done.stderr and "'trl'" in done.stderr and "'verl'" in done.stderr


def test_engine_verl_without_the_recipe_says_a_source_checkout_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import verl_ext.verl.cpu.launcher as launcher
    from verl_ext.demo.config import DemoConfig
    from verl_ext.demo.pipeline import run

    monkeypatch.setattr(
        launcher, "LAUNCHER", tmp_path / "recipe" / "format_length" / "run_grpo.sh"
    )  # a wheel install: no recipe/
    with pytest.raises(ValueError, match="source checkout"):
        run(DemoConfig(engine="verl", out=str(tmp_path / "out")))


def test_checkpoints_are_evaluated_every_n_steps_and_at_the_last() -> None:
    from verl_ext.demo.engines.verl import eval_steps

    assert eval_steps(12, 5) == [5, 10, 12]
    assert eval_steps(10, 5) == [5, 10]
    assert eval_steps(2, 5) == [2]
    assert eval_steps(3, 0) == [3]


def test_the_demos_settings_reach_the_recipes_config_and_its_group_stage(tmp_path: Path) -> None:
    """The composed config of the demo's launch (run_grpo.sh ... --cfg job --resolve): the demo's data, model and
    folders replace the recipe's, and the group stage scores the demo's reward over whole groups."""
    import yaml

    import verl_ext.demo.engines.verl as engine
    from verl_ext.demo.config import DemoConfig, checked

    config = checked(DemoConfig(engine="verl", reward="majority", steps=3, seed=7, num_generations=6))
    work, model = tmp_path / "work", tmp_path / "student"
    command = [
        "bash",
        str(engine.recipe_launcher()),
        *engine.trainer_overrides(config, work, tmp_path / "ray"),
        "--cfg",
        "job",
        "--resolve",
    ]
    done = subprocess.run(
        command, env=engine.launch_env(config, work, model), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    composed = yaml.safe_load(done.stdout)
    assert composed["data"]["train_files"] == str(work / "train.parquet")
    assert composed["data"]["val_files"] == [str(work / "test.parquet")]
    assert composed["actor_rollout_ref"]["model"]["path"] == str(model)
    assert composed["actor_rollout_ref"]["rollout"]["n"] == 6
    assert composed["reward"]["reward_manager"]["name"] == "majority"
    assert composed["trainer"]["v1"]["sampler"]["sampler_kwargs"]["reward"] == "majority"
    assert composed["trainer"]["total_training_steps"] == 3
    assert composed["trainer"]["experiment_name"] == "demo-majority-seed7"
    assert composed["trainer"]["default_local_dir"] == str(work / "checkpoints" / "demo-majority-seed7")
    assert composed["trainer"]["rollout_data_dir"] == str(work / "rollouts")


# --- one real 2-step run through veRL's trainer -----------------------------------------------------


@pytest.fixture
def verl_run(demo_verl_run):
    """``(DemoConfig, result)``: the session's one 2-step demo through veRL's trainer (conftest's ``demo_verl_run``,
    run in a fresh interpreter in the background while other tests run)."""
    return demo_verl_run


@pytest.mark.e2e
def test_verl_engine_writes_the_demo_log_plot_and_summary(verl_run) -> None:
    import json

    config, result = verl_run
    out = Path(config.out)
    assert Path(result.log) == out / f"majority-seed{config.seed}.jsonl"
    steps = read_metric_log(result.log).steps
    assert sorted(steps) == [0, 1, 2]
    for step in (1, 2):
        # veRL's trainer timers (the TRL engine's log has no timing_s/gen or timing_s/update_actor) and verl-ext's
        # diagnostics sampler; the response-length budget reached veRL's rollout.
        # actor/kl_loss: the capable student's KL coefficient reached veRL (use_kl_loss, a reference model)
        for name in (
            "timing_s/gen",
            "timing_s/update_actor",
            "critic/score/mean",
            "diagnostics/format_rate",
            "response_length/max",
            "actor/kl_loss",
        ):
            assert name in steps[step], f"step {step} lacks {name}"
        assert steps[step]["response_length/max"] <= config.max_completion_length
    for step in (0, 1, 2):  # held-out greedy evaluation before training and of each step's checkpoint
        assert 0.0 <= steps[step][HELD_OUT] <= 1.0
    assert (out / "curves.png").stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["config"]["engine"] == "verl"
    assert HELD_OUT in summary["held_out_start"] and HELD_OUT in summary["held_out_end"]
    assert summary["grpo_seconds"] > 0
    sample_steps = {
        json.loads(line)["step"] for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    }
    assert sample_steps == {0, 1, 2}


@pytest.mark.e2e
def test_veRL_sees_the_demos_plain_prompts(verl_run) -> None:
    import pandas as pd
    from transformers import AutoTokenizer

    config, _ = verl_run
    work = Path(config.out) / "verl"
    rows = pd.read_parquet(work / "train.parquet")
    first = rows.iloc[0]
    assert first["data_source"] == "DEMO"
    text = first["prompt"][0]["content"]
    assert text.startswith("Problem: ") and text.endswith("\nSolution:")  # the TRL engine's prompt_text
    assert first["reward_model"]["ground_truth"]
    tokenizer = AutoTokenizer.from_pretrained(work / "student")
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == text


@pytest.mark.e2e
def test_held_out_after_training_is_the_trained_checkpoint(verl_run) -> None:
    from safetensors.torch import load_file

    config, _ = verl_run
    work = Path(config.out) / "verl"
    student = load_file(next((work / "student").glob("*.safetensors")))
    checkpoint = work / "checkpoints" / f"demo-majority-seed{config.seed}" / "global_step_2" / "actor" / "huggingface"
    trained = load_file(next(checkpoint.glob("*.safetensors")))
    shared = sorted(set(student) & set(trained))
    assert shared
    moved = max(float((student[name].float() - trained[name].float()).abs().max()) for name in shared)
    assert moved > 0  # the actor's updates reached the checkpoint the demo evaluates


@pytest.mark.e2e
def test_verl_engine_log_feeds_verl_ext_table(verl_run) -> None:
    config, result = verl_run
    table = subprocess.run(
        [sys.executable, "-m", "verl_ext.cli", "table", result.log, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert table.returncode == 0, table.stderr
    assert f"majority-seed{config.seed}" in table.stdout


@pytest.mark.e2e
def test_majority_rewards_veRL_trained_on_are_each_whole_groups_vote(
    verl_run, majority_by_hand, rollout_groups, trained_rewards
) -> None:
    """Issue 20's end-to-end check with real votes: veRL's dump of each step's rollouts holds the rewards the actor
    trained on (rm_scores read back from TransferQueue after the update); each group's are the majority vote
    recomputed from its completions, with math-verify's own ``verify``."""
    from verl_ext.rewards.answer import extract_answer

    config, _ = verl_run
    rollouts = Path(config.out) / "verl" / "rollouts"
    log = Path(config.out) / "verl" / "logs" / "format_length" / f"demo-majority-seed{config.seed}.jsonl"
    steps = read_metric_log(log).steps
    scores, answered, every_group = [], 0, []
    for step in range(1, config.steps + 1):
        groups = rollout_groups(rollouts / f"{step}.jsonl")
        every_group += groups
        assert sorted(len(members) for members in groups) == [config.num_generations] * config.prompts_per_step
        for members in groups:
            answers = [extract_answer(row["output"]) for row in members]
            answered += sum(answer is not None for answer in answers)
            assert [row["score"] for row in members] == majority_by_hand(answers), answers
            scores += [row["score"] for row in members]
        assert steps[step]["critic/score/mean"] == pytest.approx(
            sum(scores[-len(groups) * config.num_generations :]) / (len(groups) * config.num_generations)
        )
        assert steps[step]["diagnostics/group_reward_error_rate"] == 0.0
    # Not vacuous: some samples boxed an answer and won their group's vote, others got 0.
    assert answered > 0 and 1.0 in scores and 0.0 in scores
    # and the actor trained on them: GRPO's advantages of each group's votes, non-zero where a vote differs from
    # its group's mean; some group's votes differ (issue 27: a rewrite placed after the advantages would fail this)
    trained_rewards(every_group, lambda row: row["score"])


def test_a_failed_trainer_launch_is_a_clear_error_and_leaves_no_ray_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import verl_ext.demo.engines.verl as engine
    import verl_ext.verl.cpu.launcher as launcher
    from verl_ext.demo.config import DemoConfig, checked

    ray_dir = tmp_path / "ray"
    monkeypatch.setattr(launcher, "ray_temp_dir", lambda prefix: ray_dir)
    ray_dir.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    config = checked(DemoConfig(engine="verl", steps=1))
    with pytest.raises(ChildProcessError, match="main_ppo\\) exited with 2") as raised:  # the launcher's check
        engine.launch_trainer(config, work, tmp_path / "model", lambda *a: None)  # no model there
    assert str(work / "run_grpo.log") in str(raised.value)
    assert "is not a model directory" in str(raised.value)
    assert not ray_dir.exists()
