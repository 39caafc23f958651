"""`verl-ext score --reward` offers the registry's presets (random included), read from the registry itself, and the
random control is reproducible: a record's draw depends on the seed and its position only."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from verl_ext.cli import build_parser, main
from verl_ext.rewards.registry import PRESETS, SAMPLE, RewardPreset


def _reward_choices(parser: argparse.ArgumentParser, command: str) -> list[str]:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    (reward,) = [a for a in subparsers.choices[command]._actions if "--reward" in a.option_strings]
    return list(reward.choices)


def test_score_offers_random_the_control_the_demo_and_the_recipe_offer():
    assert "random" in _reward_choices(build_parser(), "score")


@pytest.mark.parametrize("command", ["score", "demo"])
def test_a_preset_added_to_the_registry_is_offered_by_every_front_end(command, monkeypatch):
    added = RewardPreset("test_only_constant", "1", SAMPLE, combine=lambda s: 1.0)
    monkeypatch.setitem(PRESETS, added.name, added)
    choices = _reward_choices(build_parser(), command)
    assert added.name in choices
    assert set(choices) == set(PRESETS)


def _responses(path: Path, count: int) -> Path:
    path.write_text(
        "".join(json.dumps({"response": f"so \\boxed{{{i}}}"}) + "\n" for i in range(count)), encoding="utf-8"
    )
    return path


def _scores(inputs: Path, out: Path, *args: str) -> list[float]:
    assert main(["score", str(inputs), "-o", str(out), "--reward", "random", "--quiet", *args]) == 0
    return [json.loads(line)["score"] for line in out.read_text(encoding="utf-8").splitlines()]


def test_random_scores_are_fair_coin_flips_fixed_by_seed_and_position(tmp_path):
    inputs = _responses(tmp_path / "responses.jsonl", 200)
    first = _scores(inputs, tmp_path / "a.jsonl", "--seed", "7")
    assert set(first) == {0.0, 1.0}
    assert 0.35 <= sum(first) / len(first) <= 0.65  # Bernoulli(1/2): 200 draws, 4+ standard deviations of slack
    assert _scores(inputs, tmp_path / "b.jsonl", "--seed", "7") == first
    assert _scores(inputs, tmp_path / "c.jsonl", "--seed", "8") != first
    # a draw belongs to a position: a record appended leaves the others' draws as they were, as does a process pool
    longer = _responses(tmp_path / "longer.jsonl", 201)
    assert _scores(longer, tmp_path / "d.jsonl", "--seed", "7")[:200] == first
    assert _scores(inputs, tmp_path / "e.jsonl", "--seed", "7", "--workers", "2") == first
