"""verl_ext.verl.group_stage: group-level training rewards written to TransferQueue, on hand-worked groups.

A fake TransferQueue holds rollouts shaped like veRL 0.9.1's agent loop writes them (keys ``{uid}_{session}_{index}``,
``extra_fields.reward_extra_info`` from the per-sample managers, ``rm_scores`` with the reward on the last token,
jagged). Expected values are worked by hand from the formulas (TTRL's majority vote, EMPO's cluster share and its
0.25 threshold, the mean token log-probability).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from verl_ext.core.extra_info import MissingSignals
from verl_ext.verl.group_stage import StageOptions, group_order, run_group_stage

# Group "a" (truth 2): answers 2, 2.0, \frac{4}{2} (one cluster by math-verify), 3, none.
GROUP_A = [("2", 1.0, 1.0), ("2.0", 1.0, 1.0), ("\\frac{4}{2}", 0.0, 1.0), ("3", 1.0, 0.0), ("", 0.0, 0.0)]
# Group "b": a 2-2 tie between 5 (session 0 first) and 7.
GROUP_B = [("5", 1.0, 0.0), ("7", 1.0, 1.0), ("7", 1.0, 1.0), ("5", 1.0, 0.0)]
# The batch lists the rollouts out of session order and interleaved, as a sampler may.
ORDER = ["b_1_0", "a_3_0", "a_0_0", "b_3_0", "a_4_0", "b_0_0", "a_2_0", "a_1_0", "b_2_0"]
RESPONSE_LENGTHS = {"a": [3, 5, 2, 4, 6], "b": [2, 2, 3, 1]}


def rows_of(groups: dict[str, list[tuple[str, float, float]]]) -> dict[str, dict[str, Any]]:
    rows = {}
    for uid, members in groups.items():
        for session, (pred, fmt, correct) in enumerate(members):
            length = RESPONSE_LENGTHS[uid][session]
            scores = torch.zeros(length)
            scores[-1] = 0.0  # the group-level managers' placeholder
            rows[f"{uid}_{session}_0"] = {
                "extra_fields": {
                    "reward_extra_info": {
                        "pred": pred,
                        "format": fmt,
                        "correct": correct,
                        "monitor_error": 0.0,
                        "response_tokens": length,
                        "reward_error": 0.0,
                    }
                },
                "rm_scores": scores,
                "rollout_log_probs": torch.full((length,), -0.5),
                "response_mask": torch.ones(length, dtype=torch.int64),
            }
    return rows


class FakeTransferQueue:
    """kv_batch_get / kv_batch_put over an in-memory store; ragged tensors come back jagged, as TransferQueue's."""

    def __init__(self, rows: dict[str, dict[str, Any]]):
        self.rows = rows
        self.puts: list[dict[str, Any]] = []

    def kv_batch_get(self, keys: list[str], partition_id: str, select_fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in select_fields:
            values = [self.rows[key][field] for key in keys]
            out[field] = (
                torch.nested.as_nested_tensor(values, layout=torch.jagged)
                if isinstance(values[0], torch.Tensor)
                else values
            )
        return out

    def kv_batch_put(self, keys: list[str], partition_id: str, fields: Any) -> None:
        self.puts.append({"keys": list(keys), "partition_id": partition_id})
        for key, row in zip(keys, fields["rm_scores"].unbind()):
            self.rows[key]["rm_scores"] = row.clone()


def written(tq: FakeTransferQueue, uid: str) -> list[float]:
    """Per session of ``uid``: the reward on the last token; every other token must be 0 and the length kept."""
    rewards = []
    for session, length in enumerate(RESPONSE_LENGTHS[uid]):
        row = tq.rows[f"{uid}_{session}_0"]["rm_scores"]
        assert row.shape == (length,)
        assert row[:-1].abs().sum() == 0
        rewards.append(float(row[-1]))
    return rewards


def run(preset: str, groups=None, **options: Any) -> tuple[FakeTransferQueue, dict[str, float]]:
    tq = FakeTransferQueue(rows_of(groups or {"a": GROUP_A, "b": GROUP_B}))
    keys = ORDER if groups is None else list(tq.rows)
    outcome = run_group_stage(keys, "train", StageOptions(reward=preset, **options), tq.kv_batch_get, tq.kv_batch_put)
    return tq, outcome.metrics


@pytest.mark.parametrize(
    ("preset", "group_a", "group_b"),
    [
        ("majority", [1, 1, 1, 0, 0], [1, 0, 0, 1]),  # b: the tie goes to 5, whose first sample (session 0) comes first
        ("semantic_frequency", [3 / 5, 3 / 5, 3 / 5, 1 / 5, 0], [1 / 2] * 4),
        ("format_gated_majority", [1, 1, 0, 0, 0], [1, 0, 0, 1]),
        ("format_gated_semantic_frequency", [3 / 5, 3 / 5, 0, 1 / 5, 0], [1 / 2] * 4),
    ],
)
def test_group_rule_is_written_as_rm_scores_on_each_response_last_token(preset, group_a, group_b) -> None:
    tq, metrics = run(preset)
    assert written(tq, "a") == pytest.approx(group_a)
    assert written(tq, "b") == pytest.approx(group_b)
    assert tq.puts == [{"keys": ORDER, "partition_id": "train"}]
    assert metrics["diagnostics/group_reward_error_rate"] == 0.0
    assert metrics["diagnostics/answer_fallback_rate"] == 0.0


def test_semantic_frequency_zeroes_a_group_whose_largest_cluster_is_under_a_quarter() -> None:
    spread = {"c": [(str(i), 1.0, 0.0) for i in range(5)]}  # five distinct answers: largest share 1/5 < 0.25
    RESPONSE_LENGTHS["c"] = [1] * 5
    try:
        tq, _ = run("semantic_frequency", spread)
        assert written(tq, "c") == [0.0] * 5
        tq, _ = run("majority", spread)
        assert written(tq, "c") == [1.0, 0.0, 0.0, 0.0, 0.0]  # every cluster ties at 1: the first seen wins
    finally:
        del RESPONSE_LENGTHS["c"]


def test_collapse_monitors_of_the_step_are_the_mean_over_groups() -> None:
    _, metrics = run("majority", rollout_log_probs=True)
    entropy_a = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # 4 answered: clusters of 3 and 1
    entropy_b = math.log(2)
    assert metrics["collapse/majority_ratio"] == pytest.approx((3 / 5 + 2 / 4) / 2)
    assert metrics["collapse/distinct_answers"] == pytest.approx(2.0)
    assert metrics["collapse/answer_entropy"] == pytest.approx((entropy_a + entropy_b) / 2)
    assert metrics["collapse/label_accuracy"] == pytest.approx(
        (1 + 0) / 2
    )  # a: 2 is right; b: 5 (the tie's winner) is wrong
    assert metrics["collapse/reward_accuracy"] == pytest.approx((5 / 5 + 0 / 4) / 2)
    assert metrics["collapse/mean_logprob"] == pytest.approx(-0.5)
    assert metrics["collapse/response_length"] == pytest.approx((20 / 5 + 8 / 4) / 2)


def test_a_text_preset_keeps_the_reward_loop_scores_and_gets_the_monitors() -> None:
    tq = FakeTransferQueue(rows_of({"a": GROUP_A}))
    for key, reward in zip(tq.rows, [0.5, 0.5, 0.0, 0.5, 0.0]):
        tq.rows[key]["rm_scores"][-1] = reward
    outcome = run_group_stage(list(tq.rows), "train", StageOptions(reward="format"), tq.kv_batch_get, tq.kv_batch_put)
    assert tq.puts == [] and not outcome.rewritten
    assert outcome.rewards == [0.5, 0.5, 0.0, 0.5, 0.0]
    # paid (r > 0): 1 1 0 1 0, correct: 1 1 1 0 0: they agree on samples 1, 2 and 5
    assert outcome.metrics["collapse/reward_accuracy"] == pytest.approx(3 / 5)
    assert outcome.metrics["collapse/majority_ratio"] == pytest.approx(3 / 5)


@pytest.mark.parametrize(
    ("preset", "tail_fraction", "expected"),
    [
        ("self_confidence", 1.0, [-1.0, -0.25]),  # mean of (-0.5, -1.5); mean of (-0.1, -0.4)
        ("self_confidence", 0.5, [-1.5, -0.4]),  # the last ceil(0.5 * 2) = 1 token
        ("format_gated_self_confidence", 1.0, [math.exp(-1.0), 0.0]),  # the second sample fails the format
    ],
)
def test_log_prob_presets_read_the_rollout_log_probs_of_response_tokens(preset, tail_fraction, expected) -> None:
    tq = FakeTransferQueue(rows_of({"b": GROUP_B[:2]}))
    tq.rows["b_0_0"]["rollout_log_probs"] = torch.tensor([-0.5, -1.5])
    tq.rows["b_1_0"]["rollout_log_probs"] = torch.tensor([-0.1, -0.4])
    tq.rows["b_1_0"]["extra_fields"]["reward_extra_info"]["format"] = 0.0
    options = StageOptions(reward=preset, rollout_log_probs=True, tail_fraction=tail_fraction)
    run_group_stage(["b_0_0", "b_1_0"], "train", options, tq.kv_batch_get, tq.kv_batch_put)
    assert [float(tq.rows[k]["rm_scores"][-1]) for k in ("b_0_0", "b_1_0")] == pytest.approx(expected)


def test_masked_out_tokens_do_not_count_in_the_mean_log_prob() -> None:
    tq = FakeTransferQueue(rows_of({"b": GROUP_B[:1]}))
    tq.rows["b_0_0"]["rollout_log_probs"] = torch.tensor([-0.2, -9.0])
    tq.rows["b_0_0"]["response_mask"] = torch.tensor([1, 0])  # e.g. a tool's tokens in a multi-turn response
    run_group_stage(
        ["b_0_0"],
        "train",
        StageOptions(reward="self_confidence", rollout_log_probs=True),
        tq.kv_batch_get,
        tq.kv_batch_put,
    )
    assert float(tq.rows["b_0_0"]["rm_scores"][-1]) == pytest.approx(-0.2)


def test_sampler_kwargs_that_cannot_be_honoured_are_named() -> None:
    with pytest.raises(ValueError, match="sampler_kwargs: .*did you mean 'majority'"):
        StageOptions.from_kwargs({"reward": "majorty"})
    with pytest.raises(ValueError, match="sampler_kwargs: tail_fraction"):
        StageOptions.from_kwargs({"reward": "self_confidence", "tail_fraction": 1.5})


def test_a_group_whose_checker_cannot_start_falls_back_to_string_equality_and_is_counted(broken_isolated_child) -> None:
    tq, metrics = run("majority")
    # string equality: 2 and 2.0 share a key (integral literal), \frac{4}{2} is its own cluster
    assert written(tq, "a") == [1, 1, 0, 0, 0]
    assert written(tq, "b") == [1, 0, 0, 1]  # integers only: decided by their keys, no checker needed
    assert metrics["diagnostics/answer_fallback_rate"] == pytest.approx(5 / 9)  # group a's 5 of the 9 rollouts


def test_groups_are_whole_prompts_ordered_by_session() -> None:
    assert group_order(["x_1_0", "y_0_0", "x_0_0", "x_0_1"]) == [2, 3, 0, 1]
    with pytest.raises(ValueError, match="uid"):
        group_order(["x_a_0", "x_b_0"])


def test_mean_log_probs_of_a_step_by_hand() -> None:
    from verl_ext.rewards.token_stats import Ragged, tail_means

    logprobs = torch.nested.as_nested_tensor(
        [torch.tensor([-1.0, -2.0, -3.0]), torch.tensor([-0.5]), torch.tensor([-1.0, 0.5]), torch.tensor([-4.0, -8.0])],
        layout=torch.jagged,
    )
    masks = torch.nested.as_nested_tensor(
        [torch.tensor([1, 1, 1]), torch.tensor([0]), torch.tensor([1, 1]), torch.tensor([0, 1])], layout=torch.jagged
    )
    response_tokens = Ragged.from_tensor(logprobs).masked(Ragged.from_tensor(masks))
    # (-1-2-3)/3; no token; a log-prob > 0 is invalid; only the second token counts
    assert tail_means(response_tokens, "logprobs") == [-2.0, None, None, -8.0]
    # the last ceil(2/3 * 3) = 2 tokens: (-2-3)/2
    assert tail_means(response_tokens, "logprobs", tail_fraction=2 / 3)[0] == pytest.approx(-2.5)


@pytest.mark.parametrize("preset", ["majority", "format_gated_semantic_frequency", "self_confidence"])
@pytest.mark.parametrize(
    "extra_fields",
    [{}, {"reward_extra_info": {}}, {"reward_extra_info": {"reward_score": 1.0}}, None],
    ids=["no reward_extra_info", "an empty one", "another scorer's", "no extra_fields"],
)
def test_a_rollout_without_recorded_signals_fails_the_step_naming_it(preset, extra_fields) -> None:
    # e.g. a reward model with its own resource pool, or an agent loop that sets reward_score itself: reading such a
    # rollout as "no answer" would train on a 0 that nobody computed
    tq = FakeTransferQueue(rows_of({"a": GROUP_A}))
    tq.rows["a_2_0"]["extra_fields"] = extra_fields
    options = StageOptions(reward=preset, rollout_log_probs=True)
    with pytest.raises(MissingSignals, match="rollout a_2_0 .uid a."):
        run_group_stage(list(tq.rows), "train", options, tq.kv_batch_get, tq.kv_batch_put)
    assert tq.puts == []


def test_a_sample_whose_scoring_failed_in_the_reward_loop_fails_its_group_and_is_counted() -> None:
    tq = FakeTransferQueue(rows_of({"a": GROUP_A, "b": GROUP_B}))
    tq.rows["a_1_0"]["extra_fields"]["reward_extra_info"]["reward_error"] = 1.0
    outcome = run_group_stage(ORDER, "train", StageOptions(reward="majority"), tq.kv_batch_get, tq.kv_batch_put)
    assert written(tq, "a") == [0.0] * 5  # the vote of group a cannot be taken without its second sample
    assert written(tq, "b") == [1, 0, 0, 1]
    assert outcome.metrics["diagnostics/group_reward_error_rate"] == pytest.approx(5 / 9)


def test_a_sample_level_rewards_failed_sample_is_written_its_groups_mean_instead_of_the_loops_zero() -> None:
    # format_length scores in the reward loop; its failed sample's 0 would top this group (the others are below 0)
    tq = FakeTransferQueue(rows_of({"b": GROUP_B}))
    for key, reward in zip(["b_0_0", "b_1_0", "b_2_0", "b_3_0"], [-0.5, 0.0, -0.25, -0.75]):
        tq.rows[key]["rm_scores"][-1] = reward
    tq.rows["b_1_0"]["extra_fields"]["reward_extra_info"]["reward_error"] = 1.0
    keys = ["b_0_0", "b_1_0", "b_2_0", "b_3_0"]
    outcome = run_group_stage(keys, "train", StageOptions(reward="format_length"), tq.kv_batch_get, tq.kv_batch_put)
    assert outcome.rewritten and tq.puts == [{"keys": keys, "partition_id": "train"}]
    assert written(tq, "b") == pytest.approx([-0.5, -0.5, -0.25, -0.75])  # (-0.5 - 0.25 - 0.75) / 3
    assert outcome.rewards == pytest.approx([-0.5, -0.5, -0.25, -0.75])


def test_a_sample_level_reward_without_failures_is_not_written() -> None:
    tq = FakeTransferQueue(rows_of({"b": GROUP_B}))
    keys = ["b_0_0", "b_1_0", "b_2_0", "b_3_0"]
    outcome = run_group_stage(keys, "train", StageOptions(reward="format_length"), tq.kv_batch_get, tq.kv_batch_put)
    assert not outcome.rewritten and tq.puts == []


def test_a_sample_without_valid_log_probs_gets_a_zero_advantage_and_counts_as_a_reward_error() -> None:
    # a fixed 0 would be the best self_confidence of the group (its range is (-inf, 0]): the failed sample trains on
    # its group's mean instead, so GRPO gives it a zero advantage
    tq = FakeTransferQueue(rows_of({"b": GROUP_B[:3]}))
    tq.rows["b_1_0"]["rollout_log_probs"] = torch.tensor([float("nan"), -0.4])
    tq.rows["b_2_0"]["rollout_log_probs"] = torch.tensor([-1.0, -2.0, -3.0])
    outcome = run_group_stage(
        ["b_0_0", "b_1_0", "b_2_0"],
        "train",
        StageOptions(reward="self_confidence", rollout_log_probs=True),
        tq.kv_batch_get,
        tq.kv_batch_put,
    )
    # b_0_0: mean of (-0.5, -0.5); b_2_0: mean of (-1, -2, -3); b_1_0: the mean of those two scores
    scores = [float(tq.rows[k]["rm_scores"][-1]) for k in ("b_0_0", "b_1_0", "b_2_0")]
    assert scores == pytest.approx([-0.5, -1.25, -2.0])
    assert outcome.metrics["diagnostics/group_reward_error_rate"] == pytest.approx(1 / 3)


def test_a_multi_output_session_votes_once_and_all_its_outputs_get_its_reward() -> None:
    # veRL's multi-output agent loop stores every output of a session as {uid}_{session}_{index} and copies the final
    # output's reward_extra_info to the earlier ones: voting per output would count session 0's answer 3 times
    RESPONSE_LENGTHS["m"] = [2, 2, 2]
    try:
        tq = FakeTransferQueue(rows_of({"m": [("5", 1.0, 0.0), ("7", 1.0, 1.0), ("7", 1.0, 1.0)]}))
        for index in (1, 2):
            tq.rows[f"m_0_{index}"] = {
                **tq.rows["m_0_0"],
                "rm_scores": torch.zeros(3),
                "rollout_log_probs": torch.full((3,), -0.5),
                "response_mask": torch.ones(3, dtype=torch.int64),
            }
        keys = ["m_0_1", "m_1_0", "m_0_0", "m_2_0", "m_0_2"]
        outcome = run_group_stage(keys, "train", StageOptions(reward="majority"), tq.kv_batch_get, tq.kv_batch_put)
        # per session: 7 (sessions 1, 2) beats 5 (session 0); per output 5 would have won 3 to 2
        assert outcome.rewards == [0.0, 1.0, 0.0, 1.0, 0.0]
        assert [float(tq.rows[key]["rm_scores"][-1]) for key in keys] == [0.0, 1.0, 0.0, 1.0, 0.0]
        assert outcome.metrics["collapse/majority_ratio"] == pytest.approx(2 / 3)
    finally:
        del RESPONSE_LENGTHS["m"]


def test_proxy_diagnostics_of_the_training_reward_against_hidden_correctness() -> None:
    _, metrics = run("majority")
    # rewards a: 1 1 1 0 0, b: 1 0 0 1; correct a: 1 1 1 0 0, b: 0 1 1 0. Correct samples' mean reward M1 = 3/5,
    # wrong ones' M0 = 2/4; rewards' population sd s = sqrt(5/9 * 4/9) and sqrt(n1 n0) / n = sqrt(20) / 9 = s:
    # r_pb = (M1 - M0) / s * s = 0.1
    assert metrics["proxy/point_biserial"] == pytest.approx(0.1)
    # the first highest-reward response: a's session 0 (answer 2, right), b's session 0 (answer 5, wrong)
    assert metrics["proxy/pseudo_label_accuracy"] == pytest.approx(0.5)
    assert metrics["proxy/unverified"] == 0.0


def test_a_sample_whose_checks_timed_out_is_no_correctness_verdict_for_the_proxy_diagnostics() -> None:
    tq = FakeTransferQueue(rows_of({"a": GROUP_A, "b": GROUP_B}))
    tq.rows["b_1_0"]["extra_fields"]["reward_extra_info"]["timed_out"] = 1.0  # its C = 1 is left out, as unknown
    outcome = run_group_stage(ORDER, "train", StageOptions(reward="majority"), tq.kv_batch_get, tq.kv_batch_put)
    # rewards a: 1 1 1 0 0, b (b_1 left out): 1 0 1; correct a: 1 1 1 0 0, b: 0 1 0. Correct: 4 samples, mean reward
    # M1 = 3/4; wrong: 4, M0 = 2/4; n = 8, rewards' population sd s = sqrt(5/8 * 3/8), r_pb = (M1 - M0) / s * 1/2
    s = math.sqrt(5 / 8 * 3 / 8)
    assert outcome.metrics["proxy/point_biserial"] == pytest.approx((3 / 4 - 2 / 4) / s * math.sqrt(4 * 4) / 8)
    assert outcome.metrics["proxy/unverified"] == 1.0
