"""Turn a source's answer value (or reference solution) into a ground-truth string.

Pure functions. ``None`` means "no usable answer"; callers turn that into an ``Issue``.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``, or ``\\boxed x``) in ``text``.

    Braces are matched, so nested groups survive: ``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``.
    Returns None when there is no box or its braces never close.
    """
    start = max(text.rfind(cmd) for cmd in _BOX_COMMANDS)
    if start < 0:
        return None
    cmd = next(c for c in _BOX_COMMANDS if text.startswith(c, start))
    rest = text[start + len(cmd) :]
    if rest.startswith(" "):  # "\boxed 5" form: up to the next "$" or whitespace
        token = re.split(r"[\s$]", rest.lstrip(" "), maxsplit=1)[0]
        return token or None
    if not rest.startswith("{"):
        return None
    depth = 0
    for i, ch in enumerate(rest):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return rest[1:i]
    return None


def format_number(value: numbers.Number) -> str | None:
    """``142.0`` -> ``"142"``, ``0.5`` -> ``"0.5"``, ``7`` -> ``"7"``; None for NaN/inf/bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return str(int(value))
    as_float = float(value)  # type: ignore[arg-type]
    if not math.isfinite(as_float):
        return None
    if as_float.is_integer() and abs(as_float) < 1e16:
        return str(int(as_float))
    return repr(as_float)


def clean_answer_text(text: str) -> str:
    """Outer whitespace and, for a math-delimited answer (``$...$``), unescaped ``$`` signs removed."""
    text = text.strip()
    if _UNESCAPED_DOLLAR.match(text):
        text = _UNESCAPED_DOLLAR.sub("", text).strip()
    return text


def to_answers(value: Any) -> list[str] | None:
    """All acceptable answers a source value gives, first one primary.

    A string is kept verbatim, as the release did (``' \\$ 5'``, ``'$(-1030, -990)$'``); a number is
    formatted (``142.0`` -> ``142``); a non-empty list/tuple (Minerva, OlympiadBench) gives one
    ``clean_answer_text`` answer per item. Returns None when the value is missing, blank, or of
    another type.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return [value] if value.strip() else None
    if isinstance(value, numbers.Number):
        text = format_number(value)
        return [text] if text else None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        items = [to_answers(v) for v in list(value)]
        if not items or any(i is None or len(i) != 1 for i in items):
            return None
        return [clean_answer_text(i[0]) for i in items]  # type: ignore[index]
    return None
