"""Correctness reward: C = 1 when the last boxed answer is mathematically equivalent to the ground truth.

Equivalence is math-verify's (``parse`` + ``verify``), never a hand-rolled checker. math-verify's own
timeouts use ``signal.alarm`` (main thread only), so they are switched off and the check runs in an
``IsolatedCaller`` child process instead, under ``DEFAULT_TIMEOUT_S`` seconds of the child's CPU time
(not wall time: load never turns a right answer into a timeout) and a memory limit: it is bounded in
any thread (veRL runs reward code in executor threads). A timeout or an error scores C = 0 and is
reported in ``CorrectnessCheck`` (never a silent 0); a child that cannot start raises
``WorkerStartError`` (the presets decide: a monitoring check must not change a label-free reward). Plain integers on
both sides ("142" or "142.0") are compared in-process: the common case (AIME, AMC) needs no child process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.isolation import IsolatedCaller, shared_caller

DEFAULT_TIMEOUT_S = 1.0
_INTEGRAL_DECIMAL = re.compile(r"[-+]?[0-9]{1,30}(\.0*)?")
_BOX = "\\boxed"


@dataclass(frozen=True)
class CorrectnessCheck:
    """``correct``: the verdict; ``timed_out``/``error``: why a 0 may not be a real "wrong"."""

    correct: bool
    timed_out: bool = False
    error: str | None = None

    @property
    def reward(self) -> float:
        return 1.0 if self.correct else 0.0


_TRAILING_PERCENT = re.compile(r"\\?%\s*$")


def _as_boxed(text: str) -> str:
    """Wrap an answer in a box for math-verify; a trailing percent sign is dropped ("10\\%" is 10)."""
    text = _TRAILING_PERCENT.sub("", text)
    return text if _BOX in text else f"{_BOX}{{{text}}}"


def math_verify_equivalent(answer: str, ground_truth: str) -> bool:
    """math-verify's verdict, unbounded: call it only inside an isolated child (or the main thread)."""
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns that its timeouts are off: we bound it
    gold = parse(_as_boxed(ground_truth), parsing_timeout=None)
    if not gold:
        raise ValueError(f"math-verify cannot parse the ground truth {ground_truth!r}")
    predicted = parse(_as_boxed(answer), parsing_timeout=None)
    return bool(verify(gold, predicted, timeout_seconds=None))


_callers: dict = {}  # isolation.shared_caller's pools of this module


def _caller(timeout_s: float) -> IsolatedCaller:
    """This process's pool of checker children under ``timeout_s``."""
    return shared_caller(
        _callers, f"{__name__}:math_verify_equivalent", timeout_s, warm_up_args=("\\frac{1}{2}", "0.5")
    )


def _as_integer(text: str) -> int | None:
    """The integer a plain integral literal ("142", "-7", "142.0") denotes; None for anything else."""
    text = text.strip()
    if not _INTEGRAL_DECIMAL.fullmatch(text):
        return None
    return int(text.split(".")[0])


def check_answer_correct(
    answer: str | None, ground_truth: str, timeout_s: float = DEFAULT_TIMEOUT_S
) -> CorrectnessCheck:
    """Is the extracted ``answer`` equivalent to ``ground_truth``? Bounded by ``timeout_s``."""
    ground_truth = str(ground_truth).strip()
    if not ground_truth:
        return CorrectnessCheck(correct=False, error="empty ground truth")
    if answer is None or not answer.strip():
        return CorrectnessCheck(correct=False)
    integer_answer, integer_truth = _as_integer(answer), _as_integer(ground_truth)
    if integer_answer is not None and integer_truth is not None:
        return CorrectnessCheck(correct=integer_answer == integer_truth)
    result = _caller(timeout_s).call(answer, ground_truth)
    if result.status == "ok":
        return CorrectnessCheck(correct=bool(result.value))
    return CorrectnessCheck(correct=False, timed_out=result.status == "timeout", error=result.message)


def check_correct(response: str, ground_truth: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> CorrectnessCheck:
    """Extract the last boxed answer of ``response`` and check it against ``ground_truth``."""
    return check_answer_correct(extract_answer(response), ground_truth, timeout_s)


def correctness_reward(response: str, ground_truth: str) -> float:
    """C in {0, 1}: 1 when the response's last boxed answer is equivalent to ``ground_truth``."""
    return check_correct(response, ground_truth).reward
