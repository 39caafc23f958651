"""The TRL adapter scores exactly like the veRL managers and speaks TRL's reward-function convention."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from verl_ext.core import score_response
from verl_ext.integrations.trl import batch_diagnostics, completion_text, ground_truths, reward_func
from verl_ext.rewards.registry import text_preset_names

MAX_TOKENS = 64

# (response, tokens incl. EOS, ground truth): boxed right/wrong, unboxed, malformed, truncated, think tags, LaTeX.
CASES = [
    ("2 + 3 = 5. The answer is \\boxed{5}.", 18, "5"),
    ("The answer is \\boxed{7}.", 9, "5"),
    ("So the result is 5.", 8, "5"),
    ("The answer is \\boxed{5", 7, "5"),
    ("The answer is \\boxed{}.", 8, "5"),
    ("x " * 40 + "\\boxed{12}", MAX_TOKENS, "12"),
    ("<think>maybe \\boxed{3}</think> so \\boxed{\\frac{1}{2}}", 30, "\\frac{1}{2}"),
    ("\\boxed{-8}", 5, "-8"),
    ("", 1, "4"),
]


@pytest.mark.parametrize("preset", [name for name in text_preset_names() if name != "random"])
def test_scores_equal_score_response(preset: str) -> None:
    """The scoring core's own scores (the veRL managers' are checked against the same: tests/test_verl_reward_loop.py);
    the random control's draws: test_random_control_is_seeded."""
    func = reward_func(preset, MAX_TOKENS, peak=0.4)
    got = func(
        prompts=["p"] * len(CASES),
        completions=[c[0] for c in CASES],
        completion_ids=[[1] * c[1] for c in CASES],
        ground_truth=[c[2] for c in CASES],
    )
    expected = [
        score_response(preset, t, response_tokens=n, max_response_tokens=MAX_TOKENS, ground_truth=g, peak=0.4).score
        for t, n, g in CASES
    ]
    assert got == expected


def test_token_count_is_the_length_of_the_completion_ids() -> None:
    func = reward_func("length", 100)
    short, half = func(prompts=["p", "p"], completions=["same", "same"], completion_ids=[[5] * 10, [5] * 50])
    assert half == pytest.approx(1.0)
    assert short == pytest.approx(score_response("length", "same", response_tokens=10, max_response_tokens=100).score)


def test_max_length_comes_from_the_trainer_config() -> None:
    config = SimpleNamespace(max_completion_length=32)
    assert reward_func("format_length", config).settings.max_response_tokens == 32
    with pytest.raises(ValueError):
        reward_func("format_length", SimpleNamespace(max_completion_length=None))


def test_named_after_the_preset_for_trl_metrics() -> None:
    from trl.trainer.utils import get_callable_name

    assert get_callable_name(reward_func("format_length", 8)) == "format_length"


def test_conversational_completions() -> None:
    func = reward_func("format", 16)
    chat = [
        [{"role": "assistant", "content": "so \\boxed{4}"}],
        [{"role": "assistant", "content": [{"type": "text", "text": "\\boxed{x+1}"}]}],
    ]
    assert func(prompts=[[], []], completions=chat, completion_ids=[[1], [1]]) == [0.5, 0.5]
    assert completion_text("plain") == "plain"
    with pytest.raises(TypeError):
        completion_text(3)


def test_ground_truth_from_a_veRL_reward_model_column() -> None:
    assert ground_truths({"reward_model": [{"ground_truth": "3"}, {"style": "rule"}]}, 2) == ["3", None]
    assert ground_truths({"ground_truth": ["1", " "]}, 2) == ["1", None]
    assert ground_truths({}, 2) == [None, None]
    with pytest.raises(ValueError):
        ground_truths({"ground_truth": ["1"]}, 2)
    func = reward_func("correctness", 16)
    assert func(
        prompts=["p"], completions=["\\boxed{3}"], completion_ids=[[1]], reward_model=[{"ground_truth": "3"}]
    ) == [1.0]


def test_preset_requirements_are_enforced() -> None:
    with pytest.raises(ValueError, match="completion_ids"):
        reward_func("length", 16)(prompts=["p"], completions=["x"])
    with pytest.raises(ValueError, match="ground_truth"):
        reward_func("correctness", 16)(prompts=["p"], completions=["\\boxed{1}"], completion_ids=[[1]])
    with pytest.raises(ValueError):
        reward_func("no_such_preset", 16)
    with pytest.raises(ValueError):
        reward_func("format_length", 16, peak=1.5)
    assert reward_func("format", 16)(prompts=["p"], completions=["\\boxed{1}"]) == [0.5]  # no ids needed


def test_diagnostics_go_through_trl_log_metric() -> None:
    logged: dict[str, float] = {}
    func = reward_func("format_length", 20)
    func(
        prompts=["p"] * 4,
        completions=["\\boxed{1}", "\\boxed{2}", "no box", "x" * 5],
        completion_ids=[[1] * 10, [1] * 20, [1] * 5, [1] * 5],
        ground_truth=["1", "3", "1", "1"],
        log_metric=logged.__setitem__,
    )
    assert logged["diagnostics/format_rate"] == 0.5
    assert logged["diagnostics/accuracy"] == 0.25
    assert logged["diagnostics/truncation_rate"] == 0.25
    assert logged["diagnostics/reward_error_rate"] == 0.0
    assert "diagnostics/length_reward_mean" in logged
    quiet: dict[str, float] = {}
    reward_func("format", 20, log_metrics=False)(prompts=["p"], completions=["x"], log_metric=quiet.__setitem__)
    assert quiet == {}


def test_no_accuracy_metric_without_ground_truths() -> None:
    metrics = batch_diagnostics([{"format": 1.0, "length_reward": None}, {"format": 0.0}])
    assert metrics["diagnostics/format_rate"] == 0.5
    assert "diagnostics/accuracy" not in metrics and "diagnostics/length_reward_mean" not in metrics


def test_a_failing_sample_scores_zero_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    from verl_ext.core import batch as core_batch

    func = reward_func("format", 16)
    original = core_batch.measure

    def flaky(response, **kwargs):
        if response == "boom":
            raise RuntimeError("scoring crashed")
        return original(response, **kwargs)

    monkeypatch.setattr(core_batch, "measure", flaky)
    logged: dict[str, float] = {}
    assert func(
        prompts=["p", "p"], completions=["boom", "\\boxed{2}"], completion_ids=[[1], [1]], log_metric=logged.__setitem__
    ) == [0.0, 0.5]
    assert logged["diagnostics/reward_error_rate"] == 0.5


def test_random_control_is_seeded() -> None:
    args = dict(prompts=["p"] * 20, completions=["x"] * 20, completion_ids=[[1]] * 20)
    assert reward_func("random", 8, seed=5)(**args) == reward_func("random", 8, seed=5)(**args)
