"""What to say about a name that is not one of the known ones: the closest known names, in one line.

``closest_names`` ranks by difflib's ``SequenceMatcher`` ratio (``2 * matches / total length``, the Ratcliff/Obershelp
measure of the standard library's ``difflib.get_close_matches``), so ``majorty`` finds ``majority`` and ``fromat``
finds ``format``. Used by the command line's choices (``verl_ext.cli``) and meant for every registry lookup that
refuses an unknown name (reward presets, students, engines), so that all of them answer alike.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# difflib's default cutoff (0.6) and a few suggestions: enough for a typo, not a list of everything.
CUTOFF = 0.6
MAX_SUGGESTIONS = 3


def closest_names(name: str, known: Iterable[str], limit: int = MAX_SUGGESTIONS, cutoff: float = CUTOFF) -> list[str]:
    """The known names most like ``name``, best first (at most ``limit``, each with a difflib ratio >= ``cutoff``);
    case is ignored in the comparison and kept in the answer."""
    by_lower: dict[str, str] = {}
    for candidate in known:
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=limit, cutoff=cutoff)
    return [by_lower[match] for match in matches]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"did you mean 'majority'?"`` (or ``'a' or 'b'``) for the closest known names; ``""`` when none is close."""
    close = closest_names(name, known)
    if not close:
        return ""
    return f"did you mean {' or '.join(repr(c) for c in close)}?"


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    """One line for an unknown name: ``unknown reward preset 'majorty': did you mean 'majority'? (choose from 'a',
    'b')``, the known names quoted as argparse quotes its choices."""
    known = list(known)
    hint = did_you_mean(name, known)
    listed = ", ".join(repr(k) for k in known)
    return f"unknown {kind} {name!r}" + (f": {hint}" if hint else "") + f" (choose from {listed})"
