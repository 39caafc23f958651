"""``verl-ext demo``: the shipped problems, the tiny model, the metric log, and a 2-step run end to end."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from verl_ext.core import score_response
from verl_ext.demo.engines.trl import rename_trl_logs
from verl_ext.demo.metrics_log import MetricLogWriter, step_line
from verl_ext.demo.problems import DATA_FILE, SUMS_FILE, generate, generate_sums, load_problems, to_jsonl
from verl_ext.demo.warmup import BOXED_ENDING, prompt_text, templated_completion, tokenizer_corpus


def test_shipped_problems_are_the_generated_ones() -> None:
    assert DATA_FILE.read_text(encoding="utf-8") == to_jsonl(generate())
    assert SUMS_FILE.read_text(encoding="utf-8") == to_jsonl(generate_sums())


def test_sums_are_every_triple_of_digits_with_two_step_solutions() -> None:
    problems = load_problems(SUMS_FILE)
    triples = set()
    for p in problems:
        match = re.fullmatch(r"What is (\d) \+ (\d) \+ (\d)\?", p.problem)
        assert match, p.problem
        a, b, c = map(int, match.groups())
        triples.add((a, b, c))
        assert p.answer == str(a + b + c)
        assert p.steps == f"{a} + {b} = {a + b}. {a + b} + {c} = {a + b + c}."  # two additions, each a fact
    assert triples == {(a, b, c) for a in range(1, 7) for b in range(1, 7) for c in range(1, 7)}
    test = load_problems(SUMS_FILE, split="test")
    assert 40 <= len(test) <= 60 and len({p.answer for p in test}) >= 10


@pytest.mark.parametrize("path", [DATA_FILE, SUMS_FILE], ids=["weak", "capable"])
def test_problem_set_shape_and_answers(path: Path) -> None:
    problems = load_problems(path)
    train, test = load_problems(path, split="train"), load_problems(path, split="test")
    assert len(problems) == len(train) + len(test) >= 200
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

    from verl_ext.models.tiny import TinySpec, count_parameters, tiny_model_dir

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
        {
            "reward": 0.5,
            "completions/mean_length": 20.0,
            "diagnostics/format_rate": 0.25,
            "kl": float("nan"),
            "epoch": 1.0,
            "rewards/format/mean": 0.5,
            "note": "text",
        }
    )
    assert data == {
        "critic/score/mean": 0.5,
        "response_length/mean": 20.0,
        "diagnostics/format_rate": 0.25,
        "trl/rewards/format/mean": 0.5,
    }
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
    assert log.steps == {
        0: {"val-core/DEMO/acc/mean@1": 0.0},
        1: {"critic/score/mean": 0.2, "val-core/DEMO/acc/mean@1": 0.5},
    }


def test_bad_options_are_rejected(tmp_path: Path) -> None:
    from verl_ext.demo.config import DemoConfig
    from verl_ext.demo.pipeline import run

    with pytest.raises(ValueError):
        run(DemoConfig(reward="no_such_reward", out=str(tmp_path)))
    with pytest.raises(ValueError):
        run(DemoConfig(num_generations=1, out=str(tmp_path)))
    with pytest.raises(ValueError):
        run(DemoConfig(model=str(tmp_path / "missing"), out=str(tmp_path), steps=1))
    with pytest.raises(ValueError, match="kl_coef"):
        run(DemoConfig(kl_coef=-0.1, out=str(tmp_path)))


@pytest.fixture(scope="module")
def two_step_run(tmp_path_factory: pytest.TempPathFactory):
    """One small 2-step run shared by the end-to-end tests (model cache in a temporary folder)."""
    from verl_ext.demo.config import DemoConfig
    from verl_ext.demo.pipeline import run

    root = tmp_path_factory.mktemp("demo")
    patch = pytest.MonkeyPatch()
    patch.setenv("VERL_EXT_CACHE", str(root / "cache"))
    try:
        config = DemoConfig(
            reward="format_length",
            steps=2,
            out=str(root / "out"),
            seed=1,
            warmup_steps=3,
            num_generations=2,
            prompts_per_step=2,
            max_completion_length=16,
            eval_every=1,
            progress=False,
        )
        yield config, run(config)
    finally:
        patch.undo()


def test_two_step_demo_writes_log_plot_and_summary(two_step_run) -> None:
    config, result = two_step_run
    lines = [json.loads(line) for line in Path(result.log).read_text(encoding="utf-8").splitlines()]
    assert [line["step"] for line in lines] == [0, 1, 2]
    assert "val-core/DEMO/acc/mean@1" in lines[0]["data"]
    for line in lines[1:]:
        for name in (
            "critic/score/mean",
            "response_length/mean",
            "diagnostics/format_rate",
            "diagnostics/accuracy",
            "diagnostics/length_reward_mean",
            "val-core/DEMO/acc/mean@1",
            "trl/rewards/format_length/mean",
        ):
            assert name in line["data"], name
        assert line["data"]["response_length/mean"] <= config.max_completion_length
        assert line["data"]["actor/kl_loss"] >= 0.0  # the capable student's KL term to the warmed-up model is on
    assert result.plot is not None and Path(result.plot).stat().st_size > 0
    assert Path(result.plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from verl_ext.eval.plot import build_panels
    from verl_ext.io.logs import read_metric_log

    titles = [panel.title for panel in build_panels([read_metric_log(result.log)])]
    assert {
        "mean reward (training rollouts)",
        "format rate (training rollouts)",
        "DEMO: boxed and latent accuracy (validation)",
    } <= set(titles)
    summary = json.loads((Path(config.out) / "summary.json").read_text(encoding="utf-8"))
    assert summary["config"]["steps"] == 2 and "diagnostics/format_rate" in summary["end"]
    held_out = len(load_problems(SUMS_FILE, split="test"))  # the default student's test split
    assert len(summary["distinct_answers"]) == 2 and summary["held_out_problems"] == held_out
    assert summary["config"]["student"] == "capable" and summary["warmup_cached"] is False
    samples = [
        json.loads(line) for line in (Path(config.out) / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert [sum(1 for row in samples if row["step"] == step) for step in (0, 1, 2)] == [held_out] * 3
    assert {
        "problem",
        "answer",
        "completion",
        "tokens",
        "pred",
        "format",
        "correct",
        "latent",
        "latent_correct",
        "score",
    } <= set(samples[0])
    assert {"val-core/DEMO/acc/mean@1", "val-aux/DEMO/latent_acc/mean@1"} <= set(lines[-1]["data"])
    # every evaluation also samples 8 completions per held-out problem (the default --eval-samples)
    sampled = {
        "val-core/DEMO/acc/mean@8",
        "val-core/DEMO/acc/maj@8/mean",
        "val-aux/DEMO/latent_acc/mean@8",
        "val-aux/DEMO/distinct_answers/mean@8",
        "val-aux/DEMO/majority_ratio/mean@8",
        "val-aux/DEMO/answer_entropy/mean@8",
    }
    for line in lines:
        assert sampled <= set(line["data"]), line["step"]
    assert [entry["step"] for entry in summary["held_out_by_step"]] == [0, 1, 2]
    assert sampled <= set(summary["held_out_start"]) and sampled <= set(summary["held_out_end"])
    rows = [json.loads(line) for line in (Path(config.out) / "sampled.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [sum(1 for row in rows if row["step"] == step) for step in (0, 1, 2)] == [held_out * 8] * 3
    assert {row["sample"] for row in rows} == set(range(8))


def test_demo_log_feeds_verl_ext_table(two_step_run) -> None:
    from verl_ext.eval.table import build_table
    from verl_ext.io.logs import read_metric_log

    _, result = two_step_run
    benchmarks, rows = build_table([read_metric_log(result.log)], None, None)
    assert benchmarks == ["DEMO"] and len(rows) == 1


def test_logged_reward_is_the_presets_score(two_step_run) -> None:
    """TRL's per-function mean (from our reward function) equals the reward it trains on."""
    _, result = two_step_run
    for line in Path(result.log).read_text(encoding="utf-8").splitlines()[1:]:
        data = json.loads(line)["data"]
        assert data["critic/score/mean"] == pytest.approx(data["trl/rewards/format_length/mean"], abs=1e-6)


def test_cli_registers_demo() -> None:
    from verl_ext.cli import build_parser
    from verl_ext.demo.cli import config_from_args, run_demo

    args = build_parser().parse_args(["demo", "--reward", "format", "--steps", "2", "--out", "x", "--quiet"])
    assert args.handler is run_demo
    config = config_from_args(args)
    assert (config.reward, config.steps, config.out, config.progress) == ("format", 2, "x", False)


def test_any_local_causal_lm_with_model_path(two_step_run, tmp_path: Path) -> None:
    """``--model PATH``: a saved checkpoint (here the tiny model, warmed up by nothing) trains the same way."""
    from verl_ext.demo.config import DemoConfig
    from verl_ext.demo.pipeline import run

    config, _ = two_step_run
    cache = Path(config.out).parent / "cache"
    (model_dir,) = [p for p in cache.iterdir() if p.name.startswith("tiny-qwen2-")]
    other = DemoConfig(
        reward="length",
        steps=1,
        model=str(model_dir),
        out=str(tmp_path),
        num_generations=2,
        prompts_per_step=1,
        max_completion_length=8,
        eval_every=0,
        progress=False,
        kl_coef=0.0,
    )
    result = run(other)
    assert result.config["warmup_steps"] == 0 and result.warmup_seconds == 0.0
    lines = [json.loads(line) for line in Path(result.log).read_text(encoding="utf-8").splitlines()]
    assert [line["step"] for line in lines] == [0, 1]
    assert "actor/kl_loss" not in lines[1]["data"]  # --kl-coef 0: no KL term, no reference model


def test_distinct_answers_counts_boxed_answers_only() -> None:
    from verl_ext.demo.evaluate import distinct_answers, summarize

    rows = [
        {"pred": "2", "format": 1.0, "correct": 1.0, "latent_correct": 1.0, "score": 1.0, "tokens": 10},
        {"pred": "2", "format": 1.0, "correct": 0.0, "latent_correct": 0.0, "score": 1.0, "tokens": 20},
        {"pred": "", "format": 0.0, "correct": 0.0, "latent_correct": 1.0, "score": 0.0, "tokens": 30},
    ]
    assert distinct_answers(rows) == 1
    metrics = summarize(rows)
    assert metrics["val-core/DEMO/acc/mean@1"] == pytest.approx(1 / 3)
    assert metrics["val-aux/DEMO/latent_acc/mean@1"] == pytest.approx(2 / 3)
    assert metrics["val-aux/DEMO/response_length/mean@1"] == 20.0


def test_printed_completions_keep_single_backslashes() -> None:
    from verl_ext.demo.report import examples_text

    before = [
        {"problem": "What is 2+2?", "answer": "4", "completion": "So 2+2=4.\nThe answer is \\boxed{4}.", "score": 1.0}
    ]
    after = [{"problem": "What is 2+2?", "answer": "4", "completion": "\\boxed{4}", "score": 1.0}]
    text = examples_text(before, after, 0, 5)
    assert 'step   0: "So 2+2=4. The answer is \\boxed{4}."  score 1.00' in text  # one backslash, as generated
    assert 'step   5: "\\boxed{4}"' in text
    assert "\\\\" not in text


@pytest.mark.parametrize(
    ("completion", "latent", "latent_right", "boxed_right"),
    [
        (" 2 + 3 = 5. 5 + 4 = 9. So the result is 9.", "9", True, False),  # plain sentence: right, but no box
        (" The answer is \\boxed{9}.", "9", True, True),
        (" 2 + 3 = 5. 5 + 4 = 9. The answer is \\boxed{8}.", "8", False, False),  # the box wins over earlier numbers
        (" 2 + 3 = 5. 5 + 4 = 9. The answer is 10.", "10", False, False),  # the last number, not the first right one
        (" So the result is -9.", "-9", False, False),
        (" I do not know.", None, False, False),
        (" The answer is \\boxed{x}.", "x", False, False),  # a boxed non-integer: not an integer answer
    ],
)
def test_latent_answer_is_the_box_else_the_last_integer(
    completion: str, latent: str | None, latent_right: bool, boxed_right: bool
) -> None:
    from verl_ext.demo.evaluate import latent_answer, latent_correct

    assert latent_answer(completion) == latent
    assert latent_correct(completion, "9") is latent_right
    assert score_response("correctness", completion, ground_truth="9").score == float(boxed_right)


def _tiny_student(**changes):
    from dataclasses import replace

    from verl_ext.demo.students import STUDENTS
    from verl_ext.models.tiny import TinySpec

    return replace(STUDENTS["capable"], spec=TinySpec(), warmup_steps=2, **changes)


@pytest.mark.parametrize(
    "change",
    [
        {"warmup_lr": 1e-3},
        {"warmup_batch_size": 8},
        {"boxed_share": 0.5},
        {"steps_share": 0.9},
        {"seed": 1},
        {"steps": 3},
        {"threads": 2},
        {"base": "0" * 64},
        {"problems": "0" * 64},
    ],
)
def test_warm_cache_key_changes_with_every_input_of_the_warm_up(change: dict) -> None:
    from dataclasses import fields, replace

    from verl_ext.demo.warm_cache import key_digest, warm_cache_key

    student = _tiny_student()
    call = {"base": "e" * 64, "problems": "f" * 64, "seed": 0, "steps": 2, "threads": 1}
    own = {k: v for k, v in change.items() if k in {f.name for f in fields(student)}}
    changed = {**call, **{k: v for k, v in change.items() if k not in own}}

    def digest(s, c) -> str:
        return key_digest(warm_cache_key(s, c["base"], c["problems"], c["seed"], c["steps"], c["threads"]))

    assert digest(replace(student, **own), changed) != digest(student, call)
    assert digest(student, dict(call)) == digest(student, call)


def test_warm_cache_key_names_versions_and_cpu_kernels() -> None:
    import torch
    import transformers

    from verl_ext.demo.warm_cache import warm_cache_key

    key = warm_cache_key(_tiny_student(), "e" * 64, "f" * 64, 0, 2, 1)
    assert key["torch"] == torch.__version__ and key["transformers"] == transformers.__version__
    assert key["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_cached_warm_up_is_the_same_model(tmp_path: Path) -> None:
    """A cache hit loads exactly the weights a fresh warm-up gives (and runs no warm-up)."""
    import torch
    from transformers import AutoModelForCausalLM

    from verl_ext.demo.warm_cache import warmed_model_dir
    from verl_ext.models.tiny import tiny_model_dir

    student = _tiny_student()
    train, test = load_problems(SUMS_FILE, split="train"), load_problems(SUMS_FILE, split="test")
    base = tiny_model_dir(tokenizer_corpus(train + test), student.spec, root=tmp_path / "base")
    common = {"seed": 3, "warmup_steps": 2, "threads": 1, "progress": False}
    first = warmed_model_dir(student, base, SUMS_FILE, train, root=tmp_path / "a", **common)
    again = warmed_model_dir(student, base, SUMS_FILE, train, root=tmp_path / "a", **common)
    fresh = warmed_model_dir(student, base, SUMS_FILE, train, root=tmp_path / "b", **common)
    assert (first.cached, again.cached, fresh.cached) == (False, True, False)
    assert again.path == first.path and again.warmup == first.warmup
    weights = [AutoModelForCausalLM.from_pretrained(w.path).state_dict() for w in (again, fresh)]
    untrained = AutoModelForCausalLM.from_pretrained(base).state_dict()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    assert not all(torch.equal(weights[0][name], untrained[name]) for name in untrained)  # it did train
    other = warmed_model_dir(student, base, SUMS_FILE, train, root=tmp_path / "a", **{**common, "seed": 4})
    assert other.path != first.path and not other.cached


LATENT_AT_LEAST = 0.5  # measured: 0.84 and 0.88 on this slice (seeds 0, 1), 0.83-0.96 on all 48 (seeds 0-4)
LATENT_MARGIN = 0.4  # latent minus boxed accuracy; boxed is about 0 before GRPO
BOXED_AFTER_AT_LEAST = (
    0.5  # measured after 10 label-free steps: 0.73-0.94 on all 48 (seeds 0-4, format and format_length)
)
RANDOM_BOXED_AT_MOST = 0.05  # measured: 0.00 at every evaluation (seeds 0-4)


SEEDS = (11, 12)  # not among the seeds the recipe was chosen or measured on (0-4); conftest's CAPABLE_SEEDS


@pytest.mark.e2e
@pytest.mark.parametrize("seed", SEEDS)
def test_capable_warm_up_solves_far_more_than_it_boxes(capable_claims, seed: int) -> None:
    """On a slice of held-out sums the warmed-up student's greedy answers are right far more often in any form
    (latent) than in a box (the paper's metric). The session's ``capable_claims`` (conftest) scored the greedy answers
    of the default capable student, warmed up as ``verl-ext demo`` does, on the first 32 held-out sums."""
    from verl_ext.demo.students import STUDENTS
    from verl_ext.models.cache import cache_root

    warm_up = capable_claims[seed]["warm_up"]
    # the default warm-up, in the session's model cache (empty at its start): warmed up by the claims' own process,
    # or for seed 12 (conftest's DEMO_VERL_SEED) possibly by the veRL demo's, which trains the same student
    assert Path(warm_up["path"]).parent == cache_root() and warm_up["steps"] == STUDENTS["capable"].warmup_steps
    assert not warm_up["cached"] or seed == SEEDS[-1]
    latent, boxed = warm_up["latent"], warm_up["boxed"]
    assert latent >= LATENT_AT_LEAST and latent - boxed >= LATENT_MARGIN, (latent, boxed)


@pytest.mark.e2e
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("reward", "boxed_after"), [("format_length", (BOXED_AFTER_AT_LEAST, 1.0)), ("random", (0.0, RANDOM_BOXED_AT_MOST))]
)
def test_label_free_grpo_boxes_what_the_capable_student_knows_and_the_control_does_not(
    capable_claims,
    seed: int,
    reward: str,
    boxed_after: tuple[float, float],
) -> None:
    """The demo's claim in miniature: 10 GRPO steps with the label-free reward (no ground truth in the reward)
    take the held-out boxed accuracy from about 0 to most of the sums; the random control does not box.
    (``capable_claims``: ``verl-ext demo``'s pipeline with ``--steps 10 --eval-every 10`` for each reward.)"""
    run = capable_claims[seed][reward]
    assert run["warmup_cached"]  # the warmed-up student of the test above, not a new one
    acc = "val-core/DEMO/acc/mean@1"
    assert run["held_out_start"][acc] <= RANDOM_BOXED_AT_MOST
    low, high = boxed_after
    assert low <= run["held_out_end"][acc] <= high, run["held_out_end"]


def _summary(seed: int, start: tuple[float, float], end: tuple[float, float], wall: float) -> dict:
    """A run summary with held-out (boxed acc, latent acc) at start and end."""

    def held_out(acc: float, latent: float) -> dict:
        return {
            "val-core/DEMO/acc/mean@1": acc,
            "val-aux/DEMO/latent_acc/mean@1": latent,
            "val-aux/DEMO/format/mean@1": acc,
            "val-aux/DEMO/response_length/mean@1": 20.0,
        }

    return {
        "config": {"seed": seed},
        "held_out_start": held_out(*start),
        "held_out_end": held_out(*end),
        "distinct_answers": [0, 10 + seed],
        "seconds": wall - 5,
        "wall_seconds": wall,
        "load_average": [1.0, 3.0],
    }


def test_measure_tables_give_start_to_end_per_seed_and_their_mean() -> None:
    from verl_ext.demo.measure import reward_table, seed_table

    runs = [_summary(0, (0.0, 0.8), (0.6, 0.8), 100.0), _summary(1, (0.1, 0.9), (0.8, 0.9), 120.0)]
    lines = seed_table(runs).splitlines()
    assert lines[0].startswith("| seed | format rate | boxed acc | latent acc |")
    # no collapse monitors in these summaries: their two columns (majority ratio, distinct answers per prompt) say "-"
    assert lines[2].startswith(
        "| 0 | 0.00 → 0.60 | 0.00 → 0.60 | 0.80 → 0.80 | 20.0 → 20.0 | 0 → 10 | - | - | 100 | 2.0-2.0 |"
    )
    assert lines[4].startswith("| mean of 2 | 0.05 → 0.70 | 0.05 → 0.70 | 0.85 → 0.85 | 20.0 → 20.0 | 0.0 → 10.5 |")
    assert "| 110 |" in lines[4]
    assert reward_table({"format": runs}).splitlines()[2].startswith("| format (2) | 0.05 → 0.70 |")


def test_measure_mean_log_averages_steps_all_runs_logged(tmp_path: Path) -> None:
    from verl_ext.demo.measure import mean_log
    from verl_ext.io.logs import read_metric_log

    for name, values in (("a", {0: 0.0, 5: 0.4, 10: 1.0}), ("b", {0: 0.2, 5: 0.6})):
        writer = MetricLogWriter(tmp_path / f"{name}.jsonl")
        for step, value in values.items():
            writer.write(step, {"val-core/DEMO/acc/mean@1": value})
    log = read_metric_log(mean_log([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], tmp_path / "mean.jsonl"))
    assert {step: data["val-core/DEMO/acc/mean@1"] for step, data in log.steps.items()} == pytest.approx(
        {0: 0.1, 5: 0.5}
    )


def test_untrained_model_hash_follows_file_contents(tmp_path: Path) -> None:
    from verl_ext.demo.warm_cache import folder_sha256

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "tokenizer.json").write_text('{"merges": ["1 2"]}', encoding="utf-8")
        (tmp_path / name / "model.safetensors").write_bytes(b"\x00\x01")
    assert folder_sha256(tmp_path / "a") == folder_sha256(tmp_path / "b")
    (tmp_path / "b" / "tokenizer.json").write_text(
        '{"merges": ["2 1"]}', encoding="utf-8"
    )  # e.g. another tokenizers version
    assert folder_sha256(tmp_path / "a") != folder_sha256(tmp_path / "b")
