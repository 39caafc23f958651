"""LaTeX to plain text exactly as pylatexenc's ``LatexNodes2Text`` writes it, fast for common answers.

The format check normalises answers with pylatexenc (the paper's rules), which costs about 1.5 ms an
answer. Most answers use a handful of constructs; for those this module gives pylatexenc's very output
in microseconds, and for anything else it returns None so that the caller asks pylatexenc:

    \\frac{A}{B}   -> A/B           (both arguments braced, directly after the macro)
    \\sqrt{A}      -> √(A)          (braced argument, no [n] index)
    \\text{A}, {A} -> A
    \\left( \\right] (any of ( ) [ ] |)  -> the delimiter
    \\pi \\infty \\cdot \\times \\circ    -> π ∞ · × ∘, eating the spaces after them (as LaTeX does)

Other characters pass through when they are ASCII letters, digits, spaces or ``+-*/=,.()[]<>|!^_:;``
(not ``--``, which pylatexenc turns into a dash, nor quotes).
``tests/test_rewards_latex_text.py`` checks the output against pylatexenc on real and random answers.
"""

from __future__ import annotations

import re

_SYMBOLS = {"pi": "π", "infty": "∞", "cdot": "·", "times": "×", "circ": "∘", "cup": "∪"}
_FUNCTIONS = ("sin", "cos", "tan", "log", "ln", "exp", "max", "min")  # not cot, sec, csc: pylatexenc drops those
_SYMBOLS.update((name, name) for name in _FUNCTIONS)
_ESCAPES = {"{": "{", "}": "}", ",": " ", ";": " ", "!": "", " ": " "}
_DELIMITERS = frozenset("()[]|")
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 +-*/=,.()[]<>|!^_:;")
_MACRO = re.compile(r"\\([a-zA-Z]+)")


class _Unsupported(Exception):
    """Outside the subset: pylatexenc decides."""


def _group(text: str, start: int) -> tuple[str, int]:
    """The converted content of the braced group opening at ``start``, and the index after it."""
    if start >= len(text) or text[start] != "{":
        raise _Unsupported
    depth, position = 0, start
    while position < len(text):
        char = text[position]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return _convert(text[start + 1 : position]), position + 1
        position += 1
    raise _Unsupported  # unbalanced


def _convert(text: str) -> str:
    out: list[str] = []
    position, length = 0, len(text)
    while position < length:
        char = text[position]
        if char == "\\":
            escaped = text[position + 1 : position + 2]
            if escaped in _ESCAPES:
                out.append(_ESCAPES[escaped])
                position += 2
                continue
            match = _MACRO.match(text, position)
            if match is None:
                raise _Unsupported
            name, position = match.group(1), match.end()
            if name in _SYMBOLS:
                out.append(_SYMBOLS[name])
                while position < length and text[position] == " ":
                    position += 1
            elif name == "frac":
                numerator, position = _group(text, position)
                denominator, position = _group(text, position)
                out.append(f"{numerator}/{denominator}")
            elif name == "sqrt":
                radicand, position = _group(text, position)
                out.append(f"√({radicand})")
            elif name == "text":
                content, position = _group(text, position)
                out.append(content)
            elif name in ("left", "right") and position < length and text[position] in _DELIMITERS:
                out.append(text[position])
                position += 1
            else:
                raise _Unsupported
        elif char == "{":
            content, position = _group(text, position)
            out.append(content)
        elif char in _PLAIN:
            if char == "-" and text.startswith("-", position + 1):
                raise _Unsupported  # "--" and "---" are dashes to pylatexenc
            out.append(char)
            position += 1
        else:
            raise _Unsupported
    return "".join(out)


def latex_to_text(text: str) -> str | None:
    """pylatexenc's plain text for ``text``, or None when ``text`` is outside the fast subset."""
    try:
        return _convert(text)
    except _Unsupported:
        return None
