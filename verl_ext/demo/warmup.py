"""The warm-up: a few supervised steps so that the tiny model writes solutions at all.

The untrained model writes noise, so there would be nothing for GRPO to reinforce. The warm-up
teaches it to answer in the demo's style, from templated solutions of the training problems
(``templated_completion``). Only a minority of those templates box the answer
(``boxed_share``, default 1/4); the others end in a plain sentence. The warmed-up model is thus
like a base model that follows the answer format only sometimes: the room the format reward has
to act on. Half the templates show the worked steps, half only the answer sentence, so lengths
vary too.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from verl_ext.demo.problems import Problem

PROMPT = "Problem: {problem}\nSolution:"
BOXED_ENDING = "The answer is \\boxed{{{answer}}}."
PLAIN_ENDINGS = ("The answer is {answer}.", "So the result is {answer}.")


def prompt_text(problem: Problem) -> str:
    """The prompt the model completes (plain text: no chat template, so any causal LM can take it)."""
    return PROMPT.format(problem=problem.problem)


def templated_completion(
    problem: Problem,
    rng: random.Random,
    boxed_share: float = 0.25,
    steps_share: float = 0.5,
    slip_share: float = 0.0,
    slip_spread: int = 0,
) -> str:
    """One warm-up completion: optional worked steps, then a boxed (share ``boxed_share``) or plain ending.

    With ``slip_share`` > 0, that share of completions slips at the last step: the worked steps stay right, the
    answer of the ending is off by a nonzero offset of at most ``slip_spread`` (``slipped_answer``). Its draws
    come after the others, so a recipe without slips gives the completions it gave before."""
    ending = BOXED_ENDING if rng.random() < boxed_share else rng.choice(PLAIN_ENDINGS)
    body = f"{problem.steps} " if rng.random() < steps_share else ""
    answer = problem.answer
    if slip_share > 0 and rng.random() < slip_share:
        answer = slipped_answer(problem, rng.choice(slip_offsets(slip_spread)))
    return " " + body + ending.format(answer=answer)


def slip_offsets(spread: int) -> list[int]:
    """The offsets a slipped answer draws from, uniformly: every nonzero integer in ``[-spread, spread]``."""
    if spread < 1:
        raise ValueError(f"slip_spread must be >= 1 when slip_share > 0, got {spread}")
    return [offset for offset in range(-spread, spread + 1) if offset]


def slipped_answer(problem: Problem, offset: int) -> str:
    """The integer answer moved by ``offset`` (ValueError naming the problem for a non-integer answer)."""
    if not re.fullmatch(r"-?\d+", problem.answer):
        raise ValueError(f"problem {problem.id}: a slipped answer needs an integer answer, got {problem.answer!r}")
    return str(int(problem.answer) + offset)


def tokenizer_corpus(problems: list[Problem]) -> list[str]:
    """Texts the tiny tokenizer is trained on: every prompt with every kind of ending."""
    texts = []
    for p in problems:
        endings = [BOXED_ENDING, *PLAIN_ENDINGS]
        texts.extend(prompt_text(p) + f" {p.steps} " + e.format(answer=p.answer) for e in endings)
    return texts


@dataclass(frozen=True)
class WarmupResult:
    steps: int
    first_loss: float
    last_loss: float
    seconds: float


def warm_up(
    model,
    tokenizer,
    problems: list[Problem],
    *,
    steps: int,
    seed: int,
    batch_size: int = 32,
    lr: float = 3e-3,
    boxed_share: float = 0.25,
    steps_share: float = 0.5,
    slip_share: float = 0.0,
    slip_spread: int = 0,
    progress: bool = True,
) -> WarmupResult:
    """Supervised fine-tuning on templated solutions, in place; loss on completion tokens only.

    AdamW with linear warm-up over the first 5% of steps and cosine decay. Deterministic for a
    given ``seed`` (templates, batches and dropout all drawn from it). ``slip_share`` and ``slip_spread``: the
    solutions' slipped answers (``templated_completion``), from the first step on.
    """
    import time

    import torch

    start = time.perf_counter()
    if steps <= 0:
        return WarmupResult(0, math.nan, math.nan, 0.0)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    eos = tokenizer.eos_token or ""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    ramp = max(1, steps // 20)

    def schedule(step: int) -> float:
        if step < ramp:
            return (step + 1) / ramp
        return 0.5 * (1.0 + math.cos(math.pi * (step - ramp) / max(1, steps - ramp)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    bar = _bar(steps, "warm-up", progress)
    first = last = math.nan
    for step in range(steps):
        batch = [rng.choice(problems) for _ in range(batch_size)]
        prompts = [prompt_text(p) for p in batch]
        completions = [
            templated_completion(p, rng, boxed_share, steps_share, slip_share, slip_spread) + eos for p in batch
        ]
        input_ids, labels, mask = _encode(tokenizer, prompts, completions)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        last = loss.item()
        first = last if step == 0 else first
        bar.update(1)
        if step % 10 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{last:.3f}", refresh=False)
    bar.close()
    model.eval()
    return WarmupResult(steps, first, last, time.perf_counter() - start)


def _encode(tokenizer, prompts: list[str], completions: list[str]):
    """Right-padded ids, labels (-100 on prompt and padding) and attention mask."""
    import torch

    rows, prompt_lengths = [], []
    for prompt, completion in zip(prompts, completions, strict=True):
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        rows.append(prompt_ids + completion_ids)
        prompt_lengths.append(len(prompt_ids))
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, cut) in enumerate(zip(rows, prompt_lengths, strict=True)):
        input_ids[i, : len(row)] = torch.tensor(row)
        labels[i, cut : len(row)] = torch.tensor(row[cut:])
        mask[i, : len(row)] = 1
    return input_ids, labels, mask


def _bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, dynamic_ncols=True)
