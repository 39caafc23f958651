"""Held-out evaluation of the demo model: greedy answers to the test problems, scored by the preset.

Scores go through ``score_response`` (the same function the trainers use); accuracy compares with
the ground truths (monitoring only); group-level and log-probability rewards give no held-out score (one greedy
completion per problem has no group and no sampling log-probs: ``MEASURED_ONLY``). Two accuracies per completion:

- **boxed** (``correct``, the paper's metric): the last ``\\boxed{}`` equals the ground truth (math-verify
  through ``verl_ext.rewards``);
- **latent** (``latent_correct``): the answer the completion gives in any form, the boxed one when there
  is one, else the last integer of the text (``So the result is 18.``), equals the ground truth. It
  measures what the model can do whatever its answering habit.

With ``sampled`` = k, each evaluation also samples k completions per problem at the training temperature
(``score_sampled``, ``summarize_sampled``): mean@k (sampled boxed accuracy), maj@k (the majority answer's
correctness, answers clustered by equivalence), distinct answers per problem and the collapse monitors of each
problem's k samples. Metric names follow veRL's validation metrics for the data source ``DEMO``: greedy ones end
``mean@1``, sampled ones ``mean@k`` and ``maj@k/mean``; ``verl-ext table`` and ``verl-ext plot`` read the largest
k, i.e. the sampled accuracy when there is one (``--eval-samples 0``: the greedy ``val-core/DEMO/acc/mean@1``).

Stage 4 of the demo: ``HeldOutEvaluation`` is the callback every engine calls with the model of a step; it
keeps every scored completion (``samples.jsonl``).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from verl_ext.core import score_response
from verl_ext.demo.problems import Problem
from verl_ext.demo.warmup import prompt_text
from verl_ext.rewards.answer import answer_region, extract_answer, printable
from verl_ext.rewards.registry import text_preset_names

DATA_SOURCE = "DEMO"
MEASURED_ONLY = "format"
"""The preset whose signals (answer, format, correctness) a held-out row gets when the run's reward cannot score one
greedy completion alone: a group-level reward needs the n samples of a prompt, a log-probability one the sampling
log-probs. Such rows carry ``score`` None and the evaluation logs no ``reward/mean@1``."""
_INTEGER = re.compile(r"-?\d+")


def latent_answer(text: str) -> str | None:
    """The answer ``text`` gives in any form: its last boxed answer, else its last integer (None when it has
    neither)."""
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


def _completions(
    model, tokenizer, prompts: list[str], per_prompt: int, batch_size: int, **generate_options: Any
) -> list[list[tuple[str, int]]]:
    """``per_prompt`` completions of each prompt, ``(text, token count)``, the count including EOS as in training:
    ``model.generate`` on ``batch_size`` left-padded prompts at a time, in eval mode (the caller's mode and the
    tokenizer's padding side restored after), with ``generate_options``."""
    import torch

    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    results: list[list[tuple[str, int]]] = []
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
                    num_return_sequences=per_prompt,
                    eos_token_id=eos,
                    pad_token_id=pad,
                    **generate_options,
                )
            rows = out[:, batch["input_ids"].shape[1] :].tolist()
            for first in range(0, len(rows), per_prompt):  # generate returns each prompt's completions together
                group = []
                for row in rows[first : first + per_prompt]:
                    count = row.index(eos) + 1 if eos in row else len(row)
                    group.append((tokenizer.decode(row[:count], skip_special_tokens=True), count))
                results.append(group)
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return results


def generate_greedy(
    model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int = 128
) -> list[tuple[str, int]]:
    """``(text, token count)`` of the greedy completion of each prompt; the count includes EOS as in training."""
    options = {"do_sample": False, "max_new_tokens": max_new_tokens, "temperature": None, "top_p": None, "top_k": None}
    return [only for (only,) in _completions(model, tokenizer, prompts, 1, batch_size, **options)]


def generate_sampled(
    model,
    tokenizer,
    prompts: list[str],
    samples: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    batch_size: int = 512,
) -> list[list[tuple[str, int]]]:
    """``samples`` sampled completions of each prompt, ``(text, token count)`` as ``generate_greedy``: plain
    temperature sampling (no top-k, no top-p: TRL's GRPO defaults), drawn from ``seed`` inside a forked torch RNG so
    that the caller's random state (the training run's) is left as it was."""
    import torch

    options = {
        "do_sample": True,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_k": 0,
        "top_p": 1.0,
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _completions(model, tokenizer, prompts, samples, max(1, batch_size // samples), **options)


def score_samples(
    model, tokenizer, problems: list[Problem], preset: str, max_new_tokens: int, peak: float = 0.5
) -> list[dict[str, Any]]:
    """One row per problem: its greedy completion, token count, extracted answer, format, correctness and score."""
    outputs = generate_greedy(model, tokenizer, [prompt_text(p) for p in problems], max_new_tokens)
    rows: list[dict[str, Any]] = []
    rng = random.Random(0)  # the ``random`` control: the same draws at every evaluation
    scored_by_text = preset in text_preset_names()
    for problem, (text, tokens) in zip(problems, outputs, strict=True):
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
    """veRL-named validation metrics of scored rows: acc (boxed), latent_acc, format, reward (the preset's score),
    length."""
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


def score_sampled(
    model,
    tokenizer,
    problems: list[Problem],
    samples: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
) -> list[list[dict[str, Any]]]:
    """Per problem, its ``samples`` sampled completions (``generate_sampled``), one row each: sample index,
    completion, token count, boxed answer (``pred``, "" for none), format, correctness, latent answer and its
    correctness. Scored for the signals only (``MEASURED_ONLY``): no held-out reward is given to a sample."""
    outputs = generate_sampled(
        model, tokenizer, [prompt_text(p) for p in problems], samples, max_new_tokens, temperature, seed
    )
    groups = []
    for problem, group in zip(problems, outputs, strict=True):
        rows = []
        for index, (text, tokens) in enumerate(group):
            scored = score_response(
                MEASURED_ONLY,
                text,
                response_tokens=tokens,
                max_response_tokens=max_new_tokens,
                ground_truth=problem.answer,
            )
            rows.append(
                {
                    "id": problem.id,
                    "sample": index,
                    "completion": text,
                    "tokens": tokens,
                    "pred": printable(scored.signals.pred),
                    "format": scored.signals.format,
                    "correct": scored.signals.correct or 0.0,
                    "latent": latent_answer(text),
                    "latent_correct": float(latent_correct(text, problem.answer)),
                }
            )
        groups.append(rows)
    return groups


def summarize_sampled(groups: list[list[dict[str, Any]]]) -> dict[str, float]:
    """veRL-named validation metrics of k sampled rows per problem (``score_sampled``), k = the group size:

    - ``val-core/DEMO/acc/mean@k``: sampled boxed accuracy (mean over problems of c_i / k);
    - ``val-core/DEMO/acc/maj@k/mean``: correctness of each problem's majority boxed answer, answers clustered by
      equivalence (``verl_ext.eval.metrics.sampled_metrics``: ties averaged, no boxed answer does not vote);
    - ``val-aux/DEMO/{latent_acc,format,response_length}/mean@k``: the same means of the latent accuracy, format
      and token count;
    - ``val-aux/DEMO/<monitor>/mean@k``: the collapse monitors of each problem's k samples (``verl_ext.collapse``:
      ``majority_ratio``, ``distinct_answers``, ``answer_entropy``, ``label_accuracy``), mean over problems."""
    from verl_ext.collapse import PREFIX as COLLAPSE_PREFIX
    from verl_ext.eval.metrics import sampled_metrics

    sizes = {len(rows) for rows in groups}
    if len(sizes) != 1:
        raise ValueError(f"every problem needs the same number of samples, got {sorted(sizes)}")
    k = sizes.pop()
    measured = sampled_metrics(
        [[row["pred"] or None for row in rows] for rows in groups],
        [[row["correct"] for row in rows] for rows in groups],
    )
    every = [row for rows in groups for row in rows]

    def mean(key: str) -> float:
        return sum(float(row[key]) for row in every) / len(every)

    prefix, aux = f"val-core/{DATA_SOURCE}", f"val-aux/{DATA_SOURCE}"
    metrics = {
        f"{prefix}/acc/mean@{k}": measured.mean_at_k,
        f"{prefix}/acc/maj@{k}/mean": measured.maj_at_k,
        f"{aux}/latent_acc/mean@{k}": mean("latent_correct"),
        f"{aux}/format/mean@{k}": mean("format"),
        f"{aux}/response_length/mean@{k}": mean("tokens"),
    }
    for name, value in measured.monitors.items():
        metrics[f"{aux}/{name.removeprefix(COLLAPSE_PREFIX)}/mean@{k}"] = value
    return metrics


def distinct_answers(rows: list[dict[str, Any]]) -> int:
    """How many different boxed answers the rows give (no answer not counted): a collapse to one
    constant answer, whatever the problem, is the tell-tale of a hacked surrogate reward."""
    return len({row["pred"] for row in rows if row["format"]})


class HeldOutEvaluation:
    """``evaluation(model, step)``: the veRL-named metrics (``summarize``) of the greedy completions of ``problems``,
    scored by ``preset``; every row is appended to ``samples_path`` (emptied here) with its step and kept in
    ``samples[step]``. With ``sampled`` = k (>= 2) and ``sampled_path``, also k completions per problem sampled at
    ``temperature`` from ``seed`` (the same draws at every step; the training run's random state untouched) and
    their metrics (``summarize_sampled``: mean@k, maj@k, distinct answers and the collapse monitors); their rows
    go to ``sampled_path`` (emptied here) with their step."""

    def __init__(
        self,
        tokenizer,
        problems: list[Problem],
        preset: str,
        max_new_tokens: int,
        peak: float,
        samples_path: Path,
        *,
        sampled: int = 0,
        temperature: float = 1.0,
        seed: int = 0,
        sampled_path: Path | None = None,
    ) -> None:
        if sampled and (sampled < 2 or sampled_path is None):
            raise ValueError(
                f"sampled evaluation needs >= 2 samples and a file for them, got {sampled}, {sampled_path}"
            )
        self.tokenizer = tokenizer
        self.problems = problems
        self.preset = preset
        self.max_new_tokens = max_new_tokens
        self.peak = peak
        self.samples_path = Path(samples_path)
        self.samples_path.write_text("", encoding="utf-8")
        self.samples: dict[int, list[dict[str, Any]]] = {}
        self.sampled = sampled
        self.temperature = temperature
        self.seed = seed
        self.sampled_path = None if sampled_path is None else Path(sampled_path)
        if self.sampled and self.sampled_path is not None:
            self.sampled_path.write_text("", encoding="utf-8")

    def __call__(self, model, step: int) -> dict[str, float]:
        rows = score_samples(model, self.tokenizer, self.problems, self.preset, self.max_new_tokens, self.peak)
        self.samples[step] = rows
        with open(self.samples_path, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"step": step, **row}, ensure_ascii=False) + "\n" for row in rows)
        metrics = summarize(rows)
        if self.sampled and self.sampled_path is not None:
            groups = score_sampled(
                model,
                self.tokenizer,
                self.problems,
                self.sampled,
                self.max_new_tokens,
                self.temperature,
                self.seed,
            )
            with open(self.sampled_path, "a", encoding="utf-8") as handle:
                handle.writelines(
                    json.dumps({"step": step, **row}, ensure_ascii=False) + "\n" for group in groups for row in group
                )
            metrics.update(summarize_sampled(groups))
        return metrics
