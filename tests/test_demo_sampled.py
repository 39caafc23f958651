"""The demo's sampled held-out evaluation (issue 29, items 2 and 5) and the consistency student's warm-up recipe.

Expected values are worked by hand on fixed samples (the arithmetic is in the comments), never taken from the code
under test.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from verl_ext.demo.problems import Problem, load_problems
from verl_ext.demo.warmup import prompt_text, templated_completion, tokenizer_corpus

# Four problems of four samples each: (answer, boxed answers (None: no box), verdicts).
# 1. answer 5: "5" "5" "6" -      c = 2 -> 2/4;  clusters {5: 2, 6: 1} -> the majority 5 is right: 1
# 2. answer 7: "6" "8" "6" "8"    c = 0 -> 0;    {6: 2, 8: 2} tied, both wrong: 0
# 3. answer 3: "3" "4" "4.0" "3"  c = 2 -> 2/4;  "4.0" is "4": {3: 2, 4: 2} tied, one right: (1 + 0) / 2
# 4. answer 9: - - - -            c = 0 -> 0;    no answer votes: 0
HAND_WORKED = [
    ("5", ["5", "5", "6", None], [1.0, 1.0, 0.0, 0.0]),
    ("7", ["6", "8", "6", "8"], [0.0, 0.0, 0.0, 0.0]),
    ("3", ["3", "4", "4.0", "3"], [1.0, 0.0, 0.0, 1.0]),
    ("9", [None, None, None, None], [0.0, 0.0, 0.0, 0.0]),
]
MEAN_AT_4 = (2 / 4 + 0 + 2 / 4 + 0) / 4  # 0.25
MAJ_AT_4 = (1 + 0 + 0.5 + 0) / 4  # 0.375
MAJORITY_RATIO = (2 / 4 + 2 / 4 + 2 / 4 + 0) / 4  # largest cluster over all 4 samples; none answered: 0
DISTINCT = (2 + 2 + 2 + 0) / 4
ENTROPY = (-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)) + math.log(2) + math.log(2) + 0) / 4
LABEL_ACCURACY = (1 + 0 + 1 + 0) / 4  # the largest cluster's first sample (ties: the cluster seen first)


def test_sampled_metrics_of_hand_worked_groups() -> None:
    from verl_ext.eval.metrics import sampled_metrics

    measured = sampled_metrics([preds for _, preds, _ in HAND_WORKED], [ok for _, _, ok in HAND_WORKED])
    assert measured.problems == 4 and measured.fallbacks == 0
    assert measured.mean_at_k == pytest.approx(MEAN_AT_4)
    assert measured.maj_at_k == pytest.approx(MAJ_AT_4)
    assert measured.monitors == pytest.approx(
        {
            "collapse/majority_ratio": MAJORITY_RATIO,
            "collapse/distinct_answers": DISTINCT,
            "collapse/answer_entropy": ENTROPY,
            "collapse/label_accuracy": LABEL_ACCURACY,
        }
    )


@pytest.mark.parametrize(
    ("preds", "correct", "message"),
    [
        ([], [], "no problems"),
        ([["1"]], [], "1 problems' answers but 0"),
        ([[]], [[]], "problem 0 has no samples"),
        ([["1", "2"]], [[1.0]], "problem 0: 2 answers but 1 verdicts"),
    ],
)
def test_sampled_metrics_refuse_bad_input_by_name(preds, correct, message: str) -> None:
    from verl_ext.eval.metrics import sampled_metrics

    with pytest.raises(ValueError, match=message):
        sampled_metrics(preds, correct)


def _rows(preds: list[str | None], correct: list[float], latent: list[float], tokens: list[int]) -> list[dict]:
    return [
        {"pred": p or "", "format": float(p is not None), "correct": c, "latent_correct": lc, "tokens": t}
        for p, c, lc, t in zip(preds, correct, latent, tokens, strict=True)
    ]


def test_summarize_sampled_gives_veRL_named_metrics_of_hand_worked_samples() -> None:
    from verl_ext.demo.evaluate import summarize_sampled

    latent = [[1.0, 1.0, 0.0, 1.0], [0.0] * 4, [1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]]  # 3 + 0 + 2 + 1 of 16
    tokens = [[10, 20, 30, 40], [10] * 4, [20] * 4, [64] * 4]  # (100 + 40 + 80 + 256) / 16
    groups = [
        _rows(preds, correct, lat, tok)
        for (_, preds, correct), lat, tok in zip(HAND_WORKED, latent, tokens, strict=True)
    ]
    assert summarize_sampled(groups) == pytest.approx(
        {
            "val-core/DEMO/acc/mean@4": MEAN_AT_4,
            "val-core/DEMO/acc/maj@4/mean": MAJ_AT_4,
            "val-aux/DEMO/latent_acc/mean@4": 6 / 16,
            "val-aux/DEMO/format/mean@4": 11 / 16,  # 3 + 4 + 4 + 0 boxed
            "val-aux/DEMO/response_length/mean@4": 476 / 16,
            "val-aux/DEMO/majority_ratio/mean@4": MAJORITY_RATIO,
            "val-aux/DEMO/distinct_answers/mean@4": DISTINCT,
            "val-aux/DEMO/answer_entropy/mean@4": ENTROPY,
            "val-aux/DEMO/label_accuracy/mean@4": LABEL_ACCURACY,
        }
    )
    with pytest.raises(ValueError, match=r"same number of samples, got \[3, 4\]"):
        summarize_sampled([groups[0], groups[1][:3]])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    """``(model, tokenizer)``: the demo's untrained tiny Qwen2 (random weights, seeded), built in a temporary folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from verl_ext.models.tiny import tiny_model_dir

    folder = tiny_model_dir(tokenizer_corpus(load_problems()), root=tmp_path_factory.mktemp("tiny"))
    return AutoModelForCausalLM.from_pretrained(folder, local_files_only=True), AutoTokenizer.from_pretrained(
        folder, local_files_only=True
    )


def test_sampled_evaluation_repeats_its_draws_and_leaves_the_training_rng_alone(tiny) -> None:
    import torch

    from verl_ext.demo.evaluate import generate_sampled

    model, tokenizer = tiny
    prompts = [prompt_text(p) for p in load_problems(split="test")[:3]]

    def draw(seed: int) -> list[list[tuple[str, int]]]:
        return generate_sampled(model, tokenizer, prompts, 4, 12, 1.0, seed, batch_size=8)  # 2 prompts per batch

    torch.manual_seed(123)
    first = draw(7)
    after_evaluation = torch.rand(3)
    torch.manual_seed(123)
    untouched = torch.rand(3)
    assert torch.equal(after_evaluation, untouched)  # the caller's random stream goes on as if nothing was drawn
    assert draw(7) == first and draw(8) != first
    assert [len(group) for group in first] == [4, 4, 4]
    assert len({text for group in first for text, _ in group}) > 3  # sampled, not greedy: an untrained model varies
    assert all(1 <= tokens <= 12 for group in first for _, tokens in group)


# --- the consistency student's warm-up recipe: right steps, a share of slipped answers -----------------------


SUM = Problem("sum3-0000", "train", "sum3", "What is 2 + 3 + 4?", "2 + 3 = 5. 5 + 4 = 9.", "9")


def test_slipped_answers_keep_the_steps_and_move_the_answer_by_at_most_the_spread() -> None:
    rng = random.Random(0)
    completions = [templated_completion(SUM, rng, 1.0, 1.0, slip_share=0.4, slip_spread=2) for _ in range(4000)]
    answers = [int(c.split("\\boxed{")[1].split("}")[0]) for c in completions]
    assert all(c.startswith(" 2 + 3 = 5. 5 + 4 = 9. The answer is \\boxed{") for c in completions)
    slipped = [a for a in answers if a != 9]
    assert 0.37 < len(slipped) / len(answers) < 0.43  # 0.4 of 4000: 3 standard deviations are 0.023
    assert set(slipped) == {7, 8, 10, 11}  # offsets -2, -1, 1, 2, each about a quarter of the slips
    assert all(0.2 < slipped.count(a) / len(slipped) < 0.3 for a in {7, 8, 10, 11})


def test_a_recipe_without_slips_draws_what_it_drew_before() -> None:
    """slip_share 0: the draws per completion the capable and weak students' warm-ups always made (the ending, the
    sentence of a plain ending, the worked steps), so their warmed-up weights and cache keys stay as they were."""
    for seed in range(20):
        rng, twin = random.Random(seed), random.Random(seed)
        templated_completion(SUM, rng, 0.15, 0.8)
        if twin.random() >= 0.15:
            twin.choice(("plain", "sentence"))  # a plain ending: which of the two sentences
        twin.random()  # the worked steps or not
        assert rng.getstate() == twin.getstate()


@pytest.mark.parametrize(("share", "spread", "message"), [(0.3, 0, "slip_spread must be >= 1")])
def test_a_slip_needs_a_spread(share: float, spread: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        for seed in range(20):  # some draw slips
            templated_completion(SUM, random.Random(seed), 1.0, 1.0, slip_share=share, slip_spread=spread)


def test_a_slip_needs_an_integer_answer() -> None:
    from verl_ext.demo.warmup import slipped_answer

    with pytest.raises(ValueError, match=r"problem p: a slipped answer needs an integer answer, got '1/2'"):
        slipped_answer(Problem("p", "train", "k", "?", "x = 1/2.", "1/2"), 1)


def test_only_a_slipping_recipe_names_its_slips_in_the_cache_key() -> None:
    from verl_ext.demo.students import STUDENTS
    from verl_ext.demo.warm_cache import key_digest, warm_cache_key

    def key(student) -> dict:
        return warm_cache_key(student, "e" * 64, "f" * 64, 0, 2, 1)

    assert "slip_share" not in key(STUDENTS["capable"]) and "slip_share" not in key(STUDENTS["weak"])
    consistent = STUDENTS["consistent"]
    assert consistent.slip_share > 0
    assert (key(consistent)["slip_share"], key(consistent)["slip_spread"]) == (
        consistent.slip_share,
        consistent.slip_spread,
    )
    from dataclasses import replace

    changed = (
        consistent,
        replace(consistent, slip_share=consistent.slip_share / 2),
        replace(consistent, slip_spread=consistent.slip_spread + 1),
    )
    assert len({key_digest(key(student)) for student in changed}) == 3


def test_eval_samples_is_zero_or_at_least_two(tmp_path: Path) -> None:
    from verl_ext.demo.config import DemoConfig, checked

    for bad in (1, -1):
        with pytest.raises(ValueError, match=f"eval_samples must be 0 .* or >= 2 .*, got {bad}"):
            checked(DemoConfig(eval_samples=bad, out=str(tmp_path)))
    assert checked(DemoConfig(eval_samples=0)).eval_samples == 0


# --- the consistency student, as `verl-ext demo --student consistent` builds it -------------------------------------

# Measured (seed 0, torch 2.13 on AVX2 kernels; README): held-out mean@8 and maj@8 of the warmed-up student.
STATED = {"mean@8": 0.549, "maj@8": 0.780}
TOLERANCE = 0.1  # another CPU kernel family (AVX512) warms up another student: the figures move by a few problems
GAP_AT_LEAST = 0.2  # maj@8 - mean@8: the gap the student exists for


@pytest.mark.e2e
def test_consistent_student_reproduces_its_stated_mean_and_majority_at_8(consistent_run) -> None:
    """Cold, as a user runs it: the warm-up ran (no cache), every held-out answer is boxed, and the warmed-up student's
    sampled accuracy (mean@8) and majority-vote accuracy (maj@8) are the stated ones, with maj@8 far above mean@8."""
    config, result = consistent_run
    start = result.held_out_start
    assert not result.warmup_cached and result.config["student"] == "consistent"
    assert start["val-aux/DEMO/format/mean@8"] >= 0.95
    mean, majority = start["val-core/DEMO/acc/mean@8"], start["val-core/DEMO/acc/maj@8/mean"]
    assert mean == pytest.approx(STATED["mean@8"], abs=TOLERANCE), (mean, majority)
    assert majority == pytest.approx(STATED["maj@8"], abs=TOLERANCE), (mean, majority)
    assert majority - mean >= GAP_AT_LEAST
    assert [entry["step"] for entry in result.held_out_by_step] == [0, 1, 2]


def test_closing_and_step_lines_show_mean_and_majority_at_k() -> None:
    from verl_ext.demo.config import DemoResult
    from verl_ext.demo.metrics_log import step_line
    from verl_ext.demo.report import summary_text

    start = {
        "val-core/DEMO/acc/mean@1": 0.854,
        "val-core/DEMO/acc/mean@8": 0.549,
        "val-core/DEMO/acc/maj@8/mean": 0.78,
        "val-aux/DEMO/distinct_answers/mean@8": 3.854,
    }
    end = {**start, "val-core/DEMO/acc/mean@8": 0.727, "val-core/DEMO/acc/maj@8/mean": 0.823}
    text = summary_text(
        DemoResult("log.jsonl", None, 1.0, 0.0, True, 1.0, 10, 5, held_out_start=start, held_out_end=end)
    )
    lines = text.splitlines()
    assert "  held-out boxed acc       0.854 ->   0.854" in lines
    assert "  held-out mean@8          0.549 ->   0.727" in lines
    assert "  held-out maj@8           0.780 ->   0.823" in lines
    assert "  distinct answers@8       3.854 ->   3.854" in lines
    assert [line.split()[1] for line in lines if line.startswith("  held-out")] == ["boxed", "mean@8", "maj@8"]
    line = step_line(5, 30, {"critic/score/mean": 0.5, **end})
    assert line.endswith("| held-out acc 0.85  mean@8 0.73  maj@8 0.82")
