"""Group-level presets through the TRL adapter: a fake batch laid out as TRL 1.16's GRPOTrainer passes it
(the whole batch in one call, each prompt's num_generations completions consecutive). Expected values are
worked by hand (see tests/test_rewards_group.py for the rules)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from verl_ext.integrations.trl import reward_func

CONFIG = SimpleNamespace(max_completion_length=64, num_generations=5, num_generations_eval=2)
GROUP_A = ["so \\boxed{2}", "\\boxed{2.0}", "we get \\boxed{\\frac{4}{2}}", "\\boxed{3}", "I do not know"]
GROUP_B = ["\\boxed{7}", "\\boxed{7}", "\\boxed{1}", "\\boxed{1}", "no box"]  # 2-2 tie: 7 comes first


def _call(preset: str, completions, prompts, config=CONFIG, **columns):
    metrics = {}
    func = reward_func(preset, config)
    scores = func(
        prompts=prompts,
        completions=completions,
        completion_ids=[[0] * 8 for _ in completions],
        log_metric=lambda name, value: metrics.__setitem__(name, value),
        **columns,
    )
    return scores, metrics


def test_majority_scores_each_run_of_num_generations_as_one_group():
    scores, metrics = _call("majority", GROUP_A + GROUP_B, ["a"] * 5 + ["b"] * 5)
    assert scores == [1.0, 1.0, 1.0, 0.0, 0.0] + [1.0, 1.0, 0.0, 0.0, 0.0]
    assert metrics["diagnostics/reward_error_rate"] == 0.0
    assert metrics["diagnostics/answer_fallback_rate"] == 0.0
    assert metrics["diagnostics/format_rate"] == pytest.approx(8 / 10)


def test_semantic_frequency_in_trl():
    scores, _ = _call("semantic_frequency", GROUP_A + GROUP_B, ["a"] * 5 + ["b"] * 5)
    assert scores == pytest.approx([0.6, 0.6, 0.6, 0.2, 0.0] + [0.4, 0.4, 0.4, 0.4, 0.0])


def test_conversational_completions_and_prompts():
    prompts = [[{"role": "user", "content": "q"}]] * 5
    completions = [[{"role": "assistant", "content": text}] for text in GROUP_A]
    assert _call("majority", completions, prompts)[0] == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_format_gating_zeroes_an_unformatted_majority():
    # "2\pm" is boxed but fails the format check (F = 0); it is still the most frequent answer
    completions = ["\\boxed{2\\pm}", "\\boxed{2\\pm}", "\\boxed{5}", "\\boxed{6}", "\\boxed{2\\pm}"]
    assert _call("majority", completions, ["a"] * 5)[0] == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert _call("format_gated_majority", completions, ["a"] * 5)[0] == [0.0] * 5
    completions = ["\\boxed{5}", "\\boxed{5}", "\\boxed{5}", "\\boxed{2\\pm}", "\\boxed{6}"]
    assert _call("format_gated_majority", completions, ["a"] * 5)[0] == [1.0, 1.0, 1.0, 0.0, 0.0]


class _Trainer:
    """What TRL's ``log_metric`` is bound to: the trainer, whose model is in eval mode while it evaluates."""

    def __init__(self, training: bool) -> None:
        self.model = SimpleNamespace(training=training)
        self.logged: dict[str, float] = {}

    def _log_metric(self, name: str, value: float) -> None:
        self.logged[name] = value


def test_evaluation_batches_use_num_generations_eval_and_training_batches_never_do():
    completions, prompts = ["\\boxed{1}", "\\boxed{2}", "\\boxed{4}", "\\boxed{4}"], ["a", "a", "b", "b"]
    func = reward_func("majority", CONFIG)
    evaluating = _Trainer(training=False)
    scores = func(prompts=prompts, completions=completions, completion_ids=[[0]] * 4, log_metric=evaluating._log_metric)
    assert scores == [1.0, 0.0, 1.0, 1.0]
    # a training batch of 4 completions in groups of 2 is not what num_generations = 5 promises: never half a group
    training = _Trainer(training=True)
    with pytest.raises(ValueError, match="of size 5"):
        func(prompts=prompts, completions=completions, completion_ids=[[0]] * 4, log_metric=training._log_metric)


@pytest.mark.parametrize(
    ("per_device", "world", "refused"),
    [(4, 2, True), (12, 2, True), (8, 2, False), (16, 4, False), (4, 1, False)],
)
def test_groups_split_across_processes_are_refused_at_construction(per_device, world, refused):
    # TRL 1.16's docs show a group split across GPUs: accelerate hands each process consecutive slices of
    # per_device_train_batch_size completions, so only a multiple of num_generations keeps every group whole
    config = SimpleNamespace(
        max_completion_length=64,
        num_generations=8,
        num_generations_eval=4,
        per_device_train_batch_size=per_device,
        world_size=world,
    )
    if refused:
        with pytest.raises(ValueError, match="per_device_train_batch_size"):
            reward_func("majority", config)
    else:
        assert reward_func("majority", config).num_generations == 8
    assert reward_func("format", config).num_generations == 8  # sample-level presets vote on nothing


@pytest.mark.parametrize(
    "prompts",
    [
        ["a", "b"] * 5,  # interleaved: not TRL's order
        ["a"] * 3 + ["b"] * 5 + ["c"] * 2,  # a group split across process slices
    ],
)
def test_a_batch_that_does_not_split_into_groups_is_an_error(prompts):
    with pytest.raises(ValueError, match="consecutive completions of one prompt"):
        _call("majority", GROUP_A + GROUP_B, prompts)


def test_a_group_preset_needs_the_group_size():
    with pytest.raises(ValueError, match="num_generations"):
        reward_func("majority", 64)
    assert reward_func("majority", 64, num_generations=5).num_generations == 5


def test_self_confidence_needs_log_probabilities_trl_does_not_pass():
    with pytest.raises(ValueError, match="completion_logprobs"):
        _call("self_confidence", GROUP_A, ["a"] * 5)
    logprobs = [[math.log(0.5), math.log(0.25)], [0.0], [-1.0, -3.0], [-2.0], [-0.5, -0.5]]
    scores, _ = _call("self_confidence", GROUP_A, ["a"] * 5, completion_logprobs=logprobs)
    assert scores == pytest.approx([-1.5 * math.log(2), 0.0, -2.0, -2.0, -0.5])
    gated, _ = _call("format_gated_self_confidence", GROUP_A, ["a"] * 5, completion_logprobs=logprobs)
    # F * exp(mean log p): the last completion has no box (F = 0)
    assert gated == pytest.approx([0.5**1.5, 1.0, math.exp(-2.0), math.exp(-2.0), 0.0])


def test_collapse_monitors_are_logged_per_batch():
    truths = ["2"] * 5 + ["1"] * 5
    _, metrics = _call("majority", GROUP_A + GROUP_B, ["a"] * 5 + ["b"] * 5, ground_truth=truths)
    assert metrics["collapse/majority_ratio"] == pytest.approx((3 / 5 + 2 / 5) / 2)
    assert metrics["collapse/distinct_answers"] == pytest.approx(2.0)
    assert metrics["collapse/response_length"] == pytest.approx(8.0)
    # group a: the majority (2) is right; group b: the majority (7) is wrong, the truth 1 is the tied minority
    assert metrics["collapse/label_accuracy"] == pytest.approx(0.5)
    # group a: rewards 1,1,1,0,0 match correctness 1,1,1,0,0; group b: 1,1,0,0,0 vs 0,0,1,1,0 -> only the last
    assert metrics["collapse/reward_accuracy"] == pytest.approx((1.0 + 0.2) / 2)
    # URLVR's diagnostics: the 5 right samples' mean reward 3/5, the 5 wrong ones' 2/5, rewards' sd 1/2 and
    # sqrt(5 * 5) / 10 = 1/2: r_pb = (3/5 - 2/5) / (1/2) * (1/2) = 0.2; the first top-rewarded answer per group:
    # a's 2 (right), b's 7 (wrong)
    assert metrics["proxy/point_biserial"] == pytest.approx(0.2)
    assert metrics["proxy/pseudo_label_accuracy"] == pytest.approx(0.5)


def test_a_checker_that_cannot_start_is_counted_not_zeroed(broken_isolated_child):
    scores, metrics = _call("majority", GROUP_A, ["a"] * 5)
    # as normalised strings 2 and 2.0 are one answer (2 votes), 4/2 another: the majority stands, nothing is zeroed
    assert scores == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert metrics["diagnostics/answer_fallback_rate"] == 1.0
    assert metrics["diagnostics/reward_error_rate"] == 0.0


def test_trls_own_sampler_order_splits_into_groups():
    """The order TRL 1.16's GRPOTrainer samples in (RepeatSampler, mini_repeat_count=num_generations) is the
    one the adapter cuts into groups; an order that is not is refused."""
    trl_utils = pytest.importorskip("trl.trainer.utils")
    from verl_ext.integrations.trl import split_groups

    prompts = [f"p{i}" for i in range(7)]
    sampler = trl_utils.RepeatSampler(prompts, mini_repeat_count=4, batch_size=3, repeat_count=2, seed=0)
    order = [prompts[i] for i in sampler]
    generation_batch = 3 * 4
    for start in range(0, len(order) - len(order) % generation_batch, generation_batch):
        assert split_groups(order[start : start + generation_batch], 4) == 4
    with pytest.raises(ValueError):
        split_groups(order[2 : 2 + generation_batch], 4)  # a slice that cuts a group
