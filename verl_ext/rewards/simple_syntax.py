"""A fast, conservative recogniser for normalised answers that sympy's parser certainly accepts.

The format check asks "does sympy parse this?" (``format.py``). Most answers are simple: numbers,
fractions, ``sqrt(...)``, ``pi``, single-letter variables, ``+ - * /``, parentheses, implicit
multiplication (``3sqrt(5)``, ``2x``, ``(a+5)(b+2)``) and ``==``. For those the answer is always yes,
and recognising them here costs microseconds instead of a sympy parse. Anything else (powers,
factorials, commas, brackets, multi-letter names other than ``pi``/``sqrt``) is NOT decided here:
``is_simple_expression`` returns False and the caller runs sympy. So this module can only say "yes"
where sympy says yes; ``tests/test_simple_syntax.py`` checks that against sympy on real and random answers.

Grammar (tokens: NUMBER, LETTER = one of a-z, ``pi``, ``sqrt``, ``+ - * / ^ , ( ) ==``):

    answer   := equation | tuple
    tuple    := sum ("," sum)+ | "(" sum ("," sum)+ ")"      (the whole text: a Python tuple)
    equation := sum ("==" sum)*
    sum      := term (("+" | "-") term)*
    term     := factor (("*" | "/") factor | implicit factor)*
    factor   := ("+" | "-")* atom
    atom     := NUMBER | LETTER ["^" (NUMBER of <= 2 digits | LETTER)] | "pi" | "sqrt" "(" sum ")" | "(" sum ")"

An implicit product is allowed after a NUMBER, ``pi``, ``)`` or a power, before a LETTER, ``pi``,
``sqrt`` or ``(`` (not ``pi(``); a LETTER must be followed by an operator other than ``(``, or the end.
A power's base is a single letter, so no number grows; a power may not be raised again (``x^2^3``).
At most ``MAX_IRRATIONAL_NODES`` roots and letter exponents, so that every text said "yes" here is also
within the static bounds of the full check (``expression/limits.py``). ``is_plain_word`` recognises a lone
word that sympy reads as a product of letters (``east``, ``carla``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container

from verl_ext.rewards.expression.limits import MAX_IRRATIONAL_NODES

_TOKEN = re.compile(r"\s*(?:(?P<number>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)|(?P<word>[a-z]+)|(?P<op>==|[-+*/()^,]))")


def _tokens(text: str) -> list[tuple[str, str]] | None:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            return None
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "word" and value not in ("pi", "sqrt") and len(value) != 1:
            return None
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.i = tokens, 0
        self.irrational = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token == ("op", value):
            self.i += 1
            return True
        return False

    def answer(self) -> bool:
        if ("op", ",") in self.tokens:
            return self.tuple()
        return self.equation()

    def tuple(self) -> bool:
        enclosed = self.tokens[0] == ("op", "(") and self.tokens[-1] == ("op", ")")
        if enclosed:  # "(a, b)" as a whole, not "(a)(b), c"
            self.tokens = self.tokens[1:-1]
        if not self.sum():
            return False
        elements = 1
        while self.take(","):
            if not self.sum():
                return False
            elements += 1
        return self.peek() is None and elements > 1

    def equation(self) -> bool:
        if not self.sum():
            return False
        while self.take("=="):
            if not self.sum():
                return False
        return self.peek() is None

    def sum(self) -> bool:
        if not self.term():
            return False
        while self.take("+") or self.take("-"):
            if not self.term():
                return False
        return True

    def term(self) -> bool:
        if not self.factor():
            return False
        while True:
            if self.take("*") or self.take("/"):
                if not self.factor():
                    return False
                continue
            previous, token = self.tokens[self.i - 1], self.peek()
            if token is None:
                return True
            after_power = self.i >= 2 and self.tokens[self.i - 2] == ("op", "^")
            implicit_left = previous[0] == "number" or previous[1] in ("pi", ")") or after_power
            implicit_right = token[0] == "word" or token[1] == "("
            if previous[1] == "pi" and token[1] == "(":  # could read as a call of pi
                return True
            if not (implicit_left and implicit_right):
                return True
            if not self.atom():
                return False

    def factor(self) -> bool:
        while self.take("+") or self.take("-"):
            pass
        return self.atom()

    def atom(self) -> bool:
        token = self.peek()
        if token is None:
            return False
        kind, value = token
        if kind == "number":
            self.i += 1
            return True
        if kind == "word" and value == "sqrt":
            self.i += 1
            self.irrational += 1
            return self.take("(") and self.sum() and self.take(")")
        if kind == "word":
            self.i += 1
            if value != "pi" and self.take("^"):
                return self.exponent()
            following = self.peek()
            # a letter followed by "(" or another word could be read as a call or a longer name
            return value == "pi" or following is None or following[0] == "op" and following[1] != "("
        if self.take("("):
            return self.sum() and self.take(")")
        return False

    def exponent(self) -> bool:
        token = self.peek()
        if (
            token is None
            or token[1] in ("pi", "sqrt")
            or not (token[0] == "number" and token[1].isdigit() and len(token[1]) <= 2 or token[0] == "word")
        ):
            return False
        self.i += 1
        self.irrational += token[0] == "word"
        following = self.peek()
        return following is None or following[0] != "op" or following[1] not in ("^", "(") or token[0] == "number"


def is_simple_expression(text: str) -> bool:
    """True only for texts in the grammar above (sympy parses all of them); False means "ask sympy"."""
    if not text or len(text) > 200:
        return False
    tokens = _tokens(text)
    if not tokens:
        return False
    parser = _Parser(tokens)
    return parser.answer() and parser.irrational <= MAX_IRRATIONAL_NODES


def _is_greek_letter_name(word: str) -> bool:
    try:
        unicodedata.lookup("GREEK SMALL LETTER " + word)
    except KeyError:
        return False
    return True


def is_plain_word(text: str, reserved: Container[str]) -> bool:
    """A lone word of 2-40 ASCII letters that sympy reads as a product of its letters: not one of
    sympy's names (``reserved``) nor a Greek letter name (those stay one symbol or a function)."""
    return (
        1 < len(text) <= 40
        and text.isascii()
        and text.isalpha()
        and text.islower()
        and not (text in reserved or _is_greek_letter_name(text))
    )
