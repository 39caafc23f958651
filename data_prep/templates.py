"""Prompt templates: problem text <-> chat messages.

``qwen_boxed`` (the paper's): system instruction + user problem.
``plain_boxed``: one user turn, problem + newline + the same instruction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
PLAIN_SEPARATOR = "\n"

Messages = list[dict[str, str]]


def qwen_boxed(problem: str) -> Messages:
    """The paper's template: system instruction, then the problem as the user turn."""
    return [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": problem}]


def plain_boxed(problem: str) -> Messages:
    """A single user turn: the problem, a newline, the instruction."""
    return [{"role": "user", "content": problem + PLAIN_SEPARATOR + INSTRUCTION}]


TEMPLATES: dict[str, Callable[[str], Messages]] = {"qwen_boxed": qwen_boxed, "plain_boxed": plain_boxed}
DEFAULT_TEMPLATE = "qwen_boxed"


def problem_from_messages(messages: Any) -> str | None:
    """Inverse of every template: the problem text, or None for any other message layout."""
    try:
        msgs = [(str(m["role"]), str(m["content"])) for m in list(messages)]
    except (TypeError, KeyError):
        return None
    if len(msgs) == 2 and msgs[0] == ("system", INSTRUCTION) and msgs[1][0] == "user":
        return msgs[1][1]
    suffix = PLAIN_SEPARATOR + INSTRUCTION
    if len(msgs) == 1 and msgs[0][0] == "user" and msgs[0][1].endswith(suffix):
        return msgs[0][1][: -len(suffix)]
    return None
