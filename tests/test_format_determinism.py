"""Every answer gets the same format verdict in every process, whatever sympy's cache holds (issue 10, item 3).

Fresh interpreters, each with its own hash seed, check the answers after different histories: right
after start-up, after a shuffled run over the release's other answers, after clearing sympy's cache,
and with sympy's cache switched off. Expected verdicts come from outside our code: the release's own
labels for real outputs, and for ``-\\frac{\\cos(\\pi/15)}{8}`` the verdict of sympy's ``parse_expr``,
which returns ``-cos(pi/15)/8`` for it (the paper's check says F = 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

COS_ANSWER = "-\\frac{\\cos \\left( \\frac{\\pi}{15} \\right)}{8}"
RUNS = 12

CHECK = r"""
import json, random, sys
seed, history, panel = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
from verl_ext.rewards.format import check_answer_format
rng = random.Random(seed)
mode = seed % 4
if mode in (1, 2):  # a history of other answers first, in a different order each time
    rng.shuffle(history)
    for answer in history[: 50 + 40 * seed]:
        check_answer_format(answer)
if mode == 2:
    import sympy
    sympy.core.cache.clear_cache()
verdicts = [check_answer_format(answer).well_formed for answer in (panel[::-1] if seed % 2 else panel)]
print(json.dumps(verdicts[::-1] if seed % 2 else verdicts))
"""


def _panel(labelled_outputs) -> tuple[list[str], list[bool], list[str]]:
    """Labelled real answers other than plain numbers (normalised, most through sympy's translation or a
    shortcut checked against it), with the release's verdicts; and every labelled answer (the history)."""
    from verl_ext.rewards import extract_answer
    from verl_ext.rewards.format import _PLAIN_NUMBER

    answers: dict[str, bool] = {}
    history: set[str] = set()
    for label, item in labelled_outputs:
        answer = extract_answer(item["response"])
        if not answer:
            continue
        history.add(answer)
        if not _PLAIN_NUMBER.fullmatch(answer):
            answers[answer] = label["format"] == 1.0
    panel = sorted(answers)
    return panel, [answers[a] for a in panel], sorted(history)


def test_same_verdicts_in_fresh_interpreters_whatever_the_cache_state(labelled_outputs):
    panel, expected, history = _panel(labelled_outputs)
    assert len(panel) > 100 and True in expected and False in expected
    panel, expected = [COS_ANSWER, *panel], [True, *expected]

    def run(seed: int) -> list[bool]:
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        if seed % 4 == 3:
            env["SYMPY_USE_CACHE"] = "no"
        done = subprocess.run(
            [sys.executable, "-c", CHECK, str(seed), json.dumps(history), json.dumps(panel)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)

    with ThreadPoolExecutor(2) as pool:
        verdicts = list(pool.map(run, range(RUNS)))
    for seed, run_verdicts in enumerate(verdicts):
        wrong = [(a, got) for a, got, want in zip(panel, run_verdicts, expected) if got != want]
        assert wrong == [], f"run {seed}: {wrong}"


@pytest.mark.parametrize("clear_cache_first", [False, True])
def test_cos_pi_over_15_is_well_formed_in_this_process(clear_cache_first):
    import sympy

    from verl_ext.rewards import format as format_module

    format_module._check_answer.cache_clear()
    if clear_cache_first:
        sympy.core.cache.clear_cache()
    check = format_module.check_answer_format(COS_ANSWER)
    assert check.well_formed and not check.budget_exceeded
