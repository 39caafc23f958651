"""The batch-first scoring core (verl_ext.core): its invariants, failure capture, dispatch by level, and the one
serialisation of signals to reward_extra_info and back. Expected values are worked by hand from the formulas
(TTRL's majority vote, EMPO's cluster share, the paper's format and length rewards, the mean token log-prob)."""

from __future__ import annotations

import math
import random

import pytest

from verl_ext.core import Batch, BatchError, ScoringSettings, measure_batch, score_batch
from verl_ext.core import batch as core_batch
from verl_ext.core.extra_info import (
    MissingSignals,
    result_fields,
    reward_extra_info,
    signals_from_extra_info,
)
from verl_ext.rewards.registry import UnknownReward
from verl_ext.rewards.signals import Signals
from verl_ext.rewards.token_stats import Ragged

# two prompts, interleaved: p answers 2, 2.0, 4/2 (one cluster), 3 and nothing; q answers 7, 1, 1
RESPONSES = [
    "\\boxed{2}",
    "\\boxed{7}",
    "\\boxed{2.0}",
    "\\boxed{1}",
    "\\boxed{\\frac{4}{2}}",
    "\\boxed{3}",
    "none",
    "so \\boxed{1}",
]
GROUPS = ["p", "q", "p", "q", "p", "p", "p", "q"]


def scores(reward: str, **batch) -> list[float | None]:
    return score_batch(Batch(**batch), ScoringSettings(reward, max_response_tokens=3072)).scores


@pytest.mark.parametrize(
    ("reward", "expected"),
    [
        # p: cluster {2, 2.0, 4/2} of 3 wins over {3}; q: {1} of 2 wins over {7}; no answer scores 0
        ("majority", [1, 0, 1, 1, 1, 0, 0, 1]),
        # p: 3/5 for the winners, 1/5 for 3; q: 1/3 for 7, 2/3 for 1
        ("semantic_frequency", [3 / 5, 1 / 3, 3 / 5, 2 / 3, 3 / 5, 1 / 5, 0, 2 / 3]),
    ],
)
def test_group_rules_vote_within_each_group_id_whatever_the_batch_order(reward, expected):
    assert scores(reward, responses=RESPONSES, group_ids=GROUPS) == pytest.approx(expected)


def test_sample_formulas_score_each_response_alone():
    # format_length at 1536 of 3072 tokens: L = 1 at the peak; 0.5 F + L = 1.5 boxed, min(0, L) = 0 unboxed
    got = scores("format_length", responses=["\\boxed{5}", "none"], response_tokens=[1536, 1536])
    assert got == [1.5, 0.0]


def test_token_formulas_read_the_tail_means_of_the_log_probabilities():
    logprobs = Ragged.from_rows([[math.log(0.5), math.log(0.25)], [-0.1, -0.2, -0.3, -0.4]])
    batch = Batch(responses=["\\boxed{1}", "none"], token_stats={"logprobs": logprobs})
    assert score_batch(batch, ScoringSettings("self_confidence")).scores == pytest.approx([-1.5 * math.log(2), -0.25])
    # the last ceil(0.5 * 2) = 1 and ceil(0.5 * 4) = 2 tokens
    half = score_batch(batch, ScoringSettings("self_confidence", tail_fraction=0.5)).scores
    assert half == pytest.approx([math.log(0.25), -0.35])
    # F * exp(mean log p): the second response has no box
    gated = score_batch(batch, ScoringSettings("format_gated_self_confidence")).scores
    assert gated == pytest.approx([0.5**1.5, 0.0])


@pytest.mark.parametrize(
    ("batch", "settings", "message"),
    [
        (Batch(responses=["a", "b"], group_ids=["p"]), ScoringSettings("format"), "1 group ids for 2 responses"),
        (Batch(responses=["a"], signals=[None]), ScoringSettings("format"), "either the responses or"),
        (Batch(responses=[]), ScoringSettings("format"), "at least one response"),
        (Batch(responses=["a"]), ScoringSettings("length", max_response_tokens=8), "needs response_tokens"),
        (Batch(responses=["a"], ground_truths=[" "]), ScoringSettings("correctness"), "needs a ground truth"),
        (Batch(responses=["a"]), ScoringSettings("self_confidence"), "logprobs"),
        (Batch(responses=["a", "b"]), ScoringSettings("majority"), "group-level"),
        (Batch(responses=["a", "b"], group_ids=["p", "q"]), ScoringSettings("majority"), "has one sample"),
        (
            Batch(responses=["a", "b", "c"], group_ids=["p", "p", "p"]),
            ScoringSettings("majority", group_size=4),
            "has 3 samples where every group must have 4",
        ),
        (
            Batch(responses=["a", "b"], group_ids=["p", "p"]),
            ScoringSettings("majority", rewarded=3),
            "rewarded = 3 exceeds a group of 2",
        ),
    ],
)
def test_a_batch_that_cannot_be_scored_as_asked_is_refused_before_any_scoring(batch, settings, message):
    with pytest.raises(BatchError, match=message):
        score_batch(batch, settings)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reward": "majorty"}, "did you mean 'majority'"),
        ({"reward": "format", "peak": 1.0}, "peak"),
        ({"reward": "format", "tail_fraction": 0.0}, "tail_fraction"),
        ({"reward": "format", "min_share": 2.0}, "min_share"),
        ({"reward": "format", "rewarded": 2}, "applies to group-level rewards"),
        ({"reward": "format", "max_response_tokens": 1.5}, "whole number"),
        ({"reward": "majority", "group_size": 0}, "group_size"),
    ],
)
def test_settings_name_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ScoringSettings(**kwargs)
    if kwargs["reward"] == "majorty":
        with pytest.raises(UnknownReward):
            ScoringSettings(**kwargs)


def test_a_failure_is_captured_on_its_sample_and_fails_its_whole_group_only(monkeypatch):
    original = core_batch.measure

    def flaky(response, **kwargs):
        if response == "\\boxed{3}":
            raise RuntimeError("checker crashed")
        return original(response, **kwargs)

    monkeypatch.setattr(core_batch, "measure", flaky)
    result = score_batch(Batch(responses=RESPONSES, group_ids=GROUPS), ScoringSettings("majority"))
    assert result.scores == [None, 0, None, 1, None, None, None, 1]  # group p has no vote; q's stands
    assert result.failed == 5
    assert "RuntimeError: checker crashed" in result.samples[5].error
    assert isinstance(result.samples[5].exception, RuntimeError)
    assert "its sample 3 failed" in result.samples[0].error
    # a sample-level preset loses only the failed sample
    alone = score_batch(Batch(responses=RESPONSES), ScoringSettings("format")).scores
    assert alone == [0.5, 0.5, 0.5, 0.5, 0.5, None, 0.0, 0.5]


def test_the_random_control_draws_from_each_samples_generator_only():
    twin = [random.Random(3), random.Random(3)]
    result = scores("random", responses=["a", "b"], rngs=twin)
    assert result[0] == result[1] == float(random.Random(3).random() < 0.5)
    shared = random.Random(9)
    reference = random.Random(9)
    assert scores("random", responses=["a"] * 20, rngs=[shared] * 20) == [
        float(reference.random() < 0.5) for _ in range(20)
    ]


def test_measure_batch_records_signals_without_a_score():
    (recorded,) = measure_batch(Batch(responses=["\\boxed{2}"], response_tokens=[10]), ScoringSettings("majority"))
    assert recorded.score is None and recorded.signals.pred == "2" and recorded.error is None


# --- the serialisation, both ways -------------------------------------------------------------------------------

SIGNALS = [
    Signals("2", 1.0, False, 0.5, 900, False, 1.0),
    Signals(None, 0.0, True, -1.0, 3072, True, 0.0, correct_timed_out=True),
    Signals("\\frac{1}{2}", 1.0, False, None, None, None, None),
    Signals("7", 1.0, False, 0.2, 10, False, 0.0, monitor_error="WorkerStartError: no child"),
]


@pytest.mark.parametrize("signals", SIGNALS)
def test_reward_extra_info_round_trips_what_the_post_rollout_stage_needs(signals):
    result = core_batch.SampleResult(0.0, signals)
    info = reward_extra_info(result)
    decoded, failure = signals_from_extra_info(info, "rollout x")
    assert failure is None
    assert (decoded.pred, decoded.format, decoded.length_reward) == (
        signals.pred,
        signals.format,
        signals.length_reward,
    )
    assert (decoded.response_tokens, decoded.truncated) == (signals.response_tokens, signals.truncated)
    assert decoded.format_budget_exceeded == (signals.format_budget_exceeded or signals.correct_timed_out)
    assert decoded.correct == signals.correct and bool(decoded.monitor_error) == bool(signals.monitor_error)
    assert reward_extra_info(core_batch.SampleResult(0.0, decoded)) == info  # and back to the very same fields


def test_a_failed_sample_is_recorded_with_every_field_and_decoded_as_failed_not_as_no_answer():
    info = reward_extra_info(core_batch.SampleResult(None, None, "RuntimeError: x"), 12, checked_truth=True)
    ok = reward_extra_info(core_batch.SampleResult(0.0, SIGNALS[0]))
    assert set(ok) <= set(info) | {"reward_error"}  # veRL's reward loop takes the batch's keys from its first sample
    assert info["reward_error"] == 1.0 and info["monitor_error"] == 1.0
    decoded, failure = signals_from_extra_info(info, "rollout x")
    assert decoded is None and "failed" in failure


@pytest.mark.parametrize("info", [None, {}, {"reward_score": 1.0}, {"pred": "2", "format": 1.0}])
def test_fields_not_written_by_the_reward_loop_are_refused_naming_the_sample(info):
    with pytest.raises(MissingSignals, match="rollout u_0_0"):
        signals_from_extra_info(info, "rollout u_0_0")


def test_group_fields_name_the_cluster_and_its_share():
    result = score_batch(Batch(responses=RESPONSES, group_ids=GROUPS), ScoringSettings("majority"))
    fields = [result_fields(sample) for sample in result.samples]
    assert [f["cluster"] for f in fields] == [0, 0, 0, 1, 0, 1, -1, 1]
    assert [f["cluster_share"] for f in fields] == pytest.approx([3 / 5, 1 / 3, 3 / 5, 2 / 3, 3 / 5, 1 / 5, 0, 2 / 3])


def test_what_the_checker_could_not_do_is_counted_per_batch(monkeypatch):
    from verl_ext.rewards import equivalence

    def troubled(groups, *args, **kwargs):
        # every answer its own cluster, as the checker leaves answers it failed on; counts of 1, 2 and 3 per group
        return [
            equivalence.AnswerClusters(
                tuple(range(len(g))), (1,) * len(g), fallback=i == 0, timeouts=1, check_errors=2, screened=3
            )
            for i, g in enumerate(groups)
        ]

    monkeypatch.setattr(equivalence, "cluster_groups", troubled)
    result = score_batch(Batch(responses=RESPONSES, group_ids=GROUPS), ScoringSettings("majority"))
    metrics = result.monitors()
    assert metrics["diagnostics/answer_fallback_rate"] == pytest.approx(5 / 8)  # group p's 5 of the 8 samples
    assert metrics["diagnostics/answer_check_timeouts"] == 2.0
    assert metrics["diagnostics/answer_check_errors"] == 4.0
    assert metrics["diagnostics/answer_check_screened"] == 6.0


def test_a_failed_sample_trains_on_its_groups_mean_score_not_on_a_fixed_zero(monkeypatch):
    original = core_batch.measure

    def flaky(response, **kwargs):
        if response == "none":
            raise RuntimeError("checker crashed")
        return original(response, **kwargs)

    monkeypatch.setattr(core_batch, "measure", flaky)
    tokens = [16, 8, 8, 8, 4, 8, 8, 8]
    batch = Batch(responses=RESPONSES, group_ids=GROUPS, response_tokens=tokens)
    result = score_batch(batch, ScoringSettings("format_length", max_response_tokens=32))
    # format_length of a boxed answer, 0.5 + L(x), peak 1/2: 16 of 32 tokens L = 1; 8 tokens (x = 1/4)
    # L = 1 - (1 - 1/2)^2 = 3/4; 4 tokens (x = 1/8) L = 1 - (3/4)^2 = 7/16
    assert result.scores == [1.5, 1.25, 1.25, 1.25, 0.9375, 1.25, None, 1.25]
    # the failed sample ("none", in group p: samples 0, 2, 4, 5, 6) trains on the mean of p's four scored samples
    p_mean = (1.5 + 1.25 + 0.9375 + 1.25) / 4
    assert result.training_rewards() == [1.5, 1.25, 1.25, 1.25, 0.9375, 1.25, p_mean, 1.25]
    settings = ScoringSettings("format_length", max_response_tokens=32)
    ungrouped = score_batch(Batch(responses=RESPONSES, response_tokens=[8] * 8), settings)
    assert ungrouped.training_rewards()[6] == 0.0  # no group to take a mean over
