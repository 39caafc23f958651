"""The demo with every reward preset (issue #20, item 6): group-level rewards through the TRL adapter's group path,
log-probability rewards with the sampled tokens' log-probs computed by a forward pass of the policy, the collapse
monitors in the metric log for every reward, and the veRL engine taking every preset (the recipe's reward stage runs
them).

Expected values are independent of the code under test: log-probabilities recomputed here from the model's raw
logits (log-sum-exp in Python floats), collapse monitors of hand-worked groups.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from verl_ext.demo.problems import load_problems
from verl_ext.demo.warmup import prompt_text, tokenizer_corpus


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    """``(model, tokenizer)``: the demo's untrained tiny Qwen2, built in a temporary folder (random weights, seeded)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from verl_ext.models.tiny import tiny_model_dir

    folder = tiny_model_dir(tokenizer_corpus(load_problems()), root=tmp_path_factory.mktemp("tiny"))
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(folder, local_files_only=True), AutoTokenizer.from_pretrained(
        folder, local_files_only=True
    )


def _mean_logprob_by_hand(model, prompt_ids: list[int], completion_ids: list[int], temperature: float) -> float:
    """(1/T) sum_t [z_t[c_t] / temp - log sum_v exp(z_t[v] / temp)], with z_t the raw logits of prompt + completion
    (one sequence, no padding) at the position before c_t; the sums in Python floats."""
    import torch

    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt_ids + completion_ids])).logits[0].double().tolist()
    total = []
    for t, token in enumerate(completion_ids):
        row = [z / temperature for z in logits[len(prompt_ids) - 1 + t]]
        top = max(row)
        total.append(row[token] - (top + math.log(math.fsum(math.exp(z - top) for z in row))))
    return math.fsum(total) / len(total)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_self_confidence_reward_is_the_mean_logprob_of_the_sampled_tokens(tiny, temperature: float) -> None:
    from verl_ext.integrations.trl import reward_func
    from verl_ext.integrations.trl_logprobs import WithPolicyLogprobs

    model, tokenizer = tiny
    problems = load_problems()[:2]
    prompts = [prompt_text(p) for p in problems]
    # two completions of different lengths (the batch is padded), as token ids the way TRL passes them
    completions = [" 1 + 2 = 3. The answer is \\boxed{3}.", " 7"]
    completion_ids = [
        tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for text in completions
    ]
    assert len(completion_ids[0]) > len(completion_ids[1]) >= 2
    reward = WithPolicyLogprobs(reward_func("self_confidence", 64), tokenizer, temperature=temperature).bind(model)
    model.train()  # as in the trainer: the forward pass runs in eval mode and restores the training mode
    scores = reward(prompts=prompts, completions=completions, completion_ids=completion_ids)
    assert model.training
    model.eval()
    for prompt, ids, score in zip(prompts, completion_ids, scores):
        prompt_ids = tokenizer(prompt)["input_ids"]
        assert score == pytest.approx(_mean_logprob_by_hand(model, prompt_ids, ids, temperature), abs=1e-5)


def test_gated_self_confidence_pays_exp_of_the_mean_logprob_only_when_formatted(tiny) -> None:
    from verl_ext.integrations.trl import reward_func
    from verl_ext.integrations.trl_logprobs import WithPolicyLogprobs

    model, tokenizer = tiny
    prompt = prompt_text(load_problems()[0])
    completions = [" so \\boxed{3}", " so 3"]
    completion_ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in completions]
    reward = WithPolicyLogprobs(reward_func("format_gated_self_confidence", 64), tokenizer).bind(model)
    boxed, plain = reward(prompts=[prompt, prompt], completions=completions, completion_ids=completion_ids)
    assert boxed == pytest.approx(
        math.exp(_mean_logprob_by_hand(model, tokenizer(prompt)["input_ids"], completion_ids[0], 1.0)), abs=1e-6
    )
    assert plain == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r(prompts=["p"], completions=["c"], completion_ids=[[1]]), "bind the policy"),
        (lambda r: r.bind(object())(prompts=["p"], completions=["c"]), "completion_ids"),
        (
            lambda r: r.bind(object())(
                prompts=[[{"role": "user", "content": "q"}]], completions=["c"], completion_ids=[[1]]
            ),
            "plain-text prompts",
        ),
    ],
)
def test_policy_logprob_wrapper_errors(call, message: str) -> None:
    from verl_ext.integrations.trl_logprobs import WithPolicyLogprobs

    with pytest.raises(ValueError, match=message):
        call(WithPolicyLogprobs(lambda **kwargs: [0.0], tokenizer=None))


@pytest.mark.parametrize(
    ("prompt_ids", "completion_ids", "temperature", "message"),
    [
        ([[1]], [[]], 1.0, "at least one token"),
        ([[1]], [[2], [3]], 1.0, "1 prompts for 2"),
        ([[1]], [[2]], 0.0, "temperature"),
    ],
)
def test_sampled_token_logprobs_rejects_bad_input(tiny, prompt_ids, completion_ids, temperature, message) -> None:
    from verl_ext.integrations.trl_logprobs import sampled_token_logprobs

    with pytest.raises(ValueError, match=message):
        sampled_token_logprobs(tiny[0], prompt_ids, completion_ids, temperature)


def test_sample_level_presets_log_the_collapse_monitors_of_each_group() -> None:
    """``format`` scores per sample; the monitors still see groups of num_generations: group a's answers 2, 2.0,
    4/2 (one cluster of 3), 3 and none -> majority ratio 3/5, 2 distinct; group b's 7, 7, 1, 1, none -> 2/5, 2."""
    from verl_ext.integrations.trl import reward_func

    group_a = ["so \\boxed{2}", "\\boxed{2.0}", "we get \\boxed{\\frac{4}{2}}", "\\boxed{3}", "I do not know"]
    group_b = ["\\boxed{7}", "\\boxed{7}", "\\boxed{1}", "\\boxed{1}", "no box"]
    metrics: dict[str, float] = {}
    func = reward_func("format", SimpleNamespace(max_completion_length=64, num_generations=5))
    func(
        prompts=["a"] * 5 + ["b"] * 5,
        completions=group_a + group_b,
        completion_ids=[[0] * 8] * 10,
        ground_truth=["2"] * 5 + ["1"] * 5,
        log_metric=metrics.__setitem__,
    )
    assert metrics["collapse/majority_ratio"] == pytest.approx((3 / 5 + 2 / 5) / 2)
    assert metrics["collapse/distinct_answers"] == pytest.approx(2.0)
    # label accuracy: a's majority (2) is right; b's tie goes to 7, seen first, which is wrong
    assert metrics["collapse/label_accuracy"] == pytest.approx(0.5)
    # a batch that does not split into runs of one prompt: scored, but no monitors
    metrics.clear()
    func(
        prompts=["a", "b", "a", "b", "a"], completions=group_a, completion_ids=[[0]] * 5, log_metric=metrics.__setitem__
    )
    assert "diagnostics/format_rate" in metrics and not any(name.startswith("collapse/") for name in metrics)


# --- the demo end to end: a 2-step run with a group-level reward ----------------------------------------


@pytest.fixture(scope="module")
def majority_run(tmp_path_factory: pytest.TempPathFactory):
    """A 2-step demo with ``majority`` (a 3-step warm-up, cached in a temporary folder)."""
    from verl_ext.demo.config import DemoConfig
    from verl_ext.demo.pipeline import run

    root = tmp_path_factory.mktemp("demo_majority")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERL_EXT_CACHE", str(root / "cache"))
        config = DemoConfig(
            reward="majority",
            steps=2,
            out=str(root / "out"),
            seed=1,
            warmup_steps=3,
            num_generations=4,
            prompts_per_step=2,
            max_completion_length=16,
            eval_every=1,
            progress=False,
        )
        yield config, run(config)


def test_two_step_majority_demo_logs_the_collapse_monitors(majority_run) -> None:
    config, result = majority_run
    lines = [json.loads(line) for line in Path(result.log).read_text(encoding="utf-8").splitlines()]
    assert [line["step"] for line in lines] == [0, 1, 2]
    for line in lines[1:]:
        data = line["data"]
        assert 0.0 <= data["collapse/majority_ratio"] <= 1.0
        assert 0.0 <= data["collapse/distinct_answers"] <= config.num_generations
        assert {"collapse/answer_entropy", "collapse/label_accuracy", "diagnostics/answer_fallback_rate"} <= set(data)
        assert data["critic/score/mean"] == pytest.approx(data["trl/rewards/majority/mean"], abs=1e-6)
        assert "val-core/DEMO/acc/mean@1" in data
    # one greedy answer per problem has no group: the held-out rows carry no score, the log no held-out reward
    assert not any("reward/mean@1" in name for line in lines for name in line["data"])
    samples = [
        json.loads(line) for line in (Path(config.out) / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert samples and all(row["score"] is None for row in samples)
    summary = json.loads((Path(config.out) / "summary.json").read_text(encoding="utf-8"))
    assert {"collapse/majority_ratio", "collapse/distinct_answers"} <= set(summary["start"]) & set(summary["end"])


def test_two_step_self_confidence_demo_trains_on_the_policys_log_probs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside TRL's trainer the wrapper is bound to the policy: the reward of each step is a mean log-probability
    (negative, finite), the very value the adapter logs as the collapse monitor mean_logprob."""
    from verl_ext.demo.config import DemoConfig
    from verl_ext.demo.pipeline import run

    monkeypatch.setenv("VERL_EXT_CACHE", str(tmp_path / "cache"))
    config = DemoConfig(
        reward="self_confidence",
        steps=2,
        out=str(tmp_path / "out"),
        seed=1,
        warmup_steps=3,
        num_generations=2,
        prompts_per_step=2,
        max_completion_length=16,
        eval_every=2,
        progress=False,
    )
    result = run(config)
    lines = [json.loads(line)["data"] for line in Path(result.log).read_text(encoding="utf-8").splitlines()[1:]]
    assert len(lines) == 2
    for data in lines:
        assert -50.0 < data["critic/score/mean"] < 0.0
        assert data["critic/score/mean"] == pytest.approx(data["trl/rewards/self_confidence/mean"], abs=1e-6)
        assert data["collapse/mean_logprob"] == pytest.approx(data["critic/score/mean"], abs=1e-6)
        assert "collapse/majority_ratio" in data


def test_step_line_shows_the_collapse_monitors() -> None:
    from verl_ext.demo.metrics_log import step_line

    line = step_line(
        2, 10, {"critic/score/mean": 1.0, "collapse/majority_ratio": 0.625, "collapse/distinct_answers": 2.5}
    )
    assert "maj 0.62" in line and "distinct 2.5" in line
    assert "maj -" in step_line(2, 10, {"critic/score/mean": 1.0})


# --- option errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reward", ["majority", "semantic_frequency", "format_gated_majority", "self_confidence", "format"]
)
def test_verl_engine_takes_group_and_logprob_rewards(reward: str) -> None:
    """The veRL engine runs the recipe, whose group stage scores group-level and log-prob rewards (the demo's veRL
    run in test_demo_verl_engine.py trains with ``majority``)."""
    from verl_ext.demo.config import DemoConfig, checked
    from verl_ext.demo.engines.verl import VeRLEngine

    VeRLEngine().check(checked(DemoConfig(engine="verl", reward=reward)))  # no ValueError


def test_unknown_reward_is_refused_naming_the_group_presets(capsys: pytest.CaptureFixture[str]) -> None:
    from verl_ext.demo.cli import main

    with pytest.raises(SystemExit):
        main(["--reward", "majority_vote"])
    err = capsys.readouterr().err
    assert "majority_vote" in err and "semantic_frequency" in err and "self_confidence" in err


# --- measure: min/max over seeds, the rollouts' collapse columns, the by-step tables, the figure's band and line --


def _write_log(path: Path, steps: dict[int, dict[str, float]]) -> Path:
    from verl_ext.demo.metrics_log import MetricLogWriter

    writer = MetricLogWriter(path)
    for step, data in steps.items():
        writer.write(step, data)
    return path


ACC = "val-core/DEMO/acc/mean@1"
LATENT = "val-aux/DEMO/latent_acc/mean@1"


def _three_seeds(tmp_path: Path) -> list[Path]:
    """Boxed accuracy at steps 0 and 5 of three seeds: 0/0/0 then 0.2/0.5/0.8; majority ratio at step 1 and 5."""
    return [
        _write_log(
            tmp_path / f"majority-seed{seed}.jsonl",
            {
                0: {ACC: 0.0, LATENT: 0.9},
                1: {"collapse/majority_ratio": 0.25, "collapse/distinct_answers": 3.0},
                5: {ACC: end, LATENT: end, "collapse/majority_ratio": 1.0, "collapse/distinct_answers": 1.0},
            },
        )
        for seed, end in enumerate((0.2, 0.5, 0.8))
    ]


@pytest.mark.parametrize(("reduce", "at_step_5"), [("mean", 0.5), ("min", 0.2), ("max", 0.8)])
def test_measure_reduces_the_seeds_logs_step_by_step(tmp_path: Path, reduce: str, at_step_5: float) -> None:
    from verl_ext.demo.measure import mean_log
    from verl_ext.io.logs import read_metric_log

    log = read_metric_log(mean_log(_three_seeds(tmp_path), tmp_path / f"{reduce}.jsonl", reduce))
    assert log.steps[5][ACC] == pytest.approx(at_step_5)
    with pytest.raises(ValueError, match="median"):
        mean_log(_three_seeds(tmp_path), tmp_path / "x.jsonl", "median")


def test_measure_tables_show_the_rollouts_collapse_monitors(tmp_path: Path) -> None:
    from verl_ext.demo.measure import mean_log, seed_table, step_table
    from verl_ext.io.logs import read_metric_log

    held_out = {ACC: 0.0, LATENT: 0.9, "val-aux/DEMO/format/mean@1": 0.0, "val-aux/DEMO/response_length/mean@1": 20.0}
    summary = {
        "config": {"seed": 0},
        "held_out_start": held_out,
        "held_out_end": held_out,
        "distinct_answers": [0, 0],
        "seconds": 10.0,
        "start": {"collapse/majority_ratio": 0.25, "collapse/distinct_answers": 3.0},
        "end": {"collapse/majority_ratio": 1.0, "collapse/distinct_answers": 1.0},
    }
    row = seed_table([summary]).splitlines()[2]
    assert "| 0 → 0 | 0.25 → 1.00 | 3.0 → 1.0 | 10 |" in row
    table = step_table({"capable/majority": read_metric_log(mean_log(_three_seeds(tmp_path), tmp_path / "mean.jsonl"))})
    assert "| capable/majority | 0.00 (0.90) | 0.50 (0.50) |" in table
    assert "| capable/majority | 0.25 (3.00) | 1.00 (1.00) |" in table


def test_latent_reference_is_the_mean_start_latent_accuracy() -> None:
    from verl_ext.demo.measure import latent_reference

    label, value = latent_reference(
        [{"held_out_start": {LATENT: 0.8}}, {"held_out_start": {LATENT: 0.9}}, {"held_out_start": {}}]
    )
    assert value == pytest.approx(0.85) and "0.85" in label
    assert latent_reference([{"held_out_start": {}}]) is None


def test_figure_shades_the_min_max_band_and_draws_the_reference_line(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb

    from verl_ext.demo.measure import mean_log
    from verl_ext.eval.plot import draw_figure
    from verl_ext.io.logs import read_metric_log

    seeds = _three_seeds(tmp_path)
    mean = read_metric_log(mean_log(seeds, tmp_path / "mean-capable-majority.jsonl"))
    band = tuple(read_metric_log(mean_log(seeds, tmp_path / f"{r}-capable-majority.jsonl", r)) for r in ("min", "max"))
    fig = draw_figure([mean], bands=[band], reference=("latent accuracy before GRPO", 0.9))
    try:
        (ax,) = [ax for ax in fig.axes if ax.get_title().startswith("DEMO:")]
        (shade,) = ax.collections
        # the band's outline: low edge (0, 0) -> (5, 0.2), high edge (0, 0) -> (5, 0.8)
        vertices = {(round(float(x), 6), round(float(y), 6)) for x, y in shade.get_paths()[0].vertices}
        assert {(0.0, 0.0), (5.0, 0.2), (5.0, 0.8)} <= vertices
        assert all(0.0 <= y <= 0.8 for _, y in vertices)
        (boxed,) = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
        assert to_rgb(shade.get_facecolor()[0][:3]) == pytest.approx(to_rgb(boxed.get_color()))
        (reference,) = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert set(reference.get_ydata()) == {0.9} and reference.get_label() == "latent accuracy before GRPO"
        key = [text.get_text() for text in ax.get_legend().get_texts()]
        assert "latent accuracy before GRPO" in key and any("min-max" in t for t in key)
        others = [a for a in fig.axes if a.get_title() and a is not ax]
        assert not any(a.collections for a in others)  # the band and line belong to the accuracy panel only
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="2 bands for 1 runs"):
        draw_figure([mean], bands=[band, band])
