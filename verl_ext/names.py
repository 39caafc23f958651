"""Suggestions for a mistyped name: the known names closest to it (difflib's ratio)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest_names(name: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` names of ``known`` most like ``name`` (difflib.get_close_matches, cutoff 0.6), best first."""
    return difflib.get_close_matches(name, list(known), n=limit, cutoff=0.6)
