"""Answer extraction: the content of the last ``\\boxed{...}`` of a response.

Contract (the paper's release):
- only the text after the last ``</think>`` is searched (the whole response when there is none);
- only the LAST ``\\boxed`` counts; it must be followed directly by ``{`` and the braces must balance;
- otherwise there is no answer (``None``). ``\\fbox`` is not an answer box.
"""

from __future__ import annotations

import re

THINK_END = "</think>"
BOX = "\\boxed"
_BRACE = re.compile(r"[{}]")


def answer_region(response: str) -> str:
    """The part of ``response`` an answer is looked for in: everything after the last ``</think>``."""
    cut = response.rfind(THINK_END)
    return response if cut < 0 else response[cut + len(THINK_END) :]


def extract_answer(response: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (balanced braces), or None when there is no well-formed box.

    An empty box gives ``""`` (an answer that is present but empty). Same result as searching
    ``answer_region(response)``, without scanning the whole response for ``</think>``: the last box
    counts only if no ``</think>`` follows it.
    """
    start = response.rfind(BOX)
    if start < 0 or response.find(THINK_END, start) >= 0:
        return None
    open_at = start + len(BOX)
    if open_at >= len(response) or response[open_at] != "{":
        return None
    depth = 0
    for match in _BRACE.finditer(response, open_at):
        depth += 1 if match.group() == "{" else -1
        if depth == 0:
            return response[open_at + 1 : match.start()]
    return None


def printable(text: str | None) -> str:
    """``text`` made safe for JSON/Arrow writers: lone surrogates become U+FFFD; None becomes ""."""
    if text is None:
        return ""
    return text.encode("utf-8", "replace").decode("utf-8")
