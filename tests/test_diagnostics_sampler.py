"""verl_ext.verl.diagnostics_sampler: diagnostics reach veRL 0.9's step metrics through its sampler hook.

CPU only, synthetic batches shaped like veRL's agent loop writes them to TransferQueue. The last test
runs veRL's real ReplayBuffer.sample against a real (local, in-memory) TransferQueue. The reward stage and the
collapse monitors run in verl-ext's trainer mode, after the old-log-prob pass: tests/test_reward_stage_trainer.py
(that the rewritten rm_scores are what _compute_advantage reads) and tests/test_stage_checks.py (the sampler's
refusals).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

# veRL's V1 trainer imports TransferQueue, cachetools, fastapi and uvicorn (all in verl[verl-core]).
pytest.importorskip("verl.trainer.ppo.v1", reason="veRL's V1 trainer needs verl[verl-core] (TransferQueue, ...)")

from hydra import compose, initialize_config_dir
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer
from verl.trainer.ppo.v1.trainer_base import PPOTrainer
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

from verl_ext.diagnostics import compute_diagnostics
from verl_ext.verl import diagnostics_sampler
from verl_ext.verl.diagnostics_sampler import training_diagnostics

CONFIG_DIR = Path(__file__).resolve().parents[1] / "recipe" / "format_length" / "config"

# reward_extra_info of 4 rollouts of one prompt, as the verl-ext reward managers write it.
INFOS = [
    {
        "format": 1,
        "length_reward": 0.5,
        "response_tokens": 900,
        "truncated": 0,
        "pred": "7",
        "timed_out": 0,
        "correct": 1,
        "reward_error": 0,
    },
    {
        "format": 1,
        "length_reward": 1.0,
        "response_tokens": 1500,
        "truncated": 0,
        "pred": "8",
        "timed_out": 0,
        "correct": 0,
        "reward_error": 0,
    },
    {
        "format": 0,
        "length_reward": 0.0,
        "response_tokens": 3072,
        "truncated": 1,
        "pred": "",
        "timed_out": 0,
        "correct": 0,
        "reward_error": 0,
    },
    {
        "format": 1,
        "length_reward": 0.5,
        "response_tokens": 600,
        "truncated": 0,
        "pred": "7",
        "timed_out": 0,
        "correct": 1,
        "reward_error": 0,
    },
]
EXPECTED = compute_diagnostics({key: [info[key] for info in INFOS] for key in INFOS[0]})


def agent_loop_fields(info: dict[str, Any]) -> dict[str, Any]:
    """One rollout's TransferQueue fields, shaped like veRL's AgentLoopWorkerTQ puts them."""
    return {
        "prompts": torch.tensor([1, 2, 3]),
        "responses": torch.tensor([4, 5]),
        "response_mask": torch.tensor([1, 1]),
        "reward_score": float(info["format"]),
        "rm_scores": torch.tensor([0.0, float(info["format"])]),  # the reward loop's score on the last token
        "rollout_log_probs": torch.tensor([-0.5, -1.5]),  # actor_rollout_ref.rollout.calculate_log_probs (default true)
        "extra_fields": {"reward_extra_info": dict(info), "min_global_steps": 0, "max_global_steps": 0},
    }


class FakeTransferQueue:
    """kv_batch_get over an in-memory store built with veRL's own list_of_dict_to_tensordict."""

    def __init__(self, rows: dict[str, dict[str, Any]]):
        self.rows = rows
        self.calls: list[dict[str, Any]] = []

    def kv_batch_get(self, keys: list[str], partition_id: str, select_fields: list[str]):
        self.calls.append({"keys": list(keys), "partition_id": partition_id, "select_fields": list(select_fields)})
        table = list_of_dict_to_tensordict([self.rows[key] for key in keys])
        return {field: table[field] for field in select_fields}


def sampled_batch(n_padding: int = 0) -> KVBatchMeta:
    keys = [f"uid0_{i}_0" for i in range(len(INFOS))] + [f"pad_{i}" for i in range(n_padding)]
    tags = [{"status": "success"} for _ in INFOS] + [{"is_padding": True} for _ in range(n_padding)]
    return KVBatchMeta(partition_id="train", keys=keys, tags=tags)


@pytest.fixture
def fake_tq() -> FakeTransferQueue:
    return FakeTransferQueue({f"uid0_{i}_0": agent_loop_fields(info) for i, info in enumerate(INFOS)})


@pytest.fixture(scope="module")
def recipe_config():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose("format_length_grpo")


def build_replay_buffer(config) -> ReplayBuffer:
    """The replay buffer exactly as veRL's PPOTrainer builds it from a config."""
    trainer = SimpleNamespace(config=config, trainer_mode="sync", _add_prompts_to_generate=lambda n: n)
    return PPOTrainer._build_replay_buffer(trainer)


def test_verl_builds_the_diagnostics_sampler_from_the_recipe_config(recipe_config) -> None:
    replay_buffer = build_replay_buffer(recipe_config)
    assert type(replay_buffer).__name__ == "DiagnosticsReplayBuffer"
    assert isinstance(replay_buffer, ReplayBuffer)


def test_training_diagnostics_read_extra_fields_of_the_sampled_rollouts(fake_tq) -> None:
    metrics = training_diagnostics(sampled_batch(), fake_tq.kv_batch_get)
    assert metrics == pytest.approx(EXPECTED)
    assert metrics["diagnostics/accuracy"] == pytest.approx(0.5)
    assert fake_tq.calls == [{"keys": sampled_batch().keys, "partition_id": "train", "select_fields": ["extra_fields"]}]


def test_padding_rollouts_are_not_read(fake_tq) -> None:
    assert training_diagnostics(sampled_batch(n_padding=3), fake_tq.kv_batch_get) == pytest.approx(EXPECTED)
    assert all(not key.startswith("pad_") for key in fake_tq.calls[0]["keys"])


def test_a_failed_read_gives_no_metrics_and_a_warning(caplog) -> None:
    def broken_get(**_: Any):
        raise ConnectionError("storage unit gone")

    with caplog.at_level(logging.WARNING, logger=diagnostics_sampler.__name__):
        assert training_diagnostics(sampled_batch(), broken_get) == {}
    assert "storage unit gone" in caplog.text


def test_poll_interval_comes_from_sampler_kwargs_and_defaults_to_verls(recipe_config) -> None:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        cpu = compose("format_length_grpo", overrides=["scale=cpu"])
    assert build_replay_buffer(cpu).poll_interval == 0.05  # recipe/format_length/config/scale/cpu.yaml
    assert build_replay_buffer(recipe_config).poll_interval == 2.0  # veRL's documented default, unchanged
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        bad = compose("format_length_grpo", overrides=["+trainer.v1.sampler.sampler_kwargs.poll_interval=0"])
    with pytest.raises(ValueError, match="poll_interval must be > 0"):
        build_replay_buffer(bad)


@pytest.mark.parametrize(("partition_id", "adds_diagnostics"), [("train", True), ("val", False)])
def test_sample_adds_diagnostics_to_training_batches_only(
    monkeypatch, fake_tq, recipe_config, partition_id: str, adds_diagnostics: bool
) -> None:
    batch = sampled_batch()
    stock_metrics = {"training/off_policy/evicted_samples": 0}

    def stock_sample(self, global_steps: int, partition_id: str, batch_size: int):
        return batch, dict(stock_metrics)

    monkeypatch.setattr(ReplayBuffer, "sample", stock_sample)
    monkeypatch.setattr(diagnostics_sampler.tq, "kv_batch_get", fake_tq.kv_batch_get)

    sampled, metrics = build_replay_buffer(recipe_config).sample(
        global_steps=1, partition_id=partition_id, batch_size=1
    )
    assert sampled is batch
    if adds_diagnostics:
        assert {k: metrics[k] for k in [*stock_metrics, *EXPECTED]} == pytest.approx({**stock_metrics, **EXPECTED})
        assert not any(k.startswith("collapse/") for k in metrics)  # the trainer's stage logs those, after sampling
    else:
        assert metrics == stock_metrics
    assert bool(fake_tq.calls) == adds_diagnostics


def sample_one_group_from_a_local_transfer_queue(config, one_group_in_a_local_transfer_queue):
    """One finished GRPO group (the prompt's status tag plus the INFOS rollouts, as the agent loop leaves them) in
    a local TransferQueue, sampled by veRL's sync sampling through the recipe's sampler.
    Returns (batch, metrics, keys)."""
    rollouts = [agent_loop_fields(info) for info in INFOS]
    tags = [{"status": "success", "global_steps": 1, "min_global_steps": 0, "max_global_steps": 0}] * 4
    with one_group_in_a_local_transfer_queue(config, rollouts, tags) as (_, keys):
        batch, metrics = build_replay_buffer(config).sample(global_steps=1, partition_id="train", batch_size=1)
    return batch, metrics, keys


@pytest.mark.skipif(os.environ.get("VERL_EXT_SKIP_RAY_TESTS") == "1", reason="VERL_EXT_SKIP_RAY_TESTS=1")
def test_real_transfer_queue_round_trip_through_verls_sampler(
    recipe_config, one_group_in_a_local_transfer_queue
) -> None:
    """veRL's sync sampling over a local TransferQueue returns the batch plus its diagnostics."""
    batch, metrics, keys = sample_one_group_from_a_local_transfer_queue(
        recipe_config, one_group_in_a_local_transfer_queue
    )

    assert sorted(batch.keys) == keys
    assert {k: metrics[k] for k in EXPECTED} == pytest.approx(EXPECTED)
