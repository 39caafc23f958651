"""Held-out evaluation of the demo model: greedy answers to the test problems, scored by the preset.

Scores go through ``score_response`` (the same function the trainers use); accuracy compares with
the ground truths (monitoring only); group-level and log-probability rewards give no held-out score (one greedy
completion per problem has no group and no sampling log-probs: ``MEASURED_ONLY``). Two accuracies per completion:

- **boxed** (``correct``, the paper's metric): the last ``\\boxed{}`` equals the ground truth (math-verify
  through ``verl_ext.rewards``);
- **latent** (``latent_correct``): the answer the completion gives in any form, the boxed one when there
  is one, else the last integer of the text (``So the result is 18.``), equals the ground truth. It
  measures what the model can do whatever its answering habit. Metric names follow veRL's validation metrics for the data
source ``DEMO`` (``val-core/DEMO/acc/mean@1`` is the one ``verl-ext table`` ranks runs by).

Stage 4 of the demo: ``HeldOutEvaluation`` is the callback every engine calls with the model of a step; it
keeps every scored completion (``samples.jsonl``).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from verl_ext.demo.problems import Problem
from verl_ext.demo.warmup import prompt_text
from verl_ext.rewards.answer import answer_region, extract_answer, printable
from verl_ext.rewards.presets import score_response, text_preset_names

DATA_SOURCE = "DEMO"
MEASURED_ONLY = "format"
"""The preset whose signals (answer, format, correctness) a held-out row gets when the run's reward cannot score one
greedy completion alone: a group-level reward needs the n samples of a prompt, a log-probability one the sampling
log-probs. Such rows carry ``score`` None and the evaluation logs no ``reward/mean@1``."""
_INTEGER = re.compile(r"-?\d+")


def latent_answer(text: str) -> str | None:
    """The answer ``text`` gives in any form: its last boxed answer, else its last integer (None when it has neither)."""
    boxed = extract_answer(text)
    if boxed is not None:
        return boxed.strip()
    numbers = _INTEGER.findall(answer_region(text))
    return numbers[-1] if numbers else None


def latent_correct(text: str, ground_truth: str) -> bool:
    """``latent_answer(text)`` is the integer ``ground_truth`` (compared as integers; a non-integer answer is wrong)."""
    answer = latent_answer(text)
    if answer is None or not _INTEGER.fullmatch(answer) or not _INTEGER.fullmatch(ground_truth.strip()):
        return False
    return int(answer) == int(ground_truth.strip())


def generate_greedy(
    model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int = 128
) -> list[tuple[str, int]]:
    """``(text, token count)`` of the greedy completion of each prompt; the count includes EOS as in training."""
    import torch

    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    results: list[tuple[str, int]] = []
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(
                prompts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            )
            with torch.no_grad():
                out = model.generate(
                    **batch,
                    do_sample=False,
                    max_new_tokens=max_new_tokens,
                    eos_token_id=eos,
                    pad_token_id=pad,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                )
            for row in out[:, batch["input_ids"].shape[1] :].tolist():
                count = row.index(eos) + 1 if eos in row else len(row)
                results.append((tokenizer.decode(row[:count], skip_special_tokens=True), count))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return results


def score_samples(
    model, tokenizer, problems: list[Problem], preset: str, max_new_tokens: int, peak: float = 0.5
) -> list[dict[str, Any]]:
    """One row per problem: its greedy completion, token count, extracted answer, format, correctness and score."""
    outputs = generate_greedy(model, tokenizer, [prompt_text(p) for p in problems], max_new_tokens)
    rows: list[dict[str, Any]] = []
    rng = random.Random(0)  # the ``random`` control: the same draws at every evaluation
    scored_by_text = preset in text_preset_names()
    for problem, (text, tokens) in zip(problems, outputs):
        scored = score_response(
            preset if scored_by_text else MEASURED_ONLY,
            text,
            response_tokens=tokens,
            max_response_tokens=max_new_tokens,
            ground_truth=problem.answer,
            peak=peak,
            rng=rng,
        )
        rows.append(
            {
                "id": problem.id,
                "problem": problem.problem,
                "answer": problem.answer,
                "completion": text,
                "tokens": tokens,
                "pred": printable(scored.signals.pred),
                "format": scored.signals.format,
                "correct": scored.signals.correct or 0.0,
                "latent": latent_answer(text),
                "latent_correct": float(latent_correct(text, problem.answer)),
                "score": scored.score if scored_by_text else None,
            }
        )
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    """veRL-named validation metrics of scored rows: acc (boxed), latent_acc, format, reward (the preset's score), length."""
    count = max(1, len(rows))

    def mean(key: str) -> float:
        return sum(float(r[key]) for r in rows) / count

    prefix = f"val-core/{DATA_SOURCE}"
    aux = f"val-aux/{DATA_SOURCE}"
    metrics = {
        f"{prefix}/acc/mean@1": mean("correct"),
        f"{aux}/latent_acc/mean@1": mean("latent_correct"),
        f"{aux}/format/mean@1": mean("format"),
        f"{aux}/reward/mean@1": mean("score") if all(r["score"] is not None for r in rows) else None,
        f"{aux}/response_length/mean@1": mean("tokens"),
    }
    return {name: value for name, value in metrics.items() if value is not None}


def distinct_answers(rows: list[dict[str, Any]]) -> int:
    """How many different boxed answers the rows give (no answer not counted): a collapse to one
    constant answer, whatever the problem, is the tell-tale of a hacked surrogate reward."""
    return len({row["pred"] for row in rows if row["format"]})


class HeldOutEvaluation:
    """``evaluation(model, step)``: the veRL-named metrics (``summarize``) of the greedy completions of ``problems``,
    scored by ``preset``; every row is appended to ``samples_path`` (emptied here) with its step and kept in
    ``samples[step]``."""

    def __init__(
        self,
        tokenizer,
        problems: list[Problem],
        preset: str,
        max_new_tokens: int,
        peak: float,
        samples_path: Path,
    ) -> None:
        self.tokenizer = tokenizer
        self.problems = problems
        self.preset = preset
        self.max_new_tokens = max_new_tokens
        self.peak = peak
        self.samples_path = Path(samples_path)
        self.samples_path.write_text("", encoding="utf-8")
        self.samples: dict[int, list[dict[str, Any]]] = {}

    def __call__(self, model, step: int) -> dict[str, float]:
        rows = score_samples(model, self.tokenizer, self.problems, self.preset, self.max_new_tokens, self.peak)
        self.samples[step] = rows
        with open(self.samples_path, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"step": step, **row}, ensure_ascii=False) + "\n" for row in rows)
        return summarize(rows)
