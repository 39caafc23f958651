"""veRL 0.9.1's own trainer end to end on the CPU, through the recipe's launcher: ``run_grpo.sh scale=cpu``.

Two launches share one checkpoint and log folder (conftest's session-shared ``cpu_trainer_runs``, started in the
background when collection is done; about 2 x 1-2 min on 2 idle cores):

* A: the recipe as a user runs it: main_ppo, V1 sync trainer, FSDP2 actor + reference, GRPO with the
  ``format_length`` manager through the agent loop's streaming reward path, the diagnostics sampler,
  validation before and after, the file logger, a checkpoint at step 2. TRL is installed (CI installs the
  ``[trl]`` extra), so veRL's FSDP workers also run through the TRL clash fixed in the plugin.
* B: the same command with ``trainer.total_training_steps=3``: it resumes from A's checkpoint at step 3, with
  ``REWARD=self_certainty`` (issue 28): the actor computes each response token's self-certainty in its old-log-prob
  pass and the reward stage of trainer mode ``verl_ext_sync`` writes each response's mean as ``rm_scores`` before
  advantages; veRL's rollout dump (``trainer.rollout_data_dir``, with ``dump_token_statistics``) reads the rewards,
  the per-token statistics and the advantages back from TransferQueue after the actor's update. An opt-in stop rule
  that holds on every step (``response_length>=0``) fires at step 3, B's last. (The group-level path, the majority
  vote, runs through the same launcher in the demo's veRL run, on a student that boxes: test_demo_verl_engine.py.)
  B runs with the rollout's weight sync disabled (``VERL_EXT_CPU_WEIGHT_SYNC=0``): the negative control
  of the weight-sync check. The rollout server then keeps the model path's initial weights while the actor
  resumed from two updates, so rollout and actor log-probs must disagree; in A they agree to float
  precision after the step-1 update.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from verl_ext.io.logs import read_metric_log

pytestmark = pytest.mark.e2e

BENCHMARKS = ("AIME2024", "AMC2023", "MATH500")
PROBS_DIFF = "training/rollout_probs_diff_mean"
# fp32 rollout and fp32 actor on the same weights: |p_rollout - p_actor| is float rounding (~1e-9 seen).
SYNCED_PROBS_DIFF_MAX = 1e-5


@pytest.fixture
def runs(cpu_trainer_runs):
    return cpu_trainer_runs


def _tail(launch) -> str:
    return launch.output[-6000:]


def test_the_terminal_shows_a_line_per_step_and_where_main_ppos_output_is(runs):
    # The numbers come from veRL's own metrics log (its file logger), formatted as the view promises.
    first = read_metric_log(runs.log.with_name(runs.log.name + ".part1")).steps
    lines = runs.first.output.splitlines()
    for step in (1, 2):
        metrics = first[step]
        expected = (
            f"step {step}/2: reward {metrics['critic/score/mean']:.3f}, format rate "
            f"{metrics['diagnostics/format_rate']:.3f}, length {metrics['response_length/mean']:.1f} tokens, "
            f"{metrics['timing_s/step']:.1f} s"
        )
        assert expected in lines, (expected, lines)
    assert [line.split(":")[0] for line in lines if line.startswith("validation at step")] == [
        "validation at step 0",
        "validation at step 2",
    ]
    run_log = runs.log.with_suffix(".log")
    said = [line for line in lines if str(run_log) in line]
    assert len(said) == 2 and lines.index(said[0]) < lines.index(expected) < lines.index(said[1])
    assert len(lines) < 30, lines  # a view, not the 1,000 lines of config and metric dictionaries
    assert not any("Writing model shards" in line or "Platform override" in line for line in lines), lines
    assert "'actor_rollout_ref'" not in runs.first.output and "step:1 - " not in runs.first.output
    assert "'actor_rollout_ref'" in runs.first.run_log and "step:1 - " in runs.first.run_log


# What veRL, torchdata and Ray print about their own choices (issue 31): none of it in a launch's output or its log.
THEIR_CHOICES = (
    "engine is not available",
    "Disabled critic",
    "load_extern_type",
    "set_vital",
    "blocking ray.get inside async actor",
    "Token authentication",
    "Platform override from VERL_PLATFORM",
)


@pytest.mark.parametrize("launch", ["first", "resumed"])
def test_no_warning_about_verls_or_rays_own_choices_in_a_launch(runs, launch: str):
    done = getattr(runs, launch)
    shown = [line for line in done.output.splitlines() if not line.startswith("run_grpo.sh: note: ")]  # names them
    assert sum(line.startswith("run_grpo.sh: note: ") for line in done.output.splitlines()) == 1  # explained once
    for text in THEIR_CHOICES:
        assert text not in "\n".join(shown) and text not in done.run_log, text


def test_the_launches_leave_nothing_in_their_temporary_folder(runs):
    # Ray's session folders, veRL's ckpt_*.lock files, torch's folders: all in the launch's private folder, removed
    assert runs.left_in_temp_dir == []


def test_first_launch_trains_two_steps_and_exits_0(runs):
    assert runs.first.returncode == 0, _tail(runs.first)
    first_log = read_metric_log(runs.log.with_name(runs.log.name + ".part1"))
    assert sorted(first_log.steps) == [0, 1, 2]


def test_per_step_metrics_hold_diagnostics_and_validation_accuracy(runs):
    steps = read_metric_log(runs.log.with_name(runs.log.name + ".part1")).steps
    for step in (1, 2):
        for name in (
            "diagnostics/format_rate",
            "diagnostics/length_reward_mean",
            "diagnostics/truncation_rate",
            "diagnostics/reward_error_rate",
            "critic/score/mean",
            "timing_s/gen",
            "timing_s/update_actor",
        ):
            assert name in steps[step], f"step {step} lacks {name}"
        assert steps[step]["diagnostics/reward_error_rate"] == 0.0
    for step in (0, 2):  # validation before training and at the last step
        accuracies = [name for name in steps[step] if name.startswith("val-core/") and name.endswith("/acc/mean@1")]
        assert accuracies, f"no val-core/<BENCH>/acc/mean@1 at step {step}"
        assert {name.split("/")[1] for name in accuracies} <= set(BENCHMARKS)


def test_reward_managers_scored_every_rollout_through_the_agent_loop(runs):
    # diagnostics/* are read back from the rollouts' extra_fields in TransferQueue: only the agent loop's
    # streaming reward path writes them there. Every rollout was scored (no reward error) and the training
    # rewards are the format_length preset's: at most 1.5 (0.5 + a length bonus of at most 1), at least -1.
    steps = read_metric_log(runs.log.with_name(runs.log.name + ".part1")).steps
    for step in (1, 2):
        assert -1.0 <= steps[step]["critic/score/min"] <= steps[step]["critic/score/max"] <= 1.5
        assert 0.0 <= steps[step]["diagnostics/truncation_rate"] <= 1.0


def test_checkpoint_of_step_two_is_written(runs):
    assert runs.tracker_after_first == "2"
    assert "global_step_2" in runs.checkpoints_after_first
    actor = runs.checkpoints / "global_step_3" / "actor"  # the resumed run's, same layout
    assert (actor / "huggingface" / "config.json").is_file()
    assert any(actor.glob("model_world_size_1_rank_0.pt"))


def test_second_launch_resumes_at_step_three_and_keeps_steps_one_and_two(runs):
    assert runs.resumed.returncode == 0, _tail(runs.resumed)
    assert "global_step_2" in runs.resumed.output  # veRL: "Resuming from .../global_step_2"
    resumed_only = read_metric_log(runs.log)  # the live file with its parts
    assert 3 in resumed_only.steps and "diagnostics/format_rate" in resumed_only.steps[3]
    union = resumed_only.steps
    assert sorted(union) == [0, 1, 2, 3]
    assert "diagnostics/format_rate" in union[1]  # step 1 from the first launch survived the resume


def test_training_metrics_of_step_two_survive_the_resume(runs):
    union = read_metric_log(runs.log).steps
    assert "diagnostics/format_rate" in union[2]


def test_rollout_log_probs_track_the_actor_only_with_weight_sync(runs):
    first = read_metric_log(runs.log.with_name(runs.log.name + ".part1")).steps
    resumed = read_metric_log(runs.log).steps
    synced = first[2][PROBS_DIFF]  # after the step-1 update: the rollout holds the updated weights
    stale = resumed[3][PROBS_DIFF]  # sync disabled: the rollout kept the initial weights
    assert first[1]["actor/grad_norm"] > 0  # the actor did move
    assert synced < SYNCED_PROBS_DIFF_MAX
    assert stale > 100 * SYNCED_PROBS_DIFF_MAX


def test_table_and_plot_read_the_trainer_log(runs, tmp_path: Path):
    table = subprocess.run(
        [sys.executable, "-m", "verl_ext.cli", "table", str(runs.log), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert table.returncode == 0, table.stderr
    assert "cpu-e2e" in table.stdout
    figure = tmp_path / "curves.png"
    plot = subprocess.run(
        [sys.executable, "-m", "verl_ext.cli", "plot", str(runs.log), "-o", str(figure)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert plot.returncode == 0, plot.stderr
    assert figure.stat().st_size > 0


def test_the_actor_trained_on_each_responses_mean_self_certainty(runs, rollout_groups, trained_rewards):
    """The dump's scores are veRL's rm_scores read back after the update, its self_certainty the actor's per-token
    statistic: each reward is its response's mean; they vary within the groups and the advantages are GRPO's."""
    assert runs.resumed.returncode == 0, _tail(runs.resumed)
    groups = rollout_groups(runs.rollouts / "3.jsonl")
    assert sorted(len(members) for members in groups) == [4, 4]  # scale=cpu: 2 prompts x 4, never split
    trained_rewards(groups, lambda row: sum(row["self_certainty"]) / len(row["self_certainty"]))
    rows = [row for members in groups for row in members]
    step = read_metric_log(runs.log).steps[3]
    assert step["critic/score/mean"] == pytest.approx(sum(row["score"] for row in rows) / len(rows))
    assert step["diagnostics/group_reward_error_rate"] == 0.0
    for name in (
        "collapse/majority_ratio",
        "collapse/distinct_answers",
        "collapse/answer_entropy",
        "collapse/mean_logprob",
        "collapse/response_length",
        "collapse/label_accuracy",
        "collapse/reward_accuracy",
        "actor/self_certainty",
    ):
        assert name in step, name


def test_collapse_monitors_are_logged_for_a_sample_level_reward_too(runs):
    steps = read_metric_log(runs.log.with_name(runs.log.name + ".part1")).steps  # launch A: format_length
    for step in (1, 2):
        assert 0.0 <= steps[step]["collapse/majority_ratio"] <= 1.0
        assert steps[step]["collapse/mean_logprob"] < 0.0


def test_the_stop_rule_fires_in_veRLs_trainer_with_its_reason(runs):
    assert "collapse stop rule: response_length >= 0 held for 1 consecutive step(s)" in runs.resumed.output
    assert "training ends after step 3" in runs.resumed.output
    assert read_metric_log(runs.log).steps[3]["collapse/stop"] == 1.0
