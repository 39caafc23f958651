"""A monitoring check can never change a training reward (issue 13, item 5).

The correctness child process is forced to fail at start-up (spawn error, or a child that exits
before it reports ready). Label-free presets must then score exactly as without a ground truth and
report ``monitor_error``; ``correctness`` must still fail loudly (the veRL manager: score 0, reward_error 1).
"""

from __future__ import annotations

import random
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from verl_ext.core.extra_info import result_fields
from verl_ext.rewards import correctness, isolation, score_response
from verl_ext.rewards.isolation import WorkerStartError

RESPONSE = "so the answer is \\boxed{\\frac{1}{2}}"  # not a plain integer: needs the math-verify child
TRUTH = "0.5"
TOKENS, MAX_TOKENS = 700, 3072
LABEL_FREE = ["format", "format_length", "length", "random"]


def _score(preset: str, truth: str | None):
    return score_response(
        preset,
        RESPONSE,
        response_tokens=TOKENS,
        max_response_tokens=MAX_TOKENS,
        ground_truth=truth,
        rng=random.Random(5),
    )


@pytest.mark.parametrize("preset", LABEL_FREE)
def test_label_free_presets_score_as_without_a_ground_truth(broken_isolated_child, preset):
    with_truth, without = _score(preset, TRUTH), _score(preset, None)
    assert with_truth.score == without.score
    info = result_fields(with_truth)
    assert info["monitor_error"] == 1.0
    assert info["correct"] == 0.0  # unknown, flagged by monitor_error
    assert "WorkerStartError" in with_truth.signals.monitor_error
    assert info["format"] == 1.0 and info["timed_out"] == 0.0


def test_correctness_preset_reports_the_failure(broken_isolated_child):
    with pytest.raises(WorkerStartError):
        _score("correctness", TRUTH)


def test_a_healthy_check_reports_no_monitoring_error():
    info = result_fields(_score("format_length", TRUTH))
    assert (info["correct"], info["monitor_error"]) == (1.0, 0.0)


def test_start_up_failure_leaves_no_child_behind(monkeypatch):
    started = []

    def popen(*args, **kwargs):
        process = subprocess.Popen(*args, **kwargs)
        started.append(process)
        return process

    fake = SimpleNamespace(Popen=popen, DEVNULL=subprocess.DEVNULL, TimeoutExpired=subprocess.TimeoutExpired)
    monkeypatch.setattr(isolation, "subprocess", fake)
    monkeypatch.setattr(isolation, "CHILD_MODULE", "verl_ext.rewards.no_such_child_module")
    caller = isolation.IsolatedCaller(f"{correctness.__name__}:math_verify_equivalent", timeout_s=1.0)
    with pytest.raises(WorkerStartError, match="died at start-up"):
        caller.call("1", "1")
    assert len(started) == 1 and started[0].poll() is not None


# --- through the veRL manager -----------------------------------------------------------------


def _manager(preset: str, tokenizer_dir):
    pytest.importorskip("verl")
    from hydra import compose, initialize_config_module
    from transformers import AutoTokenizer

    from verl_ext.verl.managers import MANAGERS

    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        config = compose(
            config_name="ppo_trainer",
            overrides=[f"reward.reward_manager.name={preset}", f"data.max_response_length={MAX_TOKENS}"],
        )
    return MANAGERS[preset](config, AutoTokenizer.from_pretrained(tokenizer_dir))


def _one_sample(tokenizer, truth: str):
    import torch
    from verl import DataProto

    ids = tokenizer.encode(RESPONSE)
    return DataProto.from_dict(
        tensors={"responses": torch.tensor([ids]), "attention_mask": torch.ones((1, len(ids)), dtype=torch.long)},
        non_tensors={"reward_model": np.array([{"ground_truth": truth, "style": "rule"}], dtype=object)},
    )


@pytest.mark.parametrize("preset", ["format_length", "correctness"])
def test_verl_manager_under_a_broken_correctness_child(broken_isolated_child, preset, tiny_tokenizer_dir):
    manager = _manager(preset, tiny_tokenizer_dir)
    data = _one_sample(manager.tokenizer, TRUTH)
    tokens = int(data.batch["attention_mask"].sum())
    result = manager.loop.run_until_complete(manager.run_single(data))
    info = result["reward_extra_info"]
    if preset == "correctness":
        assert (result["reward_score"], info["reward_error"]) == (0.0, 1.0)
        return
    decoded = manager.tokenizer.decode(data.batch["responses"][0], skip_special_tokens=True)
    want = score_response(preset, decoded, response_tokens=tokens, max_response_tokens=MAX_TOKENS).score
    assert result["reward_score"] == want
    assert (info["reward_error"], info["monitor_error"]) == (0.0, 1.0)


def test_diagnostics_count_monitoring_errors_and_leave_their_rows_out_of_accuracy():
    from verl_ext.diagnostics import compute_diagnostics

    # 4 rollouts: the 2nd failed to be checked, so its correct = 0 means "unknown"
    metrics = compute_diagnostics(
        {"format": [1.0, 1.0, 0.0, 1.0], "correct": [1.0, 0.0, 0.0, 0.0], "monitor_error": [0.0, 1.0, 0.0, 0.0]}
    )
    assert metrics["diagnostics/monitor_error_rate"] == 0.25
    assert metrics["diagnostics/accuracy"] == pytest.approx(1 / 3)  # rows 1, 3, 4
    assert metrics["diagnostics/accuracy_given_format"] == 0.5  # rows 1 and 4 have format 1
