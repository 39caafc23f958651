"""The smoke report's expectations: the score range of each reward is the extremes its registered formula reaches
(derived here by evaluating the rewards over their inputs, not restated), and each validation figure is printed
beside its benchmark's problem count in the run's validation draw."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import pytest

from verl_ext.rewards.equivalence import AnswerClusters
from verl_ext.rewards.length import length_reward
from verl_ext.rewards.registry import get_preset, preset_names
from verl_ext.rewards.signals import GroupSignals, Signals
from verl_ext.verl.smoke_report import SCORE_RANGES, draw_counts, report

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "release_data" / "datasets"
MAX_TOKENS = 512  # the smoke run's max_response_length
LOGPROBS = (-1000.0, -1.0, 0.0)  # mean (and summed) token log-probability: any value <= 0 (exp(-1000) is 0.0)
ENTROPIES = (0.0, 1.0, 50.0)  # mean token entropy: any value >= 0
CERTAINTIES = (0.0, 1.0, 50.0)  # mean self-certainty logsumexp(z) - mean(z): any value >= 0


def sample_values(name: str) -> list[float]:
    """The preset's reward over every format verdict, every response length up to the budget (peak 0.5: L takes
    0, 1 and -1 on this grid), both correctness verdicts, a range of each per-token reduction and random draws."""
    preset = get_preset(name)
    values = []
    for fmt, tokens, correct, (logprob, entropy, certainty), seed in itertools.product(
        (0.0, 1.0), range(MAX_TOKENS + 1), (0.0, 1.0), zip(LOGPROBS, ENTROPIES, CERTAINTIES), range(4)
    ):
        signals = Signals(
            pred="1",
            format=fmt,
            format_budget_exceeded=False,
            length_reward=length_reward(tokens, MAX_TOKENS),
            response_tokens=tokens,
            truncated=tokens >= MAX_TOKENS,
            correct=correct,
            mean_logprob=logprob,
            sum_logprob=logprob,
            mean_entropy=entropy,
            mean_self_certainty=certainty,
        )
        args = (signals, random.Random(seed)) if preset.uses_rng else (signals,)
        values.append(preset.combine(*args))
    return values


def group_values(name: str, n: int = 4) -> list[float]:
    """The preset's rewards over every clustering of a group of n answers (None: no answer) and every format."""
    rule = get_preset(name).group_rule
    values = []
    for raw in itertools.product([None, *range(n)], repeat=n):
        order = list(dict.fromkeys(label for label in raw if label is not None))
        labels = tuple(None if label is None else order.index(label) for label in raw)
        sizes = tuple(labels.count(cluster) for cluster in range(len(order)))
        for formats in itertools.product((0.0, 1.0), repeat=n):
            samples = tuple(
                Signals(
                    pred=None if label is None else str(label),
                    format=fmt,
                    format_budget_exceeded=False,
                    length_reward=None,
                    response_tokens=None,
                    truncated=None,
                    correct=None,
                )
                for label, fmt in zip(labels, formats, strict=True)
            )
            values += rule(GroupSignals(samples, AnswerClusters(labels, sizes)))
    return values


def test_every_registered_reward_has_a_score_range() -> None:
    assert sorted(SCORE_RANGES) == preset_names()


@pytest.mark.parametrize("name", preset_names())
def test_each_rewards_score_range_is_the_extremes_its_formula_reaches(name: str) -> None:
    values = group_values(name) if get_preset(name).is_group else sample_values(name)
    low, high, _ = SCORE_RANGES[name]
    # unbounded: the reward follows its per-token reduction (the grid's extremes: -50 or 50 here) beyond any bound
    assert max(values) == high if math.isfinite(high) else max(values) >= 50.0
    assert min(values) == low if math.isfinite(low) else min(values) <= -50.0


def test_format_length_reaches_minus_one_on_a_truncated_unformatted_response() -> None:
    """The issue's case: length_reward(512, 512) = -1, so an unformatted response that rambles to the cap scores -1."""
    assert length_reward(512, 512) == -1.0
    assert SCORE_RANGES["format_length"][:2] == (-1.0, 1.5)


# ---------------------------------------------------------------- the report
TRAIN = {
    "critic/score/mean": -0.6,  # a rambling base model under format_length: negative, and healthy
    "diagnostics/format_rate": 0.2,
    "response_length/mean": 400.0,
    "response_length/clip_ratio": 0.3,
    "actor/kl_loss": 0.0004,
    "actor/entropy": 0.9,
    "actor/grad_norm": 0.4,
    "timing_s/step": 40.0,
}
VAL = {"val-core/MATH500/acc/mean@1": 0.25, "val-core/AIME2024/acc/mean@1": 0.0, "val-core/AMC2023/acc/mean@1": 0.1}


def smoke_run(tmp_path: Path, train: dict, with_config: bool = True) -> tuple[Path, Path]:
    checkpoints = tmp_path / "ck"
    (checkpoints / "global_step_2").mkdir(parents=True)
    log = tmp_path / "s.jsonl"
    rows = {0: VAL, 1: train, 2: {**train, **VAL}}
    log.write_text("".join(json.dumps({"step": step, "data": data}) + "\n" for step, data in rows.items()))
    if with_config:
        # what Hydra saves for a smoke run (the launcher's val_files, the smoke scale's val_max_samples, data.seed)
        hydra = checkpoints / "hydra" / "2026-01-01_00-00-00" / ".hydra"
        hydra.mkdir(parents=True)
        files = [str(DATA_DIR / f"{name}.parquet") for name in ("aime2024", "amc2023", "math500")]
        hydra.joinpath("config.yaml").write_text(
            "data:\n  val_files:\n"
            + "".join(f"  - {file}\n" for file in files)
            + "  val_max_samples: 64\n  shuffle: true\n  seed: 1\n"
        )
    return log, checkpoints


def test_a_negative_format_length_score_is_in_range_and_a_format_score_above_half_is_not(tmp_path: Path) -> None:
    log, checkpoints = smoke_run(tmp_path, TRAIN)
    text, status = report(log, checkpoints, 0, 400, reward="format_length")
    assert status == 0 and "0 figure(s) to look at" in text, text
    assert "[-1, 1.5] the reward: format_length" in text
    log, checkpoints = smoke_run(tmp_path / "b", {**TRAIN, "critic/score/mean": 0.7})
    text, _ = report(log, checkpoints, 0, 400, reward="format")
    assert "check  critic/score/mean = 0.7 at step 1, outside [0, 0.5]" in text


def test_each_validation_figure_stands_beside_its_problem_count_in_the_draw(tmp_path: Path) -> None:
    """The issue counted 3 AIME problems in the smoke run's 64-problem draw (data.seed 1)."""
    log, checkpoints = smoke_run(tmp_path, TRAIN)
    text, _ = report(log, checkpoints, 0, 400)
    aime = next(line for line in text.splitlines() if line.startswith("val-core/AIME2024/acc/mean@1"))
    assert aime.endswith("3 problem(s) in the draw: one problem moves it by 0.333")
    assert "64 problems drawn in all" in text


def test_without_the_runs_config_the_counts_are_said_to_be_unknown(tmp_path: Path) -> None:
    log, checkpoints = smoke_run(tmp_path, TRAIN, with_config=False)
    text, status = report(log, checkpoints, 0, 400)
    assert status == 0 and "problems in the draw unknown" in text


def test_the_draw_is_the_first_rows_without_shuffling_and_everything_under_the_limit() -> None:
    sources = ["A"] * 3 + ["B"] * 5
    assert draw_counts(sources, 4, shuffle=False, seed=None) == {"A": 3, "B": 1}
    assert draw_counts(sources, -1, shuffle=True, seed=1) == {"A": 3, "B": 5}
    assert sum(draw_counts(sources, 6, shuffle=True, seed=1).values()) == 6
