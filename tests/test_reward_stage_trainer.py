"""verl-ext's trainer mode (verl_ext.verl.trainer): registered with veRL's trainer registry, and one real training
step of veRL's own ``PPOTrainer._step_once`` over a real (local, in-memory) TransferQueue, with the workers stubbed:
the reward stage runs after the old-log-prob pass and before advantages, its rm_scores are what
``_compute_advantage`` reads, the actor's self-certainty reaches TransferQueue per response token, and the flag that
asks for it never reaches the reference pass.

One GRPO group of four rollouts of prompt ``uid0`` (as veRL's agent loop writes them), answers 7, 8, none, 7 (7 is
the ground truth), response lengths 2, 3, 4, 5 after a 3-token prompt. The reward loop's scores (the placeholders a
group preset leaves) are the format verdicts 1, 1, 0, 1; the majority vote is 1, 0, 0, 1.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

pytest.importorskip("verl.trainer.ppo.v1", reason="veRL's V1 trainer needs verl[verl-core] (TransferQueue, ...)")

from hydra import compose, initialize_config_dir
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY, get_trainer_cls

from verl_ext.verl import trainer as trainer_module
from verl_ext.verl.trainer import RewardStageTrainer

CONFIG_DIR = Path(__file__).resolve().parents[1] / "recipe" / "format_length" / "config"
PROMPT = [1, 2, 3]
ANSWERS = ["7", "8", "", "7"]
FORMAT = [1.0, 1.0, 0.0, 1.0]
VOTE = [1.0, 0.0, 0.0, 1.0]
KEYS = [f"uid0_{i}_0" for i in range(4)]


def response_length(i: int) -> int:
    return 2 + i


# What the stubbed actor returns per position j of a sequence (prompt + response): self-certainty 2 + j / 10.
def full_self_certainty(length: int) -> torch.Tensor:
    return 2.0 + 0.1 * torch.arange(length, dtype=torch.float32)


def response_self_certainty(i: int) -> list[float]:
    """veRL's response_from_nested: the positions before each response token, [P - 1, P + R - 1)."""
    p, r = len(PROMPT), response_length(i)
    return [2.0 + 0.1 * j for j in range(p - 1, p + r - 1)]


def test_trainer_mode_is_registered_with_verls_registry() -> None:
    assert get_trainer_cls("verl_ext_sync") is RewardStageTrainer
    assert {"sync", "colocate_async", "separate_async"} <= set(TRAINER_REGISTRY)  # veRL's own, left as they were


def test_the_stop_rule_ends_training_after_the_step_it_fires_on() -> None:
    """veRL's fit loop runs while global_steps <= total_training_steps: after the firing step it stops."""
    from verl_ext.stop_rule import StopRule, StopTracker

    trainer = object.__new__(RewardStageTrainer)  # the stop rule's state only: no veRL set-up
    trainer.stop_tracker = StopTracker(StopRule.parse("majority_ratio>=0.5"))
    trainer.global_steps, trainer.total_training_steps = 4, 100
    assert trainer._apply_stop_rule({"collapse/majority_ratio": 0.25}) == {"collapse/stop": 0.0}
    assert trainer.total_training_steps == 100
    assert trainer._apply_stop_rule({"collapse/majority_ratio": 0.75}) == {"collapse/stop": 1.0}
    assert trainer.total_training_steps == 4


def rollout_fields(i: int) -> dict[str, Any]:
    r = response_length(i)
    responses = torch.arange(4, 4 + r)
    info = {
        "format": FORMAT[i],
        "pred": ANSWERS[i],
        "correct": float(ANSWERS[i] == "7"),
        "response_tokens": r,
        "reward_error": 0.0,
    }
    return {
        "uid": "uid0",
        "prompts": torch.tensor(PROMPT),
        "responses": responses,
        "input_ids": torch.cat([torch.tensor(PROMPT), responses]),
        "response_mask": torch.ones(r, dtype=torch.int64),
        "rm_scores": torch.cat([torch.zeros(r - 1), torch.tensor([FORMAT[i]])]),  # the reward loop's, last token
        "rollout_log_probs": torch.full((r,), -0.5),
        "extra_fields": {"reward_extra_info": info, "min_global_steps": 0, "max_global_steps": 0},
    }


class Workers:
    """The actor / reference worker groups' calls, stubbed over the real TransferQueue: each call is recorded with
    what it saw; compute_log_prob writes per-position log_probs, entropy and (when flagged) self_certainty, as
    veRL's engine worker does through its TransferQueue bridge."""

    def __init__(self, tq, events: list[str]) -> None:
        self.tq, self.events = tq, events
        self._dispatch_info = {"actor": [0]}  # one data-parallel rank
        self.flags: dict[str, Any] = {}
        self.trained_on: dict[str, Any] = {}

    def _write(self, batch: KVBatchMeta, names: list[str]) -> KVBatchMeta:
        data = self.tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["input_ids"])
        lengths = [len(row) for row in data["input_ids"].unbind()]
        values = {
            "log_probs": lambda n: torch.full((n,), -0.25),
            "entropy": lambda n: torch.full((n,), 0.5),
            "self_certainty": full_self_certainty,
        }
        fields = {name: torch.nested.as_nested_tensor([values[name](n) for n in lengths], layout=torch.jagged)
                  for name in names}  # fmt: skip
        from verl.utils import tensordict_utils as tu

        self.tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=tu.get_tensordict(fields))
        return batch

    def compute_log_prob(self, batch: KVBatchMeta) -> KVBatchMeta:
        self.events.append("old_log_prob")
        self.flags["old_log_prob"] = dict(batch.extra_info)
        rm = self.tq.kv_batch_get(keys=KEYS, partition_id="train", select_fields=["rm_scores"])["rm_scores"]
        self.trained_on["rm_scores_at_old_log_prob"] = [float(row.sum()) for row in rm.unbind()]
        flagged = batch.extra_info.get("calculate_self_certainty", False)
        return self._write(batch, ["log_probs", "entropy", *(["self_certainty"] if flagged else [])])

    def compute_ref_log_prob(self, batch: KVBatchMeta) -> KVBatchMeta:
        self.events.append("ref")
        self.flags["ref"] = dict(batch.extra_info)
        return self._write(batch, ["log_probs"])

    def update_actor(self, batch: KVBatchMeta) -> dict:
        self.events.append("update_actor")
        self.flags["update_actor"] = dict(batch.extra_info)
        data = self.tq.kv_batch_get(keys=KEYS, partition_id="train", select_fields=["rm_scores", "advantages"])
        self.trained_on["rm_scores"] = [float(row.sum()) for row in data["rm_scores"].unbind()]
        self.trained_on["advantages"] = [row.tolist() for row in data["advantages"].unbind()]
        return {"metrics": {"mfu": 0.0}}


@pytest.fixture(scope="module")
def one_step(tmp_path_factory, tiny_tokenizer_dir, one_group_in_a_local_transfer_queue):
    """One ``_step_once`` of verl-ext's trainer (REWARD=majority, self-certainty asked for, token statistics dumped)
    over a local TransferQueue holding one finished group; then veRL's rollout dump of it."""
    if os.environ.get("VERL_EXT_SKIP_RAY_TESTS") == "1":
        pytest.skip("VERL_EXT_SKIP_RAY_TESTS=1")
    from transformers import AutoTokenizer

    dump_dir = tmp_path_factory.mktemp("rollouts")
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        config = compose(
            "format_length_grpo",
            overrides=[
                "scale=cpu",
                "reward.reward_manager.name=majority",
                "actor_rollout_ref.actor.ppo_mini_batch_size=1",  # 4 rollouts: no padding rows
                "+trainer.v1.sampler.sampler_kwargs.self_certainty=true",
                "+trainer.v1.sampler.sampler_kwargs.dump_token_statistics=true",
                f"trainer.rollout_data_dir={dump_dir}",
            ],
        )
    events: list[str] = []
    tags = []
    for i in range(4):
        p, r = len(PROMPT), response_length(i)
        tags.append({"status": "success", "global_steps": 1, "min_global_steps": 0, "max_global_steps": 0,
                     "prompt_len": p, "response_len": r, "seq_len": p + r})  # fmt: skip
    with one_group_in_a_local_transfer_queue(config, [rollout_fields(i) for i in range(4)], tags) as (tq, keys):
        assert keys == KEYS
        trainer = RewardStageTrainer(config)  # veRL's PPOTrainer.__init__: the replay buffer from the config
        workers = Workers(tq, events)
        trainer.actor_rollout_wg = trainer.ref_policy_wg = workers
        trainer.ref_in_actor = False
        trainer.reward_loop_manager = SimpleNamespace(reward_loop_worker_handles=[object()])  # streaming reward
        trainer.checkpoint_manager = SimpleNamespace(sleep_replicas=lambda: None)
        trainer.curr_step_profile = False
        trainer.tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
        trainer.global_steps = 1
        trainer._init_dump_executor()
        trainer.timing_raw = {}
        stage = trainer_module.run_group_stage

        def recorded_stage(*args, **kwargs):
            events.append("reward_stage")
            return stage(*args, **kwargs)

        advantage = trainer._compute_advantage

        def recorded_advantage(batch, metrics):
            events.append("advantage")
            rm = tq.kv_batch_get(keys=KEYS, partition_id="train", select_fields=["rm_scores"])["rm_scores"]
            workers.trained_on["rm_scores_at_advantage"] = [float(row.sum()) for row in rm.unbind()]
            return advantage(batch, metrics)

        trainer_module.run_group_stage = recorded_stage
        trainer._compute_advantage = recorded_advantage
        try:
            metrics: dict = {}
            batch = trainer._step_once(metrics, trainer.timing_raw, sample_batch_size=1)
        finally:
            trainer_module.run_group_stage = stage
        stored = tq.kv_batch_get(keys=KEYS, partition_id="train", select_fields=["self_certainty", "entropy"])
        stored = {name: [row.tolist() for row in stored[name].unbind()] for name in ("self_certainty", "entropy")}
        trainer._log_rollout_data(batch, trainer.timing_raw, str(dump_dir))
        trainer._shutdown_dump_executor()
    dumped = [json.loads(line) for line in (dump_dir / "1.jsonl").read_text().splitlines()]
    return SimpleNamespace(events=events, metrics=metrics, workers=workers, stored=stored, dumped=dumped)


def test_the_stage_runs_after_the_old_log_prob_pass_and_before_advantages(one_step) -> None:
    assert one_step.events == ["old_log_prob", "reward_stage", "ref", "advantage", "update_actor"]
    assert one_step.workers.trained_on["rm_scores_at_old_log_prob"] == FORMAT  # the reward loop's placeholders


def test_the_advantage_step_reads_the_rewritten_rewards_and_the_actor_trains_on_them(one_step) -> None:
    trained_on = one_step.workers.trained_on
    assert trained_on["rm_scores_at_advantage"] == VOTE
    assert trained_on["rm_scores"] == VOTE
    # GRPO by hand on the vote (1, 0, 0, 1): mean 1/2, sample std sqrt(1/3): (r - 1/2) / sqrt(1/3) = +-sqrt(3)/2 on
    # every response token. On the placeholders (1, 1, 0, 1) they would be (1/2, 1/2, -3/2, 1/2).
    half_root3 = math.sqrt(3) / 2
    for i, row in enumerate(trained_on["advantages"]):
        assert len(row) == response_length(i)
        assert row == pytest.approx([half_root3 if VOTE[i] else -half_root3] * len(row), abs=1e-4)
    assert one_step.metrics["collapse/majority_ratio"] == pytest.approx(2 / 4)


def test_self_certainty_reaches_transfer_queue_for_every_response_token(one_step) -> None:
    for i, row in enumerate(one_step.stored["self_certainty"]):
        assert row == pytest.approx(response_self_certainty(i))
    tokens = [value for i in range(4) for value in response_self_certainty(i)]
    assert one_step.metrics["actor/self_certainty"] == pytest.approx(sum(tokens) / len(tokens))
    assert one_step.metrics["actor/entropy"] == pytest.approx(0.5)  # veRL's entropy metric, unchanged
    assert all(row == pytest.approx([0.5] * len(row)) for row in one_step.stored["entropy"])


def test_only_the_old_log_prob_pass_is_asked_for_self_certainty(one_step) -> None:
    flags = one_step.workers.flags
    assert flags["old_log_prob"].get("calculate_self_certainty") is True
    assert "calculate_self_certainty" not in flags["ref"]
    assert "calculate_self_certainty" not in flags["update_actor"]


def test_the_rollout_dump_carries_the_token_statistics_and_advantages(one_step) -> None:
    rows = {row["uid"]: row for row in one_step.dumped}
    assert sorted(rows) == KEYS
    for i, key in enumerate(KEYS):
        row = rows[key]
        assert row["score"] == VOTE[i]
        assert row["self_certainty"] == pytest.approx(response_self_certainty(i))
        assert row["entropy"] == pytest.approx([0.5] * response_length(i))
        assert row["old_log_probs"] == pytest.approx([-0.25] * response_length(i))
        assert row["rollout_log_probs"] == pytest.approx([-0.5] * response_length(i))  # what log-prob rewards read
        assert len(row["advantages"]) == response_length(i)
        assert (row["prompt_ids"], row["response_ids"]) == (PROMPT, list(range(4, 4 + response_length(i))))
