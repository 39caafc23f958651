"""``verl-ext demo``: the shipped problems, the tiny model, the metric log, and a 2-step run end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from verl_ext.demo.metrics_log import MetricLogWriter, rename_trl_logs, step_line
from verl_ext.demo.problems import DATA_FILE, generate, load_problems, to_jsonl
from verl_ext.demo.warmup import BOXED_ENDING, prompt_text, templated_completion, tokenizer_corpus
from verl_ext.rewards.presets import score_response


def test_shipped_problems_are_the_generated_ones() -> None:
    assert DATA_FILE.read_text(encoding="utf-8") == to_jsonl(generate())


def test_problem_set_shape_and_answers() -> None:
    problems = load_problems()
    train, test = load_problems(split="train"), load_problems(split="test")
    assert len(problems) == len(train) + len(test) >= 300
    assert len({p.problem for p in problems}) == len(problems)
    assert not {p.problem for p in train} & {p.problem for p in test}
    for p in problems:
        assert p.steps.rstrip(".").endswith(f"= {p.answer}")  # the worked steps end in the answer
        boxed = " " + BOXED_ENDING.format(answer=p.answer)
        assert score_response("correctness", boxed, ground_truth=p.answer).score == 1.0


def test_warmup_templates_box_a_minority() -> None:
    rng = random.Random(0)
    problem = load_problems(split="train")[0]
    completions = [templated_completion(problem, rng, boxed_share=0.25) for _ in range(2000)]
    boxed = sum(score_response("format", c).signals.format for c in completions) / len(completions)
    assert 0.2 < boxed < 0.3
    assert prompt_text(problem).startswith("Problem: ") and prompt_text(problem).endswith("Solution:")


def test_tiny_model_is_built_locally_and_cached(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from verl_ext.demo.tiny import TinySpec, count_parameters, tiny_model_dir

    corpus = tokenizer_corpus(load_problems())
    spec = TinySpec()
    first = tiny_model_dir(corpus, spec, root=tmp_path)
    assert tiny_model_dir(corpus, spec, root=tmp_path) == first  # cached
    tokenizer = AutoTokenizer.from_pretrained(first, local_files_only=True)
    text = "Problem: What is 12 + 7?\nSolution: 12 + 7 = 19. The answer is \\boxed{19}."
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert tokenizer.eos_token_id is not None and tokenizer.pad_token_id == tokenizer.eos_token_id
    model = AutoModelForCausalLM.from_pretrained(first, local_files_only=True)
    assert model.config.model_type == "qwen2"
    assert 100_000 <= count_parameters(model) <= 1_000_000


def test_trl_logs_are_renamed_to_veRL_names() -> None:
    data = rename_trl_logs(
        {"reward": 0.5, "completions/mean_length": 20.0, "diagnostics/format_rate": 0.25, "kl": float("nan"),
         "epoch": 1.0, "rewards/format/mean": 0.5, "note": "text"}
    )
    assert data == {"critic/score/mean": 0.5, "response_length/mean": 20.0, "diagnostics/format_rate": 0.25,
                    "trl/rewards/format/mean": 0.5}
    line = step_line(3, 40, {**data, "val-core/DEMO/acc/mean@1": 0.1})
    assert line.startswith("step  3/40") and "format 0.25" in line and "held-out acc 0.10" in line


def test_metric_log_is_veRL_file_logger_jsonl(tmp_path: Path) -> None:
    from verl_ext.io.logs import read_metric_log

    writer = MetricLogWriter(tmp_path / "run.jsonl")
    writer.write(0, {"val-core/DEMO/acc/mean@1": 0.0})
    writer.write(1, {"critic/score/mean": 0.2})
    writer.write(1, {"val-core/DEMO/acc/mean@1": 0.5})
    log = read_metric_log(tmp_path / "run.jsonl")
    assert log.layout == "file_logger"
    assert log.steps == {0: {"val-core/DEMO/acc/mean@1": 0.0}, 1: {"critic/score/mean": 0.2, "val-core/DEMO/acc/mean@1": 0.5}}


def test_bad_options_are_rejected(tmp_path: Path) -> None:
    from verl_ext.demo.run import DemoConfig, run

    with pytest.raises(ValueError):
        run(DemoConfig(reward="no_such_reward", out=str(tmp_path)))
    with pytest.raises(ValueError):
        run(DemoConfig(num_generations=1, out=str(tmp_path)))
    with pytest.raises(ValueError):
        run(DemoConfig(model=str(tmp_path / "missing"), out=str(tmp_path), steps=1))


@pytest.fixture(scope="module")
def two_step_run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """One small 2-step run shared by the end-to-end tests (model cache in a temporary folder)."""
    from verl_ext.demo.run import DemoConfig, run

    root = tmp_path_factory.mktemp("demo")
    patch = pytest.MonkeyPatch()
    patch.setenv("VERL_EXT_CACHE", str(root / "cache"))
    try:
        config = DemoConfig(
            reward="format_length", steps=2, out=str(root / "out"), seed=1, warmup_steps=3, num_generations=2,
            prompts_per_step=2, max_completion_length=16, eval_every=1, progress=False,
        )
        yield config, run(config)
    finally:
        patch.undo()


def test_two_step_demo_writes_log_plot_and_summary(two_step_run) -> None:  # noqa: ANN001
    config, result = two_step_run
    lines = [json.loads(line) for line in Path(result.log).read_text(encoding="utf-8").splitlines()]
    assert [line["step"] for line in lines] == [0, 1, 2]
    assert "val-core/DEMO/acc/mean@1" in lines[0]["data"]
    for line in lines[1:]:
        for name in ("critic/score/mean", "response_length/mean", "diagnostics/format_rate", "diagnostics/accuracy",
                     "diagnostics/length_reward_mean", "val-core/DEMO/acc/mean@1", "trl/rewards/format_length/mean"):
            assert name in line["data"], name
        assert line["data"]["response_length/mean"] <= config.max_completion_length
    assert result.plot is not None and Path(result.plot).stat().st_size > 0
    assert Path(result.plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from verl_ext.eval.plot import build_panels
    from verl_ext.io.logs import read_metric_log

    titles = [panel.title for panel in build_panels([read_metric_log(result.log)])]
    assert {"mean reward (training rollouts)", "format rate (training rollouts)", "DEMO: validation accuracy"} <= set(titles)
    summary = json.loads((Path(config.out) / "summary.json").read_text(encoding="utf-8"))
    assert summary["config"]["steps"] == 2 and "diagnostics/format_rate" in summary["end"]
    assert len(summary["distinct_answers"]) == 2 and summary["held_out_problems"] == 84
    samples = [json.loads(line) for line in (Path(config.out) / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [sum(1 for row in samples if row["step"] == step) for step in (0, 1, 2)] == [84, 84, 84]
    assert {"problem", "answer", "completion", "tokens", "pred", "format", "correct", "score"} <= set(samples[0])


def test_demo_log_feeds_verl_ext_table(two_step_run) -> None:  # noqa: ANN001
    from verl_ext.eval.table import build_table
    from verl_ext.io.logs import read_metric_log

    _, result = two_step_run
    benchmarks, rows = build_table([read_metric_log(result.log)], None, None)
    assert benchmarks == ["DEMO"] and len(rows) == 1


def test_logged_reward_is_the_presets_score(two_step_run) -> None:  # noqa: ANN001
    """TRL's per-function mean (from our reward function) equals the reward it trains on."""
    _, result = two_step_run
    for line in Path(result.log).read_text(encoding="utf-8").splitlines()[1:]:
        data = json.loads(line)["data"]
        assert data["critic/score/mean"] == pytest.approx(data["trl/rewards/format_length/mean"], abs=1e-6)


def test_cli_registers_demo() -> None:
    from verl_ext.cli import build_parser
    from verl_ext.demo.run import config_from_args, run_demo

    args = build_parser().parse_args(["demo", "--reward", "format", "--steps", "2", "--out", "x", "--quiet"])
    assert args.handler is run_demo
    config = config_from_args(args)
    assert (config.reward, config.steps, config.out, config.progress) == ("format", 2, "x", False)


def test_any_local_causal_lm_with_model_path(two_step_run, tmp_path: Path) -> None:  # noqa: ANN001
    """``--model PATH``: a saved checkpoint (here the tiny model, warmed up by nothing) trains the same way."""
    from verl_ext.demo.run import DemoConfig, run

    config, _ = two_step_run
    cache = Path(config.out).parent / "cache"
    (model_dir,) = [p for p in cache.iterdir() if p.name.startswith("tiny-qwen2-")]
    other = DemoConfig(reward="length", steps=1, model=str(model_dir), out=str(tmp_path), num_generations=2,
                       prompts_per_step=1, max_completion_length=8, eval_every=0, progress=False)
    result = run(other)
    assert result.config["warmup_steps"] is None and result.warmup_seconds == 0.0
    assert [json.loads(line)["step"] for line in Path(result.log).read_text(encoding="utf-8").splitlines()] == [0, 1]


def test_distinct_answers_counts_boxed_answers_only() -> None:
    from verl_ext.demo.evaluate import distinct_answers, summarize

    rows = [
        {"pred": "2", "format": 1.0, "correct": 1.0, "score": 1.0, "tokens": 10},
        {"pred": "2", "format": 1.0, "correct": 0.0, "score": 1.0, "tokens": 20},
        {"pred": "", "format": 0.0, "correct": 0.0, "score": 0.0, "tokens": 30},
    ]
    assert distinct_answers(rows) == 1
    metrics = summarize(rows)
    assert metrics["val-core/DEMO/acc/mean@1"] == pytest.approx(1 / 3)
    assert metrics["val-aux/DEMO/response_length/mean@1"] == 20.0


def test_printed_completions_keep_single_backslashes() -> None:
    from verl_ext.demo.run import examples_text

    before = [{"problem": "What is 2+2?", "answer": "4", "completion": "So 2+2=4.\nThe answer is \\boxed{4}.", "score": 1.0}]
    after = [{"problem": "What is 2+2?", "answer": "4", "completion": "\\boxed{4}", "score": 1.0}]
    text = examples_text(before, after, 0, 5)
    assert "step   0: \"So 2+2=4. The answer is \\boxed{4}.\"  score 1.00" in text  # one backslash, as generated
    assert "step   5: \"\\boxed{4}\"" in text
    assert "\\\\" not in text
